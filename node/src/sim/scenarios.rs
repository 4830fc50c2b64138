//! Named fault scenarios, and the seeded swarm of random fault schedules.
//!
//! Every scenario ends with [`Cluster::finish`]: the network healed, every node up, every
//! submitted tx answered, every store checked against what all nodes applied. A failure
//! prints the seed; `CACTUS_SIM_SEED=<seed>` replays one swarm seed alone.

use super::cluster::{Cluster, SimCounters, SimFailure, SimOptions, height, settled};
use super::net::{Fault, NetCounters, heal, partition, random_schedule};

fn cluster(seed: u64) -> Cluster {
    cluster_with(seed, SimOptions::default())
}

fn cluster_with(seed: u64, options: SimOptions) -> Cluster {
    Cluster::new(seed, options).unwrap_or_else(|f| panic!("{f}"))
}

fn ok<T>(result: Result<T, SimFailure>) -> T {
    result.unwrap_or_else(|f| panic!("{f}"))
}

#[test]
fn a_healthy_cluster_commits_everything_once() {
    let mut c = cluster(1);
    ok(c.load(20).wait_until(height(20)));
    ok(c.finish());
    println!("{}", c.summary());
    assert!(c.check.acked().len() >= 20, "{}", c.summary());
    assert!(c.check.certificates > 0, "{}", c.summary());
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut c = cluster(seed);
        ok(c.load(15)
            .play(partition(&[&[1], &[2, 3]]).then(heal()), 1_500));
        ok(c.finish());
        c.summary()
    };
    assert_eq!(run(7), run(7));
}

#[test]
fn leader_isolated_with_forwarded_txs_in_flight() {
    let mut c = cluster(2);
    let leader = c.leader().expect("a leader after setup");
    let followers: Vec<u64> = (1..=3).filter(|&n| n != leader).collect();
    // Forwarded txs reach the leader, which is cut off before it can commit them.
    c.submit(10);
    ok(c.run_for(5));
    ok(c.apply(Fault::Isolate(leader)));
    ok(c.load(20).run_for(3_000));
    // The majority elects a new leader and keeps committing; the old one cannot.
    let new = c.leader().expect("the majority elects a leader");
    assert!(followers.contains(&new), "{}", c.summary());
    ok(c.apply(heal()));
    ok(c.wait_until(settled()));
    ok(c.finish());
    println!("{}", c.summary());
}

/// A leader whose applier stalls (behind a huge block, on a slow disk) keeps leading:
/// heartbeats, appends and commits do not wait for apply, so the followers apply the
/// blocks it proposes meanwhile, and it catches up once apply resumes. (Before apply left
/// the consensus thread, a stalled apply stalled the leader's heartbeats too.)
#[test]
fn a_leader_whose_apply_stalls_keeps_leading_while_followers_commit() {
    let mut c = cluster(12);
    let leader = c.leader().expect("a leader after setup");
    let term = c.term(leader);
    let start = c.heights().into_iter().flatten().max().unwrap_or(0);
    // Five election timeouts without a block applied on the leader.
    ok(c.stall_apply(leader, 5_000).load(20).run_for(5_000));
    assert_eq!(c.leader(), Some(leader), "{}", c.summary());
    assert_eq!(c.term(leader), term, "{}", c.summary());
    let heights = c.heights();
    let leader_height = heights[leader as usize - 1].expect("the leader runs");
    let followers_top = heights.iter().flatten().copied().max().unwrap_or(0);
    assert_eq!(
        leader_height, start,
        "the leader applied nothing while stalled"
    );
    assert!(
        followers_top >= start + 10,
        "followers applied what the leader proposed: {heights:?} from {start}"
    );
    ok(c.load(0).wait_until(settled()));
    ok(c.finish());
    println!("{}", c.summary());
}

#[test]
fn symmetric_and_one_way_partitions_heal() {
    let mut c = cluster(3);
    ok(c.load(20).play(
        partition(&[&[1], &[2, 3]])
            .then(heal())
            .then(Fault::Cut { from: 2, to: 3 })
            .then(Fault::Cut { from: 3, to: 1 })
            .then(heal()),
        1_500,
    ));
    ok(c.wait_until(height(c.check.top() + 5)));
    ok(c.finish());
    println!("{}", c.summary());
}

#[test]
fn a_crash_between_applying_a_block_and_persisting_raft_state_loses_nothing() {
    let mut c = cluster(4);
    ok(c.load(10).run_for(500));
    // Write by write: the crash strikes after 0, 1, 2 … writes from now, which walks the
    // crash point across apply (the block's write), persist (entries and hard state) and
    // the commit index.
    for writes in 0..6 {
        let node = 1 + writes % 3;
        ok(c.crash_at_write(node, writes));
        ok(c.run_for(400));
        c.restart(node);
        ok(c.run_for(400));
    }
    ok(c.finish());
    println!("{}", c.summary());
    assert!(c.counters.crashes_at_write >= 5, "{}", c.summary());
}

#[test]
fn all_nodes_restart_at_once() {
    let mut c = cluster(5);
    ok(c.load(15).run_for(1_000));
    for n in 1..=3 {
        ok(c.apply(Fault::Crash(n)));
    }
    ok(c.run_for(500));
    for n in 1..=3 {
        ok(c.apply(Fault::Restart(n)));
    }
    ok(c.wait_until(height(c.check.top() + 5)));
    ok(c.finish());
    println!("{}", c.summary());
}

#[test]
fn a_full_disk_stops_a_node_cleanly_and_it_resumes_when_space_is_freed() {
    let mut c = cluster(6);
    ok(c.load(15).run_for(500));
    ok(c.fill_disk(2));
    ok(c.run_for(1_000));
    assert!(
        !c.is_running(2),
        "a full disk stops the node: {}",
        c.summary()
    );
    assert_eq!(c.counters.disk_full_stops, 1);
    // The others go on without it.
    let top = c.check.top();
    ok(c.wait_until(height(top + 5)));
    ok(c.free_disk(2));
    assert!(c.is_running(2));
    ok(c.finish());
    println!("{}", c.summary());
}

#[test]
fn a_follower_behind_compaction_catches_up_by_snapshot_while_partitions_flap() {
    let mut c = cluster(7);
    ok(c.apply(Fault::Isolate(3)));
    // Far more blocks than the log keeps: node 3 can only catch up from a snapshot.
    ok(c.load(10).run_for(6_000));
    for _ in 0..3 {
        ok(c.play(heal().then(partition(&[&[1, 3], &[2]])).then(heal()), 300));
        ok(c.apply(Fault::Isolate(3)));
        ok(c.run_for(300));
    }
    ok(c.apply(heal()));
    ok(c.finish());
    println!("{}", c.summary());
    assert!(c.counters.snapshots >= 1, "{}", c.summary());
}

#[test]
fn an_interrupted_snapshot_fetch_resumes() {
    let mut c = cluster(8);
    ok(c.apply(Fault::Isolate(3)));
    ok(c.load(10).run_for(6_000));
    ok(c.apply(heal()));
    let mut waited = 0;
    while !c.is_fetching(3) {
        ok(c.run_for(5));
        waited += 5;
        assert!(
            waited < 20_000,
            "node 3 never fetched a snapshot: {}",
            c.summary()
        );
    }
    // Lossy links while node 3 fetches: chunk requests and answers go missing, and the
    // fetch resumes from the chunks it has.
    ok(c.apply(Fault::Loss(400)));
    ok(c.run_for(4_000));
    ok(c.apply(heal()));
    ok(c.finish());
    println!("{}", c.summary());
    assert!(c.counters.snapshots >= 1, "{}", c.summary());
    assert!(c.counters.snapshot_resumes >= 1, "{}", c.summary());
}

#[test]
fn clock_skew_keeps_block_times_increasing_and_commits() {
    let options = SimOptions {
        max_skew_ms: 5_000,
        ..SimOptions::default()
    };
    let mut c = cluster_with(9, options);
    ok(c.load(15).play(
        partition(&[&[1], &[2, 3]])
            .then(heal())
            .then(partition(&[&[2], &[1, 3]]))
            .then(heal()),
        1_500,
    ));
    ok(c.finish());
    println!("{}", c.summary());
}

#[test]
fn lossy_duplicating_reordering_network() {
    let mut c = cluster(10);
    ok(c.apply(Fault::Loss(150)));
    ok(c.apply(Fault::Duplicate(150)));
    ok(c.apply(Fault::Reorder(200)));
    ok(c.apply(Fault::Delay {
        base_ms: 10,
        jitter_ms: 30,
    }));
    ok(c.load(20).run_for(5_000));
    ok(c.finish());
    println!("{}", c.summary());
}

/// Seeds the swarm runs: `CACTUS_SIM_SEEDS` (default: enough for CI), or the one seed in
/// `CACTUS_SIM_SEED`.
fn swarm_seeds(shard: u64, shards: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("CACTUS_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return if seed % shards == shard {
            vec![seed]
        } else {
            vec![]
        };
    }
    let count: u64 = std::env::var("CACTUS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SWARM_SEEDS);
    (0..count)
        .filter(|s| s % shards == shard)
        .map(|s| 1_000 + s)
        .collect()
}

/// Seeds per CI run, across the shards.
const DEFAULT_SWARM_SEEDS: u64 = 200;

/// One random run: random skews, a random schedule of network faults and crashes, a
/// full disk and a crash point drawn from the seed, under load; then finish.
fn swarm_run(seed: u64) -> Result<Cluster, SimFailure> {
    let mut rng = super::net::SimRng::new(seed);
    let options = SimOptions {
        max_skew_ms: rng.below(3_000),
        codes: 200,
        ..SimOptions::default()
    };
    let mut c = Cluster::new(seed, options)?;
    c.load(25).schedule(random_schedule(seed, &[1, 2, 3], 12));
    let victim = 1 + rng.below(3);
    c.run_for(1 + rng.below(2_000))?;
    match rng.below(3) {
        0 => {
            c.fill_disk(victim)?;
            c.run_for(1 + rng.below(1_500))?;
            c.free_disk(victim)?;
        }
        1 => {
            c.crash_at_write(victim, rng.below(8))?;
        }
        _ => {}
    }
    c.run_for(3_000)?;
    c.finish()?;
    Ok(c)
}

/// What a swarm shard did, summed over its seeds.
#[derive(Default)]
struct Totals {
    seeds: u64,
    sim: SimCounters,
    net: NetCounters,
}

impl Totals {
    fn add(&mut self, c: &Cluster) {
        self.seeds += 1;
        let (s, n) = (&c.counters, c.net_counters());
        self.sim.virtual_ms += s.virtual_ms;
        self.sim.crashes += s.crashes;
        self.sim.crashes_at_write += s.crashes_at_write;
        self.sim.restarts += s.restarts;
        self.sim.disk_full_stops += s.disk_full_stops;
        self.sim.snapshots += s.snapshots;
        self.sim.snapshot_resumes += s.snapshot_resumes;
        self.sim.submissions += s.submissions;
        self.net.sent += n.sent;
        self.net.delivered += n.delivered;
        self.net.dropped_loss += n.dropped_loss;
        self.net.dropped_partition += n.dropped_partition;
        self.net.dropped_cut += n.dropped_cut;
        self.net.dropped_crash += n.dropped_crash;
        self.net.dropped_overflow += n.dropped_overflow;
        self.net.dropped_backlog += n.dropped_backlog;
        self.net.duplicated += n.duplicated;
        self.net.reordered += n.reordered;
        for (kind, count) in &n.faults {
            *self.net.faults.entry(kind).or_insert(0) += count;
        }
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.sim;
        write!(
            f,
            "{} seeds, {} s of virtual time, {} submissions; node faults: crashes {} \
             (at a chosen write {}), restarts {}, full-disk stops {}; snapshots installed {} \
             (chunk requests resumed {}); network: {}",
            self.seeds,
            s.virtual_ms / 1_000,
            s.submissions,
            s.crashes + s.crashes_at_write,
            s.crashes_at_write,
            s.restarts,
            s.disk_full_stops,
            s.snapshots,
            s.snapshot_resumes,
            self.net
        )
    }
}

fn swarm(shard: u64) {
    let mut failures = Vec::new();
    let mut totals = Totals::default();
    for seed in swarm_seeds(shard, SHARDS) {
        match swarm_run(seed) {
            Ok(c) => totals.add(&c),
            Err(f) => failures.push(f.to_string()),
        }
    }
    println!(
        "swarm shard {shard}: {totals}; violations {}",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Shards of the swarm (nextest runs them in parallel).
const SHARDS: u64 = 4;

#[test]
fn swarm_shard_0() {
    swarm(0);
}

#[test]
fn swarm_shard_1() {
    swarm(1);
}

#[test]
fn swarm_shard_2() {
    swarm(2);
}

#[test]
fn swarm_shard_3() {
    swarm(3);
}

#[test]
fn partition_during_a_joint_consensus_membership_change() {
    let options = SimOptions {
        spares: 1,
        ..SimOptions::default()
    };
    let mut c = cluster_with(11, options);
    ok(c.start_spare(4));
    ok(c.load(20).admit(4));
    // The leader adds node 4 as a learner, then promotes it through a joint
    // configuration. Partition the leader away as soon as node 4 is a learner.
    let mut waited = 0;
    while !c
        .leader()
        .and_then(|l| c.configuration(l))
        .is_some_and(|(_, learners, _)| learners.contains(&4))
    {
        ok(c.run_for(5));
        waited += 5;
        assert!(
            waited < 30_000,
            "node 4 never became a learner: {}",
            c.summary()
        );
    }
    let leader = c.leader().expect("a leader");
    let rest: Vec<u64> = (1..=3).filter(|&n| n != leader).collect();
    ok(c.play(
        partition(&[&[leader]])
            .then(heal())
            .then(partition(&[&[leader, 4], &rest])),
        800,
    ));
    ok(c.apply(heal()));
    ok(c.wait_until(settled()));
    let mut waited = 0;
    while !(1..=4).all(|n| {
        c.configuration(n)
            .is_some_and(|(voters, _, out)| voters.contains(&4) && out.is_empty())
    }) {
        ok(c.run_for(50));
        waited += 50;
        assert!(
            waited < 30_000,
            "node 4 never became a voter everywhere: {}",
            c.summary()
        );
    }
    ok(c.finish());
    println!("{}", c.summary());
}

/// WAN Raft timing in the simulator: 100 ms ticks and a 3 s election timeout (each node's
/// fixed by the seed in 3–6 s), ten round trips of a 300 ms RTT; heartbeats stay at
/// `NodeOptions`' default of two ticks.
fn wan_options() -> SimOptions {
    SimOptions {
        tick_ms: 100,
        election_ticks: 30,
        codes: 2_000,
        ..SimOptions::default()
    }
}

/// Issue 22: nodes a WAN apart (150 ± 75 ms each way, so a 300 ms RTT, and 3 % loss on
/// every link) under steady load keep committing: no gap between consecutive commits
/// longer than 3 s over a minute of virtual time.
#[test]
fn a_wan_consortium_keeps_committing() {
    let mut c = cluster_with(21, wan_options());
    ok(c.apply(Fault::Delay {
        base_ms: 150,
        jitter_ms: 75,
    }));
    ok(c.apply(Fault::Loss(30)));
    let leaderships = c.counters.leaderships;
    ok(c.load(20).mark_commits().run_for(60_000));
    let figures = c.commit_figures();
    println!(
        "WAN (150 ± 75 ms one way, 3 % loss, one redemption per 20 ms): {figures}; \
         leaders elected {}",
        c.counters.leaderships - leaderships
    );
    assert!(figures.elapsed_ms >= 60_000, "{figures}");
    assert!(figures.worst_gap_ms <= 3_000, "{figures}\n{}", c.summary());
    ok(c.finish());
    println!("{}", c.summary());
}

/// Issue 22, "committed txs proposed again": followers forward txs, the leader commits a
/// block of them, and is cut off while the followers have that block in their logs but
/// have not applied it (their appliers stall). The new leader must not offer the txs it
/// had forwarded again: they sit in its own log from the old term and commit with its
/// first entry. (Before the mempool knew its node's unapplied log tail, the new leader
/// requeued them on the leader change and proposed them again: the checker saw each
/// included twice, the second time recorded as `duplicate`.)
#[test]
fn a_new_leader_does_not_propose_again_what_its_log_holds_from_the_old_term() {
    let mut c = cluster(21);
    let leader = c.leader().expect("a leader after setup");
    let followers: Vec<u64> = (1..=3).filter(|&n| n != leader).collect();
    for &f in &followers {
        c.stall_apply(f, 2_500);
    }
    c.submit(30);
    ok(c.run_for(400));
    ok(c.apply(Fault::Isolate(leader)));
    ok(c.load(20).run_for(4_000));
    let new = c.leader().expect("the majority elects a leader");
    assert!(followers.contains(&new), "{}", c.summary());
    ok(c.apply(heal()));
    ok(c.wait_until(settled()));
    ok(c.finish());
    println!("{}", c.summary());
}

/// 256 kbit/s, in bytes per second.
const THIN_LINK: u64 = 256_000 / 8;

/// A LAN cluster under load (a redemption every 5 ms: more than 256 kbit/s of blocks)
/// whose leader's links, both ways, are shaped to [`THIN_LINK`]; runs until another
/// node leads or `limit_ms` pass. Returns the cluster and how long the replacement took.
fn thin_leader(seed: u64, watchdog: bool, limit_ms: u64) -> (Cluster, u64, Option<u64>) {
    let options = SimOptions {
        codes: 2_000,
        watchdog,
        ..SimOptions::default()
    };
    let mut c = cluster_with(seed, options);
    ok(c.load(5).run_for(1_000));
    let leader = c.leader().expect("a leader under load");
    ok(c.shape_node(leader, THIN_LINK));
    let shaped_at = c.now_ms();
    while c.now_ms() - shaped_at < limit_ms {
        ok(c.run_for(5));
        if c.leader().is_some_and(|l| l != leader) {
            let after = c.now_ms() - shaped_at;
            return (c, leader, Some(after));
        }
    }
    (c, leader, None)
}

/// Issue 22: a leader whose link is shaped to 256 kbit/s is replaced within 5 s, and
/// commits resume at LAN speed under the new leader.
#[test]
fn a_leader_on_a_thin_link_is_replaced_within_five_seconds() {
    let (mut c, old, replaced) = thin_leader(22, true, 5_000);
    let after = replaced.unwrap_or_else(|| {
        panic!(
            "node {old} still leads 5 s after its link was shaped: {}",
            c.summary()
        )
    });
    println!(
        "thin leader (256 kbit/s both ways, a redemption every 5 ms): node {old} replaced after {after} ms"
    );
    let new = c.leader().expect("a new leader");
    ok(c.mark_commits().run_for(3_000));
    let figures = c.commit_figures();
    println!("under node {new}, the next 3 s: {figures}");
    assert!(
        figures.blocks >= 10,
        "commits resume: {figures}\n{}",
        c.summary()
    );
    ok(c.finish());
    println!("{}", c.summary());
}

/// The same run without the watchdog: pre-vote and check-quorum alone leave the thin
/// leader in office, because the trickle of its old appends keeps every follower's
/// election timer and lease fresh. This is what the watchdog is for.
#[test]
fn without_the_watchdog_a_thin_leader_keeps_its_office() {
    let (mut c, old, replaced) = thin_leader(22, false, 10_000);
    println!("without the watchdog: node {old} replaced after {replaced:?} ms (watched for 10 s)");
    assert!(
        replaced.is_none_or(|ms| ms > 5_000),
        "node {old} was replaced after {replaced:?} ms: {}",
        c.summary()
    );
    ok(c.finish());
}

/// A follower on a thin link (its own links shaped to 256 kbit/s under load) sees its
/// entries commit late and suspects the leader, but the leader and the other follower
/// still see progress, stay in the lease and ignore its pre-votes: the healthy leader
/// keeps its office and the consortium keeps committing.
#[test]
fn a_follower_on_a_thin_link_does_not_depose_a_healthy_leader() {
    let options = SimOptions {
        codes: 2_000,
        ..SimOptions::default()
    };
    let mut c = cluster_with(24, options);
    ok(c.load(5).run_for(1_000));
    let leader = c.leader().expect("a leader under load");
    let follower = (1..=3).find(|&n| n != leader).expect("a follower");
    let leaderships = c.counters.leaderships;
    ok(c.shape_node(follower, THIN_LINK));
    ok(c.mark_commits().run_for(8_000));
    let figures = c.commit_figures();
    println!("follower {follower} on a thin link, leader {leader}: {figures}");
    assert_eq!(c.leader(), Some(leader), "{}", c.summary());
    assert_eq!(c.counters.leaderships, leaderships, "{}", c.summary());
    assert!(figures.worst_gap_ms < 1_000, "{figures}");
    ok(c.finish());
}

/// A healthy leader given more load than the cluster commits (blocks of two txs, three
/// txs submitted every 5 ms) is never deposed: it commits every block within a round
/// trip, and txs waiting in mempools are load, not a stall.
#[test]
fn a_healthy_overloaded_leader_is_never_deposed() {
    let options = SimOptions {
        block_max_txs: 2,
        codes: 2_000,
        ..SimOptions::default()
    };
    let mut c = cluster_with(23, options);
    let leader = c.leader().expect("a leader");
    let leaderships = c.counters.leaderships;
    c.mark_commits();
    let mut backlog = 0;
    // Four seconds: two of the leader's windows, four of the followers'.
    for _ in 0..4_000 / 5 {
        c.submit(3);
        ok(c.run_for(5));
        backlog = backlog.max(c.unanswered());
    }
    let figures = c.commit_figures();
    println!("overloaded (600 txs/s offered): {figures}; most txs waiting {backlog}");
    assert!(backlog >= 500, "the load exceeds what commits: {figures}");
    assert!(figures.blocks >= 100, "{figures}");
    assert_eq!(c.counters.leaderships, leaderships, "{}", c.summary());
    assert_eq!(c.leader(), Some(leader));
    ok(c.finish());
    println!("{}", c.summary());
}

/// Issue 22: every node killed at once while its log holds committed entries it has not
/// applied, restarted with its appliers slow to replay them, while clients resubmit the
/// txs they had no answer for (to any node). A resubmitted tx whose entry waits in the
/// leader's log is pending, not new: it is never proposed again.
#[test]
fn all_nodes_restart_with_an_unapplied_log_tail_while_clients_resubmit() {
    let mut c = cluster(22);
    ok(c.load(15).run_for(1_000));
    for n in 1..=3 {
        c.stall_apply(n, 1_500);
    }
    ok(c.run_for(400));
    for n in 1..=3 {
        ok(c.apply(Fault::Crash(n)));
    }
    ok(c.run_for(500));
    for n in 1..=3 {
        c.stall_apply(n, 7_000);
        ok(c.apply(Fault::Restart(n)));
    }
    // Resubmissions fall due 3 s after the last attempt, while the tails still wait.
    ok(c.run_for(9_000));
    ok(c.wait_until(height(c.check.top() + 3)));
    ok(c.finish());
    println!("{}", c.summary());
}

/// Issue 22: a node cut off while clients submit to it queues their txs; the clients
/// resubmit them elsewhere and they commit; the node comes back behind the compacted log
/// and catches up by a snapshot, which carries those txs' blocks without applying them
/// one by one. Its queued copies must go (and never be proposed, even once it leads).
#[test]
fn a_snapshot_catch_up_drops_the_queued_copies_of_what_it_installed() {
    let mut c = cluster(23);
    ok(c.apply(Fault::Isolate(3)));
    ok(c.load(10).run_for(6_000));
    ok(c.load(0).apply(heal()));
    let mut waited = 0;
    while c.counters.snapshots == 0 || c.is_fetching(3) {
        ok(c.run_for(5));
        waited += 5;
        assert!(
            waited < 20_000,
            "node 3 never installed a snapshot: {}",
            c.summary()
        );
    }
    // Let node 3 lead: cut off whoever leads instead, a few times at most.
    for _ in 0..6 {
        match c.leader() {
            Some(3) => break,
            Some(other) => {
                ok(c.apply(Fault::Isolate(other)));
                ok(c.run_for(2_500));
                ok(c.apply(heal()));
            }
            None => {}
        }
        ok(c.run_for(300));
    }
    ok(c.load(10).run_for(2_000));
    ok(c.finish());
    println!("{}", c.summary());
    assert!(c.counters.snapshots >= 1, "{}", c.summary());
}
