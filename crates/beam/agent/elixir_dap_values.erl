%% elixir_dap_values: values shown to the user. Each value with children
%% (a list, tuple, map, non-printable binary) is kept in an ETS table under
%% an integer handle (variablesReference on the Rust side) until its
%% process runs again, and its children are paged from there.
-module(elixir_dap_values).
-export([process_variables/1, children/3, variable/3, release/1]).
-export_type([variable/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [throw_error/2, module_name/1, inspect/1]).

-define(HANDLES, elixir_dap_handles).

%% A value as the adapter shows it; handle 0 when it has no children.
-type variable() :: #{name := binary(), value := binary(), type := binary(), handle := non_neg_integer(),
                      indexed := non_neg_integer(), named := non_neg_integer()}.

-spec process_variables(pid()) -> {ok, [variable()]}.
process_variables(Pid) ->
    Info = erlang:process_info(Pid, [registered_name, status, message_queue_len, messages,
                                     links, monitors, current_function, memory, heap_size,
                                     reductions, dictionary, trap_exit, group_leader]),
    case Info of
        undefined -> {ok, []};
        _ -> {ok, [variable(Pid, atom_to_binary(K, utf8), V) || {K, V} <- Info]}
    end.

%% Children of the value behind Handle, from Start, at most Count (0 = all).
-spec children(pos_integer(), non_neg_integer(), non_neg_integer()) -> {ok, [variable()]}.
children(Handle, Start, Count) ->
    case ets:lookup(?HANDLES, Handle) of
        [{Handle, Owner, Term}] ->
            {ok, [variable(Owner, Name, Value) || {Name, Value} <- page(child_terms(Term), Start, Count)]};
        [] ->
            throw_error(stale_handle, #{})
    end.

%% The children of a page: from Start (counted from 0), at most Count (0 =
%% all).
page(All, Start, 0) ->
    lists:nthtail(min(Start, length(All)), All);
page(All, Start, Count) ->
    lists:sublist(All, Start + 1, Count).

-spec variable(pid() | nil, binary(), term()) -> variable().
variable(Owner, Name, Value) ->
    {Indexed, Named} = child_counts(Value),
    Handle = case Indexed + Named of
                 0 -> 0;
                 _ -> new_handle(Owner, Value)
             end,
    #{name => Name, value => inspect(Value), type => type_of(Value),
      handle => Handle, indexed => Indexed, named => Named}.

new_handle(Owner, Value) ->
    Handle = ets:update_counter(?HANDLES, next_handle, 1),
    ets:insert(?HANDLES, {Handle, Owner, Value}),
    Handle.

%% Forgets the values shown for a process: it is running again.
-spec release(pid()) -> ok.
release(Pid) ->
    try ets:match_delete(?HANDLES, {'_', Pid, '_'}) catch error:badarg -> ok end,
    ok.

child_counts(Value) when is_list(Value) ->
    case is_proper(Value) of
        true -> {length(Value), 0};
        false -> {2, 0}
    end;
child_counts(Value) when is_tuple(Value) -> {tuple_size(Value), 0};
child_counts(Value) when is_map(Value) -> {0, map_size(Value)};
child_counts(Value) when is_binary(Value) ->
    case 'Elixir.String':'printable?'(Value) of
        true -> {0, 0};
        false -> {byte_size(Value), 0}
    end;
child_counts(_) -> {0, 0}.

child_terms(Value) when is_list(Value) ->
    case is_proper(Value) of
        true -> indexed(Value);
        false -> [{<<"head">>, hd(Value)}, {<<"tail">>, tl(Value)}]
    end;
child_terms(Value) when is_tuple(Value) -> indexed(tuple_to_list(Value));
child_terms(Value) when is_map(Value) ->
    Name = case struct_module(Value) of
               {struct, _} -> fun(Field) -> atom_to_binary(Field, utf8) end;
               map -> fun(Key) -> inspect(Key) end
           end,
    [{Name(K), V} || {K, V} <- lists:sort(maps:to_list(Value))];
child_terms(Value) when is_binary(Value) -> indexed(binary_to_list(Value));
child_terms(_) -> [].

indexed(Items) ->
    lists:zip([integer_to_binary(I) || I <- lists:seq(0, length(Items) - 1)], Items).

%% Whether a map is shown as a struct, its fields named: its `__struct__`
%% names a module that defines a struct (loaded, or loaded now, as
%% Kernel.inspect/2 would load it) and all its keys are atoms. Any other map
%% tagged `__struct__` (a tag that is not an atom, a module that is not
%% there or defines no struct, a key that is not an atom) is the plain map it
%% is: its keys inspected, its type "map".
struct_module(#{'__struct__' := Module} = Map) when is_atom(Module) ->
    case lists:all(fun erlang:is_atom/1, maps:keys(Map)) andalso defines_struct(Module) of
        true -> {struct, Module};
        false -> map
    end;
struct_module(_) ->
    map.

defines_struct(Module) ->
    case code:ensure_loaded(Module) of
        {module, Module} -> erlang:function_exported(Module, '__struct__', 0);
        _ -> false
    end.

is_proper([]) -> true;
is_proper([_ | T]) -> is_proper(T);
is_proper(_) -> false.

type_of(V) when is_atom(V) -> <<"atom">>;
type_of(V) when is_integer(V) -> <<"integer">>;
type_of(V) when is_float(V) -> <<"float">>;
type_of(V) when is_map(V) ->
    case struct_module(V) of
        {struct, Module} -> module_name(Module);
        map -> <<"map">>
    end;
type_of(V) when is_list(V) -> <<"list">>;
type_of(V) when is_tuple(V) -> <<"tuple">>;
type_of(V) when is_binary(V) -> <<"binary">>;
type_of(V) when is_bitstring(V) -> <<"bitstring">>;
type_of(V) when is_pid(V) -> <<"pid">>;
type_of(V) when is_function(V) -> <<"function">>;
type_of(V) when is_reference(V) -> <<"reference">>;
type_of(V) when is_port(V) -> <<"port">>;
type_of(_) -> <<"term">>.
