%% EUnit tests of elixir_dap_backend_int's pure functions (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_backend_int_tests).
-include_lib("eunit/include/eunit.hrl").

deal_test_() ->
    [?_assertEqual([[1, 4], [2, 5], [3]], elixir_dap_backend_int:deal([1, 2, 3, 4, 5], 3)),
     ?_assertEqual([[1], []], elixir_dap_backend_int:deal([1], 2))].

meta_command_test_() ->
    [?_assertEqual(step, elixir_dap_backend_int:meta_command(step_in)),
     ?_assertEqual(finish, elixir_dap_backend_int:meta_command(step_out)),
     ?_assertEqual(next, elixir_dap_backend_int:meta_command(next))].

%% A fun called from native code: its frame holds dbg_ieval:eval_fun's
%% arguments, and its arity is that of Args.
mfa_function_test_() ->
    [?_assertEqual({f, 2}, elixir_dap_backend_int:mfa_function({m, f, [[clause], [a, b], [], {m, f}]})),
     ?_assertEqual({f, 1}, elixir_dap_backend_int:mfa_function({m, f, [[clause], [a], [], name, fn, {m, f}]})),
     ?_assertEqual({f, 3}, elixir_dap_backend_int:mfa_function({m, f, [a, b, c]})),
     ?_assertEqual({f, 3}, elixir_dap_backend_int:mfa_function({m, f, 3})),
     ?_assertEqual({unknown, 0}, elixir_dap_backend_int:mfa_function(nothing))].

refused_application_test_() ->
    [?_assertEqual({app, stdlib}, elixir_dap_backend_int:refused_application("/otp/lib/stdlib-5.0/src/lists.erl")),
     ?_assertEqual(false, elixir_dap_backend_int:refused_application("/project/lib/shop/src/cart.erl")),
     ?_assertEqual(false, elixir_dap_backend_int:refused_application("/project/lib/cart.ex"))].

body_lines_test() ->
    {ok, Tokens, _} = erl_scan:string("f(X) ->\n  Y = X + 1,\n  case Y of\n    2 -> a;\n    _ -> b\n  end.", 1),
    {ok, Form} = erl_parse:parse_form(Tokens),
    ?assertEqual([2, 3, 4, 5], lists:usort(elixir_dap_backend_int:body_lines([Form]))).

queued_call_test_() ->
    [?_assert(elixir_dap_backend_int:queued_call({re_entry, m, f})),
     ?_assert(elixir_dap_backend_int:queued_call({sys, from, msg})),
     ?_assertNot(elixir_dap_backend_int:queued_call({int, stop}))].
