%% elixir_dap_lazy: lazy interpretation (issue 17), what of it reads the
%% project's code rather than running it.
%%
%% Before the task starts the adapter interprets only what a stop needs then
%% (modules with breakpoints, `dbg` callers, the launch's eager patterns);
%% the other selected modules are interpreted while the program runs, in the
%% background, by elixir_dap_backend:interpret_pending/2, and a step in
%% first interprets the modules the stopped line calls. Which modules call
%% `dbg` list_modules says (elixir_dap_project). The request here:
%%
%% - {step_targets, Name, Line} -> #{modules => [Module], dynamic => boolean()}:
%%   the modules the expressions that start on Line of the module call by
%%   name (remote calls, remote function captures), and whether they also
%%   call something not known before the call (a module or fun in a
%%   variable, apply/2,3).
-module(elixir_dap_lazy).
-export([step_targets/2]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [line_of/1]).

%% What a call on a line is: to a module named in the code, or to
%% something known only when the call runs.
-type call() :: {module, module()} | dynamic.

%% ---------------------------------------------------------------------------
%% Step targets

-spec step_targets(binary(), pos_integer()) -> {ok, #{modules := [module()], dynamic := boolean()}}.
step_targets(Name, Line) when is_integer(Line) ->
    Module = elixir_dap_util:to_atom(Name, module),
    Forms = case code:get_object_code(Module) of
                {Module, Bin, _} -> forms(Module, Bin);
                error -> forms_of_script(Module)
            end,
    {ok, targets(Module, calls_on_line(Forms, Line, []))}.

%% The modules other than Module that Calls name, and whether one is
%% dynamic.
-spec targets(module(), [call()]) -> #{modules := [module()], dynamic := boolean()}.
targets(Module, Calls) ->
    #{modules => lists:usort([M || {module, M} <- Calls, M =/= Module]),
      dynamic => lists:member(dynamic, Calls)}.

%% A module a script defined has no beam: elixir_dap_scripts keeps its code.
forms_of_script(Module) ->
    case elixir_dap_scripts:object_code(Module) of
        {_Source, Bin} -> forms(Module, Bin);
        none -> []
    end.

forms(Module, Bin) ->
    case beam_lib:chunks(Bin, [debug_info]) of
        {ok, {_, [{debug_info, {debug_info_v1, Backend, Data}}]}} ->
            case Backend:debug_info(erlang_v1, Module, Data, []) of
                {ok, Forms} -> Forms;
                _ -> []
            end;
        _ ->
            []
    end.

%% The calls inside every body expression (at any depth: case branches,
%% funs) whose first line is Line.
-spec calls_on_line(term(), pos_integer(), [call()]) -> [call()].
calls_on_line({clause, _, _, _, Body}, Line, Acc) ->
    Here = [calls(E, []) || E <- Body, line_of(E) =:= Line],
    calls_on_line(Body, Line, lists:append(Here) ++ Acc);
calls_on_line(Tuple, Line, Acc) when is_tuple(Tuple) ->
    calls_on_line(tuple_to_list(Tuple), Line, Acc);
calls_on_line([H | T], Line, Acc) ->
    calls_on_line(T, Line, calls_on_line(H, Line, Acc));
calls_on_line(_, _Line, Acc) ->
    Acc.

-spec calls(term(), [call()]) -> [call()].
calls({call, _, {remote, _, {atom, _, erlang}, {atom, _, apply}}, Args}, Acc) ->
    calls(Args, [dynamic | Acc]);
calls({call, _, {remote, _, {atom, _, Module}, {atom, _, _}}, Args}, Acc) ->
    calls(Args, [{module, Module} | Acc]);
calls({call, _, {remote, _, _, _}, Args}, Acc) ->
    calls(Args, [dynamic | Acc]);
calls({call, _, {atom, _, _}, Args}, Acc) ->
    calls(Args, Acc);
calls({call, _, Fun, Args}, Acc) ->
    calls([Fun | Args], [dynamic | Acc]);
calls({'fun', _, {function, {atom, _, Module}, {atom, _, _}, _}}, Acc) ->
    [{module, Module} | Acc];
calls(Tuple, Acc) when is_tuple(Tuple) ->
    calls(tuple_to_list(Tuple), Acc);
calls([H | T], Acc) ->
    calls(T, calls(H, Acc));
calls(_, Acc) ->
    Acc.
