%% EUnit tests of elixir_dap_reload's pure decisions (run by
%% crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_reload_tests).
-include_lib("eunit/include/eunit.hrl").

%% Which initial calls are the interpreter's or the agent's (never held),
%% and which run the program (held).
internal_call_test_() ->
    [?_assert(elixir_dap_reload:internal_call({dbg_ieval, meta_loop, 3})),
     ?_assert(elixir_dap_reload:internal_call({elixir_dap_agent, loop, 1})),
     ?_assertNot(elixir_dap_reload:internal_call({elixir_dap_agent, '-run_task/1-fun-0-', 0})),
     ?_assertNot(elixir_dap_reload:internal_call({elixir_dap_agent, '-exec_fun/2-fun-0-', 0})),
     ?_assertNot(elixir_dap_reload:internal_call({elixir_dap_backend_int, '-run_evaluation/5-fun-0-', 0})),
     ?_assertNot(elixir_dap_reload:internal_call({'Elixir.Shop.Cart', init, 1})),
     ?_assertNot(elixir_dap_reload:internal_call(undefined))].

system_name_test_() ->
    [?_assertNot(elixir_dap_reload:system_name([])),
     ?_assert(elixir_dap_reload:system_name(code_server)),
     ?_assert(elixir_dap_reload:system_name(elixir_dap_tables)),
     ?_assert(elixir_dap_reload:system_name(dbg_iserver)),
     ?_assertNot(elixir_dap_reload:system_name('Elixir.Shop.Cart'))].

warnings_test_() ->
    [?_assertEqual([a, b], elixir_dap_reload:warning_list(#{compile_warnings => [a], runtime_warnings => [b]})),
     ?_assertEqual([a], elixir_dap_reload:warning_list([a])),
     ?_assertEqual([], elixir_dap_reload:warning_list(nil)),
     ?_assertMatch([#{file := <<"a.ex">>, line := 2, severity := warning}],
                   elixir_dap_reload:diagnostics([{<<"a.ex">>, 2, <<"w">>}], warning)),
     ?_assertMatch([#{file := <<>>, line := 0, message := <<"odd">>}],
                   elixir_dap_reload:diagnostics([odd], error))].

known_modules_test() ->
    ?assertEqual([lists], elixir_dap_reload:known_modules([<<"lists">>, <<"elixir_dap_no_such_atom_ever">>])).

%% ERL_COMPILER_OPTIONS for a batch that runs interpreted: no_ssa_opt first,
%% the user's options kept in every form compile:env_default_opts/0 reads
%% (unset, empty, a list, a single term), and a value that does not parse
%% left alone.
unoptimized_options_test_() ->
    Parsed = fun(Text) ->
                     {ok, Tokens, _} = erl_scan:string(Text ++ "."),
                     {ok, Term} = erl_parse:parse_term(Tokens),
                     Term
             end,
    [?_assertEqual([no_ssa_opt], Parsed(elixir_dap_reload:unoptimized_options(false))),
     ?_assertEqual([no_ssa_opt], Parsed(elixir_dap_reload:unoptimized_options(""))),
     ?_assertEqual([no_ssa_opt, beam_debug_info, {parse_transform, ms_transform}],
                   Parsed(elixir_dap_reload:unoptimized_options("[beam_debug_info,{parse_transform,ms_transform}]"))),
     ?_assertEqual([no_ssa_opt, report], Parsed(elixir_dap_reload:unoptimized_options("report"))),
     ?_assertEqual([no_ssa_opt, {d, 'DEBUG', "x y"}],
                   Parsed(elixir_dap_reload:unoptimized_options("{d, 'DEBUG', \"x y\"}"))),
     ?_assertEqual(none, elixir_dap_reload:unoptimized_options("[unterminated")),
     ?_assertEqual(none, elixir_dap_reload:unoptimized_options("'unterminated_atom"))].

%% The variable is set for the compile only, and put back as it was (unset,
%% or the user's value), also when the compile raises.
with_optimization_test_() ->
    Var = "ERL_COMPILER_OPTIONS",
    Seen = fun() -> os:getenv(Var) end,
    {setup,
     fun() -> os:getenv(Var) end,
     fun(false) -> os:unsetenv(Var); (Before) -> os:putenv(Var, Before) end,
     [fun() ->
              os:unsetenv(Var),
              ?assertEqual("[no_ssa_opt]", elixir_dap_reload:with_optimization(false, Seen)),
              ?assertEqual(false, os:getenv(Var)),
              ?assertEqual(false, elixir_dap_reload:with_optimization(true, Seen)),
              os:putenv(Var, "report"),
              ?assertEqual("[no_ssa_opt,report]", elixir_dap_reload:with_optimization(false, Seen)),
              ?assertEqual("report", os:getenv(Var)),
              ?assertError(boom, elixir_dap_reload:with_optimization(false, fun() -> error(boom) end)),
              ?assertEqual("report", os:getenv(Var))
      end]}.
