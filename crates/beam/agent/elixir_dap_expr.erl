%% elixir_dap_expr: the user's Elixir expressions at breakpoints: checking
%% conditions and log message expressions with the VM's parser before they
%% are set, hit conditions, evaluating with the bindings of an interpreted
%% frame (named as in Elixir). The adapter splits log messages and parses
%% hit conditions (crates/adapter/src/debugger/log_template.rs,
%% breakpoints.rs).
-module(elixir_dap_expr).
-export([check_expressions/1, hit_reached/2, eval_elixir/2, eval_elixir/3, elixir_binding/1]).
-export_type([log_part/0, hit_condition/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [first_text_line/1]).

%% A log message's literal text, or an expression to evaluate.
-type log_part() :: binary() | {expr, binary()}.
%% A hit condition as the adapter parsed it (HitCondition in
%% crates/beam/src/protocol/request.rs), or nil.
-type hit_condition() :: nil | {at_least | more_than | at_most | less_than | exactly | every,
                                non_neg_integer()}.

%% Checks the user's expressions with the VM's parser before they are set:
%% for each breakpoint (#{condition => Text | nil, log_expressions =>
%% [Text]}: the adapter has split the log message), ok, or #{field =>
%% condition | log_message, message => Why} (and expression => Text for a
%% log message's) for the first one that does not parse.
-spec check_expressions([#{condition := binary() | nil, log_expressions := [binary()]}]) ->
          {ok, [ok | #{field := condition | log_message, message := binary(), expression => binary()}]}.
check_expressions(Breakpoints) ->
    {ok, [check_breakpoint_expressions(B) || B <- Breakpoints]}.

check_breakpoint_expressions(#{condition := Condition, log_expressions := LogExpressions}) ->
    case Condition =:= nil orelse parse_check(Condition) of
        {error, Why} ->
            #{field => condition, message => Why};
        _ ->
            case [{E, Why} || E <- LogExpressions, {error, Why} <- [parse_check(E)]] of
                [] -> ok;
                [{Expression, Why} | _] -> #{field => log_message, expression => Expression, message => Why}
            end
    end.

%% ok, or {error, Message} with the parser's message, e.g. "1:3: syntax
%% error: expression is incomplete".
parse_check(Text) ->
    try 'Elixir.Code':'string_to_quoted!'(Text) of
        _ -> ok
    catch
        _:Reason:Stack ->
            Message = try 'Elixir.Exception':message(Reason)
                      catch _:_ -> first_text_line(elixir_dap_util:format_exception(error, Reason, Stack))
                      end,
            {error, parser_message(Reason, Message)}
    end.

%% "Line:Column: description" from a SyntaxError or TokenMissingError: the
%% description field (Elixir 1.14 to 1.20) and the position its message
%% names ("nofile:1:3: ..." on 1.14, "token missing on nofile:1:3:" followed
%% by a snippet since 1.15); else the message's first line.
parser_message(Exception, Message) ->
    First = first_text_line(Message),
    Position = case re:run(First, "nofile:([0-9]+):([0-9]+)", [{capture, all_but_first, binary}]) of
                   {match, [Line, Column]} -> [Line, <<":">>, Column, <<": ">>];
                   nomatch -> []
               end,
    case is_map(Exception) andalso maps:get(description, Exception, undefined) of
        Description when is_binary(Description) -> iolist_to_binary([Position, Description]);
        _ -> First
    end.

%% Whether the Count-th hit satisfies the hit condition.
-spec hit_reached(hit_condition(), non_neg_integer()) -> boolean().
hit_reached(nil, _Count) -> true;
hit_reached({at_least, N}, Count) -> Count >= N;
hit_reached({more_than, N}, Count) -> Count > N;
hit_reached({at_most, N}, Count) -> Count =< N;
hit_reached({less_than, N}, Count) -> Count < N;
hit_reached({exactly, N}, Count) -> Count =:= N;
hit_reached({every, N}, Count) -> Count rem N =:= 0.

-spec eval_elixir(binary(), [{atom(), term()}]) -> {ok, term()} | {error, binary()}.
eval_elixir(Expression, Binding) ->
    eval_elixir(Expression, Binding, []).

%% Evaluates with Env: Code.eval_string/3's options, or a compile-time
%% environment (a `dbg` call's, whose aliases and imports then apply).
-spec eval_elixir(binary(), [{atom(), term()}], list() | map()) -> {ok, term()} | {error, binary()}.
eval_elixir(Expression, Binding, Env) ->
    try 'Elixir.Code':eval_string(Expression, Binding, Env) of
        {Value, _} -> {ok, Value}
    catch
        Class:Reason:Stack ->
            {error, first_text_line(elixir_dap_util:format_exception(Class, Reason, Stack))}
    end.

%% The interpreter's bindings use the Erlang names of Elixir variables
%% (`_x@1`, or `Vx@1` on older Elixir): keep the latest version of each and
%% give it its Elixir name. Bindings of Erlang code keep their names.
-spec elixir_binding([{atom(), term()}]) -> [{atom(), term()}].
elixir_binding(Bindings) ->
    Versions = lists:foldl(fun({Var, Value}, Acc) ->
                                   case elixir_name(atom_to_list(Var)) of
                                       {Name, Version} ->
                                           case maps:find(Name, Acc) of
                                               {ok, {Newer, _}} when Newer > Version -> Acc;
                                               _ -> Acc#{Name => {Version, Value}}
                                           end;
                                       skip -> Acc
                                   end
                           end, #{}, Bindings),
    lists:sort([{list_to_atom(Name), Value} || {Name, {_, Value}} <- maps:to_list(Versions)]).

elixir_name(Var) ->
    case string:split(Var, "@", trailing) of
        [[Prefix | Name], Version] when Prefix =:= $_; Prefix =:= $V ->
            case {Name, string:to_integer(Version)} of
                {"_" ++ _, _} -> skip;          % an underscored (ignored) variable
                {[], _} -> skip;
                {_, {N, []}} -> {Name, N};
                _ -> skip
            end;
        [Var] ->
            {Var, 0};
        _ ->
            skip
    end.
