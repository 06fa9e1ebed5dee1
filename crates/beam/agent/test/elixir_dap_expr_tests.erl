%% EUnit tests of elixir_dap_expr (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_expr_tests).
-include_lib("eunit/include/eunit.hrl").

hit_reached_test_() ->
    [?_assert(elixir_dap_expr:hit_reached(nil, 1)),
     %% A bare number: from the Nth hit on.
     ?_assertNot(elixir_dap_expr:hit_reached(<<"3">>, 2)),
     ?_assert(elixir_dap_expr:hit_reached(<<"3">>, 3)),
     ?_assert(elixir_dap_expr:hit_reached(<<" 3 ">>, 4)),
     ?_assert(elixir_dap_expr:hit_reached(<<">= 2">>, 2)),
     ?_assertNot(elixir_dap_expr:hit_reached(<<"> 2">>, 2)),
     ?_assert(elixir_dap_expr:hit_reached(<<"> 2">>, 3)),
     ?_assert(elixir_dap_expr:hit_reached(<<"<= 2">>, 2)),
     ?_assertNot(elixir_dap_expr:hit_reached(<<"< 2">>, 2)),
     ?_assert(elixir_dap_expr:hit_reached(<<"== 5">>, 5)),
     ?_assert(elixir_dap_expr:hit_reached(<<"= 5">>, 5)),
     ?_assertNot(elixir_dap_expr:hit_reached(<<"== 5">>, 6)),
     ?_assert(elixir_dap_expr:hit_reached(<<"% 3">>, 6)),
     ?_assertNot(elixir_dap_expr:hit_reached(<<"% 3">>, 7)),
     %% "% 0" never stops rather than dividing by zero.
     ?_assertNot(elixir_dap_expr:hit_reached(<<"% 0">>, 3)),
     %% Text the adapter should have refused stops always.
     ?_assert(elixir_dap_expr:hit_reached(<<"often">>, 1))].

elixir_binding_test_() ->
    %% The latest version of each Elixir variable, under its Elixir name;
    %% underscored ones left out; Erlang names kept.
    [?_assertEqual([{x, 2}, {y, 3}],
                   elixir_dap_expr:elixir_binding([{'_x@1', 1}, {'_x@2', 2}, {'_y@1', 3}])),
     ?_assertEqual([{x, 2}], elixir_dap_expr:elixir_binding([{'_x@2', 2}, {'_x@1', 1}])),
     ?_assertEqual([{x, 1}], elixir_dap_expr:elixir_binding([{'Vx@1', 1}])),
     ?_assertEqual([], elixir_dap_expr:elixir_binding([{'__ignored@1', 1}])),
     ?_assertEqual([{'Count', 4}], elixir_dap_expr:elixir_binding([{'Count', 4}]))].

char_offset_test_() ->
    Text = "ab\ncd}",
    [?_assertEqual(0, elixir_dap_expr:char_offset(Text, 1, 1)),
     ?_assertEqual(1, elixir_dap_expr:char_offset(Text, 1, 2)),
     ?_assertEqual(5, elixir_dap_expr:char_offset(Text, 2, 3)),
     %% A line past the end: the end.
     ?_assertEqual(6, elixir_dap_expr:char_offset(Text, 9, 1))].

split_log_message_test_() ->
    {setup, fun start_elixir/0, fun(_) -> ok end,
     [?_assertEqual({ok, [<<"x = ">>, {expr, <<"x">>}, <<"!">>]},
                    elixir_dap_expr:split_log_message(<<"x = {x}!">>)),
      ?_assertEqual({ok, [<<"{literal}">>]}, elixir_dap_expr:split_log_message(<<"{{literal}}">>)),
      %% A `}` inside the expression (a map) does not end it.
      ?_assertEqual({ok, [{expr, <<"%{a: 1}">>}]}, elixir_dap_expr:split_log_message(<<"{%{a: 1}}">>)),
      ?_assertMatch({error, <<"an empty `{}`", _/binary>>}, elixir_dap_expr:split_log_message(<<"a {} b">>)),
      ?_assertMatch({error, <<"no `}` closes the expression `{x + 1", _/binary>>},
                    elixir_dap_expr:split_log_message(<<"{x + 1">>))]}.

check_expressions_test_() ->
    {setup, fun start_elixir/0, fun(_) -> ok end,
     [?_assertEqual({ok, [ok]}, elixir_dap_expr:check_expressions([#{condition => <<"x > 1">>, log_message => nil}])),
      ?_assertMatch({ok, [#{field := condition, message := <<_/binary>>}]},
                    elixir_dap_expr:check_expressions([#{condition => <<"x >">>, log_message => nil}])),
      ?_assertMatch({ok, [#{field := log_message}]},
                    elixir_dap_expr:check_expressions([#{condition => nil, log_message => <<"{x >}">>}]))]}.

start_elixir() ->
    {ok, _} = application:ensure_all_started(elixir).
