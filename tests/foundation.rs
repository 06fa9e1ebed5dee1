//! Foundation: the real `elixir-dap` binary launches real Mix projects in a
//! real BEAM over real DAP, survives bad input, and never leaves a VM behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader};
use support::*;

fn plain_launch(project: &std::path::Path, expression: &str) -> serde_json::Value {
    json!({
        "type": "mix_task",
        "request": "launch",
        "projectDir": path_string(project),
        "task": "run",
        "taskArgs": ["-e", expression],
    })
}

#[test]
fn task_output_reaches_the_client_and_exit_code_zero_ends_the_session() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(plain_launch(project.path(), "Plain.main()"));
    dap.wait_output("stdout", "plain: hello from the debuggee", TIMEOUT);
    dap.wait_output("stderr", "plain: a line on stderr", TIMEOUT);
    dap.wait_output("stdout", "plain: sum is 6", TIMEOUT);
    let exited = dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 0);
    dap.wait_event("terminated", TIMEOUT);
    // The program's output all came before the exit.
    let exited_at = dap.received.iter().position(|m| m["event"] == "exited").unwrap();
    let last_output = dap
        .received
        .iter()
        .rposition(|m| m["body"]["category"] == "stdout")
        .unwrap();
    assert!(last_output < exited_at, "{}", dap.transcript());
    let response = dap.request("disconnect", json!({}), TIMEOUT);
    assert_eq!(response["success"], true);
    assert!(dap.close_and_wait(TIMEOUT).success());
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn system_halt_exit_code_is_reported() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    dap.launch_and_run(plain_launch(project.path(), "Plain.halt_with(3)"));
    dap.wait_output("stdout", "plain: halting with 3", TIMEOUT);
    let exited = dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 3);
    dap.wait_event("terminated", TIMEOUT);
}

#[test]
fn an_exception_in_the_task_exits_with_status_one_and_shows_the_error() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    dap.launch_and_run(plain_launch(project.path(), "raise \"boom from the task\""));
    dap.wait_output("stderr", "boom from the task", TIMEOUT);
    let exited = dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 1);
}

#[test]
fn a_no_halt_app_runs_until_disconnect_which_kills_the_vm() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(json!({"projectDir": path_string(project.path()), "taskArgs": ["--no-halt"]}));
    dap.wait_output("stdout", "otp_app: tick 3 count 3", TIMEOUT);
    assert!(
        dap.events_named("exited").is_empty(),
        "the app exited on its own:\n{}",
        dap.transcript()
    );
    assert!(!group_alive(vm).is_empty(), "the VM should still be running");
    let response = dap.request("disconnect", json!({"terminateDebuggee": true}), TIMEOUT);
    assert_eq!(response["success"], true);
    // The VM's end follows the response: `exited`, then `terminated`, once.
    dap.wait_event("terminated", TIMEOUT);
    let answered = dap.position_of(|m| m["type"] == "response" && m["command"] == "disconnect");
    let exited = dap.position_of(|m| m["event"] == "exited");
    let terminated = dap.position_of(|m| m["event"] == "terminated");
    assert!(answered < exited && exited < terminated, "{}", dap.transcript());
    assert_group_gone(vm, TIMEOUT);
    dap.drain(TIMEOUT);
    assert_eq!(dap.events_named("terminated").len(), 1, "{}", dap.transcript());
    assert!(dap.close_and_wait(TIMEOUT).success());
}

#[test]
fn end_of_input_ends_the_session_and_the_vm() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(json!({"projectDir": path_string(project.path()), "taskArgs": ["--no-halt"]}));
    dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
    let status = dap.close_and_wait(TIMEOUT);
    assert!(status.success(), "adapter exit status {status}");
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn kill_9_of_the_adapter_leaves_no_vm_behind() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(json!({"projectDir": path_string(project.path()), "taskArgs": ["--no-halt"]}));
    dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
    dap.kill_adapter();
    // The agent sees its channel close and takes the VM's group down.
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn terminate_request_ends_the_program() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(json!({"projectDir": path_string(project.path()), "taskArgs": ["--no-halt"]}));
    dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
    let response = dap.request("terminate", json!({}), TIMEOUT);
    assert_eq!(response["success"], true);
    dap.wait_event("exited", TIMEOUT);
    dap.wait_event("terminated", TIMEOUT);
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn disconnect_without_terminating_leaves_the_program_running() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let heartbeat = "spawn(fn -> for n <- 1..100_000, do: (IO.puts(\"beat #{n}\"); Process.sleep(50)) end)";
    let vm = dap.launch_and_run(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["--no-halt", "-e", heartbeat],
    }));
    dap.wait_output("stdout", "beat 2", TIMEOUT);
    let response = dap.request("disconnect", json!({"terminateDebuggee": false}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    let note = dap.wait_output("console", "detached;", TIMEOUT);
    let log = note["body"]["output"]
        .as_str()
        .unwrap()
        .trim()
        .rsplit("goes to ")
        .next()
        .unwrap()
        .to_owned();
    assert!(dap.close_and_wait(TIMEOUT).success());
    // The program goes on printing, into the file the console named, after
    // the adapter is gone.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let printed = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("beat ") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let alive = group_alive(vm);
    kill_group(vm);
    let _ = std::fs::remove_file(&log);
    assert!(!alive.is_empty(), "the detached VM should keep running");
    assert!(
        printed.contains("beat "),
        "the detached program's output did not reach {log} within {} s: {printed:?}",
        TIMEOUT.as_secs()
    );
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn exit_after_task_returns_false_keeps_the_vm_until_disconnect() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    let mut arguments = plain_launch(project.path(), "Plain.main()");
    arguments["exitAfterTaskReturns"] = json!(false);
    let vm = dap.launch_and_run(arguments);
    dap.wait_output("console", "the task returned (status 0)", TIMEOUT);
    assert!(dap.events_named("exited").is_empty());
    assert!(!group_alive(vm).is_empty());
    dap.request("disconnect", json!({}), TIMEOUT);
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn env_require_files_and_start_apps_are_applied() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    dap.launch_and_run(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["-e", "PlainHelper.greet(); IO.puts(\"env says \" <> System.get_env(\"PLAIN_GREETING\"))"],
        "env": {"PLAIN_GREETING": "hello via env"},
        "requireFiles": ["scripts/*.exs"],
    }));
    dap.wait_output("stdout", "plain: helper greets you", TIMEOUT);
    dap.wait_output("stdout", "env says hello via env", TIMEOUT);
    assert_eq!(dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);

    // With `--no-start`, only `startApps` starts the supervision tree that
    // `OtpApp.ready/0` calls into.
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    dap.launch_and_run(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["--no-start", "-e", "OtpApp.ready()"],
        "startApps": true,
    }));
    dap.wait_output("stdout", "otp_app: ready, counter at", TIMEOUT);
    assert_eq!(dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn the_default_task_is_the_projects_default() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    dap.launch_and_run(json!({"projectDir": path_string(project.path())}));
    dap.wait_output("console", "running `mix run`", TIMEOUT);
    // `mix run` starts the app and returns; the session ends with status 0.
    assert_eq!(dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn a_compile_error_fails_the_launch_with_file_and_line() {
    let project = fixture("plain");
    let math = project.path().join("lib/plain/math.ex");
    let source = std::fs::read_to_string(&math).unwrap();
    std::fs::write(&math, source.replace("result = a + b", "result = a + b +")).unwrap();
    let mut dap = DapClient::start();
    // `launch` is answered once the VM is up; the compile fails after it.
    let response = dap.launch(plain_launch(project.path(), "Plain.main()"));
    assert_eq!(response["success"], true, "{response}");
    let important = dap.wait_output("important", "compilation failed", TIMEOUT);
    let message = important["body"]["output"].as_str().unwrap();
    assert!(message.contains("lib/plain/math.ex:10"), "{message}");
    // Trimmed to the user's file:line and message: no exception name, no compiler stack.
    assert!(!message.contains("** ("), "{message}");
    assert!(!message.contains("parallel_compiler"), "{message}");
    let diagnostic = dap.wait_output("stderr", "math.ex:10: error:", TIMEOUT);
    let diagnostic = diagnostic["body"]["output"].as_str().unwrap();
    assert!(!diagnostic.contains("parallel_compiler"), "{diagnostic}");
    dap.wait_event("terminated", TIMEOUT);
    assert!(dap.events_named("initialized").is_empty());
    let vm = dap.vm_pid();
    assert_group_gone(vm, TIMEOUT);
    // The session still answers, and ends on disconnect.
    let response = dap.request("disconnect", json!({}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    dap.wait_adapter_exit(TIMEOUT);
}

#[test]
fn bad_launch_arguments_are_refused_naming_the_attribute() {
    let project = fixture("plain");
    let no_mix = tempfile::tempdir().unwrap();
    let dir = path_string(project.path());
    let cases = [
        (
            json!({"projectDir": "/definitely/not/here"}),
            "`projectDir`: /definitely/not/here is not a directory",
        ),
        (json!({"projectDir": path_string(no_mix.path())}), "has no mix.exs"),
        (
            json!({"projectDir": 7}),
            "`projectDir`: invalid type: integer `7`, expected a string",
        ),
        (
            json!({"projectDir": dir, "taskArgs": "-e"}),
            "`taskArgs`: invalid type: string",
        ),
        (json!({"projectDir": dir, "taskArgs": ["-e", 1]}), "`taskArgs[1]`"),
        (json!({"projectDir": dir, "task": 3}), "`task`: invalid type"),
        (
            json!({"projectDir": dir, "task": ""}),
            "`task`: expected a Mix task name",
        ),
        (
            json!({"projectDir": dir, "env": ["A=1"]}),
            "`env`: invalid type: array, expected an object",
        ),
        (json!({"projectDir": dir, "env": {"A": 1}}), "`env.A`"),
        (json!({"projectDir": dir, "requireFiles": "x.exs"}), "`requireFiles`"),
        (
            json!({"projectDir": dir, "startApps": "yes"}),
            "`startApps`: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"projectDir": dir, "exitAfterTaskReturns": 1}),
            "`exitAfterTaskReturns`",
        ),
        (json!({"projectDir": dir, "noDebug": "no"}), "`noDebug`"),
        (
            json!({"projectDir": dir, "stackTraceMode": "sometimes"}),
            "`stackTraceMode`: unknown variant `sometimes`",
        ),
        (
            json!({"projectDir": dir, "elixirPath": "/no/elixir"}),
            "`elixirPath`: /no/elixir is not a file",
        ),
    ];
    let mut dap = DapClient::start();
    dap.initialize();
    for (arguments, expected) in cases {
        let response = dap.request("launch", arguments.clone(), TIMEOUT);
        assert_eq!(response["success"], false, "{arguments} was accepted");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "for {arguments}: {message:?} lacks {expected:?}"
        );
        assert!(message.starts_with("launch: "), "{message}");
    }
    assert!(
        dap.events_named("process").is_empty(),
        "no VM may start for bad arguments"
    );
    // The session is still usable: a good launch goes through.
    let response = dap.request("launch", plain_launch(project.path(), "Plain.main()"), LAUNCH_TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
}

#[test]
fn garbage_input_is_answered_or_skipped_and_the_next_request_is_served() {
    let mut dap = DapClient::start();
    dap.send_raw(b"this is not a header\r\n\r\n");
    dap.send_raw(b"Content-Length: twelve\r\n\r\n");
    dap.send_body(b"{ not json");
    dap.send_body(b"[1, 2, 3]");
    dap.send_body(br#"{"seq": 41, "type": "event", "command": "launch"}"#);
    dap.send_body(br#"{"seq": 42, "type": "request"}"#);
    dap.send_body(br#"{"seq": 43, "type": "request", "command": "frobnicate"}"#);
    dap.send_body(br#"{"seq": 44, "type": "request", "command": "initialize", "arguments": "oops"}"#);
    let response = dap.request("initialize", json!({"adapterID": "elixir"}), TIMEOUT);
    assert_eq!(response["success"], true);
    assert_eq!(response["body"]["supportsConfigurationDoneRequest"], true);

    let error_for = |dap: &mut DapClient, seq: i64| dap.response_to(seq, TIMEOUT);
    let event_type = error_for(&mut dap, 41);
    assert_eq!(event_type["success"], false);
    assert!(event_type["message"].as_str().unwrap().contains("field `type`"));
    let no_command = error_for(&mut dap, 42);
    assert!(no_command["message"].as_str().unwrap().contains("field `command`"));
    let unknown = error_for(&mut dap, 43);
    assert_eq!(unknown["message"], "unknown request `frobnicate`");
    assert_eq!(unknown["command"], "frobnicate");
    let bad_arguments = error_for(&mut dap, 44);
    assert_eq!(bad_arguments["success"], false);
    assert!(bad_arguments["message"].as_str().unwrap().starts_with("initialize: "));

    let console = dap.output_text("console");
    for expected in [
        "without a Content-Length",
        "invalid Content-Length value \"twelve\"",
        "invalid JSON",
        "got an array",
    ] {
        assert!(console.contains(expected), "console lacks {expected:?}:\n{console}");
    }
}

#[test]
fn an_oversized_body_is_refused_without_being_buffered() {
    let mut dap = DapClient::start();
    let pid = dap.adapter_pid();
    let declared = 70 * 1024 * 1024;
    dap.send_raw(format!("Content-Length: {declared}\r\n\r\n").as_bytes());
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..70 {
        dap.send_raw(&chunk);
    }
    let response = dap.request("initialize", json!({"adapterID": "elixir"}), TIMEOUT);
    assert_eq!(response["success"], true);
    dap.wait_output("console", "exceeds the limit of 67108864 bytes", TIMEOUT);
    let peak = peak_rss_kib(pid);
    assert!(
        peak < 48 * 1024,
        "the adapter's peak RSS reached {peak} KiB: the body was buffered"
    );
}

#[test]
fn tcp_mode_serves_a_session_per_connection() {
    let project = fixture("plain");
    let mut server = KilledOnDrop(
        std::process::Command::new(adapter_binary())
            .args(["--port", "0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("elixir-dap: listening on ")
        .expect(&line)
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    for round in 0..2 {
        let stream = std::net::TcpStream::connect(&address).unwrap();
        let reader = stream.try_clone().unwrap();
        let mut dap = DapClient::over(Box::new(stream), reader, None);
        dap.launch_and_run(plain_launch(project.path(), "Plain.main()"));
        dap.wait_output("stdout", "plain: sum is 6", TIMEOUT);
        assert_eq!(
            dap.wait_event("exited", TIMEOUT)["body"]["exitCode"],
            0,
            "round {round}"
        );
        dap.request("disconnect", json!({}), TIMEOUT);
    }
}

/// A child process killed and reaped when dropped: a failed assertion leaves
/// no server behind.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where Mix keeps `build_path`'s build lock (`<tmp>/mix_lock*/<key>`, see
/// crates/beam/agent/elixir_dap_build_lock.erl), as this machine's Elixir
/// computes the key and the temporary directory; `None` when its Mix has no
/// build lock (before 1.18).
fn mix_lock_dirs(build_path: &std::path::Path) -> Option<Vec<std::path::PathBuf>> {
    let script = "if Code.ensure_loaded?(Mix.Sync.Lock), \
                  do: IO.write(Base.url_encode64(:erlang.md5(hd(System.argv())), padding: false) <> \"\\n\" <> System.tmp_dir!())";
    let output = std::process::Command::new("elixir")
        .args(["-e", script, "--"])
        .arg(build_path)
        .output()
        .expect("run elixir");
    assert!(
        output.status.success(),
        "elixir: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (key, tmp) = text.split_once('\n')?;
    let dirs = std::fs::read_dir(tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|base| base.file_name().unwrap().to_string_lossy().starts_with("mix_lock"))
        .map(|base| base.join(key))
        .filter(|dir| dir.is_dir())
        .collect();
    Some(dirs)
}

/// Mix 1.19 to 1.20.4 can wait forever on its own build lock when the kernel
/// gives a locker the port a gone locker's file still names (the first
/// lock of a build path leaves `lock_0` linked to its `port_P`); a launch's
/// compile hung so in CI. The launch's compile runs with those ports guarded,
/// and leaves the lock as Mix leaves it after a take-over: a `lock_0` of its
/// own and no `port_P`, before the program's own compiles (`run`'s here) lock.
#[test]
fn the_launch_leaves_mixs_build_lock_with_no_port_file_for_the_programs_compiles() {
    let project = fixture("plain");
    // A cache of its own, where the native backend's build is found.
    let cache = tempfile::tempdir().unwrap();
    let mut dap = DapClient::start_with(|command| {
        command.env("XDG_CACHE_HOME", cache.path());
    });
    let response = dap.launch(plain_launch(project.path(), "Plain.main()"));
    assert_eq!(response["success"], true, "{}", dap.transcript());
    dap.wait_event("initialized", TIMEOUT);
    // The project is compiled and the task has not started.
    let native_builds: Vec<_> = std::fs::read_dir(cache.path().join("elixir-dap/native-build"))
        .map(|entries| entries.map(|entry| entry.unwrap().path().join("dev")).collect())
        .unwrap_or_default();
    let build_path = match native_builds.as_slice() {
        [] => project.path().join("_build/dev"),
        [native] => native.clone(),
        more => panic!("one native build expected: {more:?}"),
    };
    match mix_lock_dirs(&build_path) {
        None => eprintln!("this Mix has no build lock (before Elixir 1.18): nothing to look at"),
        Some(dirs) => {
            assert!(
                !dirs.is_empty(),
                "no lock directory of Mix's for {}",
                build_path.display()
            );
            for dir in dirs {
                let names: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                assert!(
                    names.iter().all(|name| !name.starts_with("port_")),
                    "a port file is left in {}: {names:?}",
                    dir.display()
                );
                let lock = std::fs::metadata(dir.join("lock_0")).expect("Mix's lock_0");
                assert_eq!(
                    std::os::unix::fs::MetadataExt::nlink(&lock),
                    1,
                    "lock_0 in {} is linked to another name",
                    dir.display()
                );
            }
        }
    }
    let done = dap.request("configurationDone", json!({}), TIMEOUT);
    assert_eq!(done["success"], true, "configurationDone failed: {done}");
    dap.wait_output("stdout", "plain: sum is 6", TIMEOUT);
    assert_eq!(dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn version_flag_prints_the_workspace_version() {
    let output = std::process::Command::new(adapter_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.trim(), format!("elixir-dap {}", env!("CARGO_PKG_VERSION")));
}
