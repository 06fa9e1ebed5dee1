//! The `setBreakpoints` and `setFunctionBreakpoints` requests: checking the
//! expressions, placing each breakpoint in its modules, syncing the agent.

use super::*;

impl Debugger {
    // -----------------------------------------------------------------------
    // Breakpoints

    pub async fn set_breakpoints(&mut self, arguments: &Value) -> Handled {
        let args: SetBreakpointsArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("setBreakpoints: {e}")))?;
        let Some(path) = args.source.path.clone() else {
            return Err(RequestError::User("setBreakpoints: `source.path` is required".into()));
        };
        let source = canonical(Path::new(&path));
        let modules: Vec<ModuleInfo> = self.registry.in_source(&source).into_iter().cloned().collect();
        let expressions: Vec<Expressions> = args
            .breakpoints
            .iter()
            .map(|b| Expressions::parse(&b.condition, &b.hit_condition, &b.log_message))
            .collect();
        let invalid = self.check_expressions(&expressions).await?;
        let mut placed = Vec::new();
        for ((requested, expressions), invalid) in args.breakpoints.iter().zip(expressions).zip(invalid) {
            let id = self.breakpoints.next_id();
            let (modules, message) = match &invalid {
                Some(message) => (Vec::new(), Some(message.clone())),
                None => self.place_line(&modules, requested.line).await,
            };
            placed.push(LineBreakpoint {
                id,
                line: requested.line,
                condition: expressions.condition,
                hit_condition: expressions.hit_condition,
                log: expressions.log,
                verified: !modules.is_empty(),
                modules,
                message,
                invalid,
            });
        }
        let touched = self.breakpoints.replace_source(source.clone(), placed.clone());
        self.sync_modules(touched).await?;
        let breakpoints: Vec<Breakpoint> = placed
            .iter()
            .map(|b| Breakpoint {
                id: b.id,
                verified: b.verified,
                message: b.message.clone(),
                source: Some(args.source.clone()),
                line: Some(b.line),
            })
            .collect();
        Ok(json!({ "breakpoints": breakpoints }))
    }

    /// Checks the conditions and log message expressions of new
    /// breakpoints before they are set, with the VM's own parser: for each,
    /// `None` or why it cannot be set (what [`Expressions::parse`] found, or
    /// the parser's message).
    async fn check_expressions(&self, breakpoints: &[Expressions]) -> Result<Vec<Option<String>>, RequestError> {
        let mut invalid: Vec<Option<String>> = breakpoints.iter().map(|b| b.invalid.clone()).collect();
        let to_parse: Vec<usize> = (0..breakpoints.len())
            .filter(|&i| invalid[i].is_none() && (breakpoints[i].condition.is_some() || breakpoints[i].log.is_some()))
            .collect();
        if to_parse.is_empty() {
            return Ok(invalid);
        }
        let specs = to_parse
            .iter()
            .map(|&i| protocol::Expressions {
                condition: breakpoints[i].condition.clone(),
                log_expressions: breakpoints[i]
                    .log
                    .iter()
                    .flat_map(LogTemplate::expressions)
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        let reply: Vec<protocol::ExpressionCheck> = self
            .agent
            .request(&Request::CheckExpressions { breakpoints: specs }, CALL_TIMEOUT)
            .await
            .map_err(|e| RequestError::Internal(format!("could not check the breakpoints' expressions: {e}")))?;
        if reply.len() != to_parse.len() {
            return Err(RequestError::Internal(format!(
                "the agent checked {} breakpoints' expressions, {} were sent",
                reply.len(),
                to_parse.len()
            )));
        }
        for (&i, verdict) in to_parse.iter().zip(reply) {
            let protocol::ExpressionCheck::Invalid(protocol::InvalidExpression {
                field,
                message,
                expression,
            }) = verdict
            else {
                continue;
            };
            invalid[i] = Some(match (field.as_str(), expression) {
                ("condition", None) => format!(
                    "the condition `{}` is not valid Elixir: {message}",
                    breakpoints[i].condition.as_deref().unwrap_or_default()
                ),
                ("log_message", Some(expression)) => {
                    format!("the log message cannot be used: {{{expression}}}: {message}")
                }
                (field, expression) => {
                    return Err(RequestError::Internal(format!(
                        "the agent's verdict on a breakpoint's expressions names field `{field}` \
                         (expression {expression:?}): expected `condition`, or `log_message` with its expression"
                    )))
                }
            });
        }
        Ok(invalid)
    }

    /// Finds every module of `modules` with code on `line` (one line may
    /// belong to several: `defimpl P, for: [Integer, Float]` defines one
    /// module per type from the same lines), interpreting them if needed;
    /// without one, says why the breakpoint cannot be verified.
    pub(super) async fn place_line(&mut self, modules: &[ModuleInfo], line: i64) -> (Vec<String>, Option<String>) {
        if modules.is_empty() {
            return (Vec::new(), Some("no compiled module comes from this file".into()));
        }
        let mut placed = Vec::new();
        let mut refusal = None;
        for module in modules {
            let lines = match self.breakable_lines(&module.atom).await {
                Ok(lines) => lines,
                Err(message) => {
                    refusal.get_or_insert(message);
                    continue;
                }
            };
            if !lines.contains(&line) {
                continue;
            }
            if !self.selection.selects(module) {
                refusal.get_or_insert(self.selection.reason_not_selected(module));
                continue;
            }
            match self.ensure_interpreted(&module.atom).await {
                Ok(()) => placed.push(module.atom.clone()),
                Err(message) => {
                    refusal.get_or_insert(message);
                }
            }
        }
        if placed.is_empty() {
            (
                placed,
                Some(refusal.unwrap_or_else(|| format!("no code on line {line}"))),
            )
        } else {
            (placed, None)
        }
    }

    async fn breakable_lines(&mut self, atom: &str) -> Result<BTreeSet<i64>, String> {
        if let Some(lines) = self.breakable.get(atom) {
            return Ok(lines.clone());
        }
        let lines: Vec<i64> = self
            .agent
            .request(
                &Request::BreakableLines {
                    module: atom.to_owned(),
                },
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| e.to_string())?;
        let lines: BTreeSet<i64> = lines.into_iter().collect();
        self.breakable.insert(atom.to_owned(), lines.clone());
        Ok(lines)
    }

    pub(super) async fn ensure_interpreted(&mut self, atom: &str) -> Result<(), String> {
        if self.registry.is_interpreted(atom) {
            return Ok(());
        }
        if let Some(reason) = self.registry.skip_reason(atom) {
            return Err(format!("the module cannot be interpreted: {reason}"));
        }
        self.interpret(&[atom.to_owned()]).await.map_err(|e| e.to_string())?;
        match self.registry.skip_reason(atom) {
            Some(reason) => Err(format!("the module cannot be interpreted: {reason}")),
            None => Ok(()),
        }
    }

    pub async fn set_function_breakpoints(&mut self, arguments: &Value) -> Handled {
        let args: SetFunctionBreakpointsArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("setFunctionBreakpoints: {e}")))?;
        let expressions: Vec<Expressions> = args
            .breakpoints
            .iter()
            .map(|b| Expressions::parse(&b.condition, &b.hit_condition, &None))
            .collect();
        let invalid = self.check_expressions(&expressions).await?;
        let mut placed = Vec::new();
        for ((requested, expressions), invalid) in args.breakpoints.iter().zip(expressions).zip(invalid) {
            let id = self.breakpoints.next_id();
            let mut breakpoint = FunctionBreakpoint {
                id,
                spec: breakpoints::FunctionSpec {
                    module_atom: String::new(),
                    module_name: String::new(),
                    function: requested.name.clone(),
                    arity: None,
                },
                condition: expressions.condition,
                hit_condition: expressions.hit_condition,
                module: None,
                lines: Vec::new(),
                verified: false,
                message: None,
                invalid: None,
            };
            match parse_function_name(&requested.name) {
                Err(message) => breakpoint.message = Some(message),
                Ok(spec) if invalid.is_some() => {
                    breakpoint.spec = spec;
                    breakpoint.message = invalid.clone();
                    breakpoint.invalid = invalid;
                }
                Ok(spec) => {
                    breakpoint.spec = spec;
                    match self.place_function(&breakpoint.spec).await {
                        Ok(lines) => {
                            breakpoint.module = Some(breakpoint.spec.module_atom.clone());
                            breakpoint.lines = lines;
                            breakpoint.verified = true;
                        }
                        Err(message) => breakpoint.message = Some(message),
                    }
                }
            }
            placed.push(breakpoint);
        }
        let touched = self.breakpoints.replace_functions(placed.clone());
        self.sync_modules(touched).await?;
        let breakpoints: Vec<Breakpoint> = placed
            .iter()
            .map(|b| Breakpoint {
                id: b.id,
                verified: b.verified,
                message: b.message.clone(),
                source: None,
                line: b.lines.first().copied(),
            })
            .collect();
        Ok(json!({ "breakpoints": breakpoints }))
    }

    pub(super) async fn place_function(&mut self, spec: &breakpoints::FunctionSpec) -> Result<Vec<i64>, String> {
        let Some(module) = self.registry.get(&spec.module_atom).cloned() else {
            return Err(format!("no module {} in this project", spec.module_name));
        };
        let request = Request::FunctionLines {
            module: module.atom.clone(),
            function: spec.function.clone(),
            arity: spec.arity,
        };
        let lines: Vec<i64> = self
            .agent
            .request(&request, CALL_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        if lines.is_empty() {
            let what = match spec.arity {
                Some(arity) => format!("{}.{}/{arity}", spec.module_name, spec.function),
                None => format!("{}.{}", spec.module_name, spec.function),
            };
            return Err(format!("{what} is not defined"));
        }
        if !self.selection.selects(&module) {
            return Err(self.selection.reason_not_selected(&module));
        }
        self.ensure_interpreted(&module.atom).await?;
        Ok(lines)
    }

    /// Sends the merged breakpoints of each module to the agent.
    pub(super) async fn sync_modules(&mut self, modules: BTreeSet<String>) -> Result<(), RequestError> {
        for module in modules {
            if !self.registry.is_interpreted(&module) {
                continue;
            }
            let specs = self.breakpoints.module_specs(&module);
            let request = Request::SetBreakpoints {
                module: module.clone(),
                breakpoints: specs.iter().map(agent_breakpoint).collect(),
            };
            self.agent
                .request::<protocol::Done>(&request, CALL_TIMEOUT)
                .await
                .map_err(|e| RequestError::Internal(format!("could not set breakpoints in {module}: {e}")))?;
        }
        Ok(())
    }
}

/// The user's expressions of a breakpoint (empty ones dropped): the
/// condition as written (only the VM can parse Elixir), the hit condition
/// and the log message parsed here.
struct Expressions {
    condition: Option<String>,
    hit_condition: Option<HitCondition>,
    log: Option<LogTemplate>,
    /// Why the hit condition or the log message cannot be used.
    invalid: Option<String>,
}

impl Expressions {
    fn parse(condition: &Option<String>, hit_condition: &Option<String>, log_message: &Option<String>) -> Self {
        let hit_condition = non_empty(hit_condition).map(|text| parse_hit_condition(&text));
        let log = non_empty(log_message)
            .map(|text| LogTemplate::parse(&text).map_err(|e| format!("the log message cannot be used: {e}")));
        let invalid = match (&hit_condition, &log) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e.clone()),
            _ => None,
        };
        Expressions {
            condition: non_empty(condition),
            hit_condition: hit_condition.and_then(Result::ok),
            log: log.and_then(Result::ok),
            invalid,
        }
    }
}

/// A breakpoint as the agent's `set_breakpoints` takes it.
fn agent_breakpoint(spec: &AgentBreakpoint) -> protocol::BreakpointSpec {
    protocol::BreakpointSpec {
        line: spec.line,
        ids: spec.ids.clone(),
        kind: spec.kind.to_owned(),
        condition: spec.condition.clone(),
        hit_condition: spec.hit_condition,
        log: spec.log.as_ref().map(|template| template.0.clone()),
    }
}
