//! The server's limits against raw TCP clients: the API on a real one-node chain
//! ([`TestNode`]), or a bare router where the behaviour is the server's alone.
//!
//! Limits are small so every test runs in well under a second; every wait is bounded by
//! [`BOUND`], a liveness bound only (without the limits these tests hang until it).

use super::*;
use crate::api::tests::TestNode;
use crate::api::{ApiOptions, HttpLimits};
use axum::routing::get as route_get;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

/// Longest any single wait of these tests may take.
const BOUND: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {BOUND:?}"))
}

/// An HTTP answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    /// The `error.code` of a JSON error body (panics if the body is not the error shape).
    fn error_code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let json: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"));
        assert!(json["error"]["message"].is_string(), "{json}");
        json["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn node(http: HttpLimits) -> (TestNode, SocketAddr) {
    node_with(ApiOptions {
        http,
        ..ApiOptions::default()
    })
    .await
}

async fn node_with(options: ApiOptions) -> (TestNode, SocketAddr) {
    let node = TestNode::start_with(options).await;
    let addr = node.url.trim_start_matches("http://").parse().unwrap();
    (node, addr)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    bounded("connect", TcpStream::connect(addr)).await.unwrap()
}

/// Reads one answer (an interim `100 Continue` is an answer too).
async fn read_answer(stream: &mut TcpStream) -> Answer {
    bounded("an answer", async {
        let mut buf = Vec::new();
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let mut answer = Answer {
                    status: head[9..12].parse().unwrap(),
                    head,
                    body: Vec::new(),
                };
                let length: usize = answer
                    .header("content-length")
                    .map_or(0, |v| v.parse().unwrap());
                while buf.len() < end + 4 + length {
                    fill(stream, &mut buf).await;
                }
                answer.body = buf[end + 4..end + 4 + length].to_vec();
                return answer;
            }
            fill(stream, &mut buf).await;
        }
    })
    .await
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let n = stream.read_buf(buf).await.unwrap();
    assert!(
        n > 0,
        "closed before a whole answer: {:?}",
        String::from_utf8_lossy(buf)
    );
}

/// Reads until the server closes the connection; what came before.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    bounded("the server closing the connection", async {
        let mut buf = Vec::new();
        loop {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return buf,
                Ok(_) => {}
            }
        }
    })
    .await
}

async fn get(stream: &mut TcpStream, path: &str) -> Answer {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream).await
}

/// A POST of `/v1/txs` that announces `length` body bytes and waits for `100 Continue`.
async fn post_head(stream: &mut TcpStream, length: usize, expect: bool) {
    let expect = if expect {
        "expect: 100-continue\r\n"
    } else {
        ""
    };
    let head = format!(
        "POST /v1/txs HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n{expect}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_heads_are_closed_after_the_header_timeout() {
    let (_node, addr) = node(HttpLimits {
        header_read_timeout: SHORT,
        ..HttpLimits::default()
    })
    .await;
    // One header byte at a time, every 50 ms: the trickle does not extend the timeout.
    let mut slow = connect(addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    bounded("the 408", async {
        while reader.read_buf(&mut answer).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    trickle.abort();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");

    // A connection that sends nothing is closed, silently.
    let mut silent = connect(addr).await;
    assert_eq!(read_to_close(&mut silent).await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_are_closed_after_the_idle_timeout() {
    let (_node, addr) = node(HttpLimits {
        idle_timeout: SHORT,
        ..HttpLimits::default()
    })
    .await;
    let mut conn = connect(addr).await;
    for _ in 0..3 {
        let answer = get(&mut conn, "/healthz").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_ne!(answer.header("connection"), Some("close"));
    }
    assert_eq!(read_to_close(&mut conn).await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_connection_idle_longest_is_evicted() {
    let (_node, addr) = node(HttpLimits {
        max_connections: 2,
        ..HttpLimits::default()
    })
    .await;
    let mut oldest = connect(addr).await;
    assert_eq!(get(&mut oldest, "/healthz").await.status, 200);
    let mut newer = connect(addr).await;
    assert_eq!(get(&mut newer, "/healthz").await.status, 200);

    let mut third = connect(addr).await;
    assert_eq!(get(&mut third, "/healthz").await.status, 200);
    assert_eq!(read_to_close(&mut oldest).await, b"");
    assert_eq!(get(&mut newer, "/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_a_new_one_gets_503_at_once() {
    let (_node, addr) = node(HttpLimits {
        max_connections: 2,
        body_read_timeout: LONG,
        ..HttpLimits::default()
    })
    .await;
    // Two requests in flight: their heads are in and the server is reading their bodies.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(addr).await;
        post_head(&mut conn, 10, true).await;
        assert_eq!(read_answer(&mut conn).await.status, 100);
        busy.push(conn);
    }
    let mut refused = connect(addr).await;
    let answer = read_answer(&mut refused).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.error_code(), "overloaded");
    assert_eq!(answer.header("retry-after"), Some("1"));
    read_to_close(&mut refused).await;

    // The requests in flight are unharmed.
    for conn in &mut busy {
        conn.write_all(b"{not json!").await.unwrap();
        let answer = read_answer(conn).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (400, "malformed")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_uris_are_answered_414_in_json() {
    let (_node, addr) = node(HttpLimits::default()).await;
    // Over the API's 8 KiB: the middleware; over hyper's own 65,534 bytes: hyper's answer,
    // rewritten.
    for length in [9 * 1024, 64 * 1024, 100 * 1024] {
        let mut conn = connect(addr).await;
        let path = format!("/v1/status?x={}", "a".repeat(length));
        let answer = get(&mut conn, &path).await;
        assert_eq!(answer.status, 414, "{length}: {answer:?}");
        assert_eq!(answer.error_code(), "uri_too_long", "{length}");
    }
    let mut conn = connect(addr).await;
    let path = format!("/v1/status?x={}", "a".repeat(8000));
    assert_eq!(get(&mut conn, &path).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_are_answered_431_in_json() {
    let (_node, addr) = node(HttpLimits::default()).await;
    let many = |n: usize, size: usize| {
        let headers: String = (0..n)
            .map(|i| format!("x-h-{i}: {}\r\n", "v".repeat(size)))
            .collect();
        format!("GET /healthz HTTP/1.1\r\nhost: test\r\n{headers}\r\n")
    };
    // 500 headers: over hyper's own limit; 100 (+ host): the middleware's; 40 KiB × 2: bytes.
    for request in [
        many(500, 1),
        many(100, 1),
        many(2, 40 * 1024),
        many(2, 300 * 1024),
    ] {
        let mut conn = connect(addr).await;
        conn.write_all(request.as_bytes()).await.unwrap();
        let answer = read_answer(&mut conn).await;
        assert_eq!(answer.status, 431, "{answer:?}");
        assert_eq!(answer.error_code(), "headers_too_large");
    }
    let mut conn = connect(addr).await;
    conn.write_all(many(90, 100).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut conn).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_sent_whole_reads_its_413() {
    let limit = 16 * 1024;
    let (_node, addr) = node_with(ApiOptions {
        max_tx_body: limit,
        ..ApiOptions::default()
    })
    .await;
    // 2 MiB over the limit, written whole before reading: drained, answered, kept alive.
    let mut conn = connect(addr).await;
    let length = limit + 2 * 1024 * 1024;
    post_head(&mut conn, length, false).await;
    let body = vec![b' '; length];
    bounded("writing the whole body", conn.write_all(&body))
        .await
        .expect("the server reads the whole oversize body");
    let answer = read_answer(&mut conn).await;
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (413, "oversize")
    );
    assert_eq!(get(&mut conn, "/healthz").await.status, 200);

    // Chunked, without a length: the same.
    let mut conn = connect(addr).await;
    let chunk = vec![b' '; 64 * 1024];
    let head = "POST /v1/txs HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    conn.write_all(&chunk).await.unwrap();
    conn.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let answer = read_answer(&mut conn).await;
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (413, "oversize")
    );

    // Further over than the drain allows, or waiting for `100 Continue`: answered at once,
    // and closed.
    for (length, expect) in [(limit + 9 * 1024 * 1024, false), (limit + 1, true)] {
        let mut conn = connect(addr).await;
        post_head(&mut conn, length, expect).await;
        let answer = read_answer(&mut conn).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (413, "oversize")
        );
        assert_eq!(answer.header("connection"), Some("close"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_answered_408_not_504() {
    let (_node, addr) = node(HttpLimits {
        body_read_timeout: SHORT,
        ..HttpLimits::default()
    })
    .await;
    let mut conn = connect(addr).await;
    post_head(&mut conn, 100, false).await;
    conn.write_all(b"{\"body\":").await.unwrap();
    let answer = read_answer(&mut conn).await;
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (408, "request_timeout")
    );
    read_to_close(&mut conn).await;
}

/// `router` served on 127.0.0.1:0 with `limits`; the shutdown trigger and the server task.
async fn serve_router(
    router: Router,
    limits: HttpLimits,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_connection_after_the_idle_timeout() {
    const BIG: usize = 64 * 1024 * 1024;
    let router = Router::new()
        .route("/ok", route_get(|| async { "ok" }))
        .route("/big", route_get(|| async { vec![b'x'; BIG] }));
    let limits = HttpLimits {
        max_connections: 1,
        idle_timeout: SHORT,
        ..HttpLimits::default()
    };
    let (addr, _stop, _server) = serve_router(router, limits).await;
    let mut reader = connect(addr).await;
    reader
        .write_all(b"GET /big HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    // The only slot is busy until the unread response times out; then it serves again.
    bounded("a slot after the stalled response", async {
        loop {
            let mut conn = connect(addr).await;
            if get(&mut conn, "/ok").await.status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The server gave up on it: what it had sent, then the end, short of the whole body.
    let received = read_to_close(&mut reader).await;
    assert!(received.len() < BIG, "{} bytes", received.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_finishes_requests_in_flight() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (entered_in, release_in) = (entered.clone(), release.clone());
    let router = Router::new()
        .route("/ok", route_get(|| async { "ok" }))
        .route(
            "/wait",
            route_get(move || {
                let (entered, release) = (entered_in.clone(), release_in.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    "done"
                }
            }),
        );
    let (addr, stop, server) = serve_router(router, HttpLimits::default()).await;
    let mut kept_alive = connect(addr).await;
    assert_eq!(get(&mut kept_alive, "/ok").await.status, 200);
    let mut fresh = connect(addr).await;
    let mut busy = connect(addr).await;
    busy.write_all(b"GET /wait HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    bounded("the request in flight", entered.notified()).await;

    stop.send(()).unwrap();
    assert_eq!(read_to_close(&mut kept_alive).await, b"");
    assert_eq!(read_to_close(&mut fresh).await, b"");
    assert!(!server.is_finished(), "a request is still in flight");
    release.notify_one();
    let answer = read_answer(&mut busy).await;
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b"done"[..]));
    bounded("the server to return", server)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn log_lines_are_rate_limited_with_a_count_of_those_left_out() {
    let limit = RateLimited::new(Duration::from_secs(3600));
    assert_eq!(limit.allow(), Some(0));
    assert_eq!(limit.allow(), None);
    assert_eq!(limit.allow(), None);
    let now = RateLimited::new(Duration::ZERO);
    assert_eq!(now.allow(), Some(0));
    assert_eq!(now.allow(), Some(0));
}

#[test]
fn the_fd_limit_fits_the_cap_or_the_cap_is_lowered() {
    let mut limits = HttpLimits {
        max_connections: 100,
        ..HttpLimits::default()
    };
    let soft = ensure_fd_limit(&mut limits);
    let reserve = OVERFLOW_CONNECTIONS as u64 + 1 + OTHER_FDS;
    assert!(
        soft >= limits.max_connections as u64 + reserve || limits.max_connections < 100,
        "{soft} {limits:?}"
    );
    let current = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    assert_eq!(current.current, Some(soft));
}
