%% EUnit tests of elixir_dap_project's listing of a build path: the facts
%% read from each beam's chunk table (its recorded source, whether it calls
%% `dbg`) against beam_lib's, the shortcut of source_under/2 for a source
%% plainly under its application's directory, and the entries of one ebin
%% directory (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_project_tests).
-include_lib("eunit/include/eunit.hrl").

%% A beam of module Module recording Source, calling elixir_dap_dbg when
%% CallsDbg, naming it only in a string otherwise.
beam(Module, Source, CallsDbg, Options) ->
    Body = case CallsDbg of
               true -> {call, 1, {remote, 1, {atom, 1, elixir_dap_dbg}, {atom, 1, dbg}}, [{nil, 1}]};
               false -> {string, 1, "elixir_dap_dbg"}
           end,
    Forms = [{attribute, 1, module, Module}, {attribute, 1, export, [{f, 0}]},
             {function, 1, f, 0, [{clause, 1, [], [], [Body]}]}],
    {ok, Module, Bin} = compile:forms(Forms, [binary, {source, Source} | Options]),
    Bin.

beam_facts_test_() ->
    Plain = beam(elixir_dap_project_tests_a, "/p/lib/a.ex", false, []),
    Dbg = beam(elixir_dap_project_tests_b, "/p/lib/b.ex", true, []),
    Compressed = zlib:gzip(Dbg),
    [?_assertEqual({"/p/lib/a.ex", false}, elixir_dap_project:beam_facts(Plain)),
     ?_assertEqual({"/p/lib/b.ex", true}, elixir_dap_project:beam_facts(Dbg)),
     %% A gzipped beam (as `compressed` writes one): through beam_lib, with the same facts.
     ?_assertEqual(error, elixir_dap_project:beam_chunks(Compressed)),
     ?_assertEqual({"/p/lib/b.ex", true}, elixir_dap_project:beam_facts(Compressed)),
     %% The chunk table walked here finds the compile_info beam_lib finds.
     ?_assertEqual(beam_lib:chunks(Dbg, [compile_info]),
                   begin
                       {ok, CInf, _} = elixir_dap_project:beam_chunks(Dbg),
                       {ok, {elixir_dap_project_tests_b, [{compile_info, binary_to_term(CInf)}]}}
                   end),
     ?_assertEqual({undefined, false}, elixir_dap_project:beam_facts(<<"FOR1", 0:32, "BEAM", "CInf", 100:32>>)),
     ?_assertEqual({undefined, false}, elixir_dap_project:beam_facts(<<>>))].

%% source_in/3 is source_under/2, shortcut or not.
source_in_test_() ->
    Root = "/p/app",
    Prefix = elixir_dap_project:root_prefix(Root),
    [?_assertEqual(<<"/p/app/">>, Prefix),
     ?_assertEqual(none, elixir_dap_project:root_prefix("/")),
     ?_assertEqual(none, elixir_dap_project:root_prefix("/p/../app")),
     ?_assertEqual(none, elixir_dap_project:root_prefix("relative")),
     [?_assertEqual({Recorded, elixir_dap_util:source_under(Recorded, Root)},
                    {Recorded, elixir_dap_project:source_in(Recorded, Root, Prefix)})
      || Recorded <- ["/p/app/lib/a.ex", <<"/p/app/lib/a.ex">>, "/p/app/lib//a.ex", "/p/app/lib/./a.ex",
                      "/p/app/lib/../a.ex", "/p/app/lib/", "/p/app2/lib/a.ex", "/elsewhere/a.ex",
                      "/p/app/lib/ü.ex"]],
     ?_assertEqual("/p/app/lib/a.ex", elixir_dap_project:source_in(<<"/p/app/lib/a.ex">>, Root, Prefix))].

%% One ebin directory: each beam's entry, the source of a moved project
%% found under the application's directory, and what is not a beam left out.
modules_in_test() ->
    Base = filename:join(temp_dir(), "elixir_dap_project_tests_" ++ os:getpid()),
    Root = filename:join(Base, "shop"),
    Ebin = filename:join([Base, "_build", "dev", "lib", "shop", "ebin"]),
    InPlace = filename:join([Root, "lib", "a.ex"]),
    Moved = filename:join([Root, "lib", "shop", "b.ex"]),
    Table = case ets:whereis(elixir_dap_breaks) of
                undefined -> ets:new(elixir_dap_breaks, [named_table, public, set]);
                T -> T
            end,
    try
        [begin ok = filelib:ensure_dir(F), ok = file:write_file(F, <<>>) end || F <- [InPlace, Moved]],
        ok = filelib:ensure_dir(filename:join(Ebin, "x")),
        ok = file:write_file(filename:join(Ebin, "elixir_dap_project_tests_a.beam"),
                             beam(elixir_dap_project_tests_a, InPlace, false, [])),
        ok = file:write_file(filename:join(Ebin, "Elixir.Shop.B.beam"),
                             beam('Elixir.Shop.B', "/old/place/lib/shop/b.ex", true, [])),
        ok = file:write_file(filename:join(Ebin, "shop.app"), <<"{application, shop, []}.">>),
        Entries = lists:sort(elixir_dap_project:modules_in(Ebin, [<<"shop">>], #{<<"shop">> => Root})),
        EbinBin = list_to_binary(Ebin),
        ?assertEqual([#{module => 'Elixir.Shop.B', name => <<"Shop.B">>, source => list_to_binary(Moved),
                        beam => <<EbinBin/binary, "/Elixir.Shop.B.beam">>, app => <<"shop">>, project => true,
                        calls_dbg => true},
                      #{module => elixir_dap_project_tests_a, name => <<":elixir_dap_project_tests_a">>,
                        source => list_to_binary(InPlace),
                        beam => <<EbinBin/binary, "/elixir_dap_project_tests_a.beam">>, app => <<"shop">>,
                        project => true, calls_dbg => false}],
                     Entries),
        %% Each source is remembered with the path it was found from.
        ?assertEqual(Moved, elixir_dap_project:recorded_source('Elixir.Shop.B', "/old/place/lib/shop/b.ex")),
        ?assertEqual(InPlace, elixir_dap_project:recorded_source(elixir_dap_project_tests_a, InPlace)),
        %% A dependency without a known directory: the recorded path as it is.
        [Dep] = [E || E <- elixir_dap_project:modules_in(Ebin, [], #{}), map_get(module, E) =:= 'Elixir.Shop.B'],
        ?assertMatch(#{source := <<"/old/place/lib/shop/b.ex">>, project := false}, Dep)
    after
        ets:delete(Table),
        file:del_dir_r(Base)
    end.

temp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        Dir -> Dir
    end.
