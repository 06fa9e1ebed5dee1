%% EUnit tests of elixir_dap_expr (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_expr_tests).
-include_lib("eunit/include/eunit.hrl").

hit_reached_test_() ->
    [?_assert(elixir_dap_expr:hit_reached(nil, 1)),
     %% A bare number: from the Nth hit on.
     ?_assertNot(elixir_dap_expr:hit_reached({at_least, 3}, 2)),
     ?_assert(elixir_dap_expr:hit_reached({at_least, 3}, 3)),
     ?_assert(elixir_dap_expr:hit_reached({at_least, 3}, 4)),
     ?_assertNot(elixir_dap_expr:hit_reached({more_than, 2}, 2)),
     ?_assert(elixir_dap_expr:hit_reached({more_than, 2}, 3)),
     ?_assert(elixir_dap_expr:hit_reached({at_most, 2}, 2)),
     ?_assertNot(elixir_dap_expr:hit_reached({at_most, 2}, 3)),
     ?_assertNot(elixir_dap_expr:hit_reached({less_than, 2}, 2)),
     ?_assert(elixir_dap_expr:hit_reached({less_than, 2}, 1)),
     ?_assert(elixir_dap_expr:hit_reached({exactly, 5}, 5)),
     ?_assertNot(elixir_dap_expr:hit_reached({exactly, 5}, 6)),
     ?_assert(elixir_dap_expr:hit_reached({every, 3}, 6)),
     ?_assertNot(elixir_dap_expr:hit_reached({every, 3}, 7)),
     %% Anything else is a bug of the adapter's: it fails loudly.
     ?_assertError(function_clause, elixir_dap_expr:hit_reached(<<"3">>, 3))].

elixir_binding_test_() ->
    %% The latest version of each Elixir variable, under its Elixir name;
    %% underscored ones left out; Erlang names kept.
    [?_assertEqual([{x, 2}, {y, 3}],
                   elixir_dap_expr:elixir_binding([{'_x@1', 1}, {'_x@2', 2}, {'_y@1', 3}])),
     ?_assertEqual([{x, 2}], elixir_dap_expr:elixir_binding([{'_x@2', 2}, {'_x@1', 1}])),
     ?_assertEqual([{x, 1}], elixir_dap_expr:elixir_binding([{'Vx@1', 1}])),
     ?_assertEqual([], elixir_dap_expr:elixir_binding([{'__ignored@1', 1}])),
     ?_assertEqual([{'Count', 4}], elixir_dap_expr:elixir_binding([{'Count', 4}]))].

check_expressions_test_() ->
    {setup, fun start_elixir/0, fun(_) -> ok end,
     [?_assertEqual({ok, [ok]},
                    elixir_dap_expr:check_expressions([#{condition => <<"x > 1">>, log_expressions => [<<"x">>]}])),
      ?_assertMatch({ok, [#{field := condition, message := <<_/binary>>}]},
                    elixir_dap_expr:check_expressions([#{condition => <<"x >">>, log_expressions => []}])),
      %% The first log expression that does not parse is named.
      ?_assertMatch({ok, [#{field := log_message, expression := <<"x >">>, message := <<_/binary>>}]},
                    elixir_dap_expr:check_expressions([#{condition => nil,
                                                         log_expressions => [<<"y">>, <<"x >">>, <<"z +">>]}])),
      ?_assertEqual({ok, [ok, ok]},
                    elixir_dap_expr:check_expressions([#{condition => nil, log_expressions => []},
                                                       #{condition => <<"a">>, log_expressions => []}]))]}.

start_elixir() ->
    {ok, _} = application:ensure_all_started(elixir).
