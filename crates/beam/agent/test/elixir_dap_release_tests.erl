%% EUnit tests of elixir_dap_release's pure parts: the project's
%% applications from what Mix read of mix.exs, and the beam under _build
%% whose MD5 is the node's (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_release_tests).
-include_lib("eunit/include/eunit.hrl").

apps_of_test_() ->
    Cwd = "/work/shop",
    [?_assertEqual([{shop, Cwd}], elixir_dap_release:apps_of(Cwd, [{app, shop}, {version, "0.1.0"}], nil)),
     %% An umbrella: every app, under the project, sorted.
     ?_assertEqual([{api, "/work/shop/apps/api"}, {core, "/work/shop/apps/core"}],
                   elixir_dap_release:apps_of(Cwd, [{apps_path, "apps"}],
                                              #{core => <<"apps/core">>, api => <<"apps/api">>})),
     %% A config without an app: the reason (the adapter blames `projectDir`).
     ?_assertThrow({error, #{kind := no_project_app, dir := <<"/work/shop">>}},
                   elixir_dap_release:apps_of(Cwd, [{version, "1.0.0"}], nil))].

%% Two builds of one module (dev and prod, different code): the beam whose
%% MD5 is the node's is found, with the source it records; another MD5
%% matches none.
match_test() ->
    Root = filename:join(temp_dir(), "elixir_dap_release_tests_" ++ os:getpid()),
    Source = filename:join([Root, "lib", "shop.erl"]),
    Dev = filename:join([Root, "_build", "dev", "lib", "shop", "ebin"]),
    Prod = filename:join([Root, "_build", "prod", "lib", "shop", "ebin"]),
    try
        ok = filelib:ensure_dir(Source),
        ok = file:write_file(Source, <<"-module(elixir_dap_release_tests_shop).">>),
        DevMd5 = write_beam(Dev, Source, 1),
        ProdMd5 = write_beam(Prod, Source, 2),
        ?assertNotEqual(DevMd5, ProdMd5),
        ProdBeam = filename:join(Prod, "elixir_dap_release_tests_shop.beam"),
        ?assertMatch(#{app := <<"shop">>, beam := ProdBeam, source := Source},
                     elixir_dap_release:match(elixir_dap_release_tests_shop, ProdMd5, shop, Root, [Dev, Prod])),
        ?assertEqual(unmatched, elixir_dap_release:match(elixir_dap_release_tests_shop, <<0:128>>, shop, Root,
                                                         [Dev, Prod]))
    after
        file:del_dir_r(Root)
    end.

%% A project moved since it was built: the recorded source is found under
%% the application's directory by the longest tail of its path.
source_here_test() ->
    Root = filename:join(temp_dir(), "elixir_dap_release_tests_src_" ++ os:getpid()),
    File = filename:join([Root, "lib", "shop", "cart.ex"]),
    try
        ok = filelib:ensure_dir(File),
        ok = file:write_file(File, <<"defmodule Shop.Cart, do: nil">>),
        ?assertEqual(File, elixir_dap_release:source_here(<<"/old/place/lib/shop/cart.ex">>, Root)),
        ?assertEqual(File, elixir_dap_release:source_here(list_to_binary(File), Root)),
        ?assertEqual(none, elixir_dap_release:source_here(undefined, Root))
    after
        file:del_dir_r(Root)
    end.

%% Compiles a module answering Version into Ebin, recording Source; answers
%% its MD5.
write_beam(Ebin, Source, Version) ->
    Forms = [{attribute, 1, module, elixir_dap_release_tests_shop},
             {attribute, 2, export, [{version, 0}]},
             {function, 3, version, 0, [{clause, 3, [], [], [{integer, 3, Version}]}]}],
    {ok, M, Bin} = compile:forms(Forms, [binary, debug_info, {source, Source}]),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    ok = file:write_file(filename:join(Ebin, atom_to_list(M) ++ ".beam"), Bin),
    code:module_md5(Bin).

temp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        Dir -> Dir
    end.
