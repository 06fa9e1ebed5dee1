//! The local machine stays safe: the agent cache, the detached log's path, the
//! agent listener, and a flood of output to a slow client.

use super::*;

/// `elixir-dap` with `HOME` unset: the agent cache does not fall back to a
/// directory every user shares, so code planted in `$TMPDIR/elixir-dap` never runs.
#[test]
fn without_home_the_agent_cache_is_not_the_shared_temporary_directory() {
    let temp = tempfile::tempdir().unwrap();
    let marker = temp.path().join("planted-code-ran");
    plant_agent(&temp.path().join("elixir-dap"), &marker);
    let project = fixture("plain");
    let tmpdir = temp.path().to_owned();
    let mut dap = DapClient::start_with(|command| {
        command
            .env_remove("HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("TMPDIR", &tmpdir);
    });
    // Only the adapter goes without HOME: Mix 1.15+ needs one (for ~/.mix).
    let vm_home = temp.path().join("home");
    std::fs::create_dir(&vm_home).unwrap();
    dap.launch_and_run(json!({
        "env": {"HOME": path_string(&vm_home)},
        "projectDir": path_string(project.path()),
        "task": "run",
        "taskArgs": ["-e", "IO.puts(\"real agent\")"],
    }));
    dap.wait_output("stdout", "real agent", TIMEOUT);
    dap.wait_event("exited", TIMEOUT);
    assert!(!marker.exists(), "the planted agent ran");
}

/// A cache directory others can write in, one of another user, or a symbolic
/// link: the launch is refused with a message and no VM starts.
#[test]
fn a_planted_agent_cache_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let marker = temp.path().join("planted-code-ran");
    let project = fixture("plain");
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();

    let world_writable = temp.path().join("world");
    plant_agent(&world_writable.join("elixir-dap"), &marker);
    std::fs::set_permissions(
        world_writable.join("elixir-dap"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    cases.push((world_writable, "other users may write in it (mode 0777)"));

    let linked = temp.path().join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    let elsewhere = temp.path().join("elsewhere");
    plant_agent(&elsewhere, &marker);
    std::os::unix::fs::symlink(&elsewhere, linked.join("elixir-dap")).unwrap();
    cases.push((linked, "it is a symbolic link"));

    // Another user's directory (only root can make one to test with).
    let others = temp.path().join("others");
    plant_agent(&others.join("elixir-dap"), &marker);
    let nobody = 65534;
    let chowned = std::os::unix::fs::chown(others.join("elixir-dap"), Some(nobody), Some(nobody)).is_ok();
    if chowned {
        std::fs::set_permissions(others.join("elixir-dap"), std::fs::Permissions::from_mode(0o700)).unwrap();
        cases.push((others, "it belongs to uid 65534"));
    } else {
        eprintln!("not root: the another-user's-cache case is skipped");
    }

    for (cache_home, reason) in cases {
        let home = cache_home.clone();
        let mut dap = DapClient::start_with(|command| {
            command.env("XDG_CACHE_HOME", &home);
        });
        let response = dap.launch(json!({
            "projectDir": path_string(project.path()),
            "task": "run",
            "taskArgs": ["-e", "IO.puts(:hi)"],
        }));
        assert_eq!(response["success"], false, "{response}");
        let message = response["message"].as_str().unwrap();
        let cache = cache_home.join("elixir-dap");
        assert!(
            message.starts_with(&format!("launch: refusing the agent cache {}: ", cache.display())),
            "{message}"
        );
        assert!(message.contains(reason), "{message:?} lacks {reason:?}");
        assert!(dap.events_named("process").is_empty(), "a VM started");
        assert!(!marker.exists(), "the planted agent ran");
    }
}

/// An agent cache as an older elixir-dap (or an attacker) would leave it,
/// whose `elixir_dap_agent` writes `marker` and halts if the VM ever runs it.
fn plant_agent(cache: &Path, marker: &Path) {
    let otp = std::process::Command::new("erl")
        .args([
            "-noshell",
            "-eval",
            "io:put_chars(erlang:system_info(otp_release)), halt().",
        ])
        .output()
        .expect("run erl");
    let otp = String::from_utf8(otp.stdout).unwrap();
    let ebin = cache
        .join(format!("agent-{}", beam::agent_source::content_hash()))
        .join(format!("otp-{}", otp.trim()));
    std::fs::create_dir_all(&ebin).unwrap();
    let source = ebin.join("elixir_dap_agent.erl");
    std::fs::write(
        &source,
        format!(
            "-module(elixir_dap_agent).\n-export([main/0]).\nmain() -> file:write_file({:?}, <<\"planted\">>), erlang:halt(0).\n",
            marker.display().to_string()
        ),
    )
    .unwrap();
    let status = std::process::Command::new("erlc")
        .arg("-o")
        .arg(&ebin)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    for (name, content) in beam::agent_source::AGENT_SOURCES {
        std::fs::write(ebin.parent().unwrap().join(name), content).unwrap();
    }
}

/// The detached program's log is created afresh (`O_EXCL`), never through a
/// file or symbolic link someone planted at a name they could predict.
#[test]
fn a_symlink_at_the_detached_log_path_is_not_followed() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let temp = tempfile::tempdir().unwrap();
    let victim = temp.path().join("victim");
    std::fs::write(&victim, "").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tmpdir = temp.path().to_owned();
    let project = fixture("lifetime");
    let mut dap = DapClient::start_with(|command| {
        command.env("TMPDIR", &tmpdir);
    });
    let beat =
        "spawn(fn -> for n <- 1..100_000, do: (IO.puts(\"beat #{n}\"); Process.sleep(20)) end); Lifetime.wait_for_go()";
    let vm = dap.launch_and_run(json!({
        "projectDir": path_string(project.path()),
        "task": "run",
        "taskArgs": ["-e", beat],
    }));
    dap.wait_output("stdout", "beat 2", TIMEOUT);
    // The names an attacker could guess: the old fixed one, and the new prefix.
    let planted = temp.path().join(format!("elixir-dap-detached-{vm}.log"));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let keeper = parent_of(vm).unwrap();
    let response = dap.request("disconnect", json!({"terminateDebuggee": false}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    let note = dap.wait_output("console", "detached;", TIMEOUT);
    let log = PathBuf::from(
        note["body"]["output"]
            .as_str()
            .unwrap()
            .trim()
            .rsplit("goes to ")
            .next()
            .unwrap(),
    );
    assert!(dap.close_and_wait(TIMEOUT).success());
    // The program prints on: into the new file, never into the victim.
    let printed = wait_for_file_text(&log, "beat ", TIMEOUT);
    let meta = std::fs::symlink_metadata(&log).unwrap();
    let victim_text = std::fs::read_to_string(&victim).unwrap();
    kill_process(keeper);
    kill_group(vm);
    wait_processes_gone(&[vm, keeper], GONE_TIMEOUT, "the detached VM, after the test killed it");
    assert_ne!(log, planted);
    assert!(log.starts_with(temp.path()), "{}", log.display());
    assert!(meta.file_type().is_file(), "{} is not a regular file", log.display());
    assert_eq!(meta.mode() & 0o777, 0o600, "{}", log.display());
    assert!(printed.contains("beat "));
    assert!(
        victim_text.is_empty(),
        "the program's output reached the victim: {victim_text:?}"
    );
}

/// Waits until `path` holds `text`. There is no event for a write to a
/// file by a process we do not own: this reads it again every 20 ms.
fn wait_for_file_text(path: &Path, text: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not receive {text:?} within {} s: {content:?}",
            path.display(),
            timeout.as_secs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A wrapper for `elixirPath` that tells the test the agent listener's port
/// (through a FIFO) and starts the VM only once the test says go (through
/// another): connections the test opens in between are there before the VM
/// boots. The adapter's own runs of `elixir` before the launch (the
/// `debugBackend` probe: `--erl "+D -version"`, `--short-version`), which
/// have no listener port, go straight through.
struct HeldLaunch {
    dir: tempfile::TempDir,
}

impl HeldLaunch {
    fn new() -> HeldLaunch {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for fifo in ["port", "go"] {
            let status = std::process::Command::new("mkfifo")
                .arg(dir.path().join(fifo))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let wrapper = dir.path().join("elixir");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n[ -n \"$ELIXIR_DAP_PORT\" ] || exec elixir \"$@\"\n\
                 printf '%s\\n' \"$ELIXIR_DAP_PORT\" > '{dir}/port'\nread go < '{dir}/go'\nexec elixir \"$@\"\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        HeldLaunch { dir }
    }

    fn elixir(&self) -> String {
        path_string(&self.dir.path().join("elixir"))
    }

    /// The agent listener's port, once the wrapper runs.
    fn port(&self) -> u16 {
        let fifo = self.dir.path().join("port");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read_to_string(fifo));
        });
        let text = rx
            .recv_timeout(TIMEOUT)
            .expect("the elixirPath wrapper did not report the port within 30 s")
            .unwrap();
        text.trim().parse().unwrap()
    }

    fn go(&self) {
        std::fs::write(self.dir.path().join("go"), "go\n").unwrap();
    }
}

/// From "go" to the `process` event (the agent connected), with `connect`
/// run against the listener's port first.
fn timed_launch(project: &Path, connect: impl FnOnce(u16)) -> (Duration, DapClient) {
    let held = HeldLaunch::new();
    let mut dap = DapClient::start();
    dap.initialize();
    let launch = dap.send(
        "launch",
        json!({"projectDir": path_string(project), "task": "run", "taskArgs": ["-e", "IO.puts(:hi)"], "elixirPath": held.elixir()}),
    );
    let port = held.port();
    connect(port);
    let started = Instant::now();
    held.go();
    dap.wait_event("process", LAUNCH_TIMEOUT);
    let took = started.elapsed();
    let response = dap.response_to(launch, LAUNCH_TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    (took, dap)
}

#[test]
fn idle_and_oversized_connections_to_the_agent_listener_do_not_delay_the_launch() {
    use std::io::{Read, Write};
    let project = fixture("lifetime");
    let mut idle = Vec::new();
    let mut huge = None;
    // First the launch with the connections: it may also compile the agent
    // for this OTP, which only makes it slower than the baseline.
    let (with_connections, mut dap) = timed_launch(project.path(), |port| {
        for _ in 0..10 {
            idle.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&(256u32 * 1024 * 1024).to_be_bytes()).unwrap();
        stream.write_all(&vec![0u8; 64 * 1024]).unwrap();
        huge = Some(stream);
    });
    let peak = peak_rss_kib(dap.adapter_pid());
    // The oversized frame was refused: the adapter closed that connection.
    let mut huge = huge.unwrap();
    huge.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut byte = [0u8; 1];
    match huge.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the oversized connection is still open: {other:?}"),
    }
    // The idle ones are dropped after the handshake timeout.
    let first_idle = &mut idle[0];
    first_idle.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert!(matches!(first_idle.read(&mut byte), Ok(0) | Err(_)));
    dap.request("disconnect", json!({}), TIMEOUT);

    let (baseline, mut dap) = timed_launch(project.path(), |_| {});
    dap.request("disconnect", json!({}), TIMEOUT);
    eprintln!(
        "figure: VM start to agent connected: {} ms with 10 idle connections and a 256 MiB frame header, {} ms without; adapter peak RSS {} KiB",
        with_connections.as_millis(),
        baseline.as_millis(),
        peak
    );
    // Handshakes served one after another would add 10 × the 3 s handshake
    // timeout; a bound far below that and far above a loaded machine's noise
    // (the figure above is what to read for the 1 s promise).
    assert!(
        with_connections < baseline + Duration::from_secs(15),
        "the connections delayed the launch: {with_connections:?} against {baseline:?}"
    );
    assert!(peak < 48 * 1024, "the adapter's peak RSS reached {peak} KiB");
}

/// 200 MB of numbered lines to a client that reads slowly: the adapter stays
/// under 64 MiB of RSS and every line arrives, in order.
#[test]
fn a_200_mb_flood_to_a_slow_client_keeps_the_adapter_small_and_loses_nothing() {
    use std::io::{BufRead, BufReader, Read, Write};
    const LINES: u64 = 2_000_000;
    const LINE_BYTES: usize = 100;
    let project = fixture("lifetime");
    let mut adapter = std::process::Command::new(adapter_binary())
        .args(["--log-level", "info"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = adapter.id();
    let mut input = adapter.stdin.take().unwrap();
    let mut output = BufReader::with_capacity(64 * 1024, adapter.stdout.take().unwrap());
    let mut send = |seq: i64, command: &str, arguments: Value| {
        let body = json!({"seq": seq, "type": "request", "command": command, "arguments": arguments}).to_string();
        write!(input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        input.flush().unwrap();
    };
    send(1, "initialize", json!({"adapterID": "elixir"}));
    send(
        2,
        "launch",
        json!({
            "projectDir": path_string(project.path()),
            "task": "run",
            "taskArgs": ["-e", format!("Lifetime.flood({LINES})")],
            "noDebug": true,
        }),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let mut next_line: u64 = 1;
    // Mix's own lines ("Compiling 1 file") come before the flood's.
    let mut flooding = false;
    let mut partial = String::new();
    let mut frames = 0u64;
    let mut exit_code = None;
    let mut peak_sampled = 0u64;
    while exit_code.is_none() {
        assert!(
            Instant::now() < deadline,
            "the flood did not end within 300 s (line {next_line} of {LINES} reached)"
        );
        // Slow client: about 16 MiB/s at most.
        if frames % 16 == 0 {
            std::thread::sleep(Duration::from_millis(15));
        }
        let mut length = None;
        loop {
            let mut header = String::new();
            assert!(
                output.read_line(&mut header).unwrap() > 0,
                "the adapter closed its output"
            );
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("Content-Length:") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0u8; length.unwrap()];
        output.read_exact(&mut body).unwrap();
        frames += 1;
        if frames % 256 == 0 {
            peak_sampled = peak_sampled.max(peak_rss_kib(pid));
        }
        let message: Value = serde_json::from_slice(&body).unwrap();
        match (
            message["type"].as_str(),
            message["event"].as_str(),
            message["command"].as_str(),
        ) {
            (Some("response"), _, Some("launch")) => {
                assert_eq!(message["success"], true, "{message}");
                send(3, "configurationDone", json!({}));
            }
            (Some("event"), Some("output"), _) if message["body"]["category"] == "stdout" => {
                partial.push_str(message["body"]["output"].as_str().unwrap());
                let complete = partial.rfind('\n').map_or(0, |i| i + 1);
                for line in partial[..complete].lines() {
                    flooding = flooding || line.starts_with("00000001 ");
                    if !flooding {
                        continue;
                    }
                    assert_eq!(line.len(), LINE_BYTES - 1, "line {next_line} is {line:?}");
                    let number: u64 = line[..8]
                        .parse()
                        .unwrap_or_else(|_| panic!("not a numbered line: {line:?}"));
                    assert_eq!(number, next_line, "line {next_line} lost or out of order");
                    next_line += 1;
                }
                partial.drain(..complete);
            }
            (Some("event"), Some("exited"), _) => exit_code = message["body"]["exitCode"].as_i64(),
            _ => {}
        }
    }
    let peak = peak_rss_kib(pid).max(peak_sampled);
    let took = started.elapsed();
    send(4, "disconnect", json!({}));
    drop(input);
    let _ = adapter.wait();
    eprintln!(
        "figure: 200 MB flood: {} lines in {} s through a slow client; adapter peak RSS {} KiB",
        next_line - 1,
        took.as_secs(),
        peak
    );
    assert_eq!(exit_code, Some(0));
    assert_eq!(next_line - 1, LINES, "lines delivered");
    assert!(partial.is_empty(), "a partial last line: {partial:?}");
    assert!(peak < 64 * 1024, "the adapter's peak RSS reached {peak} KiB");
}
