%% elixir_dap_lazy: lazy interpretation (issue 17).
%%
%% Before the task starts the adapter interprets only what a stop needs then
%% (modules with breakpoints, `dbg` callers, the launch's eager patterns);
%% the other selected modules are interpreted while the program runs, in the
%% background, and a step in first interprets the modules the stopped line
%% calls. The requests:
%%
%% - {dbg_callers, [Name]} -> [Module]: those of the named modules whose code
%%   calls elixir_dap_dbg, i.e. holds a `dbg` expanded by the breakOnDbg
%%   callback (read from the beam files of the build path).
%% - {interpret_pending, [Name], normal | low} -> #{interpreted => [Module],
%%   busy => [Name], skipped => [#{module, name, reason}]}: interprets each
%%   named module not interpreted yet as int:ni/1 does (the program may be
%%   running it), skipping those the interpreter already has (a second
%%   int:ni/1 of a module purges the native code processes may still run),
%%   and leaving the functions lifted out of funs native (see
%%   interpret_keeping_funs/1). `low` runs the work at low process priority,
%%   so the program's own processes go first, and leaves out (as `busy`) the
%%   modules a process is running (see is_running/1); `normal` (what a
%%   breakpoint or a step needs now) interprets them too.
%% - {step_targets, Name, Line} -> #{modules => [Module], dynamic => boolean()}:
%%   the modules the expressions that start on Line of the module call by
%%   name (remote calls, remote function captures), and whether they also
%%   call something not known before the call (a module or fun in a
%%   variable, apply/2,3).
-module(elixir_dap_lazy).
-export([dbg_callers/1, interpret_pending/2, step_targets/2]).

%% ---------------------------------------------------------------------------
%% `dbg` callers

dbg_callers(Names) ->
    Wanted = sets:from_list([unicode:characters_to_list(N) ++ ".beam" || N <- Names]),
    Dirs = try
               elixir_dap_debugger:build_ebin_dirs('Elixir.Mix.Project':build_path())
           catch
               _:_ -> []
           end,
    Beams = [filename:join(Dir, File) || Dir <- Dirs, {ok, Files} <- [file:list_dir(Dir)],
                                          File <- Files, sets:is_element(File, Wanted)],
    Found = parallel_filter(fun calls_dbg/1, Beams),
    {ok, [list_to_atom(filename:basename(Beam, ".beam")) || Beam <- Found]}.

%% The atom table of a beam is stored uncompressed: a beam without the
%% name cannot import it, and only the few that hold it are parsed.
calls_dbg(Beam) ->
    case file:read_file(Beam) of
        {ok, Bin} ->
            binary:match(Bin, <<"elixir_dap_dbg">>) =/= nomatch andalso
                case beam_lib:chunks(Bin, [imports]) of
                    {ok, {_, [{imports, Imports}]}} -> lists:keymember(elixir_dap_dbg, 1, Imports);
                    _ -> false
                end;
        {error, _} ->
            false
    end.

%% Keeps the elements Pred accepts, in one process per scheduler; the order
%% is not kept.
parallel_filter(Pred, List) ->
    Self = self(),
    Shares = deal(List, erlang:system_info(schedulers_online)),
    Workers = [spawn_monitor(fun() -> Self ! {kept, self(), [X || X <- Share, Pred(X)]} end)
               || Share <- Shares],
    lists:append([receive
                      {kept, Pid, Kept} -> erlang:demonitor(Ref, [flush]), Kept;
                      {'DOWN', Ref, process, Pid, _} -> []
                  end || {Pid, Ref} <- Workers]).

deal(List, N) ->
    Indexed = lists:zip(lists:seq(0, length(List) - 1), List),
    [[X || {I, X} <- Indexed, I rem N =:= K] || K <- lists:seq(0, N - 1)].

%% ---------------------------------------------------------------------------
%% Interpretation while the program runs

interpret_pending(Names, Priority) when Priority =:= low; Priority =:= normal ->
    _ = process_flag(priority, Priority),
    Results = [interpret_one(Name, Priority =:= low) || Name <- lists:usort(Names)],
    {ok, #{interpreted => [M || {ok, M} <- Results],
           busy => [atom_to_binary(M, utf8) || {busy, M} <- Results],
           skipped => [#{module => M, name => name(M), reason => R} || {skipped, M, R} <- Results]}}.

name(Module) when is_atom(Module) -> elixir_dap_debugger:module_name(Module);
name(Name) -> Name.

%% Whether some process runs Module (has it on its stack). The background
%% leaves such modules alone: a process looping natively in a module
%% interpreted under it stays on the native code, which the interpretation
%% made old, so it would never stop at a breakpoint there and would block
%% the module's next reload. A module not loaded runs nowhere.
is_running(Module) ->
    erlang:module_loaded(Module) andalso
        lists:any(fun(Pid) ->
                          case erlang:process_info(Pid, current_stacktrace) of
                              {current_stacktrace, Frames} -> lists:keymember(Module, 1, Frames);
                              undefined -> false
                          end
                  end, erlang:processes()).

%% Checked right before each module, since a request of the adapter's (a
%% breakpoint set meanwhile) may have interpreted it since the call began.
interpret_one(Name, Check) ->
    try binary_to_existing_atom(Name, utf8) of
        Module ->
            case lists:member(Module, int:interpreted()) of
                true -> {ok, Module};
                false -> interpret_keeping_funs(Module, Check)
            end
    catch
        error:badarg -> {skipped, Name, <<"no module of that name was ever loaded">>}
    end.

%% What int:ni/1 does, except that the functions the compiler lifted out of
%% anonymous functions ('-f/1-fun-0-') keep running natively. A fun the
%% program created before the module was interpreted calls its lifted
%% function in the newest code; trapped into the interpreter, which knows
%% only the module's own functions, the call failed as undefined (found
%% interpreting under a running program). Funs the interpreter creates never
%% call the lifted functions. A module a script defined (no beam) takes
%% int:ni/1's own path.
interpret_keeping_funs(Module, Check) ->
    Beam = case code:which(Module) of
               Path when is_list(Path), Path =/= [] -> Path;
               _ -> none
           end,
    case elixir_dap_debugger:batch_interpretation_available() andalso
        elixir_dap_scripts:object_code(Module) =:= none andalso Beam =/= none of
        false ->
            case Check andalso is_running(Module) of
                true -> {busy, Module};
                false -> elixir_dap_debugger:interpret_with_int(Module)
            end;
        true ->
            case elixir_dap_debugger:prepare(Module, Beam) of
                {ok, Prepared} -> load_keeping_funs(Prepared, Check);
                {skipped, _, _} = Skipped -> Skipped
            end
    end.

%% The check and the load at high priority, so that no process of the
%% program enters the module in between.
load_keeping_funs(#{module := Module} = Prepared, Check) ->
    Priority = process_flag(priority, high),
    try
        case Check andalso is_running(Module) of
            true -> {busy, Module};
            false -> load_keeping_funs(Prepared)
        end
    after
        process_flag(priority, Priority)
    end.

load_keeping_funs(#{module := Module, beam := Beam, binary := Bin, source := Source, term := Term}) ->
    try
        _ = erlang:check_old_code(Module) andalso code:purge(Module),
        _ = erlang:module_loaded(Module) andalso erts_debug:breakpoint({Module, '_', '_'}, false),
        {module, Module} = code:load_binary(Module, Beam, Bin),
        {module, Module} = dbg_iserver:safe_call({load, Module, Source, Term}),
        Trapped = [erts_debug:breakpoint({Module, F, A}, true)
                   || {F, A} <- Module:module_info(functions), not is_lifted_fun(F)],
        case lists:sum(Trapped) > 0 of
            true -> {ok, Module};
            false -> {skipped, Module, <<"the interpreter refused it">>}
        end
    catch
        Class:Reason -> {skipped, Module, elixir_dap_debugger:format_term({Class, Reason})}
    end.

is_lifted_fun(Name) ->
    case atom_to_list(Name) of
        "-" ++ Rest -> string:find(Rest, "-fun-") =/= nomatch;
        _ -> false
    end.

%% ---------------------------------------------------------------------------
%% Step targets

step_targets(Name, Line) when is_integer(Line) ->
    Module = binary_to_existing_atom(Name, utf8),
    Forms = case code:get_object_code(Module) of
                {Module, Bin, _} -> forms(Module, Bin);
                error -> forms_of_script(Module)
            end,
    Calls = calls_on_line(Forms, Line, []),
    {ok, #{modules => lists:usort([M || {module, M} <- Calls, M =/= Module]),
           dynamic => lists:member(dynamic, Calls)}}.

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
calls_on_line({clause, _, _, _, Body}, Line, Acc) ->
    Here = [calls(E, []) || E <- Body, elixir_dap_debugger:line_of(E) =:= Line],
    calls_on_line(Body, Line, lists:append(Here) ++ Acc);
calls_on_line(Tuple, Line, Acc) when is_tuple(Tuple) ->
    calls_on_line(tuple_to_list(Tuple), Line, Acc);
calls_on_line([H | T], Line, Acc) ->
    calls_on_line(T, Line, calls_on_line(H, Line, Acc));
calls_on_line(_, _Line, Acc) ->
    Acc.

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
