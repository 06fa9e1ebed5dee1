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

%% Each beam is read once, in one process per dirty I/O scheduler (a read
%% waits for one of those threads; on a busy machine, side by side), and
%% only what is needed of it is decoded. Measured at 2 000 modules
%% (docs/benchmarks.md, "Listing the modules"): file:read_file/1 is a call
%% to the one file server process, so the reads queued there whatever the
%% number of workers, and most of the CPU went to paths as strings
%% (filename:join/2, filelib:wildcard/2's matching, source_under/2's
%% splitting) and to beam_lib. So: the directory is listed once, each path is a binary, the
%% beam is read raw (prim_file:read_file/1, which file:read_file/2 calls
%% with the raw option; OTP 25 has no read_file/2), its chunk table walked
%% here (beam_chunks/1), and a source plainly under its application's
%% directory is not looked up (source_in/3).
modules_in(Ebin, Own, Roots) ->
    App = list_to_binary(filename:basename(filename:dirname(Ebin))),
    IsOwn = lists:member(App, Own),
    Root = case maps:get(App, Roots, none) of
               none -> none;
               AppDir -> {AppDir, root_prefix(AppDir)}
           end,
    Dir = unicode:characters_to_binary(Ebin),
    Workers = max(erlang:system_info(schedulers_online), erlang:system_info(dirty_io_schedulers)),
    elixir_dap_util:parallel_map(fun(Name) -> module_entry(Dir, Name, App, IsOwn, Root) end, beam_names(Ebin),
                                 Workers).

%% The names of the beams in Ebin, without their extension (binaries).
beam_names(Ebin) ->
    case file:list_dir(Ebin) of
        {ok, Names} -> lists:filtermap(fun beam_name/1, Names);
        {error, _} -> []
    end.

beam_name(Name) when is_list(Name) ->
    case unicode:characters_to_binary(Name) of
        Bin when is_binary(Bin), byte_size(Bin) > 5 ->
            Size = byte_size(Bin) - 5,
            case Bin of
                <<Stem:Size/binary, ".beam">> -> {true, Stem};
                _ -> false
            end;
        _ ->
            false
    end;
beam_name(_) ->
    false.

module_entry(Dir, Name, App, IsOwn, Root) ->
    Module = binary_to_atom(Name, utf8),
    BeamPath = <<Dir/binary, "/", Name/binary, ".beam">>,
    {Recorded, CallsDbg} = case prim_file:read_file(BeamPath) of
                               {ok, Bin} -> beam_facts(Bin);
                               {error, _} -> {undefined, false}
                           end,
    Source = case Recorded of
                 undefined -> <<>>;
                 _ -> unicode:characters_to_binary(source_here(Module, Recorded, Root))
             end,
    #{module => Module, name => module_name(Module), source => Source,
      beam => BeamPath, app => App, project => IsOwn, calls_dbg => CallsDbg}.

%% What a beam tells list_modules/0: the source path its compile_info
%% records (undefined when none) and whether it calls `dbg`
%% (imports_dbg/1). An uncompressed beam is read through its chunk table;
%% any other (gzipped, or not one beam_chunks/1 reads) through beam_lib.
-spec beam_facts(binary()) -> {file:filename_all() | undefined, boolean()}.
beam_facts(Bin) ->
    case beam_chunks(Bin) of
        {ok, CInf, Atoms} ->
            {compile_info_source(CInf),
             binary:match(Atoms, <<"elixir_dap_dbg">>) =/= nomatch andalso imports_dbg(Bin)};
        error ->
            case beam_lib:chunks(Bin, [compile_info, imports]) of
                {ok, {_, [{compile_info, Info}, {imports, Imports}]}} ->
                    {proplists:get_value(source, Info), lists:keymember(elixir_dap_dbg, 1, Imports)};
                _ ->
                    {undefined, false}
            end
    end.

%% The CInf and atom chunks of an uncompressed beam (<<>> for one absent),
%% found by walking its chunk table: "FOR1", the size, "BEAM", then each
%% chunk as its 4-byte id, its size and its data padded to 4 bytes.
-spec beam_chunks(binary()) -> {ok, binary(), binary()} | error.
beam_chunks(<<"FOR1", _:32, "BEAM", Chunks/binary>>) ->
    beam_chunks(Chunks, <<>>, <<>>);
beam_chunks(_) ->
    error.

beam_chunks(<<>>, CInf, Atoms) ->
    {ok, CInf, Atoms};
beam_chunks(<<Id:4/binary, Size:32, Rest/binary>>, CInf, Atoms) when byte_size(Rest) >= Size ->
    Pad = (4 - Size rem 4) rem 4,
    {Data, Next} = case Rest of
                       <<D:Size/binary, _:Pad/binary, N/binary>> -> {D, N};
                       <<D:Size/binary, _/binary>> -> {D, <<>>}
                   end,
    case Id of
        <<"CInf">> -> beam_chunks(Next, Data, Atoms);
        <<"AtU8">> -> beam_chunks(Next, CInf, Data);
        <<"Atom">> -> beam_chunks(Next, CInf, Data);
        _ -> beam_chunks(Next, CInf, Atoms)
    end;
beam_chunks(_, _, _) ->
    error.

compile_info_source(<<>>) ->
    undefined;
compile_info_source(CInf) ->
    try binary_to_term(CInf) of
        Info when is_list(Info) -> proplists:get_value(source, Info);
        _ -> undefined
    catch
        error:badarg -> undefined
    end.

%% Whether the module calls `dbg` as the adapter rewrites it
%% (elixir_dap_dbg): its imports name the module. A beam whose atom table
%% lacks the name cannot import it, so only the few that hold it are parsed.
imports_dbg(Bin) ->
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
source_here(Module, Recorded, {Root, Prefix}) ->
    remember_source(Module, Recorded, source_in(Recorded, Root, Prefix)).

%% source_under/2 of Recorded, without its splitting of both paths when
%% Recorded is plainly under Root (the usual case, a project that has not
%% moved): Root's path and a slash (root_prefix/1) start it, and it holds
%% no `.`, `..` or empty component, nor a trailing slash, that
%% filename:absname/1 would rewrite.
-spec source_in(file:filename_all(), file:filename_all(), binary() | none) -> file:filename().
source_in(Recorded, Root, none) ->
    source_under(Recorded, Root);
source_in(Recorded, Root, Prefix) ->
    Size = byte_size(Prefix),
    case unicode:characters_to_binary(Recorded) of
        <<Prefix:Size/binary, Rest/binary>> = Path ->
            case plain_relative(Rest) of
                true -> unicode:characters_to_list(Path);
                false -> source_under(Recorded, Root)
            end;
        _ ->
            source_under(Recorded, Root)
    end.

%% Root as an absolute path and a slash, as the paths under it start; none
%% for one that filename:absname/1 would rewrite (a root "/" or one not in
%% Unicode).
-spec root_prefix(file:filename_all()) -> binary() | none.
root_prefix(Root) ->
    case unicode:characters_to_binary(Root) of
        <<"/", _/binary>> = Dir ->
            case plain_relative(binary:part(Dir, 1, byte_size(Dir) - 1)) of
                true -> <<Dir/binary, "/">>;
                false -> none
            end;
        _ ->
            none
    end.

%% Whether Path (relative) is components joined by single slashes, none of
%% them empty, `.` or `..`.
plain_relative(<<>>) ->
    false;
plain_relative(Path) ->
    lists:all(fun(Part) -> Part =/= <<>> andalso Part =/= <<".">> andalso Part =/= <<"..">> end,
              binary:split(Path, <<"/">>, [global])).

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
    Recorded = try proplists:get_value(source, elixir_dap_util:module_info(Module, compile))
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
