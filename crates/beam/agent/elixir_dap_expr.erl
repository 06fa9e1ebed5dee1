%% elixir_dap_expr: the user's Elixir expressions at breakpoints: checking
%% conditions and log messages before they are set, splitting a log
%% message into text and expressions, hit conditions, evaluating with the
%% bindings of an interpreted frame (named as in Elixir).
-module(elixir_dap_expr).
-export([check_expressions/1, split_log_message/1, hit_reached/2, eval_elixir/2, elixir_binding/1]).
-export_type([log_part/0]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-import(elixir_dap_util, [first_text_line/1]).

%% A log message's literal text, or an expression to evaluate.
-type log_part() :: binary() | {expr, binary()}.

%% Checks the user's expressions before they are set: for each breakpoint
%% (#{condition, log_message}, nil when absent), ok or #{field, message}
%% with the Elixir parser's message for the first one that does not parse.
-spec check_expressions([map()]) -> {ok, [ok | #{field := condition | log_message, message := binary()}]}.
check_expressions(Breakpoints) ->
    {ok, [check_breakpoint_expressions(B) || B <- Breakpoints]}.

check_breakpoint_expressions(Spec) ->
    Condition = case maps:get(condition, Spec, nil) of
                    nil -> ok;
                    Text -> parse_check(Text)
                end,
    Log = case maps:get(log_message, Spec, nil) of
              nil -> ok;
              Message ->
                  case split_log_message(Message) of
                      {ok, _} -> ok;
                      {error, Why} -> {error, Why}
                  end
          end,
    case {Condition, Log} of
        {{error, Why1}, _} -> #{field => condition, message => Why1};
        {ok, {error, Why2}} -> #{field => log_message, message => Why2};
        {ok, ok} -> ok
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

%% Splits a log message into literal text and `{expression}` parts:
%% {ok, [binary() | {expr, binary()}]} or {error, Message}. "{{" and "}}"
%% stand for braces. An expression ends at the first `}` that Elixir's
%% tokenizer does not read as part of it (a string, a charlist, a tuple, a
%% map, a sigil, nested braces): the parser is given the rest of the
%% message, and it stops at that `}`, which it reports as unexpected.
-spec split_log_message(binary()) -> {ok, [log_part()]} | {error, binary()}.
split_log_message(Message) when is_binary(Message) ->
    split_log(unicode:characters_to_list(Message), [], []).

split_log([], Text, Parts) ->
    {ok, lists:reverse(literal(Text, Parts))};
split_log("{{" ++ Rest, Text, Parts) ->
    split_log(Rest, [${ | Text], Parts);
split_log("}}" ++ Rest, Text, Parts) ->
    split_log(Rest, [$} | Text], Parts);
split_log("{" ++ Rest, Text, Parts) ->
    case expression_end(Rest) of
        {ok, Expression, After} ->
            Bin = unicode:characters_to_binary(Expression),
            case string:trim(Expression) of
                [] ->
                    {error, <<"an empty `{}` (write `{{}}` for braces)">>};
                _ ->
                    case parse_check(Bin) of
                        ok -> split_log(After, [], [{expr, Bin} | literal(Text, Parts)]);
                        {error, Why} -> {error, iolist_to_binary([<<"{">>, Bin, <<"}: ">>, Why])}
                    end
            end;
        {error, Why} ->
            {error, Why}
    end;
split_log([C | Rest], Text, Parts) ->
    split_log(Rest, [C | Text], Parts).

literal([], Parts) -> Parts;
literal(Text, Parts) -> [unicode:characters_to_binary(lists:reverse(Text)) | Parts].

%% {ok, Expression, After} where Expression is the text before the `}`
%% that closes it, or {error, Message}.
expression_end(Rest) ->
    Bin = unicode:characters_to_binary(Rest),
    case 'Elixir.Code':string_to_quoted(Bin, [{columns, true}]) of
        {error, {Location, _, _}} when is_list(Location) ->
            %% A `}` closing another delimiter (`{foo(}`): Elixir 1.16+
            %% places the error at the opening one, and the `}` at its end.
            {LineKey, ColumnKey} = case proplists:get_value(error_type, Location) of
                                       mismatched_delimiter -> {end_line, end_column};
                                       _ -> {line, column}
                                   end,
            Offset = char_offset(Rest, proplists:get_value(LineKey, Location, 1),
                                 proplists:get_value(ColumnKey, Location, 1)),
            case lists:nthtail(min(Offset, length(Rest)), Rest) of
                "}" ++ After -> {ok, lists:sublist(Rest, Offset), After};
                _ -> unclosed(Rest)
            end;
        _ ->
            unclosed(Rest)
    end.

unclosed(Rest) ->
    Start = unicode:characters_to_binary(lists:sublist(Rest, 20)),
    {error, iolist_to_binary([<<"no `}` closes the expression `{">>, Start,
                              case length(Rest) > 20 of true -> <<"...">>; false -> <<>> end,
                              <<"` (write `{{` for a brace)">>])}.

%% The index in Chars of (Line, Column), both counted from 1 as Elixir
%% counts them (columns in characters).
char_offset(Chars, Line, Column) ->
    char_offset(Chars, Line, Column, 1, 0).

char_offset(_Chars, Line, Column, Line, Index) ->
    Index + Column - 1;
char_offset([$\n | Rest], Line, Column, Current, Index) ->
    char_offset(Rest, Line, Column, Current + 1, Index + 1);
char_offset([_ | Rest], Line, Column, Current, Index) ->
    char_offset(Rest, Line, Column, Current, Index + 1);
char_offset([], _Line, _Column, _Current, Index) ->
    Index.

%% A hit condition is a number N (stop from the Nth hit on), or an operator
%% and a number: ">= N", "> N", "<= N", "< N", "== N" (or "= N"), "% N"
%% (every Nth hit). The adapter refuses any other text when it is set.
-spec hit_reached(binary() | nil, non_neg_integer()) -> boolean().
hit_reached(nil, _Count) ->
    true;
hit_reached(Condition, Count) ->
    Text = string:trim(binary_to_list(Condition)),
    {Op, Rest} = case Text of
                     ">=" ++ R -> {'>=', R};
                     ">" ++ R -> {'>', R};
                     "<=" ++ R -> {'<=', R};
                     "<" ++ R -> {'<', R};
                     "==" ++ R -> {'==', R};
                     "=" ++ R -> {'==', R};
                     "%" ++ R -> {'%', R};
                     R -> {'>=', R}
                 end,
    case string:to_integer(string:trim(Rest)) of
        {N, []} when is_integer(N) ->
            case Op of
                '>=' -> Count >= N;
                '>' -> Count > N;
                '<=' -> Count =< N;
                '<' -> Count < N;
                '==' -> Count =:= N;
                '%' -> N > 0 andalso Count rem N =:= 0
            end;
        _ ->
            true
    end.

-spec eval_elixir(binary(), [{atom(), term()}]) -> {ok, term()} | {error, binary()}.
eval_elixir(Expression, Binding) ->
    try 'Elixir.Code':eval_string(Expression, Binding) of
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
