//! The README's demo (`scripts/demo.py` with the built adapter) on the BEAM
//! that runs the tests: it stops at a breakpoint, reloads an edit and shows
//! the new code running, and fails, saying why, when the reload fails. It
//! runs on the default backend, `auto`: the interpreter before OTP 28, the
//! native backend after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use support::*;

fn demo(extra: &[&str]) -> (bool, String) {
    let output = Command::new("python3")
        .arg(repo_root().join("scripts/demo.py"))
        .args(["--adapter", adapter_binary(), "--seconds", "0"])
        .args(extra)
        .output()
        .expect("run python3 scripts/demo.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_demo_reloads_an_edit_and_the_new_code_runs() {
    let (success, text) = demo(&[]);
    assert!(success, "the demo failed:\n{text}");
    assert!(text.contains("demo: stopped at the breakpoint"), "{text}");
    assert!(text.contains("demo: reloaded Shop.Pricing"), "{text}");
    assert!(text.contains("Shop.Pricing.discount(1_500) is now 750"), "{text}");
    // The demo names no `debugBackend`: `auto` runs native on OTP 28+, the
    // interpreter before, and the console (which the demo prints) says so.
    let backend = if otp_release() >= 28 { "native" } else { "interpreter" };
    assert!(
        text.contains(&format!(
            "elixir-dap: debugger backend: {backend} (`debugBackend` \"auto\""
        )),
        "{text}"
    );
}

#[test]
fn the_demo_fails_loudly_when_the_reload_fails() {
    let (success, text) = demo(&["--broken-edit"]);
    assert!(!success, "the demo passed with an edit that does not compile:\n{text}");
    assert!(text.contains("demo: the reload failed"), "{text}");
    assert!(text.contains("pricing.ex"), "the failure names the file:\n{text}");
}
