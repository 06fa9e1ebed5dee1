//! Events from the VM and the agent: the pump, the session's handling of the
//! others, the end of the program, and progress events.

use super::*;

impl Session {
    pub(super) async fn handle_vm_event(&mut self, event: DebuggeeEvent) {
        match event {
            // Output is forwarded by the pump and never reaches the session.
            DebuggeeEvent::Output { .. } => {}
            DebuggeeEvent::Agent(AgentEvent::AppCompiled(compiled)) => self.on_app_compiled(&compiled).await,
            DebuggeeEvent::Agent(AgentEvent::ScriptModule(script)) => {
                if let Some(debugger) = &mut self.debugger {
                    debugger.on_script_module(&script).await;
                }
            }
            DebuggeeEvent::Agent(event) => self.handle_agent_event(event),
            DebuggeeEvent::Notice(text) => self.client.console(text),
            DebuggeeEvent::Exited { code } => {
                if let Some(launching) = self.launching.take().filter(|_| self.stop_requested) {
                    self.progress_end(launching.progress, "cancelled");
                } else if let Some(launching) = self.launching.take() {
                    // The VM died while the project was loading.
                    self.progress_end(launching.progress, "failed");
                    self.client.output(
                        OutputCategory::Stderr,
                        format!(
                            "elixir-dap: the VM exited with status {code} while the project was loading \
                             (see its output above)\n"
                        ),
                    );
                } else if self.program.is_none() || self.terminated {
                    // A failed launch already answered for this VM.
                    return;
                }
                self.debuggee = None;
                self.debugger = None;
                *lock(&self.pump_threads) = None;
                self.stop_epoch = None;
                if let Some(attached) = &self.attached {
                    // The helper's end: the node attached to is not ours and
                    // may run on (its agent cleaned up when the helper went).
                    if !self.stop_requested {
                        self.client.console(format!(
                            "elixir-dap: the connection to {} ended (helper status {code})",
                            attached.node
                        ));
                    }
                    self.announce_end(None);
                    return;
                }
                self.announce_end(Some(code));
            }
        }
    }

    pub(super) fn handle_agent_event(&mut self, event: AgentEvent) {
        // The pump hands the debugger's events to the thread table itself
        // once the debugger has started; this catches those sent before.
        if let Some(debugger) = &self.debugger {
            if debugger.thread_table().lock().on_event(&event) {
                return;
            }
        }
        match event {
            AgentEvent::TaskFinished(protocol::TaskFinished { status, no_halt }) => {
                let exit_after = self
                    .program
                    .as_ref()
                    .is_some_and(|p| p.config.args.exit_after_task_returns);
                if exit_after && !no_halt {
                    if let Some(debuggee) = &self.debuggee {
                        if debuggee.agent.notify(&protocol::Request::Halt { status }).is_err() {
                            tracing::warn!("could not ask the VM to halt; it is gone already");
                        }
                    }
                } else if no_halt {
                    self.client
                        .console("elixir-dap: the task asked the VM not to halt; it runs until you disconnect");
                } else {
                    self.client.console(format!(
                        "elixir-dap: the task returned (status {status}); the VM keeps running until you disconnect"
                    ));
                }
            }
            other => tracing::debug!(event = other.name(), ?other, "agent event"),
        }
    }

    /// Reports the end of the program: `exited` (when the VM's status is
    /// known) and `terminated`, once; held while a `disconnect` is handled.
    pub(super) fn announce_end(&mut self, exit_code: Option<i64>) {
        if self.terminated {
            return;
        }
        self.terminated = true;
        if self.disconnecting {
            self.held_exit_code = exit_code;
            return;
        }
        if let Some(code) = exit_code {
            self.client.event("exited", ExitedEventBody { exit_code: code });
        }
        self.send_terminated();
    }

    /// After the `disconnect` response: what [`Self::announce_end`] held,
    /// and `terminated` in any case.
    pub(super) fn announce_held_end(&mut self) {
        if let Some(code) = self.held_exit_code.take() {
            self.client.event("exited", ExitedEventBody { exit_code: code });
        }
        self.send_terminated();
    }

    pub(super) fn send_terminated(&mut self) {
        if !self.terminated_sent {
            self.terminated_sent = true;
            self.client.event("terminated", ());
        }
    }

    pub(super) fn progress_update(&self, id: &Option<String>, message: &str) {
        if let Some(id) = id {
            self.client
                .event("progressUpdate", json!({ "progressId": id, "message": message }));
        }
    }

    pub(super) fn progress_start(&mut self, title: &str, message: &str) -> Option<String> {
        if !self.client_supports_progress {
            return None;
        }
        self.next_progress_id += 1;
        let id = format!("elixir-dap-{}", self.next_progress_id);
        self.open_progress.push(id.clone());
        self.client.event(
            "progressStart",
            json!({ "progressId": id, "title": title, "message": message }),
        );
        Some(id)
    }

    pub(super) fn progress_end(&mut self, id: Option<String>, message: &str) {
        if let Some(id) = id {
            self.open_progress.retain(|open| open != &id);
            self.client
                .event("progressEnd", json!({ "progressId": id, "message": message }));
        }
    }
}

/// Forwards the VM's output straight to the client, the debugger's events to
/// the thread table (once there is one), and everything else to the session,
/// preserving order (output before the exit that follows it).
/// Output waits for room in the client's queue ([`Client::program_output`]),
/// so a slow client slows the program down rather than filling memory.
pub(super) async fn pump_vm_events(
    mut events: mpsc::Receiver<DebuggeeEvent>,
    client: Client,
    session: mpsc::UnboundedSender<DebuggeeEvent>,
    threads: Arc<Mutex<Option<ThreadTable>>>,
) {
    while let Some(event) = events.recv().await {
        match event {
            DebuggeeEvent::Output { stream, text } => {
                let category = match stream {
                    OutputStream::Stdout => OutputCategory::Stdout,
                    OutputStream::Stderr => OutputCategory::Stderr,
                };
                client.program_output(category, text).await;
            }
            DebuggeeEvent::Agent(event) if handled_by_threads(&threads, &event) => {}
            other => {
                if session.send(other).is_err() {
                    break;
                }
            }
        }
    }
}

pub(super) fn handled_by_threads(threads: &Mutex<Option<ThreadTable>>, event: &AgentEvent) -> bool {
    let table = lock(threads).clone();
    table.is_some_and(|table| table.lock().on_event(event))
}
