//! The words of every reason kind, decoded from the terms the agent sends:
//! one table per type, and each table covers every kind of its type.

use super::*;
use crate::term::{atom, binary, int, list, map};
use eetf::Term;
use std::collections::BTreeSet;

/// `#{kind => Kind, ...Params}`.
fn reason(kind: &str, mut params: Vec<(&str, Term)>) -> Term {
    params.push(("kind", atom(kind)));
    map(params)
}

fn pid() -> Term {
    Term::Pid(Pid::new("app@host", 80, 0, 0))
}

/// Decodes each term as `T`, checks its words, and that the table names
/// every kind of `T` (`kinds`) once.
fn check<T: Decode + std::fmt::Display + std::fmt::Debug>(
    table: Vec<(Term, &str)>,
    kinds: &[&str],
    kind_of: impl Fn(&T) -> &'static str,
) {
    let mut seen = BTreeSet::new();
    for (term, words) in table {
        let reason = T::decode(&term).unwrap_or_else(|e| panic!("{term}: {e}"));
        assert_eq!(reason.to_string(), words, "{reason:?}");
        assert!(seen.insert(kind_of(&reason)), "{} twice in the table", kind_of(&reason));
    }
    let all: BTreeSet<&str> = kinds.iter().copied().collect();
    assert_eq!(seen, all, "kinds without words in the table");
}

#[test]
fn every_failure_kind_is_worded() {
    let diagnostic = |severity: &str, file: &str, message: &str| {
        map(vec![
            ("file", binary(file)),
            ("line", int(4)),
            ("column", int(0)),
            ("severity", atom(severity)),
            ("message", binary(message)),
        ])
    };
    let compile_failed = |diagnostics| reason("compile_failed", vec![("diagnostics", list(diagnostics))]);
    check::<Failure>(
        vec![
            (
                reason(
                    "exception",
                    vec![("exception", binary("** (KeyError) key :a not found"))],
                ),
                "** (KeyError) key :a not found",
            ),
            (
                reason("unknown_request", vec![("request", binary("{no,such}"))]),
                "unknown request {no,such}",
            ),
            (
                compile_failed(vec![
                    diagnostic("warning", "lib/w.ex", "unused variable"),
                    diagnostic("error", "lib/a.ex", "undefined variable \"x\"\n  more"),
                ]),
                "compilation failed: lib/a.ex:4: undefined variable \"x\"",
            ),
            (
                reason("debugger_cannot_start", vec![("error", binary("{not_started,kernel}"))]),
                "the Erlang debugger application cannot start: {not_started,kernel} (install erlang-debugger)",
            ),
            (
                reason("debugger_not_installed", vec![]),
                "the Erlang debugger application is not installed (install erlang-debugger)",
            ),
            (
                reason("helper_has_no_debugger", vec![]),
                "the node has no `debugger` application (OTP's interpreter) and the helper's OTP has no debugger \
                 application either (install erlang-debugger where the `elixirPath` attribute's `elixir` runs)",
            ),
            (
                reason("debugger_not_shipped", vec![("error", binary("{badrpc,timeout}"))]),
                "the node has no `debugger` application (OTP's interpreter) and the helper node did not send it: \
                 {badrpc,timeout}",
            ),
            (
                reason("interpret_timeout", vec![("ms", int(600_000))]),
                "interpreting the modules took more than 10 min",
            ),
            (
                reason("prepare_timeout", vec![("ms", int(600_000))]),
                "preparing modules for the interpreter took more than 10 min",
            ),
            (
                reason("no_beam", vec![("module", atom("Elixir.Shop.Cart"))]),
                "no beam file for Shop.Cart",
            ),
            (
                reason("no_debug_info", vec![("module", atom("lists"))]),
                ":lists has no debug info",
            ),
            (
                reason("debug_info_unusable", vec![("module", atom("Elixir.Shop.Cart"))]),
                "Shop.Cart has no usable debug info",
            ),
            (
                reason(
                    "code_unavailable",
                    vec![("reason", reason("no_source_recorded", vec![]))],
                ),
                "no source recorded for the module",
            ),
            (
                reason(
                    "unknown_name",
                    vec![("what", atom("module")), ("name", binary("Elixir.Nope"))],
                ),
                "no module named Elixir.Nope is loaded",
            ),
            (reason("exited", vec![("pid", pid())]), "#PID<0.80.0> has exited"),
            (
                reason("not_interpreted", vec![("pid", pid())]),
                "#PID<0.80.0> is not a debugged process",
            ),
            (
                reason("not_paused", vec![("pid", pid()), ("status", atom("running"))]),
                "#PID<0.80.0> is running, not paused",
            ),
            (
                reason("not_in_dbg", vec![("pid", pid())]),
                "#PID<0.80.0> is not paused in a dbg call",
            ),
            (
                reason("no_answer", vec![("pid", pid()), ("ms", int(5000))]),
                "#PID<0.80.0> did not answer within 5000 ms",
            ),
            (
                reason(
                    "evaluation_failed",
                    vec![("error", binary("** (ArithmeticError) bad argument"))],
                ),
                "** (ArithmeticError) bad argument",
            ),
            (
                reason("evaluation_timeout", vec![("ms", int(1000))]),
                "the expression did not finish within 1000 ms",
            ),
            (
                reason("stale_handle", vec![]),
                "the value is no longer available (the process has resumed)",
            ),
            (
                reason("native_debugger_unavailable", vec![]),
                "the native debugger (erl_debugger) is not available in this VM: it needs OTP 28 or later and \
                 the VM started with +D",
            ),
            (
                reason("native_debugger_taken", vec![("holder", binary("<0.90.0>"))]),
                "another debugger (<0.90.0>) is registered with erl_debugger on this node",
            ),
            (
                reason("native_session_ended", vec![("error", binary("killed"))]),
                "the native debugger's session ended: killed",
            ),
            (
                reason(
                    "not_debuggable",
                    vec![
                        ("module", atom("Elixir.Shop.Cart")),
                        ("reason", reason("no_debug_lines", vec![])),
                    ],
                ),
                "Shop.Cart cannot be debugged: it has no breakable line: it was compiled without line debug info \
                 (the Erlang compiler's beam_debug_info)",
            ),
            (
                reason(
                    "function_not_breakable",
                    vec![
                        ("module", atom("Elixir.Shop.Endpoint")),
                        ("function", binary("call")),
                        ("arity", int(2)),
                        ("injected_from", binary("/deps/plug/lib/plug/debugger.ex")),
                    ],
                ),
                "Shop.Endpoint.call/2 has no line the native debugger can stop at: a macro injected its code from \
                 /deps/plug/lib/plug/debugger.ex, and the Erlang compiler gives code of another file no debug_line; \
                 set the breakpoint in code it calls, or debug with debugBackend \"interpreter\"",
            ),
            (
                reason(
                    "breakpoint_refused",
                    vec![
                        ("module", atom("Elixir.Shop.Cart")),
                        ("line", int(12)),
                        ("error", binary("{unsupported,12}")),
                    ],
                ),
                "erl_debugger refused a breakpoint on Shop.Cart line 12: {unsupported,12}",
            ),
            (
                reason("no_frame", vec![("pid", pid()), ("level", int(3))]),
                "#PID<0.80.0> has no frame 3",
            ),
        ],
        Failure::KINDS,
        Failure::kind,
    );
    // No error among the diagnostics: no position to name.
    let warnings_only = Failure::decode(&compile_failed(vec![diagnostic("warning", "lib/w.ex", "unused")])).unwrap();
    assert_eq!(warnings_only.to_string(), "compilation failed");
}

#[test]
fn every_skip_reason_is_worded() {
    let error = |kind: &str| reason(kind, vec![("error", binary("{error,badarg}"))]);
    let file_error = |kind: &str| {
        reason(
            kind,
            vec![("file", binary("/p/_build/a.beam")), ("error", binary("enoent"))],
        )
    };
    check::<SkipReason>(
        vec![
            (reason("interpreter_refused", vec![]), "the interpreter refused it"),
            // The test of an opaque module waits for `no_debug_info`.
            (
                reason("no_debug_info", vec![]),
                "no_debug_info (its beam file holds no debug info)",
            ),
            (reason("no_source", vec![]), "its source file was not found"),
            (reason("no_beam", vec![]), "no beam file was found for it"),
            (
                reason("refused_application", vec![("app", atom("stdlib"))]),
                "the interpreter does not interpret modules of OTP's `stdlib` application",
            ),
            (file_error("unreadable"), "cannot read /p/_build/a.beam: enoent"),
            (error("load_failed"), "its code did not load: {error,badarg}"),
            (error("failed"), "the interpreter failed on it: {error,badarg}"),
            (
                reason("old_native_code_running", vec![]),
                "a process still runs the previous native version; the new code runs natively",
            ),
            (reason("no_object_code", vec![]), "no object code found for the module"),
            (
                reason("interpreter_not_running", vec![]),
                "the interpreter is not running",
            ),
            (
                reason("no_source_recorded", vec![]),
                "no source recorded for the module",
            ),
            (
                reason("build_mismatch", vec![("module", atom("Elixir.Shop"))]),
                "the node runs a build of Shop that `projectDir`'s _build does not hold (no beam there has its \
                 MD5): build the project as the release was built (`MIX_ENV=prod mix compile`) from the same sources",
            ),
            (
                file_error("unreadable_on_adapter_side"),
                "cannot read /p/_build/a.beam on the adapter's side: enoent",
            ),
            (reason("never_loaded", vec![]), "no module of that name was ever loaded"),
            (
                reason("no_debug_lines", vec![]),
                "it has no breakable line: it was compiled without line debug info (the Erlang compiler's \
                 beam_debug_info)",
            ),
        ],
        SkipReason::KINDS,
        SkipReason::kind,
    );
}

#[test]
fn every_process_reason_is_worded() {
    check::<ProcessReason>(
        vec![
            (
                reason("killed_on_old_code", vec![]),
                "killed: it was running old code of the module",
            ),
            (
                reason("runs_old_code", vec![]),
                "runs an old version of the module; loading a new one would kill it",
            ),
            (
                reason("inside_module", vec![]),
                "its interpreted calls are inside the module: they finish on the version they started in, and the \
                 process runs the new one once it is out of the module (a loop that never leaves it stays on the \
                 old version)",
            ),
            (
                reason("busy_in_interpreted_code", vec![]),
                "was inside interpreted code when the batch switched (it did not wait between calls for 100 ms): \
                 the call it was in may mix the batch's old and new modules",
            ),
            (
                reason("runs_deleted_module", vec![]),
                "runs the module of the deleted file",
            ),
            (
                reason("paused_by_debugger", vec![]),
                "paused by the debugger: its state was not upgraded (code_change/3 not called)",
            ),
            (
                reason("not_suspended", vec![("error", binary("{timeout,{sys,suspend,[]}}"))]),
                "could not be suspended: {timeout,{sys,suspend,[]}}",
            ),
            (
                reason("code_change_failed", vec![("error", binary("** (RuntimeError) no"))]),
                "code_change/3 failed: ** (RuntimeError) no",
            ),
        ],
        ProcessReason::KINDS,
        ProcessReason::kind,
    );
}

#[test]
fn every_module_reason_is_worded() {
    check::<ModuleReason>(
        vec![
            (
                reason("not_loaded", vec![]),
                "the new code did not load (the old version still runs)",
            ),
            (
                reason("not_purged", vec![]),
                "the new code did not load: a process still runs the old version",
            ),
            (
                reason("on_load_failed", vec![]),
                "the new code did not load: its on_load function failed",
            ),
            (
                reason("load_failed", vec![("error", binary("badfile"))]),
                "the new code did not load: badfile",
            ),
            (
                reason("old_code_in_use", vec![]),
                "a process still runs the code to replace",
            ),
            (
                reason("not_reinterpreted", vec![]),
                "could not interpret the old code again",
            ),
            (
                reason("restore_failed", vec![("error", binary("badfile"))]),
                "the old code did not load again: badfile",
            ),
            (
                reason("new_code_in_use", vec![]),
                "a process still runs the code to remove",
            ),
        ],
        ModuleReason::KINDS,
        ModuleReason::kind,
    );
}

#[test]
fn every_attach_refusal_is_worded_and_blames_its_attribute() {
    let node = || ("node", atom("app@host"));
    let table = vec![
        (
            reason("already_attached", vec![node()]),
            "remoteNode",
            "another elixir-dap session is attached to app@host: detach it first",
        ),
        (
            reason("agent_did_not_start", vec![node(), ("ms", int(3000))]),
            "remoteNode",
            "the agent did not start on app@host within 3000 ms",
        ),
        (
            reason("no_distribution", vec![("error", binary("{already_started,<0.9.0>}"))]),
            "remoteNode",
            "could not start Erlang distribution here ({already_started,<0.9.0>}): is epmd running on this \
             machine? The node attached to starts one when it starts distributed; elixir-dap does not start epmd",
        ),
        (
            reason("no_answer", vec![node(), ("ms", int(3000))]),
            "remoteNode",
            "app@host did not answer within 3000 ms",
        ),
        (
            reason("cookie_refused", vec![node()]),
            "cookie",
            "app@host refused the connection: its cookie is not the one given (the `cookie` attribute, else \
             RELEASE_COOKIE, else ~/.erlang.cookie)",
        ),
        (
            reason(
                "not_registered",
                vec![
                    ("name", binary("nosuchnode")),
                    ("host", binary("host")),
                    ("registered", list(vec![binary("app"), binary("other")])),
                ],
            ),
            "remoteNode",
            "no node named nosuchnode runs on host (nodes registered there: app, other)",
        ),
        (
            reason(
                "epmd_unreachable",
                vec![node(), ("host", binary("host")), ("error", binary("econnrefused"))],
            ),
            "remoteNode",
            "cannot reach app@host: epmd on host does not answer (econnrefused)",
        ),
        (
            reason("no_elixir", vec![node(), ("otp", binary("27"))]),
            "remoteNode",
            "app@host runs no Elixir (OTP 27)",
        ),
        (
            reason(
                "version_mismatch",
                vec![
                    node(),
                    ("elixir", binary("1.17.3")),
                    ("otp", binary("27")),
                    ("own_elixir", binary("1.18.4")),
                    ("own_otp", binary("27")),
                ],
            ),
            "elixirPath",
            "app@host runs Elixir 1.17.3 on OTP 27, the adapter's `elixir` (the `elixirPath` attribute, else \
             PATH) Elixir 1.18.4 on OTP 27: attach needs the same OTP release and Elixir major.minor",
        ),
        (
            reason(
                "remote_call_failed",
                vec![
                    node(),
                    ("module", atom("erlang")),
                    ("function", atom("whereis")),
                    ("error", binary("timeout")),
                ],
            ),
            "remoteNode",
            "app@host: erlang:whereis failed: timeout",
        ),
        (
            reason(
                "agent_not_loaded",
                vec![
                    node(),
                    ("module", atom("elixir_dap_util")),
                    ("error", binary("badfile")),
                ],
            ),
            "remoteNode",
            "could not load elixir_dap_util into app@host: badfile",
        ),
        (
            reason(
                "runs_no_project_app",
                vec![
                    node(),
                    ("dir", binary("/p")),
                    ("apps", list(vec![atom("shop"), atom("web")])),
                ],
            ),
            "projectDir",
            "app@host runs none of the applications of the project in /p (shop, web): is `projectDir` the \
             project the release was built from?",
        ),
        (
            reason(
                "project_unreadable",
                vec![("dir", binary("/p")), ("error", binary("** (SyntaxError) mix.exs:1"))],
            ),
            "projectDir",
            "cannot read the Mix project in /p: ** (SyntaxError) mix.exs:1",
        ),
        (
            reason("no_project_app", vec![("dir", binary("/p"))]),
            "projectDir",
            "the mix.exs in /p names no `app` in its project config",
        ),
        (
            reason("native_unavailable", vec![node(), ("otp", binary("27"))]),
            "debugBackend",
            "\"native\" needs app@host's emulator to run OTP's native debugger (erl_debugger: OTP 28 or later, \
             the node started with +D, e.g. `elixir --erl \"+D\" ...`); app@host runs OTP 27 without it: use \
             \"interpreter\" or \"auto\"",
        ),
        (
            reason("peer_not_connected", vec![node(), ("peer", atom("b@host"))]),
            "remoteNode",
            "app@host is not connected to b@host: the nodes of `remoteNode` must form a cluster (connected over \
             distribution: `Node.connect/1`, libcluster...), as a reload reaches the others from the first",
        ),
    ];
    for (term, attribute, _) in &table {
        let refusal = AttachRefusal::decode(term).unwrap();
        assert_eq!(refusal.attribute(), *attribute, "{refusal:?}");
    }
    check::<AttachRefusal>(
        table.into_iter().map(|(term, _, words)| (term, words)).collect(),
        AttachRefusal::KINDS,
        AttachRefusal::kind,
    );
}

#[test]
fn module_names_are_shown_as_elixir_shows_them() {
    for (atom, shown) in [
        ("Elixir.Shop.Cart", "Shop.Cart"),
        ("lists", ":lists"),
        ("elixir_dap_cond_a_1@x", ":elixir_dap_cond_a_1@x"),
        ("my mod", ":\"my mod\""),
        ("Upper", ":Upper"),
    ] {
        assert_eq!(Atom(atom.into()).module_name(), shown);
    }
}

#[test]
fn a_function_without_debug_lines_that_no_macro_injected_is_generated_code() {
    let term = reason(
        "function_not_breakable",
        vec![
            ("module", atom("Elixir.Shop.Cart")),
            ("function", binary("__struct__")),
            ("arity", int(0)),
            ("injected_from", binary("")),
        ],
    );
    assert_eq!(
        Failure::decode(&term).unwrap().to_string(),
        "Shop.Cart.__struct__/0 has no line the native debugger can stop at (code the compiler generated)"
    );
}
