//! `Content-Length` framing: reading frames robustly from an untrusted client and
//! writing them back.
//!
//! A bad frame never ends the stream: the reader reports it as [`Frame::Rejected`]
//! and resynchronises on the next header block, so the next good request is read.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest body the adapter accepts. A larger declared body is skipped
/// without being buffered, so a hostile length cannot exhaust memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Header lines longer than this are garbage, not DAP.
const MAX_HEADER_LINE_BYTES: usize = 8 * 1024;

/// One unit read from the client.
#[derive(Debug)]
pub enum Frame {
    /// A complete message body (expected to be JSON).
    Body(Vec<u8>),
    /// Input that was not a usable frame; it has been skipped.
    Rejected(FrameError),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("header block without a Content-Length header: {0:?}")]
    MissingContentLength(String),
    #[error("invalid Content-Length value {0:?}")]
    InvalidContentLength(String),
    #[error("message body of {declared} bytes exceeds the limit of {limit} bytes and was skipped")]
    TooLarge { declared: usize, limit: usize },
    #[error("header line longer than {0} bytes was skipped")]
    HeaderLineTooLong(usize),
}

/// Reads the next frame. `Ok(None)` means the client closed the stream.
pub async fn read_frame<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Frame>> {
    read_frame_with_limit(reader, MAX_BODY_BYTES).await
}

pub async fn read_frame_with_limit<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_body: usize,
) -> std::io::Result<Option<Frame>> {
    let mut content_length: Option<Result<usize, String>> = None;
    let mut header_text = String::new();
    loop {
        let line = match read_header_line(reader).await? {
            HeaderLine::Eof => return Ok(None),
            HeaderLine::TooLong => {
                return Ok(Some(Frame::Rejected(FrameError::HeaderLineTooLong(
                    MAX_HEADER_LINE_BYTES,
                ))))
            }
            HeaderLine::Line(line) => line,
        };
        if line.is_empty() {
            if header_text.is_empty() && content_length.is_none() {
                // Stray blank line between frames: tolerate it.
                continue;
            }
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                content_length = Some(value.parse::<usize>().map_err(|_| value.to_string()));
            }
        }
        if header_text.len() < 200 {
            header_text.push_str(&line);
            header_text.push(' ');
        }
    }
    let length = match content_length {
        None => {
            return Ok(Some(Frame::Rejected(FrameError::MissingContentLength(
                header_text.trim_end().to_string(),
            ))))
        }
        Some(Err(value)) => return Ok(Some(Frame::Rejected(FrameError::InvalidContentLength(value)))),
        Some(Ok(length)) => length,
    };
    if length > max_body {
        // Discard the declared body in small chunks rather than allocating it.
        let skipped = tokio::io::copy(&mut reader.take(length as u64), &mut tokio::io::sink()).await?;
        if (skipped as usize) < length {
            return Ok(None);
        }
        return Ok(Some(Frame::Rejected(FrameError::TooLarge {
            declared: length,
            limit: max_body,
        })));
    }
    let mut body = vec![0u8; length];
    match reader.read_exact(&mut body).await {
        Ok(_) => Ok(Some(Frame::Body(body))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

enum HeaderLine {
    Line(String),
    TooLong,
    Eof,
}

/// Reads one header line without its line ending, refusing to buffer more than
/// [`MAX_HEADER_LINE_BYTES`].
async fn read_header_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<HeaderLine> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(HeaderLine::Eof);
        }
        let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            line.extend_from_slice(chunk);
            if line.len() > MAX_HEADER_LINE_BYTES {
                too_long = true;
                line = Vec::new();
            }
        }
        reader.consume(used);
        if found_newline {
            break;
        }
    }
    if too_long {
        return Ok(HeaderLine::TooLong);
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(HeaderLine::Line(String::from_utf8_lossy(&line).into_owned()))
}

/// Writes one framed message and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, body: &[u8]) -> std::io::Result<()> {
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    writer.write_all(header.as_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await
}

/// Reads frames from any async reader (used by the adapter and by tests).
pub fn buffered<R: AsyncRead>(reader: R) -> tokio::io::BufReader<R> {
    tokio::io::BufReader::new(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], limit: usize) -> Vec<Frame> {
        let mut reader = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        while let Some(frame) = read_frame_with_limit(&mut reader, limit).await.unwrap() {
            out.push(frame);
        }
        out
    }

    fn body(frame: &Frame) -> &[u8] {
        match frame {
            Frame::Body(b) => b,
            Frame::Rejected(e) => panic!("expected a body, got {e}"),
        }
    }

    #[tokio::test]
    async fn reads_consecutive_frames() {
        let input = b"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\nContent-Type: x\r\n\r\n[1]";
        let got = frames(input, 100).await;
        assert_eq!(got.len(), 2);
        assert_eq!(body(&got[0]), b"{}");
        assert_eq!(body(&got[1]), b"[1]");
    }

    #[tokio::test]
    async fn header_name_is_case_insensitive() {
        let got = frames(b"content-length: 2\r\n\r\n{}", 100).await;
        assert_eq!(body(&got[0]), b"{}");
    }

    #[tokio::test]
    async fn garbage_header_is_rejected_and_next_frame_read() {
        let input = b"hello there\r\n\r\nContent-Length: 2\r\n\r\n{}";
        let got = frames(input, 100).await;
        assert!(matches!(&got[0], Frame::Rejected(FrameError::MissingContentLength(h)) if h == "hello there"));
        assert_eq!(body(&got[1]), b"{}");
    }

    #[tokio::test]
    async fn invalid_length_is_rejected() {
        let got = frames(b"Content-Length: abc\r\n\r\nContent-Length: 2\r\n\r\n{}", 100).await;
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[0], Frame::Rejected(FrameError::InvalidContentLength(v)) if v == "abc"));
        assert_eq!(body(&got[1]), b"{}");
    }

    #[tokio::test]
    async fn oversized_body_is_skipped_without_losing_sync() {
        let mut input = b"Content-Length: 50\r\n\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
        let got = frames(&input, 10).await;
        assert!(matches!(
            got[0],
            Frame::Rejected(FrameError::TooLarge {
                declared: 50,
                limit: 10
            })
        ));
        assert_eq!(body(&got[1]), b"{}");
    }

    #[tokio::test]
    async fn overlong_header_line_is_skipped() {
        let mut input = vec![b'a'; MAX_HEADER_LINE_BYTES + 10];
        input.extend_from_slice(b"\r\n\r\nContent-Length: 2\r\n\r\n{}");
        let got = frames(&input, 100).await;
        assert!(matches!(got[0], Frame::Rejected(FrameError::HeaderLineTooLong(_))));
        assert_eq!(body(&got[1]), b"{}");
    }

    #[tokio::test]
    async fn truncated_body_is_end_of_stream() {
        let got = frames(b"Content-Length: 10\r\n\r\n{}", 100).await;
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn write_then_read_round_trips() {
        let mut out = Vec::new();
        write_frame(&mut out, br#"{"a":1}"#).await.unwrap();
        let got = frames(&out, 100).await;
        assert_eq!(body(&got[0]), br#"{"a":1}"#);
    }
}
