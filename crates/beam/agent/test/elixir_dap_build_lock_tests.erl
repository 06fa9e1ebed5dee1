%% EUnit tests of elixir_dap_build_lock: the ports a lock directory names
%% (file names and both of Mix's record formats), where Mix keeps a build
%% path's lock directory (against Mix's own lock where this Elixir has one),
%% and the guards: a guarded port cannot be listened on, a probe there is
%% closed at once, a port someone listens on is left alone, a guard ends
%% with its compile, and Mix takes its lock while the ports its earlier
%% lock named are guarded (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_build_lock_tests).
-include_lib("eunit/include/eunit.hrl").

-define(LOOPBACK, {127, 0, 0, 1}).

%% A loopback port nobody listens on now.
free_port() ->
    {ok, Socket} = gen_tcp:listen(0, [{ip, ?LOOPBACK}]),
    {ok, Port} = inet:port(Socket),
    ok = gen_tcp:close(Socket),
    Port.

fresh_dir() ->
    Base = case os:getenv("TMPDIR") of
               false -> "/tmp";
               Set -> Set
           end,
    Dir = filename:join(Base, "elixir_dap_build_lock_tests_" ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = file:make_dir(Dir),
    Dir.

remove(Dir) ->
    ok = file:del_dir_r(Dir).

%% Whether anyone listens on Port: a listen there fails.
taken(Port) ->
    case gen_tcp:listen(Port, [{ip, ?LOOPBACK}, {reuseaddr, true}]) of
        {ok, Socket} -> gen_tcp:close(Socket), false;
        {error, eaddrinuse} -> true
    end.

%% Mix 1.19+'s record and switch file, and 1.18's record.
record(Port, OsPid) ->
    Pad = 32 - byte_size(OsPid),
    <<Port:32, Pad:8, 0:(Pad * 8), OsPid/binary>>.
switch_file(0, Active, Inactive) -> <<0, Active/binary, Inactive/binary>>;
switch_file(1, Active, Inactive) -> <<1, Inactive/binary, Active/binary>>.
record_1_18(Port, OsPid) -> <<Port:32, OsPid/binary>>.

%% The build path's key, computed here without Elixir: MD5, URL-safe Base64, no padding.
key(BuildPath) ->
    Plain = binary_to_list(base64:encode(erlang:md5(BuildPath))),
    [case C of $+ -> $-; $/ -> $_; _ -> C end || C <- Plain, C =/= $=].

named_ports_test() ->
    Dir = fresh_dir(),
    Write = fun(Name, Content) -> ok = file:write_file(filename:join(Dir, Name), Content) end,
    Write("port_40001", record(40001, <<"1">>)),
    %% The switch names the second record: the first is stale.
    Write("lock_0", switch_file(1, record(40003, <<"123">>), record(40007, <<"9">>))),
    Write("lock_1", record_1_18(40005, <<"4242">>)),
    %% Released locks (1.19+ and 1.18) name no port.
    Write("lock_2", switch_file(0, record(0, <<>>), record(40009, <<"7">>))),
    Write("lock_3", <<0:32>>),
    %% Not a port's file, out of range, not a record, not a lock.
    Write("port_x", <<>>),
    Write("port_", <<>>),
    Write("port_70000", <<>>),
    Write("lock_4", <<1, 2>>),
    Write("other_40011", record(40011, <<"1">>)),
    try
        ?assertEqual([40001, 40003, 40005], elixir_dap_build_lock:named_ports(Dir)),
        ?assertEqual([], elixir_dap_build_lock:named_ports(filename:join(Dir, "absent")))
    after
        remove(Dir)
    end.

lock_dirs_test() ->
    Tmp = fresh_dir(),
    BuildPath = <<"/p/ä/_build/dev"/utf8>>,
    Key = key(<<"/p/ä/_build/dev"/utf8>>),
    Made = [filename:join([Tmp, Base, Key]) || Base <- ["mix_lock", "mix_lock_dXNlcg", "mix_lock_user0", "mix_lock_v2_user1000"]],
    [ok = filelib:ensure_path(D) || D <- Made],
    %% Another build path's, another tool's, and a file where a directory would be.
    ok = filelib:ensure_path(filename:join([Tmp, "mix_lock_user0", key(<<"/q/_build/dev">>)])),
    ok = filelib:ensure_path(filename:join([Tmp, "other", Key])),
    ok = filelib:ensure_path(filename:join(Tmp, "mix_lock_file")),
    ok = file:write_file(filename:join([Tmp, "mix_lock_file", Key]), <<>>),
    try
        ?assertEqual(lists:sort(Made), lists:sort(elixir_dap_build_lock:lock_dirs(Tmp, BuildPath))),
        ?assertEqual(lists:sort(Made), lists:sort(elixir_dap_build_lock:lock_dirs(list_to_binary(Tmp), unicode:characters_to_list(BuildPath)))),
        ?assertEqual([], elixir_dap_build_lock:lock_dirs(nil, BuildPath))
    after
        remove(Tmp)
    end.

a_guarded_port_refuses_listeners_and_closes_probes_test() ->
    Port = free_port(),
    [Guard] = elixir_dap_build_lock:guard([Port]),
    try
        ?assert(taken(Port)),
        {ok, Probe} = gen_tcp:connect(?LOOPBACK, Port, [binary, {active, false}], 5000),
        ?assertEqual({error, closed}, gen_tcp:recv(Probe, 0, 5000))
    after
        ok = elixir_dap_build_lock:release([Guard])
    end,
    %% Free once release/1 returns.
    ?assertNot(taken(Port)).

a_port_someone_listens_on_is_left_alone_test() ->
    {ok, Socket} = gen_tcp:listen(0, [{ip, ?LOOPBACK}]),
    {ok, Port} = inet:port(Socket),
    try
        ?assertEqual([], elixir_dap_build_lock:guard([Port]))
    after
        gen_tcp:close(Socket)
    end.

a_guard_ends_with_the_process_it_guards_for_test() ->
    Port = free_port(),
    Self = self(),
    {Owner, Ref} = spawn_monitor(fun() -> Self ! {guards, elixir_dap_build_lock:guard([Port])} end),
    Guards = receive {guards, G} -> G after 5000 -> error(no_guards_reported) end,
    receive {'DOWN', Ref, process, Owner, _} -> ok after 5000 -> error(owner_did_not_end) end,
    ?assertMatch([_], Guards),
    [await_down(G) || G <- Guards],
    ?assertNot(taken(Port)).

guarded_returns_the_result_with_the_named_ports_guarded_test() ->
    Tmp = fresh_dir(),
    BuildPath = <<"/p/_build/dev">>,
    Dir = filename:join([Tmp, "mix_lock_user0", key(BuildPath)]),
    ok = filelib:ensure_path(Dir),
    Port = free_port(),
    ok = file:write_file(filename:join(Dir, "lock_0"), switch_file(0, record(Port, <<"999999">>), record(0, <<>>))),
    Old = os:getenv("TMPDIR"),
    true = os:putenv("TMPDIR", Tmp),
    try
        ?assertEqual({was_taken, true},
                     elixir_dap_build_lock:guarded(BuildPath, fun() -> {was_taken, taken(Port)} end)),
        %% The guard is gone with the compile.
        ?assertNot(taken(Port)),
        %% A failing compile's exception comes through; the guard ends too.
        ?assertError(compile_broke,
                     elixir_dap_build_lock:guarded(BuildPath, fun() -> error(compile_broke) end)),
        ?assertNot(taken(Port))
    after
        restore_env("TMPDIR", Old),
        remove(Tmp)
    end.

%% Against Mix's own lock (Elixir 1.18+): its directory is where lock_dirs/2
%% looks, its first lock leaves a port named there, and with those ports
%% guarded Mix still takes and releases its lock; after a holder killed
%% while holding it, too (Mix's probe then reaches a guard).
mix_takes_its_lock_beside_the_guards_test_() ->
    case code:ensure_loaded('Elixir.Mix.Sync.Lock') of
        {module, _} -> {timeout, 60, fun mix_lock_beside_guards/0};
        {error, _} -> []
    end.

mix_lock_beside_guards() ->
    ok = 'Elixir.Mix':start(),
    Tmp = fresh_dir(),
    Key = list_to_binary(filename:join(Tmp, "_build/dev")),
    Old = os:getenv("TMPDIR"),
    true = os:putenv("TMPDIR", Tmp),
    try
        ok = 'Elixir.Mix.Sync.Lock':with_lock(Key, fun() -> ok end),
        [Dir] = elixir_dap_build_lock:lock_dirs(Tmp, Key),
        ?assertMatch("mix_lock" ++ _, filename:basename(filename:dirname(Dir))),
        Named = elixir_dap_build_lock:named_ports(Dir),
        ?assertNotEqual([], Named),
        Guards = elixir_dap_build_lock:guard(Named),
        ?assertEqual(length(Named), length(Guards)),
        try
            ?assertEqual(locked, 'Elixir.Mix.Sync.Lock':with_lock(Key, fun() -> locked end))
        after
            elixir_dap_build_lock:release(Guards)
        end,
        %% A holder killed while it holds the lock: its lock file names its
        %% port; Mix's probe of it reaches the guard there and goes on.
        Self = self(),
        {Holder, Watch} = spawn_monitor(fun() ->
                                                'Elixir.Mix.Sync.Lock':with_lock(Key, fun() ->
                                                                                          Self ! {holding, self()},
                                                                                          receive after infinity -> ok end
                                                                                  end)
                                        end),
        receive {holding, Holder} -> ok after 10000 -> error(holder_did_not_lock) end,
        exit(Holder, kill),
        receive {'DOWN', Watch, process, Holder, _} -> ok end,
        HolderPorts = elixir_dap_build_lock:named_ports(Dir),
        ?assertNotEqual([], HolderPorts),
        ?assertEqual(reached, elixir_dap_build_lock:guarded(Key, fun() ->
                                                                       true = lists:all(fun taken/1, HolderPorts),
                                                                       'Elixir.Mix.Sync.Lock':with_lock(Key, fun() -> reached end)
                                                               end))
    after
        restore_env("TMPDIR", Old),
        remove(Tmp)
    end.

restore_env(Name, false) -> os:unsetenv(Name);
restore_env(Name, Value) -> os:putenv(Name, Value).

await_down(Pid) ->
    Ref = erlang:monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> ok
    after 5000 -> error({guard_still_running, Pid})
    end.
