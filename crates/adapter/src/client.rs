//! The outbound half of a session. Every response and event goes through a
//! [`Client`] into one writer task, which assigns `seq` numbers in order and
//! turns file lines and columns into the client's ([`dap::Positions`]).

use dap::types::{OutputCategory, OutputEventBody};
use dap::{write_frame, Event, Outgoing, Positions, Response};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Client {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    positions: Arc<Mutex<Positions>>,
}

impl Client {
    /// Creates a client and the future that writes its messages to `writer`;
    /// the future ends when every `Client` clone is dropped or the writer fails.
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(
        mut writer: W,
    ) -> (Client, impl std::future::Future<Output = ()>) {
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let positions = Arc::new(Mutex::new(Positions::default()));
        let writer_positions = positions.clone();
        let writer_task = async move {
            let mut seq = 0i64;
            while let Some(mut message) = queue.recv().await {
                seq += 1;
                let base = writer_positions.lock().map(|p| *p).unwrap_or_default();
                base.to_client(&mut message);
                if let Err(error) = write_frame(&mut writer, &message.to_json(seq)).await {
                    tracing::info!(%error, "the client closed its input; dropping further messages");
                    break;
                }
            }
        };
        (Client { outgoing, positions }, writer_task)
    }

    /// How the client counts lines and columns (from its `initialize`).
    pub fn set_positions(&self, positions: Positions) {
        if let Ok(mut current) = self.positions.lock() {
            *current = positions;
        }
    }

    pub fn positions(&self) -> Positions {
        self.positions.lock().map(|p| *p).unwrap_or_default()
    }

    pub fn send(&self, message: Outgoing) {
        // A closed writer means the client is gone; nothing left to tell it.
        let _ = self.outgoing.send(message);
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

    /// A line for the debug console, from the adapter itself.
    pub fn console(&self, line: impl AsRef<str>) {
        self.output(OutputCategory::Console, format!("{}\n", line.as_ref()));
    }
}
