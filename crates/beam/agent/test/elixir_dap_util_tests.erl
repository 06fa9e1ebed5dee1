%% EUnit tests of elixir_dap_util (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_util_tests).
-include_lib("eunit/include/eunit.hrl").

diagnostic_test_() ->
    [?_assertEqual(#{file => <<"lib/a.ex">>, line => 3, column => 0, severity => warning, message => <<"unused">>},
                   elixir_dap_util:diagnostic(#{file => "lib/a.ex", position => 3, severity => warning,
                                                message => <<"unused">>})),
     %% Positions as each Elixir version reports them.
     ?_assertMatch(#{line := 3, column := 7}, elixir_dap_util:diagnostic(#{position => {3, 7}})),
     ?_assertMatch(#{line := 3, column := 7}, elixir_dap_util:diagnostic(#{position => {{3, 7}, {3, 9}}})),
     ?_assertMatch(#{line := 0, column := 0, file := <<>>, severity := error},
                   elixir_dap_util:diagnostic(#{position => nil}))].

mfa_module_test_() ->
    [?_assertEqual(lists, elixir_dap_util:mfa_module({lists, map, 2})),
     ?_assertEqual(?MODULE, elixir_dap_util:mfa_module({fun() -> ok end, []})),
     ?_assertEqual(undefined, elixir_dap_util:mfa_module(nothing))].

format_test_() ->
    [?_assertEqual(<<"{a,[1,2]}">>, elixir_dap_util:format_term({a, [1, 2]})),
     ?_assertEqual(<<"first">>, elixir_dap_util:first_text_line([<<"first\n">>, "second"])),
     ?_assertEqual("/o/Elixir.Shop.beam", elixir_dap_util:overlay_file("/o", 'Elixir.Shop'))].

throw_error_test_() ->
    [?_assertThrow({agent_error, #{kind := no_beam, module := lists}},
                   elixir_dap_util:throw_error(no_beam, #{module => lists})),
     ?_assertEqual(lists, elixir_dap_util:to_atom(<<"lists">>, module)),
     ?_assertThrow({agent_error, #{kind := unknown_name, what := module,
                                   name := <<"elixir_dap_no_such_module_ever">>}},
                   elixir_dap_util:to_atom(<<"elixir_dap_no_such_module_ever">>, module))].

internal_test() ->
    Self = self(),
    Pid = spawn(elixir_dap_util:internal(fun() -> Self ! {marked, get('$elixir_dap_internal')} end)),
    receive {marked, Marked} -> ?assertEqual(true, Marked) after 5000 -> error({no_answer_from, Pid}) end.

%% Events go to the channel's process, registered as elixir_dap_agent.
send_event_test() ->
    true = register(elixir_dap_agent, self()),
    try
        ?assertEqual(ok, elixir_dap_util:send_event(stopped, #{line => 3})),
        receive
            Message -> ?assertEqual({send, {event, stopped, #{line => 3}}}, Message)
        after 5000 -> error(no_event_sent)
        end
    after
        unregister(elixir_dap_agent)
    end.

parallel_map_test_() ->
    Many = lists:seq(1, 1001),
    [?_assertEqual([X * 2 || X <- Many], lists:sort(elixir_dap_util:parallel_map(fun(X) -> X * 2 end, Many))),
     ?_assertEqual([], elixir_dap_util:parallel_map(fun(X) -> X end, [])),
     %% Each element once, computed in other processes than the caller's.
     ?_assertEqual(false, lists:member(self(), elixir_dap_util:parallel_map(fun(_) -> self() end, Many))),
     %% A worker that crashes loses its share, not the others'.
     ?_assert(begin
                  Kept = elixir_dap_util:parallel_map(fun(0) -> exit(boom); (X) -> X end, lists:seq(0, 9)),
                  Kept -- lists:seq(1, 9) =:= [] andalso length(Kept) < 10
              end)].

%% With more workers than items (the I/O-bound share of list_modules):
%% every result, none twice.
parallel_map_workers_test_() ->
    [?_assertEqual([2, 4, 6], lists:sort(elixir_dap_util:parallel_map(fun(X) -> 2 * X end, [1, 2, 3], 10))),
     ?_assertEqual([], elixir_dap_util:parallel_map(fun(X) -> X end, [], 4))].

deal_test_() ->
    [?_assertEqual([[1, 4], [2, 5], [3]], elixir_dap_util:deal([1, 2, 3, 4, 5], 3)),
     ?_assertEqual([[1], []], elixir_dap_util:deal([1], 2))].

line_of_test_() ->
    [?_assertEqual(7, elixir_dap_util:line_of({call, 7, {atom, 7, f}, []})),
     ?_assertEqual(7, elixir_dap_util:line_of({call, erl_anno:new({7, 3}), {atom, 7, f}, []})),
     ?_assertEqual(0, elixir_dap_util:line_of({nil})),
     ?_assertEqual(0, elixir_dap_util:line_of(atom))].

is_under_test_() ->
    [?_assert(elixir_dap_util:is_under("/p/lib/a.ex", "/p")),
     ?_assertNot(elixir_dap_util:is_under("/other/lib/a.ex", "/p")),
     %% A sibling whose name starts like the root is not under it.
     ?_assertNot(elixir_dap_util:is_under("/p2/lib/a.ex", "/p"))].

%% A project moved with its _build (elixir_dap_project under Mix,
%% elixir_dap_release for a release): the recorded path when it lies under
%% the application's directory, else the longest tail of it that exists
%% there, else the recorded path.
source_under_test() ->
    Tmp = case os:getenv("TMPDIR") of
              false -> "/tmp";
              Dir -> Dir
          end,
    Base = filename:join(Tmp, "elixir_dap_util_tests_" ++ os:getpid()),
    Root = filename:join(Base, "now"),
    Old = filename:join(Base, "old"),
    File = filename:join([Root, "lib", "shop", "cart.ex"]),
    OldCopy = filename:join([Old, "lib", "shop", "cart.ex"]),
    try
        [begin ok = filelib:ensure_dir(F), ok = file:write_file(F, <<"defmodule Shop.Cart, do: nil">>) end
         || F <- [File, OldCopy]],
        ?assertEqual(File, elixir_dap_util:source_under("/old/place/lib/shop/cart.ex", Root)),
        ?assertEqual(File, elixir_dap_util:source_under(<<"/old/place/lib/shop/cart.ex">>, list_to_binary(Root))),
        %% Another copy of the project that still exists: the one under Root.
        ?assertEqual(File, elixir_dap_util:source_under(OldCopy, Root)),
        ?assertEqual(File, elixir_dap_util:source_under(File, Root)),
        %% Under Root but gone (deleted since): as recorded.
        Deleted = filename:join([Root, "lib", "gone.ex"]),
        ?assertEqual(Deleted, elixir_dap_util:source_under(Deleted, Root)),
        %% Found nowhere under Root: as recorded.
        Gone = "/old/place/lib/shop/gone.ex",
        ?assertEqual(Gone, elixir_dap_util:source_under(Gone, Root)),
        ?assert(elixir_dap_util:is_regular_raw(File)),
        ?assertNot(elixir_dap_util:is_regular_raw(Root))
    after
        file:del_dir_r(Base)
    end.
