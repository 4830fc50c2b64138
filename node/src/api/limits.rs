//! Request-level limits as axum middleware: the request head (URI length, header count and
//! size) and bodies (size, read time), answered in the API's error shape.
//!
//! | status | code | when |
//! | --- | --- | --- |
//! | 408 | `request_timeout` | the body did not arrive within `body_read_timeout` |
//! | 413 | `oversize` | the body is over its route's limit |
//! | 414 | `uri_too_long` | the request target is over `max_uri_bytes` |
//! | 431 | `headers_too_large` | more than `max_headers` headers, or over `max_header_bytes` |
//!
//! hyper itself refuses only heads far above these limits (and [`super::server`] sends
//! those answers in JSON too). Connection-level limits (cap, head and idle timeouts) are
//! [`super::server`]'s.
//!
//! A body over its limit is read and discarded up to `max_drain_bytes` beyond the limit
//! before the 413 is sent: most clients write their whole body before reading, and closing
//! on them mid-body resets the connection, so they would see a broken pipe instead of the
//! 413. A body further over (by its `Content-Length`), one that waits for `100 Continue`
//! (it is not sent at all), or one still arriving past the bound, is answered at once and
//! its connection closed.

use super::error::error_response;
use super::server::{HttpLimits, RateLimited, WARN_EVERY};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Refuses request heads over [`HttpLimits`]' URI and header limits (414, 431).
pub(crate) async fn check_head(
    State(limits): State<Arc<HttpLimits>>,
    request: Request,
    next: Next,
) -> Response {
    match head_refusal(request.uri(), request.headers(), &limits) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

fn head_refusal(uri: &Uri, headers: &HeaderMap, limits: &HttpLimits) -> Option<Response> {
    let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_bytes > limits.max_uri_bytes {
        return Some(error_response(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request target is {uri_bytes} bytes; this node accepts at most {}",
                limits.max_uri_bytes
            ),
        ));
    }
    // As sent: `name: value\r\n`.
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > limits.max_headers || header_bytes > limits.max_header_bytes {
        return Some(error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} headers of {header_bytes} bytes; this node accepts at most {} headers of {} bytes",
                headers.len(),
                limits.max_headers,
                limits.max_header_bytes
            ),
        ));
    }
    None
}

/// The body limits of one route, for [`read_body`].
#[derive(Clone, Debug)]
pub(crate) struct BodyLimit {
    limit: usize,
    drain: usize,
    timeout: Duration,
}

impl BodyLimit {
    /// Bodies of at most `limit` bytes, read within `http.body_read_timeout`.
    pub(crate) fn new(limit: usize, http: &HttpLimits) -> BodyLimit {
        BodyLimit {
            limit,
            drain: http.max_drain_bytes,
            timeout: http.body_read_timeout,
        }
    }
}

/// Why a body was not collected.
enum Collect {
    /// Over the limit; the rest of the body is still to be read.
    TooLarge(Body),
    /// The body failed (the client closed mid-body, bad chunked encoding).
    Failed(axum::Error),
}

/// Reads the whole body (at most the limit, within the read timeout) before the handler
/// runs, and answers 413 (after a bounded drain) or 408 itself.
pub(crate) async fn read_body(
    State(policy): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let declared = declared_length(&parts.headers);
    if let Some(length) = declared
        && length > policy.limit as u64
        && (waits_for_continue(&parts.headers)
            || length - policy.limit as u64 > policy.drain as u64)
    {
        return oversize(&policy, false);
    }
    let deadline = Instant::now() + policy.timeout;
    let capacity = declared.map_or(0, |n| n.min(policy.limit as u64) as usize);
    match tokio::time::timeout_at(deadline, collect(body, policy.limit, capacity)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(Collect::TooLarge(rest))) => {
            let drained = drain(rest, policy.drain, deadline).await;
            oversize(&policy, drained)
        }
        Ok(Err(Collect::Failed(e))) => error_response(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("the request body could not be read: {e}"),
        ),
        Err(_) => slow_body(&parts.uri, &policy),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn waits_for_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

async fn collect(mut body: Body, limit: usize, capacity: usize) -> Result<Bytes, Collect> {
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Collect::Failed)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(Collect::TooLarge(body));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// Reads and discards the rest of `body`, at most `budget` bytes and until `deadline`;
/// true if it ended within both.
async fn drain(mut body: Body, budget: usize, deadline: Instant) -> bool {
    let mut left = budget;
    let read = tokio::time::timeout_at(deadline, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Ok(data) = frame.into_data() {
                match left.checked_sub(data.len()) {
                    Some(l) => left = l,
                    None => return false,
                }
            }
        }
        true
    });
    read.await.unwrap_or(false)
}

fn oversize(policy: &BodyLimit, drained: bool) -> Response {
    let mut response = error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversize",
        format!(
            "the request body is over the {} bytes this route accepts",
            policy.limit
        ),
    );
    if !drained {
        // The rest of the body is unread: the connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// 408, counted and logged at most every 10 s (a flood of slow clients is one line).
fn slow_body(uri: &Uri, policy: &BodyLimit) -> Response {
    metrics::counter!("cactus_http_slow_bodies_total").increment(1);
    static SLOW_BODIES: RateLimited = RateLimited::new(WARN_EVERY);
    if let Some(suppressed) = SLOW_BODIES.allow() {
        tracing::warn!(
            path = uri.path(),
            suppressed,
            "a request body did not arrive in time: answered 408 (at most one such line per 10 s)"
        );
    }
    let mut response = error_response(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request body did not arrive within {} ms",
            policy.timeout.as_millis()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_limits_count_uri_and_header_bytes() {
        let limits = HttpLimits {
            max_uri_bytes: 20,
            max_headers: 2,
            max_header_bytes: 30,
            ..HttpLimits::default()
        };
        let status = |uri: &str, headers: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            head_refusal(&uri.parse().unwrap(), &map, &limits).map(|r| r.status().as_u16())
        };
        assert_eq!(status("/v1/status", &[("a", "b")]), None);
        assert_eq!(status("/v1/status?x=1234567", &[]), None);
        assert_eq!(status("/v1/status?x=12345678", &[]), Some(414));
        assert_eq!(status("http://ab/v1/status?x", &[]), Some(414));
        assert_eq!(status("http://a/v1/status?x", &[]), None);
        assert_eq!(status("/", &[("a", "1"), ("a", "2")]), None);
        assert_eq!(
            status("/", &[("a", "1"), ("a", "2"), ("b", "3")]),
            Some(431)
        );
        assert_eq!(status("/", &[("a", &"x".repeat(25))]), None);
        assert_eq!(status("/", &[("a", &"x".repeat(26))]), Some(431));
    }
}
