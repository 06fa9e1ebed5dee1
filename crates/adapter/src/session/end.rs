//! Ending a session: `disconnect`, `terminate`, the VM's exit, and shutdown.

use super::*;

impl Session {
    pub(super) async fn disconnect(&mut self, arguments: &Value) -> Handled {
        // Answered before this request, whose response may end the client.
        self.cancel_later("`disconnect`");
        let args: DisconnectArguments =
            parse_arguments(arguments).map_err(|e| RequestError::User(format!("disconnect: {e}")))?;
        // `exited` and `terminated` wait for this request's response.
        self.disconnecting = true;
        if let Some(launching) = self.launching.take() {
            self.progress_end(launching.progress, "cancelled");
        }
        if self.attached.is_some() && self.debuggee.is_some() {
            return self.detach_node().await;
        }
        let Some(mut debuggee) = self.debuggee.take() else {
            return Ok(None);
        };
        if self.program.is_none() {
            // The launch was still loading the project: nothing to detach.
            debuggee.terminate();
            if let Some(code) = debuggee.wait_exit(EXIT_TIMEOUT).await {
                self.announce_end(Some(code));
            }
            return Ok(None);
        }
        // A launched program is terminated unless the client asks otherwise.
        if args.terminate_debuggee.unwrap_or(true) {
            debuggee.terminate();
            self.debuggee = Some(debuggee);
            self.await_exit().await;
            return Ok(None);
        }
        if let Err(e) = debuggee
            .agent
            .request::<protocol::Detached>(&protocol::Request::Detach, DETACH_TIMEOUT)
            .await
        {
            // The agent halts the VM when the channel closes unless it was
            // told to detach: it was not, so the program cannot run on.
            debuggee.terminate();
            self.debuggee = Some(debuggee);
            self.await_exit().await;
            return Err(RequestError::Internal(format!(
                "could not detach from the VM ({e}); the program was terminated instead"
            )));
        }
        let log = debuggee.release(EXIT_TIMEOUT).await;
        let destination = match log {
            Some(path) => format!("its output goes to {}", path.display()),
            None => "its output could not be redirected to a file (see the adapter's log)".to_owned(),
        };
        self.client.console(format!(
            "elixir-dap: detached; the VM (OS pid {}) keeps running, {destination}",
            debuggee.os_pid
        ));
        Ok(None)
    }

    pub(super) fn terminate(&mut self) -> Handled {
        self.stop_requested = true;
        match self.debuggee.as_mut() {
            // The `exited` and `terminated` events follow when the VM is gone.
            Some(debuggee) => debuggee.terminate(),
            // Nothing runs (the launch failed or was cancelled): the client
            // still waits for `terminated` to end the session.
            None => self.announce_end(None),
        }
        Ok(None)
    }

    /// Handles VM events until the VM's exit has been reported, or
    /// [`EXIT_TIMEOUT`] has passed (then says so on the console).
    pub(super) async fn await_exit(&mut self) {
        let deadline = tokio::time::Instant::now() + EXIT_TIMEOUT;
        while !self.terminated && self.debuggee.is_some() {
            match tokio::time::timeout_at(deadline, self.vm_events.recv()).await {
                Ok(Some(event)) => self.handle_vm_event(event).await,
                Ok(None) => break,
                Err(_) => {
                    let pid = self.debuggee.as_ref().map_or(0, |d| d.os_pid);
                    tracing::error!(
                        pid,
                        "the VM did not exit within {} ms of being killed",
                        EXIT_TIMEOUT.as_millis()
                    );
                    self.client.console(format!(
                        "elixir-dap: the VM (OS pid {pid}) was killed but its exit was not confirmed within {} ms",
                        EXIT_TIMEOUT.as_millis()
                    ));
                    break;
                }
            }
        }
        self.debuggee = None;
    }

    pub(super) async fn shutdown(&mut self) {
        if let Some(mut debuggee) = self.debuggee.take() {
            debuggee.terminate();
            // Let the kill land before the runtime goes away.
            if debuggee.wait_exit(EXIT_TIMEOUT).await.is_none() {
                tracing::error!(
                    pid = debuggee.os_pid,
                    "the VM's exit was not confirmed within {} ms",
                    EXIT_TIMEOUT.as_millis()
                );
            }
        }
        if let Some(pump) = self.pump.take() {
            pump.abort();
        }
        if let Some(reload) = self.reload.take() {
            reload.remove_overlay();
        }
    }
}
