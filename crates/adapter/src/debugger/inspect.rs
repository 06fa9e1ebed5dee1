//! Inspecting a stopped thread: `stackTrace`, `scopes`, `variables` and
//! `evaluate`.

use super::*;

impl Debugger {
    // -----------------------------------------------------------------------
    // Stack, scopes, variables, evaluate
    //
    // These are answered by tasks of their own ([`Later`]): each reads what
    // it needs from the thread table, asks the agent, and creates its ids
    // only if the thread is still in the same stop.

    pub fn stack_trace(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: StackTraceArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("stackTrace: {e}")))?;
        let thread_id = args.thread_id;
        let (request, generation) = {
            let table = self.threads.lock();
            let thread = table.stopped_thread(thread_id)?;
            (
                dbg::routed(
                    thread,
                    Request::Stack {
                        pid: thread.pid.clone(),
                    },
                ),
                thread.generation,
            )
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        Ok(Box::pin(async move {
            let all: Vec<protocol::Frame> = agent
                .request(&request, CALL_TIMEOUT)
                .await
                .map_err(RequestError::from_agent)?;
            let mut threads = table.lock();
            same_stop(&threads, thread_id, generation, "its stack was read")?;
            let start = args.start_frame.unwrap_or(0).max(0) as usize;
            let levels = match args.levels.unwrap_or(0) {
                n if n <= 0 => all.len(),
                n => n as usize,
            };
            let mut frames = Vec::new();
            for frame in all.iter().skip(start).take(levels) {
                let id = threads.new_frame(thread_id, frame.level, generation);
                let source = Some(&frame.source)
                    .filter(|s| !s.is_empty())
                    .map(|path| frame_source(path));
                frames.push(StackFrame {
                    id,
                    name: frame.name.clone(),
                    source,
                    line: frame.line,
                    // The interpreter knows lines only: the frame is at the
                    // line's first column (the client's 1 or 0: dap::Positions).
                    column: 1,
                });
            }
            Ok(json!({ "stackFrames": frames, "totalFrames": all.len() }))
        }))
    }

    pub fn scopes(&mut self, arguments: &Value) -> Handled {
        let args: ScopesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("scopes: {e}")))?;
        let mut table = self.threads.lock();
        let frame = table.frame(args.frame_id)?;
        let variables = table.new_variables_ref(VariablesRef::Frame {
            thread: frame.thread,
            level: frame.level,
        });
        let process = table.new_variables_ref(VariablesRef::Process { thread: frame.thread });
        let scopes = vec![
            Scope {
                name: "Variables".into(),
                presentation_hint: Some("locals".into()),
                variables_reference: variables,
                named_variables: None,
                expensive: false,
            },
            Scope {
                name: "Process".into(),
                presentation_hint: None,
                variables_reference: process,
                named_variables: None,
                expensive: false,
            },
        ];
        Ok(json!({ "scopes": scopes }))
    }

    pub fn variables(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: VariablesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("variables: {e}")))?;
        let start = args.start.unwrap_or(0).max(0);
        let count = args.count.unwrap_or(0).max(0);
        let (reference, request, generation) = {
            let table = self.threads.lock();
            let reference = table.variables_ref(args.variables_reference)?;
            let (request, generation) = match &reference {
                VariablesRef::Frame { thread, level } => {
                    let thread = table.stopped_thread(*thread)?;
                    (
                        dbg::routed(
                            thread,
                            Request::FrameVariables {
                                pid: thread.pid.clone(),
                                level: *level,
                            },
                        ),
                        Some(thread.generation),
                    )
                }
                VariablesRef::Process { thread } => {
                    let thread = table.stopped_thread(*thread)?;
                    (
                        Request::ProcessVariables {
                            pid: thread.pid.clone(),
                        },
                        Some(thread.generation),
                    )
                }
                VariablesRef::Value { thread, handle } => (
                    Request::Children {
                        handle: *handle,
                        start,
                        count,
                    },
                    (*thread != 0)
                        .then(|| table.thread(*thread).map(|t| t.generation))
                        .transpose()?,
                ),
            };
            (reference, request, generation)
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        Ok(Box::pin(async move {
            let reply: Vec<protocol::Variable> = agent
                .request(&request, CALL_TIMEOUT)
                .await
                .map_err(RequestError::from_agent)?;
            let thread = match &reference {
                VariablesRef::Frame { thread, .. }
                | VariablesRef::Process { thread }
                | VariablesRef::Value { thread, .. } => *thread,
            };
            let mut threads = table.lock();
            if let Some(generation) = generation {
                same_stop(&threads, thread, generation, "its variables were read")?;
            }
            let mut items: Vec<&protocol::Variable> = reply.iter().collect();
            if !matches!(reference, VariablesRef::Value { .. }) {
                // The agent pages values; frames and process info are paged here.
                items = items.into_iter().skip(start as usize).collect();
                if count > 0 {
                    items.truncate(count as usize);
                }
            }
            let variables: Vec<Variable> = items
                .into_iter()
                .map(|item| variable(&mut threads, thread, item))
                .collect();
            Ok(json!({ "variables": variables }))
        }))
    }

    /// Evaluates in a process of the agent's (see `run_evaluation/5` in
    /// `elixir_dap_backend_int.erl`). In the debug console (`context: "repl"`)
    /// an expression that reaches a breakpoint stops there as a thread of
    /// its own, and the answer says so at once; in a hover or a watch
    /// (any other context) breakpoints are run through.
    pub fn evaluate(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: EvaluateArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("evaluate: {e}")))?;
        let (thread, target, generation, request_of) = match args.frame_id {
            Some(frame_id) => {
                let table = self.threads.lock();
                let frame = table.frame(frame_id)?;
                let thread = table.stopped_thread(frame.thread)?;
                (
                    frame.thread,
                    Some((thread.pid.clone(), frame.level)),
                    Some(frame.generation),
                    Some(thread.clone()),
                )
            }
            None => (0, None, None, None),
        };
        let context = args.context.clone().unwrap_or_else(|| "repl".to_owned());
        let timeout_ms = self.expression_timeout.as_millis() as i64;
        let evaluate = Request::Evaluate {
            frame: target,
            expression: args.expression.clone(),
            timeout_ms,
            context,
        };
        let request = match &request_of {
            Some(thread) => dbg::routed(thread, evaluate),
            None => evaluate,
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        let timeout = self.expression_timeout + CALL_TIMEOUT;
        Ok(Box::pin(async move {
            let reply: protocol::Evaluation = agent
                .request(&request, timeout)
                .await
                .map_err(RequestError::from_agent)?;
            let mut threads = table.lock();
            let value = match reply {
                protocol::Evaluation::Paused(stop) => {
                    return Err(RequestError::User(paused_evaluation(&mut threads, &stop)))
                }
                protocol::Evaluation::Value(value) => value,
            };
            if let Some(generation) = generation {
                same_stop(&threads, thread, generation, "the expression was evaluated")?;
            }
            let body = EvaluateResponseBody::from(variable(&mut threads, thread, &value));
            Ok(serde_json::to_value(body).unwrap_or(Value::Null))
        }))
    }
}

/// A value from the agent as a DAP variable; values with children get a
/// `variablesReference` of `thread`'s (0: no thread).
fn variable(threads: &mut Threads, thread: i64, item: &protocol::Variable) -> Variable {
    let (handle, indexed, named) = (item.handle, item.indexed, item.named);
    let variables_reference = if handle > 0 {
        threads.new_variables_ref(VariablesRef::Value { thread, handle })
    } else {
        0
    };
    Variable {
        name: item.name.clone(),
        value: item.value.clone(),
        kind: Some(item.kind.clone()),
        variables_reference,
        indexed_variables: (indexed > 0).then_some(indexed),
        named_variables: (named > 0).then_some(named),
    }
}

/// Fails when `thread` ran or ended while a request about it was answered
/// (`while` says what was being done).
fn same_stop(threads: &Threads, thread: i64, generation: u64, while_: &str) -> Result<(), RequestError> {
    let current = threads
        .stopped_thread(thread)
        .map_err(|e| e.map_message(|message| format!("{message} (it changed while {while_})")))?;
    if current.generation != generation {
        // A resume raced the request: expected, the client asks again.
        return Err(RequestError::Silent(format!(
            "thread {thread} ({}) ran while {while_}: ask again",
            current.name
        )));
    }
    Ok(())
}

/// The answer to an evaluation that stopped at a breakpoint: its process is
/// a thread now (announced here if its `stopped` event is still on its way).
fn paused_evaluation(threads: &mut Threads, stop: &protocol::Paused) -> String {
    let where_ = match (stop.function(), stop.source()) {
        (Some(function), Some(source)) if !source.is_empty() => {
            format!("{function} ({source}:{})", stop.line())
        }
        (Some(function), _) => function.to_owned(),
        _ => "a breakpoint".to_owned(),
    };
    let thread = format!("thread {}", threads.ensure_thread(stop.pid().clone(), stop.name()));
    format!(
        "the expression stopped at a breakpoint in {where_}; it runs on as {thread}, which you can inspect, \
         step and continue (no time limit applies now); its value will be printed here when it finishes"
    )
}

/// A frame's source. Code a macro injected from a file that is not on this
/// machine (compiled elsewhere) keeps that file's name and lines: shown as
/// generated, with no path a client would fail to open.
fn frame_source(path: &str) -> Source {
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
    if Path::new(path).exists() {
        Source {
            name,
            path: Some(path.to_owned()),
            ..Source::default()
        }
    } else {
        Source {
            name,
            path: None,
            presentation_hint: Some("deemphasize".into()),
            origin: Some(format!("generated from {path}, which is not on this machine")),
        }
    }
}
