//! Lines and columns as the client counts them.
//!
//! Inside the adapter a line is a file line counted from 1 and a column is
//! counted from 1 (a frame whose column is unknown is at column 1). A client
//! says in `initialize` whether it counts from 1 (`linesStartAt1`,
//! `columnsStartAt1`, both true unless it says otherwise); [`Positions`]
//! translates the messages that carry positions at the edge, on the way in
//! and on the way out, so that no handler has to know.
//!
//! The messages and fields translated: `setBreakpoints` arguments
//! (`breakpoints[].line`, `lines[]`); responses of `setBreakpoints` and
//! `setFunctionBreakpoints` (`breakpoints[].line`) and `stackTrace`
//! (`stackFrames[].line`, `.column`); the `breakpoint` event
//! (`breakpoint.line`); and the reload report of our `reloadCode` response
//! and `codeReloaded` event (`breakpoints[].oldLine`, `.newLine`,
//! `diagnostics[].line`; a diagnostic's `column` is the compiler's, 0 when
//! unknown, and is left as it is).

use crate::messages::{Outgoing, Request};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positions {
    pub lines_start_at1: bool,
    pub columns_start_at1: bool,
}

impl Default for Positions {
    /// What a client that says nothing means: both count from 1.
    fn default() -> Self {
        Positions {
            lines_start_at1: true,
            columns_start_at1: true,
        }
    }
}

impl Positions {
    fn line_offset(self) -> i64 {
        if self.lines_start_at1 {
            0
        } else {
            1
        }
    }

    fn column_offset(self) -> i64 {
        if self.columns_start_at1 {
            0
        } else {
            1
        }
    }

    /// Whether nothing needs translating.
    fn is_identity(self) -> bool {
        self.lines_start_at1 && self.columns_start_at1
    }

    /// Turns the client's lines in a request into file lines.
    pub fn from_client(self, request: &mut Request) {
        if self.lines_start_at1 || request.command != "setBreakpoints" {
            return;
        }
        let offset = self.line_offset();
        if let Some(breakpoints) = request.arguments.get_mut("breakpoints").and_then(Value::as_array_mut) {
            for breakpoint in breakpoints {
                shift(breakpoint, "line", offset);
            }
        }
        if let Some(lines) = request.arguments.get_mut("lines").and_then(Value::as_array_mut) {
            for line in lines {
                if let Some(n) = line.as_i64() {
                    *line = Value::from(n + offset);
                }
            }
        }
    }

    /// Turns file lines and columns in an outgoing message into the client's.
    pub fn to_client(self, message: &mut Outgoing) {
        if self.is_identity() {
            return;
        }
        let (lines, columns) = (-self.line_offset(), -self.column_offset());
        // Only the messages that carry positions are parsed and written
        // again (see `Body`).
        match message {
            Outgoing::Response(response) => {
                let Some(body) = response.body.as_mut() else { return };
                match response.command.as_str() {
                    "setBreakpoints" | "setFunctionBreakpoints" => {
                        body.edit(|body| each(body, "breakpoints", |b| shift(b, "line", lines)))
                    }
                    "stackTrace" => body.edit(|body| {
                        each(body, "stackFrames", |frame| {
                            shift(frame, "line", lines);
                            shift(frame, "column", columns);
                        })
                    }),
                    "reloadCode" => body.edit(|body| reload_report(body, lines)),
                    _ => {}
                }
            }
            Outgoing::Event(event) => {
                let Some(body) = event.body.as_mut() else { return };
                match event.event.as_str() {
                    "breakpoint" => body.edit(|body| {
                        if let Some(breakpoint) = body.get_mut("breakpoint") {
                            shift(breakpoint, "line", lines);
                        }
                    }),
                    "codeReloaded" => body.edit(|body| reload_report(body, lines)),
                    _ => {}
                }
            }
        }
    }
}

fn reload_report(body: &mut Value, lines: i64) {
    each(body, "breakpoints", |b| {
        shift(b, "oldLine", lines);
        shift(b, "newLine", lines);
    });
    each(body, "diagnostics", |d| {
        // Line 0 is the compiler's "no line": leave it.
        if d.get("line").and_then(Value::as_i64).is_some_and(|l| l > 0) {
            shift(d, "line", lines);
        }
    });
}

fn each(body: &mut Value, field: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = body.get_mut(field).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(&mut f);
    }
}

fn shift(object: &mut Value, field: &str, by: i64) {
    if let Some(slot) = object.get_mut(field) {
        if let Some(n) = slot.as_i64() {
            *slot = Value::from(n + by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Body, Event, Response};
    use serde_json::json;

    const ZERO: Positions = Positions {
        lines_start_at1: false,
        columns_start_at1: false,
    };

    #[test]
    fn clients_counting_from_one_get_file_positions() {
        let mut response = Outgoing::Response(Response::success(
            1,
            "stackTrace",
            Body::new(json!({"stackFrames": [{"id": 1, "line": 7, "column": 1}]})),
        ));
        let before = response.clone();
        Positions::default().to_client(&mut response);
        assert_eq!(response, before);
    }

    #[test]
    fn clients_counting_from_zero_get_positions_less_one() {
        let mut response = Outgoing::Response(Response::success(
            1,
            "stackTrace",
            Body::new(json!({"stackFrames": [{"id": 1, "line": 7, "column": 1}]})),
        ));
        ZERO.to_client(&mut response);
        let Outgoing::Response(response) = response else {
            unreachable!()
        };
        assert_eq!(
            response.body.unwrap().to_value()["stackFrames"][0],
            json!({"id": 1, "line": 6, "column": 0})
        );

        let mut event = Outgoing::Event(Event::new(
            "breakpoint",
            json!({"reason": "changed", "breakpoint": {"id": 3, "line": 12}}),
        ));
        ZERO.to_client(&mut event);
        let Outgoing::Event(event) = event else { unreachable!() };
        assert_eq!(event.body.unwrap().to_value()["breakpoint"]["line"], 11);

        let mut report = Outgoing::Event(Event::new(
            "codeReloaded",
            json!({"breakpoints": [{"id": 1, "oldLine": 5, "newLine": 6}],
                   "diagnostics": [{"line": 3, "column": 4}, {"line": 0, "column": 0}]}),
        ));
        ZERO.to_client(&mut report);
        let Outgoing::Event(report) = report else {
            unreachable!()
        };
        let body = report.body.unwrap().to_value();
        assert_eq!(body["breakpoints"][0], json!({"id": 1, "oldLine": 4, "newLine": 5}));
        assert_eq!(
            body["diagnostics"],
            json!([{"line": 2, "column": 4}, {"line": 0, "column": 0}])
        );
    }

    #[test]
    fn breakpoint_lines_from_a_zero_based_client_become_file_lines() {
        let mut request = Request {
            seq: 1,
            command: "setBreakpoints".into(),
            arguments: json!({"source": {"path": "/a.ex"}, "breakpoints": [{"line": 0}, {"line": 9}], "lines": [0, 9]}),
        };
        ZERO.from_client(&mut request);
        assert_eq!(request.arguments["breakpoints"], json!([{"line": 1}, {"line": 10}]));
        assert_eq!(request.arguments["lines"], json!([1, 10]));
        let mut other = Request {
            seq: 2,
            command: "evaluate".into(),
            arguments: json!({"line": 3}),
        };
        ZERO.from_client(&mut other);
        assert_eq!(other.arguments["line"], 3);
    }
}
