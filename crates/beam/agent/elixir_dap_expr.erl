%% elixir_dap_expr: the user's Elixir expressions at breakpoints: checking
%% conditions and log message expressions with the VM's parser before they
%% are set, hit conditions, evaluating with the bindings of an interpreted
%% frame (named as in Elixir). The adapter splits log messages and parses
%% hit conditions (crates/adapter/src/debugger/log_template.rs,
%% breakpoints.rs).
-module(elixir_dap_expr).
-export([check_expressions/1, hit_reached/2, eval_elixir/2, eval_elixir/3, elixir_binding/1,
         eval_condition/4, log_or_stop/4, forget_reports/1]).
-export_type([log_part/0, hit_condition/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [first_text_line/1]).

%% The breakpoints' table (elixir_dap_tables): errors already reported.
-define(BREAKS, elixir_dap_breaks).

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

%% Whether a breakpoint's condition (nil: none) holds in Binding at
%% Module:Line; one that raises does not, and is reported (report/5).
-spec eval_condition(binary() | nil, [{atom(), term()}], module(), pos_integer()) -> boolean().
eval_condition(nil, _Binding, _Module, _Line) ->
    true;
eval_condition(Expression, Binding, Module, Line) ->
    case eval_elixir(Expression, Binding) of
        {ok, Value} -> Value =/= false andalso Value =/= nil;
        {error, Message} ->
            report(condition_error, Module, Line, Expression, Message),
            false
    end.

%% A breakpoint's log message (nil: none, so stop: true), else its parts
%% evaluated in Binding and sent as a `log` event (false: do not stop).
-spec log_or_stop([log_part() | {text, binary()}] | nil, [{atom(), term()}], module(), pos_integer()) -> boolean().
log_or_stop(nil, _Binding, _Module, _Line) ->
    true;
log_or_stop(Parts, Binding, Module, Line) ->
    Text = iolist_to_binary([log_part(P, Binding, Module, Line) || P <- Parts]),
    elixir_dap_util:send_event(log, #{text => Text, module => Module, line => Line}),
    false.

log_part({expr, Expression}, Binding, Module, Line) ->
    case eval_elixir(Expression, Binding) of
        {ok, V} when is_binary(V) -> V;
        {ok, V} -> elixir_dap_util:inspect(V);
        {error, Error} ->
            report(log_error, Module, Line, Expression, Error),
            [<<"<error: ">>, Error, <<">">>]
    end;
log_part({text, Text}, _Binding, _Module, _Line) ->
    Text;
log_part(Text, _Binding, _Module, _Line) ->
    Text.

%% An error of a breakpoint's condition or log message is reported once
%% until the breakpoint is set again (forget_reports/1): a breakpoint in a
%% loop would otherwise print the same line at every pass.
report(Kind, Module, Line, Expression, Message) ->
    case ets:insert_new(?BREAKS, {{?MODULE, reported, Module, Line, Kind}, true}) of
        true ->
            elixir_dap_util:send_event(Kind, #{module => Module, name => elixir_dap_util:module_name(Module),
                                                line => Line, expression => Expression, message => Message});
        false ->
            ok
    end.

%% The module's breakpoints are set again: their errors are reported anew.
-spec forget_reports(module()) -> ok.
forget_reports(Module) ->
    ets:match_delete(?BREAKS, {{?MODULE, reported, Module, '_', '_'}, '_'}),
    ok.

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
