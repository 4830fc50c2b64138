//! One connection: its task, what it is doing ([`Activity`]), its timeouts, and the
//! registry the accept loop evicts from.
//!
//! A connection is *idle* while it waits for a request head (new, or kept alive after a
//! response) and *busy* from the moment hyper hands a request to the router until the
//! response has been written and flushed. Only idle connections are closed by the head and
//! idle timeouts; a busy one is bounded by the request's own timeouts and, if its client
//! stops reading the response, by `idle_timeout` without write progress.
//!
//! Eviction takes the connection idle longest, counting a connection whose response is
//! complete but still being written out as idle since the response ended: hyper finishes
//! writing it and then closes. (The client can read a response before its last write has
//! been flushed on the server's side; without this a connection it had finished with could
//! look busy for that moment.)

use super::io::ConnIo;
use super::{HttpLimits, Shared, error_reply, linger, reply_and_close};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tower_service::Service as _;

/// Where a connection is in its request cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head: idle.
    AwaitingHead,
    /// The router has the request: busy.
    InRequest,
    /// The response body is done; hyper is still writing it out: busy, but evictable.
    Finishing,
}

/// Why a connection's time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    /// A new connection sent nothing within the header timeout.
    NoRequest,
    /// A request head started but did not complete within the header timeout.
    SlowHead,
    /// A kept-alive connection sent no request within the idle timeout.
    Idle,
    /// The client did not read its response for the idle timeout.
    Unread,
}

impl Expiry {
    fn label(self) -> &'static str {
        match self {
            Expiry::NoRequest | Expiry::SlowHead => "header",
            Expiry::Idle => "idle",
            Expiry::Unread => "unread_response",
        }
    }
}

#[derive(Debug)]
struct ConnState {
    phase: Phase,
    /// Accept, or the end of the last response: the start of the idle time.
    since: Instant,
    /// While awaiting a head: when its first byte arrived.
    head_started: Option<Instant>,
    /// Requests handed to the router.
    served: u64,
    /// While busy: since when writing has made no progress.
    write_stalled: Option<Instant>,
    /// Eviction or server shutdown asked it to close.
    close: bool,
}

impl ConnState {
    /// When the connection's time runs out, and why, as things stand.
    fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, Expiry)> {
        match self.phase {
            Phase::AwaitingHead => Some(match (self.served, self.head_started) {
                (0, None) => (self.since + limits.header_read_timeout, Expiry::NoRequest),
                (0, Some(_)) => (self.since + limits.header_read_timeout, Expiry::SlowHead),
                (_, Some(started)) => (started + limits.header_read_timeout, Expiry::SlowHead),
                (_, None) => (self.since + limits.idle_timeout, Expiry::Idle),
            }),
            Phase::InRequest | Phase::Finishing => self
                .write_stalled
                .map(|since| (since + limits.idle_timeout, Expiry::Unread)),
        }
    }
}

/// What one connection is doing, shared by its task, its I/O, its service, the response
/// bodies it sends and the [`Registry`].
#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<ConnState>,
    /// Wakes the connection's task when its state changed.
    wake: Notify,
}

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            state: Mutex::new(ConnState {
                phase: Phase::AwaitingHead,
                since: now,
                head_started: None,
                served: 0,
                write_stalled: None,
                close: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no request is in flight (hyper writes only its automatic error answers then).
    pub(super) fn awaiting_head(&self) -> bool {
        self.lock().phase == Phase::AwaitingHead
    }

    /// Bytes arrived from the client.
    pub(super) fn bytes_read(&self) {
        let mut state = self.lock();
        if state.phase == Phase::AwaitingHead && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.wake.notify_one();
        }
    }

    /// A write made progress, or could not (`stalled`).
    pub(super) fn write_progress(&self, stalled: bool) {
        let mut state = self.lock();
        match (stalled, state.write_stalled) {
            (true, None) => {
                state.write_stalled = Some(Instant::now());
                drop(state);
                self.wake.notify_one();
            }
            (false, Some(_)) => state.write_stalled = None,
            _ => {}
        }
    }

    /// Everything written so far reached the socket: a finished response is complete.
    pub(super) fn flushed(&self) {
        let mut state = self.lock();
        if state.phase == Phase::Finishing {
            state.phase = Phase::AwaitingHead;
            state.head_started = None;
            state.write_stalled = None;
            drop(state);
            self.wake.notify_one();
        }
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.lock();
        state.phase = Phase::InRequest;
        state.served += 1;
        state.head_started = None;
        RequestGuard(self.clone())
    }

    fn end_request(&self) {
        let mut state = self.lock();
        if state.phase == Phase::InRequest {
            state.phase = Phase::Finishing;
            state.since = Instant::now();
        }
    }

    /// Since when it is idle (or its response complete), if it may be evicted.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        let evictable = matches!(state.phase, Phase::AwaitingHead | Phase::Finishing);
        (evictable && !state.close).then_some(state.since)
    }

    fn request_close(&self) {
        self.lock().close = true;
        self.wake.notify_one();
    }
}

/// Held by a response body: dropping it (the body is done, or abandoned) ends the request.
#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// Every open connection, for eviction and shutdown.
#[derive(Debug, Default)]
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    /// The server is shutting down: connections registered from now on close at once.
    closing: AtomicBool,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut conns = self.lock();
        if self.closing.load(Ordering::Relaxed) {
            activity.request_close();
        }
        conns.insert(id, activity);
        drop(conns);
        metrics::gauge!("cactus_http_connections").increment(1);
        Registration {
            registry: self.clone(),
            id,
        }
    }

    /// Asks the connection idle longest to close (at once if idle, after writing out its
    /// response if that is complete); false if every connection is busy.
    pub(super) fn evict_longest_idle(&self) -> bool {
        let conns = self.lock();
        let victim = conns
            .values()
            .filter_map(|a| a.idle_since().map(|since| (since, a)))
            .min_by_key(|(since, _)| *since);
        match victim {
            Some((_, activity)) => {
                activity.request_close();
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close (idle ones at once, busy ones after their response).
    pub(super) fn close_all(&self) {
        let conns = self.lock();
        self.closing.store(true, Ordering::Relaxed);
        for activity in conns.values() {
            activity.request_close();
        }
    }
}

/// A connection's entry in the [`Registry`], removed on drop.
#[derive(Debug)]
struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        metrics::gauge!("cactus_http_connections").decrement(1);
    }
}

/// The router, marking the connection busy for each request until its response is done.
#[derive(Clone, Debug)]
struct ConnService {
    router: Router,
    activity: Arc<Activity>,
    /// The client's address, given to handlers as `axum::extract::ConnectInfo` (the
    /// console's per-IP login limit).
    peer: Option<std::net::SocketAddr>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let guard = self.activity.begin_request();
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = router.call(request).await?;
            // The guard lives as long as the body hyper writes out.
            Ok(response.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &guard;
                    frame
                }))
            }))
        })
    }
}

type Connection = http1::Connection<TokioIo<ConnIo>, ConnService>;

/// How [`drive`] ended.
#[derive(Debug)]
enum End {
    /// hyper finished the connection (the client closed, keep-alive ended, or an error).
    Done(hyper::Result<()>),
    /// Its time ran out while idle, or while the client did not read.
    Expired(Expiry),
    /// Evicted, or the server is shutting down, while idle.
    Closed,
}

/// Serves one connection in its slot, then closes it.
pub(super) async fn run(shared: Arc<Shared>, stream: TcpStream, slot: OwnedSemaphorePermit) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let peer = stream.peer_addr().ok();
    let registration = shared.registry.register(activity.clone());
    let io = TokioIo::new(ConnIo::new(stream, activity.clone(), shared.limits.clone()));
    let service = ConnService {
        router: shared.router.clone(),
        activity: activity.clone(),
        peer,
    };
    let mut conn = shared.http.serve_connection(io, service);
    let end = drive(&mut conn, &activity, &shared.limits).await;
    close(conn, end, &shared.limits).await;
    drop(registration);
    drop(slot);
}

/// Polls the connection until hyper is done with it, its time runs out, or it is asked to
/// close while idle (asked while busy, it finishes the response in flight first).
async fn drive(conn: &mut Connection, activity: &Activity, limits: &HttpLimits) -> End {
    let mut shutting_down = false;
    loop {
        let (close, idle, deadline) = {
            let state = activity.lock();
            let idle = state.phase == Phase::AwaitingHead;
            (state.close, idle, state.deadline(limits))
        };
        if close && idle {
            return End::Closed;
        }
        if close && !shutting_down {
            Pin::new(&mut *conn).graceful_shutdown();
            shutting_down = true;
        }
        if let Some((at, why)) = deadline
            && at <= Instant::now()
        {
            return End::Expired(why);
        }
        let timer = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = &mut *conn => return End::Done(result),
            () = activity.wake.notified() => {}
            () = timer => {}
        }
    }
}

/// Closes the connection the way its end calls for.
async fn close(conn: Connection, end: End, limits: &HttpLimits) {
    match end {
        End::Done(Ok(())) | End::Closed => {}
        End::Done(Err(error)) if error.is_parse() => {
            // hyper answered an unparsable head (in JSON, see `io`) and stopped reading:
            // read what the client still sends so the close does not reset the answer.
            tracing::debug!(%error, "HTTP request head refused");
            linger(into_stream(conn)).await;
        }
        End::Done(Err(error)) => tracing::debug!(%error, "HTTP connection failed"),
        End::Expired(why) => {
            metrics::counter!("cactus_http_connection_timeouts_total", "kind" => why.label())
                .increment(1);
            if why == Expiry::SlowHead {
                let reply = error_reply(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    &format!(
                        "the request head did not arrive within {} ms",
                        limits.header_read_timeout.as_millis()
                    ),
                    &[],
                );
                reply_and_close(into_stream(conn), &reply).await;
            }
        }
    }
}

fn into_stream(conn: Connection) -> TcpStream {
    conn.into_parts().io.into_inner().into_stream()
}
