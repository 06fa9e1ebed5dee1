//! `attach` with `debugBackend: "native"` (issue 20): a node started with
//! `+D` on OTP 28+ and its project compiled with line debug info is debugged
//! with OTP's native debugger (`erl_debugger`), nothing interpreted; the
//! detach leaves it as found (no debugger registered, no breakpoint armed,
//! no process suspended). A node without `+D` (every OTP) is refused naming
//! the attribute.

use super::*;

/// `otp_app` run as a node with `+D`, its project compiled with line debug
/// info (the route Elixir 1.20 keeps `beam_debug_info` on: docs/protocol.md).
fn start_native_node(epmd: &Epmd) -> Node {
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
        .env(
            "ERL_COMPILER_OPTIONS",
            "[beam_debug_info,{parse_transform,ms_transform}]",
        )
        .current_dir(project.path());
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
