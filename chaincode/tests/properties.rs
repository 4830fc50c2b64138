//! Property tests of the state machine and the encoding.
//!
//! `random_blocks_keep_the_ledger_invariants` generates sequences of blocks of random txs
//! (allocations, redemptions by token and by code, rollbacks of earlier redemptions,
//! revocations, transfers, pool transitions, issue batches, replays; from right-role,
//! wrong-role, partner, revoked and unknown signers; some stale, too long-lived, for
//! another chain or with a broken signature; block-time jumps of up to 30 h) against a
//! chain with three unique-code pools (one in draft) and a shared-code pool, and checks
//! after every block:
//!
//! - no token is redeemed twice without a rollback in between (events and token status);
//! - shared pools: redemptions in force never exceed `total_cap`, per member never
//!   `per_member_cap`; unique pools: allocations per member never exceed the cap, and a
//!   token is only ever handed to one member (later only moved by transfers);
//! - pool status moves only along draft → active → paused ⇄ active → archived;
//! - rejected txs change nothing: the block without its rejected txs gives byte-identical
//!   writes and identical results (for a block of rejections only: the empty block's);
//! - pool counters equal a recount from token and redemption records;
//! - replaying the same blocks from the same genesis gives byte-identical write sets and
//!   identical results.
//!
//! The same run checks the ledger events derived from every block
//! (`couponcactus_chaincode::events`): one `tx.rejected` per rejected tx and one event per
//! chaincode event of an applied tx, in order; ids strictly increasing (so unique);
//! per-pool and per-token sequence numbers gap-free from 1; the same events on replay; and
//! the same events when derived later from the final state (how a node indexes blocks
//! stored before it kept an event log).
//!
//! `generated_blocks_apply_every_kind_of_tx` guards the generator: its blocks must still
//! get allocations, redemptions, rollbacks and transfers applied, not only rejected.
//!
//! `signed_txs_round_trip_through_the_encoding` checks `decode(encode(x)) == x` and
//! byte-identical re-encoding for random signed txs of every kind, with and without a memo.
//!
//! `a_memo_changes_no_execution_result` runs the same random blocks twice, once with a memo
//! on every tx: every tx's outcome and the final state are the same up to the tx ids (which
//! cover the memo), and every event carries its tx's memo.

use couponcactus_chaincode::events::{
    AfterBlock, BlockPosition, EventDetail, EventType, LedgerEvent, SeqKey, Sequences,
    derive_block_events,
};
use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::state::seen_txs_of;
use couponcactus_chaincode::testkit::{self, GENESIS_MS, TestChain};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

// ---- fixture ---------------------------------------------------------------------------

const ACME_ADMIN: usize = 0;
const ACME_ISSUER: usize = 1;
const ACME_TERMINAL_POS: usize = 2;
const ACME_TERMINAL_WEB: usize = 3;
const GLOBEX_TERMINAL: usize = 4;
const INITECH_TERMINAL: usize = 5;
const ACME_AUDITOR: usize = 6;
const GLOBEX_PARTNER: usize = 7;
const GLOBEX_ADMIN: usize = 8;
const REVOKED_ISSUER: usize = 9;
const UNKNOWN_KEY: usize = 10;
const SIGNERS: usize = 11;

/// Managers of acme's pools, terminals that may redeem them, and who may roll back.
const MANAGERS: [usize; 2] = [ACME_ISSUER, ACME_ADMIN];
const TERMINALS: [usize; 3] = [ACME_TERMINAL_POS, ACME_TERMINAL_WEB, GLOBEX_TERMINAL];
const ROLLBACKERS: [usize; 4] = [
    ACME_TERMINAL_POS,
    ACME_TERMINAL_WEB,
    GLOBEX_TERMINAL,
    ACME_ADMIN,
];

/// `uni-a` (active, transferable, partner globex), `uni-b` (active, store-bound, fixed
/// discount with a minimum spend, ends two days after genesis), `shared` (active shared
/// code, partner globex, pos only), `uni-c` (draft), and one pool that does not exist.
const POOLS: [&str; 5] = ["uni-a", "uni-b", "shared", "uni-c", "missing"];
const MISSING_POOL: usize = 4;
const UNI_B_ENDS_MS: u64 = GENESIS_MS + 2 * 24 * 3_600_000;

struct Fixture {
    chain: TestChain,
    signers: Vec<SigningKey>,
}

fn terminal(store: &str, channel: &str) -> Role {
    Role::Terminal {
        store: StoreId::new(store).unwrap(),
        channel: Channel::new(channel).unwrap(),
    }
}

/// The chain after set-up, built once and cloned by every case.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut chain = TestChain::new();
        let acme = testkit::key(1);
        let globex = testkit::key(2);
        let initech = testkit::key(3);
        let issuer = chain.register(&acme, 10, Role::Issuer);
        let pos = chain.register(&acme, 11, terminal("berlin-1", "pos"));
        let web = chain.register(&acme, 12, terminal("paris-1", "web"));
        let auditor = chain.register_auditor("acme", 13);
        let revoked = chain.register(&acme, 14, Role::Issuer);
        chain.applied(
            &acme,
            TxKind::RevokeKey(RevokeKeyTx {
                key: testkit::public(14),
            }),
        );
        let globex_terminal = chain.register(&globex, 20, terminal("hamburg-1", "pos"));
        let globex_partner = chain.register(&globex, 21, Role::Partner);
        let initech_terminal = chain.register(&initech, 30, terminal("rome-1", "pos"));

        let mut a = testkit::spec(PoolKind::UniqueCodes);
        a.total_cap = 24;
        a.per_member_cap = 2;
        a.transferable = true;
        a.partner_orgs = vec![testkit::org("globex")];
        chain.pool(&issuer, POOLS[0], a, 10, true);

        let mut b = testkit::spec(PoolKind::UniqueCodes);
        b.total_cap = 12;
        b.per_member_cap = 1;
        b.discount = Discount::Fixed { amount_minor: 500 };
        b.min_spend_minor = 1_000;
        b.allowed_stores = vec![StoreId::new("berlin-1").unwrap()];
        b.valid_until_ms = UNI_B_ENDS_MS;
        chain.pool(&issuer, POOLS[1], b, 4, true);

        let mut s = testkit::spec(PoolKind::SharedCode);
        s.total_cap = 4;
        s.per_member_cap = 2;
        s.partner_orgs = vec![testkit::org("globex")];
        s.allowed_channels = vec![Channel::new("pos").unwrap()];
        chain.pool(&issuer, POOLS[2], s, 1, true);

        let mut c = testkit::spec(PoolKind::UniqueCodes);
        c.total_cap = 8;
        chain.pool(&issuer, POOLS[3], c, 3, false);

        let mut signers = vec![testkit::key(0); SIGNERS];
        signers[ACME_ADMIN] = acme;
        signers[ACME_ISSUER] = issuer;
        signers[ACME_TERMINAL_POS] = pos;
        signers[ACME_TERMINAL_WEB] = web;
        signers[GLOBEX_TERMINAL] = globex_terminal;
        signers[INITECH_TERMINAL] = initech_terminal;
        signers[ACME_AUDITOR] = auditor;
        signers[GLOBEX_PARTNER] = globex_partner;
        signers[GLOBEX_ADMIN] = globex;
        signers[REVOKED_ISSUER] = revoked;
        signers[UNKNOWN_KEY] = testkit::key(99);
        Fixture { chain, signers }
    })
}

// ---- generated operations ----------------------------------------------------------------

/// What a generated tx does; numbers are resolved against the chain when the tx is built.
#[derive(Clone, Debug)]
enum Op {
    Allocate {
        pool: usize,
        member: u64,
        claim: u64,
    },
    RedeemToken {
        pool: usize,
        serial: u64,
        member: Option<u64>,
        order: (u64, bool),
    },
    RedeemCode {
        pool: usize,
        serial: u64,
        member: Option<u64>,
        order: (u64, bool),
    },
    /// Redeems the shared pool's code.
    RedeemShared {
        member: Option<u64>,
        order: (u64, bool),
    },
    /// Rolls back a redemption of an earlier block (`pick` < 12), a redeem tx of this block
    /// (12 to 14) or an unknown redemption (15, or when there is none).
    Rollback {
        pick: usize,
    },
    Revoke {
        pool: usize,
        serial: u64,
    },
    Transfer {
        pool: usize,
        serial: u64,
        from_owner: bool,
        from: u64,
        to: u64,
    },
    Transition {
        pool: usize,
        action: PoolAction,
    },
    /// `count` new codes; `dup`: 0 none, 1 repeat one in the batch, 2 reuse a code on the
    /// ledger.
    Issue {
        pool: usize,
        count: u64,
        dup: u8,
    },
    /// Resubmits the `pick`-th tx built so far, unchanged.
    Replay {
        pick: usize,
    },
}

/// Envelope variations.
#[derive(Clone, Copy, Debug)]
enum Envelope {
    Normal,
    Stale,
    TooLongLived,
    OtherChain,
    BadSignature,
}

#[derive(Clone, Debug)]
struct TxSpec {
    op: Op,
    /// `(true, i)`: the `i`-th signer of the role the op needs; `(false, i)`: signer `i`.
    signer: (bool, usize),
    envelope: Envelope,
}

#[derive(Clone, Debug)]
struct BlockSpec {
    advance_ms: u64,
    txs: Vec<TxSpec>,
}

fn pool_pick() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 2 => Just(1), 2 => Just(2), 1 => Just(3), 1 => Just(4)]
}

fn member_pick() -> impl Strategy<Value = u64> {
    0u64..6
}

fn order_pick() -> impl Strategy<Value = (u64, bool)> {
    (
        prop::sample::select(vec![0u64, 500, 999, 1_000, 5_000, 250_000]),
        prop::bool::weighted(0.1),
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pool_pick(), member_pick(), 0u64..10)
            .prop_map(|(pool, member, claim)| Op::Allocate { pool, member, claim }),
        4 => (pool_pick(), 0u64..12, prop::option::weighted(0.6, member_pick()), order_pick())
            .prop_map(|(pool, serial, member, order)| Op::RedeemToken { pool, serial, member, order }),
        4 => (pool_pick(), 0u64..12, prop::option::weighted(0.6, member_pick()), order_pick())
            .prop_map(|(pool, serial, member, order)| Op::RedeemCode { pool, serial, member, order }),
        3 => (prop::option::weighted(0.9, member_pick()), order_pick())
            .prop_map(|(member, order)| Op::RedeemShared { member, order }),
        4 => (0usize..16).prop_map(|pick| Op::Rollback { pick }),
        1 => (pool_pick(), 0u64..16).prop_map(|(pool, serial)| Op::Revoke { pool, serial }),
        2 => (pool_pick(), 0u64..16, prop::bool::weighted(0.8), member_pick(), member_pick())
            .prop_map(|(pool, serial, from_owner, from, to)| Op::Transfer { pool, serial, from_owner, from, to }),
        2 => (
            pool_pick(),
            prop_oneof![
                3 => Just(PoolAction::Activate),
                3 => Just(PoolAction::Pause),
                3 => Just(PoolAction::Resume),
                2 => Just(PoolAction::Archive),
            ],
        )
            .prop_map(|(pool, action)| Op::Transition { pool, action }),
        1 => (pool_pick(), 1u64..4, prop_oneof![4 => Just(0u8), 1 => Just(1), 1 => Just(2)])
            .prop_map(|(pool, count, dup)| Op::Issue { pool, count, dup }),
        1 => (0usize..256).prop_map(|pick| Op::Replay { pick }),
    ]
}

fn tx_spec() -> impl Strategy<Value = TxSpec> {
    (
        op(),
        (prop::bool::weighted(0.75), 0usize..SIGNERS),
        prop_oneof![
            24 => Just(Envelope::Normal),
            1 => Just(Envelope::Stale),
            1 => Just(Envelope::TooLongLived),
            1 => Just(Envelope::OtherChain),
            1 => Just(Envelope::BadSignature),
        ],
    )
        .prop_map(|(op, signer, envelope)| TxSpec {
            op,
            signer,
            envelope,
        })
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    (
        prop_oneof![
            6 => Just(0u64),
            3 => 0u64..600_000,
            1 => 3_600_000u64..30 * 3_600_000,
        ],
        prop::collection::vec(tx_spec(), 0..=16),
    )
        .prop_map(|(advance_ms, txs)| BlockSpec { advance_ms, txs })
}

// ---- the model the checks compare against --------------------------------------------------

/// What the events of applied txs say, built independently of the chaincode's counters.
#[derive(Default)]
struct Model {
    /// Tokens redeemed and not rolled back → the redemption.
    redeemed: BTreeMap<TokenId, TxId>,
    /// Every redemption seen: pool, token, member, and whether it was rolled back.
    redemptions: BTreeMap<TxId, (PoolId, Option<TokenId>, Option<MemberId>, bool)>,
    /// Shared pools: redemptions in force per member.
    shared_in_force: BTreeMap<(PoolId, MemberId), u64>,
    /// Tokens ever allocated → current holder.
    owner: BTreeMap<TokenId, MemberId>,
    /// Pool statuses as the events moved them.
    status: BTreeMap<PoolId, PoolStatus>,
    /// Revoked tokens.
    revoked: BTreeSet<TokenId>,
    /// The members each pool owner knows (a token allocated or transferred to them, a
    /// redemption naming them) → the height of the block where it first met them.
    known: BTreeMap<(OrgId, MemberId), u64>,
}

fn pool_record(state: &MemState, pool: &PoolId) -> Option<PoolRecord> {
    match state.0.get(&StateKey::Pool(pool.clone())) {
        Some(StateValue::Pool(p)) => Some(p.clone()),
        None => None,
        Some(other) => panic!("pool {pool} holds {other:?}"),
    }
}

fn token_record(state: &MemState, token: &TokenId) -> Option<TokenRecord> {
    match state.0.get(&StateKey::Token(token.clone())) {
        Some(StateValue::Token(t)) => Some(t.clone()),
        None => None,
        Some(other) => panic!("token {token} holds {other:?}"),
    }
}

/// The member registry in `state`: (org, member) → first seen.
fn known_members(state: &MemState) -> BTreeMap<(OrgId, MemberId), u64> {
    state
        .0
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (StateKey::Member(o, m), StateValue::Member(r)) => {
                Some(((o.clone(), *m), r.first_seen))
            }
            _ => None,
        })
        .collect()
}

fn legal_step(from: PoolStatus, to: PoolStatus) -> bool {
    use PoolStatus::*;
    matches!(
        (from, to),
        (Draft, Active) | (Active, Paused) | (Paused, Active) | (Draft | Active | Paused, Archived)
    )
}

impl Model {
    fn new(state: &MemState) -> Model {
        let mut model = Model::default();
        for name in &POOLS[..MISSING_POOL] {
            let id = testkit::pool_id(name);
            let record = pool_record(state, &id).expect("fixture pool");
            model.status.insert(id, record.status);
        }
        model.known = known_members(state);
        model
    }

    /// `member` is known to the owner of `pool` from `height` on, if not before.
    fn meet(&mut self, state: &MemState, pool: &PoolId, member: MemberId, height: u64) {
        let owner = pool_record(state, pool).expect("the pool exists").owner;
        self.known.entry((owner, member)).or_insert(height);
    }

    /// Checks the events of one applied tx against the model, then applies them.
    fn observe(&mut self, state: &MemState, height: u64, tx: &SignedTx, events: &[Event]) {
        for event in events {
            match event {
                Event::Redeemed {
                    pool,
                    member: Some(m),
                    ..
                } => self.meet(state, pool, *m, height),
                Event::Allocated { token, member, .. } => {
                    self.meet(state, &token.pool, *member, height)
                }
                Event::TokenTransferred { token, to, .. } => {
                    self.meet(state, &token.pool, *to, height)
                }
                _ => {}
            }
            self.observe_event(state, tx, event);
        }
    }

    fn observe_event(&mut self, state: &MemState, tx: &SignedTx, event: &Event) {
        match event {
            Event::Redeemed {
                redemption,
                pool,
                token,
                member,
                ..
            } => {
                assert_eq!(*redemption, tx.id(), "a redemption's id is its tx's id");
                assert!(
                    !self.redemptions.contains_key(redemption),
                    "redemption {redemption} recorded twice"
                );
                let record = pool_record(state, pool).expect("redeemed pool exists");
                match token {
                    Some(t) => {
                        assert_eq!(&t.pool, pool);
                        if let Some(earlier) = self.redeemed.insert(t.clone(), *redemption) {
                            panic!(
                                "token {t} redeemed by {redemption} while {earlier} is in force"
                            );
                        }
                        assert!(!self.revoked.contains(t), "revoked token {t} redeemed");
                    }
                    None => {
                        assert_eq!(record.spec.kind, PoolKind::SharedCode);
                        let member = member.expect("shared redemptions name the member");
                        let used = self
                            .shared_in_force
                            .entry((pool.clone(), member))
                            .or_default();
                        *used += 1;
                        assert!(
                            *used <= u64::from(record.spec.per_member_cap),
                            "member {member} has {used} redemptions of {pool} in force"
                        );
                        let total: u64 = self
                            .shared_in_force
                            .iter()
                            .filter(|((p, _), _)| p == pool)
                            .map(|(_, n)| n)
                            .sum();
                        assert!(
                            total <= record.spec.total_cap,
                            "{total} redemptions of {pool} in force, cap {}",
                            record.spec.total_cap
                        );
                    }
                }
                self.redemptions
                    .insert(*redemption, (pool.clone(), token.clone(), *member, false));
            }
            Event::RolledBack {
                redemption,
                pool,
                token,
            } => {
                let (r_pool, r_token, r_member, rolled_back) = self
                    .redemptions
                    .get_mut(redemption)
                    .unwrap_or_else(|| panic!("rollback of unknown redemption {redemption}"));
                assert!(!*rolled_back, "redemption {redemption} rolled back twice");
                *rolled_back = true;
                assert_eq!(r_pool, pool);
                assert_eq!(r_token, token);
                match token {
                    Some(t) => assert_eq!(
                        self.redeemed.remove(t),
                        Some(*redemption),
                        "rollback of {redemption} for token {t} not in force"
                    ),
                    None => {
                        let member = r_member.expect("shared redemptions name the member");
                        let used = self
                            .shared_in_force
                            .get_mut(&(pool.clone(), member))
                            .expect("in force");
                        *used -= 1;
                    }
                }
            }
            Event::Allocated {
                token,
                member,
                repeat,
            } => {
                if *repeat {
                    assert_eq!(
                        self.owner.get(token),
                        Some(member),
                        "a repeated claim returns the member's own token"
                    );
                } else if let Some(other) = self.owner.insert(token.clone(), *member) {
                    panic!("token {token} allocated to {member}, already held by {other}");
                }
            }
            Event::TokenTransferred { token, from, to } => {
                let holder = self
                    .owner
                    .get_mut(token)
                    .expect("transferred token is held");
                assert_eq!(holder, from, "transfer from a member not holding {token}");
                *holder = *to;
            }
            Event::TokenRevoked { token } => {
                assert!(
                    !self.redeemed.contains_key(token),
                    "redeemed token {token} revoked"
                );
                assert!(self.revoked.insert(token.clone()), "{token} revoked twice");
            }
            Event::PoolStatusChanged { pool, from, to } => {
                let status = self.status.get_mut(pool).expect("known pool");
                assert_eq!(status, from, "status change of {pool} from a stale status");
                assert!(legal_step(*from, *to), "{pool}: illegal {from:?} → {to:?}");
                *status = *to;
            }
            Event::CodesIssued { pool, .. } => {
                let status = self.status[pool];
                assert!(
                    matches!(status, PoolStatus::Draft | PoolStatus::Paused),
                    "codes issued into {pool} while {status:?}"
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Recounts everything from state and compares with the pool counters and the model.
    fn check_state(&self, state: &MemState) {
        #[derive(Default)]
        struct Recount {
            tokens: BTreeMap<u64, TokenRecord>,
            redemptions_in_force: u64,
            held: BTreeMap<MemberId, u64>,
            shared_used: BTreeMap<MemberId, u64>,
        }
        let mut pools = BTreeMap::new();
        let mut recount: BTreeMap<PoolId, Recount> = BTreeMap::new();
        let mut member_allocations = BTreeMap::new();
        let mut member_redemptions = BTreeMap::new();
        let mut codes = BTreeMap::new();
        let mut redemptions = BTreeMap::new();
        for (key, value) in &state.0 {
            match (key, value) {
                (StateKey::Pool(id), StateValue::Pool(p)) => {
                    pools.insert(id.clone(), p.clone());
                }
                (StateKey::Token(t), StateValue::Token(r)) => {
                    let rc = recount.entry(t.pool.clone()).or_default();
                    rc.tokens.insert(t.serial, r.clone());
                    if let Some(owner) = r.owner {
                        *rc.held.entry(owner).or_default() += 1;
                    }
                }
                (StateKey::MemberAllocations(p, m), StateValue::Count(n)) => {
                    member_allocations.insert((p.clone(), *m), u64::from(*n));
                }
                (StateKey::MemberRedemptions(p, m), StateValue::Count(n)) => {
                    member_redemptions.insert((p.clone(), *m), u64::from(*n));
                }
                (StateKey::Code(h), StateValue::Code(e)) => {
                    codes.insert(*h, e.clone());
                }
                (StateKey::Redemption(id), StateValue::Redemption(r)) => {
                    redemptions.insert(*id, r.clone());
                    if r.rolled_back_at.is_none() {
                        let rc = recount.entry(r.pool.clone()).or_default();
                        rc.redemptions_in_force += 1;
                        if r.token.is_none() {
                            let m = r.member.expect("shared redemptions name the member");
                            *rc.shared_used.entry(m).or_default() += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            known_members(state),
            self.known,
            "the members each org knows"
        );
        for (id, (pool, token, member, rolled_back)) in &self.redemptions {
            let r = redemptions
                .get(id)
                .unwrap_or_else(|| panic!("redemption {id} is not in state"));
            assert_eq!((&r.pool, &r.token, &r.member), (pool, token, member));
            assert_eq!(r.rolled_back_at.is_some(), *rolled_back, "redemption {id}");
        }
        assert_eq!(
            redemptions.len(),
            self.redemptions.len(),
            "redemption records"
        );

        for (id, pool) in &pools {
            assert_eq!(Some(&pool.status), self.status.get(id), "status of {id}");
            let rc = recount.remove(id).unwrap_or_default();
            assert_eq!(
                pool.redeemed, rc.redemptions_in_force,
                "{id}: redeemed counter vs redemption records"
            );
            match pool.spec.kind {
                PoolKind::UniqueCodes => {
                    let serials: Vec<u64> = rc.tokens.keys().copied().collect();
                    assert_eq!(
                        serials,
                        (0..pool.issued).collect::<Vec<_>>(),
                        "{id}: serials"
                    );
                    assert!(pool.issued <= pool.spec.total_cap, "{id}: issued over cap");
                    assert!(pool.next_free <= pool.issued, "{id}: cursor past the end");
                    let allocated = rc.tokens.values().filter(|t| t.owner.is_some()).count();
                    assert_eq!(pool.allocated, allocated as u64, "{id}: allocated counter");
                    let mut redeemed_tokens = 0;
                    for (serial, t) in &rc.tokens {
                        let tid = TokenId {
                            pool: id.clone(),
                            serial: *serial,
                        };
                        assert_eq!(t.owner.as_ref(), self.owner.get(&tid), "holder of {tid}");
                        assert_eq!(
                            codes.get(&t.code_hash),
                            Some(&CodeIndexEntry {
                                pool: id.clone(),
                                serial: Some(*serial),
                            }),
                            "code index of {tid}"
                        );
                        match &t.status {
                            TokenStatus::Redeemed { redemption } => {
                                redeemed_tokens += 1;
                                assert_eq!(self.redeemed.get(&tid), Some(redemption), "{tid}");
                                let r = &redemptions[redemption];
                                assert_eq!(r.token.as_ref(), Some(&tid));
                                assert!(r.rolled_back_at.is_none(), "{tid}: rolled back");
                            }
                            TokenStatus::Revoked => {
                                assert!(self.revoked.contains(&tid), "{tid} revoked");
                                assert!(!self.redeemed.contains_key(&tid));
                            }
                            TokenStatus::Allocated => {
                                assert!(t.owner.is_some(), "{tid} allocated to nobody");
                                assert!(!self.redeemed.contains_key(&tid));
                            }
                            TokenStatus::Available => {
                                assert!(t.owner.is_none(), "{tid} available but held");
                                assert!(!self.redeemed.contains_key(&tid));
                            }
                        }
                    }
                    assert_eq!(pool.redeemed, redeemed_tokens, "{id}: redeemed tokens");
                    let cap = u64::from(pool.spec.per_member_cap);
                    for (m, n) in &rc.held {
                        assert!(*n <= cap, "{id}: member {m} holds {n} > {cap}");
                        assert_eq!(
                            member_allocations.get(&(id.clone(), *m)).copied(),
                            Some(*n),
                            "{id}: allocation count of {m}"
                        );
                    }
                    for ((p, m), n) in &member_allocations {
                        if p == id {
                            assert_eq!(rc.held.get(m).copied().unwrap_or(0), *n, "{id}: {m}");
                        }
                    }
                }
                PoolKind::SharedCode => {
                    assert!(rc.tokens.is_empty(), "{id}: shared pools have no tokens");
                    assert!(
                        pool.redeemed <= pool.spec.total_cap,
                        "{id}: {} redemptions over cap {}",
                        pool.redeemed,
                        pool.spec.total_cap
                    );
                    let cap = u64::from(pool.spec.per_member_cap);
                    for ((p, m), n) in &member_redemptions {
                        if p == id {
                            assert!(*n <= cap, "{id}: member {m} redeemed {n} > {cap}");
                            assert_eq!(rc.shared_used.get(m).copied().unwrap_or(0), *n);
                        }
                    }
                    for (m, n) in &rc.shared_used {
                        assert_eq!(member_redemptions.get(&(id.clone(), *m)), Some(n));
                        assert_eq!(self.shared_in_force.get(&(id.clone(), *m)), Some(n));
                    }
                    if let Some(code) = &pool.shared_code {
                        assert_eq!(
                            codes.get(&code.code_hash),
                            Some(&CodeIndexEntry {
                                pool: id.clone(),
                                serial: None,
                            })
                        );
                    }
                }
            }
        }
        assert!(
            recount.is_empty(),
            "records of unknown pools: {:?}",
            recount.keys()
        );
    }
}

// ---- building txs --------------------------------------------------------------------------

struct Builder {
    chain: TestChain,
    /// Every tx built so far (for replays).
    built: Vec<SignedTx>,
    /// Applied redemptions of earlier blocks, and the redeem txs of this block (for
    /// rollbacks).
    redemptions: Vec<TxId>,
    block_redeems: Vec<TxId>,
    /// Counter for fresh code texts.
    fresh_codes: u64,
    /// Whether every tx carries a memo (`staff:u-<nonce>`).
    memos: bool,
}

impl Builder {
    fn signer(&self, spec: &TxSpec, role: &[usize]) -> SigningKey {
        let (right, i) = spec.signer;
        let index = if right { role[i % role.len()] } else { i };
        fixture().signers[index].clone()
    }

    fn token(&self, pool: usize, serial: u64) -> TokenId {
        TokenId {
            pool: testkit::pool_id(POOLS[pool]),
            serial,
        }
    }

    /// A serial of `pool` from `pick`: one of the issued tokens, or the first not issued.
    fn serial(&self, pool: usize, pick: u64) -> u64 {
        match pool_record(&self.chain.state, &testkit::pool_id(POOLS[pool])) {
            Some(p) => pick % (p.issued + 1),
            None => pick,
        }
    }

    fn order(&self, (total_minor, usd): (u64, bool)) -> Order {
        let mut order = testkit::order(total_minor);
        if usd {
            order.currency = "USD".parse().unwrap();
        }
        order
    }

    /// The code hash of `serial` in `pool` (a shared pool's one code), or of an unknown code.
    fn code(&self, pool: usize, serial: u64) -> CodeHash {
        let id = testkit::pool_id(POOLS[pool]);
        match pool_record(&self.chain.state, &id) {
            Some(p) if p.spec.kind == PoolKind::SharedCode && serial % 8 != 7 => p
                .shared_code
                .map(|c| c.code_hash)
                .unwrap_or_else(|| code_hash("NO-SUCH-CODE")),
            Some(_) => match token_record(&self.chain.state, &self.token(pool, serial)) {
                Some(t) => t.code_hash,
                None => code_hash(&format!("UNKNOWN-{serial}")),
            },
            None => code_hash(&format!("UNKNOWN-{serial}")),
        }
    }

    /// Keeps this block's redeem txs that `applied` for later rollbacks.
    fn end_block(&mut self, applied: impl Fn(&TxId) -> bool) {
        let new = std::mem::take(&mut self.block_redeems);
        self.redemptions
            .extend(new.into_iter().filter(|id| applied(id)));
    }

    fn build(&mut self, spec: &TxSpec, ctx: &BlockContext) -> SignedTx {
        if let Op::Replay { pick } = spec.op
            && !self.built.is_empty()
        {
            let tx = self.built[pick % self.built.len()].clone();
            self.built.push(tx.clone());
            return tx;
        }
        let (kind, role): (TxKind, &[usize]) = match spec.op.clone() {
            Op::Replay { .. } => (
                // Nothing to replay yet: a harmless tx instead.
                TxKind::RevokeToken(RevokeTokenTx {
                    token: self.token(MISSING_POOL, 0),
                    reason: RevokeReason::IssuedInError,
                    note: None,
                }),
                &MANAGERS[..],
            ),
            Op::Allocate {
                pool,
                member,
                claim,
            } => (
                TxKind::Allocate(AllocateTx {
                    pool: testkit::pool_id(POOLS[pool]),
                    member: testkit::member(member),
                    claim: testkit::claim(claim),
                }),
                &MANAGERS[..],
            ),
            Op::RedeemToken {
                pool,
                serial,
                member,
                order,
            } => (
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Token(self.token(pool, self.serial(pool, serial))),
                    member: member.map(testkit::member),
                    order: self.order(order),
                }),
                &TERMINALS[..],
            ),
            Op::RedeemCode {
                pool,
                serial,
                member,
                order,
            } => (
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Code(self.code(pool, self.serial(pool, serial))),
                    member: member.map(testkit::member),
                    order: self.order(order),
                }),
                &TERMINALS[..],
            ),
            Op::RedeemShared { member, order } => (
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Code(self.code(2, 0)),
                    member: member.map(testkit::member),
                    order: self.order(order),
                }),
                &TERMINALS[..],
            ),
            Op::Rollback { pick } => {
                let earlier = &self.redemptions;
                let this_block = &self.block_redeems;
                let redemption = match pick {
                    0..12 if !earlier.is_empty() => earlier[pick % earlier.len()],
                    12..15 if !this_block.is_empty() => this_block[pick % this_block.len()],
                    _ => TxId([pick as u8; 32]),
                };
                (
                    TxKind::Rollback(RollbackTx { redemption }),
                    &ROLLBACKERS[..],
                )
            }
            Op::Revoke { pool, serial } => (
                TxKind::RevokeToken(RevokeTokenTx {
                    token: self.token(pool, self.serial(pool, serial)),
                    reason: RevokeReason::Fraud,
                    note: Some("property test".into()),
                }),
                &MANAGERS[..],
            ),
            Op::Transfer {
                pool,
                serial,
                from_owner,
                from,
                to,
            } => {
                // Mostly a token someone holds, from its holder.
                let held: Vec<(TokenId, MemberId)> = (0..16)
                    .filter_map(|s| {
                        let token = self.token(pool, s);
                        let owner = token_record(&self.chain.state, &token)?.owner?;
                        Some((token, owner))
                    })
                    .collect();
                let (token, from) = match held.get(serial as usize % held.len().max(1)) {
                    Some((token, owner)) if from_owner => (token.clone(), *owner),
                    _ => (
                        self.token(pool, self.serial(pool, serial)),
                        testkit::member(from),
                    ),
                };
                (
                    TxKind::TransferToken(TransferTokenTx {
                        token,
                        from,
                        to: testkit::member(to),
                    }),
                    &MANAGERS,
                )
            }
            Op::Transition { pool, action } => (
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: testkit::pool_id(POOLS[pool]),
                    action,
                }),
                &MANAGERS[..],
            ),
            Op::Issue { pool, count, dup } => {
                let id = testkit::pool_id(POOLS[pool]);
                let mut codes: Vec<IssuedCode> = (0..count)
                    .map(|_| {
                        self.fresh_codes += 1;
                        let text = format!("FRESH-{}", self.fresh_codes);
                        testkit::issued_code(&id, &text, self.fresh_codes)
                    })
                    .collect();
                match dup {
                    1 => codes.push(codes[0].clone()),
                    2 => {
                        // A code of uni-a's first batch, on the ledger since set-up.
                        let a = testkit::pool_id(POOLS[0]);
                        codes.push(testkit::issued_code(&id, &testkit::code_text(&a, 1), 1));
                    }
                    _ => {}
                }
                (
                    TxKind::IssueCodes(IssueCodesTx { pool: id, codes }),
                    &MANAGERS[..],
                )
            }
        };
        let key = self.signer(spec, role);
        self.chain.nonce += 1;
        let mut body = TxBody {
            chain_id: self.chain.chain_id.clone(),
            nonce: self.chain.nonce,
            valid_until_ms: ctx.time_ms + 60_000,
            kind,
            memo: self
                .memos
                .then(|| Memo::new(format!("staff:u-{}", self.chain.nonce)).unwrap()),
        };
        match spec.envelope {
            Envelope::Stale => body.valid_until_ms = ctx.time_ms - 1,
            Envelope::TooLongLived => body.valid_until_ms = ctx.time_ms + 2 * 24 * 3_600_000,
            Envelope::OtherChain => body.chain_id = ChainId::new("otherchain").unwrap(),
            Envelope::Normal | Envelope::BadSignature => {}
        }
        let mut tx = body.sign(&key);
        if let Envelope::BadSignature = spec.envelope {
            tx.signature.0[5] ^= 0x10;
        }
        if matches!(tx.body.kind, TxKind::Redeem(_)) {
            self.block_redeems.push(tx.id());
        }
        self.built.push(tx.clone());
        tx
    }
}

// ---- the properties ------------------------------------------------------------------------

struct ExecutedBlock {
    ctx: BlockContext,
    txs: Vec<SignedTx>,
    writes: Vec<u8>,
    results: Vec<TxResult>,
    first_log_index: u64,
}

/// The events of one executed block against `state` (the state after it, or `before` plus
/// `writes`), numbered by `seqs`.
fn block_events<S: StateReader>(
    state: &S,
    ctx: &BlockContext,
    first_log_index: u64,
    txs: &[SignedTx],
    results: &[TxResult],
    seqs: &mut Sequences,
) -> Vec<LedgerEvent> {
    let at = BlockPosition {
        height: ctx.height,
        time_ms: ctx.time_ms,
        first_log_index,
    };
    let mut events = derive_block_events(state, at, txs, results).expect("memory state");
    seqs.assign(&mut events);
    events
}

/// One `tx.rejected` per rejected tx, one event per chaincode event of an applied tx, in
/// order, with the entry's position, and the chaincode event itself as the detail.
fn check_entry_events(first_log_index: u64, results: &[TxResult], events: &[LedgerEvent]) {
    let mut expected = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let log_index = first_log_index + i as u64;
        match &r.outcome {
            TxOutcome::Applied { events } => {
                for (k, e) in events.iter().enumerate() {
                    expected.push((log_index, k as u16, EventType::of(e), Some(e.clone())));
                }
            }
            TxOutcome::Rejected { .. } => {
                expected.push((log_index, 0, EventType::TxRejected, None));
            }
        }
    }
    let got: Vec<_> = events
        .iter()
        .map(|e| {
            let detail = match &e.detail {
                EventDetail::Applied { event } => Some(event.clone()),
                EventDetail::Rejected { .. } => None,
            };
            assert_eq!(e.log_index, e.id.log_index);
            assert_eq!(
                e.tx_id,
                results[(e.log_index - first_log_index) as usize].tx_id
            );
            (e.id.log_index, e.id.index, e.kind, detail)
        })
        .collect();
    assert_eq!(got, expected, "events do not follow the results");
}

/// Ids strictly increase; every pool's and token's sequence runs 1, 2, 3, … in log order.
fn check_event_log(events: &[LedgerEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "ids not increasing: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
    let mut last: BTreeMap<SeqKey, u64> = BTreeMap::new();
    for e in events {
        for (key, seq) in [
            (e.pool.clone().map(SeqKey::Pool), e.pool_seq),
            (e.token.clone().map(SeqKey::Token), e.token_seq),
        ] {
            match key {
                Some(key) => {
                    let n = last.entry(key).or_insert(0);
                    *n += 1;
                    assert_eq!(seq, Some(*n), "event {}: sequence gap", e.id);
                }
                None => assert_eq!(seq, None, "event {}: a sequence without its entity", e.id),
            }
        }
    }
}

/// The node-local replay index is exactly what the committed `Remembered` entries and the
/// cursor determine (what a node that installs a snapshot derives), and every id in it is
/// in a `Remembered` entry at or after the cursor.
fn check_replay_index(state: &MemState) {
    let seen: Vec<(&StateKey, &StateValue)> =
        state.0.iter().filter(|(k, _)| k.is_node_local()).collect();
    let derived = seen_txs_of(&state.0);
    let derived: Vec<(&StateKey, &StateValue)> = derived
        .0
        .iter()
        .map(|(k, v)| (k, v.as_ref().expect("puts only")))
        .collect();
    assert_eq!(
        seen, derived,
        "the SeenTx index differs from the Remembered entries"
    );
}

fn run(blocks: &[BlockSpec]) {
    let fx = fixture();
    let mut b = Builder {
        chain: fx.chain.clone(),
        built: Vec::new(),
        redemptions: Vec::new(),
        block_redeems: Vec::new(),
        fresh_codes: 0,
        memos: false,
    };
    let mut model = Model::new(&b.chain.state);
    model.check_state(&b.chain.state);
    let mut history = Vec::new();
    let (mut seqs, mut event_log, mut log_index) = (Sequences::default(), Vec::new(), 0u64);
    for block in blocks {
        b.chain.advance(block.advance_ms);
        let ctx = b.chain.next_ctx();
        let txs: Vec<SignedTx> = block.txs.iter().map(|t| b.build(t, &ctx)).collect();
        let out = execute_block(&b.chain.state, &ctx, &txs).expect("memory state");
        assert_eq!(out.results.len(), txs.len(), "one result per tx");
        for (tx, r) in txs.iter().zip(&out.results) {
            assert_eq!(r.tx_id, tx.id());
        }

        // Rejected txs change nothing but replay protection: without them the block writes
        // the same bytes outside replay protection, and the other txs get the same results.
        let kept: Vec<usize> = (0..txs.len())
            .filter(|&i| out.results[i].outcome.events().is_some())
            .collect();
        let applied_txs: Vec<SignedTx> = kept.iter().map(|&i| txs[i].clone()).collect();
        let without = execute_block(&b.chain.state, &ctx, &applied_txs).expect("memory state");
        assert_eq!(
            without.writes.without_replay_protection().to_bytes(),
            out.writes.without_replay_protection().to_bytes(),
            "rejected txs changed the block's writes"
        );
        let kept_results: Vec<TxResult> = kept.iter().map(|&i| out.results[i].clone()).collect();
        assert_eq!(without.results, kept_results);

        let after = AfterBlock {
            base: &b.chain.state,
            writes: &out.writes,
        };
        let events = block_events(&after, &ctx, log_index, &txs, &out.results, &mut seqs);
        check_entry_events(log_index, &out.results, &events);
        event_log.extend(events);

        let before = b.chain.state.clone();
        for (tx, r) in txs.iter().zip(&out.results) {
            if let Some(events) = r.outcome.events() {
                model.observe(&before, ctx.height, tx, events);
            }
        }
        b.end_block(|id| model.redemptions.contains_key(id));
        b.chain.state.apply(&out.writes);
        b.chain.height = ctx.height;
        b.chain.time_ms = ctx.time_ms;
        model.check_state(&b.chain.state);
        check_replay_index(&b.chain.state);
        history.push(ExecutedBlock {
            ctx,
            txs,
            writes: out.writes.to_bytes(),
            results: out.results,
            first_log_index: log_index,
        });
        log_index += block.txs.len() as u64;
    }
    check_event_log(&event_log);
    check_events_again(&history, &b.chain.state, &event_log);

    // The same blocks from the same genesis: byte-identical writes, identical results.
    let mut replay = fx.chain.state.clone();
    let (mut seqs, mut replayed_events) = (Sequences::default(), Vec::new());
    for (i, block) in history.iter().enumerate() {
        let out = execute_block(&replay, &block.ctx, &block.txs).expect("memory state");
        let after = AfterBlock {
            base: &replay,
            writes: &out.writes,
        };
        replayed_events.extend(block_events(
            &after,
            &block.ctx,
            block.first_log_index,
            &block.txs,
            &out.results,
            &mut seqs,
        ));
        assert!(
            out.writes.to_bytes() == block.writes,
            "block {i}: replayed writes differ"
        );
        assert_eq!(
            out.results, block.results,
            "block {i}: replayed results differ"
        );
        replay.apply(&out.writes);
    }
    assert!(replay == b.chain.state, "replayed state differs");
    assert!(replayed_events == event_log, "replayed events differ");
}

/// Deriving the events again, block by block from the final state (as a node indexing
/// earlier blocks does), gives the same events.
fn check_events_again(history: &[ExecutedBlock], last: &MemState, event_log: &[LedgerEvent]) {
    let mut seqs = Sequences::default();
    let mut again = Vec::new();
    for block in history {
        again.extend(block_events(
            last,
            &block.ctx,
            block.first_log_index,
            &block.txs,
            &block.results,
            &mut seqs,
        ));
    }
    assert_eq!(again.len(), event_log.len());
    for (a, b) in again.iter().zip(event_log) {
        assert_eq!(a, b, "event derived from the final state differs");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_blocks_keep_the_ledger_invariants(
        blocks in prop::collection::vec(block_spec(), 1..=10)
    ) {
        run(&blocks);
    }
}

/// One executed block: its txs and their results.
type BlockRun = (Vec<SignedTx>, Vec<TxResult>);

/// Runs `blocks` from the fixture, every tx with a memo or none; returns every block's txs
/// and results, and the final state.
fn run_with_memos(blocks: &[BlockSpec], memos: bool) -> (Vec<BlockRun>, MemState) {
    let mut b = Builder {
        chain: fixture().chain.clone(),
        built: Vec::new(),
        redemptions: Vec::new(),
        block_redeems: Vec::new(),
        fresh_codes: 0,
        memos,
    };
    let mut out_blocks = Vec::new();
    for block in blocks {
        b.chain.advance(block.advance_ms);
        let ctx = b.chain.next_ctx();
        let txs: Vec<SignedTx> = block.txs.iter().map(|t| b.build(t, &ctx)).collect();
        let out = execute_block(&b.chain.state, &ctx, &txs).expect("memory state");
        let applied: BTreeSet<TxId> = out
            .results
            .iter()
            .filter(|r| r.outcome.events().is_some())
            .map(|r| r.tx_id)
            .collect();
        b.end_block(|id| applied.contains(id));
        b.chain.state.apply(&out.writes);
        b.chain.height = ctx.height;
        b.chain.time_ms = ctx.time_ms;
        out_blocks.push((txs, out.results));
    }
    (out_blocks, b.chain.state)
}

/// Tx ids of one run and their images in another, raw (32 bytes, as in records and
/// events) and as hex (64 characters, as in rejection messages).
#[derive(Default)]
struct IdMap(BTreeMap<Vec<u8>, Vec<u8>>);

impl IdMap {
    fn insert(&mut self, from: TxId, to: TxId) {
        self.0.insert(from.0.to_vec(), to.0.to_vec());
        self.0
            .insert(from.to_hex().into_bytes(), to.to_hex().into_bytes());
    }

    /// `bytes` with every id replaced by its image (a memo changes a tx's id, and ids are
    /// written into events, records and messages).
    fn replace(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        'scan: while i < bytes.len() {
            for len in [64, 32] {
                if let Some(image) = bytes.get(i..i + len).and_then(|w| self.0.get(w)) {
                    out.extend_from_slice(image);
                    i += len;
                    continue 'scan;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The memo is informational: the same blocks with a memo on every tx give the same
    /// outcome for every tx and the same final state, up to the tx ids (which cover the
    /// memo), and every event carries its tx's memo.
    #[test]
    fn a_memo_changes_no_execution_result(
        blocks in prop::collection::vec(block_spec(), 1..=6)
    ) {
        let (plain, plain_state) = run_with_memos(&blocks, false);
        let (memo, memo_state) = run_with_memos(&blocks, true);
        let mut ids = IdMap::default();
        for ((plain_txs, _), (memo_txs, _)) in plain.iter().zip(&memo) {
            for (p, m) in plain_txs.iter().zip(memo_txs) {
                prop_assert!(p.body.memo.is_none() && m.body.memo.is_some());
                prop_assert_ne!(p.id(), m.id());
                // The same tx but for the memo (a rollback names its redemption by id).
                prop_assert_eq!(ids.replace(&encode(&m.body.kind)), encode(&p.body.kind));
                ids.insert(m.id(), p.id());
            }
        }
        for (b, ((_, plain_results), (memo_txs, memo_results))) in plain.iter().zip(&memo).enumerate() {
            for (i, (p, m)) in plain_results.iter().zip(memo_results).enumerate() {
                prop_assert_eq!(
                    ids.replace(&encode(m)),
                    encode(p),
                    "block {} tx {}: {:?} vs {:?}", b, i, m.outcome, p.outcome
                );
            }
            // Every event of the block carries its tx's memo.
            let events = derive_block_events(
                &memo_state,
                BlockPosition { height: b as u64 + 1, time_ms: 0, first_log_index: 0 },
                memo_txs,
                memo_results,
            )
            .expect("memory state");
            for e in &events {
                let tx = &memo_txs[e.tx_index as usize];
                prop_assert_eq!(e.memo.as_ref(), tx.body.memo.as_ref());
            }
        }
        let state = |s: &MemState, ids: &IdMap| -> BTreeSet<(Vec<u8>, Vec<u8>)> {
            s.0.iter()
                .map(|(k, v)| (ids.replace(&encode(k)), ids.replace(&encode(v))))
                .collect()
        };
        prop_assert!(
            state(&memo_state, &ids) == state(&plain_state, &IdMap::default()),
            "the final states differ beyond tx ids"
        );
    }
}

/// Enough applied txs of each kind reach the checks (guards the generator against drifting
/// into testing rejections only).
#[test]
fn generated_blocks_apply_every_kind_of_tx() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut b = Builder {
        chain: fixture().chain.clone(),
        built: Vec::new(),
        redemptions: Vec::new(),
        block_redeems: Vec::new(),
        fresh_codes: 0,
        memos: false,
    };
    let mut applied: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut rejected: BTreeMap<RejectReason, usize> = BTreeMap::new();
    for _ in 0..30 {
        let mut block = block_spec().new_tree(&mut runner).unwrap().current();
        block.advance_ms = 0;
        let ctx = b.chain.next_ctx();
        let txs: Vec<SignedTx> = block.txs.iter().map(|t| b.build(t, &ctx)).collect();
        let out = execute_block(&b.chain.state, &ctx, &txs).unwrap();
        let mut redeemed = BTreeSet::new();
        for (tx, r) in txs.iter().zip(&out.results) {
            match &r.outcome {
                TxOutcome::Applied { events } => {
                    *applied.entry(tx.body.kind.name()).or_default() += 1;
                    if let Some(Event::Redeemed { redemption, .. }) = events.first() {
                        redeemed.insert(*redemption);
                    }
                }
                TxOutcome::Rejected { rejection } => {
                    *rejected.entry(rejection.reason).or_default() += 1
                }
            }
        }
        b.end_block(|id| redeemed.contains(id));
        b.chain.state.apply(&out.writes);
        b.chain.height = ctx.height;
        b.chain.time_ms = ctx.time_ms;
    }
    for kind in ["allocate", "redeem", "rollback", "transfer_token"] {
        assert!(
            applied.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} applied: {applied:?}, rejected {rejected:?}"
        );
    }
    assert!(
        rejected.len() >= 5,
        "too few kinds of rejection: {rejected:?}"
    );
}

// ---- encoding round trip -------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9][a-z0-9._-]{0,15}",
        1 => "\\PC{0,12}",
    ]
}

fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn currency() -> impl Strategy<Value = Currency> {
    "[A-Z]{3}".prop_map(|s| s.parse().unwrap())
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::OrgAdmin),
        Just(Role::Issuer),
        (text(), text()).prop_map(|(s, c)| Role::Terminal {
            store: StoreId(s),
            channel: Channel(c),
        }),
        Just(Role::Auditor),
        Just(Role::Partner),
    ]
}

fn params() -> impl Strategy<Value = ChainParams> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(a, b, c, d)| ChainParams {
        max_batch_codes: a,
        max_tx_validity_ms: b,
        proposal_ttl_ms: c,
        max_sealed_code_bytes: d,
    })
}

fn change() -> impl Strategy<Value = GovernanceChange> {
    prop_oneof![
        (text(), text(), bytes32()).prop_map(|(o, n, k)| GovernanceChange::AddOrg {
            org: OrgId(o),
            name: n,
            admin_key: PublicKey(k),
        }),
        (any::<u64>(), text(), bytes32(), text(), any::<bool>()).prop_map(|(id, o, k, a, v)| {
            GovernanceChange::AddNode {
                node: NodeRecord {
                    node_id: id,
                    org: OrgId(o),
                    node_key: PublicKey(k),
                    p2p_addr: a,
                    voter: v,
                },
            }
        }),
        any::<u64>().prop_map(|node_id| GovernanceChange::RemoveNode { node_id }),
        params().prop_map(|params| GovernanceChange::UpdateParams { params }),
        (text(), bytes32()).prop_map(|(o, k)| GovernanceChange::AddAuditor {
            org: OrgId(o),
            key: PublicKey(k),
        }),
    ]
}

fn pool_spec() -> impl Strategy<Value = PoolSpec> {
    let money = (
        text(),
        prop_oneof![Just(PoolKind::UniqueCodes), Just(PoolKind::SharedCode)],
        currency(),
        prop_oneof![
            any::<u32>().prop_map(|bps| Discount::Percent { bps }),
            any::<u64>().prop_map(|amount_minor| Discount::Fixed { amount_minor }),
        ],
        prop::option::of(any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
    );
    let lists = (
        prop::collection::vec(text().prop_map(Channel), 0..3),
        prop::collection::vec(text().prop_map(StoreId), 0..3),
        prop::collection::vec(text().prop_map(Category), 0..3),
        prop::option::of(text()),
        prop::collection::vec(text().prop_map(OrgId), 0..3),
        any::<bool>(),
    );
    (money, lists).prop_map(
        |(
            (
                name,
                kind,
                currency,
                discount,
                max_discount_minor,
                min_spend_minor,
                from,
                until,
                cap,
                per,
            ),
            (
                allowed_channels,
                allowed_stores,
                excluded_categories,
                stacking_group,
                partner_orgs,
                transferable,
            ),
        )| PoolSpec {
            name,
            kind,
            currency,
            discount,
            max_discount_minor,
            min_spend_minor,
            valid_from_ms: from,
            valid_until_ms: until,
            total_cap: cap,
            per_member_cap: per,
            allowed_channels,
            allowed_stores,
            excluded_categories,
            stacking_group,
            partner_orgs,
            transferable,
            velocity: vec![],
            requires_consent: None,
        },
    )
}

fn token_id() -> impl Strategy<Value = TokenId> {
    (text(), any::<u64>()).prop_map(|(p, serial)| TokenId {
        pool: PoolId(p),
        serial,
    })
}

fn order() -> impl Strategy<Value = Order> {
    (
        currency(),
        any::<u64>(),
        prop::collection::vec(
            (text(), any::<u64>()).prop_map(|(c, amount_minor)| OrderLine {
                category: Category(c),
                amount_minor,
            }),
            0..4,
        ),
    )
        .prop_map(|(currency, total_minor, lines)| Order {
            currency,
            total_minor,
            lines,
        })
}

fn action() -> impl Strategy<Value = PoolAction> {
    prop_oneof![
        Just(PoolAction::Activate),
        Just(PoolAction::Pause),
        Just(PoolAction::Resume),
        Just(PoolAction::Archive),
    ]
}

fn tx_kind() -> impl Strategy<Value = TxKind> {
    prop_oneof![
        (bytes32(), role()).prop_map(|(k, role)| TxKind::RegisterKey(RegisterKeyTx {
            key: PublicKey(k),
            role
        })),
        bytes32().prop_map(|k| TxKind::RevokeKey(RevokeKeyTx { key: PublicKey(k) })),
        change().prop_map(|change| TxKind::ProposeGovernance(ProposeGovernanceTx { change })),
        bytes32()
            .prop_map(|p| TxKind::ApproveGovernance(ApproveGovernanceTx { proposal: TxId(p) })),
        (text(), pool_spec()).prop_map(|(p, spec)| TxKind::CreatePool(CreatePoolTx {
            pool: PoolId(p),
            spec
        })),
        (text(), pool_spec()).prop_map(|(p, spec)| TxKind::UpdatePool(UpdatePoolTx {
            pool: PoolId(p),
            spec
        })),
        (text(), action()).prop_map(|(p, action)| TxKind::TransitionPool(TransitionPoolTx {
            pool: PoolId(p),
            action,
        })),
        (
            text(),
            prop::collection::vec(
                (bytes32(), prop::collection::vec(any::<u8>(), 0..48)).prop_map(|(h, s)| {
                    IssuedCode {
                        code_hash: CodeHash(h),
                        sealed: SealedCode(s),
                    }
                }),
                0..5,
            ),
        )
            .prop_map(|(p, codes)| TxKind::IssueCodes(IssueCodesTx {
                pool: PoolId(p),
                codes
            })),
        (text(), bytes32(), bytes32()).prop_map(|(p, m, c)| TxKind::Allocate(AllocateTx {
            pool: PoolId(p),
            member: MemberId(m),
            claim: ClaimKey(c),
        })),
        (
            prop_oneof![
                token_id().prop_map(RedeemTarget::Token),
                bytes32().prop_map(|h| RedeemTarget::Code(CodeHash(h))),
            ],
            prop::option::of(bytes32().prop_map(MemberId)),
            order(),
        )
            .prop_map(|(target, member, order)| TxKind::Redeem(RedeemTx {
                target,
                member,
                order
            })),
        bytes32().prop_map(|r| TxKind::Rollback(RollbackTx {
            redemption: TxId(r)
        })),
        (
            token_id(),
            prop::sample::select(RevokeReason::ALL),
            prop::option::of("[ -~]{0,150}")
        )
            .prop_map(|(token, reason, note)| TxKind::RevokeToken(RevokeTokenTx {
                token,
                reason,
                note
            })),
        (token_id(), bytes32(), bytes32()).prop_map(|(token, f, t)| {
            TxKind::TransferToken(TransferTokenTx {
                token,
                from: MemberId(f),
                to: MemberId(t),
            })
        }),
    ]
}

/// Valid memos: up to 41 characters of up to 3 bytes (≤ 123 bytes), not starting with a
/// space, and the longest allowed.
fn memo() -> impl Strategy<Value = Memo> {
    prop_oneof![
        9 => "[a-zA-Z0-9:_é✓-][a-zA-Z0-9 :_é✓-]{0,40}".prop_map(|s| Memo::new(s).unwrap()),
        1 => Just(Memo::new("m".repeat(MAX_MEMO_BYTES)).unwrap()),
    ]
}

fn signed_tx() -> impl Strategy<Value = SignedTx> {
    (
        text(),
        any::<u64>(),
        any::<u64>(),
        tx_kind(),
        bytes32(),
        prop::collection::vec(any::<u8>(), 64),
        prop::bool::weighted(0.2),
        prop::option::of(memo()),
    )
        .prop_map(
            |(chain, nonce, valid_until_ms, kind, signer, sig, really_sign, memo)| {
                let body = TxBody {
                    chain_id: ChainId(chain),
                    nonce,
                    valid_until_ms,
                    kind,
                    memo,
                };
                if really_sign {
                    body.sign(&testkit::key(signer[0]))
                } else {
                    SignedTx {
                        body,
                        signer: PublicKey(signer),
                        signature: SignatureBytes(sig.try_into().unwrap()),
                    }
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn signed_txs_round_trip_through_the_encoding(tx in signed_tx()) {
        let bytes = encode(&tx);
        let back: SignedTx = decode(&bytes).expect("decodes");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(encode(&back), bytes.clone());
        prop_assert_eq!(back.id(), tx.id());
        // The body alone round-trips too, and its bytes are what the id and signature cover.
        let body: TxBody = decode(&tx.body_bytes()).expect("body decodes");
        prop_assert_eq!(&body, &tx.body);
        // Neither a strict prefix nor extra bytes decode.
        prop_assert!(decode::<SignedTx>(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(decode::<SignedTx>(&longer).is_err());
        // The JSON form (the HTTP API's) round-trips as well.
        let json = serde_json::to_string(&tx).expect("serializes");
        let from_json: SignedTx = serde_json::from_str(&json).expect("deserializes");
        prop_assert_eq!(&from_json, &tx);
    }
}
