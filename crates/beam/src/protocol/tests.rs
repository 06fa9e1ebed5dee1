//! The strict decoding: a missing key, an unknown key or a wrong type is an
//! error naming where and what; requests encode to the agent's terms.

use super::*;
use crate::term::{atom, binary, int, list, map, tuple};
use eetf::Term;

fn frame(entries: Vec<(&str, Term)>) -> Term {
    let mut all = vec![
        ("level", int(1)),
        ("module", atom("Elixir.Shop.Cart")),
        ("module_name", binary("Shop.Cart")),
        ("function", binary("add")),
        ("arity", int(2)),
        ("line", int(12)),
        ("name", binary("Shop.Cart.add/2")),
        ("source", binary("/p/lib/cart.ex")),
    ];
    all.retain(|(key, _)| !entries.iter().any(|(k, _)| k == key));
    all.extend(entries);
    map(all)
}

fn error_of<T: Decode + std::fmt::Debug>(term: &Term) -> String {
    T::decode(term).unwrap_err().to_string()
}

#[test]
fn a_well_formed_reply_decodes_into_its_fields() {
    let frames: Vec<Frame> = Decode::decode(&list(vec![frame(vec![])])).unwrap();
    assert_eq!(frames[0].module, "Elixir.Shop.Cart");
    assert_eq!((frames[0].arity, frames[0].line), (2, 12));
    assert_eq!(frames[0].source, "/p/lib/cart.ex");
}

#[test]
fn a_missing_key_is_named_with_what_it_holds() {
    let mut term = frame(vec![]);
    if let Term::Map(m) = &mut term {
        m.map.remove(&atom("line"));
    }
    assert_eq!(
        error_of::<Vec<Frame>>(&list(vec![frame(vec![]), term])),
        "at `[1]`: the key `line` (an integer) is missing"
    );
}

#[test]
fn an_unknown_key_is_an_error() {
    assert_eq!(
        error_of::<Frame>(&frame(vec![("lines", int(3))])),
        "unknown key `lines`"
    );
}

#[test]
fn a_wrong_type_names_the_key_the_expectation_and_the_value() {
    assert_eq!(
        error_of::<Frame>(&frame(vec![("line", binary("12"))])),
        "at `line`: expected an integer, found <<\"12\">>"
    );
    assert_eq!(
        error_of::<Frame>(&frame(vec![("module", binary("Shop.Cart"))])),
        "at `module`: expected an atom, found <<\"Shop.Cart\">>"
    );
    let hold = map(vec![
        ("processes", int(0)),
        ("ms", int(0)),
        ("expired", atom("maybe")),
        ("off", atom("false")),
    ]);
    assert_eq!(error_of::<Hold>(&hold), "at `expired`: expected a boolean, found maybe");
    assert_eq!(
        error_of::<Vec<i64>>(&atom("ok")),
        "expected a list of integers, found ok"
    );
    assert_eq!(error_of::<Frame>(&atom("ok")), "expected a map (Frame), found ok");
}

#[test]
fn nested_errors_give_the_whole_path() {
    let reply = map(vec![
        ("restored", list(vec![])),
        ("removed", list(vec![atom("Elixir.A")])),
        (
            "failures",
            list(vec![map(vec![("module", atom("Elixir.B")), ("reason", int(1))])]),
        ),
    ]);
    assert_eq!(
        error_of::<RolledBack>(&reply),
        "at `failures[0].reason`: expected a map (ModuleReason: a `kind` and its parameters), found 1"
    );
}

#[test]
fn optional_keys_may_be_absent_but_not_of_another_type() {
    let stop = |extra: Vec<(&str, Term)>| {
        let mut entries = vec![
            ("pid", Term::Pid(Pid::new("n@h", 80, 0, 0))),
            ("name", binary("#PID<0.80.0>")),
            ("module", atom("Elixir.Shop.Cart")),
            ("line", int(3)),
            ("breakpoints", list(vec![int(1)])),
            ("kind", binary("breakpoint")),
        ];
        entries.extend(extra);
        map(entries)
    };
    let plain = Stop::decode(&stop(vec![])).unwrap();
    assert_eq!((plain.evaluation, plain.function), (None, None));
    let evaluation = Stop::decode(&stop(vec![("evaluation", binary("f()"))])).unwrap();
    assert_eq!(evaluation.evaluation.as_deref(), Some("f()"));
    assert_eq!(
        error_of::<Stop>(&stop(vec![("evaluation", atom("nil"))])),
        "at `evaluation`: expected a binary, found nil"
    );
}

#[test]
fn small_integer_lists_arrive_as_byte_strings() {
    // What term_to_binary([5, 9, 10]) produces: STRING_EXT.
    let term = Term::decode(&[131u8, 107, 0, 3, 5, 9, 10][..]).unwrap();
    assert_eq!(Vec::<i64>::decode(&term).unwrap(), vec![5, 9, 10]);
    assert_eq!(Vec::<i64>::decode(&list(vec![])).unwrap(), Vec::<i64>::new());
}

#[test]
fn replies_of_two_shapes_are_told_apart() {
    assert_eq!(ExpressionCheck::decode(&atom("ok")).unwrap(), ExpressionCheck::Valid);
    let invalid = map(vec![("field", atom("condition")), ("message", binary("syntax error"))]);
    assert!(
        matches!(ExpressionCheck::decode(&invalid).unwrap(), ExpressionCheck::Invalid(i) if i.field == "condition")
    );
    assert_eq!(Detached::decode(&atom("ok")).unwrap(), Detached::Launched);
    assert!(Detached::decode(&atom("error")).is_err());
    let refusal = map(vec![("kind", atom("cookie_refused")), ("node", atom("app@host"))]);
    let failed = map(vec![("attach_error", refusal)]);
    assert!(
        matches!(Hello::decode(&failed).unwrap(), Hello::AttachFailed(f) if f.attach_error.attribute() == "cookie")
    );
    let ready = map(vec![
        ("otp_release", binary("27")),
        ("elixir_version", binary("1.18.3")),
        ("os_pid", int(42)),
    ]);
    assert!(
        matches!(Hello::decode(&ready).unwrap(), Hello::Ready(r) if r.node.is_none() && r.os_pid == 42 && r.mode.is_none())
    );
    // An attach helper's hello names the node's mode; a mode that is no atom is refused.
    let attached = |mode| {
        map(vec![
            ("otp_release", binary("27")),
            ("elixir_version", binary("1.18.3")),
            ("os_pid", int(42)),
            ("node", binary("helper@host")),
            ("mode", mode),
        ])
    };
    assert!(
        matches!(Hello::decode(&attached(atom("release"))).unwrap(), Hello::Ready(r) if r.mode.as_ref().is_some_and(|m| *m == "release"))
    );
    assert!(Hello::decode(&attached(binary("release"))).is_err());
}

#[test]
fn events_are_decoded_by_name_and_unknown_names_refused() {
    let data = map(vec![("status", int(2)), ("no_halt", atom("false"))]);
    assert_eq!(
        AgentEvent::decode("task_finished", &data).unwrap(),
        AgentEvent::TaskFinished(TaskFinished {
            status: 2,
            no_halt: false
        })
    );
    assert!(AgentEvent::decode("task_done", &data)
        .unwrap_err()
        .to_string()
        .starts_with("expected an event name"));
    let log = map(vec![
        ("text", binary("x = 1")),
        ("module", atom("Elixir.A")),
        ("line", int(3)),
        ("level", atom("info")),
    ]);
    assert_eq!(
        AgentEvent::decode("log", &log).unwrap_err().to_string(),
        "unknown key `level`"
    );
}

#[test]
fn requests_encode_to_the_terms_the_agent_matches() {
    let pid = Pid::new("n@h", 80, 0, 0);
    assert_eq!(Request::ListModules.term(), atom("list_modules"));
    assert_eq!(
        Request::FunctionLines {
            module: "Elixir.A".into(),
            function: "f".into(),
            arity: None
        }
        .term(),
        tuple(vec![
            atom("function_lines"),
            binary("Elixir.A"),
            binary("f"),
            atom("any")
        ])
    );
    let evaluate = Request::Evaluate {
        frame: None,
        expression: "1".into(),
        timeout_ms: 5,
        context: "repl".into(),
    };
    assert_eq!(
        Request::Dbg(Box::new(evaluate.clone())).term(),
        tuple(vec![atom("dbg"), evaluate.term()])
    );
    assert_eq!(
        evaluate.term(),
        tuple(vec![
            atom("evaluate"),
            atom("nil"),
            atom("nil"),
            binary("1"),
            int(5),
            binary("repl")
        ])
    );
    assert_eq!(
        Request::Command {
            pid: pid.clone(),
            command: Command::StepIn
        }
        .term(),
        tuple(vec![atom("command"), Term::Pid(pid), atom("step_in")])
    );
    assert_eq!(
        Request::LoadProject {
            task: None,
            break_on_dbg: true
        }
        .term(),
        tuple(vec![
            atom("load_project"),
            map(vec![("task", atom("nil")), ("break_on_dbg", atom("true"))])
        ])
    );
    assert_eq!(
        Request::Dbg(Box::new(Request::Stack {
            pid: Pid::new("n@h", 1, 0, 0)
        }))
        .name(),
        "dbg stack"
    );
}

#[test]
fn a_failure_is_a_kind_and_its_parameters_decoded_strictly() {
    let diagnostic = map(vec![
        ("file", binary("lib/a.ex")),
        ("line", int(3)),
        ("column", int(0)),
        ("severity", atom("error")),
        ("message", binary("undefined function f/0")),
    ]);
    let failure = map(vec![
        ("kind", atom("compile_failed")),
        ("diagnostics", list(vec![diagnostic])),
    ]);
    let decoded = Failure::decode(&failure).unwrap();
    assert_eq!(decoded.kind(), "compile_failed");
    assert!(matches!(&decoded, Failure::CompileFailed { diagnostics } if diagnostics[0].line == 3));
    // A parameter missing, one the kind does not take, a kind nobody knows.
    assert_eq!(
        error_of::<Failure>(&map(vec![("kind", atom("exception"))])),
        "the key `exception` (a binary) is missing"
    );
    assert_eq!(
        error_of::<Failure>(&map(vec![("kind", atom("stale_handle")), ("message", binary("gone"))])),
        "unknown key `message`"
    );
    let unknown = error_of::<Failure>(&map(vec![("kind", atom("a_kind_added_later"))]));
    assert!(
        unknown.starts_with("at `kind`: expected a kind of Failure (exception, unknown_request, ")
            && unknown.ends_with("found a_kind_added_later"),
        "{unknown}"
    );
    assert_eq!(
        error_of::<Failure>(&map(vec![("message", binary("no kind"))])),
        "the key `kind` (an atom) is missing"
    );
}

#[test]
fn lazy_interpretation_requests_encode_and_unknown_names_become_skipped() {
    assert_eq!(
        Request::InterpretPending {
            modules: vec!["Elixir.A".into()],
            priority: Priority::Low,
        }
        .term(),
        tuple(vec![
            atom("interpret_pending"),
            list(vec![binary("Elixir.A")]),
            atom("low")
        ])
    );
    assert_eq!(
        Request::StepTargets {
            module: "Elixir.A".into(),
            line: 7,
        }
        .term(),
        tuple(vec![atom("step_targets"), binary("Elixir.A"), int(7)])
    );
    let reply = map(vec![
        ("interpreted", list(vec![atom("Elixir.A")])),
        ("busy", list(vec![binary("Elixir.B")])),
        ("skipped", list(vec![])),
        ("unknown", list(vec![binary("Elixir.C.D")])),
    ]);
    let interpreted = PendingInterpreted::decode(&reply).unwrap().into_interpreted();
    assert_eq!(interpreted.interpreted, vec![Atom("Elixir.A".into())]);
    assert!(
        matches!(&interpreted.skipped[..], [s] if s.module == "Elixir.C.D" && s.name == "C.D"
            && s.reason == SkipReason::NeverLoaded {}),
        "{interpreted:?}"
    );
    let missing = error_of::<StepTargets>(&map(vec![("modules", list(vec![]))]));
    assert!(
        missing.contains("`dynamic`") && missing.contains("missing"),
        "{missing}"
    );
}
