//! `attach` to a release built with `mix release` (`MIX_ENV=prod`, Mix's
//! defaults: `strip_beams` on, no `debugger` application in it, no Mix at
//! run time). The project is moved after the build, so the source paths
//! its beams record name nothing: sources and debug info reach the node
//! from `projectDir`, through the helper node.

use super::*;

/// What the node runs of OTP's debugger: `{int loaded, dbg_iserver loaded,
/// debugger application loaded}`.
const DEBUGGER_ON_THE_NODE: &str = r#"
inspect({:code.is_loaded(:int) != false, :code.is_loaded(:dbg_iserver) != false,
         List.keymember?(Application.loaded_applications(), :debugger, 0)})
"#;

impl Node {
    /// Builds a release of `otp_app`, moves the project, starts the release
    /// with a short name and waits for the application's first tick.
    pub(super) fn start_release(epmd: &Epmd) -> Node {
        let built = fixture("otp_app");
        let output = Command::new("mix")
            .args(["release", "--quiet"])
            .env("MIX_ENV", "prod")
            .current_dir(built.path())
            .output()
            .expect("run mix release");
        assert!(
            output.status.success(),
            "mix release failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let project = tempfile::Builder::new().prefix("otp_app_moved-").tempdir().unwrap();
        std::fs::rename(built.path(), project.path()).expect("move the built project");
        let base = unique("attach_release");
        let name = format!("{base}@{}", short_host());
        let release = project.path().join("_build/prod/rel/otp_app");
        let mut command = Command::new(release.join("bin/otp_app"));
        command
            .arg("start")
            .env("RELEASE_DISTRIBUTION", "sname")
            .env("RELEASE_NODE", &base)
            .env("RELEASE_COOKIE", COOKIE)
            .env("ELIXIR_ERL_OPTIONS", "-start_epmd false")
            .current_dir(&release);
        Node::spawn(epmd, command, name, project)
    }
}

#[test]
fn attach_to_a_release_stops_at_a_breakpoint_evaluates_and_detaches_leaving_it_as_found() {
    let epmd = Epmd::start();
    let mut node = Node::start_release(&epmd);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let debugger_before = node.remote_eval(&epmd, DEBUGGER_ON_THE_NODE);
    assert_eq!(
        debugger_before, "{false, false, false}",
        "the release must not hold OTP's debugger for this test"
    );
    let stripped = node.remote_eval(
        &epmd,
        "inspect(:code.get_object_code(OtpApp.Counter) |> elem(1) |> :beam_lib.chunks([:debug_info]) |> elem(0))",
    );
    assert_eq!(
        stripped, ":error",
        "the release's beams must be stripped of their debug info"
    );

    let mut dap = adapter(&epmd);
    let started = Instant::now();
    let response = dap.request("attach", attach_arguments(&node, json!({})), LAUNCH_TIMEOUT);
    assert_eq!(
        response["success"],
        true,
        "attach failed: {response}\n{}",
        dap.transcript()
    );
    let attached_in = started.elapsed();
    dap.wait_event("initialized", TIMEOUT);
    dap.wait_output("console", "come from `projectDir`", TIMEOUT);
    let (_, line) = break_on_the_counter_bump(&mut dap, &node);
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let first_stop = started.elapsed();
    eprintln!(
        "attach to a release: answered in {} ms, first breakpoint stop {} ms after the attach request",
        attached_in.as_millis(),
        first_stop.as_millis()
    );
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "OtpApp.Counter.handle_call/3", "{stack}");
    assert_eq!(top["line"], line, "{stack}");
    assert_eq!(
        top["source"]["path"],
        path_string(&node.project.path().join("lib/otp_app/counter.ex")).as_str(),
        "the frame's source is the one in projectDir: {stack}"
    );
    let frame = top["id"].as_i64().unwrap();
    inspect_the_bump_in_the_node(&mut dap, frame, &node);

    detach(dap);
    assert!(node.alive(), "the release must keep running");
    let after = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    assert_left_as_found(&epmd, &node, &before, &after);
    assert_eq!(pids_of(&before).0, pids_of(&after).0, "the counter must survive");
    let count = |state: &str| -> i64 {
        let rest = state.split("counter: ").nth(1).unwrap();
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())]
            .parse()
            .unwrap()
    };
    let later = node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())");
    assert!(
        later.parse::<i64>().unwrap() > count(&after),
        "the counter no longer moves: {after} then {later}"
    );
}

/// The release after a detach: as found (`before`), and without the
/// debugger modules the session shipped.
fn assert_left_as_found(epmd: &Epmd, node: &Node, before: &str, after: &str) {
    for state in [before, after] {
        assert!(
            AS_FOUND.iter().all(|item| state.contains(item)),
            "the release is not as found:\nbefore: {before}\nafter:  {after}"
        );
    }
    assert_eq!(
        node.remote_eval(epmd, DEBUGGER_ON_THE_NODE),
        "{false, false, false}",
        "the debugger modules shipped for the session must be gone"
    );
}

/// `reloadCode` into a release: the helper compiles the edited counter, the
/// release loads and interprets it again; the counter keeps its process and
/// its count, a breakpoint in the moved code stops there, and a compile
/// error leaves the new code running.
#[test]
fn reload_into_a_release_compiles_on_the_adapter_side_and_keeps_the_counters_state() {
    let epmd = Epmd::start();
    let node = Node::start_release(&epmd);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"reloadOnSave": "off"}));
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let count_before: i64 = node
        .remote_eval(&epmd, "inspect(OtpApp.Counter.value())")
        .parse()
        .unwrap();
    let counter = node.project.path().join("lib/otp_app/counter.ex");
    let text = std::fs::read_to_string(&counter).unwrap();
    let edited = text
        .replace(
            "  def value, do: GenServer.call(__MODULE__, :value)",
            "  def value, do: GenServer.call(__MODULE__, :value)\n\n  def doubled, do: GenServer.call(__MODULE__, :doubled)",
        )
        .replace(
            "  def handle_call(:value, _from, count), do: {:reply, count, count}",
            "  def handle_call(:value, _from, count), do: {:reply, count, count}\n  def handle_call(:doubled, _from, count), do: {:reply, 2 * count, count}",
        );
    assert_ne!(edited, text, "the edit must apply");
    std::fs::write(&counter, &edited).unwrap();
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["success"], true, "{reloaded}\n{}", dap.transcript());
    assert!(
        reloaded["body"]["reloaded"].to_string().contains("OtpApp.Counter"),
        "{reloaded}"
    );
    eprintln!(
        "reload of one module into a release: {} ms ({})",
        reloaded["body"]["timings"]["total"], reloaded["body"]["timings"]
    );
    let kept = dap.request(
        "evaluate",
        json!({"expression": "v = OtpApp.Counter.value(); d = OtpApp.Counter.doubled(); {v >= 0, d >= 2 * v, v}", "context": "repl"}),
        TIMEOUT,
    );
    let result = kept["body"]["result"].as_str().unwrap_or_default().to_owned();
    assert!(result.starts_with("{true, true, "), "{kept}");
    let count_after: i64 = result
        .trim_start_matches("{true, true, ")
        .trim_end_matches('}')
        .parse()
        .unwrap();
    assert!(
        count_after >= count_before,
        "the counter kept counting from {count_before}: {count_after}"
    );

    // The reloaded module is interpreted from the new source: its moved bump
    // line stops the ticker.
    let (_, line) = break_on_the_counter_bump(&mut dap, &node);
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(stack["body"]["stackFrames"][0]["line"], line, "{stack}");
    clear_and_continue(&mut dap, &counter, thread);

    // A compile error: nothing changes in the release.
    std::fs::write(&counter, edited.replace("def doubled, do:", "def doubled, do: (")).unwrap();
    let failed = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(failed["success"], false, "{failed}");
    assert!(
        failed["message"].as_str().unwrap_or_default().contains("compile error"),
        "{failed}"
    );
    let still = dap.request(
        "evaluate",
        json!({"expression": "OtpApp.Counter.doubled() >= 0", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(still["body"]["result"], "true", "{still}");

    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    assert!(dap.close_and_wait(TIMEOUT).success());
    let after = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    assert_left_as_found(&epmd, &node, &before, &after);
    assert_eq!(
        pids_of(&before),
        pids_of(&after),
        "the counter kept its process (and state), and the ticker calling it; the release printed:\n{}",
        node.printed()
    );
    let code = node.remote_eval(&epmd, "inspect(function_exported?(OtpApp.Counter, :doubled, 0))");
    assert_eq!(code, "true", "the reloaded code stays loaded after the detach");
}
