%% elixir_dap_project: the Mix project as the agent sees it: its
%% applications, the modules compiled into its build path, and where each
%% module's source is now.
-module(elixir_dap_project).
-export([list_modules/0, build_ebin_dirs/1, project_apps/0, module_source/1, recorded_source/2]).
-export_type([module_entry/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [module_name/1, source_under/2]).

-define(BREAKS, elixir_dap_breaks).

%% One module of list_modules/0: its beam, source (<<>> when unknown),
%% application, whether that is the project's own, and whether it calls
%% `dbg` (its callers are interpreted before the task starts).
-type module_entry() :: #{module := module(), name := binary(), source := binary(), beam := binary(),
                          app := binary(), project := boolean(), calls_dbg := boolean()}.

%% Every module compiled into the build path (the project's apps and its
%% path dependencies), with its source and whether it is the project's own.
%% A node without Mix (a release): the project's modules as the helper
%% matched them (elixir_dap_release).
-spec list_modules() -> {ok, [module_entry()]}.
list_modules() ->
    case elixir_dap_release:project() of
        undefined ->
            list_mix_modules();
        _ ->
            {Entries, Sources} = elixir_dap_release:list_modules(),
            [remember_source(M, Recorded, Here) || {M, Recorded, Here} <- Sources],
            {ok, Entries}
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
-spec build_ebin_dirs(file:filename_all()) -> [file:filename()].
build_ebin_dirs(Build) ->
    Lib = filename:join(unicode:characters_to_list(Build), "lib"),
    case file:list_dir(Lib) of
        {ok, Apps} ->
            [Ebin || App <- lists:sort(Apps), Ebin <- [filename:join([Lib, App, "ebin"])], filelib:is_dir(Ebin)];
        {error, _} ->
            []
    end.

-spec project_apps() -> [atom()].
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

%% Each beam is read once, in one process per scheduler (2 000 beams took
%% 0.5 s read one after the other, and the `dbg` callers another 0.35 s in
%% a second pass).
modules_in(Ebin, Own, Roots) ->
    App = list_to_binary(filename:basename(filename:dirname(Ebin))),
    IsOwn = lists:member(App, Own),
    Root = maps:get(App, Roots, none),
    elixir_dap_util:parallel_map(fun(Beam) -> module_entry(filename:join(Ebin, Beam), App, IsOwn, Root) end,
                                 filelib:wildcard("*.beam", Ebin)).

module_entry(BeamPath, App, IsOwn, Root) ->
    Module = list_to_atom(filename:basename(BeamPath, ".beam")),
    Bin = case file:read_file(BeamPath) of
              {ok, Read} -> Read;
              {error, _} -> <<>>
          end,
    Source = case beam_lib:chunks(Bin, [compile_info]) of
                 {ok, {_, [{compile_info, Info}]}} ->
                     case proplists:get_value(source, Info) of
                         undefined -> <<>>;
                         Recorded -> unicode:characters_to_binary(source_here(Module, Recorded, Root))
                     end;
                 _ -> <<>>
             end,
    #{module => Module, name => module_name(Module), source => Source,
      beam => unicode:characters_to_binary(BeamPath), app => App, project => IsOwn,
      calls_dbg => calls_dbg(Bin)}.

%% Whether the module calls `dbg` as the adapter rewrites it
%% (elixir_dap_dbg): its imports name the module. The atom table of a beam
%% is stored uncompressed, so a beam without the name cannot import it and
%% only the few that hold it are parsed.
calls_dbg(Bin) ->
    binary:match(Bin, <<"elixir_dap_dbg">>) =/= nomatch andalso
        case beam_lib:chunks(Bin, [imports]) of
            {ok, {_, [{imports, Imports}]}} -> lists:keymember(elixir_dap_dbg, 1, Imports);
            _ -> false
        end.

%% ---------------------------------------------------------------------------
%% Sources
%%
%% A beam names the absolute path its source had when it was compiled. A
%% project moved or copied together with its _build (a renamed folder, a
%% container volume, a CI cache) is not recompiled by Mix, so those paths
%% name the old place: gone, or another copy of the project. The source of a
%% module is therefore looked up under its application's directory as it is
%% now (elixir_dap_util:source_under/2). The result is kept per module, with
%% the recorded path it came from (a reload that recompiles the module
%% records a new one).

source_here(Module, Recorded, none) ->
    remember_source(Module, Recorded, Recorded);
source_here(Module, Recorded, Root) ->
    remember_source(Module, Recorded, source_under(Recorded, Root)).

remember_source(Module, Recorded, Here) ->
    ets:insert(?BREAKS, {{?MODULE, source, Module}, Recorded, Here}),
    Here.

%% Where the source a beam records (Recorded) is now, as list_modules/0
%% found it.
-spec recorded_source(module(), file:filename_all()) -> file:filename_all().
recorded_source(Module, Recorded) ->
    case ets:lookup(?BREAKS, {?MODULE, source, Module}) of
        [{_, Recorded, Here}] -> Here;
        _ -> Recorded
    end.

%% The source file of a loaded or listed module, as a string, or none: the
%% path found by list_modules/0 while the module is still compiled from the
%% same recorded path, else the path the compiler recorded.
-spec module_source(module()) -> file:filename() | none.
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
