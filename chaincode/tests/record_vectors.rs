//! Test vectors of the committed records, checked against `docs/encoding.md`: every state
//! key and value variant (with every record type), every event kind, tx results and
//! history-log leaves, and the genesis state.
//!
//! Each vector is rebuilt here from a fixed fixture (fixed-seed keys, `txid("…")` ids) and
//! compared with the values written in the generated section of the document. Beyond that,
//! the tests check the document against the code without the generator:
//!
//! - every documented vector's JSON is parsed with serde into its type and must encode to
//!   the documented bytes, the documented bytes must decode back to that JSON, and the
//!   documented hashes must be plain blake3 of the documented bytes (key hash, value hash,
//!   JMT leaf hash, RFC 9162 leaf hash);
//! - every value is encoded a second time by a hand encoder below that knows nothing of
//!   bincode (only the primitive rules and the tables of the document), and the bytes must
//!   agree; its annotations are the annotated bytes of the document;
//! - the struct tables (field order, and the JSON keys), the enum tables (variant index,
//!   name and JSON name), the JSON-forms table and the genesis vector's bytes and hash are
//!   checked against the code. (The genesis vector's TOML is checked by `genesis/src/lib.rs`.)
//!
//! When an encoding changes on purpose, `UPDATE_VECTORS=1 cargo test -p
//! couponcactus-chaincode --test record_vectors` rewrites the generated section (review the
//! diff: every verifier in every language depends on these bytes); the tables are fixed by
//! hand, and the tests say where.

mod common;

use common::{
    GeneratedDoc, HELD_CODE_NOTE, Hand, Vector, field, full_spec, shared_spec, slug,
    vector_differences,
};
use couponcactus_chaincode::commitment::leaf_node_hash;
use couponcactus_chaincode::encoding::{EncodingError, decode, encode};
use couponcactus_chaincode::history::{HistoryLeaf, leaf_hash};
use couponcactus_chaincode::loyalty::{Allocation, Draw};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md");
const BEGIN: &str = "<!-- BEGIN GENERATED RECORD VECTORS: written by `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test record_vectors`; do not edit by hand -->";
const END: &str = "<!-- END GENERATED RECORD VECTORS -->";
const REGENERATE: &str = "if the change is intended, run `UPDATE_VECTORS=1 cargo test -p \
     couponcactus-chaincode --test record_vectors`, review the diff of docs/encoding.md and \
     tell every verifier implementer: their bytes no longer match";

// ---- the fixture -----------------------------------------------------------------------

/// A tx id for the fixture: blake3 of a short ASCII name.
fn txid(name: &str) -> TxId {
    TxId(*blake3::hash(name.as_bytes()).as_bytes())
}

fn token(pool: &str, serial: u64) -> TokenId {
    TokenId {
        pool: slug(pool),
        serial,
    }
}

/// One second, one day, in ms.
const SECOND: u64 = 1_000;
const DAY: u64 = 86_400 * SECOND;

/// The `i`-th testkit code of `pool` (hash and sealed form).
fn code_of(pool: &str, i: u64) -> IssuedCode {
    let pool: PoolId = slug(pool);
    testkit::issued_code(&pool, &testkit::code_text(&pool, i), i)
}

fn shared_code() -> IssuedCode {
    testkit::issued_code(&slug("summer"), "SUMMER10", 0)
}

fn node(node_id: u64, org: &str, seed: u8, voter: bool) -> NodeRecord {
    NodeRecord {
        node_id,
        org: slug(org),
        node_key: testkit::public(seed),
        p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", 7200 + node_id),
        voter,
    }
}

/// What a vector holds.
#[derive(Debug, Clone)]
enum Item {
    State(StateKey, Box<StateValue>),
    Event(Event),
    Result(TxResult),
    Leaf(HistoryLeaf),
}

#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    about: &'static str,
    item: Item,
}

fn state(name: &'static str, about: &'static str, key: StateKey, value: StateValue) -> Case {
    Case {
        name,
        about,
        item: Item::State(key, Box::new(value)),
    }
}

fn key_cases() -> Vec<Case> {
    vec![
        state(
            "params",
            "The chain parameters (the defaults).",
            StateKey::Params,
            StateValue::Params(ChainParams::default()),
        ),
        state(
            "org",
            "Org `acme`, joined at genesis with one admin key.",
            StateKey::Org(slug("acme")),
            StateValue::Org(OrgRecord {
                name: "ACME".into(),
                active_admins: 1,
                joined_at: 0,
            }),
        ),
        state(
            "key_org_admin",
            "key(1), acme's org admin since genesis (a `Role` variant without fields).",
            StateKey::Key(testkit::public(1)),
            StateValue::Key(KeyRecord {
                org: slug("acme"),
                role: Role::OrgAdmin,
                registered_at: 0,
                revoked_at: None,
            }),
        ),
        state(
            "key_terminal_revoked",
            "key(20), an acme terminal at store `berlin-1`, channel `pos`, registered at height 3 and revoked at height 9.",
            StateKey::Key(testkit::public(20)),
            StateValue::Key(KeyRecord {
                org: slug("acme"),
                role: Role::Terminal {
                    store: slug("berlin-1"),
                    channel: slug("pos"),
                },
                registered_at: 3,
                revoked_at: Some(9),
            }),
        ),
        state(
            "key_risk",
            "key(40), acme's risk key (its fraud engine), registered at height 11: it places holds pending an admin's review, nothing else.",
            StateKey::Key(testkit::public(40)),
            StateValue::Key(KeyRecord {
                org: slug("acme"),
                role: Role::Risk,
                registered_at: 11,
                revoked_at: None,
            }),
        ),
        state(
            "consortium",
            "Three orgs; node 1 (acme, key(200)) votes, node 2 (globex, key(201)) is a learner, node 3 was removed.",
            StateKey::Consortium,
            StateValue::Consortium(Consortium {
                orgs: vec![slug("acme"), slug("globex"), slug("initech")],
                nodes: vec![node(1, "acme", 200, true), node(2, "globex", 201, false)],
                retired_node_ids: vec![3],
            }),
        ),
    ]
}

fn proposal(change: GovernanceChange, approvals: &[&str], executed_at: Option<u64>) -> StateValue {
    StateValue::Proposal(ProposalRecord {
        change,
        approvals: approvals.iter().map(|o| slug(o)).collect(),
        expires_at_ms: GENESIS_MS + 7 * DAY,
        executed_at,
    })
}

fn proposal_cases() -> Vec<Case> {
    vec![
        state(
            "proposal_add_org",
            "An open proposal (id `txid(\"propose-add-org\")`) to admit org `hooli` with admin key(4), approved by acme so far.",
            StateKey::Proposal(txid("propose-add-org")),
            proposal(
                GovernanceChange::AddOrg {
                    org: slug("hooli"),
                    name: "Hooli".into(),
                    admin_key: testkit::public(4),
                },
                &["acme"],
                None,
            ),
        ),
        state(
            "proposal_add_node",
            "An executed proposal that added node 2 of globex as a learner.",
            StateKey::Proposal(txid("propose-add-node")),
            proposal(
                GovernanceChange::AddNode {
                    node: node(2, "globex", 201, false),
                },
                &["acme", "globex"],
                Some(5),
            ),
        ),
        state(
            "proposal_remove_node",
            "An executed proposal that removed node 3.",
            StateKey::Proposal(txid("propose-remove-node")),
            proposal(
                GovernanceChange::RemoveNode { node_id: 3 },
                &["acme", "initech"],
                Some(6),
            ),
        ),
        state(
            "proposal_update_params",
            "An open proposal of new chain parameters.",
            StateKey::Proposal(txid("propose-update-params")),
            proposal(
                GovernanceChange::UpdateParams {
                    params: ChainParams {
                        max_batch_codes: 10_000,
                        max_tx_validity_ms: 3_600_000,
                        proposal_ttl_ms: DAY,
                        max_sealed_code_bytes: 256,
                    },
                },
                &["globex"],
                None,
            ),
        ),
        state(
            "proposal_add_auditor",
            "An executed proposal that registered key(30) as a consortium auditor of initech.",
            StateKey::Proposal(txid("propose-add-auditor")),
            proposal(
                GovernanceChange::AddAuditor {
                    org: slug("initech"),
                    key: testkit::public(30),
                },
                &["acme", "globex", "initech"],
                Some(7),
            ),
        ),
    ]
}

fn pool_cases() -> Vec<Case> {
    vec![
        state(
            "pool_unique_draft",
            "Pool `spring` of acme in draft: 15 % off, every optional spec field set; 4 tokens issued, 3 allocated.",
            StateKey::Pool(slug("spring")),
            StateValue::Pool(PoolRecord {
                id: slug("spring"),
                owner: slug("acme"),
                spec: full_spec(),
                status: PoolStatus::Draft,
                created_at: 4,
                issued: 4,
                allocated: 3,
                redeemed: 1,
                next_free: 3,
                shared_code: None,
            }),
        ),
        state(
            "pool_shared_active",
            "Pool `summer` of acme, active: one shared code (`SUMMER10`, sealed with nonce 0), 10.00 USD off, no optional field.",
            StateKey::Pool(slug("summer")),
            StateValue::Pool(PoolRecord {
                id: slug("summer"),
                owner: slug("acme"),
                spec: shared_spec(),
                status: PoolStatus::Active,
                created_at: 5,
                issued: 0,
                allocated: 0,
                redeemed: 2,
                next_free: 0,
                shared_code: Some(shared_code()),
            }),
        ),
    ]
}

fn token_record(serial: u64, status: TokenStatus, member: Option<u64>) -> StateValue {
    let code = code_of("spring", serial);
    StateValue::Token(TokenRecord {
        code_hash: code.code_hash,
        sealed: code.sealed,
        status,
        owner: member.map(testkit::member),
        claim: member.map(|_| testkit::claim(serial)),
    })
}

fn token_cases() -> Vec<Case> {
    vec![
        state(
            "token_available",
            "Token `spring/0`: issued (code `SPRING-CODE-00000000`, sealed with nonce 0), not allocated.",
            StateKey::Token(token("spring", 0)),
            token_record(0, TokenStatus::Available, None),
        ),
        state(
            "token_allocated",
            "Token `spring/1`, allocated to member(7) with claim key claim(1).",
            StateKey::Token(token("spring", 1)),
            token_record(1, TokenStatus::Allocated, Some(7)),
        ),
        state(
            "token_redeemed",
            "Token `spring/2`, allocated to member(8) and redeemed by the tx `txid(\"redeem-spring-2\")`.",
            StateKey::Token(token("spring", 2)),
            token_record(
                2,
                TokenStatus::Redeemed {
                    redemption: txid("redeem-spring-2"),
                },
                Some(8),
            ),
        ),
        state(
            "token_revoked",
            "Token `spring/3`, revoked before it was allocated.",
            StateKey::Token(token("spring", 3)),
            token_record(3, TokenStatus::Revoked, None),
        ),
    ]
}

fn index_cases() -> Vec<Case> {
    vec![
        state(
            "code_unique",
            "The code-hash index entry of `SPRING-CODE-00000001`: token `spring/1`.",
            StateKey::Code(code_of("spring", 1).code_hash),
            StateValue::Code(CodeIndexEntry {
                pool: slug("spring"),
                serial: Some(1),
            }),
        ),
        state(
            "code_shared",
            "The index entry of the shared code `SUMMER10`: pool `summer`, no serial.",
            StateKey::Code(shared_code().code_hash),
            StateValue::Code(CodeIndexEntry {
                pool: slug("summer"),
                serial: None,
            }),
        ),
        state(
            "claim",
            "Claim key claim(1) in `spring` gave token serial 1.",
            StateKey::Claim(slug("spring"), testkit::claim(1)),
            StateValue::Claim(1),
        ),
        state(
            "member_allocations",
            "member(7) holds one allocation in `spring`.",
            StateKey::MemberAllocations(slug("spring"), testkit::member(7)),
            StateValue::Count(1),
        ),
        state(
            "member_redemptions",
            "member(9) has one redemption in force of `summer`'s shared code.",
            StateKey::MemberRedemptions(slug("summer"), testkit::member(9)),
            StateValue::Count(1),
        ),
    ]
}

fn redemption_cases() -> Vec<Case> {
    vec![
        state(
            "redemption_token",
            "The redemption of token `spring/2` by acme's terminal at `berlin-1`: 15 % of 100.00 EUR.",
            StateKey::Redemption(txid("redeem-spring-2")),
            StateValue::Redemption(RedemptionRecord {
                pool: slug("spring"),
                token: Some(token("spring", 2)),
                member: Some(testkit::member(8)),
                redeemer_org: slug("acme"),
                store: slug("berlin-1"),
                channel: slug("pos"),
                eligible_minor: 10_000,
                discount_minor: 1_500,
                height: 8,
                time_ms: GENESIS_MS + 8 * SECOND,
                rolled_back_at: None,
                checkout: None,
            }),
        ),
        state(
            "redemption_shared_rolled_back",
            "A redemption of `summer`'s shared code by member(9) at a globex web store, rolled back at height 10.",
            StateKey::Redemption(txid("redeem-summer")),
            StateValue::Redemption(RedemptionRecord {
                pool: slug("summer"),
                token: None,
                member: Some(testkit::member(9)),
                redeemer_org: slug("globex"),
                store: slug("globex-web"),
                channel: slug("web"),
                eligible_minor: 5_990,
                discount_minor: 1_000,
                height: 9,
                time_ms: GENESIS_MS + 9 * SECOND,
                rolled_back_at: Some(10),
                checkout: None,
            }),
        ),
        state(
            "redemption_checkout",
            "The second coupon of the checkout `txid(\"checkout-b1-000125\")` (token `spring/1` of member(7), after the shared code `WELCOME5`): 15 % of the 90.00 EUR eligible (the tobacco line is excluded), under the id derived from the checkout's and its place, 1. Only a void of the checkout undoes it.",
            StateKey::Redemption(checkout_redemption_id(checkout_id(), 1)),
            StateValue::Redemption(RedemptionRecord {
                pool: slug("spring"),
                token: Some(token("spring", 1)),
                member: Some(testkit::member(7)),
                redeemer_org: slug("acme"),
                store: slug("berlin-1"),
                channel: slug("pos"),
                eligible_minor: 9_000,
                discount_minor: 1_350,
                height: 12,
                time_ms: GENESIS_MS + 22 * DAY,
                rolled_back_at: None,
                checkout: Some(checkout_id()),
            }),
        ),
    ]
}

/// The checkout of order `berlin-1/2026-000125` (the tx vector `checkout` tells it).
fn checkout_id() -> TxId {
    txid("checkout-b1-000125")
}

/// When `txid("redeem-spring-2")`'s validity ends.
const EXPIRY_MS: u64 = GENESIS_MS + 8 * SECOND + 60 * SECOND;

fn replay_cases() -> Vec<Case> {
    vec![
        state(
            "seen_tx",
            "The tx `txid(\"redeem-spring-2\")` was executed; it is remembered until its `valid_until_ms` (node-local: not in the state tree).",
            StateKey::SeenTx(txid("redeem-spring-2")),
            StateValue::SeenTx(EXPIRY_MS),
        ),
        state(
            "remembered",
            "Block 2 remembered two tx ids, each with its `valid_until_ms`, in block order.",
            StateKey::Remembered(2),
            StateValue::Remembered(vec![
                (txid("allocate-spring-1"), EXPIRY_MS - 30 * SECOND),
                (txid("redeem-spring-2"), EXPIRY_MS),
            ]),
        ),
        state(
            "prune_cursor",
            "Forgotten up to (not including) the first id of block 2's `Remembered` entry.",
            StateKey::PruneCursor,
            StateValue::PruneCursor(2, 0),
        ),
    ]
}

/// The day (days since the Unix epoch) of a block time, as an account's earn log counts.
fn day(ms: u64) -> u32 {
    u32::try_from(ms / DAY).unwrap()
}

/// A lot of acme's program, made by the tx `txid(source)`.
fn lot(source: &str, segment: Segment, amount: u64, remaining: u64, earned_ms: u64) -> Lot {
    Lot {
        id: LotId {
            source: txid(source),
            index: 0,
        },
        segment,
        amount,
        remaining,
        earned_ms,
        spendable_from_ms: earned_ms,
        expires_ms: None,
        credited_by: slug("acme"),
    }
}

/// A 25.00 EUR gift loaded on 3 January 2026, 12 months' expiry: at the end of January 2027.
fn gift_lot() -> Lot {
    Lot {
        expires_ms: Some(GENESIS_MS + 396 * DAY),
        ..lot(
            "load-gift-2026-0001",
            Segment::Gift,
            2_500,
            2_500,
            GENESIS_MS + 2 * DAY,
        )
    }
}

/// A 50.00 EUR cash deposit loaded on 2 January 2026 (cash never expires).
fn cash_lot() -> Lot {
    lot(
        "load-psp-7f3a9c01",
        Segment::CashDeposit,
        5_000,
        5_000,
        GENESIS_MS + DAY,
    )
}

/// 120 points earned on 9 January 2026: pending for the program's 14 days, 24 months'
/// expiry (at the end of January 2028).
fn points_lot() -> Lot {
    let earned = GENESIS_MS + 8 * DAY;
    Lot {
        spendable_from_ms: earned + 14 * DAY,
        expires_ms: Some(GENESIS_MS + 761 * DAY),
        ..lot("earn-b1-000123", Segment::Mileage, 120, 120, earned)
    }
}

/// member(7)'s account: two lots (points still pending; a gift, with an expiry, partly
/// spent), the earn log of two days, a tier held in its grace period (with the threshold it
/// had when reached), and two reviews counted against the `review` rule's limit.
fn member_account() -> Account {
    let gift = Lot {
        remaining: 1_000,
        ..gift_lot()
    };
    let points = points_lot();
    Account {
        lots: [(gift.id, gift), (points.id, points)].into_iter().collect(),
        earned_by_day: [(day(GENESIS_MS), 1_150), (day(GENESIS_MS + 8 * DAY), 120)]
            .into_iter()
            .collect(),
        last_activity_ms: GENESIS_MS + 20 * DAY,
        tier: TierState {
            index: 1,
            below_since_ms: Some(GENESIS_MS + 20 * DAY),
            held_min_points: 1_000,
        },
        engagements: [(
            "review".to_string(),
            vec![GENESIS_MS + 15 * DAY, GENESIS_MS + 19 * DAY],
        )]
        .into_iter()
        .collect(),
    }
}

fn movement(member: u64, by_org: &str, store: Option<&str>, kind: MovementKind) -> Movement {
    Movement {
        program: slug("acme"),
        member: testkit::member(member),
        by_org: slug(by_org),
        store: store.map(slug),
        kind,
        voided: false,
    }
}

fn adjustment(
    member: u64,
    segment: Segment,
    amount: u64,
    reason: AdjustReason,
    note: &str,
) -> AdjustmentRecord {
    AdjustmentRecord {
        program: slug("acme"),
        member: testkit::member(member),
        segment,
        direction: Direction::Credit,
        amount,
        reason,
        note: note.into(),
        maker: testkit::public(1),
        requested_ms: GENESIS_MS + 10 * DAY,
        status: AdjustmentStatus::Pending,
        checker: None,
    }
}

/// The withdrawal asked for on 24 January 2026 (the tx vector `request_withdrawal` tells
/// one): 20.00 EUR of member(7)'s cash deposit, by acme's issuer, key(10).
fn withdrawal_id() -> TxId {
    txid("withdraw-deposit-return-0042")
}

fn withdrawal(status: WithdrawalStatus) -> WithdrawalRecord {
    WithdrawalRecord {
        program: slug("acme"),
        member: testkit::member(7),
        segment: Segment::CashDeposit,
        amount: 2_000,
        reference: "deposit-return/2026-0042".into(),
        requested_by: testkit::public(10),
        requested_ms: GENESIS_MS + 23 * DAY,
        allocation: Allocation(vec![Draw {
            lot: cash_lot(),
            amount: 2_000,
        }]),
        status,
    }
}

/// The engagements of the tx vectors `engage_review` and `engage_referral`: a review of
/// member(7) and member(7)'s referral of member(8), by acme's issuer.
fn review_id() -> TxId {
    txid("engage-review-000311")
}

fn referral_id() -> TxId {
    txid("engage-referral-7-8")
}

fn loyalty_cases() -> Vec<Case> {
    let segments = |entries: &[(Segment, u64)]| -> BTreeMap<Segment, u64> {
        entries.iter().copied().collect()
    };
    vec![
        state(
            "program",
            "acme's loyalty program, set in block 3 and changed once since (version 2): the testkit's `program_spec` (at checkout coupons take at most 50.00 EUR off an order and a point pays 0.01 EUR; engagement rules `referral`, 500 points and 250 to the referred member, and `review`, 50 points at most 3 times in 30 days), with the coupons of pool `summer` not combinable with a balance spend, points earned on an order pending until a `release_points` (or 14 days) and tiers kept on rule changes.",
            StateKey::Program(slug("acme")),
            StateValue::Program(ProgramRecord {
                org: slug("acme"),
                spec: {
                    let spec = testkit::program_spec();
                    ProgramSpec {
                        checkout: CheckoutRules {
                            not_combinable_pools: vec![slug("summer")],
                            ..spec.checkout
                        },
                        earn: EarnRule {
                            release_on_event: true,
                            ..spec.earn
                        },
                        tiers: TierPolicy {
                            keep_on_rule_change: true,
                            ..spec.tiers
                        },
                        ..spec
                    }
                },
                version: 2,
                updated_ms: GENESIS_MS + 9 * SECOND,
            }),
        ),
        state(
            "account",
            "member(7)'s account in acme's program: two lots in id order (120 points earned on 9 January 2026, pending for 14 days; a 25.00 EUR gift with 10.00 EUR left, expiring at the end of January 2027), the earn log (points per day since the epoch: 1,150 on 1 January, 120 on 9 January) the tier, silver (index 1), which the member fell below on 21 January (the grace period runs from there), reached when its threshold was 1,000 points, and the times of two reviews (16 and 20 January) that count against the `review` rule's limit. In JSON the lots are a list; in the bytes a map from each lot's id to the lot. `engagements` is a map from the action (a string, ordered by its bytes) to the times.",
            StateKey::Account(slug("acme"), testkit::member(7)),
            StateValue::Account(member_account()),
        ),
        state(
            "liability",
            "What acme's program owes its members: 35.00 EUR of cash deposits, 15.00 EUR of gift balances and 6,205 points (a segment at 0 is left out).",
            StateKey::Liability(slug("acme")),
            StateValue::Liability(Liability {
                by_segment: segments(&[
                    (Segment::CashDeposit, 3_500),
                    (Segment::Gift, 1_500),
                    (Segment::Mileage, 6_205),
                ]),
            }),
        ),
        state(
            "settlement",
            "Between acme's program and its partner globex: globex's terminals credited 85 points (globex owes them to acme), and members spent 12.00 EUR of cash deposit and 3.00 EUR of gift at globex (acme owes them to globex).",
            StateKey::Settlement(slug("acme"), slug("globex")),
            StateValue::Settlement(Settlement {
                credited: segments(&[(Segment::Mileage, 85)]),
                spent: segments(&[(Segment::CashDeposit, 1_200), (Segment::Gift, 300)]),
            }),
        ),
        state(
            "movement_earn",
            "The earn by the tx `txid(\"earn-b1-000123\")`: 120 points on order `berlin-1/2026-000123` for member(7), by acme's terminal at `berlin-1`, one lot (the tx's id, index 0).",
            StateKey::Movement(txid("earn-b1-000123")),
            StateValue::Movement(movement(
                7,
                "acme",
                Some("berlin-1"),
                MovementKind::Earn {
                    lot: points_lot().id,
                    points: 120,
                    order_ref: "berlin-1/2026-000123".into(),
                },
            )),
        ),
        state(
            "movement_load_voided",
            "The load of a 50.00 EUR cash deposit by `txid(\"load-psp-7f3a9c01\")`, voided since (a second void is refused).",
            StateKey::Movement(txid("load-psp-7f3a9c01")),
            StateValue::Movement(Movement {
                voided: true,
                ..movement(
                    7,
                    "acme",
                    Some("berlin-1"),
                    MovementKind::Load {
                        lot: cash_lot().id,
                        segment: Segment::CashDeposit,
                        amount: 5_000,
                    },
                )
            }),
        ),
        state(
            "movement_spend_partner",
            "A spend of 15.00 EUR by member(7) at globex's web store (a partner of acme's program): the gift lot first (spend priority 1), then the cash-deposit lot, each draw with the lot as it was before it.",
            StateKey::Movement(txid("spend-globex-0042")),
            StateValue::Movement(movement(
                7,
                "globex",
                Some("globex-web"),
                MovementKind::Spend {
                    allocation: Allocation(vec![
                        Draw {
                            lot: gift_lot(),
                            amount: 300,
                        },
                        Draw {
                            lot: cash_lot(),
                            amount: 1_200,
                        },
                    ]),
                },
            )),
        ),
        state(
            "movement_checkout",
            "The checkout `txid(\"checkout-b1-000125\")` of order `berlin-1/2026-000125` (100.00 EUR) for member(7) at acme's `berlin-1`, on 23 January 2026: its two redemptions (ids derived from the checkout's, places 0 and 1: 5.00 and 13.50 EUR off), 100 points drawn from the points lot (1.00 EUR at the program's point value), and 100 points earned on the 80.50 EUR left (80 points, × 1.25 for tier silver) in a new lot (the checkout's id, index 0).",
            StateKey::Movement(checkout_id()),
            StateValue::Movement(movement(
                7,
                "acme",
                Some("berlin-1"),
                MovementKind::Checkout {
                    redemptions: vec![
                        checkout_redemption_id(checkout_id(), 0),
                        checkout_redemption_id(checkout_id(), 1),
                    ],
                    allocation: Allocation(vec![Draw {
                        lot: points_lot(),
                        amount: 100,
                    }]),
                    earned: Some((
                        LotId {
                            source: checkout_id(),
                            index: 0,
                        },
                        100,
                    )),
                    order_ref: "berlin-1/2026-000125".into(),
                },
            )),
        ),
        state(
            "movement_transfer",
            "acme's issuer moved 100 points from member(7) to member(8) (no store: not a terminal's tx) once the points lot was spendable: drawn from it, credited to member(8) as a new lot (the transfer's id, index 0) with the same expiry.",
            StateKey::Movement(txid("transfer-7-to-8")),
            StateValue::Movement(movement(
                7,
                "acme",
                None,
                MovementKind::Transfer {
                    to: testkit::member(8),
                    allocation: Allocation(vec![Draw {
                        lot: points_lot(),
                        amount: 100,
                    }]),
                    lots: vec![LotId {
                        source: txid("transfer-7-to-8"),
                        index: 0,
                    }],
                },
            )),
        ),
        state(
            "movement_engagement_review",
            "The engagement `txid(\"engage-review-000311\")` (the tx vector `engage_review` tells one): 50 points to member(7) for the review `review/2026-000311`, by acme's issuer (no store), in one lot (the tx's id, index 0); not a referral.",
            StateKey::Movement(review_id()),
            StateValue::Movement(movement(
                7,
                "acme",
                None,
                MovementKind::Engagement {
                    action: "review".into(),
                    reference: "review/2026-000311".into(),
                    lot: LotId {
                        source: review_id(),
                        index: 0,
                    },
                    points: 50,
                    referred: None,
                },
            )),
        ),
        state(
            "movement_engagement_referral",
            "member(7)'s referral of member(8) (the tx vector `engage_referral` tells one): 500 points to member(7) in the tx's lot 0, and 250 to member(8) in lot 1 (`referred`: a triple, the member, the lot and the points). The reference is member(8)'s id in hex.",
            StateKey::Movement(referral_id()),
            StateValue::Movement(movement(
                7,
                "acme",
                None,
                MovementKind::Engagement {
                    action: "referral".into(),
                    reference: testkit::member(8).to_hex(),
                    lot: LotId {
                        source: referral_id(),
                        index: 0,
                    },
                    points: 500,
                    referred: Some((
                        testkit::member(8),
                        LotId {
                            source: referral_id(),
                            index: 1,
                        },
                        250,
                    )),
                },
            )),
        ),
        state(
            "adjustment_pending",
            "acme's admin key(1) asked to credit member(8) 6,000 points as a goodwill gesture: above the program's threshold, it waits for a second admin.",
            StateKey::Adjustment(txid("adjust-goodwill-8")),
            StateValue::Adjustment(adjustment(
                8,
                Segment::Mileage,
                6_000,
                AdjustReason::Goodwill,
                "flight delay on 2026-03-12, apology",
            )),
        ),
        state(
            "adjustment_applied",
            "A migration credit of 75.00 EUR of gift balance to member(9), asked for by key(1) and approved by a second acme admin, key(5) (the checker).",
            StateKey::Adjustment(txid("adjust-migration-9")),
            StateValue::Adjustment(AdjustmentRecord {
                status: AdjustmentStatus::Applied,
                checker: Some(testkit::public(5)),
                ..adjustment(
                    9,
                    Segment::Gift,
                    7_500,
                    AdjustReason::Migration,
                    "balance carried over from the old card system",
                )
            }),
        ),
        state(
            "earned_order",
            "Order `berlin-1/2026-000123` of acme (the selling org) earned points in the tx `txid(\"earn-b1-000123\")`: it cannot earn again.",
            StateKey::EarnedOrder(slug("acme"), "berlin-1/2026-000123".into()),
            StateValue::EarnedOrder(txid("earn-b1-000123")),
        ),
        state(
            "withdrawal_requested",
            "acme's issuer, key(10), asked on 24 January 2026 to pay 20.00 EUR of member(7)'s cash deposit back out (the member's form `deposit-return/2026-0042`): drawn at once from the cash-deposit lot (the draw keeps the lot as it was, to credit it back on a rejection), held until an admin other than key(10) approves it. The key is the request tx's id.",
            StateKey::Withdrawal(withdrawal_id()),
            StateValue::Withdrawal(withdrawal(WithdrawalStatus::Requested)),
        ),
        state(
            "withdrawal_paid",
            "The same withdrawal once approved by acme's admin key(1) and recorded as paid by the issuer on 26 January 2026, with the bank transfer's reference (a status with fields; `approved_by` keeps the approver).",
            StateKey::Withdrawal(withdrawal_id()),
            StateValue::Withdrawal(withdrawal(WithdrawalStatus::Paid {
                approved_by: testkit::public(1),
                payment: "sepa-2026-03-000917".into(),
                paid_ms: GENESIS_MS + 25 * DAY,
            })),
        ),
        state(
            "engagement_review",
            "The review `review/2026-000311` earned acme's `review` points in the tx `txid(\"engage-review-000311\")`: it cannot earn again, also after a void (the key is the program's org, the action and the reference).",
            StateKey::Engagement(slug("acme"), "review".into(), "review/2026-000311".into()),
            StateValue::Engagement(review_id()),
        ),
        state(
            "engagement_referral",
            "member(8) was referred under acme's `referral` rule in the tx `txid(\"engage-referral-7-8\")`: the reference of a referral is the referred member's id in hex, so each member is referred once per action.",
            StateKey::Engagement(slug("acme"), "referral".into(), testkit::member(8).to_hex()),
            StateValue::Engagement(referral_id()),
        ),
    ]
}

/// The code `SPRING-CODE-00000001`'s hash (the tx vectors `place_hold_code` and
/// `review_hold_lift` name it).
fn held_code() -> CodeHash {
    code_of("spring", 1).code_hash
}

/// When the checkout `txid("checkout-b1-000125")` redeemed `spring/1` (the velocity
/// counters' latest time).
const CHECKOUT_MS: u64 = GENESIS_MS + 22 * DAY;
const MINUTE: u64 = 60 * SECOND;

fn hold_cases() -> Vec<Case> {
    let hold = |target| StateKey::Hold(slug("acme"), target);
    let velocity = |key| StateKey::Velocity(slug("spring"), key);
    vec![
        state(
            "hold_member_confirmed",
            "acme's hold on member(9): placed by its risk key, key(40), for `velocity` on 24 January 2026 (pending review), then confirmed by its admin key(1) (the tx vectors `place_hold_member` and `review_hold_confirm` tell them). The key is the org and the target, `{\"kind\": \"member\", \"id\": …}` in JSON.",
            hold(HoldTarget::Member(testkit::member(9))),
            StateValue::Hold(HoldRecord {
                reason: HoldReason::Velocity,
                note: "score 0.97: 14 redemptions in 10 min at 3 stores".into(),
                placed_by: testkit::public(40),
                placed_tx: txid("place-hold-member-9"),
                placed_ms: GENESIS_MS + 23 * DAY,
                status: HoldStatus::Confirmed,
                confirmed_by: Some(testkit::public(1)),
            }),
        ),
        state(
            "hold_terminal",
            "acme's hold on its terminal key(20) for `collusion`, placed by its admin key(1): in force at once (`confirmed`), without a review (`confirmed_by` is `None`).",
            hold(HoldTarget::Terminal(testkit::public(20))),
            StateValue::Hold(HoldRecord {
                reason: HoldReason::Collusion,
                note: "redeems for others: staff ticket 5521".into(),
                placed_by: testkit::public(1),
                placed_tx: txid("place-hold-terminal-20"),
                placed_ms: GENESIS_MS + 24 * DAY,
                status: HoldStatus::Confirmed,
                confirmed_by: None,
            }),
        ),
        state(
            "hold_code_pending",
            "acme's hold on the code `SPRING-CODE-00000001` (by its hash) for `leakage`, placed by its risk key with the note of the tx vector `place_hold_code`: pending an admin's review, and stopping the code meanwhile. A lift deletes the record.",
            hold(HoldTarget::Code(held_code())),
            StateValue::Hold(HoldRecord {
                reason: HoldReason::Leakage,
                note: HELD_CODE_NOTE.into(),
                placed_by: testkit::public(40),
                placed_tx: txid("place-hold-code-1"),
                placed_ms: GENESIS_MS + 24 * DAY + 5 * MINUTE,
                status: HoldStatus::PendingReview,
                confirmed_by: None,
            }),
        ),
        state(
            "velocity_member",
            "The redemption times of pool `spring` by member(7), for its velocity limit of 3 per member a day (`{\"kind\": \"member\", \"id\": …}`): two, oldest first, the last the checkout's of 23 January 2026. A counter keeps at most the largest `max` of its scope's limits, and drops times older than their longest window when the next redemption is counted.",
            velocity(VelocityKey::Member(testkit::member(7))),
            StateValue::Velocity(vec![CHECKOUT_MS - 60 * MINUTE, CHECKOUT_MS]),
        ),
        state(
            "velocity_terminal",
            "The redemption times of `spring` by acme's terminal key(20), for the limit of 30 per terminal an hour: three within the last 20 minutes.",
            velocity(VelocityKey::Terminal(testkit::public(20))),
            StateValue::Velocity(vec![
                CHECKOUT_MS - 20 * MINUTE,
                CHECKOUT_MS - 5 * MINUTE,
                CHECKOUT_MS,
            ]),
        ),
        state(
            "velocity_store",
            "The redemption times of `spring` at acme's store `berlin-1`, for the limit of 500 per store a day: the key names the redeeming terminal's org, then its store (two strings, `{\"kind\": \"store\", \"id\": [\"acme\", \"berlin-1\"]}` in JSON), so a partner's store of the same name counts apart.",
            velocity(VelocityKey::Store(slug("acme"), slug("berlin-1"))),
            StateValue::Velocity(vec![
                CHECKOUT_MS - 3 * 60 * MINUTE,
                CHECKOUT_MS - 20 * MINUTE,
                CHECKOUT_MS - 5 * MINUTE,
                CHECKOUT_MS,
            ]),
        ),
    ]
}

fn member_cases() -> Vec<Case> {
    vec![state(
        "member_known",
        "acme knows member(9) from height 7, the block of the first value of acme's that was theirs (a coupon of one of its pools allocated or transferred to them or redeemed for them, or a balance in its program): so acme may hold them (the state vector `hold_member_confirmed`). The key is the org and the member; the record is written once and never changes.",
        StateKey::Member(slug("acme"), testkit::member(9)),
        StateValue::Member(MemberRecord { first_seen: 7 }),
    )]
}

fn consent_text_hash() -> Hash32 {
    Hash32(*blake3::hash(b"marketing consent v3").as_bytes())
}

fn consent_cases() -> Vec<Case> {
    vec![
        state(
            "consent_marketing_granted",
            "acme's latest record of member(9)'s decision on `marketing`: granted at height 12 (block time 12 s after genesis), after being shown the consent text whose blake3 hash is kept (here of the bytes `marketing consent v3`, the tx vector `record_consent_grant`). The key is the org that keeps the record, the member and the purpose; each `record_consent` replaces the record (the log keeps every decision). A pool or a program of acme requiring `marketing` allocates or credits member(9) only while `granted` is `true`.",
            StateKey::Consent(slug("acme"), testkit::member(9), Purpose::Marketing),
            StateValue::Consent(ConsentRecord {
                granted: true,
                text_hash: consent_text_hash(),
                at_ms: GENESIS_MS + 12 * SECOND,
                height: 12,
            }),
        ),
        state(
            "consent_partner_withdrawn",
            "acme's record of member(9)'s decision on sharing with globex (`PartnerSharing`, index 2, with the partner's `OrgId`): withdrawn at height 14. A pool of acme requiring `partner_sharing` with globex refuses to allocate to member(9) (`consent_required`).",
            StateKey::Consent(
                slug("acme"),
                testkit::member(9),
                Purpose::PartnerSharing(slug("globex")),
            ),
            StateValue::Consent(ConsentRecord {
                granted: false,
                text_hash: Hash32(*blake3::hash(b"partner sharing consent v1").as_bytes()),
                at_ms: GENESIS_MS + 14 * SECOND,
                height: 14,
            }),
        ),
        state(
            "erasure_receipt",
            "acme's erasure receipt for member(9): acme erased the member's personal data off the chain and recorded it at height 15. Written once, never changed; acme gives member(9) nothing new afterwards (`member_erased`), and everything already on the ledger stays.",
            StateKey::Erasure(slug("acme"), testkit::member(9)),
            StateValue::Erasure(ErasureRecord {
                at_ms: GENESIS_MS + 15 * SECOND,
                height: 15,
            }),
        ),
    ]
}

fn consent_events() -> Vec<Case> {
    vec![
        event(
            "event_consent_recorded",
            "acme recorded member(9)'s consent to `marketing` (`decision` granted: a `consent.granted` ledger event; withdrawn: `consent.withdrawn`), with the hash of the text shown. No personal data: the member id, the purpose and the hash.",
            Event::ConsentRecorded {
                org: slug("acme"),
                member: testkit::member(9),
                purpose: Purpose::Marketing,
                decision: ConsentDecision::Granted,
                text_hash: consent_text_hash(),
            },
        ),
        event(
            "event_member_erased",
            "acme recorded the erasure of member(9)'s personal data (a `member.erased` ledger event).",
            Event::MemberErased {
                org: slug("acme"),
                member: testkit::member(9),
            },
        ),
    ]
}

fn event(name: &'static str, about: &'static str, event: Event) -> Case {
    Case {
        name,
        about,
        item: Item::Event(event),
    }
}

fn key_events() -> Vec<Case> {
    vec![
        event(
            "event_key_registered",
            "acme registered key(20) as a terminal.",
            Event::KeyRegistered {
                key: testkit::public(20),
                org: slug("acme"),
                role: Role::Terminal {
                    store: slug("berlin-1"),
                    channel: slug("pos"),
                },
            },
        ),
        event(
            "event_key_revoked",
            "key(20) was revoked.",
            Event::KeyRevoked {
                key: testkit::public(20),
            },
        ),
        event(
            "event_proposal_opened",
            "A proposal was opened with its proposer's approval; 2 of 3 orgs are needed.",
            Event::ProposalOpened {
                proposal: txid("propose-add-org"),
                approvals: 1,
                needed: 2,
            },
        ),
        event(
            "event_proposal_approved",
            "A second org approved it.",
            Event::ProposalApproved {
                proposal: txid("propose-add-org"),
                approvals: 2,
                needed: 2,
            },
        ),
        event(
            "event_governance_applied",
            "The quorum was reached: node 3 is removed (a change nested in the event).",
            Event::GovernanceApplied {
                proposal: txid("propose-remove-node"),
                change: GovernanceChange::RemoveNode { node_id: 3 },
            },
        ),
    ]
}

fn pool_events() -> Vec<Case> {
    vec![
        event(
            "event_pool_created",
            "Pool `spring` was created in draft.",
            Event::PoolCreated {
                pool: slug("spring"),
            },
        ),
        event(
            "event_pool_updated",
            "The spec of draft pool `spring` was replaced.",
            Event::PoolUpdated {
                pool: slug("spring"),
            },
        ),
        event(
            "event_pool_status_changed",
            "Pool `spring` went from draft to active.",
            Event::PoolStatusChanged {
                pool: slug("spring"),
                from: PoolStatus::Draft,
                to: PoolStatus::Active,
            },
        ),
        event(
            "event_codes_issued",
            "Two codes were issued into `spring`: serials 2 and 3.",
            Event::CodesIssued {
                pool: slug("spring"),
                first_serial: 2,
                count: 2,
            },
        ),
    ]
}

fn token_events() -> Vec<Case> {
    vec![
        event(
            "event_allocated",
            "Token `spring/1` was allocated to member(7) (a first use of the claim key).",
            Event::Allocated {
                token: token("spring", 1),
                member: testkit::member(7),
                repeat: false,
            },
        ),
        event(
            "event_redeemed",
            "Token `spring/2` was redeemed: 15.00 EUR off an eligible 100.00 EUR.",
            Event::Redeemed {
                redemption: txid("redeem-spring-2"),
                pool: slug("spring"),
                token: Some(token("spring", 2)),
                member: Some(testkit::member(8)),
                eligible_minor: 10_000,
                discount_minor: 1_500,
                currency: Currency(*b"EUR"),
            },
        ),
        event(
            "event_rolled_back",
            "A redemption of `summer`'s shared code was rolled back (no token).",
            Event::RolledBack {
                redemption: txid("redeem-summer"),
                pool: slug("summer"),
                token: None,
            },
        ),
        event(
            "event_token_revoked",
            "Token `spring/3` was revoked.",
            Event::TokenRevoked {
                token: token("spring", 3),
            },
        ),
        event(
            "event_token_transferred",
            "Token `spring/1` moved from member(7) to member(8).",
            Event::TokenTransferred {
                token: token("spring", 1),
                from: testkit::member(7),
                to: testkit::member(8),
            },
        ),
        event(
            "event_program_set",
            "acme's loyalty program was changed: it is at version 2.",
            Event::ProgramSet {
                org: slug("acme"),
                version: 2,
            },
        ),
    ]
}

fn loyalty_events() -> Vec<Case> {
    let balance = |op, segment, credit, amount| Event::BalanceChanged {
        program: slug("acme"),
        member: testkit::member(7),
        op,
        segment,
        credit,
        amount,
    };
    vec![
        event(
            "event_balance_earned",
            "member(7) earned 120 points in acme's program (`credit`: the balance went up).",
            balance(BalanceOp::Earned, Segment::Mileage, true, 120),
        ),
        event(
            "event_balance_spent",
            "member(7) spent 3.00 EUR of gift balance (one event per segment a tx moves).",
            balance(BalanceOp::Spent, Segment::Gift, false, 300),
        ),
        event(
            "event_adjustment_requested",
            "An adjustment of member(8)'s balance waits for a second admin; its id is the adjust tx's.",
            Event::AdjustmentRequested {
                adjustment: txid("adjust-goodwill-8"),
                program: slug("acme"),
                member: testkit::member(8),
            },
        ),
        event(
            "event_adjustment_rejected",
            "A second admin refused a pending adjustment of member(9)'s balance; nothing changed.",
            Event::AdjustmentRejected {
                adjustment: txid("adjust-correction-9"),
                program: slug("acme"),
                member: testkit::member(9),
            },
        ),
        event(
            "event_checked_out",
            "The summary of the checkout `txid(\"checkout-b1-000125\")`, after its coupons' `redeemed` and its balance events: 100.00 EUR, 18.50 EUR off from two coupons, 1.00 EUR paid with points, 80.50 EUR left to pay, 100 points earned.",
            Event::CheckedOut {
                checkout: checkout_id(),
                program: slug("acme"),
                member: testkit::member(7),
                currency: Currency(*b"EUR"),
                total_minor: 10_000,
                discount_minor: 1_850,
                balance_minor: 100,
                net_minor: 8_050,
                points: 100,
            },
        ),
        event(
            "event_checkout_voided",
            "The checkout was voided as a whole (its coupons' `rolled_back`, the points taken back and the spend refunded come before this event).",
            Event::CheckoutVoided {
                checkout: checkout_id(),
                program: slug("acme"),
                member: testkit::member(7),
            },
        ),
        event(
            "event_tier_changed",
            "member(7) moved from tier `silver` to `gold` (the tiers' names in the program).",
            Event::TierChanged {
                program: slug("acme"),
                member: testkit::member(7),
                from: "silver".into(),
                to: "gold".into(),
            },
        ),
        event(
            "event_withdrawal_changed",
            "The withdrawal of 20.00 EUR asked for member(7) was approved (its status now; the request's `balance_changed` with op `withdrawn`, or a rejection's `refunded`, comes before this event in its tx).",
            Event::WithdrawalChanged {
                withdrawal: withdrawal_id(),
                program: slug("acme"),
                member: testkit::member(7),
                amount: 2_000,
                status: "approved".into(),
            },
        ),
        event(
            "event_points_released",
            "The 120 points the earn `txid(\"earn-b1-000123\")` left pending for member(7) became spendable: a `release_points` tx named the earn (the order was delivered). `source` is the earn's (or checkout's) tx id, `points` what its lot holds.",
            Event::PointsReleased {
                source: txid("earn-b1-000123"),
                program: slug("acme"),
                member: testkit::member(7),
                points: 120,
            },
        ),
    ]
}

fn hold_events() -> Vec<Case> {
    vec![
        event(
            "event_hold_placed",
            "acme's risk key put member(9) on hold for `velocity`: `pending_review` (an org admin's hold is in force at once, `false`).",
            Event::HoldPlaced {
                org: slug("acme"),
                target: HoldTarget::Member(testkit::member(9)),
                reason: HoldReason::Velocity,
                pending_review: true,
            },
        ),
        event(
            "event_hold_confirmed",
            "acme's admin confirmed the hold on member(9) (a label for the fraud engine: fraud).",
            Event::HoldConfirmed {
                org: slug("acme"),
                target: HoldTarget::Member(testkit::member(9)),
            },
        ),
        event(
            "event_hold_lifted",
            "acme's admin lifted the hold on the code `SPRING-CODE-00000001` while it was still pending review (`was_pending`: a label, not fraud); `reason` is why it had been placed.",
            Event::HoldLifted {
                org: slug("acme"),
                target: HoldTarget::Code(held_code()),
                reason: HoldReason::Leakage,
                was_pending: true,
            },
        ),
    ]
}

fn redeemed_event() -> Event {
    token_events()
        .into_iter()
        .find_map(|c| match c.item {
            Item::Event(e @ Event::Redeemed { .. }) => Some(e),
            _ => None,
        })
        .expect("the fixture has a redeemed event")
}

fn applied() -> TxOutcome {
    TxOutcome::Applied {
        events: vec![redeemed_event()],
    }
}

fn rejected() -> TxOutcome {
    TxOutcome::Rejected {
        rejection: Rejection::new(
            RejectReason::AlreadyRedeemed,
            "token spring/2 was redeemed by the tx redeem-spring-2",
        ),
    }
}

fn outcome_cases() -> Vec<Case> {
    let result = |name, about, tx_id, outcome| Case {
        name,
        about,
        item: Item::Result(TxResult { tx_id, outcome }),
    };
    let leaf = |name, about, tx_id, height, index, outcome| Case {
        name,
        about,
        item: Item::Leaf(HistoryLeaf {
            tx_id,
            height,
            index,
            outcome,
        }),
    };
    vec![
        result(
            "result_applied",
            "The result of the redeem tx `txid(\"redeem-spring-2\")`: applied with one event.",
            txid("redeem-spring-2"),
            applied(),
        ),
        result(
            "result_applied_no_events",
            "An applied tx without events.",
            txid("no-events"),
            TxOutcome::Applied { events: vec![] },
        ),
        result(
            "result_rejected",
            "A second redemption of the same token, rejected.",
            txid("redeem-spring-2-again"),
            rejected(),
        ),
        leaf(
            "history_leaf_applied",
            "The log leaf of `result_applied`: block 8, first tx.",
            txid("redeem-spring-2"),
            8,
            0,
            applied(),
        ),
        leaf(
            "history_leaf_rejected",
            "The log leaf of `result_rejected`: block 9, third tx.",
            txid("redeem-spring-2-again"),
            9,
            2,
            rejected(),
        ),
    ]
}

/// Every vector, in document order.
fn cases() -> Vec<Case> {
    [
        key_cases(),
        proposal_cases(),
        pool_cases(),
        token_cases(),
        index_cases(),
        redemption_cases(),
        replay_cases(),
        loyalty_cases(),
        hold_cases(),
        member_cases(),
        consent_cases(),
        key_events(),
        pool_events(),
        token_events(),
        loyalty_events(),
        hold_events(),
        consent_events(),
        outcome_cases(),
    ]
    .concat()
}

// ---- a second encoder, written from the document's tables alone ------------------------

/// `path.field`.
fn at(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

impl Hand {
    fn orgs(&mut self, orgs: &[OrgId], path: &str) {
        self.vec(orgs, path, |h, o, q| h.string(o.as_str(), q));
    }
}

// The shared types of the tx part of the document.
impl Hand {
    fn token(&mut self, t: &TokenId, path: &str) {
        self.string(t.pool.as_str(), &at(path, "pool"));
        self.u64(t.serial, &at(path, "serial"));
    }
    fn role(&mut self, r: &Role, path: &str) {
        match r {
            Role::OrgAdmin => self.variant(0, "OrgAdmin", path),
            Role::Issuer => self.variant(1, "Issuer", path),
            Role::Terminal { store, channel } => {
                self.variant(2, "Terminal", path);
                self.string(store.as_str(), &at(path, "store"));
                self.string(channel.as_str(), &at(path, "channel"));
            }
            Role::Auditor => self.variant(3, "Auditor", path),
            Role::Partner => self.variant(4, "Partner", path),
            Role::Risk => self.variant(5, "Risk", path),
        }
    }
    fn node(&mut self, n: &NodeRecord, path: &str) {
        self.u64(n.node_id, &at(path, "node_id"));
        self.string(n.org.as_str(), &at(path, "org"));
        self.array(&n.node_key.0, &at(path, "node_key"));
        self.string(&n.p2p_addr, &at(path, "p2p_addr"));
        self.boolean(n.voter, &at(path, "voter"));
    }
    fn params(&mut self, p: &ChainParams, path: &str) {
        self.u32(p.max_batch_codes, &at(path, "max_batch_codes"));
        self.u64(p.max_tx_validity_ms, &at(path, "max_tx_validity_ms"));
        self.u64(p.proposal_ttl_ms, &at(path, "proposal_ttl_ms"));
        self.u32(p.max_sealed_code_bytes, &at(path, "max_sealed_code_bytes"));
    }
    fn change(&mut self, c: &GovernanceChange, path: &str) {
        match c {
            GovernanceChange::AddOrg {
                org,
                name,
                admin_key,
            } => {
                self.variant(0, "AddOrg", path);
                self.string(org.as_str(), &at(path, "org"));
                self.string(name, &at(path, "name"));
                self.array(&admin_key.0, &at(path, "admin_key"));
            }
            GovernanceChange::AddNode { node } => {
                self.variant(1, "AddNode", path);
                self.node(node, &at(path, "node"));
            }
            GovernanceChange::RemoveNode { node_id } => {
                self.variant(2, "RemoveNode", path);
                self.u64(*node_id, &at(path, "node_id"));
            }
            GovernanceChange::UpdateParams { params } => {
                self.variant(3, "UpdateParams", path);
                self.params(params, &at(path, "params"));
            }
            GovernanceChange::AddAuditor { org, key } => {
                self.variant(4, "AddAuditor", path);
                self.string(org.as_str(), &at(path, "org"));
                self.array(&key.0, &at(path, "key"));
            }
        }
    }
    fn issued_code(&mut self, c: &IssuedCode, path: &str) {
        self.array(&c.code_hash.0, &at(path, "code_hash"));
        self.sealed(&c.sealed, &at(path, "sealed"));
    }
    fn sealed(&mut self, s: &SealedCode, path: &str) {
        self.len(s.0.len(), path, "length");
        self.raw(&s.0, format!("{path}: nonce ‖ ciphertext ‖ tag"));
    }
    fn spec(&mut self, s: &PoolSpec, path: &str) {
        let p = |f: &str| at(path, f);
        self.string(&s.name, &p("name"));
        match s.kind {
            PoolKind::UniqueCodes => self.variant(0, "UniqueCodes", &p("kind")),
            PoolKind::SharedCode => self.variant(1, "SharedCode", &p("kind")),
        }
        self.currency(&s.currency, &p("currency"));
        match s.discount {
            Discount::Percent { bps } => {
                self.variant(0, "Percent", &p("discount"));
                self.u32(bps, &p("discount.bps"));
            }
            Discount::Fixed { amount_minor } => {
                self.variant(1, "Fixed", &p("discount"));
                self.u64(amount_minor, &p("discount.amount_minor"));
            }
        }
        let max = p("max_discount_minor");
        self.option(&s.max_discount_minor, &max, |h, v| h.u64(*v, &max));
        self.u64(s.min_spend_minor, &p("min_spend_minor"));
        self.u64(s.valid_from_ms, &p("valid_from_ms"));
        self.u64(s.valid_until_ms, &p("valid_until_ms"));
        self.u64(s.total_cap, &p("total_cap"));
        self.u32(s.per_member_cap, &p("per_member_cap"));
        self.vec(&s.allowed_channels, &p("allowed_channels"), |h, c, q| {
            h.string(c.as_str(), q)
        });
        self.vec(&s.allowed_stores, &p("allowed_stores"), |h, c, q| {
            h.string(c.as_str(), q)
        });
        self.vec(
            &s.excluded_categories,
            &p("excluded_categories"),
            |h, c, q| h.string(c.as_str(), q),
        );
        let group = p("stacking_group");
        self.option(&s.stacking_group, &group, |h, g| h.string(g, &group));
        self.orgs(&s.partner_orgs, &p("partner_orgs"));
        self.boolean(s.transferable, &p("transferable"));
        self.vec(&s.velocity, &p("velocity"), |h, l, q| {
            h.velocity_limit(l, q)
        });
        let consent = p("requires_consent");
        self.option(&s.requires_consent, &consent, |h, c| h.purpose(c, &consent));
    }
}

// The records of "Committed records".
impl Hand {
    fn state_key(&mut self, k: &StateKey, p: &str) {
        let pool_member = |h: &mut Self, i, name, pool: &PoolId, m: &MemberId| {
            h.variant(i, name, p);
            h.string(pool.as_str(), &format!("{p}.0"));
            h.array(&m.0, &format!("{p}.1"));
        };
        match k {
            StateKey::Params => self.variant(0, "Params", p),
            StateKey::Org(o) => self.id_key(1, "Org", |h, q| h.string(o.as_str(), q), p),
            StateKey::Key(k) => self.id_key(2, "Key", |h, q| h.array(&k.0, q), p),
            StateKey::Consortium => self.variant(3, "Consortium", p),
            StateKey::Proposal(t) => self.id_key(4, "Proposal", |h, q| h.array(&t.0, q), p),
            StateKey::Pool(o) => self.id_key(5, "Pool", |h, q| h.string(o.as_str(), q), p),
            StateKey::Token(t) => self.id_key(6, "Token", |h, q| h.token(t, q), p),
            StateKey::Code(c) => self.id_key(7, "Code", |h, q| h.array(&c.0, q), p),
            StateKey::Claim(pool, c) => {
                self.variant(8, "Claim", p);
                self.string(pool.as_str(), &format!("{p}.0"));
                self.array(&c.0, &format!("{p}.1"));
            }
            StateKey::MemberAllocations(pool, m) => {
                pool_member(self, 9, "MemberAllocations", pool, m)
            }
            StateKey::MemberRedemptions(pool, m) => {
                pool_member(self, 10, "MemberRedemptions", pool, m)
            }
            StateKey::Redemption(t) => self.id_key(11, "Redemption", |h, q| h.array(&t.0, q), p),
            StateKey::SeenTx(t) => self.id_key(12, "SeenTx", |h, q| h.array(&t.0, q), p),
            StateKey::Remembered(h) => self.id_key(13, "Remembered", |x, q| x.u64(*h, q), p),
            StateKey::PruneCursor => self.variant(14, "PruneCursor", p),
            StateKey::Program(o) => self.id_key(15, "Program", |h, q| h.string(o.as_str(), q), p),
            StateKey::Account(o, m) => {
                self.variant(16, "Account", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.array(&m.0, &format!("{p}.1"));
            }
            StateKey::Liability(o) => {
                self.id_key(17, "Liability", |h, q| h.string(o.as_str(), q), p)
            }
            StateKey::Settlement(program, partner) => {
                self.variant(18, "Settlement", p);
                self.string(program.as_str(), &format!("{p}.0"));
                self.string(partner.as_str(), &format!("{p}.1"));
            }
            StateKey::Movement(t) => self.id_key(19, "Movement", |h, q| h.array(&t.0, q), p),
            StateKey::Adjustment(t) => self.id_key(20, "Adjustment", |h, q| h.array(&t.0, q), p),
            StateKey::EarnedOrder(o, order_ref) => {
                self.variant(21, "EarnedOrder", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.string(order_ref, &format!("{p}.1"));
            }
            StateKey::Withdrawal(t) => self.id_key(22, "Withdrawal", |h, q| h.array(&t.0, q), p),
            StateKey::Engagement(o, action, reference) => {
                self.variant(23, "Engagement", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.string(action, &format!("{p}.1"));
                self.string(reference, &format!("{p}.2"));
            }
            StateKey::Hold(o, target) => {
                self.variant(24, "Hold", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.hold_target(target, &format!("{p}.1"));
            }
            StateKey::Velocity(pool, key) => {
                self.variant(25, "Velocity", p);
                self.string(pool.as_str(), &format!("{p}.0"));
                let q = format!("{p}.1");
                let r = format!("{q}.0");
                match key {
                    VelocityKey::Member(m) => {
                        self.variant(0, "Member", &q);
                        self.array(&m.0, &r);
                    }
                    VelocityKey::Terminal(k) => {
                        self.variant(1, "Terminal", &q);
                        self.array(&k.0, &r);
                    }
                    // Two fields: the store's org (the redeeming terminal's), then its id.
                    VelocityKey::Store(org, store) => {
                        self.variant(2, "Store", &q);
                        self.string(org.as_str(), &r);
                        self.string(store.as_str(), &format!("{q}.1"));
                    }
                }
            }
            StateKey::Member(o, m) => {
                self.variant(26, "Member", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.array(&m.0, &format!("{p}.1"));
            }
            StateKey::Consent(o, m, purpose) => {
                self.variant(27, "Consent", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.array(&m.0, &format!("{p}.1"));
                self.purpose(purpose, &format!("{p}.2"));
            }
            StateKey::Erasure(o, m) => {
                self.variant(28, "Erasure", p);
                self.string(o.as_str(), &format!("{p}.0"));
                self.array(&m.0, &format!("{p}.1"));
            }
        }
    }
    /// A variant with one field.
    fn id_key(&mut self, i: u32, name: &str, field: impl FnOnce(&mut Self, &str), p: &str) {
        self.variant(i, name, p);
        field(self, &format!("{p}.0"));
    }
    fn state_value(&mut self, v: &StateValue, p: &str) {
        let q = format!("{p}.0");
        match v {
            StateValue::Params(x) => self.id_key(0, "Params", |h, q| h.params(x, q), p),
            StateValue::Org(x) => self.id_key(1, "Org", |h, q| h.org_record(x, q), p),
            StateValue::Key(x) => self.id_key(2, "Key", |h, q| h.key_record(x, q), p),
            StateValue::Consortium(x) => self.id_key(3, "Consortium", |h, q| h.consortium(x, q), p),
            StateValue::Proposal(x) => self.id_key(4, "Proposal", |h, q| h.proposal(x, q), p),
            StateValue::Pool(x) => self.id_key(5, "Pool", |h, q| h.pool_record(x, q), p),
            StateValue::Token(x) => self.id_key(6, "Token", |h, q| h.token_record(x, q), p),
            StateValue::Code(x) => self.id_key(7, "Code", |h, q| h.code_entry(x, q), p),
            StateValue::Claim(x) => self.id_key(8, "Claim", |h, q| h.u64(*x, q), p),
            StateValue::Count(x) => self.id_key(9, "Count", |h, q| h.u32(*x, q), p),
            StateValue::Redemption(x) => {
                self.id_key(10, "Redemption", |h, q| h.redemption_record(x, q), p)
            }
            StateValue::SeenTx(x) => self.id_key(11, "SeenTx", |h, q| h.u64(*x, q), p),
            StateValue::Remembered(txs) => {
                self.variant(12, "Remembered", p);
                self.vec(txs, &q, |h, (id, until), r| {
                    h.array(&id.0, &format!("{r}.0"));
                    h.u64(*until, &format!("{r}.1"));
                });
            }
            StateValue::PruneCursor(height, index) => {
                self.variant(13, "PruneCursor", p);
                self.u64(*height, &q);
                self.u32(*index, &format!("{p}.1"));
            }
            StateValue::Program(r) => {
                self.variant(14, "Program", p);
                self.string(r.org.as_str(), &at(&q, "org"));
                self.program(&r.spec, &at(&q, "spec"));
                self.u32(r.version, &at(&q, "version"));
                self.u64(r.updated_ms, &at(&q, "updated_ms"));
            }
            StateValue::Account(a) => self.id_key(15, "Account", |h, q| h.account(a, q), p),
            StateValue::Liability(l) => {
                self.variant(16, "Liability", p);
                self.segment_amounts(&l.by_segment, &at(&q, "by_segment"));
            }
            StateValue::Settlement(s) => {
                self.variant(17, "Settlement", p);
                self.segment_amounts(&s.credited, &at(&q, "credited"));
                self.segment_amounts(&s.spent, &at(&q, "spent"));
            }
            StateValue::Movement(m) => self.id_key(18, "Movement", |h, q| h.movement(m, q), p),
            StateValue::Adjustment(r) => {
                self.id_key(19, "Adjustment", |h, q| h.adjustment_record(r, q), p)
            }
            StateValue::EarnedOrder(t) => {
                self.id_key(20, "EarnedOrder", |h, q| h.array(&t.0, q), p)
            }
            StateValue::Withdrawal(w) => {
                self.id_key(21, "Withdrawal", |h, q| h.withdrawal_record(w, q), p)
            }
            StateValue::Engagement(t) => self.id_key(22, "Engagement", |h, q| h.array(&t.0, q), p),
            StateValue::Hold(r) => self.id_key(23, "Hold", |h, q| h.hold_record(r, q), p),
            StateValue::Velocity(times) => {
                self.variant(24, "Velocity", p);
                self.vec(times, &q, |h, t, r| h.u64(*t, r));
            }
            StateValue::Member(r) => {
                self.variant(25, "Member", p);
                self.u64(r.first_seen, &at(&q, "first_seen"));
            }
            StateValue::Consent(r) => {
                self.variant(26, "Consent", p);
                self.boolean(r.granted, &at(&q, "granted"));
                self.array(&r.text_hash.0, &at(&q, "text_hash"));
                self.u64(r.at_ms, &at(&q, "at_ms"));
                self.u64(r.height, &at(&q, "height"));
            }
            StateValue::Erasure(r) => {
                self.variant(27, "Erasure", p);
                self.u64(r.at_ms, &at(&q, "at_ms"));
                self.u64(r.height, &at(&q, "height"));
            }
        }
    }
    fn hold_record(&mut self, r: &HoldRecord, p: &str) {
        self.hold_reason(r.reason, &at(p, "reason"));
        self.string(&r.note, &at(p, "note"));
        self.array(&r.placed_by.0, &at(p, "placed_by"));
        self.array(&r.placed_tx.0, &at(p, "placed_tx"));
        self.u64(r.placed_ms, &at(p, "placed_ms"));
        let status = at(p, "status");
        match r.status {
            HoldStatus::PendingReview => self.variant(0, "PendingReview", &status),
            HoldStatus::Confirmed => self.variant(1, "Confirmed", &status),
        }
        let by = at(p, "confirmed_by");
        self.option(&r.confirmed_by, &by, |h, k| h.array(&k.0, &by));
    }
    fn org_record(&mut self, r: &OrgRecord, p: &str) {
        self.string(&r.name, &at(p, "name"));
        self.u32(r.active_admins, &at(p, "active_admins"));
        self.u64(r.joined_at, &at(p, "joined_at"));
    }
    fn key_record(&mut self, r: &KeyRecord, p: &str) {
        self.string(r.org.as_str(), &at(p, "org"));
        self.role(&r.role, &at(p, "role"));
        self.u64(r.registered_at, &at(p, "registered_at"));
        let revoked = at(p, "revoked_at");
        self.option(&r.revoked_at, &revoked, |h, v| h.u64(*v, &revoked));
    }
    fn consortium(&mut self, c: &Consortium, p: &str) {
        self.orgs(&c.orgs, &at(p, "orgs"));
        self.vec(&c.nodes, &at(p, "nodes"), |h, n, q| h.node(n, q));
        self.vec(
            &c.retired_node_ids,
            &at(p, "retired_node_ids"),
            |h, id, q| h.u64(*id, q),
        );
    }
    fn proposal(&mut self, r: &ProposalRecord, p: &str) {
        self.change(&r.change, &at(p, "change"));
        self.orgs(&r.approvals, &at(p, "approvals"));
        self.u64(r.expires_at_ms, &at(p, "expires_at_ms"));
        let executed = at(p, "executed_at");
        self.option(&r.executed_at, &executed, |h, v| h.u64(*v, &executed));
    }
    fn pool_record(&mut self, r: &PoolRecord, p: &str) {
        self.string(r.id.as_str(), &at(p, "id"));
        self.string(r.owner.as_str(), &at(p, "owner"));
        self.spec(&r.spec, &at(p, "spec"));
        self.pool_status(r.status, &at(p, "status"));
        self.u64(r.created_at, &at(p, "created_at"));
        self.u64(r.issued, &at(p, "issued"));
        self.u64(r.allocated, &at(p, "allocated"));
        self.u64(r.redeemed, &at(p, "redeemed"));
        self.u64(r.next_free, &at(p, "next_free"));
        let shared = at(p, "shared_code");
        self.option(&r.shared_code, &shared, |h, c| h.issued_code(c, &shared));
    }
    fn pool_status(&mut self, s: PoolStatus, p: &str) {
        match s {
            PoolStatus::Draft => self.variant(0, "Draft", p),
            PoolStatus::Active => self.variant(1, "Active", p),
            PoolStatus::Paused => self.variant(2, "Paused", p),
            PoolStatus::Archived => self.variant(3, "Archived", p),
        }
    }
    fn token_record(&mut self, r: &TokenRecord, p: &str) {
        self.array(&r.code_hash.0, &at(p, "code_hash"));
        self.sealed(&r.sealed, &at(p, "sealed"));
        let status = at(p, "status");
        match &r.status {
            TokenStatus::Available => self.variant(0, "Available", &status),
            TokenStatus::Allocated => self.variant(1, "Allocated", &status),
            TokenStatus::Redeemed { redemption } => {
                self.variant(2, "Redeemed", &status);
                self.array(&redemption.0, &at(&status, "redemption"));
            }
            TokenStatus::Revoked => self.variant(3, "Revoked", &status),
        }
        let owner = at(p, "owner");
        self.option(&r.owner, &owner, |h, m| h.array(&m.0, &owner));
        let claim = at(p, "claim");
        self.option(&r.claim, &claim, |h, c| h.array(&c.0, &claim));
    }
    fn code_entry(&mut self, e: &CodeIndexEntry, p: &str) {
        self.string(e.pool.as_str(), &at(p, "pool"));
        let serial = at(p, "serial");
        self.option(&e.serial, &serial, |h, s| h.u64(*s, &serial));
    }
    fn redemption_record(&mut self, r: &RedemptionRecord, p: &str) {
        self.string(r.pool.as_str(), &at(p, "pool"));
        let token = at(p, "token");
        self.option(&r.token, &token, |h, t| h.token(t, &token));
        let member = at(p, "member");
        self.option(&r.member, &member, |h, m| h.array(&m.0, &member));
        self.string(r.redeemer_org.as_str(), &at(p, "redeemer_org"));
        self.string(r.store.as_str(), &at(p, "store"));
        self.string(r.channel.as_str(), &at(p, "channel"));
        self.u64(r.eligible_minor, &at(p, "eligible_minor"));
        self.u64(r.discount_minor, &at(p, "discount_minor"));
        self.u64(r.height, &at(p, "height"));
        self.u64(r.time_ms, &at(p, "time_ms"));
        let rolled = at(p, "rolled_back_at");
        self.option(&r.rolled_back_at, &rolled, |h, v| h.u64(*v, &rolled));
        let checkout = at(p, "checkout");
        self.option(&r.checkout, &checkout, |h, c| h.array(&c.0, &checkout));
    }
}

// The loyalty records.
impl Hand {
    fn segment_amounts(&mut self, m: &BTreeMap<Segment, u64>, p: &str) {
        self.map(m, p, |h, segment, amount, q| {
            h.segment(*segment, &at(q, "key"));
            h.u64(*amount, &at(q, "value"));
        });
    }
    fn lot_id(&mut self, id: &LotId, p: &str) {
        self.array(&id.source.0, &at(p, "source"));
        self.u16(id.index, &at(p, "index"));
    }
    fn lot(&mut self, l: &Lot, p: &str) {
        self.lot_id(&l.id, &at(p, "id"));
        self.segment(l.segment, &at(p, "segment"));
        self.u64(l.amount, &at(p, "amount"));
        self.u64(l.remaining, &at(p, "remaining"));
        self.u64(l.earned_ms, &at(p, "earned_ms"));
        self.u64(l.spendable_from_ms, &at(p, "spendable_from_ms"));
        let expires = at(p, "expires_ms");
        self.option(&l.expires_ms, &expires, |h, v| h.u64(*v, &expires));
        self.string(l.credited_by.as_str(), &at(p, "credited_by"));
    }
    fn allocation(&mut self, a: &Allocation, p: &str) {
        self.vec(&a.0, p, |h, d, q| {
            h.lot(&d.lot, &at(q, "lot"));
            h.u64(d.amount, &at(q, "amount"));
        });
    }
    fn account(&mut self, a: &Account, p: &str) {
        self.map(&a.lots, &at(p, "lots"), |h, id, lot, q| {
            h.lot_id(id, &at(q, "key"));
            h.lot(lot, &at(q, "value"));
        });
        self.map(
            &a.earned_by_day,
            &at(p, "earned_by_day"),
            |h, d, points, q| {
                h.u32(*d, &at(q, "key"));
                h.u64(*points, &at(q, "value"));
            },
        );
        self.u64(a.last_activity_ms, &at(p, "last_activity_ms"));
        self.u8(a.tier.index, &at(p, "tier.index"));
        let below = at(p, "tier.below_since_ms");
        self.option(&a.tier.below_since_ms, &below, |h, v| h.u64(*v, &below));
        self.u64(a.tier.held_min_points, &at(p, "tier.held_min_points"));
        self.map(
            &a.engagements,
            &at(p, "engagements"),
            |h, action, times, q| {
                h.string(action, &at(q, "key"));
                h.vec(times, &at(q, "value"), |h, t, r| h.u64(*t, r));
            },
        );
    }
    fn movement(&mut self, m: &Movement, p: &str) {
        self.string(m.program.as_str(), &at(p, "program"));
        self.array(&m.member.0, &at(p, "member"));
        self.string(m.by_org.as_str(), &at(p, "by_org"));
        let store = at(p, "store");
        self.option(&m.store, &store, |h, s| h.string(s.as_str(), &store));
        let k = at(p, "kind");
        match &m.kind {
            MovementKind::Earn {
                lot,
                points,
                order_ref,
            } => {
                self.variant(0, "Earn", &k);
                self.lot_id(lot, &at(&k, "lot"));
                self.u64(*points, &at(&k, "points"));
                self.string(order_ref, &at(&k, "order_ref"));
            }
            MovementKind::Load {
                lot,
                segment,
                amount,
            } => {
                self.variant(1, "Load", &k);
                self.lot_id(lot, &at(&k, "lot"));
                self.segment(*segment, &at(&k, "segment"));
                self.u64(*amount, &at(&k, "amount"));
            }
            MovementKind::Spend { allocation } => {
                self.variant(2, "Spend", &k);
                self.allocation(allocation, &at(&k, "allocation"));
            }
            MovementKind::Checkout {
                redemptions,
                allocation,
                earned,
                order_ref,
            } => {
                self.variant(3, "Checkout", &k);
                self.vec(redemptions, &at(&k, "redemptions"), |h, id, q| {
                    h.array(&id.0, q)
                });
                self.allocation(allocation, &at(&k, "allocation"));
                let e = at(&k, "earned");
                self.option(earned, &e, |h, (lot, points)| {
                    h.lot_id(lot, &format!("{e}.0"));
                    h.u64(*points, &format!("{e}.1"));
                });
                self.string(order_ref, &at(&k, "order_ref"));
            }
            MovementKind::Transfer {
                to,
                allocation,
                lots,
            } => {
                self.variant(4, "Transfer", &k);
                self.array(&to.0, &at(&k, "to"));
                self.allocation(allocation, &at(&k, "allocation"));
                self.vec(lots, &at(&k, "lots"), |h, id, q| h.lot_id(id, q));
            }
            MovementKind::Engagement {
                action,
                reference,
                lot,
                points,
                referred,
            } => {
                self.variant(5, "Engagement", &k);
                self.string(action, &at(&k, "action"));
                self.string(reference, &at(&k, "reference"));
                self.lot_id(lot, &at(&k, "lot"));
                self.u64(*points, &at(&k, "points"));
                let r = at(&k, "referred");
                self.option(referred, &r, |h, (member, lot, points)| {
                    h.array(&member.0, &format!("{r}.0"));
                    h.lot_id(lot, &format!("{r}.1"));
                    h.u64(*points, &format!("{r}.2"));
                });
            }
        }
        self.boolean(m.voided, &at(p, "voided"));
    }
    fn adjustment_record(&mut self, r: &AdjustmentRecord, p: &str) {
        self.string(r.program.as_str(), &at(p, "program"));
        self.array(&r.member.0, &at(p, "member"));
        self.segment(r.segment, &at(p, "segment"));
        self.direction(r.direction, &at(p, "direction"));
        self.u64(r.amount, &at(p, "amount"));
        self.adjust_reason(r.reason, &at(p, "reason"));
        self.string(&r.note, &at(p, "note"));
        self.array(&r.maker.0, &at(p, "maker"));
        self.u64(r.requested_ms, &at(p, "requested_ms"));
        let status = at(p, "status");
        match r.status {
            AdjustmentStatus::Pending => self.variant(0, "Pending", &status),
            AdjustmentStatus::Applied => self.variant(1, "Applied", &status),
            AdjustmentStatus::Rejected => self.variant(2, "Rejected", &status),
        }
        let checker = at(p, "checker");
        self.option(&r.checker, &checker, |h, k| h.array(&k.0, &checker));
    }
    fn withdrawal_record(&mut self, r: &WithdrawalRecord, p: &str) {
        self.string(r.program.as_str(), &at(p, "program"));
        self.array(&r.member.0, &at(p, "member"));
        self.segment(r.segment, &at(p, "segment"));
        self.u64(r.amount, &at(p, "amount"));
        self.string(&r.reference, &at(p, "reference"));
        self.array(&r.requested_by.0, &at(p, "requested_by"));
        self.u64(r.requested_ms, &at(p, "requested_ms"));
        self.allocation(&r.allocation, &at(p, "allocation"));
        let s = at(p, "status");
        match &r.status {
            WithdrawalStatus::Requested => self.variant(0, "Requested", &s),
            WithdrawalStatus::Approved { by } => {
                self.variant(1, "Approved", &s);
                self.array(&by.0, &at(&s, "by"));
            }
            WithdrawalStatus::Paid {
                approved_by,
                payment,
                paid_ms,
            } => {
                self.variant(2, "Paid", &s);
                self.array(&approved_by.0, &at(&s, "approved_by"));
                self.string(payment, &at(&s, "payment"));
                self.u64(*paid_ms, &at(&s, "paid_ms"));
            }
            WithdrawalStatus::Rejected { by } => {
                self.variant(3, "Rejected", &s);
                self.array(&by.0, &at(&s, "by"));
            }
        }
    }
    fn balance_op(&mut self, op: BalanceOp, p: &str) {
        let (i, name) = match op {
            BalanceOp::Earned => (0, "Earned"),
            BalanceOp::Loaded => (1, "Loaded"),
            BalanceOp::Spent => (2, "Spent"),
            BalanceOp::Refunded => (3, "Refunded"),
            BalanceOp::Voided => (4, "Voided"),
            BalanceOp::Adjusted => (5, "Adjusted"),
            BalanceOp::TransferredOut => (6, "TransferredOut"),
            BalanceOp::TransferredIn => (7, "TransferredIn"),
            BalanceOp::Expired => (8, "Expired"),
            BalanceOp::Withdrawn => (9, "Withdrawn"),
        };
        self.variant(i, name, p);
    }
    fn loyalty_event(&mut self, e: &Event, p: &str) {
        let f = |field: &str| at(p, field);
        match e {
            Event::BalanceChanged {
                program,
                member,
                op,
                segment,
                credit,
                amount,
            } => {
                self.variant(15, "BalanceChanged", p);
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
                self.balance_op(*op, &f("op"));
                self.segment(*segment, &f("segment"));
                self.boolean(*credit, &f("credit"));
                self.u64(*amount, &f("amount"));
            }
            Event::AdjustmentRequested {
                adjustment,
                program,
                member,
            } => {
                self.variant(16, "AdjustmentRequested", p);
                self.array(&adjustment.0, &f("adjustment"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
            }
            Event::AdjustmentRejected {
                adjustment,
                program,
                member,
            } => {
                self.variant(17, "AdjustmentRejected", p);
                self.array(&adjustment.0, &f("adjustment"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
            }
            Event::CheckedOut {
                checkout,
                program,
                member,
                currency,
                total_minor,
                discount_minor,
                balance_minor,
                net_minor,
                points,
            } => {
                self.variant(18, "CheckedOut", p);
                self.array(&checkout.0, &f("checkout"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
                self.currency(currency, &f("currency"));
                self.u64(*total_minor, &f("total_minor"));
                self.u64(*discount_minor, &f("discount_minor"));
                self.u64(*balance_minor, &f("balance_minor"));
                self.u64(*net_minor, &f("net_minor"));
                self.u64(*points, &f("points"));
            }
            Event::CheckoutVoided {
                checkout,
                program,
                member,
            } => {
                self.variant(19, "CheckoutVoided", p);
                self.array(&checkout.0, &f("checkout"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
            }
            Event::TierChanged {
                program,
                member,
                from,
                to,
            } => {
                self.variant(20, "TierChanged", p);
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
                self.string(from, &f("from"));
                self.string(to, &f("to"));
            }
            Event::WithdrawalChanged {
                withdrawal,
                program,
                member,
                amount,
                status,
            } => {
                self.variant(21, "WithdrawalChanged", p);
                self.array(&withdrawal.0, &f("withdrawal"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
                self.u64(*amount, &f("amount"));
                self.string(status, &f("status"));
            }
            Event::PointsReleased {
                source,
                program,
                member,
                points,
            } => {
                self.variant(22, "PointsReleased", p);
                self.array(&source.0, &f("source"));
                self.string(program.as_str(), &f("program"));
                self.array(&member.0, &f("member"));
                self.u64(*points, &f("points"));
            }
            other => unreachable!("{other:?} is encoded by Hand::event"),
        }
    }
}

// Results, events, log leaves and genesis.
impl Hand {
    fn event(&mut self, e: &Event, p: &str) {
        let f = |field: &str| at(p, field);
        match e {
            Event::KeyRegistered { key, org, role } => {
                self.variant(0, "KeyRegistered", p);
                self.array(&key.0, &f("key"));
                self.string(org.as_str(), &f("org"));
                self.role(role, &f("role"));
            }
            Event::KeyRevoked { key } => {
                self.variant(1, "KeyRevoked", p);
                self.array(&key.0, &f("key"));
            }
            Event::ProposalOpened {
                proposal,
                approvals,
                needed,
            } => self.proposal_event(2, "ProposalOpened", proposal, *approvals, *needed, p),
            Event::ProposalApproved {
                proposal,
                approvals,
                needed,
            } => self.proposal_event(3, "ProposalApproved", proposal, *approvals, *needed, p),
            Event::GovernanceApplied { proposal, change } => {
                self.variant(4, "GovernanceApplied", p);
                self.array(&proposal.0, &f("proposal"));
                self.change(change, &f("change"));
            }
            Event::PoolCreated { pool } => self.pool_event(5, "PoolCreated", pool, p),
            Event::PoolUpdated { pool } => self.pool_event(6, "PoolUpdated", pool, p),
            Event::PoolStatusChanged { pool, from, to } => {
                self.pool_event(7, "PoolStatusChanged", pool, p);
                self.pool_status(*from, &f("from"));
                self.pool_status(*to, &f("to"));
            }
            Event::CodesIssued {
                pool,
                first_serial,
                count,
            } => {
                self.pool_event(8, "CodesIssued", pool, p);
                self.u64(*first_serial, &f("first_serial"));
                self.u64(*count, &f("count"));
            }
            Event::BalanceChanged { .. }
            | Event::AdjustmentRequested { .. }
            | Event::AdjustmentRejected { .. }
            | Event::CheckedOut { .. }
            | Event::CheckoutVoided { .. }
            | Event::TierChanged { .. }
            | Event::WithdrawalChanged { .. }
            | Event::PointsReleased { .. } => self.loyalty_event(e, p),
            Event::HoldPlaced { .. } | Event::HoldConfirmed { .. } | Event::HoldLifted { .. } => {
                self.hold_event(e, p)
            }
            Event::ConsentRecorded {
                org,
                member,
                purpose,
                decision,
                text_hash,
            } => {
                self.variant(26, "ConsentRecorded", p);
                self.string(org.as_str(), &f("org"));
                self.array(&member.0, &f("member"));
                self.purpose(purpose, &f("purpose"));
                match decision {
                    ConsentDecision::Granted => self.variant(0, "Granted", &f("decision")),
                    ConsentDecision::Withdrawn => self.variant(1, "Withdrawn", &f("decision")),
                }
                self.array(&text_hash.0, &f("text_hash"));
            }
            Event::MemberErased { org, member } => {
                self.variant(27, "MemberErased", p);
                self.string(org.as_str(), &f("org"));
                self.array(&member.0, &f("member"));
            }
            _ => self.token_event(e, p),
        }
    }
    fn hold_event(&mut self, e: &Event, p: &str) {
        let f = |field: &str| at(p, field);
        match e {
            Event::HoldPlaced {
                org,
                target,
                reason,
                pending_review,
            } => {
                self.variant(23, "HoldPlaced", p);
                self.string(org.as_str(), &f("org"));
                self.hold_target(target, &f("target"));
                self.hold_reason(*reason, &f("reason"));
                self.boolean(*pending_review, &f("pending_review"));
            }
            Event::HoldConfirmed { org, target } => {
                self.variant(24, "HoldConfirmed", p);
                self.string(org.as_str(), &f("org"));
                self.hold_target(target, &f("target"));
            }
            Event::HoldLifted {
                org,
                target,
                reason,
                was_pending,
            } => {
                self.variant(25, "HoldLifted", p);
                self.string(org.as_str(), &f("org"));
                self.hold_target(target, &f("target"));
                self.hold_reason(*reason, &f("reason"));
                self.boolean(*was_pending, &f("was_pending"));
            }
            other => unreachable!("{other:?} is encoded by Hand::event"),
        }
    }
    fn proposal_event(
        &mut self,
        i: u32,
        name: &str,
        id: &TxId,
        approvals: u32,
        needed: u32,
        p: &str,
    ) {
        self.variant(i, name, p);
        self.array(&id.0, &at(p, "proposal"));
        self.u32(approvals, &at(p, "approvals"));
        self.u32(needed, &at(p, "needed"));
    }
    fn pool_event(&mut self, i: u32, name: &str, pool: &PoolId, p: &str) {
        self.variant(i, name, p);
        self.string(pool.as_str(), &at(p, "pool"));
    }
    fn opt_token(&mut self, t: &Option<TokenId>, p: &str) {
        self.option(t, p, |h, t| h.token(t, p));
    }
    fn token_event(&mut self, e: &Event, p: &str) {
        let f = |field: &str| at(p, field);
        match e {
            Event::Allocated {
                token,
                member,
                repeat,
            } => {
                self.variant(9, "Allocated", p);
                self.token(token, &f("token"));
                self.array(&member.0, &f("member"));
                self.boolean(*repeat, &f("repeat"));
            }
            Event::Redeemed {
                redemption,
                pool,
                token,
                member,
                eligible_minor,
                discount_minor,
                currency,
            } => {
                self.variant(10, "Redeemed", p);
                self.array(&redemption.0, &f("redemption"));
                self.string(pool.as_str(), &f("pool"));
                self.opt_token(token, &f("token"));
                let m = f("member");
                self.option(member, &m, |h, x| h.array(&x.0, &m));
                self.u64(*eligible_minor, &f("eligible_minor"));
                self.u64(*discount_minor, &f("discount_minor"));
                self.currency(currency, &f("currency"));
            }
            Event::RolledBack {
                redemption,
                pool,
                token,
            } => {
                self.variant(11, "RolledBack", p);
                self.array(&redemption.0, &f("redemption"));
                self.string(pool.as_str(), &f("pool"));
                self.opt_token(token, &f("token"));
            }
            Event::TokenRevoked { token } => {
                self.variant(12, "TokenRevoked", p);
                self.token(token, &f("token"));
            }
            Event::TokenTransferred { token, from, to } => {
                self.variant(13, "TokenTransferred", p);
                self.token(token, &f("token"));
                self.array(&from.0, &f("from"));
                self.array(&to.0, &f("to"));
            }
            Event::ProgramSet { org, version } => {
                self.variant(14, "ProgramSet", p);
                self.string(org.as_str(), &f("org"));
                self.u32(*version, &f("version"));
            }
            other => unreachable!("{other:?} is encoded by Hand::event"),
        }
    }
    fn outcome(&mut self, o: &TxOutcome, p: &str) {
        match o {
            TxOutcome::Applied { events } => {
                self.variant(0, "Applied", p);
                self.vec(events, &at(p, "events"), |h, e, q| h.event(e, q));
            }
            TxOutcome::Rejected { rejection } => {
                self.variant(1, "Rejected", p);
                let reason = RejectReason::ALL
                    .iter()
                    .position(|r| *r == rejection.reason)
                    .expect("every reason is in ALL") as u32;
                let name = rejection.reason.code();
                self.variant(reason, name, &at(p, "rejection.reason"));
                self.string(&rejection.message, &at(p, "rejection.message"));
            }
        }
    }
    fn result(&mut self, r: &TxResult) {
        self.array(&r.tx_id.0, "tx_id");
        self.outcome(&r.outcome, "outcome");
    }
    fn leaf(&mut self, l: &HistoryLeaf) {
        self.array(&l.tx_id.0, "tx_id");
        self.u64(l.height, "height");
        self.u32(l.index, "index");
        self.outcome(&l.outcome, "outcome");
    }
    fn initial_state(&mut self, s: &InitialState) {
        self.string(s.chain_id.as_str(), "chain_id");
        self.u64(s.genesis_time_ms, "genesis_time_ms");
        self.params(&s.params, "params");
        self.vec(&s.orgs, "orgs", |h, o, q| {
            h.string(o.id.as_str(), &at(q, "id"));
            h.string(&o.name, &at(q, "name"));
            h.vec(&o.admin_keys, &at(q, "admin_keys"), |h, k, q| {
                h.array(&k.0, q)
            });
        });
        self.vec(&s.nodes, "nodes", |h, n, q| h.node(n, q));
    }
}

/// The hand encoding of a key or a value alone.
fn hand(f: impl FnOnce(&mut Hand)) -> Hand {
    let mut h = Hand::default();
    f(&mut h);
    h
}

// ---- rendering and parsing the generated section -------------------------------------

impl Vector {
    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("vector `{}` has no `{key}` line", self.name))
    }
    fn bytes(&self, key: &str) -> Vec<u8> {
        hex::decode(self.get(key))
            .unwrap_or_else(|e| panic!("vector `{}`: `{key}` is not hex: {e}", self.name))
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(blake3::hash(bytes).as_bytes())
}

/// The vector block of a case, and its annotated encodings.
fn vector_of(case: &Case) -> (Vector, Vec<Hand>) {
    let (kind, fields, hands) = match &case.item {
        Item::State(key, value) => {
            let value: &StateValue = value;
            let (kb, vb) = (encode(key), encode(value));
            let (kh, vh) = (blake3::hash(&kb), blake3::hash(&vb));
            let leaf = leaf_node_hash(&Hash32(*kh.as_bytes()), &Hash32(*vh.as_bytes()));
            let fields = vec![
                field("key_json", json(key)),
                field("key_bytes", hex::encode(&kb)),
                field("key_hash", kh.to_hex().to_string()),
                field("value_json", json(value)),
                field("value_bytes", hex::encode(&vb)),
                field("value_hash", vh.to_hex().to_string()),
                field("leaf_hash", leaf.to_hex()),
            ];
            let hands = vec![
                hand(|h| h.state_key(key, "key")),
                hand(|h| h.state_value(value, "value")),
            ];
            ("state-vector", fields, hands)
        }
        Item::Event(e) => {
            let fields = vec![
                field("json", json(e)),
                field("bytes", hex::encode(encode(e))),
            ];
            ("event-vector", fields, vec![hand(|h| h.event(e, "event"))])
        }
        Item::Result(r) => (
            "result-vector",
            hashed_fields(json(r), encode(r)),
            vec![hand(|h| h.result(r))],
        ),
        Item::Leaf(l) => (
            "history-leaf-vector",
            hashed_fields(json(l), encode(l)),
            vec![hand(|h| h.leaf(l))],
        ),
    };
    let mut all = vec![field("name", case.name)];
    all.extend(fields);
    let vector = Vector {
        kind: kind.into(),
        name: case.name.into(),
        fields: all,
    };
    (vector, hands)
}

/// `json`, `bytes` and the RFC 9162 leaf hash `H(0x00 ‖ bytes)`.
fn hashed_fields(json: String, bytes: Vec<u8>) -> Vec<(String, String)> {
    vec![
        field("json", json),
        field("bytes", hex::encode(&bytes)),
        field("leaf_hash", leaf_hash(&bytes).to_hex()),
    ]
}

fn all_vectors() -> Vec<Vector> {
    cases().iter().map(|c| vector_of(c).0).collect()
}

fn render_block(out: &mut String, v: &Vector) {
    writeln!(out, "```{}", v.kind).unwrap();
    for (k, val) in &v.fields {
        writeln!(out, "{k}: {val}").unwrap();
    }
    out.push_str("```\n");
}

/// A state entry as the pretty JSON above its vector shows it.
#[derive(serde::Serialize)]
struct Entry<'a> {
    key: &'a StateKey,
    value: &'a StateValue,
}

/// The pretty JSON shown above a vector (keys in declaration order, as the API writes them).
fn pretty(case: &Case) -> String {
    match &case.item {
        Item::State(key, value) => serde_json::to_string_pretty(&Entry {
            key,
            value: value.as_ref(),
        }),
        Item::Event(e) => serde_json::to_string_pretty(e),
        Item::Result(r) => serde_json::to_string_pretty(r),
        Item::Leaf(l) => serde_json::to_string_pretty(l),
    }
    .unwrap()
}

const INTRO: &str = "Built from a fixed fixture: `key(n)` is the ed25519 public key of \
    the seed `n` repeated 32 times, `member(n)` is n as u64 LE followed by 24 zero bytes, \
    `claim(n)` is blake3(n as u64 LE), and `txid(\"s\")` is blake3 of the ASCII string `s`; \
    codes are the testkit's (`SPRING-CODE-0000000i`, sealed under the data key 0x42 × 32 \
    with the nonce i as u64 LE followed by four zero bytes). The `*json` lines are the \
    values' JSON as the API shows them, the `*bytes` lines their canonical encodings. For a \
    state entry `key_hash` = H(`key_bytes`), `value_hash` = H(`value_bytes`) and \
    `leaf_hash` = H(`\"JMT::LeafNode\"` ‖ `key_hash` ‖ `value_hash`), its leaf in the state \
    tree; for a result or a history leaf `leaf_hash` = H(`00` ‖ `bytes`), its leaf in the \
    block's `result_root` or in the history log.";

fn section_heading(name: &str) -> Option<&'static str> {
    match name {
        "params" => Some(
            "### State entries\n\nOne entry per state key variant, and one per variant of \
             the records' enums (roles, governance changes, pool kinds and discounts, \
             token statuses, balance movements, adjustment statuses, a withdrawal's \
             status without and with fields), a redemption that is part of a checkout, \
             and an engagement with and without a referred member; a hold on each kind of \
             target (confirmed by a review, placed confirmed, pending review) and a velocity \
             counter of each scope. The JSON above each vector shows the key and the \
             value.\n",
        ),
        "event_key_registered" => Some(
            "### Events\n\nOne per event kind. An event is never hashed alone: it is part of \
             an `applied` outcome (see the results below), where its bytes appear as shown.\n",
        ),
        "result_applied" => Some("### Results and history-log leaves\n"),
        _ => None,
    }
}

/// The generated section, markers excluded.
fn render_section() -> String {
    let mut out = format!("\n\n{INTRO}\n\n");
    for case in cases() {
        if let Some(heading) = section_heading(case.name) {
            writeln!(out, "{heading}").unwrap();
        }
        let (vector, hands) = vector_of(&case);
        writeln!(out, "#### `{}`\n\n{}\n", case.name, case.about).unwrap();
        writeln!(out, "```json\n{}\n```\n", pretty(&case)).unwrap();
        render_block(&mut out, &vector);
        out.push_str("\n<details><summary>bytes, annotated</summary>\n\n");
        for h in hands {
            out.push_str("```annotated\n");
            out.push_str(&h.annotated());
            out.push_str("```\n\n");
        }
        out.push_str("</details>\n\n");
    }
    out
}

/// The generated section of the document this test checks.
const DOC: GeneratedDoc = GeneratedDoc {
    path: DOC_PATH,
    begin: BEGIN,
    end: END,
    tmp_suffix: ".records.tmp",
};

/// The document, after rewriting its generated section if `UPDATE_VECTORS` is set.
fn read_doc() -> String {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DOC.read(render_section, &DONE)
}

fn generated_section(doc: &str) -> &str {
    DOC.section(doc)
}

fn fenced_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    common::fenced_blocks(text, DOC_PATH)
}

fn parse_vectors(section: &str) -> Vec<Vector> {
    common::parse_vectors(&fenced_blocks(section))
}

/// The documented vectors of the generated section.
fn documented_vectors() -> Vec<Vector> {
    parse_vectors(generated_section(&read_doc()))
}

// ---- the generated section -------------------------------------------------------------

#[test]
fn documented_record_vectors_match_the_code() {
    // With UPDATE_VECTORS set, read_doc rewrites the section first, so this then passes.
    let generated = render_section();
    let doc = read_doc();
    let section = generated_section(&doc);
    let diffs = vector_differences(&parse_vectors(section), &all_vectors());
    assert!(
        diffs.is_empty(),
        "docs/encoding.md's record vectors no longer match the code:\n  {}\n\n{REGENERATE}",
        diffs.join("\n  ")
    );
    assert!(
        section == generated,
        "every documented record vector matches, but the generated section of \
         docs/encoding.md differs from what the code generates (prose, JSON or annotations: \
         perhaps a serde attribute or a hand edit); {REGENERATE}"
    );
}

/// `T` from the documented JSON must encode to the documented bytes, and the documented
/// bytes must decode to the documented JSON; trailing and missing bytes are refused.
fn check_json_and_bytes<T>(v: &Vector, json_key: &str, bytes_key: &str) -> Vec<u8>
where
    T: serde::Serialize + serde::de::DeserializeOwned + bincode::Encode + bincode::Decode<()>,
{
    let name = &v.name;
    let value: T = serde_json::from_str(v.get(json_key))
        .unwrap_or_else(|e| panic!("{name}: `{json_key}` does not parse: {e}"));
    let bytes = v.bytes(bytes_key);
    assert_eq!(
        hex::encode(encode(&value)),
        hex::encode(&bytes),
        "{name}: the documented `{json_key}` does not encode to the documented `{bytes_key}`"
    );
    let decoded: T = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {bytes_key}: {e}"));
    assert_eq!(
        json(&decoded),
        v.get(json_key),
        "{name}: decode({bytes_key})"
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        decode::<T>(&trailing).err(),
        Some(EncodingError::TrailingBytes(1)),
        "{name}: a trailing byte must be refused"
    );
    assert!(
        decode::<T>(&bytes[..bytes.len() - 1]).is_err(),
        "{name}: truncated"
    );
    bytes
}

/// Checks a documented hash: plain blake3 of `preimage`, computed by concatenation here.
fn check_hash(v: &Vector, key: &str, preimage: &[u8]) {
    assert_eq!(
        v.get(key),
        hash_hex(preimage),
        "{}: `{key}` is not the documented hash of its bytes",
        v.name
    );
}

/// The document's vectors, read back without the generator: JSON ↔ bytes through serde and
/// bincode, and every hash by plain blake3 over the documented bytes.
#[test]
fn documented_vectors_are_their_json_encoded() {
    let vectors = documented_vectors();
    assert!(!vectors.is_empty(), "no record vectors in {DOC_PATH}");
    for v in &vectors {
        match v.kind.as_str() {
            "state-vector" => {
                let kb = check_json_and_bytes::<StateKey>(v, "key_json", "key_bytes");
                let vb = check_json_and_bytes::<StateValue>(v, "value_json", "value_bytes");
                check_hash(v, "key_hash", &kb);
                check_hash(v, "value_hash", &vb);
                let leaf = [
                    b"JMT::LeafNode".as_slice(),
                    &v.bytes("key_hash"),
                    &v.bytes("value_hash"),
                ];
                check_hash(v, "leaf_hash", &leaf.concat());
            }
            "event-vector" => {
                check_json_and_bytes::<Event>(v, "json", "bytes");
            }
            "result-vector" => {
                let b = check_json_and_bytes::<TxResult>(v, "json", "bytes");
                check_hash(v, "leaf_hash", &[[0u8].as_slice(), &b].concat());
            }
            "history-leaf-vector" => {
                let b = check_json_and_bytes::<HistoryLeaf>(v, "json", "bytes");
                check_hash(v, "leaf_hash", &[[0u8].as_slice(), &b].concat());
            }
            other => panic!("vector `{}`: unknown kind {other}", v.name),
        }
    }
}

#[test]
fn hand_encoder_agrees_with_bincode_on_every_vector() {
    for case in cases() {
        let (vector, hands) = vector_of(&case);
        let bytes_keys: &[&str] = match case.item {
            Item::State(..) => &["key_bytes", "value_bytes"],
            _ => &["bytes"],
        };
        for (h, key) in hands.iter().zip(bytes_keys) {
            assert_eq!(
                hex::encode(&h.bytes),
                vector.get(key),
                "{}: the documented tables and the code encode `{key}` differently; \
                 annotated hand encoding:\n{}",
                case.name,
                h.annotated()
            );
        }
    }
}

/// An index past the last variant of each enum the records' tables end with is refused:
/// the tables list every variant.
#[test]
fn the_next_variant_index_is_refused() {
    let next = |i: u32| i.to_le_bytes();
    assert!(decode::<StateKey>(&next(29)).is_err());
    assert!(decode::<StateValue>(&next(28)).is_err());
    assert!(decode::<Event>(&next(28)).is_err());
    assert!(decode::<RejectReason>(&next(49)).is_err());
    assert!(decode::<Role>(&next(6)).is_err());
    assert!(decode::<HoldStatus>(&next(2)).is_err());
    assert!(decode::<VelocityKey>(&next(3)).is_err());
    assert!(decode::<couponcactus_chaincode::events::EventType>(&next(41)).is_err());
    // The last ones do: the unit variants alone, the others with their fields.
    assert_eq!(decode::<HoldStatus>(&next(1)), Ok(HoldStatus::Confirmed));
    assert_eq!(
        decode::<RejectReason>(&next(48)),
        Ok(RejectReason::MemberErased)
    );
    assert_eq!(decode::<Role>(&next(5)), Ok(Role::Risk));
    assert_eq!(
        decode::<couponcactus_chaincode::events::EventType>(&next(40)).map(|t| t.name()),
        Ok("member.erased")
    );
}

/// The tag of a checkout's redemption ids, as the document writes it.
const CHECKOUT_REDEMPTION_TAG: &str = "couponcactus/checkout-redemption/v1";

/// `blake3(tag ‖ checkout ‖ index as one byte)`, by concatenation.
fn checkout_redemption_by_hand(checkout: &[u8], index: u8) -> String {
    let preimage = [CHECKOUT_REDEMPTION_TAG.as_bytes(), checkout, &[index]].concat();
    hash_hex(&preimage)
}

/// A checkout's redemptions are under the ids the document derives: the documented
/// checkout movement lists `blake3(tag ‖ its key's tx id ‖ i)` for its i-th coupon, and the
/// documented redemption that is part of a checkout sits under such an id; the code
/// (`checkout_redemption_id`) agrees.
#[test]
fn checkout_redemption_ids_follow_the_documented_rule() {
    let doc = read_doc();
    assert!(
        doc.contains(&format!("\"{CHECKOUT_REDEMPTION_TAG}\"")),
        "{DOC_PATH} no longer writes the tag {CHECKOUT_REDEMPTION_TAG:?}"
    );
    let vectors = documented_vectors();
    let find = |name: &str| {
        vectors
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no `{name}` vector in {DOC_PATH}"))
    };
    let json =
        |v: &Vector, key: &str| -> serde_json::Value { serde_json::from_str(v.get(key)).unwrap() };
    let movement = find("movement_checkout");
    let checkout = json(movement, "key_json")["movement"]
        .as_str()
        .unwrap()
        .to_string();
    let checkout_bytes = hex::decode(&checkout).unwrap();
    let listed = json(movement, "value_json")["movement"]["kind"]["redemptions"].clone();
    let listed: Vec<String> = serde_json::from_value(listed).unwrap();
    assert!(
        !listed.is_empty(),
        "the checkout movement lists no redemption"
    );
    for (i, id) in listed.iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        assert_eq!(
            *id,
            checkout_redemption_by_hand(&checkout_bytes, i),
            "redemption {i}"
        );
        let code = checkout_redemption_id(TxId(checkout_bytes.clone().try_into().unwrap()), i);
        assert_eq!(*id, code.to_hex(), "checkout_redemption_id differs at {i}");
    }
    let redemption = find("redemption_checkout");
    let record = json(redemption, "value_json")["redemption"].clone();
    let of = record["checkout"].as_str().expect("part of a checkout");
    let key = json(redemption, "key_json")["redemption"]
        .as_str()
        .unwrap()
        .to_string();
    let of_bytes = hex::decode(of).unwrap();
    let place = (0..=u8::MAX).find(|i| checkout_redemption_by_hand(&of_bytes, *i) == key);
    assert_eq!(
        place,
        Some(1),
        "the redemption's key is not derived from its checkout as documented"
    );
}

/// The vectors cover every state key and value variant, every record enum variant and
/// every event kind. Exhaustive matches: a new variant does not compile until it has a
/// vector (and a row in the document's tables).
#[test]
fn vectors_cover_every_variant() {
    let mut covered = std::collections::BTreeSet::new();
    for case in cases() {
        match &case.item {
            Item::State(k, v) => {
                covered.insert(format!("key/{}", state_key_name(k)));
                covered.insert(format!("value/{}", state_value_name(v)));
                covered.extend(nested_key_variants(k));
                covered.extend(nested_variants(v));
            }
            Item::Event(e) => {
                covered.insert(format!("event/{}", event_fields(e).0));
                if let Event::HoldPlaced { target, .. }
                | Event::HoldConfirmed { target, .. }
                | Event::HoldLifted { target, .. } = e
                {
                    covered.insert(format!("event_hold_target/{}", target.kind_name()));
                }
                if let Event::BalanceChanged { op, .. } = e {
                    covered.insert(format!("balance_op/{}", balance_op_name(*op)));
                }
            }
            Item::Result(r) => {
                covered.insert(format!("outcome/{}", outcome_name(&r.outcome)));
            }
            Item::Leaf(l) => {
                covered.insert(format!("outcome/{}", outcome_name(&l.outcome)));
            }
        }
    }
    let count = |prefix: &str| covered.iter().filter(|c| c.starts_with(prefix)).count();
    assert_eq!(count("key/"), 29, "{covered:?}");
    assert_eq!(count("value/"), 28, "{covered:?}");
    assert_eq!(count("event/"), 28, "{covered:?}");
    assert_eq!(count("movement/"), 7, "{covered:?}");
    assert_eq!(count("redemption/"), 2, "{covered:?}");
    assert_eq!(count("adjustment/"), 2, "{covered:?}");
    assert_eq!(count("withdrawal/"), 2, "{covered:?}");
    assert_eq!(count("balance_op/"), 2, "{covered:?}");
    assert_eq!(count("outcome/"), 2, "{covered:?}");
    assert_eq!(count("token_status/"), 4, "{covered:?}");
    assert_eq!(count("change/"), 5, "{covered:?}");
    assert_eq!(count("role/"), 3, "{covered:?}");
    assert_eq!(count("pool/"), 4, "{covered:?}");
    assert_eq!(count("hold_target/"), 3, "{covered:?}");
    assert_eq!(count("hold_status/"), 3, "{covered:?}");
    assert_eq!(count("velocity/"), 3, "{covered:?}");
    assert_eq!(count("event_hold_target/"), 2, "{covered:?}");
    let names: std::collections::BTreeSet<&str> = cases().iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases().len(), "vector names must be unique");
}

/// Variants of the enums a key holds: a hold's target and a velocity counter's key.
fn nested_key_variants(k: &StateKey) -> Vec<String> {
    match k {
        StateKey::Hold(_, target) => vec![format!("hold_target/{}", target.kind_name())],
        StateKey::Velocity(_, key) => vec![format!("velocity/{}", velocity_key_name(key))],
        _ => vec![],
    }
}

/// Variants of the records' enums a value holds: token statuses, governance changes, a
/// role with and without fields (and the risk role), pool kinds and discounts, movement
/// kinds (an engagement alone and a referral) and adjustment statuses, withdrawal statuses
/// (one without fields, one with); a redemption alone or part of a checkout; and a hold
/// pending review, placed confirmed, and confirmed by a review.
fn nested_variants(v: &StateValue) -> Vec<String> {
    match v {
        StateValue::Hold(h) => vec![format!(
            "hold_status/{}{}",
            hold_status_name(h.status),
            if h.confirmed_by.is_some() {
                "/reviewed"
            } else {
                ""
            }
        )],
        StateValue::Withdrawal(w) => {
            vec![format!(
                "withdrawal/{}",
                withdrawal_status_fields(&w.status).0
            )]
        }
        StateValue::Redemption(r) => vec![match r.checkout {
            None => "redemption/alone".to_string(),
            Some(_) => "redemption/checkout".to_string(),
        }],
        StateValue::Movement(m) => vec![match &m.kind {
            MovementKind::Engagement { referred, .. } => match referred {
                None => "movement/Engagement/alone".to_string(),
                Some(_) => "movement/Engagement/referral".to_string(),
            },
            kind => format!("movement/{}", movement_kind_fields(kind).0),
        }],
        StateValue::Adjustment(a) => {
            vec![format!("adjustment/{}", adjustment_status_name(a.status))]
        }
        StateValue::Token(t) => vec![format!("token_status/{}", token_status_name(&t.status))],
        StateValue::Proposal(p) => vec![format!("change/{}", change_name(&p.change))],
        StateValue::Key(k) => vec![format!("role/{}", k.role.name())],
        StateValue::Pool(p) => vec![
            format!("pool/{:?}", p.spec.kind),
            format!("pool/{}", discount_name(&p.spec.discount)),
        ],
        _ => vec![],
    }
}

// ---- the names of every variant, exhaustively ------------------------------------------

fn state_key_name(k: &StateKey) -> &'static str {
    match k {
        StateKey::Params => "Params",
        StateKey::Org(_) => "Org",
        StateKey::Key(_) => "Key",
        StateKey::Consortium => "Consortium",
        StateKey::Proposal(_) => "Proposal",
        StateKey::Pool(_) => "Pool",
        StateKey::Token(_) => "Token",
        StateKey::Code(_) => "Code",
        StateKey::Claim(..) => "Claim",
        StateKey::MemberAllocations(..) => "MemberAllocations",
        StateKey::MemberRedemptions(..) => "MemberRedemptions",
        StateKey::Redemption(_) => "Redemption",
        StateKey::SeenTx(_) => "SeenTx",
        StateKey::Remembered(_) => "Remembered",
        StateKey::PruneCursor => "PruneCursor",
        StateKey::Program(_) => "Program",
        StateKey::Account(..) => "Account",
        StateKey::Liability(_) => "Liability",
        StateKey::Settlement(..) => "Settlement",
        StateKey::Movement(_) => "Movement",
        StateKey::Adjustment(_) => "Adjustment",
        StateKey::EarnedOrder(..) => "EarnedOrder",
        StateKey::Withdrawal(_) => "Withdrawal",
        StateKey::Engagement(..) => "Engagement",
        StateKey::Hold(..) => "Hold",
        StateKey::Velocity(..) => "Velocity",
        StateKey::Member(..) => "Member",
        StateKey::Consent(..) => "Consent",
        StateKey::Erasure(..) => "Erasure",
    }
}

fn state_value_name(v: &StateValue) -> &'static str {
    match v {
        StateValue::Params(_) => "Params",
        StateValue::Org(_) => "Org",
        StateValue::Key(_) => "Key",
        StateValue::Consortium(_) => "Consortium",
        StateValue::Proposal(_) => "Proposal",
        StateValue::Pool(_) => "Pool",
        StateValue::Token(_) => "Token",
        StateValue::Code(_) => "Code",
        StateValue::Claim(_) => "Claim",
        StateValue::Count(_) => "Count",
        StateValue::Redemption(_) => "Redemption",
        StateValue::SeenTx(_) => "SeenTx",
        StateValue::Remembered(_) => "Remembered",
        StateValue::PruneCursor(..) => "PruneCursor",
        StateValue::Program(_) => "Program",
        StateValue::Account(_) => "Account",
        StateValue::Liability(_) => "Liability",
        StateValue::Settlement(_) => "Settlement",
        StateValue::Movement(_) => "Movement",
        StateValue::Adjustment(_) => "Adjustment",
        StateValue::EarnedOrder(_) => "EarnedOrder",
        StateValue::Withdrawal(_) => "Withdrawal",
        StateValue::Engagement(_) => "Engagement",
        StateValue::Hold(_) => "Hold",
        StateValue::Velocity(_) => "Velocity",
        StateValue::Member(_) => "Member",
        StateValue::Consent(_) => "Consent",
        StateValue::Erasure(_) => "Erasure",
    }
}

fn hold_status_name(s: HoldStatus) -> &'static str {
    match s {
        HoldStatus::PendingReview => "PendingReview",
        HoldStatus::Confirmed => "Confirmed",
    }
}

fn velocity_key_name(k: &VelocityKey) -> &'static str {
    match k {
        VelocityKey::Member(_) => "Member",
        VelocityKey::Terminal(_) => "Terminal",
        VelocityKey::Store(..) => "Store",
    }
}

fn hold_target_name(t: &HoldTarget) -> &'static str {
    match t {
        HoldTarget::Member(_) => "Member",
        HoldTarget::Terminal(_) => "Terminal",
        HoldTarget::Code(_) => "Code",
    }
}

fn token_status_name(s: &TokenStatus) -> &'static str {
    match s {
        TokenStatus::Available => "Available",
        TokenStatus::Allocated => "Allocated",
        TokenStatus::Redeemed { .. } => "Redeemed",
        TokenStatus::Revoked => "Revoked",
    }
}

fn change_name(c: &GovernanceChange) -> &'static str {
    match c {
        GovernanceChange::AddOrg { .. } => "AddOrg",
        GovernanceChange::AddNode { .. } => "AddNode",
        GovernanceChange::RemoveNode { .. } => "RemoveNode",
        GovernanceChange::UpdateParams { .. } => "UpdateParams",
        GovernanceChange::AddAuditor { .. } => "AddAuditor",
    }
}

fn discount_name(d: &Discount) -> &'static str {
    match d {
        Discount::Percent { .. } => "Percent",
        Discount::Fixed { .. } => "Fixed",
    }
}

fn outcome_name(o: &TxOutcome) -> &'static str {
    match o {
        TxOutcome::Applied { .. } => "Applied",
        TxOutcome::Rejected { .. } => "Rejected",
    }
}

fn adjustment_status_name(s: AdjustmentStatus) -> &'static str {
    match s {
        AdjustmentStatus::Pending => "Pending",
        AdjustmentStatus::Applied => "Applied",
        AdjustmentStatus::Rejected => "Rejected",
    }
}

fn balance_op_name(op: BalanceOp) -> &'static str {
    match op {
        BalanceOp::Earned => "Earned",
        BalanceOp::Loaded => "Loaded",
        BalanceOp::Spent => "Spent",
        BalanceOp::Refunded => "Refunded",
        BalanceOp::Voided => "Voided",
        BalanceOp::Adjusted => "Adjusted",
        BalanceOp::TransferredOut => "TransferredOut",
        BalanceOp::TransferredIn => "TransferredIn",
        BalanceOp::Expired => "Expired",
        BalanceOp::Withdrawn => "Withdrawn",
    }
}

fn pool_status_name(s: PoolStatus) -> &'static str {
    match s {
        PoolStatus::Draft => "Draft",
        PoolStatus::Active => "Active",
        PoolStatus::Paused => "Paused",
        PoolStatus::Archived => "Archived",
    }
}

/// `variant_fields!(value; Enum::A { x, y }, Enum::B {}, …)`: the variant's name and its
/// field names in declaration order. The patterns name every field (no `..`), so a new
/// field is a compile error here until it is documented.
macro_rules! variant_fields {
    ($value:expr; $($enum:ident :: $variant:ident { $($field:ident),* }),* $(,)?) => {
        match $value {
            $($enum::$variant { $($field: _),* } => {
                (stringify!($variant), vec![$(stringify!($field)),*])
            })*
        }
    };
}

fn event_fields(e: &Event) -> (&'static str, Vec<&'static str>) {
    variant_fields!(e;
        Event::KeyRegistered { key, org, role },
        Event::KeyRevoked { key },
        Event::ProposalOpened { proposal, approvals, needed },
        Event::ProposalApproved { proposal, approvals, needed },
        Event::GovernanceApplied { proposal, change },
        Event::PoolCreated { pool },
        Event::PoolUpdated { pool },
        Event::PoolStatusChanged { pool, from, to },
        Event::CodesIssued { pool, first_serial, count },
        Event::Allocated { token, member, repeat },
        Event::Redeemed { redemption, pool, token, member, eligible_minor, discount_minor, currency },
        Event::RolledBack { redemption, pool, token },
        Event::TokenRevoked { token },
        Event::TokenTransferred { token, from, to },
        Event::ProgramSet { org, version },
        Event::BalanceChanged { program, member, op, segment, credit, amount },
        Event::AdjustmentRequested { adjustment, program, member },
        Event::AdjustmentRejected { adjustment, program, member },
        Event::CheckedOut { checkout, program, member, currency, total_minor, discount_minor, balance_minor, net_minor, points },
        Event::CheckoutVoided { checkout, program, member },
        Event::TierChanged { program, member, from, to },
        Event::WithdrawalChanged { withdrawal, program, member, amount, status },
        Event::PointsReleased { source, program, member, points },
        Event::HoldPlaced { org, target, reason, pending_review },
        Event::HoldConfirmed { org, target },
        Event::HoldLifted { org, target, reason, was_pending },
        Event::ConsentRecorded { org, member, purpose, decision, text_hash },
        Event::MemberErased { org, member },
    )
}

fn movement_kind_fields(k: &MovementKind) -> (&'static str, Vec<&'static str>) {
    variant_fields!(k;
        MovementKind::Earn { lot, points, order_ref },
        MovementKind::Load { lot, segment, amount },
        MovementKind::Spend { allocation },
        MovementKind::Checkout { redemptions, allocation, earned, order_ref },
        MovementKind::Transfer { to, allocation, lots },
        MovementKind::Engagement { action, reference, lot, points, referred },
    )
}

fn token_status_fields(s: &TokenStatus) -> (&'static str, Vec<&'static str>) {
    variant_fields!(s;
        TokenStatus::Available {},
        TokenStatus::Allocated {},
        TokenStatus::Redeemed { redemption },
        TokenStatus::Revoked {},
    )
}

fn withdrawal_status_fields(s: &WithdrawalStatus) -> (&'static str, Vec<&'static str>) {
    variant_fields!(s;
        WithdrawalStatus::Requested {},
        WithdrawalStatus::Approved { by },
        WithdrawalStatus::Paid { approved_by, payment, paid_ms },
        WithdrawalStatus::Rejected { by },
    )
}

fn outcome_fields(o: &TxOutcome) -> (&'static str, Vec<&'static str>) {
    variant_fields!(o; TxOutcome::Applied { events }, TxOutcome::Rejected { rejection })
}

// ---- the hand-written tables of the document -------------------------------------------

/// The lines of the section under the heading line `heading` (up to the next heading).
fn section_under<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = doc.lines();
    lines
        .by_ref()
        .find(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no heading line `{heading}`"));
    lines.take_while(|l| !l.starts_with('#')).collect()
}

/// The cells of the table rows under `heading` (header and separator rows excluded).
fn table_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    section_under(doc, heading)
        .iter()
        .filter_map(|l| l.trim().strip_prefix('|')?.strip_suffix('|'))
        .map(|l| {
            l.split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .skip(2)
        .collect()
}

/// A cell without its backticks.
fn plain(cell: &str) -> String {
    cell.replace('`', "")
}

/// The variant index of an enum value: the first four bytes of its encoding.
fn index_of<T: bincode::Encode>(v: &T) -> u32 {
    u32::from_le_bytes(encode(v)[..4].try_into().unwrap())
}

/// The JSON name of an enum value: a string's value, a keyed object's one key, or a tagged
/// object's tag value.
fn json_name<T: serde::Serialize>(v: &T, tag: Option<&str>) -> String {
    let value = serde_json::to_value(v).unwrap();
    match (&value, tag) {
        (serde_json::Value::String(s), _) => s.clone(),
        (serde_json::Value::Object(o), Some(tag)) => o[tag].as_str().unwrap().to_string(),
        (serde_json::Value::Object(o), None) if o.len() == 1 => o.keys().next().unwrap().clone(),
        _ => panic!("no JSON name in {value}"),
    }
}

/// Field names from a "fields, in order" cell: "`a`: `T`, `b`: u64" → [a, b].
fn field_names(cell: &str) -> Vec<String> {
    if cell == "—" {
        return vec![];
    }
    cell.split(", ")
        .filter_map(|part| part.split_once(':'))
        .map(|(name, _)| plain(name).trim().to_string())
        .collect()
}

/// One code-side row of an enum table.
#[derive(Debug, PartialEq)]
struct EnumRow {
    index: u32,
    variant: String,
    json: String,
    fields: Option<Vec<String>>,
}

/// Checks the table under `#### enum `name``: the rows' index and variant must be `rows`,
/// in order; the JSON cell must name the JSON name; the fields cell (when the code gives
/// fields) must list the field names in order.
fn check_enum_table(doc: &str, name: &str, rows: &[EnumRow], errors: &mut Vec<String>) {
    let heading = format!("#### enum `{name}`");
    let doc_rows = table_rows(doc, &heading);
    let got: Vec<(String, String)> = doc_rows
        .iter()
        .map(|c| (c[0].clone(), plain(&c[1])))
        .collect();
    let want: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.index.to_string(), r.variant.clone()))
        .collect();
    if got != want {
        errors.push(format!(
            "{heading}:\n      document: {got:?}\n      code:     {want:?}"
        ));
        return;
    }
    for (cells, row) in doc_rows.iter().zip(rows) {
        let json = plain(&cells[2]);
        if json != row.json && !json.contains(&format!("\"{}\"", row.json)) {
            errors.push(format!(
                "{heading}, {}: JSON cell {json:?}, code: {:?}",
                row.variant, row.json
            ));
        }
        if let Some(fields) = &row.fields
            && field_names(&cells[3]) != *fields
        {
            errors.push(format!(
                "{heading}, {}: fields {:?}, code: {fields:?}",
                row.variant,
                field_names(&cells[3])
            ));
        }
    }
}

/// One row per distinct variant, in index order.
fn enum_rows<T: serde::Serialize + bincode::Encode>(
    values: &[T],
    tag: Option<&str>,
    names: impl Fn(&T) -> (&'static str, Option<Vec<&'static str>>),
) -> Vec<EnumRow> {
    let mut rows: BTreeMap<u32, EnumRow> = BTreeMap::new();
    for v in values {
        let (variant, fields) = names(v);
        rows.entry(index_of(v)).or_insert_with(|| EnumRow {
            index: index_of(v),
            variant: variant.into(),
            json: json_name(v, tag),
            fields: fields.map(|f| f.into_iter().map(String::from).collect()),
        });
    }
    rows.into_values().collect()
}

fn fixture_keys_and_values() -> Vec<(StateKey, StateValue)> {
    cases()
        .into_iter()
        .filter_map(|c| match c.item {
            Item::State(k, v) => Some((k, *v)),
            _ => None,
        })
        .collect()
}

fn fixture_events() -> Vec<Event> {
    cases()
        .into_iter()
        .filter_map(|c| match c.item {
            Item::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn documented_enum_tables_match_the_code() {
    let doc = read_doc();
    let mut errors = Vec::new();
    let entries = fixture_keys_and_values();
    let keys: Vec<StateKey> = entries.iter().map(|(k, _)| k.clone()).collect();
    let values: Vec<StateValue> = entries.iter().map(|(_, v)| v.clone()).collect();
    let rows = enum_rows(&keys, None, |k| (state_key_name(k), None));
    check_enum_table(&doc, "StateKey", &rows, &mut errors);
    let rows = enum_rows(&values, None, |v| (state_value_name(v), None));
    check_enum_table(&doc, "StateValue", &rows, &mut errors);
    let statuses = [
        PoolStatus::Draft,
        PoolStatus::Active,
        PoolStatus::Paused,
        PoolStatus::Archived,
    ];
    let rows = enum_rows(&statuses, None, |s| (pool_status_name(*s), None));
    check_enum_table(&doc, "PoolStatus", &rows, &mut errors);
    let token_statuses = [
        TokenStatus::Available,
        TokenStatus::Allocated,
        TokenStatus::Redeemed {
            redemption: txid("r"),
        },
        TokenStatus::Revoked,
    ];
    let rows = enum_rows(&token_statuses, Some("status"), |s| {
        let (name, fields) = token_status_fields(s);
        (name, Some(fields))
    });
    check_enum_table(&doc, "TokenStatus", &rows, &mut errors);
    let rows = enum_rows(&[applied(), rejected()], Some("status"), |o| {
        let (name, fields) = outcome_fields(o);
        (name, Some(fields))
    });
    check_enum_table(&doc, "TxOutcome", &rows, &mut errors);
    let rows = enum_rows(&fixture_events(), Some("event"), |e| {
        let (name, fields) = event_fields(e);
        (name, Some(fields))
    });
    check_enum_table(&doc, "Event", &rows, &mut errors);
    let ops = [
        BalanceOp::Earned,
        BalanceOp::Loaded,
        BalanceOp::Spent,
        BalanceOp::Refunded,
        BalanceOp::Voided,
        BalanceOp::Adjusted,
        BalanceOp::TransferredOut,
        BalanceOp::TransferredIn,
        BalanceOp::Expired,
        BalanceOp::Withdrawn,
    ];
    let rows = enum_rows(&ops, None, |op| (balance_op_name(*op), None));
    check_enum_table(&doc, "BalanceOp", &rows, &mut errors);
    let kinds: Vec<MovementKind> = values
        .iter()
        .filter_map(|v| match v {
            StateValue::Movement(m) => Some(m.kind.clone()),
            _ => None,
        })
        .collect();
    let rows = enum_rows(&kinds, Some("movement"), |k| {
        let (name, fields) = movement_kind_fields(k);
        (name, Some(fields))
    });
    check_enum_table(&doc, "MovementKind", &rows, &mut errors);
    let statuses = [
        AdjustmentStatus::Pending,
        AdjustmentStatus::Applied,
        AdjustmentStatus::Rejected,
    ];
    let rows = enum_rows(&statuses, None, |s| (adjustment_status_name(*s), None));
    check_enum_table(&doc, "AdjustmentStatus", &rows, &mut errors);
    let key = testkit::public(1);
    let withdrawal_statuses = [
        WithdrawalStatus::Requested,
        WithdrawalStatus::Approved { by: key },
        WithdrawalStatus::Paid {
            approved_by: key,
            payment: "p".into(),
            paid_ms: 0,
        },
        WithdrawalStatus::Rejected { by: key },
    ];
    let rows = enum_rows(&withdrawal_statuses, Some("status"), |s| {
        let (name, fields) = withdrawal_status_fields(s);
        (name, Some(fields))
    });
    check_enum_table(&doc, "WithdrawalStatus", &rows, &mut errors);
    let hold_statuses = [HoldStatus::PendingReview, HoldStatus::Confirmed];
    let rows = enum_rows(&hold_statuses, None, |s| (hold_status_name(*s), None));
    check_enum_table(&doc, "HoldStatus", &rows, &mut errors);
    // Adjacently tagged: the variant's name under `kind`, its one field under `id`.
    let targets = [
        HoldTarget::Member(testkit::member(1)),
        HoldTarget::Terminal(key),
        HoldTarget::Code(CodeHash([0; 32])),
    ];
    let rows = enum_rows(&targets, Some("kind"), |t| (hold_target_name(t), None));
    check_enum_table(&doc, "HoldTarget", &rows, &mut errors);
    let velocity_keys = [
        VelocityKey::Member(testkit::member(1)),
        VelocityKey::Terminal(key),
        VelocityKey::Store(slug("acme"), slug("berlin-1")),
    ];
    let rows = enum_rows(&velocity_keys, Some("kind"), |k| {
        (velocity_key_name(k), None)
    });
    check_enum_table(&doc, "VelocityKey", &rows, &mut errors);
    check_key_value_columns(&doc, &entries, &mut errors);
    assert!(
        errors.is_empty(),
        "docs/encoding.md's variant tables no longer match the code (fix the tables by hand; \
         a reordered enum also breaks every verifier):\n  {}",
        errors.join("\n  ")
    );
}

/// The `value` column of `StateKey` and the `of key` column of `StateValue` agree with the
/// values the fixture's keys hold.
fn check_key_value_columns(
    doc: &str,
    entries: &[(StateKey, StateValue)],
    errors: &mut Vec<String>,
) {
    let key_rows = table_rows(doc, "#### enum `StateKey`");
    let value_rows = table_rows(doc, "#### enum `StateValue`");
    for (k, v) in entries {
        let (key, value) = (json_name(k, None), json_name(v, None));
        let key_row = key_rows.get(index_of(k) as usize).map(|c| plain(&c[4]));
        if key_row.as_deref() != Some(value.as_str()) {
            errors.push(format!(
                "StateKey {key}: value column {key_row:?}, code: {value}"
            ));
        }
        let value_row = value_rows.get(index_of(v) as usize).map(|c| plain(&c[4]));
        if !value_row
            .as_deref()
            .is_some_and(|r| r.split(", ").any(|n| n == key))
        {
            errors.push(format!(
                "StateValue {value}: `of key` column {value_row:?} lacks {key}"
            ));
        }
    }
}

/// `struct_fields!(Type { a, b, c })`: the field names in the order written, with an
/// exhaustive pattern so that a new field is a compile error here until it is documented.
macro_rules! struct_fields {
    ($ty:ident { $($field:ident),* $(,)? }) => {{
        #[allow(dead_code, clippy::unused_unit)]
        fn exhaustive(v: &$ty) {
            let $ty { $($field: _),* } = v;
        }
        (stringify!($ty), vec![$(stringify!($field)),*])
    }};
}

/// The JSON keys of each struct, from the fixture's instances.
fn json_keys() -> BTreeMap<&'static str, Vec<String>> {
    let keys = |v: serde_json::Value| -> Vec<String> {
        v.as_object()
            .expect("a JSON object")
            .keys()
            .cloned()
            .collect()
    };
    let mut out = BTreeMap::new();
    for (_, value) in fixture_keys_and_values() {
        let name = match &value {
            StateValue::Org(_) => "OrgRecord",
            StateValue::Key(_) => "KeyRecord",
            StateValue::Consortium(_) => "Consortium",
            StateValue::Proposal(_) => "ProposalRecord",
            StateValue::Pool(_) => "PoolRecord",
            StateValue::Token(_) => "TokenRecord",
            StateValue::Code(_) => "CodeIndexEntry",
            StateValue::Redemption(_) => "RedemptionRecord",
            StateValue::Program(_) => "ProgramRecord",
            StateValue::Account(_) => "Account",
            StateValue::Liability(_) => "Liability",
            StateValue::Settlement(_) => "Settlement",
            StateValue::Movement(_) => "Movement",
            StateValue::Adjustment(_) => "AdjustmentRecord",
            StateValue::Withdrawal(_) => "WithdrawalRecord",
            StateValue::Hold(_) => "HoldRecord",
            StateValue::Member(_) => "MemberRecord",
            StateValue::Consent(_) => "ConsentRecord",
            StateValue::Erasure(_) => "ErasureRecord",
            _ => continue,
        };
        let wrapped = serde_json::to_value(&value).unwrap();
        let inner = wrapped
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        out.insert(name, keys(inner));
    }
    let result = TxResult {
        tx_id: txid("r"),
        outcome: rejected(),
    };
    let leaf = HistoryLeaf {
        tx_id: txid("r"),
        height: 1,
        index: 0,
        outcome: applied(),
    };
    let genesis = testkit::genesis();
    let rejection = rejected().rejection().unwrap().clone();
    out.insert("TxResult", keys(serde_json::to_value(&result).unwrap()));
    out.insert("HistoryLeaf", keys(serde_json::to_value(&leaf).unwrap()));
    out.insert("Rejection", keys(serde_json::to_value(&rejection).unwrap()));
    out.insert(
        "InitialOrg",
        keys(serde_json::to_value(&genesis.orgs[0]).unwrap()),
    );
    out.insert(
        "InitialState",
        keys(serde_json::to_value(&genesis).unwrap()),
    );
    let draw = Draw {
        lot: points_lot(),
        amount: 1,
    };
    out.insert("Draw", keys(serde_json::to_value(&draw).unwrap()));
    out.insert("Lot", keys(serde_json::to_value(&draw.lot).unwrap()));
    out.insert("LotId", keys(serde_json::to_value(draw.lot.id).unwrap()));
    out.insert(
        "TierState",
        keys(serde_json::to_value(member_account().tier).unwrap()),
    );
    out
}

#[test]
fn documented_struct_tables_match_the_code() {
    let structs = [
        struct_fields!(OrgRecord {
            name,
            active_admins,
            joined_at
        }),
        struct_fields!(KeyRecord {
            org,
            role,
            registered_at,
            revoked_at
        }),
        struct_fields!(Consortium {
            orgs,
            nodes,
            retired_node_ids
        }),
        struct_fields!(ProposalRecord {
            change,
            approvals,
            expires_at_ms,
            executed_at
        }),
        struct_fields!(PoolRecord {
            id,
            owner,
            spec,
            status,
            created_at,
            issued,
            allocated,
            redeemed,
            next_free,
            shared_code,
        }),
        struct_fields!(TokenRecord {
            code_hash,
            sealed,
            status,
            owner,
            claim
        }),
        struct_fields!(CodeIndexEntry { pool, serial }),
        struct_fields!(ProgramRecord {
            org,
            spec,
            version,
            updated_ms
        }),
        struct_fields!(Account {
            lots,
            earned_by_day,
            last_activity_ms,
            tier,
            engagements
        }),
        struct_fields!(LotId { source, index }),
        struct_fields!(Lot {
            id,
            segment,
            amount,
            remaining,
            earned_ms,
            spendable_from_ms,
            expires_ms,
            credited_by
        }),
        struct_fields!(TierState {
            index,
            below_since_ms,
            held_min_points
        }),
        struct_fields!(Liability { by_segment }),
        struct_fields!(Settlement { credited, spent }),
        struct_fields!(Movement {
            program,
            member,
            by_org,
            store,
            kind,
            voided
        }),
        struct_fields!(Draw { lot, amount }),
        struct_fields!(AdjustmentRecord {
            program,
            member,
            segment,
            direction,
            amount,
            reason,
            note,
            maker,
            requested_ms,
            status,
            checker
        }),
        struct_fields!(WithdrawalRecord {
            program,
            member,
            segment,
            amount,
            reference,
            requested_by,
            requested_ms,
            allocation,
            status
        }),
        struct_fields!(RedemptionRecord {
            pool,
            token,
            member,
            redeemer_org,
            store,
            channel,
            eligible_minor,
            discount_minor,
            height,
            time_ms,
            rolled_back_at,
            checkout,
        }),
        struct_fields!(HoldRecord {
            reason,
            note,
            placed_by,
            placed_tx,
            placed_ms,
            status,
            confirmed_by
        }),
        struct_fields!(MemberRecord { first_seen }),
        struct_fields!(ConsentRecord {
            granted,
            text_hash,
            at_ms,
            height
        }),
        struct_fields!(ErasureRecord { at_ms, height }),
        struct_fields!(TxResult { tx_id, outcome }),
        struct_fields!(Rejection { reason, message }),
        struct_fields!(HistoryLeaf {
            tx_id,
            height,
            index,
            outcome
        }),
        struct_fields!(InitialState {
            chain_id,
            genesis_time_ms,
            params,
            orgs,
            nodes
        }),
        struct_fields!(InitialOrg {
            id,
            name,
            admin_keys
        }),
    ];
    let doc = read_doc();
    let json = json_keys();
    let mut errors = Vec::new();
    for (name, fields) in structs {
        let heading = format!("#### struct `{name}`");
        let rows: Vec<String> = table_rows(&doc, &heading)
            .iter()
            .map(|c| plain(&c[1]))
            .collect();
        if rows != fields {
            errors.push(format!(
                "fields under `{heading}`:\n      document: {rows:?}\n      code:     {fields:?}"
            ));
        }
        let mut sorted: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        sorted.sort();
        let mut json_fields = json[name].clone();
        json_fields.sort();
        if json_fields != sorted {
            errors.push(format!(
                "{name}: the JSON keys {json_fields:?} are not the field names {sorted:?} \
                 (a serde rename: document it under \"JSON and bytes\")"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "docs/encoding.md's record tables no longer match the code (the field order is the \
         byte order; fix the tables by hand):\n  {}",
        errors.join("\n  ")
    );
}

/// An instance of each enum of the JSON-forms table, with its JSON name.
fn json_form_instances() -> Vec<(&'static str, serde_json::Value, &'static str)> {
    let v = |x: serde_json::Result<serde_json::Value>| x.unwrap();
    let token = token("spring", 3);
    vec![
        (
            "StateKey",
            v(serde_json::to_value(StateKey::Token(token))),
            "token",
        ),
        (
            "StateValue",
            v(serde_json::to_value(StateValue::Count(1))),
            "count",
        ),
        ("Role", v(serde_json::to_value(Role::Partner)), "partner"),
        (
            "GovernanceChange",
            v(serde_json::to_value(GovernanceChange::RemoveNode {
                node_id: 1,
            })),
            "remove_node",
        ),
        (
            "Discount",
            v(serde_json::to_value(Discount::Percent { bps: 1 })),
            "percent",
        ),
        (
            "TokenStatus",
            v(serde_json::to_value(TokenStatus::Revoked)),
            "revoked",
        ),
        ("TxOutcome", v(serde_json::to_value(rejected())), "rejected"),
        (
            "Event",
            v(serde_json::to_value(&fixture_events()[0])),
            "key_registered",
        ),
        (
            "RedeemTarget",
            v(serde_json::to_value(RedeemTarget::Code(CodeHash([0; 32])))),
            "code",
        ),
        (
            "PoolKind",
            v(serde_json::to_value(PoolKind::UniqueCodes)),
            "unique_codes",
        ),
        (
            "PoolStatus",
            v(serde_json::to_value(PoolStatus::Paused)),
            "paused",
        ),
        (
            "PoolAction",
            v(serde_json::to_value(PoolAction::Resume)),
            "resume",
        ),
        (
            "RevokeReason",
            v(serde_json::to_value(RevokeReason::CustomerRequest)),
            "customer_request",
        ),
        (
            "RejectReason",
            v(serde_json::to_value(RejectReason::AlreadyRedeemed)),
            "already_redeemed",
        ),
        (
            "Segment",
            v(serde_json::to_value(Segment::CashDeposit)),
            "cash_deposit",
        ),
        (
            "Unit",
            v(serde_json::to_value(Unit::Money {
                currency: Currency(*b"EUR"),
            })),
            "money",
        ),
        (
            "ExpiryPolicy",
            v(serde_json::to_value(ExpiryPolicy::MonthsAfterEarning {
                months: 12,
            })),
            "months_after_earning",
        ),
        (
            "TierBasis",
            v(serde_json::to_value(TierBasis::PointsCollected)),
            "points_collected",
        ),
        (
            "Direction",
            v(serde_json::to_value(Direction::Debit)),
            "debit",
        ),
        (
            "AdjustReason",
            v(serde_json::to_value(AdjustReason::Goodwill)),
            "goodwill",
        ),
        (
            "AdjustmentStatus",
            v(serde_json::to_value(AdjustmentStatus::Pending)),
            "pending",
        ),
        (
            "MovementKind",
            v(serde_json::to_value(MovementKind::Spend {
                allocation: Allocation::default(),
            })),
            "spend",
        ),
        (
            "BalanceOp",
            v(serde_json::to_value(BalanceOp::TransferredIn)),
            "transferred_in",
        ),
        (
            "WithdrawalStatus",
            v(serde_json::to_value(WithdrawalStatus::Approved {
                by: testkit::public(1),
            })),
            "approved",
        ),
        (
            "WithdrawalDecision",
            v(serde_json::to_value(WithdrawalDecision::Paid {
                payment: "sepa-1".into(),
            })),
            "paid",
        ),
        (
            "HoldTarget",
            v(serde_json::to_value(HoldTarget::Member(testkit::member(9)))),
            "member",
        ),
        (
            "HoldReason",
            v(serde_json::to_value(HoldReason::ImpossibleTravel)),
            "impossible_travel",
        ),
        (
            "HoldStatus",
            v(serde_json::to_value(HoldStatus::PendingReview)),
            "pending_review",
        ),
        (
            "HoldDecision",
            v(serde_json::to_value(HoldDecision::Lift)),
            "lift",
        ),
        (
            "VelocityScope",
            v(serde_json::to_value(VelocityScope::Terminal)),
            "terminal",
        ),
        (
            "VelocityKey",
            v(serde_json::to_value(VelocityKey::Store(
                slug("acme"),
                slug("berlin-1"),
            ))),
            "store",
        ),
    ]
}

/// Whether `value` has the JSON `form` (with `tag`) and names `name`.
fn has_form(value: &serde_json::Value, form: &str, tag: &str, name: &str) -> bool {
    match form {
        "string" => value.as_str() == Some(name),
        "tagged" => value.get(tag).and_then(|t| t.as_str()) == Some(name),
        "keyed" => {
            value.as_str() == Some(name)
                || value
                    .as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key(name))
        }
        // The tag cell names the tag key and the content key: `kind`, `id`.
        "adjacent" => {
            let Some((tag, content)) = tag.split_once(", ") else {
                return false;
            };
            value.as_object().is_some_and(|o| {
                o.len() == 2
                    && o.get(tag).and_then(|t| t.as_str()) == Some(name)
                    && o.contains_key(content)
            })
        }
        _ => false,
    }
}

#[test]
fn documented_json_forms_match_serde() {
    let doc = read_doc();
    let rows = table_rows(&doc, "#### JSON forms of enums");
    let documented: BTreeMap<String, (String, String)> = rows
        .iter()
        .map(|c| (plain(&c[0]), (c[1].clone(), plain(&c[2]))))
        .collect();
    let mut errors = Vec::new();
    // The adjacent form of a variant with several fields: its fields as an array under the
    // content key. The table's example of `VelocityKey` is the one such variant: serde's.
    let store = serde_json::json!({"kind": "store", "id": ["acme", "berlin-1"]});
    assert_eq!(
        serde_json::to_value(VelocityKey::Store(slug("acme"), slug("berlin-1"))).unwrap(),
        store
    );
    let example = rows
        .iter()
        .find(|c| plain(&c[0]) == "VelocityKey")
        .map(|c| plain(&c[3]));
    if let Some(example) = example
        && serde_json::from_str::<serde_json::Value>(&example).ok() != Some(store.clone())
    {
        errors.push(format!(
            "enum VelocityKey: the example {example} is not serde's {store}"
        ));
    }
    let instances = json_form_instances();
    for (name, value, json_name) in &instances {
        match documented.get(*name) {
            None => errors.push(format!("enum {name} is missing from the table")),
            Some((form, tag)) if !has_form(value, form, tag, json_name) => errors.push(format!(
                "enum {name}: documented as {form} (tag {tag}), serde gives {value}"
            )),
            Some(_) => {}
        }
    }
    assert_eq!(
        documented.len(),
        instances.len(),
        "the table lists other enums: {documented:?}"
    );
    assert!(
        errors.is_empty(),
        "\"JSON forms of enums\" in docs/encoding.md:\n  {}",
        errors.join("\n  ")
    );
}

// ---- the genesis vector -----------------------------------------------------------------

/// The context string of the genesis hash, as the document writes it.
fn documented_genesis_context(doc: &str) -> String {
    section_under(doc, "### Genesis hash")
        .iter()
        .find_map(|l| {
            l.split_once("context = \"")?
                .1
                .split_once('"')
                .map(|(c, _)| c.to_string())
        })
        .expect("the genesis hash formula names its context string")
}

/// The text from the heading line `heading` (`### …`) to the next `##` or `###` heading.
fn subsection(doc: &str, heading: &str) -> String {
    let mut lines = doc.lines();
    lines
        .by_ref()
        .find(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no heading line `{heading}`"));
    lines
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The genesis vector's bytes are the testkit genesis (the TOML of the document), encoded
/// as the `InitialState` table says, and its hash is `derive_key` of the documented context
/// over them. (`genesis/src/lib.rs` checks the TOML against both.)
#[test]
fn documented_genesis_vector_matches_the_code() {
    let doc = read_doc();
    let genesis = testkit::genesis();
    let bytes = encode(&genesis);
    let context = documented_genesis_context(&doc);
    let hash = hex::encode(blake3::derive_key(&context, &bytes));
    let expected = format!(
        "initial_state: {}\ngenesis_hash: {hash}",
        hex::encode(&bytes)
    );
    let vectors = parse_vectors(&subsection(&doc, "### Genesis hash"));
    let [vector] = vectors.as_slice() else {
        panic!(
            "the genesis hash section needs one genesis-vector block; its lines are:\n{expected}"
        );
    };
    assert_eq!(
        format!(
            "initial_state: {}\ngenesis_hash: {}",
            vector.get("initial_state"),
            vector.get("genesis_hash")
        ),
        expected,
        "the genesis vector of docs/encoding.md is not the testkit genesis (fix it by hand)"
    );
    assert_eq!(context, "couponcactus 2026 genesis v1");
    assert_eq!(
        decode::<InitialState>(&vector.bytes("initial_state")).unwrap(),
        genesis
    );
    let hand = hand(|h| h.initial_state(&genesis));
    assert_eq!(
        hex::encode(&hand.bytes),
        hex::encode(&bytes),
        "{}",
        hand.annotated()
    );
}
