//! Test vectors of the canonical encoding, checked against `docs/encoding.md`.
//!
//! Every vector (one signed tx per tx kind, plus every governance change, both redeem
//! targets, code hashes and a sealed code) is rebuilt here from fixed inputs and fixed-seed
//! keys and compared with the values written in the generated section of the document.
//! Beyond that, the tests check the document's *rules* against the code:
//!
//! - every tx body is encoded a second time by a hand encoder below that knows nothing of
//!   bincode (only the primitive rules and the variant indices of the document), and the
//!   bytes must agree;
//! - the signing message and tx id are rebuilt by concatenating bytes, and the signature is
//!   checked with plain `verify_strict`;
//! - the worked example's annotated bytes, the enum variant tables, the struct field tables
//!   and the rejection-reason table of the document are checked against the code.
//!
//! When the encoding changes on purpose, `UPDATE_VECTORS=1 cargo test -p
//! couponcactus-chaincode --test encoding_vectors` rewrites the generated section (review
//! the diff: every terminal in every language depends on these bytes). The hand-written
//! parts (tables, worked example) must then be fixed by hand; the tests say where.

mod common;

use common::{
    GeneratedDoc, HELD_CODE_NOTE, Hand, Vector, field, full_spec, shared_spec, show_difference,
    slug, vector_differences,
};
use couponcactus_chaincode::codes::{
    CODE_HASH_TAG, SEAL_NONCE_LEN, SEAL_TAG_LEN, code_hash, normalize_code, open_code, seal_code,
};
use couponcactus_chaincode::encoding::{EncodingError, decode, encode};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use ed25519_dalek::{Signature, VerifyingKey};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md");
const BEGIN: &str = "<!-- BEGIN GENERATED VECTORS: written by `UPDATE_VECTORS=1 cargo test -p couponcactus-chaincode --test encoding_vectors`; do not edit by hand -->";
const END: &str = "<!-- END GENERATED VECTORS -->";
const REGENERATE: &str = "if the change is intended, run `UPDATE_VECTORS=1 cargo test -p \
     couponcactus-chaincode --test encoding_vectors`, review the diff of docs/encoding.md and \
     tell every terminal implementer: their bytes no longer match";

/// The chain id, validity and signer seeds every vector uses.
const CHAIN: &str = "testchain";
const VALID_UNTIL_MS: u64 = GENESIS_MS + 60_000;
/// acme's org admin (testkit genesis), globex's org admin, an issuer and a terminal.
const ADMIN: u8 = 1;
const OTHER_ADMIN: u8 = 2;
const ISSUER: u8 = 10;
const TERMINAL: u8 = 20;
/// A second acme org admin (maker-checker: decides another admin's adjustment).
const SECOND_ADMIN: u8 = 5;
/// acme's risk key: its fraud engine, which places holds pending an admin's review.
const RISK: u8 = 40;
/// The worked example of the document.
const WORKED_EXAMPLE: &str = "transition_pool_activate";

// ---- the vectors ---------------------------------------------------------------------

#[derive(Debug, Clone)]
struct TxCase {
    name: &'static str,
    about: &'static str,
    seed: u8,
    body: TxBody,
}

fn chain() -> ChainId {
    ChainId::new(CHAIN).unwrap()
}

fn body(nonce: u64, kind: TxKind) -> TxBody {
    TxBody {
        chain_id: chain(),
        nonce,
        valid_until_ms: VALID_UNTIL_MS,
        kind,
        memo: None,
    }
}

fn tx_cases() -> Vec<TxCase> {
    let spring: PoolId = slug("spring");
    let token = TokenId {
        pool: spring.clone(),
        serial: 3,
    };
    let mut cases = vec![
        TxCase {
            name: "register_key_terminal",
            about: "acme's admin registers key(20) as a terminal at store `berlin-1`, channel `pos` (a `Role` variant with fields).",
            seed: ADMIN,
            body: body(
                1,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(TERMINAL),
                    role: Role::Terminal {
                        store: slug("berlin-1"),
                        channel: slug("pos"),
                    },
                }),
            ),
        },
        TxCase {
            name: "register_key_issuer",
            about: "acme's admin registers key(10) as an issuer (a `Role` variant without fields).",
            seed: ADMIN,
            body: body(
                2,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(ISSUER),
                    role: Role::Issuer,
                }),
            ),
        },
        TxCase {
            name: "revoke_key",
            about: "acme's admin revokes key(20).",
            seed: ADMIN,
            body: body(
                3,
                TxKind::RevokeKey(RevokeKeyTx {
                    key: testkit::public(TERMINAL),
                }),
            ),
        },
        TxCase {
            name: "propose_add_org",
            about: "acme's admin proposes admitting org `hooli` with key(4) as its first admin.",
            seed: ADMIN,
            body: body(
                4,
                TxKind::ProposeGovernance(ProposeGovernanceTx {
                    change: GovernanceChange::AddOrg {
                        org: slug("hooli"),
                        name: "Hooli".into(),
                        admin_key: testkit::public(4),
                    },
                }),
            ),
        },
        TxCase {
            name: "propose_add_node",
            about: "acme's admin proposes node 2 of acme, node key key(201), as a voter.",
            seed: ADMIN,
            body: body(
                5,
                TxKind::ProposeGovernance(ProposeGovernanceTx {
                    change: GovernanceChange::AddNode {
                        node: NodeRecord {
                            node_id: 2,
                            org: slug("acme"),
                            node_key: testkit::public(201),
                            p2p_addr: "/ip4/127.0.0.1/tcp/7202".into(),
                            voter: true,
                        },
                    },
                }),
            ),
        },
        TxCase {
            name: "propose_remove_node",
            about: "acme's admin proposes removing node 1.",
            seed: ADMIN,
            body: body(
                6,
                TxKind::ProposeGovernance(ProposeGovernanceTx {
                    change: GovernanceChange::RemoveNode { node_id: 1 },
                }),
            ),
        },
        TxCase {
            name: "propose_update_params",
            about: "acme's admin proposes new chain parameters.",
            seed: ADMIN,
            body: body(
                7,
                TxKind::ProposeGovernance(ProposeGovernanceTx {
                    change: GovernanceChange::UpdateParams {
                        params: ChainParams {
                            max_batch_codes: 10_000,
                            max_tx_validity_ms: 3_600_000,
                            proposal_ttl_ms: 86_400_000,
                            max_sealed_code_bytes: 256,
                        },
                    },
                }),
            ),
        },
        TxCase {
            name: "propose_add_auditor",
            about: "acme's admin proposes a consortium auditor key (seed 0x0a) for acme: only a governance quorum grants a consortium-wide read right.",
            seed: ADMIN,
            body: body(
                19,
                TxKind::ProposeGovernance(ProposeGovernanceTx {
                    change: GovernanceChange::AddAuditor {
                        org: OrgId("acme".into()),
                        key: testkit::public(0x0a),
                    },
                }),
            ),
        },
        // approve_governance is filled in below: it names the id of `propose_add_org`.
        TxCase {
            name: "create_pool",
            about: "acme's issuer creates pool `spring`: unique codes, 15 % off capped at 20.00 EUR, every optional field set and every list non-empty.",
            seed: ISSUER,
            body: body(
                9,
                TxKind::CreatePool(CreatePoolTx {
                    pool: spring.clone(),
                    spec: full_spec(),
                }),
            ),
        },
        TxCase {
            name: "update_pool",
            about: "acme's issuer replaces the spec of draft pool `summer`: one shared code, 10.00 USD off, no optional field, every list empty.",
            seed: ISSUER,
            body: body(
                10,
                TxKind::UpdatePool(UpdatePoolTx {
                    pool: slug("summer"),
                    spec: shared_spec(),
                }),
            ),
        },
        TxCase {
            name: WORKED_EXAMPLE,
            about: "acme's issuer activates pool `spring` (the worked example above).",
            seed: ISSUER,
            body: body(
                11,
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: spring.clone(),
                    action: PoolAction::Activate,
                }),
            ),
        },
        TxCase {
            name: "issue_codes",
            about: "acme's issuer issues the codes `SPRING-CODE-00000000` and `SPRING-CODE-00000001` into `spring`, each sealed under the testkit data key (0x42 × 32) with the nonce i as u64 LE followed by four zero bytes (i = 0, 1), as in `testkit::issued_code`.",
            seed: ISSUER,
            body: body(
                12,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: spring.clone(),
                    codes: (0..2)
                        .map(|i| testkit::issued_code(&spring, &testkit::code_text(&spring, i), i))
                        .collect(),
                }),
            ),
        },
        TxCase {
            name: "allocate",
            about: "acme's issuer allocates a `spring` token to member(7) with claim key claim(1).",
            seed: ISSUER,
            body: body(
                13,
                TxKind::Allocate(AllocateTx {
                    pool: spring.clone(),
                    member: testkit::member(7),
                    claim: testkit::claim(1),
                }),
            ),
        },
        TxCase {
            name: "redeem_token",
            about: "acme's terminal redeems token `spring/3` without naming the member, on a 100.00 EUR order without category lines.",
            seed: TERMINAL,
            body: body(
                14,
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Token(token.clone()),
                    member: None,
                    order: testkit::order(10_000),
                }),
            ),
        },
        TxCase {
            name: "redeem_code",
            about: "acme's terminal redeems the code `SUMMER10` for member(7) on a 59.90 USD order with two category lines.",
            seed: TERMINAL,
            body: body(
                15,
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Code(code_hash("SUMMER10")),
                    member: Some(testkit::member(7)),
                    order: Order {
                        currency: Currency(*b"USD"),
                        total_minor: 5_990,
                        lines: vec![
                            OrderLine {
                                category: slug("food"),
                                amount_minor: 4_990,
                            },
                            OrderLine {
                                category: slug("tobacco"),
                                amount_minor: 1_000,
                            },
                        ],
                    },
                }),
            ),
        },
        // rollback is filled in below: it names the id of `redeem_token`.
        TxCase {
            name: "revoke_token",
            about: "acme's issuer revokes token `spring/3` for fraud, with a note for the auditor.",
            seed: ISSUER,
            body: body(
                17,
                TxKind::RevokeToken(RevokeTokenTx {
                    token: token.clone(),
                    reason: RevokeReason::Fraud,
                    note: Some("code posted on a forum".into()),
                }),
            ),
        },
        TxCase {
            name: "transfer_token",
            about: "acme's issuer moves token `spring/3` from member(7) to member(8).",
            seed: ISSUER,
            body: body(
                18,
                TxKind::TransferToken(TransferTokenTx {
                    token,
                    from: testkit::member(7),
                    to: testkit::member(8),
                }),
            ),
        },
        TxCase {
            name: "set_program",
            about: "acme's admin sets its loyalty program: cash, gift and points segments, a point per euro with a weekend double-points promotion, three tiers (the testkit's `program_spec`), and members must have consented to `profiling` (`requires_consent`, a `Purpose` without fields, index 1) before they earn, are loaded or awarded points.",
            seed: ADMIN,
            body: body(
                20,
                TxKind::SetProgram(SetProgramTx {
                    spec: ProgramSpec {
                        requires_consent: Some(Purpose::Profiling),
                        ..testkit::program_spec()
                    },
                }),
            ),
        },
        TxCase {
            name: "load",
            about: "acme's terminal at `berlin-1` loads a 50.00 EUR cash deposit, paid at the till, onto member(7)'s balance in acme's program (`program` names the program's org; the payment's reference is `psp-7f3a9c01`).",
            seed: TERMINAL,
            body: body(
                21,
                TxKind::Load(LoadTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    segment: Segment::CashDeposit,
                    amount: 5_000,
                    reference: "psp-7f3a9c01".into(),
                }),
            ),
        },
        TxCase {
            name: "earn",
            about: "acme's terminal earns points for member(7) on order `berlin-1/2026-000123`: 42.50 EUR paid, one category line (the order as in a redemption, in the program's currency).",
            seed: TERMINAL,
            body: body(
                22,
                TxKind::Earn(EarnTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    order_ref: "berlin-1/2026-000123".into(),
                    order: Order {
                        currency: Currency(*b"EUR"),
                        total_minor: 4_250,
                        lines: vec![OrderLine {
                            category: slug("food"),
                            amount_minor: 4_250,
                        }],
                    },
                }),
            ),
        },
        TxCase {
            name: "spend",
            about: "acme's terminal pays 15.00 EUR of order `berlin-1/2026-000124` from member(7)'s cash-deposit and gift balances (the segments listed in their encoding order; the program's spend priorities draw the gift first).",
            seed: TERMINAL,
            body: body(
                23,
                TxKind::Spend(SpendTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    segments: vec![Segment::CashDeposit, Segment::Gift],
                    amount: 1_500,
                    order_ref: "berlin-1/2026-000124".into(),
                }),
            ),
        },
        // void is filled in below: it names the id of `spend`.
        TxCase {
            name: "adjust_credit_goodwill",
            about: "acme's admin credits member(8) 6,000 points as a goodwill gesture, with a note for the auditor; above the program's `adjust_approval_above` (5,000), so it waits for a second admin.",
            seed: ADMIN,
            body: body(
                25,
                TxKind::Adjust(AdjustTx {
                    program: slug("acme"),
                    member: testkit::member(8),
                    segment: Segment::Mileage,
                    direction: Direction::Credit,
                    amount: 6_000,
                    reason: AdjustReason::Goodwill,
                    note: "flight delay on 2026-03-12, apology".into(),
                }),
            ),
        },
        TxCase {
            name: "adjust_debit_correction",
            about: "acme's admin debits 10.00 EUR from member(7)'s gift balance to correct a gift card loaded twice (below the threshold: applied at once).",
            seed: ADMIN,
            body: body(
                26,
                TxKind::Adjust(AdjustTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    segment: Segment::Gift,
                    direction: Direction::Debit,
                    amount: 1_000,
                    reason: AdjustReason::Correction,
                    note: "gift card loaded twice (ticket 4711)".into(),
                }),
            ),
        },
        // decide_adjustment is filled in below: it names the id of `adjust_credit_goodwill`.
        TxCase {
            name: "transfer_balance",
            about: "acme's issuer moves 250 points from member(7) to member(8), in a program that allows transfers.",
            seed: ISSUER,
            body: body(
                28,
                TxKind::TransferBalance(TransferBalanceTx {
                    program: slug("acme"),
                    from: testkit::member(7),
                    to: testkit::member(8),
                    segment: Segment::Mileage,
                    amount: 250,
                }),
            ),
        },
        TxCase {
            name: "expire_balances",
            about: "acme's issuer expires what is due on the balances of member(7), member(8) and member(9) (sorted, the housekeeping a node runs).",
            seed: ISSUER,
            body: body(
                29,
                TxKind::ExpireBalances(ExpireBalancesTx {
                    program: slug("acme"),
                    members: vec![testkit::member(7), testkit::member(8), testkit::member(9)],
                }),
            ),
        },
        TxCase {
            name: "checkout",
            about: "acme's terminal at `berlin-1` checks out order `berlin-1/2026-000125` of member(7), 100.00 EUR with two category lines: first the shared code `WELCOME5` (a coupon by code hash), then the wallet coupon `spring/1` (by token), then 100 points pay 1.00 EUR (the program's `point_value_minor` is 1), and points are earned on what is left (`earn` true). Its redemptions are recorded under ids derived from its tx id and each coupon's place (0 and 1); a void of it undoes them all.",
            seed: TERMINAL,
            body: body(
                30,
                TxKind::Checkout(CheckoutTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    order_ref: "berlin-1/2026-000125".into(),
                    order: Order {
                        currency: Currency(*b"EUR"),
                        total_minor: 10_000,
                        lines: vec![
                            OrderLine {
                                category: slug("food"),
                                amount_minor: 9_000,
                            },
                            OrderLine {
                                category: slug("tobacco"),
                                amount_minor: 1_000,
                            },
                        ],
                    },
                    coupons: vec![
                        RedeemTarget::Code(code_hash("WELCOME5")),
                        RedeemTarget::Token(TokenId {
                            pool: spring.clone(),
                            serial: 1,
                        }),
                    ],
                    pay: Some(BalanceSpend {
                        segments: vec![Segment::Mileage],
                        amount: 100,
                    }),
                    earn: true,
                }),
            ),
        },
        TxCase {
            name: "request_withdrawal",
            about: "acme's issuer asks to pay 20.00 EUR of member(7)'s cash deposit back out (the member's form `deposit-return/2026-0042`): the amount is drawn from the lots at once and held under the withdrawal's id, this tx's id.",
            seed: ISSUER,
            body: body(
                31,
                TxKind::RequestWithdrawal(RequestWithdrawalTx {
                    program: slug("acme"),
                    member: testkit::member(7),
                    segment: Segment::CashDeposit,
                    amount: 2_000,
                    reference: "deposit-return/2026-0042".into(),
                }),
            ),
        },
        // decide_withdrawal_approve and _paid are filled in below: they name the id of
        // `request_withdrawal`; engage_review, engage_referral and release_points follow
        // them (release_points names the id of `earn`).
        TxCase {
            name: "transition_pool_pause_memo",
            about: "acme's issuer pauses pool `spring` from the merchant console, which puts the staff user's id in the memo (`Some`: `01`, then a string; `ë` is two bytes of UTF-8).",
            seed: ISSUER,
            body: body(
                19,
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: spring.clone(),
                    action: PoolAction::Pause,
                }),
            )
            .with_memo(Some(Memo::new("staff:u-42 (Zoë)").unwrap())),
        },
    ];
    let id_of = |cases: &[TxCase], name: &str| {
        let c = cases.iter().find(|c| c.name == name).unwrap();
        c.body.clone().sign(&testkit::key(c.seed)).id()
    };
    let proposal = id_of(&cases, "propose_add_org");
    let at = cases.iter().position(|c| c.name == "create_pool").unwrap();
    cases.insert(
        at,
        TxCase {
            name: "approve_governance",
            about: "globex's admin approves the proposal opened by `propose_add_org` (its tx id).",
            seed: OTHER_ADMIN,
            body: body(
                8,
                TxKind::ApproveGovernance(ApproveGovernanceTx { proposal }),
            ),
        },
    );
    let redemption = id_of(&cases, "redeem_token");
    let at = cases.iter().position(|c| c.name == "revoke_token").unwrap();
    cases.insert(
        at,
        TxCase {
            name: "rollback",
            about: "acme's terminal rolls back the redemption made by `redeem_token` (its tx id).",
            seed: TERMINAL,
            body: body(16, TxKind::Rollback(RollbackTx { redemption })),
        },
    );
    let spent = id_of(&cases, "spend");
    let at = cases
        .iter()
        .position(|c| c.name == "adjust_credit_goodwill")
        .unwrap();
    cases.insert(
        at,
        TxCase {
            name: "void",
            about: "acme's terminal at the same store voids the spend made by `spend` (its tx id): a refund, the amounts go back to the lots they were drawn from.",
            seed: TERMINAL,
            body: body(24, TxKind::Void(VoidTx { tx: spent })),
        },
    );
    let adjustment = id_of(&cases, "adjust_credit_goodwill");
    let at = cases
        .iter()
        .position(|c| c.name == "transfer_balance")
        .unwrap();
    cases.insert(
        at,
        TxCase {
            name: "decide_adjustment",
            about: "A second acme admin, key(5), approves the adjustment asked for by `adjust_credit_goodwill` (its tx id); the admin who asked cannot.",
            seed: SECOND_ADMIN,
            body: body(
                27,
                TxKind::DecideAdjustment(DecideAdjustmentTx {
                    adjustment,
                    approve: true,
                }),
            ),
        },
    );
    let withdrawal = id_of(&cases, "request_withdrawal");
    let at = cases
        .iter()
        .position(|c| c.name == "transition_pool_pause_memo")
        .unwrap();
    let decide = |decision| {
        TxKind::DecideWithdrawal(DecideWithdrawalTx {
            withdrawal,
            decision,
        })
    };
    cases.splice(
        at..at,
        [
            TxCase {
                name: "decide_withdrawal_approve",
                about: "acme's admin, key(1), approves the withdrawal asked for by `request_withdrawal` (its tx id; a unit variant of `WithdrawalDecision`); the issuer key that asked could not.",
                seed: ADMIN,
                body: body(32, decide(WithdrawalDecision::Approve)),
            },
            TxCase {
                name: "decide_withdrawal_paid",
                about: "acme's issuer records the approved withdrawal as paid, with the bank transfer's reference (a variant with a field).",
                seed: ISSUER,
                body: body(
                    33,
                    decide(WithdrawalDecision::Paid {
                        payment: "sepa-2026-03-000917".into(),
                    }),
                ),
            },
        ],
    );
    let earned = id_of(&cases, "earn");
    let held_code = code_hash(&testkit::code_text(&spring, 1));
    let at = cases
        .iter()
        .position(|c| c.name == "transition_pool_pause_memo")
        .unwrap();
    cases.splice(
        at..at,
        [
            TxCase {
                name: "engage_review",
                about: "acme's issuer (the app's back end) awards member(7) the points of the program's engagement rule `review` (50 points, at most 3 in 30 days) for the review `review/2026-000311` (`referred` is `None`: not a referral). A reference earns once per program and action, also after a void.",
                seed: ISSUER,
                body: body(
                    34,
                    TxKind::Engage(EngageTx {
                        program: slug("acme"),
                        member: testkit::member(7),
                        action: "review".into(),
                        reference: "review/2026-000311".into(),
                        referred: None,
                    }),
                ),
            },
            TxCase {
                name: "engage_referral",
                about: "acme's issuer awards member(7) for referring member(8) under the rule `referral`: 500 points to member(7) and 250 to member(8), in one tx. The reference is empty (a string of length 0): the referred member (`Some`: `01`, then 32 bytes) is the reference, so each member is referred once per action.",
                seed: ISSUER,
                body: body(
                    35,
                    TxKind::Engage(EngageTx {
                        program: slug("acme"),
                        member: testkit::member(7),
                        action: "referral".into(),
                        reference: String::new(),
                        referred: Some(testkit::member(8)),
                    }),
                ),
            },
            TxCase {
                name: "release_points",
                about: "acme's terminal at `berlin-1` (the store that made the earn) releases the points that `earn` left pending (its tx id): the order was delivered and its return window closed, in a program whose earn rule has `release_on_event`.",
                seed: TERMINAL,
                body: body(36, TxKind::ReleasePoints(ReleasePointsTx { tx: earned })),
            },
        ],
    );
    let at = cases
        .iter()
        .position(|c| c.name == "transition_pool_pause_memo")
        .unwrap();
    cases.splice(at..at, hold_cases(held_code));
    cases.extend(consent_cases());
    cases
}

/// Consent and erasure (issue 21): a grant at the till, a withdrawal of partner sharing,
/// an erasure receipt.
fn consent_cases() -> Vec<TxCase> {
    let consent = |purpose, decision, text: &[u8]| {
        TxKind::RecordConsent(RecordConsentTx {
            member: testkit::member(9),
            purpose,
            decision,
            text_hash: Hash32(*blake3::hash(text).as_bytes()),
        })
    };
    vec![
        TxCase {
            name: "record_consent_grant",
            about: "acme's terminal records that member(9) consented to `marketing` (`Purpose::Marketing`, index 0; `ConsentDecision::Granted`, index 0) at the till, after being shown the consent text whose blake3 hash the tx carries (here of the bytes `marketing consent v3`): only the member id and the hash reach the chain.",
            seed: TERMINAL,
            body: body(
                43,
                consent(
                    Purpose::Marketing,
                    ConsentDecision::Granted,
                    b"marketing consent v3",
                ),
            ),
        },
        TxCase {
            name: "record_consent_withdraw_partner",
            about: "acme's issuer (its web sign-up) records that member(9) withdrew consent to acme sharing with globex (`Purpose::PartnerSharing`, index 2, with the partner's `OrgId`; `ConsentDecision::Withdrawn`, index 1): pools requiring it no longer allocate to them.",
            seed: ISSUER,
            body: body(
                44,
                consent(
                    Purpose::PartnerSharing(slug("globex")),
                    ConsentDecision::Withdrawn,
                    b"partner sharing consent v1",
                ),
            ),
        },
        TxCase {
            name: "record_erasure",
            about: "acme's admin records the erasure of member(9)'s personal data (an erasure receipt, `RecordErasure`): acme allocates, transfers, credits nothing and records no consent for them afterwards; what is on the ledger stays.",
            seed: ADMIN,
            body: body(
                45,
                TxKind::RecordErasure(RecordErasureTx {
                    member: testkit::member(9),
                }),
            ),
        },
    ]
}

/// The fraud rules' txs: acme's risk key, holds on a member, a terminal and a code, and the
/// review of two of them.
fn hold_cases(code: CodeHash) -> Vec<TxCase> {
    let place = |target, reason, note: &str| {
        TxKind::PlaceHold(PlaceHoldTx {
            target,
            reason,
            note: note.into(),
        })
    };
    let review = |target, decision, note: &str| {
        TxKind::ReviewHold(ReviewHoldTx {
            target,
            decision,
            note: note.into(),
        })
    };
    let member = || HoldTarget::Member(testkit::member(9));
    vec![
        TxCase {
            name: "register_key_risk",
            about: "acme's admin registers key(40) as acme's risk key (`Risk`, a `Role` variant without fields, index 5): the key of its fraud engine, which may place holds pending an admin's review and do nothing else.",
            seed: ADMIN,
            body: body(
                37,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(RISK),
                    role: Role::Risk,
                }),
            ),
        },
        TxCase {
            name: "place_hold_member",
            about: "acme's risk key puts member(9) on hold for `velocity`, with the score and the evidence in the note: a risk key's hold is pending an admin's review, and stops the member in acme's pools and program at once (a `HoldTarget::Member`, `{\"kind\": \"member\", \"id\": …}` in JSON).",
            seed: RISK,
            body: body(
                38,
                place(
                    member(),
                    HoldReason::Velocity,
                    "score 0.97: 14 redemptions in 10 min at 3 stores",
                ),
            ),
        },
        TxCase {
            name: "place_hold_terminal",
            about: "acme's admin puts its terminal key(20) on hold for `collusion` (staff redeeming for others): an admin's hold is in force at once, without review; the terminal signs nothing that applies until it is lifted.",
            seed: ADMIN,
            body: body(
                39,
                place(
                    HoldTarget::Terminal(testkit::public(TERMINAL)),
                    HoldReason::Collusion,
                    "redeems for others: staff ticket 5521",
                ),
            ),
        },
        TxCase {
            name: "place_hold_code",
            about: "acme's risk key puts the code `SPRING-CODE-00000001` (by its code hash) on hold for `leakage`, with what it saw in the note (a note says why: 1 to 280 bytes, not blank): it redeems nowhere, by code or by its token, while the hold stands.",
            seed: RISK,
            body: body(
                40,
                place(HoldTarget::Code(code), HoldReason::Leakage, HELD_CODE_NOTE),
            ),
        },
        TxCase {
            name: "review_hold_confirm",
            about: "acme's admin confirms the risk key's hold on member(9) (`HoldDecision::Confirm`, index 0): the suspicion was right, the hold stays.",
            seed: ADMIN,
            body: body(
                41,
                review(
                    member(),
                    HoldDecision::Confirm,
                    "confirmed with the stores: card sharing",
                ),
            ),
        },
        TxCase {
            name: "review_hold_lift",
            about: "acme's admin lifts the hold on the code (`HoldDecision::Lift`, index 1): a false positive, the code redeems again and the hold's record is deleted.",
            seed: ADMIN,
            body: body(
                42,
                review(
                    HoldTarget::Code(code),
                    HoldDecision::Lift,
                    "false positive: the member's own second device",
                ),
            ),
        },
    ]
}

/// Plaintext codes of the code-hash vectors.
const CODE_HASH_INPUTS: &[&str] = &[
    "ABCD-EFGH-JKMN",
    " abcd efgh-jkmn\t",
    "SUMMER10",
    "SPRING-CODE-00000000",
    "straße-1",
];

/// The sealed-code vector's inputs.
const SEAL_POOL: &str = "spring";
const SEAL_CODE: &str = "ABCD-EFGH-JKMN";
const SEAL_NONCE: [u8; SEAL_NONCE_LEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

// ---- rendering and parsing the generated section -------------------------------------

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

struct TxVector {
    case: TxCase,
    tx: SignedTx,
    body_bytes: Vec<u8>,
    signed_bytes: Vec<u8>,
}

fn tx_vectors() -> Vec<TxVector> {
    tx_cases()
        .into_iter()
        .map(|case| {
            let tx = case.body.clone().sign(&testkit::key(case.seed));
            TxVector {
                body_bytes: encode(&tx.body),
                signed_bytes: encode(&tx),
                case,
                tx,
            }
        })
        .collect()
}

fn tx_vector_fields(v: &TxVector) -> Vector {
    Vector {
        kind: "tx-vector".into(),
        name: v.case.name.into(),
        fields: vec![
            field("name", v.case.name),
            field("signer_seed", format!("{:02x} (32 times)", v.case.seed)),
            field("body", hex::encode(&v.body_bytes)),
            field("signer", v.tx.signer.to_hex()),
            field("signature", hex::encode(v.tx.signature.0)),
            field("tx_id", v.tx.id().to_hex()),
            field("signed_tx", hex::encode(&v.signed_bytes)),
        ],
    }
}

fn code_hash_vectors() -> Vec<Vector> {
    CODE_HASH_INPUTS
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let normalized = normalize_code(code);
            Vector {
                kind: "code-hash-vector".into(),
                name: format!("code_hash_{}", i + 1),
                fields: vec![
                    field("name", format!("code_hash_{}", i + 1)),
                    field("code", json_str(code)),
                    field("normalized", json_str(&normalized)),
                    field("normalized_hex", hex::encode(normalized.as_bytes())),
                    field("code_hash", code_hash(code).to_hex()),
                ],
            }
        })
        .collect()
}

fn seal_aad(pool: &str) -> Vec<u8> {
    [b"couponcactus/sealed-code/v1/".as_slice(), pool.as_bytes()].concat()
}

fn sealed_vector() -> Vector {
    let pool: PoolId = slug(SEAL_POOL);
    let sealed = seal_code(&testkit::DATA_KEY, SEAL_NONCE, &pool, SEAL_CODE);
    Vector {
        kind: "sealed-code-vector".into(),
        name: "sealed_code".into(),
        fields: vec![
            field("name", "sealed_code"),
            field("data_key", hex::encode(testkit::DATA_KEY)),
            field("nonce", hex::encode(SEAL_NONCE)),
            field("pool", json_str(SEAL_POOL)),
            field("code", json_str(SEAL_CODE)),
            field("aad", hex::encode(seal_aad(SEAL_POOL))),
            field("sealed", hex::encode(&sealed.0)),
            field("sealed_code_encoding", hex::encode(encode(&sealed))),
        ],
    }
}

fn render_block(out: &mut String, v: &Vector) {
    writeln!(out, "```{}", v.kind).unwrap();
    for (k, val) in &v.fields {
        writeln!(out, "{k}: {val}").unwrap();
    }
    out.push_str("```\n");
}

/// The generated section, markers excluded.
fn render_section() -> String {
    let mut out = String::new();
    out.push_str(
        "\n\nEvery tx below uses chain id `testchain`, `valid_until_ms` 1767225660000 \
         (2026-01-01T00:01:00Z) and the nonce shown in its JSON. Keys are ed25519 keys whose \
         32-byte seed (RFC 8032 private key) is one byte repeated 32 times: `signer_seed: 01` \
         means the seed `0101…01`. Member ids are `member(n)` = n as u64 LE followed by 24 \
         zero bytes, claim keys `claim(n)` = blake3(n as u64 LE). The JSON shows the body's \
         values (in the HTTP API's JSON form) so you can rebuild it; the `body` line is what \
         your encoder must produce, byte for byte.\n\n",
    );
    for v in tx_vectors() {
        writeln!(out, "### `{}`\n\n{}\n", v.case.name, v.case.about).unwrap();
        writeln!(
            out,
            "```json\n{}\n```\n",
            serde_json::to_string_pretty(&v.case.body).unwrap()
        )
        .unwrap();
        render_block(&mut out, &tx_vector_fields(&v));
        out.push_str("\n<details><summary>body bytes, annotated</summary>\n\n```annotated\n");
        out.push_str(&hand_encode(&v.case.body).annotated());
        out.push_str("```\n\n</details>\n\n");
    }
    out.push_str(
        "### Code hashes\n\n`code` and `normalized` are JSON strings (so whitespace is \
         visible); `code_hash` = blake3 `derive_key` with the context string \
         `couponcactus 2026 code hash v1` over `normalized_hex`.\n\n",
    );
    for v in code_hash_vectors() {
        render_block(&mut out, &v);
        out.push('\n');
    }
    out.push_str(
        "### Sealed code\n\nAES-256-GCM with `data_key` (the testkit data key, 0x42 × 32), \
         `nonce` and `aad`; `sealed` = nonce ‖ ciphertext ‖ tag, and \
         `sealed_code_encoding` is the `SealedCode` as it appears inside an `IssuedCode` \
         (u64 LE length, then the bytes).\n\n",
    );
    render_block(&mut out, &sealed_vector());
    out.push('\n');
    out
}

fn all_vectors() -> Vec<Vector> {
    let mut all: Vec<Vector> = tx_vectors().iter().map(tx_vector_fields).collect();
    all.extend(code_hash_vectors());
    all.push(sealed_vector());
    all
}

/// The generated section of the document this test checks.
const DOC: GeneratedDoc = GeneratedDoc {
    path: DOC_PATH,
    begin: BEGIN,
    end: END,
    tmp_suffix: ".tmp",
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

#[test]
fn documented_vectors_match_the_code() {
    // With UPDATE_VECTORS set, read_doc rewrites the section first, so this then passes.
    let generated = render_section();
    let doc = read_doc();
    let section = generated_section(&doc);
    let diffs = vector_differences(&parse_vectors(section), &all_vectors());
    assert!(
        diffs.is_empty(),
        "docs/encoding.md no longer matches the canonical encoding:\n  {}\n\n{REGENERATE}",
        diffs.join("\n  ")
    );
    assert!(
        section == generated,
        "every documented vector value matches, but the generated section of docs/encoding.md \
         differs from what the code generates (prose, JSON or annotations: perhaps a serde \
         attribute or a hand edit); {REGENERATE}"
    );
}

// ---- properties of every vector, independent of the document -------------------------

#[test]
fn every_vector_decodes_verifies_and_refuses_trailing_bytes() {
    for v in tx_vectors() {
        let name = v.case.name;
        assert_eq!(
            decode::<TxBody>(&v.body_bytes).unwrap(),
            v.case.body,
            "{name}: decode(body) is not the body"
        );
        assert_eq!(
            decode::<SignedTx>(&v.signed_bytes).unwrap(),
            v.tx,
            "{name}: decode(signed_tx) is not the tx"
        );
        assert_eq!(v.tx.verify(), Ok(()), "{name}: signature does not verify");
        assert_eq!(v.tx.signer, testkit::public(v.case.seed), "{name}: signer");
        // The envelope is body ‖ signer ‖ signature, nothing else.
        let envelope = [
            v.body_bytes.as_slice(),
            v.tx.signer.0.as_slice(),
            v.tx.signature.0.as_slice(),
        ]
        .concat();
        assert_eq!(v.signed_bytes, envelope, "{name}: envelope layout");
        let mut trailing = v.body_bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode::<TxBody>(&trailing),
            Err(EncodingError::TrailingBytes(1)),
            "{name}: a trailing byte must be refused"
        );
        assert!(
            decode::<TxBody>(&v.body_bytes[..v.body_bytes.len() - 1]).is_err(),
            "{name}: a truncated body must be refused"
        );
    }
}

/// The vectors cover every tx kind, governance change, redeem target, adjustment direction
/// and role with fields (and the risk role), a withdrawal decision without and with a
/// field, an engagement without and with a referred member, a hold on each kind of target,
/// both review decisions, and velocity limits of every scope.
#[test]
fn vectors_cover_every_kind() {
    fn kind_name(k: &TxKind) -> &'static str {
        // Exhaustive on purpose: a new kind does not compile until it has a vector.
        match k {
            // A role with fields, the risk role, and the other roles (without fields).
            TxKind::RegisterKey(r) => match r.role {
                Role::Terminal { .. } => "RegisterKey/Terminal",
                Role::Risk => "RegisterKey/Risk",
                Role::OrgAdmin | Role::Issuer | Role::Auditor | Role::Partner => {
                    "RegisterKey/NoFields"
                }
            },
            TxKind::RevokeKey(_) => "RevokeKey",
            TxKind::ProposeGovernance(p) => match p.change {
                GovernanceChange::AddOrg { .. } => "ProposeGovernance/AddOrg",
                GovernanceChange::AddNode { .. } => "ProposeGovernance/AddNode",
                GovernanceChange::RemoveNode { .. } => "ProposeGovernance/RemoveNode",
                GovernanceChange::UpdateParams { .. } => "ProposeGovernance/UpdateParams",
                GovernanceChange::AddAuditor { .. } => "ProposeGovernance/AddAuditor",
            },
            TxKind::ApproveGovernance(_) => "ApproveGovernance",
            TxKind::CreatePool(_) => "CreatePool",
            TxKind::UpdatePool(_) => "UpdatePool",
            TxKind::TransitionPool(_) => "TransitionPool",
            TxKind::IssueCodes(_) => "IssueCodes",
            TxKind::Allocate(_) => "Allocate",
            TxKind::Redeem(r) => match r.target {
                RedeemTarget::Token(_) => "Redeem/Token",
                RedeemTarget::Code(_) => "Redeem/Code",
            },
            TxKind::Rollback(_) => "Rollback",
            TxKind::RevokeToken(_) => "RevokeToken",
            TxKind::TransferToken(_) => "TransferToken",
            TxKind::SetProgram(_) => "SetProgram",
            TxKind::Load(_) => "Load",
            TxKind::Earn(_) => "Earn",
            TxKind::Spend(_) => "Spend",
            TxKind::Void(_) => "Void",
            TxKind::Adjust(a) => match a.direction {
                Direction::Credit => "Adjust/Credit",
                Direction::Debit => "Adjust/Debit",
            },
            TxKind::DecideAdjustment(_) => "DecideAdjustment",
            TxKind::TransferBalance(_) => "TransferBalance",
            TxKind::ExpireBalances(_) => "ExpireBalances",
            TxKind::Checkout(c) => {
                // A checkout's vector lists both kinds of coupon and pays with a balance.
                let code = c.coupons.iter().any(|t| matches!(t, RedeemTarget::Code(_)));
                let token = c
                    .coupons
                    .iter()
                    .any(|t| matches!(t, RedeemTarget::Token(_)));
                match (code, token, c.pay.is_some()) {
                    (true, true, true) => "Checkout/Code+Token+Pay",
                    _ => "Checkout/partial",
                }
            }
            TxKind::RequestWithdrawal(_) => "RequestWithdrawal",
            // A unit variant and the variant with a field; `Reject` is encoded as
            // `Approve` is (the variant table checks its index).
            TxKind::DecideWithdrawal(d) => match d.decision {
                WithdrawalDecision::Approve => "DecideWithdrawal/Approve",
                WithdrawalDecision::Paid { .. } => "DecideWithdrawal/Paid",
                WithdrawalDecision::Reject => "DecideWithdrawal/Reject",
            },
            // An engagement with a reference, and a referral (the referred member `Some`).
            TxKind::Engage(e) => match e.referred {
                None => "Engage/Reference",
                Some(_) => "Engage/Referral",
            },
            TxKind::ReleasePoints(_) => "ReleasePoints",
            // A hold on each kind of target, and both decisions of a review.
            TxKind::PlaceHold(h) => match h.target {
                HoldTarget::Member(_) => "PlaceHold/Member",
                HoldTarget::Terminal(_) => "PlaceHold/Terminal",
                HoldTarget::Code(_) => "PlaceHold/Code",
            },
            TxKind::ReviewHold(r) => match r.decision {
                HoldDecision::Confirm => "ReviewHold/Confirm",
                HoldDecision::Lift => "ReviewHold/Lift",
            },
            // A purpose without and with a field, and both decisions.
            TxKind::RecordConsent(c) => match c.decision {
                ConsentDecision::Granted => "RecordConsent/Granted",
                ConsentDecision::Withdrawn => "RecordConsent/Withdrawn",
            },
            TxKind::RecordErasure(_) => "RecordErasure",
        }
    }
    let covered: std::collections::BTreeSet<&str> =
        tx_cases().iter().map(|c| kind_name(&c.body.kind)).collect();
    assert_eq!(covered.len(), 45, "covered: {covered:?}");
    for wanted in [
        "Checkout/Code+Token+Pay",
        "DecideWithdrawal/Approve",
        "DecideWithdrawal/Paid",
        "Engage/Reference",
        "Engage/Referral",
        "RegisterKey/Risk",
        "PlaceHold/Member",
        "PlaceHold/Terminal",
        "PlaceHold/Code",
        "ReviewHold/Confirm",
        "ReviewHold/Lift",
        "RecordConsent/Granted",
        "RecordConsent/Withdrawn",
        "RecordErasure",
    ] {
        assert!(covered.contains(wanted), "{wanted}; covered: {covered:?}");
    }
    // A pool spec with a velocity limit of every scope.
    let scopes: std::collections::BTreeSet<VelocityScope> = tx_cases()
        .iter()
        .filter_map(|c| match &c.body.kind {
            TxKind::CreatePool(t) => Some(&t.spec),
            TxKind::UpdatePool(t) => Some(&t.spec),
            _ => None,
        })
        .flat_map(|spec| spec.velocity.iter().map(|l| l.per))
        .collect();
    assert_eq!(scopes.len(), 3, "velocity scopes covered: {scopes:?}");
    let names: std::collections::BTreeSet<&str> = tx_cases().iter().map(|c| c.name).collect();
    assert_eq!(names.len(), tx_cases().len(), "vector names must be unique");
}

// ---- a second encoder, written from the document's rules alone -----------------------

impl Hand {
    fn token(&mut self, t: &TokenId, path: &str) {
        self.string(t.pool.as_str(), &format!("{path}.pool"));
        self.u64(t.serial, &format!("{path}.serial"));
    }
    fn target(&mut self, t: &RedeemTarget, path: &str) {
        match t {
            RedeemTarget::Token(token) => {
                self.variant(0, "Token", path);
                self.token(token, &format!("{path}.0"));
            }
            RedeemTarget::Code(hash) => {
                self.variant(1, "Code", path);
                self.array(&hash.0, &format!("{path}.0"));
            }
        }
    }
    fn order(&mut self, o: &Order, path: &str) {
        self.currency(&o.currency, &format!("{path}.currency"));
        self.u64(o.total_minor, &format!("{path}.total_minor"));
        self.vec(&o.lines, &format!("{path}.lines"), |h, l, q| {
            h.string(l.category.as_str(), &format!("{q}.category"));
            h.u64(l.amount_minor, &format!("{q}.amount_minor"));
        });
    }
    fn role(&mut self, r: &Role, path: &str) {
        match r {
            Role::OrgAdmin => self.variant(0, "OrgAdmin", path),
            Role::Issuer => self.variant(1, "Issuer", path),
            Role::Terminal { store, channel } => {
                self.variant(2, "Terminal", path);
                self.string(store.as_str(), &format!("{path}.store"));
                self.string(channel.as_str(), &format!("{path}.channel"));
            }
            Role::Auditor => self.variant(3, "Auditor", path),
            Role::Partner => self.variant(4, "Partner", path),
            Role::Risk => self.variant(5, "Risk", path),
        }
    }
    fn spec(&mut self, s: &PoolSpec, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
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
        self.option(&s.max_discount_minor, &p("max_discount_minor"), |h, v| {
            h.u64(*v, &p("max_discount_minor"))
        });
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
        self.option(&s.stacking_group, &p("stacking_group"), |h, g| {
            h.string(g, &p("stacking_group"))
        });
        self.vec(&s.partner_orgs, &p("partner_orgs"), |h, o, q| {
            h.string(o.as_str(), q)
        });
        self.boolean(s.transferable, &p("transferable"));
        self.vec(&s.velocity, &p("velocity"), |h, l, q| {
            h.velocity_limit(l, q)
        });
        let consent = p("requires_consent");
        self.option(&s.requires_consent, &consent, |h, c| h.purpose(c, &consent));
    }
    fn change(&mut self, c: &GovernanceChange, path: &str) {
        let p = |f: &str| format!("{path}.{f}");
        match c {
            GovernanceChange::AddOrg {
                org,
                name,
                admin_key,
            } => {
                self.variant(0, "AddOrg", path);
                self.string(org.as_str(), &p("org"));
                self.string(name, &p("name"));
                self.array(&admin_key.0, &p("admin_key"));
            }
            GovernanceChange::AddNode { node } => {
                self.variant(1, "AddNode", path);
                self.u64(node.node_id, &p("node.node_id"));
                self.string(node.org.as_str(), &p("node.org"));
                self.array(&node.node_key.0, &p("node.node_key"));
                self.string(&node.p2p_addr, &p("node.p2p_addr"));
                self.boolean(node.voter, &p("node.voter"));
            }
            GovernanceChange::RemoveNode { node_id } => {
                self.variant(2, "RemoveNode", path);
                self.u64(*node_id, &p("node_id"));
            }
            GovernanceChange::UpdateParams { params } => {
                self.variant(3, "UpdateParams", path);
                self.u32(params.max_batch_codes, &p("params.max_batch_codes"));
                self.u64(params.max_tx_validity_ms, &p("params.max_tx_validity_ms"));
                self.u64(params.proposal_ttl_ms, &p("params.proposal_ttl_ms"));
                self.u32(
                    params.max_sealed_code_bytes,
                    &p("params.max_sealed_code_bytes"),
                );
            }
            GovernanceChange::AddAuditor { org, key } => {
                self.variant(4, "AddAuditor", path);
                self.string(org.as_str(), &p("org"));
                self.array(&key.0, &p("key"));
            }
        }
    }
}

/// Encodes a tx body from the document's rules, with a note per field.
fn hand_encode(b: &TxBody) -> Hand {
    let mut h = Hand::default();
    h.string(b.chain_id.as_str(), "chain_id");
    h.u64(b.nonce, "nonce");
    h.u64(b.valid_until_ms, "valid_until_ms");
    match &b.kind {
        TxKind::RegisterKey(t) => {
            h.variant(0, "RegisterKey", "kind");
            h.array(&t.key.0, "kind.key");
            h.role(&t.role, "kind.role");
        }
        TxKind::RevokeKey(t) => {
            h.variant(1, "RevokeKey", "kind");
            h.array(&t.key.0, "kind.key");
        }
        TxKind::ProposeGovernance(t) => {
            h.variant(2, "ProposeGovernance", "kind");
            h.change(&t.change, "kind.change");
        }
        TxKind::ApproveGovernance(t) => {
            h.variant(3, "ApproveGovernance", "kind");
            h.array(&t.proposal.0, "kind.proposal");
        }
        TxKind::CreatePool(t) => {
            h.variant(4, "CreatePool", "kind");
            h.string(t.pool.as_str(), "kind.pool");
            h.spec(&t.spec, "kind.spec");
        }
        TxKind::UpdatePool(t) => {
            h.variant(5, "UpdatePool", "kind");
            h.string(t.pool.as_str(), "kind.pool");
            h.spec(&t.spec, "kind.spec");
        }
        TxKind::TransitionPool(t) => {
            h.variant(6, "TransitionPool", "kind");
            h.string(t.pool.as_str(), "kind.pool");
            let (i, name) = match t.action {
                PoolAction::Activate => (0, "Activate"),
                PoolAction::Pause => (1, "Pause"),
                PoolAction::Resume => (2, "Resume"),
                PoolAction::Archive => (3, "Archive"),
            };
            h.variant(i, name, "kind.action");
        }
        TxKind::IssueCodes(t) => {
            h.variant(7, "IssueCodes", "kind");
            h.string(t.pool.as_str(), "kind.pool");
            h.vec(&t.codes, "kind.codes", |h, c, q| {
                h.array(&c.code_hash.0, &format!("{q}.code_hash"));
                h.len(c.sealed.0.len(), &format!("{q}.sealed"), "length");
                h.raw(&c.sealed.0, format!("{q}.sealed: nonce ‖ ciphertext ‖ tag"));
            });
        }
        TxKind::Allocate(t) => {
            h.variant(8, "Allocate", "kind");
            h.string(t.pool.as_str(), "kind.pool");
            h.array(&t.member.0, "kind.member");
            h.array(&t.claim.0, "kind.claim");
        }
        TxKind::Redeem(t) => {
            h.variant(9, "Redeem", "kind");
            h.target(&t.target, "kind.target");
            h.option(&t.member, "kind.member", |h, m| {
                h.array(&m.0, "kind.member")
            });
            h.order(&t.order, "kind.order");
        }
        TxKind::Rollback(t) => {
            h.variant(10, "Rollback", "kind");
            h.array(&t.redemption.0, "kind.redemption");
        }
        TxKind::RevokeToken(t) => {
            h.variant(11, "RevokeToken", "kind");
            h.token(&t.token, "kind.token");
            let reason = RevokeReason::ALL
                .iter()
                .position(|r| *r == t.reason)
                .expect("every reason is in ALL");
            h.variant(reason as u32, t.reason.name(), "kind.reason");
            h.option(&t.note, "kind.note", |h, n| h.string(n, "kind.note"));
        }
        TxKind::TransferToken(t) => {
            h.variant(12, "TransferToken", "kind");
            h.token(&t.token, "kind.token");
            h.array(&t.from.0, "kind.from");
            h.array(&t.to.0, "kind.to");
        }
        TxKind::SetProgram(t) => {
            h.variant(13, "SetProgram", "kind");
            h.program(&t.spec, "kind.spec");
        }
        TxKind::Load(t) => {
            h.variant(14, "Load", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.segment(t.segment, "kind.segment");
            h.u64(t.amount, "kind.amount");
            h.string(&t.reference, "kind.reference");
        }
        TxKind::Earn(t) => {
            h.variant(15, "Earn", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.string(&t.order_ref, "kind.order_ref");
            h.order(&t.order, "kind.order");
        }
        TxKind::Spend(t) => {
            h.variant(16, "Spend", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.vec(&t.segments, "kind.segments", |h, s, q| h.segment(*s, q));
            h.u64(t.amount, "kind.amount");
            h.string(&t.order_ref, "kind.order_ref");
        }
        TxKind::Void(t) => {
            h.variant(17, "Void", "kind");
            h.array(&t.tx.0, "kind.tx");
        }
        TxKind::Adjust(t) => {
            h.variant(18, "Adjust", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.segment(t.segment, "kind.segment");
            h.direction(t.direction, "kind.direction");
            h.u64(t.amount, "kind.amount");
            h.adjust_reason(t.reason, "kind.reason");
            h.string(&t.note, "kind.note");
        }
        TxKind::DecideAdjustment(t) => {
            h.variant(19, "DecideAdjustment", "kind");
            h.array(&t.adjustment.0, "kind.adjustment");
            h.boolean(t.approve, "kind.approve");
        }
        TxKind::TransferBalance(t) => {
            h.variant(20, "TransferBalance", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.from.0, "kind.from");
            h.array(&t.to.0, "kind.to");
            h.segment(t.segment, "kind.segment");
            h.u64(t.amount, "kind.amount");
        }
        TxKind::ExpireBalances(t) => {
            h.variant(21, "ExpireBalances", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.vec(&t.members, "kind.members", |h, m, q| h.array(&m.0, q));
        }
        TxKind::Checkout(t) => {
            h.variant(22, "Checkout", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.string(&t.order_ref, "kind.order_ref");
            h.order(&t.order, "kind.order");
            h.vec(&t.coupons, "kind.coupons", |h, c, q| h.target(c, q));
            h.option(&t.pay, "kind.pay", |h, pay| {
                h.vec(&pay.segments, "kind.pay.segments", |h, s, q| {
                    h.segment(*s, q)
                });
                h.u64(pay.amount, "kind.pay.amount");
            });
            h.boolean(t.earn, "kind.earn");
        }
        TxKind::RequestWithdrawal(t) => {
            h.variant(23, "RequestWithdrawal", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.segment(t.segment, "kind.segment");
            h.u64(t.amount, "kind.amount");
            h.string(&t.reference, "kind.reference");
        }
        TxKind::DecideWithdrawal(t) => {
            h.variant(24, "DecideWithdrawal", "kind");
            h.array(&t.withdrawal.0, "kind.withdrawal");
            match &t.decision {
                WithdrawalDecision::Approve => h.variant(0, "Approve", "kind.decision"),
                WithdrawalDecision::Paid { payment } => {
                    h.variant(1, "Paid", "kind.decision");
                    h.string(payment, "kind.decision.payment");
                }
                WithdrawalDecision::Reject => h.variant(2, "Reject", "kind.decision"),
            }
        }
        TxKind::Engage(t) => {
            h.variant(25, "Engage", "kind");
            h.string(t.program.as_str(), "kind.program");
            h.array(&t.member.0, "kind.member");
            h.string(&t.action, "kind.action");
            h.string(&t.reference, "kind.reference");
            h.option(&t.referred, "kind.referred", |h, m| {
                h.array(&m.0, "kind.referred")
            });
        }
        TxKind::ReleasePoints(t) => {
            h.variant(26, "ReleasePoints", "kind");
            h.array(&t.tx.0, "kind.tx");
        }
        TxKind::PlaceHold(t) => {
            h.variant(27, "PlaceHold", "kind");
            h.hold_target(&t.target, "kind.target");
            h.hold_reason(t.reason, "kind.reason");
            h.string(&t.note, "kind.note");
        }
        TxKind::ReviewHold(t) => {
            h.variant(28, "ReviewHold", "kind");
            h.hold_target(&t.target, "kind.target");
            match t.decision {
                HoldDecision::Confirm => h.variant(0, "Confirm", "kind.decision"),
                HoldDecision::Lift => h.variant(1, "Lift", "kind.decision"),
            }
            h.string(&t.note, "kind.note");
        }
        TxKind::RecordConsent(t) => {
            h.variant(29, "RecordConsent", "kind");
            h.array(&t.member.0, "kind.member");
            h.purpose(&t.purpose, "kind.purpose");
            match t.decision {
                ConsentDecision::Granted => h.variant(0, "Granted", "kind.decision"),
                ConsentDecision::Withdrawn => h.variant(1, "Withdrawn", "kind.decision"),
            }
            h.array(&t.text_hash.0, "kind.text_hash");
        }
        TxKind::RecordErasure(t) => {
            h.variant(30, "RecordErasure", "kind");
            h.array(&t.member.0, "kind.member");
        }
    }
    h.option(&b.memo, "memo", |h, m| h.string(m.as_str(), "memo"));
    h
}

#[test]
fn hand_encoder_agrees_with_bincode_on_every_vector() {
    for v in tx_vectors() {
        let hand = hand_encode(&v.case.body);
        assert_eq!(
            hex::encode(&hand.bytes),
            hex::encode(&v.body_bytes),
            "{}: the documented rules and the code encode the body differently; annotated \
             hand encoding:\n{}",
            v.case.name,
            hand.annotated()
        );
    }
}

/// Takes the worked-example vector as *documented* (hex from docs/encoding.md), rebuilds its
/// signing message and tx id by concatenating bytes as the document describes, checks the
/// documented signature with plain `verify_strict` and the documented tx id with plain
/// blake3, and then checks that the code (`signing_message`, `SignedTx::id`) agrees.
#[test]
fn signing_message_and_tx_id_by_hand() {
    let doc = read_doc();
    let documented = parse_vectors(generated_section(&doc))
        .into_iter()
        .find(|v| v.name == WORKED_EXAMPLE)
        .unwrap_or_else(|| panic!("no `{WORKED_EXAMPLE}` vector in {DOC_PATH}"));
    let get = |key: &str| -> Vec<u8> {
        let (_, value) = documented
            .fields
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("`{WORKED_EXAMPLE}` has no `{key}` line"));
        hex::decode(value).unwrap_or_else(|e| panic!("`{key}` is not hex: {e}"))
    };
    let (body, signer, signature, tx_id, signed_tx) = (
        get("body"),
        get("signer"),
        get("signature"),
        get("tx_id"),
        get("signed_tx"),
    );
    let chain = CHAIN.as_bytes();

    // tag ‖ u64le(len(chain id)) ‖ chain id ‖ body
    let mut message = b"couponcactus/tx/v1".to_vec();
    message.extend_from_slice(&(chain.len() as u64).to_le_bytes());
    message.extend_from_slice(chain);
    message.extend_from_slice(&body);
    let signer: [u8; 32] = signer.try_into().expect("a 32-byte signer");
    let signature: [u8; 64] = signature.try_into().expect("a 64-byte signature");
    VerifyingKey::from_bytes(&signer)
        .unwrap()
        .verify_strict(&message, &Signature::from_bytes(&signature))
        .expect("the documented signature verifies over the hand-built message");
    // blake3(tag ‖ body ‖ signer)
    let mut preimage = b"couponcactus/txid/v1".to_vec();
    preimage.extend_from_slice(&body);
    preimage.extend_from_slice(&signer);
    assert_eq!(
        blake3::hash(&preimage).as_bytes().as_slice(),
        tx_id,
        "the documented tx id is not blake3 of the documented preimage"
    );
    // body ‖ signer ‖ signature
    assert_eq!(signed_tx, [body.as_slice(), &signer, &signature].concat());

    // And the code agrees with the hand-built values.
    let tx: SignedTx = decode(&signed_tx).expect("the documented signed tx decodes");
    assert_eq!(
        signing_message(&tx.body.chain_id, &tx.body_bytes()),
        message,
        "tx::signing_message differs from the documented rule"
    );
    assert_eq!(
        tx.id().0.as_slice(),
        tx_id,
        "tx::tx_id differs from the documented rule"
    );
    assert_eq!(tx.verify(), Ok(()));
    // ed25519 is deterministic (RFC 8032): the seed signs the hand-built message to the
    // documented signature.
    use ed25519_dalek::Signer as _;
    let seed = tx_cases()
        .into_iter()
        .find(|c| c.name == WORKED_EXAMPLE)
        .unwrap()
        .seed;
    assert_eq!(testkit::key(seed).sign(&message).to_bytes(), signature);
}

/// Every vector's signing message and tx id, by hand (no `signing_message`, no `tx_id`).
#[test]
fn every_vector_signature_and_id_by_hand() {
    for v in tx_vectors() {
        let chain = v.case.body.chain_id.as_str().as_bytes();
        let message = [
            b"couponcactus/tx/v1".as_slice(),
            &(chain.len() as u64).to_le_bytes(),
            chain,
            &v.body_bytes,
        ]
        .concat();
        VerifyingKey::from_bytes(&v.tx.signer.0)
            .unwrap()
            .verify_strict(&message, &Signature::from_bytes(&v.tx.signature.0))
            .unwrap_or_else(|e| panic!("{}: {e}", v.case.name));
        let id = blake3::hash(
            &[
                b"couponcactus/txid/v1".as_slice(),
                &v.body_bytes,
                &v.tx.signer.0,
            ]
            .concat(),
        );
        assert_eq!(*id.as_bytes(), v.tx.id().0, "{}", v.case.name);
    }
}

#[test]
fn code_hash_and_seal_follow_the_documented_rules() {
    for code in CODE_HASH_INPUTS {
        let normalized = normalize_code(code);
        // derive_key(context, normalized UTF-8), nothing else.
        assert_eq!(
            code_hash(code).0,
            blake3::derive_key("couponcactus 2026 code hash v1", normalized.as_bytes()),
        );
        assert_eq!(CODE_HASH_TAG, "couponcactus 2026 code hash v1");
        // The documented normalization: drop Unicode whitespace and '-', then upper-case.
        let by_rule: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        assert_eq!(normalized, by_rule, "{code:?}");
    }
    assert_eq!(normalize_code(" abcd efgh-jkmn\t"), "ABCDEFGHJKMN");
    assert_eq!(normalize_code("straße-1"), "STRASSE1");
    assert_eq!(code_hash("ABCD-EFGH-JKMN"), code_hash(" abcd efgh-jkmn\t"));

    // Sealing by hand: AES-256-GCM(key, nonce, aad = tag ‖ pool id), output nonce ‖ ct ‖ tag.
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let pool: PoolId = slug(SEAL_POOL);
    let sealed = seal_code(&testkit::DATA_KEY, SEAL_NONCE, &pool, SEAL_CODE);
    assert_eq!(
        sealed.0.len(),
        SEAL_NONCE_LEN + SEAL_CODE.len() + SEAL_TAG_LEN
    );
    assert_eq!(&sealed.0[..SEAL_NONCE_LEN], &SEAL_NONCE);
    let cipher = aes_gcm::Aes256Gcm::new(&testkit::DATA_KEY.into());
    let by_hand = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&SEAL_NONCE),
            Payload {
                msg: SEAL_CODE.as_bytes(),
                aad: &seal_aad(SEAL_POOL),
            },
        )
        .unwrap();
    assert_eq!(&sealed.0[SEAL_NONCE_LEN..], by_hand.as_slice());
    assert_eq!(
        open_code(&testkit::DATA_KEY, &pool, &sealed).unwrap(),
        SEAL_CODE
    );
    // Inside a tx a sealed code is a byte vector: u64 LE length, then the bytes.
    let mut expected = (sealed.0.len() as u64).to_le_bytes().to_vec();
    expected.extend_from_slice(&sealed.0);
    assert_eq!(encode(&sealed), expected);
}

// ---- the hand-written parts of the document ------------------------------------------

/// The lines of the section under the heading line `heading` (up to the next heading).
fn section_under<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = doc.lines();
    lines
        .by_ref()
        .find(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no heading line `{heading}`"));
    lines.take_while(|l| !l.starts_with('#')).collect()
}

/// Table rows of a section whose first cell is a number: (number, second cell).
fn numbered_rows(lines: &[&str]) -> Vec<(u32, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().strip_prefix('|')?.split('|').collect();
            let n = cells.first()?.trim().parse().ok()?;
            Some((n, cells.get(1)?.trim().trim_matches('`').to_string()))
        })
        .collect()
}

/// The variant index of an enum value: the first four bytes of its encoding.
fn index_of<T: bincode::Encode>(v: &T) -> u32 {
    let bytes = encode(v);
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

fn check_enum_table(doc: &str, name: &str, variants: &[(u32, &str)], errors: &mut Vec<String>) {
    let heading = format!("#### enum `{name}`");
    let rows = numbered_rows(&section_under(doc, &heading));
    let expected: Vec<(u32, String)> = variants.iter().map(|(i, n)| (*i, n.to_string())).collect();
    if rows != expected {
        errors.push(format!(
            "table under `{heading}`:\n      document: {rows:?}\n      code:     {expected:?}"
        ));
    }
}

#[test]
fn documented_variant_indices_match_the_code() {
    let doc = read_doc();
    let mut errors = Vec::new();
    let t = |s: &str| -> TokenId { s.parse().unwrap() };
    // Each list is the enum's variants in declaration order; exhaustive matches make a new
    // variant a compile error here until it is added (and documented).
    let role = |r: &Role| match r {
        Role::OrgAdmin => "OrgAdmin",
        Role::Issuer => "Issuer",
        Role::Terminal { .. } => "Terminal",
        Role::Auditor => "Auditor",
        Role::Partner => "Partner",
        Role::Risk => "Risk",
    };
    let roles = [
        Role::OrgAdmin,
        Role::Issuer,
        Role::Terminal {
            store: slug("s"),
            channel: slug("c"),
        },
        Role::Auditor,
        Role::Partner,
        Role::Risk,
    ];
    let list: Vec<(u32, &str)> = roles.iter().map(|r| (index_of(r), role(r))).collect();
    check_enum_table(&doc, "Role", &list, &mut errors);

    let kinds: Vec<(u32, &str)> = tx_vectors()
        .iter()
        .map(|v| {
            let k = &v.case.body.kind;
            let name = match k {
                TxKind::RegisterKey(_) => "RegisterKey",
                TxKind::RevokeKey(_) => "RevokeKey",
                TxKind::ProposeGovernance(_) => "ProposeGovernance",
                TxKind::ApproveGovernance(_) => "ApproveGovernance",
                TxKind::CreatePool(_) => "CreatePool",
                TxKind::UpdatePool(_) => "UpdatePool",
                TxKind::TransitionPool(_) => "TransitionPool",
                TxKind::IssueCodes(_) => "IssueCodes",
                TxKind::Allocate(_) => "Allocate",
                TxKind::Redeem(_) => "Redeem",
                TxKind::Rollback(_) => "Rollback",
                TxKind::RevokeToken(_) => "RevokeToken",
                TxKind::TransferToken(_) => "TransferToken",
                TxKind::SetProgram(_) => "SetProgram",
                TxKind::Load(_) => "Load",
                TxKind::Earn(_) => "Earn",
                TxKind::Spend(_) => "Spend",
                TxKind::Void(_) => "Void",
                TxKind::Adjust(_) => "Adjust",
                TxKind::DecideAdjustment(_) => "DecideAdjustment",
                TxKind::TransferBalance(_) => "TransferBalance",
                TxKind::ExpireBalances(_) => "ExpireBalances",
                TxKind::Checkout(_) => "Checkout",
                TxKind::RequestWithdrawal(_) => "RequestWithdrawal",
                TxKind::DecideWithdrawal(_) => "DecideWithdrawal",
                TxKind::Engage(_) => "Engage",
                TxKind::ReleasePoints(_) => "ReleasePoints",
                TxKind::PlaceHold(_) => "PlaceHold",
                TxKind::ReviewHold(_) => "ReviewHold",
                TxKind::RecordConsent(_) => "RecordConsent",
                TxKind::RecordErasure(_) => "RecordErasure",
            };
            (index_of(k), name)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    check_enum_table(&doc, "TxKind", &kinds, &mut errors);

    let changes: Vec<(u32, &str)> = tx_cases()
        .iter()
        .filter_map(|c| match &c.body.kind {
            TxKind::ProposeGovernance(p) => Some(&p.change),
            _ => None,
        })
        .map(|c| {
            let name = match c {
                GovernanceChange::AddOrg { .. } => "AddOrg",
                GovernanceChange::AddNode { .. } => "AddNode",
                GovernanceChange::RemoveNode { .. } => "RemoveNode",
                GovernanceChange::UpdateParams { .. } => "UpdateParams",
                GovernanceChange::AddAuditor { .. } => "AddAuditor",
            };
            (index_of(c), name)
        })
        .collect();
    check_enum_table(&doc, "GovernanceChange", &changes, &mut errors);

    let discount = |d: &Discount| match d {
        Discount::Percent { .. } => "Percent",
        Discount::Fixed { .. } => "Fixed",
    };
    let discounts = [
        Discount::Percent { bps: 1 },
        Discount::Fixed { amount_minor: 1 },
    ];
    let list: Vec<(u32, &str)> = discounts
        .iter()
        .map(|d| (index_of(d), discount(d)))
        .collect();
    check_enum_table(&doc, "Discount", &list, &mut errors);

    let pool_kind = |k: &PoolKind| match k {
        PoolKind::UniqueCodes => "UniqueCodes",
        PoolKind::SharedCode => "SharedCode",
    };
    let list: Vec<(u32, &str)> = [PoolKind::UniqueCodes, PoolKind::SharedCode]
        .iter()
        .map(|k| (index_of(k), pool_kind(k)))
        .collect();
    check_enum_table(&doc, "PoolKind", &list, &mut errors);

    let segment = |s: &Segment| match s {
        Segment::CashDeposit => "CashDeposit",
        Segment::Gift => "Gift",
        Segment::Mileage => "Mileage",
        Segment::RefundCredit => "RefundCredit",
    };
    let segments = [
        Segment::CashDeposit,
        Segment::Gift,
        Segment::Mileage,
        Segment::RefundCredit,
    ];
    let list: Vec<(u32, &str)> = segments.iter().map(|s| (index_of(s), segment(s))).collect();
    check_enum_table(&doc, "Segment", &list, &mut errors);
    let unit = |u: &Unit| match u {
        Unit::Money { .. } => "Money",
        Unit::Points => "Points",
    };
    let units = [
        Unit::Money {
            currency: Currency(*b"EUR"),
        },
        Unit::Points,
    ];
    let list: Vec<(u32, &str)> = units.iter().map(|u| (index_of(u), unit(u))).collect();
    check_enum_table(&doc, "Unit", &list, &mut errors);
    let expiry = |e: &ExpiryPolicy| match e {
        ExpiryPolicy::Never => "Never",
        ExpiryPolicy::MonthsAfterEarning { .. } => "MonthsAfterEarning",
        ExpiryPolicy::FixedDates { .. } => "FixedDates",
        ExpiryPolicy::Inactivity { .. } => "Inactivity",
    };
    let expiries = [
        ExpiryPolicy::Never,
        ExpiryPolicy::MonthsAfterEarning { months: 1 },
        ExpiryPolicy::FixedDates { dates_ms: vec![] },
        ExpiryPolicy::Inactivity { days: 1 },
    ];
    let list: Vec<(u32, &str)> = expiries.iter().map(|e| (index_of(e), expiry(e))).collect();
    check_enum_table(&doc, "ExpiryPolicy", &list, &mut errors);
    let basis = |b: &TierBasis| match b {
        TierBasis::PointsCollected => "PointsCollected",
        TierBasis::Balance => "Balance",
    };
    let list: Vec<(u32, &str)> = [TierBasis::PointsCollected, TierBasis::Balance]
        .iter()
        .map(|b| (index_of(b), basis(b)))
        .collect();
    check_enum_table(&doc, "TierBasis", &list, &mut errors);
    let direction = |d: &Direction| match d {
        Direction::Credit => "Credit",
        Direction::Debit => "Debit",
    };
    let list: Vec<(u32, &str)> = [Direction::Credit, Direction::Debit]
        .iter()
        .map(|d| (index_of(d), direction(d)))
        .collect();
    check_enum_table(&doc, "Direction", &list, &mut errors);
    // Adjustment reasons: the table lists the index and the snake_case name.
    let reason = |r: &AdjustReason| match r {
        AdjustReason::Goodwill => "goodwill",
        AdjustReason::Correction => "correction",
        AdjustReason::Migration => "migration",
        AdjustReason::Fraud => "fraud",
        AdjustReason::Other => "other",
    };
    let reasons = [
        AdjustReason::Goodwill,
        AdjustReason::Correction,
        AdjustReason::Migration,
        AdjustReason::Fraud,
        AdjustReason::Other,
    ];
    let list: Vec<(u32, &str)> = reasons.iter().map(|r| (index_of(r), reason(r))).collect();
    check_enum_table(&doc, "AdjustReason", &list, &mut errors);
    let decision = |d: &WithdrawalDecision| match d {
        WithdrawalDecision::Approve => "Approve",
        WithdrawalDecision::Paid { .. } => "Paid",
        WithdrawalDecision::Reject => "Reject",
    };
    let decisions = [
        WithdrawalDecision::Approve,
        WithdrawalDecision::Paid {
            payment: "p".into(),
        },
        WithdrawalDecision::Reject,
    ];
    let list: Vec<(u32, &str)> = decisions
        .iter()
        .map(|d| (index_of(d), decision(d)))
        .collect();
    check_enum_table(&doc, "WithdrawalDecision", &list, &mut errors);

    let action = |a: &PoolAction| match a {
        PoolAction::Activate => "Activate",
        PoolAction::Pause => "Pause",
        PoolAction::Resume => "Resume",
        PoolAction::Archive => "Archive",
    };
    let list: Vec<(u32, &str)> = [
        PoolAction::Activate,
        PoolAction::Pause,
        PoolAction::Resume,
        PoolAction::Archive,
    ]
    .iter()
    .map(|a| (index_of(a), action(a)))
    .collect();
    check_enum_table(&doc, "PoolAction", &list, &mut errors);

    let target = |r: &RedeemTarget| match r {
        RedeemTarget::Token(_) => "Token",
        RedeemTarget::Code(_) => "Code",
    };
    let list: Vec<(u32, &str)> = [
        RedeemTarget::Token(t("p/0")),
        RedeemTarget::Code(CodeHash([0; 32])),
    ]
    .iter()
    .map(|r| (index_of(r), target(r)))
    .collect();
    check_enum_table(&doc, "RedeemTarget", &list, &mut errors);

    // Revoke reasons: the table lists the index and the snake_case name.
    let revoke_reason = |r: &RevokeReason| match r {
        RevokeReason::Fraud => "fraud",
        RevokeReason::CustomerRequest => "customer_request",
        RevokeReason::IssuedInError => "issued_in_error",
        RevokeReason::ExpiredCampaign => "expired_campaign",
        RevokeReason::Other => "other",
    };
    let list: Vec<(u32, &str)> = RevokeReason::ALL
        .iter()
        .map(|r| (index_of(r), revoke_reason(r)))
        .collect();
    check_enum_table(&doc, "RevokeReason", &list, &mut errors);

    // The fraud rules' enums.
    let hold_target = |t: &HoldTarget| match t {
        HoldTarget::Member(_) => "Member",
        HoldTarget::Terminal(_) => "Terminal",
        HoldTarget::Code(_) => "Code",
    };
    let targets = [
        HoldTarget::Member(testkit::member(1)),
        HoldTarget::Terminal(testkit::public(1)),
        HoldTarget::Code(CodeHash([0; 32])),
    ];
    let list: Vec<(u32, &str)> = targets
        .iter()
        .map(|t| (index_of(t), hold_target(t)))
        .collect();
    check_enum_table(&doc, "HoldTarget", &list, &mut errors);
    // Hold reasons: the table lists the index and the snake_case name.
    let hold_reason = |r: &HoldReason| match r {
        HoldReason::Velocity => "velocity",
        HoldReason::Enumeration => "enumeration",
        HoldReason::Bot => "bot",
        HoldReason::Leakage => "leakage",
        HoldReason::ImpossibleTravel => "impossible_travel",
        HoldReason::Collusion => "collusion",
        HoldReason::Canary => "canary",
        HoldReason::CustomerRequest => "customer_request",
        HoldReason::Other => "other",
    };
    let hold_reasons = [
        HoldReason::Velocity,
        HoldReason::Enumeration,
        HoldReason::Bot,
        HoldReason::Leakage,
        HoldReason::ImpossibleTravel,
        HoldReason::Collusion,
        HoldReason::Canary,
        HoldReason::CustomerRequest,
        HoldReason::Other,
    ];
    for r in &hold_reasons {
        assert_eq!(hold_reason(r), r.name(), "HoldReason::name of {r:?}");
    }
    let list: Vec<(u32, &str)> = hold_reasons
        .iter()
        .map(|r| (index_of(r), hold_reason(r)))
        .collect();
    check_enum_table(&doc, "HoldReason", &list, &mut errors);
    let hold_decision = |d: &HoldDecision| match d {
        HoldDecision::Confirm => "Confirm",
        HoldDecision::Lift => "Lift",
    };
    let list: Vec<(u32, &str)> = [HoldDecision::Confirm, HoldDecision::Lift]
        .iter()
        .map(|d| (index_of(d), hold_decision(d)))
        .collect();
    check_enum_table(&doc, "HoldDecision", &list, &mut errors);
    // Consent (issue 21).
    let purpose = |p: &Purpose| match p {
        Purpose::Marketing => "Marketing",
        Purpose::Profiling => "Profiling",
        Purpose::PartnerSharing(_) => "PartnerSharing",
    };
    let list: Vec<(u32, &str)> = [
        Purpose::Marketing,
        Purpose::Profiling,
        Purpose::PartnerSharing(slug("globex")),
    ]
    .iter()
    .map(|p| (index_of(p), purpose(p)))
    .collect();
    check_enum_table(&doc, "Purpose", &list, &mut errors);
    let decision = |d: &ConsentDecision| match d {
        ConsentDecision::Granted => "Granted",
        ConsentDecision::Withdrawn => "Withdrawn",
    };
    let list: Vec<(u32, &str)> = [ConsentDecision::Granted, ConsentDecision::Withdrawn]
        .iter()
        .map(|d| (index_of(d), decision(d)))
        .collect();
    check_enum_table(&doc, "ConsentDecision", &list, &mut errors);
    let scope = |s: &VelocityScope| match s {
        VelocityScope::Member => "Member",
        VelocityScope::Terminal => "Terminal",
        VelocityScope::Store => "Store",
    };
    let list: Vec<(u32, &str)> = [
        VelocityScope::Member,
        VelocityScope::Terminal,
        VelocityScope::Store,
    ]
    .iter()
    .map(|s| (index_of(s), scope(s)))
    .collect();
    check_enum_table(&doc, "VelocityScope", &list, &mut errors);

    // Reasons: the table lists the index and the snake_case code.
    let reasons: Vec<(u32, &str)> = RejectReason::ALL
        .iter()
        .map(|r| (index_of(r), r.code()))
        .collect();
    for (i, (index, _)) in reasons.iter().enumerate() {
        assert_eq!(
            *index as usize, i,
            "RejectReason::ALL is not in encoding order"
        );
    }
    check_enum_table(&doc, "RejectReason", &reasons, &mut errors);

    assert!(
        errors.is_empty(),
        "docs/encoding.md's variant tables no longer match the code (fix the tables by hand; \
         a reordered enum also breaks every terminal):\n  {}",
        errors.join("\n  ")
    );
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

#[test]
fn documented_struct_fields_match_the_code() {
    let structs = [
        struct_fields!(TxBody {
            chain_id,
            nonce,
            valid_until_ms,
            kind,
            memo
        }),
        struct_fields!(SignedTx {
            body,
            signer,
            signature
        }),
        struct_fields!(RegisterKeyTx { key, role }),
        struct_fields!(RevokeKeyTx { key }),
        struct_fields!(ProposeGovernanceTx { change }),
        struct_fields!(ApproveGovernanceTx { proposal }),
        struct_fields!(CreatePoolTx { pool, spec }),
        struct_fields!(UpdatePoolTx { pool, spec }),
        struct_fields!(TransitionPoolTx { pool, action }),
        struct_fields!(IssueCodesTx { pool, codes }),
        struct_fields!(AllocateTx {
            pool,
            member,
            claim
        }),
        struct_fields!(RedeemTx {
            target,
            member,
            order
        }),
        struct_fields!(RollbackTx { redemption }),
        struct_fields!(RevokeTokenTx {
            token,
            reason,
            note
        }),
        struct_fields!(TransferTokenTx { token, from, to }),
        struct_fields!(SetProgramTx { spec }),
        struct_fields!(LoadTx {
            program,
            member,
            segment,
            amount,
            reference
        }),
        struct_fields!(EarnTx {
            program,
            member,
            order_ref,
            order
        }),
        struct_fields!(SpendTx {
            program,
            member,
            segments,
            amount,
            order_ref
        }),
        struct_fields!(VoidTx { tx }),
        struct_fields!(AdjustTx {
            program,
            member,
            segment,
            direction,
            amount,
            reason,
            note
        }),
        struct_fields!(DecideAdjustmentTx {
            adjustment,
            approve
        }),
        struct_fields!(TransferBalanceTx {
            program,
            from,
            to,
            segment,
            amount
        }),
        struct_fields!(ExpireBalancesTx { program, members }),
        struct_fields!(CheckoutTx {
            program,
            member,
            order_ref,
            order,
            coupons,
            pay,
            earn
        }),
        struct_fields!(BalanceSpend { segments, amount }),
        struct_fields!(RequestWithdrawalTx {
            program,
            member,
            segment,
            amount,
            reference
        }),
        struct_fields!(DecideWithdrawalTx {
            withdrawal,
            decision
        }),
        struct_fields!(EngageTx {
            program,
            member,
            action,
            reference,
            referred
        }),
        struct_fields!(ReleasePointsTx { tx }),
        struct_fields!(PlaceHoldTx {
            target,
            reason,
            note
        }),
        struct_fields!(ReviewHoldTx {
            target,
            decision,
            note
        }),
        struct_fields!(RecordConsentTx {
            member,
            purpose,
            decision,
            text_hash
        }),
        struct_fields!(RecordErasureTx { member }),
        struct_fields!(ProgramSpec {
            name,
            currency,
            segments,
            earn,
            tiers,
            adjust_approval_above,
            transfers,
            partner_orgs,
            checkout,
            engagement,
            requires_consent
        }),
        struct_fields!(CheckoutRules {
            max_order_discount_minor,
            point_value_minor,
            not_combinable_pools
        }),
        struct_fields!(SegmentRule {
            segment,
            unit,
            spend_priority,
            expiry
        }),
        struct_fields!(EarnRule {
            points,
            per_minor,
            excluded_categories,
            promotions,
            per_tx_cap,
            period_cap,
            max_balance,
            pending_days,
            release_on_event
        }),
        struct_fields!(Promotion {
            from_ms,
            until_ms,
            multiplier_permille
        }),
        struct_fields!(PeriodCap { days, cap }),
        struct_fields!(TierPolicy {
            tiers,
            basis,
            window_days,
            grace_days,
            keep_on_rule_change
        }),
        struct_fields!(EngagementRule {
            action,
            points,
            referred_points,
            limit,
            window_days
        }),
        struct_fields!(Tier {
            name,
            min_points,
            multiplier_permille
        }),
        struct_fields!(TokenId { pool, serial }),
        struct_fields!(PoolSpec {
            name,
            kind,
            currency,
            discount,
            max_discount_minor,
            min_spend_minor,
            valid_from_ms,
            valid_until_ms,
            total_cap,
            per_member_cap,
            allowed_channels,
            allowed_stores,
            excluded_categories,
            stacking_group,
            partner_orgs,
            transferable,
            velocity,
            requires_consent
        }),
        struct_fields!(VelocityLimit {
            per,
            max,
            window_ms
        }),
        struct_fields!(IssuedCode { code_hash, sealed }),
        struct_fields!(Order {
            currency,
            total_minor,
            lines
        }),
        struct_fields!(OrderLine {
            category,
            amount_minor
        }),
        struct_fields!(NodeRecord {
            node_id,
            org,
            node_key,
            p2p_addr,
            voter
        }),
        struct_fields!(ChainParams {
            max_batch_codes,
            max_tx_validity_ms,
            proposal_ttl_ms,
            max_sealed_code_bytes,
        }),
    ];
    let doc = read_doc();
    let mut errors = Vec::new();
    for (name, fields) in structs {
        let heading = format!("#### struct `{name}`");
        let rows: Vec<String> = numbered_rows(&section_under(&doc, &heading))
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        if rows != fields {
            errors.push(format!(
                "fields under `{heading}`:\n      document: {rows:?}\n      code:     {fields:?}"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "docs/encoding.md's struct tables no longer match the code (the field order is the \
         byte order; fix the tables by hand):\n  {}",
        errors.join("\n  ")
    );
}

/// The worked example's annotated bytes, signing message and tx id (hand-written in the
/// document) are those of the `transition_pool_activate` vector.
#[test]
fn worked_example_matches_the_code() {
    let doc = read_doc();
    let v = tx_vectors()
        .into_iter()
        .find(|v| v.case.name == WORKED_EXAMPLE)
        .unwrap();
    let blocks: BTreeMap<String, String> = fenced_blocks(&doc)
        .into_iter()
        .filter_map(|(info, lines)| {
            let name = info.strip_prefix("worked-example ")?.trim().to_string();
            // Each line: offset, hex, then the meaning; only the hex counts.
            let hex: String = lines
                .iter()
                .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
                .collect();
            Some((name, hex))
        })
        .collect();
    let message = signing_message(&v.case.body.chain_id, &v.body_bytes);
    let preimage = [
        b"couponcactus/txid/v1".as_slice(),
        &v.body_bytes,
        &v.tx.signer.0,
    ]
    .concat();
    let expected = [
        ("body", hex::encode(&v.body_bytes)),
        ("signing-message", hex::encode(&message)),
        ("tx-id-preimage", hex::encode(&preimage)),
        ("tx-id", v.tx.id().to_hex()),
        ("signed-tx", hex::encode(&v.signed_bytes)),
    ];
    let mut errors = Vec::new();
    for (name, hex) in expected {
        match blocks.get(name) {
            None => errors.push(format!("no ```worked-example {name} block")),
            Some(doc_hex) if *doc_hex != hex => errors.push(format!(
                "```worked-example {name}: {}",
                show_difference(doc_hex, &hex)
            )),
            Some(_) => {}
        }
    }
    assert!(
        errors.is_empty(),
        "the worked example of docs/encoding.md no longer matches `{WORKED_EXAMPLE}` (fix it by \
         hand; the generated vector shows the new bytes):\n  {}",
        errors.join("\n  ")
    );
}

/// The primitive rules table, spot-checked.
#[test]
fn primitive_rules() {
    assert_eq!(encode(&0xabu8), [0xab]);
    assert_eq!(encode(&0x0102u16), [0x02, 0x01]);
    assert_eq!(encode(&0x0102_0304u32), [4, 3, 2, 1]);
    assert_eq!(encode(&0x0102_0304_0506_0708u64), [8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(encode(&false), [0]);
    assert_eq!(encode(&true), [1]);
    assert_eq!(encode(&None::<u64>), [0]);
    assert_eq!(encode(&Some(5u64)), [1, 5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        encode(&"é".to_string()),
        [2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0xa9]
    );
    assert_eq!(
        encode(&vec![1u32, 2]),
        [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]
    );
    assert_eq!(encode(&PublicKey([7; 32])), [7; 32]);
    assert_eq!(encode(&Currency(*b"EUR")), *b"EUR");
    assert_eq!(encode(&PoolAction::Archive), [3, 0, 0, 0]);
    assert_eq!(
        encode(&TokenId {
            pool: slug("p"),
            serial: 2
        }),
        [1, 0, 0, 0, 0, 0, 0, 0, b'p', 2, 0, 0, 0, 0, 0, 0, 0]
    );
    // Decoding is strict: only 0/1 for bool and Option tags, valid UTF-8, known variants.
    assert!(decode::<bool>(&[2]).is_err());
    assert!(decode::<Option<u8>>(&[2, 0]).is_err());
    assert!(decode::<String>(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_err());
    assert!(decode::<PoolAction>(&[4, 0, 0, 0]).is_err());
    assert!(decode::<TxKind>(&13u32.to_le_bytes()).is_err());
    assert!(decode::<TxKind>(&29u32.to_le_bytes()).is_err());
    assert!(decode::<Role>(&6u32.to_le_bytes()).is_err());
    assert!(decode::<HoldTarget>(&3u32.to_le_bytes()).is_err());
    assert!(decode::<HoldReason>(&9u32.to_le_bytes()).is_err());
    assert!(decode::<HoldDecision>(&2u32.to_le_bytes()).is_err());
    assert!(decode::<VelocityScope>(&3u32.to_le_bytes()).is_err());
    assert!(decode::<Purpose>(&3u32.to_le_bytes()).is_err());
    assert!(decode::<ConsentDecision>(&2u32.to_le_bytes()).is_err());
    // A map (the records' balances per segment): its entry count, then key and value of
    // each entry in ascending key order, whatever the order of insertion.
    let map: BTreeMap<Segment, u64> = [(Segment::Mileage, 7), (Segment::CashDeposit, 500)]
        .into_iter()
        .collect();
    let mut hand = Hand::default();
    hand.map(&map, "map", |h, k, v, q| {
        h.segment(*k, &format!("{q}.key"));
        h.u64(*v, &format!("{q}.value"));
    });
    assert_eq!(encode(&map), hand.bytes);
    assert_eq!(
        hex::encode(encode(&map)),
        "0200000000000000\
         00000000f401000000000000\
         020000000700000000000000"
    );
    // Slugs are not checked by decoding (only when a tx is executed).
    assert_eq!(
        decode::<PoolId>(&[1, 0, 0, 0, 0, 0, 0, 0, b'A'])
            .unwrap()
            .as_str(),
        "A"
    );
}
