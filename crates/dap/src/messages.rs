//! Request, response and event envelopes.
//!
//! Incoming bodies are parsed leniently into [`Incoming`] so that every
//! malformed message can still be answered (when a `seq` can be read) instead of
//! ending the session. Arguments are parsed per command into typed structs with
//! [`parse_arguments`], whose errors name the offending field.

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A well-formed request from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub seq: i64,
    pub command: String,
    /// `Value::Null` when the request had no arguments.
    pub arguments: Value,
}

/// What one frame body turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request(Request),
    /// Not a usable request. With a `seq`, it gets an error response.
    Malformed {
        seq: Option<i64>,
        command: Option<String>,
        reason: String,
    },
}

pub fn parse_incoming(body: &[u8]) -> Incoming {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Malformed {
                seq: None,
                command: None,
                reason: format!("invalid JSON: {e}"),
            }
        }
    };
    let Value::Object(mut object) = value else {
        return Incoming::Malformed {
            seq: None,
            command: None,
            reason: format!("a message must be a JSON object, got {}", json_kind(&value)),
        };
    };
    let seq = object.get("seq").and_then(Value::as_i64);
    let command = object.get("command").and_then(Value::as_str).map(str::to_owned);
    let malformed = |reason: String| Incoming::Malformed {
        seq,
        command: command.clone(),
        reason,
    };
    let Some(seq) = seq else {
        return malformed("field `seq`: expected an integer".into());
    };
    match object.get("type").and_then(Value::as_str) {
        Some("request") => {}
        Some(other) => return malformed(format!("field `type`: expected \"request\", got {other:?}")),
        None => return malformed("field `type`: expected the string \"request\"".into()),
    }
    let Some(command) = command.clone() else {
        return malformed("field `command`: expected a string".into());
    };
    let arguments = object.remove("arguments").unwrap_or(Value::Null);
    Incoming::Request(Request {
        seq,
        command,
        arguments,
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Invalid arguments: the message names the field and what was expected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ArgumentError {
    pub field: Option<String>,
    pub message: String,
}

/// Parses a request's arguments into `T`. Missing arguments count as `{}` so
/// that structs whose fields all have defaults accept them, and so does an
/// empty array wherever an object is expected, at the top or in a field:
/// clients written in Lua (nvim-dap) encode an empty table as `[]`.
///
/// Error messages speak JSON (`an object`, `an array`), never the names of
/// the Rust types behind the arguments.
pub fn parse_arguments<T: DeserializeOwned>(arguments: &Value) -> Result<T, ArgumentError> {
    let mut value = match arguments {
        Value::Null => Value::Object(Map::new()),
        Value::Array(items) if items.is_empty() => Value::Object(Map::new()),
        Value::Object(_) => arguments.clone(),
        other => {
            return Err(ArgumentError {
                field: None,
                message: format!("invalid arguments: expected an object, got {}", json_kind(other)),
            })
        }
    };
    // Each retry turns one more empty array into an object; the bound only
    // guards against a deserializer that keeps asking for the same path.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(parsed) => return Ok(parsed),
            Err(error) => {
                let path = error.path().to_string();
                if wants_object(&error.inner().to_string()) {
                    if let Some(slot) = value_at(&mut value, &path) {
                        if slot.as_array().is_some_and(Vec::is_empty) {
                            *slot = Value::Object(Map::new());
                            continue;
                        }
                    }
                }
                return Err(argument_error(path, &error.into_inner().to_string()));
            }
        }
    }
    Err(ArgumentError {
        field: None,
        message: "invalid arguments: too many empty arrays".into(),
    })
}

fn argument_error(path: String, serde_message: &str) -> ArgumentError {
    let inner = in_json_terms(serde_message);
    if path == "." || path.is_empty() {
        ArgumentError {
            field: None,
            message: format!("invalid arguments: {inner}"),
        }
    } else {
        ArgumentError {
            message: format!("`{path}`: {inner}"),
            field: Some(path),
        }
    }
}

/// Whether serde's message says an object (a map or a struct) was expected
/// where an array was found.
fn wants_object(message: &str) -> bool {
    (message.starts_with("invalid type: sequence") || message.starts_with("invalid length"))
        && (message.contains("expected a map") || message.contains("expected struct"))
}

/// The value at a `serde_path_to_error` path (`a.b[2].c`), if it exists.
fn value_at<'v>(value: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    if path == "." || path.is_empty() {
        return Some(value);
    }
    let mut current = value;
    for segment in path.split('.') {
        let (key, indices) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            current = current.as_object_mut()?.get_mut(key)?;
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let index: usize = index.trim_end_matches(']').parse().ok()?;
            current = current.as_array_mut()?.get_mut(index)?;
        }
    }
    Some(current)
}

/// Rewrites serde's vocabulary (Rust type names, `sequence`, `map`) into
/// JSON's, so that no message names an internal type.
fn in_json_terms(message: &str) -> String {
    let mut out = message
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: map", "invalid type: object")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected an object");
    // `expected struct Name with N elements`, `expected struct Name`,
    // `expected enum Name`, `expected tuple struct Name`.
    for (marker, replacement) in [
        ("expected tuple struct ", "expected an array"),
        ("expected struct ", "expected an object"),
        ("expected enum ", "expected one of the documented values"),
    ] {
        while let Some(at) = out.find(marker) {
            let rest = &out[at + marker.len()..];
            let name_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let mut end = at + marker.len() + name_end;
            if out[end..].starts_with(" with ") {
                let after = &out[end + " with ".len()..];
                if let Some(elements) = after.find(" element") {
                    let tail = &after[elements + " element".len()..];
                    let plural = usize::from(tail.starts_with('s'));
                    end += " with ".len() + elements + " element".len() + plural;
                }
            }
            out.replace_range(at..end, replacement);
        }
    }
    // `invalid length 2, expected an object`: the value was an array.
    if let Some(rest) = out.strip_prefix("invalid length ") {
        if let Some((_, expected)) = rest.split_once(", ") {
            if expected == "expected an object" {
                return "invalid type: array, expected an object".into();
            }
        }
    }
    out
}

/// The body of an outgoing message, as the JSON text it is sent as: made
/// once, when the message is, so a message waiting in the writer's queue
/// holds its text rather than a tree of [`Value`]s. A hub edit's
/// `codeReloaded` report names every module of the project (about 0.5 MB of
/// text for 2 000 modules, several times that as a `Value`); each module of
/// it gets a `module` event too.
#[derive(Debug, Clone)]
pub struct Body(Box<RawValue>);

impl Body {
    /// `body` as JSON; `None` when it is `null` (no body) or cannot be
    /// written as JSON (a map with non-string keys).
    pub fn new(body: impl Serialize) -> Option<Body> {
        let text = serde_json::value::to_raw_value(&body).ok()?;
        (text.get() != "null").then_some(Body(text))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The body parsed back (made by [`Body::new`], it always parses).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// Changes the body through its [`Value`]: parsed, changed by `change`,
    /// written again. For the few messages a client's line base rewrites.
    pub fn edit(&mut self, change: impl FnOnce(&mut Value)) {
        let mut value = self.to_value();
        change(&mut value);
        if let Some(edited) = Body::new(&value) {
            *self = edited;
        }
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Equal when the JSON is, whatever its spacing or key order.
impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

/// A response to one request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    pub request_seq: i64,
    pub success: bool,
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

impl Response {
    /// A successful response; `body` as [`Body::new`] made it (`None`: no body).
    pub fn success(request_seq: i64, command: &str, body: Option<Body>) -> Self {
        Response {
            request_seq,
            success: true,
            command: command.to_owned(),
            message: None,
            body,
        }
    }

    /// An error response. The text goes both in `message` and in the
    /// structured `body.error` (DAP's `Message`: `id` identifies the kind of
    /// error, `showUser` whether clients show it to the user).
    pub fn error(request_seq: i64, command: &str, id: i64, text: &str, show_user: bool) -> Self {
        Response {
            request_seq,
            success: false,
            command: command.to_owned(),
            message: Some(text.to_owned()),
            body: Body::new(serde_json::json!({
                "error": { "id": id, "format": text, "showUser": show_user }
            })),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

impl Event {
    /// `body` is written as JSON now (see [`Body`]); `null` means none.
    pub fn new(event: &str, body: impl Serialize) -> Self {
        Event {
            event: event.to_owned(),
            body: Body::new(body),
        }
    }
}

/// A message to the client; the writer assigns its `seq`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outgoing {
    Response(Response),
    Event(Event),
}

impl Outgoing {
    /// The JSON body with `seq` set.
    pub fn to_json(&self, seq: i64) -> Vec<u8> {
        #[derive(Serialize)]
        struct WithSeq<'a> {
            seq: i64,
            #[serde(flatten)]
            message: &'a Outgoing,
        }
        // Serialising these plain structs cannot fail; fall back to an empty
        // object rather than panicking if it ever did.
        serde_json::to_vec(&WithSeq { seq, message: self }).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn parses_a_request() {
        let got = parse_incoming(br#"{"seq":3,"type":"request","command":"launch","arguments":{"a":1}}"#);
        assert_eq!(
            got,
            Incoming::Request(Request {
                seq: 3,
                command: "launch".into(),
                arguments: serde_json::json!({"a":1})
            })
        );
    }

    #[test]
    fn invalid_json_has_no_seq() {
        let Incoming::Malformed { seq, reason, .. } = parse_incoming(b"{not json") else {
            panic!("expected malformed")
        };
        assert_eq!(seq, None);
        assert!(reason.starts_with("invalid JSON"), "{reason}");
    }

    #[test]
    fn non_object_is_malformed() {
        let Incoming::Malformed { reason, .. } = parse_incoming(b"[1,2]") else {
            panic!("expected malformed")
        };
        assert_eq!(reason, "a message must be a JSON object, got an array");
    }

    #[test]
    fn wrong_type_keeps_seq_for_the_error_response() {
        let got = parse_incoming(br#"{"seq":7,"type":"event","command":"x"}"#);
        assert_eq!(
            got,
            Incoming::Malformed {
                seq: Some(7),
                command: Some("x".into()),
                reason: "field `type`: expected \"request\", got \"event\"".into()
            }
        );
    }

    #[test]
    fn missing_command_is_named() {
        let Incoming::Malformed { seq, reason, .. } = parse_incoming(br#"{"seq":1,"type":"request"}"#) else {
            panic!("expected malformed")
        };
        assert_eq!(seq, Some(1));
        assert_eq!(reason, "field `command`: expected a string");
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Args {
        project_dir: Option<String>,
        #[serde(default)]
        task_args: Vec<String>,
    }

    #[test]
    fn argument_errors_name_the_field() {
        let err = parse_arguments::<Args>(&serde_json::json!({"projectDir": 5})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("projectDir"));
        assert!(err.message.contains("expected a string"), "{}", err.message);
        let err = parse_arguments::<Args>(&serde_json::json!({"taskArgs": ["a", 1]})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("taskArgs[1]"));
    }

    #[derive(Deserialize, Debug, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        #[serde(default)]
        env: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        inner: Option<Args>,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        items: Vec<Args>,
    }

    #[test]
    fn an_empty_array_is_an_empty_object_at_the_top_and_in_fields() {
        let args = parse_arguments::<Args>(&serde_json::json!([])).unwrap();
        assert!(args.task_args.is_empty());
        let args = parse_arguments::<Nested>(&serde_json::json!({"env": [], "inner": [], "items": [[]]})).unwrap();
        assert!(args.env.is_empty());
        assert!(args.inner.is_some());
        assert_eq!(args.items.len(), 1);
        // Where an array is expected, an empty array stays one.
        let args = parse_arguments::<Nested>(&serde_json::json!({"list": []})).unwrap();
        assert!(args.list.is_empty());
    }

    #[test]
    fn messages_speak_json_and_never_name_rust_types() {
        let cases = [
            (
                serde_json::json!(5),
                "invalid arguments: expected an object, got a number",
            ),
            (
                serde_json::json!(["a"]),
                "invalid arguments: expected an object, got an array",
            ),
            (
                serde_json::json!({"env": ["A=1"]}),
                "`env`: invalid type: array, expected an object",
            ),
            (
                serde_json::json!({"inner": 3}),
                "`inner`: invalid type: integer `3`, expected an object",
            ),
            (
                serde_json::json!({"list": {}}),
                "`list`: invalid type: object, expected an array",
            ),
        ];
        for (arguments, expected) in cases {
            let error = parse_arguments::<Nested>(&arguments).unwrap_err();
            assert_eq!(error.message, expected, "for {arguments}");
            for internal in ["Nested", "Args", "struct", "sequence", "map"] {
                assert!(!error.message.contains(internal), "{} names {internal}", error.message);
            }
        }
        let error = parse_arguments::<Nested>(&serde_json::json!({"bogus": 1})).unwrap_err();
        assert!(
            error
                .message
                .starts_with("`bogus`: unknown field `bogus`, expected one of"),
            "{}",
            error.message
        );
    }

    #[test]
    fn null_arguments_mean_defaults() {
        let args = parse_arguments::<Args>(&Value::Null).unwrap();
        assert!(args.task_args.is_empty());
    }

    #[test]
    fn outgoing_carries_seq_and_type() {
        let json = Outgoing::Event(Event::new("initialized", ())).to_json(4);
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value, serde_json::json!({"seq":4,"type":"event","event":"initialized"}));
        let json = Outgoing::Response(Response::success(2, "threads", None)).to_json(5);
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"seq":5,"type":"response","request_seq":2,"success":true,"command":"threads"})
        );
    }

    /// A body is written once, as text, and sent as the JSON it holds: an
    /// object, an array, a string, nested in the envelope, not quoted.
    #[test]
    fn bodies_are_sent_as_the_json_they_were_made_from() {
        #[derive(Serialize)]
        struct Report {
            success: bool,
            modules: Vec<&'static str>,
        }
        let report = Report {
            success: true,
            modules: vec!["A", "B\"quoted\""],
        };
        let event = Event::new("codeReloaded", &report);
        let sent: Value = serde_json::from_slice(&Outgoing::Event(event.clone()).to_json(7)).unwrap();
        let expected_body = serde_json::json!({"success": true, "modules": ["A", "B\"quoted\""]});
        assert_eq!(sent["body"], expected_body);
        assert_eq!(event.body.as_ref().map(Body::to_value), Some(expected_body.clone()));
        for body in [
            serde_json::json!([1, 2]),
            serde_json::json!("text"),
            serde_json::json!({"a": {"b": []}}),
        ] {
            let response = Response::success(3, "evaluate", Body::new(&body));
            let sent: Value = serde_json::from_slice(&Outgoing::Response(response).to_json(8)).unwrap();
            assert_eq!(sent["body"], body, "sent {sent}");
            assert_eq!(sent["seq"], 8);
        }
        let error = Response::error(4, "launch", 2001, "no \"mix.exs\"", true);
        let sent: Value = serde_json::from_slice(&Outgoing::Response(error).to_json(9)).unwrap();
        assert_eq!(sent["body"]["error"]["format"], "no \"mix.exs\"");
        assert_eq!(sent["message"], "no \"mix.exs\"");
    }

    #[test]
    fn a_body_that_is_null_or_not_json_is_no_body() {
        assert!(Body::new(Value::Null).is_none());
        assert!(Body::new(Option::<i32>::None).is_none());
        let not_json: std::collections::BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
        assert!(Body::new(not_json).is_none());
        assert!(Event::new("stopped", Value::Null).body.is_none());
        let json = Outgoing::Event(Event::new("stopped", Value::Null)).to_json(1);
        assert!(!String::from_utf8(json).unwrap().contains("body"));
    }

    #[test]
    fn an_edited_body_is_written_again_and_bodies_compare_as_json() {
        let mut body = Body::new(serde_json::json!({"line": 3, "name": "x"})).unwrap();
        body.edit(|value| value["line"] = Value::from(2));
        assert_eq!(body.to_value(), serde_json::json!({"line": 2, "name": "x"}));
        let same = Body::new(serde_json::json!({"name": "x", "line": 2})).unwrap();
        assert_eq!(body, same, "{} vs {}", body.as_str(), same.as_str());
        assert_ne!(body, Body::new(serde_json::json!({"line": 1, "name": "x"})).unwrap());
    }
}
