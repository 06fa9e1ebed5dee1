%% EUnit tests of elixir_dap_lazy's pure functions (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_lazy_tests).
-include_lib("eunit/include/eunit.hrl").

%% The abstract forms of Erlang source text, one function per string.
forms(Functions) ->
    [begin
         {ok, Tokens, _} = erl_scan:string(F),
         {ok, Form} = erl_parse:parse_form(Tokens),
         Form
     end || F <- Functions].

%% Line 2 calls b:f/0 inside c:g/1 and, on line 3, a fun in a variable.
source() ->
    forms(["run(X) ->\n"
           "    c:g(b:f()),\n"
           "    X(),\n"
           "    case X of _ -> d:h(), self() end,\n"
           "    erlang:apply(e, i, []),\n"
           "    fun lists:map/2.\n"]).

calls_on_line_test_() ->
    Targets = fun(Line) -> elixir_dap_lazy:targets(here, elixir_dap_lazy:calls_on_line(source(), Line, [])) end,
    [?_assertEqual(#{modules => [b, c], dynamic => false}, Targets(2)),
     ?_assertEqual(#{modules => [], dynamic => true}, Targets(3)),
     %% A case on the line: the calls of its branches count.
     ?_assertEqual(#{modules => [d], dynamic => false}, Targets(4)),
     ?_assertEqual(#{modules => [], dynamic => true}, Targets(5)),
     %% A remote capture: the step may enter it when called.
     ?_assertEqual(#{modules => [lists], dynamic => false}, Targets(6)),
     ?_assertEqual(#{modules => [], dynamic => false}, Targets(9))].

targets_test_() ->
    [?_assertEqual(#{modules => [b], dynamic => false},
                   elixir_dap_lazy:targets(a, [{module, a}, {module, b}, {module, b}])),
     ?_assertEqual(#{modules => [], dynamic => true}, elixir_dap_lazy:targets(a, [dynamic]))].
