//! The HTTP server under the API: accepts TCP connections and drives hyper's HTTP/1 on each,
//! within the connection limits of [`HttpLimits`].
//!
//! `axum::serve` has no connection cap and no header or idle timeout (1,100 idle
//! connections exhausted a node's file descriptors; slow-header connections stayed open
//! forever), and hyper answers a request head it cannot parse (a URI over 64 KiB, too many
//! headers, bad syntax) with an empty, non-JSON body. This module owns the connection level
//! instead:
//!
//! - **A cap** ([`HttpLimits::max_connections`]): every connection holds a slot of a
//!   semaphore. At the cap a new connection evicts the connection idle longest (no request
//!   in flight: kept alive between requests, or still sending its head; [`conn`]), so an
//!   idle crowd cannot lock paying customers out; if every connection is busy the new one
//!   is answered `503 overloaded` with `Retry-After` and closed at once, not left in the
//!   listen backlog. A burst waits for its evicted slots off the accept loop (up to
//!   [`OVERFLOW_CONNECTIONS`] at once), and a slot freed meanwhile goes to a connection
//!   that evicted for it, never to a later one. [`listen`] gives the kernel's accept queue
//!   [`LISTEN_BACKLOG`] places. Gauge `cactus_http_connections`, counters
//!   `cactus_http_connections_evicted_total` and `cactus_http_connections_refused_total`.
//! - **Timeouts** per connection ([`conn`]): a request head must arrive within
//!   `header_read_timeout` (from accept for a new connection, from its first byte on a
//!   kept-alive one; a partly sent head is answered `408 request_timeout`); a kept-alive
//!   connection with no request is closed after `idle_timeout`, and so is one whose client
//!   stops reading its response. Counter `cactus_http_connection_timeouts_total{kind}`.
//! - **JSON for hyper's own answers** ([`io`]): hyper writes its automatic 400/414/431 only
//!   while no request is in flight on the connection; the connection's I/O recognises them
//!   there and sends the API's error shape instead.
//! - **Accept errors** (`EMFILE`, …) pause the accept loop briefly and are logged at most
//!   every 10 s; [`ensure_fd_limit`] raises `RLIMIT_NOFILE` at start so the cap fits.
//! - **Graceful shutdown**: stop accepting, close idle connections, let requests in flight
//!   finish, return once every connection is closed or after [`SHUTDOWN_GRACE`] (a
//!   server-sent-events stream, e.g. an open console tab, never finishes by itself).
//!
//! Hand-written because no maintained crate does this for hyper 1: hyper-util's server
//! has neither a cap nor eviction, and hyper offers no hook for its automatic error answers
//! (and times out idle keep-alive connections with its header timeout). Request-level
//! limits (URI length, header count and size, body size and read time) are middleware in
//! [`super::limits`].

mod conn;
mod io;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::http::StatusCode;
use conn::Registry;
use hyper::server::conn::http1;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections held beyond [`HttpLimits::max_connections`] for a moment: waiting for the
/// slot of the connection they evicted, or being answered `503 overloaded` (each holds a
/// file descriptor for at most about two seconds). Beyond these, a new connection waits in
/// the accept loop for its evicted slot, or is closed unanswered.
pub const OVERFLOW_CONNECTIONS: usize = 32;
/// Accept queue of [`listen`]: connections the kernel completes before the accept loop
/// takes them (`TcpListener::bind` asks for 128; Linux caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;
/// File descriptors a node keeps open besides its HTTP connections: RocksDB's files,
/// libp2p's sockets, logs and the runtime's own. A generous allowance for
/// [`ensure_fd_limit`].
pub const OTHER_FDS: u64 = 512;
/// The fewest connections [`ensure_fd_limit`] lowers the cap to.
const MIN_CONNECTIONS: usize = 16;
/// Longest the accept loop waits for an evicted connection to give its slot back.
const EVICTION_WAIT: Duration = Duration::from_secs(1);
/// Longest a shutdown waits for busy connections before it returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after an accept error such as `EMFILE`, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest a closing answer (503, 408) may take to write.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// After a closing answer, how long and how much of what the client still sends is read
/// and discarded, so the close does not reset the connection before the answer is read.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// At most one warning of a kind is logged per this period (with the count left out).
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// Connection and request-head limits of the HTTP server (the `[http]` section of the node's
/// configuration; docs/operations.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most connections open at once (default 1,024). Each costs a file descriptor and a
    /// little memory; at the cap a new connection evicts the one idle longest, or is
    /// answered `503 overloaded` if all are busy.
    pub max_connections: usize,
    /// Longest a client may take to send a request head (default 10 s): from accept on a
    /// new connection, from its first byte on a kept-alive one. A well-behaved client
    /// sends its head in one packet; ten seconds allows a very slow mobile link.
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection stays open with no request, and longest a response
    /// waits for its client to read on (default 60 s: a terminal between two checkouts
    /// keeps its connection, an abandoned one gives its slot back within a minute).
    pub idle_timeout: Duration,
    /// Longest the whole body of a request may take to arrive (default 30 s; 8 MiB at
    /// 2.2 Mbit/s), answered `408 request_timeout`. Below the 60 s request timeout, so a
    /// slow body is told so instead of `504`.
    pub body_read_timeout: Duration,
    /// Longest request target (path and query), bytes (default 8 KiB, as most proxies):
    /// the API's longest path is a few hundred bytes. Answered `414 uri_too_long`.
    pub max_uri_bytes: usize,
    /// Most request headers (default 100, hyper's own default); `431 headers_too_large`.
    pub max_headers: usize,
    /// Most bytes of all request headers together (default 64 KiB); `431
    /// headers_too_large`. A signed read adds three short headers.
    pub max_header_bytes: usize,
    /// How much of a body over its limit is read and discarded before the `413 oversize`
    /// answer, so a client that sends its whole body before reading reads the 413 rather
    /// than a reset connection (default 8 MiB). A body further over its limit, or one that
    /// waits for `100 Continue`, is answered at once and its connection closed.
    pub max_drain_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            max_drain_bytes: 8 * 1024 * 1024,
        }
    }
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    router: Router,
    limits: Arc<HttpLimits>,
    http: http1::Builder,
    slots: Arc<Semaphore>,
    /// Slots owed to connections waiting for the one they evicted: a slot freed meanwhile
    /// is theirs, not the next connection's (which would leave a waiter with no slot).
    owed: AtomicUsize,
    overflow: Arc<Semaphore>,
    registry: Arc<Registry>,
}

/// Binds the API's listener with a [`LISTEN_BACKLOG`]-deep accept queue, so a burst of
/// connections waits in the kernel instead of having its SYNs dropped (a client retries a
/// dropped SYN only after a second).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` completes, then closes idle connections,
/// lets the requests in flight finish and returns once every connection is closed (at
/// most [`SHUTDOWN_GRACE`] later).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared::new(router, limits));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => shared.admit(stream).await,
            Err(error) => accept_failed(error).await,
        }
    }
    drop(listener);
    shared.registry.close_all();
    if tokio::time::timeout(SHUTDOWN_GRACE, shared.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "shutdown: connections still busy (event streams); closing them"
        );
    }
    Ok(())
}

impl Shared {
    fn new(router: Router, limits: HttpLimits) -> Shared {
        let mut http = http1::Builder::new();
        // Timeouts are the connection task's (hyper's header timeout would also close idle
        // keep-alive connections); hyper's header count limit sits above the API's, which
        // the middleware enforces with a precise message.
        http.keep_alive(true)
            .header_read_timeout(None)
            .max_headers(limits.max_headers.saturating_mul(2).max(100));
        Shared {
            router,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            owed: AtomicUsize::new(0),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            limits: Arc::new(limits),
            http,
            registry: Arc::new(Registry::default()),
        }
    }

    /// Gives `stream` a slot and its task; at the cap, evicts the connection idle longest
    /// for it, or refuses it if every connection is busy.
    async fn admit(self: &Arc<Self>, stream: TcpStream) {
        // Answers are small and written whole: do not wait for the client's ACK.
        let _ = stream.set_nodelay(true);
        if self.slots.available_permits() > self.owed.load(Ordering::Relaxed)
            && let Ok(slot) = self.slots.clone().try_acquire_owned()
        {
            tokio::spawn(conn::run(self.clone(), stream, slot));
            return;
        }
        if !self.registry.evict_longest_idle() {
            return self.refuse(stream);
        }
        metrics::counter!("cactus_http_connections_evicted_total").increment(1);
        self.owed.fetch_add(1, Ordering::Relaxed);
        // The evicted connection gives its slot back within microseconds, but a burst of
        // new connections should not wait for each eviction in turn: wait off the accept
        // loop while the overflow allows.
        match self.overflow.clone().try_acquire_owned() {
            Ok(held) => {
                let shared = self.clone();
                tokio::spawn(async move {
                    let slot = shared.evicted_slot().await;
                    drop(held);
                    match slot {
                        Some(slot) => conn::run(shared, stream, slot).await,
                        None => shared.refuse(stream),
                    }
                });
            }
            Err(_) => match self.evicted_slot().await {
                Some(slot) => {
                    tokio::spawn(conn::run(self.clone(), stream, slot));
                }
                None => self.refuse(stream),
            },
        }
    }

    /// The slot of an evicted connection, once it gives it back (at most [`EVICTION_WAIT`]).
    async fn evicted_slot(&self) -> Option<OwnedSemaphorePermit> {
        let slot = tokio::time::timeout(EVICTION_WAIT, self.slots.clone().acquire_owned()).await;
        self.owed.fetch_sub(1, Ordering::Relaxed);
        slot.ok()?.ok()
    }

    /// Answers `503 overloaded` and closes, on a task of its own (at most
    /// [`OVERFLOW_CONNECTIONS`] at once; beyond, the connection is closed unanswered).
    fn refuse(&self, stream: TcpStream) {
        metrics::counter!("cactus_http_connections_refused_total").increment(1);
        static REFUSED: RateLimited = RateLimited::new(WARN_EVERY);
        if let Some(suppressed) = REFUSED.allow() {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                suppressed,
                "HTTP connection refused: every connection is busy (503 overloaded; at most one such line per 10 s)"
            );
        }
        let Ok(permit) = self.overflow.clone().try_acquire_owned() else {
            return;
        };
        let reply = error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            &format!(
                "the node serves its maximum of {} connections and all are busy; retry shortly",
                self.limits.max_connections
            ),
            &[("retry-after", "1")],
        );
        tokio::spawn(async move {
            reply_and_close(stream, &reply).await;
            drop(permit);
        });
    }

    /// Waits until every connection and refusal has closed.
    async fn closed(&self) {
        let all = u32::try_from(self.limits.max_connections.max(1)).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
        let _ = self
            .overflow
            .acquire_many(OVERFLOW_CONNECTIONS as u32)
            .await;
    }
}

/// An accept error: per-connection ones (the client gave up first) are ignored; others
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, …) pause the loop briefly and are logged, rate-limited.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) {
        return;
    }
    metrics::counter!("cactus_http_accept_errors_total").increment(1);
    static ACCEPT_ERRORS: RateLimited = RateLimited::new(WARN_EVERY);
    if let Some(suppressed) = ACCEPT_ERRORS.allow() {
        tracing::warn!(%error, suppressed, "accepting an HTTP connection failed; pausing briefly (at most one such line per 10 s)");
    }
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// A complete HTTP/1.1 answer in the API's error shape that closes the connection, for
/// answers written outside the router (refusals, head timeouts, hyper's parse errors).
pub(super) fn error_reply(
    status: StatusCode,
    code: &str,
    message: &str,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// Writes `reply` (bounded in time) and closes gently ([`linger`]).
async fn reply_and_close(mut stream: TcpStream, reply: &[u8]) {
    let written = tokio::time::timeout(REPLY_TIMEOUT, stream.write_all(reply)).await;
    if matches!(written, Ok(Ok(()))) {
        linger(stream).await;
    }
}

/// Closes the sending side, then reads and discards what the client still sends (at most
/// [`LINGER_BYTES`] for [`LINGER`]) before the socket is dropped: closing a socket with
/// unread input resets the connection, and a reset can destroy an answer the client has
/// not read yet.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 8192];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Lets one log line of a kind through per period, counting those left out: a flood of
/// slow or refused clients must not flood the log. (`tracing` has no rate limit.)
#[derive(Debug)]
pub(crate) struct RateLimited {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimited {
    /// At most one line per `every`.
    pub(crate) const fn new(every: Duration) -> RateLimited {
        RateLimited {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(lines left out since the last one)` if a line may be logged now.
    pub(crate) fn allow(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.every => {
                state.1 += 1;
                None
            }
            _ => {
                state.0 = Some(now);
                Some(std::mem::take(&mut state.1))
            }
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` towards the hard limit when it is below what the node
/// needs (`limits.max_connections`, [`OVERFLOW_CONNECTIONS`], the listener and
/// [`OTHER_FDS`]). If it cannot, lowers `limits.max_connections` to what fits (at least 16)
/// and logs a warning: a cap above the descriptors available would end in `EMFILE`.
/// Returns the soft limit in force.
pub fn ensure_fd_limit(limits: &mut HttpLimits) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let reserve = OVERFLOW_CONNECTIONS as u64 + 1 + OTHER_FDS;
    let needed = limits.max_connections as u64 + reserve;
    let current = getrlimit(Resource::Nofile);
    let mut soft = current.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return soft;
    }
    // As far as the hard limit allows (the kernel refuses more than fs.nr_open, 2^20 by
    // default, even with an unlimited hard limit), else just what is needed.
    let hard = current.maximum.unwrap_or(u64::MAX);
    for target in [hard.min(1 << 20), needed.min(hard)] {
        let raised = Rlimit {
            current: Some(target),
            maximum: current.maximum,
        };
        if target > soft && setrlimit(Resource::Nofile, raised).is_ok() {
            tracing::info!(
                from = soft,
                to = target,
                "raised the open-file limit (RLIMIT_NOFILE)"
            );
            soft = target;
            break;
        }
    }
    if soft < needed {
        let fits = usize::try_from(soft.saturating_sub(reserve)).unwrap_or(usize::MAX);
        let cap = fits.max(MIN_CONNECTIONS).min(limits.max_connections);
        tracing::warn!(
            limit = soft,
            needed,
            max_connections = limits.max_connections,
            lowered_to = cap,
            "the open-file limit (ulimit -n) is below what http.max_connections needs and cannot be raised further; serving fewer connections (raise the hard limit, e.g. LimitNOFILE= in systemd)"
        );
        limits.max_connections = cap;
    }
    soft
}
