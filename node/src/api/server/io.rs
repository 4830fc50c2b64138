//! A connection's socket as hyper sees it: reports reads, write progress and flushes to the
//! connection's [`Activity`], and sends hyper's automatic error answers in JSON.
//!
//! hyper answers a request head it cannot parse itself, before any service sees it: 400
//! (bad syntax), 414 (a URI over 65,534 bytes, a constant in hyper), 431 (more headers than
//! its limit, or a head beyond its buffer), each with an empty body; there is no hook to
//! change them. Those are the only bytes hyper writes while no request is in flight, so a
//! write that starts a status line while the connection awaits a head is replaced, whole,
//! by the same status in the API's error shape (`{"error":{"code","message"}}`, closing the
//! connection, as hyper does after a parse error).

use super::conn::Activity;
use super::{HttpLimits, error_reply};
use axum::http::StatusCode;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A JSON answer being written in place of hyper's.
#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
}

/// The socket of one connection; see the [module docs](self).
#[derive(Debug)]
pub(super) struct ConnIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    limits: Arc<HttpLimits>,
    replacing: Option<Replacement>,
}

impl ConnIo {
    pub(super) fn new(
        stream: TcpStream,
        activity: Arc<Activity>,
        limits: Arc<HttpLimits>,
    ) -> ConnIo {
        ConnIo {
            stream,
            activity,
            limits,
            replacing: None,
        }
    }

    /// The socket, to write a closing answer or linger on.
    pub(super) fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Starts replacing if `first` (the start of a write) is hyper's automatic answer.
    fn check_automatic(&mut self, first: &[u8]) {
        if self.replacing.is_some() || first.is_empty() || !self.activity.awaiting_head() {
            return;
        }
        if let Some(status) = automatic_status(first) {
            self.replacing = Some(Replacement {
                bytes: json_answer(status, &self.limits),
                written: 0,
            });
        }
    }

    /// Writes the rest of the replacement, if any.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some(r) = self.replacing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while r.written < r.bytes.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &r.bytes[r.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            r.written += n;
        }
        Poll::Ready(Ok(()))
    }

    fn track<T>(&self, result: &Poll<std::io::Result<T>>) {
        match result {
            Poll::Pending => self.activity.write_progress(true),
            Poll::Ready(Ok(_)) => self.activity.write_progress(false),
            Poll::Ready(Err(_)) => {}
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        result
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.check_automatic(buf);
        if this.replacing.is_some() {
            // hyper's bytes are taken (and dropped) once the replacement is out.
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.track(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.check_automatic(first);
        }
        if this.replacing.is_some() {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.track(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        if matches!(result, Poll::Ready(Ok(()))) {
            this.activity.flushed();
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// The status of a write that starts an HTTP/1.x status line (`HTTP/1.1 431 …`).
fn automatic_status(bytes: &[u8]) -> Option<StatusCode> {
    let rest = bytes.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5).filter(|_| rest.get(1) == Some(&b' '))?;
    std::str::from_utf8(code)
        .ok()?
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
}

/// hyper's answer `status` in the API's error shape.
fn json_answer(status: StatusCode, limits: &HttpLimits) -> Vec<u8> {
    let (code, message) = match status {
        StatusCode::URI_TOO_LONG => (
            "uri_too_long",
            format!(
                "the request target is longer than the {} bytes this node accepts",
                limits.max_uri_bytes
            ),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "headers_too_large",
            format!(
                "the request head is larger than this node accepts (at most {} headers, {} bytes of headers)",
                limits.max_headers, limits.max_header_bytes
            ),
        ),
        _ if status.is_client_error() => (
            "malformed",
            "the request head is not valid HTTP/1.1".to_owned(),
        ),
        _ => ("internal", "the request could not be served".to_owned()),
    };
    error_reply(status, code, &message, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_status_lines_are_automatic_answers() {
        let status = |b: &[u8]| automatic_status(b).map(|s| s.as_u16());
        assert_eq!(status(b"HTTP/1.1 414 URI Too Long\r\n\r\n"), Some(414));
        assert_eq!(status(b"HTTP/1.0 431 \r\n"), Some(431));
        assert_eq!(status(b"HTTP/1.1 400"), Some(400));
        assert_eq!(status(b"HTTP/1.1 40"), None);
        assert_eq!(status(b"HTTP/1.1 4x0 Bad"), None);
        assert_eq!(status(b"HTTP/2 400 Bad"), None);
        assert_eq!(status(b"{\"error\":1}"), None);
        assert_eq!(status(b""), None);
    }

    #[test]
    fn answers_are_json_with_a_code() {
        let limits = HttpLimits::default();
        for (status, code) in [
            (StatusCode::URI_TOO_LONG, "uri_too_long"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            (StatusCode::BAD_REQUEST, "malformed"),
        ] {
            let answer = String::from_utf8(json_answer(status, &limits)).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", status.as_u16())));
            assert!(head.contains("content-type: application/json"));
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["error"]["code"], code);
        }
    }
}
