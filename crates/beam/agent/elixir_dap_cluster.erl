%% elixir_dap_cluster: a reload into every node of a cluster attached to.
%%
%% An attach that names several nodes (`remoteNode` a list) debugs the first,
%% the primary, where the agent runs and compiles, and reloads into all of
%% them. The helper (elixir_dap_attach) loads the agent's modules into the
%% other nodes, the peers, checks that the primary reaches each, and names
%% them to the agent ({elixir_dap_cluster, peers}).
%%
%% A batch compiles on the primary (elixir_dap_reload:compile/1), which hands
%% its object code to prepare/4. Then, as the adapter drives it:
%%   prepare   every peer checks the batch against its processes (old code
%%             in use: blocked, or killed with force, as on the primary),
%%             keeps the object code it runs, and prepares the new code
%%             (code:prepare_loading/1) without making it visible.
%%   switch    once every peer is ready and the primary has switched, every
%%             peer loads the prepared code (code:finish_loading/1) and the
%%             modules with an on_load function one by one (prepare_loading
%%             refuses them: their on_load runs here, and may fail).
%%   rollback  every peer loads the code it kept again (a batch only
%%             prepared is dropped); with the primary's rollback.
%%   commit    every peer forgets the batch and remembers the code it loaded
%%             (a peer's overlay files may not exist there, or hold a later
%%             reload of the primary: this is what a later rollback loads).
%% The peers are called from the primary over distribution (erpc), all at
%% once; a peer that does not answer is one that failed.
%% Written in plain Erlang so it compiles on every OTP the user may have.
-module(elixir_dap_cluster).
-export([peers/0, prepare/4, switch/0, rollback/0, commit/0,
         peer_prepare/1, peer_switch/0, peer_rollback/0, peer_commit/0, peer_leave/0]).

%% How long a peer may take for one step (a prepare checks every process
%% of the node for old code, as the primary's compile does).
-define(PEER_CALL_MS, 30000).
%% The primary's list of peers, put by the helper.
-define(PEERS, {?MODULE, peers}).
%% A peer's batch between prepare and commit or rollback.
-define(BATCH, {?MODULE, batch}).
%% A peer's object code of the modules reloads loaded there: #{Module => Binary}.
-define(LOADED, {?MODULE, loaded}).
%% The shapes of a peer's answers (protocol's PeerPrepared, PeerOutcome).
-define(PREPARED, #{status => failed, blocked => [], killed => [], failures => [], error => <<>>}).
-define(OUTCOME, #{status => failed, failures => [], error => <<>>}).

%% What a peer answers of a step, as the adapter reads it (protocol's
%% PeerPrepared and PeerOutcome): status ready | blocked | failed | switched
%% | rolled_back | unreachable.
-type peer_reply() :: #{node := node(), status := atom(), atom() => term()}.

%% ---------------------------------------------------------------------------
%% The primary's side

%% The other nodes of the cluster attached to ([] for one node).
-spec peers() -> [node()].
peers() ->
    persistent_term:get(?PEERS, []).

%% Prepares the batch on every peer: Code ([{Module, File, Binary}], this
%% reload's object code), Missing (modules of the batch without object
%% code here: every peer fails), Remove (the modules of deleted files).
-spec prepare([{module(), file:filename(), binary()}], [module()], [module()], boolean()) -> [peer_reply()].
prepare(Code, [], Remove, Force) ->
    call_peers(peer_prepare, [#{code => Code, remove => Remove, force => Force}], ?PREPARED);
prepare(_Code, Missing, _Remove, _Force) ->
    Failures = [#{module => M, reason => #{kind => not_loaded}} || M <- Missing],
    [maps:merge(?PREPARED, #{node => P, failures => Failures,
                             error => <<"no object code of the batch on the node debugged">>})
     || P <- peers()].

%% Makes the prepared batch the code every peer runs.
-spec switch() -> {ok, #{nodes := [peer_reply()]}}.
switch() ->
    {ok, #{nodes => call_peers(peer_switch, [], ?OUTCOME)}}.

%% Every peer back on the code it ran before the batch (the primary's
%% elixir_dap_reload:rollback/0 calls this first).
-spec rollback() -> [peer_reply()].
rollback() ->
    call_peers(peer_rollback, [], ?OUTCOME).

-spec commit() -> ok.
commit() ->
    _ = call_peers(peer_commit, [], ?OUTCOME),
    ok.

%% Each peer's answer, all called at once; a peer that does not answer (or
%% fails) is reported so, with why, in the shape of Empty.
call_peers(Function, Args, Empty) ->
    Peers = peers(),
    Results = case Peers of
                  [] -> [];
                  _ -> erpc:multicall(Peers, ?MODULE, Function, Args, ?PEER_CALL_MS)
              end,
    [case Result of
         {ok, #{} = Reply} -> Reply#{node => Peer};
         {Class, Reason} ->
             Empty#{node => Peer, status => unreachable, error => elixir_dap_util:format_term({Class, Reason})}
     end || {Peer, Result} <- lists:zip(Peers, Results)].

%% ---------------------------------------------------------------------------
%% A peer's side

-spec peer_prepare(#{code := [{module(), file:filename(), binary()}], remove := [module()],
                     force := boolean()}) -> map().
peer_prepare(#{code := Code, remove := Remove, force := Force}) ->
    persistent_term:erase(?BATCH),
    Modules = [M || {M, _, _} <- Code],
    Loaded = [M || M <- lists:usort(Modules ++ Remove), code:is_loaded(M) =/= false],
    Reply = #{blocked => [], killed => [], failures => [], error => <<>>},
    case elixir_dap_util:purge_old_code(Loaded, Force) of
        {[_ | _] = Blocked, Killed} ->
            Reply#{status => blocked, blocked => Blocked, killed => Killed};
        {[], Killed} ->
            Kept = [{M, running_code(M)} || M <- Loaded],
            case prepare_code(Code) of
                {ok, Prepared, OnLoad} ->
                    persistent_term:put(?BATCH, #{prepared => Prepared, on_load => OnLoad, code => Code,
                                                  remove => Remove, kept => Kept, switched => false}),
                    Reply#{status => ready, killed => Killed};
                {error, Failures} ->
                    Reply#{status => failed, killed => Killed, failures => Failures}
            end
    end.

%% code:prepare_loading/1 refuses a module with an on_load function: those
%% load one by one at the switch.
prepare_code([]) ->
    {ok, none, []};
prepare_code(Code) ->
    case code:prepare_loading(Code) of
        {ok, Prepared} -> {ok, Prepared, []};
        {error, Errors} ->
            case [{M, R} || {M, R} <- Errors, R =/= on_load_not_allowed] of
                [] ->
                    OnLoad = [C || {M, _, _} = C <- Code, lists:keymember(M, 1, Errors)],
                    case prepare_code(Code -- OnLoad) of
                        {ok, Prepared, []} -> {ok, Prepared, OnLoad};
                        Failed -> Failed
                    end;
                Refused ->
                    {error, [#{module => M, reason => elixir_dap_util:load_error(R)} || {M, R} <- Refused]}
            end
    end.

%% The object code the node runs of M, to load again on a rollback: what a
%% reload of this session loaded, else the module's own file.
running_code(M) ->
    Loaded = persistent_term:get(?LOADED, #{}),
    case maps:find(M, Loaded) of
        {ok, {File, Bin}} ->
            case code:module_md5(Bin) =:= elixir_dap_util:loaded_md5(M) of
                true -> {Bin, File};
                false -> elixir_dap_util:loaded_object_code(M)
            end;
        error ->
            elixir_dap_util:loaded_object_code(M)
    end.

-spec peer_switch() -> map().
peer_switch() ->
    case persistent_term:get(?BATCH, undefined) of
        undefined ->
            #{status => failed, failures => [], error => <<"no batch was prepared on this node">>};
        #{prepared := Prepared, on_load := OnLoad, code := Code, remove := Remove} = Batch ->
            persistent_term:put(?BATCH, Batch#{switched => true}),
            %% code:finish_loading/1 refuses a module with old code: it was
            %% purged at the prepare where nobody ran it.
            [code:soft_purge(M) || {M, _, _} <- Code, erlang:check_old_code(M)],
            Finished = case Prepared of
                           none -> [];
                           _ ->
                               case code:finish_loading(Prepared) of
                                   ok -> [];
                                   {error, Errors} -> [#{module => M, reason => elixir_dap_util:load_error(R)}
                                                       || {M, R} <- Errors]
                               end
                       end,
            Failures = Finished ++ [#{module => M, reason => elixir_dap_util:load_error(R)}
                                    || Finished =:= [], {M, File, Bin} <- OnLoad,
                                       {error, R} <- [code:load_binary(M, File, Bin)]],
            case Failures of
                [] ->
                    %% A deleted file's module: its current code becomes old
                    %% code, which runs on where a process is inside it.
                    [code:delete(M) || M <- Remove, code:soft_purge(M)],
                    #{status => switched, failures => [], error => <<>>};
                _ ->
                    #{status => failed, failures => Failures, error => <<>>}
            end
    end.

-spec peer_rollback() -> map().
peer_rollback() ->
    Batch = persistent_term:get(?BATCH, undefined),
    persistent_term:erase(?BATCH),
    case Batch of
        #{switched := true, kept := Kept, code := Code} ->
            Restored = [restore(M, Old) || {M, Old} <- Kept],
            New = [M || {M, _, _} <- Code, not lists:keymember(M, 1, Kept)],
            Removed = [remove_new(M) || M <- New],
            #{status => rolled_back, failures => [F || {error, F} <- Restored ++ Removed], error => <<>>};
        _ ->
            %% Prepared code never loaded is dropped with the batch.
            #{status => rolled_back, failures => [], error => <<>>}
    end.

restore(M, none) ->
    {error, #{module => M, reason => #{kind => restore_failed, error => <<"no object code was kept">>}}};
restore(M, {Bin, File}) ->
    case code:soft_purge(M) andalso code:load_binary(M, File, Bin) of
        false -> {error, #{module => M, reason => #{kind => old_code_in_use}}};
        {module, M} -> ok;
        {error, Reason} ->
            {error, #{module => M, reason => #{kind => restore_failed, error => elixir_dap_util:format_term(Reason)}}}
    end.

remove_new(M) ->
    case code:soft_purge(M) of
        true -> code:delete(M), code:soft_purge(M), ok;
        false -> {error, #{module => M, reason => #{kind => new_code_in_use}}}
    end.

-spec peer_commit() -> map().
peer_commit() ->
    case persistent_term:get(?BATCH, undefined) of
        #{switched := true, code := Code} ->
            persistent_term:erase(?BATCH),
            Loaded = persistent_term:get(?LOADED, #{}),
            persistent_term:put(?LOADED, maps:merge(Loaded, maps:from_list([{M, {F, B}} || {M, F, B} <- Code])));
        undefined -> ok;
        _ -> persistent_term:erase(?BATCH)
    end,
    #{status => committed, failures => [], error => <<>>}.

%% The helper's detach: nothing of the session left on the node but the
%% code its reloads loaded (the agent's modules are purged next).
-spec peer_leave() -> ok.
peer_leave() ->
    persistent_term:erase(?BATCH),
    persistent_term:erase(?LOADED),
    ok.
