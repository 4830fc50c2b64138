//! `cactus audit` end to end against a real `cactusd --dev` node: an honest chain verifies
//! (also resumed, pinned, and as single proofs for third parties), and a copy of the node's
//! data directory with one stored record altered — a tx in a block, a tx result, a
//! certificate, a state value — fails the audit naming the altered height.
//!
//! Needs the `cactusd` and `cactus` binaries: `cargo build -p couponcactus-node --bin
//! cactusd && cargo build -p couponcactus-client --bin cactus`.

use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::tx::{RedeemTarget, RedeemTx, TxKind};
use couponcactus_chaincode::types::TokenStatus;
use couponcactus_tests::fixtures::{self, PoolFixture};
use couponcactus_tests::tamper::{
    CopyNode, audit, cactus, copy_data_dir, genesis_file, open_store, tamper_block,
    tamper_certificate, tamper_result, tamper_state,
};
use couponcactus_tests::{DevNode, TxView};
use std::time::{Duration, Instant};

/// A dev chain with pool `spring` (3 codes), code 0 redeemed, then redeemed again
/// (rejected `already_redeemed`: the attempt stays in its block), everything certified.
struct Honest {
    node: DevNode,
    pool: PoolFixture,
    redeemed: TxView,
    rejected: TxView,
}

fn honest() -> Honest {
    let node = DevNode::start();
    let pool = node.create_active_pool("spring", 3);
    let redeemed = node.redeem_code(&pool.codes[0], fixtures::order(10_000));
    assert_eq!(redeemed.status, "applied", "{redeemed:#?}");
    let rejected = node.redeem_code(&pool.codes[0], fixtures::order(10_000));
    assert_eq!(
        rejected.error_code(),
        Some("already_redeemed"),
        "{rejected:#?}"
    );
    wait_certified(&node);
    Honest {
        node,
        pool,
        redeemed,
        rejected,
    }
}

fn wait_certified(node: &DevNode) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = node.status();
        if status.certified_height == status.height {
            return;
        }
        assert!(Instant::now() < deadline, "not certified: {status:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts the audit failed (exit 4) at `height`, with `what` in the verdict.
fn assert_fails_at(run: &couponcactus_tests::tamper::CliRun, height: u64, what: &str) {
    assert_eq!(run.code, Some(4), "{run:#?}");
    let expected = format!("FAILED at height {height}: ");
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("FAILED at height"))
        .unwrap_or_else(|| panic!("no verdict line: {run:#?}"));
    assert!(
        line.starts_with(&expected),
        "expected {expected}…, got {line}"
    );
    assert!(line.contains(what), "expected {what:?} in {line}");
    eprintln!("VERDICT: {line}");
}

/// Stops the honest node, copies its data directory, lets `tamper` alter the copy's
/// database, and starts a node on the copy.
fn tampered(h: &mut Honest, tamper: impl FnOnce(&couponcactus_node::storage::Store)) -> CopyNode {
    h.node.stop();
    let copy = copy_data_dir(h.node.dir());
    {
        let store = open_store(copy.path());
        tamper(&store);
    }
    CopyNode::start(copy, h.node.genesis().initial.chain_id.clone())
}

#[test]
fn an_honest_chain_verifies_resumes_and_proves() {
    let h = honest();
    let url = h.node.url();
    let genesis = genesis_file(h.node.dir());
    let status = h.node.status();
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("audit.ck");
    let saved_arg = saved.display().to_string();

    let run = audit(&url, &genesis, &["--save", &saved_arg]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let line = run.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("VERIFIED: heights 1..={}, ", status.height)),
        "{run:#?}"
    );
    assert!(
        line.contains(&format!("certified up to {} by nodes [1]", status.height)),
        "{line}"
    );
    assert!(saved.exists());

    // More blocks, then a resumed and pinned audit in JSON.
    let again = h.node.redeem_code(&h.pool.codes[1], fixtures::order(5_000));
    assert_eq!(again.status, "applied");
    wait_certified(&h.node);
    let now = h.node.status();
    let run = audit(
        &url,
        &genesis,
        &["--json", "--resume", &saved_arg, "--pin", &saved_arg],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v = run.json();
    assert_eq!(v["verdict"], "verified", "{v}");
    assert_eq!(v["from_height"], status.height + 1);
    assert_eq!(v["height"], now.height);
    assert_eq!(v["block_hash"], now.block_hash.to_hex());
    assert_eq!(v["certified_height"], now.height);
    assert_eq!(v["pinned"]["height"], status.height);
    // The JSON output pins the next audit.
    let out = work.path().join("verdict.json");
    std::fs::write(&out, &run.stdout).unwrap();
    let run = audit(&url, &genesis, &["--pin", &out.display().to_string()]);
    assert_eq!(run.code, Some(0), "{run:#?}");

    // A genesis of another chain is refused at height 0.
    let other = work.path().join("other.toml");
    let mut g = h.node.genesis().clone();
    g.initial.genesis_time_ms += 1;
    g.save(&other).unwrap();
    assert_fails_at(&audit(&url, &other, &[]), 0, "genesis hash");

    // Single proofs for third parties, checked offline.
    let auditor_key = h.node.dir().join("keys/auditor.key").display().to_string();
    let genesis_arg = genesis.display().to_string();
    let token_bundle = work.path().join("token.json").display().to_string();
    let run = cactus(
        &url,
        &[
            "--genesis",
            &genesis_arg,
            "audit",
            "prove-token",
            "spring/0",
            "--key",
            &auditor_key,
            "--out",
            &token_bundle,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("PROVEN: token spring/0"), "{run:#?}");
    let run = cactus(
        &url,
        &[
            "--genesis",
            &genesis_arg,
            "audit",
            "check-proof",
            &token_bundle,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.starts_with("VALID: token spring/0"), "{run:#?}");
    assert!(run.stdout.contains("redeemed"), "{run:#?}");

    let tx_bundle = work.path().join("tx.json").display().to_string();
    let run = cactus(
        &url,
        &[
            "--genesis",
            &genesis_arg,
            "audit",
            "prove-tx",
            &h.redeemed.tx_id.to_hex(),
            "--key",
            &auditor_key,
            "--out",
            &tx_bundle,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let run = cactus(
        &url,
        &[
            "--json",
            "--genesis",
            &genesis_arg,
            "audit",
            "check-proof",
            &tx_bundle,
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let check = run.json();
    assert_eq!(check["check"]["kind"], "tx");
    assert_eq!(check["check"]["height"], h.redeemed.height.unwrap());
    assert_eq!(check["check"]["anchored"], true);

    // A bundle whose token record was edited does not verify (exit 4).
    let mut bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token_bundle).unwrap()).unwrap();
    let token = &mut bundle["claim"]["proof"]["value"]["token"];
    let hash = token["code_hash"].as_str().unwrap().to_string();
    let flipped = if hash.starts_with('0') { "1" } else { "0" };
    token["code_hash"] = serde_json::json!(format!("{flipped}{}", &hash[1..]));
    let edited = work.path().join("edited.json");
    std::fs::write(&edited, bundle.to_string()).unwrap();
    let run = cactus(
        &url,
        &[
            "--genesis",
            &genesis_arg,
            "audit",
            "check-proof",
            &edited.display().to_string(),
        ],
    );
    assert_eq!(run.code, Some(4), "{run:#?}");
    assert!(run.stderr.contains("PROOF DOES NOT VERIFY"), "{run:#?}");
}

#[test]
fn a_tampered_tx_in_a_stored_block_fails_at_its_height() {
    let mut h = honest();
    let height = h.redeemed.height.unwrap();
    let copy = tampered(&mut h, |store| {
        tamper_block(store, height, |block| {
            let TxKind::Redeem(redeem) = &mut block.txs[0].body.kind else {
                panic!("block {height} starts with the redemption");
            };
            redeem.order.total_minor = 1_000_000;
        });
    });
    let run = audit(copy.url(), &genesis_file(h.node.dir()), &[]);
    assert_fails_at(
        &run,
        height,
        "header field tx_root differs from re-execution",
    );
}

#[test]
fn a_tampered_tx_result_fails_at_its_height() {
    let mut h = honest();
    let height = h.rejected.height.unwrap();
    let index = h.rejected.index.unwrap();
    let copy = tampered(&mut h, |store| {
        tamper_result(store, height, index, |result| {
            // The failed second redemption, rewritten as applied: the evidence erased.
            result.outcome = TxOutcome::Applied { events: vec![] };
        });
    });
    let run = audit(copy.url(), &genesis_file(h.node.dir()), &[]);
    assert_fails_at(
        &run,
        height,
        &format!("the stored result of tx {index} differs from re-execution"),
    );
}

#[test]
fn a_tampered_certificate_fails_at_its_height() {
    let mut h = honest();
    let height = h.redeemed.height.unwrap();
    let copy = tampered(&mut h, |store| tamper_certificate(store, height));
    let run = audit(copy.url(), &genesis_file(h.node.dir()), &[]);
    assert_fails_at(
        &run,
        height,
        "the block's certificate does not verify against the voter set of its height",
    );
}

#[test]
fn a_tampered_state_value_fails_at_the_next_block_it_flows_into() {
    let mut h = honest();
    let token = h.pool.token(0);
    let copy = tampered(&mut h, |store| {
        // Code 0's token, redeemed, made available again in the node's latest state.
        tamper_state(store, &StateKey::Token(token.clone()), |value| {
            let StateValue::Token(record) = value else {
                panic!("a token record");
            };
            assert!(matches!(record.status, TokenStatus::Redeemed { .. }));
            record.status = TokenStatus::Available;
        });
    });
    // The stored chain is still intact: the audit passes until a block uses the value.
    let genesis = genesis_file(h.node.dir());
    let run = audit(copy.url(), &genesis, &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    // The tampered node lets code 0 be redeemed a second time.
    let tx = copy.client().tx(
        &h.node.keys().terminal,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Code(code_hash(&h.pool.codes[0])),
            member: None,
            order: fixtures::order(10_000),
        }),
    );
    let reply = copy.client().submit(&tx);
    assert_eq!(
        reply.status, 200,
        "the tampered node redeems again: {reply:#?}"
    );
    let view: TxView = reply.json();
    let height = view.height.unwrap();
    let run = audit(copy.url(), &genesis, &[]);
    assert_fails_at(&run, height, "differs from re-execution");
}
