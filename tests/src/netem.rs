//! A delaying TCP proxy on loopback, standing in for `tc netem` (this kernel has only the
//! tbf and htb qdiscs): one proxy per directed node pair, listening on 127.0.0.1 port 0
//! and forwarding to the target node, so that node A dials node B through the proxy
//! `(A, B)` (cactusd's `[p2p] dial` override) and every byte of that connection, both
//! ways, crosses a [`LinkSpec`].
//!
//! Each direction of each connection is a reader that stamps every chunk it reads with a
//! delivery time and a writer that delivers chunks at their times, in order:
//! - delay: `delay ± jitter`, uniform; delivery times never go backwards (TCP delivers
//!   bytes in order, so a chunk never overtakes the one before it);
//! - loss as TCP sees it: with probability `loss` per chunk, that chunk (and so
//!   everything after it) is held for one retransmission timeout, `max(200 ms, RTT)`;
//! - bandwidth: a token bucket of `rate_bps` with no burst; the queue between reader and
//!   writer is bounded ([`QUEUE_BYTES`]), so a slow link pushes back on the sender as a
//!   real bottleneck does.
//!
//! Settings are read per chunk, so [`Netem::set_node`] reshapes a node's links while they
//! carry traffic. The proxies run on a runtime of their own; dropping the [`Netem`] stops
//! them.

use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

/// Largest chunk one read takes (one "segment" for the loss model).
pub const CHUNK_BYTES: usize = 16 * 1024;

/// Bytes queued in one direction of one connection before its reader waits.
pub const QUEUE_BYTES: usize = 64 * 1024;

/// Least retransmission timeout (Linux's minimum RTO).
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// What one link does to the bytes crossing it, each way.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkSpec {
    /// One-way delay.
    pub delay: Duration,
    /// Each chunk's delay is `delay ± jitter` (uniform).
    pub jitter: Duration,
    /// Chance per chunk of a loss, i.e. a hold of one retransmission timeout (0 to 1).
    pub loss: f64,
    /// Bandwidth in bits per second (`None`: unlimited).
    pub rate_bps: Option<u64>,
}

impl LinkSpec {
    /// A link with this one-way delay, jitter and loss, no bandwidth limit.
    pub fn wan(delay: Duration, jitter: Duration, loss: f64) -> LinkSpec {
        LinkSpec {
            delay,
            jitter,
            loss,
            rate_bps: None,
        }
    }

    /// This link limited to `bps` bits per second.
    pub fn with_rate(self, bps: u64) -> LinkSpec {
        LinkSpec {
            rate_bps: Some(bps),
            ..self
        }
    }

    /// The round trip it adds (twice the delay).
    pub fn rtt(&self) -> Duration {
        self.delay * 2
    }

    /// How long a lost chunk is held: `max(200 ms, RTT)`.
    pub fn rto(&self) -> Duration {
        self.rtt().max(MIN_RTO)
    }

    /// When a chunk read at `now` is due, given when the chunk before it was due.
    fn due(&self, now: Instant, previous: Instant, rng: &mut StdRng) -> Instant {
        let jitter_ms = self.jitter.as_millis() as i64;
        let offset = if jitter_ms > 0 {
            rng.gen_range(-jitter_ms..=jitter_ms)
        } else {
            0
        };
        let delay = (self.delay.as_millis() as i64 + offset).max(0) as u64;
        let mut due = now + Duration::from_millis(delay);
        if self.loss > 0.0 && rng.gen_bool(self.loss.min(1.0)) {
            due += self.rto();
        }
        due.max(previous)
    }
}

/// One proxy: its address, its settings and its open connections.
#[derive(Debug)]
struct Proxy {
    addr: SocketAddr,
    spec: Arc<Mutex<LinkSpec>>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::AbortHandle,
}

/// The proxies of a cluster, by directed node pair `(dialer, target)`.
#[derive(Debug)]
pub struct Netem {
    runtime: Option<tokio::runtime::Runtime>,
    proxies: BTreeMap<(u64, u64), Proxy>,
}

impl Netem {
    /// A proxy for every directed pair of `targets` (node id → its listen address), each
    /// link shaped by `spec`.
    pub fn mesh(targets: &BTreeMap<u64, SocketAddr>, spec: LinkSpec) -> Netem {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("netem")
            .enable_all()
            .build()
            .expect("building the netem runtime");
        let mut netem = Netem {
            runtime: None,
            proxies: BTreeMap::new(),
        };
        for (&from, _) in targets.iter() {
            for (&to, &target) in targets.iter().filter(|(to, _)| **to != from) {
                let seed = from * 1_000 + to;
                let proxy = start_proxy(&runtime, target, spec, seed);
                netem.proxies.insert((from, to), proxy);
            }
        }
        netem.runtime = Some(runtime);
        netem
    }

    /// Where `from` dials `to`.
    pub fn addr(&self, from: u64, to: u64) -> SocketAddr {
        self.proxy(from, to).addr
    }

    /// The dial overrides of node `from`: every other node's proxy, by node id.
    pub fn dial_map(&self, from: u64) -> BTreeMap<u64, SocketAddr> {
        self.proxies
            .iter()
            .filter(|((f, _), _)| *f == from)
            .map(|((_, to), p)| (*to, p.addr))
            .collect()
    }

    /// Shapes the link `from` → `to` (both directions of its connections).
    pub fn set_link(&self, from: u64, to: u64, spec: LinkSpec) {
        *lock(&self.proxy(from, to).spec) = spec;
    }

    /// Shapes every link that node `id` dials or is dialed on.
    pub fn set_node(&self, id: u64, spec: LinkSpec) {
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                *lock(&proxy.spec) = spec;
            }
        }
    }

    /// Shapes every link.
    pub fn set_all(&self, spec: LinkSpec) {
        for proxy in self.proxies.values() {
            *lock(&proxy.spec) = spec;
        }
    }

    /// Breaks every open connection through the proxy `from` → `to` (both ends see the
    /// connection close); new connections are proxied as before.
    pub fn break_connections(&self, from: u64, to: u64) {
        for connection in lock(&self.proxy(from, to).connections).drain(..) {
            connection.abort();
        }
    }

    fn proxy(&self, from: u64, to: u64) -> &Proxy {
        self.proxies
            .get(&(from, to))
            .unwrap_or_else(|| panic!("no proxy from node {from} to node {to}"))
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        for proxy in self.proxies.values() {
            proxy.accept.abort();
            for connection in lock(&proxy.connections).drain(..) {
                connection.abort();
            }
        }
        // Callable from async tests too (a blocking shutdown would panic there).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds a proxy to `target` on 127.0.0.1 port 0 and starts accepting on `runtime`
/// (without blocking on it: callable from async tests).
fn start_proxy(
    runtime: &tokio::runtime::Runtime,
    target: SocketAddr,
    spec: LinkSpec,
    seed: u64,
) -> Proxy {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a netem proxy");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let addr = listener.local_addr().expect("proxy address");
    let spec = Arc::new(Mutex::new(spec));
    let connections = Arc::new(Mutex::new(Vec::new()));
    let (link, open) = (Arc::clone(&spec), Arc::clone(&connections));
    let accept = runtime
        .spawn(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            accept_loop(listener, target, link, open, seed).await
        })
        .abort_handle();
    Proxy {
        addr,
        spec,
        connections,
        accept,
    }
}

/// Accepts connections and pumps each through the link to the target.
async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    spec: Arc<Mutex<LinkSpec>>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    seed: u64,
) {
    let mut n = 0u64;
    while let Ok((inbound, _)) = listener.accept().await {
        n += 1;
        let spec = Arc::clone(&spec);
        let task = tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            let forth = pump(in_read, out_write, Arc::clone(&spec), seed ^ (n << 32));
            let back = pump(out_read, in_write, spec, seed ^ (n << 32) ^ 1);
            // Either direction ending ends the connection (a proxy keeps no half-open state).
            tokio::select! {
                _ = forth => {}
                _ = back => {}
            }
        });
        let mut open = lock(&connections);
        open.retain(|c| !c.is_finished());
        open.push(task.abort_handle());
    }
}

/// One direction of one connection: reads chunks, delivers each at its due time, in order.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    spec: Arc<Mutex<LinkSpec>>,
    seed: u64,
) {
    let budget = Arc::new(Semaphore::new(QUEUE_BYTES));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader_budget = Arc::clone(&budget);
    let reader_spec = Arc::clone(&spec);
    let reader = async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut previous = Instant::now();
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let Ok(permit) = reader_budget.acquire_many(n as u32).await else {
                return;
            };
            permit.forget();
            let link = *lock(&reader_spec);
            previous = link.due(Instant::now(), previous, &mut rng);
            if tx.send((previous, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let writer = async move {
        let mut free_at = Instant::now();
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            let rate = lock(&spec).rate_bps;
            if let Some(bps) = rate.filter(|bps| *bps > 0) {
                let start = free_at.max(Instant::now());
                let bits = chunk.len() as u64 * 8;
                free_at = start + Duration::from_micros(bits * 1_000_000 / bps);
                tokio::time::sleep_until(free_at).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            budget.add_permits(chunk.len());
        }
        let _ = to.shutdown().await;
    };
    // The writer drains what the reader queued before the reader's end closes the channel.
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server on loopback; returns its address.
    fn echo_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut std::net::TcpStream, bytes: &[u8]) -> Duration {
        let started = std::time::Instant::now();
        stream.write_all(bytes).unwrap();
        let mut back = vec![0u8; bytes.len()];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, bytes, "bytes come back whole and in order");
        started.elapsed()
    }

    #[test]
    fn netem_delays_each_way_keeps_order_and_limits_rate() {
        let targets = BTreeMap::from([(1, echo_server()), (2, echo_server())]);
        let netem = Netem::mesh(
            &targets,
            LinkSpec::wan(Duration::from_millis(50), Duration::ZERO, 0.0),
        );
        let mut stream = std::net::TcpStream::connect(netem.addr(1, 2)).unwrap();
        let rtt = round_trip(&mut stream, b"ping");
        assert!(rtt >= Duration::from_millis(100), "{rtt:?}");
        // Jitter and loss never reorder bytes.
        netem.set_all(LinkSpec::wan(
            Duration::from_millis(5),
            Duration::from_millis(5),
            0.2,
        ));
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        round_trip(&mut stream, &payload);
        // 64 KiB at 1 Mbit/s each way: at least half a second.
        netem.set_node(2, LinkSpec::default().with_rate(1_000_000));
        let took = round_trip(&mut stream, &vec![7u8; 64 * 1024]);
        assert!(took >= Duration::from_millis(500), "{took:?}");
        // A broken connection ends; a new one is proxied again.
        netem.break_connections(1, 2);
        let mut buf = [0u8; 1];
        assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
        let mut again = std::net::TcpStream::connect(netem.addr(1, 2)).unwrap();
        round_trip(&mut again, b"back");
    }
}
