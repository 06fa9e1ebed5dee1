//! `attach` with `debugBackend: "native"` (issue 20): a node started with
//! `+D` on OTP 28+ and its project compiled with line debug info is debugged
//! with OTP's native debugger (`erl_debugger`), nothing interpreted; the
//! detach leaves it as found (no debugger registered, no breakpoint armed,
//! no process suspended). A node without `+D` (every OTP) is refused naming
//! the attribute. `auto` (the default) picks native for a node that runs
//! `erl_debugger` and the interpreter otherwise, saying which and why.

use super::*;

/// `otp_app` run as a node with `+D`, its project compiled with line debug
/// info (the route Elixir 1.20 keeps `beam_debug_info` on: docs/protocol.md).
fn start_native_node(epmd: &Epmd) -> Node {
    start_plus_d_node(epmd, true)
}

/// `otp_app` run as a node with `+D`, compiled with line debug info or not.
fn start_plus_d_node(epmd: &Epmd, line_debug_info: bool) -> Node {
    let project = fixture("otp_app");
    let name = format!("{}@{}", unique("attach_native"), short_host());
    let mut command = Command::new("elixir");
    command
        .args([
            "--sname",
            &name,
            "--cookie",
            COOKIE,
            "--erl",
            "+D -start_epmd false",
            "-S",
            "mix",
            "run",
            "--no-halt",
        ])
        .current_dir(project.path());
    if line_debug_info {
        command.env(
            "ERL_COMPILER_OPTIONS",
            "[beam_debug_info,{parse_transform,ms_transform}]",
        );
    }
    Node::spawn(epmd, command, name, project)
}

/// What `erl_debugger` holds in the node: the registered debugger, the
/// counter's armed breakpoint lines, the counter's status.
const NATIVE_STATE: &str = r#"
{:ok, per_function} = :erl_debugger.breakpoints(OtpApp.Counter)
armed = for {_function, lines} <- per_function, {line, true} <- lines, do: line
{:status, status} = Process.info(Process.whereis(OtpApp.Counter), :status)
inspect(%{debugger: :erl_debugger.whereis(), armed: armed, suspended: status == :suspended})
"#;

#[test]
fn attach_on_the_native_backend_stops_steps_pauses_and_detaches_leaving_the_node_as_found() {
    let release = otp_release();
    if release < 28 {
        eprintln!("skipped: OTP {release} has no native debugger (the refusal is tested on every OTP)");
        return;
    }
    let epmd = Epmd::start();
    let node = start_native_node(&epmd);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"debugBackend": "native"}));
    dap.wait_output("console", "debugger backend: native", TIMEOUT);
    let (counter, line) = break_on_the_counter_bump(&mut dap, &node);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    // The ticker bumps the counter: the counter's process stops.
    let stopped = dap.wait_nth_event("stopped", 0, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "OtpApp.Counter.handle_call/3", "{stack}");
    assert_eq!(top["line"], line, "{stack}");
    inspect_the_bump_in_the_node(&mut dap, top["id"].as_i64().unwrap(), &node);
    // Nothing is interpreted: the node runs no interpreter.
    assert_eq!(node.remote_eval(&epmd, "inspect(Process.whereis(:dbg_iserver))"), "nil");

    let next = dap.request("next", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(next["success"], true, "{next}");
    let stepped = dap.wait_nth_event("stopped", 1, TIMEOUT);
    assert_eq!(stepped["body"]["reason"], "step", "{stepped}");
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(stack["body"]["stackFrames"][0]["line"], line + 1, "{stack}");

    clear_and_continue(&mut dap, &counter, thread);
    let paused = dap.request("pause", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(paused["success"], true, "{paused}");
    let stopped = dap.wait_nth_event("stopped", 2, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "pause", "{stopped}");
    let before = node.remote_eval(&epmd, NATIVE_STATE);
    assert!(
        before.contains("suspended: true") && before.contains("debugger: #PID"),
        "paused: {before}"
    );

    // Detach while paused: the counter goes on, erl_debugger is as found.
    detach(dap);
    let after = node.remote_eval(&epmd, NATIVE_STATE);
    for item in ["debugger: :undefined", "armed: []", "suspended: false"] {
        assert!(after.contains(item), "after the detach, expected {item}: {after}");
    }
    let state = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    for item in AS_FOUND {
        assert!(state.contains(item), "the node is not as found ({item}): {state}");
    }
    let count = |text: &str| text.trim().parse::<i64>().unwrap();
    let first = count(&node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())"));
    // The checker node takes a VM start (~0.5 s): the ticker bumps meanwhile.
    let later = count(&node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())"));
    assert!(later > first, "the counter no longer moves: {first} then {later}");
}

/// A node whose emulator runs no `erl_debugger` (not started with `+D`; on
/// OTP 27 and earlier there is none): `debugBackend: "native"` is refused
/// naming the attribute and what the node needs, and nothing is left.
#[test]
fn attach_on_the_native_backend_refuses_a_node_without_plus_d() {
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    assert_refused(
        &epmd,
        attach_arguments(&node, json!({"debugBackend": "native"})),
        "debugBackend",
        "started with +D",
    );
    let state = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    assert!(state.contains("modules: []") && state.contains("procs: []"), "{state}");
}

/// `auto` on a node started with `+D` and compiled with line debug info
/// (OTP 28+): the native backend, said on the console; the breakpoint stops
/// through `erl_debugger` (registered in the node, no interpreter running).
#[test]
fn auto_attaches_natively_to_a_node_that_runs_erl_debugger() {
    let release = otp_release();
    if release < 28 {
        eprintln!("skipped: OTP {release} has no native debugger (the interpreter's `auto` is tested on every OTP)");
        return;
    }
    let epmd = Epmd::start();
    let node = start_native_node(&epmd);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"debugBackend": "auto"}));
    dap.wait_output(
        "console",
        "debugger backend: native (`debugBackend` \"auto\": erl_debugger in",
        TIMEOUT,
    );
    let (_counter, line) = break_on_the_counter_bump(&mut dap, &node);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let stopped = dap.wait_nth_event("stopped", 0, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(stack["body"]["stackFrames"][0]["line"], line, "{stack}");
    let state = node.remote_eval(&epmd, NATIVE_STATE);
    assert!(
        state.contains("debugger: #PID") && state.contains(&format!("armed: [{line}]")),
        "{state}"
    );
    assert_eq!(node.remote_eval(&epmd, "inspect(Process.whereis(:dbg_iserver))"), "nil");
    detach(dap);
}

/// `auto` on a node that runs no `erl_debugger` (every OTP: not started
/// with `+D`; OTP 27 and earlier have none) attaches with the interpreter
/// and says why; on OTP 28+ a node with `+D` whose project was compiled
/// without line debug info too (no line of it could stop natively).
#[test]
fn auto_attaches_with_the_interpreter_and_says_why() {
    let release = otp_release();
    let epmd = Epmd::start();
    let node = Node::start(&epmd, false);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"debugBackend": "auto"}));
    let why = if release < 28 {
        format!("OTP {release} has no native debugger")
    } else {
        "its emulator was not started with +D".to_owned()
    };
    let note = dap.wait_output(
        "console",
        "debugger backend: interpreter (`debugBackend` \"auto\": ",
        TIMEOUT,
    );
    assert!(note["body"]["output"].as_str().unwrap().contains(&why), "{note}");
    let (counter, _line) = break_on_the_counter_bump(&mut dap, &node);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let stopped = dap.wait_nth_event("stopped", 0, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    // The interpreter runs in the node.
    assert_ne!(node.remote_eval(&epmd, "inspect(Process.whereis(:dbg_iserver))"), "nil");
    clear_and_continue(&mut dap, &counter, stopped["body"]["threadId"].as_i64().unwrap());
    detach(dap);
    if release < 28 {
        return;
    }
    let node = start_plus_d_node(&epmd, false);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({})); // `auto` by default
    let note = dap.wait_output(
        "console",
        "debugger backend: interpreter (`debugBackend` \"auto\": ",
        TIMEOUT,
    );
    assert!(
        note["body"]["output"]
            .as_str()
            .unwrap()
            .contains("compiled without line debug info (e.g. OtpApp"),
        "{note}"
    );
    detach(dap);
}
