//! Attach sessions that end otherwise (an adapter killed while paused, `terminate`,
//! a node that stops), detach and interpretation with processes inside
//! interpreted code, a reload into the attached node, and a node of another project.

use super::*;

/// Waits until the node reports itself clean (the agent cleans up
/// asynchronously once it sees the helper go); panics with its last state.
fn wait_clean(epmd: &Epmd, node: &Node, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let state = node.remote_eval(epmd, STATE_OF_THE_NODE);
        let clean = AS_FOUND.iter().all(|item| state.contains(item));
        if clean {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "the node was not clean within {} s: {state}",
            timeout.as_secs()
        );
    }
}

/// Long names; stepping over and out of the stopped frame; then the adapter
/// is killed while the process is paused: the agent sees the helper go and
/// leaves the node as found, the paused process running on.
#[test]
fn attach_with_long_names_steps_and_an_adapter_killed_while_paused_leaves_the_node_clean() {
    let epmd = Epmd::start();
    let mut node = Node::start(&epmd, true);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let (mut dap, thread) = attach_and_stop(&epmd, &node, json!({}));
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let line = stack["body"]["stackFrames"][0]["line"].as_i64().unwrap();
    let stepped = dap.request("next", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(stepped["success"], true, "{stepped}");
    dap.wait_nth_event("stopped", 1, TIMEOUT);
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(stack["body"]["stackFrames"][0]["line"], line + 1, "{stack}");
    let helper = descendants(dap.adapter_pid());
    assert!(!helper.is_empty(), "the helper node runs under the adapter");
    dap.kill_adapter();
    wait_processes_gone(
        &helper,
        Duration::from_secs(5),
        "the helper node after the adapter's death",
    );
    let after = wait_clean(&epmd, &node, Duration::from_secs(10));
    assert!(node.alive(), "the node attached to must keep running");
    assert_eq!(pids_of(&before).0, pids_of(&after).0, "the paused counter must survive");
    let later = node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())");
    let count = |state: &str| -> i64 {
        let rest = state.split("counter: ").nth(1).unwrap();
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())]
            .parse()
            .unwrap()
    };
    assert!(
        later.parse::<i64>().unwrap() > count(&after),
        "the paused process did not run on: {after} then {later}"
    );
}

/// `terminate` in an attach session detaches: the node keeps running, clean.
#[test]
fn terminate_in_an_attach_session_leaves_the_node_running_and_clean() {
    let epmd = Epmd::start();
    let mut node = Node::start(&epmd, false);
    let (mut dap, _thread) = attach_and_stop(&epmd, &node, json!({}));
    let terminate = dap.request("terminate", json!({}), TIMEOUT);
    assert_eq!(terminate["success"], true, "{terminate}");
    dap.wait_event("terminated", TIMEOUT);
    assert!(
        dap.events_named("exited").is_empty(),
        "the node attached to did not exit: {}",
        dap.transcript()
    );
    detach_clean(dap, &epmd, &node);
    assert!(node.alive(), "the node attached to must keep running");
}

/// The node stops during the session: the session ends with `terminated`
/// (no `exited`: the node was not the adapter's) and its helper goes.
#[test]
fn a_node_that_stops_ends_the_attach_session() {
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    let mut dap = adapter(&epmd);
    let response = dap.request("attach", attach_arguments(&node, json!({})), LAUNCH_TIMEOUT);
    assert_eq!(response["success"], true, "attach failed: {response}");
    dap.wait_event("initialized", TIMEOUT);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let helper = descendants(dap.adapter_pid());
    drop(node);
    dap.wait_event("terminated", TIMEOUT);
    dap.wait_output("console", "the connection to", TIMEOUT);
    wait_processes_gone(
        &helper,
        Duration::from_secs(5),
        "the helper node after the node stopped",
    );
    assert!(dap.events_named("exited").is_empty(), "{}", dap.transcript());
}

const LOOPER: &str = r#"defmodule OtpApp.Looper do
  @moduledoc "A process that never leaves its module: once interpreted, it stays in the interpreter."
  def start do
    spawn(fn ->
      Process.register(self(), :attach_looper)
      loop(0)
    end)
  end

  defp loop(n) do
    receive do
      {:get, from} -> send(from, {:looped, n})
    after
      5 -> :ok
    end

    loop(n + 1)
  end
end
"#;

/// A process that entered interpreted code during the session and never
/// leaves it survives the detach: the interpreter stays for it, and the
/// console says which process; everything else of ours goes.
#[test]
fn detach_keeps_the_interpreter_for_a_process_still_inside_interpreted_code() {
    let epmd = Epmd::start();
    let node = Node::start_with(&epmd, false, &[("lib/otp_app/looper.ex", LOOPER)]);
    let mut dap = adapter(&epmd);
    let response = dap.request("attach", attach_arguments(&node, json!({})), LAUNCH_TIMEOUT);
    assert_eq!(response["success"], true, "attach failed: {response}");
    dap.wait_event("initialized", TIMEOUT);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let started = dap.request(
        "evaluate",
        json!({"expression": "OtpApp.Looper.start() |> is_pid()", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(started["body"]["result"], "true", "{started}");
    let disconnect = dap.request("disconnect", json!({}), TIMEOUT);
    assert_eq!(disconnect["success"], true, "{disconnect}");
    dap.wait_output("console", "still in interpreted code", TIMEOUT);
    assert!(dap.close_and_wait(TIMEOUT).success());
    let state = node.remote_eval(
        &epmd,
        r#"send(:attach_looper, {:get, self()})
        looped = receive do {:looped, n} -> n > 0 after 2000 -> :no_answer end
        ours = fn name -> String.starts_with?(to_string(name), "elixir_dap") end
        modules = for {m, _} <- :code.all_loaded(), ours.(m), do: m
        {caller, ref} = spawn_monitor(fn -> OtpApp.Counter.value() end)
        receive do {:DOWN, ^ref, _, _, _} -> :ok after 2000 -> :no_down end
        interpreted_call = Enum.any?(:int.snapshot(), fn {p, _, _, _} -> p == caller end)
        inspect(%{looped: looped, modules: modules, interpreted_call: interpreted_call})"#,
    );
    assert!(
        ["interpreted_call: false", "looped: true", "modules: []"]
            .iter()
            .all(|item| state.contains(item)),
        "the looper must run on, new calls run native code, none of our modules is left: {state}"
    );
}

const ECHO: &str = r#"defmodule OtpApp.Echo do
  @moduledoc "A pure function with a local call: a caller inside it needs the module's code to the end."
  def twice(n), do: double(n)

  defp double(n), do: n * 2
end
"#;

/// (The code is sent inside an Elixir string: no `#{}` in it.)
/// Starts 4 processes on the node, registered `:attach_hammer_<i>`,
/// that call `OtpApp.Echo.twice/1` without pause from native code (a fun
/// of the evaluation), each counting its calls and keeping what any call
/// raised; `:stop` makes one answer `{:hammered, calls, failures}`.
const START_HAMMERS: &str = r#"for i <- 1..4 do
  hammer = fn hammer, calls, failures ->
    receive do
      {:stop, from} -> send(from, {:hammered, calls, Enum.reverse(failures)})
    after
      0 ->
        failures =
          try do
            ^calls = div(OtpApp.Echo.twice(calls), 2)
            failures
          catch
            kind, reason -> [{kind, reason} | failures]
          end
        hammer.(hammer, calls + 1, Enum.take(failures, 5))
    end
  end
  pid = spawn(fn -> hammer.(hammer, 0, []) end)
  Process.register(pid, String.to_atom("attach_hammer_" <> Integer.to_string(i)))
end
:started"#;

/// Whether the first hammer has entered interpreted code (the interpreter
/// lists it), looking every 10 ms for up to 2 s.
const HAMMER_KNOWN_TO_THE_INTERPRETER: &str = "Enum.any?(1..200, fn _ -> \
  Enum.any?(:int.snapshot(), fn {p, _, _, _} -> p == Process.whereis(:attach_hammer_1) end) or \
  (Process.sleep(10) && false) end)";

/// Stops the hammers and reports what each counted.
const STOP_HAMMERS: &str = r#"for i <- 1..4 do
  send(String.to_atom("attach_hammer_" <> Integer.to_string(i)), {:stop, self()})
  receive do
    {:hammered, calls, failures} -> %{called: calls > 0, failures: failures}
  after
    5000 -> :no_answer
  end
end
|> inspect()"#;

/// Detaching while native code calls into interpreted code without pause:
/// a call that entered the interpreter just before its traps were lifted
/// must end in the interpreted module it entered (its local calls too),
/// never as an undefined function, and every later call runs native code.
/// Run 3 times in a row: a call in flight at the detach is a race.
#[test]
fn detach_while_native_callers_enter_interpreted_code_fails_no_call() {
    let epmd = Epmd::start();
    let node = Node::start_with(&epmd, false, &[("lib/otp_app/echo.ex", ECHO)]);
    for round in 1..=3 {
        let mut dap = adapter(&epmd);
        attach_ok(&mut dap, &node, json!({"lazyInterpretation": "off"}));
        assert_eq!(
            dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
            true
        );
        let modules = dap.request("modules", json!({}), TIMEOUT);
        assert!(
            modules["body"]["modules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "OtpApp.Echo" && m["symbolStatus"] == "interpreted"),
            "OtpApp.Echo must be interpreted before the detach: {modules}"
        );
        assert_eq!(node.remote_eval(&epmd, START_HAMMERS), "started");
        let calling = dap.request(
            "evaluate",
            json!({"expression": HAMMER_KNOWN_TO_THE_INTERPRETER, "context": "repl"}),
            TIMEOUT,
        );
        assert_eq!(
            calling["body"]["result"], "true",
            "round {round}: the hammers must call interpreted code before the detach: {calling}"
        );
        assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
        let detached = dap.wait_output("console", "detached from", TIMEOUT);
        assert!(
            !detached["body"]["output"].as_str().unwrap().contains("did not"),
            "round {round}: the detach must be confirmed: {detached}"
        );
        assert!(dap.close_and_wait(TIMEOUT).success());
        wait_clean(&epmd, &node, Duration::from_secs(10));
        let hammered = node.remote_eval(&epmd, STOP_HAMMERS);
        assert_eq!(
            hammered,
            "[%{called: true, failures: []}, %{called: true, failures: []}, %{called: true, failures: []}, %{called: true, failures: []}]",
            "round {round}: every hammer must answer, having called, with no failed call; the node printed:\n{}",
            node.printed()
        );
    }
}

/// Interpreting modules the node is running: the ticker waits inside its
/// own `handle_info` (in a call to the counter, paused at a breakpoint) when
/// `configurationDone` interprets it. It must survive that, the continue and
/// the detach, and tick on.
#[test]
fn interpreting_a_module_a_waiting_process_is_inside_keeps_the_process() {
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({}));
    let (counter, _) = break_on_the_counter_bump(&mut dap, &node);
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    clear_and_continue(&mut dap, &counter, thread);
    let ticking = dap.request(
        "evaluate",
        json!({"expression": "a = OtpApp.Counter.value(); Process.sleep(200); OtpApp.Counter.value() > a", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(ticking["body"]["result"], "true", "{ticking}");
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    assert!(dap.close_and_wait(TIMEOUT).success());
    let after = wait_clean(&epmd, &node, Duration::from_secs(10));
    assert_eq!(
        pids_of(&before),
        pids_of(&after),
        "the counter and the ticker must survive"
    );
}

/// `reloadCode` in an attach session, for a node on this machine run by Mix:
/// the counter's module gets a new function, its state is kept; after the
/// detach the reloaded code stays loaded and the overlay is off the code path.
#[test]
fn reload_into_an_attached_node_keeps_state_and_detach_leaves_the_new_code() {
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let mut dap = adapter(&epmd);
    let response = dap.request(
        "attach",
        attach_arguments(&node, json!({"reloadOnSave": "off"})),
        LAUNCH_TIMEOUT,
    );
    assert_eq!(response["success"], true, "attach failed: {response}");
    dap.wait_event("initialized", TIMEOUT);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let counter = node.project.path().join("lib/otp_app/counter.ex");
    let text = std::fs::read_to_string(&counter).unwrap();
    let edited = text.replace(
        "  def value, do: GenServer.call(__MODULE__, :value)",
        "  def value, do: GenServer.call(__MODULE__, :value)\n\n  def doubled, do: GenServer.call(__MODULE__, :doubled)",
    );
    let edited = edited.replace(
        "  def handle_call(:value, _from, count), do: {:reply, count, count}",
        "  def handle_call(:value, _from, count), do: {:reply, count, count}\n  def handle_call(:doubled, _from, count), do: {:reply, 2 * count, count}",
    );
    assert_ne!(edited, text, "the edit must apply");
    std::fs::write(&counter, edited).unwrap();
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["success"], true, "{reloaded}\n{}", dap.transcript());
    assert!(
        reloaded["body"]["reloaded"].to_string().contains("OtpApp.Counter"),
        "{reloaded}"
    );
    eprintln!(
        "attach: reload of one module into the attached node: {} ms",
        reloaded["body"]["timings"]["total"]
    );
    eprintln!("attach: reload report: {}", reloaded["body"]);
    let kept = dap.request(
        "evaluate",
        json!({"expression": "v = OtpApp.Counter.value(); d = OtpApp.Counter.doubled(); d >= 2 * v and v > 0", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(kept["body"]["result"], "true", "{kept}");
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    dap.wait_output("console", "(the code of the last reload stays loaded)", TIMEOUT);
    assert!(dap.close_and_wait(TIMEOUT).success());
    let after = wait_clean(&epmd, &node, Duration::from_secs(10));
    assert_eq!(
        pids_of(&before),
        pids_of(&after),
        "the counter kept its process (and state), and the ticker calling it; the node printed:\n{}",
        node.printed()
    );
    let code = node.remote_eval(
        &epmd,
        r#"overlay = Enum.any?(:code.get_path(), &String.contains?(to_string(&1), "overlays"))
        inspect({overlay, function_exported?(OtpApp.Counter, :doubled, 0)})"#,
    );
    assert_eq!(code, "{false, true}", "(overlay on the code path, new code loaded)");
}

/// A node that runs no Mix project and none of the project's applications
/// (a plain `elixir --name` node) is refused with a message saying so,
/// naming `projectDir` (a release of the project is attached to: see
/// `release.rs`).
#[test]
fn attach_refuses_a_node_that_runs_none_of_the_projects_applications() {
    let epmd = Epmd::start();
    let project = fixture("otp_app");
    let name = format!("{}@127.0.0.1", unique("attach_plain"));
    let mut command = Command::new("elixir");
    epmd.env(&mut command);
    use std::os::unix::process::CommandExt;
    let mut plain = command
        .args([
            "--name",
            &name,
            "--cookie",
            COOKIE,
            "--erl",
            "-start_epmd false",
            "-e",
            "IO.puts(\"plain: up\"); Process.sleep(:infinity)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start a plain node");
    let mut up = String::new();
    BufReader::new(plain.stdout.take().unwrap()).read_line(&mut up).unwrap();
    assert!(up.contains("plain: up"), "the plain node did not start: {up:?}");
    // A good attach would compile the agent first: warm it (see above) with a
    // refused one, then time the next.
    let arguments = json!({"remoteNode": name, "cookie": COOKIE, "projectDir": path_string(project.path())});
    let mut warm = adapter(&epmd);
    let _ = warm.request("attach", arguments.clone(), LAUNCH_TIMEOUT);
    assert!(warm.close_and_wait(TIMEOUT).success());
    assert_refused(
        &epmd,
        arguments,
        "projectDir",
        "runs none of the applications of the project",
    );
    kill_group(plain.id());
    let _ = plain.wait();
}

/// A module a process stays inside, natively, while the session sets its
/// call traps: `start/1` spawns a process registered as `name` that makes a
/// fun, then waits in `run/1`'s `receive`; `{:go, from}` makes it call its
/// private `finish/1`, which calls the fun, and answer `{:parked, result}`.
/// Both calls start in native code that has traps set under it.
const PARKED: &str = r#"defmodule OtpApp.Parked do
  def start(name) do
    starter = self()
    pid = spawn(fn -> run(name, starter) end)
    receive do
      {:parked, ^pid} -> pid
    end
  end

  def run(name, starter) do
    Process.register(self(), name)
    add = fn x -> x + 1 end
    send(starter, {:parked, self()})

    receive do
      {:go, from} -> send(from, {:parked, finish(add)})
    end
  end

  defp finish(add), do: {:finished, add.(1)}
end
"#;

/// Sends the parked process `name` its `:go` and answers what it replied.
fn release_parked(epmd: &Epmd, node: &Node, name: &str) -> String {
    node.remote_eval(
        epmd,
        &format!(
            r#"send(:{name}, {{:go, self()}})
receive do
  {{:parked, result}} -> inspect(result)
after
  5000 -> "no answer: " <> inspect(Process.whereis(:{name}))
end"#
        ),
    )
}

/// The parked process `name` must answer `{:finished, 2}` to its `:go`.
fn assert_parked_finishes(epmd: &Epmd, node: &Node, name: &str) {
    let answer = release_parked(epmd, node, name);
    assert_eq!(
        answer,
        "{:finished, 2}",
        "the parked process must finish; the node printed:\n{}",
        node.printed()
    );
}

/// An attach session to `node` (no reload on save), configured.
fn attach_configured(epmd: &Epmd, node: &Node) -> DapClient {
    let mut dap = adapter(epmd);
    attach_ok(&mut dap, node, json!({"reloadOnSave": "off"}));
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    dap
}

/// Disconnects and waits for the node to be clean.
fn detach_clean(mut dap: DapClient, epmd: &Epmd, node: &Node) {
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    assert!(dap.close_and_wait(TIMEOUT).success());
    wait_clean(epmd, node, Duration::from_secs(10));
}

/// A process inside a module's native code when the attach interprets the
/// module (its call traps set on the code the process runs) goes on: its
/// next local call, to a private function, runs interpreted instead of
/// failing as undefined (what crashed the fixture's ticker on OTP 29 in
/// CI), and a fun it made natively runs natively.
#[test]
fn a_process_inside_a_module_when_the_attach_interprets_it_goes_on() {
    let epmd = Epmd::start();
    let node = Node::start_with(&epmd, false, &[("lib/otp_app/parked.ex", PARKED)]);
    let started = node.remote_eval(&epmd, "inspect(is_pid(OtpApp.Parked.start(:parked_at_attach)))");
    assert_eq!(started, "true");
    let dap = attach_configured(&epmd, &node);
    let interpreted = node.remote_eval(&epmd, "inspect(OtpApp.Parked in :int.interpreted())");
    assert_eq!(interpreted, "true", "the attach must interpret the parked module");
    assert_parked_finishes(&epmd, &node, "parked_at_attach");
    detach_clean(dap, &epmd, &node);
}

/// The program compiles (here `mix compile` of a new file, run in the
/// node) while modules are interpreted: their call traps are lifted for the
/// compile and set again afterwards. A process that entered one of them
/// natively meanwhile (here started by the new module's body, at compile
/// time) is inside its code when the traps return: its private call and
/// its fun run on as well.
#[test]
fn a_process_inside_a_module_when_its_traps_return_after_a_program_compile_goes_on() {
    let epmd = Epmd::start();
    let mut node = Node::start_with(&epmd, false, &[("lib/otp_app/parked.ex", PARKED)]);
    let mut dap = attach_configured(&epmd, &node);
    std::fs::write(
        node.project.path().join("lib/otp_app/later.ex"),
        "defmodule OtpApp.Later do\n  _ = OtpApp.Parked.start(:parked_at_compile)\n  def parked, do: :parked_at_compile\nend\n",
    )
    .unwrap();
    let compiled = node.remote_eval(
        &epmd,
        r#"try do
  {status, diagnostics} = Mix.Task.rerun("compile.elixir", ["--return-errors"])
  if status == :ok, do: inspect(status), else: inspect({status, diagnostics})
catch
  kind, reason -> Exception.format(kind, reason, __STACKTRACE__)
end"#,
    );
    assert_eq!(
        compiled.lines().last().unwrap_or_default(),
        ":ok",
        "the program's compile ({compiled}); the node (exit: {:?}) printed:\n{}",
        node.child.try_wait(),
        node.printed()
    );
    // The traps return before the agent reports the compile.
    dap.wait_output("console", "the program recompiled", TIMEOUT);
    assert_parked_finishes(&epmd, &node, "parked_at_compile");
    detach_clean(dap, &epmd, &node);
    // The tracer left with the session: the program compiles on.
    std::fs::write(
        node.project.path().join("lib/otp_app/after.ex"),
        "defmodule OtpApp.After do\n  def answer, do: OtpApp.Parked.start(:parked_after)\nend\n",
    )
    .unwrap();
    let compiled = node.remote_eval(
        &epmd,
        r#"{status, _} = Mix.Task.rerun("compile.elixir", ["--return-errors"])
inspect({status, Code.get_compiler_option(:tracers)})"#,
    );
    assert_eq!(
        compiled.lines().last().unwrap_or_default(),
        "{:ok, []}",
        "the program's compile after the detach: {compiled}"
    );
}

/// A reload lifts the call traps of the interpreted modules its compile
/// may call and sets them again afterwards. A process that entered one of
/// them natively meanwhile (here started at compile time by the reloaded
/// module's body) is inside its code when the traps return: its private
/// call and its fun run on (what crashed the fixture's ticker on OTP 29
/// in CI: its `handle_info` was running natively across a reload).
#[test]
fn a_process_inside_a_module_when_its_traps_return_after_a_reload_goes_on() {
    let epmd = Epmd::start();
    let node = Node::start_with(&epmd, false, &[("lib/otp_app/parked.ex", PARKED)]);
    let mut dap = attach_configured(&epmd, &node);
    let later = node.project.path().join("lib/otp_app/later.ex");
    std::fs::write(
        &later,
        "defmodule OtpApp.Later do\n  _ = OtpApp.Parked.start(:parked_at_reload)\n  def parked, do: :parked_at_reload\nend\n",
    )
    .unwrap();
    let reloaded = dap.request("reloadCode", json!({"files": [path_string(&later)]}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["success"], true, "{reloaded}");
    assert!(
        reloaded["body"]["reloaded"].to_string().contains("OtpApp.Later"),
        "{reloaded}"
    );
    assert_parked_finishes(&epmd, &node, "parked_at_reload");
    detach_clean(dap, &epmd, &node);
}

/// `breakOnDbg` on a node attached to: a `dbg` a reload adds stops there,
/// with the caller's variables; after the detach (which purges the agent)
/// the reloaded code runs on, the `dbg` only printing, and the node has its
/// own `:dbg_callback` again.
#[test]
fn a_dbg_added_by_a_reload_stops_and_runs_on_after_the_detach() {
    const CALLBACK: &str = "inspect(Application.get_env(:elixir, :dbg_callback))";
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let callback_before = node.remote_eval(&epmd, CALLBACK);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"reloadOnSave": "off"}));
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let counter = node.project.path().join("lib/otp_app/counter.ex");
    let text = std::fs::read_to_string(&counter).unwrap();
    let edited = text.replacen(
        "    new_count = count + by\n",
        "    new_count = count + by\n    dbg(new_count)\n",
        1,
    );
    assert_ne!(edited, text, "the edit must apply");
    std::fs::write(&counter, edited).unwrap();
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["body"]["success"], true, "{reloaded}\n{}", dap.transcript());

    let stopped = dap.wait_event("stopped", TIMEOUT);
    assert_eq!(stopped["body"]["description"], "Paused on a dbg call", "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "OtpApp.Counter.handle_call/3", "{stack}");
    let frame = top["id"].as_i64().unwrap();
    let value = dap.request(
        "evaluate",
        json!({"expression": "new_count - count", "frameId": frame, "context": "watch"}),
        TIMEOUT,
    );
    assert_eq!(value["body"]["result"], "1", "the caller's variables: {value}");

    // Detach while paused: the process goes on, and so do later `dbg` calls.
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    dap.wait_output("console", "detached from", TIMEOUT);
    assert!(dap.close_and_wait(TIMEOUT).success());
    let after = wait_clean(&epmd, &node, Duration::from_secs(10));
    assert_eq!(pids_of(&before), pids_of(&after), "the counter and ticker live");
    assert_eq!(node.remote_eval(&epmd, CALLBACK), callback_before);
    let count = |text: &str| text.parse::<i64>().unwrap();
    let first = count(&node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())"));
    let _printed_while_attached = node.printed();
    // Elixir 1.20 colours the line even without a terminal: `new_count\e[2m #=>`.
    node.wait_line("#=>", TIMEOUT);
    let later = count(&node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())"));
    assert!(later > first, "the counter moves on: {first} then {later}");
}
