//! The HTTP server of a real `cactusd` under a crowd of connections (issue 14): with
//! [`IDLE`] idle and [`SLOW`] slow-header connections held open against a node capped at
//! [`CAP`] connections, a terminal's redemption over a fresh connection still answers, and
//! the node's file descriptors stay under its cap plus [`FD_RESERVE`].
//!
//! Bounded in count and time: the crowd is opened in well under a second, every answer is
//! awaited at most [`ANSWER_BOUND`] (a liveness bound; the latency is printed, see
//! docs/performance.md, not asserted). Everything listens on 127.0.0.1.
//!
//! `cargo nextest run --cargo-profile test -p couponcactus-tests --test connections --no-capture`

use couponcactus_tests::cluster::Cluster;
use couponcactus_tests::fixtures::order;
use couponcactus_tests::{Client, TxView};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The node's `[http] max_connections`.
const CAP: usize = 256;
/// Connections opened and left silent.
const IDLE: usize = 2_000;
/// Connections that send their request head one byte a second.
const SLOW: usize = 100;
/// Redemptions made while the crowd is held (each over a fresh connection).
const REDEMPTIONS: usize = 5;
/// File descriptors the node may hold besides its [`CAP`] HTTP connections: RocksDB's files,
/// the libp2p listener, the runtime's epoll and event descriptors, stdio and its log, the
/// HTTP listener (33 in all here before the crowd), and up to 32 connections held for a
/// moment beyond the cap while they wait for the slot they evicted
/// (`OVERFLOW_CONNECTIONS`); the rest is margin.
const FD_RESERVE: usize = 128;
/// Longest a redemption may take to answer (liveness only).
const ANSWER_BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_redemption_answers_while_thousands_of_connections_are_held_open() {
    raise_own_fd_limit((IDLE + SLOW + 512) as u64);
    let cluster = Cluster::builder()
        .nodes(1)
        .extra_config(&format!("\n[http]\nmax_connections = {CAP}\n"))
        .start();
    let node = cluster.node(1);
    let pid = node.pid().expect("the node runs");
    let addr: SocketAddr = node.url().trim_start_matches("http://").parse().unwrap();
    let pool = cluster.create_active_pool(1, "crowd", REDEMPTIONS + 1);
    let redeem = |code: &str| {
        let tx = cluster.redeem_code_tx(1, code, order(10_000));
        let client = Client::new(node.url(), cluster.chain_id().clone());
        let started = Instant::now();
        let reply = client.submit(&tx);
        let latency = started.elapsed();
        assert_eq!(reply.status, 200, "{reply:#?}");
        let view: TxView = reply.json();
        assert_eq!(view.status, "applied", "{view:#?}");
        assert!(latency < ANSWER_BOUND, "answered after {latency:?}");
        latency
    };
    let quiet = redeem(&pool.codes[0]);
    let before = open_fds(pid);
    println!("without a crowd: redemption answered in {quiet:?}; the node holds {before} fds");

    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..IDLE).map(|_| connect(addr)).collect();
    let slow = SlowHeaders::start(addr, SLOW);
    let mut peak = open_fds(pid);
    println!(
        "{IDLE} idle and {SLOW} slow-header connections opened in {:?}; the node holds {peak} fds",
        started.elapsed()
    );
    let mut latencies = Vec::new();
    for code in &pool.codes[1..] {
        latencies.push(redeem(code));
        peak = peak.max(open_fds(pid));
    }
    let max = latencies.iter().max().copied().unwrap_or_default();
    println!(
        "with the crowd held: {REDEMPTIONS} redemptions, one after another, each over a fresh connection, answered in {latencies:?} (max {max:?}); the node held at most {peak} fds (cap {CAP} + reserve {FD_RESERVE}), {} now",
        open_fds(pid)
    );
    assert!(
        peak <= CAP + FD_RESERVE,
        "the node held {peak} fds, over its cap {CAP} + {FD_RESERVE}"
    );
    let metrics = Client::new(node.url(), cluster.chain_id().clone()).get("/metrics");
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    let open = metric(&text, "cactus_http_connections");
    let evicted = metric(&text, "cactus_http_connections_evicted_total");
    println!("metrics: {open} connections open, {evicted} evicted");
    assert!(open <= CAP as u64, "{open} connections open");
    assert!(
        evicted >= (IDLE + SLOW - CAP) as u64,
        "{evicted} evictions for {IDLE} + {SLOW} connections and a cap of {CAP}"
    );
    drop(slow);
    drop(idle);
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&addr, ANSWER_BOUND).expect("connecting to the node")
}

/// Connections that send a request line, then one header byte a second each, until
/// dropped; writes to connections the node closed fail and are ignored.
struct SlowHeaders {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SlowHeaders {
    fn start(addr: SocketAddr, n: usize) -> SlowHeaders {
        let mut conns: Vec<TcpStream> = (0..n).map(|_| connect(addr)).collect();
        for conn in &mut conns {
            let _ = conn.write_all(b"POST /v1/txs HTTP/1.1\r\nhost: crowd\r\n");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                for conn in &mut conns {
                    let _ = conn.write_all(b"x");
                }
                for _ in 0..10 {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        SlowHeaders {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SlowHeaders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("reading the node's /proc/PID/fd")
        .count()
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (the crowd's client ends
/// are this process's descriptors); panics if even that is below `needed`.
fn raise_own_fd_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(1 << 20).min(1 << 20);
    if limit.current.is_some_and(|soft| soft < hard) {
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).expect("raising the soft RLIMIT_NOFILE");
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        soft >= needed,
        "this test opens {needed} descriptors but the hard RLIMIT_NOFILE is {soft}"
    );
}

/// The value of an unlabelled Prometheus metric (0 if absent).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
