%% elixir_dap_agent: the debuggee side of elixir-dap's control channel.
%%
%% The agent is deliberately thin: it executes requests from the adapter and
%% forwards events. All decisions (what to interpret, when to halt, how to
%% report) are made in Rust.
%%
%% Channel: a loopback TCP connection to the adapter, {packet, 4} frames of
%% External Term Format. The first frame carries the per-session token.
%%   adapter -> agent: {call, Id, Request} | {cast, Request}
%%   agent -> adapter: {hello, Token, Info} | {reply, Id, {ok, Value} | {error, Reason}}
%%                     | {event, Name, Map}
%% A failure's Reason is a map of an atom `kind` and its parameters, worded
%% by the adapter (see elixir_dap_util's header).
%%
%% When the channel closes (the adapter exited or was killed) the VM halts,
%% taking its process group with it, unless the adapter detached first. The
%% session keeper (crates/beam/src/keeper.rs), the VM's parent, ends every
%% other process the program started, in whatever group or session.
%% Written in plain Erlang so it compiles on every OTP the user may have.
-module(elixir_dap_agent).
-export([main/0, attached/1]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [send_event/2, format_exception/3, diagnostic/1]).

%% sock: the TCP socket, or {relay, Helper} in a node attached to (see
%% elixir_dap_attach). found: what an attached node ran before us.
-record(state, {sock, detached = false, found}).

-spec main() -> no_return().
main() ->
    case os:getenv("ELIXIR_DAP_REMOTE_NODE") of
        false -> main_launched();
        _ -> helper()
    end.

%% The VM started for an attach session: see elixir_dap_attach.
helper() ->
    Port = list_to_integer(os:getenv("ELIXIR_DAP_PORT")),
    Token = list_to_binary(os:getenv("ELIXIR_DAP_TOKEN")),
    [os:unsetenv(Var) || Var <- ["ELIXIR_DAP_PORT", "ELIXIR_DAP_TOKEN",
                                 "ELIXIR_DAP_AGENT_DIR", "ELIXIR_DAP_OWN_GROUP"]],
    %% The helper spawns attached/1 in the node: handed over, so that the
    %% helper's module does not call this one back.
    elixir_dap_attach:helper(Port, Token, {?MODULE, attached}).

%% The agent in a node attached to, spawned there by the helper, whose
%% process relays the channel's frames.
-spec attached(pid()) -> no_return().
attached(Helper) ->
    register(?MODULE, self()),
    ok = elixir_dap_tables:ensure(),
    erlang:monitor(process, Helper),
    put(own_group, false),
    Found = elixir_dap_backend:found(),
    %% The program's own compiles (IEx's `recompile`, Phoenix's code
    %% reloader in the node): as in a launch, else the compiler calling an
    %% interpreted module crashed the VM (SIGSEGV, OTP 25 and 29) and the
    %% recompiled modules stopped being debugged. Taken out again by
    %% elixir_dap_attach:clean_node/1.
    ok = elixir_dap_app_compile:install(),
    Helper ! {elixir_dap_attached, self(), system_info()},
    loop(#state{sock = {relay, Helper}, found = Found}).

main_launched() ->
    Port = list_to_integer(os:getenv("ELIXIR_DAP_PORT")),
    Token = list_to_binary(os:getenv("ELIXIR_DAP_TOKEN")),
    OwnGroup = os:getenv("ELIXIR_DAP_OWN_GROUP") =:= "1",
    %% The launch's `debugBackend` as the adapter resolved it, and for the
    %% native backend the session's build path (see load_project/1).
    Backend = os:getenv("ELIXIR_DAP_BACKEND"),
    BuildRoot = os:getenv("ELIXIR_DAP_BUILD_ROOT"),
    %% The user's program should not see (or leak) the channel's secrets.
    [os:unsetenv(Var) || Var <- ["ELIXIR_DAP_PORT", "ELIXIR_DAP_TOKEN",
                                 "ELIXIR_DAP_AGENT_DIR", "ELIXIR_DAP_OWN_GROUP",
                                 "ELIXIR_DAP_BACKEND", "ELIXIR_DAP_BUILD_ROOT"]],
    put(own_group, OwnGroup),
    case Backend of
        "native" ->
            ok = elixir_dap_backend:select(native),
            persistent_term:put({?MODULE, build_root}, BuildRoot);
        _ ->
            ok = elixir_dap_backend:select(interpreter)
    end,
    %% Requests are decoded with binary_to_term(_, [safe]), which accepts
    %% only atoms that exist: load every agent module now so that the atoms
    %% their requests use do.
    [code:ensure_loaded(M) || M <- elixir_dap_util:agent_modules()],
    ok = elixir_dap_tables:ensure(),
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
        {elixir_dap_frame, Helper, Frame} when Sock =:= {relay, Helper} ->
            loop(handle_frame(Frame, State));
        {elixir_dap_closed, Helper} when Sock =:= {relay, Helper} ->
            channel_closed(State);
        {'DOWN', _, process, Helper, _} when Sock =:= {relay, Helper} ->
            channel_closed(State);
        {send, Term} ->
            send_term(Sock, Term),
            loop(State)
    end.

handle_frame(Frame, State) ->
    try binary_to_term(Frame, [safe]) of
        {call, Id, detach} when State#state.found =/= undefined ->
            %% Attached: leave the node as found, then end (the helper
            %% disconnects).
            Cleaned = elixir_dap_attach:clean_node(State#state.found),
            send_term(State#state.sock, {reply, Id, {ok, Cleaned}}),
            leave_node(detached);
        {call, Id, detach} ->
            elixir_dap_dbg:detach(),
            send_term(State#state.sock, {reply, Id, {ok, ok}}),
            State#state{detached = true};
        {call, Id, Request} ->
            %% Requests run in their own process so the channel stays
            %% responsive while Mix compiles or a task runs.
            Agent = self(),
            spawn(elixir_dap_util:internal(fun() -> Agent ! {send, {reply, Id, execute(Request)}} end)),
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

channel_closed(#state{found = Found}) when Found =/= undefined ->
    %% The adapter or its helper is gone: the node attached to runs on.
    elixir_dap_attach:clean_node(Found),
    leave_node(closed);
channel_closed(#state{detached = true}) ->
    %% The adapter let the program run on: keep the VM alive.
    timer:sleep(infinity);
channel_closed(_State) ->
    %% The adapter is gone (exited or killed). The keeper ends the program's
    %% whole tree; the group is killed here too, for a VM run without one.
    case get(own_group) of
        true -> os:cmd("kill -KILL -" ++ os:getpid() ++ " 2>/dev/null");
        _ -> ok
    end,
    erlang:halt(0).

send_term({relay, Helper}, Term) ->
    Helper ! {elixir_dap_frame, self(), term_to_binary(Term)},
    ok;
send_term(Sock, Term) ->
    ok = gen_tcp:send(Sock, term_to_binary(Term)).

%% Ends the agent of a node attached to, taking the agent's modules out of
%% it: their current code becomes old here (this process runs on in it), and
%% the old code is purged once this process has ended (code:purge/1 kills
%% whatever still runs it): by the helper when it is there to see the end
%% (`detached`), else by a process running none of our code.
leave_node(Reason) ->
    Modules = elixir_dap_util:agent_modules(),
    unregister(?MODULE),
    [code:delete(M) || M <- Modules],
    Reason =:= detached orelse spawn(lists, foreach, [fun code:purge/1, Modules]),
    exit(Reason).

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
            {error, #{kind => exception, exception => format_exception(Class, Reason, Stack)}}
    end.

handle(ping) ->
    {ok, pong};
handle({load_project, Opts}) ->
    load_project(Opts);
handle({run_task, Opts}) ->
    run_task(Opts);
%% The debugger: see elixir_dap_backend for each request.
handle({debugger_start, StackTraceMode}) ->
    elixir_dap_backend:ensure_started(StackTraceMode);
handle(list_modules) ->
    elixir_dap_project:list_modules();
handle({interpret, Modules}) ->
    elixir_dap_backend:interpret(Modules);
handle({interpret_running, Modules}) ->
    elixir_dap_backend:interpret_running(Modules);
%% Lazy interpretation: see elixir_dap_lazy.
handle({interpret_pending, Modules, Priority}) ->
    elixir_dap_backend:interpret_pending(Modules, Priority);
handle({step_targets, Module, Line}) ->
    elixir_dap_lazy:step_targets(Module, Line);
handle({breakable_lines, Module}) ->
    elixir_dap_backend:breakable_lines(Module);
handle({function_lines, Module, Function, Arity}) ->
    elixir_dap_backend:function_lines(Module, Function, Arity);
handle({set_breakpoints, Module, Breakpoints}) ->
    elixir_dap_backend:set_breakpoints(Module, Breakpoints);
handle({command, Pid, Command}) ->
    elixir_dap_backend:command(Pid, Command);
handle({stack, Pid}) ->
    elixir_dap_backend:stack(Pid);
handle({frame_variables, Pid, Level}) ->
    elixir_dap_backend:frame_variables(Pid, Level);
handle({process_variables, Pid}) ->
    elixir_dap_values:process_variables(Pid);
handle({children, Handle, Start, Count}) ->
    elixir_dap_values:children(Handle, Start, Count);
handle({evaluate, Target, Level, Expression, Timeout, Context}) ->
    elixir_dap_backend:evaluate(Target, Level, Expression, Timeout, Context);
handle({check_expressions, Breakpoints}) ->
    elixir_dap_expr:check_expressions(Breakpoints);
%% Processes paused in a `dbg` call: see elixir_dap_dbg.
handle({dbg, Request}) ->
    elixir_dap_dbg:handle(Request);
%% Modules defined by the project's .exs files: see elixir_dap_scripts.
%% The program's own compiles: see elixir_dap_app_compile.
handle(install_tracers) ->
    {ok, Cwd} = file:get_cwd(),
    ok = elixir_dap_app_compile:install(),
    {ok, elixir_dap_scripts:install(Cwd)};
handle({script_release, Waiter}) ->
    elixir_dap_scripts:release(Waiter);
%% Code reload: see elixir_dap_reload.
handle({reload_compile, Opts}) ->
    elixir_dap_reload:compile(Opts);
handle({reload_interpret, Modules, Deferred, Commit}) ->
    elixir_dap_reload:interpret(Modules, Deferred, Commit);
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
%% A cluster's peers: see elixir_dap_cluster.
handle({reload_peers_prepare, Opts}) ->
    elixir_dap_reload:peers_prepare(Opts);
handle(reload_peers_switch) ->
    elixir_dap_cluster:switch();
handle(Other) ->
    {error, #{kind => unknown_request, request => elixir_dap_util:format_term(Other)}}.

%% Loads mix.exs and config, then compiles the project with Mix, as `mix` does
%% before running a task: the environment and the default task are chosen
%% exactly as Mix.CLI chooses them on the running Elixir version.
%% A `nil` task means the project's default task, as for a bare `mix`.
load_project(#{task := Task} = Opts) ->
    ok = 'Elixir.Mix':start(),
    CliStateLoader = cli_state_loader(),
    %% Elixir 1.15+: the environment is chosen while mix.exs is pushed, from
    %% `def cli` (preferred_envs, default_task, default_env) and the built-in
    %% `test: :test` (Mix.CLI.load_mix_exs and Mix.Project.push_config, v1.15.0).
    CliStateLoader andalso 'Elixir.Mix.ProjectStack':post_config([{state_loader, {cli, Task}}]),
    'Elixir.Code':compile_file(<<"mix.exs">>),
    Resolved = case Task of
                   nil -> default_task(CliStateLoader);
                   _ -> Task
               end,
    prefer_task_env(Resolved, CliStateLoader),
    native_build(elixir_dap_backend:name()),
    'Elixir.Mix.Task':run(<<"loadconfig">>, []),
    %% `dbg` reads its callback when a call is expanded: set it after the
    %% project's config (which could set it too) and before compiling.
    {ok, Dbg} = elixir_dap_dbg:configure(maps:get(break_on_dbg, Opts, false)),
    _ = elixir_dap_dbg:expire_app_files('Elixir.Mix.Project':build_path()),
    Loaded = fun(Diagnostics) ->
                     {ok, #{task => Resolved,
                            mix_env => atom_to_binary('Elixir.Mix':env(), utf8),
                            dbg => Dbg,
                            manifests => compile_manifests(),
                            diagnostics => [diagnostic(D) || D <- Diagnostics]}}
             end,
    Compile = fun() -> 'Elixir.Mix.Task':run(<<"compile">>, [<<"--return-errors">>]) end,
    case elixir_dap_build_lock:guarded('Elixir.Mix.Project':build_path(), Compile) of
        {error, Diagnostics} ->
            {error, #{kind => compile_failed, diagnostics => [diagnostic(D) || D <- Diagnostics]}};
        {_Status, Diagnostics} when is_list(Diagnostics) ->
            Loaded(Diagnostics);
        _ ->
            Loaded([])
    end.

%% The native backend (elixir_dap_backend_native) needs the project compiled
%% with line debug info (the adapter sets ERL_COMPILER_OPTIONS in the VM's
%% environment, see crates/adapter/src/session/backend.rs), into the
%% session's build path (ELIXIR_DAP_BUILD_ROOT/<env>, in the adapter's
%% cache), so that the user's _build keeps what Mix left there: Mix reads
%% MIX_BUILD_PATH at each build_path/0 call, and the environment is known
%% only now.
native_build(interpreter) ->
    ok;
native_build(native) ->
    Root = persistent_term:get({?MODULE, build_root}),
    Env = atom_to_list('Elixir.Mix':env()),
    true = os:putenv("MIX_BUILD_PATH", filename:join(Root, Env)),
    ok.

%% Mix's compile manifest of each of the project's applications, with the
%% directory its paths are relative to (an umbrella app's, or the
%% project's): [#{app_dir, manifest}] (read by the adapter: external
%% resources such as templates).
compile_manifests() ->
    {ok, Cwd} = file:get_cwd(),
    Build = 'Elixir.Mix.Project':build_path(),
    AppsPaths = case 'Elixir.Mix.Project':apps_paths() of
                    nil -> #{};
                    Paths -> Paths
                end,
    [#{app_dir => unicode:characters_to_binary(filename:absname(maps:get(App, AppsPaths, Cwd))),
       manifest => unicode:characters_to_binary(
                     filename:join([Build, "lib", atom_to_list(App), ".mix", "compile.elixir"]))}
     || App <- elixir_dap_project:project_apps()].

%% Elixir 1.15 moved the choice of MIX_ENV into the CLI's state loader.
cli_state_loader() ->
    'Elixir.Version':'match?'('Elixir.System':version(), <<">= 1.15.0-0">>).

%% Mix.CLI's default_task/1: `def cli`'s default_task on 1.15+ (a
%% default_task in `def project` is deprecated but still read when the
%% project has no `def cli`), else "run".
default_task(CliStateLoader) ->
    Project = 'Elixir.Mix.Project':get(),
    Config = case CliStateLoader andalso cli_config(Project) of
                 false -> 'Elixir.Mix.Project':config();
                 Cli -> Cli
             end,
    case 'Elixir.Keyword':get(Config, default_task) of
        nil -> <<"run">>;
        DefaultTask -> DefaultTask
    end.

%% The project's `def cli` keyword list, or false when it has none.
cli_config(Project) ->
    is_atom(Project) andalso Project =/= nil andalso erlang:function_exported(Project, cli, 0)
        andalso Project:cli().

%% Mix.CLI.maybe_change_env_and_target/2 (v1.14.0 and v1.20.3): unless
%% MIX_ENV is set (or, on 1.15+, the project has `def cli`, already applied
%% by the state loader), the task's preferred environment from the
%% project's preferred_cli_env or the task's @preferred_cli_env, and the
%% project pushed again in it.
prefer_task_env(Task, CliStateLoader) ->
    Project = 'Elixir.Mix.Project':get(),
    Skip = os:getenv("MIX_ENV") =/= false orelse (CliStateLoader andalso cli_config(Project) =/= false),
    Env = case Skip of
              true -> nil;
              false -> preferred_env(Task)
          end,
    Current = 'Elixir.Mix':env(),
    case Env of
        nil -> ok;
        Current -> ok;
        _ ->
            'Elixir.Mix':env(Env),
            case 'Elixir.Mix.Project':pop() of
                #{name := Name, file := File} -> 'Elixir.Mix.Project':push(Name, File);
                _ -> ok
            end
    end.

preferred_env(Task) ->
    TaskAtom = binary_to_atom(Task, utf8),
    FromProject = case 'Elixir.Keyword':get('Elixir.Mix.Project':config(), preferred_cli_env) of
                      Envs when is_list(Envs) -> proplists:get_value(TaskAtom, Envs, nil);
                      Envs when is_map(Envs) -> maps:get(TaskAtom, Envs, nil);
                      _ -> nil
                  end,
    case FromProject of
        nil ->
            %% Mix.Task.preferred_cli_env/1 is gone in newer Elixir versions.
            code:ensure_loaded('Elixir.Mix.Task'),
            case erlang:function_exported('Elixir.Mix.Task', preferred_cli_env, 1) of
                true -> try 'Elixir.Mix.Task':preferred_cli_env(Task) catch _:_ -> nil end;
                false -> nil
            end;
        Env ->
            Env
    end.

%% Runs the Mix task in a process of its own and reports how it ended; the
%% adapter decides whether the VM halts. The task ends as under Elixir's CLI
%% (Kernel.CLI.run/1, the same from v1.14.0 to v1.20.3): its status is 0,
%% the N of an exit({shutdown, N}), or 1 for an exception; then, unless the
%% task asked the VM not to halt, the System.at_exit/1 callbacks run with
%% that status (each may change it: ExUnit's exits with {shutdown, 2} after a
%% failed test) until none is left.
run_task(#{task := Task, args := Args, require_files := Require, start_apps := StartApps}) ->
    spawn(fun() ->
                  Run = fun(_) ->
                                require_files(Require),
                                StartApps andalso 'Elixir.Mix.Task':run(<<"app.start">>, []),
                                'Elixir.Mix.Task':run(Task, Args)
                        end,
                  {OkOrShutdown, TaskStatus} = exec_fun(Run, {ok, 0}),
                  NoHalt = no_halt(Args),
                  {_, Status} = case OkOrShutdown =:= shutdown orelse not NoHalt of
                                    true -> at_exit({OkOrShutdown, TaskStatus});
                                    false -> {OkOrShutdown, TaskStatus}
                                end,
                  flush_logger(),
                  send_event(task_finished, #{status => Status, no_halt => NoHalt andalso OkOrShutdown =:= ok})
          end),
    {ok, ok}.

at_exit(Result) ->
    case 'elixir_config':get_and_put(at_exit, []) of
        [] -> Result;
        Hooks -> at_exit(lists:foldl(fun exec_fun/2, Result, Hooks))
    end.

%% Runs Fun(Status) in a process of its own, as Kernel.CLI does, and maps how
%% it ended to {ok | shutdown, Status}.
exec_fun(Fun, {_, Status} = Result) ->
    Parent = self(),
    {Pid, Ref} =
        spawn_monitor(fun() ->
                              try Fun(Status) of
                                  _ -> Parent ! {self(), Result}
                              catch
                                  exit:{shutdown, Code} when is_integer(Code) ->
                                      Parent ! {self(), {shutdown, Code}},
                                      exit({shutdown, Code});
                                  exit:Reason when Reason =:= normal; Reason =:= shutdown;
                                                   tuple_size(Reason) =:= 2, element(1, Reason) =:= shutdown ->
                                      Parent ! {self(), {shutdown, 0}},
                                      exit(Reason);
                                  Class:Reason:Stack ->
                                      io:put_chars(standard_error, [format_exception(Class, Reason, Stack), $\n]),
                                      Parent ! {self(), {shutdown, 1}},
                                      exit(normal)
                              end
                      end),
    receive
        {Pid, Ended} ->
            erlang:demonitor(Ref, [flush]),
            Ended;
        {'DOWN', Ref, process, Pid, Other} ->
            io:put_chars(standard_error, [format_exception(exit, Other, []), $\n]),
            {shutdown, 1}
    end.

flush_logger() ->
    case code:is_loaded('Elixir.Logger') of
        false -> ok;
        _ -> try 'Elixir.Logger':flush() catch _:_ -> ok end
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
