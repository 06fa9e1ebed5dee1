//! The outbound half of a session. Every response and event goes through a
//! [`Client`] into one writer task, which assigns `seq` numbers in order.

use dap::types::{OutputCategory, OutputEventBody};
use dap::{write_frame, Event, Outgoing, Response};
use serde::Serialize;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Client {
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

impl Client {
    /// Creates a client and the future that writes its messages to `writer`;
    /// the future ends when every `Client` clone is dropped or the writer fails.
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(
        mut writer: W,
    ) -> (Client, impl std::future::Future<Output = ()>) {
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let writer_task = async move {
            let mut seq = 0i64;
            while let Some(message) = queue.recv().await {
                seq += 1;
                if let Err(error) = write_frame(&mut writer, &message.to_json(seq)).await {
                    tracing::info!(%error, "the client closed its input; dropping further messages");
                    break;
                }
            }
        };
        (Client { outgoing }, writer_task)
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
