//! One DAP session over a byte stream: stdio, or one accepted TCP connection.

use crate::client::Client;
use crate::session::{Session, SessionOptions};
use dap::{framing, parse_incoming, read_frame, Frame, Incoming};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

/// Serves one session until the client disconnects or closes the stream, or
/// `stop` turns true (the adapter was asked to stop: SIGINT, SIGTERM), which
/// ends the session as the end of the client's input does. Returns once every
/// message has been written and the VM is gone.
pub async fn run_session<R, W>(reader: R, writer: W, options: SessionOptions, stop: watch::Receiver<bool>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (client, writer_task) = Client::new(writer);
    let writer_task = tokio::spawn(writer_task);
    let (requests_tx, requests) = mpsc::channel(64);
    let reader_task = tokio::spawn(read_until_stopped(reader, requests_tx, client.clone(), stop));
    Session::new(client, options).run(requests).await;
    reader_task.abort();
    let _ = reader_task.await;
    // Every Client clone is gone now: the writer drains its queue and ends.
    let _ = writer_task.await;
}

async fn read_until_stopped<R: AsyncRead + Unpin>(
    reader: R,
    requests: mpsc::Sender<Incoming>,
    client: Client,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        () = read_requests(reader, requests, client) => {}
        _ = stop.wait_for(|stopped| *stopped) => {
            tracing::info!("asked to stop: ending the session as at the end of the input");
        }
    }
}

/// Reads frames, parses them, and hands them to the session. Unreadable
/// frames are reported on the console and skipped.
async fn read_requests<R: AsyncRead + Unpin>(reader: R, requests: mpsc::Sender<Incoming>, client: Client) {
    let mut reader = framing::buffered(reader);
    loop {
        match read_frame(&mut reader).await {
            Ok(Some(Frame::Body(body))) => {
                if requests.send(parse_incoming(&body)).await.is_err() {
                    break;
                }
            }
            Ok(Some(Frame::Rejected(error))) => {
                tracing::warn!(%error, "skipped an unreadable frame");
                client.console(format!("elixir-dap: skipped an unreadable message: {error}"));
            }
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "reading from the client failed");
                break;
            }
        }
    }
}
