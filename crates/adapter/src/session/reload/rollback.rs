//! Rolling a reload back: the whole batch as one transaction.

use super::*;

impl Session {
    /// Asks the agent to restore the batch's previous code; returns whether
    /// anything was restored or removed.
    pub(super) async fn rollback(&mut self, agent: &AgentClient, was_interpreted: &[String]) -> Result<bool, String> {
        let reply: protocol::RolledBack = agent
            .request(&protocol::Request::ReloadRollback, STEP_CALL_TIMEOUT)
            .await
            .map_err(|e| format!("the rollback failed in the VM: {e}"))?;
        let restored = atoms(&reply.restored);
        let removed = atoms(&reply.removed);
        let failures = failures(&reply.failures);
        if let Some(debugger) = &mut self.debugger {
            debugger.remove_modules(&removed);
            debugger.mark_interpreted(was_interpreted.iter());
            if let Err(e) = debugger.resync_breakpoints(was_interpreted).await {
                tracing::warn!(%e, "breakpoints could not be set again after a rollback");
            }
        }
        let mut failures = failures;
        for peer in &reply.peers {
            failures.extend(report::failures(&peer.failures).into_iter().map(|f| FailedModule {
                module: format!("{} on {}", f.module, peer.node),
                reason: f.reason,
            }));
            if !peer.error.is_empty() {
                failures.push(FailedModule {
                    module: format!("every module on {}", peer.node),
                    reason: peer.error.clone(),
                });
            }
        }
        if !failures.is_empty() {
            let text: Vec<String> = failures.iter().map(|f| format!("{}: {}", f.module, f.reason)).collect();
            self.client
                .console(format!("elixir-dap: the rollback was incomplete: {}", text.join("; ")));
        }
        Ok(!restored.is_empty() || !removed.is_empty())
    }
}
