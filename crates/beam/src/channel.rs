//! The control channel to the agent: `{packet, 4}` frames of External Term
//! Format over loopback TCP.
//!
//! [`AgentClient::request`] sends `{call, Id, Request}` and awaits the
//! matching `{reply, Id, Result}`; `{event, Name, Data}` frames are forwarded to the
//! session as [`AgentEvent`]s. One task reads, one writes, so a slow reader
//! of events never blocks a call.

use crate::protocol::{AgentEvent, Decode, Failure, Request};
use crate::term::{self, TermExt};
use eetf::Term;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Frames larger than this from the agent are a protocol violation.
const MAX_FRAME_BYTES: u32 = 256 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AgentError {
    #[error("the debuggee did not answer `{request}` within {}", human_duration(*.after))]
    Timeout { request: String, after: Duration },
    #[error("the connection to the debuggee VM is closed")]
    Closed,
    /// The agent executed the request and reports why it failed (worded
    /// by [`Failure`]'s `Display`).
    #[error("{0}")]
    Failed(Failure),
    /// A frame or reply of a shape the protocol does not know (what and
    /// where: [`crate::protocol`]).
    #[error("unexpected reply from the agent: {0}")]
    Protocol(String),
}

/// Calls awaiting their reply. Once the reader has seen the channel close,
/// `closed` is set under the same lock so no new call can wait forever.
#[derive(Default)]
struct PendingCalls {
    waiters: HashMap<u64, oneshot::Sender<Result<Term, AgentError>>>,
    closed: bool,
}

type Pending = Arc<Mutex<PendingCalls>>;

/// A handle for calls to the agent. Cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
}

impl AgentClient {
    /// Starts the reader and writer tasks over an established connection
    /// (after the hello frame was checked). Events go to `events`.
    pub fn start<R, W>(reader: R, writer: W, events: mpsc::UnboundedSender<AgentEvent>) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (frames, outgoing) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        tokio::spawn(write_frames(writer, outgoing));
        tokio::spawn(read_frames(reader, pending.clone(), events));
        AgentClient {
            frames,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Sends a request term and waits for its reply. `Ok` carries the
    /// `Value` of `{ok, Value}`; `{error, Map}` becomes
    /// [`AgentError::Failed`]. `name` names the request in errors. The
    /// adapter calls through [`AgentClient::request`], which types both.
    pub(crate) async fn call(&self, request: Term, name: &str, timeout: Duration) -> Result<Term, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.closed {
                return Err(AgentError::Closed);
            }
            pending.waiters.insert(id, reply_tx);
        }
        let frame = term::tuple(vec![term::atom("call"), term::int(id as i64), request]);
        if self.frames.send(encode(&frame)).is_err() {
            lock(&self.pending).waiters.remove(&id);
            return Err(AgentError::Closed);
        }
        let sent = std::time::Instant::now();
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(result)) => {
                // Where a launch or a reload spends its time, call by call.
                tracing::debug!(
                    request = name,
                    ms = sent.elapsed().as_secs_f64() * 1e3,
                    "agent answered"
                );
                result
            }
            Ok(Err(_)) => Err(AgentError::Closed),
            Err(_) => {
                lock(&self.pending).waiters.remove(&id);
                Err(AgentError::Timeout {
                    request: name.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    /// Sends a request that has no reply.
    pub(crate) fn cast(&self, request: Term) -> Result<(), AgentError> {
        let frame = term::tuple(vec![term::atom("cast"), request]);
        self.frames.send(encode(&frame)).map_err(|_| AgentError::Closed)
    }
}

/// The typed calls: every request goes through [`crate::protocol`].
impl AgentClient {
    /// Sends `request` and decodes its reply as `T` (the type its
    /// [`Request`] variant names). Errors: the agent's failure
    /// ([`AgentError::Failed`]), a reply of another shape
    /// ([`AgentError::Protocol`], naming the request and the key), a
    /// timeout or a closed channel.
    pub async fn request<T: Decode>(&self, request: &Request, timeout: Duration) -> Result<T, AgentError> {
        let name = request.name();
        let reply = self.call(request.term(), &name, timeout).await?;
        T::decode(&reply).map_err(|error| AgentError::Protocol(format!("the reply to `{name}`: {error}")))
    }

    /// Sends a request that has no reply ([`Request::Halt`]).
    pub fn notify(&self, request: &Request) -> Result<(), AgentError> {
        self.cast(request.term())
    }
}

pub use crate::protocol::reason::human_duration;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map inconsistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn encode(term: &Term) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Encoding into a Vec only fails for terms we never build (e.g. atoms
    // over 255 characters); such a frame is dropped by the agent as undecodable.
    if let Err(error) = term.encode(&mut bytes) {
        tracing::error!(%error, "could not encode a term for the agent");
    }
    bytes
}

/// Writes one `{packet, 4}` frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"))?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(payload).await?;
    writer.flush().await
}

/// Reads one `{packet, 4}` frame of the (authenticated) agent; `Ok(None)`
/// at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    read_frame_limited(reader, MAX_FRAME_BYTES).await
}

/// Reads one `{packet, 4}` frame of at most `limit` bytes; `Ok(None)` at a
/// clean end of stream. A larger announced length is an `InvalidData` error
/// before anything is allocated or read past the 4-byte header.
pub async fn read_frame_limited<R: AsyncRead + Unpin>(reader: &mut R, limit: u32) -> std::io::Result<Option<Vec<u8>>> {
    let length = match reader.read_u32().await {
        Ok(length) => length,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if length > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes exceeds the limit of {limit} bytes"),
        ));
    }
    let mut payload = vec![0; length as usize];
    reader.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

async fn write_frames<W: AsyncWrite + Unpin>(mut writer: W, mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(frame) = outgoing.recv().await {
        if let Err(error) = write_frame(&mut writer, &frame).await {
            tracing::debug!(%error, "agent channel closed while writing");
            break;
        }
    }
}

async fn read_frames<R: AsyncRead + Unpin>(mut reader: R, pending: Pending, events: mpsc::UnboundedSender<AgentEvent>) {
    loop {
        let frame = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "agent channel failed");
                break;
            }
        };
        let term = match Term::decode(&frame[..]) {
            Ok(term) => term,
            Err(error) => {
                tracing::warn!(%error, "undecodable frame from the agent");
                continue;
            }
        };
        dispatch(term, &pending, &events);
    }
    // Every call still waiting learns that no reply will come.
    let mut pending = lock(&pending);
    pending.closed = true;
    pending.waiters.clear();
}

fn dispatch(term: Term, pending: &Pending, events: &mpsc::UnboundedSender<AgentEvent>) {
    let elements = term.as_elements().unwrap_or_default();
    match (elements.first().and_then(TermExt::as_atom), elements.len()) {
        (Some("reply"), 3) => {
            let Some(id) = elements[1].as_i64() else {
                tracing::warn!(%term, "reply without an integer id");
                return;
            };
            let Some(waiter) = lock(pending).waiters.remove(&(id as u64)) else {
                tracing::debug!(id, "reply to a call that timed out");
                return;
            };
            let _ = waiter.send(parse_result(&elements[2]));
        }
        (Some("event"), 3) => {
            let Some(name) = elements[1].as_atom() else {
                tracing::error!(%term, "an agent event whose name is not an atom");
                return;
            };
            match AgentEvent::decode(name, &elements[2]) {
                Ok(event) => {
                    let _ = events.send(event);
                }
                // A drift between the adapter and the agent: said loudly,
                // never read as an empty event, and passed on for the user.
                Err(error) => {
                    tracing::error!(%error, event = name, "undecodable agent event");
                    let _ = events.send(AgentEvent::Undecodable(crate::protocol::UndecodableEvent {
                        name: name.to_owned(),
                        error: error.to_string(),
                    }));
                }
            }
        }
        _ => tracing::warn!(%term, "unexpected frame from the agent"),
    }
}

fn parse_result(result: &Term) -> Result<Term, AgentError> {
    let elements = result.as_elements().unwrap_or_default();
    match (elements.first().and_then(TermExt::as_atom), elements.get(1)) {
        (Some("ok"), Some(value)) if elements.len() == 2 => Ok(value.clone()),
        (Some("error"), Some(detail)) if elements.len() == 2 => match Failure::decode(detail) {
            Ok(failure) => Err(AgentError::Failed(failure)),
            Err(error) => Err(AgentError::Protocol(format!("a failure: {error}"))),
        },
        _ => Err(AgentError::Protocol(result.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Request;
    use crate::term::{atom, binary, int, list, map, tuple};

    /// A scripted fake agent: answers each call with the given result.
    async fn fake_agent(stream: tokio::io::DuplexStream, answer: impl Fn(&Term) -> Term) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        write_frame(
            &mut writer,
            &encode(&tuple(vec![
                atom("event"),
                atom("task_finished"),
                map(vec![("status", int(0)), ("no_halt", atom("false"))]),
            ])),
        )
        .await
        .unwrap();
        while let Ok(Some(frame)) = read_frame(&mut reader).await {
            let call = Term::decode(&frame[..]).unwrap();
            let elements = call.as_elements().unwrap().to_vec();
            let reply = tuple(vec![atom("reply"), elements[1].clone(), answer(&elements[2])]);
            write_frame(&mut writer, &encode(&reply)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn calls_get_their_replies_and_events_are_forwarded() {
        let (ours, theirs) = tokio::io::duplex(1024);
        tokio::spawn(fake_agent(theirs, |request| match request.as_atom() {
            Some("ping") => tuple(vec![atom("ok"), atom("pong")]),
            _ => tuple(vec![
                atom("error"),
                map(vec![("kind", atom("unknown_request")), ("request", binary("detach"))]),
            ]),
        }));
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let (reader, writer) = tokio::io::split(ours);
        let client = AgentClient::start(reader, writer, events_tx);
        let event = events.recv().await.unwrap();
        assert_eq!(
            event,
            AgentEvent::TaskFinished(crate::protocol::TaskFinished {
                status: 0,
                no_halt: false
            })
        );
        let pong: crate::protocol::Pong = client.request(&Request::Ping, Duration::from_secs(5)).await.unwrap();
        assert_eq!(pong, crate::protocol::Pong);
        let err = client
            .request::<crate::protocol::Pong>(&Request::Detach, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            AgentError::Failed(Failure::UnknownRequest {
                request: "detach".into()
            })
        );
        assert_eq!(err.to_string(), "unknown request detach");
    }

    #[tokio::test]
    async fn an_event_of_another_shape_is_passed_on_as_undecodable() {
        let (ours, theirs) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let (_reader, mut writer) = tokio::io::split(theirs);
            // A `stopped` without its pid: the adapter must hear of it.
            let event = tuple(vec![atom("event"), atom("stopped"), map(vec![("line", int(3))])]);
            write_frame(&mut writer, &encode(&event)).await.unwrap();
            std::future::pending::<()>().await;
        });
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let (reader, writer) = tokio::io::split(ours);
        let _client = AgentClient::start(reader, writer, events_tx);
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("no event within 5 s")
            .expect("the event channel closed");
        let AgentEvent::Undecodable(undecodable) = event else {
            panic!("expected an undecodable event, got {event:?}");
        };
        assert_eq!(undecodable.name, "stopped");
        assert!(undecodable.error.contains("is missing"), "{}", undecodable.error);
    }

    #[tokio::test]
    async fn a_reply_of_another_shape_names_the_request_and_the_key() {
        let (ours, theirs) = tokio::io::duplex(1024);
        tokio::spawn(fake_agent(theirs, |_| {
            tuple(vec![atom("ok"), list(vec![map(vec![("interpreted", list(vec![]))])])])
        }));
        let (events_tx, _events) = mpsc::unbounded_channel();
        let (reader, writer) = tokio::io::split(ours);
        let client = AgentClient::start(reader, writer, events_tx);
        let err = client
            .request::<Vec<crate::protocol::Interpreted>>(&Request::ListModules, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected reply from the agent: the reply to `list_modules`: at `[0]`: \
             the key `skipped` (a list of maps (Skipped)) is missing"
        );
    }

    #[tokio::test]
    async fn a_silent_agent_times_out_with_the_request_name() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let (events_tx, _events) = mpsc::unbounded_channel();
        let (reader, writer) = tokio::io::split(ours);
        let client = AgentClient::start(reader, writer, events_tx);
        let err = client
            .request::<crate::protocol::Done>(&Request::ListModules, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the debuggee did not answer `list_modules` within 50 ms"
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(Duration::from_millis(50)), "50 ms");
        assert_eq!(human_duration(Duration::from_secs(30)), "30 s");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 min");
        assert_eq!(human_duration(Duration::from_secs(90)), "90 s");
    }

    #[tokio::test]
    async fn a_closed_channel_fails_pending_calls() {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (events_tx, _events) = mpsc::unbounded_channel();
        let (reader, writer) = tokio::io::split(ours);
        let client = AgentClient::start(reader, writer, events_tx);
        let call = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .request::<crate::protocol::Pong>(&Request::Ping, Duration::from_secs(5))
                    .await
            }
        });
        tokio::task::yield_now().await;
        drop(theirs);
        assert_eq!(call.await.unwrap().unwrap_err(), AgentError::Closed);
    }
}
