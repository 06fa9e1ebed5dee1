%% elixir_dap_backend: the debugger backend's API, as an Erlang behaviour,
%% and the one door the other agent modules go through to reach it.
%%
%% A backend runs the program's code so that it can stop: it interprets
%% modules, sets breakpoints, steps, shows stacks and bindings, evaluates in
%% a frame, and takes new code of a module in a reload. Two backends
%% implement the callbacks: OTP's interpreter, :int (elixir_dap_backend_int,
%% the only agent module that touches int, dbg_iserver, dbg_ieval, dbg_icmd
%% and the other dbg_* internals), and OTP 28+'s native debugger,
%% erl_debugger (elixir_dap_backend_native, issue 20; some callbacks answer
%% the reason `unsupported` there). The agent chooses one when it starts
%% (select/1). Requests and replies are the channel's (crates/beam/src):
%% the backend answers in exactly these shapes.
%%
%% Some callbacks name the interpreter's way of running code: a process
%% running debugged code has a second process that evaluates it for it (the
%% "meta" process), and calls from native code into debugged modules are
%% trapped. A backend without such processes answers `none`, `#{}` or `[]`
%% there (the reload's hold then only suspends the program's processes).
%% One without traps lifts in with_traps_lifted/3 and set_traps/2 what else
%% would stop a call: the native backend clears and sets again its
%% breakpoints, which do not follow new code.
-module(elixir_dap_backend).

-export([ensure_started/1, interpret/1, interpret_running/1, interpret_pending/2, breakable_lines/1,
         function_lines/3,
         set_breakpoints/2, command/2, stack/1, frame_variables/2, evaluate/5,
         run_evaluation/5, evaluation_paused/2, skips_breakpoints/1, frame_name/3,
         meta_of/1, interpreted_callers/1,
         interpreted/0, interpreted_among/1, paused_processes/0, reinterpret/2, interpret_binary/4, invalidate/1,
         prune_interpreted_versions/1, with_traps_lifted/3, set_traps/2,
         interpreted_processes/0, interpreting_meta/2, meta_backtrace/1,
         stage_versions/1, discard_staged/1, switch_batch/4, unlist/1, unlisting/1, relist/1, unlisted/1,
         found/0, leave_node/1, interpret_shipped/5,
         select/1, name/0]).
-export_type([frame/0, stop/0, interpreted/0, pending/0, command/0, module_name/0, evaluation/0, switched/0, compiled_code/0]).

%% The backend in use, chosen once when the agent starts (select/1).
-define(IMPL, (impl())).
-define(KEY, {?MODULE, impl}).

%% A module as the adapter names it (binary), or already an atom.
-type module_name() :: binary() | module().
%% Execution control of a paused process.
-type command() :: continue | next | step_in | step_out | pause.
%% One frame of a paused process's stack, innermost first.
-type frame() :: #{level := non_neg_integer(), module := module() | undefined, module_name := binary(),
                   function := binary(), arity := non_neg_integer(), line := non_neg_integer(),
                   name := binary(), source := binary()}.
%% The data of a `stopped` event.
-type stop() :: #{pid := pid(), name := binary(), atom() => term()}.
%% What an interpretation request answers.
-type interpreted() :: #{interpreted := [module()],
                         skipped := [#{module := module(), name := binary(), reason := elixir_dap_util:reason()}]}.
%% What interpret_pending/2 answers: interpreted/0, plus the modules left
%% for later because a process was running them (`low` only) and the names
%% no module was ever loaded under.
-type pending() :: #{interpreted := [module()], busy := [binary()],
                     skipped := [#{module := module(), name := binary(), reason := elixir_dap_util:reason()}],
                     unknown := [binary()]}.
%% What an evaluation answers: the value, or where the evaluation paused.
-type evaluation() :: elixir_dap_values:variable() | #{paused := stop()}.
%% How one module's interpretation went. A backend words no failure: a
%% skip, and what a callback throws (elixir_dap_util:throw_error/2), is a
%% reason whose kind the adapter knows (crates/beam/src/protocol/reason.rs).
-type one_result() :: {ok, module()} | {skipped, module(), elixir_dap_util:reason()}.
%% A module's object code and the beam file name it was written to.
-type compiled_code() :: {Bin :: binary(), Beam :: file:filename()} | none.
%% How a staged switch went: its step's duration in microseconds and the
%% processes left on old code for now, or why the native load failed.
-type switched() :: {switched, non_neg_integer(), [elixir_dap_util:process_entry()]} | {failed, term()}.

%% ---------------------------------------------------------------------------
%% Requests of the adapter (elixir_dap_agent's dispatch)

%% Starts the backend; StackTraceMode is the launch's stackTraceMode
%% (<<"all">>, <<"false">>, else no tail calls).
-callback ensure_started(StackTraceMode :: binary()) -> {ok, ok}.
%% Makes Modules debuggable before the program runs them.
-callback interpret([module_name()]) -> {ok, interpreted()}.
%% Makes Modules debuggable while the program may be running them.
-callback interpret_running([module_name()]) -> {ok, interpreted()}.
%% Lazy interpretation (issue 17, elixir_dap_lazy): makes those of Modules
%% not debugged yet debuggable while the program runs them, leaving the
%% functions lifted out of funs native (a fun made before runs them). `low`:
%% at low process priority, and a module some process is running is left
%% out as `busy` (it would keep running the old native code); `normal`
%% (what a breakpoint or a step needs now) takes those too. A name no
%% module ever had is answered as `unknown`, not an error.
-callback interpret_pending([binary()], Priority :: low | normal) -> {ok, pending()}.
%% The lines of the module's own source where a breakpoint can stop.
-callback breakable_lines(module_name()) -> {ok, [pos_integer()]}.
%% The first line of every clause of Function/Arity (any: every arity).
-callback function_lines(module_name(), Function :: binary(), Arity :: arity() | any) ->
    {ok, [pos_integer()]}.
%% Replaces every breakpoint of the module (#{line, ids, kind, condition,
%% hit_condition, log}: the hit condition and the log message's parts as
%% the adapter parsed them, see elixir_dap_expr's types).
-callback set_breakpoints(module_name(), [map()]) -> {ok, ok}.
-callback command(pid(), command()) -> {ok, ok}.
-callback stack(pid()) -> {ok, [frame()]}.
-callback frame_variables(pid(), Level :: non_neg_integer()) -> {ok, [elixir_dap_values:variable()]}.
%% Evaluates Expression in frame Level of a paused process, or in no frame
%% (Target and Level both nil, as the adapter sends them), within Timeout
%% ms; Context is DAP's evaluate context.
-callback evaluate(pid() | nil, Level :: non_neg_integer() | nil, Expression :: binary(),
                   Timeout :: non_neg_integer(), Context :: binary()) -> {ok, evaluation()}.

%% ---------------------------------------------------------------------------
%% Processes paused in a `dbg` call (elixir_dap_dbg)

%% Runs Eval() as an evaluation for Owner (see evaluate/5).
-callback run_evaluation(Owner :: pid() | nil, Expression :: binary(),
                         Eval :: fun(() -> {ok, term()} | {error, binary()}),
                         Timeout :: non_neg_integer(), Context :: binary()) -> {ok, evaluation()}.
%% The stop to announce for Pid (killed: its evaluation ran out of time).
-callback evaluation_paused(pid(), stop()) -> stop() | killed.
%% Whether Pid is an evaluation that runs through breakpoints.
-callback skips_breakpoints(pid() | undefined) -> boolean().
-callback frame_name(module() | term(), atom() | term(), arity()) -> binary().
%% The process that runs Pid's debugged code, if any.
-callback meta_of(pid()) -> {ok, pid()} | none.
%% The debugged frames below a `dbg` call, run by Meta.
-callback interpreted_callers(Meta :: pid()) -> [frame()].

%% ---------------------------------------------------------------------------
%% Code reload (elixir_dap_reload, elixir_dap_app_compile)

%% The modules debugged now.
-callback interpreted() -> [module()].
%% Those of Modules debugged now (a reload's few, without listing all).
-callback interpreted_among([module()]) -> [module()].
%% The processes paused at a breakpoint.
-callback paused_processes() -> [pid()].
%% Debugs the module's new code, loaded now. Compiled is the object code
%% the reload compiled for it and the beam file it was written to, when the
%% reload has it (none otherwise): used when it is the code that runs,
%% saving a read of the beam (the code server's and the file server's
%% calls, slower the bigger the VM).
-callback reinterpret(module(), Compiled :: compiled_code()) -> one_result().
%% Debugs Module from this object code (Source: its source file, Beam: the
%% file name to load it under).
-callback interpret_binary(module(), Source :: file:filename(), Bin :: binary(), Beam :: file:filename()) ->
    one_result().
%% Debugs Module from object code whose source is no file on this node (a
%% node without Mix, elixir_dap_release): Source names the file on the
%% adapter's side, Text is its content (UTF-8, or as an Erlang file's
%% encoding comment says), Bin the object code with debug info, Beam the
%% file name to load it under. Code with Bin's MD5 that runs already is not
%% loaded again.
-callback interpret_shipped(module(), Source :: file:filename_all(), Text :: binary(), Bin :: binary(),
                            Beam :: file:filename()) -> one_result().
%% Makes every process drop the old code of Modules (now or once it leaves
%% it); answers the processes that keep running the old code for now.
-callback invalidate([module()]) -> [elixir_dap_util:process_entry()].
%% Forgets the versions of Modules older than the current one nobody runs.
-callback prune_interpreted_versions([module()]) -> ok.
%% Runs Fun with the call traps of Lift lifted, then sets those of Restore.
-callback with_traps_lifted(Lift :: [module()], Restore :: [module()], fun(() -> T)) -> T.
%% Sets (true) or lifts (false) the call traps of Modules.
-callback set_traps([module()], boolean()) -> ok.
%% The hold (elixir_dap_reload:hold/0): every process that runs debugged
%% code through another (process => that process, its meta); the meta
%% running Pid's debugged code while Pid waits in it, from such a map read
%% earlier (a process missing from it is asked for); and the modules on a
%% meta's stack (none: no answer in time).
-callback interpreted_processes() -> #{pid() => pid()}.
-callback interpreting_meta(pid(), Known :: #{pid() => pid()}) -> {ok, pid()} | none.
-callback meta_backtrace(Meta :: pid()) -> [module() | undefined] | none.
%% The staged switch (elixir_dap_reload:switch/1, OTP 28+): the debugged
%% versions of Modules built from their new object code but not visible
%% yet (Staged: opaque to the caller), or the modules that cannot be;
%% forgetting them; and making them visible in one step with the native
%% code: when every process of Program (and of the backend's own) waits at
%% one instant (else looked at again 1 ms later, at the latest at Deadline,
%% monotonic ms), Load() loads the native code (ok or {error, Why}, and
%% then nothing changes), then every staged version becomes the one calls
%% run, in a step no debugged process observes half done.
-callback stage_versions([{module(), ObjectCode :: binary()}]) ->
    {Staged :: [term()], [{skipped, module(), elixir_dap_util:reason()}]}.
-callback discard_staged(Staged :: [term()]) -> ok.
%% Modules of a reload interpreted later (elixir_dap_reload:interpret/2):
%% the debugger forgets its versions of them now (those it had); what
%% switch_batch/4 does in its step for unlisting/1's entries among Staged.
%% relist/1: a module interpreted again gets its forgotten versions back,
%% to be dropped once unused (prune_interpreted_versions/1).
-callback unlist([module()]) -> [module()].
-callback unlisting([module()]) -> [term()].
-callback relist(module()) -> ok.
%% Whether unlist/1 forgot the module's versions and it was not interpreted since.
-callback unlisted(module()) -> boolean().
-callback switch_batch(Load :: fun(() -> ok | {error, term()}), Staged :: [term()],
                       Program :: [pid()], Deadline :: integer()) -> switched().

%% ---------------------------------------------------------------------------
%% A node attached to (elixir_dap_attach)

%% What the node ran of the backend before the session came.
-callback found() -> map().
%% Leaves the backend as found/0 saw it; answers the processes that still
%% run debugged code (for them it stays).
-callback leave_node(Found :: map()) -> [pid()].

%% ---------------------------------------------------------------------------
%% The calls, to the backend in use

%% Chooses the backend for the rest of the VM's life, from what the adapter
%% asked (the launch's `debugBackend`, resolved by the adapter: it is never
%% `auto` here): `interpreter` (:int, elixir_dap_backend_int, also the
%% default when nothing is chosen) or `native` (OTP 28+'s erl_debugger,
%% elixir_dap_backend_native; the VM must run with +D).
-spec select(interpreter | native) -> ok.
select(interpreter) -> persistent_term:put(?KEY, elixir_dap_backend_int);
select(native) -> persistent_term:put(?KEY, elixir_dap_backend_native).

%% The backend in use, as the launch attribute names it.
-spec name() -> interpreter | native.
name() ->
    case impl() of
        elixir_dap_backend_native -> native;
        _ -> interpreter
    end.

impl() -> persistent_term:get(?KEY, elixir_dap_backend_int).

-spec ensure_started(binary()) -> {ok, ok}.
ensure_started(Mode) -> ?IMPL:ensure_started(Mode).
-spec interpret([module_name()]) -> {ok, interpreted()}.
interpret(Names) -> ?IMPL:interpret(Names).
-spec interpret_running([module_name()]) -> {ok, interpreted()}.
interpret_running(Names) -> ?IMPL:interpret_running(Names).
-spec interpret_pending([binary()], low | normal) -> {ok, pending()}.
interpret_pending(Names, Priority) -> ?IMPL:interpret_pending(Names, Priority).
-spec breakable_lines(module_name()) -> {ok, [pos_integer()]}.
breakable_lines(Name) -> ?IMPL:breakable_lines(Name).
-spec function_lines(module_name(), binary(), arity() | any) -> {ok, [pos_integer()]}.
function_lines(Name, Function, Arity) -> ?IMPL:function_lines(Name, Function, Arity).
-spec set_breakpoints(module_name(), [map()]) -> {ok, ok}.
set_breakpoints(Name, Breakpoints) -> ?IMPL:set_breakpoints(Name, Breakpoints).
-spec command(pid(), command()) -> {ok, ok}.
command(Pid, Command) -> ?IMPL:command(Pid, Command).
-spec stack(pid()) -> {ok, [frame()]}.
stack(Pid) -> ?IMPL:stack(Pid).
-spec frame_variables(pid(), non_neg_integer()) -> {ok, [elixir_dap_values:variable()]}.
frame_variables(Pid, Level) -> ?IMPL:frame_variables(Pid, Level).
-spec evaluate(pid() | nil, non_neg_integer() | nil, binary(), non_neg_integer(), binary()) -> {ok, evaluation()}.
evaluate(Target, Level, Expression, Timeout, Context) ->
    ?IMPL:evaluate(Target, Level, Expression, Timeout, Context).
-spec run_evaluation(pid() | nil, binary(), fun(() -> {ok, term()} | {error, binary()}),
                     non_neg_integer(), binary()) -> {ok, evaluation()}.
run_evaluation(Owner, Expression, Eval, Timeout, Context) ->
    ?IMPL:run_evaluation(Owner, Expression, Eval, Timeout, Context).
-spec evaluation_paused(pid(), stop()) -> stop() | killed.
evaluation_paused(Pid, Stop) -> ?IMPL:evaluation_paused(Pid, Stop).
-spec skips_breakpoints(pid() | undefined) -> boolean().
skips_breakpoints(Pid) -> ?IMPL:skips_breakpoints(Pid).
-spec frame_name(module() | term(), atom() | term(), arity()) -> binary().
frame_name(Module, Function, Arity) -> ?IMPL:frame_name(Module, Function, Arity).
-spec meta_of(pid()) -> {ok, pid()} | none.
meta_of(Pid) -> ?IMPL:meta_of(Pid).
-spec interpreted_callers(pid()) -> [frame()].
interpreted_callers(Meta) -> ?IMPL:interpreted_callers(Meta).
-spec interpreted() -> [module()].
interpreted() -> ?IMPL:interpreted().
-spec interpreted_among([module()]) -> [module()].
interpreted_among(Modules) -> ?IMPL:interpreted_among(Modules).
-spec paused_processes() -> [pid()].
paused_processes() -> ?IMPL:paused_processes().
-spec reinterpret(module(), compiled_code()) -> one_result().
reinterpret(Module, Compiled) -> ?IMPL:reinterpret(Module, Compiled).
-spec interpret_binary(module(), file:filename(), binary(), file:filename()) -> one_result().
interpret_binary(Module, Source, Bin, Beam) -> ?IMPL:interpret_binary(Module, Source, Bin, Beam).
-spec interpret_shipped(module(), file:filename_all(), binary(), binary(), file:filename()) -> one_result().
interpret_shipped(Module, Source, Text, Bin, Beam) -> ?IMPL:interpret_shipped(Module, Source, Text, Bin, Beam).
-spec invalidate([module()]) -> [elixir_dap_util:process_entry()].
invalidate(Modules) -> ?IMPL:invalidate(Modules).
-spec prune_interpreted_versions([module()]) -> ok.
prune_interpreted_versions(Modules) -> ?IMPL:prune_interpreted_versions(Modules).
-spec with_traps_lifted([module()], [module()], fun(() -> T)) -> T.
with_traps_lifted(Lift, Restore, Fun) -> ?IMPL:with_traps_lifted(Lift, Restore, Fun).
-spec set_traps([module()], boolean()) -> ok.
set_traps(Modules, On) -> ?IMPL:set_traps(Modules, On).
-spec interpreted_processes() -> #{pid() => pid()}.
interpreted_processes() -> ?IMPL:interpreted_processes().
-spec interpreting_meta(pid(), #{pid() => pid()}) -> {ok, pid()} | none.
interpreting_meta(Pid, Known) -> ?IMPL:interpreting_meta(Pid, Known).
-spec meta_backtrace(pid()) -> [module() | undefined] | none.
meta_backtrace(Meta) -> ?IMPL:meta_backtrace(Meta).
-spec stage_versions([{module(), binary()}]) -> {[term()], [{skipped, module(), elixir_dap_util:reason()}]}.
stage_versions(Modules) -> ?IMPL:stage_versions(Modules).
-spec discard_staged([term()]) -> ok.
discard_staged(Staged) -> ?IMPL:discard_staged(Staged).
-spec unlist([module()]) -> [module()].
unlist(Modules) -> ?IMPL:unlist(Modules).
-spec unlisting([module()]) -> [term()].
unlisting(Modules) -> ?IMPL:unlisting(Modules).
-spec relist(module()) -> ok.
relist(Module) -> ?IMPL:relist(Module).
-spec unlisted(module()) -> boolean().
unlisted(Module) -> ?IMPL:unlisted(Module).
-spec switch_batch(fun(() -> ok | {error, term()}), [term()], [pid()], integer()) ->
    switched().
switch_batch(Load, Staged, Program, Deadline) -> ?IMPL:switch_batch(Load, Staged, Program, Deadline).
-spec found() -> map().
found() -> ?IMPL:found().
-spec leave_node(map()) -> [pid()].
leave_node(Found) -> ?IMPL:leave_node(Found).
