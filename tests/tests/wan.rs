//! Liveness across a WAN (issue 22), on real sockets: every connection between nodes
//! crosses the delaying proxy of `couponcactus_tests::netem` (delay, jitter, loss as TCP
//! sees it, bandwidth). The transport alone first (raft batches pipelined over a 300 ms
//! round trip, in order, and again after the connection breaks), then real `cactusd`
//! consortia: 5 nodes at 300 ms RTT with 3 % loss under steady load keep committing with
//! no gap over 3 s, and a leader whose links drop to 256 kbit/s is replaced within 5 s.
//!
//! Timing bounds are what the issue asks; the binary is marked heavy in
//! .config/nextest.toml (`threads-required = "num-cpus"`) so nothing else runs beside it.

use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::tx::{RegisterKeyTx, SignedTx, TxKind};
use couponcactus_chaincode::types::Role;
use couponcactus_node::network::{
    self, Inbound, Lane, NetworkConfig, NetworkHandle, PeerInfo, Protocol,
};
use couponcactus_tests::cluster::{Cluster, POLL};
use couponcactus_tests::fixtures::order;
use couponcactus_tests::netem::{LinkSpec, Netem};
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TAG: &str = "0123456789abcdef";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn info(node_id: u64, addr: SocketAddr) -> PeerInfo {
    PeerInfo {
        node_id,
        public_key: PublicKey(key(node_id as u8).verifying_key().to_bytes()),
        addr: format!("/ip4/{}/tcp/{}", addr.ip(), addr.port()),
    }
}

/// A network node with no members yet, and its listen address.
async fn net_node(node_id: u64) -> (NetworkHandle, mpsc::Receiver<Inbound>, SocketAddr) {
    let (handle, rx) = network::start(NetworkConfig {
        node_id,
        key: key(node_id as u8),
        listen: "/ip4/127.0.0.1/tcp/0".into(),
        chain_tag: TAG.into(),
        peers: Vec::new(),
        request_timeout: Duration::from_secs(5),
        request_attempts: 3,
        retry_backoff: Duration::from_millis(300),
        dial: HashMap::new(),
    })
    .await
    .expect("network starts");
    let addr = handle.listen_addrs().await[0].clone();
    let port: u16 = addr.rsplit('/').next().unwrap().parse().unwrap();
    (handle, rx, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Two nodes that reach each other only through `netem`'s proxies.
async fn pair_through(
    spec: LinkSpec,
) -> (
    NetworkHandle,
    NetworkHandle,
    mpsc::Receiver<Inbound>,
    mpsc::Receiver<Inbound>,
    Netem,
) {
    let (a, a_rx, a_addr) = net_node(1).await;
    let (b, b_rx, b_addr) = net_node(2).await;
    let netem = Netem::mesh(&BTreeMap::from([(1, a_addr), (2, b_addr)]), spec);
    a.set_peers(vec![info(1, a_addr), info(2, netem.addr(1, 2))]);
    b.set_peers(vec![info(1, netem.addr(2, 1)), info(2, b_addr)]);
    connected(&a, &b).await;
    (a, b, a_rx, b_rx, netem)
}

async fn connected(a: &NetworkHandle, b: &NetworkHandle) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.connected() != vec![2] || b.connected() != vec![1] {
        assert!(Instant::now() < deadline, "the pair never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives raft messages until `n` arrived; each with when it arrived.
async fn receive(rx: &mut mpsc::Receiver<Inbound>, n: usize) -> Vec<(Vec<u8>, Instant)> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while got.len() < n {
            match rx.recv().await.expect("network alive") {
                Inbound::Raft { messages, .. } => {
                    got.extend(messages.into_iter().map(|m| (m, Instant::now())))
                }
                Inbound::Request { reply, .. } => {
                    let _ = reply.send(b"ok".to_vec());
                }
                Inbound::Checkpoint { .. } => {}
            }
        }
    })
    .await
    .expect("raft messages arrive");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wan_network_pipelines_raft_batches_in_order_and_survives_a_break() {
    // 150 ms each way: a 300 ms round trip.
    let link = LinkSpec::wan(Duration::from_millis(150), Duration::ZERO, 0.0);
    let (a, b, _a_rx, mut b_rx, netem) = pair_through(link).await;
    // The lanes' streams open when the nodes connect; one message each way on each lane
    // shows they are up.
    for lane in Lane::ALL {
        let warm = u32::MAX.to_be_bytes().to_vec();
        a.send_raft(2, lane, vec![warm]).expect("queued");
        receive(&mut b_rx, 1).await;
    }

    // 40 batches, one every 25 ms, on both lanes. Waiting a round trip per batch (the old
    // transport) delays batch i by up to one RTT behind batch i-1; pipelined, each arrives
    // one way after it was sent.
    let receiver = tokio::spawn(async move {
        let got = receive(&mut b_rx, 40).await;
        (got, b_rx)
    });
    let mut sent_at = Vec::new();
    for i in 0..40u32 {
        let lane = if i % 2 == 0 {
            Lane::Append
        } else {
            Lane::Control
        };
        a.send_raft(2, lane, vec![i.to_be_bytes().to_vec()])
            .expect("queued");
        sent_at.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (got, mut b_rx) = receiver.await.expect("receiver");
    let mut worst = Duration::ZERO;
    let mut latencies = Vec::new();
    for (message, arrived) in &got {
        let i = u32::from_be_bytes(message[..4].try_into().unwrap()) as usize;
        let latency = arrived.duration_since(sent_at[i]);
        latencies.push((i, latency.as_millis()));
        worst = worst.max(latency);
    }
    eprintln!("latency per batch (index, ms): {latencies:?}");
    eprintln!("worst batch latency over a 300 ms RTT link: {worst:?}");
    assert!(
        worst < link.rtt(),
        "a batch took {worst:?}, not less than one round trip"
    );
    // Each lane in order.
    for parity in [0, 1] {
        let lane: Vec<u32> = got
            .iter()
            .map(|(m, _)| u32::from_be_bytes(m[..4].try_into().unwrap()))
            .filter(|i| i % 2 == parity)
            .collect();
        let mut sorted = lane.clone();
        sorted.sort_unstable();
        assert_eq!(lane, sorted, "lane {parity} kept its order");
    }

    // The connection breaks (both ways): the nodes reconnect and raft flows again, in order.
    netem.set_all(LinkSpec::wan(
        Duration::from_millis(20),
        Duration::ZERO,
        0.0,
    ));
    netem.break_connections(1, 2);
    netem.break_connections(2, 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut delivered = Vec::new();
    let mut next = 1_000u32;
    while delivered.len() < 50 {
        assert!(
            Instant::now() < deadline,
            "raft never flowed again after the break"
        );
        if a.send_raft(2, Lane::Control, vec![next.to_be_bytes().to_vec()])
            .is_ok()
        {
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(item) = b_rx.try_recv() {
            if let Inbound::Raft { messages, .. } = item {
                delivered.extend(
                    messages
                        .iter()
                        .map(|m| u32::from_be_bytes(m[..4].try_into().unwrap())),
                );
            }
        }
    }
    let after: Vec<u32> = delivered.into_iter().filter(|i| *i >= 1_000).collect();
    assert!(
        after.windows(2).all(|w| w[0] < w[1]),
        "order after the break: {after:?}"
    );
    // Idempotent requests get through the lossy link too.
    netem.set_all(LinkSpec::wan(
        Duration::from_millis(150),
        Duration::from_millis(75),
        0.03,
    ));
    let answer = b.request(1, Protocol::Checkpoint, b"vote".to_vec()).await;
    assert_eq!(answer.expect("acked"), Vec::<u8>::new());
}

/// The WAN consortium's `[raft]` lines (the harness writes tick and election ticks).
const WAN_RAFT: &str = "profile = \"wan\"\nheartbeat_ticks = 3\nrtt_ms = 300\n";

/// Polls every running node's height until `stop`; returns when the highest height grew.
fn commit_times(cluster: &Cluster, stop: &AtomicBool) -> Vec<Instant> {
    let mut times = Vec::new();
    let mut top = 0;
    while !stop.load(Ordering::SeqCst) {
        let height = cluster
            .running_members()
            .iter()
            .filter_map(|n| n.try_status().ok())
            .map(|s| s.height)
            .max()
            .unwrap_or(0);
        if height > top {
            top = height;
            times.push(Instant::now());
        }
        std::thread::sleep(POLL);
    }
    times
}

/// The longest pause between consecutive commits.
fn worst_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default()
}

/// What a load run did.
#[derive(Debug, Default)]
struct Load {
    committed: AtomicU64,
    failed: AtomicU64,
}

/// `workers` threads, each submitting its txs one at a time (waiting for the commit) to
/// the nodes in turn, one every `pace` at most, until the txs or `run` run out.
fn steady_load(
    cluster: &Cluster,
    txs: Vec<SignedTx>,
    workers: usize,
    pace: Duration,
    run: Duration,
) -> Load {
    let load = Load::default();
    let queue = Mutex::new(txs);
    let until = Instant::now() + run;
    let nodes: Vec<_> = cluster.running_members();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (queue, load, nodes) = (&queue, &load, &nodes);
            scope.spawn(move || {
                let mut turn = w;
                while Instant::now() < until {
                    let started = Instant::now();
                    let Some(tx) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let node = nodes[turn % nodes.len()];
                    turn += 1;
                    match node.client().try_submit(&tx) {
                        Ok(reply) if matches!(reply.status, 200 | 422) => {
                            load.committed.fetch_add(1, Ordering::SeqCst)
                        }
                        _ => load.failed.fetch_add(1, Ordering::SeqCst),
                    };
                    std::thread::sleep(pace.saturating_sub(started.elapsed()));
                }
            });
        }
    });
    load
}

#[test]
fn wan_300ms_rtt_and_3_percent_loss_keep_committing() {
    let link = LinkSpec::wan(Duration::from_millis(150), Duration::from_millis(75), 0.03);
    let cluster = Cluster::builder()
        .nodes(5)
        .tick_ms(100)
        .election_ticks(20)
        .extra_config(WAN_RAFT)
        .block_interval_ms(50)
        .netem(link)
        .deadline(Duration::from_secs(120))
        .start();
    let pool = cluster.create_active_pool(1, "wan", 400);
    let alloc_pool = cluster.create_active_pool(2, "wanalloc", 400);
    // Redemptions and allocations, interleaved.
    let mut txs: Vec<SignedTx> = Vec::new();
    for (i, code) in pool.codes.iter().enumerate() {
        txs.push(cluster.redeem_code_tx(1, code, order(10_000)));
        txs.push(cluster.allocate_tx(2, &alloc_pool.id, i as u64 + 1));
    }
    txs.reverse();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (load, times) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| commit_times(&cluster, &stop));
        let load = steady_load(
            &cluster,
            txs,
            6,
            Duration::from_millis(500),
            Duration::from_secs(60),
        );
        stop.store(true, Ordering::SeqCst);
        (load, watcher.join().expect("watcher"))
    });
    let secs = started.elapsed().as_secs_f64();
    let committed = load.committed.load(Ordering::SeqCst);
    let gap = worst_gap(&times);
    eprintln!(
        "WAN 300 ms RTT, 3 % loss: {committed} txs committed in {secs:.1} s ({:.1} tx/s), \
         {} commits ({:.2}/s), worst gap between commits {gap:?}, {} submissions failed",
        committed as f64 / secs,
        times.len(),
        times.len() as f64 / secs,
        load.failed.load(Ordering::SeqCst),
    );
    assert!(committed >= 100, "only {committed} txs committed");
    assert!(gap <= Duration::from_secs(3), "no commit for {gap:?}");
    cluster.assert_converged();
    assert_no_tx_included_twice(&cluster);
}

/// No tx is included in two blocks (issue 22): over every block, as org 1's consortium
/// auditor reads them (every tx shown).
fn assert_no_tx_included_twice(cluster: &Cluster) {
    let node = cluster.any_member();
    let height = node.status().height;
    let mut seen = HashMap::new();
    for block in node.client().blocks_as(&cluster.org(1).auditor, height) {
        for tx in &block.txs {
            if let Some(first) = seen.insert(tx.id(), block.height) {
                panic!(
                    "tx {} is in block {first} and again in block {}",
                    tx.id(),
                    block.height
                );
            }
        }
    }
    assert!(!seen.is_empty(), "the blocks carried no tx");
}

/// `n` key registrations by org 1's admin: load that needs no coupon inventory.
fn registrations(cluster: &Cluster, from: u64, n: u64) -> Vec<SignedTx> {
    (from..from + n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_be_bytes());
            let key = SigningKey::from_bytes(&seed);
            cluster.tx(
                &cluster.org(1).admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: PublicKey(key.verifying_key().to_bytes()),
                    role: Role::Issuer,
                }),
            )
        })
        .collect()
}

/// The leader every running node but `old` names, once they agree on one that is not `old`.
fn new_leader(cluster: &Cluster, old: u64) -> Option<u64> {
    let leaders: Vec<u64> = cluster
        .running_members()
        .iter()
        .filter(|n| n.id() != old)
        .map(|n| n.try_status().map(|s| s.leader_id).unwrap_or(0))
        .collect();
    let first = *leaders.first()?;
    (first != 0 && first != old && leaders.iter().all(|l| *l == first)).then_some(first)
}

#[test]
fn wan_leader_on_a_256_kbit_link_is_replaced_within_5_s() {
    let cluster = Cluster::builder()
        .nodes(5)
        .netem(LinkSpec::default())
        .deadline(Duration::from_secs(60))
        .start();
    let old = cluster.wait_for_leader();
    let stop = AtomicBool::new(false);
    let replaced = std::thread::scope(|scope| {
        // Bulk load: batches of 100 registrations to the followers, without waiting.
        let loader = scope.spawn(|| {
            let mut next = 1_000;
            let followers: Vec<_> = cluster
                .running_members()
                .into_iter()
                .filter(|n| n.id() != old)
                .collect();
            let mut turn = 0;
            while !stop.load(Ordering::SeqCst) && next < 1_000 + 20_000 {
                let batch = registrations(&cluster, next, 100);
                next += 100;
                let _ = followers[turn % followers.len()]
                    .client()
                    .submit_batch(&batch, false);
                turn += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        std::thread::sleep(Duration::from_secs(3));
        cluster
            .netem()
            .set_node(old, LinkSpec::default().with_rate(256_000));
        let shaped = Instant::now();
        let mut replaced = None;
        while shaped.elapsed() < Duration::from_secs(20) {
            if let Some(leader) = new_leader(&cluster, old) {
                replaced = Some((leader, shaped.elapsed()));
                break;
            }
            std::thread::sleep(POLL);
        }
        stop.store(true, Ordering::SeqCst);
        loader.join().expect("loader");
        replaced
    });
    eprintln!("leader {old} on 256 kbit/s: replaced by {replaced:?}");
    // With heartbeats on their own lane a leader on a thin link stays leader (its
    // followers hear it); replacing it is the leader-stall watchdog's job (issue 22).
    let (leader, after) =
        replaced.expect("a new leader within 20 s of the leader's links thinning");
    assert_ne!(leader, old);
    assert!(
        after <= Duration::from_secs(5),
        "a new leader only after {after:?}"
    );
    cluster.netem().set_node(old, LinkSpec::default());
    cluster.assert_converged();
    assert_no_tx_included_twice(&cluster);
}
