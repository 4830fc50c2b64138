//! Consortium scenarios: real `cactusd --config` processes on 127.0.0.1 run by the
//! [`Cluster`] harness (see `couponcactus_tests::cluster`).
//!
//! Each test starts its own cluster on a temp dir and free ports, so they run in parallel
//! (nextest runs each in its own process). Raft runs fast (50 ms ticks, elections after
//! 10 ticks); loads are bounded in count, waits in time. Every scenario ends converged: all
//! running members at the same chain point with the same blocks and no divergence.

use couponcactus_chaincode::events::{EventType, EventsPage, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::ids::{TokenId, TxId};
use couponcactus_chaincode::tx::{RegisterKeyTx, SignedTx, TxKind};
use couponcactus_chaincode::types::{Consortium, Role};
use couponcactus_tests::TxView;
use couponcactus_tests::cluster::{Cluster, ClusterNode};
use couponcactus_tests::fixtures::order;
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Asserts `view` (a commit answer of `node`) is readable on that very node at once, with
/// the same place and result: a waiting submission returns only once the tx is applied
/// where it was submitted.
#[track_caller]
fn assert_readable_on(cluster: &Cluster, node: &ClusterNode, view: &TxView) {
    let height = view.height.expect("a committed tx has a height");
    let detail = node
        .client()
        .tx_detail(&cluster.org(1).auditor, &view.tx_id);
    assert_eq!(
        &detail.view,
        view,
        "node {} answered a commit it cannot read back",
        node.id()
    );
    let status = node.status();
    assert!(
        status.height >= height,
        "node {} answered a commit at height {height} but is at {}",
        node.id(),
        status.height
    );
}

/// The tx's view on `node` read by org 1's auditor, or `None` if the node does not know it
/// (404).
fn lookup(cluster: &Cluster, node: &ClusterNode, id: &TxId) -> Option<TxView> {
    lookup_as(&cluster.org(1).auditor, node, id)
}

/// The tx's view on `node` read by `reader`, or `None` if the node does not know it (404).
fn lookup_as(reader: &SigningKey, node: &ClusterNode, id: &TxId) -> Option<TxView> {
    let reply = node.client().get_signed(reader, &format!("/v1/txs/{id}"));
    match reply.status {
        200 => Some(reply.json()),
        404 => None,
        _ => panic!("node {}: GET /v1/txs/{id}: {reply:#?}", node.id()),
    }
}

/// Redemptions per token in blocks `1..=height` of `node`.
fn redemptions_per_token(
    node: &ClusterNode,
    auditor: &SigningKey,
    height: u64,
) -> BTreeMap<TokenId, usize> {
    let mut count: BTreeMap<TokenId, usize> = BTreeMap::new();
    for block in node.client().blocks_as(auditor, height) {
        for r in &block.results {
            if let Some(events) = r.outcome.events() {
                for e in events {
                    if let Event::Redeemed { token: Some(t), .. } = e {
                        *count.entry(t.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    count
}

/// Three nodes elect a leader; txs submitted to each node (followers forward them) are
/// applied and readable on the node they were submitted to; all nodes hold the same blocks;
/// certificates of a quorum of voters reach the tip.
#[test]
fn three_nodes_commit_and_agree_on_every_block() {
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader();
    assert!((1..=3).contains(&leader));
    let roles: Vec<String> = (1..=3).map(|i| cluster.node(i).status().role).collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        1,
        "exactly one leader: {roles:?}"
    );
    let statuses = cluster.wait_for_voters(&[1, 2, 3]);
    for s in &statuses {
        assert_eq!(s.chain_id, *cluster.chain_id());
        assert_eq!(s.genesis_hash, cluster.genesis().hash());
    }

    let pool = cluster.create_active_pool(1, "spring", 60);
    let mut code = 0usize;
    let mut next_redemption = || {
        code += 1;
        cluster.redeem_code_tx(1, &pool.codes[code - 1], order(1_000 + code as u64))
    };
    let mut last_height = 0;

    // One at a time to each node in turn.
    for _round in 0..3 {
        for id in 1..=3 {
            let node = cluster.node(id);
            let view = node.apply(&next_redemption());
            assert_readable_on(&cluster, node, &view);
            last_height = last_height.max(view.height.unwrap());
        }
    }

    // A batch to a follower.
    let follower = cluster.followers()[0];
    let txs: Vec<SignedTx> = (0..15).map(|_| next_redemption()).collect();
    let batch = follower.client().batch(&txs);
    assert_eq!(batch.applied, txs.len(), "{batch:#?}");
    for view in &batch.results {
        assert_readable_on(&cluster, follower, view);
        last_height = last_height.max(view.height.unwrap());
    }

    // Concurrently to all three nodes.
    let per_node: Vec<Vec<SignedTx>> = (0..3)
        .map(|_| (0..8).map(|_| next_redemption()).collect())
        .collect();
    let heights: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = per_node
            .iter()
            .enumerate()
            .map(|(i, txs)| {
                let cluster = &cluster;
                s.spawn(move || {
                    let node = cluster.node(i as u64 + 1);
                    txs.iter()
                        .map(|tx| {
                            let view = node.apply(tx);
                            assert_readable_on(cluster, node, &view);
                            view.height.unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("submitter panicked"))
            .collect()
    });
    last_height = last_height.max(heights.into_iter().max().unwrap());

    let converged = cluster.assert_converged();
    assert!(converged.height >= last_height);
    // Every redemption is in the chain once.
    let redeemed =
        redemptions_per_token(cluster.node(1), &cluster.org(1).auditor, converged.height);
    assert_eq!(redeemed.len(), code);
    assert!(redeemed.values().all(|n| *n == 1), "{redeemed:?}");

    // Certificates reach the tip: signed by a quorum of the genesis voters, ascending ids.
    cluster.wait_until_certified(last_height);
    let consortium = cluster.genesis_consortium();
    for id in 1..=3 {
        let node = cluster.node(id);
        let checkpoint = node.checkpoint();
        let cert = &checkpoint.certificate;
        assert!(cert.height >= last_height, "node {id}: {cert:?}");
        assert!(cert.signatures.len() >= 2, "node {id}: {cert:?}");
        assert!(
            cert.signatures
                .windows(2)
                .all(|w| w[0].node_id < w[1].node_id),
            "node {id}: signatures not ascending: {cert:?}"
        );
        cert.verify(cluster.chain_id(), &consortium)
            .unwrap_or_else(|e| panic!("node {id}: certificate does not verify: {e}"));
        assert_eq!(checkpoint.header.height, cert.height);
        assert_eq!(checkpoint.header.hash(), cert.block_hash);
        assert_eq!(node.block_hash(cert.height), Some(cert.block_hash));
    }
    cluster.assert_converged();

    // Every node derived the same events from the same blocks: one redemption each.
    let auditor = &cluster.org(1).auditor;
    let logs: Vec<Vec<LedgerEvent>> = (1..=3)
        .map(|id| event_log(cluster.node(id), auditor))
        .collect();
    assert_eq!(logs[0], logs[1], "nodes 1 and 2 derived different events");
    assert_eq!(logs[0], logs[2], "nodes 1 and 3 derived different events");
    let redeemed = logs[0]
        .iter()
        .filter(|e| e.kind == EventType::CouponRedeemed)
        .count();
    assert_eq!(redeemed, code);
}

/// Every event `reader` reads from `node` (an auditor: the whole log), page by page.
fn event_log(node: &ClusterNode, reader: &SigningKey) -> Vec<LedgerEvent> {
    let mut events: Vec<LedgerEvent> = Vec::new();
    let mut after = String::new();
    for _ in 0..10_000 {
        let reply = node
            .client()
            .get_signed(reader, &format!("/v1/events?limit=1000{after}"));
        assert_eq!(reply.status, 200, "node {}: {}", node.id(), reply.body);
        let page: EventsPage = serde_json::from_value(reply.body).unwrap();
        match (page.events.is_empty(), page.next) {
            (false, Some(next)) => after = format!("&after={next}"),
            _ => return events,
        }
        events.extend(page.events);
    }
    panic!("node {}: paging did not end", node.id());
}

/// What a submitter saw for one tx of the stream.
#[derive(Clone, Debug)]
enum Seen {
    /// A commit answer (200 or 422).
    Acked(u64, TxView),
    /// No answer (the node died under the request).
    NoAnswer(u64, String),
    /// Another HTTP answer.
    ErrorReply(u64, String),
}

/// ~300 allocated coupons are redeemed by 6 concurrent submitters spread over all three
/// nodes (a third of them raced by a second redemption by code); once 30 % are
/// acknowledged the leader is killed (-9). A new leader is elected within a few election
/// timeouts; every acknowledged redemption is on all surviving nodes with the same result;
/// resubmitting every attempt answers its original result or `already_redeemed`; no token
/// is redeemed twice; the old leader, restarted, catches up.
#[test]
fn leader_crash_under_redemptions_loses_nothing_acknowledged() {
    const COUPONS: u64 = 300;
    const SUBMITTERS: usize = 6;

    let cluster = Cluster::start(3);
    let pool = cluster.create_active_pool(1, "flash", COUPONS as usize);
    let allocated = cluster.allocate(1, &pool.id, 0..COUPONS);

    // (token, tx): the redemption of each coupon by its token and member; every third
    // coupon is also redeemed by its code right after (a racing duplicate).
    let mut stream: Vec<(TokenId, SignedTx)> = Vec::new();
    for (i, (member, token)) in allocated.iter().enumerate() {
        let amount = order(1_000 + i as u64);
        stream.push((
            token.clone(),
            cluster.redeem_token_tx(1, token, *member, amount.clone()),
        ));
        if i % 3 == 0 {
            let code = &pool.codes[token.serial as usize];
            stream.push((token.clone(), cluster.redeem_code_tx(1, code, amount)));
        }
    }
    let total = stream.len();

    let old_leader = cluster.wait_for_leader();
    let next = AtomicUsize::new(0);
    let acked = AtomicUsize::new(0);
    let seen: Mutex<BTreeMap<usize, Seen>> = Mutex::default();
    let started = Instant::now();
    let (crashed_after, failover) = std::thread::scope(|s| {
        for k in 0..SUBMITTERS {
            let (cluster, stream, next, acked, seen) = (&cluster, &stream, &next, &acked, &seen);
            s.spawn(move || {
                // Each submitter starts on its own node and moves on to the next one when
                // its node stops answering.
                let mut target = (k % 3) as u64 + 1;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((_, tx)) = stream.get(i) else { break };
                    let node = cluster.node(target);
                    let outcome = match node.client().try_submit(tx) {
                        Ok(reply) if matches!(reply.status, 200 | 422) => {
                            let view: TxView = reply.json();
                            assert_eq!(view.tx_id, tx.id());
                            acked.fetch_add(1, Ordering::SeqCst);
                            Seen::Acked(target, view)
                        }
                        Ok(reply) => Seen::ErrorReply(target, format!("{reply:?}")),
                        Err(e) => {
                            target = target % 3 + 1;
                            Seen::NoAnswer(node.id(), e.to_string())
                        }
                    };
                    seen.lock().unwrap().insert(i, outcome);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < total * 3 / 10 {
            assert!(
                Instant::now() < deadline,
                "the stream is too slow: {} of {total} acknowledged in 60 s",
                acked.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let acked_at_crash = acked.load(Ordering::SeqCst);
        cluster.node(old_leader).crash();
        let crashed = Instant::now();
        let new_leader = cluster.wait_for_leader();
        let failover = crashed.elapsed();
        assert_ne!(new_leader, old_leader);
        eprintln!(
            "leader {old_leader} killed after {:?} with {acked_at_crash}/{total} acknowledged; \
             node {new_leader} leads {failover:?} later (election timeout {:?})",
            started.elapsed(),
            cluster.settings().election_timeout()
        );
        (acked_at_crash, failover)
    });
    // "A few election timeouts": the randomized timeout is 1 to 2 election timeouts.
    let bound = cluster.settings().election_timeout() * 8;
    assert!(
        failover < bound,
        "a new leader took {failover:?} (more than {bound:?})"
    );

    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), total);
    let errors: Vec<(u64, &String)> = seen
        .values()
        .filter_map(|s| match s {
            Seen::ErrorReply(node, reply) => Some((*node, reply)),
            _ => None,
        })
        .collect();
    assert!(errors.is_empty(), "error answers: {errors:#?}");
    let acked: BTreeMap<usize, TxView> = seen
        .iter()
        .filter_map(|(i, s)| match s {
            Seen::Acked(_, v) => Some((*i, v.clone())),
            _ => None,
        })
        .collect();
    let no_answer: Vec<(usize, u64, &String)> = seen
        .iter()
        .filter_map(|(i, s)| match s {
            Seen::NoAnswer(node, why) => Some((*i, *node, why)),
            _ => None,
        })
        .collect();
    let mut acked_by_node: BTreeMap<u64, usize> = BTreeMap::new();
    for s in seen.values() {
        if let Seen::Acked(node, _) = s {
            *acked_by_node.entry(*node).or_default() += 1;
        }
    }
    eprintln!(
        "stream of {total}: {} acknowledged ({crashed_after} before the crash; by node \
         {acked_by_node:?}), {} without an answer (first: {:?})",
        acked.len(),
        no_answer.len(),
        no_answer.first()
    );
    assert!(
        no_answer.iter().all(|(_, node, _)| *node == old_leader),
        "only the killed node may leave requests unanswered: {no_answer:?}"
    );
    assert!(
        acked.len() > crashed_after,
        "nothing committed after the crash"
    );

    // Every acknowledged redemption is on every surviving node, with the same result.
    let survivors: Vec<&ClusterNode> = cluster.running_members();
    assert_eq!(survivors.len(), 2);
    for node in &survivors {
        for (i, before) in &acked {
            let after = lookup(&cluster, node, &stream[*i].1.id());
            assert_eq!(
                after.as_ref(),
                Some(before),
                "node {}: acknowledged tx {i} is missing or changed",
                node.id()
            );
        }
    }

    // Resubmitting every attempt: the original result, or (if it never committed) a
    // commit now, which for a coupon redeemed meanwhile is `already_redeemed`.
    let resubmit: Vec<SignedTx> = stream.iter().map(|(_, tx)| tx.clone()).collect();
    let batch = cluster.leader().client().batch(&resubmit);
    assert_eq!((batch.pending, batch.refused), (0, 0), "{batch:#?}");
    let mut applied_per_token: BTreeMap<&TokenId, usize> = BTreeMap::new();
    for (i, ((token, tx), view)) in stream.iter().zip(&batch.results).enumerate() {
        assert_eq!(view.tx_id, tx.id());
        if let Some(before) = acked.get(&i) {
            assert_eq!(view, before, "tx {i}: resubmission changed its result");
        }
        match view.status.as_str() {
            "applied" => *applied_per_token.entry(token).or_default() += 1,
            "rejected" => assert_eq!(
                view.error_code(),
                Some("already_redeemed"),
                "tx {i}: {view:#?}"
            ),
            other => panic!("tx {i}: unexpected status {other}: {view:#?}"),
        }
    }
    assert_eq!(applied_per_token.len(), COUPONS as usize);
    assert!(
        applied_per_token.values().all(|n| *n == 1),
        "a token redeemed twice: {applied_per_token:?}"
    );

    // The old leader comes back and catches up; the chain holds each redemption once.
    cluster.node(old_leader).restart();
    let converged = cluster.assert_converged();
    for id in 1..=3 {
        let per_token =
            redemptions_per_token(cluster.node(id), &cluster.org(1).auditor, converged.height);
        assert_eq!(per_token.len(), COUPONS as usize, "node {id}");
        assert!(
            per_token.values().all(|n| *n == 1),
            "node {id}: a token redeemed twice: {per_token:?}"
        );
    }
    let restarted = cluster.node(old_leader);
    for (i, before) in &acked {
        assert_eq!(
            lookup(&cluster, restarted, &stream[*i].1.id()).as_ref(),
            Some(before),
            "the restarted node {old_leader}: acknowledged tx {i} is missing or changed"
        );
    }
}

/// With `keep_log_entries` 20, a follower is stopped while ~300 single-tx blocks commit
/// (the others compact their logs past its position); restarted, it catches up by a state
/// snapshot: it converges (serving its tip block like every member), lacks the blocks it
/// skipped (404) but has the recent ones, and takes part in new commits; a tx committed
/// while it was down, resubmitted to it, answers its original result.
#[test]
fn a_node_behind_the_compacted_log_catches_up_by_snapshot() {
    const KEEP: u64 = 20;
    const BLOCKS_WHILE_DOWN: u64 = 300;

    let cluster = Cluster::builder().nodes(3).keep_log_entries(KEEP).start();
    let pool = cluster.create_active_pool(1, "snap", 400);
    let lagger = cluster
        .followers()
        .into_iter()
        .max_by_key(|n| n.id())
        .expect("a follower");
    let stopped_at = cluster.assert_converged().height;
    lagger.stop();
    eprintln!("node {} stopped at height {stopped_at}", lagger.id());

    // One tx per block: each submission waits for its commit before the next.
    let started = Instant::now();
    let mut m = 0;
    let target = stopped_at + BLOCKS_WHILE_DOWN;
    let mut missed: Option<(SignedTx, TxView)> = None;
    loop {
        let members = cluster.running_members();
        let node = members[m as usize % members.len()];
        let tx = cluster.allocate_tx(1, &pool.id, m);
        let view = node.apply(&tx);
        missed.get_or_insert((tx, view.clone()));
        m += 1;
        if view.height.unwrap() >= target {
            break;
        }
        assert!(m < 400, "{m} txs made only {} blocks", view.height.unwrap());
    }
    eprintln!(
        "{m} txs committed in {:?} while node {} was down",
        started.elapsed(),
        lagger.id()
    );

    lagger.restart();
    let caught_up = cluster.wait_until_height(target);
    let tip = caught_up.iter().map(|s| s.height).max().unwrap();
    for path in [
        format!("/v1/blocks/{tip}"),
        "/v1/blocks/latest".to_string(),
        "/v1/checkpoints/latest".to_string(),
    ] {
        let reply = lagger.client().get(&path);
        eprintln!(
            "node {} (caught up at {tip}): GET {path}: {} {}",
            lagger.id(),
            reply.status,
            reply.error_code().unwrap_or("")
        );
    }
    let converged = cluster.assert_converged();
    let lagger_log = lagger.log();
    let snapshot_lines: Vec<&str> = lagger_log
        .lines()
        .filter(|l| l.to_lowercase().contains("snapshot"))
        .collect();
    eprintln!(
        "node {} log lines about snapshots:\n{}",
        lagger.id(),
        snapshot_lines.join("\n")
    );
    // It did not replay the blocks it missed: the first of them is not there.
    assert_eq!(
        lagger.block_hash(stopped_at + 1),
        None,
        "node {} has block {} it missed: it replayed the log instead of installing a snapshot",
        lagger.id(),
        stopped_at + 1
    );
    let others: Vec<&ClusterNode> = cluster
        .running_members()
        .into_iter()
        .filter(|n| n.id() != lagger.id())
        .collect();
    assert!(others[0].block_hash(stopped_at + 1).is_some());
    // It has the header of the snapshot block (its checkpoint is served) but not its txs.
    let checkpoint = lagger.client().get("/v1/checkpoints/latest").expect(200);
    assert_eq!(
        checkpoint.body["certificate"]["block_hash"]
            .as_str()
            .map(str::to_string),
        others[0]
            .block_hash(checkpoint.body["certificate"]["height"].as_u64().unwrap())
            .map(|h| h.to_hex())
    );

    // More txs commit on all three, including through the snapshot-synced node.
    for id in 1..=3 {
        for _ in 0..3 {
            let node = cluster.node(id);
            let view = node.apply(&cluster.allocate_tx(1, &pool.id, m));
            m += 1;
            assert_readable_on(&cluster, node, &view);
        }
    }
    let after = cluster.assert_converged();
    assert!(after.height > converged.height);
    cluster.wait_until_certified(after.height);

    // A tx committed while it was down, resubmitted to it: the original result (a tx id
    // seen before never executes twice; the node answers what it did the first time).
    let (tx, original) = missed.expect("txs committed while the node was down");
    let asked = Instant::now();
    let reply = lagger.client().submit(&tx);
    eprintln!(
        "node {}: resubmitting tx {} (committed at height {:?} while it was down) answered \
         {} after {:?}: {}",
        lagger.id(),
        tx.id(),
        original.height,
        reply.status,
        asked.elapsed(),
        reply.body
    );
    assert_eq!(
        reply.status, 200,
        "a resubmission to the snapshot-synced node: {reply:#?}"
    );
    assert_eq!(reply.json::<TxView>(), original);
    cluster.assert_converged();
}

/// A fourth node starts outside the consortium (it gets no blocks), is admitted by
/// governance (learner, then voter), catches up, and then counts: with one of the old
/// followers killed, the remaining three (node 4 among them) still commit and certify.
/// Governance removes it again: three voters, still committing, converged.
#[test]
fn a_fourth_node_joins_by_governance_then_leaves() {
    let mut cluster = Cluster::builder()
        .nodes(3)
        .extra_config("\n[console]\nenabled = true\n")
        .start();
    let pool = cluster.create_active_pool(1, "join", 100);
    let mut m = 0u64;
    let mut commit = |cluster: &Cluster, node: u64, n: u64| -> u64 {
        let mut height = 0;
        for _ in 0..n {
            let view = cluster
                .node(node)
                .apply(&cluster.allocate_tx(1, &pool.id, m));
            m += 1;
            height = view.height.unwrap();
        }
        height
    };
    commit(&cluster, 1, 5);
    cluster.assert_converged();

    let four = cluster.add_node();
    assert_eq!(four, 4);
    let waiting_since = Instant::now();
    let height = commit(&cluster, 2, 5);
    while waiting_since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let outsider = cluster.node(four).status();
    assert_eq!(
        outsider.height, 0,
        "a node not admitted got blocks: {outsider:#?}"
    );
    for s in cluster.wait_until_height(height) {
        assert_eq!(s.voters, vec![1, 2, 3], "node {}", s.node_id);
        assert!(!s.learners.contains(&four), "node {}", s.node_id);
    }

    // Outside the consortium the node has no org, so its webhook service waits (503).
    let admin = cluster.org(1).admin.clone();
    cluster
        .node(four)
        .client()
        .get_signed(&admin, "/v1/webhooks/endpoints")
        .expect_error(503, "webhooks_off");
    let console = |id: u64| {
        let r = reqwest::blocking::get(format!("{}/console/login", cluster.node(id).url()))
            .expect("the console answers");
        (r.status().as_u16(), r.text().unwrap_or_default())
    };
    let (status, page) = console(four);
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("The console starts when this node joins the consortium"));

    cluster.propose_add_node(four);
    // The leader adds it as a learner, then promotes it once it caught up.
    let mut saw_learner = false;
    cluster.wait_for("node 4 a voter on the leader", || {
        let statuses = cluster.member_statuses()?;
        let leader = statuses
            .iter()
            .find(|s| s.role == "leader")
            .ok_or("no leader")?;
        saw_learner |= leader.learners.contains(&four);
        if leader.voters.contains(&four) {
            Ok(())
        } else {
            Err(format!(
                "leader {}: voters {:?} learners {:?}",
                leader.node_id, leader.voters, leader.learners
            ))
        }
    });
    eprintln!("node 4 seen as a learner before it voted: {saw_learner}");
    cluster.wait_for_voters(&[1, 2, 3, 4]);
    let joined = cluster.assert_converged();
    assert_eq!(cluster.node(four).status().state_root, joined.state_root);
    // Admitted, it learns its org (org 1) and turns its webhooks and console on without a
    // restart.
    cluster.wait_for("node 4's webhook service", || {
        let reply = cluster
            .node(four)
            .client()
            .get_signed(&admin, "/v1/webhooks/endpoints");
        match reply.status {
            200 => Ok(()),
            _ => Err(format!("{}: {}", reply.status, reply.body)),
        }
    });
    cluster.wait_for("node 4's console", || match console(four) {
        (200, page) if page.contains("Sign in") => Ok(()),
        (status, page) => Err(format!(
            "{status}: {}",
            page.chars().take(200).collect::<String>()
        )),
    });

    // Kill one of the old followers: 3 of 4 voters remain, so commits need node 4's vote.
    let victim = cluster
        .followers()
        .into_iter()
        .find(|n| n.id() != four)
        .expect("an old follower")
        .id();
    cluster.node(victim).crash();
    let survivors: Vec<u64> = cluster.running_members().iter().map(|n| n.id()).collect();
    let mut height = 0;
    for id in &survivors {
        height = commit(&cluster, *id, 3);
    }
    let statuses = cluster.wait_until_certified(height);
    eprintln!("node {victim} down: members {survivors:?} committed and certified height {height}");
    let mut with_four: Consortium = cluster.genesis_consortium();
    with_four
        .nodes
        .push(cluster.node(four).record(&cluster.org(1).id, true));
    let checkpoint = cluster.node(four).checkpoint();
    let signers: Vec<u64> = checkpoint
        .certificate
        .signatures
        .iter()
        .map(|s| s.node_id)
        .collect();
    assert!(
        checkpoint.certificate.height >= height && signers.contains(&four),
        "node 4 signs certificates while node {victim} is down: {signers:?} at {} ({statuses:?})",
        checkpoint.certificate.height
    );
    checkpoint
        .certificate
        .verify(cluster.chain_id(), &with_four)
        .expect("the certificate verifies against the four voters");
    cluster.node(victim).restart();
    cluster.assert_converged();

    // Governance removes node 4: three voters again, and the chain goes on without it.
    cluster.propose_remove_node(four);
    let statuses = cluster.wait_for_voters(&[1, 2, 3]);
    assert!(statuses.iter().all(|s| !s.learners.contains(&four)));
    let leader = cluster.wait_for_leader();
    assert_ne!(leader, four);
    let mut height = 0;
    for id in 1..=3 {
        height = commit(&cluster, id, 2);
    }
    let converged = cluster.assert_converged();
    assert!(converged.height >= height);
    cluster.wait_until_certified(height);
}

/// A `cactusd` with a node key outside the consortium, configured with the real genesis
/// (and so the members' addresses), gets no blocks and no member connects to it, while the
/// consortium keeps committing; a tx submitted through its HTTP API never commits.
#[test]
fn a_stranger_cannot_join_or_inject() {
    let mut cluster = Cluster::start(3);
    let pool = cluster.create_active_pool(1, "guarded", 100);
    cluster.wait_for("every member connected to the other two", || {
        for s in cluster.member_statuses()? {
            let mut others: Vec<u64> = (1..=3).filter(|id| *id != s.node_id).collect();
            others.retain(|id| !s.peers_connected.contains(id));
            if !others.is_empty() {
                return Err(format!("node {} is not connected to {others:?}", s.node_id));
            }
        }
        Ok(())
    });

    let stranger_id = cluster.add_node();
    let stranger = cluster.node(stranger_id);
    // A well-formed tx signed by a key of genesis (org 1's admin registers a new issuer),
    // so the stranger's own genesis state admits it: only the way in is wrong.
    let intruder = SigningKey::from_bytes(&[0x5a; 32]);
    let injected = cluster.tx(
        &cluster.org(1).admin,
        TxKind::RegisterKey(RegisterKeyTx {
            key: PublicKey(intruder.verifying_key().to_bytes()),
            role: Role::Issuer,
        }),
    );
    let reply = stranger.client().submit_async(&injected);
    eprintln!(
        "the stranger answered the submission with {}: {}",
        reply.status, reply.body
    );
    assert!(
        reply.status != 200 && reply.status != 422,
        "the stranger answered a commit: {reply:#?}"
    );

    // The consortium keeps committing for longer than a forward retry; the stranger never
    // gets a block and no member lists it as connected.
    let started = Instant::now();
    let mut m = 0;
    let mut height = 0;
    while started.elapsed() < Duration::from_secs(5) || m < 20 {
        let view = cluster
            .node(m % 3 + 1)
            .apply(&cluster.allocate_tx(1, &pool.id, m));
        height = view.height.unwrap();
        m += 1;
        for s in cluster.member_statuses().expect("members answer") {
            assert!(
                !s.peers_connected.contains(&stranger_id),
                "node {} is connected to the stranger: {s:#?}",
                s.node_id
            );
            assert!(!s.voters.contains(&stranger_id) && !s.learners.contains(&stranger_id));
        }
        let outsider = stranger.status();
        assert_eq!(outsider.height, 0, "the stranger got blocks: {outsider:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let outsider = stranger.status();
    eprintln!(
        "after {m} commits (height {height}): the stranger is {} with leader {}, peers {:?}",
        outsider.role, outsider.leader_id, outsider.peers_connected
    );

    // The injected tx is nowhere on the chain.
    let converged = cluster.assert_converged();
    assert!(converged.height >= height);
    for id in 1..=3 {
        assert_eq!(
            lookup(&cluster, cluster.node(id), &injected.id()),
            None,
            "node {id} knows the tx injected through the stranger"
        );
    }
    let committed: BTreeSet<TxId> = cluster
        .node(1)
        .client()
        .blocks_as(&cluster.org(1).auditor, converged.height)
        .iter()
        .flat_map(|b| b.txs.iter().map(SignedTx::id).collect::<Vec<_>>())
        .collect();
    assert!(!committed.contains(&injected.id()));
    for id in 1..=3 {
        cluster
            .node(id)
            .client()
            .get_signed(&intruder, &format!("/v1/orgs/{}/pools", cluster.org(1).id))
            .expect_error(401, "unknown_key");
    }
    // The stranger itself has it at most pending.
    let there = stranger
        .client()
        .get_signed(&cluster.org(1).admin, &format!("/v1/txs/{}", injected.id()));
    eprintln!(
        "the stranger's view of the injected tx: {} {}",
        there.status, there.body
    );
    assert!(
        there.body.get("status").and_then(|s| s.as_str()) != Some("applied"),
        "the stranger claims its tx applied: {there:#?}"
    );
}

/// A node whose state was altered behind the chaincode's back (here: a pool paused in its
/// database only) executes the next block differently. Every node notices at that height,
/// from the checkpoint votes: the divergence is logged, shown in `/v1/status` and in
/// `/metrics`, and the block is certified only with the honest majority's hash.
#[test]
fn an_altered_node_is_reported_as_divergent_by_every_node() {
    use couponcactus_chaincode::state::{StateKey, StateValue};
    use couponcactus_chaincode::types::PoolStatus;

    let cluster = Cluster::builder().nodes(3).start();
    let pool = cluster.create_active_pool(1, "divergent", 2);
    cluster.assert_converged();
    let victim = cluster
        .followers()
        .into_iter()
        .max_by_key(|n| n.id())
        .expect("a follower");
    victim.stop();
    {
        let store = couponcactus_node::storage::Store::open(&victim.dir().join("db"))
            .expect("opening the stopped node's database");
        let key = StateKey::Pool(pool.id.clone());
        let mut record = match couponcactus_chaincode::state::StateReader::get(&store, &key) {
            Ok(Some(StateValue::Pool(p))) => p,
            other => panic!("pool record: {other:?}"),
        };
        record.status = PoolStatus::Paused;
        store
            .put_raw(
                couponcactus_node::storage::cf::STATE,
                &key.to_bytes(),
                &StateValue::Pool(record).to_bytes(),
            )
            .unwrap();
    }
    victim.restart();
    // Applied on the honest nodes; the altered node rejects it (pool_not_active).
    let honest = cluster.leader();
    let view = honest.apply(&cluster.redeem_code_tx(1, &pool.codes[0], order(10_000)));
    let height = view.height.expect("committed");
    for node in cluster.running_members() {
        let divergence = cluster.wait_for(
            &format!("node {} to report the divergence at {height}", node.id()),
            || {
                let status = node.status();
                match status.divergence {
                    Some(d) => Ok(d),
                    None => Err(format!("height {}, no divergence yet", status.height)),
                }
            },
        );
        assert_eq!(
            divergence["height"],
            height,
            "node {}: {divergence}",
            node.id()
        );
        let metrics = reqwest::blocking::get(format!("{}/metrics", node.url()))
            .and_then(|r| r.text())
            .expect("metrics");
        assert!(
            metrics.contains("cactus_divergence_detected 1"),
            "node {} metrics lack the divergence gauge",
            node.id()
        );
        assert!(
            node.log().contains("DIVERGENCE"),
            "node {} did not log it",
            node.id()
        );
    }
    // The honest majority still certifies its block; the victim's hash differs.
    for node in cluster
        .running_members()
        .into_iter()
        .filter(|n| n.id() != victim.id())
    {
        cluster.wait_for(&format!("node {} to certify {height}", node.id()), || {
            let status = node.status();
            if status.certified_height >= height {
                Ok(())
            } else {
                Err(format!("certified {}", status.certified_height))
            }
        });
    }
    let certified = honest.checkpoint();
    assert!(certified.certificate.height >= height);
    // The altered node cannot certify its own version of that block.
    assert!(victim.status().certified_height < height);
    assert_ne!(victim.status().block_hash, honest.status().block_hash);
}

/// Issue 22: all five nodes killed at once (kill -9) while txs stream in, then restarted
/// at once; clients resubmit every tx they sent (resubmission is idempotent), on any node.
/// The consortium elects, commits a new tx, answers every resubmitted one, converges, and
/// no tx is included in two blocks: one whose entry sat committed but unapplied in the
/// logs when the nodes died is pending to the leader's admission, not new. Prints when the
/// HTTP APIs answered, when a leader was known and when the first new tx committed after
/// the restart (figures in docs/performance.md; no time bound is asserted).
#[test]
fn all_five_nodes_killed_at_once_restart_commit_and_include_no_tx_twice() {
    const TXS: u64 = 150;
    // cactusd's default Raft timing (100 ms ticks, elections after 10), as operated.
    let cluster = Cluster::builder()
        .nodes(5)
        .tick_ms(100)
        .election_ticks(10)
        .start();
    cluster.wait_for_voters(&[1, 2, 3, 4, 5]);
    let pool = cluster.create_active_pool(1, "blackout", TXS as usize + 50);
    let txs: Vec<SignedTx> = (0..TXS)
        .map(|m| cluster.allocate_tx(1, &pool.id, m))
        .collect();
    let before = cluster.assert_converged();

    // A stream of txs without waiting, to every node in turn; every node dies at once
    // while blocks of them are being committed and applied.
    for (i, tx) in txs.iter().enumerate() {
        let node = cluster.node(i as u64 % 5 + 1);
        let reply = node
            .client()
            .try_post_json("/v1/txs?wait=false", tx)
            .expect("the node answers");
        assert!(
            matches!(reply.status, 200 | 202),
            "node {}: {reply:?}",
            node.id()
        );
        if i as u64 == TXS * 2 / 3 {
            break;
        }
    }
    for n in cluster.running_members() {
        n.crash();
    }
    let spawned = cluster.restart_all();
    let http_up = spawned.elapsed();
    let leader = cluster.wait_for_leader();
    let led = spawned.elapsed();
    // The first new tx committed after the restart (submitted as soon as the APIs answer;
    // a node without a leader yet times out or refuses, and the client tries again).
    let fresh = cluster.allocate_tx(1, &pool.id, TXS + 1);
    let first_commit = loop {
        let node = cluster.node(leader);
        if let Ok(reply) = node.client().try_submit(&fresh)
            && reply.status == 200
        {
            break spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(60),
            "no commit within 60 s of the restart\n{}",
            cluster.describe()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!(
        "restart of 5 nodes: APIs answered after {http_up:?}, leader {leader} known after \
         {led:?}, first new commit after {first_commit:?}"
    );
    // Where the time went: the leader's log since its restart.
    let log = cluster.node(leader).log();
    let since = log.rfind("start 2:").unwrap_or(0);
    for line in log[since..].lines().take(40) {
        eprintln!("  node {leader}: {line}");
    }

    // Clients resubmit everything, to a node of their choosing (not the first one), and
    // each gets its tx's one result.
    std::thread::scope(|s| {
        for k in 0..5u64 {
            let (cluster, txs) = (&cluster, &txs);
            s.spawn(move || {
                for (i, tx) in txs.iter().enumerate().filter(|(i, _)| *i as u64 % 5 == k) {
                    let node = cluster.node((i as u64 + 2) % 5 + 1);
                    let view = node.submit(tx);
                    assert_eq!(view.status, "applied", "tx {i}: {view:?}");
                }
            });
        }
    });
    let after = cluster.assert_converged();
    assert!(after.height > before.height);
    let walked = cluster.assert_no_tx_twice(after.height);
    assert!(walked as u64 > TXS, "{walked} txs in the chain");
}
