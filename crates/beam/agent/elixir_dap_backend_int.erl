%% elixir_dap_backend_int: the debugger backend on OTP's interpreter (:int),
%% implementing elixir_dap_backend (whose callbacks document the API).
%%
%% This is the one agent module that touches :int and its internals
%% (dbg_iserver, dbg_ieval, dbg_icmd, dbg_istk, meta processes, their
%% stacks and caches), so that a second backend (OTP 28's erl_debugger)
%% can replace it. The adapter decides what to interpret, where
%% breakpoints go and when to step; this module executes.
%%
%% Paused processes: when an interpreted process reaches a breakpoint, :int
%% spawns attach/2 for it (auto_attach). That process attaches to the meta
%% process, stays attached for the debugged process's life, and turns meta
%% messages into agent events (stopped, thread_exited).
%%
%% Values shown to the user are kept by elixir_dap_values until the process
%% resumes.
-module(elixir_dap_backend_int).
-behaviour(elixir_dap_backend).
%% elixir_dap_backend's callbacks.
-export([ensure_started/1, interpret/1, interpret_running/1, interpret_pending/2, breakable_lines/1,
         function_lines/3,
         set_breakpoints/2, command/2, stack/1, frame_variables/2, evaluate/5,
         run_evaluation/5, evaluation_paused/2, skips_breakpoints/1, frame_name/3,
         meta_of/1, interpreted_callers/1,
         interpreted/0, interpreted_among/1, paused_processes/0, reinterpret/2, interpret_binary/4, invalidate/1,
         prune_interpreted_versions/1, with_traps_lifted/3, set_traps/2,
         interpreted_processes/0, interpreting_meta/2, meta_backtrace/1,
         stage_versions/1, discard_staged/1, switch_batch/4, unlist/1, unlisting/1, relist/1, unlisted/1,
         found/0, leave_node/1, interpret_shipped/5]).
%% Called by :int: the process attached to a paused one (auto_attach), the
%% test of every breakpoint (through its condition module), and that of a
%% pause's temporary breakpoints (pause_check/1).
-export([attach/1, check_breakpoint/3, pause_check/1]).
%% The native backend's stops name their frame in an evaluation's answer
%% too, and its frames the file of injected code.
-export([evaluation_paused/3, function_file/4]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [throw_error/2, module_name/1, format_term/1, thread_name/1, mfa_module/1,
                          mfa_name/3, pid_text/1, inspect/1, to_atom/2, first_text_line/1, internal/1,
                          process_entry/3, loaded_object_code/1, loaded_md5/1, timers_pause_on_suspend/0,
                          deal/2, line_of/1, is_regular_raw/1]).
-import(elixir_dap_project, [module_source/1, recorded_source/2, build_ebin_dirs/1]).
-import(elixir_dap_values, [variable/3, release/1]).
-import(elixir_dap_expr, [hit_reached/2, eval_elixir/2, elixir_binding/1, eval_condition/4, log_or_stop/4]).

%% How often detaching looks again at a process found on its way into the
%% interpreter (it may have no meta yet to report its return).
-define(ENTRY_RECHECK_MS, 10).
-define(BREAKS, elixir_dap_breaks).
%% The reload's table (elixir_dap_reload): processes whose caches wait to
%% be dropped ({pending, Pid}), metas held with their stack ({held_meta,
%% Meta}).
-define(TABLE, elixir_dap_reload).
%% How often processes still using reloaded code are looked at again.
-define(RETRY_MS, 50).
%% How long a `pause` of a process blocked in a `receive` of interpreted
%% code waits for it to go on before stopping it where it waits, in ms
%% (begin_pause/2).
-define(PAUSE_GRACE_MS, 500).

%% ---------------------------------------------------------------------------
%% Set-up

%% Mix prunes the code path on Elixir 1.15+, and OTP 26+ may not find the
%% debugger through code:lib_dir/1: add its ebin from the OTP root ourselves.
-spec ensure_started(binary()) -> {ok, ok}.
ensure_started(StackTraceModeName) ->
    StackTraceMode = case StackTraceModeName of
                         <<"all">> -> all;
                         <<"false">> -> false;
                         _ -> no_tail
                     end,
    debugger_on_path() orelse add_debugger_path(),
    case application:ensure_all_started(debugger) of
        {ok, _} -> ok;
        {error, Reason} -> throw_error(debugger_cannot_start, #{error => format_term(Reason)})
    end,
    elixir_dap_tables:ensure(),
    int:stack_trace(StackTraceMode),
    int:auto_attach([break], {?MODULE, attach, []}),
    {ok, ok}.

%% Whether the debugger application can be found on the code path. Not
%% code:which(int): a module stays loaded (and code:which/1 answers its file)
%% after a detach took its directory off the path, and application:load/1
%% then cannot find debugger.app (a second attach to the same node).
debugger_on_path() ->
    code:where_is_file("debugger.app") =/= non_existing.

add_debugger_path() ->
    Pattern = filename:join([code:root_dir(), "lib", "debugger-*", "ebin"]),
    case lists:reverse(lists:sort(filelib:wildcard(Pattern))) of
        [Ebin | _] -> code:add_patha(Ebin);
        [] ->
            case elixir_dap_release:project() of
                %% A release without the debugger application: the helper's.
                #{} -> elixir_dap_release:ship_debugger();
                undefined -> throw_error(debugger_not_installed, #{})
            end
    end.

%% ---------------------------------------------------------------------------
%% Interpretation
%%
%% int:ni/1 does, for one module at a time: find the beam (code:which/1,
%% which for a module not loaded yet lists every directory of the code path)
%% and the source (for Elixir, by loading the module to ask module_info/1),
%% read the abstract code, load the native code (code:purge/1 and
%% code:load_binary/3), hand the module to dbg_iserver, and set the native
%% breakpoints that send callers into the interpreter. Only dbg_iserver's
%% part has to be serial: it is one process. So here:
%% - beams are found in the build path's ebin directories, listed once;
%% - one worker per scheduler prepares modules: reads the beam and the
%%   source, converts the debug info to abstract code, encodes the term
%%   dbg_iserver stores;
%% - native code is loaded in batches with code:atomic_load/1: each load
%%   commits a new copy of the VM's export table, so loading module by
%%   module costs more the more code the VM holds;
%% - a loader process hands each loaded batch to dbg_iserver while the
%%   workers prepare the next.
%% The message to dbg_iserver is the one int:ni/1 sends ({load, Mod, Src,
%% Bin}, Bin holding {interpreter_module, Exports, Abstract, Source, MD5}),
%% the same in debugger 5.3 (OTP 25) and in OTP's current sources. If
%% dbg_iload, which decodes it, is not there, int:ni/1 does the work.
%% Unlike int:ni/1 on a distributed node, native code is loaded on this node
%% only: the adapter debugs this VM.
%%
%% Modules that cannot be interpreted (no debug info, no source, an OTP
%% application the interpreter refuses, NIF stubs that do not load) are
%% reported with the reason int:interpretable/1 would give, not fatal.
-spec interpret([elixir_dap_backend:module_name()]) -> {ok, elixir_dap_backend:interpreted()}.
interpret(Names) ->
    Modules = lists:usort([to_atom(N, module) || N <- Names]),
    Results = case batch_interpretation_available() andalso elixir_dap_release:project() =:= undefined of
                  true -> interpret_batch(Modules);
                  false -> [interpret_one(M) || M <- Modules]
              end,
    {ok, #{interpreted => [M || {ok, M} <- Results],
           skipped => [#{module => M, name => module_name(M), reason => R} || {skipped, M, R} <- Results]}}.

%% Modules the program may be running (a breakpoint set while it runs):
%% one by one, each loaded natively first unless its code is loaded already.
%% A process inside the module's native code when its traps are set goes on
%% into the interpreter at its next local call (see interpreter_term/4).
-spec interpret_running([elixir_dap_backend:module_name()]) -> {ok, elixir_dap_backend:interpreted()}.
interpret_running(Names) ->
    Results = [interpret_one(to_atom(N, module)) || N <- lists:usort(Names)],
    {ok, #{interpreted => [M || {ok, M} <- Results],
           skipped => [#{module => M, name => module_name(M), reason => R} || {skipped, M, R} <- Results]}}.

%% Lazy interpretation (see elixir_dap_backend:interpret_pending/2). Each
%% module is looked at right before its turn: a request of the adapter's (a
%% breakpoint set meanwhile) may have interpreted it since the call began,
%% and a second int:ni/1 of a module purges the native code processes may
%% still run.
-spec interpret_pending([binary()], low | normal) -> {ok, elixir_dap_backend:pending()}.
interpret_pending(Names, Priority) when Priority =:= low; Priority =:= normal ->
    _ = process_flag(priority, Priority),
    Results = [interpret_pending_one(Name, Priority =:= low) || Name <- lists:usort(Names)],
    {ok, #{interpreted => [M || {ok, M} <- Results],
           busy => [atom_to_binary(M, utf8) || {busy, M} <- Results],
           skipped => [#{module => M, name => module_name(M), reason => R} || {skipped, M, R} <- Results],
           unknown => [Name || {unknown, Name} <- Results]}}.

interpret_pending_one(Name, Check) ->
    try binary_to_existing_atom(Name, utf8) of
        Module ->
            case lists:member(Module, int:interpreted()) of
                true -> {ok, Module};
                false ->
                    %% A reload's deferred module: its new native code is
                    %% the compiler's, interpreted as the reload does.
                    case unlisted(Module) of
                        true -> reinterpret(Module, none);
                        false -> interpret_keeping_funs(Module, Check)
                    end
            end
    catch
        error:badarg -> {unknown, Name}
    end.

%% Whether some process runs Module (has it on its stack). Such a module is
%% left for later when Check: a process looping natively in a module
%% interpreted under it stays on the native code, which the interpretation
%% made old, so it would never stop at a breakpoint there and would block
%% the module's next reload. A module not loaded runs nowhere.
is_running(Module) ->
    erlang:module_loaded(Module) andalso
        lists:any(fun(Pid) ->
                          case erlang:process_info(Pid, current_stacktrace) of
                              {current_stacktrace, Frames} -> lists:keymember(Module, 1, Frames);
                              undefined -> false
                          end
                  end, erlang:processes()).

%% What int:ni/1 does, except that the functions the compiler lifted out of
%% anonymous functions ('-f/1-fun-0-') keep running natively. A fun the
%% program created before the module was interpreted calls its lifted
%% function in the newest code; trapped into the interpreter, which knows
%% only the module's own functions, the call failed as undefined (found
%% interpreting under a running program). Funs the interpreter creates never
%% call the lifted functions. A module a script defined (no beam) takes
%% int:ni/1's own path.
interpret_keeping_funs(Module, Check) ->
    Beam = case code:which(Module) of
               Path when is_list(Path), Path =/= [] -> Path;
               _ -> none
           end,
    %% In a release the node's beams have no debug info: the helper's
    %% object code is interpreted instead (interpret_with_int/1).
    case batch_interpretation_available() andalso
        elixir_dap_scripts:object_code(Module) =:= none andalso Beam =/= none andalso
        elixir_dap_release:project() =:= undefined of
        false ->
            case Check andalso is_running(Module) of
                true -> {busy, Module};
                false -> interpret_one(Module)
            end;
        true ->
            case prepare(Module, Beam) of
                {ok, Prepared} -> load_keeping_funs(Prepared, Check);
                {skipped, _, _} = Skipped -> Skipped
            end
    end.

%% The check and the load at high priority, so that no process of the
%% program enters the module in between.
load_keeping_funs(#{module := Module} = Prepared, Check) ->
    Priority = process_flag(priority, high),
    try
        case Check andalso is_running(Module) of
            true -> {busy, Module};
            false -> load_keeping_funs(Prepared)
        end
    after
        process_flag(priority, Priority)
    end.

load_keeping_funs(#{module := Module, beam := Beam, binary := Bin, source := Source, term := Term}) ->
    try
        _ = erlang:check_old_code(Module) andalso code:purge(Module),
        _ = erlang:module_loaded(Module) andalso erts_debug:breakpoint({Module, '_', '_'}, false),
        {module, Module} = code:load_binary(Module, Beam, Bin),
        {module, Module} = dbg_iserver:safe_call({load, Module, Source, Term}),
        case trap(Module) > 0 of
            true -> {ok, Module};
            false -> {skipped, Module, #{kind => interpreter_refused}}
        end
    catch
        Class:Reason -> {skipped, Module, failed(Class, Reason)}
    end.

%% Sets Module's call traps: every function's but those the compiler lifted
%% out of funs (see interpret_keeping_funs/2), which only funs created by
%% native code call, and which the interpreter does not know. Every place
%% that sets traps goes through here (or through trap_not_running/1, which
%% ends the same): traps set again after a compile
%% lifted them trapped the lifted functions too, and a fun created
%% natively then failed as undefined. Answers how many functions trap.
-spec trap(module()) -> non_neg_integer().
trap(Module) ->
    case erlang:module_loaded(Module) of
        true ->
            %% Function by function when some are lifted: trapping all
            %% and then freeing those left a window in which a native
            %% loop calling its fun failed (seen in the tests).
            Functions = erlang:get_module_info(Module, functions),
            case lists:any(fun({F, _}) -> is_lifted_fun(F) end, Functions) of
                false ->
                    erts_debug:breakpoint({Module, '_', '_'}, true);
                true ->
                    lists:sum([erts_debug:breakpoint({Module, F, A}, true)
                               || {F, A} <- Functions, not is_lifted_fun(F)])
            end;
        false ->
            0
    end.

%% trap/1 for a module of a launch's batch (interpret/1: before the task
%% runs, so no process runs the module's code): every trap set in one call,
%% then the lifted functions' lifted. Each erts_debug:breakpoint/2 call is a
%% code change of the VM's, costly on OTP 29 (measured on the bench's
%% 200-module project, 2 932 functions of which 581 lifted: 124 ms function
%% by function, 43 ms so; the batch's loader sets them one module after the
%% other). The moment in which a lifted function traps matters only to a
%% fun created natively that runs then, and none runs.
trap_not_running(Module) ->
    case erlang:module_loaded(Module) of
        true ->
            All = erts_debug:breakpoint({Module, '_', '_'}, true),
            Lifted = [erts_debug:breakpoint({Module, F, A}, false)
                      || {F, A} <- erlang:get_module_info(Module, functions), is_lifted_fun(F)],
            All - lists:sum(Lifted);
        false ->
            0
    end.

%% '-name/arity-fun-N-': the compiler's name for a function lifted out of a
%% fun.
is_lifted_fun(Name) ->
    case atom_to_list(Name) of
        "-" ++ Rest -> string:find(Rest, "-fun-") =/= nomatch;
        _ -> false
    end.

batch_interpretation_available() ->
    _ = code:ensure_loaded(dbg_iload),
    erlang:function_exported(dbg_iload, load_mod, 4)
        andalso is_pid(whereis(dbg_iserver)).

%% The fallback: what the adapter did before, one module at a time. A module
%% a script defined is interpreted from the object code kept for it; in a
%% node without Mix, every module from the helper's (elixir_dap_release).
interpret_one(Module) ->
    case {elixir_dap_scripts:object_code(Module), elixir_dap_release:project()} of
        {{Source, Bin}, _} -> interpret_binary(Module, Source, Bin);
        {none, undefined} -> interpret_from_path(Module);
        {none, _} ->
            case elixir_dap_release:shipped_code(Module) of
                {ok, Source, Text, Bin, Beam} -> interpret_shipped(Module, Source, Text, Bin, Beam);
                {skipped, Module, Why} -> {skipped, Module, Why}
            end
    end.

%% Interprets object code whose source is no file on this node (a release:
%% the source text comes from the adapter's side), as int:ni/1 does with
%% files: the native load, then dbg_iserver, then the call traps.
-spec interpret_shipped(module(), file:filename_all(), binary(), binary(), file:filename()) ->
    {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
interpret_shipped(Module, Source, Text, Bin, Beam) ->
    case beam_lib:chunks(Bin, [abstract_code, exports]) of
        {ok, {_, [{abstract_code, {_, _} = Abstract}, {exports, Exports}]}} ->
            Path = unicode:characters_to_list(Source),
            interpret_prepared(#{module => Module, beam => Beam, binary => Bin, source => Path,
                                 term => interpreter_term(Exports, Abstract, source_text(Text), Bin)});
        _ ->
            {skipped, Module, #{kind => no_debug_info}}
    end.

%% What int:ni/1 does with a prepared module (prepare/2): the native load
%% (unless exactly this code runs already: a release's, stripped of its
%% debug info, or what the compiler or a reload loaded), then dbg_iserver,
%% then the call traps. Unlike int:ni/1 the interpreter's version lists
%% every function as exported (interpreter_term/4).
interpret_prepared(#{module := Module, binary := Bin} = Prepared) ->
    case loaded_md5(Module) =:= code:module_md5(Bin) orelse load_native([Prepared]) of
        true -> store(Prepared);
        {[_], []} -> store(Prepared);
        {[], [Skipped]} -> Skipped
    end.

%% The term dbg_iserver stores a module from (dbg_iload:load_mod/4 reads
%% it; int:ni/1 builds it in int:load/2), with every function listed as
%% exported. A call trap is set on a module's loaded code, and a process
%% may be inside that code natively when it is set: a module interpreted
%% under a running program (an attach, a breakpoint set later, lazy
%% interpretation), or its traps set again after a compile lifted them
%% (with_traps_lifted/3, elixir_dap_app_compile). That process's next local
%% call then meets the trap, and the interpreter serves a trapped call as a
%% remote one: a private function failed as undefined (seen on OTP 29 in
%% CI: a GenServer's handle_info, running natively across a reload's
%% compile, calling its defp).
%% Listed as exported, the function runs interpreted, as the local call
%% would have run natively. The flag means nothing else to the interpreter
%% but that a remote call from interpreted code (apply/3) may reach it.
%% Exports (the beam's) are kept in the list: the functions the compiler
%% adds (module_info/0,1), which dbg_iload adds to the forms, are in no
%% form here, and left unexported a trapped call to them failed (the
%% agent's own stack request hung on one).
interpreter_term(Exports, {_, Forms} = Abstract, Text, Bin) ->
    Functions = lists:usort(Exports ++ [{Name, Arity} || {function, _, Name, Arity, _} <- Forms]),
    term_to_binary({interpreter_module, Functions, Abstract, Text, code:module_md5(Bin)}).

interpret_binary(Module, Source, Bin) ->
    interpret_binary(Module, unicode:characters_to_list(Source), Bin, loaded_beam_name(Module)).

%% int:ni/1 loads the object code under the name it is given, which
%% code:which/1 answers from then on: the beam file the program's compile
%% wrote (Mix), or "" for code compiled in memory (IEx's c/1, scripts), as
%% Elixir names it. Elixir's compiler reads the named file of every module
%% it checks after a compile (Kernel.ParallelCompiler via code:which/1, and
%% skips ""): a name that is no file made every later compile fail, and with
%% it Phoenix's code reloader until the session ended.
loaded_beam_name(Module) ->
    case code:which(Module) of
        Path when is_list(Path), Path =/= [] ->
            case filelib:is_regular(Path) of
                true -> Path;
                false -> ""
            end;
        _ ->
            ""
    end.

-spec interpret_binary(module(), file:filename(), binary(), file:filename()) ->
    {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
interpret_binary(Module, Source, Bin, Beam) ->
    case read_raw(Source) of
        {ok, Text} -> interpret_shipped(Module, Source, Text, Bin, Beam);
        {error, Why} -> {skipped, Module, #{kind => unreadable, file => Source, error => format_term(Why)}}
    end.

%% A module on the code path: its beam and its source found as prepare/2
%% finds them (a moved project's too, see source_here/3).
interpret_from_path(Module) ->
    case code:which(Module) of
        Beam when is_list(Beam), Beam =/= [] ->
            case prepare(Module, Beam) of
                {ok, Prepared} -> interpret_prepared(Prepared);
                {skipped, Module, Why} -> {skipped, Module, Why}
            end;
        _ ->
            {skipped, Module, #{kind => no_beam}}
    end.

%% A module the interpreter's work raised on.
failed(Class, Reason) ->
    #{kind => failed, error => format_term({Class, Reason})}.

%% How long one batch may take in all: far more than any project needs.
-define(INTERPRET_TIMEOUT, 600000).

interpret_batch([]) ->
    [];
interpret_batch(Modules) ->
    Self = self(),
    Beams = beam_paths(Modules),
    Loader = spawn_link(fun() -> loader(Self, []) end),
    Shares = deal(Modules, erlang:system_info(schedulers_online)),
    _ = [spawn_link(fun() -> [Self ! {prepared, build(M, maps:get(M, Beams, none))} || M <- Share] end)
         || Share <- Shares],
    %% A batch big enough that native loads are few, small enough that
    %% dbg_iserver starts early.
    BatchSize = max(16, length(Modules) div 8),
    Skipped = collect(length(Modules), BatchSize, [], Loader, []),
    Loader ! {done, Self},
    receive
        {interpreted, Loader, Results} -> Results ++ Skipped
    after ?INTERPRET_TIMEOUT ->
            throw_error(interpret_timeout, #{ms => ?INTERPRET_TIMEOUT})
    end.

%% Receives prepared modules; loads their native code a batch at a time and
%% passes each loaded batch on to the loader. Returns the skipped modules.
collect(0, _BatchSize, [], _Loader, Skipped) ->
    Skipped;
collect(Left, BatchSize, Ready, Loader, Skipped) when Left =:= 0; length(Ready) >= BatchSize ->
    {Loaded, NotLoaded} = load_native(lists:reverse(Ready)),
    discard_tables([T || #{module := M, table := T} <- Ready, lists:keymember(M, 2, NotLoaded)]),
    Loader ! {load, Loaded},
    collect(Left, BatchSize, [], Loader, NotLoaded ++ Skipped);
collect(Left, BatchSize, Ready, Loader, Skipped) ->
    receive
        {prepared, {ok, Prepared}} ->
            collect(Left - 1, BatchSize, [Prepared | Ready], Loader, Skipped);
        {prepared, {skipped, _, _} = Skip} ->
            collect(Left - 1, BatchSize, Ready, Loader, [Skip | Skipped])
    after ?INTERPRET_TIMEOUT ->
            throw_error(prepare_timeout, #{ms => ?INTERPRET_TIMEOUT})
    end.

%% prepare/2, then the interpreter's version of the module built in this
%% worker, into a table of dbg_iserver's, as the staged switch builds a
%% reload's (stage_versions/1): dbg_iserver's own {load, ...} call builds
%% one module at a time, in its process, and that was the launch's
%% bottleneck on OTP 29 (the interpretation of 2 000 modules 1.34x faster
%% than int:ni/1 one by one, on two cores). The version becomes visible when
%% the loader lists it (list_built/1), after its native code is loaded. A
%% module whose table cannot be made is handed to dbg_iserver as before.
build(Module, Beam) ->
    case prepare(Module, Beam) of
        {ok, #{source := Source, term := Term} = Prepared} ->
            case new_tables([Module]) of
                #{Module := Table} ->
                    case stage_one(Module, Source, Term, Table) of
                        {ok, _} -> {ok, Prepared#{table => Table}};
                        {skipped, _, _} = Skipped -> Skipped
                    end;
                _ ->
                    {ok, Prepared}
            end;
        Skipped ->
            Skipped
    end.

%% Makes loaded modules interpreted, in its own process so that the next
%% batch is loaded meanwhile: the versions built by the workers listed in
%% one step, the others handed to dbg_iserver one at a time.
loader(Parent, Results) ->
    receive
        {load, Batch} ->
            {Built, Unbuilt} = lists:partition(fun(P) -> is_map_key(table, P) end, Batch),
            Done = list_built(Built) ++ [store(P) || P <- Unbuilt],
            loader(Parent, lists:reverse(Done, Results));
        {done, Parent} ->
            Parent ! {interpreted, self(), Results}
    end.

%% Inside dbg_iserver, what its {load, ...} call does once a version is
%% built: the version listed under {Mod, refs}, and {int, {interpret, Mod}}
%% to its subscribers and to the processes attached (dbg_iserver.erl,
%% send_all/3: the same in debugger 5.3 to 7.0). Then the call traps.
list_built([]) ->
    [];
list_built(Built) ->
    Listed = in_iserver(fun(State) ->
                                Db = element(2, State),
                                [publish(Db, M, T) || #{module := M, table := T} <- Built],
                                Notify = element(7, State) ++ [A || P <- element(3, State),
                                                                    A <- [element(4, P)], is_pid(A)],
                                [Pid ! {int, {interpret, M}} || #{module := M} <- Built, Pid <- Notify],
                                ok
                        end),
    case Listed of
        ok ->
            [case trap_not_running(M) > 0 of
                 true -> {ok, M};
                 false -> {skipped, M, #{kind => interpreter_refused}}
             end || #{module := M} <- Built];
        {error, Why} ->
            discard_tables([T || #{table := T} <- Built]),
            [{skipped, M, #{kind => failed, error => format_term(Why)}} || #{module := M} <- Built]
    end.

store(#{module := Module, source := Source, term := Term}) ->
    try dbg_iserver:safe_call({load, Module, Source, Term}) of
        {module, Module} ->
            case trap_not_running(Module) > 0 of
                true -> {ok, Module};
                false -> {skipped, Module, #{kind => interpreter_refused}}
            end;
        Other ->
            {skipped, Module, #{kind => failed, error => format_term(Other)}}
    catch
        Class:Reason -> {skipped, Module, failed(Class, Reason)}
    end.

%% Everything int:ni/1 does for a module before dbg_iserver, except the
%% native load. Never raises: a module that fails is skipped.
prepare(Module, none) ->
    {skipped, Module, #{kind => no_beam}};
prepare(Module, Beam) ->
    try
        {ok, Bin} = read_raw(Beam),
        prepare_binary(Module, Beam, Bin)
    catch
        Class:Reason -> {skipped, Module, failed(Class, Reason)}
    end.

%% prepare/2 of object code read already (Bin, from the file Beam).
prepare_binary(Module, Beam, Bin) ->
    try
        case beam_lib:chunks(Bin, [abstract_code, exports, compile_info]) of
            {ok, {_, [{abstract_code, {_, _} = Abstract}, {exports, Exports}, {compile_info, Info}]}} ->
                case find_source(Module, Beam, Info) of
                    error ->
                        {skipped, Module, #{kind => no_source}};
                    Source ->
                        case refused_application(Source) of
                            {app, App} ->
                                {skipped, Module, #{kind => refused_application, app => App}};
                            false ->
                                %% No text: see stage_term/2.
                                {ok, #{module => Module, beam => Beam, binary => Bin,
                                       source => Source, term => interpreter_term(Exports, Abstract, <<>>, Bin)}}
                        end
                end;
            _ ->
                {skipped, Module, #{kind => no_debug_info}}
        end
    catch
        Class:Reason -> {skipped, Module, failed(Class, Reason)}
    end.

%% Where int looks for a module's source, in its order: beside the beam, in
%% ../src, then where the compiler says it was (or where that file is now:
%% see source_here/3).
find_source(Module, Beam, Info) ->
    Base = filename:rootname(filename:basename(Beam)) ++ ".erl",
    Ebin = filename:dirname(Beam),
    Recorded = case proplists:get_value(source, Info) of
                   undefined -> [];
                   S -> [recorded_source(Module, S)]
               end,
    Candidates = [filename:join(Ebin, Base), filename:join([filename:dirname(Ebin), "src", Base]) | Recorded],
    case [C || C <- Candidates, is_regular_raw(C)] of
        [Found | _] -> Found;
        [] -> error
    end.

%% file:read_file/1 and filelib:is_regular/1 go through the file server, one
%% request at a time: the workers read in raw mode, in parallel.
read_raw(Name) ->
    case file:open(Name, [read, raw, binary]) of
        {ok, Fd} ->
            try read_all(Fd, []) after file:close(Fd) end;
        {error, _} = Error ->
            Error
    end.

read_all(Fd, Acc) ->
    case file:read(Fd, 1 bsl 20) of
        {ok, Data} -> read_all(Fd, [Data | Acc]);
        eof -> {ok, iolist_to_binary(lists:reverse(Acc))};
        {error, _} = Error -> Error
    end.

%% int refuses to interpret modules of these applications.
refused_application(Source) ->
    case lists:reverse(filename:split(filename:absname(Source))) of
        [_File, "src", AppDir | _] ->
            Refused = [App || App <- [kernel, stdlib, erts, gs, debugger],
                              lists:prefix(atom_to_list(App) ++ "-", AppDir)],
            case Refused of
                [App | _] -> {app, App};
                [] -> false
            end;
        _ ->
            false
    end.

%% The source as UTF-8, honouring an Erlang file's encoding comment.
source_text(Bin) ->
    Encoding = case epp:read_encoding_from_binary(Bin) of
                   none -> utf8;
                   E -> E
               end,
    case unicode:characters_to_binary(Bin, Encoding) of
        Text when is_binary(Text) -> Text;
        _ -> Bin
    end.

%% Loads the native code of prepared modules in one atomic load (purging old
%% code first, as int:ni/1 does); if the batch cannot load as a whole (a
%% module with -on_load, for example), module by module.
load_native(Prepared) ->
    lists:foreach(fun(#{module := M}) -> release_native(M) end, Prepared),
    case code:atomic_load([{M, Beam, Bin} || #{module := M, beam := Beam, binary := Bin} <- Prepared]) of
        ok ->
            {Prepared, []};
        {error, _} ->
            lists:foldr(fun(#{module := M, beam := Beam, binary := Bin} = P, {Ok, Failed}) ->
                                case code:load_binary(M, Beam, Bin) of
                                    {module, M} -> {[P | Ok], Failed};
                                    {error, Why} -> {Ok, [{skipped, M, #{kind => load_failed, error => format_term(Why)}}
                                                          | Failed]}
                                end
                        end, {[], []}, Prepared)
    end.

%% code:purge/1 is a call to the code server even when there is nothing to
%% purge: ask the VM first.
release_native(Module) ->
    _ = erlang:check_old_code(Module) andalso code:purge(Module),
    case erlang:module_loaded(Module) of
        true -> _ = erts_debug:breakpoint({Module, '_', '_'}, false);
        false -> ok
    end,
    ok.

%% The beam of each module: for loaded modules where the code server says,
%% for the others the build path's ebin directories (listed once) and only
%% then the code path.
beam_paths(Modules) ->
    Ebins = build_ebins(),
    lists:foldl(fun(M, Acc) ->
                        case beam_path(M, Ebins) of
                            none -> Acc;
                            Path -> Acc#{M => Path}
                        end
                end, #{}, Modules).

beam_path(Module, Ebins) ->
    case code:is_loaded(Module) of
        {file, Path} when is_list(Path), Path =/= [] ->
            Path;
        _ ->
            case maps:find(atom_to_list(Module) ++ ".beam", Ebins) of
                {ok, Dir} ->
                    filename:join(Dir, atom_to_list(Module) ++ ".beam");
                error ->
                    case code:which(Module) of
                        Path when is_list(Path), Path =/= [] -> Path;
                        _ -> none
                    end
            end
    end.

%% #{"Mod.beam" => EbinDir} over the build path's applications.
build_ebins() ->
    Dirs = try
               build_ebin_dirs('Elixir.Mix.Project':build_path())
           catch
               _:_ -> []
           end,
    lists:foldl(fun(Dir, Acc) ->
                        case file:list_dir(Dir) of
                            {ok, Files} -> maps:merge(maps:from_list([{F, Dir} || F <- Files]), Acc);
                            {error, _} -> Acc
                        end
                end, #{}, Dirs).

%% Lines where the interpreter can stop: the first line of every expression
%% in a body (function clauses, case/receive/try/fun bodies). A breakpoint on
%% any other line would never be hit.
%% The lines of the module's own source that hold code: functions a macro
%% injected from another file (see foreign_functions/1) have lines of that
%% file, not of this one.
-spec breakable_lines(elixir_dap_backend:module_name()) -> {ok, [pos_integer()]}.
breakable_lines(Name) ->
    Module = to_atom(Name, module),
    Foreign = foreign_functions(Module, source_of(Module)),
    Own = [Form || {function, _, F, A, _} = Form <- abstract_code(Module), not maps:is_key({F, A}, Foreign)],
    {ok, lists:usort(body_lines(Own))}.

%% Functions whose code comes from another file, with that file: #{{F, A} =>
%% Path}. Code a macro injects with `quote location: :keep` (Plug's debugger
%% in a Phoenix endpoint, for one) keeps the file and lines it was written
%% in: Elixir puts a -file attribute before each such function
%% (elixir_erl:add_definition/3, v1.14.0 to v1.20.3) and the interpreter
%% reports those lines; the native debugger reports them too, but knows no
%% files. Own: the module's own source. Cached per module version.
foreign_functions(Module, Own) ->
    MD5 = elixir_dap_util:loaded_md5(Module),
    Key = {?MODULE, foreign, Module},
    case ets:lookup(?BREAKS, Key) of
        [{_, MD5, Cached}] ->
            Cached;
        _ ->
            Forms = try abstract_code(Module) catch throw:{agent_error, _} -> [] end,
            Foreign = foreign_in(Forms, Own, own, #{}),
            ets:insert(?BREAKS, {Key, MD5, Foreign}),
            Foreign
    end.

foreign_in([{attribute, _, file, {File, _}} | Rest], Own, _Current, Acc) ->
    Path = resolve_source(unicode:characters_to_binary(File), Own),
    Current = case Path =:= filename:absname(Own) of
                  true -> own;
                  false -> Path
              end,
    foreign_in(Rest, Own, Current, Acc);
foreign_in([{function, _, F, A, _} | Rest], Own, Current, Acc) when Current =/= own ->
    foreign_in(Rest, Own, Current, Acc#{{F, A} => Current});
foreign_in([_ | Rest], Own, Current, Acc) ->
    foreign_in(Rest, Own, Current, Acc);
foreign_in([], _Own, _Current, Acc) ->
    Acc.

%% A -file path is relative to the directory Mix compiled in: the project,
%% or an umbrella app's directory, which is an ancestor of the module's own
%% source. The first existing candidate wins; else relative to the project.
resolve_source(Path, Own) ->
    case filename:pathtype(Path) of
        absolute -> Path;
        _ ->
            Ancestors = ancestors(filename:dirname(filename:absname(Own))),
            Candidates = [filename:absname(Path) | [filename:join(Dir, Path) || Dir <- Ancestors]],
            case [C || C <- Candidates, filelib:is_regular(C)] of
                [Found | _] -> Found;
                [] -> filename:absname(Path)
            end
    end.

ancestors(Dir) ->
    case filename:dirname(Dir) of
        Dir -> [Dir];
        Parent -> [Dir | ancestors(Parent)]
    end.

%% The source of the code of Function/Arity of Module (a fun: of the
%% function it was written in, '-name/arity-fun-N-').
function_source(Module, Function, Arity) ->
    Own = source_of(Module),
    case function_file(Module, Function, Arity, Own) of
        own -> Own;
        Path -> Path
    end.

%% Where the code of Function/Arity of Module (a fun: of the function it
%% was written in, '-name/arity-fun-N-') was written: `own` (Own, the
%% module's own source) or the path of the file a macro injected it from.
-spec function_file(module(), atom(), arity(), binary()) -> own | binary().
function_file(Module, Function, Arity, Own) ->
    Key = case re:run(atom_to_list(Function), "^-(.+)/([0-9]+)-", [{capture, all_but_first, list}, unicode]) of
              {match, [Parent, ParentArity]} -> {list_to_atom(Parent), list_to_integer(ParentArity)};
              nomatch -> {Function, Arity}
          end,
    maps:get(Key, foreign_functions(Module, Own), own).

%% First line of every clause of Function/Arity (Arity = any for all).
-spec function_lines(elixir_dap_backend:module_name(), binary(), arity() | any) -> {ok, [pos_integer()]}.
function_lines(ModuleName, FunctionName, Arity) ->
    Module = to_atom(ModuleName, module),
    %% A name the VM has no atom for cannot be a function of the module.
    Function = try binary_to_existing_atom(FunctionName, utf8) catch error:badarg -> undefined end,
    Lines = [first_line(Clause)
             || {function, _, F, A, Clauses} <- abstract_code(Module),
                F =:= Function, Arity =:= any orelse A =:= Arity,
                Clause <- Clauses],
    {ok, lists:usort([L || L <- Lines, L > 0])}.

first_line({clause, _, _, _, [First | _]}) -> line_of(First);
first_line(_) -> 0.

%% A module defined by a script has no beam file: its object code is kept
%% by elixir_dap_scripts; a node without Mix runs code stripped of its debug
%% info: the full object code comes from the helper (elixir_dap_release).
abstract_code(Module) ->
    Shipped = case elixir_dap_release:project() of
                  undefined -> elixir_dap_scripts:object_code(Module);
                  _ -> elixir_dap_release:object_code(Module)
              end,
    Beam = case {Shipped, code:which(Module)} of
               {{error, Why}, _} -> throw_error(code_unavailable, #{reason => Why});
               {{_Source, Bin}, _} -> Bin;
               {none, Path} when is_list(Path) -> Path;
               _ -> throw_error(no_beam, #{module => Module})
           end,
    case beam_lib:chunks(Beam, [debug_info]) of
        {ok, {_, [{debug_info, {debug_info_v1, Backend, Data}}]}} ->
            case Backend:debug_info(erlang_v1, Module, Data, []) of
                {ok, Forms} -> Forms;
                _ -> throw_error(debug_info_unusable, #{module => Module})
            end;
        _ ->
            throw_error(no_debug_info, #{module => Module})
    end.

body_lines(Forms) ->
    walk(Forms, []).

walk({clause, _, _, _, Body}, Acc) ->
    walk(Body, [line_of(E) || E <- Body, line_of(E) > 0] ++ Acc);
walk(Tuple, Acc) when is_tuple(Tuple) ->
    walk(tuple_to_list(Tuple), Acc);
walk([H | T], Acc) ->
    walk(T, walk(H, Acc));
walk(_, Acc) ->
    Acc.


%% ---------------------------------------------------------------------------
%% Breakpoints

%% Replaces every breakpoint of Module. Each spec carries the line, the
%% adapter's breakpoint ids and kind (told back in the `stopped` event), and
%% the condition, hit condition and log message if any (checked by the
%% adapter with check_expressions/1 before they come here).
-spec set_breakpoints(elixir_dap_backend:module_name(), [map()]) -> {ok, ok}.
set_breakpoints(Name, Breakpoints) ->
    Module = to_atom(Name, module),
    [int:delete_break(Module, Line) || {{M, Line}, _} <- int:all_breaks(Module), M =:= Module],
    ets:match_delete(?BREAKS, {{Module, '_'}, '_'}),
    elixir_dap_expr:forget_reports(Module),
    lists:foreach(fun(B) -> set_breakpoint(Module, B) end, Breakpoints),
    %% A pause's temporary breakpoints in Module went with the rest.
    [set_pause_break(Module, Line) || [Line] <- ets:match(?BREAKS, {{?MODULE, pause_line, {Module, '$1'}}, '_'}),
                                      not ets:member(?BREAKS, {Module, Line})],
    {ok, ok}.

%% Every breakpoint has a test function (check_breakpoint/3): it keeps one
%% execution of a line to one stop, and applies the condition, hit count
%% and log message if any.
%% Every field is one the adapter always sends (nil when unset): a spec
%% lacking one is a malformed request, not a default.
set_breakpoint(Module, #{line := Line, ids := Ids, kind := Kind, condition := Condition,
                         hit_condition := HitCondition, log := LogParts}) ->
    Log = case LogParts of
              nil -> nil;
              Parts -> [case Part of {text, Text} -> Text; {expr, _} -> Part end || Part <- Parts]
          end,
    ets:insert(?BREAKS, {{Module, Line}, #{condition => Condition, hit_condition => HitCondition,
                                           log => Log, hits => 0, ids => Ids, kind => Kind}}),
    Test = {condition_module(Module, Line), check},
    case new_break(Module, Line, Test) of
        ok -> ok;
        %% A pause's temporary breakpoint, set meanwhile: it gets this test
        %% (which stops a pausing process too).
        {error, break_exists} -> int:test_at_break(Module, Line, Test)
    end.

%% A breakpoint with its test from the start. int:break/2 then
%% int:test_at_break/3 leave a moment in which every process that passes
%% the line stops there, untested; dbg_iserver takes the test with the
%% breakpoint (the options int:break/2 itself passes, debugger 5.3 to 7.0).
new_break(Module, Line, Test) ->
    dbg_iserver:safe_call({new_break, {Module, Line}, [active, enable, null, Test]}).

%% :int calls a condition as CondModule:check(Bindings) without saying which
%% breakpoint it belongs to, so each such breakpoint gets a tiny module.
condition_module(Module, Line) ->
    Name = list_to_atom(lists:flatten(io_lib:format("elixir_dap_cond_~ts_~b", [Module, Line]))),
    case code:is_loaded(Name) of
        {file, _} ->
            Name;
        false ->
            Forms = [{attribute, 1, module, Name},
                     {attribute, 1, export, [{check, 1}]},
                     {function, 1, check, 1,
                      [{clause, 1, [{var, 1, 'B'}], [],
                        [{call, 1, {remote, 1, {atom, 1, ?MODULE}, {atom, 1, check_breakpoint}},
                          [{atom, 1, Module}, {integer, 1, Line}, {var, 1, 'B'}]}]}]}],
            {ok, Name, Bin} = compile:forms(Forms),
            {module, Name} = code:load_binary(Name, "", Bin),
            Name
    end.

%% Runs in the meta process of the debugged process when it reaches the line.
%% Returns true to stop. Errors in the user's expressions count as false and
%% are reported once per breakpoint (see report/5). Evaluations shown in a
%% hover or a watch run through breakpoints (see evaluate/5).
-spec check_breakpoint(module(), pos_integer(), [{atom(), term()}]) -> boolean().
check_breakpoint(Module, Line, Bindings) ->
    %% The user's checks first: a hit counts and a log message is written
    %% even when a pause stops the process there.
    check_users_breakpoint(Module, Line, Bindings) orelse pausing(get(self)).

check_users_breakpoint(Module, Line, Bindings) ->
    case not skips_breakpoints(get(self)) andalso new_execution(Module, Line)
        andalso ets:lookup(?BREAKS, {Module, Line}) of
        false ->
            false;
        [] ->
            true;
        [{Key, Spec}] ->
            case has_checks(Spec) of
                false ->
                    true;
                true ->
                    Binding = elixir_binding(Bindings),
                    case eval_condition(maps:get(condition, Spec), Binding, Module, Line) of
                        false ->
                            false;
                        true ->
                            Count = bump_hits(Key, Spec),
                            case hit_reached(maps:get(hit_condition, Spec), Count) of
                                false -> false;
                                true -> log_or_stop(maps:get(log, Spec), Binding, Module, Line)
                            end
                    end
            end
    end.

has_checks(#{condition := nil, hit_condition := nil, log := nil}) -> false;
has_checks(_) -> true.

%% :int breaks at every body expression that carries the line, and Elixir
%% expands one line into nested bodies (interpolation, `if c, do: a, else:
%% b`, `case`, `&&`, `||`) and funs (`&(&1 * 2)` in a pipe): one execution
%% of the line would stop, log and count several times. This runs in the
%% meta process, which evaluates the interpreted code, and keeps the last
%% hit of the process. A hit of the same line is a repeat when it comes
%% - from the same function activation (the interpreter's stack of callers,
%%   kept in the meta's dictionary under dbg_istk, the same in debugger 5.3
%%   to 7.0) deeper in the evaluator: a nested body, not a later execution;
%% - or from a fun written on the line, called back by native code that the
%%   line called (Enum.map): the interpreter re-entered from a call made at
%%   the line by the recorded activation. A recursive call made at the line
%%   is a direct call, an activation of its own.
new_execution(Module, Line) ->
    Stack = get(dbg_istk),
    {stack_size, Depth} = erlang:process_info(self(), stack_size),
    Key = {?MODULE, last_hit},
    Repeat = case get(Key) of
                 {Module, Line, Stack, LastDepth} -> Depth > LastDepth;
                 {Module, Line, Recorded, _} -> called_back_from(Stack, Recorded, Module, Line);
                 _ -> false
             end,
    Repeat orelse put(Key, {Module, Line, Stack, Depth}),
    not Repeat.

%% Stack is Recorded with one more caller on top (a dbg_istk #e{level, mfa,
%% line, ...}: the call the line made), and the body was entered again from
%% native code.
called_back_from([Caller | Recorded], Recorded, Module, Line)
  when is_tuple(Caller), tuple_size(Caller) >= 4, element(4, Caller) =:= Line ->
    mfa_module(element(3, Caller)) =:= Module andalso reentered();
called_back_from(_Stack, _Recorded, _Module, _Line) ->
    false.

%% Whether the body being evaluated was entered from native code (the meta's
%% dbg_ieval:eval_mfa, for a call back into interpreted code) rather than by
%% an interpreted call (dbg_ieval:eval_function). The textual backtrace is
%% read because current_stacktrace stops at the backtrace depth (8 frames).
reentered() ->
    {backtrace, Text} = erlang:process_info(self(), backtrace),
    case {binary:match(Text, <<"dbg_ieval:eval_mfa/">>), binary:match(Text, <<"dbg_ieval:eval_function/">>)} of
        {nomatch, _} -> false;
        {_, nomatch} -> true;
        {{Reentry, _}, {Call, _}} -> Reentry < Call
    end.

bump_hits(Key, Spec) ->
    Count = maps:get(hits, Spec) + 1,
    ets:insert(?BREAKS, {Key, Spec#{hits => Count}}),
    Count.

%% ---------------------------------------------------------------------------
%% Paused processes

%% Spawned by :int when an interpreted process without an attached process
%% reaches a breakpoint. Stays attached until that process exits.
-spec attach(pid()) -> ok.
attach(Pid) ->
    case int:attached(Pid) of
        {ok, Meta} ->
            ets:insert(?BREAKS, {{?MODULE, attached, Pid}, self()}),
            attached_loop(Pid, Meta);
        error ->
            ok
    end.

attached_loop(Pid, Meta) ->
    receive
        {Meta, {break_at, Module, Line, Level}} ->
            case ets:lookup(?BREAKS, {?MODULE, stepping, Pid}) of
                [{_, {Command, Module, Line, Level}}] ->
                    %% A step that ended on the line it started from (a nested
                    %% expression of it): one step is one line, so on.
                    int:meta(Meta, Command);
                [] ->
                    case injected_code_at(Meta, Module, Line) of
                        true -> int:meta(Meta, continue);
                        false -> stop_at(Pid, Meta, Module, Line, Level)
                    end;
                _ ->
                    stop_at(Pid, Meta, Module, Line, Level)
            end,
            attached_loop(Pid, Meta);
        %% Where it waits in a `receive` (a pause may stop it there).
        {Meta, {Waiting, Module, Line, Level}} when Waiting =:= wait_at; Waiting =:= wait_after_at ->
            ets:insert(?BREAKS, {{?MODULE, waiting_at, Pid}, {Module, Line, Level}}),
            attached_loop(Pid, Meta);
        {Meta, running} ->
            ets:delete(?BREAKS, {?MODULE, waiting_at, Pid}),
            attached_loop(Pid, Meta);
        {?MODULE, pause_grace, Tag} ->
            case {ets:lookup(?BREAKS, {?MODULE, pausing, Pid}), ets:lookup(?BREAKS, {?MODULE, waiting_at, Pid})} of
                {[{_, #{tag := Tag}}], [{_, {Module, Line, Level}}]} -> stop_at(Pid, Meta, Module, Line, Level);
                _ -> ok
            end,
            attached_loop(Pid, Meta);
        {Meta, idle} ->
            %% A reload may be waiting for this process to leave old code.
            on_idle(Pid, Meta),
            attached_loop(Pid, Meta);
        {From, {exit_at, _Where, Reason, _Level}} when is_pid(From) ->
            %% The process ended (killed while paused, returned, crashed).
            %% The notice does not come from Meta, which ended with it:
            %% dbg_iserver starts a new meta process (dbg_ieval:exit_info/5)
            %% for the attached process, to show where the process died.
            ended(Pid, From, Reason);
        {Meta, _Other} ->
            attached_loop(Pid, Meta);
        _Unexpected ->
            attached_loop(Pid, Meta)
    end.

%% The debugged process Pid has ended: its thread goes, once, and nothing
%% of it stays in the VM. ExitMeta (the meta process that reported the exit)
%% lives as long as an attached process does: it is stopped as
%% dbg_iserver would stop it when this process exits (`{int, stop}`), and
%% the event is sent once it is gone, so that a process count taken after
%% the event does not see it.
ended(Pid, ExitMeta, Reason) ->
    forget_process(Pid),
    Ref = erlang:monitor(process, ExitMeta),
    ExitMeta ! {int, stop},
    receive
        {'DOWN', Ref, process, ExitMeta, _} -> ok
    after 5000 ->
            erlang:demonitor(Ref, [flush])
    end,
    elixir_dap_util:send_event(thread_exited, #{pid => Pid, reason => format_term(Reason)}).

%% Forgets what the agent kept for a process that ended.
forget_process(Pid) ->
    end_pause(Pid),
    release(Pid),
    forget_evaluation(Pid),
    ets:delete(?BREAKS, {?MODULE, stopped_at, Pid}),
    ets:delete(?BREAKS, {?MODULE, stepping, Pid}),
    ets:delete(?BREAKS, {?MODULE, waiting_at, Pid}),
    ets:delete(?BREAKS, {?MODULE, attached, Pid}),
    ok.

meta(Pid) ->
    is_process_alive(Pid) orelse
        throw_error(exited, #{pid => Pid}),
    case dbg_iserver:safe_call({get_meta, Pid}) of
        {ok, Meta} -> Meta;
        {error, _} -> throw_error(not_interpreted, #{pid => Pid})
    end.

stop_at(Pid, Meta, Module, Line, Level) ->
    end_pause(Pid),
    ets:delete(?BREAKS, {?MODULE, stepping, Pid}),
    ets:insert(?BREAKS, {{?MODULE, stopped_at, Pid}, {Module, Line, Level}}),
    {Ids, Kind} = case ets:lookup(?BREAKS, {Module, Line}) of
                      [{_, #{ids := I, kind := K}}] -> {I, K};
                      _ -> {[], <<"breakpoint">>}
                  end,
    Stop = #{pid => Pid, name => thread_name(Pid), module => Module, line => Line,
             breakpoints => Ids, kind => Kind},
    Where = fun() -> top_frame(Meta, Module, Line) end,
    case evaluation_paused(Pid, Stop, Where) of
        %% Its evaluation ran out of time: it is being killed.
        killed -> ok;
        Announced -> elixir_dap_util:send_event(stopped, Announced)
    end.

%% Whether a stop that is no step's end, at a line breakpoint, is in code a
%% macro injected from another file: the breakpoint is on a line of the
%% module's own file, :int knows lines only. (Its condition, hit count and
%% log message were applied to the hit already: check_breakpoint/3 is not
%% told the function.)
injected_code_at(Meta, Module, Line) ->
    case ets:lookup(?BREAKS, {Module, Line}) of
        [{_, #{kind := <<"breakpoint">>}}] ->
            try int:meta(Meta, backtrace, 1) of
                [{_Level, Mfa} | _] ->
                    {Function, Arity} = mfa_function(Mfa),
                    is_atom(Function) andalso function_file(Module, Function, Arity, source_of(Module)) =/= own;
                _ ->
                    false
            catch
                _:_ -> false
            end;
        _ ->
            false
    end.

%% Execution control: continue | next | step_in | step_out | pause.
-spec command(pid(), elixir_dap_backend:command()) -> {ok, ok}.
command(Pid, Command) ->
    Meta = meta(Pid),
    case Command of
        %% `stop` first: a meta that broke at a temporary breakpoint
        %% would take a `stop` that came after for a command it does not
        %% know (dbg_icmd:handle_cmd/3 in break mode).
        pause -> case in_break_mode(Meta) of
                     %% Stopped already (a breakpoint hit crossed the pause).
                     true -> ok;
                     false -> int:meta(Meta, stop),
                              begin_pause(Pid, Meta)
                 end;
        _ -> end_pause(Pid),
             release(Pid),
             remember_step(Pid, meta_command(Command)),
             int:meta(Meta, meta_command(Command))
    end,
    {ok, ok}.

%% `pause`. :int's `stop` breaks at the next expression the meta process
%% evaluates, but only if it arrives while the meta evaluates: one that
%% arrives while the process runs native code (Process.sleep/1, an io
%% request, a GenServer call: the meta waits for its result in
%% dbg_ieval:meta_loop/3) is dropped (dbg_icmd's handle_user_msg/4 ignores
%% `stop` when idle, debugger 5.3 to 7.0), and a process that spends its time
%% in native calls would never stop. So a pause also sets a temporary
%% breakpoint on every line of each interpreted module on the process's
%% stack, which stops that process only (pause_check/1): when the native
%% call returns, the next line it reaches stops it. A process blocked in a
%% `receive` of interpreted code (the `stop` waits there for a message) is
%% stopped where it waits after ?PAUSE_GRACE_MS, by its attached process:
%% its frames and variables are the meta's, which answers while it waits; a
%% message that comes meanwhile is received, and the `stop` then stops it
%% at its next line; `continue` cancels the `stop`. The temporary
%% breakpoints go at its stop, its next command, or its end (end_pause/1).
begin_pause(Pid, Meta) ->
    end_pause(Pid),
    Lines = [{M, L} || M <- stack_modules(Pid, Meta), L <- all_body_lines(M)],
    lists:foreach(fun add_pause_line/1, Lines),
    Tag = make_ref(),
    %% Last: a temporary breakpoint stops no one before the pause is known.
    ets:insert(?BREAKS, {{?MODULE, pausing, Pid}, #{lines => Lines, tag => Tag}}),
    case ets:lookup(?BREAKS, {?MODULE, attached, Pid}) of
        [{_, Attached}] -> erlang:send_after(?PAUSE_GRACE_MS, Attached, {?MODULE, pause_grace, Tag});
        [] -> ok
    end.

%% Whether Meta waits for a command at a stop (dbg_icmd:handle_cmd/3 in
%% break mode, its only receive without a timeout, debugger 5.3 to 7.0).
%% Read from the process itself: dbg_iserver's status comes by casts and
%% says `break` for a moment after a `continue`, which would drop a pause
%% that follows at once. A meta with a message to read is not waiting.
in_break_mode(Meta) ->
    erlang:process_info(Meta, [status, current_function]) =:=
        [{status, waiting}, {current_function, {dbg_icmd, handle_cmd, 3}}].

%% The interpreted modules of Pid's calls in progress, read from its meta
%% process's interpreter stack (dbg_istk, each entry's mfa: {M, F, Args} or
%% {Fun, Args}; tail calls leave none) without a message to the meta, which
%% may be waiting for native code; and the module of its last stop.
stack_modules(Pid, Meta) ->
    Stack = case erlang:process_info(Meta, dictionary) of
                {dictionary, Dictionary} -> proplists:get_value(dbg_istk, Dictionary, []);
                undefined -> []
            end,
    Called = [mfa_module(element(3, Entry)) || Entry <- Stack, is_tuple(Entry), tuple_size(Entry) >= 3],
    Stopped = case ets:lookup(?BREAKS, {?MODULE, stopped_at, Pid}) of
                  [{_, {Module, _Line, _Level}}] -> [Module];
                  [] -> []
              end,
    Interpreted = int:interpreted(),
    [M || M <- lists:usort(Called ++ Stopped), is_atom(M), lists:member(M, Interpreted)].

%% Every line a body expression of Module carries, code a macro injected
%% from another file included (a pause stops wherever the process goes on).
all_body_lines(Module) ->
    try lists:usort(body_lines(abstract_code(Module)))
    catch throw:{agent_error, _} -> []
    end.

%% A line can be a temporary breakpoint of several pauses; one with a
%% breakpoint of the user's is left to it (check_breakpoint/3 stops a
%% pausing process there too).
add_pause_line({Module, Line} = Where) ->
    case ets:update_counter(?BREAKS, {?MODULE, pause_line, Where}, 1, {{?MODULE, pause_line, Where}, 0}) of
        1 -> ets:member(?BREAKS, Where) orelse set_pause_break(Module, Line);
        _ -> ok
    end.

set_pause_break(Module, Line) ->
    new_break(Module, Line, {?MODULE, pause_check}).

drop_pause_line({Module, Line} = Where) ->
    Key = {?MODULE, pause_line, Where},
    case ets:update_counter(?BREAKS, Key, -1, {Key, 1}) of
        0 ->
            ets:delete(?BREAKS, Key),
            ets:member(?BREAKS, Where) orelse int:delete_break(Module, Line);
        _ ->
            ok
    end.

end_pause(Pid) ->
    case ets:take(?BREAKS, {?MODULE, pausing, Pid}) of
        [{_, #{lines := Lines}}] -> lists:foreach(fun drop_pause_line/1, Lines);
        [] -> ok
    end.

%% The test of a pause's temporary breakpoint, in the meta process of the
%% process that reached it: whether that process is being paused.
-spec pause_check([{atom(), term()}]) -> boolean().
pause_check(_Bindings) ->
    pausing(get(self)).

pausing(Pid) ->
    ets:member(?BREAKS, {?MODULE, pausing, Pid}).

%% :int stops a `next` or `step` at the next body expression, which may be
%% a nested one of the same line (Elixir expands interpolation, `if ...,
%% do:, else:`, `&&` into nested bodies): the attached process steps on
%% until the line or the level changes (see attached_loop/2).
remember_step(Pid, Step) when Step =:= next; Step =:= step ->
    case ets:lookup(?BREAKS, {?MODULE, stopped_at, Pid}) of
        [{_, {Module, Line, Level}}] ->
            ets:insert(?BREAKS, {{?MODULE, stepping, Pid}, {Step, Module, Line, Level}});
        [] ->
            ok
    end;
remember_step(Pid, _Other) ->
    ets:delete(?BREAKS, {?MODULE, stepping, Pid}).

meta_command(continue) -> continue;
meta_command(next) -> next;
meta_command(step_in) -> step;
meta_command(step_out) -> finish.

%% The stack of a paused process, innermost frame first:
%% [#{level, module, function, arity, line, source}].
-spec stack(pid()) -> {ok, [elixir_dap_backend:frame()]}.
stack(Pid) ->
    Meta = meta(Pid),
    {Module, Line} = case lists:keyfind(Pid, 1, int:snapshot()) of
                         {Pid, _, break, {M, L}} -> {M, L};
                         {Pid, _, waiting, _} -> waiting_at(Pid);
                         {Pid, _, Status, _} -> throw_error(not_paused, #{pid => Pid, status => Status});
                         false -> throw_error(not_interpreted, #{pid => Pid})
                     end,
    [{Top, TopMfa} | Callers] = int:meta(Meta, backtrace, all),
    TopFrame = frame(Top, TopMfa, Module, Line),
    CallerFrames = [caller_frame(Meta, Level, Mfa) || {Level, Mfa} <- Callers],
    {ok, [TopFrame | CallerFrames]}.

%% Where Pid waits in a `receive`, stopped there by a pause (begin_pause/2).
waiting_at(Pid) ->
    case ets:lookup(?BREAKS, {?MODULE, waiting_at, Pid}) of
        [{_, {Module, Line, _Level}}] -> {Module, Line};
        [] -> throw_error(not_paused, #{pid => Pid, status => waiting})
    end.

caller_frame(Meta, Level, Mfa) ->
    case int:meta(Meta, stack_frame, {up, Level + 1}) of
        {Level, {Module, Line}, _Bindings} -> frame(Level, Mfa, Module, Line);
        _ -> frame(Level, Mfa, mfa_module(Mfa), 0)
    end.

frame(Level, Mfa, Module, Line) ->
    {Function, Arity} = mfa_function(Mfa),
    Named = case mfa_module(Mfa) of
                M when is_atom(M), M =/= undefined -> M;
                _ -> Module
            end,
    %% Code a macro injected with `location: :keep` names the file it was
    %% written in (function_source/3).
    Source = case is_atom(Module) andalso Module =/= undefined andalso is_atom(Function) of
                 true -> function_source(Module, Function, Arity);
                 false -> source_of(Module)
             end,
    #{level => Level, module => Module, module_name => module_name(Module),
      function => atom_to_binary(Function, utf8), arity => Arity, line => Line,
      name => frame_name(Named, Function, Arity), source => Source}.

%% The function of an interpreter frame and its real arity. A fun defined in
%% interpreted code and called from native code (a fun given to Enum.map)
%% enters the interpreter through dbg_ieval:eval_fun/2 (eval_named_fun/3
%% for a named fun), and its frame then holds that call's arguments,
%% [Clauses, Args, Bindings, {Module, Name}] (or [..., FunName, Fun,
%% {Module, Name}]), not the fun's own: its arity is that of Args. The same
%% in debugger 5.3 (OTP 25) and 7.0 (OTP 29).
mfa_function({M, F, [Cs, As, _Bs, {M, F}]}) when is_list(Cs), is_list(As), is_atom(F) ->
    {F, length(As)};
mfa_function({M, F, [Cs, As, _Bs, _FunName, _Fun, {M, F}]}) when is_list(Cs), is_list(As), is_atom(F) ->
    {F, length(As)};
mfa_function({_M, F, Args}) when is_atom(F), is_list(Args) ->
    {F, length(Args)};
mfa_function({_M, F, Arity}) when is_atom(F), is_integer(Arity) ->
    {F, Arity};
mfa_function({Fun, Args}) when is_function(Fun), is_list(Args) ->
    {name, N} = erlang:fun_info(Fun, name),
    {N, length(Args)};
mfa_function(_) ->
    {unknown, 0}.

%% A frame's name as Elixir prints it in a stack trace: `Shop.Cart.add/2`,
%% `anonymous fn/1 in Shop.Cart.total/1`, `:lists.map/2`,
%% `Shop.Cart."MACRO-item"/2`.
-spec frame_name(module() | term(), atom() | term(), arity()) -> binary().
frame_name(Module, Function, Arity) when is_atom(Module), is_atom(Function), is_integer(Arity) ->
    try 'Elixir.Exception':format_mfa(Module, Function, Arity)
    catch _:_ -> mfa_name(Module, Function, Arity)
    end;
frame_name(_Module, Function, Arity) ->
    iolist_to_binary(io_lib:format("~tp/~b", [Function, Arity])).

source_of(Module) when is_atom(Module), Module =/= undefined ->
    case int:file(Module) of
        File when is_list(File) -> unicode:characters_to_binary(File);
        _ ->
            case module_source(Module) of
                none -> <<>>;
                S -> unicode:characters_to_binary(S)
            end
    end;
source_of(_) ->
    <<>>.

%% ---------------------------------------------------------------------------
%% Variables

-spec frame_variables(pid(), non_neg_integer()) -> {ok, [elixir_dap_values:variable()]}.
frame_variables(Pid, Level) ->
    Binding = elixir_binding(int:meta(meta(Pid), bindings, Level)),
    {ok, [variable(Pid, atom_to_binary(Name, utf8), Value) || {Name, Value} <- Binding]}.

%% ---------------------------------------------------------------------------
%% Evaluate

%% Evaluates an Elixir expression in a fresh process, with the bindings of a
%% paused frame (Pid, Level) or none (nil, nil). The paused process is
%% never touched. Context is the DAP evaluate context (see
%% run_evaluation/5).
-spec evaluate(pid() | nil, non_neg_integer() | nil, binary(), non_neg_integer(), binary()) ->
    {ok, elixir_dap_backend:evaluation()}.
evaluate(Target, Level, Expression, Timeout, Context) ->
    Binding = case {Target, Level} of
                  {nil, nil} -> [];
                  {Pid, _} when is_pid(Pid), is_integer(Level) ->
                      elixir_binding(int:meta(meta(Pid), bindings, Level))
              end,
    run_evaluation(Target, Expression, fun() -> eval_elixir(Expression, Binding) end, Timeout, Context).

%% Runs Eval() in a process of its own (the worker) and answers
%% {ok, Variable} with its value, or fails with its error. Owner is the
%% process whose values are shown (nil for none).
%% - A worker still running after Timeout ms is killed.
%% - Breakpoints (and `dbg` calls) in code the worker runs: a hover, a watch
%%   or a copy (any Context but <<"repl">>) runs through them, as the
%%   editor shows such values unasked. An expression typed in the debug
%%   console (<<"repl">>) stops there like any process: the worker becomes a
%%   thread the user can inspect, step and continue, the answer is
%%   {ok, #{paused => Stop}} at once, the time limit no longer applies, and
%%   the value is sent later as an `evaluation_result` event.
%% Processes the expression spawns are the program's: they stop at
%% breakpoints whatever the context.
-spec run_evaluation(pid() | nil, binary(), fun(() -> {ok, term()} | {error, binary()}), non_neg_integer(),
                     binary()) -> {ok, elixir_dap_backend:evaluation()}.
run_evaluation(Owner, Expression, Eval, Timeout, Context) ->
    Self = self(),
    {Worker, Ref} = spawn_monitor(fun() ->
                                          receive {Self, go} -> ok end,
                                          evaluated(Self, Expression, Eval())
                                  end),
    ets:insert(?BREAKS, {{?MODULE, eval, Worker}, #{owner => Self, expression => Expression,
                                                    skip => Context =/= <<"repl">>}}),
    Worker ! {Self, go},
    receive
        {Worker, {ok, Value}} ->
            evaluation_done(Worker, Ref),
            {ok, variable(Owner, <<"result">>, Value)};
        {Worker, {error, Message}} ->
            evaluation_done(Worker, Ref),
            throw_error(evaluation_failed, #{error => Message});
        {?MODULE, eval_paused, Worker, Stop} ->
            erlang:demonitor(Ref, [flush]),
            {ok, #{paused => Stop}};
        {'DOWN', Ref, process, Worker, Reason} ->
            forget_evaluation(Worker),
            throw_error(evaluation_failed, #{error => format_term(Reason)})
    after Timeout ->
            %% Either this claims the worker (and kills it) or the worker
            %% has paused at a breakpoint, and its notice is on its way.
            case ets:insert_new(?BREAKS, {{?MODULE, eval_claim, Worker}, killed}) of
                true ->
                    exit(Worker, kill),
                    evaluation_done(Worker, Ref),
                    throw_error(evaluation_timeout, #{ms => Timeout});
                false ->
                    erlang:demonitor(Ref, [flush]),
                    receive
                        {?MODULE, eval_paused, Worker, Stop} -> {ok, #{paused => Stop}}
                    end
            end
    end.

evaluation_done(Worker, Ref) ->
    erlang:demonitor(Ref, [flush]),
    forget_evaluation(Worker).

forget_evaluation(Pid) ->
    ets:delete(?BREAKS, {?MODULE, eval, Pid}),
    ets:delete(?BREAKS, {?MODULE, eval_claim, Pid}),
    ok.

%% In the worker, with the result of Eval(): to the waiting request, or as
%% an event when the worker paused at a breakpoint and the request has
%% answered already.
evaluated(Requester, Expression, Result) ->
    case ets:lookup(?BREAKS, {?MODULE, eval_claim, self()}) of
        [{_, paused}] ->
            forget_evaluation(self()),
            Data = case Result of
                       {ok, Value} -> #{value => inspect(Value)};
                       {error, Message} -> #{error => Message}
                   end,
            elixir_dap_util:send_event(evaluation_result, Data#{pid => self(), expression => Expression});
        _ ->
            Requester ! {self(), Result}
    end.

%% Called where a process is about to be announced as stopped (Stop, the
%% event's data): for an evaluation's worker stopping for the first time,
%% tells the waiting request and claims the worker (the time limit no
%% longer applies). Returns the event's data (naming the expression of an
%% evaluation), or killed when the time limit claimed the worker first.
-spec evaluation_paused(pid(), elixir_dap_backend:stop()) -> elixir_dap_backend:stop() | killed.
evaluation_paused(Pid, Stop) ->
    evaluation_paused(Pid, Stop, fun() -> #{} end).

%% Where() adds what the answer shows of where it stopped (function, source).
-spec evaluation_paused(pid(), elixir_dap_backend:stop(), fun(() -> map())) -> elixir_dap_backend:stop() | killed.
evaluation_paused(Pid, Stop, Where) ->
    case ets:lookup(?BREAKS, {?MODULE, eval, Pid}) of
        [] ->
            Stop;
        [{_, #{owner := Requester, expression := Expression}}] ->
            Short = case string:split(Expression, <<"\n">>) of
                        [First] when byte_size(First) =< 60 -> First;
                        [First | _] -> [string:slice(First, 0, 57), <<"...">>]
                    end,
            Named = maps:merge(Where(), Stop#{evaluation => Expression,
                                              name => iolist_to_binary([pid_text(Pid), <<" evaluating `">>,
                                                                        Short, <<"`">>])}),
            case ets:insert_new(?BREAKS, {{?MODULE, eval_claim, Pid}, paused}) of
                true ->
                    Requester ! {?MODULE, eval_paused, Pid, Named},
                    Named;
                false ->
                    case ets:lookup(?BREAKS, {?MODULE, eval_claim, Pid}) of
                        [{_, paused}] -> Named;
                        _ -> killed
                    end
            end
    end.

%% The function and source of the frame a paused process is in.
top_frame(Meta, Module, Line) ->
    try int:meta(Meta, backtrace, 1) of
        [{Level, Mfa} | _] ->
            #{name := Name, source := Source} = frame(Level, Mfa, Module, Line),
            #{function => Name, source => Source};
        _ ->
            #{}
    catch
        _:_ -> #{}
    end.

%% Whether Pid is the worker of an evaluation that runs through breakpoints.
-spec skips_breakpoints(pid() | undefined) -> boolean().
skips_breakpoints(Pid) ->
    case ets:lookup(?BREAKS, {?MODULE, eval, Pid}) of
        [{_, #{skip := true}}] -> true;
        _ -> false
    end.

%% ---------------------------------------------------------------------------
%% Code reload: the interpreter's caches and versions of reloaded modules

%% Each interpreted process's meta drops its cached code of Modules now if
%% it is idle, else when it next reports idle (see ensure_invalidator/0).
-spec invalidate([module()]) -> [elixir_dap_util:process_entry()].
invalidate([]) ->
    [];
invalidate(Modules) ->
    elixir_dap_tables:ensure(),
    lists:append([pending(Pid, invalidate_meta(Meta, Modules))
                  || {Pid, Meta} <- maps:to_list(interpreted_processes())]).

invalidate_process(Pid, Modules) ->
    case meta_of(Pid) of
        {ok, Meta} -> pending(Pid, invalidate_meta(Meta, Modules));
        none -> []
    end.

%% Pid's meta drops its cached code of InUse when it reports idle.
pending(_Pid, []) ->
    [];
pending(Pid, InUse) ->
    Pending = case ets:lookup(?TABLE, {pending, Pid}) of
                  [{_, Before}] -> Before;
                  [] -> []
              end,
    ets:insert(?TABLE, {{pending, Pid}, lists:usort(InUse ++ Pending)}),
    ensure_invalidator(),
    [process_entry(Pid, M, #{kind => inside_module}) || M <- InUse].

%% Makes the meta drop its cached code of what it can of Modules now;
%% returns the modules still in use by its process.
invalidate_meta(Meta, Modules) ->
    case ets:lookup(?TABLE, {held_meta, Meta}) of
        [{_, InUse}] ->
            invalidate_held(Meta, Modules, InUse);
        [] ->
            case try_invalidate(Meta, Modules) of
                done -> [];
                busy -> invalidate_waiting(Meta, Modules)
            end
    end.

%% A meta held while the batch switches (held_quiet/1) named its stack
%% before it was suspended and has not run since; it handles the messages,
%% before anything else, when it is released.
invalidate_held(Meta, Modules, InUse) ->
    case lists:any(fun(M) -> lists:member(M, InUse) end, Modules) of
        false ->
            case waiting_with_stack(Meta) of
                true -> [Meta ! {int, {old_code, M}} || M <- Modules], [];
                false -> Modules
            end;
        true ->
            Modules
    end.

%% A meta waiting inside interpreted code (in a native call such as a sleep,
%% or in an interpreted receive) can drop the cache of a module its process
%% does not use: dbg_icmd:handle_int_msg/4 kills the process only when the
%% module is the current one or on the interpreter's stack
%% (dbg_istk:in_use_p/2, the same in debugger 5.3 to 7.0), and always when
%% stack tracing is off. The meta names its current function and stack
%% (backtrace); then, suspended, it must not have run since (same
%% reductions) and still be waiting, so that it handles the message in the
%% state we checked. A looping process that calls a reloaded module fully
%% qualified, and sleeps or waits between calls, picks the new code up so.
invalidate_waiting(Meta, Modules) ->
    Meta ! {user, {get, backtrace, self(), all}},
    receive
        {Meta, backtrace, Frames} ->
            InUse = [elixir_dap_util:mfa_module(Mfa) || {_Level, Mfa} <- Frames],
            %% All of a batch or none: a process that dropped one module of
            %% it and kept another would run half of it.
            Free = case lists:any(fun(M) -> lists:member(M, InUse) end, Modules) of
                       true -> [];
                       false -> Modules
                   end,
            Sent = Free =/= [] andalso suspend_is_safe(Meta) andalso
                begin
                    {reductions, Before} = erlang:process_info(Meta, reductions),
                    suspended(Meta, fun() ->
                                            unchanged_and_waiting(Meta, Before) andalso
                                                [Meta ! {int, {old_code, M}} || M <- Free] =/= []
                                    end)
                end,
            case Sent of
                true -> Modules -- Free;
                false -> Modules
            end
    after 200 ->
            Modules
    end.

suspended(Pid, Fun) ->
    case try erlang:suspend_process(Pid) catch error:badarg -> false end of
        true ->
            try Fun() catch _:_ -> false after erlang:resume_process(Pid) end;
        false ->
            false
    end.

unchanged_and_waiting(Meta, Reductions) ->
    erlang:process_info(Meta, reductions) =:= {reductions, Reductions} andalso waiting_with_stack(Meta).

%% Waiting in the evaluator's loop or an interpreted receive, where it
%% handles the interpreter's messages, with its stack traced (else
%% dbg_icmd takes every module as in use) and no call queued before them.
%% (Reading these counts a reduction to it: see elixir_dap_reload:hold_one/3.)
waiting_with_stack(Meta) ->
    case erlang:process_info(Meta, [current_function, messages, dictionary]) of
        [{current_function, {dbg_ieval, Waiting, _}}, {messages, Queue}, {dictionary, Dict}]
          when Waiting =:= meta_loop; Waiting =:= do_receive ->
            proplists:get_value(trace_stack, Dict) =/= false
                andalso not lists:any(fun queued_call/1, Queue);
        _ ->
            false
    end.

%% Called when Pid's meta reports idle: by its attached process (one that
%% stopped at a breakpoint) or by the invalidator.
on_idle(Pid, Meta) ->
    case ets:whereis(?TABLE) =/= undefined andalso ets:lookup(?TABLE, {pending, Pid}) of
        [{_, Modules}] ->
            case try_invalidate_soon(Meta, Modules, 20) of
                done ->
                    ets:delete(?TABLE, {pending, Pid}),
                    prune_interpreted_versions(Modules);
                busy ->
                    ok
            end;
        _ ->
            ok
    end.

%% Processes still inside a reloaded module are invalidated when their meta
%% reports idle. Attaching to them would stop them (an attached process
%% breaks at its next line), so a subscriber to the interpreter's status
%% changes watches instead, for as long as something is pending.
ensure_invalidator() ->
    case whereis(elixir_dap_reload_invalidator) of
        undefined ->
            Parent = self(),
            Pid = spawn(internal(fun() ->
                                register(elixir_dap_reload_invalidator, self()),
                                int:subscribe(),
                                erlang:send_after(?RETRY_MS, self(), {?MODULE, retry}),
                                Parent ! {?MODULE, invalidator_ready},
                                invalidator_loop()
                        end)),
            receive {?MODULE, invalidator_ready} -> ok
            after 5000 -> exit(Pid, kill)
            end;
        _ ->
            ok
    end.

invalidator_loop() ->
    receive
        {int, {new_status, Pid, idle, _}} ->
            case ets:lookup(?TABLE, {pending, Pid}) of
                [_] ->
                    case dbg_iserver:safe_call({get_meta, Pid}) of
                        {ok, Meta} -> on_idle(Pid, Meta);
                        _ -> ets:delete(?TABLE, {pending, Pid})
                    end;
                [] ->
                    ok
            end,
            continue_or_stop();
        {int, {new_status, Pid, exit, _}} ->
            ets:delete(?TABLE, {pending, Pid}),
            continue_or_stop();
        {?MODULE, retry} ->
            %% A process that loops in interpreted code never reports idle:
            %% look again while it waits between calls.
            [retry_waiting(Pid, Modules) || [Pid, Modules] <- ets:match(?TABLE, {{pending, '$1'}, '$2'})],
            erlang:send_after(?RETRY_MS, self(), {?MODULE, retry}),
            continue_or_stop();
        _Other ->
            invalidator_loop()
    end.

retry_waiting(Pid, Modules) ->
    case dbg_iserver:safe_call({get_meta, Pid}) of
        {ok, Meta} ->
            case invalidate_waiting(Meta, Modules) of
                [] ->
                    ets:delete(?TABLE, {pending, Pid}),
                    prune_interpreted_versions(Modules);
                Left ->
                    ets:insert(?TABLE, {{pending, Pid}, Left}),
                    prune_interpreted_versions(Modules -- Left)
            end;
        _ ->
            ets:delete(?TABLE, {pending, Pid})
    end.

continue_or_stop() ->
    case ets:match(?TABLE, {{pending, '_'}, '_'}, 1) of
        '$end_of_table' -> unregister(elixir_dap_reload_invalidator);
        _ -> invalidator_loop()
    end.

%% A meta that just reported idle may not have reached its idle loop yet:
%% look again a few times, a moment apart.
try_invalidate_soon(Meta, Modules, Tries) ->
    case try_invalidate(Meta, Modules) of
        busy when Tries > 0 ->
            receive after 1 -> ok end,
            try_invalidate_soon(Meta, Modules, Tries - 1);
        Result ->
            Result
    end.

%% The meta is suspended while we look at it, so it cannot start a call
%% between the check and the message: it is idle (see idle_meta/1), or we
%% leave it alone.
try_invalidate(Meta, Modules) ->
    case suspend_is_safe(Meta) andalso try erlang:suspend_process(Meta) catch error:badarg -> gone end of
        false -> busy;
        true ->
            Safe = try idle_meta(Meta) catch _:_ -> false end,
            Safe andalso [Meta ! {int, {old_code, M}} || M <- Modules],
            erlang:resume_process(Meta),
            case Safe of
                true -> done;
                false -> busy
            end;
        _ ->
            done
    end.

%% Idle at the top level: waiting in meta_loop with nothing below it on the
%% meta's own stack (deeper levels wait in meta_loop too, but called from the
%% evaluator, which shows on the stack). There the meta drops the cache
%% without looking at its interpreted stack.
idle_meta(Meta) ->
    case erlang:process_info(Meta, [current_stacktrace, messages]) of
        [{current_stacktrace, [{dbg_ieval, meta_loop, 3, _}]}, {messages, Queue}] ->
            not lists:any(fun queued_call/1, Queue);
        _ ->
            false
    end.

queued_call({re_entry, _, _}) -> true;
queued_call({sys, _, _}) -> true;
queued_call(_) -> false.

%% A meta that waits in an interpreted receive with a timeout
%% (dbg_ieval:do_receive/5) must not be suspended where suspending pauses
%% timers (timers_pause_on_suspend/0). Reading its current function counts
%% one reduction to it (see elixir_dap_reload:hold_one/3): read it before its reductions.
suspend_is_safe(Meta) ->
    not timers_pause_on_suspend()
        orelse process_info(Meta, current_function) =/= {current_function, {dbg_ieval, do_receive, 5}}.

%% The interpreter keeps every version of a re-interpreted module (an ETS
%% table each, in dbg_iserver) for as long as the interpreter lives: memory
%% grew with every reload. Each time, the older versions of Modules that no
%% live process still uses are dropped. dbg_iserver has no call for that,
%% so it runs inside it (sys:replace_state/3), on its own tables: its state
%% is #state{db, procs, ...}, the table holds {{Mod, refs}, [Current |
%% Older]} and {Version, Pids}, and a process uses a version when its meta
%% caches it ({Mod, db} in the meta's dictionary) or has Mod on its
%% interpreted stack (dbg_istk) (dbg_iserver.erl, dbg_ieval.hrl: the same
%% in debugger 5.3 to 7.0). Live users of a dropped version are moved to
%% the current one, as dbg_iserver looks processes up by version.
-spec prune_interpreted_versions([module()]) -> ok.
prune_interpreted_versions([]) ->
    ok;
prune_interpreted_versions(Modules) ->
    %% The processes that exited go from dbg_iserver's list too (nothing of
    %% elixir-dap reads them; every process that ever ran interpreted code,
    %% a request's for one, stayed listed). int:clear/0 would start a
    %% server that is not running.
    _ = whereis(dbg_iserver) =/= undefined andalso int:clear(),
    try
        sys:replace_state(dbg_iserver, fun(State) ->
                                               Db = element(2, State),
                                               Procs = element(3, State),
                                               [prune_versions(Db, Procs, M) || M <- Modules],
                                               State
                                       end, 5000),
        ok
    catch
        _:_ -> ok
    end.

prune_versions(Db, Procs, M) ->
    case ets:lookup(Db, {M, refs}) of
        [{_, [Current | Older]}] when Older =/= [] ->
            Users = lists:usort(lists:append([Pids || T <- Older, {_, Pids} <- ets:lookup(Db, T)])),
            Live = [P || P <- Users, is_pid(P), is_process_alive(P)],
            case lists:any(fun(P) -> uses_version(P, M, Older, Procs) end, Live) of
                true ->
                    keep;
                false ->
                    [{_, CurrentPids}] = ets:lookup(Db, Current),
                    ets:insert(Db, {Current, lists:usort(CurrentPids ++ Live)}),
                    [begin ets:delete(Db, T), catch_delete(T) end || T <- Older],
                    ets:insert(Db, {{M, refs}, [Current]})
            end;
        _ ->
            ok
    end.

catch_delete(Table) ->
    try ets:delete(Table) catch error:badarg -> true end.

uses_version(Pid, M, Versions, Procs) ->
    case [element(3, P) || P <- Procs, is_tuple(P), element(2, P) =:= Pid] of
        [Meta | _] when is_pid(Meta) ->
            case erlang:process_info(Meta, dictionary) of
                {dictionary, Dict} ->
                    lists:member(proplists:get_value({M, db}, Dict), Versions)
                        orelse lists:member(M, [elixir_dap_util:mfa_module(element(3, E))
                                                || E <- stack_of(Dict), is_tuple(E), tuple_size(E) >= 3]);
                undefined ->
                    false
            end;
        _ ->
            %% Unknown to dbg_iserver: keep what it may use.
            true
    end.

stack_of(Dict) ->
    case proplists:get_value(dbg_istk, Dict) of
        Stack when is_list(Stack) -> Stack;
        _ -> []
    end.

%% ---------------------------------------------------------------------------
%% A batch switched in one step (elixir_dap_reload's staged switch, OTP 28+)
%%
%% int:ni/1 makes a module's new version visible as it stores it, one module
%% after the other. Here the versions are built out of sight first: each one
%% in a table of dbg_iserver's (created there, so that it lives as long as
%% the interpreter), filled by dbg_iload:load_mod/4 as dbg_iserver's own
%% {load, ...} call does, but not yet listed under {Mod, refs}. Then one
%% step inside dbg_iserver (sys:replace_state/3: while it runs no process can
%% ask dbg_iserver for a module's code) loads the batch's native code
%% (Load), lists every new version, sets the call traps on the new native
%% code and sends each meta its {int, {old_code, Mod}} messages (see
%% invalidate_meta/2), as dbg_iserver's handlers do (dbg_iserver.erl,
%% {load, ...} and send_all/3; the same in debugger 5.3 to 7.0).

%% One module's version built and not yet visible; or (table unlisted) a
%% module whose versions the step forgets (unlisting/1).
-type staged() :: #{module := module(), table := ets:tid() | unlisted}.

%% Builds the interpreter's versions of Modules ({Module, ObjectCode}, the
%% object code with debug info) without making them visible; the modules
%% whose version cannot be built are answered as skipped.
-spec stage_versions([{module(), binary()}]) -> {[staged()], [{skipped, module(), elixir_dap_util:reason()}]}.
stage_versions([]) ->
    {[], []};
stage_versions(Modules) ->
    case batch_interpretation_available() of
        false ->
            {[], [{skipped, M, #{kind => interpreter_not_running}} || {M, _} <- Modules]};
        true ->
            Terms = [stage_term(M, Bin) || {M, Bin} <- Modules],
            Ready = [{M, Source, Term} || {ok, M, Source, Term} <- Terms],
            Tables = new_tables([M || {M, _, _} <- Ready]),
            Loaded = [stage_one(M, Source, Term, maps:get(M, Tables)) || {M, Source, Term} <- Ready],
            Staged = [S || {ok, S} <- Loaded],
            Skipped = [S || {skipped, _, _} = S <- Terms ++ Loaded],
            case Skipped of
                [] -> {Staged, []};
                _ -> discard_staged(Staged), {[], Skipped}
            end
    end.

%% What int:ni/1 hands dbg_iserver for a module (int.erl, load/2), but
%% the source text: dbg_iload keeps it only for int:contents/2 (the source
%% view of OTP's own debugger window), indexing it line by line, and
%% elixir-dap reads sources itself; the interpreter never reads it. The
%% file is the one a reload just compiled. Reading it here cost 0.6-11
%% ms of a one-module reload on OTP 29 with the program running (file I/O
%% waits for a dirty I/O scheduler's thread, which competes with the
%% program's for the cores); a launch's batch (prepare/2) reads no text
%% either. A module compiled in memory by the program has its source
%% recorded.
stage_term(M, Bin) ->
    Source = case elixir_dap_scripts:object_code(M) of
                 {Recorded, _} -> unicode:characters_to_list(Recorded);
                 none -> module_source(M)
             end,
    case Source of
        none ->
            {skipped, M, #{kind => no_source}};
        Source ->
            case beam_lib:chunks(Bin, [abstract_code, exports]) of
                {ok, {_, [{abstract_code, {_, _} = Abstract}, {exports, Exports}]}} ->
                    {ok, M, Source, interpreter_term(Exports, Abstract, <<>>, Bin)};
                {ok, _} -> {skipped, M, #{kind => no_debug_info}};
                {error, _, Why} -> {skipped, M, #{kind => failed, error => format_term(Why)}}
            end
    end.

%% Builds M's version into Table (one of dbg_iserver's, new_tables/1); the
%% table goes when that fails. For a reload's staged switch and a launch's
%% batch (build/2).
stage_one(M, Source, Term, Table) ->
    try dbg_iload:load_mod(M, Source, Term, Table) of
        {ok, M} -> {ok, #{module => M, table => Table}};
        Other -> discard_tables([Table]), {skipped, M, #{kind => failed, error => format_term(Other)}}
    catch
        Class:Reason -> discard_tables([Table]), {skipped, M, failed(Class, Reason)}
    end.

%% Tables owned by dbg_iserver, as its {load, ...} call makes them.
new_tables([]) ->
    #{};
new_tables(Modules) ->
    in_iserver(fun(_State) -> maps:from_list([{M, ets:new(M, [ordered_set, public])} || M <- Modules]) end).

%% Forgets versions built and never made visible (a rollback).
-spec discard_staged([staged()]) -> ok.
discard_staged(Staged) ->
    discard_tables([T || #{table := T} <- Staged, T =/= unlisted]).

%% A reload's deferred modules (elixir_dap_reload:interpret/2): their new
%% native code is loaded and runs until they are interpreted again. An
%% interpreted caller asks dbg_iserver for a module's current version
%% (dbg_ieval:db_ref/1, {get_module_db, ...}) unless it cached one: the
%% module's {Mod, refs} entry goes (so that the answer is not_found and the
%% call runs the native code, as for a module never interpreted), its
%% versions' tables stay for the processes that cached one, until they drop
%% it (invalidate/1); the versions are kept aside ({?MODULE, unlisted, Mod}
%% in ?BREAKS) and given back when the module is interpreted again
%% (relist/1), which prunes them. dbg_iserver's own {delete, Mod} would send
%% {old_code, Mod} to every process that cached it, at once, killing those
%% with Mod on their stack. Answers the modules that had a version.
-spec unlist([module()]) -> [module()].
unlist([]) ->
    [];
unlist(Modules) ->
    case whereis(dbg_iserver) of
        undefined -> [];
        _ -> in_iserver(fun(State) -> [M || M <- Modules, unlist_in(element(2, State), M)] end)
    end.

-spec unlisting([module()]) -> [staged()].
unlisting(Modules) ->
    [#{module => M, table => unlisted} || M <- Modules].

%% Inside dbg_iserver. The module's call traps go too: a native call
%% trapped into the interpreter for a module it has no version of never
%% returns (seen on OTP 29 for a module the compile loaded early, whose
%% traps the compile had set again: see elixir_dap_reload:compile_files/4).
unlist_in(Db, M) ->
    case ets:lookup(Db, {M, refs}) of
        [{_, Versions}] ->
            _ = erlang:module_loaded(M) andalso erts_debug:breakpoint({M, '_', '_'}, false),
            ets:delete(Db, {M, refs}),
            Kept = case ets:lookup(?BREAKS, {?MODULE, unlisted, M}) of
                       [{_, Older}] -> Older;
                       [] -> []
                   end,
            ets:insert(?BREAKS, {{?MODULE, unlisted, M}, Versions ++ Kept}),
            true;
        [] ->
            false
    end.

-spec relist(module()) -> ok.
relist(M) ->
    case ets:lookup(?BREAKS, {?MODULE, unlisted, M}) of
        [] ->
            ok;
        [{Key, Versions}] ->
            Relisted = in_iserver(fun(State) ->
                                          Db = element(2, State),
                                          case ets:lookup(Db, {M, refs}) of
                                              [{_, Current}] ->
                                                  ets:insert(Db, {{M, refs}, Current ++ Versions}),
                                                  ets:delete(?BREAKS, Key),
                                                  true;
                                              [] ->
                                                  false
                                          end
                                  end),
            _ = Relisted =:= true andalso prune_interpreted_versions([M]),
            ok
    end.

%% Whether the module's versions were forgotten by a reload (unlist/1).
-spec unlisted(module()) -> boolean().
unlisted(M) ->
    ets:member(?BREAKS, {?MODULE, unlisted, M}).

discard_tables([]) ->
    ok;
discard_tables(Tables) ->
    _ = in_iserver(fun(_State) -> [catch_delete(T) || T <- Tables] end),
    ok.

%% Runs Fun(State) inside dbg_iserver, State unchanged; answers Fun's result
%% (or {error, Reason} when it raised).
in_iserver(Fun) ->
    Self = self(),
    Ref = make_ref(),
    sys:replace_state(dbg_iserver,
                      fun(State) ->
                              Result = try Fun(State) catch Class:Reason -> {error, {Class, Reason}} end,
                              Self ! {Ref, Result},
                              State
                      end, infinity),
    receive {Ref, Result} -> Result end.

%% Makes the batch visible in one step: when every process of Program and
%% every meta wait at one instant (not_waiting_throughout/2; else looked at again
%% 1 ms later, at the latest at Deadline in monotonic milliseconds), Load()
%% (the native code; ok or {error, Why}), then Staged, the traps and the
%% caches of the metas. The busy interpreted processes at the deadline are
%% named; a batch that waits for no one (Program empty, Deadline passed:
%% one module) neither looks nor names. Answers the step's result:
%% {switched, Micros, Stale} or {failed, Why} (nothing of the interpreter
%% changed then).
-spec switch_batch(fun(() -> ok | {error, term()}), [staged()], [pid()], integer()) ->
          elixir_dap_backend:switched().
switch_batch(Load, Staged, Program, Deadline) ->
    %% Decided once: a batch that waits for no one (one module) has both at
    %% its first try; another passes its deadline while it waits.
    WaitsForNoOne = Program =:= [] andalso erlang:monotonic_time(millisecond) >= Deadline,
    switch_batch(Load, Staged, Program, Deadline, WaitsForNoOne).

switch_batch(Load, Staged, Program, Deadline, WaitsForNoOne) ->
    case whereis(dbg_iserver) of
        undefined ->
            case Load() of
                ok -> {switched, 0, []};
                {error, Why} -> {failed, Why}
            end;
        _ ->
            Modules = [M || #{module := M} <- Staged],
            Metas = lists:usort(maps:values(interpreted_processes())),
            Looked = [look_at_meta(Meta, Modules) || Meta <- Metas],
            First = case WaitsForNoOne of
                        %% Who ran meanwhile is no news.
                        true ->
                            none;
                        false ->
                            Seen = first_look(Program ++ Metas),
                            %% Time for a message in flight at the first
                            %% look to arrive.
                            receive after 1 -> ok end,
                            Seen
                    end,
            case in_iserver(fun(State) -> switch_step(Load, Staged, Looked, First, Deadline, State) end) of
                wait ->
                    receive after 1 -> ok end,
                    switch_batch(Load, Staged, Program, Deadline, WaitsForNoOne);
                {switched, Us, Left, Busy} ->
                    %% What the step could not drop, now or once idle.
                    Stale = lists:append([invalidate_process(Pid, Modules) || Pid <- Left]),
                    {switched, Us, Stale ++ busy_entries(Busy)};
                {failed, _} = Failed ->
                    Failed;
                {error, Reason} ->
                    {failed, Reason}
            end
    end.

%% What the step needs to know of a meta to drop its cached code of
%% Modules without asking it (a message dbg_iserver's process received
%% late would crash it): nothing to drop; or its cached modules, whether
%% it is idle at the top level (it then drops them without looking at its
%% stack), and its reductions when it was last seen waiting, once it named
%% the modules on its stack (as held_quiet/1 does); or `ask_later`.
look_at_meta(Meta, Modules) ->
    Cached = case process_info(Meta, dictionary) of
                 {dictionary, Dict} ->
                     [M || M <- Modules, proplists:is_defined({M, db}, Dict)]
                         ++ [trace_stack_off || proplists:get_value(trace_stack, Dict) =:= false];
                 undefined -> []
             end,
    case Cached of
        [] ->
            {Meta, nothing};
        _ ->
            case suspend_is_safe(Meta) andalso idle_meta(Meta) of
                true ->
                    {Meta, top, reductions(Meta)};
                false ->
                    InUse = case suspend_is_safe(Meta) andalso meta_backtrace(Meta) of
                                false -> all;
                                none -> all;
                                Frames -> [M || M <- Modules, lists:member(M, Frames)]
                            end,
                    case InUse =:= [] andalso not lists:member(trace_stack_off, Cached)
                        andalso wait_for_waiting(Meta, 20) of
                        true -> {Meta, waiting, reductions(Meta)};
                        false -> {Meta, ask_later}
                    end
            end
    end.

reductions(P) ->
    case process_info(P, reductions) of
        {reductions, R} -> R;
        undefined -> gone
    end.

wait_for_waiting(P, Ms) ->
    case process_info(P, status) of
        {status, waiting} -> true;
        _ when Ms > 0 -> receive after 1 -> ok end, wait_for_waiting(P, Ms - 1);
        _ -> false
    end.

%% Inside dbg_iserver: nothing here may wait for a message other than a
%% reply to its own call.
switch_step(Load, Staged, Looked, First, Deadline, State) ->
    Procs = [P || P <- element(3, State), element(5, P) =/= exit],
    Metas = [element(3, P) || P <- Procs],
    Verdict = case First of
                  none -> [];
                  _ -> not_waiting_throughout(First, Metas)
              end,
    Late = erlang:monotonic_time(millisecond) >= Deadline,
    case Verdict of
        [_ | _] when not Late ->
            wait;
        Busy ->
            Started = erlang:monotonic_time(microsecond),
            Modules = [M || #{module := M} <- Staged],
            %% Caches first: a meta that dropped one asks dbg_iserver for
            %% the code, and gets it once the step is done, new.
            Dropped = [Meta || L <- Looked, Meta <- [drop_caches(L, Modules)], is_pid(Meta)],
            case Load() of
                ok ->
                    Db = element(2, State),
                    [publish(Db, M, T) || #{module := M, table := T} <- Staged],
                    Listed = [M || #{module := M, table := T} <- Staged, T =/= unlisted],
                    [trap(M) || M <- Listed],
                    Us = erlang:monotonic_time(microsecond) - Started,
                    Notify = element(7, State) ++ [A || P <- Procs, A <- [element(4, P)], is_pid(A)],
                    [Pid ! {int, {interpret, M}} || M <- Listed, Pid <- Notify],
                    Left = [element(2, P) || P <- Procs, not lists:member(element(3, P), Dropped)],
                    BusyInterpreted = [element(2, P) || P <- Procs,
                                                        lists:member(element(2, P), Busy)
                                                            orelse lists:member(element(3, P), Busy)],
                    {switched, Us, Left, lists:usort(BusyInterpreted)};
                {error, Why} ->
                    %% The old versions stay the current ones: what a meta
                    %% dropped it fetches again, unchanged.
                    {failed, Why}
            end
    end.

%% Drops a meta's cached code of Modules if it has not run since it was
%% looked at (suspended meanwhile, so that it handles the messages before
%% anything else, in the state it was seen in); answers the meta when done
%% (or nothing was cached), else false.
drop_caches({Meta, nothing}, _Modules) ->
    Meta;
drop_caches({_Meta, ask_later}, _Modules) ->
    false;
drop_caches({Meta, Where, Reductions}, Modules) when Where =:= top; Where =:= waiting ->
    Sent = suspended(Meta, fun() ->
                                   reductions(Meta) =:= Reductions andalso
                                       begin
                                           {messages, Queue} = process_info(Meta, messages),
                                           not lists:any(fun queued_call/1, Queue)
                                               andalso [Meta ! {int, {old_code, M}} || M <- Modules] =/= []
                                       end
                           end),
    Sent andalso Meta.

%% Every process of the program and every meta must wait at one instant
%% (between calls) for the step to run. Each is looked at twice: first
%% outside dbg_iserver (first_look/1), then, at least 1 ms later, inside
%% it. One seen waiting (or gone) both times that did not run in between
%% (same reductions) waited all along. One look is not enough: a caller
%% waiting for its meta's answer, with the meta that just answered (or the
%% call that just reached it) seen waiting a moment later, or both seen
%% waiting while the message between them is still in flight, is in the
%% middle of a call.
first_look(Pids) ->
    maps:from_list([{P, waiting_reductions(P)} || P <- Pids]).

%% Those of First (and Metas, which were not looked at first) that did not
%% wait throughout, and the metas waiting for dbg_iserver's answer (their
%% calls queue while the step runs inside it: they are in the middle of a
%% call).
not_waiting_throughout(First, Metas) ->
    Changed = [P || {P, Seen} <- maps:to_list(First), Seen =:= running orelse waiting_reductions(P) =/= Seen],
    New = [Meta || Meta <- Metas, not maps:is_key(Meta, First)],
    {messages, Queue} = process_info(self(), messages),
    Changed ++ New ++ [Pid || {'$gen_call', {Pid, _}, _} <- Queue].

waiting_reductions(P) ->
    case process_info(P, [status, reductions]) of
        [{status, waiting}, {reductions, R}] -> R;
        undefined -> gone;
        _ -> running
    end.

%% What dbg_iserver's {load, ...} call records for a new version.
publish(Db, M, unlisted) ->
    _ = unlist_in(Db, M),
    ok;
publish(Db, M, Table) ->
    Older = case ets:lookup(Db, {M, refs}) of
                [{_, Versions}] -> Versions;
                [] -> []
            end,
    ets:insert(Db, {{M, refs}, [Table | Older]}),
    ets:insert(Db, {Table, []}).

busy_entries(Pids) ->
    [process_entry(P, undefined, #{kind => busy_in_interpreted_code}) || P <- Pids].

%% ---------------------------------------------------------------------------
%% The reload's hold (elixir_dap_reload:hold/0): the metas of held processes

-spec interpreting_meta(pid(), #{pid() => pid()}) -> {ok, pid()} | none.
interpreting_meta(P, Known) ->
    case process_info(P, current_function) of
        {current_function, {dbg_debugged, _, _}} ->
            case maps:find(P, Known) of
                {ok, Meta} -> {ok, Meta};
                error -> meta_of(P)
            end;
        _ ->
            none
    end.

%% Every interpreted process alive, with its meta: one read of
%% dbg_iserver's state (#state{db, procs, ...}, #proc{pid, meta, attpid,
%% status, ...}: dbg_iserver.erl, the same in debugger 5.3 to 7.0) instead
%% of int:snapshot/0 and a get_meta call per process, which a reload's hold
%% made once per process and per sweep, and its invalidation once more (49
%% processes in the bench's 2 000-module app). dbg_iserver lists a process
%% that exited until int:clear/0 (prune_interpreted_versions/1 clears
%% them): those are left out. A state of another shape falls back to the
%% calls; no server, no process.
-spec interpreted_processes() -> #{pid() => pid()}.
interpreted_processes() ->
    State = case whereis(dbg_iserver) of
                undefined -> none;
                Server -> try sys:get_state(Server) catch _:_ -> none end
            end,
    case State of
        none ->
            #{};
        {state, _Db, Procs, _, _, _, _} when is_list(Procs) ->
            case lists:all(fun is_proc/1, Procs) of
                true -> maps:from_list([{Pid, Meta} || {proc, Pid, Meta, _, Status, _, _, _} <- Procs,
                                                       Status =/= exit]);
                false -> interpreted_processes_by_calls()
            end;
        _ ->
            interpreted_processes_by_calls()
    end.

is_proc({proc, Pid, Meta, _, _, _, _, _}) -> is_pid(Pid) andalso is_pid(Meta);
is_proc(_) -> false.

interpreted_processes_by_calls() ->
    maps:from_list([{Pid, Meta} || {Pid, _Call, Status, _Info} <- int:snapshot(), Status =/= exit,
                                   {ok, Meta} <- [meta_of(Pid)]]).

%% The modules on a meta's interpreted stack, current one first; none when
%% it does not answer within 200 ms.
-spec meta_backtrace(pid()) -> [module() | undefined] | none.
meta_backtrace(Meta) ->
    Meta ! {user, {get, backtrace, self(), all}},
    receive
        {Meta, backtrace, Frames} ->
            [elixir_dap_util:mfa_module(Mfa) || {_Level, Mfa} <- Frames]
    after 200 ->
            none
    end.

%% ---------------------------------------------------------------------------
%% Call traps

%% Calls into an interpreted module are trapped by breakpoints on its
%% native code. With those traps set, the compiler calling interpreted
%% modules (macros, structs, __using__) crashed the VM (segfault, OTP 25),
%% so the traps of what a compile may call (computed by the adapter from its
%% index) are lifted while it runs: meanwhile new calls into those modules
%% from native code run natively (processes already in the interpreter stay
%% there). Afterwards the traps of Restore return.
-spec with_traps_lifted([module()], [module()], fun(() -> T)) -> T.
with_traps_lifted(Lift, Restore, Fun) ->
    [erts_debug:breakpoint({M, '_', '_'}, false) || M <- Lift],
    try
        Fun()
    after
        [trap(M) || M <- Restore]
    end.

%% ---------------------------------------------------------------------------
%% Processes paused in a `dbg` call (elixir_dap_dbg)

%% The interpreter's meta process, when Pid runs interpreted code (a
%% process paused in a `dbg` call: elixir_dap_dbg).
-spec meta_of(pid()) -> {ok, pid()} | none.
meta_of(Pid) ->
    try dbg_iserver:safe_call({get_meta, Pid}) of
        {ok, Meta} -> {ok, Meta};
        _ -> none
    catch
        _:_ -> none
    end.

%% The interpreted frames below the `dbg` call. The interpreter's innermost
%% frame is the call of break/2 itself, made from the function that called
%% `dbg`, which the frame of level 0 already shows: both are left out.
-spec interpreted_callers(pid()) -> [elixir_dap_backend:frame()].
interpreted_callers(Meta) ->
    Backtrace = try int:meta(Meta, backtrace, all) catch _:_ -> [] end,
    Callers = case Backtrace of
                  [{_, {elixir_dap_dbg, break, _}}, _Caller | Rest] -> Rest;
                  [_Caller | Rest] -> Rest;
                  [] -> []
              end,
    [caller_frame(Meta, Level, Mfa) || {Level, Mfa} <- Callers].

%% ---------------------------------------------------------------------------
%% Re-interpretation after a reload

-spec reinterpret(module(), elixir_dap_backend:compiled_code()) ->
          {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
reinterpret(M, Compiled) ->
    case reinterpret_one(M, Compiled) of
        {ok, M} -> relist(M), {ok, M};
        Skipped -> Skipped
    end.

reinterpret_one(M, Compiled) ->
    try
        %% int:ni purges the module's old code: never at the cost of a process.
        erlang:check_old_code(M) andalso not code:soft_purge(M) andalso
            throw({skipped, #{kind => old_native_code_running}}),
        case elixir_dap_scripts:object_code(M) =:= none andalso elixir_dap_release:project() =:= undefined of
            false ->
                %% Compiled from memory by the program, or a node without
                %% Mix (object code and source from the helper): no beam
                %% file has it.
                case interpret_one(M) of
                    {ok, M} -> {ok, M};
                    {skipped, M, Refused} -> throw({skipped, Refused})
                end;
            true ->
                {Bin, Beam, Running} = case running_object_code(M, Compiled) of
                                           none -> throw({skipped, #{kind => no_object_code}});
                                           Found -> Found
                                       end,
                case Running andalso batch_interpretation_available() of
                    true -> store_loaded(M, Beam, Bin);
                    false -> interpret_object_code(M, Bin, Beam)
                end
        end
    catch
        throw:{skipped, Why} -> {skipped, M, Why};
        Class:Reason -> {skipped, M, failed(Class, Reason)}
    end.

%% The compiler already loaded exactly this object code: hand it to the
%% interpreter without loading it natively a second time (what int:ni/1
%% would do; each load copies the VM's export table).
loaded_as(M, Bin) ->
    loaded_md5(M) =:= code:module_md5(Bin).

%% M's object code, the beam it is named after, and whether it is the code
%% that runs (loaded_as/2): the reload's compiled code when it is that,
%% else what the code server and the beam on disk say. Each of those is a
%% call to a server of the VM's; on OTP 25 reading them took 0.1-0.6 ms in
%% the bench's 200-module session and 0.3-5.9 ms (median 1.6) in the
%% 2 000-module one.
running_object_code(M, {Bin, Beam}) when is_binary(Bin) ->
    case loaded_as(M, Bin) of
        true -> {Bin, Beam, true};
        false -> running_object_code(M, none)
    end;
running_object_code(M, none) ->
    case loaded_object_code(M) of
        {Bin, Beam} -> {Bin, Beam, loaded_as(M, Bin)};
        none -> none
    end.

store_loaded(M, Beam, Bin) ->
    case prepare_binary(M, Beam, Bin) of
        {ok, Prepared} -> store(Prepared);
        {skipped, M, Why} -> {skipped, M, Why}
    end.

interpret_object_code(M, Bin, Beam) ->
    Source = case module_source(M) of
                 none -> throw({skipped, #{kind => no_source}});
                 S -> S
             end,
    case interpret_binary(M, Source, Bin, Beam) of
        {ok, M} -> {ok, M};
        {skipped, M, Why} -> throw({skipped, Why})
    end.

%% ---------------------------------------------------------------------------
%% A node attached to (elixir_dap_attach)

%% What the node ran before we came: what detaching must stop or leave.
-spec found() -> map().
found() ->
    #{iserver => whereis(dbg_iserver) =/= undefined,
      debugger_loaded => lists:keymember(debugger, 1, application:loaded_applications()),
      debugger_started => lists:keymember(debugger, 1, application:which_applications()),
      int_on_path => debugger_on_path()}.

%% The processes still in interpreted code once every status change until
%% Deadline has been seen (the interpreter sends them to subscribers). A
%% process is inside when the interpreter says so (running, waiting in a
%% receive, paused) or when its own stack is on the way in: a call that hit
%% a trap just before the traps were lifted has no meta, or one that has not
%% yet told dbg_iserver it runs, so int:snapshot/0 still says idle; deleting
%% the module's database under it makes its next local call undefined.
inside_interpreted(Deadline) ->
    Said = [P || {P, _, S, _} <- snapshot(), S =:= running orelse S =:= waiting orelse S =:= break],
    case lists:usort([P || P <- Said, is_process_alive(P)] ++ entering_interpreter()) of
        [] -> [];
        Busy ->
            case Deadline - erlang:monotonic_time(millisecond) of
                Left when Left =< 0 -> Busy;
                Left ->
                    %% A process found by its stack may have no meta to report
                    %% its return yet: look again after a short while as well.
                    receive
                        {int, {new_status, _, _, _}} ->
                            %% A looping process changes status all the time:
                            %% one look for all the changes queued.
                            flush_statuses(),
                            inside_interpreted(Deadline)
                    after min(Left, ?ENTRY_RECHECK_MS) ->
                        inside_interpreted(Deadline)
                    end
            end
    end.

flush_statuses() ->
    receive {int, {new_status, _, _, _}} -> flush_statuses()
    after 0 -> ok
    end.

%% The processes whose stack holds a frame of the interpreter's entry path:
%% error_handler:breakpoint/3 (a trap), int:eval/3, dbg_debugged (waiting on
%% its meta) or dbg_ieval (finding its meta). Metas themselves are left out:
%% they run for a process, which is the one counted.
entering_interpreter() ->
    [P || P <- processes(), P =/= self(), on_entry_path(P)].

on_entry_path(Pid) ->
    case erlang:process_info(Pid, current_stacktrace) of
        {current_stacktrace, Frames} ->
            lists:any(fun({error_handler, breakpoint, _, _}) -> true;
                         ({int, eval, _, _}) -> true;
                         ({dbg_debugged, _, _, _}) -> true;
                         ({dbg_ieval, eval, _, _}) -> true;
                         (_) -> false
                      end, Frames);
        undefined -> false
    end.

%% A clean-up step that may fail (the interpreter stopping under us) without
%% stopping the others.
quietly(Fun) ->
    try Fun() catch _:_ -> ok end.

snapshot() ->
    try int:snapshot() catch _:_ -> [] end.

-spec interpreted() -> [module()].
interpreted() ->
    try int:interpreted() catch _:_ -> [] end.

%% A few modules are asked about one by one: listing every interpreted
%% module (int:interpreted/0) took 2-6 ms of a one-file reload at 2 000
%% modules on OTP 29.
-spec interpreted_among([module()]) -> [module()].
interpreted_among(Modules) when length(Modules) =< 64 ->
    [M || M <- Modules, interpreted_now(M)];
interpreted_among(Modules) ->
    All = maps:from_list([{M, true} || M <- interpreted()]),
    [M || M <- Modules, maps:is_key(M, All)].

%% What int:interpreted/0 lists: a module with a current version.
interpreted_now(Module) ->
    try dbg_iserver:call({get_module_db, Module}) of
        not_found -> false;
        _Version -> true
    catch
        _:_ -> false
    end.

stop_iserver() ->
    case whereis(dbg_iserver) of
        undefined -> ok;
        Pid ->
            Ref = erlang:monitor(process, Pid),
            dbg_iserver:stop(),
            receive {'DOWN', Ref, process, Pid, _} -> ok
            after 2000 -> exit(Pid, kill)
            end
    end.

%% Leaves the interpreter as the node had it before we came (Found, from
%% found/0): no breakpoint, nothing interpreted, no paused process, the
%% interpreter and the debugger application stopped and the debugger off
%% the code path if they were not there before. Answers the processes that
%% still run interpreted code: for them the interpreter stays.
-spec leave_node(map()) -> [pid()].
leave_node(Found) ->
    Iserver = maps:get(iserver, Found),
    Kept = case whereis(dbg_iserver) of
        undefined -> [];
        _ ->
            quietly(fun int:no_break/0),
            quietly(fun() -> int:auto_attach(false) end),
            quietly(fun int:subscribe/0),
            %% Stopped ones, and those a pause stopped in a `receive` (their
            %% meta would break after it, with no one attached).
            [quietly(fun() -> int:continue(Pid) end)
             || {Pid, _, Status, _} <- snapshot(), Status =:= break orelse Status =:= waiting],
            %% New calls run native code from here on (what int:nn/1 does in
            %% each module, without telling the meta processes: a meta with
            %% the module on its stack would kill its process).
            Interpreted = interpreted(),
            [erts_debug:breakpoint({M, '_', '_'}, false) || M <- Interpreted],
            %% A process still inside interpreted code runs on there (OTP's
            %% rule: it keeps the version it runs); stopping the interpreter
            %% would kill it. Wait a moment for the continued ones to leave
            %% it; if some stay, the interpreter stays for them.
            Deadline = erlang:monotonic_time(millisecond) + 1000,
            case inside_interpreted(Deadline) of
                [] ->
                    [quietly(fun() -> int:nn(M) end) || M <- Interpreted],
                    Iserver orelse stop_iserver(),
                    [];
                Busy ->
                    Busy
            end
    end,
    Kept =:= [] andalso not maps:get(debugger_started, Found) andalso application:stop(debugger),
    Kept =:= [] andalso not maps:get(debugger_loaded, Found) andalso application:unload(debugger),
    Kept =:= [] andalso elixir_dap_release:clean(),
    case maps:get(int_on_path, Found) orelse Kept =/= [] of
        true -> ok;
        false ->
            case code:which(int) of
                Path when is_list(Path) -> code:del_path(filename:dirname(Path));
                _ -> ok
            end
    end,
    Kept.

%% The processes paused at a breakpoint.
-spec paused_processes() -> [pid()].
paused_processes() ->
    [Pid || {Pid, _, Status, _} <- int:snapshot(), Status =:= break].

%% Sets (true) or lifts (false) the traps that send native callers of
%% Modules into the interpreter (see with_traps_lifted/3).
-spec set_traps([module()], boolean()) -> ok.
set_traps(Modules, On) ->
    [case On of
         true -> trap(M);
         false -> erts_debug:breakpoint({M, '_', '_'}, false)
     end || M <- Modules],
    ok.
