%% EUnit tests of elixir_dap_agent's pure functions (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_agent_tests).
-include_lib("eunit/include/eunit.hrl").

compile_failure_message_test_() ->
    [?_assertEqual(<<"compilation failed">>, elixir_dap_agent:compile_failure_message([])),
     %% The first error, first line of its message.
     ?_assertEqual(<<"compilation failed: lib/a.ex:4: undefined variable\"x\"">>,
                   elixir_dap_agent:compile_failure_message(
                     [#{file => <<"lib/a.ex">>, line => 4, message => <<"undefined variable\"x\"\n  more">>},
                      #{file => <<"lib/b.ex">>, line => 1, message => <<"other">>}]))].

unknown_request_test() ->
    ?assertMatch({error, #{kind := unknown_request, message := <<"unknown request {no,such}">>}},
                 elixir_dap_agent:execute({no, such})).

ping_test() ->
    ?assertEqual({ok, pong}, elixir_dap_agent:execute(ping)).
