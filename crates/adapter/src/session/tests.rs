//! The dispatcher's unit tests.

use super::*;

/// Maps each advertised capability to the request it promises.
#[test]
fn advertised_capabilities_are_dispatched() {
    let advertised = serde_json::to_value(capabilities()).unwrap();
    let requests_for = |capability: &str| -> Vec<&str> {
        match capability {
            "supportsConfigurationDoneRequest" => vec!["configurationDone"],
            "supportsTerminateRequest" => vec!["terminate"],
            "supportTerminateDebuggee" => vec!["disconnect"],
            "supportsConditionalBreakpoints" | "supportsHitConditionalBreakpoints" | "supportsLogPoints" => {
                vec!["setBreakpoints"]
            }
            "supportsFunctionBreakpoints" => vec!["setFunctionBreakpoints"],
            "supportsEvaluateForHovers" => vec!["evaluate"],
            "supportsModulesRequest" => vec!["modules"],
            "supportsLoadedSourcesRequest" => vec!["loadedSources"],
            "supportsDelayedStackTraceLoading" => vec!["stackTrace"],
            "supportsReloadCode" => vec!["reloadCode"],
            other => panic!("capability {other} has no known request: add it to this test"),
        }
    };
    for (capability, value) in advertised.as_object().unwrap() {
        if value == &Value::Bool(true) {
            for command in requests_for(capability) {
                assert!(
                    SUPPORTED_COMMANDS.iter().any(|c| c.name() == command),
                    "{capability} advertised but {command} not dispatched"
                );
            }
        }
    }
}

#[tokio::test]
async fn unknown_commands_get_an_error_naming_them() {
    let (client, writer) = Client::new(tokio::io::sink());
    let writer = tokio::spawn(writer);
    let mut session = Session::new(
        client,
        SessionOptions {
            cwd: PathBuf::from("/"),
            cache_root: std::env::temp_dir(),
            keeper: beam::keeper::program(),
        },
    );
    let request = Request {
        seq: 1,
        command: "frobnicate".into(),
        arguments: Value::Null,
    };
    let result = session.dispatch(&request).await;
    assert_eq!(result, Err(RequestError::User("unknown request `frobnicate`".into())));
    for command in SUPPORTED_COMMANDS.map(Command::name) {
        let request = Request {
            seq: 2,
            command: command.into(),
            arguments: json!({"projectDir": "/nonexistent"}),
        };
        let result = session.dispatch(&request).await;
        assert_ne!(result, Err(RequestError::User(format!("unknown request `{command}`"))));
    }
    drop(session);
    writer.await.unwrap();
}

/// A `reloadCode` body fails the response when its report says
/// `"success": false`, whatever else it holds; any other body does not.
#[test]
fn a_reload_body_fails_the_response_only_when_its_report_failed() {
    let body = |value: Value| dap::Body::new(value).unwrap();
    assert!(reload_failed(&body(
        json!({"success": false, "message": "x", "reloaded": []})
    )));
    assert!(reload_failed(&body(
        json!({"reloaded": [{"module": "A"}], "timings": {"total": 1}, "success": false})
    )));
    assert!(!reload_failed(&body(json!({"success": true, "reloaded": []}))));
    assert!(!reload_failed(&body(json!({"reloaded": []}))));
    assert!(!reload_failed(&body(json!({"success": "false"}))));
    assert!(!reload_failed(&body(json!("text"))));
}
