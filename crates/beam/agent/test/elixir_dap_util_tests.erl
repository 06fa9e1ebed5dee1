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

deal_test_() ->
    [?_assertEqual([[1, 4], [2, 5], [3]], elixir_dap_util:deal([1, 2, 3, 4, 5], 3)),
     ?_assertEqual([[1], []], elixir_dap_util:deal([1], 2))].

line_of_test_() ->
    [?_assertEqual(7, elixir_dap_util:line_of({call, 7, {atom, 7, f}, []})),
     ?_assertEqual(7, elixir_dap_util:line_of({call, erl_anno:new({7, 3}), {atom, 7, f}, []})),
     ?_assertEqual(0, elixir_dap_util:line_of({nil})),
     ?_assertEqual(0, elixir_dap_util:line_of(atom))].
