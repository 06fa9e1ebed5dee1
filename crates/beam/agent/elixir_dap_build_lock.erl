%% elixir_dap_build_lock: keeps Mix's build lock from waiting on itself
%% while the agent compiles.
%%
%% Mix (1.18 and later) holds a lock across OS processes around a compile
%% (Mix.Project.with_build_lock/2, Mix.Sync.Lock): a directory per build
%% path under the temporary directory, `<tmp>/mix_lock*/<key>`, where `key`
%% is the build path's MD5 in unpadded URL-safe Base64. A locker listens on
%% a loopback port P, writes `port_P` (P and its OS pid), hard-links it to
%% `lock_0` (or `lock_N` when lock_0 is taken) and probes the port named in
%% an existing lock file: whoever answers there holds the lock.
%%
%% Up to Elixir 1.20.4 a port named in that directory by a locker that is
%% gone can make the next locker wait forever on itself (elixir-lang/elixir
%% issue 15761, fixed upstream by pull request 15765 after 1.20.4): when the
%% kernel gives the new locker the same port P, it writes its `port_P`
%% through the old name still linked to `lock_0` (1.19+ leaves `lock_0`
%% linked to the first locker's `port_P` after a normal release), or finds a
%% dead holder's `lock_0` naming P; either way its probe connects to its own
%% listener, and it waits for itself ("Waiting for lock on the build
%% directory (held by process <its own OS pid>)"). Seen here: a launch's
%% compile hung in CI on Elixir 1.20.4; the chance is about one in the
%% number of free ephemeral ports, each time a project's build path is
%% compiled again after a first compile or a killed one.
%%
%% The guard: for the time of a compile the agent starts, a loopback
%% listener is held on every port named in the build path's lock directory
%% (file names `port_P`, and the port in each `lock_N`) that no process
%% listens on, so the kernel cannot give it to Mix. A probe reaching a guard
%% is closed at once, which Mix takes as "no holder there" (as for a port
%% nobody listens on). A port someone listens on is a live locker's: left
%% alone. The agent writes or removes nothing in the directory; when a
%% `port_P` is left after the compile, one more lock and release through
%% Mix's own API (guarded too) makes Mix tidy it (settle/1), so that the
%% program's own compiles after it (`app.start`, `mix test`, a code
%% reloader), which run unguarded, find no hazard.
-module(elixir_dap_build_lock).
-export([guarded/2, lock_dirs/2, named_ports/1, guard/1, release/1]).

%% How long a guard's start (or end) may take before the compile goes on without
%% waiting for it.
-define(GUARD_START_MS, 2000).
%% How often a guard waiting for connections looks whether its compile ended.
-define(ACCEPT_POLL_MS, 500).

%% Runs Fun (a Mix compile of BuildPath, in the Mix project) with the ports
%% named in BuildPath's lock directories guarded, then settles the
%% directories; returns Fun's result. A failure of the guard leaves Fun to
%% run unguarded, as under Mix alone.
-spec guarded(binary() | string(), fun(() -> T)) -> T.
guarded(BuildPath, Fun) ->
    try
        with_guards(dirs(BuildPath), Fun)
    after
        %% Looked at again: a first compile made the directory.
        settle(dirs(BuildPath))
    end.

dirs(BuildPath) ->
    try lock_dirs(tmp_dir(), BuildPath)
    catch _:_ -> []
    end.

%% A compile that took the lock first in a fresh directory leaves `lock_0`
%% linked to its `port_P` (Mix 1.19+), a hazard for the next locker, be it
%% the program's own compile (`app.start`, `mix test`, a code reloader): one
%% more lock and release, guarded, goes through `lock_1`, and Mix then
%% removes every `port_P` (its take-over), leaving a released `lock_0` of
%% its own that names no port.
settle(Dirs) ->
    Hazard = [D || D <- Dirs, lists:any(fun("port_" ++ _) -> true; (_) -> false end, list_dir(D))],
    case Hazard =/= [] andalso erlang:function_exported('Elixir.Mix.Project', with_build_lock, 1) of
        true ->
            try with_guards(Hazard, fun() -> 'Elixir.Mix.Project':with_build_lock(fun() -> ok end) end)
            catch _:_ -> ok
            end;
        false ->
            ok
    end,
    ok.

with_guards(Dirs, Fun) ->
    Guards = try guard(lists:usort(lists:append([named_ports(D) || D <- Dirs])))
             catch _:_ -> []
             end,
    try
        Fun()
    after
        release(Guards)
    end.

%% The lock directories Mix versions 1.18+ use for BuildPath under TmpDir
%% (`mix_lock`, `mix_lock_<user>`, `mix_lock_user<uid>`, `mix_lock_v2_user<uid>`)
%% that exist.
-spec lock_dirs(binary() | string() | nil, binary() | string()) -> [file:filename()].
lock_dirs(nil, _BuildPath) ->
    [];
lock_dirs(TmpDir, BuildPath) ->
    Key = 'Elixir.Base':url_encode64(erlang:md5(unicode:characters_to_binary(BuildPath)),
                                     [{padding, false}]),
    Tmp = unicode:characters_to_list(TmpDir),
    [Dir || "mix_lock" ++ _ = Base <- list_dir(Tmp),
            Dir <- [filename:join([Tmp, Base, binary_to_list(Key)])],
            filelib:is_dir(Dir)].

%% The ports a lock directory names: in `port_P` file names, and in the
%% contents of `lock_N` files (a released lock names port 0: not listed).
%% Contents, as Mix.Sync.Lock writes them: from 1.19, a switch byte (0 or 1)
%% and two 37-byte records, the one the switch names active, each
%% `<<Port:32, PadSize:8, Pad:PadSize/binary, OsPid/binary>>`; in 1.18,
%% `<<Port:32, OsPid/binary>>`. A file of any other shape names nothing.
-spec named_ports(file:filename()) -> [inet:port_number()].
named_ports(Dir) ->
    Names = list_dir(Dir),
    FromNames = [list_to_integer(Digits) || "port_" ++ Digits <- Names, Digits =/= "",
                                            lists:all(fun(C) -> C >= $0 andalso C =< $9 end, Digits)],
    FromLocks = [P || "lock_" ++ _ = Name <- Names,
                      {ok, Content} <- [file:read_file(filename:join(Dir, Name))],
                      P <- [lock_port(Content)]],
    lists:usort([P || P <- FromNames ++ FromLocks, P > 0, P < 65536]).

lock_port(<<Switch, Records:74/binary>>) when Switch =:= 0; Switch =:= 1 ->
    <<First:37/binary, Second:37/binary>> = Records,
    <<Port:32, _/binary>> = case Switch of 0 -> First; 1 -> Second end,
    Port;
lock_port(<<Port:32, _/binary>>) ->
    Port;
lock_port(_) ->
    0.

%% Starts a guard on each of Ports nobody listens on (on 127.0.0.1, where
%% Mix listens); returns the guards started, each a process holding its
%% listener until release/1.
-spec guard([inet:port_number()]) -> [pid()].
guard(Ports) ->
    Parent = self(),
    Starts = [spawn_monitor(elixir_dap_util:internal(fun() -> hold(Parent, Port) end)) || Port <- Ports],
    lists:append([await_guard(Start) || Start <- Starts]).

await_guard({Pid, Ref}) ->
    receive
        {Pid, listening} -> erlang:demonitor(Ref, [flush]), [Pid];
        {'DOWN', Ref, process, Pid, _} -> []
    after ?GUARD_START_MS ->
            erlang:demonitor(Ref, [flush]),
            exit(Pid, kill),
            []
    end.

%% Ends the guards and waits for them to be gone: their ports are free
%% when this returns.
-spec release([pid()]) -> ok.
release(Guards) ->
    Watches = [{Pid, erlang:monitor(process, Pid)} || Pid <- Guards],
    lists:foreach(fun(Pid) -> exit(Pid, kill) end, Guards),
    lists:foreach(fun({Pid, Watch}) ->
                          receive {'DOWN', Watch, process, Pid, _} -> ok
                          after ?GUARD_START_MS -> erlang:demonitor(Watch, [flush])
                          end
                  end, Watches).

%% A guard: listens on Port (reuseaddr: a port left in TIME_WAIT is no one's)
%% and closes every connection at once; ends quietly when the port is
%% someone's, and with the process it guards for (a compile's process
%% killed never leaves a guard behind).
hold(Parent, Port) ->
    Options = [binary, {ip, {127, 0, 0, 1}}, {reuseaddr, true}, {active, false}, {backlog, 128}],
    case gen_tcp:listen(Port, Options) of
        {ok, Listener} ->
            Watch = erlang:monitor(process, Parent),
            Parent ! {self(), listening},
            refuse(Listener, Watch);
        {error, _} ->
            ok
    end.

refuse(Listener, Watch) ->
    receive
        {'DOWN', Watch, process, _, _} -> ok
    after 0 ->
            case gen_tcp:accept(Listener, ?ACCEPT_POLL_MS) of
                {ok, Socket} ->
                    gen_tcp:close(Socket),
                    refuse(Listener, Watch);
                {error, timeout} ->
                    refuse(Listener, Watch);
                {error, _} ->
                    ok
            end
    end.

list_dir(Dir) ->
    case file:list_dir(Dir) of
        {ok, Names} -> Names;
        {error, _} -> []
    end.

tmp_dir() ->
    try 'Elixir.System':tmp_dir()
    catch _:_ -> nil
    end.
