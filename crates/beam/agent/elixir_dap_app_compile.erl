%% elixir_dap_app_compile: compiles the program runs itself while it is
%% debugged (Phoenix.CodeReloader running Mix's compile.elixir on the next
%% request after a save, IEx `recompile`, `Mix.Task.run("compile")`).
%%
%% Two things break without this:
%% - OTP 25's VM crashes (SIGSEGV) when the compiler calls a function of an
%%   interpreted module through the interpreter's call traps (a `__using__`
%%   macro whose quote a `def` builds, as Phoenix's `MyAppWeb` does); so
%%   does OTP 29.1.2's when Kernel.ParallelCompiler.compile_to_path/3
%%   compiles the file of a module interpreted with its traps on (seen by
%%   hand with int:i/1 and Elixir 1.20.4, at the first compile). The
%%   adapter's own reloads lift those traps while they compile
%%   (elixir_dap_backend:with_traps_lifted/3); the program's compiles get the
%%   same here: the traps of every interpreted module are lifted when a
%%   compile starts, and come back when the compiles have stopped.
%% - A module the program recompiles is loaded natively (Elixir up to 1.18)
%%   or deleted and reloaded from its beam on next use (1.19+): either way it
%%   is no longer interpreted and its breakpoints are gone, silently. So the
%%   modules compiled are collected and, once the compiles have stopped, the
%%   adapter is told (event app_compiled): it interprets them again and
%%   re-arms their breakpoints, as after a reload of its own.
%%
%% Compiles are seen through a compiler tracer (Mix passes the global
%% tracers to every compile: Mix.Tasks.Compile.Elixir, v1.14.0 to v1.20.3):
%% `start`/`stop` bracket each file (and each module defined in a function),
%% `on_module` names each module defined. "Stopped" means no file in
%% compilation for ?QUIET_MS, so that one Mix compile with several files and
%% cycles is one burst. The adapter's own compiles are not the program's:
%% they run inside own/1.
-module(elixir_dap_app_compile).
-behaviour(gen_server).
-export([install/0, uninstall/0, trace/2, own/1, compiling/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
%% Quiet time after the last file of a compile before it counts as done.
-define(QUIET_MS, 100).

%% active: files in compilation; own: the adapter's compiles running;
%% interpreted: the interpreted modules when the burst began (a map);
%% lifted: the modules whose traps are lifted (a map); compiled: Module => File.
-record(state, {active = 0, own = 0, interpreted = #{}, lifted = #{}, compiled = #{}, timer = none}).

%% Starts the watcher (once) and adds the tracer to the compiler options.
-spec install() -> ok.
install() ->
    case whereis(?SERVER) of
        undefined ->
            {ok, _} = gen_server:start({local, ?SERVER}, ?MODULE, [], []);
        _ ->
            ok
    end,
    Tracers = 'Elixir.Code':get_compiler_option(tracers),
    lists:member(?MODULE, Tracers) orelse
        'Elixir.Code':put_compiler_option(tracers, [?MODULE | Tracers]),
    ok.

%% Takes the tracer out of the compiler options and stops the watcher: a
%% node attached to, when the session leaves it (elixir_dap_attach). A
%% compile already running keeps the tracer it started with; its calls to
%% the stopped watcher do nothing.
-spec uninstall() -> ok.
uninstall() ->
    Tracers = 'Elixir.Code':get_compiler_option(tracers),
    'Elixir.Code':put_compiler_option(tracers, lists:delete(?MODULE, Tracers)),
    case whereis(?SERVER) of
        undefined -> ok;
        Pid -> exit(Pid, kill)
    end,
    ok.

%% Runs Fun as one of the adapter's own compiles: the program's compile
%% handling stays out of it.
-spec own(fun(() -> T)) -> T.
own(Fun) ->
    Watching = whereis(?SERVER) =/= undefined,
    Watching andalso gen_server:call(?SERVER, {own, 1}, infinity),
    try
        Fun()
    after
        Watching andalso gen_server:call(?SERVER, {own, -1}, infinity)
    end.

%% The compiler tracer. Lifting waits for the server: the file's macros
%% may call interpreted code right away.
%%
%% A `.ex` file lifts every interpreted module's traps. A script (`.exs`:
%% test files, which `mix test` loads while async tests already run) lifts
%% only the modules it reaches at compile time (macros, structs, calls),
%% so that tests running meanwhile still stop at breakpoints in the code
%% they call.
-spec trace(tuple() | atom(), map()) -> ok.
trace(start, #{file := File}) ->
    count_compiling(1),
    call({start, script(File)});
trace(stop, _Env) ->
    count_compiling(-1),
    gen_server:cast(?SERVER, stop);
trace({on_module, Bin, _}, #{module := Module, file := File}) ->
    %% Kept now: the compiler may have loaded it from memory (IEx's c/1).
    script(File) orelse begin
                            elixir_dap_scripts:keep_object_code(Module, unicode:characters_to_binary(File), Bin),
                            gen_server:cast(?SERVER, {compiled, Module, File})
                        end,
    ok;
trace(Event, #{file := File}) when element(1, Event) =:= remote_macro;
                                   element(1, Event) =:= imported_macro;
                                   element(1, Event) =:= remote_function;
                                   element(1, Event) =:= imported_function;
                                   element(1, Event) =:= struct_expansion ->
    Module = element(3, Event),
    case is_atom(Module) andalso script(File) of
        true -> call({lift, Module});
        false -> ok
    end;
trace(_Event, _Env) ->
    ok.

%% Counts the files the calling process is compiling (the tracer runs in
%% the compiling process), for compiling/1: the native backend lets such
%% a process pass its breakpoints.
count_compiling(Delta) ->
    Key = {?MODULE, compiling, self()},
    try ets:update_counter(elixir_dap_breaks, Key, Delta, {Key, 0}) of
        N when N =< 0 -> ets:delete(elixir_dap_breaks, Key);
        _ -> ok
    catch
        error:badarg -> ok
    end.

%% Whether Pid is compiling a file of the program's own compile now.
-spec compiling(pid()) -> boolean().
compiling(Pid) when is_pid(Pid) ->
    try ets:member(elixir_dap_breaks, {?MODULE, compiling, Pid}) catch error:badarg -> false end.

%% Script modules are handed to the adapter by elixir_dap_scripts.
script(File) ->
    filename:extension(unicode:characters_to_list(File)) =:= ".exs".

call(Request) ->
    try gen_server:call(?SERVER, Request, infinity) catch exit:_ -> ok end,
    ok.

%% ---------------------------------------------------------------------------

-spec init([]) -> {ok, #state{}}.
init([]) ->
    {ok, #state{}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, ok, #state{}}.
handle_call({own, Delta}, _From, State) ->
    {reply, ok, State#state{own = max(0, State#state.own + Delta)}};
handle_call(_Request, _From, #state{own = Own} = State) when Own > 0 ->
    {reply, ok, State};
handle_call({start, Script}, _From, #state{active = Active, timer = Timer} = State0) ->
    cancel(Timer),
    State = case Active of
                0 -> State0#state{interpreted = maps:from_list([{M, true} || M <- elixir_dap_backend:interpreted()])};
                _ -> State0
            end,
    Lifted = case Script of
                 false -> lift([M || M <- maps:keys(State#state.interpreted)], State#state.lifted);
                 true -> State#state.lifted
             end,
    {reply, ok, State#state{active = Active + 1, lifted = Lifted, timer = none}};
handle_call({lift, Module}, _From, #state{interpreted = Interpreted, lifted = Lifted} = State) ->
    case maps:is_key(Module, Interpreted) of
        true -> {reply, ok, State#state{lifted = lift([Module], Lifted)}};
        false -> {reply, ok, State}
    end.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(stop, #state{own = Own} = State) when Own > 0 ->
    {noreply, State};
handle_cast(stop, #state{active = Active} = State) ->
    case max(0, Active - 1) of
        0 -> {noreply, State#state{active = 0, timer = erlang:send_after(?QUIET_MS, self(), quiet)}};
        Left -> {noreply, State#state{active = Left}}
    end;
handle_cast({compiled, _Module, _File}, #state{own = Own} = State) when Own > 0 ->
    {noreply, State};
handle_cast({compiled, Module, File}, #state{compiled = Compiled} = State) ->
    {noreply, State#state{compiled = Compiled#{Module => File}}}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(quiet, #state{active = 0} = State) ->
    {noreply, burst_done(State)};
handle_info(_Other, State) ->
    {noreply, State}.

cancel(none) -> ok;
cancel(Timer) -> erlang:cancel_timer(Timer).

%% Lifts the traps of Modules not lifted yet: calls into them from native
%% code (the compiler's) run natively meanwhile. Returns all lifted. The
%% native backend lifts nothing: its breakpoints stop no process that is
%% compiling (compiling/1), and the program's other processes, an async
%% test started while later test files compile, still stop.
lift(Modules, Lifted) ->
    New = case elixir_dap_backend:name() of
              native -> [];
              interpreter -> [M || M <- Modules, not maps:is_key(M, Lifted)]
          end,
    elixir_dap_backend:set_traps(New, false),
    maps:merge(Lifted, maps:from_list([{M, true} || M <- New])).

%% The compiles stopped: traps back on the modules still interpreted and
%% not recompiled (a recompiled module's new code must not trap into its
%% old interpreted version), then the adapter hears of the recompiled ones.
burst_done(#state{lifted = Lifted, compiled = Compiled} = State) ->
    Interpreted = maps:from_list([{M, true} || M <- elixir_dap_backend:interpreted()]),
    elixir_dap_backend:set_traps([M || M <- maps:keys(Lifted), maps:is_key(M, Interpreted),
                                       not maps:is_key(M, Compiled)], true),
    case maps:size(Compiled) of
        0 -> ok;
        _ -> report(Compiled)
    end,
    State#state{interpreted = #{}, lifted = #{}, compiled = #{}, timer = none}.

%% A beam the adapter's reloads left in the overlay directory would shadow
%% the program's new one on the code path: removed first. Then each module
%% is loaded (Elixir 1.19+ compiles to disk without loading) and reported.
report(Compiled) ->
    Modules = maps:keys(Compiled),
    elixir_dap_util:forget_overlay(Modules),
    [code:ensure_loaded(M) || M <- Modules],
    elixir_dap_util:send_event(app_compiled, #{
        modules => [#{module => M, name => elixir_dap_util:module_name(M),
                      source => unicode:characters_to_binary(File)}
                    || {M, File} <- maps:to_list(Compiled)]}).
