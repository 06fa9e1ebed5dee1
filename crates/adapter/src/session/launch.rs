//! The launch: starting the VM, loading the project in the background, starting
//! the program, and `configurationDone`.

use super::*;
use crate::launch;

impl Session {
    pub(super) async fn launch(&mut self, arguments: &Value) -> Handled {
        if self.program.is_some() || self.launching.is_some() || self.debuggee.is_some() {
            return Err(RequestError::User(
                "a program is already launched in this session".into(),
            ));
        }
        let mut config =
            launch::validate(arguments, &self.options.cwd).map_err(|e| RequestError::User(format!("launch: {e}")))?;
        let progress = self.progress_start(
            "Launching",
            &format!("starting the VM in {}", config.project_dir.display()),
        );
        if let Err(error) = self.start_vm(&mut config).await {
            self.progress_end(progress, "failed");
            // The launch failed: nothing of the VM must outlive it.
            if let Some(mut debuggee) = self.debuggee.take() {
                debuggee.terminate();
            }
            return Err(error);
        }
        let Some(agent) = self.debuggee.as_ref().map(|d| d.agent.clone()) else {
            return Err(RequestError::Internal("launch: the VM is gone".into()));
        };
        self.progress_update(&progress, "compiling the project");
        let break_on_dbg = config.args.break_on_dbg && !config.args.no_debug;
        let request = protocol::Request::LoadProject {
            task: config.args.task.clone(),
            break_on_dbg,
        };
        let (done, loaded) = oneshot::channel();
        tokio::spawn(async move {
            let _ = done.send(agent.request(&request, LOAD_PROJECT_TIMEOUT).await);
        });
        self.launching = Some(Launching {
            config,
            break_on_dbg,
            compile_started: std::time::SystemTime::now(),
            progress,
            loaded,
        });
        Ok(None)
    }

    /// Starts a VM (the program's, or an attach session's helper node) in
    /// `config`'s project with `env`, pumps its events to the client, and
    /// waits up to `connect_timeout` for its agent's hello.
    pub(super) async fn start_debuggee(
        &mut self,
        config: &LaunchConfig,
        env: Vec<(String, Option<String>)>,
        connect_timeout: Duration,
    ) -> Result<Debuggee, beam::LaunchError> {
        let spec = VmSpec {
            elixir: config.elixir.clone(),
            project_dir: config.project_dir.clone(),
            env,
            cache_root: self.options.cache_root.clone(),
            connect_timeout,
            keeper: self.options.keeper.clone(),
        };
        let (events_tx, events_rx) = mpsc::channel(VM_EVENT_QUEUE);
        self.pump = Some(tokio::spawn(pump_vm_events(
            events_rx,
            self.client.clone(),
            self.vm_events_tx.clone(),
            self.pump_threads.clone(),
        )));
        Debuggee::launch(&spec, events_tx).await
    }

    /// Starts the VM and waits for its agent: the part of a launch that is
    /// answered in the `launch` response. `debugBackend` is resolved here:
    /// `config` keeps the backend the program runs on (`auto` resolved).
    pub(super) async fn start_vm(&mut self, config: &mut LaunchConfig) -> Result<(), RequestError> {
        let backend = backend::choose(config, &self.options.cache_root).await?;
        config.args.debug_backend = backend.resolved();
        let mut env: Vec<_> = config.args.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(backend.env.iter().cloned());
        let debuggee = self
            .start_debuggee(config, env, CONNECT_TIMEOUT)
            .await
            .map_err(|e| RequestError::User(format!("launch: {e}")))?;
        self.client.event(
            "process",
            ProcessEventBody {
                name: project_name(config),
                system_process_id: Some(debuggee.os_pid),
                is_local_process: true,
                start_method: "launch",
            },
        );
        self.client.console(format!(
            "elixir-dap: VM started (OTP {}, Elixir {}); compiling {}",
            debuggee.otp_release,
            debuggee.elixir_version,
            config.project_dir.display()
        ));
        let note = backend.note(&debuggee.otp_release);
        if !note.is_empty() {
            self.client.console(note);
        }
        self.debuggee = Some(debuggee);
        Ok(())
    }

    /// Waits for the launch still loading the project, if any, and finishes it.
    pub(super) async fn await_launch(&mut self) {
        let loaded = next_loaded(&mut self.launching).await;
        self.finish_launch(loaded).await;
    }

    /// The project has loaded (or failed to): start debugging and send
    /// `initialized`, or report the failure and end the session.
    pub(super) async fn finish_launch(&mut self, loaded: Loaded) {
        let Some(launching) = self.launching.take() else { return };
        let progress = launching.progress.clone();
        let result = match loaded {
            Ok(reply) => self.start_program(launching, reply).await,
            Err(_) => Err(RequestError::Internal(
                "launch: the project's loading was abandoned".into(),
            )),
        };
        match result {
            Ok(()) => {
                self.progress_end(progress, "ready");
                // Breakpoints and other configuration come after this event.
                self.client.event("initialized", ());
            }
            Err(_) if self.stop_requested => {
                // `terminate` killed the VM while the project loaded.
                self.progress_end(progress, "cancelled");
                self.stop_vm(true).await;
            }
            Err(error) => {
                self.progress_end(progress, "failed");
                self.fail_launch(&error.to_string()).await;
            }
        }
    }

    /// A launch already answered failed: say why where the user looks, stop
    /// the VM and end the session.
    pub(super) async fn fail_launch(&mut self, message: &str) {
        tracing::info!(%message, "launch failed after its response");
        self.client
            .output(OutputCategory::Stderr, format!("elixir-dap: {message}\n"));
        self.client.output(OutputCategory::Important, message.to_owned());
        // The program never ran: `terminated` alone.
        self.stop_vm(false).await;
    }

    /// Stops what a launch that will not finish started, and reports the end
    /// (with the VM's exit status when `report_exit`).
    pub(super) async fn stop_vm(&mut self, report_exit: bool) {
        self.program = None;
        self.background = None;
        self.debugger = None;
        *lock(&self.pump_threads) = None;
        self.stop_epoch = None;
        let mut code = None;
        if let Some(mut debuggee) = self.debuggee.take() {
            debuggee.terminate();
            code = debuggee.wait_exit(EXIT_TIMEOUT).await;
        }
        self.announce_end(code.filter(|_| report_exit));
    }

    pub(super) async fn start_program(
        &mut self,
        launching: Launching,
        reply: Result<protocol::ProjectLoaded, AgentError>,
    ) -> Result<(), RequestError> {
        let Launching {
            config,
            break_on_dbg,
            compile_started,
            ..
        } = launching;
        let Some(agent) = self.debuggee.as_ref().map(|d| d.agent.clone()) else {
            return Err(RequestError::Internal("launch: the VM is gone".into()));
        };
        let loaded = match reply {
            Ok(loaded) => loaded,
            Err(AgentError::Failed(protocol::Failure::CompileFailed { diagnostics })) => {
                self.report_diagnostics(&diagnostics);
                // Worded by the failure, from the messages as the report
                // shows them (without the exception's name or stack).
                let diagnostics = diagnostics
                    .into_iter()
                    .map(|d| protocol::Diagnostic {
                        message: ::reload::trim_compiler_message(&d.message),
                        ..d
                    })
                    .collect();
                let failure = protocol::Failure::CompileFailed { diagnostics };
                return Err(RequestError::User(format!("launch: {failure}")));
            }
            Err(AgentError::Failed(failure)) => {
                return Err(RequestError::User(format!(
                    "launch: could not load the Mix project: {failure}"
                )))
            }
            Err(AgentError::Timeout { after, .. }) => {
                return Err(RequestError::User(format!(
                    "launch: loading and compiling the project did not finish within {} \
                     (a module body or other compile-time code may never return)",
                    beam::channel::human_duration(after)
                )))
            }
            Err(other) => return Err(RequestError::Internal(format!("launch: {other}"))),
        };
        self.report_diagnostics(&loaded.diagnostics);
        // Index the sources for reloads while the debugger starts.
        let manifests: Vec<(PathBuf, PathBuf)> = loaded
            .manifests
            .iter()
            .map(|m| (PathBuf::from(&m.app_dir), PathBuf::from(&m.manifest)))
            .collect();
        let (resources, problems) = external::ExternalResources::read(&manifests);
        for problem in problems {
            self.client.console(format!("elixir-dap: {problem}"));
        }
        let resource_files = resources.files();
        let elixir_version = self
            .debuggee
            .as_ref()
            .map(|d| d.elixir_version.clone())
            .unwrap_or_default();
        // The layout of the environment Mix compiled the project in.
        let mix_env = loaded.mix_env.clone();
        let layout = mix_layout::MixLayout::read(&config.project_dir, &mix_env);
        self.reload = Some(reload::ReloadState::start(
            layout.clone(),
            &elixir_version,
            compile_started,
            resources,
            &self.options.cache_root,
        ));
        match on_save::SaveWatch::start(&config, &layout, resource_files) {
            Ok(Some(watch)) => {
                self.client.console(watch.describe());
                self.save_watch = Some(watch);
            }
            Ok(None) => {}
            Err(message) => self.client.console(format!("elixir-dap: {message}")),
        }
        if let Some(note) = debugger::dbg::launch_note(break_on_dbg, &loaded) {
            self.client.console(note);
        }
        if !config.args.no_debug {
            let debugger = Debugger::start(agent.clone(), self.client.clone(), debugger_config(&config.args)).await?;
            *lock(&self.pump_threads) = Some(debugger.thread_table());
            self.stop_epoch = Some(debugger.thread_table().epoch());
            self.debugger = Some(debugger);
        }
        let task = loaded.task.clone();
        self.program = Some(Program {
            config,
            task,
            started: false,
        });
        Ok(())
    }

    /// Shows compiler diagnostics as `file:line: severity: message` console lines.
    pub(super) fn report_diagnostics(&self, diagnostics: &[protocol::Diagnostic]) {
        for diagnostic in diagnostics {
            let (file, line, severity) = (&diagnostic.file, diagnostic.line, &diagnostic.severity);
            let message = ::reload::trim_compiler_message(&diagnostic.message);
            self.client.output(
                if severity == "error" {
                    OutputCategory::Stderr
                } else {
                    OutputCategory::Console
                },
                format!("{file}:{line}: {severity}: {message}\n"),
            );
        }
    }

    pub(super) async fn configuration_done(&mut self) -> Handled {
        let Some(program) = &self.program else {
            // A client may configure before launching; nothing to run yet.
            return Ok(None);
        };
        if program.started {
            return Ok(None);
        }
        if self.attached.is_some() {
            return self.attach_configuration_done().await;
        }
        let (now, later) = match &self.debugger {
            Some(debugger) => debugger.split_for_start(program.config.args.break_on_dbg),
            None => (Vec::new(), Vec::new()),
        };
        self.interpret_selected(now).await?;
        let (Some(program), Some(debuggee)) = (self.program.as_mut(), self.debuggee.as_ref()) else {
            return Ok(None);
        };
        let args = &program.config.args;
        if self.debugger.is_some() {
            // Compiles while the task runs: test files and other .exs scripts
            // define modules, each handed over before it runs (see
            // `elixir_dap_scripts.erl`, `Debugger::on_script_module`); the
            // program's own compiles (Phoenix's code reloader) are made safe
            // and their modules interpreted again (`elixir_dap_app_compile.erl`,
            // `Session::on_app_compiled`).
            debuggee
                .agent
                .request::<protocol::Done>(&protocol::Request::InstallTracers, AGENT_CALL_TIMEOUT)
                .await
                .map_err(|e| RequestError::Internal(format!("could not watch the program's compiles: {e}")))?;
        }
        let (require_files, left_to_task) = launch::split_require_files(&program.task, &args.require_files);
        if !left_to_task.is_empty() {
            self.client.console(format!(
                "elixir-dap: `mix test` loads {} itself; breakpoints in test files work without `requireFiles`",
                left_to_task.join(", ")
            ));
        }
        let request = protocol::Request::RunTask {
            task: program.task.clone(),
            args: args.task_args.clone(),
            require_files,
            start_apps: args.start_apps,
        };
        debuggee
            .agent
            .request::<protocol::Done>(&request, AGENT_CALL_TIMEOUT)
            .await
            .map_err(|e| RequestError::Internal(format!("could not start the task: {e}")))?;
        program.started = true;
        let mut command_line = vec!["mix".to_owned(), program.task.clone()];
        command_line.extend(args.task_args.iter().cloned());
        self.client
            .console(format!("elixir-dap: running `{}`", command_line.join(" ")));
        self.start_background_interpretation(later);
        Ok(None)
    }
}

pub(super) fn project_name(config: &LaunchConfig) -> String {
    config
        .project_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.project_dir.display().to_string())
}

/// The debugger's settings from a launch's (or an attach's) attributes.
pub(super) fn debugger_config(args: &launch::LaunchArguments) -> DebuggerConfig<'_> {
    DebuggerConfig {
        interpret_patterns: args.debug_interpret_modules_patterns.as_deref(),
        auto_interpret_all: args.debug_auto_interpret_all_modules,
        exclude_modules: &args.exclude_modules,
        stack_trace_mode: args.stack_trace_mode.unwrap_or_default().as_int_flag(),
        expression_timeout: Duration::from_millis(args.debug_expression_timeout_ms),
        lazy_interpretation: args.lazy_interpretation,
        eager_patterns: &args.eager_interpret_modules_patterns,
        native: args.debug_backend == launch::DebugBackend::Native,
    }
}
