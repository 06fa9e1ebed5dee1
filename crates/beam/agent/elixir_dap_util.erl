%% elixir_dap_util: what several agent modules share, and nothing that
%% calls another agent module: events to the adapter, the names the agent
%% gives modules, terms and exceptions, agent errors, Mix diagnostics, the
%% mark of the agent's own processes, the reload overlay's files.
%%
%% Reasons: the agent words no failure. Why a request failed, why a module
%% was not interpreted, why a process blocks or was left by a reload step,
%% why a module did not load or an attach was refused: each is a reason(),
%% a map of an atom `kind` and that kind's parameters, e.g.
%% #{kind => not_paused, pid => Pid, status => running}. The adapter decodes
%% every kind strictly and words it (crates/beam/src/protocol/reason.rs; a
%% kind it does not know is an error of the protocol). Text in a parameter
%% is content, not words: the VM's formatted exception, a term as Erlang
%% prints it, a path, a compiler's diagnostic.
-module(elixir_dap_util).
-export([send_event/2, format_exception/3, diagnostic/1, throw_error/2,
         module_name/1, format_term/1, thread_name/1, mfa_module/1, mfa_name/3, pid_text/1, inspect/1,
         to_atom/2, first_text_line/1, internal/1, process_entry/3,
         overlay_file/2, forget_overlay/1, timers_pause_on_suspend/0, marked_internal/1,
         loaded_object_code/1, loaded_md5/1, deal/2, parallel_map/2, parallel_map/3, line_of/1, source_under/2,
         is_regular_raw/1, agent_modules/0, purge_old_code/2, runs_old_code/2, load_error/1,
         compile_to_path_options/1, reload_compile_options/1, purge_compiler_modules/0,
         module_info/2]).
-export_type([agent_reply/0, reason/0, process_entry/0, diagnostic/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-include_lib("kernel/include/file.hrl").

%% The process dictionary key that marks the agent's own processes (see
%% internal/1).
-define(INTERNAL, '$elixir_dap_internal').

%% What a request answers on the channel: {reply, Id, Reply}.
-type agent_reply() :: {ok, term()} | {error, reason()}.
%% Why something failed or was refused: see the module's header.
-type reason() :: #{kind := atom(), atom() => term()}.
%% A process named in a reply (blocked, killed, busy, skipped).
-type process_entry() :: #{pid := pid(), name := binary(), module := module() | undefined, why := reason()}.
%% A compiler diagnostic as the adapter reads it.
-type diagnostic() :: #{file := binary(), line := non_neg_integer(), column := non_neg_integer(),
                        severity := atom(), message := binary()}.

%% Every module of the agent, in load order: what the helper loads into a
%% node attached to and what leaves it on detach (the adapter compiles the
%% same files: crates/beam/src/agent_source.rs).
-spec agent_modules() -> [module()].
agent_modules() ->
    [elixir_dap_attach, elixir_dap_util, elixir_dap_tables, elixir_dap_project, elixir_dap_build_lock, elixir_dap_values,
     elixir_dap_expr, elixir_dap_backend, elixir_dap_backend_int, elixir_dap_backend_native, elixir_dap_agent,
     elixir_dap_reload, elixir_dap_dbg, elixir_dap_scripts, elixir_dap_app_compile, elixir_dap_release,
     elixir_dap_lazy, elixir_dap_cluster].

%% The options the agent's compiles give
%% Kernel.ParallelCompiler.compile_to_path/3: EachModule(File, Module,
%% Binary) for every module defined, diagnostics returned, and the
%% compiler's modules purged. Elixir runs each module's body as a module of
%% its own (elixir_compiler_N); up to 1.19 a compile purged them when it
%% ended, from 1.20 only when asked (the option, v1.20.0's
%% lib/elixir/lib/kernel/parallel_compiler.ex; Mix asks): unasked, each
%% reload left one loaded and its atom made, about 28 KB of code per reload
%% of a 2 400-line module (the bench's soak). Earlier versions ignore the
%% option. The purge runs after the compile, in a process of Elixir's. (A
%% reload's compile asks later: reload_compile_options/1.)
-spec compile_to_path_options(fun((binary(), module(), binary()) -> term())) -> [{atom(), term()}].
compile_to_path_options(EachModule) ->
    [{each_module, EachModule}, {return_diagnostics, true}, {purge_compiler_modules, true}].

%% As compile_to_path_options/1, without the purge: a reload asks for it
%% once its batch is committed or rolled back (purge_compiler_modules/0).
-spec reload_compile_options(fun((binary(), module(), binary()) -> term())) -> [{atom(), term()}].
reload_compile_options(EachModule) ->
    [{each_module, EachModule}, {return_diagnostics, true}].

%% Has Elixir 1.20's code server purge the compiler's modules the reload's
%% compile used (those of a compile that failed too), without waiting:
%% elixir_code_server's purge_compiler_modules cast, which purges in a
%% process the code server starts (checked on 1.20.4: tests/reload.rs,
%% reloads_leave_no_compiler_module_or_atom_behind). Each purge
%% holds OTP's code server (about 5 ms a module in a VM of 2 300 modules on
%% OTP 29, measured), which the reload's own loads need: asked during the
%% compile, it made a one-file reload of the bench's 2 000-module project
%% about 10 ms slower. Earlier versions purge after a compile that
%% succeeds, by themselves, and have no such cast (1.14's code server stops
%% on one it does not know); after one that fails in a module body, the
%% body's compiler module stays loaded whatever is asked (1.14 and 1.18,
%% measured with Code.purge_compiler_modules/0).
-spec purge_compiler_modules() -> ok.
purge_compiler_modules() ->
    case 'Elixir.Version':'match?'('Elixir.System':version(), <<">= 1.20.0-0">>) of
        true -> gen_server:cast(elixir_code_server, purge_compiler_modules);
        false -> ok
    end.

%% An event to the adapter, through the channel's process (elixir_dap_agent,
%% registered under its module's name).
-spec send_event(atom(), map()) -> ok.
send_event(Name, Data) ->
    elixir_dap_agent ! {send, {event, Name, Data}},
    ok.

-spec format_exception(atom(), term(), list()) -> binary().
format_exception(Class, Reason, Stack) ->
    try
        'Elixir.Exception':format(Class, Reason, Stack)
    catch
        _:_ -> iolist_to_binary(io_lib:format("~p: ~p~n~p", [Class, Reason, Stack]))
    end.

-spec diagnostic(map()) -> diagnostic().
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

%% Fails the request with the reason Kind and its parameters (see the
%% module's header).
-spec throw_error(atom(), map()) -> no_return().
throw_error(Kind, Params) ->
    throw({agent_error, Params#{kind => Kind}}).

-spec module_name(module()) -> binary().
module_name(Module) when is_atom(Module) ->
    'Elixir.Kernel':inspect(Module).

-spec format_term(term()) -> binary().
format_term(Term) ->
    iolist_to_binary(io_lib:format("~0p", [Term])).

-spec thread_name(pid()) -> binary().
thread_name(Pid) ->
    Registered = case erlang:process_info(Pid, registered_name) of
                     {registered_name, Name} when is_atom(Name) -> [module_name(Name), <<" ">>];
                     _ -> []
                 end,
    Initial = case erlang:process_info(Pid, dictionary) of
                  {dictionary, Dict} ->
                      case proplists:get_value('$initial_call', Dict) of
                          {M, F, A} -> [<<" ">>, mfa_name(M, F, A)];
                          _ -> initial_call(Pid)
                      end;
                  _ -> []
              end,
    iolist_to_binary([Registered, pid_text(Pid), Initial]).

initial_call(Pid) ->
    case erlang:process_info(Pid, initial_call) of
        {initial_call, {M, F, A}} -> [<<" ">>, mfa_name(M, F, A)];
        _ -> []
    end.

-spec mfa_name(module(), atom(), arity()) -> binary().
mfa_name(M, F, A) ->
    iolist_to_binary([module_name(M), <<".">>, atom_to_binary(F, utf8), <<"/">>, integer_to_binary(A)]).

-spec pid_text(pid()) -> binary().
pid_text(Pid) ->
    'Elixir.Kernel':inspect(Pid).

-spec mfa_module(term()) -> module() | undefined.
mfa_module({M, _, _}) when is_atom(M) -> M;
mfa_module({Fun, _}) when is_function(Fun) -> element(2, erlang:fun_info(Fun, module));
mfa_module(_) -> undefined.

-spec inspect(term()) -> binary().
inspect(Term) ->
    'Elixir.Kernel':inspect(Term, [{limit, 50}, {printable_limit, 4096}, {pretty, false}]).

%% Module and function names arrive as binaries: an atom the VM has never
%% seen would make the whole request undecodable.
-spec to_atom(binary() | atom(), module) -> atom().
to_atom(Name, What) when is_binary(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> throw_error(unknown_name, #{what => What, name => Name})
    end;
to_atom(Name, _What) when is_atom(Name) ->
    Name.

-spec first_text_line(iodata()) -> binary().
first_text_line(Text) ->
    hd(binary:split(iolist_to_binary(Text), <<"\n">>)).

%% Fun, run in a process of the agent's own: such a process is never held
%% while a batch switches. (From OTP 28 on, a process spawned with a fun
%% reports erlang:apply/2 as its initial call, so elixir_dap_reload:internal_call/1 cannot
%% tell the agent's apart.)
-spec internal(fun(() -> T)) -> fun(() -> T).
internal(Fun) ->
    fun() -> put(?INTERNAL, true), Fun() end.

-spec process_entry(pid(), module() | undefined, reason()) -> process_entry().
process_entry(Pid, Module, Why) ->
    #{pid => Pid, name => thread_name(Pid), module => Module, why => Why}.

-spec overlay_file(file:filename(), module()) -> file:filename().
overlay_file(OverlayDir, M) ->
    filename:join(OverlayDir, atom_to_list(M) ++ ".beam").

%% Removes the overlay beams of Modules, which the program recompiled itself
%% (elixir_dap_app_compile): on the code path ahead of the program's own
%% beams, they would load in their place.
-spec forget_overlay([module()]) -> ok.
forget_overlay(Modules) ->
    case persistent_term:get({elixir_dap_reload, overlay}, undefined) of
        undefined -> ok;
        OverlayDir -> [file:delete(overlay_file(OverlayDir, M)) || M <- Modules], ok
    end.

%% Whether erlang:suspend_process/1 is safe for a process waiting in a
%% receive with a timeout. From OTP 28 on it pauses the timeout's timer
%% until the process is resumed, and on OTP 29.1.2 a process suspended as
%% that timer fires is never woken again (measured: 14-21 of 100 processes
%% looping on a 5 ms receive-after, suspended for 1-20 ms, never woke;
%% neither a message, a garbage collection nor another suspend and resume
%% woke them; none on OTP 25 and 27). So no process that may wait with a
%% timeout is suspended there: the program is not held, and a meta in an
%% interpreted receive with a timeout is not suspended (see
%% suspend_is_safe/1).
-spec timers_pause_on_suspend() -> boolean().
timers_pause_on_suspend() ->
    list_to_integer(erlang:system_info(otp_release)) >= 28.

%% process_info/2 reads one dictionary key from OTP 26.2 on; before, the
%% initial call tells (internal_call/1).
-spec marked_internal(pid()) -> boolean().
marked_internal(P) ->
    try process_info(P, {dictionary, ?INTERNAL}) of
        {{dictionary, ?INTERNAL}, true} -> true;
        _ -> false
    catch
        error:badarg -> false
    end.

%% The object code that is loaded now: read from the file it was loaded from
%% and checked against the loaded module's MD5 (searching the code path, as
%% code:get_object_code/1 does, may find another file first).
-spec loaded_object_code(module()) -> {binary(), file:filename()} | none.
loaded_object_code(M) ->
    case code:which(M) of
        File when is_list(File) ->
            case file:read_file(File) of
                {ok, Bin} ->
                    case loaded_md5(M) =:= code:module_md5(Bin) of
                        true -> {Bin, File};
                        false -> object_code_on_path(M)
                    end;
                _ -> object_code_on_path(M)
            end;
        _ ->
            object_code_on_path(M)
    end.

object_code_on_path(M) ->
    case code:get_object_code(M) of
        {M, Bin, File} -> {Bin, File};
        error -> none
    end.

-spec loaded_md5(module()) -> binary() | undefined.
loaded_md5(M) ->
    try module_info(M, md5) catch _:_ -> undefined end.

%% M:module_info(Item) without calling M: an interpreted module's
%% module_info/1 has a call trap like its other functions, so the call ran
%% in the interpreter, and from a process of the agent's made a meta
%% process for it, which dbg_iserver lists for good once it exits (two a
%% reload, seen in int:snapshot/0 on OTP 29). The BIF the generated
%% module_info/1 calls answers the same. A module not loaded is loaded
%% first, as the call would (code:ensure_loaded/1). Raises error:badarg for
%% a module that cannot be loaded.
-spec module_info(module(), atom()) -> term().
module_info(M, Item) ->
    _ = erlang:module_loaded(M) orelse code:ensure_loaded(M),
    erlang:get_module_info(M, Item).

%% Splits a list into N shares of (nearly) equal length, round robin (work
%% for one process per scheduler).
%% [Fun(X) || X <- List], in one process per scheduler; the order is not
%% kept. A worker that crashes loses its share (its results are left out).
-spec parallel_map(fun((T) -> R), [T]) -> [R] when T :: term(), R :: term().
parallel_map(Fun, List) ->
    parallel_map(Fun, List, erlang:system_info(schedulers_online)).

%% The same in N processes: more than the schedulers where each item waits
%% on I/O (a file read runs on a dirty I/O scheduler; while one worker waits
%% for its read, the others can have theirs under way).
-spec parallel_map(fun((T) -> R), [T], pos_integer()) -> [R] when T :: term(), R :: term().
parallel_map(Fun, List, N) ->
    Self = self(),
    Shares = deal(List, N),
    Workers = [spawn_monitor(fun() -> Self ! {mapped, self(), [Fun(X) || X <- Share]} end)
               || Share <- Shares],
    lists:append([receive
                      {mapped, Pid, Results} -> erlang:demonitor(Ref, [flush]), Results;
                      {'DOWN', Ref, process, Pid, _} -> []
                  end || {Pid, Ref} <- Workers]).

-spec deal([T], pos_integer()) -> [[T]].
deal(List, N) ->
    Indexed = lists:zip(lists:seq(0, length(List) - 1), List),
    [[X || {I, X} <- Indexed, I rem N =:= K] || K <- lists:seq(0, N - 1)].

%% The line an abstract-format expression starts on; 0 when it has none.
-spec line_of(term()) -> non_neg_integer().
line_of(Expr) when is_tuple(Expr), tuple_size(Expr) >= 2 ->
    try erl_anno:line(element(2, Expr)) of
        Line when is_integer(Line) -> Line;
        _ -> 0
    catch
        _:_ -> 0
    end;
line_of(_) ->
    0.

%% Where a module's source is now, from the absolute path its beam recorded
%% when it was compiled (Recorded) and its application's directory as it is
%% now (Root). A project moved or copied together with its _build (a renamed
%% folder, a container volume, a CI cache, a release's build host) is not
%% recompiled, so the recorded path names the old place: gone, or another
%% copy of the project. So: the recorded path if it lies under Root, else
%% the longest tail of it (lib/shop/cart.ex, then shop/cart.ex, ...) that is
%% a file under Root, else the recorded path.
-spec source_under(file:filename_all(), file:filename_all()) -> file:filename().
source_under(Recorded, Root) ->
    Absolute = filename:absname(unicode:characters_to_list(Recorded)),
    Dir = unicode:characters_to_list(Root),
    case is_under(Absolute, Dir) of
        true -> Absolute;
        false -> tail_under(Dir, tl(filename:split(Absolute)), Absolute)
    end.

is_under(Path, Root) ->
    lists:prefix(filename:split(Root), filename:split(Path)).

tail_under(_Root, [], Absolute) ->
    Absolute;
tail_under(Root, [_ | Tail] = Parts, Absolute) ->
    Candidate = filename:join([Root | Parts]),
    case is_regular_raw(Candidate) of
        true -> Candidate;
        false -> tail_under(Root, Tail, Absolute)
    end.

%% Whether Name is a regular file (asked with the raw option: not through
%% the file server).
-spec is_regular_raw(file:filename_all()) -> boolean().
is_regular_raw(Name) ->
    case file:read_file_info(Name, [raw]) of
        {ok, #file_info{type = regular}} -> true;
        _ -> false
    end.

%% ---------------------------------------------------------------------------
%% Loading code (a reload, and a cluster's peers)

%% Old code that no process runs is purged now, so that the compiler's own
%% purge kills nobody. Answers the processes that block the batch (running
%% old code of a module of it), and those killed for it (Force).
-spec purge_old_code([module()], boolean()) -> {[process_entry()], [process_entry()]}.
purge_old_code(Modules, Force) ->
    lists:foldl(
      fun(M, {Blocked, Killed}) ->
              %% code:soft_purge/1 purges when nobody runs the old code, and
              %% checks every process far faster than a loop over them here;
              %% only when it refuses are the users looked up, to name them.
              case erlang:check_old_code(M) andalso not code:soft_purge(M) andalso old_code_users(M) of
                  false -> {Blocked, Killed};
                  [] -> code:purge(M), {Blocked, Killed};
                  Users when Force ->
                      Entries = [process_entry(P, M, #{kind => killed_on_old_code}) || P <- Users],
                      code:purge(M),
                      {Blocked, Entries ++ Killed};
                  Users ->
                      {[process_entry(P, M, #{kind => runs_old_code}) || P <- Users] ++ Blocked,
                       Killed}
              end
      end, {[], []}, Modules).

old_code_users(M) ->
    [P || P <- erlang:processes(), P =/= self(),
          runs_old_code(P, M)].

%% Whether Pid runs old code of M; false for a process that is gone.
-spec runs_old_code(pid(), module()) -> boolean().
runs_old_code(Pid, M) ->
    try erlang:check_process_code(Pid, M) catch error:badarg -> false end.

%% Why code:load_binary/3 and friends refused a module, as a reason.
-spec load_error(term()) -> reason().
load_error(not_purged) -> #{kind => not_purged};
load_error(on_load_failure) -> #{kind => on_load_failed};
load_error(Reason) -> #{kind => load_failed, error => format_term(Reason)}.
