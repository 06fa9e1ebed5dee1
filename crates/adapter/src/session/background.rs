//! Background interpretation (`lazyInterpretation: "background"`, see
//! [`debugger::lazy`]): once the task has started, a task of its own hands
//! the selected modules not interpreted yet to the agent, a chunk at a time
//! at low process priority, each chunk under the debugger's interpretation
//! gate; the session records each reply between its other work.

use super::*;
use crate::debugger::lazy::{self, How};
use beam::protocol::{Interpreted, Priority};

/// What the background task reports to the session loop.
pub(super) enum Chunk {
    /// One agent call's reply (how many of its modules were interpreted or
    /// refused: not those left `busy`).
    Done(usize, Result<Interpreted, AgentError>),
    /// Every module was handed over; those a process still ran natively at
    /// the second try are left for later (by atom).
    Finished(Vec<String>),
}

/// The background task of a session, aborted when dropped.
pub(super) struct Background {
    task: tokio::task::JoinHandle<()>,
    replies: mpsc::UnboundedReceiver<Chunk>,
    progress: Option<String>,
    total: usize,
    done: usize,
    started: std::time::Instant,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The next report of the background task; never, without one.
pub(super) async fn next_chunk(background: &mut Option<Background>) -> Option<Chunk> {
    match background {
        Some(background) => background.replies.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Starts interpreting `modules` in the background (nothing without a
    /// debugger, or with `lazyInterpretation` other than `background`).
    pub(super) fn start_background_interpretation(&mut self, modules: Vec<String>) {
        let Some(debugger) = self.debugger.as_mut() else { return };
        debugger.task_started();
        if debugger.lazy_mode() != crate::launch::LazyInterpretation::Background {
            return;
        }
        self.spawn_background(modules);
    }

    /// Interprets in the background the modules a big reload left to
    /// interpret later (see [`crate::debugger::Debugger::split_for_reload`]),
    /// unless `lazyInterpretation` is `onDemand` (then when needed). A
    /// background task at work starts again with every pending module, its
    /// own rest among them. The caller holds the interpretation gate, so that
    /// task is between two chunks.
    pub(super) fn queue_background_interpretation(&mut self, modules: Vec<String>) {
        let Some(mode) = self.debugger.as_ref().map(|d| d.lazy_mode()) else {
            return;
        };
        if modules.is_empty() || mode == crate::launch::LazyInterpretation::OnDemand {
            return;
        }
        let modules = match self.background.take() {
            Some(mut running) => {
                let progress = running.progress.take();
                drop(running);
                self.progress_end(progress, "continued with the reloaded modules");
                self.debugger
                    .as_ref()
                    .map(|d| d.pending_interpretation())
                    .unwrap_or_default()
            }
            None => modules,
        };
        self.spawn_background(modules);
    }

    fn spawn_background(&mut self, modules: Vec<String>) {
        let Some(debugger) = self.debugger.as_mut() else { return };
        debugger.background_running(!modules.is_empty());
        if modules.is_empty() {
            return;
        }
        let agent = debugger.agent().clone();
        let gate = debugger.interpret_gate();
        let total = modules.len();
        let (tx, replies) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            // Modules a process runs are left out and tried once more at the
            // end (see the agent's `interpret_pending`).
            let mut queue = modules;
            for _pass in 0..2 {
                let mut busy = Vec::new();
                for chunk in queue.chunks(lazy::BACKGROUND_CHUNK) {
                    let reply = {
                        let _gate = gate.lock().await;
                        lazy::interpret_pending_call(&agent, chunk, Priority::Low).await
                    };
                    let (left, reply) = match reply {
                        Ok(mut reply) => (std::mem::take(&mut reply.busy), Ok(reply.into_interpreted())),
                        Err(error) => (Vec::new(), Err(error)),
                    };
                    let failed = reply.is_err();
                    let count = chunk.len().saturating_sub(left.len());
                    busy.extend(left);
                    if tx.send(Chunk::Done(count, reply)).is_err() || failed {
                        return;
                    }
                }
                queue = busy;
                if queue.is_empty() {
                    break;
                }
            }
            let _ = tx.send(Chunk::Finished(queue));
        });
        let counted = ::reload::counted(total, "module", "modules");
        let progress = self.progress_start("Interpreting in the background", &counted);
        self.background = Some(Background {
            task,
            replies,
            progress,
            total,
            done: 0,
            started: std::time::Instant::now(),
        });
    }

    /// Records one report of the background task.
    pub(super) fn on_background_chunk(&mut self, chunk: Option<Chunk>) {
        let Some(background) = self.background.as_mut() else {
            return;
        };
        match chunk {
            Some(Chunk::Done(count, Ok(reply))) => {
                background.done += count;
                if let Some(debugger) = &mut self.debugger {
                    debugger.record_interpreted_as(&reply, How::Background);
                }
                if let Some(id) = &background.progress {
                    let percentage = (background.done * 100 / background.total.max(1)) as u64;
                    self.client.event(
                        "progressUpdate",
                        json!({
                            "progressId": id,
                            "message": format!("{} of {} modules", background.done, background.total),
                            "percentage": percentage,
                        }),
                    );
                }
            }
            Some(Chunk::Finished(busy)) => {
                let elapsed = background.started.elapsed().as_millis();
                let counted = ::reload::counted(background.done, "module", "modules");
                let progress = background.progress.take();
                self.background = None;
                if let Some(debugger) = &mut self.debugger {
                    debugger.background_finished();
                    debugger.background_running(false);
                }
                self.progress_end(progress, &format!("{counted} interpreted in {elapsed} ms"));
                self.client.console(format!(
                    "elixir-dap: interpreted {counted} in the background in {elapsed} ms"
                ));
                if !busy.is_empty() {
                    let names: Vec<&str> = busy.iter().map(|a| a.strip_prefix("Elixir.").unwrap_or(a)).collect();
                    self.client.console(format!(
                        "elixir-dap: left native, since a process runs them: {} (a breakpoint or a step into them \
                         interprets them; `eagerInterpretModulesPatterns` interprets them before the start)",
                        names.join(", ")
                    ));
                }
            }
            Some(Chunk::Done(_, Err(error))) => {
                let progress = background.progress.take();
                self.background = None;
                if let Some(debugger) = &mut self.debugger {
                    debugger.background_running(false);
                }
                self.progress_end(progress, "stopped");
                // The VM ending while it works is no news; a refusal is.
                match error {
                    AgentError::Failed(_) => self
                        .client
                        .console(format!("elixir-dap: interpreting in the background stopped: {error}")),
                    other => tracing::info!(%other, "background interpretation ended"),
                }
            }
            None => {
                let progress = background.progress.take();
                self.background = None;
                if let Some(debugger) = &mut self.debugger {
                    debugger.background_running(false);
                }
                self.progress_end(progress, "stopped");
            }
        }
    }
}
