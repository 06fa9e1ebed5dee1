//! A small DAP client that drives the real `elixir-dap` binary over stdio,
//! as an editor does: Content-Length framing, requests matched to responses
//! by `seq`, and waits for events with a timeout and an error naming what
//! did not arrive. Nothing here sleeps: every wait blocks on the adapter's
//! next message.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Why a DAP exchange failed; the message says what was awaited and what
/// arrived instead.
#[derive(Debug)]
pub struct DapError(pub String);

impl fmt::Display for DapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DapError {}

/// The largest body the client accepts (the adapter's own limit).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How many of the last messages an error message shows.
const TRANSCRIPT_TAIL: usize = 12;

/// Reads one framed message; `Ok(None)` at end of stream.
pub fn read_message(reader: &mut impl BufRead) -> io::Result<Option<Value>> {
    let mut length: Option<usize> = None;
    let mut saw_header = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return if saw_header {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream inside a header",
                ))
            } else {
                Ok(None)
            };
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if saw_header {
                break;
            }
            continue;
        }
        saw_header = true;
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let parsed = value
                    .trim()
                    .parse::<usize>()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad Content-Length: {e}")))?;
                length = Some(parsed);
            }
        }
    }
    let length = length.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "header without Content-Length"))?;
    if length > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a body of {length} bytes exceeds {MAX_BODY}"),
        ));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("invalid JSON body: {e}")))
}

/// Writes one framed message.
pub fn write_message(writer: &mut impl Write, message: &Value) -> io::Result<()> {
    let body = message.to_string();
    write!(writer, "Content-Length: {}\r\n\r\n", body.len())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()
}

/// One `elixir-dap` process speaking DAP on its stdin/stdout.
pub struct DapClient {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: mpsc::Receiver<Result<Value, String>>,
    /// Every message received so far, in order.
    received: Vec<Value>,
    /// The program's stdout so far (the text of `stdout` output events).
    stdout: String,
    /// Set once the adapter closed its output (or it became unreadable).
    closed: Option<String>,
    seq: i64,
    log_file: PathBuf,
}

impl DapClient {
    /// Starts `adapter`, logging into `log_file` at `log_level` (the
    /// adapter's `--log-level`: `info` when measuring; debug level logs each
    /// agent call's duration, but costs time in what is measured).
    pub fn spawn(adapter: &Path, log_file: &Path, log_level: &str) -> Result<Self, DapError> {
        let stderr = File::create(log_file.with_extension("stderr"))
            .map_err(|e| DapError(format!("{}: {e}", log_file.display())))?;
        let mut child = Command::new(adapter)
            .arg("--log-file")
            .arg(log_file)
            .args(["--log-level", log_level])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| DapError(format!("cannot start the adapter {}: {e}", adapter.display())))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DapError("the adapter's stdout is not piped".to_owned()))?;
        let (tx, incoming) = mpsc::channel();
        thread::spawn(move || pump(stdout, &tx));
        Ok(Self {
            child,
            stdin,
            incoming,
            received: Vec::new(),
            stdout: String::new(),
            closed: None,
            seq: 0,
            log_file: log_file.to_path_buf(),
        })
    }

    /// The adapter's OS pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request and returns its `seq`.
    pub fn send(&mut self, command: &str, arguments: Value) -> Result<i64, DapError> {
        self.seq += 1;
        let request = json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments});
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| DapError(format!("cannot send `{command}`: the adapter's stdin is closed")))?;
        write_message(stdin, &request).map_err(|e| DapError(format!("cannot send `{command}` to the adapter: {e}")))?;
        Ok(self.seq)
    }

    /// Sends a request and waits for its response, successful or not.
    pub fn request(&mut self, command: &str, arguments: Value, timeout: Duration) -> Result<Value, DapError> {
        let seq = self.send(command, arguments)?;
        self.wait_for(&format!("the response to `{command}`"), timeout, |m| {
            m["type"] == "response" && m["request_seq"] == seq
        })
    }

    /// Sends a request and waits for a successful response; an error
    /// response becomes an error quoting the adapter's message.
    pub fn request_ok(&mut self, command: &str, arguments: Value, timeout: Duration) -> Result<Value, DapError> {
        let response = self.request(command, arguments, timeout)?;
        if response["success"] == true {
            Ok(response)
        } else {
            Err(DapError(format!(
                "`{command}` failed: {}{}",
                response_message(&response),
                self.context()
            )))
        }
    }

    /// Waits for a message matching `predicate`, looking first at messages
    /// already received.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Result<Value, DapError> {
        self.wait_for_since(0, what, timeout, predicate)
    }

    /// How many messages have been received so far (see [`Self::wait_for_since`]).
    pub fn received_count(&self) -> usize {
        self.received.len()
    }

    /// Waits for a message matching `predicate` among those received after
    /// the first `since` (so an earlier match does not count).
    pub fn wait_for_since(
        &mut self,
        since: usize,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Result<Value, DapError> {
        if let Some(found) = self.received.iter().skip(since).find(|m| predicate(m)) {
            return Ok(found.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(what, deadline, timeout)?;
            if predicate(&message) {
                return Ok(message);
            }
        }
    }

    /// Waits for the event named `event`.
    pub fn wait_event(&mut self, event: &str, timeout: Duration) -> Result<Value, DapError> {
        self.wait_for(&format!("the `{event}` event"), timeout, |m| {
            m["type"] == "event" && m["event"] == event
        })
    }

    /// Waits until the program's stdout (all `stdout` output events of this
    /// session, concatenated, so a line split over two events still counts)
    /// contains `text`.
    pub fn wait_stdout(&mut self, text: &str, timeout: Duration) -> Result<(), DapError> {
        let what = format!("program output containing {text:?}");
        let deadline = Instant::now() + timeout;
        while !self.stdout.contains(text) {
            self.next_message(&what, deadline, timeout)?;
        }
        Ok(())
    }

    fn next_message(&mut self, what: &str, deadline: Instant, timeout: Duration) -> Result<Value, DapError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Some(why) = &self.closed {
            return Err(DapError(format!(
                "{what} did not arrive: the adapter {why}{}",
                self.context()
            )));
        }
        if remaining.is_zero() {
            return Err(self.timeout_error(what, timeout));
        }
        match self.incoming.recv_timeout(remaining) {
            Ok(Ok(message)) => {
                if message["type"] == "event" && message["event"] == "output" && message["body"]["category"] == "stdout"
                {
                    if let Some(text) = message["body"]["output"].as_str() {
                        self.stdout.push_str(text);
                    }
                }
                self.received.push(message.clone());
                Ok(message)
            }
            Ok(Err(why)) => {
                self.closed = Some(why);
                self.next_message(what, deadline, timeout)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.closed = Some("closed its output".to_owned());
                self.next_message(what, deadline, timeout)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.timeout_error(what, timeout)),
        }
    }

    fn timeout_error(&self, what: &str, timeout: Duration) -> DapError {
        DapError(format!(
            "{what} did not arrive within {:.1} s{}",
            timeout.as_secs_f64(),
            self.context()
        ))
    }

    /// The last messages and where the adapter's log is, for error messages.
    fn context(&self) -> String {
        let skip = self.received.len().saturating_sub(TRANSCRIPT_TAIL);
        let tail: String = self.received[skip..].iter().map(|m| format!("\n  {m}")).collect();
        format!(
            "; last messages from the adapter ({} in all):{tail}\n(adapter log: {})",
            self.received.len(),
            self.log_file.display()
        )
    }

    /// The text of every `output` event of `category` received so far, in
    /// order (one entry per event).
    pub fn outputs(&self, category: &str) -> Vec<&str> {
        self.received
            .iter()
            .filter(|m| m["type"] == "event" && m["event"] == "output" && m["body"]["category"] == category)
            .filter_map(|m| m["body"]["output"].as_str())
            .collect()
    }

    /// The peak resident set size of the adapter process so far (`VmHWM`
    /// in `/proc/<pid>/status`), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, DapError> {
        self.status_kib("VmHWM:")
    }

    /// The adapter's resident set size now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> Result<u64, DapError> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, key: &str) -> Result<u64, DapError> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| DapError(format!("{path}: {e}")))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| DapError(format!("{path} has no readable {key} line")))
    }

    /// Closes the adapter's stdin and waits (up to `timeout`) for it to
    /// exit, killing it after that.
    pub fn finish(mut self, timeout: Duration) -> Result<ExitStatus, DapError> {
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        // The adapter ends its session and exits at end of input; its output
        // closing is the signal to wait for, so drain it.
        while self.closed.is_none() && Instant::now() < deadline {
            let _ = self.next_message("the adapter's exit", deadline, timeout);
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    // Its output is closed; the exit follows within moments.
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(DapError(format!(
                        "the adapter did not exit within {:.1} s of the end of its input; killed it",
                        timeout.as_secs_f64()
                    )));
                }
                Err(e) => return Err(DapError(format!("waiting for the adapter: {e}"))),
            }
        }
    }
}

impl Drop for DapClient {
    fn drop(&mut self) {
        // A client dropped on an error path must not leave an adapter (and
        // through it a VM) behind: the adapter kills the VM's group when it
        // ends.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `message` of an error response, or the whole response.
pub fn response_message(response: &Value) -> String {
    response["message"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| response["body"]["error"]["format"].as_str().map(str::to_owned))
        .unwrap_or_else(|| response.to_string())
}

fn pump(stdout: impl Read, tx: &mpsc::Sender<Result<Value, String>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let message = match read_message(&mut reader) {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err("closed its output".to_owned()),
            Err(e) => Err(format!("sent an unreadable message ({e})")),
        };
        let last = message.is_err();
        if tx.send(message).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn messages_round_trip_through_the_framing() {
        let mut bytes = Vec::new();
        write_message(&mut bytes, &json!({"seq": 1, "type": "event", "event": "x"})).unwrap();
        write_message(&mut bytes, &json!({"seq": 2, "type": "event", "event": "y"})).unwrap();
        let mut reader = io::Cursor::new(bytes);
        assert_eq!(read_message(&mut reader).unwrap().unwrap()["event"], "x");
        assert_eq!(read_message(&mut reader).unwrap().unwrap()["event"], "y");
        assert!(read_message(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_header_without_length_or_a_truncated_body_is_an_error() {
        let mut reader = io::Cursor::new(b"X-Other: 1\r\n\r\n{}".to_vec());
        assert!(read_message(&mut reader).is_err());
        let mut reader = io::Cursor::new(b"Content-Length: 10\r\n\r\n{}".to_vec());
        assert!(read_message(&mut reader).is_err());
    }
}
