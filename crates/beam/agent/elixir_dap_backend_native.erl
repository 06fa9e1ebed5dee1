%% elixir_dap_backend_native: the debugger backend on OTP 28+'s native
%% debugger (erl_debugger, kernel; the VM started with +D), implementing
%% elixir_dap_backend (whose callbacks document the API). Issue 20.
%%
%% The program's code runs native, compiled with line debug info
%% (beam_debug_info, see elixir_dap_agent:native_build/1): a breakpoint can
%% only go on a line the compiler gave a debug_line, and nothing is
%% interpreted. Facts this module relies on (OTP 29.1, kernel's
%% erl_debugger.erl and by hand):
%% - one process per node registers (erl_debugger:register/1) and receives
%%   every hit as {debugger_event, Session, {breakpoint, Pid, MFA, Line,
%%   Resume}}; the process waits until Resume() is called;
%% - erl_debugger:stack_frames/2 answers `running` until the process is
%%   suspended (erlang:suspend_process/1); then its frames, innermost first:
%%   erts_internal:breakpoint/4, a '<breakpoint>' frame whose slots are the
%%   X registers saved at the stop, and the program's frames with their line
%%   and Y registers;
%% - code:get_debug_info/1 names each variable's register per debug_line
%%   (<<"_name@N">>, Elixir's Erlang names);
%% - breakpoints stay with the code they were set in: new code of a module
%%   has none, and those left in old code cannot be cleared any more.
%%
%% Processes: the session process (session/1) receives the hits and hands
%% each to the process attached to the hitting process (attached/1, one per
%% process that ever hit a breakpoint or was paused, for its life, as the
%% interpreter backend's), which applies the condition, hit count and log message, and
%% keeps a stopped process suspended until `continue`. Conditions run in the
%% attached process: a hit of the attached process itself is resumed at
%% once (it would wait for itself).
%%
%% Reloaded code is debugged again: the batch's breakpoints are cleared
%% before it loads and set again on the new code (see "Reload" below). A
%% node attached to (with +D) is left as found (see "Attach"). The
%% evaluation machinery (run_evaluation/5, evaluation_paused/2,
%% skips_breakpoints/1) and frame names are the interpreter backend's,
%% which touch no :int.
-module(elixir_dap_backend_native).
-behaviour(elixir_dap_backend).
-export([ensure_started/1, interpret/1, interpret_running/1, interpret_pending/2, breakable_lines/1,
         function_lines/3,
         set_breakpoints/2, command/2, stack/1, frame_variables/2, evaluate/5,
         run_evaluation/5, evaluation_paused/2, skips_breakpoints/1, frame_name/3,
         meta_of/1, interpreted_callers/1,
         interpreted/0, interpreted_among/1, paused_processes/0, reinterpret/2, interpret_binary/4, invalidate/1,
         prune_interpreted_versions/1, with_traps_lifted/3, set_traps/2,
         interpreted_processes/0, interpreting_meta/2, meta_backtrace/1,
         stage_versions/1, discard_staged/1, switch_batch/4, unlist/1, unlisting/1, relist/1, unlisted/1,
         found/0, leave_node/1, interpret_shipped/5]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [throw_error/2, module_name/1, format_term/1, thread_name/1, to_atom/2]).
-import(elixir_dap_expr, [hit_reached/2, eval_elixir/2, elixir_binding/1, eval_condition/4, log_or_stop/4]).

-define(BREAKS, elixir_dap_breaks).
-define(SESSION, elixir_dap_native_session).
%% The largest value (in words) read from a register; a variable holding a
%% larger one is not shown.
-define(MAX_TERM_WORDS, 1000000).
%% How many times (1 ms apart) the frames of a process just suspended are
%% asked for while the VM says it still runs (read_frames/3).
-define(FRAME_TRIES, 100).
%% How long a `pause` waits for the paused process to reach a debugged line
%% (pause_running/2) before it stops it where it is, in ms: far above a
%% short wait (an io request, a GenServer call, a sleep in a loop), short
%% enough that a pause of a process blocked for good answers soon.
-define(PAUSE_GRACE_MS, 500).

%% ---------------------------------------------------------------------------
%% Set-up

-spec ensure_started(binary()) -> {ok, ok}.
ensure_started(_StackTraceMode) ->
    supported() orelse throw_error(native_debugger_unavailable, #{}),
    elixir_dap_tables:ensure(),
    case whereis(?SESSION) of
        undefined -> start_session();
        _ -> {ok, ok}
    end.

supported() ->
    try erl_debugger:supported() catch error:undef -> false end.

start_session() ->
    Caller = self(),
    {Pid, Ref} = spawn_monitor(fun() -> session_init(Caller) end),
    receive
        {Pid, registered} ->
            erlang:demonitor(Ref, [flush]),
            {ok, ok};
        {Pid, {taken, Holder}} ->
            erlang:demonitor(Ref, [flush]),
            throw_error(native_debugger_taken, #{holder => format_term(Holder)});
        {'DOWN', Ref, process, Pid, Reason} ->
            throw_error(native_session_ended, #{error => format_term(Reason)})
    end.

session_init(Caller) ->
    true = register(?SESSION, self()),
    case erl_debugger:register(self()) of
        {ok, Session} ->
            Caller ! {self(), registered},
            session(Session);
        {error, already_exists} ->
            Caller ! {self(), {taken, erl_debugger:whereis()}}
    end.

%% The one process erl_debugger sends hits to: each goes to the process
%% attached to the process that hit it.
session(Session) ->
    receive
        {debugger_event, Session, {breakpoint, Pid, MFA, Line, Resume}} ->
            %% A process compiling a file of the program's own compile (its
            %% macros calling a debugged module) never stops.
            Compiling = elixir_dap_app_compile:compiling(Pid),
            case ets:lookup(?BREAKS, {?MODULE, attached, Pid}) of
                _ when Compiling ->
                    Resume();
                [{_, Attached}] ->
                    Attached ! {hit, MFA, Line, Resume};
                [] ->
                    case ets:member(?BREAKS, {?MODULE, attacher, Pid}) of
                        %% An attached process running a condition or log
                        %% expression: it cannot wait for itself.
                        true -> Resume();
                        false -> attach(Pid) ! {hit, MFA, Line, Resume}
                    end
            end,
            session(Session);
        %% A pause of a process that has not hit a breakpoint since it was
        %% attached to: attached here, where hits attach too, so that a
        %% process never has two.
        {attach, Pid, From} ->
            Attached = case ets:lookup(?BREAKS, {?MODULE, attached, Pid}) of
                           [{_, Found}] -> Found;
                           [] -> attach(Pid)
                       end,
            From ! {?SESSION, attached, Pid, Attached},
            session(Session);
        %% Detach (leave_node/1): no hit reaches the session once it is
        %% unregistered; those already sent go on.
        {leave, From} ->
            ok = erl_debugger:unregister(self(), Session),
            resume_hits(fun(Resume) -> Resume() end),
            From ! {?SESSION, left};
        _Other ->
            session(Session)
    end.

attach(Pid) ->
    Attached = spawn(fun() -> attached(Pid) end),
    ets:insert(?BREAKS, [{{?MODULE, attached, Pid}, Attached}, {{?MODULE, attacher, Attached}, Pid}]),
    Attached.

%% Attached to Pid for its life: its hits, its pauses, its end.
attached(Pid) ->
    Ref = erlang:monitor(process, Pid),
    attached_loop(Pid, Ref).

attached_loop(Pid, Ref) ->
    receive
        {hit, {Module, _F, _A} = MFA, Line, Resume} ->
            case stops(Pid, MFA, Line) of
                {true, Spec} ->
                    end_step(Pid),
                    pause(Pid, Ref, Module, Line, Spec, Resume);
                false ->
                    case step_ends(Pid, Module, Line) of
                        {true, Kind} ->
                            end_step(Pid),
                            pause(Pid, Ref, Module, Line, #{kind => Kind}, Resume);
                        false ->
                            Resume()
                    end
            end,
            attached_loop(Pid, Ref);
        {pause, From} ->
            From ! {self(), pausing},
            pause_running(Pid, Ref),
            attached_loop(Pid, Ref);
        %% The pause's grace is over and it has not stopped Pid yet.
        {pause_grace, Tag} ->
            case ets:lookup(?BREAKS, {?MODULE, step, Pid}) of
                [{_, #{step := pause, grace := Tag}}] -> pause_running(Pid, Ref);
                _ -> ok
            end,
            attached_loop(Pid, Ref);
        {leave, From} ->
            left(Pid, From);
        {'DOWN', Ref, process, Pid, Reason} ->
            ended(Pid, Reason);
        _Other ->
            attached_loop(Pid, Ref)
    end.

%% Detach (leave_node/1): Pid goes on from every breakpoint it waits at (a
%% hit not handled yet included), its step is over, and this process ends
%% without a word to the adapter, which is leaving.
left(Pid, From) ->
    end_step(Pid),
    resume_hits(fun(Resume) -> Resume() end),
    From ! {self(), left},
    exit(normal).

%% Runs Go(Resume) for each breakpoint hit waiting in this process's mailbox
%% (the session's events or the hits it handed on).
resume_hits(Go) ->
    receive
        {debugger_event, _Session, {breakpoint, _Pid, _MFA, _Line, Resume}} -> Go(Resume), resume_hits(Go);
        {hit, _MFA, _Line, Resume} -> Go(Resume), resume_hits(Go)
    after 0 ->
            ok
    end.

%% `pause` of a running process. One with code of a debugged module on
%% its stack is stopped at the next breakable line it reaches, as a
%% `stepIn` would stop it: there its variables are known exactly (the
%% registers saved at the stop). That holds for one that waits a moment
%% too (an io request, a call, a sleep in a loop): its status at the
%% instant of the pause says nothing about how long it waits. One that
%% reaches no such line within ?PAUSE_GRACE_MS (blocked in a receive, or
%% busy in code not debugged), or has no debugged code on its stack, is
%% stopped where it is, its frames read from the suspended process (the
%% top frame's variables held in registers are then not known). A second
%% `pause` before the first stopped it stops it where it is at once.
pause_running(Pid, Ref) ->
    Status = process_info(Pid, status),
    case suspend(Pid) of
        false ->
            ok;
        true ->
            %% Frames not readable: stopped where it is, its stack unknown.
            Frames = try program_frames(Pid, 0) catch throw:{agent_error, _} -> [] end,
            Debugged = [M || {{M, _F, _A}, _Line, _Slots} <- Frames,
                             ets:member(?BREAKS, {?MODULE, debuggable, M})],
            Pausing = case ets:lookup(?BREAKS, {?MODULE, step, Pid}) of
                          [{_, #{step := pause}}] -> true;
                          _ -> false
                      end,
            case Debugged =/= [] andalso not Pausing of
                true ->
                    %% One that waits goes on in the code on its stack: the
                    %% other debugged modules' lines are not made temporary
                    %% breakpoints, which every process would hit meanwhile.
                    begin_step(Pid, pause, Status =/= {status, waiting}),
                    Tag = make_ref(),
                    [{Key, Step}] = ets:lookup(?BREAKS, {?MODULE, step, Pid}),
                    ets:insert(?BREAKS, {Key, Step#{grace => Tag}}),
                    erlang:send_after(?PAUSE_GRACE_MS, self(), {pause_grace, Tag}),
                    erlang:resume_process(Pid);
                false ->
                    end_step(Pid),
                    {Module, Line} = case Frames of
                                         [{{M, _F, _A}, L, _Slots} | _] -> {M, L};
                                         [] -> {undefined, 0}
                                     end,
                    stopped(Pid, Ref, Module, Line, #{kind => <<"pause">>}, fun() -> ok end)
            end
    end.

%% Suspends Pid unless it has ended: whether it did.
suspend(Pid) ->
    try erlang:suspend_process(Pid) catch error:badarg -> false end.

%% Pid stays suspended (its frames can be read) until `continue`.
pause(Pid, Ref, Module, Line, Spec, Resume) ->
    erlang:suspend_process(Pid),
    stopped(Pid, Ref, Module, Line, Spec, Resume).

%% Pid, suspended, is stopped at Module:Line: announced, and kept so until
%% `continue` (Resume() lets it go on from a breakpoint it waits at).
stopped(Pid, Ref, Module, Line, Spec, Resume) ->
    ets:insert(?BREAKS, {{?MODULE, paused, Pid}, #{module => Module, line => Line, attached => self()}}),
    Stop = #{pid => Pid, name => thread_name(Pid), module => Module, line => Line,
             breakpoints => maps:get(ids, Spec, []), kind => maps:get(kind, Spec, <<"breakpoint">>)},
    Where = fun() -> top_frame(Pid, Line) end,
    case elixir_dap_backend_int:evaluation_paused(Pid, Stop, Where) of
        killed -> ok;
        Announced -> elixir_dap_util:send_event(stopped, Announced)
    end,
    stopped_loop(Pid, Ref, Resume).

stopped_loop(Pid, Ref, Resume) ->
    receive
        {continue, From} ->
            ets:delete(?BREAKS, {?MODULE, paused, Pid}),
            elixir_dap_values:release(Pid),
            erlang:resume_process(Pid),
            Resume(),
            From ! {self(), resumed};
        %% A pause that crossed the stop: it is stopped already.
        {pause, From} ->
            From ! {self(), pausing},
            stopped_loop(Pid, Ref, Resume);
        {leave, From} ->
            erlang:resume_process(Pid),
            Resume(),
            left(Pid, From);
        {'DOWN', Ref, process, Pid, Reason} ->
            ended(Pid, Reason)
    end.

ended(Pid, Reason) ->
    end_step(Pid),
    elixir_dap_values:release(Pid),
    ets:delete(?BREAKS, {?MODULE, paused, Pid}),
    ets:delete(?BREAKS, {?MODULE, attached, Pid}),
    ets:delete(?BREAKS, {?MODULE, attacher, self()}),
    elixir_dap_util:send_event(thread_exited, #{pid => Pid, reason => format_term(Reason)}),
    exit(normal).

%% Whether Pid's hit of Module:Line in Function/Arity stops it: false, or
%% {true, Spec}. A line breakpoint is on a line of the module's own file:
%% code a macro injected from another file has lines of that file, which
%% erl_debugger does not tell apart (OTP 29 gives such code no debug_line;
%% this holds should a later compiler give it some).
stops(Pid, {Module, Function, Arity}, Line) ->
    case not elixir_dap_backend_int:skips_breakpoints(Pid) andalso ets:lookup(?BREAKS, {?MODULE, break, Module, Line}) of
        false -> false;
        [] -> false;
        [{_, #{kind := <<"breakpoint">>}} = Found] ->
            case own_code(Module, Function, Arity) of
                true -> checked(Pid, Found, Module, Line);
                false -> false
            end;
        [Found] ->
            checked(Pid, Found, Module, Line)
    end.

checked(Pid, {Key, Spec}, Module, Line) ->
    case has_checks(Spec) of
        false -> {true, Spec};
        true -> check(Pid, Key, Spec, Module, Line)
    end.

has_checks(#{condition := nil, hit_condition := nil, log := nil}) -> false;
has_checks(_) -> true.

check(Pid, Key, Spec, Module, Line) ->
    erlang:suspend_process(Pid),
    %% Frames not readable (read_frames/3): the condition sees no variables.
    Binding = try elixir_binding(binding(Pid, 0))
              catch throw:{agent_error, _} -> []
              after erlang:resume_process(Pid)
              end,
    Stops = case eval_condition(maps:get(condition, Spec), Binding, Module, Line) of
                false -> false;
                true ->
                    Count = maps:get(hits, Spec) + 1,
                    ets:insert(?BREAKS, {Key, Spec#{hits => Count}}),
                    hit_reached(maps:get(hit_condition, Spec), Count)
                        andalso log_or_stop(maps:get(log, Spec), Binding, Module, Line)
            end,
    Stops andalso {true, Spec}.

%% ---------------------------------------------------------------------------
%% Modules: nothing is interpreted; a module is debuggable when its loaded
%% code has line breakpoints.

-spec interpret([elixir_dap_backend:module_name()]) -> {ok, elixir_dap_backend:interpreted()}.
interpret(Names) ->
    {Interpreted, Skipped, _Unknown} = debuggable(Names),
    {ok, #{interpreted => Interpreted, skipped => Skipped}}.

-spec interpret_running([elixir_dap_backend:module_name()]) -> {ok, elixir_dap_backend:interpreted()}.
interpret_running(Names) ->
    interpret(Names).

-spec interpret_pending([binary()], low | normal) -> {ok, elixir_dap_backend:pending()}.
interpret_pending(Names, _Priority) ->
    {Interpreted, Skipped, Unknown} = debuggable(Names),
    {ok, #{interpreted => Interpreted, busy => [], skipped => Skipped, unknown => Unknown}}.

debuggable(Names) ->
    lists:foldr(fun(Name, {Ok, Skipped, Unknown}) ->
                        case existing_atom(Name) of
                            none ->
                                {Ok, Skipped, [Name | Unknown]};
                            Module ->
                                case line_map(Module) of
                                    {ok, Lines} when map_size(Lines) > 0 ->
                                        ets:insert(?BREAKS, {{?MODULE, debuggable, Module}, true}),
                                        {[Module | Ok], Skipped, Unknown};
                                    {ok, _} ->
                                        {Ok, [skip(Module, #{kind => no_debug_lines}) | Skipped], Unknown};
                                    {error, Why} ->
                                        {Ok, [skip(Module, Why) | Skipped], Unknown}
                                end
                        end
                end, {[], [], []}, Names).

existing_atom(Name) when is_atom(Name) -> Name;
existing_atom(Name) -> try binary_to_existing_atom(Name, utf8) catch error:badarg -> none end.

skip(Module, Reason) ->
    #{module => Module, name => module_name(Module), reason => Reason}.

%% The module's breakable lines, each with its function: {ok, #{Line =>
%% {F, A}}}, or {error, Reason} (a skip's reason()).
line_map(Module) ->
    case lines_per_function(Module) of
        {ok, PerFunction} ->
            {ok, maps:from_list([{Line, Function} || {Function, Lines} <- maps:to_list(PerFunction),
                                                     Line <- maps:keys(Lines)])};
        {error, _} = Error ->
            Error
    end.

%% {ok, #{{F, A} => #{Line => _}}} (erl_debugger:breakpoints/1), or {error,
%% Reason} (a skip's reason()).
lines_per_function(Module) ->
    case code:ensure_loaded(Module) of
        {module, Module} ->
            case erl_debugger:breakpoints(Module) of
                {ok, PerFunction} ->
                    {ok, PerFunction};
                %% badkey: purged since it was loaded above.
                {error, Reason} ->
                    {error, #{kind => load_failed, error => format_term(Reason)}}
            end;
        {error, Reason} ->
            {error, #{kind => load_failed, error => format_term(Reason)}}
    end.

%% The breakable lines of the module's own file: those of code a macro
%% injected from another file are lines of that file (see stops/3).
-spec breakable_lines(elixir_dap_backend:module_name()) -> {ok, [pos_integer()]}.
breakable_lines(Name) ->
    Module = to_atom(Name, module),
    PerFunction = case lines_per_function(Module) of
                      {ok, Found} -> [{F, Lines} || {F, Lines} <- maps:to_list(Found), map_size(Lines) > 0];
                      {error, Why} -> throw_error(not_debuggable, #{module => Module, reason => Why})
                  end,
    PerFunction =:= [] andalso
        throw_error(not_debuggable, #{module => Module, reason => #{kind => no_debug_lines}}),
    {ok, lists:usort([Line || {{F, A}, Lines} <- PerFunction, own_code(Module, F, A), Line <- maps:keys(Lines)])}.

%% The first breakable line of Function/Arity (any: of each arity): the
%% native debugger knows lines, not clauses.
-spec function_lines(elixir_dap_backend:module_name(), binary(), arity() | any) -> {ok, [pos_integer()]}.
function_lines(Name, FunctionName, Arity) ->
    Module = to_atom(Name, module),
    Function = existing_atom(FunctionName),
    {ok, Lines} = case line_map(Module) of
                      {error, Why} -> throw_error(not_debuggable, #{module => Module, reason => Why});
                      Found -> Found
                  end,
    ByFunction = maps:groups_from_list(fun({_Line, F}) -> F end, fun({Line, _F}) -> Line end,
                                       maps:to_list(Lines)),
    case lists:usort([lists:min(Ls) || {{F, A}, Ls} <- maps:to_list(ByFunction),
                                       F =:= Function, Arity =:= any orelse A =:= Arity]) of
        [] -> no_lines(Module, Function, Arity);
        Starts -> {ok, Starts}
    end.

%% A function of the module without a debug_line (code a macro injected
%% from another file, or that the compiler generated) is refused, saying
%% so; a name the module defines no function of has no lines.
no_lines(Module, Function, Arity) ->
    case [A || {F, A} <- Module:module_info(functions), F =:= Function, Arity =:= any orelse A =:= Arity] of
        [] ->
            {ok, []};
        [Defined | _] ->
            Injected = case elixir_dap_backend_int:function_file(Module, Function, Defined, own_source(Module)) of
                           own -> <<>>;
                           File -> File
                       end,
            throw_error(function_not_breakable, #{module => Module, function => atom_to_binary(Function, utf8),
                                                  arity => Defined, injected_from => Injected})
    end.

%% ---------------------------------------------------------------------------
%% Breakpoints

-spec set_breakpoints(elixir_dap_backend:module_name(), [map()]) -> {ok, ok}.
set_breakpoints(Name, Breakpoints) ->
    Module = to_atom(Name, module),
    [erl_debugger:breakpoint(Module, Line, false)
     || [Line] <- ets:match(?BREAKS, {{?MODULE, break, Module, '$1'}, '_'}),
        not ets:member(?BREAKS, {?MODULE, temporary, Module, Line})],
    ets:match_delete(?BREAKS, {{?MODULE, break, Module, '_'}, '_'}),
    elixir_dap_expr:forget_reports(Module),
    lists:foreach(fun(B) -> set_breakpoint(Module, B) end, Breakpoints),
    {ok, ok}.

set_breakpoint(Module, #{line := Line} = Spec) ->
    case erl_debugger:breakpoint(Module, Line, true) of
        ok -> ok;
        {error, Reason} ->
            throw_error(breakpoint_refused, #{module => Module, line => Line, error => format_term(Reason)})
    end,
    ets:insert(?BREAKS, {{?MODULE, break, Module, Line},
                         #{condition => maps:get(condition, Spec, nil),
                           hit_condition => maps:get(hit_condition, Spec, nil),
                           log => maps:get(log, Spec, nil), hits => 0,
                           ids => maps:get(ids, Spec, []),
                           kind => maps:get(kind, Spec, <<"breakpoint">>)}}).

%% ---------------------------------------------------------------------------
%% Paused processes

-spec command(pid(), elixir_dap_backend:command()) -> {ok, ok}.
command(Pid, continue) ->
    #{attached := Attached} = paused(Pid),
    resume(Attached);
command(Pid, Step) when Step =:= next; Step =:= step_in; Step =:= step_out ->
    #{attached := Attached} = paused(Pid),
    begin_step(Pid, Step),
    resume(Attached);
command(Pid, pause) ->
    case ets:member(?BREAKS, {?MODULE, paused, Pid}) of
        true -> {ok, ok};
        false -> request_pause(Pid)
    end.

%% Hands the pause to the process attached to Pid (see pause_running/2);
%% answers once it has it, before the stop (the `stopped` event follows).
request_pause(Pid) ->
    is_process_alive(Pid) orelse throw_error(exited, #{pid => Pid}),
    ets:member(?BREAKS, {?MODULE, attacher, Pid}) andalso throw_error(not_interpreted, #{pid => Pid}),
    Attached = attached_process(Pid),
    Ref = erlang:monitor(process, Attached),
    Attached ! {pause, self()},
    receive
        {Attached, pausing} ->
            erlang:demonitor(Ref, [flush]),
            {ok, ok};
        {'DOWN', Ref, process, Attached, _} ->
            throw_error(exited, #{pid => Pid})
    end.

attached_process(Pid) ->
    case ets:lookup(?BREAKS, {?MODULE, attached, Pid}) of
        [{_, Attached}] ->
            Attached;
        [] ->
            Session = whereis(?SESSION),
            Session =:= undefined andalso throw_error(native_session_ended, #{error => <<"not running">>}),
            Session ! {attach, Pid, self()},
            receive {?SESSION, attached, Pid, Attached} -> Attached end
    end.

resume(Attached) ->
    Ref = erlang:monitor(process, Attached),
    Attached ! {continue, self()},
    receive
        {Attached, resumed} -> erlang:demonitor(Ref, [flush]), {ok, ok};
        {'DOWN', Ref, process, Attached, _} -> {ok, ok}
    end.

paused(Pid) ->
    case ets:lookup(?BREAKS, {?MODULE, paused, Pid}) of
        [{_, Paused}] -> Paused;
        [] -> throw_error(not_paused, #{pid => Pid, status => running})
    end.

%% ---------------------------------------------------------------------------
%% Stepping
%%
%% erl_debugger has no stepping: a step is temporary breakpoints, as OTP's
%% edb builds it. The paused process resumes with a breakpoint on every
%% breakable line of the modules on its stack (`step_in`: and of every
%% debugged module), and stops at the first of those lines it reaches at a
%% stack depth the step accepts: `next` at its depth or shallower (a line
%% of the same function, or of a caller once it returned), `step_out`
%% shallower only, `step_in` at any depth. Hits of other processes, and of
%% this one deeper than the step allows, resume at once. A breakpoint of
%% the user's that stops the process ends its step too. A tail call leaves
%% no frame: `next` over one stops in the function it called when that is
%% in a module on the stack.

begin_step(Pid, Step) ->
    begin_step(Pid, Step, true).

%% Everywhere: a `stepIn` or a pause stops in any debugged module, else only
%% in those on the stack.
begin_step(Pid, Step, Everywhere) ->
    end_step(Pid),
    %% Frames not readable (read_frames/3): a `stepIn` ends at the first
    %% line reached, a `next` or `stepOut` runs on as a `continue` would.
    Frames = try program_frames(Pid, 0) catch throw:{agent_error, _} -> [] end,
    OnStack = lists:usort([M || {{M, _F, _A}, _Line, _Slots} <- Frames]),
    Modules = case Step of
                  _ when Everywhere andalso (Step =:= step_in orelse Step =:= pause) ->
                      lists:usort(OnStack ++ interpreted());
                  _ -> OnStack
              end,
    Lines = [{M, L} || M <- Modules, {ok, Map} <- [line_map(M)], L <- maps:keys(Map)],
    lists:foreach(fun enable_temporary/1, Lines),
    ets:insert(?BREAKS, {{?MODULE, step, Pid}, #{step => Step, depth => length(Frames),
                                                  lines => maps:from_keys(Lines, true)}}).

%% A line can be a temporary breakpoint of several steps, and a breakpoint
%% of the user's: it is enabled while any of them needs it.
enable_temporary({Module, Line}) ->
    Key = {?MODULE, temporary, Module, Line},
    case ets:update_counter(?BREAKS, Key, 1, {Key, 0}) of
        1 -> erl_debugger:breakpoint(Module, Line, true);
        _ -> ok
    end.

disable_temporary({Module, Line}) ->
    Key = {?MODULE, temporary, Module, Line},
    case ets:update_counter(?BREAKS, Key, -1, {Key, 1}) of
        0 ->
            ets:delete(?BREAKS, Key),
            ets:member(?BREAKS, {?MODULE, break, Module, Line})
                orelse erl_debugger:breakpoint(Module, Line, false);
        _ ->
            ok
    end.

end_step(Pid) ->
    case ets:take(?BREAKS, {?MODULE, step, Pid}) of
        [{_, #{lines := Lines}}] -> lists:foreach(fun disable_temporary/1, maps:keys(Lines));
        [] -> ok
    end.

%% Whether Pid's hit of Module:Line ends its step (a pause, see
%% pause_running/2, is a step that ends at the first line reached):
%% {true, the stop's kind} or false.
step_ends(Pid, Module, Line) ->
    case ets:lookup(?BREAKS, {?MODULE, step, Pid}) of
        [{_, #{step := pause, lines := #{{Module, Line} := true}}}] ->
            {true, <<"pause">>};
        [{_, #{step := Step, depth := Start, lines := #{{Module, Line} := true}}}] ->
            Ends = Step =:= step_in orelse begin
                                               Depth = depth(Pid),
                                               Depth < Start orelse (Step =:= next andalso Depth =:= Start)
                                           end,
            Ends andalso {true, <<"step">>};
        _ ->
            false
    end.

%% Pid's stack depth; 0 if its frames cannot be read (the step then ends
%% here: a stop where it was not asked for beats a process left waiting).
depth(Pid) ->
    erlang:suspend_process(Pid),
    try length(program_frames(Pid, 0))
    catch throw:{agent_error, _} -> 0
    after erlang:resume_process(Pid)
    end.

%% ---------------------------------------------------------------------------
%% Stacks and variables

%% The program's frames of a paused process, innermost first (frames of
%% code without line information have line 0).
-spec stack(pid()) -> {ok, [elixir_dap_backend:frame()]}.
stack(Pid) ->
    #{line := StopLine} = paused(Pid),
    Frames = program_frames(Pid, 0),
    {ok, [frame(Level, M, F, A, case Level of 0 -> StopLine; _ -> Line end)
          || {Level, {{M, F, A}, Line, _Slots}} <- lists:enumerate(0, Frames)]}.

frame(Level, Module, Function, LiftedArity, Line) ->
    Arity = fun_arity(Module, Function, LiftedArity),
    %% Code a macro injected with `location: :keep` names the file it was
    %% written in; erl_debugger gives its lines, not its file.
    Own = own_source(Module),
    Source = case elixir_dap_backend_int:function_file(Module, Function, Arity, Own) of
                 own -> Own;
                 Injected -> Injected
             end,
    #{level => Level, module => Module, module_name => module_name(Module),
      function => atom_to_binary(Function, utf8), arity => Arity, line => Line,
      name => frame_name(Module, Function, Arity), source => Source}.

own_source(Module) ->
    case elixir_dap_project:module_source(Module) of
        none -> <<>>;
        S -> unicode:characters_to_binary(S)
    end.

%% Whether the code of Function/Arity was written in Module's own file, not
%% injected by a macro from another one.
own_code(Module, Function, Arity) ->
    elixir_dap_backend_int:function_file(Module, Function, Arity, own_source(Module)) =:= own.

%% The function and source of a suspended process's top frame, stopped on
%% Line, for an evaluation's answer (elixir_dap_backend_int:evaluation_paused/3).
top_frame(Pid, Line) ->
    case program_frames(Pid, 0) of
        [{{M, F, A}, _FrameLine, _Slots} | _] ->
            #{name := Name, source := Source} = frame(0, M, F, A, Line),
            #{function => Name, source => Source};
        [] ->
            #{}
    end.

%% A fun's frame is the function the compiler lifted its body into
%% ('-f/1-fun-0-'), whose arity counts the variables the fun captured
%% before its own arguments; Elixir (and the interpreter's frames) name the
%% fun by its own arity. From the module's fun table (the beam's FunT
%% chunk: per fun its lifted function's atom, arity and number of free
%% variables); Arity as it is when the table cannot be read.
fun_arity(Module, Function, Arity) ->
    case atom_to_binary(Function, utf8) of
        <<"-", _/binary>> ->
            try
                {ok, {Module, [{atoms, Atoms}, {"FunT", <<_Count:32, Table/binary>>}]}} =
                    beam_lib:chunks(code:which(Module), [atoms, "FunT"]),
                [Own | _] = [Total - Free || <<Name:32, Total:32, _Label:32, _Index:32, Free:32, _Uniq:32>> <= Table,
                                            Total =:= Arity, lists:keyfind(Name, 1, Atoms) =:= {Name, Function}],
                Own
            catch
                _:_ -> Arity
            end;
        _ ->
            Arity
    end.

%% [{MFA, Line, Slots}] of the program's frames, innermost first, and the
%% X registers saved at the stop first when Words > 0: {XSlots, Frames}.
program_frames(Pid, Words) ->
    {_X, Frames} = read_frames(Pid, Words),
    Frames.

read_frames(Pid, Words) ->
    read_frames(Pid, Words, ?FRAME_TRIES).

read_frames(Pid, Words, Tries) ->
    case erl_debugger:stack_frames(Pid, Words) of
        %% Seen on OTP 29 under load: suspend_process/1 has returned, and
        %% the VM still answers `running` for a moment.
        running when Tries > 1 ->
            receive after 1 -> ok end,
            read_frames(Pid, Words, Tries - 1);
        running ->
            throw_error(not_paused, #{pid => Pid, status => running});
        Raw ->
            X = [Slots || {_, '<breakpoint>', #{slots := Slots}} <- Raw],
            Frames = [{MFA, line_or_zero(Line), Slots}
                      || {_, #{function := {M, _, _} = MFA, line := Line}, #{slots := Slots}} <- Raw,
                         M =/= erts_internal],
            {lists:append(X), Frames}
    end.

line_or_zero(Line) when is_integer(Line) -> Line;
line_or_zero(_) -> 0.

-spec frame_variables(pid(), non_neg_integer()) -> {ok, [elixir_dap_values:variable()]}.
frame_variables(Pid, Level) ->
    paused(Pid),
    {ok, [elixir_dap_values:variable(Pid, atom_to_binary(Name, utf8), Value)
          || {Name, Value} <- elixir_binding(binding(Pid, Level))]}.

%% The Erlang names and values of the variables of frame Level of a
%% suspended process, from the module's debug info at the frame's line: in
%% the top frame, the registers saved at the stop; in a caller, only its
%% stack slots (Y registers: a variable held in an X register at the line's
%% start is not known at the call).
binding(Pid, Level) ->
    {X, Frames} = read_frames(Pid, ?MAX_TERM_WORDS),
    case Level < length(Frames) of
        false -> throw_error(no_frame, #{pid => Pid, level => Level});
        true -> ok
    end,
    {{Module, _F, _A}, FrameLine, Y} = lists:nth(Level + 1, Frames),
    Line = case {Level, ets:lookup(?BREAKS, {?MODULE, paused, Pid})} of
               {0, [{_, #{line := L}}]} -> L;
               _ -> FrameLine
           end,
    Vars = case debug_vars(Module, Line) of
               none -> [];
               Found -> Found
           end,
    lists:filtermap(fun({Name, Where}) ->
                            case slot_value(Where, Level, X, Y) of
                                {value, Value} -> {true, {binary_to_atom(Name, utf8), Value}};
                                none -> false
                            end
                    end, Vars).

debug_vars(Module, Line) ->
    case try code:get_debug_info(Module) catch _:_ -> none end of
        Entries when is_list(Entries) ->
            case [Vars || {L, #{vars := Vars}} <- Entries, L =:= Line] of
                [Vars | _] -> [V || {Name, _} = V <- Vars, is_binary(Name)];
                [] -> none
            end;
        _ ->
            none
    end.

slot_value({x, N}, 0, X, _Y) -> nth_value(N, X);
slot_value({y, N}, _Level, _X, Y) -> nth_value(N, Y);
slot_value({value, Value}, _Level, _X, _Y) -> {value, Value};
slot_value(_, _Level, _X, _Y) -> none.

nth_value(N, Slots) when N < length(Slots) ->
    case lists:nth(N + 1, Slots) of
        {value, Value} -> {value, Value};
        %% {too_large, Words}: not shown rather than shown wrong.
        _ -> none
    end;
nth_value(_N, _Slots) ->
    none.

-spec evaluate(pid() | nil, non_neg_integer(), binary(), non_neg_integer(), binary()) ->
          {ok, elixir_dap_backend:evaluation()}.
evaluate(Target, Level, Expression, Timeout, Context) ->
    Binding = case Target of
                  nil -> [];
                  Pid -> paused(Pid), elixir_binding(binding(Pid, Level))
              end,
    run_evaluation(Target, Expression, fun() -> eval_elixir(Expression, Binding) end, Timeout, Context).

-spec run_evaluation(pid() | nil, binary(), fun(() -> {ok, term()} | {error, binary()}),
                     non_neg_integer(), binary()) -> {ok, elixir_dap_backend:evaluation()}.
run_evaluation(Owner, Expression, Eval, Timeout, Context) ->
    elixir_dap_backend_int:run_evaluation(Owner, Expression, Eval, Timeout, Context).

-spec evaluation_paused(pid(), elixir_dap_backend:stop()) -> elixir_dap_backend:stop() | killed.
evaluation_paused(Pid, Stop) ->
    elixir_dap_backend_int:evaluation_paused(Pid, Stop).

-spec skips_breakpoints(pid() | undefined) -> boolean().
skips_breakpoints(Pid) ->
    elixir_dap_backend_int:skips_breakpoints(Pid).

-spec frame_name(module() | term(), atom() | term(), arity()) -> binary().
frame_name(Module, Function, Arity) ->
    elixir_dap_backend_int:frame_name(Module, Function, Arity).

%% No process runs the program's code for it.
-spec meta_of(pid()) -> {ok, pid()} | none.
meta_of(_Pid) -> none.

-spec interpreted_callers(pid()) -> [elixir_dap_backend:frame()].
interpreted_callers(_Meta) -> [].

%% ---------------------------------------------------------------------------
%% Reload (issue 20)
%%
%% Nothing is interpreted: a reloaded module is debugged again when its new
%% code has line breakpoints. Breakpoints belong to the code they were set
%% in: new code has none, and those left in code that became old cannot be
%% cleared any more (a process still running it would stop there for ever
%% after). So the batch's breakpoints are cleared in the code that runs
%% before anything of the batch loads: for the compile (with_traps_lifted/3,
%% since Elixir's compiler may load a module of the batch as it defines it,
%% and a breakpoint in a module used at compile time would stop the
%% compiler), and again right before the staged native code loads
%% (switch_batch/4), in one code:finish_loading/1 for the batch. The adapter
%% then sets them on the new code, moved with their statements
%% (elixir_dap_reload's `interpret` step, then set_breakpoints/2). A process
%% paused at a breakpoint meanwhile stays paused in the code it stopped in;
%% resumed, it finishes that call there and runs the new code from its next
%% fully qualified call.

-spec interpreted() -> [module()].
interpreted() ->
    [M || [M] <- ets:match(?BREAKS, {{?MODULE, debuggable, '$1'}, '_'})].

%% Nothing is interpreted: a reload defers nothing here.
-spec unlist([module()]) -> [module()].
unlist(_Modules) -> [].
-spec unlisting([module()]) -> [term()].
unlisting(_Modules) -> [].
-spec relist(module()) -> ok.
relist(_Module) -> ok.
-spec unlisted(module()) -> boolean().
unlisted(_Module) -> false.

-spec interpreted_among([module()]) -> [module()].
interpreted_among(Modules) ->
    [M || M <- Modules, ets:member(?BREAKS, {?MODULE, debuggable, M})].

-spec paused_processes() -> [pid()].
paused_processes() ->
    [P || [P] <- ets:match(?BREAKS, {{?MODULE, paused, '$1'}, '_'})].

%% The module's code loaded now is debugged if it has line breakpoints
%% (the held path, and a rollback that loaded the previous code again).
-spec reinterpret(module(), elixir_dap_backend:compiled_code()) ->
          {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
reinterpret(Module, _Compiled) ->
    reinterpret(Module).

reinterpret(Module) ->
    case debuggable([Module]) of
        {[Module], [], []} -> {ok, Module};
        {[], [#{reason := Why}], []} -> {skipped, Module, Why};
        _ -> {skipped, Module, #{kind => never_loaded}}
    end.

%% The object code is loaded already (elixir_dap_reload:restore/2).
-spec interpret_binary(module(), file:filename(), binary(), file:filename()) ->
          {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
interpret_binary(Module, _Source, _Bin, _Beam) ->
    reinterpret(Module).

%% A node attached to that runs no Mix project: the code it runs is what is
%% debugged (when it has line breakpoints), not the object code shipped.
-spec interpret_shipped(module(), file:filename_all(), binary(), binary(), file:filename()) ->
          {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
interpret_shipped(Module, _Source, _Text, _Bin, _Beam) ->
    reinterpret(Module).

%% Native code keeps no copy of a module per process: a process leaves the
%% old code by itself at its next fully qualified call. Those that still
%% run it are answered (a further load of the module would kill them).
-spec invalidate([module()]) -> [elixir_dap_util:process_entry()].
invalidate(Modules) ->
    [elixir_dap_util:process_entry(Pid, M, #{kind => runs_old_code})
     || M <- Modules, erlang:check_old_code(M), Pid <- processes(), erlang:check_process_code(Pid, M)].

%% The staged switch (OTP 28+, elixir_dap_reload:switch/1). Nothing is
%% built for a module: its new object code must have line debug info (the
%% DbgB chunk that beam_debug_info writes), else it could not be debugged
%% after the load, and the batch is refused (the adapter rolls it back, the
%% old code keeps running with its breakpoints).
-spec stage_versions([{module(), binary()}]) ->
          {[#{module := module()}], [{skipped, module(), elixir_dap_util:reason()}]}.
stage_versions(Modules) ->
    case [{skipped, M, #{kind => no_debug_lines}} || {M, Code} <- Modules, not has_line_info(Code)] of
        [] -> {[#{module => M} || {M, _Code} <- Modules], []};
        Refused -> {[], Refused}
    end.

has_line_info(Code) ->
    case beam_lib:chunks(Code, ["DbgB"]) of
        {ok, {_, [{"DbgB", _}]}} -> true;
        _ -> false
    end.

%% stage_versions/1 builds nothing: there is nothing to forget.
-spec discard_staged([#{module := module()}]) -> ok.
discard_staged(_Staged) -> ok.

%% Native code loads atomically (code:finish_loading/1), so the switch does
%% not wait for the program to be between calls: the batch's breakpoints
%% are cleared in the code that runs now, Load() loads the new code, and
%% the staged modules are debugged on it (their breakpoints are set again
%% by the adapter). A failed load leaves the old code running: its
%% breakpoints are set again. The processes left running the old code
%% (a process paused in it, a loop that makes no fully qualified call) are
%% answered. The step's duration covers the clearing and the load.
-spec switch_batch(fun(() -> ok | {error, term()}), [#{module := module()}], [pid()], integer()) ->
          elixir_dap_backend:switched().
switch_batch(Load, Staged, _Program, _Deadline) ->
    Modules = [M || #{module := M} <- Staged],
    Started = erlang:monotonic_time(microsecond),
    set_traps(Modules, false),
    case Load() of
        ok ->
            Us = erlang:monotonic_time(microsecond) - Started,
            ets:insert(?BREAKS, [{{?MODULE, debuggable, M}, true} || M <- Modules]),
            {switched, Us, invalidate(Modules)};
        {error, Why} ->
            set_traps(Modules, true),
            {failed, Why}
    end.

-spec prune_interpreted_versions([module()]) -> ok.
prune_interpreted_versions(_Modules) -> ok.

%% Native code has no call traps; what stops a call is a breakpoint. While
%% a reload's code compiles (the program's own compiles clear nothing: a
%% process compiling never stops, see session/1), the breakpoints of Lift
%% are cleared in the code loaded now: the compiler
%% must not stop in a module it uses, and a module it loads (Elixir up to
%% 1.18 loads each one it defines) must not leave breakpoints in its old
%% code. Afterwards those of Restore are set again, except in a module
%% whose code the compile replaced (it has old code now, and had none
%% before): its new code gets its breakpoints from the adapter, moved with
%% their statements.
-spec with_traps_lifted([module()], [module()], fun(() -> T)) -> T.
with_traps_lifted(Lift, Restore, Fun) ->
    HadOld = maps:from_list([{M, erlang:check_old_code(M)} || M <- Restore]),
    set_traps(Lift, false),
    try
        Fun()
    after
        set_traps([M || M <- Restore, maps:get(M, HadOld) orelse not erlang:check_old_code(M)], true)
    end.

%% Clears (false) or sets again (true) the breakpoints of Modules (the
%% user's and the steps' temporary ones) in the code loaded now, keeping
%% what they are (conditions, hit counts, ids). A line the code no longer
%% has is left out.
-spec set_traps([module()], boolean()) -> ok.
set_traps(Modules, On) ->
    [erl_debugger:breakpoint(M, Line, On) || M <- Modules, Line <- armed_lines(M)],
    ok.

armed_lines(Module) ->
    lists:usort([L || [L] <- ets:match(?BREAKS, {{?MODULE, break, Module, '$1'}, '_'})]
                ++ [L || [L] <- ets:match(?BREAKS, {{?MODULE, temporary, Module, '$1'}, '_'})]).

-spec interpreted_processes() -> #{pid() => pid()}.
interpreted_processes() -> #{}.

-spec interpreting_meta(pid(), #{pid() => pid()}) -> {ok, pid()} | none.
interpreting_meta(_Pid, _Known) -> none.

-spec meta_backtrace(pid()) -> [module() | undefined] | none.
meta_backtrace(_Meta) -> none.

%% ---------------------------------------------------------------------------
%% Attach (debugBackend "native" in a node started with +D)

%% Nothing of erl_debugger's is kept to be put back: the session registers
%% only if no other debugger is registered (ensure_started/1).
-spec found() -> map().
found() -> #{}.

%% Detach: every breakpoint (the user's, the steps') cleared, the session
%% unregistered, and every process stopped or waiting at a breakpoint goes
%% on, so the node runs as before the attach. Nothing runs interpreted:
%% answers [].
-spec leave_node(map()) -> [pid()].
leave_node(_Found) ->
    [erl_debugger:breakpoint(M, L, false)
     || [M, L] <- ets:match(?BREAKS, {{?MODULE, break, '$1', '$2'}, '_'})
                  ++ ets:match(?BREAKS, {{?MODULE, temporary, '$1', '$2'}, '_'})],
    tell_to_leave(whereis(?SESSION), ?SESSION),
    [tell_to_leave(Attached, Attached) || [Attached] <- ets:match(?BREAKS, {{?MODULE, attached, '_'}, '$1'})],
    [].

%% Tells Process to leave and waits for its {Tag, left}; a process that
%% does not answer within 5 s (a condition still evaluating) is killed.
tell_to_leave(undefined, _Tag) ->
    ok;
tell_to_leave(Process, Tag) ->
    Ref = erlang:monitor(process, Process),
    Process ! {leave, self()},
    receive
        {Tag, left} -> erlang:demonitor(Ref, [flush]);
        {'DOWN', Ref, process, Process, _} -> ok
    after 5000 ->
            exit(Process, kill)
    end.
