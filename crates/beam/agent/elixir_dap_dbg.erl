%% elixir_dap_dbg: `breakOnDbg`, stopping the debugged program at its
%% `dbg/0,1,2` calls (Elixir 1.14+).
%%
%% `dbg` is a macro: Kernel reads the `:dbg_callback` of the `:elixir`
%% application when it expands a call (Application.compile_env!/3, so Mix
%% records the value per source file), and the callback returns the code that
%% runs. configure/1 installs dbg/3 below as that callback before Mix compiles
%% the project; Mix then recompiles exactly the files whose `dbg` calls were
%% expanded with another callback (checked on Elixir 1.14), and recompiles
%% them again on the user's next plain `mix compile`.
%%
%% The code dbg/3 returns calls break/2 with the caller's binding and its
%% compile-time environment, then does what Elixir's default callback does
%% (Macro.dbg/3: print the code and its value). break/2 runs in the calling
%% process, interpreted or not: it sends a `dbg_stopped` event and waits in
%% wait/1, answering the requests below (stack, variables, evaluate) from its
%% own state until the adapter resumes it. A paused process is recognised by
%% its current function (wait/1), so no registry is kept.
%%
%% A `dbg` of a pipeline can be stepped through, stage by stage: the code
%% Macro.dbg/3 generates assigns each stage's value in turn, and dbg/4 puts a
%% call of step/6 before every stage after the first. After `next`, the
%% process stops again before the next stage, showing the value so far.
%%
%% Requests (wrapped by the adapter as {dbg, Request}) have the shapes of
%% elixir_dap_backend's: {stack, Pid}, {frame_variables, Pid, Level},
%% {evaluate, Pid, Level, Expression, Timeout}, {command, Pid, continue | next}.
%% Level 0 is the frame of the `dbg` call itself; callers have the
%% interpreter's levels (interpreted processes) or 1..N (native ones).
-module(elixir_dap_dbg).
-export([configure/1, expire_app_files/1, detach/0, dbg/4, break/3, step/6, handle/1]).

-include_lib("kernel/include/file.hrl").

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [module_name/1, pid_text/1, throw_error/2]).

-define(ENABLED, {?MODULE, enabled}).
%% The node's own `:dbg_callback` before configure/1 (attach: put back by
%% detach/0): {ok, Callback} or undefined.
-define(PREVIOUS, {?MODULE, previous_callback}).
-define(DBG_LEVEL, 0).
%% The version of the code dbg/4 generates, part of the callback so that Mix
%% recompiles code expanded by another version.
-define(EXPANSION, 3).
%% How long a paused process may take to hand over its state.
-define(STATE_TIMEOUT, 5000).

%% ---------------------------------------------------------------------------
%% Set-up (before Mix compiles the project)

%% Returns enabled | disabled | unsupported (an Elixir without dbg/2).
-spec configure(boolean()) -> {ok, enabled | unsupported | disabled}.
configure(true) ->
    _ = code:ensure_loaded('Elixir.Macro'),
    _ = code:ensure_loaded('Elixir.Macro.Env'),
    case erlang:function_exported('Elixir.Macro', dbg, 3) andalso
         erlang:function_exported('Elixir.Macro.Env', prune_compile_info, 1) of
        true ->
            persistent_term:get(?PREVIOUS, none) =:= none
                andalso persistent_term:put(?PREVIOUS, application:get_env(elixir, dbg_callback)),
            ok = application:set_env(elixir, dbg_callback, {?MODULE, dbg, [?EXPANSION]}),
            persistent_term:put(?ENABLED, true),
            {ok, enabled};
        false ->
            {ok, unsupported}
    end;
configure(_) ->
    persistent_term:put(?ENABLED, false),
    {ok, disabled}.

%% Mix records in each application's .app file the compile-time values
%% its modules read (`compile_env`), and compile.all checks them against the
%% node's after compiling. Mix 1.18 and 1.19 rewrite a .app only when mix.exs,
%% the config or the compile path's directory is newer than it, in whole
%% seconds (Mix.Tasks.Compile.App, v1.18.0 to v1.19.5; 1.14 to 1.17 and 1.20+
%% compare the recorded values too). When the callback differs from the one
%% a build recorded, Mix recompiles the files that call `dbg`; if that is in
%% the second the .app was written, the .app keeps the old callback and
%% compile.all raises "the application :elixir has a different value set
%% for key :dbg_callback" (seen in CI: two launches of a project within a
%% second). So, after configure/1 and before the compile, every .app under
%% BuildPath that records another callback than the node's is dated back to
%% the epoch, its modification time only: Mix then writes it anew from what
%% it compiled, as it would a second later. Returns the files dated back.
-spec expire_app_files(file:filename_all()) -> [file:filename()].
expire_app_files(BuildPath) ->
    Current = case application:get_env(elixir, dbg_callback) of
                  {ok, _} = Value -> Value;
                  undefined -> error
              end,
    Pattern = filename:join([unicode:characters_to_list(BuildPath), "lib", "*", "ebin", "*.app"]),
    [File || File <- filelib:wildcard(Pattern),
             records_another_callback(File, Current),
             file:write_file_info(File, #file_info{mtime = 0, atime = 0}, [{time, posix}]) =:= ok].

%% A .app that cannot be read is Mix's to report.
records_another_callback(File, Current) ->
    case file:consult(File) of
        {ok, [{application, _, Properties}]} when is_list(Properties) ->
            lists:any(fun({elixir, [dbg_callback], Recorded}) -> Recorded =/= Current;
                         (_) -> false
                      end, proplists:get_value(compile_env, Properties, []));
        _ ->
            false
    end.

%% The adapter let the program run on without it: later `dbg` calls only
%% print, and processes paused in one now run on (nobody is left to resume
%% them). Code compiled from now on gets the `:dbg_callback` the node had
%% (a node attached to); code compiled meanwhile calls this module only
%% while it is loaded (dbg/4), so it runs on once a detach purged it.
-spec detach() -> ok.
detach() ->
    persistent_term:put(?ENABLED, false),
    case persistent_term:get(?PREVIOUS, none) of
        none -> ok;
        {ok, Callback} -> application:set_env(elixir, dbg_callback, Callback);
        undefined -> application:unset_env(elixir, dbg_callback)
    end,
    persistent_term:erase(?PREVIOUS),
    [Pid ! {?MODULE, resume, continue} || Pid <- erlang:processes(),
                                erlang:process_info(Pid, current_function) =:=
                                    {current_function, {?MODULE, wait, 1}}],
    ok.

%% ---------------------------------------------------------------------------
%% The callback (at compile time)

%% Kernel.dbg(Code, Options) expands to what this returns, in the caller:
%%     dbg_env = <the caller's environment>
%%     dbg_mode = elixir_dap_dbg.break(binding(), dbg_env, <stages to step?>)
%%     <Macro.dbg's code, with before each stage after the first:
%%      dbg_mode = elixir_dap_dbg.step(dbg_mode, binding(), dbg_env, Line, value, <more?>)>
%% The variables are in this module's context: binding() does not see them.
%% Each call of this module is made only while it is loaded (else the
%% value `continue`, or the mode as it was): code a reload compiled in a
%% node attached to keeps running there after the detach purged it.
-spec dbg(term(), list(), map(), pos_integer()) -> term().
dbg(Code, Options, Env, _Expansion) ->
    EnvVar = {dbg_env, [], ?MODULE},
    Mode = {dbg_mode, [], ?MODULE},
    Printed = 'Elixir.Macro':dbg(Code, Options, Env),
    Stages = stage_count(Printed),
    {Stepped, _} = insert_steps(Printed, {Mode, EnvVar, maps:get(line, Env), Stages}, 0),
    Break = remote(break, [binding_ast(), EnvVar, Stages > 1], continue),
    %% A pipeline stops first where it starts.
    Line = first_stage_line(Printed, maps:get(line, Env)),
    Pruned = 'Elixir.Macro.Env':prune_compile_info(Env),
    {'__block__', [],
     [{'=', [], [EnvVar, 'Elixir.Macro':escape(Pruned#{line := Line})]},
      case Stages > 1 of
          true -> {'=', [], [Mode, Break]};
          false -> Break
      end,
      Stepped]}.

%% `:erlang.function_exported(elixir_dap_dbg, F, A)` guarding the call
%% (the module is loaded by the agent before any code calls it), Else when
%% it is gone.
remote(Function, Args, Else) ->
    Call = {{'.', [], [?MODULE, Function]}, [], Args},
    Loaded = {{'.', [], [erlang, function_exported]}, [], [?MODULE, Function, length(Args)]},
    {'case', [], [Loaded, [{do, [{'->', [], [[true], Call]}, {'->', [], [[false], Else]}]}]]}.

binding_ast() ->
    {{'.', [], ['Elixir.Kernel', binding]}, [], []}.

%% A stage of a pipeline in Macro.dbg's code: `value = Stage`, with `value`
%% a variable of Macro's context.
stage({'=', _, [{value, _, 'Elixir.Macro'} = Var, Stage]}) -> {true, Var, Stage};
stage(_) -> false.

stage_count(Ast) ->
    element(2, insert_steps(Ast, count, 0)).

%% The line of the first stage of a pipeline (Default without one), in the
%% order the code runs, which is the order of a depth-first walk.
first_stage_line(Ast, Default) ->
    case first_stage(Ast) of
        {_, Meta, _} when is_list(Meta) -> proplists:get_value(line, Meta, Default);
        _ -> Default
    end.

first_stage(Ast) ->
    case stage(Ast) of
        {true, _, Stage} -> Stage;
        false when is_tuple(Ast) -> first_stage(tuple_to_list(Ast));
        false when is_list(Ast) -> first_in(Ast);
        false -> none
    end.

first_in([]) -> none;
first_in([H | T]) ->
    case first_stage(H) of
        none -> first_in(T);
        Found -> Found
    end.

%% Walks the code in the order it runs (blocks, and the right-hand side of
%% assignments), numbering the stages; with a spec, inserts a step before
%% every stage after the first. Returns {Code, Stages seen}.
insert_steps({'__block__', Meta, Exprs}, Spec, Seen) ->
    {Out, Seen1} = lists:foldl(fun(Expr, {Acc, N}) ->
                                       {New, N1} = insert_step(Expr, Spec, N),
                                       {lists:reverse(New, Acc), N1}
                               end, {[], Seen}, Exprs),
    {{'__block__', Meta, lists:reverse(Out)}, Seen1};
insert_steps({'=', Meta, [Left, Right]} = Expr, Spec, Seen) ->
    case stage(Expr) of
        {true, _, _} ->
            {Expr, Seen};
        false ->
            {Right1, Seen1} = insert_steps(Right, Spec, Seen),
            {{'=', Meta, [Left, Right1]}, Seen1}
    end;
insert_steps(Other, _Spec, Seen) ->
    {Other, Seen}.

%% One expression of a block: a list of expressions to put in its place.
insert_step(Expr, Spec, Seen) ->
    case stage(Expr) of
        {true, Var, Stage} ->
            N = Seen + 1,
            case Spec of
                {Mode, EnvVar, EnvLine, Total} when N > 1 ->
                    Line = case Stage of
                               {_, Meta, _} when is_list(Meta) -> proplists:get_value(line, Meta, EnvLine);
                               _ -> EnvLine
                           end,
                    Step = remote(step, [Mode, binding_ast(), EnvVar, Line, Var, N < Total], Mode),
                    {[{'=', [], [Mode, Step]}, Expr], N};
                _ ->
                    {[Expr], N}
            end;
        false ->
            {New, Seen1} = insert_steps(Expr, Spec, Seen),
            {[New], Seen1}
    end.

%% ---------------------------------------------------------------------------
%% At run time, in the process that calls `dbg`

%% At the `dbg` call. Returns next (the user stepped: stop before the next
%% stage of a pipeline) or continue.
-spec break([{atom(), term()}], map(), boolean()) -> next | continue.
break(Binding, Env, More) ->
    case stops() of
        true ->
            {current_stacktrace, Stack} = erlang:process_info(self(), current_stacktrace),
            pause(lists:sort(Binding), Env, Stack, #{more => More});
        false ->
            continue
    end.

%% Before a stage of a pipeline; Value is the pipeline's value so far.
-spec step(next | continue, [{atom(), term()}], map(), pos_integer(), term(), boolean()) -> next | continue.
step(next, Binding, Env, Line, Value, More) ->
    case stops() of
        true ->
            {current_stacktrace, Stack} = erlang:process_info(self(), current_stacktrace),
            pause(lists:sort(Binding), Env#{line := Line}, Stack, #{more => More, value => Value});
        false ->
            continue
    end;
step(_Mode, _Binding, _Env, _Line, _Value, _More) ->
    continue.

stops() ->
    persistent_term:get(?ENABLED, false) andalso whereis(elixir_dap_agent) =/= undefined
        andalso not compiling() andalso not elixir_dap_backend:skips_breakpoints(self()).

%% A `dbg` in a module body runs while the project compiles (at launch, or in
%% a reload), when the adapter is busy waiting for the compiler: it only
%% prints.
compiling() ->
    try 'Elixir.Code':'can_await_module_compilation?'()
    catch _:_ -> false
    end.

pause(Binding, Env, Stack, Step) ->
    watch_exit(),
    Top = env_frame(Env),
    State = Step#{binding => Binding, env => Env, top => Top,
                  native => native_frames(Stack, Env)},
    Self = self(),
    Stopped = #{pid => Self, name => elixir_dap_util:thread_name(Self),
                module => maps:get(module, Top), line => maps:get(line, Top),
                source => maps:get(source, Top), function => maps:get(name, Top),
                %% Before a pipeline's next stage, after `next`.
                stepping => maps:is_key(value, Step)},
    case elixir_dap_backend:evaluation_paused(Self, Stopped) of
        %% An evaluation that ran out of time: it is being killed.
        killed -> receive after infinity -> continue end;
        Announced -> wait(State#{announce => Announced})
    end.

%% The process is recognised as paused by its current function, wait/1, so
%% the `dbg_stopped` event is sent from here: requests that follow it find
%% the process waiting. A detach between the check and the receive sends
%% `resume` (detach/0 clears the flag before looking for waiting processes).
wait(#{announce := Stopped} = State) ->
    case persistent_term:get(?ENABLED, false) of
        true ->
            elixir_dap_util:send_event(dbg_stopped, Stopped),
            wait(maps:remove(announce, State));
        false ->
            continue
    end;
wait(State) ->
    receive
        {?MODULE, From, Ref, state} ->
            From ! {Ref, State},
            wait(State);
        {?MODULE, resume, Mode} ->
            Mode
    end.

%% Tells the adapter when the process exits, so its thread goes away (an
%% interpreted process that stopped at a breakpoint is reported by
%% elixir_dap_backend_int too; the adapter ignores the second report).
watch_exit() ->
    case get({?MODULE, watcher}) of
        undefined ->
            Self = self(),
            Watcher = spawn(fun() ->
                                    Ref = erlang:monitor(process, Self),
                                    receive
                                        {'DOWN', Ref, process, Self, Reason} ->
                                            elixir_dap_util:send_event(
                                              thread_exited,
                                              #{pid => Self,
                                                reason => iolist_to_binary(io_lib:format("~0p", [Reason]))})
                                    end
                            end),
            put({?MODULE, watcher}, Watcher);
        _ ->
            ok
    end.

%% The frame of the `dbg` call, from its compile-time environment.
env_frame(Env) ->
    Module = maps:get(module, Env),
    File = maps:get(file, Env),
    {Function, Arity} = case maps:get(function, Env) of
                            {F, A} -> {atom_to_binary(F, utf8), A};
                            _ -> {nil, 0}
                        end,
    Source = existing(File),
    Name = case {Module, Function} of
               {nil, _} when Source =:= <<>> -> <<"(top level)">>;
               {nil, _} -> filename:basename(File);
               {_, nil} -> iolist_to_binary([module_name(Module), <<" (module body)">>]);
               _ -> iolist_to_binary([module_name(Module), <<".">>, Function, <<"/">>,
                                      integer_to_binary(Arity)])
           end,
    #{level => ?DBG_LEVEL, module => Module,
      %% Code outside any module (a script's top level): no module name.
      module_name => case Module of nil -> <<>>; _ -> module_name(Module) end,
      function => case Function of nil -> <<>>; _ -> Function end, arity => Arity,
      name => Name, line => maps:get(line, Env), source => Source}.

%% The callers of a process that is not interpreted, from its own stack: the
%% frames of this module, of the agent and of Elixir's evaluator are left out,
%% and so is the frame of the `dbg` call (shown from its environment).
native_frames(Stack, Env) ->
    Own = lists:dropwhile(fun({M, _, _, _}) -> M =:= ?MODULE end, Stack),
    Callers = case {Own, maps:get(function, Env)} of
                  {[{M, F, A, _} | Rest], {F, Arity}} when M =:= map_get(module, Env),
                                                         (A =:= Arity orelse length(A) =:= Arity) ->
                      Rest;
                  _ -> Own
              end,
    Kept = [Frame || {M, _, _, _} = Frame <- Callers, not internal(M)],
    [native_frame(Level, Frame) || {Level, Frame} <- lists:zip(lists:seq(1, length(Kept)), Kept)].

internal(Module) ->
    Module =:= elixir orelse Module =:= erl_eval orelse
        lists:prefix("elixir_dap_", atom_to_list(Module)).

native_frame(Level, {M, F, A, Location}) ->
    Arity = case A of
                N when is_integer(N) -> N;
                Args -> length(Args)
            end,
    #{level => Level, module => M, module_name => module_name(M), function => atom_to_binary(F, utf8),
      arity => Arity, name => elixir_dap_backend:frame_name(M, F, Arity),
      line => proplists:get_value(line, Location, 0), source => source_of(M, Location)}.

source_of(Module, Location) ->
    Compiled = case elixir_dap_project:module_source(Module) of
                   none -> undefined;
                   Source -> Source
               end,
    case {Compiled, proplists:get_value(file, Location)} of
        {S, _} when is_list(S) -> existing(S);
        {_, F} when is_list(F) -> existing(F);
        _ -> <<>>
    end.

%% A source path worth showing: one that exists here (not `nofile`, nor the
%% build directory of a packaged Elixir).
existing(Path) ->
    case filelib:is_regular(Path) of
        true -> unicode:characters_to_binary(Path);
        false -> <<>>
    end.

%% ---------------------------------------------------------------------------
%% Requests from the adapter about a paused process

-spec handle(tuple()) -> {ok, term()} | {error, map()}.
handle({stack, Pid}) ->
    #{top := Top, native := Native} = state(Pid),
    Callers = case elixir_dap_backend:meta_of(Pid) of
                  {ok, Meta} -> elixir_dap_backend:interpreted_callers(Meta);
                  none -> Native
              end,
    {ok, [Top | Callers]};
handle({frame_variables, Pid, ?DBG_LEVEL}) ->
    #{binding := Binding} = State = state(Pid),
    Piped = case State of
                #{value := Value} -> [elixir_dap_values:variable(Pid, <<"(pipe value)">>, Value)];
                _ -> []
            end,
    {ok, Piped ++ [elixir_dap_values:variable(Pid, atom_to_binary(Name, utf8), Value)
                   || {Name, Value} <- Binding, is_atom(Name)]};
handle({frame_variables, Pid, Level}) ->
    _ = state(Pid),
    case elixir_dap_backend:meta_of(Pid) of
        {ok, _} -> elixir_dap_backend:frame_variables(Pid, Level);
        none -> {ok, []}
    end;
handle({evaluate, Pid, ?DBG_LEVEL, Expression, Timeout, Context}) ->
    #{binding := Binding, env := Env} = state(Pid),
    evaluate(Pid, Expression, Binding, Env, Timeout, Context);
handle({evaluate, Pid, Level, Expression, Timeout, Context}) ->
    _ = state(Pid),
    case elixir_dap_backend:meta_of(Pid) of
        {ok, _} -> elixir_dap_backend:evaluate(Pid, Level, Expression, Timeout, Context);
        none -> evaluate(Pid, Expression, [], [], Timeout, Context)
    end;
handle({command, Pid, Command}) when Command =:= continue; Command =:= next ->
    #{more := More} = state(Pid),
    Mode = case Command =:= next andalso More of
               true -> next;
               false -> continue
           end,
    elixir_dap_values:release(Pid),
    Pid ! {?MODULE, resume, Mode},
    %% Whether the process will stop again, before the pipeline's next stage.
    {ok, #{stepping => Mode =:= next}};
handle(Other) ->
    throw_error(unknown_request, #{request => elixir_dap_util:format_term({dbg, Other})}).

%% The state of a process paused in wait/1, or an error saying it is not.
state(Pid) when is_pid(Pid) ->
    case erlang:process_info(Pid, current_function) of
        {current_function, {?MODULE, wait, 1}} ->
            Ref = erlang:monitor(process, Pid),
            Pid ! {?MODULE, self(), Ref, state},
            receive
                {Ref, State} ->
                    erlang:demonitor(Ref, [flush]),
                    State;
                {'DOWN', Ref, process, Pid, _} ->
                    throw_error(exited, #{pid => Pid})
            after ?STATE_TIMEOUT ->
                    erlang:demonitor(Ref, [flush]),
                    throw_error(no_answer, #{pid => Pid, ms => ?STATE_TIMEOUT})
            end;
        undefined ->
            throw_error(exited, #{pid => Pid});
        _ ->
            throw_error(not_in_dbg, #{pid => Pid})
    end.

%% Evaluates an expression with the binding and environment of the `dbg`
%% call (its aliases and imports apply), in a fresh process with a timeout
%% (see elixir_dap_backend:run_evaluation/5).
evaluate(Pid, Expression, Binding, Env, Timeout, Context) ->
    elixir_dap_backend:run_evaluation(Pid, Expression,
                                       fun() -> elixir_dap_expr:eval_elixir(Expression, Binding, Env) end,
                                       Timeout, Context).
