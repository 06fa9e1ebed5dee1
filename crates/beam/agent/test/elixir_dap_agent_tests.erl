%% EUnit tests of elixir_dap_agent's pure functions (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_agent_tests).
-include_lib("eunit/include/eunit.hrl").

%% A failure is a reason: its kind and parameters, no words.
unknown_request_test() ->
    ?assertEqual({error, #{kind => unknown_request, request => <<"{no,such}">>}},
                 elixir_dap_agent:execute({no, such})).

%% A request that raises: the VM's formatted exception is the parameter.
exception_test() ->
    ?assertMatch({error, #{kind := exception, exception := <<_/binary>>}},
                 elixir_dap_agent:execute({reload_resume, not_a_list})).

ping_test() ->
    ?assertEqual({ok, pong}, elixir_dap_agent:execute(ping)).
