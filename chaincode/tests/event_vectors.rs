//! Test vectors of ledger events (`couponcactus_chaincode::events::LedgerEvent`), checked
//! against `docs/encoding.md` ("Ledger events").
//!
//! The vectors come from a real workload on the testkit chain (keys, a pool with a partner,
//! two allocations, a redemption at the owner's till and one at the partner's, a rejected
//! second redemption; the pool creation and the rejected redemption carry a memo), derived
//! as a node derives them.
//! Each documented vector's JSON must parse into a `LedgerEvent` that encodes to the
//! documented bytes, the bytes must decode to that JSON, and the whole set must equal the
//! one the code generates now. `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode
//! --test event_vectors` rewrites the generated section when an encoding changes on purpose.

#[allow(dead_code)] // the hand encoder and pool specs serve the other doc-vector tests
mod common;

use common::{GeneratedDoc, Vector, fenced_blocks, field, parse_vectors, vector_differences};
use couponcactus_chaincode::events::{
    AfterBlock, BlockPosition, EventType, LedgerEvent, Sequences, derive_block_events,
};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, TestChain};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const DOC: GeneratedDoc = GeneratedDoc {
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md"),
    begin: "<!-- BEGIN GENERATED EVENT VECTORS: written by `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test event_vectors`; do not edit by hand -->",
    end: "<!-- END GENERATED EVENT VECTORS -->",
    tmp_suffix: ".event_vectors.tmp",
};

/// The workload, one tx per block; every event, numbered as a node numbers them.
fn workload() -> Vec<LedgerEvent> {
    let mut chain = TestChain::new();
    let (acme, globex) = (testkit::key(1), testkit::key(2));
    let (issuer, till, partner_till) = (testkit::key(10), testkit::key(11), testkit::key(20));
    let pool = testkit::pool_id("spring");
    let mut spec = testkit::spec(PoolKind::UniqueCodes);
    spec.partner_orgs = vec![testkit::org("globex")];
    spec.per_member_cap = 2;
    let terminal = |store: &str| Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    let token = |serial| TokenId {
        pool: pool.clone(),
        serial,
    };
    let redeem = |serial, total| {
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Token(token(serial)),
            member: Some(testkit::member(7)),
            order: testkit::order(total),
        })
    };
    let register = |key: u8, role: Role| {
        TxKind::RegisterKey(RegisterKeyTx {
            key: testkit::public(key),
            role,
        })
    };
    let allocate = |claim| {
        TxKind::Allocate(AllocateTx {
            pool: pool.clone(),
            member: testkit::member(7),
            claim: testkit::claim(claim),
        })
    };
    let codes = (0..2)
        .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
        .collect();
    let mut steps: Vec<(&ed25519_dalek::SigningKey, TxKind)> = vec![
        (&acme, register(10, Role::Issuer)),
        (&acme, register(11, terminal("berlin-1"))),
        (&globex, register(20, terminal("hamburg-1"))),
        (
            &issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: pool.clone(),
                spec,
            }),
        ),
        (
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes,
            }),
        ),
        (
            &issuer,
            TxKind::TransitionPool(TransitionPoolTx {
                pool: pool.clone(),
                action: PoolAction::Activate,
            }),
        ),
        (&issuer, allocate(1)),
        (&issuer, allocate(2)),
        (&till, redeem(0, 8_000)),
        (&partner_till, redeem(1, 5_000)),
        (&till, redeem(0, 9_000)),
    ];
    // Memos: the pool is created from the console (the staff user's id), and the rejected
    // second redemption carries one too (events of rejected txs keep their memo).
    let memos = BTreeMap::from([(3, "staff:u-42"), (10, "till 2, retry")]);
    let mut events = Vec::new();
    let mut seqs = Sequences::default();
    for (i, (signer, kind)) in steps.drain(..).enumerate() {
        let memo = memos.get(&i).map(|m| Memo::new(*m).unwrap());
        let tx = chain.body(kind).with_memo(memo).sign(signer);
        events.extend(run_block(&mut chain, &[tx], &mut seqs));
    }
    events
}

fn run_block(chain: &mut TestChain, txs: &[SignedTx], seqs: &mut Sequences) -> Vec<LedgerEvent> {
    let ctx = chain.next_ctx();
    let out = execute_block(&chain.state, &ctx, txs).unwrap();
    let at = BlockPosition {
        height: ctx.height,
        time_ms: ctx.time_ms,
        first_log_index: ctx.height - 1,
    };
    let after = AfterBlock {
        base: &chain.state,
        writes: &out.writes,
    };
    let mut events = derive_block_events(&after, at, txs, &out.results).unwrap();
    seqs.assign(&mut events);
    chain.state.apply(&out.writes);
    chain.height = ctx.height;
    chain.time_ms = ctx.time_ms;
    events
}

/// The vectors: the first event of each type the workload produces, and the partner
/// redemption.
fn vectors() -> Vec<(String, LedgerEvent)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in workload() {
        let partner = e.is_partner_redemption();
        if seen.insert((e.kind, partner)) {
            let name = format!(
                "ledger_event_{}{}",
                e.kind.name().replace('.', "_"),
                if partner { "_partner" } else { "" }
            );
            out.push((name, e));
        }
    }
    out
}

fn render() -> String {
    let mut text = String::from("\n");
    for (name, e) in vectors() {
        let pretty = serde_json::to_string_pretty(&e).unwrap();
        text.push_str(&format!(
            "\n#### `{name}`\n\n```json\n{pretty}\n```\n\n```ledger-event-vector\nname: {name}\njson: {}\nbytes: {}\n```\n",
            serde_json::to_string(&e).unwrap(),
            hex::encode(encode(&e)),
        ));
    }
    text.push('\n');
    text
}

fn generated() -> Vec<Vector> {
    vectors()
        .into_iter()
        .map(|(name, e)| Vector {
            kind: "ledger-event-vector".into(),
            name: name.clone(),
            fields: vec![
                field("name", name),
                field("json", serde_json::to_string(&e).unwrap()),
                field("bytes", hex::encode(encode(&e))),
            ],
        })
        .collect()
}

fn documented() -> Vec<Vector> {
    static DONE: OnceLock<()> = OnceLock::new();
    let doc = DOC.read(render, &DONE);
    parse_vectors(&fenced_blocks(DOC.section(&doc), DOC.path))
}

#[test]
fn the_documented_event_vectors_are_what_the_code_derives() {
    let diffs = vector_differences(&documented(), &generated());
    assert!(
        diffs.is_empty(),
        "docs/encoding.md (Ledger events) differs from the code:\n{}\nif the change is \
         intended, run `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test \
         event_vectors` and review the diff",
        diffs.join("\n")
    );
}

#[test]
fn every_documented_event_vector_round_trips_between_json_and_bytes() {
    let vectors = documented();
    assert!(vectors.len() >= 8, "too few vectors: {}", vectors.len());
    for v in vectors {
        let get = |k: &str| &v.fields.iter().find(|(f, _)| f == k).unwrap().1;
        let from_json: LedgerEvent = serde_json::from_str(get("json")).unwrap();
        let bytes = hex::decode(get("bytes")).unwrap();
        assert_eq!(
            encode(&from_json),
            bytes,
            "{}: JSON does not encode to the bytes",
            v.name
        );
        let back: LedgerEvent = decode(&bytes).unwrap();
        assert_eq!(
            back, from_json,
            "{}: bytes do not decode to the JSON",
            v.name
        );
        assert_eq!(&serde_json::to_string(&back).unwrap(), get("json"));
    }
}

#[test]
fn the_workload_covers_redemptions_partners_and_rejections() {
    let kinds: BTreeSet<(EventType, bool)> = vectors()
        .iter()
        .map(|(_, e)| (e.kind, e.is_partner_redemption()))
        .collect();
    for k in [
        (EventType::CouponRedeemed, false),
        (EventType::CouponRedeemed, true),
        (EventType::TxRejected, false),
        (EventType::CouponAllocated, false),
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
    // Vectors with a memo and without one, on an applied and on a rejected tx.
    let memo_of = |t: EventType| {
        vectors()
            .into_iter()
            .find(|(_, e)| e.kind == t)
            .and_then(|(_, e)| e.memo)
            .map(Memo::into_string)
    };
    assert_eq!(
        memo_of(EventType::PoolCreated).as_deref(),
        Some("staff:u-42")
    );
    assert_eq!(
        memo_of(EventType::TxRejected).as_deref(),
        Some("till 2, retry")
    );
    assert_eq!(memo_of(EventType::CouponAllocated), None);
}
