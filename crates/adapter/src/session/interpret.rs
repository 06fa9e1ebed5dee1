//! Interpretation: the modules selected for debugging handed to the interpreter.

use super::*;

impl Session {
    /// Interprets `pending` (selected modules not interpreted yet: with
    /// `lazyInterpretation`, those a stop needs before the start, see
    /// [`debugger::lazy`]; else every one) before the task runs. The agent
    /// prepares the modules of a call and builds their interpreted versions
    /// in parallel, then loads and lists them in batches (`interpret/1` in
    /// `elixir_dap_backend_int.erl`); two calls are in flight at a time so
    /// that no core waits for the next call. Progress is shown per call.
    pub(super) async fn interpret_selected(&mut self, pending: Vec<String>) -> Result<(), RequestError> {
        let Some(debugger) = &self.debugger else { return Ok(()) };
        if pending.is_empty() {
            return Ok(());
        }
        let agent = debugger.agent().clone();
        let total = pending.len();
        let modules = ::reload::counted(total, "module", "modules");
        let progress = self.progress_start("Interpreting", &modules);
        let started = std::time::Instant::now();
        let mut chunks = pending.chunks(debugger::interpret_chunk(total)).map(<[String]>::to_vec);
        let mut in_flight = tokio::task::JoinSet::new();
        let spawn = |set: &mut tokio::task::JoinSet<_>, modules: Vec<String>| {
            let agent = agent.clone();
            set.spawn(async move {
                let reply = debugger::interpret_call(&agent, &modules).await;
                (modules.len(), reply)
            });
        };
        for modules in chunks.by_ref().take(2) {
            spawn(&mut in_flight, modules);
        }
        let mut done = 0;
        while let Some(joined) = in_flight.join_next().await {
            let (count, reply) =
                joined.map_err(|e| RequestError::Internal(format!("interpreting modules failed: {e}")))?;
            let reply = reply.map_err(|e| RequestError::Internal(format!("interpreting modules failed: {e}")))?;
            if let Some(modules) = chunks.next() {
                spawn(&mut in_flight, modules);
            }
            if let Some(debugger) = &mut self.debugger {
                debugger.record_interpreted(&reply);
            }
            done += count;
            if let Some(id) = &progress {
                let percentage = (done * 100 / total) as u64;
                self.client.event(
                    "progressUpdate",
                    json!({ "progressId": id, "message": format!("{done} of {total} modules"), "percentage": percentage }),
                );
            }
        }
        let elapsed = started.elapsed().as_millis();
        self.progress_end(progress, &format!("{modules} interpreted in {elapsed} ms"));
        self.client
            .console(format!("elixir-dap: interpreted {modules} in {elapsed} ms"));
        Ok(())
    }
}
