%% elixir_dap_debugger: the agent's wrapper around OTP's interpreter (:int).
%%
%% Everything that touches :int and its internals (dbg_iserver, meta
%% processes, their stacks) lives here, so that a second backend (OTP 28's
%% erl_debugger) can replace one module. The adapter decides what to
%% interpret, where breakpoints go and when to step; this module executes.
%%
%% Paused processes: when an interpreted process reaches a breakpoint, :int
%% spawns attach/2 for it (auto_attach). That process attaches to the meta
%% process, stays attached for the debugged process's life, and turns meta
%% messages into agent events (stopped, thread_exited).
%%
%% Values shown to the user are kept in an ETS table under integer handles
%% (variablesReference on the Rust side) until the process resumes.
-module(elixir_dap_debugger).
-export([ensure_started/1, list_modules/0, interpret/1, breakable_lines/1,
         function_lines/3, set_breakpoints/2, command/2, stack/1,
         frame_variables/2, process_variables/1, children/3, evaluate/5,
         release/1, attach/1, check_breakpoint/3,
         module_name/1, format_term/1]).
%% Shared with elixir_dap_reload (re-interpretation after a reload).
-export([prepare/2, store/1, batch_interpretation_available/0, interpret_running/1, interpret_with_int/1,
         project_apps/0, build_ebin_dirs/1]).
%% Shared with elixir_dap_release (a node without Mix: see there).
-export([interpret_shipped/5, remember_source/3]).
%% Shared with elixir_dap_dbg (processes paused in a `dbg` call).
-export([variable/3, thread_name/1, caller_frame/3, mfa_module/1, run_evaluation/5, evaluation_paused/2,
         skips_breakpoints/1, frame_name/3, module_source/1]).
%% Checks of breakpoint expressions (see set_breakpoints/2).
-export([check_expressions/1, split_log_message/1]).

-include_lib("kernel/include/file.hrl").

-define(HANDLES, elixir_dap_handles).
-define(BREAKS, elixir_dap_breaks).

%% ---------------------------------------------------------------------------
%% Set-up

%% Mix prunes the code path on Elixir 1.15+, and OTP 26+ may not find the
%% debugger through code:lib_dir/1: add its ebin from the OTP root ourselves.
ensure_started(StackTraceModeName) ->
    StackTraceMode = case StackTraceModeName of
                         <<"all">> -> all;
                         <<"false">> -> false;
                         _ -> no_tail
                     end,
    case code:which(int) of
        non_existing -> add_debugger_path();
        _ -> ok
    end,
    case application:ensure_all_started(debugger) of
        {ok, _} -> ok;
        {error, Reason} -> throw_error(debugger_unavailable,
                                       io_lib:format("the Erlang debugger application cannot start: ~0p "
                                                     "(install erlang-debugger)", [Reason]))
    end,
    ensure_tables(),
    int:stack_trace(StackTraceMode),
    int:auto_attach([break], {?MODULE, attach, []}),
    {ok, ok}.

add_debugger_path() ->
    Pattern = filename:join([code:root_dir(), "lib", "debugger-*", "ebin"]),
    case lists:reverse(lists:sort(filelib:wildcard(Pattern))) of
        [Ebin | _] -> code:add_patha(Ebin);
        [] ->
            case elixir_dap_release:project() of
                %% A release without the debugger application: the helper's.
                #{} -> elixir_dap_release:ship_debugger();
                undefined -> throw_error(debugger_unavailable,
                                         "the Erlang debugger application is not installed (install erlang-debugger)")
            end
    end.

ensure_tables() ->
    %% Requests run in short-lived processes: the tables need an owner that
    %% lives as long as the VM.
    case ets:whereis(?HANDLES) of
        undefined ->
            Parent = self(),
            spawn(elixir_dap_reload:internal(fun() ->
                          ets:new(?HANDLES, [named_table, public, set]),
                          ets:new(?BREAKS, [named_table, public, set]),
                          ets:insert(?HANDLES, {next_handle, 0}),
                          Parent ! {?MODULE, tables_ready},
                          receive stop -> ok end
                  end)),
            receive {?MODULE, tables_ready} -> ok
            after 5000 -> throw_error(internal, "could not create the debugger's tables")
            end;
        _ ->
            ok
    end.

throw_error(Kind, Message) ->
    throw({agent_error, #{kind => Kind, message => iolist_to_binary(Message)}}).

%% ---------------------------------------------------------------------------
%% Modules

%% Every module compiled into the build path (the project's apps and its
%% path dependencies), with its source and whether it is the project's own.
list_modules() ->
    case elixir_dap_release:project() of
        undefined -> list_mix_modules();
        _ -> elixir_dap_release:list_modules()
    end.

list_mix_modules() ->
    Build = 'Elixir.Mix.Project':build_path(),
    Own = [atom_to_binary(App, utf8) || App <- project_apps()],
    Roots = app_roots(),
    Ebins = build_ebin_dirs(Build),
    Modules = lists:append([modules_in(Ebin, Own, Roots) || Ebin <- Ebins]),
    {ok, Modules}.

%% The ebin directories under Build/lib, listed rather than matched with a
%% wildcard: a project's path may hold wildcard characters ([, {, ?, *) and
%% any character the OS allows (a binary_to_list/1 of a UTF-8 path would
%% also read its bytes as characters).
build_ebin_dirs(Build) ->
    Lib = filename:join(unicode:characters_to_list(Build), "lib"),
    case file:list_dir(Lib) of
        {ok, Apps} ->
            [Ebin || App <- lists:sort(Apps), Ebin <- [filename:join([Lib, App, "ebin"])], filelib:is_dir(Ebin)];
        {error, _} ->
            []
    end.

project_apps() ->
    case 'Elixir.Mix.Project':'umbrella?'() of
        true -> maps:keys('Elixir.Mix.Project':apps_paths());
        false -> [proplists:get_value(app, 'Elixir.Mix.Project':config())]
    end.

%% Where each application's sources are now: #{AppName => AbsoluteDir}, for
%% the project's apps (the project, or each umbrella app) and its
%% dependencies (Mix.Project.deps_paths/0).
app_roots() ->
    {ok, Cwd} = file:get_cwd(),
    Project = case 'Elixir.Mix.Project':'umbrella?'() of
                  true -> [{atom_to_binary(App, utf8), filename:absname(Path, Cwd)}
                           || {App, Path} <- maps:to_list('Elixir.Mix.Project':apps_paths())];
                  false -> [{atom_to_binary(proplists:get_value(app, 'Elixir.Mix.Project':config()), utf8), Cwd}]
              end,
    Deps = try maps:to_list('Elixir.Mix.Project':deps_paths())
           catch _:_ -> []
           end,
    maps:from_list([{Name, unicode:characters_to_list(Dir)}
                    || {Name, Dir} <- [{atom_to_binary(App, utf8), filename:absname(Path, Cwd)} || {App, Path} <- Deps]
                           ++ Project]).

modules_in(Ebin, Own, Roots) ->
    App = list_to_binary(filename:basename(filename:dirname(Ebin))),
    IsOwn = lists:member(App, Own),
    Root = maps:get(App, Roots, none),
    [module_entry(filename:join(Ebin, Beam), App, IsOwn, Root)
     || Beam <- filelib:wildcard("*.beam", Ebin)].

module_entry(BeamPath, App, IsOwn, Root) ->
    Module = list_to_atom(filename:basename(BeamPath, ".beam")),
    Source = case beam_lib:chunks(BeamPath, [compile_info]) of
                 {ok, {_, [{compile_info, Info}]}} ->
                     case proplists:get_value(source, Info) of
                         undefined -> <<>>;
                         Recorded -> unicode:characters_to_binary(source_here(Module, Recorded, Root))
                     end;
                 _ -> <<>>
             end,
    #{module => Module, name => module_name(Module), source => Source,
      beam => unicode:characters_to_binary(BeamPath), app => App, project => IsOwn}.

%% ---------------------------------------------------------------------------
%% Sources
%%
%% A beam names the absolute path its source had when it was compiled. A
%% project moved or copied together with its _build (a renamed folder, a
%% container volume, a CI cache) is not recompiled by Mix, so those paths
%% name the old place: gone, or another copy of the project. The source of a
%% module is therefore looked up under its application's directory as it is
%% now: the recorded path if it lies there, else the longest tail of the
%% recorded path (lib/shop/cart.ex, then shop/cart.ex, ...) that exists
%% there. The result is kept per module, with the recorded path it came from
%% (a reload that recompiles the module records a new one).

source_here(Module, Recorded, none) ->
    remember_source(Module, Recorded, Recorded);
source_here(Module, Recorded, Root) ->
    Absolute = filename:absname(unicode:characters_to_list(Recorded)),
    Here = case is_under(Absolute, Root) of
               true -> Absolute;
               false -> tail_under(Root, filename:split(Absolute), Absolute)
           end,
    remember_source(Module, Recorded, Here).

remember_source(Module, Recorded, Here) ->
    ets:insert(?BREAKS, {{?MODULE, source, Module}, Recorded, Here}),
    Here.

is_under(Path, Root) ->
    lists:prefix(filename:split(Root), filename:split(Path)).

tail_under(_Root, [], Absolute) ->
    Absolute;
tail_under(Root, [_ | Tail], Absolute) when Tail =/= [] ->
    Candidate = filename:join([Root | Tail]),
    case is_regular_raw(Candidate) of
        true -> Candidate;
        false -> tail_under(Root, Tail, Absolute)
    end;
tail_under(_Root, _, Absolute) ->
    Absolute.

%% Where the source a beam records (Recorded) is now, as list_modules/0
%% found it.
recorded_source(Module, Recorded) ->
    case ets:lookup(?BREAKS, {?MODULE, source, Module}) of
        [{_, Recorded, Here}] -> Here;
        _ -> Recorded
    end.

%% The source file of a loaded or listed module, as a string, or none: the
%% path found by list_modules/0 while the module is still compiled from the
%% same recorded path, else the path the compiler recorded.
module_source(Module) ->
    Recorded = try proplists:get_value(source, Module:module_info(compile))
               catch _:_ -> undefined
               end,
    Known = try ets:lookup(?BREAKS, {?MODULE, source, Module})
            catch error:badarg -> []
            end,
    case {Known, Recorded} of
        {[{_, R, Here}], R} -> Here;
        {[{_, _, Here}], undefined} -> Here;
        {_, undefined} -> none;
        {_, _} -> Recorded
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
interpret(Names) ->
    Modules = lists:usort([to_atom(N, "module") || N <- Names]),
    Results = case batch_interpretation_available() andalso elixir_dap_release:project() =:= undefined of
                  true -> interpret_batch(Modules);
                  false -> [interpret_with_int(M) || M <- Modules]
              end,
    {ok, #{interpreted => [M || {ok, M} <- Results],
           skipped => [#{module => M, name => module_name(M), reason => R} || {skipped, M, R} <- Results]}}.

%% Modules the program may be running (a breakpoint set while it runs):
%% int:ni/1, one by one. The batch path loads native code before the
%% interpreter has the module, and a process running the module then failed
%% its next local call as undefined.
interpret_running(Names) ->
    Results = [interpret_with_int(to_atom(N, "module")) || N <- lists:usort(Names)],
    {ok, #{interpreted => [M || {ok, M} <- Results],
           skipped => [#{module => M, name => module_name(M), reason => R} || {skipped, M, R} <- Results]}}.

batch_interpretation_available() ->
    _ = code:ensure_loaded(dbg_iload),
    erlang:function_exported(dbg_iload, load_mod, 4)
        andalso is_pid(whereis(dbg_iserver)).

%% The fallback: what the adapter did before, one module at a time. A module
%% a script defined is interpreted from the object code kept for it.
interpret_with_int(Module) ->
    case {elixir_dap_scripts:object_code(Module), elixir_dap_release:project()} of
        {{Source, Bin}, _} -> interpret_binary(Module, Source, Bin);
        {none, undefined} -> interpret_from_path(Module);
        {none, _} -> elixir_dap_release:interpret(Module)
    end.

%% Interprets object code whose source is no file on this node (a release:
%% the source text comes from the adapter's side), as int:ni/1 does with
%% files: the native load, then dbg_iserver, then the call traps.
interpret_shipped(Module, Source, Text, Bin, Beam) ->
    case beam_lib:chunks(Bin, [abstract_code, exports]) of
        {ok, {_, [{abstract_code, {_, _} = Abstract}, {exports, Exports}]}} ->
            Path = unicode:characters_to_list(Source),
            Term = term_to_binary({interpreter_module, Exports, Abstract, source_text(Text),
                                   code:module_md5(Bin)}),
            Prepared = #{module => Module, beam => Beam, binary => Bin, source => Path, term => Term},
            %% The code that runs already (a release's, stripped of its debug
            %% info, or what a reload loaded) is not loaded a second time.
            Loaded = try Module:module_info(md5) catch _:_ -> undefined end,
            case Loaded =:= code:module_md5(Bin) orelse load_native([Prepared]) of
                true -> store(Prepared);
                {[_], []} -> store(Prepared);
                {[], [Skipped]} -> Skipped
            end;
        _ ->
            {skipped, Module, format_term(no_debug_info)}
    end.

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

interpret_binary(Module, Source, Bin, Beam) ->
    try int:ni({Module, unicode:characters_to_list(Source), Beam, Bin}) of
        {module, Module} -> {ok, Module};
        error -> {skipped, Module, <<"the interpreter refused it">>}
    catch
        Class:Reason -> {skipped, Module, format_term({Class, Reason})}
    end.

%% int:ni/1 finds the source where the compiler recorded it: a module whose
%% source was found elsewhere (a moved project, see source_here/3) is
%% handed over with its source path and object code instead.
interpret_from_path(Module) ->
    Recorded = try proplists:get_value(source, Module:module_info(compile))
               catch _:_ -> undefined
               end,
    case {module_source(Module), code:which(Module)} of
        {Here, Beam} when is_list(Here), Here =/= Recorded, is_list(Beam) ->
            case read_raw(Beam) of
                {ok, Bin} -> interpret_binary(Module, Here, Bin, Beam);
                {error, Why} -> {skipped, Module, format_term(Why)}
            end;
        _ ->
            interpret_by_name(Module)
    end.

interpret_by_name(Module) ->
    case int:interpretable(Module) of
        true ->
            try int:ni(Module) of
                {module, Module} -> {ok, Module};
                error -> {skipped, Module, <<"the interpreter refused it">>}
            catch
                Class:Reason -> {skipped, Module, format_term({Class, Reason})}
            end;
        {error, Reason} ->
            {skipped, Module, format_term(Reason)}
    end.

%% How long one batch may take in all: far more than any project needs.
-define(INTERPRET_TIMEOUT, 600000).

interpret_batch([]) ->
    [];
interpret_batch(Modules) ->
    Self = self(),
    Beams = beam_paths(Modules),
    Loader = spawn_link(fun() -> loader(Self, []) end),
    Shares = deal(Modules, erlang:system_info(schedulers_online)),
    _ = [spawn_link(fun() -> [Self ! {prepared, prepare(M, maps:get(M, Beams, none))} || M <- Share] end)
         || Share <- Shares],
    %% A batch big enough that native loads are few, small enough that
    %% dbg_iserver starts early.
    BatchSize = max(16, length(Modules) div 8),
    Skipped = collect(length(Modules), BatchSize, [], Loader, []),
    Loader ! {done, Self},
    receive
        {interpreted, Loader, Results} -> Results ++ Skipped
    after ?INTERPRET_TIMEOUT ->
            throw_error(timeout, "interpreting the modules took more than 10 minutes")
    end.

%% Receives prepared modules; loads their native code a batch at a time and
%% passes each loaded batch on to the loader. Returns the skipped modules.
collect(0, _BatchSize, [], _Loader, Skipped) ->
    Skipped;
collect(Left, BatchSize, Ready, Loader, Skipped) when Left =:= 0; length(Ready) >= BatchSize ->
    {Loaded, NotLoaded} = load_native(lists:reverse(Ready)),
    Loader ! {load, Loaded},
    collect(Left, BatchSize, [], Loader, NotLoaded ++ Skipped);
collect(Left, BatchSize, Ready, Loader, Skipped) ->
    receive
        {prepared, {ok, Prepared}} ->
            collect(Left - 1, BatchSize, [Prepared | Ready], Loader, Skipped);
        {prepared, {skipped, _, _} = Skip} ->
            collect(Left - 1, BatchSize, Ready, Loader, [Skip | Skipped])
    after ?INTERPRET_TIMEOUT ->
            throw_error(timeout, "preparing modules for the interpreter took more than 10 minutes")
    end.

%% Hands loaded modules to dbg_iserver, one at a time, in its own process so
%% that the next batch is loaded meanwhile.
loader(Parent, Results) ->
    receive
        {load, Batch} ->
            loader(Parent, lists:reverse([store(P) || P <- Batch], Results));
        {done, Parent} ->
            Parent ! {interpreted, self(), Results}
    end.

store(#{module := Module, source := Source, term := Term}) ->
    try dbg_iserver:safe_call({load, Module, Source, Term}) of
        {module, Module} ->
            case erts_debug:breakpoint({Module, '_', '_'}, true) > 0 of
                true -> {ok, Module};
                false -> {skipped, Module, <<"the interpreter refused it">>}
            end;
        Other ->
            {skipped, Module, format_term(Other)}
    catch
        Class:Reason -> {skipped, Module, format_term({Class, Reason})}
    end.

%% Everything int:ni/1 does for a module before dbg_iserver, except the
%% native load. Never raises: a module that fails is skipped.
prepare(Module, none) ->
    {skipped, Module, format_term(badarg)};
prepare(Module, Beam) ->
    try
        {ok, Bin} = read_raw(Beam),
        case beam_lib:chunks(Bin, [abstract_code, exports, compile_info]) of
            {ok, {_, [{abstract_code, {_, _} = Abstract}, {exports, Exports}, {compile_info, Info}]}} ->
                case find_source(Module, Beam, Info) of
                    error ->
                        {skipped, Module, format_term(no_src)};
                    Source ->
                        case refused_application(Source) of
                            {app, _} = Refused ->
                                {skipped, Module, format_term(Refused)};
                            false ->
                                {ok, SourceBin} = read_raw(Source),
                                Text = source_text(SourceBin),
                                Term = term_to_binary({interpreter_module, Exports, Abstract, Text,
                                                       code:module_md5(Bin)}),
                                {ok, #{module => Module, beam => Beam, binary => Bin,
                                       source => Source, term => Term}}
                        end
                end;
            _ ->
                {skipped, Module, format_term(no_debug_info)}
        end
    catch
        Class:Reason -> {skipped, Module, format_term({Class, Reason})}
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

is_regular_raw(Name) ->
    case file:read_file_info(Name, [raw]) of
        {ok, #file_info{type = regular}} -> true;
        _ -> false
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
                                    {error, Why} -> {Ok, [{skipped, M, format_term(Why)} | Failed]}
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

%% Splits a list into N shares of (nearly) equal length, round robin.
deal(List, N) ->
    Indexed = lists:zip(lists:seq(0, length(List) - 1), List),
    [[X || {I, X} <- Indexed, I rem N =:= K] || K <- lists:seq(0, N - 1)].

%% Lines where the interpreter can stop: the first line of every expression
%% in a body (function clauses, case/receive/try/fun bodies). A breakpoint on
%% any other line would never be hit.
%% The lines of the module's own source that hold code: functions a macro
%% injected from another file (see foreign_functions/1) have lines of that
%% file, not of this one.
breakable_lines(Name) ->
    Module = to_atom(Name, "module"),
    Foreign = foreign_functions(Module),
    Own = [Form || {function, _, F, A, _} = Form <- abstract_code(Module), not maps:is_key({F, A}, Foreign)],
    {ok, lists:usort(body_lines(Own))}.

%% Functions whose code comes from another file, with that file: #{{F, A} =>
%% Path}. Code a macro injects with `quote location: :keep` (Plug's debugger
%% in a Phoenix endpoint, for one) keeps the file and lines it was written
%% in: Elixir puts a -file attribute before each such function
%% (elixir_erl:add_definition/3, v1.14.0 to v1.20.3) and the interpreter
%% reports those lines. Cached per module version.
foreign_functions(Module) ->
    MD5 = try Module:module_info(md5) catch _:_ -> undefined end,
    Key = {?MODULE, foreign, Module},
    case ets:lookup(?BREAKS, Key) of
        [{_, MD5, Cached}] ->
            Cached;
        _ ->
            Forms = try abstract_code(Module) catch throw:{agent_error, _} -> [] end,
            Own = source_of(Module),
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
    Foreign = foreign_functions(Module),
    Key = case re:run(atom_to_list(Function), "^-(.+)/([0-9]+)-", [{capture, all_but_first, list}, unicode]) of
              {match, [Parent, ParentArity]} -> {list_to_atom(Parent), list_to_integer(ParentArity)};
              nomatch -> {Function, Arity}
          end,
    maps:get(Key, Foreign, source_of(Module)).

%% First line of every clause of Function/Arity (Arity = any for all).
function_lines(ModuleName, FunctionName, Arity) ->
    Module = to_atom(ModuleName, "module"),
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
%% by elixir_dap_scripts.
abstract_code(Module) ->
    Shipped = case elixir_dap_release:project() of
                  undefined -> elixir_dap_scripts:object_code(Module);
                  _ -> elixir_dap_release:object_code(Module)
              end,
    Beam = case {Shipped, code:which(Module)} of
               {{error, Why}, _} -> throw_error(no_debug_info, Why);
               {{_Source, Bin}, _} -> Bin;
               {none, Path} when is_list(Path) -> Path;
               _ -> throw_error(no_beam, io_lib:format("no beam file for ~ts", [module_name(Module)]))
           end,
    case beam_lib:chunks(Beam, [debug_info]) of
        {ok, {_, [{debug_info, {debug_info_v1, Backend, Data}}]}} ->
            case Backend:debug_info(erlang_v1, Module, Data, []) of
                {ok, Forms} -> Forms;
                _ -> throw_error(no_debug_info, io_lib:format("~ts has no usable debug info", [module_name(Module)]))
            end;
        _ ->
            throw_error(no_debug_info, io_lib:format("~ts has no debug info", [module_name(Module)]))
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

line_of(Expr) when is_tuple(Expr), tuple_size(Expr) >= 2 ->
    try erl_anno:line(element(2, Expr)) of
        Line when is_integer(Line) -> Line;
        _ -> 0
    catch
        _:_ -> 0
    end;
line_of(_) ->
    0.

%% ---------------------------------------------------------------------------
%% Breakpoints

%% Replaces every breakpoint of Module. Each spec carries the line, the
%% adapter's breakpoint ids and kind (told back in the `stopped` event), and
%% the condition, hit condition and log message if any (checked by the
%% adapter with check_expressions/1 before they come here).
set_breakpoints(Name, Breakpoints) ->
    Module = to_atom(Name, "module"),
    [int:delete_break(Module, Line) || {{M, Line}, _} <- int:all_breaks(Module), M =:= Module],
    ets:match_delete(?BREAKS, {{Module, '_'}, '_'}),
    ets:match_delete(?BREAKS, {{?MODULE, reported, Module, '_', '_'}, '_'}),
    lists:foreach(fun(B) -> set_breakpoint(Module, B) end, Breakpoints),
    {ok, ok}.

%% Every breakpoint has a test function (check_breakpoint/3): it keeps one
%% execution of a line to one stop, and applies the condition, hit count
%% and log message if any.
set_breakpoint(Module, #{line := Line} = Spec) ->
    ok = int:break(Module, Line),
    Log = case maps:get(log_message, Spec, nil) of
              nil -> nil;
              Message ->
                  case split_log_message(Message) of
                      {ok, Parts} -> Parts;
                      {error, _} -> [Message]
                  end
          end,
    ets:insert(?BREAKS, {{Module, Line}, #{condition => maps:get(condition, Spec, nil),
                                           hit_condition => maps:get(hit_condition, Spec, nil),
                                           log => Log, hits => 0,
                                           ids => maps:get(ids, Spec, []),
                                           kind => maps:get(kind, Spec, <<"breakpoint">>)}}),
    int:test_at_break(Module, Line, {condition_module(Module, Line), check}).

%% Checks the user's expressions before they are set: for each breakpoint
%% (#{condition, log_message}, nil when absent), ok or #{field, message}
%% with the Elixir parser's message for the first one that does not parse.
check_expressions(Breakpoints) ->
    {ok, [check_breakpoint_expressions(B) || B <- Breakpoints]}.

check_breakpoint_expressions(Spec) ->
    Condition = case maps:get(condition, Spec, nil) of
                    nil -> ok;
                    Text -> parse_check(Text)
                end,
    Log = case maps:get(log_message, Spec, nil) of
              nil -> ok;
              Message ->
                  case split_log_message(Message) of
                      {ok, _} -> ok;
                      {error, Why} -> {error, Why}
                  end
          end,
    case {Condition, Log} of
        {{error, Why1}, _} -> #{field => condition, message => Why1};
        {ok, {error, Why2}} -> #{field => log_message, message => Why2};
        {ok, ok} -> ok
    end.

%% ok, or {error, Message} with the parser's message, e.g. "1:3: syntax
%% error: expression is incomplete".
parse_check(Text) ->
    try 'Elixir.Code':'string_to_quoted!'(Text) of
        _ -> ok
    catch
        _:Reason:Stack ->
            Message = try 'Elixir.Exception':message(Reason)
                      catch _:_ -> first_text_line(elixir_dap_agent:format_exception(error, Reason, Stack))
                      end,
            {error, parser_message(Reason, Message)}
    end.

%% "Line:Column: description" from a SyntaxError or TokenMissingError: the
%% description field (Elixir 1.14 to 1.20) and the position its message
%% names ("nofile:1:3: ..." on 1.14, "token missing on nofile:1:3:" followed
%% by a snippet since 1.15); else the message's first line.
parser_message(Exception, Message) ->
    First = first_text_line(Message),
    Position = case re:run(First, "nofile:([0-9]+):([0-9]+)", [{capture, all_but_first, binary}]) of
                   {match, [Line, Column]} -> [Line, <<":">>, Column, <<": ">>];
                   nomatch -> []
               end,
    case is_map(Exception) andalso maps:get(description, Exception, undefined) of
        Description when is_binary(Description) -> iolist_to_binary([Position, Description]);
        _ -> First
    end.

%% Splits a log message into literal text and `{expression}` parts:
%% {ok, [binary() | {expr, binary()}]} or {error, Message}. "{{" and "}}"
%% stand for braces. An expression ends at the first `}` that Elixir's
%% tokenizer does not read as part of it (a string, a charlist, a tuple, a
%% map, a sigil, nested braces): the parser is given the rest of the
%% message, and it stops at that `}`, which it reports as unexpected.
split_log_message(Message) when is_binary(Message) ->
    split_log(unicode:characters_to_list(Message), [], []).

split_log([], Text, Parts) ->
    {ok, lists:reverse(literal(Text, Parts))};
split_log("{{" ++ Rest, Text, Parts) ->
    split_log(Rest, [${ | Text], Parts);
split_log("}}" ++ Rest, Text, Parts) ->
    split_log(Rest, [$} | Text], Parts);
split_log("{" ++ Rest, Text, Parts) ->
    case expression_end(Rest) of
        {ok, Expression, After} ->
            Bin = unicode:characters_to_binary(Expression),
            case string:trim(Expression) of
                [] ->
                    {error, <<"an empty `{}` (write `{{}}` for braces)">>};
                _ ->
                    case parse_check(Bin) of
                        ok -> split_log(After, [], [{expr, Bin} | literal(Text, Parts)]);
                        {error, Why} -> {error, iolist_to_binary([<<"{">>, Bin, <<"}: ">>, Why])}
                    end
            end;
        {error, Why} ->
            {error, Why}
    end;
split_log([C | Rest], Text, Parts) ->
    split_log(Rest, [C | Text], Parts).

literal([], Parts) -> Parts;
literal(Text, Parts) -> [unicode:characters_to_binary(lists:reverse(Text)) | Parts].

%% {ok, Expression, After} where Expression is the text before the `}`
%% that closes it, or {error, Message}.
expression_end(Rest) ->
    Bin = unicode:characters_to_binary(Rest),
    case 'Elixir.Code':string_to_quoted(Bin, [{columns, true}]) of
        {error, {Location, _, _}} when is_list(Location) ->
            %% A `}` closing another delimiter (`{foo(}`): Elixir 1.16+
            %% places the error at the opening one, and the `}` at its end.
            {LineKey, ColumnKey} = case proplists:get_value(error_type, Location) of
                                       mismatched_delimiter -> {end_line, end_column};
                                       _ -> {line, column}
                                   end,
            Offset = char_offset(Rest, proplists:get_value(LineKey, Location, 1),
                                 proplists:get_value(ColumnKey, Location, 1)),
            case lists:nthtail(min(Offset, length(Rest)), Rest) of
                "}" ++ After -> {ok, lists:sublist(Rest, Offset), After};
                _ -> unclosed(Rest)
            end;
        _ ->
            unclosed(Rest)
    end.

unclosed(Rest) ->
    Start = unicode:characters_to_binary(lists:sublist(Rest, 20)),
    {error, iolist_to_binary([<<"no `}` closes the expression `{">>, Start,
                              case length(Rest) > 20 of true -> <<"...">>; false -> <<>> end,
                              <<"` (write `{{` for a brace)">>])}.

%% The index in Chars of (Line, Column), both counted from 1 as Elixir
%% counts them (columns in characters).
char_offset(Chars, Line, Column) ->
    char_offset(Chars, Line, Column, 1, 0).

char_offset(_Chars, Line, Column, Line, Index) ->
    Index + Column - 1;
char_offset([$\n | Rest], Line, Column, Current, Index) ->
    char_offset(Rest, Line, Column, Current + 1, Index + 1);
char_offset([_ | Rest], Line, Column, Current, Index) ->
    char_offset(Rest, Line, Column, Current, Index + 1);
char_offset([], _Line, _Column, _Current, Index) ->
    Index.

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
check_breakpoint(Module, Line, Bindings) ->
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

eval_condition(nil, _Binding, _Module, _Line) ->
    true;
eval_condition(Expression, Binding, Module, Line) ->
    case eval_elixir(Expression, Binding) of
        {ok, Value} -> Value =/= false andalso Value =/= nil;
        {error, Message} ->
            report(condition_error, Module, Line, Expression, Message),
            false
    end.

%% A hit condition is a number N (stop from the Nth hit on), or an operator
%% and a number: ">= N", "> N", "<= N", "< N", "== N" (or "= N"), "% N"
%% (every Nth hit). The adapter refuses any other text when it is set.
hit_reached(nil, _Count) ->
    true;
hit_reached(Condition, Count) ->
    Text = string:trim(binary_to_list(Condition)),
    {Op, Rest} = case Text of
                     ">=" ++ R -> {'>=', R};
                     ">" ++ R -> {'>', R};
                     "<=" ++ R -> {'<=', R};
                     "<" ++ R -> {'<', R};
                     "==" ++ R -> {'==', R};
                     "=" ++ R -> {'==', R};
                     "%" ++ R -> {'%', R};
                     R -> {'>=', R}
                 end,
    case string:to_integer(string:trim(Rest)) of
        {N, []} when is_integer(N) ->
            case Op of
                '>=' -> Count >= N;
                '>' -> Count > N;
                '<=' -> Count =< N;
                '<' -> Count < N;
                '==' -> Count =:= N;
                '%' -> N > 0 andalso Count rem N =:= 0
            end;
        _ ->
            true
    end.

log_or_stop(nil, _Binding, _Module, _Line) ->
    true;
log_or_stop(Parts, Binding, Module, Line) ->
    Text = iolist_to_binary([log_part(P, Binding, Module, Line) || P <- Parts]),
    elixir_dap_agent:send_event(log, #{text => Text, module => Module, line => Line}),
    false.

log_part({expr, Expression}, Binding, Module, Line) ->
    case eval_elixir(Expression, Binding) of
        {ok, V} when is_binary(V) -> V;
        {ok, V} -> inspect(V);
        {error, Error} ->
            report(log_error, Module, Line, Expression, Error),
            [<<"<error: ">>, Error, <<">">>]
    end;
log_part(Text, _Binding, _Module, _Line) ->
    Text.

%% An error of a breakpoint's condition or log message is reported once
%% until the breakpoint is set again: a breakpoint in a loop would otherwise
%% print the same line at every pass.
report(Kind, Module, Line, Expression, Message) ->
    case ets:insert_new(?BREAKS, {{?MODULE, reported, Module, Line, Kind}, true}) of
        true ->
            elixir_dap_agent:send_event(Kind, #{module => Module, name => module_name(Module), line => Line,
                                                expression => Expression, message => Message});
        false ->
            ok
    end.

%% ---------------------------------------------------------------------------
%% Paused processes

%% Spawned by :int when an interpreted process without an attached process
%% reaches a breakpoint. Stays attached until that process exits.
attach(Pid) ->
    case int:attached(Pid) of
        {ok, Meta} -> attached_loop(Pid, Meta);
        error -> ok
    end.

attached_loop(Pid, Meta) ->
    receive
        {Meta, {break_at, Module, Line, Level}} ->
            case ets:lookup(?BREAKS, {?MODULE, stepping, Pid}) of
                [{_, {Command, Module, Line, Level}}] ->
                    %% A step that ended on the line it started from (a nested
                    %% expression of it): one step is one line, so on.
                    int:meta(Meta, Command);
                _ ->
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
                        Announced -> elixir_dap_agent:send_event(stopped, Announced)
                    end
            end,
            attached_loop(Pid, Meta);
        {Meta, idle} ->
            %% A reload may be waiting for this process to leave old code.
            elixir_dap_reload:on_idle(Pid, Meta),
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
    elixir_dap_agent:send_event(thread_exited, #{pid => Pid, reason => format_term(Reason)}).

%% Forgets what the agent kept for a process that ended.
forget_process(Pid) ->
    release(Pid),
    forget_evaluation(Pid),
    ets:delete(?BREAKS, {?MODULE, stopped_at, Pid}),
    ets:delete(?BREAKS, {?MODULE, stepping, Pid}),
    ok.

thread_name(Pid) ->
    Registered = case erlang:process_info(Pid, registered_name) of
                     {registered_name, Name} when is_atom(Name) -> [module_name(Name), <<" ">>];
                     _ -> []
                 end,
    Initial = case erlang:process_info(Pid, dictionary) of
                  {dictionary, Dict} ->
                      case proplists:get_value('$initial_call', Dict) of
                          {M, F, A} -> [<<" ">>, mfa_name(M, F, A)];
                          _ -> initial_call(Pid)
                      end;
                  _ -> []
              end,
    iolist_to_binary([Registered, pid_text(Pid), Initial]).

initial_call(Pid) ->
    case erlang:process_info(Pid, initial_call) of
        {initial_call, {M, F, A}} -> [<<" ">>, mfa_name(M, F, A)];
        _ -> []
    end.

meta(Pid) ->
    is_process_alive(Pid) orelse
        throw_error(exited, io_lib:format("~ts has exited", [pid_text(Pid)])),
    case dbg_iserver:safe_call({get_meta, Pid}) of
        {ok, Meta} -> Meta;
        {error, _} -> throw_error(not_interpreted, io_lib:format("~ts is not a debugged process", [pid_text(Pid)]))
    end.

%% Execution control: continue | next | step_in | step_out | pause.
command(Pid, Command) ->
    Meta = meta(Pid),
    case Command of
        pause -> int:meta(Meta, stop);
        _ -> release(Pid),
             remember_step(Pid, meta_command(Command)),
             int:meta(Meta, meta_command(Command))
    end,
    {ok, ok}.

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
stack(Pid) ->
    Meta = meta(Pid),
    {Module, Line} = case lists:keyfind(Pid, 1, int:snapshot()) of
                         {Pid, _, break, {M, L}} -> {M, L};
                         {Pid, _, Status, _} -> throw_error(not_paused, io_lib:format("~ts is ~p, not paused", [pid_text(Pid), Status]));
                         false -> throw_error(not_interpreted, io_lib:format("~ts is not a debugged process", [pid_text(Pid)]))
                     end,
    [{Top, TopMfa} | Callers] = int:meta(Meta, backtrace, all),
    TopFrame = frame(Top, TopMfa, Module, Line),
    CallerFrames = [caller_frame(Meta, Level, Mfa) || {Level, Mfa} <- Callers],
    {ok, [TopFrame | CallerFrames]}.

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
frame_name(Module, Function, Arity) when is_atom(Module), is_atom(Function), is_integer(Arity) ->
    try 'Elixir.Exception':format_mfa(Module, Function, Arity)
    catch _:_ -> mfa_name(Module, Function, Arity)
    end;
frame_name(_Module, Function, Arity) ->
    iolist_to_binary(io_lib:format("~tp/~b", [Function, Arity])).

mfa_module({M, _, _}) when is_atom(M) -> M;
mfa_module({Fun, _}) when is_function(Fun) -> element(2, erlang:fun_info(Fun, module));
mfa_module(_) -> undefined.

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

frame_variables(Pid, Level) ->
    Binding = elixir_binding(int:meta(meta(Pid), bindings, Level)),
    {ok, [variable(Pid, atom_to_binary(Name, utf8), Value) || {Name, Value} <- Binding]}.

process_variables(Pid) ->
    Info = erlang:process_info(Pid, [registered_name, status, message_queue_len, messages,
                                     links, monitors, current_function, memory, heap_size,
                                     reductions, dictionary, trap_exit, group_leader]),
    case Info of
        undefined -> {ok, []};
        _ -> {ok, [variable(Pid, atom_to_binary(K, utf8), V) || {K, V} <- Info]}
    end.

%% Children of the value behind Handle, from Start, at most Count (0 = all).
children(Handle, Start, Count) ->
    case ets:lookup(?HANDLES, Handle) of
        [{Handle, Owner, Term}] ->
            All = child_terms(Term),
            Page = case Count of
                       0 -> lists:nthtail(min(Start, length(All)), All);
                       _ -> lists:sublist(All, Start + 1, Count)
                   end,
            {ok, [variable(Owner, Name, Value) || {Name, Value} <- Page]};
        [] ->
            throw_error(stale_handle, "the value is no longer available (the process has resumed)")
    end.

variable(Owner, Name, Value) ->
    {Indexed, Named} = child_counts(Value),
    Handle = case Indexed + Named of
                 0 -> 0;
                 _ -> new_handle(Owner, Value)
             end,
    #{name => Name, value => inspect(Value), type => type_of(Value),
      handle => Handle, indexed => Indexed, named => Named}.

new_handle(Owner, Value) ->
    Handle = ets:update_counter(?HANDLES, next_handle, 1),
    ets:insert(?HANDLES, {Handle, Owner, Value}),
    Handle.

%% Forgets the values shown for a process: it is running again.
release(Pid) ->
    try ets:match_delete(?HANDLES, {'_', Pid, '_'}) catch error:badarg -> ok end,
    ok.

child_counts(Value) when is_list(Value) ->
    case is_proper(Value) of
        true -> {length(Value), 0};
        false -> {2, 0}
    end;
child_counts(Value) when is_tuple(Value) -> {tuple_size(Value), 0};
child_counts(Value) when is_map(Value) -> {0, map_size(Value)};
child_counts(Value) when is_binary(Value) ->
    case 'Elixir.String':'printable?'(Value) of
        true -> {0, 0};
        false -> {byte_size(Value), 0}
    end;
child_counts(_) -> {0, 0}.

child_terms(Value) when is_list(Value) ->
    case is_proper(Value) of
        true -> indexed(Value);
        false -> [{<<"head">>, hd(Value)}, {<<"tail">>, tl(Value)}]
    end;
child_terms(Value) when is_tuple(Value) -> indexed(tuple_to_list(Value));
child_terms(#{'__struct__' := _} = Struct) ->
    [{atom_to_binary(K, utf8), V} || {K, V} <- lists:sort(maps:to_list(Struct))];
child_terms(Value) when is_map(Value) ->
    [{inspect(K), V} || {K, V} <- lists:sort(maps:to_list(Value))];
child_terms(Value) when is_binary(Value) -> indexed(binary_to_list(Value));
child_terms(_) -> [].

indexed(Items) ->
    lists:zip([integer_to_binary(I) || I <- lists:seq(0, length(Items) - 1)], Items).

is_proper([]) -> true;
is_proper([_ | T]) -> is_proper(T);
is_proper(_) -> false.

type_of(V) when is_atom(V) -> <<"atom">>;
type_of(V) when is_integer(V) -> <<"integer">>;
type_of(V) when is_float(V) -> <<"float">>;
type_of(#{'__struct__' := S}) when is_atom(S) -> module_name(S);
type_of(V) when is_map(V) -> <<"map">>;
type_of(V) when is_list(V) -> <<"list">>;
type_of(V) when is_tuple(V) -> <<"tuple">>;
type_of(V) when is_binary(V) -> <<"binary">>;
type_of(V) when is_bitstring(V) -> <<"bitstring">>;
type_of(V) when is_pid(V) -> <<"pid">>;
type_of(V) when is_function(V) -> <<"function">>;
type_of(V) when is_reference(V) -> <<"reference">>;
type_of(V) when is_port(V) -> <<"port">>;
type_of(_) -> <<"term">>.

%% ---------------------------------------------------------------------------
%% Evaluate

%% Evaluates an Elixir expression in a fresh process, with the bindings of a
%% paused frame (Pid, Level) or none (nil). The paused process is never
%% touched. Context is the DAP evaluate context (see run_evaluation/5).
evaluate(Target, Level, Expression, Timeout, Context) ->
    Binding = case Target of
                  nil -> [];
                  Pid -> elixir_binding(int:meta(meta(Pid), bindings, Level))
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
            throw_error(evaluation_failed, Message);
        {?MODULE, eval_paused, Worker, Stop} ->
            erlang:demonitor(Ref, [flush]),
            {ok, #{paused => Stop}};
        {'DOWN', Ref, process, Worker, Reason} ->
            forget_evaluation(Worker),
            throw_error(evaluation_failed, format_term(Reason))
    after Timeout ->
            %% Either this claims the worker (and kills it) or the worker
            %% has paused at a breakpoint, and its notice is on its way.
            case ets:insert_new(?BREAKS, {{?MODULE, eval_claim, Worker}, killed}) of
                true ->
                    exit(Worker, kill),
                    evaluation_done(Worker, Ref),
                    throw_error(evaluation_timeout,
                                io_lib:format("the expression did not finish within ~b ms", [Timeout]));
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
            elixir_dap_agent:send_event(evaluation_result, Data#{pid => self(), expression => Expression});
        _ ->
            Requester ! {self(), Result}
    end.

%% Called where a process is about to be announced as stopped (Stop, the
%% event's data): for an evaluation's worker stopping for the first time,
%% tells the waiting request and claims the worker (the time limit no
%% longer applies). Returns the event's data (naming the expression of an
%% evaluation), or killed when the time limit claimed the worker first.
evaluation_paused(Pid, Stop) ->
    evaluation_paused(Pid, Stop, fun() -> #{} end).

%% Where() adds what the answer shows of where it stopped (function, source).
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
skips_breakpoints(Pid) ->
    case ets:lookup(?BREAKS, {?MODULE, eval, Pid}) of
        [{_, #{skip := true}}] -> true;
        _ -> false
    end.

eval_elixir(Expression, Binding) ->
    try 'Elixir.Code':eval_string(Expression, Binding) of
        {Value, _} -> {ok, Value}
    catch
        Class:Reason:Stack ->
            {error, first_text_line(elixir_dap_agent:format_exception(Class, Reason, Stack))}
    end.

first_text_line(Text) ->
    hd(binary:split(iolist_to_binary(Text), <<"\n">>)).

%% The interpreter's bindings use the Erlang names of Elixir variables
%% (`_x@1`, or `Vx@1` on older Elixir): keep the latest version of each and
%% give it its Elixir name. Bindings of Erlang code keep their names.
elixir_binding(Bindings) ->
    Versions = lists:foldl(fun({Var, Value}, Acc) ->
                                   case elixir_name(atom_to_list(Var)) of
                                       {Name, Version} ->
                                           case maps:find(Name, Acc) of
                                               {ok, {Newer, _}} when Newer > Version -> Acc;
                                               _ -> Acc#{Name => {Version, Value}}
                                           end;
                                       skip -> Acc
                                   end
                           end, #{}, Bindings),
    lists:sort([{list_to_atom(Name), Value} || {Name, {_, Value}} <- maps:to_list(Versions)]).

elixir_name(Var) ->
    case string:split(Var, "@", trailing) of
        [[Prefix | Name], Version] when Prefix =:= $_; Prefix =:= $V ->
            case {Name, string:to_integer(Version)} of
                {"_" ++ _, _} -> skip;          % an underscored (ignored) variable
                {[], _} -> skip;
                {_, {N, []}} -> {Name, N};
                _ -> skip
            end;
        [Var] ->
            {Var, 0};
        _ ->
            skip
    end.

%% ---------------------------------------------------------------------------
%% Names

inspect(Term) ->
    'Elixir.Kernel':inspect(Term, [{limit, 50}, {printable_limit, 4096}, {pretty, false}]).

module_name(Module) when is_atom(Module) ->
    'Elixir.Kernel':inspect(Module).

mfa_name(M, F, A) ->
    iolist_to_binary([module_name(M), <<".">>, atom_to_binary(F, utf8), <<"/">>, integer_to_binary(A)]).

pid_text(Pid) ->
    'Elixir.Kernel':inspect(Pid).

%% Module and function names arrive as binaries: an atom the VM has never
%% seen would make the whole request undecodable.
to_atom(Name, What) when is_binary(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> throw_error(unknown_name, io_lib:format("no ~s named ~ts is loaded", [What, Name]))
    end;
to_atom(Name, _What) when is_atom(Name) ->
    Name.

format_term(Term) ->
    iolist_to_binary(io_lib:format("~0p", [Term])).
