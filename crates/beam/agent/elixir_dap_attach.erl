%% elixir_dap_attach: attaching to a node that is already running, over
%% Erlang distribution.
%%
%% Two sides, both in this module:
%%
%% The helper (helper/3) runs in a VM the adapter starts for the session, as
%% it starts a launched program's VM (the session keeper owns it), with
%% ELIXIR_DAP_REMOTE_NODE set. It connects to the adapter over loopback TCP,
%% starts distribution as a hidden node, connects to the remote node, checks
%% that both run the same OTP release and Elixir major.minor (and, for the
%% native backend, that the node's emulator runs erl_debugger), loads the
%% agent's modules into the remote node (code:load_binary/3 over rpc),
%% selects the backend there (elixir_dap_backend:select/1) and spawns the
%% agent there (elixir_dap_agent:attached/1, the entry it is given). It then relays the
%% channel's frames: TCP frames from the adapter go to the agent as
%% {elixir_dap_frame, Helper, Frame}, the agent's frames come back the same
%% way. The hello carries the remote node's information, or the reason the
%% attach was refused ({hello, Token, #{attach_error => Reason}}, a reason
%% as elixir_dap_util's header says): the adapter words it, names the
%% attribute to blame, and answers `attach` with it.
%%
%% A cluster (ELIXIR_DAP_PEER_NODES: the other nodes, which reloads reach
%% too; ELIXIR_DAP_CLUSTER=connected: and those the node attached to is
%% connected to): every node is connected to and checked the same way, none may run
%% another session's modules, the node attached to must be connected to each,
%% the agent's modules are loaded into every node, and the peers are named
%% to the agent (elixir_dap_cluster). On leaving, each peer forgets the
%% session (elixir_dap_cluster:peer_leave/0) and the modules are purged.
%%
%% The agent side (clean_node/1) runs in the remote node when the adapter
%% detaches or the helper is gone: it leaves the node as it found it
%% (breakpoints cleared, nothing interpreted, the interpreter and the
%% debugger application stopped if they were not running before, our
%% tables, registered processes and persistent terms gone). The helper then
%% purges the agent's modules from the remote node and disconnects.
%% Written in plain Erlang so it compiles on every OTP the user may have.
-module(elixir_dap_attach).
-export([helper/3, clean_node/1, lacks_line_debug_info/0]).

%% Every module the agent loads into the remote node, in load order.
-define(MODULES, elixir_dap_util:agent_modules()).
%% How long connecting (and each remote call while setting up) may take: the
%% adapter answers a failed attach within 5 s, the helper's boot included.
-define(CONNECT_TIMEOUT, 3000).
-define(CALL_TIMEOUT, 3000).

%% ---------------------------------------------------------------------------
%% The helper

%% Entry: {Module, Function} of the agent's entry in the node attached to,
%% spawned there with this process as its argument (elixir_dap_agent:attached/1).
-spec helper(inet:port_number(), binary(), {module(), atom()}) -> no_return().
helper(Port, Token, Entry) ->
    Remote = list_to_atom(os:getenv("ELIXIR_DAP_REMOTE_NODE")),
    Cookie = os:getenv("ELIXIR_DAP_COOKIE"),
    Domain = list_to_atom(os:getenv("ELIXIR_DAP_NAME_DOMAIN", "shortnames")),
    %% The attach's `debugBackend` (`auto` is resolved here, asking the
    %% node: choose_backend/3).
    Backend = case os:getenv("ELIXIR_DAP_BACKEND") of
                  "native" -> native;
                  "auto" -> auto;
                  _ -> interpreter
              end,
    %% The other nodes of a cluster attached to (space-separated), which
    %% reloads reach too (elixir_dap_cluster).
    Listed = [list_to_atom(P) || P <- string:lexemes(os:getenv("ELIXIR_DAP_PEER_NODES", ""), " ")],
    %% `cluster` "connected": and every (visible) node the node attached to
    %% is connected to.
    Cluster = {Listed, os:getenv("ELIXIR_DAP_CLUSTER") =:= "connected"},
    %% `breakOnDbg`: `dbg` calls in code compiled during the session stop.
    put(break_on_dbg, os:getenv("ELIXIR_DAP_BREAK_ON_DBG") =:= "1"),
    [os:unsetenv(Var) || Var <- ["ELIXIR_DAP_REMOTE_NODE", "ELIXIR_DAP_COOKIE", "ELIXIR_DAP_NAME_DOMAIN",
                                 "ELIXIR_DAP_BACKEND", "ELIXIR_DAP_PEER_NODES", "ELIXIR_DAP_CLUSTER",
                                 "ELIXIR_DAP_BREAK_ON_DBG"]],
    Options = [binary, {packet, 4}, {active, true}, {nodelay, true}],
    Sock = case gen_tcp:connect({127, 0, 0, 1}, Port, Options, 10000) of
               {ok, S} -> S;
               {error, Reason} ->
                   io:format(standard_error, "elixir-dap helper: cannot reach the adapter on port ~p: ~p~n",
                             [Port, Reason]),
                   erlang:halt(70)
           end,
    case setup(Remote, Cluster, Cookie, Domain, Backend, Entry) of
        {ok, Agent, Peers, Info} ->
            send_frame(Sock, {hello, Token, Info}),
            Ref = erlang:monitor(process, Agent),
            relay(Sock, {Remote, Peers}, Agent, Ref);
        {error, Refusal} ->
            send_frame(Sock, {hello, Token, #{attach_error => Refusal}}),
            %% The adapter ends this VM once it has read the hello.
            receive {tcp_closed, Sock} -> ok after 5000 -> ok end,
            erlang:halt(0)
    end.

send_frame(Sock, Term) ->
    ok = gen_tcp:send(Sock, term_to_binary(Term)).

setup(Remote, {Listed, WithConnected}, Cookie, Domain, Backend, {EntryModule, EntryFunction}) ->
    try
        start_distribution(Remote, Domain),
        Reach = fun(N) ->
                        Cookie =:= false orelse erlang:set_cookie(N, list_to_atom(Cookie)),
                        connect(N),
                        check_versions(N)
                end,
        Reach(Remote),
        Peers = Listed ++ [N || WithConnected, N <- remote_call(Remote, erlang, nodes, [visible]),
                                not lists:member(N, Listed)],
        lists:foreach(Reach, Peers),
        Backend =:= native andalso check_native(Remote),
        Mode = check_mix_project(Remote),
        %% A node running the Mix project: its MIX_ENV, which says where its
        %% build is and which elixirc_paths it compiles.
        MixEnv = case Mode of
                     mix -> #{mix_env => atom_to_binary(remote_call(Remote, 'Elixir.Mix', env, []), utf8)};
                     release -> #{}
                 end,
        case remote_call(Remote, erlang, whereis, [elixir_dap_agent]) of
            undefined -> ok;
            _ -> throw({error, #{kind => already_attached, node => Remote}})
        end,
        [check_not_peer(N) || N <- [Remote | Peers]],
        [check_connected(Remote, Peer) || Peer <- Peers],
        {Agent, Chosen, Why} =
            try
                [load_remote(N, M) || N <- [Remote | Peers], M <- ?MODULES],
                start_agent(Remote, Peers, Backend, Mode, {EntryModule, EntryFunction})
            catch
                throw:Failed ->
                    %% The peers as found (the node attached to is
                    %% cleaned where it failed).
                    [leave_peer(P) || P <- Peers],
                    throw(Failed)
            end,
        receive
            {elixir_dap_attached, Agent, Info} ->
                {ok, Agent, Peers, maps:merge(Info#{node => atom_to_binary(node(), utf8), mode => Mode, backend => Chosen,
                                             peers => [atom_to_binary(P, utf8) || P <- Peers]},
                                       maps:merge(MixEnv, Why))}
        after ?CALL_TIMEOUT ->
                [leave_peer(P) || P <- Peers],
                purge_remote(Remote),
                throw({error, #{kind => agent_did_not_start, node => Remote, ms => ?CALL_TIMEOUT}})
        end
    catch
        throw:{error, #{kind := _} = Reason} -> {error, Reason}
    end.

%% Returns {Agent, the backend chosen, why (debugBackend auto)}.
start_agent(Remote, Peers, Backend, Mode, {EntryModule, EntryFunction}) ->
    {Chosen, Why} = choose_backend(Remote, Backend, Mode),
    remote_call(Remote, elixir_dap_backend, select, [Chosen]),
    Peers =:= [] orelse remote_call(Remote, persistent_term, put, [{elixir_dap_cluster, peers}, Peers]),
    Mode =:= release andalso prepare_release(Remote),
    %% `dbg` in code compiled during the session (a reload, the node's own
    %% recompile) stops: the callback is set where that code compiles, the
    %% node (put back by clean_node/1), and for a node without Mix here.
    get(break_on_dbg) andalso
        begin
            remote_call(Remote, elixir_dap_dbg, configure, [true]),
            Mode =:= release andalso elixir_dap_dbg:configure(true)
        end,
    {spawn(Remote, EntryModule, EntryFunction, [self()]), Chosen, Why}.

%% A hidden node of our own, named after this OS process, in the name
%% domain of the remote node (short names, or long names when its host has
%% a dot). elixir-dap never starts epmd (the session keeper would end it
%% with the session, and other nodes use it): the node attached to
%% registered with one, on its own host.
start_distribution(Remote, Domain) ->
    [_, Host] = string:split(atom_to_list(Remote), "@"),
    Base = "elixir_dap_" ++ os:getpid(),
    Name = case Domain of
               longnames -> list_to_atom(Base ++ "@" ++ local_long_host(Host));
               shortnames -> list_to_atom(Base)
           end,
    case net_kernel:start(Name, #{name_domain => Domain, hidden => true}) of
        {ok, _} -> ok;
        {error, Reason} ->
            throw({error, #{kind => no_distribution, error => elixir_dap_util:format_term(Reason)}})
    end.

%% A long name needs this machine's fully qualified name; a remote node on a
%% loopback address is reached from the same one.
local_long_host("127." ++ _ = Host) -> Host;
local_long_host("localhost" ++ _) -> "127.0.0.1";
local_long_host(_) ->
    {ok, Hostname} = inet:gethostname(),
    case inet:gethostbyname(Hostname) of
        {ok, {hostent, Full, _, _, _, _}} when is_list(Full) -> Full;
        _ -> Hostname
    end.

connect(Remote) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), net_kernel:connect_node(Remote)} end),
    Connected = receive
                    {Pid, Result} -> erlang:demonitor(Ref, [flush]), Result;
                    {'DOWN', Ref, process, Pid, _} -> false
                after ?CONNECT_TIMEOUT ->
                        exit(Pid, kill),
                        timeout
                end,
    case Connected of
        true -> ok;
        _ -> throw(diagnose(Remote, Connected))
    end.

%% Why a connection failed: epmd on the node's host says whether a node of
%% that name runs there; if one does, it refused our cookie.
diagnose(Remote, Connected) ->
    [Name, Host] = string:split(atom_to_list(Remote), "@"),
    case erl_epmd:names(Host) of
        {ok, Names} ->
            case lists:keymember(Name, 1, Names) of
                true when Connected =:= timeout ->
                    {error, #{kind => no_answer, node => Remote, ms => ?CONNECT_TIMEOUT}};
                true ->
                    {error, #{kind => cookie_refused, node => Remote}};
                false ->
                    {error, #{kind => not_registered, name => list_to_binary(Name), host => list_to_binary(Host),
                              registered => [list_to_binary(N) || {N, _} <- Names]}}
            end;
        {error, Reason} ->
            {error, #{kind => epmd_unreachable, node => Remote, host => list_to_binary(Host),
                      error => elixir_dap_util:format_term(Reason)}}
    end.

%% The agent is compiled on this side and the node's own Elixir runs its
%% requests: both must be of the same OTP release and Elixir major.minor.
check_versions(Remote) ->
    Otp = remote_call(Remote, erlang, system_info, [otp_release]),
    Elixir = case rpc:call(Remote, 'Elixir.System', version, [], ?CALL_TIMEOUT) of
                 {badrpc, _} -> throw({error, #{kind => no_elixir, node => Remote, otp => list_to_binary(Otp)}});
                 Version -> Version
             end,
    OwnOtp = erlang:system_info(otp_release),
    OwnElixir = 'Elixir.System':version(),
    case Otp =:= OwnOtp andalso major_minor(Elixir) =:= major_minor(OwnElixir) of
        true -> ok;
        false ->
            throw({error, #{kind => version_mismatch, node => Remote, elixir => Elixir, otp => list_to_binary(Otp),
                            own_elixir => OwnElixir, own_otp => list_to_binary(OwnOtp)}})
    end.

%% A node of a cluster runs no other session's agent or peer modules.
check_not_peer(Node) ->
    case remote_call(Node, code, is_loaded, [elixir_dap_cluster]) of
        false -> ok;
        _ -> throw({error, #{kind => already_attached, node => Node}})
    end.

%% A reload calls every peer from the node attached to: the nodes form a
%% cluster, connected to it. (Connecting them here would leave connections,
%% and the ones global makes from them, after the detach.)
check_connected(Remote, Peer) ->
    case lists:member(Peer, remote_call(Remote, erlang, nodes, [connected])) of
        true -> ok;
        false -> throw({error, #{kind => peer_not_connected, node => Remote, peer => Peer}})
    end.

%% A peer as found but for the code reloads loaded: no batch, no module of ours.
leave_peer(Peer) ->
    _ = rpc:call(Peer, elixir_dap_cluster, peer_leave, [], ?CALL_TIMEOUT),
    purge_remote(Peer).

%% The native backend needs the node's emulator started with +D (OTP 28+:
%% erl_debugger:supported/0; before OTP 28 the module does not exist).
check_native(Remote) ->
    case rpc:call(Remote, erl_debugger, supported, [], ?CALL_TIMEOUT) of
        true -> ok;
        _ -> throw({error, #{kind => native_unavailable, node => Remote,
                             otp => list_to_binary(remote_call(Remote, erlang, system_info, [otp_release]))}})
    end.

%% The backend the agent runs on in the node, and for `auto` the reason
%% when it is the interpreter (the adapter words it): native when the node
%% runs erl_debugger (started with +D, OTP 28+) and its project's modules
%% were compiled with line debug info (else not one of them could stop);
%% `native` was checked by check_native/1 already.
choose_backend(_Remote, interpreter, _Mode) -> {interpreter, #{}};
choose_backend(_Remote, native, _Mode) -> {native, #{}};
choose_backend(Remote, auto, Mode) ->
    case rpc:call(Remote, erl_debugger, supported, [], ?CALL_TIMEOUT) of
        true when Mode =:= mix ->
            case remote_call(Remote, ?MODULE, lacks_line_debug_info, []) of
                false -> {native, #{}};
                {true, Module} -> {interpreter, #{backend_reason => no_line_debug_info,
                                                  backend_module => atom_to_binary(Module, utf8)}}
            end;
        true ->
            %% A release: its modules' debug info comes from projectDir,
            %% whatever the node's code holds.
            {native, #{}};
        _ ->
            {interpreter, #{backend_reason => no_native_debugger}}
    end.

%% Run in the node attached to: whether its Mix project's own modules (those
%% loaded) were all compiled without line debug info (no DbgB chunk: OTP
%% 28+'s code:get_debug_info/1 answers none), and one of them; false when
%% one has it, or when there is nothing to tell by.
-spec lacks_line_debug_info() -> false | {true, module()}.
lacks_line_debug_info() ->
    App = try proplists:get_value(app, 'Elixir.Mix.Project':config()) catch _:_ -> undefined end,
    Loaded = case is_atom(App) andalso App =/= undefined andalso App =/= nil
                 andalso application:get_key(App, modules) of
                 {ok, Modules} -> [M || M <- Modules, code:is_loaded(M) =/= false];
                 _ -> []
             end,
    HasLines = fun(M) -> is_list(try code:get_debug_info(M) catch _:_ -> none end) end,
    case Loaded =/= [] andalso not lists:any(HasLines, Loaded) of
        true -> {true, hd(Loaded)};
        false -> false
    end.

%% mix: the agent learns the project's modules and their sources from Mix in
%% the node. release: the node runs no Mix project (a release built with
%% `mix release`, or a plain `elixir --sname` node): they come from
%% projectDir, on this side (elixir_dap_release).
check_mix_project(Remote) ->
    case rpc:call(Remote, 'Elixir.Mix.Project', get, [], ?CALL_TIMEOUT) of
        Project when is_atom(Project), Project =/= nil -> mix;
        _ -> release
    end.

%% What the agent needs of the project in a node without Mix, put there
%% before the agent starts (erased on detach with the agent's other
%% persistent terms).
prepare_release(Remote) ->
    try
        Project = elixir_dap_release:prepare(Remote, fun(M, F, A) -> remote_call(Remote, M, F, A) end),
        remote_call(Remote, persistent_term, put, [{elixir_dap_release, project}, Project])
    catch
        throw:{error, _} = Error ->
            purge_remote(Remote),
            throw(Error)
    end.

major_minor(Version) ->
    lists:sublist(binary:split(Version, <<".">>, [global]), 2).

remote_call(Remote, M, F, A) ->
    case rpc:call(Remote, M, F, A, ?CALL_TIMEOUT) of
        {badrpc, Reason} ->
            throw({error, #{kind => remote_call_failed, node => Remote, module => M, function => F,
                            error => elixir_dap_util:format_term(Reason)}});
        Result -> Result
    end.

load_remote(Remote, Module) ->
    {Module, Bin, File} = code:get_object_code(Module),
    case remote_call(Remote, code, load_binary, [Module, File, Bin]) of
        {module, Module} -> ok;
        {error, Reason} ->
            throw({error, #{kind => agent_not_loaded, module => Module, node => Remote,
                            error => elixir_dap_util:format_term(Reason)}})
    end.

%% The agent's modules out of the remote node: once the agent has ended,
%% nothing of ours runs their code (code:purge/1 would kill what still did).
%% Three remote calls in all, not three per module: on a busy node each call
%% waits its turn, and the adapter gives the helper little time to exit.
purge_remote(Remote) ->
    Modules = lists:reverse(?MODULES),
    [_ = rpc:call(Remote, lists, foreach, [Step, Modules], ?CALL_TIMEOUT)
     || Step <- [fun code:purge/1, fun code:delete/1, fun code:purge/1]],
    ok.

%% Nodes: {the node attached to, its peers}.
relay(Sock, Nodes, Agent, Ref) ->
    receive
        {tcp, Sock, Frame} ->
            Agent ! {elixir_dap_frame, self(), Frame},
            relay(Sock, Nodes, Agent, Ref);
        {elixir_dap_frame, Agent, Frame} ->
            ok = gen_tcp:send(Sock, Frame),
            relay(Sock, Nodes, Agent, Ref);
        {tcp_closed, Sock} ->
            %% The adapter is gone without detaching: the agent cleans up.
            Agent ! {elixir_dap_closed, self()},
            receive {'DOWN', Ref, process, Agent, _} -> ok after 5000 -> ok end,
            leave(Nodes, 0);
        {tcp_error, Sock, _} ->
            Agent ! {elixir_dap_closed, self()},
            receive {'DOWN', Ref, process, Agent, _} -> ok after 5000 -> ok end,
            leave(Nodes, 0);
        {'DOWN', Ref, process, Agent, detached} ->
            %% The adapter detached: the agent has cleaned the node up.
            leave(Nodes, 0);
        {'DOWN', Ref, process, Agent, Reason} ->
            io:format(standard_error, "elixir-dap: the agent on ~s ended: ~0p~n", [element(1, Nodes), Reason]),
            leave(Nodes, 1)
    end.

leave({Remote, Peers}, Status) ->
    [begin leave_peer(P), erlang:disconnect_node(P) end || P <- Peers, lists:member(P, nodes(connected))],
    case lists:member(Remote, nodes(connected)) of
        true -> purge_remote(Remote), erlang:disconnect_node(Remote);
        false -> ok
    end,
    erlang:halt(Status).

%% ---------------------------------------------------------------------------
%% The agent's side, in the remote node

%% Leaves the node as found: no breakpoint, nothing interpreted, no paused
%% process (answers the processes that still run interpreted code: for them
%% the interpreter stays), none of our processes, tables, generated modules or persistent
%% terms.
-spec clean_node(map()) -> #{kept_interpreted := [pid()]}.
clean_node(Found) ->
    try elixir_dap_dbg:detach() catch _:_ -> ok end,
    %% First, so that no compile lifts or sets traps while they are cleared.
    try elixir_dap_app_compile:uninstall() catch _:_ -> ok end,
    Kept = elixir_dap_backend:leave_node(Found),
    [exit(Owner, kill) || T <- [elixir_dap_handles, elixir_dap_breaks, elixir_dap_reload, elixir_dap_scripts],
                          Owner <- [ets:info(T, owner)], is_pid(Owner)],
    [exit(Pid, kill) || Name <- [elixir_dap_reload_invalidator], Pid <- [whereis(Name)], is_pid(Pid)],
    %% The reload overlay, ahead of the project's code on the code path
    %% (elixir_dap_reload); the code it loaded stays loaded.
    case persistent_term:get({elixir_dap_reload, overlay}, undefined) of
        undefined -> ok;
        Overlay -> code:del_path(Overlay)
    end,
    %% The modules breakpoint conditions compile to (elixir_dap_backend_int).
    [begin code:purge(M), code:delete(M), code:purge(M) end
     || {M, _} <- code:all_loaded(), lists:prefix("elixir_dap_cond_", atom_to_list(M))],
    [persistent_term:erase(Key) || {Key, _} <- persistent_term:get(),
                                   is_tuple(Key), tuple_size(Key) =:= 2,
                                   lists:member(element(1, Key), ?MODULES)],
    #{kept_interpreted => Kept}.
