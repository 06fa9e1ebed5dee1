%% elixir_dap_scripts: modules the program defines at run time from the
%% project's .exs files (test files, test_helper.exs, requireFiles), made
%% debuggable before they run.
%%
%% `mix test` compiles test files in memory (Kernel.ParallelCompiler.require):
%% no beam file exists, and ExUnit registers each test module from an
%% @after_compile callback, after which its tests may start at once (async
%% modules do). So the hand-over to the adapter happens inside the module's
%% own definition: a compiler tracer adds an @after_compile callback of ours
%% to every module defined in a project .exs file, at the module's first
%% traced event, that is before `use ExUnit.Case` adds ExUnit's. Elixir runs
%% the callbacks in the order they were added (checked on 1.14, 1.18, 1.20),
%% after the module is loaded. The tracer also asks for debug info, which
%% `mix test` turns off for test files. Ours keeps the object code, tells the adapter
%% (event script_module) and waits until the adapter has interpreted the
%% module and set its breakpoints (request script_release), so that even
%% the first test stops.
-module(elixir_dap_scripts).
-export([install/1, trace/2, '__after_compile__'/2, release/1,
         keep_object_code/3, object_code/1, forget_object_code/1]).

-ifdef(TEST).
-compile([export_all, nowarn_export_all]).
-endif.

-define(TABLE, elixir_dap_scripts).
%% How long a module's definition waits for the adapter.
-define(RELEASE_TIMEOUT, 30000).

%% Adds the tracer to the compiler options, for the .exs files under Root
%% (the project directory; dependencies and the build directory excluded).
-spec install(file:filename_all()) -> ok.
install(Root) ->
    elixir_dap_tables:ensure(),
    ets:insert(?TABLE, {root, filename:absname(unicode:characters_to_list(Root))}),
    Tracers = 'Elixir.Code':get_compiler_option(tracers),
    lists:member(?MODULE, Tracers) orelse
        'Elixir.Code':put_compiler_option(tracers, [?MODULE | Tracers]),
    ok.

%% The compiler tracer. Env is a Macro.Env struct. The `defmodule` event
%% (Elixir 1.16+) comes before the module's tables exist, so the module is
%% marked at its first event inside its body.
-spec trace(tuple() | atom(), map()) -> ok.
trace({on_module, _, _}, _Env) ->
    ok;
trace(defmodule, _Env) ->
    ok;
trace(_Event, #{module := Module, file := File}) when Module =/= nil ->
    Key = {?MODULE, Module},
    case get(Key) of
        undefined ->
            %% Looked at once per module and compiling process.
            case script_file(File) of
                true -> mark(Module, Key);
                false -> put(Key, other)
            end;
        _ ->
            ok
    end,
    ok;
trace(_Event, _Env) ->
    ok.

%% `mix test` compiles test files without debug info (Mix.Compilers.Test,
%% v1.14.0 to v1.20.3), which the interpreter needs; a module's own
%% @compile wins over the compiler option (elixir_erl:take_debug_opts/1).
mark(Module, Key) ->
    try
        'Elixir.Module':put_attribute(Module, compile, {debug_info, true}),
        'Elixir.Module':put_attribute(Module, after_compile, {?MODULE, '__after_compile__'}),
        put(Key, marked)
    catch
        %% Not open for attributes at this event: the next one.
        error:_ -> ok
    end.

script_file(File) ->
    Path = unicode:characters_to_list(File),
    case ets:lookup(?TABLE, root) of
        [{root, Root}] ->
            filename:extension(Path) =:= ".exs"
                andalso lists:prefix(Root ++ "/", Path)
                andalso not lists:any(fun(Dir) -> lists:prefix(Root ++ "/" ++ Dir ++ "/", Path) end,
                                      ["deps", "_build"]);
        [] ->
            false
    end.

-spec '__after_compile__'(map(), binary()) -> ok.
'__after_compile__'(#{module := Module, file := File}, Bin) ->
    erase({?MODULE, Module}),
    Source = unicode:characters_to_binary(File),
    keep_object_code(Module, Source, Bin),
    elixir_dap_util:send_event(script_module, #{module => Module,
                                                 name => elixir_dap_util:module_name(Module),
                                                 source => Source,
                                                 waiter => self()}),
    receive
        {?MODULE, released} -> ok
    after ?RELEASE_TIMEOUT ->
            io:format(standard_error, "elixir-dap: the adapter did not answer for ~ts within ~p s; "
                      "it runs without breakpoints~n",
                      [elixir_dap_util:module_name(Module), ?RELEASE_TIMEOUT div 1000])
    end,
    ok.

%% The adapter is done with the module a definition waits in.
-spec release(pid()) -> {ok, ok}.
release(Waiter) when is_pid(Waiter) ->
    Waiter ! {?MODULE, released},
    {ok, ok}.

%% The object code of modules the compiler loaded from memory, which no
%% beam file holds (or not the same as the one loaded): modules of scripts,
%% and modules the program compiled itself (elixir_dap_app_compile). The
%% interpreter and breakable lines read it from here. Source: binary path.
-spec keep_object_code(module(), binary(), binary()) -> ok.
keep_object_code(Module, Source, Bin) ->
    elixir_dap_tables:ensure(),
    ets:insert(?TABLE, {{object_code, Module}, Source, Bin}),
    ok.

%% {Source, Binary} kept for Module, or none.
-spec object_code(module()) -> {binary(), binary()} | none.
object_code(Module) ->
    case ets:whereis(?TABLE) =/= undefined andalso ets:lookup(?TABLE, {object_code, Module}) of
        [{_, Source, Bin}] -> {Source, Bin};
        _ -> none
    end.

%% Modules loaded since from elsewhere (a reload of the adapter's).
-spec forget_object_code([module()]) -> ok.
forget_object_code(Modules) ->
    case ets:whereis(?TABLE) of
        undefined -> ok;
        _ -> [ets:delete(?TABLE, {object_code, M}) || M <- Modules], ok
    end.
