%% EUnit tests of elixir_dap_values (run by crates/beam/tests/agent_erlang.rs).
-module(elixir_dap_values_tests).
-include_lib("eunit/include/eunit.hrl").

page_test_() ->
    All = [a, b, c, d, e],
    [?_assertEqual([c, d], elixir_dap_values:page(All, 2, 2)),
     %% Count 0: every child from Start on.
     ?_assertEqual([d, e], elixir_dap_values:page(All, 3, 0)),
     ?_assertEqual([], elixir_dap_values:page(All, 9, 0)),
     %% A page running past the end is cut there.
     ?_assertEqual([e], elixir_dap_values:page(All, 4, 10))].

child_counts_test_() ->
    [?_assertEqual({3, 0}, elixir_dap_values:child_counts([1, 2, 3])),
     %% An improper list: its head and its tail.
     ?_assertEqual({2, 0}, elixir_dap_values:child_counts([1 | 2])),
     ?_assertEqual({2, 0}, elixir_dap_values:child_counts({a, b})),
     ?_assertEqual({0, 2}, elixir_dap_values:child_counts(#{a => 1, b => 2})),
     ?_assertEqual({0, 0}, elixir_dap_values:child_counts(42)),
     ?_assertEqual({0, 0}, elixir_dap_values:child_counts(an_atom))].

child_terms_test_() ->
    [?_assertEqual([{<<"0">>, x}, {<<"1">>, y}], elixir_dap_values:child_terms([x, y])),
     ?_assertEqual([{<<"head">>, 1}, {<<"tail">>, 2}], elixir_dap_values:child_terms([1 | 2])),
     ?_assertEqual([{<<"0">>, a}], elixir_dap_values:child_terms({a})),
     %% A struct's fields by name, sorted.
     ?_assertEqual([{<<"__struct__">>, 'Elixir.URI'}, {<<"host">>, 1}],
                   elixir_dap_values:child_terms(#{'__struct__' => 'Elixir.URI', host => 1})),
     ?_assertEqual([], elixir_dap_values:child_terms(3.5))].

%% A map tagged `__struct__` that is no struct Elixir knows is the plain map
%% it is: its keys inspected, its type "map", whatever is wrong with it.
struct_like_maps_test_() ->
    NotStructs = [%% A key that is not an atom (no field name to give it).
                  #{'__struct__' => 'Elixir.URI', 1 => one},
                  #{'__struct__' => 'Elixir.URI', <<"host">> => h, {a} => b},
                  %% A tag that is not an atom.
                  #{'__struct__' => <<"Elixir.URI">>, host => h},
                  #{'__struct__' => 1, 2 => 3},
                  %% No such module, a module that defines no struct, nil.
                  #{'__struct__' => 'Elixir.ElixirDap.NoSuchModule', host => h},
                  #{'__struct__' => lists, host => h},
                  #{'__struct__' => nil},
                  #{'__struct__' => ''}],
    [[?_assertEqual(map, elixir_dap_values:struct_module(M)),
      ?_assertEqual(<<"map">>, elixir_dap_values:type_of(M)),
      ?_assertEqual(lists:sort([{'Elixir.Kernel':inspect(K), V} || {K, V} <- maps:to_list(M)]),
                    lists:sort(elixir_dap_values:child_terms(M)))]
     || M <- NotStructs] ++
    [?_assertEqual([{<<"1">>, one}, {<<":__struct__">>, 'Elixir.URI'}],
                   elixir_dap_values:child_terms(#{'__struct__' => 'Elixir.URI', 1 => one}))].

structs_test_() ->
    Uri = 'Elixir.URI':parse(<<"http://example.com">>),
    [?_assertEqual({struct, 'Elixir.URI'}, elixir_dap_values:struct_module(Uri)),
     ?_assertEqual(<<"URI">>, elixir_dap_values:type_of(Uri)),
     ?_assertEqual({<<"host">>, <<"example.com">>},
                   lists:keyfind(<<"host">>, 1, elixir_dap_values:child_terms(Uri))),
     ?_assertEqual(map_size(Uri), length(elixir_dap_values:child_terms(Uri))),
     ?_assertEqual(map, elixir_dap_values:struct_module(#{a => 1}))].

type_of_test_() ->
    [?_assertEqual(<<"atom">>, elixir_dap_values:type_of(ok)),
     ?_assertEqual(<<"integer">>, elixir_dap_values:type_of(1)),
     ?_assertEqual(<<"float">>, elixir_dap_values:type_of(1.0)),
     ?_assertEqual(<<"map">>, elixir_dap_values:type_of(#{})),
     ?_assertEqual(<<"list">>, elixir_dap_values:type_of([])),
     ?_assertEqual(<<"tuple">>, elixir_dap_values:type_of({})),
     ?_assertEqual(<<"binary">>, elixir_dap_values:type_of(<<"x">>)),
     ?_assertEqual(<<"bitstring">>, elixir_dap_values:type_of(<<1:3>>)),
     ?_assertEqual(<<"pid">>, elixir_dap_values:type_of(self())),
     ?_assertEqual(<<"function">>, elixir_dap_values:type_of(fun() -> ok end)),
     ?_assertEqual(<<"reference">>, elixir_dap_values:type_of(make_ref()))].

is_proper_test_() ->
    [?_assert(elixir_dap_values:is_proper([])),
     ?_assert(elixir_dap_values:is_proper([1, 2])),
     ?_assertNot(elixir_dap_values:is_proper([1 | 2]))].
