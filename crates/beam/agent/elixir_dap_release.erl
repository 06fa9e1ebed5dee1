%% elixir_dap_release: attaching to a node that runs without Mix (a release
%% built with `mix release`), where the project's modules, their sources
%% and their debug info come from the adapter's side.
%%
%% A release holds the project's object code, usually stripped of its debug
%% info and compile info (`strip_beams`, true by default: Mix.Release keeps
%% only the chunks needed to run), no sources, and no Mix; the `debugger`
%% application is there only if the release lists it. The helper VM (see
%% elixir_dap_attach) runs in `projectDir`, with the same OTP release and
%% Elixir major.minor as the node, so:
%%
%%   prepare/2 (helper)   reads the project's applications with the
%%                        helper's Mix, asks the node which modules of
%%                        theirs it runs and with which MD5, and finds the
%%                        beam of the same MD5 under projectDir's _build
%%                        (the MD5 covers the code, not the debug info a
%%                        strip removes): its debug info and the source it
%%                        records. The result is put in the node
%%                        ({elixir_dap_release, project}, a persistent term
%%                        erased on detach).
%%   list_modules/0       the project's modules, with their sources here
%%                        (elixir_dap_project:list_modules/0 asks).
%%   object_code/1        the full object code of a module, from the helper
%%                        (or kept from a reload), MD5-checked.
%%   shipped_code/1       object code and source text from the helper, for
%%                        the interpreter (no file on the node:
%%                        elixir_dap_backend:interpret_shipped/5).
%%   ship_debugger/0      loads the helper's `debugger` modules and
%%                        application spec when the node lacks them;
%%                        clean/0 takes them out again on detach.
%%   compile_remote/2     a reload's compile (elixir_dap_reload): the helper
%%                        compiles the files (compile_wave/1), the node keeps
%%                        the object code in memory (no file on the node
%%                        holds it) for interpretation and rollback.
%% Every agent module may ask this one; it asks none of them but
%% elixir_dap_util and elixir_dap_tables (no call cycle).
%% Written in plain Erlang so it compiles on every OTP the user may have.
-module(elixir_dap_release).
-export([prepare/2, node_modules/1, debugger_code/0, read_file/1, compile_wave/1]).
-export([project/0, list_modules/0, object_code/1, shipped_code/1, source_text/1, loaded_object_code/1,
         compile_remote/2, ship_debugger/0, clean/0]).
-export_type([project/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [module_name/1, throw_error/2, source_under/2]).

%% What prepare/2 found, kept in the node (see project/0).
-type project() :: #{helper := node(), apps := [{binary(), binary()}],
                     modules := #{module() => #{app := binary(), beam := file:filename(),
                                                recorded := file:filename_all() | undefined,
                                                source := file:filename() | none}},
                     unmatched := [module()]}.
-type compile_result() :: {ok, [module()], list()} | {error, list(), list()}.

-define(PROJECT, {?MODULE, project}).
-define(SHIPPED, {?MODULE, shipped}).
%% Object code kept from reloads: {{Module, MD5}, Source, Binary}.
-define(TABLE, elixir_dap_release).
-define(CALL_TIMEOUT, 10000).

%% ---------------------------------------------------------------------------
%% The helper's side

%% Answers what the agent in Remote needs to debug the project without Mix:
%% #{helper, apps, modules => #{Module => #{app, beam, recorded, source}},
%% unmatched => [Module]}, or throws {error, Reason} (an attach refusal,
%% see elixir_dap_attach). Call runs a function in Remote.
-spec prepare(node(), fun((module(), atom(), list()) -> term())) -> project().
prepare(Remote, Call) ->
    {ok, Cwd} = file:get_cwd(),
    Apps = project_apps(Cwd),
    OnNode = [{App, Root, Mods} || {App, Root} <- Apps,
                                   {ok, Mods} <- [Call(application, get_key, [App, modules])]],
    OnNode =:= [] andalso
        throw({error, #{kind => runs_no_project_app, node => Remote, dir => unicode:characters_to_binary(Cwd),
                        apps => [A || {A, _} <- Apps]}}),
    Ebins = build_ebins(Cwd),
    Entries = lists:append(
                [[{M, match(M, Md5, App, Root, maps:get(atom_to_list(App), Ebins, []))}
                  || {M, Md5} <- Call(?MODULE, node_modules, [Mods])]
                 || {App, Root, Mods} <- OnNode]),
    add_code_paths(Entries),
    #{helper => node(),
      apps => [{atom_to_binary(App, utf8), unicode:characters_to_binary(Root)} || {App, Root, _} <- OnNode],
      modules => maps:from_list([{M, E} || {M, #{} = E} <- Entries]),
      unmatched => [M || {M, unmatched} <- Entries]}.

%% The project's applications and their directories, as the helper's Mix
%% reads projectDir's mix.exs (the current directory): [{App, Dir}].
project_apps(Cwd) ->
    try
        {ok, _} = application:ensure_all_started(mix),
        'Elixir.Mix.Project':in_project(
          elixir_dap_release_project, Cwd,
          fun(_) ->
                  apps_of(Cwd, 'Elixir.Mix.Project':config(), 'Elixir.Mix.Project':apps_paths())
          end)
    catch
        Class:Reason ->
            throw({error, #{kind => project_unreadable, dir => unicode:characters_to_binary(Cwd),
                            error => iolist_to_binary(format(Class, Reason))}})
    end.

%% The applications of a project in Cwd from what Mix read of its mix.exs:
%% its config (a keyword list) and, for an umbrella, its apps' paths
%% (Mix.Project.apps_paths/0: nil, or #{App => Path relative to Cwd}).
apps_of(Cwd, _Config, AppsPaths) when is_map(AppsPaths) ->
    lists:sort([{App, filename:absname(unicode:characters_to_list(Path), Cwd)}
                || {App, Path} <- maps:to_list(AppsPaths)]);
apps_of(Cwd, Config, nil) ->
    case proplists:get_value(app, Config) of
        App when is_atom(App), App =/= undefined, App =/= nil -> [{App, Cwd}];
        _ -> throw({error, #{kind => no_project_app, dir => unicode:characters_to_binary(Cwd)}})
    end.

%% #{"app" => [Ebin]}: every build of every application under _build
%% (MIX_ENV=prod for a release, usually; any environment whose code has
%% the node's MD5 serves).
build_ebins(Cwd) ->
    Build = filename:join(Cwd, "_build"),
    Envs = case file:list_dir(Build) of
               {ok, Es} -> lists:sort(Es);
               _ -> []
           end,
    lists:foldl(fun(Env, Acc) ->
                        Lib = filename:join([Build, Env, "lib"]),
                        Apps = case file:list_dir(Lib) of
                                   {ok, As} -> As;
                                   _ -> []
                               end,
                        lists:foldl(fun(App, In) ->
                                            Ebin = filename:join([Lib, App, "ebin"]),
                                            maps:update_with(App, fun(L) -> L ++ [Ebin] end, [Ebin], In)
                                    end, Acc, Apps)
                end, #{}, Envs).

%% The beam of Module under Ebins whose MD5 is the node's, with its debug
%% info; unmatched when none is.
match(Module, Md5, App, Root, Ebins) ->
    Candidates = [filename:join(E, atom_to_list(Module) ++ ".beam") || E <- Ebins],
    case [C || C <- Candidates, md5_of(C) =:= Md5] of
        [Beam | _] ->
            Recorded = case beam_lib:chunks(Beam, [compile_info]) of
                           {ok, {_, [{compile_info, Info}]}} -> proplists:get_value(source, Info);
                           _ -> undefined
                       end,
            #{app => atom_to_binary(App, utf8), beam => Beam, recorded => Recorded,
              source => source_here(Recorded, Root)};
        [] ->
            unmatched
    end.

md5_of(Beam) ->
    case beam_lib:md5(Beam) of
        {ok, {_, Md5}} -> Md5;
        _ -> none
    end.

%% Where the recorded source is now, under the application's directory (a
%% project moved since it was built): see elixir_dap_util:source_under/2,
%% which elixir_dap_project uses under Mix.
source_here(undefined, _Root) ->
    none;
source_here(Recorded, Root) ->
    source_under(Recorded, Root).

%% The compiles of a reload (compile_wave/1) run here: the project's code,
%% as the node runs it, must be on the helper's code path.
%% Every application of the build (the environment) the node's code was
%% found in: the project's and its dependencies'.
add_code_paths(Entries) ->
    Libs = lists:usort([filename:dirname(filename:dirname(filename:dirname(B))) || {_, #{beam := B}} <- Entries]),
    code:add_pathsa([Ebin || Lib <- Libs, {ok, Apps} <- [file:list_dir(Lib)],
                             Ebin <- [filename:join([Lib, App, "ebin"]) || App <- Apps], filelib:is_dir(Ebin)]).

%% The modules the helper's debugger application is made of, with its
%% application spec, for a node that lacks them ({debugger, Spec, [{M, Bin, File}]}).
%% Its graphical modules (dbg_wx_*) stay out: they need wx, and only the
%% interpreter is used.
-spec debugger_code() -> {debugger, list(), [{module(), binary(), file:filename()}]} | no_debugger.
debugger_code() ->
    _ = application:load(debugger),
    case application:get_all_key(debugger) of
        {ok, Keys} ->
            Mods = [M || M <- proplists:get_value(modules, Keys, []),
                         not lists:prefix("dbg_wx", atom_to_list(M)), M =/= debugger],
            Spec = [{K, V} || {K, V} <- Keys,
                              lists:member(K, [description, vsn, modules, registered, applications])],
            Code = [code:get_object_code(M) || M <- Mods],
            case lists:member(error, Code) of
                false -> {debugger, Spec, Code};
                true -> no_debugger
            end;
        undefined ->
            no_debugger
    end.

%% Runs in the helper: a file of projectDir, for the node.
-spec read_file(file:filename_all()) -> {ok, binary()} | {error, file:posix() | atom()}.
read_file(Path) ->
    file:read_file(Path).

%% Compiles Files (one wave of a reload) here and answers the object code:
%% {ok, [{Module, Source, Binary}], Warnings} or {error, Errors, Warnings},
%% as Kernel.ParallelCompiler answers. The modules are loaded here so that
%% a later wave compiles against them (Elixir 1.19+ does not load what it
%% compiles).
-spec compile_wave([binary()]) ->
    {ok, [{module(), binary(), binary()}], list()} | {error, [{module(), binary(), binary()}], list(), list()}.
compile_wave(Files) ->
    Self = self(),
    Ref = make_ref(),
    Dir = filename:join(tmp_dir(), "elixir_dap_release_" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    EachModule = fun(File, Module, Bin) -> Self ! {Ref, File, Module, Bin}, ok end,
    Conflict = 'Elixir.Code':get_compiler_option(ignore_module_conflict),
    'Elixir.Code':put_compiler_option(ignore_module_conflict, true),
    Result = try
                 'Elixir.Kernel.ParallelCompiler':compile_to_path(
                   Files, unicode:characters_to_binary(Dir), elixir_dap_util:compile_to_path_options(EachModule))
             after
                 'Elixir.Code':put_compiler_option(ignore_module_conflict, Conflict)
             end,
    Compiled = drain(Ref, []),
    [begin code:purge(M), code:load_binary(M, filename:join(Dir, atom_to_list(M) ++ ".beam"), Bin) end
     || {M, _, Bin} <- Compiled],
    %% The object code travels in memory: nothing of it stays on disk.
    [file:delete(filename:join(Dir, F)) || {ok, Beams} <- [file:list_dir(Dir)], F <- Beams],
    _ = file:del_dir(Dir),
    case Result of
        {ok, _, Warnings} -> {ok, Compiled, Warnings};
        {error, Errors, Warnings} -> {error, Compiled, Errors, Warnings}
    end.

drain(Ref, Acc) ->
    receive
        {Ref, File, Module, Bin} -> drain(Ref, [{Module, unicode:characters_to_binary(File), Bin} | Acc])
    after 0 ->
            lists:reverse(Acc)
    end.

tmp_dir() ->
    case os:getenv("TMPDIR") of
        Dir when is_list(Dir), Dir =/= "" -> Dir;
        _ -> "/tmp"
    end.

format(Class, Reason) ->
    try 'Elixir.Exception':format_banner(Class, Reason)
    catch _:_ -> io_lib:format("~0p", [Reason])
    end.

%% ---------------------------------------------------------------------------
%% The node's side

%% Runs in the node: each module of Mods with the MD5 of the code it runs
%% (or would load: a release in interactive mode loads on first call).
-spec node_modules([module()]) -> [{module(), binary()}].
node_modules(Mods) ->
    [{M, Md5} || M <- Mods, Md5 <- [node_md5(M)], Md5 =/= none].

node_md5(M) ->
    case code:is_loaded(M) of
        {file, _} -> elixir_dap_util:module_info(M, md5);
        false ->
            case code:which(M) of
                Path when is_list(Path) -> md5_of(Path);
                _ -> none
            end
    end.

%% The project as prepare/2 found it, or undefined when the node runs Mix.
-spec project() -> project() | undefined.
project() ->
    persistent_term:get(?PROJECT, undefined).

helper() ->
    maps:get(helper, project()).

%% The project's modules, as elixir_dap_project:list_modules/0 lists them
%% under Mix, and {Module, Recorded, Here} for each source found (what
%% elixir_dap_project remembers). A module of the node's whose MD5 no beam
%% under _build has is listed too, without a source: interpreting it says
%% why (shipped_code/1).
-spec list_modules() -> {[elixir_dap_project:module_entry()], [{module(), file:filename_all(), file:filename()}]}.
list_modules() ->
    #{modules := Modules, unmatched := Unmatched} = project(),
    Listed = [entry(M, maps:get(app, E), maps:get(source, E)) || {M, E} <- maps:to_list(Modules)],
    Missing = [entry(M, app_of(M), none) || M <- Unmatched],
    Sources = [{M, Recorded, Here} || {M, #{recorded := Recorded, source := Here}} <- maps:to_list(Modules),
                                      Here =/= none, Recorded =/= undefined],
    {Listed ++ Missing, Sources}.

entry(M, App, Source) ->
    #{module => M, name => module_name(M),
      source => case Source of none -> <<>>; _ -> unicode:characters_to_binary(Source) end,
      beam => case code:which(M) of P when is_list(P) -> unicode:characters_to_binary(P); _ -> <<>> end,
      %% A node attached to has no task to start, and so nothing to
      %% interpret before it.
      app => App, project => true, calls_dbg => false}.

app_of(M) ->
    case application:get_application(M) of
        {ok, App} -> atom_to_binary(App, utf8);
        undefined -> <<>>
    end.

%% {Source, Binary}: the object code with debug info of the version of M the
%% node runs, and its source (a path on the adapter's side), or
%% {error, Why}.
-spec object_code(module()) -> {file:filename() | none, binary()} | {error, elixir_dap_util:reason()}.
object_code(M) ->
    Md5 = elixir_dap_util:loaded_md5(M),
    case kept(M, Md5) of
        {ok, Source, Bin} -> {Source, Bin};
        none -> fetch(M, Md5)
    end.

kept(M, Md5) ->
    case ets:whereis(?TABLE) =/= undefined andalso ets:lookup(?TABLE, {M, Md5}) of
        [{_, Source, Bin}] -> {ok, Source, Bin};
        _ -> none
    end.

fetch(M, Md5) ->
    #{modules := Modules} = project(),
    case maps:find(M, Modules) of
        {ok, #{beam := Beam, source := Source}} ->
            case rpc:call(helper(), ?MODULE, read_file, [Beam], ?CALL_TIMEOUT) of
                {ok, Bin} ->
                    case code:module_md5(Bin) of
                        Md5 -> {Source, Bin};
                        _ -> {error, mismatch(M)}
                    end;
                Other ->
                    {error, #{kind => unreadable_on_adapter_side, file => unicode:characters_to_binary(Beam),
                              error => elixir_dap_util:format_term(Other)}}
            end;
        error ->
            {error, mismatch(M)}
    end.

mismatch(M) ->
    #{kind => build_mismatch, module => M}.

%% The object code (with debug info) of the version of M that runs, and
%% the name it was loaded under: {Binary, File}, or none (the snapshot a
%% reload takes, elixir_dap_reload).
-spec loaded_object_code(module()) -> {binary(), file:filename()} | none.
loaded_object_code(M) ->
    case object_code(M) of
        {_Source, Bin} when is_binary(Bin) -> {Bin, beam_name(M)};
        {error, _} -> none
    end.

%% One wave of a reload, compiled by the helper: answers as
%% Kernel.ParallelCompiler.compile_to_path/3 does, and calls EachModule for
%% each module compiled, as the compiler would; the object code is kept
%% here, by module and MD5, until the session ends (a rollback restores
%% an earlier version from it).
-spec compile_remote([binary()], fun((binary(), module(), binary()) -> term())) -> compile_result().
compile_remote(Files, EachModule) ->
    case rpc:call(helper(), ?MODULE, compile_wave, [Files], infinity) of
        {badrpc, Reason} ->
            error({the_helper_node_did_not_compile, Reason});
        Result ->
            Compiled = element(2, Result),
            ok = elixir_dap_tables:ensure(),
            [begin
                 ets:insert(?TABLE, {{M, code:module_md5(Bin)}, Source, Bin}),
                 EachModule(Source, M, Bin)
             end || {M, Source, Bin} <- Compiled],
            case Result of
                {ok, _, Warnings} -> {ok, [M || {M, _, _} <- Compiled], Warnings};
                {error, _, Errors, Warnings} -> {error, Errors, Warnings}
            end
    end.

%% What the interpreter needs of M, from the helper: {ok, Source, Text,
%% Binary, Beam} (elixir_dap_backend:interpret_shipped/5 takes them), or
%% {skipped, M, Why} as an interpretation answers.
-spec shipped_code(module()) ->
    {ok, file:filename(), binary(), binary(), file:filename()} | {skipped, module(), elixir_dap_util:reason()}.
shipped_code(M) ->
    case object_code(M) of
        {error, Why} -> {skipped, M, Why};
        {none, _} -> {skipped, M, #{kind => no_source_recorded}};
        {Source, Bin} ->
            case source_text(Source) of
                {ok, Text} -> {ok, Source, Text, Bin, beam_name(M)};
                {error, Why} -> {skipped, M, Why}
            end
    end.

%% The text of a source file on the adapter's side, read by the helper.
-spec source_text(file:filename_all()) -> {ok, binary()} | {error, elixir_dap_util:reason()}.
source_text(Source) ->
    case rpc:call(helper(), ?MODULE, read_file, [Source], ?CALL_TIMEOUT) of
        {ok, Text} -> {ok, Text};
        Other -> {error, #{kind => unreadable_on_adapter_side, file => unicode:characters_to_binary(Source),
                           error => elixir_dap_util:format_term(Other)}}
    end.

%% The name the module keeps on the node (code:which/1): its file there.
beam_name(M) ->
    case code:which(M) of
        Path when is_list(Path) -> Path;
        _ -> ""
    end.

%% Loads the helper's debugger modules into this node, which has none, and
%% its application spec (application:unload/1 on detach drops the spec).
-spec ship_debugger() -> ok.
ship_debugger() ->
    case rpc:call(helper(), ?MODULE, debugger_code, [], ?CALL_TIMEOUT) of
        {debugger, Spec, Code} ->
            Loaded = [M || {M, Bin, File} <- Code, code:load_binary(M, File, Bin) =:= {module, M}],
            persistent_term:put(?SHIPPED, Loaded),
            case application:load({application, debugger, Spec}) of
                ok -> ok;
                {error, {already_loaded, debugger}} -> ok
            end;
        no_debugger ->
            throw_error(helper_has_no_debugger, #{});
        Other ->
            throw_error(debugger_not_shipped, #{error => elixir_dap_util:format_term(Other)})
    end.

%% On detach, once the interpreter has stopped: the debugger modules
%% shipped by ship_debugger/0 leave the node.
-spec clean() -> ok.
clean() ->
    Shipped = persistent_term:get(?SHIPPED, []),
    [begin code:purge(M), code:delete(M), code:purge(M) end || M <- Shipped],
    ok.
