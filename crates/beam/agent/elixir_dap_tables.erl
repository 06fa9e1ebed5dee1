%% elixir_dap_tables: the owner of the agent's ETS tables.
%%
%% Requests run in short-lived processes (elixir_dap_agent), and the
%% compiler tracers in the program's compile processes: the tables need an
%% owner that lives as long as the agent. This gen_server creates them all
%% when it starts and does nothing else; they are public, and every agent
%% module reads and writes them directly. Started by the agent (and, should
%% a module need its tables before, by ensure/0); a node attached to ends it
%% when the session leaves (elixir_dap_attach:clean_node/1), which takes the
%% tables with it.
%%
%%   elixir_dap_handles  values shown to the user, by handle (elixir_dap_values)
%%   elixir_dap_breaks   breakpoints, stepping, evaluations, sources
%%                       (elixir_dap_backend_int, elixir_dap_project)
%%   elixir_dap_reload   one reload's snapshot; processes whose interpreter
%%                       caches wait to be dropped (elixir_dap_reload,
%%                       elixir_dap_backend_int)
%%   elixir_dap_scripts  object code compiled in memory (elixir_dap_scripts)
%%   elixir_dap_release  object code a reload compiled on the helper node, in
%%                       a node without Mix (elixir_dap_release)
-module(elixir_dap_tables).
-behaviour(gen_server).
-export([ensure/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLES, [elixir_dap_handles, elixir_dap_breaks, elixir_dap_reload, elixir_dap_scripts,
                 elixir_dap_release]).

%% Starts the owner unless it runs: the tables exist when it returns.
-spec ensure() -> ok.
ensure() ->
    case whereis(?MODULE) of
        undefined ->
            case gen_server:start({local, ?MODULE}, ?MODULE, [], []) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok
            end;
        _ ->
            ok
    end.

-spec init([]) -> {ok, no_state}.
init([]) ->
    [ets:new(T, [named_table, public, set]) || T <- ?TABLES],
    ets:insert(elixir_dap_handles, {next_handle, 0}),
    {ok, no_state}.

-spec handle_call(term(), gen_server:from(), no_state) -> {reply, {error, unknown_call}, no_state}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), no_state) -> {noreply, no_state}.
handle_cast(_Request, State) ->
    {noreply, State}.

-spec handle_info(term(), no_state) -> {noreply, no_state}.
handle_info(_Message, State) ->
    {noreply, State}.
