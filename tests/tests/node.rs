//! End-to-end scenarios against a real `cactusd --dev` process (see `couponcactus_tests`).
//!
//! Each test starts its own node on a temp dir and a free port, so they run in parallel
//! (nextest runs each in its own process). Loads are bounded in count, waits in time.

use couponcactus_chaincode::block::{CertificateError, verify_block_inclusion};
use couponcactus_chaincode::codes::{code_hash, open_code};
use couponcactus_chaincode::commitment::{StateProofError, verify_state_proof};
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::execute::{Event, TxOutcome, TxResult};
use couponcactus_chaincode::history::{
    HistoryError, HistoryLeaf, merkle_root, verify_consistency, verify_inclusion,
};
use couponcactus_chaincode::ids::{ChainId, Hash32, OrgId, PoolId, PublicKey, TokenId, TxId};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{
    AllocateTx, CreatePoolTx, IssueCodesTx, ProposeGovernanceTx, RedeemTarget, RedeemTx,
    RegisterKeyTx, RevokeKeyTx, SignedTx, TransitionPoolTx, TxBody, TxKind, sign_read,
};
use couponcactus_chaincode::types::{
    Currency, GovernanceChange, IssuedCode, PoolAction, PoolStatus, Role, SealedCode, TokenStatus,
};
use couponcactus_tests::fixtures::{claim, member, order, spec};
use couponcactus_tests::{
    BatchView, ConsistencyView, DevNode, LogEntriesView, OrgPoolsView, TxView, WalletView, audit,
    now_ms,
};
use ed25519_dalek::SigningKey;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn eur() -> Currency {
    Currency(*b"EUR")
}

/// A fresh key no one registered.
fn fresh_key(label: &str) -> SigningKey {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let seed = blake3::hash(format!("{label}-{n}-{}", now_ms()).as_bytes());
    SigningKey::from_bytes(seed.as_bytes())
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Create a pool, issue codes, activate it, allocate a token, redeem it at the terminal,
/// redeem another by its code; then check every answer against the chain's own proofs:
/// the token's state proof against its header's state root, the header hash chain from
/// genesis, the checkpoint certificate against the genesis consortium, the tx's inclusion
/// proofs (tx root, result root, history log) and log consistency.
#[test]
fn submit_commit_query_with_proofs() {
    let node = DevNode::start();
    let c = node.client();
    let keys = node.keys();
    assert_eq!(node.health(), "ok");

    let pool = node.create_active_pool("spring", 3);
    let token0 = pool.token(0);

    // Allocate serial 0 to member 1 (the pool's next free token).
    let alloc = c.apply(
        &keys.issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.id.clone(),
            member: member(1),
            claim: claim(1),
        }),
    );
    assert_eq!(
        alloc.events(),
        [Event::Allocated {
            token: token0.clone(),
            member: member(1),
            repeat: false,
        }]
    );

    // Redeem it at the dev terminal: 10 % of 100.00 EUR.
    let redeem_tx = c.tx(
        &keys.terminal,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(token0.clone()),
            member: Some(member(1)),
            order: order(10_000),
        }),
    );
    let redeem: TxView = c.submit(&redeem_tx).expect(200).json();
    assert_eq!(redeem.status, "applied");
    assert_eq!(redeem.tx_id, redeem_tx.id());
    assert_eq!(
        redeem.events(),
        [Event::Redeemed {
            redemption: redeem_tx.id(),
            pool: pool.id.clone(),
            token: Some(token0.clone()),
            member: Some(member(1)),
            eligible_minor: 10_000,
            discount_minor: 1_000,
            currency: eur(),
        }]
    );

    // A printed code is a bearer secret: redeem serial 1 by its code, once.
    let by_code = node.redeem_code(&pool.codes[1], order(2_599));
    assert_eq!(by_code.status, "applied", "{by_code:#?}");
    match by_code.events() {
        [
            Event::Redeemed {
                token: Some(t),
                discount_minor: 259,
                member: None,
                ..
            },
        ] => assert_eq!(*t, pool.token(1)),
        other => panic!("unexpected events {other:?}"),
    }
    let again = node.redeem_code(&pool.codes[1], order(2_599));
    assert_eq!(again.status, "rejected");
    assert_eq!(again.error_code(), Some("already_redeemed"));

    // An async submission answers 202 pending, then commits.
    let async_tx = node.allocate_tx(&pool.id, 2);
    let accepted: TxView = c.submit_async(&async_tx).expect(202).json();
    assert_eq!(
        (accepted.status.as_str(), accepted.tx_id),
        ("pending", async_tx.id())
    );
    let detail = wait_for_tx(&node, &async_tx.id());
    assert_eq!(detail.view.status, "applied", "{detail:#?}");
    assert_eq!(
        detail.view.events(),
        [Event::Allocated {
            token: pool.token(2),
            member: member(2),
            repeat: false,
        }]
    );

    // The token, with its state proof and the header it verifies against.
    let tv = c.token(&keys.issuer, &token0);
    assert_eq!(tv.token_id, token0);
    assert_eq!(
        tv.token.status,
        TokenStatus::Redeemed {
            redemption: redeem_tx.id()
        }
    );
    assert_eq!(tv.token.owner, Some(member(1)));
    assert_eq!(tv.token.claim, Some(claim(1)));
    assert_eq!(tv.token.code_hash, code_hash(&pool.codes[0]));
    // Only the issuing org opens the sealed code.
    assert_eq!(
        open_code(&keys.data_key, &pool.id, &tv.token.sealed).expect("opens"),
        pool.codes[0]
    );
    let header = tv.at.header.clone().expect("a header above genesis");
    assert_eq!(header.state_root, tv.at.state_root);
    assert_eq!(header.height, tv.at.height);
    let key = StateKey::Token(token0.clone());
    let value = StateValue::Token(tv.token.clone());
    assert_eq!(tv.proof.key, key);
    assert_eq!(tv.proof.value.as_ref(), Some(&value));
    assert_eq!(tv.proof.version, tv.at.height);
    verify_state_proof(&header.state_root, &key, Some(&value), &tv.proof.proof)
        .expect("the token's state proof verifies against its header's state root");
    // A forged value, another key or another root do not verify.
    let mut forged = tv.token.clone();
    forged.status = TokenStatus::Allocated;
    assert_eq!(
        verify_state_proof(
            &header.state_root,
            &key,
            Some(&StateValue::Token(forged)),
            &tv.proof.proof
        ),
        Err(StateProofError::ValueMismatch)
    );
    assert_eq!(
        verify_state_proof(
            &header.state_root,
            &StateKey::Token(pool.token(1)),
            Some(&value),
            &tv.proof.proof
        ),
        Err(StateProofError::KeyMismatch)
    );
    assert_eq!(
        verify_state_proof(&Hash32([7; 32]), &key, Some(&value), &tv.proof.proof),
        Err(StateProofError::RootMismatch)
    );
    // A token that does not exist is a clear 404.
    c.get_signed(&keys.issuer, &format!("/v1/tokens/{}/99", pool.id))
        .expect_error(404, "not_found");

    // The header hash chain from genesis, replayed offline: every header matches.
    let replay = audit::replay_from_genesis(&node);
    let height = replay.status.height;
    assert_eq!(replay.blocks[(tv.at.height - 1) as usize].header, header);
    let latest = replay.blocks.last().expect("blocks").header.clone();
    // The latest block is the async allocation's.
    assert_eq!(latest.height, detail.view.height.unwrap());
    let latest_view: couponcactus_tests::BlockView = c.get("/v1/blocks/latest").expect(200).json();
    assert_eq!(latest_view.header, latest);
    c.get(&format!("/v1/blocks/{}", height + 1))
        .expect_error(404, "not_found");

    // The checkpoint certificate: a quorum of the genesis voters signed the latest block.
    let cp = c.checkpoint();
    assert_eq!(cp.certificate.height, height);
    assert_eq!(replay.status.certified_height, height);
    assert_eq!(cp.header, latest);
    assert_eq!(cp.certificate.block_hash, latest.hash());
    let consortium = node.genesis_consortium();
    let chain = node.genesis().initial.chain_id.clone();
    cp.certificate
        .verify(&chain, &consortium)
        .expect("the certificate verifies against the genesis consortium");
    assert_eq!(cp.certificate.signatures.len(), 1);
    let mut moved = cp.certificate.clone();
    moved.block_hash = replay.blocks[0].hash;
    assert_eq!(
        moved.verify(&chain, &consortium),
        Err(CertificateError::BadSignature(1))
    );
    assert!(matches!(
        cp.certificate
            .verify(&ChainId::new("another").unwrap(), &consortium),
        Err(CertificateError::WrongChain(_))
    ));

    // The redeem tx with its proofs (read by the auditor).
    let d = c.tx_detail(&keys.auditor, &redeem_tx.id());
    assert_eq!(d.view, redeem);
    assert_eq!(d.tx.as_ref(), Some(&redeem_tx));
    let at = redeem.height.unwrap();
    let block_header = d.header.clone().expect("header");
    assert_eq!(block_header, replay.blocks[(at - 1) as usize].header);
    verify_block_inclusion(
        &redeem_tx,
        d.tx_proof.as_ref().expect("tx proof"),
        &block_header.tx_root,
        block_header.tx_count,
    )
    .expect("tx proof verifies against the tx root");
    let result = TxResult {
        tx_id: redeem_tx.id(),
        outcome: redeem.result.clone().unwrap(),
    };
    verify_block_inclusion(
        &result,
        d.result_proof.as_ref().expect("result proof"),
        &block_header.result_root,
        block_header.tx_count,
    )
    .expect("result proof verifies against the result root");
    let log = d.log.clone().expect("log proof");
    assert_eq!(
        log.leaf,
        HistoryLeaf {
            tx_id: redeem_tx.id(),
            height: at,
            index: redeem.index.unwrap(),
            outcome: redeem.result.clone().unwrap(),
        }
    );
    assert_eq!(log.log_index, redeem.log_index.unwrap());
    assert_eq!(log.at_height, height);
    assert_eq!(
        (log.log_root, log.log_size),
        (latest.log_root, latest.log_size)
    );
    verify_inclusion(
        &log.leaf.hash(),
        log.log_index,
        log.log_size,
        &log.proof,
        &log.log_root,
    )
    .expect("the history-log inclusion proof verifies against the latest header");
    let mut forged_leaf = log.leaf.clone();
    forged_leaf.outcome = TxOutcome::Applied { events: vec![] };
    assert_eq!(
        verify_inclusion(
            &forged_leaf.hash(),
            log.log_index,
            log.log_size,
            &log.proof,
            &log.log_root
        ),
        Err(HistoryError::RootMismatch)
    );

    // The log after the first block is a prefix of today's log.
    let first = &replay.blocks[0].header;
    let cv: ConsistencyView = c
        .get(&format!("/v1/log/consistency?from={}", first.log_size))
        .expect(200)
        .json();
    assert_eq!((cv.from, cv.to), (first.log_size, latest.log_size));
    assert_eq!(
        (cv.from_root, cv.to_root),
        (first.log_root, latest.log_root)
    );
    verify_consistency(cv.from, cv.to, &cv.from_root, &cv.to_root, &cv.proof)
        .expect("the consistency proof verifies");
    c.get(&format!("/v1/log/consistency?from={}", latest.log_size + 1))
        .expect_error(400, "invalid_input");

    // Every log entry, hashed, gives the latest header's log root.
    let entries: LogEntriesView = c
        .get_signed(&keys.auditor, "/v1/log/entries?from=0")
        .expect(200)
        .json();
    assert_eq!(entries.log_size, latest.log_size);
    assert_eq!(entries.entries.len() as u64, latest.log_size);
    let leaves: Vec<Vec<u8>> = entries.entries.iter().map(|e| encode(&e.leaf)).collect();
    assert_eq!(merkle_root(&leaves), latest.log_root);
    for (i, e) in entries.entries.iter().enumerate() {
        assert_eq!(e.log_index, i as u64);
        assert_eq!(e.leaf.tx_id, e.tx.id());
    }

    let metrics = c.get("/metrics").expect(200);
    let text = metrics.body.as_str().unwrap_or_default();
    assert!(text.contains("cactus_tx_results_total"), "{text}");
    assert!(
        text.contains(r#"cactus_rocksdb_sst_bytes{cf="jmt_nodes"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cactus_rocksdb_live_data_bytes{cf="blocks"}"#),
        "{text}"
    );
}

/// SIGTERM and a restart on the same data dir: same height, block hash, state root and log;
/// queries answer the same; resubmitting an old tx is idempotent; new txs commit.
#[test]
fn restart_keeps_state() {
    let mut node = DevNode::start();
    let keys = node.keys().clone();
    let pool = node.create_active_pool("autumn", 4);
    let c = node.client().clone();
    c.apply(
        &keys.issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.id.clone(),
            member: member(1),
            claim: claim(1),
        }),
    );
    let redeem_tx = c.tx(
        &keys.terminal,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(pool.token(0)),
            member: Some(member(1)),
            order: order(5_000),
        }),
    );
    let redeem: TxView = c.submit(&redeem_tx).expect(200).json();
    let before = node.status();
    let token_before = c.token(&keys.auditor, &pool.token(0));
    let tx_before = c.tx_detail(&keys.auditor, &redeem_tx.id());
    let cp_before = c.checkpoint();

    node.stop();
    assert!(
        c.try_get("/healthz").is_err(),
        "a stopped node does not answer"
    );
    node.restart();

    let after = node.status();
    assert_eq!(after.chain_point(), before.chain_point());
    assert_eq!(after.certified_height, before.certified_height);
    assert_eq!(
        (after.genesis_hash, after.role.as_str()),
        (before.genesis_hash, "leader")
    );
    let token_after = c.token(&keys.auditor, &pool.token(0));
    assert_eq!(token_after.token, token_before.token);
    assert_eq!(token_after.at, token_before.at);
    assert_eq!(token_after.proof, token_before.proof);
    let tx_after = c.tx_detail(&keys.auditor, &redeem_tx.id());
    assert_eq!(tx_after.view, tx_before.view);
    assert_eq!(tx_after.view, redeem);
    assert_eq!(tx_after.log.unwrap().proof, tx_before.log.unwrap().proof);
    let cp_after = c.checkpoint();
    assert_eq!(cp_after.certificate, cp_before.certificate);

    // Resubmitting the redeem answers its original result and executes nothing.
    let again: TxView = c.submit(&redeem_tx).expect(200).json();
    assert_eq!(again, redeem);
    assert_eq!(node.status().chain_point(), before.chain_point());

    // New txs still commit, on top of the old chain.
    let alloc = c.apply(
        &keys.issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.id.clone(),
            member: member(2),
            claim: claim(2),
        }),
    );
    assert_eq!(alloc.height, Some(before.height + 1));
    assert_eq!(
        alloc.events(),
        [Event::Allocated {
            token: pool.token(1),
            member: member(2),
            repeat: false,
        }]
    );
    assert_eq!(
        c.block(before.height + 1).header.prev_hash,
        before.block_hash
    );
    let twice = node.redeem_code(&pool.codes[0], order(5_000));
    assert_eq!(twice.error_code(), Some("already_redeemed"));
    let fresh = node.redeem_code(&pool.codes[3], order(5_000));
    assert_eq!(fresh.status, "applied", "{fresh:#?}");

    // And once more after kill -9 while idle.
    let point = node.status().chain_point();
    node.crash();
    node.restart();
    assert_eq!(node.status().chain_point(), point);
    audit::replay_from_genesis(&node);
}

/// What one submitter saw for one tx.
#[derive(Clone, Debug)]
enum Seen {
    /// 200 or 422: committed, with this result.
    Acked(TxView),
    /// No answer: connection refused or reset.
    NoAnswer(String),
    /// Any other answer (none is expected).
    ErrorReply(String),
}

/// How the stream is interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupt {
    /// kill -9.
    Kill,
    /// SIGTERM, then wait for the exit (must be clean).
    Term,
}

/// kill -9 in the middle of a stream of writes: see [`interrupted_stream`].
#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged() {
    interrupted_stream(Interrupt::Kill);
}

/// SIGTERM in the middle of a stream of writes: the node exits cleanly (status 0) and,
/// like after kill -9, nothing acknowledged is lost; see [`interrupted_stream`].
#[test]
fn sigterm_mid_stream_exits_cleanly_and_loses_nothing() {
    interrupted_stream(Interrupt::Term);
}

/// A stream of 450 writes (redemptions by code, half of them raced by a second redemption
/// of the same code, and allocations) from 4 concurrent submitters; the node is
/// interrupted mid-stream and restarted. Every answer before the interruption was a
/// commit (200 or 422; the rest got no answer); every tx acknowledged is there afterwards
/// with the same result; the rest, resubmitted, commit once; no token is redeemed twice;
/// the whole chain replays offline from genesis to the node's state root.
fn interrupted_stream(interrupt: Interrupt) {
    const CODES: usize = 200;
    const ALLOCS: usize = 150;
    const SUBMITTERS: usize = 4;

    let mut node = DevNode::start();
    let keys = node.keys().clone();
    let flash = node.create_active_pool("flash", CODES);
    let claims = node.create_active_pool("claims", ALLOCS);

    // (code index or None for an allocation, tx), interleaved so that the second
    // redemption of a code follows the first closely and races it on another submitter.
    let mut stream: Vec<(Option<usize>, SignedTx)> = Vec::new();
    for i in 0..CODES {
        stream.push((
            Some(i),
            node.redeem_code_tx(&flash.codes[i], order(1_000 + i as u64)),
        ));
        if i < ALLOCS {
            stream.push((None, node.allocate_tx(&claims.id, i as u64)));
        }
        if i % 2 == 0 {
            stream.push((
                Some(i),
                node.redeem_code_tx(&flash.codes[i], order(1_000 + i as u64)),
            ));
        }
    }
    let total = stream.len();
    assert_eq!(total, CODES + ALLOCS + CODES / 2);
    let stream = Arc::new(stream);
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let crashed = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<BTreeMap<usize, Seen>>> = Arc::default();

    let started = Instant::now();
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let (client, stream, next, acked, seen, crashed) = (
                node.client().clone(),
                stream.clone(),
                next.clone(),
                acked.clone(),
                seen.clone(),
                crashed.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((_, tx)) = stream.get(i) else { break };
                    if crashed.load(Ordering::SeqCst) {
                        // The node is gone; no point dialling it for every remaining tx.
                        seen.lock()
                            .unwrap()
                            .insert(i, Seen::NoAnswer("not sent: the node is down".into()));
                        continue;
                    }
                    let outcome = match client.try_submit(tx) {
                        Ok(reply) if matches!(reply.status, 200 | 422) => {
                            let view: TxView = reply.json();
                            assert_eq!(view.tx_id, tx.id());
                            assert!(
                                matches!(view.status.as_str(), "applied" | "rejected"),
                                "{view:#?}"
                            );
                            acked.fetch_add(1, Ordering::SeqCst);
                            Seen::Acked(view)
                        }
                        Ok(reply) => Seen::ErrorReply(format!("{reply:?}")),
                        Err(e) => Seen::NoAnswer(e.to_string()),
                    };
                    seen.lock().unwrap().insert(i, outcome);
                }
            })
        })
        .collect();

    // Interrupt once 40 % of the stream is acknowledged: several submissions are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < total * 2 / 5 {
        assert!(Instant::now() < deadline, "the stream is too slow");
        std::thread::sleep(Duration::from_millis(1));
    }
    match interrupt {
        Interrupt::Kill => node.crash(),
        Interrupt::Term => {
            node.stop();
        }
    }
    crashed.store(true, Ordering::SeqCst);
    for s in submitters {
        s.join().expect("submitter panicked");
    }
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    let stream = Arc::try_unwrap(stream).unwrap();
    let errors: Vec<&String> = seen
        .values()
        .filter_map(|s| match s {
            Seen::ErrorReply(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(errors.is_empty(), "error answers: {errors:#?}");
    let acked_before: Vec<(usize, TxView)> = seen
        .iter()
        .filter_map(|(i, s)| match s {
            Seen::Acked(v) => Some((*i, v.clone())),
            _ => None,
        })
        .collect();
    let unacked: Vec<usize> = (0..total)
        .filter(|i| !matches!(seen.get(i), Some(Seen::Acked(_))))
        .collect();
    let first_unacked = unacked.iter().find_map(|i| match seen.get(i) {
        Some(Seen::NoAnswer(why)) => Some(why.as_str()),
        _ => None,
    });
    eprintln!(
        "stream: {} acknowledged, {} not (first: {first_unacked:?}), {interrupt:?} after {:?}",
        acked_before.len(),
        unacked.len(),
        started.elapsed()
    );
    assert!(acked_before.len() >= total * 2 / 5);
    assert!(
        !unacked.is_empty(),
        "the interruption came after the stream ended"
    );

    node.restart();
    let c = node.client().clone();
    let max_acked = acked_before
        .iter()
        .filter_map(|(_, v)| v.height)
        .max()
        .unwrap();
    assert!(node.status().height >= max_acked);

    // Everything acknowledged is there, with the same place and result.
    for (i, before) in &acked_before {
        let detail = c.tx_detail(&keys.auditor, &stream[*i].1.id());
        assert_eq!(
            &detail.view, before,
            "acknowledged tx {i} changed after the {interrupt:?}"
        );
    }

    // Resubmit everything else: whatever committed before the crash answers its original
    // result; the rest executes now. Afterwards every tx of the stream is committed.
    let resubmit: Vec<SignedTx> = unacked.iter().map(|i| stream[*i].1.clone()).collect();
    let batch: BatchView = c.batch(&resubmit);
    assert_eq!(batch.count, resubmit.len());
    assert_eq!((batch.pending, batch.refused), (0, 0), "{batch:#?}");
    let mut results: BTreeMap<usize, TxView> = acked_before.into_iter().collect();
    for (i, view) in unacked.iter().zip(batch.results) {
        assert_eq!(view.tx_id, stream[*i].1.id());
        results.insert(*i, view);
    }
    assert_eq!(results.len(), total);

    // Each code redeemed exactly once; its other attempts rejected as already redeemed.
    let mut redeemed_by: BTreeMap<usize, TxId> = BTreeMap::new();
    for (i, view) in &results {
        let (code, tx) = &stream[*i];
        match (code, view.status.as_str()) {
            (Some(code), "applied") => {
                assert!(
                    redeemed_by.insert(*code, tx.id()).is_none(),
                    "code {code} redeemed twice"
                );
            }
            (Some(_), "rejected") => assert_eq!(view.error_code(), Some("already_redeemed")),
            (None, "applied") => {}
            other => panic!("tx {i}: unexpected {other:?}: {view:#?}"),
        }
    }
    assert_eq!(redeemed_by.len(), CODES);

    // Each allocation got its own token.
    let allocated: BTreeSet<u64> = results
        .values()
        .filter_map(|v| match v.result.as_ref().and_then(TxOutcome::events) {
            Some([Event::Allocated { token, repeat, .. }]) if token.pool == claims.id => {
                assert!(!repeat);
                Some(token.serial)
            }
            _ => None,
        })
        .collect();
    assert_eq!(allocated, (0..ALLOCS as u64).collect());

    // Offline replay from genesis reaches the node's state root; in the replayed history
    // no token is redeemed twice, and each code's token records its one redemption.
    let replay = audit::replay_from_genesis(&node);
    let mut redemptions: BTreeMap<TokenId, usize> = BTreeMap::new();
    for block in &replay.blocks {
        for r in &block.results {
            if let Some([Event::Redeemed { token: Some(t), .. }]) = r.outcome.events() {
                *redemptions.entry(t.clone()).or_default() += 1;
            }
        }
    }
    assert_eq!(redemptions.len(), CODES);
    assert!(redemptions.values().all(|n| *n == 1), "{redemptions:?}");
    for (code, tx_id) in &redeemed_by {
        let token = flash.token(*code as u64);
        match replay.ledger.state.get(&StateKey::Token(token.clone())) {
            Ok(Some(StateValue::Token(t))) => assert_eq!(
                t.status,
                TokenStatus::Redeemed { redemption: *tx_id },
                "{token}"
            ),
            other => panic!("{token}: {other:?}"),
        }
    }
    let flash_pool = c.pool(&keys.auditor, flash.id.as_str()).pool;
    assert_eq!(flash_pool.redeemed, CODES as u64);
    let claims_pool = c.pool(&keys.auditor, claims.id.as_str()).pool;
    assert_eq!(claims_pool.allocated, ALLOCS as u64);
}

/// Bad requests get a clear status and `error.code`, and change nothing: malformed
/// bodies, bad signatures, unknown keys, wrong chain, stale txs, oversize bodies and
/// batches are refused before a block; wrong roles and illegal transitions are rejected in
/// their block without effect; a replayed tx id answers its original result.
#[test]
fn error_paths_are_clear_and_change_nothing() {
    let node = DevNode::start();
    let c = node.client();
    let keys = node.keys();
    let draft = node.create_draft_pool("drafty", 2);
    let create_tx = {
        // The create tx of another draft pool, kept for the replay check below.
        let tx = c.tx(
            &keys.issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: PoolId::new("second").unwrap(),
                spec: spec("second"),
            }),
        );
        let view: TxView = c.submit(&tx).expect(200).json();
        (tx, view)
    };
    let before = node.status();
    let unchanged = |what: &str| {
        let now = node.status();
        assert_eq!(
            now.chain_point(),
            before.chain_point(),
            "{what} changed the chain"
        );
        assert_eq!(now.mempool, 0, "{what} left something in the mempool");
    };

    // Malformed JSON, and JSON that is not a SignedTx.
    c.post_bytes("/v1/txs", "application/json", b"{\"body\": ".to_vec())
        .expect_error(400, "malformed");
    c.post_bytes("/v1/txs", "application/json", b"{\"hello\":1}".to_vec())
        .expect_error(400, "malformed");
    c.post_bytes("/v1/txs", "application/octet-stream", vec![1, 2, 3])
        .expect_error(400, "malformed");
    unchanged("malformed bodies");

    // A valid tx to mutate.
    let good = node.allocate_tx(&draft.id, 1);

    // Bad signature: one bit flipped; or the body changed after signing.
    let mut bad_sig = good.clone();
    bad_sig.signature.0[5] ^= 0x10;
    c.submit(&bad_sig).expect_error(400, "bad_signature");
    let mut tampered = good.clone();
    tampered.body.nonce += 1;
    c.submit(&tampered).expect_error(400, "bad_signature");
    unchanged("bad signatures");

    // A well-signed tx by a key the chain does not know.
    let stranger = fresh_key("stranger");
    c.submit(&c.tx(
        &stranger,
        TxKind::CreatePool(CreatePoolTx {
            pool: PoolId::new("nope").unwrap(),
            spec: spec("nope"),
        }),
    ))
    .expect_error(401, "unknown_key");
    unchanged("an unknown key");

    // Another chain's tx.
    let mut body = c.body(good.body.kind.clone());
    body.chain_id = ChainId::new("other-chain").unwrap();
    c.submit(&body.sign(&keys.issuer))
        .expect_error(400, "wrong_chain");

    // Stale (expired a second ago), and valid for longer than the chain allows.
    let stale = TxBody {
        valid_until_ms: now_ms() - 1_000,
        ..c.body(good.body.kind.clone())
    };
    c.submit(&stale.sign(&keys.issuer))
        .expect_error(400, "stale");
    let forever = TxBody {
        valid_until_ms: now_ms() + 30 * 24 * 3_600_000,
        ..c.body(good.body.kind.clone())
    };
    c.submit(&forever.sign(&keys.issuer))
        .expect_error(400, "invalid_input");
    unchanged("wrong chain and validity");

    // Oversize: a tx over the node's 2 MiB tx limit (its JSON is within the 8 MiB body
    // limit, so the node reads it and answers; a body over the limit is answered 413
    // before it is read, and the client may see the connection reset instead), and a
    // batch of 10,001 txs.
    let huge = c.tx(
        &keys.issuer,
        TxKind::IssueCodes(IssueCodesTx {
            pool: draft.id.clone(),
            codes: vec![IssuedCode {
                code_hash: code_hash("HUGE"),
                sealed: SealedCode(vec![0; 2_200_000]),
            }],
        }),
    );
    c.submit(&huge).expect_error(413, "oversize");
    let many = vec![good.clone(); 10_001];
    c.submit_batch(&many, true).expect_error(413, "oversize");
    unchanged("oversize requests");
    c.get("/v1/no-such-route").expect_error(404, "not_found");
    c.get_signed(&keys.auditor, &format!("/v1/txs/{}", good.id()))
        .expect_error(404, "not_found");
    c.get_signed(&keys.auditor, "/v1/txs/not-hex")
        .expect_error(400, "invalid_input");
    unchanged("lookups");

    // A terminal may not create pools: rejected in its block, and no pool appears.
    let wrong_role = c.reject(
        &keys.terminal,
        TxKind::CreatePool(CreatePoolTx {
            pool: PoolId::new("by-terminal").unwrap(),
            spec: spec("by-terminal"),
        }),
        "not_authorized",
    );
    c.get_signed(&keys.auditor, "/v1/pools/by-terminal")
        .expect_error(404, "not_found");
    let detail = c.tx_detail(&keys.auditor, &wrong_role.tx_id);
    assert_eq!(detail.view, wrong_role);
    assert_eq!(detail.view.error_code(), Some("not_authorized"));

    // Illegal pool transitions: resume a draft; activate twice.
    let pool_before = c.pool(&keys.auditor, draft.id.as_str()).pool;
    assert_eq!(pool_before.status, PoolStatus::Draft);
    c.reject(
        &keys.issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: draft.id.clone(),
            action: PoolAction::Resume,
        }),
        "invalid_transition",
    );
    assert_eq!(c.pool(&keys.auditor, draft.id.as_str()).pool, pool_before);
    c.apply(
        &keys.issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: draft.id.clone(),
            action: PoolAction::Archive,
        }),
    );
    c.reject(
        &keys.issuer,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: draft.id.clone(),
            action: PoolAction::Activate,
        }),
        "invalid_transition",
    );
    assert_eq!(
        c.pool(&keys.auditor, draft.id.as_str()).pool.status,
        PoolStatus::Archived
    );

    // A replayed tx id answers its original result and executes nothing: an applied one
    // (200), a rejected one (422), and as a batch.
    let mark = node.status();
    let (tx, original) = &create_tx;
    let again: TxView = c.submit(tx).expect(200).json();
    assert_eq!(&again, original);
    let wrong_role_tx = detail.tx.clone().expect("tx");
    let again: TxView = c
        .submit(&wrong_role_tx)
        .expect_error(422, "not_authorized")
        .json();
    assert_eq!(again, wrong_role);
    let batch = c.batch(&[tx.clone(), wrong_role_tx.clone()]);
    assert_eq!((batch.applied, batch.rejected), (1, 1));
    assert_eq!(batch.results, vec![original.clone(), wrong_role.clone()]);
    c.post_json("/v1/validate", tx)
        .expect_error(409, "duplicate");
    assert_eq!(node.status().chain_point(), mark.chain_point());
    // Nor does a copy of the same tx re-signed (ed25519 is deterministic: same id).
    let resigned = tx.body.clone().sign(&keys.issuer);
    assert_eq!(resigned.id(), tx.id());
    let again: TxView = c.submit(&resigned).expect(200).json();
    assert_eq!(&again, original);
    assert_eq!(node.status().chain_point(), mark.chain_point());

    // The whole history, rejections included, still replays.
    let replay = audit::replay_from_genesis(&node);
    let rejected: Vec<RejectReason> = replay
        .blocks
        .iter()
        .flat_map(|b| &b.results)
        .filter_map(|r| r.outcome.rejection().map(|r| r.reason))
        .collect();
    assert_eq!(
        rejected,
        [
            RejectReason::NotAuthorized,
            RejectReason::InvalidTransition,
            RejectReason::InvalidTransition
        ]
    );
}

/// Signed reads: an auditor sees the dev org's pool and token; unsigned, badly signed,
/// stale, unknown and revoked keys get 401; a key of another org (added by governance)
/// gets 403, and sees its own org's pool that the dev issuer may not read.
#[test]
fn read_access_control() {
    let node = DevNode::start();
    let c = node.client();
    let keys = node.keys();
    let pool = node.create_active_pool("members-only", 2);
    let alloc = c.apply(
        &keys.issuer,
        TxKind::Allocate(AllocateTx {
            pool: pool.id.clone(),
            member: member(7),
            claim: claim(7),
        }),
    );
    let pool_path = format!("/v1/pools/{}", pool.id);
    let token_path = format!("/v1/tokens/{}/0", pool.id);

    // The auditor (and the owner's own keys) see the pool and its token, proven.
    let pv = c.pool(&keys.auditor, pool.id.as_str());
    assert_eq!(pv.pool.owner, OrgId::new("dev").unwrap());
    assert_eq!(pv.pool.status, PoolStatus::Active);
    verify_state_proof(
        &pv.at.state_root,
        &StateKey::Pool(pool.id.clone()),
        Some(&StateValue::Pool(pv.pool.clone())),
        &pv.proof.proof,
    )
    .expect("pool proof verifies");
    assert_eq!(
        c.token(&keys.auditor, &pool.token(0)).token.owner,
        Some(member(7))
    );
    c.get_signed(&keys.terminal, &pool_path).expect(200);

    // Unsigned, signed for another path, stale, unknown key.
    c.get(&pool_path).expect_error(401, "unauthenticated");
    c.get(&token_path).expect_error(401, "unauthenticated");
    let t = now_ms();
    let chain = c.chain_id().clone();
    let other_path_sig = sign_read(&keys.auditor, &chain, t, "GET", &token_path);
    c.get_with_read_headers(
        &pool_path,
        &public(&keys.auditor).to_hex(),
        &t.to_string(),
        &other_path_sig.to_hex(),
    )
    .expect_error(401, "bad_signature");
    c.get_signed_at(&keys.auditor, now_ms() - 5 * 60_000, &pool_path)
        .expect_error(401, "stale");
    c.get_signed(&fresh_key("nobody"), &pool_path)
        .expect_error(401, "unknown_key");

    // A second auditor key, then revoked: 200, then 401 key_revoked. An admin alone may not
    // register one (a consortium-wide read right); a governance quorum (here the one org)
    // may.
    let auditor2 = fresh_key("auditor2");
    c.submit(&c.tx(
        &keys.admin,
        TxKind::RegisterKey(RegisterKeyTx {
            key: public(&auditor2),
            role: Role::Auditor,
        }),
    ))
    .expect_error(422, "not_authorized");
    c.apply(
        &keys.admin,
        TxKind::ProposeGovernance(ProposeGovernanceTx {
            change: GovernanceChange::AddAuditor {
                org: OrgId::new("dev").unwrap(),
                key: public(&auditor2),
            },
        }),
    );
    c.get_signed(&auditor2, &pool_path).expect(200);
    c.apply(
        &keys.admin,
        TxKind::RevokeKey(RevokeKeyTx {
            key: public(&auditor2),
        }),
    );
    c.get_signed(&auditor2, &pool_path)
        .expect_error(401, "key_revoked");

    // Org `other` joins: with one org the quorum is 1, so the dev admin's proposal applies
    // at once.
    let other_admin = fresh_key("other-admin");
    let other = OrgId::new("other").unwrap();
    let change = GovernanceChange::AddOrg {
        org: other.clone(),
        name: "Other Org".into(),
        admin_key: public(&other_admin),
    };
    let joined = c.apply(
        &keys.admin,
        TxKind::ProposeGovernance(ProposeGovernanceTx {
            change: change.clone(),
        }),
    );
    assert_eq!(
        joined.events(),
        [
            Event::ProposalOpened {
                proposal: joined.tx_id,
                approvals: 1,
                needed: 1,
            },
            Event::GovernanceApplied {
                proposal: joined.tx_id,
                change,
            },
        ]
    );

    // Its admin may not read the dev org's pool, token, txs or pool list.
    c.get_signed(&other_admin, &pool_path)
        .expect_error(403, "not_authorized");
    c.get_signed(&other_admin, &token_path)
        .expect_error(403, "not_authorized");
    assert_eq!(c.tx_detail(&keys.auditor, &alloc.tx_id).view, alloc);
    c.get_signed(&other_admin, &format!("/v1/txs/{}", alloc.tx_id))
        .expect_error(403, "not_authorized");
    c.get_signed(&other_admin, "/v1/orgs/dev/pools")
        .expect_error(403, "not_authorized");
    let wallet: WalletView = c
        .get_signed(&other_admin, &format!("/v1/members/{}/wallet", member(7)))
        .expect(200)
        .json();
    assert!(wallet.tokens.is_empty(), "{wallet:#?}");
    let wallet: WalletView = c
        .get_signed(&keys.issuer, &format!("/v1/members/{}/wallet", member(7)))
        .expect(200)
        .json();
    assert_eq!(wallet.tokens.len(), 1);
    assert_eq!(wallet.tokens[0].token_id, pool.token(0));

    // The other org's own pool: its admin reads it, the dev auditor too, the dev issuer not.
    c.apply(
        &other_admin,
        TxKind::CreatePool(CreatePoolTx {
            pool: PoolId::new("other-pool").unwrap(),
            spec: spec("other-pool"),
        }),
    );
    assert_eq!(c.pool(&other_admin, "other-pool").pool.owner, other);
    assert_eq!(c.pool(&keys.auditor, "other-pool").pool.owner, other);
    c.get_signed(&keys.issuer, "/v1/pools/other-pool")
        .expect_error(403, "not_authorized");
    let listed: OrgPoolsView = c
        .get_signed(&other_admin, "/v1/orgs/other/pools")
        .expect(200)
        .json();
    assert_eq!(listed.pools.len(), 1);
    // And the dev terminal may not touch it: not the owner, not a partner.
    c.reject(
        &keys.terminal,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(TokenId {
                pool: PoolId::new("other-pool").unwrap(),
                serial: 0,
            }),
            member: Some(member(7)),
            order: order(1_000),
        }),
        "not_authorized",
    );
}

/// Polls `GET /v1/txs/{id}` (as the auditor) until the tx is no longer pending.
fn wait_for_tx(node: &DevNode, id: &TxId) -> couponcactus_tests::TxDetail {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let detail = node.client().tx_detail(&node.keys().auditor, id);
        if detail.view.status != "pending" {
            return detail;
        }
        assert!(Instant::now() < deadline, "tx {id} still pending");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Idempotency while a tx is on its way: a tx accepted with `?wait=false` is `pending`
/// (never unknown) until its block is applied, and copies of one tx submitted at the same
/// time from several clients all get the one original result, with the tx executed once
/// (no `duplicate` rejection of a second copy in a later block).
#[test]
fn txs_in_flight_are_pending_and_execute_once() {
    const TXS: usize = 120;
    const COPIES: usize = 3;
    let node = DevNode::start();
    let keys = node.keys().clone();
    let pool = node.create_active_pool("in-flight", 2 * TXS);
    let start_height = node.status().height;

    // Async submissions, each polled at once until it is no longer pending.
    let c = node.client();
    for i in 0..TXS {
        let tx = node.allocate_tx(&pool.id, i as u64);
        let accepted: TxView = c.submit_async(&tx).expect(202).json();
        assert_eq!(accepted.status, "pending");
        loop {
            let reply = c.get_signed(&keys.auditor, &format!("/v1/txs/{}", tx.id()));
            assert_eq!(
                reply.status, 200,
                "accepted tx {i} is unknown while in flight: {reply:#?}"
            );
            let view: TxView = reply.json();
            if view.status != "pending" {
                assert_eq!(view.status, "applied", "{view:#?}");
                break;
            }
        }
    }

    // Every tx sent by several clients at once (wait=true): one result for all copies.
    let txs: Vec<SignedTx> = (0..TXS)
        .map(|i| node.redeem_code_tx(&pool.codes[i], order(1_000)))
        .collect();
    let txs = Arc::new(txs);
    let clients: Vec<_> = (0..COPIES)
        .map(|_| {
            let (client, txs) = (node.client().clone(), txs.clone());
            std::thread::spawn(move || {
                txs.iter()
                    .map(|tx| client.submit(tx).expect(200).json::<TxView>())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<Vec<TxView>> = clients.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, tx) in txs.iter().enumerate() {
        assert_eq!(answers[0][i].tx_id, tx.id());
        assert_eq!(answers[0][i].status, "applied");
        for copy in &answers[1..] {
            assert_eq!(
                copy[i], answers[0][i],
                "copies of tx {i} answered differently"
            );
        }
    }

    // The chain executed each tx exactly once.
    let replay = audit::replay_from_genesis(&node);
    let executed: Vec<&TxResult> = replay.blocks[start_height as usize..]
        .iter()
        .flat_map(|b| &b.results)
        .collect();
    let duplicates = executed
        .iter()
        .filter(|r| matches!(r.outcome.rejection(), Some(r) if r.reason == RejectReason::Duplicate))
        .count();
    assert_eq!(duplicates, 0, "copies of in-flight txs were executed again");
    assert_eq!(executed.len(), 2 * TXS);
}
