%% EUnit tests of elixir_dap_backend_native's pure functions (run by
%% crates/beam/tests/agent_erlang.rs on every BEAM).
-module(elixir_dap_backend_native_tests).
-include_lib("eunit/include/eunit.hrl").

%% A variable's register, as code:get_debug_info/1 names it: X registers
%% only in the top frame (the registers saved at the stop), Y registers in
%% the frame's own slots; a value too large to read is not shown.
slot_value_test_() ->
    X = [{value, a}, {value, b}],
    Y = [{value, y0}, {too_large, 99}],
    [?_assertEqual({value, b}, elixir_dap_backend_native:slot_value({x, 1}, 0, X, Y)),
     ?_assertEqual(none, elixir_dap_backend_native:slot_value({x, 1}, 1, X, Y)),
     ?_assertEqual({value, y0}, elixir_dap_backend_native:slot_value({y, 0}, 2, X, Y)),
     ?_assertEqual(none, elixir_dap_backend_native:slot_value({y, 1}, 0, X, Y)),
     ?_assertEqual(none, elixir_dap_backend_native:slot_value({y, 5}, 0, X, Y)),
     ?_assertEqual({value, 3}, elixir_dap_backend_native:slot_value({value, 3}, 1, X, Y))].

%% Hit conditions, conditions and log messages are the breakpoint's checks.
has_checks_test_() ->
    [?_assertNot(elixir_dap_backend_native:has_checks(#{condition => nil, hit_condition => nil, log => nil})),
     ?_assert(elixir_dap_backend_native:has_checks(#{condition => <<"v">>, hit_condition => nil, log => nil}))].
