%% elixir_dap_agent: the debuggee side of elixir-dap's control channel.
%%
%% The agent is deliberately thin: it executes requests from the adapter and
%% forwards events. All decisions (what to interpret, when to halt, how to
%% report) are made in Rust.
%%
%% Channel: a loopback TCP connection to the adapter, {packet, 4} frames of
%% External Term Format. The first frame carries the per-session token.
%%   adapter -> agent: {call, Id, Request} | {cast, Request}
%%   agent -> adapter: {hello, Token, Info} | {reply, Id, {ok, Value} | {error, Map}}
%%                     | {event, Name, Map}
%%
%% When the channel closes (the adapter exited or was killed) the VM halts,
%% taking the whole process group with it, unless the adapter detached first.
%% Written in plain Erlang so it compiles on every OTP the user may have.
-module(elixir_dap_agent).
-export([main/0, send_event/2, format_exception/3, diagnostic/1]).

-record(state, {sock, detached = false}).

main() ->
    Port = list_to_integer(os:getenv("ELIXIR_DAP_PORT")),
    Token = list_to_binary(os:getenv("ELIXIR_DAP_TOKEN")),
    OwnGroup = os:getenv("ELIXIR_DAP_OWN_GROUP") =:= "1",
    %% The user's program should not see (or leak) the channel's secrets.
    [os:unsetenv(Var) || Var <- ["ELIXIR_DAP_PORT", "ELIXIR_DAP_TOKEN",
                                 "ELIXIR_DAP_AGENT_DIR", "ELIXIR_DAP_OWN_GROUP"]],
    put(own_group, OwnGroup),
    %% Requests are decoded with binary_to_term(_, [safe]), which accepts
    %% only atoms that exist: load every agent module now so that the atoms
    %% their requests use do.
    [code:ensure_loaded(M) || M <- [elixir_dap_debugger, elixir_dap_reload, elixir_dap_dbg]],
    Options = [binary, {packet, 4}, {active, true}, {nodelay, true}],
    case gen_tcp:connect({127, 0, 0, 1}, Port, Options, 10000) of
        {ok, Sock} ->
            register(?MODULE, self()),
            send_term(Sock, {hello, Token, system_info()}),
            loop(#state{sock = Sock});
        {error, Reason} ->
            io:format(standard_error,
                      "elixir-dap agent: cannot reach the adapter on port ~p: ~p~n",
                      [Port, Reason]),
            erlang:halt(70)
    end.

system_info() ->
    #{otp_release => list_to_binary(erlang:system_info(otp_release)),
      elixir_version => 'Elixir.System':version(),
      os_pid => list_to_integer(os:getpid())}.

loop(#state{sock = Sock} = State) ->
    receive
        {tcp, Sock, Frame} ->
            loop(handle_frame(Frame, State));
        {tcp_closed, Sock} ->
            channel_closed(State);
        {tcp_error, Sock, _Reason} ->
            channel_closed(State);
        {send, Term} ->
            send_term(Sock, Term),
            loop(State)
    end.

handle_frame(Frame, State) ->
    try binary_to_term(Frame, [safe]) of
        {call, Id, detach} ->
            elixir_dap_dbg:detach(),
            send_term(State#state.sock, {reply, Id, {ok, ok}}),
            State#state{detached = true};
        {call, Id, Request} ->
            %% Requests run in their own process so the channel stays
            %% responsive while Mix compiles or a task runs.
            Agent = self(),
            spawn(fun() -> Agent ! {send, {reply, Id, execute(Request)}} end),
            State;
        {cast, {halt, Status}} when is_integer(Status) ->
            %% The adapter kills whatever the program left in the group.
            erlang:halt(Status);
        Other ->
            log("unexpected frame ~0p", [Other]),
            State
    catch
        error:badarg ->
            log("undecodable frame of ~p bytes", [byte_size(Frame)]),
            State
    end.

channel_closed(#state{detached = true}) ->
    %% The adapter let the program run on: keep the VM alive.
    timer:sleep(infinity);
channel_closed(_State) ->
    %% The adapter is gone (exited or killed): nobody will clean up after us,
    %% so take everything the program spawned (ports, shell commands) along.
    case get(own_group) of
        true -> os:cmd("kill -KILL -" ++ os:getpid() ++ " 2>/dev/null");
        _ -> ok
    end,
    erlang:halt(0).

send_term(Sock, Term) ->
    ok = gen_tcp:send(Sock, term_to_binary(Term)).

send_event(Name, Data) ->
    ?MODULE ! {send, {event, Name, Data}},
    ok.

log(Format, Args) ->
    io:format(standard_error, "elixir-dap agent: " ++ Format ++ "~n", Args).

%% ---------------------------------------------------------------------------
%% Requests

execute(Request) ->
    try
        handle(Request)
    catch
        throw:{agent_error, Map} ->
            {error, Map};
        Class:Reason:Stack ->
            {error, #{kind => exception,
                      message => format_exception(Class, Reason, Stack)}}
    end.

handle(ping) ->
    {ok, pong};
handle({load_project, Opts}) ->
    load_project(Opts);
handle({run_task, Opts}) ->
    run_task(Opts);
%% The debugger: see elixir_dap_debugger for each request.
handle({debugger_start, StackTraceMode}) ->
    elixir_dap_debugger:ensure_started(StackTraceMode);
handle(list_modules) ->
    elixir_dap_debugger:list_modules();
handle({interpret, Modules}) ->
    elixir_dap_debugger:interpret(Modules);
handle({interpret_running, Modules}) ->
    elixir_dap_debugger:interpret_running(Modules);
handle({breakable_lines, Module}) ->
    elixir_dap_debugger:breakable_lines(Module);
handle({function_lines, Module, Function, Arity}) ->
    elixir_dap_debugger:function_lines(Module, Function, Arity);
handle({set_breakpoints, Module, Breakpoints}) ->
    elixir_dap_debugger:set_breakpoints(Module, Breakpoints);
handle({command, Pid, Command}) ->
    elixir_dap_debugger:command(Pid, Command);
handle({stack, Pid}) ->
    elixir_dap_debugger:stack(Pid);
handle({frame_variables, Pid, Level}) ->
    elixir_dap_debugger:frame_variables(Pid, Level);
handle({process_variables, Pid}) ->
    elixir_dap_debugger:process_variables(Pid);
handle({children, Handle, Start, Count}) ->
    elixir_dap_debugger:children(Handle, Start, Count);
handle({evaluate, Target, Level, Expression, Timeout}) ->
    elixir_dap_debugger:evaluate(Target, Level, Expression, Timeout);
%% Processes paused in a `dbg` call: see elixir_dap_dbg.
handle({dbg, Request}) ->
    elixir_dap_dbg:handle(Request);
%% Code reload: see elixir_dap_reload.
handle({reload_compile, Opts}) ->
    elixir_dap_reload:compile(Opts);
handle({reload_interpret, Modules}) ->
    elixir_dap_reload:interpret(Modules);
handle({reload_remove, Modules}) ->
    elixir_dap_reload:remove(Modules);
handle({reload_mix, Opts}) ->
    elixir_dap_reload:mix_compile(Opts);
handle({reload_suspend, Modules}) ->
    elixir_dap_reload:suspend(Modules);
handle({reload_code_change, Targets}) ->
    elixir_dap_reload:code_change(Targets);
handle({reload_resume, Pids}) ->
    elixir_dap_reload:resume(Pids);
handle(reload_commit) ->
    elixir_dap_reload:commit();
handle(reload_rollback) ->
    elixir_dap_reload:rollback();
handle(Other) ->
    {error, #{kind => unknown_request,
              message => iolist_to_binary(io_lib:format("unknown request ~0p", [Other]))}}.

%% Loads mix.exs and config, then compiles the project with Mix, as `mix` does
%% before running a task.
%% A `nil` task means the project's default task, as for a bare `mix`.
load_project(#{task := Task} = Opts) ->
    ok = 'Elixir.Mix':start(),
    is_binary(Task) andalso prefer_task_env(Task),
    'Elixir.Code':compile_file(<<"mix.exs">>),
    'Elixir.Mix.Task':run(<<"loadconfig">>, []),
    %% `dbg` reads its callback when a call is expanded: set it after the
    %% project's config (which could set it too) and before compiling.
    {ok, Dbg} = elixir_dap_dbg:configure(maps:get(break_on_dbg, Opts, false)),
    Resolved = case Task of
                   nil -> 'Elixir.Keyword':get('Elixir.Mix.Project':config(), default_task, <<"run">>);
                   _ -> Task
               end,
    Loaded = fun(Diagnostics) ->
                     {ok, #{task => Resolved,
                            mix_env => atom_to_binary('Elixir.Mix':env(), utf8),
                            dbg => Dbg,
                            diagnostics => [diagnostic(D) || D <- Diagnostics]}}
             end,
    case 'Elixir.Mix.Task':run(<<"compile">>, [<<"--return-errors">>]) of
        {error, Diagnostics} ->
            Diags = [diagnostic(D) || D <- Diagnostics],
            Errors = [D || #{severity := error} = D <- Diags],
            {error, #{kind => compile_failed,
                      message => compile_failure_message(Errors),
                      diagnostics => Diags}};
        {_Status, Diagnostics} when is_list(Diagnostics) ->
            Loaded(Diagnostics);
        _ ->
            Loaded([])
    end.

%% `mix test` runs in the test environment unless MIX_ENV says otherwise.
prefer_task_env(Task) ->
    case os:getenv("MIX_ENV") of
        false ->
            try 'Elixir.Mix.Task':preferred_cli_env(Task) of
                Env when is_atom(Env), Env =/= nil -> 'Elixir.Mix':env(Env);
                _ -> ok
            catch
                _:_ -> ok
            end;
        _ ->
            ok
    end.

compile_failure_message([]) ->
    <<"compilation failed">>;
compile_failure_message([#{file := File, line := Line, message := Message} | _]) ->
    FirstLine = hd(binary:split(Message, <<"\n">>)),
    iolist_to_binary([<<"compilation failed: ">>, File, <<":">>,
                      integer_to_binary(Line), <<": ">>, FirstLine]).

diagnostic(D) ->
    {Line, Column} = position(maps:get(position, D, nil)),
    File = case maps:get(file, D, nil) of
               nil -> <<"">>;
               F when is_binary(F) -> F;
               F when is_list(F) -> unicode:characters_to_binary(F)
           end,
    Message = case maps:get(message, D, <<>>) of
                  M when is_binary(M) -> M;
                  M -> unicode:characters_to_binary(io_lib:format("~ts", [M]))
              end,
    #{file => File, line => Line, column => Column,
      severity => maps:get(severity, D, error), message => Message}.

%% Mix reports a position as a line, {Line, Column}, a range, or nil,
%% depending on the Elixir version.
position(Line) when is_integer(Line) -> {Line, 0};
position({Line, Column}) when is_integer(Line), is_integer(Column) -> {Line, Column};
position({{Line, Column}, _End}) when is_integer(Line), is_integer(Column) -> {Line, Column};
position(_) -> {0, 0}.

%% Runs the Mix task in a process of its own and reports how it ended; the
%% adapter decides whether the VM halts.
run_task(#{task := Task, args := Args, require_files := Require, start_apps := StartApps}) ->
    spawn(fun() ->
                  Status = task_status(Task, Args, Require, StartApps),
                  send_event(task_finished, #{status => Status, no_halt => no_halt(Args)})
          end),
    {ok, ok}.

task_status(Task, Args, Require, StartApps) ->
    try
        require_files(Require),
        StartApps andalso 'Elixir.Mix.Task':run(<<"app.start">>, []),
        'Elixir.Mix.Task':run(Task, Args),
        0
    catch
        exit:{shutdown, Code} when is_integer(Code) ->
            Code;
        exit:normal ->
            0;
        Class:Reason:Stack ->
            io:put_chars(standard_error, [format_exception(Class, Reason, Stack), $\n]),
            1
    end.

require_files(Patterns) ->
    [_ = 'Elixir.Code':require_file(File)
     || Pattern <- Patterns, File <- 'Elixir.Path':wildcard(Pattern)],
    ok.

%% `mix run --no-halt` returns at once on some Elixir versions and marks the
%% VM as "do not halt"; either way the program is meant to keep running.
no_halt(Args) ->
    lists:member(<<"--no-halt">>, Args) orelse
        (erlang:function_exported('Elixir.System', no_halt, 0) andalso
         'Elixir.System':no_halt() =:= true).

format_exception(Class, Reason, Stack) ->
    try
        'Elixir.Exception':format(Class, Reason, Stack)
    catch
        _:_ -> iolist_to_binary(io_lib:format("~p: ~p~n~p", [Class, Reason, Stack]))
    end.
