%% EUnit tests of elixir_dap_project's source lookup (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_project_tests).
-include_lib("eunit/include/eunit.hrl").

is_under_test_() ->
    [?_assert(elixir_dap_project:is_under("/p/lib/a.ex", "/p")),
     ?_assertNot(elixir_dap_project:is_under("/other/lib/a.ex", "/p")),
     %% A sibling whose name starts like the root is not under it.
     ?_assertNot(elixir_dap_project:is_under("/p2/lib/a.ex", "/p"))].

%% A project moved with its _build: the longest tail of the recorded path
%% that exists under the application's directory now.
tail_under_test() ->
    Root = filename:join(temp_dir(), "elixir_dap_project_tests_" ++ os:getpid()),
    File = filename:join([Root, "lib", "shop", "cart.ex"]),
    ok = filelib:ensure_dir(File),
    ok = file:write_file(File, <<"defmodule Shop.Cart, do: nil">>),
    try
        Old = "/old/place/lib/shop/cart.ex",
        ?assertEqual(File, elixir_dap_project:tail_under(Root, filename:split(Old), Old)),
        Gone = "/old/place/lib/shop/gone.ex",
        ?assertEqual(Gone, elixir_dap_project:tail_under(Root, filename:split(Gone), Gone))
    after
        file:del_dir_r(Root)
    end.

temp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        Dir -> Dir
    end.
