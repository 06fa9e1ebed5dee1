//! Conditions, hit conditions and logpoints checked when set, interpret
//! patterns, and a project moved or copied with its build.

use super::*;

// ---------------------------------------------------------------------------
// 5. Conditions, hit conditions, logpoints

#[test]
fn conditions_hit_conditions_and_log_messages_are_checked_when_set() {
    let mut t = Truth::launch("Truth.Cond.run([{:ok, 1}, :error, {:ok, 3}])", json!({}));
    let invalid = [
        (json!({"condition": "v =="}), "expression is incomplete"),
        (json!({"condition": "v == )"}), "unexpected token"),
        (json!({"condition": "\"unterminated"}), "missing terminator"),
        (json!({"condition": "fn ->"}), "condition"),
        (json!({"hitCondition": "abc"}), "hit condition `abc`"),
        (json!({"hitCondition": ">= x"}), "hit condition"),
        (json!({"hitCondition": "% 0"}), "hit condition"),
        (json!({"hitCondition": "!= 2"}), "hit condition"),
        (json!({"logMessage": "ok={v ==}"}), "expression is incomplete"),
        (json!({"logMessage": "open {v"}), "no `}` closes"),
        (json!({"logMessage": "empty {}"}), "empty"),
        (json!({"logMessage": "s={\"a}"}), "no `}` closes"),
        (json!({"logMessage": "call={foo(}"}), "missing terminator"),
    ];
    for (attrs, expected) in &invalid {
        let set = t.breakpoints("cond.ex", &[("check", attrs.clone())]);
        assert_eq!(set[0]["verified"], false, "{attrs}: {set:?}");
        let message = set[0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{attrs}: {message}");
    }
    // Function breakpoints too.
    let f = t.dap.request(
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "Truth.Cond.check/2", "condition": "v =="}]}),
        TIMEOUT,
    );
    assert_eq!(f["body"]["breakpoints"][0]["verified"], false, "{f}");
    t.dap
        .request("setFunctionBreakpoints", json!({"breakpoints": []}), TIMEOUT);
    for attrs in [
        json!({"condition": "match?({:ok, _}, v)"}),
        json!({"hitCondition": "<= 2"}),
        json!({"hitCondition": " > 1 "}),
        json!({"logMessage": "ok={match?({:ok, _}, v)} t={ {v, i} } m={%{v: v}} s={\"}\"} n={elem({1, {2, 3}}, 1)} {{lit}}"}),
    ] {
        let set = t.breakpoints("cond.ex", &[("check", attrs.clone())]);
        assert_eq!(set[0]["verified"], true, "{attrs}: {set:?}");
    }
    // Run with the logpoint (the last set) and a failing condition elsewhere:
    // a runtime error is reported once.
    let cond = t.file("cond.ex");
    let result_line = marker_line(&cond, "check") + 1;
    let set = t.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&cond)}, "breakpoints": [
            {"line": marker_line(&cond, "check"), "logMessage": "ok={match?({:ok, _}, v)} t={ {v, i} } m={%{v: v}} s={\"}\"} n={elem({1, {2, 3}}, 1)} {{lit}} e={elem(v, 1)}"},
            {"line": result_line, "condition": "elem(v, 1) > 100"},
        ]}),
        TIMEOUT,
    );
    assert!(
        set["body"]["breakpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["verified"] == true),
        "{set}"
    );
    t.run();
    assert_eq!(t.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
    let console = t.dap.output_text("console");
    let logged: Vec<&str> = console.lines().filter(|l| l.starts_with("ok=")).collect();
    assert_eq!(logged.len(), 3, "{console}");
    assert_eq!(
        logged[0],
        "ok=true t={{:ok, 1}, 0} m=%{v: {:ok, 1}} s=} n={2, 3} {lit} e=1"
    );
    assert!(
        logged[1].starts_with("ok=false t={:error, 1} m=%{v: :error} s=} n={2, 3} {lit} e=<error: "),
        "{}",
        logged[1]
    );
    assert_eq!(
        logged[2],
        "ok=true t={{:ok, 3}, 2} m=%{v: {:ok, 3}} s=} n={2, 3} {lit} e=3"
    );
    let failures: Vec<&str> = console.lines().filter(|l| l.contains("failed:")).collect();
    assert_eq!(failures.len(), 2, "one report per breakpoint: {console}");
    assert!(
        failures.iter().any(|l| l.contains("the condition `elem(v, 1) > 100`")),
        "{console}"
    );
    assert!(failures.iter().any(|l| l.contains("`elem(v, 1)`")), "{console}");
    assert_eq!(t.events("stopped"), 0);
}

// ---------------------------------------------------------------------------
// 6. Interpret patterns

#[test]
fn interpret_patterns_are_elixir_regular_expressions_checked_before_the_vm_starts() {
    let project = fixture("truth");
    for (patterns, index, expected) in [
        (json!(["Truth", "("]), 1, "missing closing parenthesis"),
        (json!(["a{2,1}"]), 0, "numbers out of order"),
        (json!(["ok", "ok", "(?<=a+)b"]), 2, "lookbehind"),
        (json!(["x**"]), 0, "quantifier"),
    ] {
        let mut dap = DapClient::start();
        let response = dap.launch(json!({
            "projectDir": path_string(project.path()),
            "debugInterpretModulesPatterns": patterns,
        }));
        assert_eq!(response["success"], false, "{response}");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("debugInterpretModulesPatterns[{index}]")) && message.contains(expected),
            "{message}"
        );
        assert!(dap.events_named("process").is_empty(), "no VM was started");
    }

    let patterns = [
        r"^(?!Truth\.Anon)Truth\.(?:Cond|Life)$",
        r"\QTruth.Eval\E",
        r"(?i)truth\.describe\.(?>integer|float)",
        r"(Tru)th\.\1",
        r"Truth\.D\w++\.Atom",
    ];
    let mut t = Truth::launch(
        "Truth.Life.coordinator()",
        json!({"debugInterpretModulesPatterns": patterns, "debugAutoInterpretAllModules": false, "lazyInterpretation": "off"}),
    );
    t.run();
    t.dap.wait_output("stdout", "life: ready", TIMEOUT);
    let modules = t.dap.request("modules", json!({}), TIMEOUT);
    let listed: Vec<(String, bool)> = modules["body"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["symbolStatus"] == "interpreted",
            )
        })
        .collect();
    let names: Vec<String> = listed.iter().map(|(n, _)| serde_json::to_string(n).unwrap()).collect();
    let regexes: Vec<String> = patterns.iter().map(|p| serde_json::to_string(p).unwrap()).collect();
    // Elixir's own answer, in the debugged VM.
    let elixir = t.repl(&format!(
        "Enum.filter([{}], fn n -> Enum.any?([{}], &Regex.match?(Regex.compile!(&1), n)) end) |> Enum.join(\",\")",
        names.join(", "),
        regexes.join(", ")
    ));
    let elixir: Vec<&str> = elixir.trim_matches('"').split(',').collect();
    let ours: Vec<&str> = listed
        .iter()
        .filter(|(_, interpreted)| *interpreted)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(ours, elixir, "{listed:?}");
    for name in [
        "Truth.Cond",
        "Truth.Life",
        "Truth.Eval",
        "Truth.Describe.Integer",
        "Truth.Describe.Float",
        "Truth.Describe.Atom",
    ] {
        assert!(ours.contains(&name), "{name} in {ours:?}");
    }
    assert!(!ours.contains(&"Truth.Anon"), "{ours:?}");
}

// ---------------------------------------------------------------------------
// 7. A project moved or copied with its _build

fn run_mix_compile(dir: &Path) {
    let output = std::process::Command::new("mix")
        .arg("compile")
        .current_dir(dir)
        .env("MIX_ENV", "dev")
        .output()
        .expect("run mix compile");
    assert!(
        output.status.success(),
        "mix compile: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies a directory, keeping modification times (as `cp -a` does), so
/// that Mix sees nothing to recompile.
fn copy_keeping_times(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_project_moved_or_copied_with_its_build_keeps_its_modules() {
    let base = tempfile::Builder::new().prefix("truth-moved-").tempdir().unwrap();
    let original = base.path().join("first place");
    copy_keeping_times(fixture("truth").path(), &original);
    run_mix_compile(&original);
    // Moved: the old place is gone. Copied: the old place is another copy.
    let moved = base.path().join("moved 'quoted' #1 ünïcödé");
    let copied = base.path().join("a copy");
    copy_keeping_times(&original, &copied);
    std::fs::rename(&original, &moved).unwrap();
    copy_keeping_times(&moved, &original);

    for (place, project) in [("moved", &moved), ("copied", &copied)] {
        // (`breakOnDbg` would recompile life.ex, whose `dbg` call was
        // compiled without the debugger's callback.)
        let mut t = Truth::launch_in(
            project,
            "Truth.Cond.run([{:ok, 1}]); Truth.Describe.Run.run()",
            json!({"breakOnDbg": false}),
        );
        let set = t.breakpoints("cond.ex", &[("check", json!({}))]);
        assert_eq!(set[0]["verified"], true, "{place}: {set:?}");
        let set = t.breakpoints("describe.ex", &[("describe-number", json!({}))]);
        assert_eq!(set[0]["verified"], true, "{place}: {set:?}");
        t.run();
        let stopped = t.stop(0);
        let thread = stopped["body"]["threadId"].clone();
        // Elixir 1.14's Mix does not recompile: the modules still name the
        // first place, the case this is about. 1.18's and 1.20's recompile
        // a moved or copied project (checked): its modules name the new
        // place, and breakpoints must work all the same.
        let recorded = t.evaluate(
            "Truth.Cond.module_info(:compile)[:source] |> List.to_string()",
            "repl",
            None,
        );
        let recompiled = !recorded["body"]["result"].as_str().unwrap().contains("first place");
        eprintln!("{place}: Mix recompiled the project: {recompiled}");
        let console = t.dap.output_text("console");
        let elixir_minor: u32 = console
            .split("Elixir 1.")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .and_then(|minor| minor.parse().ok())
            .expect("the Elixir version on the console");
        if elixir_minor <= 14 {
            assert!(
                !recompiled,
                "{place}: Elixir 1.{elixir_minor}'s Mix recompiled: {recorded}"
            );
        }
        let frames = t.frames(&thread);
        assert_eq!(frames[0]["name"], "Truth.Cond.check/2");
        let here = path_string(&project.canonicalize().unwrap().join("lib/truth/cond.ex"));
        assert_eq!(frames[0]["source"]["path"], here, "{place}");
        t.resume("continue", &thread);
        let stopped = t.stop(1);
        let thread = stopped["body"]["threadId"].clone();
        assert_eq!(t.frames(&thread)[0]["name"], "Truth.Describe.Integer.describe/1");
        t.resume("continue", &thread);
        let stopped = t.stop(2);
        t.resume("continue", &stopped["body"]["threadId"].clone());
        assert_eq!(t.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
        let stdout = t.dap.output_text("stdout");
        assert_eq!(stdout.contains("Compiling"), recompiled, "{place}:\n{stdout}");
    }
}
