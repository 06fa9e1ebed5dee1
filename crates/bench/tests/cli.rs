//! The `gen` subcommand as a user runs it.

// Tests report failures by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn gen(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_elixir-dap-bench"))
        .args(["gen", "--modules", "40", "--seed", "5", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn gen_writes_a_project_and_refuses_to_mix_it_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("proj");

    let first = gen(&out, &["--app-name", "shop"]);
    assert!(first.status.success(), "{first:?}");
    let summary = String::from_utf8_lossy(&first.stdout);
    assert!(summary.contains("wrote 40 modules"), "{summary}");
    assert!(summary.contains("Shop.Workload.Entry.run/1"), "{summary}");
    assert!(out.join("mix.exs").is_file());
    assert!(out.join("lib/shop/application.ex").is_file());

    let refused = gen(&out, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));

    // --force replaces lib/: no module of the old project survives.
    let forced = gen(&out, &["--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert!(!out.join("lib/shop").exists());
    assert!(out.join("lib/bench_app/application.ex").is_file());
    let mix_exs = fs::read_to_string(out.join("mix.exs")).unwrap();
    assert!(mix_exs.contains("app: :bench_app"));
}

#[test]
fn gen_rejects_bad_options_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_elixir-dap-bench"))
        .args(["gen", "--modules", "3", "--out"])
        .arg(dir.path().join("p"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("between 30 and"));
}
