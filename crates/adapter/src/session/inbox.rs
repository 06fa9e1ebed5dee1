//! The session loop's work and the client's messages waiting their turn
//! ([`Inbox`]), and what interrupts work in progress.

use super::*;

/// The next thing the session loop does.
pub(super) enum Work {
    Incoming(Incoming),
    Vm(DebuggeeEvent),
    Saved(watch::Batch),
    /// The launch's project has loaded (or failed to).
    Loaded(Loaded),
    /// A thread stopped or ended.
    Stopped,
    /// A request answered by a task of its own.
    Answered(Result<(Request, Handled), tokio::task::JoinError>),
}

/// What ended the work in progress.
#[derive(Debug)]
pub(super) enum Interrupt {
    /// `disconnect` or `terminate`: handled right after the cancellation.
    Request(Request),
    /// The client closed its input.
    InputClosed,
}

impl Interrupt {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Interrupt::Request(request) if request.command == "disconnect" => "`disconnect`",
            Interrupt::Request(_) => "`terminate`",
            Interrupt::InputClosed => "the end of the client's input",
        }
    }
}

/// The client's messages: the channel from the reader, and those that
/// arrived while other work ran and wait their turn, in order.
pub(super) struct Inbox {
    requests: mpsc::Receiver<Incoming>,
    backlog: VecDeque<Incoming>,
    closed: bool,
}

impl Inbox {
    pub(super) fn new(requests: mpsc::Receiver<Incoming>) -> Inbox {
        Inbox {
            requests,
            backlog: VecDeque::new(),
            closed: false,
        }
    }

    /// The next message, oldest first; `None` once the client's input ended
    /// and every message was taken.
    pub(super) async fn next(&mut self) -> Option<Incoming> {
        if let Some(incoming) = self.backlog.pop_front() {
            return Some(incoming);
        }
        if self.closed {
            return None;
        }
        let incoming = self.requests.recv().await;
        self.closed = incoming.is_none();
        incoming
    }

    /// Runs `work` while reading the client: `disconnect`, `terminate` and
    /// the end of input drop `work` (cancelling it) and are returned as the
    /// [`Interrupt`]; other messages are kept for later, in order.
    pub(super) async fn race<T>(&mut self, work: impl std::future::Future<Output = T>) -> Result<T, Interrupt> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                done = &mut work => return Ok(done),
                incoming = self.requests.recv(), if !self.closed => match incoming {
                    None => {
                        self.closed = true;
                        return Err(Interrupt::InputClosed);
                    }
                    Some(Incoming::Request(request)) if matches!(request.command.as_str(), "disconnect" | "terminate") => {
                        return Err(Interrupt::Request(request));
                    }
                    Some(other) => self.backlog.push_back(other),
                },
            }
        }
    }

    /// The session ends: requests still waiting get an error, not silence.
    pub(super) fn refuse_backlog(&mut self, client: &Client) {
        for incoming in self.backlog.drain(..) {
            if let Incoming::Request(request) = incoming {
                // A request racing the end of the session: expected.
                let error =
                    RequestError::Silent(format!("{}: the session ended before it was handled", request.command));
                client.respond(error.to_response(request.seq, &request.command));
            }
        }
    }
}
