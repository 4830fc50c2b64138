//! A webhook receiver for tests: an HTTP server on 127.0.0.1:0 (its own thread and
//! runtime) that records every delivery (headers and body) and answers as the test sets
//! it ([`Mode`]: OK, failing, gone, slow, hanging).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use couponcactus_chaincode::events::EventId;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest [`Receiver::wait`] waits.
pub const WAIT: Duration = Duration::from_secs(60);

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Answer 200.
    Ok,
    /// Answer 500.
    Fail,
    /// Answer 410 Gone.
    Gone,
    /// Answer 200 after a delay.
    Slow(Duration),
    /// Answer only after this long (past the node's timeout): recorded as unanswered (0).
    Hang(Duration),
}

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, seconds.
    pub timestamp: u64,
    /// `webhook-signature`.
    pub signature: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// Whether `x-cactus-replay: true` was set.
    pub replay: bool,
    /// The status answered (0: none, the request hung).
    pub answered: u16,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery body is JSON")
    }

    /// The `webhook-id` as a ledger event id.
    pub fn event_id(&self) -> EventId {
        self.id.parse().expect("webhook-id is an event id")
    }
}

/// The running receiver (cheap to clone: clones share the log and the mode).
#[derive(Clone, Debug)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mode = *r.mode.lock().unwrap();
    let answered = match mode {
        Mode::Ok | Mode::Slow(_) => 200,
        Mode::Fail => 500,
        Mode::Gone => 410,
        Mode::Hang(_) => 0,
    };
    r.log.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body: body.to_vec(),
        replay: header("x-cactus-replay") == "true",
        answered,
    });
    if let Mode::Slow(d) | Mode::Hang(d) = mode {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(answered.max(200)).unwrap()
}

impl Receiver {
    /// A receiver on 127.0.0.1:0, on its own thread and runtime.
    pub fn start() -> Receiver {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let r = Receiver {
                    addr: listener.local_addr().unwrap(),
                    log: Arc::default(),
                    mode: Arc::new(Mutex::new(Mode::Ok)),
                };
                tx.send(r.clone()).unwrap();
                let app = Router::new().fallback(receive).with_state(r);
                axum::serve(listener, app).await.unwrap();
            });
        });
        rx.recv().unwrap()
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/cactus", self.addr)
    }

    /// How it answers from now on.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Every delivery so far.
    pub fn log(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `check` holds on the log; panics with the log after [`WAIT`].
    pub fn wait(&self, what: &str, check: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if check(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "receiver: {what} not seen within {WAIT:?}; got {} deliveries: {:?}",
                log.len(),
                log.iter().map(|r| (&r.id, r.answered)).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
