%% Checks of the agent's shape, run by crates/beam/tests/agent_erlang.rs on
%% the compiled agent (beams with debug info in Dir):
%% - no call cycle among the agent's modules (OTP's xref, module graph);
%% - a -spec for every exported function;
%% - no module but the interpreter backend calls int or a dbg_* module, and
%%   none but the native backend calls erl_debugger.
%% Prints one line per violation and halts with 1 if there is one, else 0.
-module(elixir_dap_agent_check).
-export([main/1]).

-define(BACKEND, elixir_dap_backend_int).
-define(NATIVE, elixir_dap_backend_native).

-spec main([string()]) -> no_return().
main([Dir]) ->
    {ok, _} = xref:start(?MODULE),
    xref:set_default(?MODULE, [{warnings, false}, {verbose, false}]),
    {ok, Modules} = xref:add_directory(?MODULE, Dir),
    Problems = cycles(Modules) ++ missing_specs(Dir, Modules) ++ interpreter_calls(Modules),
    [io:format("~ts~n", [P]) || P <- Problems],
    io:format("checked ~b modules: ~b problems~n", [length(Modules), length(Problems)]),
    halt(case Problems of [] -> 0; _ -> 1 end).

cycles(Modules) ->
    {ok, Edges} = xref:q(?MODULE, "ME"),
    Graph = digraph:new(),
    [digraph:add_vertex(Graph, M) || M <- Modules],
    [digraph:add_edge(Graph, From, To)
     || {From, To} <- Edges, From =/= To, lists:member(From, Modules), lists:member(To, Modules)],
    [io_lib:format("call cycle among agent modules: ~0p", [Cycle])
     || Cycle <- digraph_utils:cyclic_strong_components(Graph)].

missing_specs(Dir, Modules) ->
    lists:append([missing_specs_of(filename:join(Dir, atom_to_list(M) ++ ".beam"), M) || M <- Modules]).

missing_specs_of(Beam, Module) ->
    {ok, {Module, [{abstract_code, {raw_abstract_v1, Forms}}]}} = beam_lib:chunks(Beam, [abstract_code]),
    Exported = lists:append([Fs || {attribute, _, export, Fs} <- Forms]),
    Specified = [FA || {attribute, _, spec, {FA, _}} <- Forms],
    [io_lib:format("~s:~s/~b is exported without a -spec", [Module, F, A])
     || {F, A} <- Exported, not lists:member({F, A}, Specified)].

interpreter_calls(Modules) ->
    {ok, Calls} = xref:q(?MODULE, "XC"),
    lists:usort([io_lib:format("~s calls ~s:~s/~b: only ~s may touch the interpreter", [From, M, F, A, ?BACKEND])
     || {{From, _, _}, {M, F, A}} <- Calls, From =/= ?BACKEND, lists:member(From, Modules),
        M =:= int orelse lists:prefix("dbg_", atom_to_list(M))]
               ++ [io_lib:format("~s calls erl_debugger:~s/~b: only ~s may touch the native debugger", [From, F, A, ?NATIVE])
                   || {{From, _, _}, {erl_debugger, F, A}} <- Calls, From =/= ?NATIVE, lists:member(From, Modules)]).
