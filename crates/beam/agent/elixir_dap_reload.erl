%% elixir_dap_reload: the agent's half of a code reload.
%%
%% The adapter (Rust) plans a reload and drives it step by step; this module
%% executes each step in the VM and keeps, for the duration of one reload,
%% the previous object code of every module in the batch so that the adapter
%% can roll the batch back:
%%
%%   compile     purge old code nobody runs (or report who runs it), snapshot
%%               the current code, compile the planned files with Elixir's
%%               compiler into the session's overlay directory (the compiler
%%               loads each module as it defines it), check every load; from
%%               OTP 28 the last wave's code is prepared, not loaded.
%%   interpret   re-interpret changed modules from the new binaries and make
%%               the interpreter's processes pick the new version up; from
%%               OTP 28 with the prepared native code, in one step (switch/1).
%%   remove      unload the modules of deleted files nobody runs.
%%   commit      forget the snapshot.
%%   rollback    restore the snapshot: old code, interpretation, overlay.
%%
%% BEAM keeps two versions of a module. Loading a third purges the oldest and
%% kills every process still running it; Elixir's compiler does exactly that
%% when it redefines a module. So before compiling, old code is purged only
%% where no process runs it; where one does, the module is reported as blocked
%% (the adapter decides), or, with force, purged and the kill reported.
%%
%% The interpreter caches a module's code in each process's meta process.
%% A meta drops that cache on {int, {old_code, Mod}}, but kills its process
%% if Mod is on its interpreted stack at that moment. So the message is only
%% sent to a meta that is suspended-and-checked idle; metas that are busy get
%% it later, when they report idle to the attached process (see elixir_dap_backend_int:on_idle/2).
-module(elixir_dap_reload).
-export([compile/1, interpret/2, interpret/3, remove/1, commit/0, rollback/0,
         suspend/1, code_change/1, resume/1, mix_compile/1, hold/0, release/0]).
%% A cluster's peers (elixir_dap_cluster): the batch's object code.
-export([peers_prepare/1]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [process_entry/3, loaded_object_code/1, loaded_md5/1, overlay_file/2,
                          timers_pause_on_suspend/0, internal/1, marked_internal/1,
                          purge_old_code/2, runs_old_code/2, load_error/1]).
-import(elixir_dap_backend, [interpreted/0, interpreted_among/1, paused_processes/0, reinterpret/2, interpret_binary/4,
                             invalidate/1, prune_interpreted_versions/1, with_traps_lifted/3,
                             interpreted_processes/0, interpreting_meta/2, meta_backtrace/1,
                             stage_versions/1, discard_staged/1, switch_batch/4]).

-define(TABLE, elixir_dap_reload).
%% The program is held while a batch switches (see hold/0): for at most
%% this long, whatever happens to the reload.
-define(HOLD_MAX_MS, 10000).
%% How long the hold waits for a process to be between calls (waiting in a
%% receive) before it holds it wherever it is.
-define(QUIET_WAIT_MS, 100).
%% Applications whose processes are never held (see hold/0).
-define(SYSTEM_APPS, [kernel, stdlib, compiler, elixir, logger, mix, debugger, iex, ex_unit, eex, sasl,
                      runtime_tools, tools, crypto, asn1, public_key, ssl, inets, syntax_tools, os_mon, hex]).

%% ---------------------------------------------------------------------------
%% compile

-spec compile(map()) -> {ok, map()}.
compile(#{waves := Waves, modules := ModuleNames, lift := LiftNames, overlay := Overlay, force := Force} = Opts) ->
    elixir_dap_tables:ensure(),
    ets:delete_all_objects(?TABLE),
    OverlayDir = unicode:characters_to_list(Overlay),
    %% A node without Mix gets its object code from the helper, in memory:
    %% the overlay only names it there (elixir_dap_release).
    elixir_dap_release:project() =:= undefined andalso
        begin
            ok = filelib:ensure_dir(filename:join(OverlayDir, "x")),
            ensure_on_path(OverlayDir)
        end,
    ets:insert(?TABLE, {overlay_dir, OverlayDir}),
    persistent_term:get({?MODULE, overlay}, undefined) =:= OverlayDir
        orelse persistent_term:put({?MODULE, overlay}, OverlayDir),
    Modules = existing_modules(ModuleNames),
    {LoadUs, {Blocked, Killed}} = timer:tc(fun() -> purge_old_code(Modules, Force) end),
    case Blocked of
        [_ | _] ->
            {ok, #{status => blocked, blocked => Blocked, killed => Killed,
                   compiled => [], diagnostics => [], load_failures => [],
                   timings => #{load => LoadUs, compile => 0}}};
        [] ->
            %% From the first new module the compiler loads to the last
            %% interpreter cache dropped, the program is held (released by
            %% interpret/1, code_change/1, commit/0 or rollback/0).
            {HoldUs, ok} = timer:tc(fun hold/0),
            Lifted = existing_modules(LiftNames),
            Interpreted = maps:from_list([{M, true} || M <- interpreted_among(lists:usort(Modules ++ Lifted))]),
            %% A module an earlier batch left for later was interpreted
            %% (a rollback interprets its old code again); its traps are
            %% off, so it is not lifted.
            [snapshot(M, OverlayDir, maps:is_key(M, Interpreted) orelse elixir_dap_backend:unlisted(M))
             || M <- Modules],
            %% What the program's own compiles left is replaced now.
            elixir_dap_scripts:forget_object_code(Modules),
            Lift = [M || M <- lists:usort(Modules ++ Lifted), maps:is_key(M, Interpreted)],
            {CompileUs, {ok, Reply}} =
                timer:tc(fun() ->
                                 elixir_dap_app_compile:own(
                                   fun() ->
                                           with_optimization(maps:get(optimize, Opts, true),
                                                             fun() -> compile_files(Waves, OverlayDir, Killed, Lift) end)
                                   end)
                         end),
            {ok, Reply#{timings => #{load => LoadUs + HoldUs, compile => CompileUs}}}
    end.

%% Runs Fun with the Erlang compiler's SSA optimisation passes off
%% (no_ssa_opt) unless Optimize: for a batch whose every module runs
%% interpreted (the adapter decides), its native code is only the stub the
%% interpreter's call traps sit on, and those passes are about half of the
%% compile of a module (docs/benchmarks.md). Elixir's compiler hands the
%% Erlang compiler the options of ERL_COMPILER_OPTIONS: Elixir 1.14 reads
%% the variable at every compile; 1.18 and 1.20 read it once and keep it
%% in the persistent term elixir_erl_compiler
%% (elixir_erl_compiler:env_compiler_options/0, read in their beams). Both
%% are set for the compile and put back after, the user's options kept.
%% They are the VM's: a compile of the program's own that runs meanwhile
%% gets the option too (correct code, less optimised).
with_optimization(true, Fun) ->
    Fun();
with_optimization(false, Fun) ->
    Before = os:getenv("ERL_COMPILER_OPTIONS"),
    case unoptimized_options(Before) of
        none ->
            Fun();
        Options ->
            Kept = elixir_kept_options(),
            try
                true = os:putenv("ERL_COMPILER_OPTIONS", Options),
                case Kept of
                    {kept, _Was, List} -> persistent_term:put(elixir_erl_compiler, [no_ssa_opt | List]);
                    none -> ok
                end,
                Fun()
            after
                case Kept of
                    {kept, undefined, _} -> persistent_term:erase(elixir_erl_compiler);
                    {kept, Was, _} -> persistent_term:put(elixir_erl_compiler, Was);
                    none -> ok
                end,
                case Before of
                    false -> os:unsetenv("ERL_COMPILER_OPTIONS");
                    _ -> os:putenv("ERL_COMPILER_OPTIONS", Before)
                end
            end
    end.

%% An Elixir that keeps the options (1.18+): what it keeps now (undefined
%% before its first compile) and the options it compiles with.
elixir_kept_options() ->
    _ = code:ensure_loaded(elixir_erl_compiler),
    case erlang:function_exported(elixir_erl_compiler, env_compiler_options, 0) of
        true ->
            Was = persistent_term:get(elixir_erl_compiler, undefined),
            {kept, Was, elixir_erl_compiler:env_compiler_options()};
        false ->
            none
    end.

%% ERL_COMPILER_OPTIONS with no_ssa_opt first (the value is a term, a list
%% taken as it is, anything else as a list of it: compile:env_default_opts/0);
%% none when the user's value does not parse (left for the compiler to
%% report, as without us).
unoptimized_options(Unset) when Unset =:= false; Unset =:= "" ->
    "[no_ssa_opt]";
unoptimized_options(Value) ->
    case erl_scan:string(Value ++ ".") of
        {ok, Tokens, _} ->
            case erl_parse:parse_term(Tokens) of
                {ok, List} when is_list(List) -> lists:flatten(io_lib:format("~0p", [[no_ssa_opt | List]]));
                {ok, Term} -> lists:flatten(io_lib:format("~0p", [[no_ssa_opt, Term]]));
                {error, _} -> none
            end;
        {error, _, _} ->
            none
    end.

%% The loaded modules among Names.
existing_modules(Names) ->
    lists:usort([M || M <- known_modules(Names), code:is_loaded(M) =/= false]).

%% The modules of Names the VM has an atom for (no atom: no such module).
known_modules(Names) ->
    [M || N <- Names, M <- [to_existing_atom(N)], M =/= undefined].

to_existing_atom(Name) ->
    try binary_to_existing_atom(Name, utf8) catch error:badarg -> undefined end.

ensure_on_path(Dir) ->
    case lists:member(Dir, code:get_path()) of
        true -> ok;
        false -> code:add_patha(Dir)
    end.

snapshot(M, OverlayDir, WasInterpreted) ->
    Old = case elixir_dap_release:project() of
              undefined -> loaded_object_code(M);
              %% A release's code is stripped: the full one is the helper's.
              _ -> elixir_dap_release:loaded_object_code(M)
          end,
    OverlayFile = overlay_file(OverlayDir, M),
    OverlayBefore = case file:read_file(OverlayFile) of
                        {ok, Content} -> Content;
                        _ -> none
                    end,
    ets:insert(?TABLE, {{snapshot, M}, #{old => Old, interpreted => WasInterpreted,
                                          overlay_file => OverlayFile,
                                          overlay_before => OverlayBefore,
                                          source => module_source(M)}}).

%% Where its source is now (a project moved with its _build records old
%% paths: see elixir_dap_backend:module_source/1).
module_source(M) ->
    elixir_dap_project:module_source(M).

%% Waves are compiled one after the other (a wave may need the new macros
%% of the previous one loaded), the files of a wave in parallel, and each
%% wave's modules are loaded before the next wave compiles (see
%% load_wave/2). Lift: the interpreted modules whose call traps are lifted
%% meanwhile (see with_traps_lifted/3).
compile_files(Waves, OverlayDir, Killed, Lift) ->
    Self = self(),
    EachModule = fun(File, Module, Bin) -> Self ! {compiled_module, File, Module, Bin}, ok end,
    Conflict = 'Elixir.Code':get_compiler_option(ignore_module_conflict),
    'Elixir.Code':put_compiler_option(ignore_module_conflict, true),
    Definition = evaluate_module_bodies(),
    %% The batch's own modules get their traps back when re-interpreted (or
    %% rolled back). Staged, their old code is still the loaded one: its
    %% traps return at once, else native callers would run it natively
    %% until the switch's step, and, in the step, the new native code before
    %% the interpreter's new versions are listed.
    Batch = [M || [M] <- ets:match(?TABLE, {{snapshot, '$1'}, '_'})],
    Restore = case staged() of
                  true -> Lift;
                  false -> Lift -- Batch
              end,
    Result = try
                 with_traps_lifted(Lift, Restore,
                                   fun() -> compile_waves(Waves, OverlayDir, EachModule, [], [], []) end)
             after
                 'Elixir.Code':put_compiler_option(ignore_module_conflict, Conflict),
                 restore_module_definition(Definition)
             end,
    {Status, Compiled, Diagnostics, LoadFailures} =
        case Result of
            {ok, Done, Warnings, Failures} ->
                {compiled, Done, diagnostics(Warnings, warning), Failures};
            {error, Done, Errors, Warnings} ->
                {compile_failed, Done, diagnostics(Errors, error) ++ diagnostics(Warnings, warning), []}
        end,
    [ets:insert(?TABLE, {{compiled, M}, File}) || #{module := M, source := File} <- Compiled],
    %% The staged switch (switch/1) and the held path's interpretation
    %% (interpret_held/2) interpret from these; a cluster's peers load them
    %% (elixir_dap_cluster).
    [ets:insert(?TABLE, {{binary, M}, Bin}) || #{module := M, binary := Bin} <- Compiled],
    %% The program-compile tracer (elixir_dap_app_compile) keeps the object
    %% code of every module it sees defined, this compile's too: left there,
    %% interpret/1 would take these modules for code compiled in memory and
    %% hand them to int:ni/1, which loads them natively a second time (the
    %% export table copied again, a cost that grows with the VM). Their
    %% object code is in the overlay, loaded from there.
    elixir_dap_scripts:forget_object_code([M || #{module := M} <- Compiled]),
    FinalStatus = case {Status, LoadFailures} of
                      {compiled, [_ | _]} -> load_failed;
                      _ -> Status
                  end,
    {ok, #{status => FinalStatus, compiled => [maps:without([binary], C) || C <- Compiled],
           diagnostics => Diagnostics, killed => Killed, load_failures => LoadFailures,
           blocked => []}}.

interpreted_set() ->
    maps:from_list([{M, true} || M <- interpreted()]).

%% Returns {ok, Compiled, Warnings, LoadFailures} or
%% {error, Compiled, Errors, Warnings}; Compiled lists a map per module
%% (module, name, source, binary).
compile_waves([], _Dir, _EachModule, Compiled, Warnings, LoadFailures) ->
    {ok, Compiled, Warnings, LoadFailures};
compile_waves([Wave | Rest], Dir, EachModule, Compiled, Warnings, LoadFailures) ->
    Files = [unicode:characters_to_binary(F) || F <- Wave],
    Result = case elixir_dap_release:project() of
                 undefined ->
                     compile_wave(Files, list_to_binary(Dir), EachModule);
                 _ ->
                     %% No Mix, maybe no sources here: the helper compiles.
                     elixir_dap_release:compile_remote(Files, EachModule)
             end,
    WaveModules = latest_per_module(drain_compiled([])),
    case Result of
        {ok, _Modules, MoreWarnings} ->
            Failures = load_wave(WaveModules, Dir, Rest =:= [] andalso staged()),
            compile_waves(Rest, Dir, EachModule, Compiled ++ WaveModules,
                          Warnings ++ warning_list(MoreWarnings), LoadFailures ++ Failures);
        {error, Errors, MoreWarnings} ->
            {error, Compiled ++ WaveModules, Errors, Warnings ++ warning_list(MoreWarnings)}
    end.

%% One wave through Kernel.ParallelCompiler.compile_to_path/3. A wave
%% whose module bodies failed only because they were evaluated (see
%% evaluate_module_bodies/0) is compiled again with compiled bodies, as Mix
%% compiles them: the reload never fails where Mix would not. What the
%% first try compiled stays reported (latest_per_module/1 keeps the second
%% try's code of a module both compiled), so that a rollback also removes a
%% module only the first try defined.
compile_wave(Files, Dir, EachModule) ->
    Options = elixir_dap_util:reload_compile_options(EachModule),
    Result = 'Elixir.Kernel.ParallelCompiler':compile_to_path(Files, Dir, Options),
    case Result of
        {error, Errors, _} when is_list(Errors) ->
            case lists:any(fun beyond_evaluator_limits/1, Errors) andalso module_bodies_evaluated() of
                true ->
                    'Elixir.Code':put_compiler_option(module_definition, compiled),
                    try
                        'Elixir.Kernel.ParallelCompiler':compile_to_path(Files, Dir, Options)
                    after
                        'Elixir.Code':put_compiler_option(module_definition, interpreted)
                    end;
                false ->
                    Result
            end;
        _ ->
            Result
    end.

%% A compile error that only an evaluated module body gets: Erlang's
%% evaluator takes anonymous functions of up to 20 arguments
%% ({argument_limit, Fun}, raised by erl_eval; Elixir 1.20's documentation
%% of the module_definition option names it as the one limit).
beyond_evaluator_limits(#{message := Message}) when is_binary(Message) ->
    binary:match(Message, <<"argument_limit">>) =/= nomatch;
beyond_evaluator_limits(_) ->
    false.

%% Elixir 1.20's compiler option module_definition: interpreted evaluates
%% the code inside a defmodule (attributes, macro calls, `for` around
%% `def`) instead of compiling it into a module of its own
%% (elixir_compiler_N) that is loaded, run once and purged; the beam
%% written is the same (Code.put_compiler_option/2's documentation, 1.20).
%% A one-file reload of the bench's step file compiled in 20 ms evaluated
%% against 25 ms compiled (sid, 2 000-module project loaded, idle VM, 21
%% compiles each, without the SSA passes as a reload compiles), and no
%% compiler module is left for the code server to purge. Errors in a body
%% name the same file and line either way (checked by hand: a raise, a
%% bad argument in a fn, an undefined call). Set for the reload's compile
%% only; answers what restore_module_definition/1 puts back (none: an
%% Elixir without the option). The option is the VM's: a compile of the
%% program's own meanwhile evaluates its bodies too.
evaluate_module_bodies() ->
    case has_module_definition() of
        true ->
            Was = 'Elixir.Code':get_compiler_option(module_definition),
            'Elixir.Code':put_compiler_option(module_definition, interpreted),
            {was, Was};
        false ->
            none
    end.

module_bodies_evaluated() ->
    has_module_definition() andalso 'Elixir.Code':get_compiler_option(module_definition) =:= interpreted.

%% Whether this Elixir has the module_definition option (1.20 on).
has_module_definition() ->
    lists:member(module_definition, 'Elixir.Code':available_compiler_options()).

restore_module_definition({was, Was}) ->
    'Elixir.Code':put_compiler_option(module_definition, Was);
restore_module_definition(none) ->
    ok.

warning_list(#{} = Map) -> maps:get(compile_warnings, Map, []) ++ maps:get(runtime_warnings, Map, []);
warning_list(List) when is_list(List) -> List;
warning_list(_) -> [].

%% Compiled entries in order, each module once, with its last code.
latest_per_module(Entries) ->
    {Kept, _Seen} = lists:foldl(fun(#{module := M} = E, {Acc, Seen}) ->
                                        case maps:is_key(M, Seen) of
                                            true -> {Acc, Seen};
                                            false -> {[E | Acc], Seen#{M => true}}
                                        end
                                end, {[], #{}}, lists:reverse(Entries)),
    Kept.

drain_compiled(Acc) ->
    receive
        {compiled_module, File, Module, Bin} ->
            Entry = #{module => Module, name => elixir_dap_util:module_name(Module),
                      source => unicode:characters_to_binary(File), binary => Bin},
            drain_compiled([Entry | Acc])
    after 0 ->
            lists:reverse(Acc)
    end.

%% Makes the wave's new code the code that runs, and proves it.
%%
%% Up to Elixir 1.18 the compiler loads each module as it defines it (from
%% the overlay path, since a destination is given) and ignores a failed load
%% (an on_load that fails, old code not purged). From 1.19 on,
%% Kernel.ParallelCompiler.compile_to_path/3 only writes beams, loading a
%% module only when another file of the batch waits for it
%% (lib/elixir/lib/kernel/parallel_compiler.ex, v1.19.0). So whatever the
%% compiler did not load is loaded here, in one atomic step for the wave.
%%
%% A module's MD5 does not cover its line table, so a line-only change has
%% the MD5 of the code it replaces: the proof is the origin of the code as
%% well (see loaded_from_wave/3).
load_wave(WaveModules, Dir, Stage) ->
    ToLoad = [{M, overlay_file(Dir, M), Bin}
              || #{module := M, binary := Bin} <- WaveModules,
                 not loaded_from_wave(M, Bin, Dir)],
    case Stage andalso ToLoad =/= [] andalso code:prepare_loading(ToLoad) of
        {ok, Prepared} ->
            %% Loaded by the switch (switch/1), with the interpreter's new
            %% versions; what the compiler loaded is visible already.
            ets:insert(?TABLE, {staged_native, Prepared, [M || {M, _, _} <- ToLoad]}),
            seen_early([M || #{module := M} <- WaveModules, not lists:keymember(M, 1, ToLoad)]),
            [];
        _ ->
            %% Not the last wave (the next one needs this one's new code),
            %% or it cannot be staged (an on_load function): now.
            staged() andalso seen_early([M || #{module := M} <- WaveModules]),
            load_now(WaveModules, Dir, ToLoad)
    end.

%% Modules of a staged batch that became visible before its switch.
seen_early(Modules) ->
    ets:insert(?TABLE, {early, lists:usort(early() ++ Modules)}).

early() ->
    case ets:lookup(?TABLE, early) of
        [{_, Modules}] -> Modules;
        [] -> []
    end.

load_now(WaveModules, Dir, ToLoad) ->
    LoadErrors = load_atomically(ToLoad),
    [#{module => M, reason => maps:get(M, LoadErrors, #{kind => not_loaded})}
     || #{module := M, binary := Bin} <- WaveModules,
        not loaded_from_wave(M, Bin, Dir)].

%% The code that runs is this wave's: loaded from the overlay file of this
%% compile (the path the load was given), with the compiled code's MD5, by
%% a load since the compile began (the batch's old code was purged before
%% compiling, so a module loaded before that has old code now; a module
%% without a snapshot did not run before).
loaded_from_wave(M, Bin, Dir) ->
    case code:is_loaded(M) of
        {file, Path} when is_list(Path); is_binary(Path) ->
            unicode:characters_to_list(Path) =:= overlay_file(Dir, M)
                andalso loaded_md5(M) =:= code:module_md5(Bin)
                andalso (erlang:check_old_code(M) orelse ets:lookup(?TABLE, {snapshot, M}) =:= []);
        _ ->
            false
    end.

%% Loads all of ToLoad ([{Module, File, Binary}]) or none. Returns a map of
%% Module => reason for the modules that did not load.
load_atomically([]) ->
    #{};
load_atomically(ToLoad) ->
    %% code:atomic_load/1 refuses a module with old code (not_purged).
    [code:soft_purge(M) || {M, _, _} <- ToLoad, erlang:check_old_code(M)],
    case code:atomic_load(ToLoad) of
        ok ->
            #{};
        {error, _} ->
            %% It refuses modules with an on_load function too: load one by
            %% one then, and name what failed.
            maps:from_list([{M, load_error(Reason)}
                            || {M, File, Bin} <- ToLoad,
                               {error, Reason} <- [code:load_binary(M, File, Bin)]])
    end.

%% Elixir 1.14 returns {File, Position, Message} tuples; 1.15+ with
%% return_diagnostics a map of compile and runtime warnings, or diagnostic maps.
diagnostics(#{} = Map, Severity) ->
    diagnostics(warning_list(Map), Severity);
diagnostics(List, Severity) when is_list(List) ->
    [diagnostic(D, Severity) || D <- List];
diagnostics(_, _) ->
    [].

diagnostic({File, Position, Message}, Severity) ->
    elixir_dap_util:diagnostic(#{file => File, position => Position, message => Message, severity => Severity});
diagnostic(#{} = D, Severity) ->
    elixir_dap_util:diagnostic(maps:merge(#{severity => Severity}, D));
diagnostic(Other, Severity) ->
    #{file => <<>>, line => 0, column => 0, severity => Severity,
      message => iolist_to_binary(io_lib:format("~0p", [Other]))}.

%% ---------------------------------------------------------------------------
%% interpret

%% Re-interprets modules from their new object code (what the compile
%% handed over when that is what runs, else their beams), then invalidates the
%% interpreter's per-process caches. Returns the modules interpreted, those
%% that could not be, and the processes that keep running the old version
%% until they leave it.
%%
%% Deferred: modules of a big batch the adapter interprets later (in the
%% background, or when a breakpoint or a step needs them). Their new native
%% code runs meanwhile: the interpreter forgets their old versions
%% (unlist/1) and its processes drop what they cached of them, as for the
%% others, so that no call, native or interpreted, runs their old code.
%% Commit: nothing of the reload follows (the adapter's call), so a batch
%% whose every module switched is committed here (commit/0), saving the
%% adapter a round trip; the reply then says committed => true.
-spec interpret([binary()], [binary()], boolean()) -> {ok, map()}.
interpret(Names, DeferredNames, false) ->
    interpret(Names, DeferredNames);
interpret(Names, DeferredNames, true) ->
    case interpret(Names, DeferredNames) of
        {ok, #{skipped := []} = Reply} ->
            %% A commit that fails is left to the adapter's own request,
            %% which reports it as such.
            try commit() of
                {ok, ok} -> {ok, Reply#{committed => true}}
            catch
                _:_ -> {ok, Reply}
            end;
        Refused ->
            Refused
    end.

-spec interpret([binary()], [binary()]) -> {ok, map()}.
interpret(Names, DeferredNames) ->
    Deferred = known_modules(DeferredNames),
    case staged() of
        true -> switch(known_modules(Names), Deferred);
        false -> interpret_held(known_modules(Names), Deferred)
    end.

interpret_held(Modules, Deferred) ->
    Results = [reinterpret(M, compiled_object_code(M)) || M <- Modules],
    Done = [M || {ok, M} <- Results],
    Unlisted = elixir_dap_backend:unlist(Deferred),
    Stale = invalidate(Done ++ Unlisted),
    #{busy := Busy0} = Hold = release(),
    Busy = [E#{module := hd(Modules ++ Deferred)} || Modules ++ Deferred =/= [], E <- Busy0],
    {ok, #{interpreted => Done, hold => maps:without([busy], Hold),
           skipped => [#{module => M, name => elixir_dap_util:module_name(M), reason => R}
                       || {skipped, M, R} <- Results],
           stale => Stale ++ Busy}}.


%% ---------------------------------------------------------------------------
%% The staged switch: a batch switches at once without holding the program
%%
%% From OTP 28 on the program is not held (see hold/0). There a batch is
%% built out of sight and then made visible in one step:
%% - The compile: Elixir 1.19+'s Kernel.ParallelCompiler.compile_to_path/3
%%   writes beams and loads only the modules a file of the batch waits for
%%   (lib/elixir/lib/kernel/parallel_compiler.ex, v1.19.0). The last wave's
%%   modules it did not load are prepared (code:prepare_loading/1), not
%%   loaded (load_wave/3). Modules loaded before (an earlier wave needed by
%%   a later one, a module another file of the wave waited for, Elixir up to
%%   1.18, which loads each module it defines, or an on_load function) are
%%   visible from then on: the report names them.
%% - The interpreter's new versions are built unlisted
%%   (elixir_dap_backend:stage_versions/1).
%% - The step: when every process of the program and every meta wait at
%%   one instant (between calls, as the hold takes them: hold_exclusions/1,
%%   holdable/2; elixir_dap_backend_int:not_waiting_throughout/2), or after
%%   ?QUIET_WAIT_MS, the native code is loaded (code:finish_loading/1), the
%%   interpreter's versions listed, the call traps set and the metas' caches
%%   dropped, inside the interpreter's server
%%   (elixir_dap_backend:switch_batch/4), so that no interpreted process can
%%   fetch a module's code meanwhile. A call that starts during the step
%%   (its duration is reported) sees all of it: the batch's old native code
%%   has its traps again from the end of the compile (compile_files/4), so
%%   a native caller enters the interpreter, which waits for the step; the
%%   new native code runs untrapped only once loaded, with the rest new.
%%   (Before, the batch ran natively without traps from the compile to the
%%   step, and a 5 ms ticker failed 5 to 10 ticks in 60 toggles on OTP 29.)

%% Whether reloads take the staged switch instead of the hold. A node
%% without Mix compiles in the helper and interprets shipped code: held
%% (off on OTP 28+) as before.
staged() ->
    timers_pause_on_suspend() andalso elixir_dap_release:project() =:= undefined.

%% Makes the staged batch visible, with the interpreter's new versions of
%% Modules, in one step; the interpreter forgets its versions of Deferred in
%% the same step.
switch(Modules, Deferred) ->
    Code = [{M, new_object_code(M)} || M <- Modules],
    {Staged, Refused} = case [M || {M, none} <- Code] of
                            [] -> stage_versions(Code);
                            Missing -> {[], [{skipped, M, #{kind => no_object_code}} || M <- Missing]}
                        end,
    Hold = #{processes => 0, ms => 0, expired => false, off => true},
    Reply = #{hold => Hold, stale => []},
    case Refused of
        [_ | _] ->
            {ok, Reply#{interpreted => [], switch => #{us => 0, early => []},
                        skipped => [skipped_entry(S) || S <- Refused]}};
        [] ->
            Early = early(),
            Single = single_module_batch(Modules ++ Deferred),
            case switch_batch(fun load_staged/0, Staged ++ elixir_dap_backend:unlisting(Deferred),
                              waited_for(Single), quiet_deadline(Single)) of
                {switched, Us, Stale0} ->
                    ets:insert(?TABLE, {switched, true}),
                    %% A module an earlier batch left for later gets the
                    %% versions it forgot back, to be pruned.
                    [elixir_dap_backend:relist(M) || M <- Modules],
                    Stale = [E || E <- Stale0, not (Single andalso busy_entry(E))],
                    {ok, Reply#{interpreted => Modules, stale => Stale, skipped => [],
                                switch => #{us => Us, early => Early}}};
                {failed, Why} ->
                    discard_staged(Staged),
                    Reason = load_error(Why),
                    {ok, Reply#{interpreted => [], switch => #{us => 0, early => Early},
                                skipped => [skipped_entry({skipped, M, Reason}) || M <- Modules]}}
            end
    end.

%% Until when the switch waits for the program to be between calls (in
%% monotonic milliseconds), given whether the batch is of one module
%% (single_module_batch/1), which cannot be seen half switched: it does not
%% wait, and a process busy in interpreted code meanwhile is no news.
quiet_deadline(true) ->
    erlang:monotonic_time(millisecond);
quiet_deadline(false) ->
    erlang:monotonic_time(millisecond) + ?QUIET_WAIT_MS.

%% The processes the switch waits for (program/0): none for a batch of one
%% module (the argument), which does not wait.
waited_for(true) -> [];
waited_for(false) -> program().

%% Modules (switched now) and what this reload compiled are one module.
single_module_batch(Modules) ->
    length(lists:usort(Modules ++ compiled_modules())) =:= 1.

%% The modules this reload's compile defined.
compiled_modules() ->
    [M || [M] <- ets:match(?TABLE, {{compiled, '$1'}, '_'})].

busy_entry(#{why := #{kind := busy_in_interpreted_code}}) -> true;
busy_entry(_) -> false.

skipped_entry({skipped, M, Reason}) ->
    #{module => M, name => elixir_dap_util:module_name(M), reason => Reason}.

%% Prepares the compiled batch (the modules Names) and the removal of the
%% modules Remove on a cluster's peers (elixir_dap_cluster:prepare/3).
-spec peers_prepare(#{modules := [binary()], remove := [binary()], force := boolean()}) ->
          {ok, #{nodes := [map()]}}.
peers_prepare(#{modules := Names, remove := RemoveNames, force := Force}) ->
    Modules = known_modules(Names),
    Code = [{M, File, Bin} || M <- Modules, {File, Bin} <- [batch_object_code(M)]],
    Missing = [M || M <- Modules, not lists:keymember(M, 1, Code)],
    {ok, #{nodes => elixir_dap_cluster:prepare(Code, Missing, known_modules(RemoveNames), Force)}}.

%% The object code of M a cluster's peers load, and the file it is named
%% after: this reload's (in the overlay), else what the VM runs (a module
%% Mix's fallback compiled).
batch_object_code(M) ->
    case compiled_object_code(M) of
        {Bin, File} -> {File, Bin};
        none ->
            case loaded_object_code(M) of
                {Bin, File} -> {File, Bin};
                none -> none
            end
    end.

%% This reload's object code of M and its beam in the overlay, if it
%% compiled M.
compiled_object_code(M) ->
    case {ets:lookup(?TABLE, {binary, M}), ets:lookup(?TABLE, overlay_dir)} of
        {[{_, Bin}], [{_, Dir}]} -> {Bin, overlay_file(Dir, M)};
        _ -> none
    end.

%% This reload's object code of M, else what the program compiled (in
%% memory, or into a beam: the MD5 check of loaded_object_code/1 cannot
%% tell a line-only change, so the program's own compile comes first).
new_object_code(M) ->
    case compiled_object_code(M) of
        {Bin, _File} -> Bin;
        none ->
            case elixir_dap_scripts:object_code(M) of
                {_Source, Bin} -> Bin;
                none ->
                    case loaded_object_code(M) of
                        {Bin, _File} -> Bin;
                        none -> none
                    end
            end
    end.

%% Loads the prepared native code, if any (also when the batch has nothing
%% to interpret: commit/0, code_change/1, mix_compile/1).
load_staged() ->
    case ets:take(?TABLE, staged_native) of
        [] ->
            ok;
        [{_, Prepared, Modules}] ->
            %% code:finish_loading/1 refuses a module with old code.
            [code:soft_purge(M) || M <- Modules, erlang:check_old_code(M)],
            case code:finish_loading(Prepared) of
                ok -> ok;
                {error, [{_M, Why} | _]} -> {error, Why};
                {error, Why} -> {error, Why}
            end
    end.

%% The native code alone, when no module of the batch is interpreted.
switch_native() ->
    case ets:lookup(?TABLE, staged_native) of
        [] -> ok;
        _ ->
            %% Prepared code loads unless a process runs old code of the
            %% module (purged before the compile): nothing else to do then.
            Single = single_module_batch([]),
            _ = switch_batch(fun load_staged/0, [], waited_for(Single), quiet_deadline(Single)),
            ets:insert(?TABLE, {switched, true}),
            ok
    end.

%% The processes of the program, which the staged switch waits for: decided
%% once, before the step (it asks the application controller); processes
%% started later are not waited for.
program() ->
    Exclude = hold_exclusions(self()),
    [P || P <- erlang:processes(), not maps:is_key(P, Exclude), holdable(P, Exclude)].


%% ---------------------------------------------------------------------------
%% hold: a batch switches at once for running code
%%
%% Between the first and the last module of a batch becoming visible, a
%% process running the program could call one module's new version and
%% another's old one (a struct built by the new code read by the old
%% implementation of a protocol). Where that window comes from:
%% - Up to Elixir 1.18 the compiler loads each module as it defines it, and
%%   1.19+ loads a wave the next wave waits for; meanwhile the interpreter's
%%   call traps of the batch are lifted (see with_traps_lifted/3), so native
%%   callers run the native code, new for some modules, old for the others.
%% - A native call into an interpreted module is trapped (erts_debug:
%%   breakpoint/2 on its code, lost when new code loads) and runs in the
%%   caller's meta process (int:eval/3 -> dbg_debugged:eval/3 ->
%%   dbg_ieval:eval/3: the first call spawns the meta, later ones re-enter
%%   it), which looks each module's code up in dbg_iserver once and caches
%%   it ({Mod, db} in its dictionary, dbg_ieval:db_ref/1). So each module
%%   switches for that process when its trap is set again (int:ni) if it
%%   was not cached, else when its cache is dropped (invalidate/1): module
%%   by module, over the compile, the interpretation and the invalidation.
%% No call of the interpreter makes several modules visible in one step,
%% and the compiler cannot be kept from loading. So the program does not
%% run meanwhile: every process that may call project code is suspended
%% (erlang:suspend_process/1, by a holder process: if it dies, they resume)
%% from before the compile until the caches are dropped. The processes of
%% OTP's and Elixir's own applications, the interpreter's, and the agent's
%% are left running: the compiler needs them. Each process is taken
%% between calls where possible (waiting in a receive: in a sleep, a
%% GenServer loop, an interpreted receive), so that it does not hold values
%% of the old code across the switch; one busy for longer than
%% ?QUIET_WAIT_MS is held where it is, and when that is inside interpreted
%% code (its meta then held too) the reload names it.

%% Holds the program; returns once it is held. Where suspending a process
%% pauses its timers, it does nothing (timers_pause_on_suspend/0): the
%% staged switch (switch/1) makes the batch visible at once there.
-spec hold() -> ok.
hold() ->
    _ = release(),
    case timers_pause_on_suspend() of
        true -> ok;
        false -> hold_program()
    end.

hold_program() ->
    elixir_dap_tables:ensure(),
    Self = self(),
    Holder = spawn(fun() -> holder(Self) end),
    Ref = erlang:monitor(process, Holder),
    receive
        {Holder, held} -> erlang:demonitor(Ref, [flush]), ok;
        {'DOWN', Ref, process, Holder, _} -> ok
    after ?HOLD_MAX_MS ->
            exit(Holder, kill),
            ok
    end.

%% Lets the program run again; returns what the hold did (processes held,
%% for how long, whether it ended by its time limit, and the processes held
%% inside interpreted code).
-spec release() -> map().
release() ->
    Empty = #{processes => 0, ms => 0, expired => false, busy => [], off => timers_pause_on_suspend()},
    case whereis(elixir_dap_reload_holder) of
        undefined ->
            Empty;
        Holder ->
            Ref = erlang:monitor(process, Holder),
            Holder ! {release, self()},
            receive
                {Holder, released, Summary} -> erlang:demonitor(Ref, [flush]), Summary;
                {'DOWN', Ref, process, Holder, _} -> Empty
            after 5000 ->
                    exit(Holder, kill),
                    Empty
            end
    end.

holder(Requester) ->
    try register(elixir_dap_reload_holder, self()) catch error:badarg -> exit(normal) end,
    Started = erlang:monotonic_time(millisecond),
    Exclude = hold_exclusions(Requester),
    {Held, Busy} = hold_sweep(Exclude, #{}, [], Started + ?QUIET_WAIT_MS),
    Requester ! {self(), held},
    Left = ?HOLD_MAX_MS - (erlang:monotonic_time(millisecond) - Started),
    {Expired, ReplyTo} = receive
                             {release, From} -> {false, From}
                         after max(0, Left) -> {true, none}
                         end,
    ets:match_delete(?TABLE, {{held_meta, '_'}, '_'}),
    [resume_quietly(P) || P <- maps:keys(Held)],
    Summary = #{processes => map_size(Held), expired => Expired, busy => Busy,
                ms => erlang:monotonic_time(millisecond) - Started, off => false},
    case ReplyTo of
        none ->
            %% Nobody released it in time: the next release says so.
            receive {release, Late} -> Late ! {self(), released, Summary}
            after 60000 -> ok
            end;
        _ ->
            ReplyTo ! {self(), released, Summary}
    end.

%% Suspends every process of the program, in sweeps until none is left
%% (a process not yet held may spawn another), taking each one between
%% calls until Deadline. Returns the held processes (a map) and the
%% entries of those held inside interpreted code.
hold_sweep(Exclude, Held, Busy, Deadline) ->
    Late = erlang:monotonic_time(millisecond) >= Deadline,
    %% A meta is held with its process (hold_one/3), never on its own: it
    %% must answer for its stack first, and a process suspended twice
    %% would stay suspended after one resume.
    Interpreted = interpreted_processes(),
    Metas = maps:from_list([{Meta, true} || Meta <- maps:values(Interpreted)]),
    Candidates = [P || P <- erlang:processes(), not maps:is_key(P, Held), not maps:is_key(P, Exclude),
                       not maps:is_key(P, Metas), holdable(P, Exclude)],
    {Held1, Busy1, Waiting} =
        lists:foldl(fun(P, {H, B, W}) ->
                            case hold_one(P, Late, Interpreted) of
                                quiet -> {H#{P => true}, B, W};
                                {held, Extra, Entry} ->
                                    {maps:merge(H#{P => true}, maps:from_list([{E, true} || E <- Extra])),
                                     Entry ++ B, W};
                                busy -> {H, B, W + 1};
                                gone -> {H, B, W}
                            end
                    end, {Held, Busy, 0}, Candidates),
    case {Candidates, Waiting} of
        {[], _} -> {Held1, Busy1};
        {_, 0} when Late -> {Held1, Busy1};
        _ ->
            Waiting > 0 andalso receive after 1 -> ok end,
            hold_sweep(Exclude, Held1, Busy1, Deadline)
    end.

%% quiet: suspended between calls; {held, Metas, Entries}: suspended where
%% it was (Late), with the meta running its interpreted code; busy: left
%% running for now; gone.
%%
%% "It has not run" is judged by its reductions, read alone or before
%% anything else: reading a process's current function, stack, messages or
%% dictionary counts one reduction to it, suspended or not (measured on
%% OTP 25 and 29); its status and reductions count none.
hold_one(P, Late, Interpreted) ->
    Meta = interpreting_meta(P, Interpreted),
    case process_info(P, [status, reductions]) of
        [{status, waiting}, {reductions, R}] ->
            case quiet_meta(Meta) of
                true ->
                    case suspend_one_process(P) of
                        true ->
                            %% It has not run since it was seen waiting.
                            case process_info(P, reductions) of
                                {reductions, R} -> held_quiet(Meta);
                                _ when Late -> held_busy(P, interpreting_meta(P, Interpreted));
                                _ -> erlang:resume_process(P), busy
                            end;
                        false -> gone
                    end;
                false when Late -> suspend_or_gone(P, Interpreted);
                false -> busy
            end;
        undefined ->
            gone;
        _ when Late ->
            suspend_or_gone(P, Interpreted);
        _ ->
            busy
    end.

%% Its process waits between calls, suspended. When it waits in interpreted
%% code, its meta (which runs that code) is held too: an interpreted
%% receive times out in the meta, which would then run the program's next
%% interpreted calls on its own. First the meta names its stack, since
%% invalidate_waiting/2 cannot ask a suspended meta; invalidate/1 then
%% drops its caches of the batch from what it said, if it has not run
%% since it answered (invalidate_held/3).
held_quiet(none) ->
    quiet;
held_quiet({ok, Meta}) ->
    Frames = meta_backtrace(Meta),
    %% Having answered, it goes back to waiting.
    Waiting = wait_for_status(Meta, waiting, 20),
    {reductions, Before} = erlang:process_info(Meta, reductions),
    case suspend_one_process(Meta) of
        true ->
            %% It has not run since it was seen waiting, and the holder's
            %% suspension keeps it so, whoever else suspends and resumes it.
            Frames =/= none andalso Waiting andalso
                erlang:process_info(Meta, reductions) =:= {reductions, Before} andalso
                ets:insert(?TABLE, {{held_meta, Meta}, Frames}),
            {held, [Meta], []};
        false ->
            quiet
    end.

%% Whether P reaches Status within about Ms milliseconds.
wait_for_status(P, Status, Ms) ->
    case process_info(P, status) of
        {status, Status} -> true;
        _ when Ms > 0 -> receive after 1 -> ok end, wait_for_status(P, Status, Ms - 1);
        _ -> false
    end.

suspend_or_gone(P, Interpreted) ->
    case suspend_one_process(P) of
        true -> held_busy(P, interpreting_meta(P, Interpreted));
        false -> gone
    end.

%% P is held wherever it is; its meta too when it runs interpreted code for
%% P, which is then named.
held_busy(P, {ok, Meta}) ->
    case suspend_one_process(Meta) of
        true ->
            {held, [Meta], [process_entry(P, undefined, #{kind => busy_in_interpreted_code})]};
        false ->
            {held, [], []}
    end;
held_busy(_P, none) ->
    {held, [], []}.

resume_quietly(P) ->
    try erlang:resume_process(P) catch error:badarg -> false end.

suspend_one_process(P) ->
    try erlang:suspend_process(P) catch error:badarg -> false end.

%% A process waiting inside an interpreted call (dbg_debugged's loop) is
%% between calls only if its meta waits too (an interpreted receive, a
%% breakpoint); else the meta is running the process's interpreted code.
quiet_meta({ok, Meta}) ->
    process_info(Meta, status) =:= {status, waiting};
quiet_meta(none) ->
    true.

%% Processes never held: the holder and its caller, the agent's own, the
%% interpreter's, the processes of OTP's and Elixir's applications (group
%% leader: their application master), and the VM's own (group leader: init,
%% or itself).
hold_exclusions(Requester) ->
    Masters = [M || App <- ?SYSTEM_APPS, M <- [application_controller:get_master(App)], is_pid(M)],
    #{self() => true, Requester => true, masters => Masters, init => whereis(init)}.

holdable(P, #{masters := Masters, init := Init}) ->
    case process_info(P, [group_leader, initial_call, registered_name]) of
        [{group_leader, GL}, {initial_call, Call}, {registered_name, Name}] ->
            GL =/= P andalso GL =/= Init andalso not lists:member(GL, Masters)
                andalso not system_name(Name) andalso not internal_call(Call)
                andalso not marked_internal(P);
        _ ->
            false
    end.

system_name([]) ->
    false;
system_name(Name) ->
    lists:member(Name, [application_controller, user, user_drv, standard_error, erl_prim_loader,
                        code_server, erts_code_purger, logger, global_name_server, file_server_2])
        orelse lists:prefix("elixir_dap", atom_to_list(Name))
        orelse lists:prefix("dbg_", atom_to_list(Name)).

%% The interpreter's processes (metas, dbg_iserver) and the agent's, except
%% those that run the program: the task (run_task/1, exec_fun/2) and
%% evaluations (run_evaluation/5).
internal_call({M, F, _}) when is_atom(M), is_atom(F) ->
    Module = atom_to_list(M),
    Fun = atom_to_list(F),
    case lists:prefix("dbg_", Module) of
        true -> true;
        false ->
            lists:prefix("elixir_dap_", Module)
                andalso not lists:any(fun(Prefix) -> lists:prefix(Prefix, Fun) end,
                                      ["-run_task/", "-exec_fun/", "-run_evaluation/"])
    end;
internal_call(_) ->
    false.

%% ---------------------------------------------------------------------------
%% remove

%% Unloads the modules of deleted files that no process runs.
%% All or nothing: if a process runs one of them, none is removed.
-spec remove([binary()]) -> {ok, map()}.
remove(Names) ->
    Modules = known_modules(Names),
    Loaded = [M || M <- Modules, code:is_loaded(M) =/= false],
    Blocked = [process_entry(P, M, #{kind => runs_deleted_module})
               || M <- Loaded, P <- erlang:processes(), P =/= self(), runs_module(P, M)],
    case Blocked of
        [] ->
            %% Their beams go too (where Mix wrote them, or a reload of ours):
            %% on the code path they would load again on the next call. Mix
            %% deletes them itself when it sees the source gone.
            Beams = [B || M <- Modules, B <- [code:which(M), code:where_is_file(atom_to_list(M) ++ ".beam")],
                          is_list(B), B =/= ""],
            [begin code:purge(M), code:delete(M), code:purge(M) end || M <- Loaded],
            [file:delete(B) || B <- lists:usort(Beams)],
            {ok, #{removed => Modules, blocked => []}};
        _ ->
            {ok, #{removed => [], blocked => Blocked}}
    end.

runs_module(Pid, M) ->
    case erlang:process_info(Pid, current_stacktrace) of
        {current_stacktrace, Frames} -> lists:keymember(M, 1, Frames);
        _ -> false
    end orelse runs_old_code(Pid, M).

%% ---------------------------------------------------------------------------
%% The Mix fallback

%% When the adapter's index could not plan a change exactly (the compiler
%% defined modules the index does not know, or the index could not parse a
%% file), Mix decides what else is stale: an in-VM `compile.elixir`, after
%% the same checks as compile/1 (no process runs old code of the project's
%% modules; interpreter traps lifted). Mix writes into _build, its own
%% place; overlay beams of the modules it recompiled are removed so that
%% the code path finds Mix's. Returns the modules Mix recompiled.
-spec mix_compile(map()) -> {ok, map()}.
mix_compile(#{overlay := Overlay, force := Force}) ->
    %% Mix loads what it compiles as it goes: the batch's staged code first.
    ok = switch_native(),
    OverlayDir = unicode:characters_to_list(Overlay),
    Build = 'Elixir.Mix.Project':build_path(),
    Ebins = elixir_dap_project:build_ebin_dirs(Build),
    Own = [atom_to_binary(App, utf8) || App <- elixir_dap_project:project_apps()],
    Modules = loaded_in(Ebins, Own),
    Before = maps:from_list([{M, loaded_md5(M)} || M <- Modules]),
    {Blocked, Killed} = purge_old_code(Modules, Force),
    case Blocked of
        [_ | _] ->
            {ok, #{status => blocked, blocked => Blocked, killed => Killed, recompiled => [], diagnostics => []}};
        [] ->
            %% Mix may compile anything: lift every interpreted module's traps.
            Interpreted = interpreted(),
            Result = with_traps_lifted(
                       Interpreted, Interpreted,
                       fun() ->
                               elixir_dap_app_compile:own(
                                 fun() ->
                                         elixir_dap_build_lock:guarded(
                                           Build,
                                           fun() -> 'Elixir.Mix.Task':rerun(<<"compile.elixir">>, [<<"--return-errors">>]) end)
                                 end)
                       end),
            {Status, Diagnostics} = case Result of
                                        {error, D} -> {compile_failed, D};
                                        {_, D} when is_list(D) -> {compiled, D};
                                        _ -> {compiled, []}
                                    end,
            Recompiled = [M || M <- lists:usort(Modules ++ loaded_in(Ebins, Own)),
                               loaded_md5(M) =/= maps:get(M, Before, undefined)],
            [file:delete(overlay_file(OverlayDir, M)) || M <- Recompiled],
            {ok, #{status => Status, killed => Killed, blocked => [],
                   recompiled => [#{module => M, name => elixir_dap_util:module_name(M),
                                    source => source_binary(M)} || M <- Recompiled],
                   diagnostics => [elixir_dap_util:diagnostic(D) || D <- Diagnostics, is_map(D)]}}
    end.

%% The loaded modules of the project's own apps' ebin directories.
loaded_in(Ebins, Own) ->
    [M || Ebin <- Ebins,
          lists:member(list_to_binary(filename:basename(filename:dirname(Ebin))), Own),
          Beam <- filelib:wildcard("*.beam", Ebin),
          M <- [list_to_atom(filename:basename(Beam, ".beam"))],
          code:is_loaded(M) =/= false].

source_binary(M) ->
    case module_source(M) of
        none -> <<>>;
        Source -> unicode:characters_to_binary(Source)
    end.

%% ---------------------------------------------------------------------------
%% State-preserving upgrades (reloadCodeChange)

%% Suspends the OTP processes (gen_server, gen_statem, ...) whose callback
%% module is one of Modules, so that none of them handles a message between
%% the load of the new code and its code_change/3. Processes paused by the
%% debugger cannot answer system messages: they are left alone and reported.
-spec suspend([binary()]) -> {ok, map()}.
suspend(Names) ->
    Modules = known_modules(Names),
    Paused = paused_processes(),
    Candidates = [{P, M} || P <- erlang:processes(), P =/= self(),
                            M <- [callback_module(P)], lists:member(M, Modules)],
    Results = [suspend_one(P, M, lists:member(P, Paused)) || {P, M} <- Candidates],
    {ok, #{suspended => [#{pid => P, module => M} || {suspended, P, M} <- Results],
           skipped => [E || {skipped, E} <- Results]}}.

callback_module(Pid) ->
    case erlang:process_info(Pid, dictionary) of
        {dictionary, Dict} ->
            case proplists:get_value('$initial_call', Dict) of
                {M, _F, _A} -> M;
                _ -> undefined
            end;
        _ -> undefined
    end.

suspend_one(Pid, M, true) ->
    {skipped, process_entry(Pid, M, #{kind => paused_by_debugger})};
suspend_one(Pid, M, false) ->
    try sys:suspend(Pid, 5000) of
        ok -> {suspended, Pid, M}
    catch
        _:Reason ->
            {skipped, process_entry(Pid, M, #{kind => not_suspended, error => elixir_dap_util:format_term(Reason)})}
    end.

%% Calls code_change/3 of every suspended process through sys:change_code/5.
%% All or nothing: if one fails, the states already upgraded are put back.
-spec code_change([#{pid := pid(), module := module()}]) -> {ok, map()}.
code_change(Targets) ->
    %% Held processes could not answer sys:change_code/5.
    _ = release(),
    ok = switch_native(),
    Results = [change_one(P, M) || #{pid := P, module := M} <- Targets],
    Failed = [E || {failed, E} <- Results],
    case Failed of
        [] -> ok;
        _ -> [ignore_exit(fun() -> sys:replace_state(P, fun(_) -> Old end, 5000) end)
              || {changed, P, Old} <- Results]
    end,
    {ok, #{failed => Failed, changed => length([ok || {changed, _, _} <- Results])}}.

change_one(Pid, M) ->
    try
        Old = sys:get_state(Pid, 5000),
        case sys:change_code(Pid, M, undefined, [], 5000) of
            ok -> {changed, Pid, Old};
            {error, Reason} ->
                {failed, process_entry(Pid, M, #{kind => code_change_failed, error => describe(Reason)})}
        end
    catch
        _:Error ->
            {failed, process_entry(Pid, M, #{kind => code_change_failed, error => describe(Error)})}
    end.

%% An exception raised by code_change/3 reaches us as {'EXIT', {E, Stack}}:
%% show it as Elixir does, first line only.
describe({'EXIT', {Reason, Stack}}) when is_list(Stack) ->
    Text = elixir_dap_util:format_exception(error, Reason, Stack),
    hd(binary:split(iolist_to_binary(Text), <<"\n">>));
describe(Other) ->
    elixir_dap_util:format_term(Other).

%% A process that died or does not answer in time is left as it is.
ignore_exit(Fun) ->
    try Fun() catch exit:_ -> ok end.

-spec resume([pid()]) -> {ok, ok}.
resume(Pids) ->
    [ignore_exit(fun() -> sys:resume(P, 5000) end) || P <- Pids],
    {ok, ok}.

%% ---------------------------------------------------------------------------
%% commit and rollback

-spec commit() -> {ok, ok}.
commit() ->
    elixir_dap_tables:ensure(),
    ok = elixir_dap_cluster:commit(),
    forget_batch().

%% The batch switched or restored: its snapshot and staging go (commit/0,
%% rollback/0).
forget_batch() ->
    _ = release(),
    ok = switch_native(),
    %% The batch's previous versions are old code now: purge it in the
    %% background where nobody runs it, so that the next reload of these
    %% modules finds nothing to check.
    Batch = compiled_modules(),
    Batch =/= [] andalso spawn(internal(fun() -> [code:soft_purge(M) || M <- Batch] end)),
    prune_interpreted_versions(Batch),
    %% The module bodies' compiler modules: after the batch, not beside it
    %% (each purge holds OTP's code server, which the batch's loads need).
    ok = elixir_dap_util:purge_compiler_modules(),
    ets:match_delete(?TABLE, {{snapshot, '_'}, '_'}),
    ets:match_delete(?TABLE, {{compiled, '_'}, '_'}),
    ets:match_delete(?TABLE, {{binary, '_'}, '_'}),
    ets:delete(?TABLE, early),
    ets:delete(?TABLE, switched),
    ets:delete(?TABLE, overlay_dir),
    {ok, ok}.

%% Restores every module of the batch: the old code where there was one
%% (re-interpreted if it was), and no code for modules the batch created.
-spec rollback() -> {ok, map()}.
rollback() ->
    elixir_dap_tables:ensure(),
    %% A cluster's peers first (each forgets the batch as it restores it).
    Peers = elixir_dap_cluster:rollback(),
    %% Native code prepared and never loaded is dropped.
    ets:delete(?TABLE, staged_native),
    Snapshots = [{M, S} || [M, S] <- ets:match(?TABLE, {{snapshot, '$1'}, '$2'})],
    New = [M || M <- compiled_modules(), not lists:keymember(M, 1, Snapshots)],
    %% A staged batch that never switched left the old code running where
    %% nothing loaded early: loading it again would make the running code
    %% old code, and the next reload would find its processes on it.
    Untouched = case staged() andalso not ets:member(?TABLE, switched) of
                    true -> fun(M) -> not lists:member(M, early()) end;
                    false -> fun(_) -> false end
                end,
    Restored = [case Untouched(M) of
                    true -> restore_overlay(S), {M, ok};
                    false -> restore(M, S)
                end || {M, S} <- Snapshots],
    %% Processes that picked up the new version drop it again.
    Interpreted = interpreted_set(),
    _ = invalidate([M || {M, ok} <- Restored, maps:is_key(M, Interpreted)]),
    Removed = [remove_new(M) || M <- New],
    _ = release(),
    forget_batch(),
    Failures = [#{module => M, reason => R} || {M, {error, R}} <- Restored ++ Removed],
    {ok, #{restored => [M || {M, ok} <- Restored], removed => [M || {M, ok} <- Removed],
           failures => Failures, peers => Peers}}.

restore_overlay(#{overlay_file := OverlayFile, overlay_before := OverlayBefore}) ->
    case OverlayBefore of
        none -> file:delete(OverlayFile);
        Content -> file:write_file(OverlayFile, Content)
    end.

restore(M, #{old := Old, interpreted := WasInterpreted, source := Source} = Snapshot) ->
    restore_overlay(Snapshot),
    case Old of
        none ->
            {M, ok};
        {Bin, File} ->
            case code:soft_purge(M) of
                false -> {M, {error, #{kind => old_code_in_use}}};
                true ->
                    case code:load_binary(M, File, Bin) of
                        {module, M} when WasInterpreted, Source =/= none ->
                            case interpret_restored(M, Source, Bin, File) of
                                {ok, M} -> elixir_dap_backend:relist(M), {M, ok};
                                _ -> {M, {error, #{kind => not_reinterpreted}}}
                            end;
                        {module, M} ->
                            {M, ok};
                        {error, Reason} ->
                            {M, {error, #{kind => restore_failed, error => elixir_dap_util:format_term(Reason)}}}
                    end
            end
    end.

%% Without Mix on the node, its source is on the adapter's side.
interpret_restored(M, Source, Bin, File) ->
    case elixir_dap_release:project() of
        undefined -> interpret_binary(M, Source, Bin, File);
        _ ->
            case elixir_dap_release:source_text(Source) of
                {ok, Text} -> elixir_dap_backend:interpret_shipped(M, Source, Text, Bin, File);
                {error, Why} -> {skipped, M, Why}
            end
    end.

remove_new(M) ->
    case ets:lookup(?TABLE, overlay_dir) of
        [{_, OverlayDir}] -> file:delete(overlay_file(OverlayDir, M));
        [] -> ok
    end,
    case code:soft_purge(M) of
        true ->
            code:delete(M),
            code:soft_purge(M),
            {M, ok};
        false ->
            {M, {error, #{kind => new_code_in_use}}}
    end.
