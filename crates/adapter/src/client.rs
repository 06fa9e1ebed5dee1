//! The outbound half of a session. Every response and event goes through a
//! [`Client`] into one writer task, which assigns `seq` numbers in order and
//! turns file lines and columns into the client's ([`dap::Positions`]).
//!
//! The program's output is paced ([`Client::program_output`]): at most
//! [`OUTPUT_BUDGET_BYTES`] of it wait in the queue at any time, so a client
//! that reads slowly slows the program down instead of growing the adapter's
//! memory. Responses and the adapter's own events are small and not paced.

use dap::types::{OutputCategory, OutputEventBody};
use dap::{write_frame, Event, Outgoing, Positions, Response};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes of program output that may wait for the client at once.
pub const OUTPUT_BUDGET_BYTES: usize = 1024 * 1024;

/// A message in the writer's queue, with the share of the output budget it
/// holds until it is written.
struct Queued {
    message: Outgoing,
    _budget: Option<OwnedSemaphorePermit>,
}

#[derive(Clone)]
pub struct Client {
    outgoing: mpsc::UnboundedSender<Queued>,
    output_budget: Arc<Semaphore>,
    positions: Arc<Mutex<Positions>>,
    /// Whether the client may be sent events DAP does not define
    /// (`codeReloaded`, `reloadPending`): see [`Client::extension_event`].
    extension_events: Arc<AtomicBool>,
}

impl Client {
    /// Creates a client and the future that writes its messages to `writer`;
    /// the future ends when every `Client` clone is dropped or the writer fails.
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(
        mut writer: W,
    ) -> (Client, impl std::future::Future<Output = ()>) {
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Queued>();
        let output_budget = Arc::new(Semaphore::new(OUTPUT_BUDGET_BYTES));
        let budget = output_budget.clone();
        let positions = Arc::new(Mutex::new(Positions::default()));
        let writer_positions = positions.clone();
        let writer_task = async move {
            let mut seq = 0i64;
            while let Some(mut queued) = queue.recv().await {
                seq += 1;
                let base = writer_positions.lock().map(|p| *p).unwrap_or_default();
                base.to_client(&mut queued.message);
                if let Err(error) = write_frame(&mut writer, &queued.message.to_json(seq)).await {
                    tracing::info!(%error, "the client closed its input; dropping further messages");
                    // Nothing will be written any more: output must not wait for room.
                    budget.close();
                    break;
                }
                // `queued` (and its share of the budget) is released here.
            }
        };
        (
            Client {
                outgoing,
                output_budget,
                positions,
                extension_events: Arc::new(AtomicBool::new(true)),
            },
            writer_task,
        )
    }

    /// How the client counts lines and columns (from its `initialize`).
    pub fn set_positions(&self, positions: Positions) {
        if let Ok(mut current) = self.positions.lock() {
            *current = positions;
        }
    }

    /// Whether events DAP does not define may be sent (from `initialize`:
    /// see [`extension_events_for`]).
    pub fn set_extension_events(&self, allowed: bool) {
        self.extension_events.store(allowed, Ordering::Relaxed);
    }

    /// Sends one of elixir-dap's own events (docs/protocol.md), unless the
    /// client is one that stops reading at an event it does not know (a
    /// reload's outcome is on the console too).
    pub fn extension_event(&self, name: &str, body: impl Serialize) {
        if self.extension_events.load(Ordering::Relaxed) {
            self.event(name, body);
        }
    }

    pub fn positions(&self) -> Positions {
        self.positions.lock().map(|p| *p).unwrap_or_default()
    }

    pub fn send(&self, message: Outgoing) {
        // A closed writer means the client is gone; nothing left to tell it.
        let _ = self.outgoing.send(Queued { message, _budget: None });
    }

    pub fn respond(&self, response: Response) {
        self.send(Outgoing::Response(response));
    }

    pub fn event(&self, name: &str, body: impl Serialize) {
        self.send(Outgoing::Event(Event::new(name, body)));
    }

    pub fn output(&self, category: OutputCategory, text: impl Into<String>) {
        self.event(
            "output",
            OutputEventBody {
                category,
                output: text.into(),
            },
        );
    }

    /// Queues the program's output once the client has room for it: waits
    /// while more than [`OUTPUT_BUDGET_BYTES`] of output are still unwritten.
    /// Returns at once, dropping the text, when the client is gone.
    pub async fn program_output(&self, category: OutputCategory, text: String) {
        let cost = u32::try_from(text.len().clamp(1, OUTPUT_BUDGET_BYTES)).unwrap_or(u32::MAX);
        let Ok(permit) = self.output_budget.clone().acquire_many_owned(cost).await else {
            return;
        };
        let message = Outgoing::Event(Event::new("output", OutputEventBody { category, output: text }));
        let _ = self.outgoing.send(Queued {
            message,
            _budget: Some(permit),
        });
    }

    /// A line for the debug console, from the adapter itself.
    pub fn console(&self, line: impl AsRef<str>) {
        self.output(OutputCategory::Console, format!("{}\n", line.as_ref()));
    }
}

/// Whether a client, by the `clientID` of its `initialize`, may be sent
/// events DAP does not define. DAP asks clients to ignore unknown events;
/// Helix up to 25.01 (`clientID` `hx`, Debian trixie's) stops reading the
/// adapter at the first one instead (helix-dap's transport fails to parse it),
/// which left the session deaf after the first reload on save.
pub fn extension_events_for(client_id: Option<&str>) -> bool {
    client_id != Some("hx")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// With nobody reading, program output stops being accepted once the
    /// budget is queued; reading frees room again.
    #[tokio::test]
    async fn program_output_waits_for_the_client() {
        let (theirs, ours) = tokio::io::duplex(64 * 1024);
        let (client, writer) = Client::new(ours);
        tokio::spawn(writer);
        let chunk = "x".repeat(16 * 1024);
        let mut queued = 0usize;
        let blocked = loop {
            let sent = tokio::time::timeout(
                Duration::from_millis(200),
                client.program_output(OutputCategory::Stdout, chunk.clone()),
            )
            .await;
            if sent.is_err() {
                break true;
            }
            queued += chunk.len();
            assert!(queued <= 4 * OUTPUT_BUDGET_BYTES, "output was never held back");
        };
        assert!(blocked);
        assert!(
            queued >= OUTPUT_BUDGET_BYTES - chunk.len(),
            "held back after {queued} bytes"
        );
        // A reader drains the queue and output flows again.
        tokio::spawn(async move {
            let mut theirs = theirs;
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut theirs, &mut sink).await;
        });
        tokio::time::timeout(
            Duration::from_secs(5),
            client.program_output(OutputCategory::Stdout, chunk),
        )
        .await
        .expect("output flows once the client reads");
    }

    #[test]
    fn every_client_but_helix_gets_extension_events() {
        for id in [
            None,
            Some("vscode"),
            Some("emacs"),
            Some("neovim"),
            Some("zed"),
            Some(""),
        ] {
            assert!(extension_events_for(id), "{id:?}");
        }
        assert!(!extension_events_for(Some("hx")));
    }
}
