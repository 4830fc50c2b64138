//! A chain in memory for tests, examples and benchmarks (feature `testkit`).
//!
//! [`TestChain`] starts from a genesis with three orgs (`acme`, `globex`, `initech`, admin
//! keys from seeds 1, 2 and 3) and one voting node, executes one block per call with block
//! time advancing one second per block, and offers shorthands for the common setup steps.
//! Keys come from fixed seeds ([`key`]), so every run is reproducible.

use crate::checkout::CheckoutRules;
use crate::codes::{code_hash, seal_code};
use crate::execute::{Event, TxOutcome, TxResult, execute_block};
use crate::ids::*;
use crate::initial::{InitialOrg, InitialState};
use crate::loyalty::{
    EarnRule, EngagementRule, ExpiryPolicy, PeriodCap, ProgramSpec, Promotion, Segment,
    SegmentRule, Tier, TierBasis, TierPolicy, Unit,
};
use crate::reject::RejectReason;
use crate::state::MemState;
use crate::tx::{
    ApproveGovernanceTx, CreatePoolTx, IssueCodesTx, ProposeGovernanceTx, RegisterKeyTx, SignedTx,
    TransitionPoolTx, TxBody, TxKind,
};
use crate::types::*;
use ed25519_dalek::SigningKey;

/// Genesis time of every test chain (2026-01-01T00:00:00Z).
pub const GENESIS_MS: u64 = 1_767_225_600_000;
/// The data key the testkit seals codes with.
pub const DATA_KEY: [u8; 32] = [0x42; 32];

/// A signing key from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The public key of [`key`]`(seed)`.
pub fn public(seed: u8) -> PublicKey {
    PublicKey(key(seed).verifying_key().to_bytes())
}

/// A member id from a number.
pub fn member(n: u64) -> MemberId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_le_bytes());
    MemberId(id)
}

/// A claim key from a number.
pub fn claim(n: u64) -> ClaimKey {
    ClaimKey(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

/// Shorthand for ids in tests: `id("acme")`.
pub fn org(name: &str) -> OrgId {
    OrgId::new(name).expect("valid org id")
}

/// Shorthand for pool ids.
pub fn pool_id(name: &str) -> PoolId {
    PoolId::new(name).expect("valid pool id")
}

/// The plaintext of the `i`-th testkit code of `pool`.
pub fn code_text(pool: &PoolId, i: u64) -> String {
    format!("{}-CODE-{i:08}", pool.as_str().to_uppercase())
}

/// An issued code (hash + sealed) for `code`.
pub fn issued_code(pool: &PoolId, code: &str, nonce_seed: u64) -> IssuedCode {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&nonce_seed.to_le_bytes());
    IssuedCode {
        code_hash: code_hash(code),
        sealed: seal_code(&DATA_KEY, nonce, pool, code),
    }
}

/// An order of `total_minor` EUR with no category lines.
pub fn order(total_minor: u64) -> Order {
    Order {
        currency: Currency(*b"EUR"),
        total_minor,
        lines: vec![],
    }
}

/// A 10 %-off EUR pool spec valid for the whole test period, caps 1,000,000 / 1.
pub fn spec(kind: PoolKind) -> PoolSpec {
    PoolSpec {
        name: "Test pool".into(),
        kind,
        currency: Currency(*b"EUR"),
        discount: Discount::Percent { bps: 1_000 },
        max_discount_minor: None,
        min_spend_minor: 0,
        valid_from_ms: GENESIS_MS,
        valid_until_ms: GENESIS_MS + 365 * 24 * 3_600_000,
        total_cap: 1_000_000,
        per_member_cap: 1,
        allowed_channels: vec![],
        allowed_stores: vec![],
        excluded_categories: vec![],
        stacking_group: None,
        partner_orgs: vec![],
        transferable: false,
        velocity: vec![],
        requires_consent: None,
    }
}

/// A EUR loyalty program: cash (never expires), gift (12 months), points (24 months, a
/// point per euro, ×2 on a weekend promotion, 14 days pending), tiers base/silver/gold;
/// at checkout coupons take at most 50.00 EUR and a point pays 0.01 EUR.
pub fn program_spec() -> ProgramSpec {
    let eur = Unit::Money {
        currency: Currency(*b"EUR"),
    };
    let rule = |segment, unit, spend_priority, expiry| SegmentRule {
        segment,
        unit,
        spend_priority,
        expiry,
    };
    let tier = |name: &str, min_points, multiplier_permille| Tier {
        name: name.into(),
        min_points,
        multiplier_permille,
    };
    ProgramSpec {
        name: "Acme Rewards".into(),
        currency: Currency(*b"EUR"),
        segments: vec![
            rule(Segment::CashDeposit, eur, 2, ExpiryPolicy::Never),
            rule(
                Segment::Gift,
                eur,
                1,
                ExpiryPolicy::MonthsAfterEarning { months: 12 },
            ),
            rule(
                Segment::Mileage,
                Unit::Points,
                0,
                ExpiryPolicy::MonthsAfterEarning { months: 24 },
            ),
        ],
        earn: EarnRule {
            points: 1,
            per_minor: 100,
            excluded_categories: vec![],
            promotions: vec![Promotion {
                from_ms: GENESIS_MS,
                until_ms: GENESIS_MS + 2 * 24 * 3_600_000,
                multiplier_permille: 2_000,
            }],
            per_tx_cap: Some(10_000),
            period_cap: Some(PeriodCap {
                days: 30,
                cap: 50_000,
            }),
            max_balance: None,
            pending_days: 14,
            release_on_event: false,
        },
        tiers: TierPolicy {
            tiers: vec![
                tier("base", 0, 1_000),
                tier("silver", 1_000, 1_250),
                tier("gold", 5_000, 1_500),
            ],
            basis: TierBasis::PointsCollected,
            window_days: 365,
            grace_days: 30,
            keep_on_rule_change: false,
        },
        adjust_approval_above: 5_000,
        transfers: false,
        partner_orgs: vec![],
        checkout: CheckoutRules {
            max_order_discount_minor: Some(5_000),
            point_value_minor: 1,
            not_combinable_pools: vec![],
        },
        engagement: vec![
            EngagementRule {
                action: "referral".into(),
                points: 500,
                referred_points: Some(250),
                limit: 0,
                window_days: 0,
            },
            EngagementRule {
                action: "review".into(),
                points: 50,
                referred_points: None,
                limit: 3,
                window_days: 30,
            },
        ],
        requires_consent: None,
    }
}

/// The genesis of every test chain.
pub fn genesis() -> InitialState {
    InitialState {
        chain_id: ChainId::new("testchain").expect("valid"),
        genesis_time_ms: GENESIS_MS,
        params: ChainParams::default(),
        orgs: [("acme", 1), ("globex", 2), ("initech", 3)]
            .into_iter()
            .map(|(id, seed)| InitialOrg {
                id: org(id),
                name: id.to_uppercase(),
                admin_keys: vec![public(seed)],
            })
            .collect(),
        nodes: vec![NodeRecord {
            node_id: 1,
            org: org("acme"),
            node_key: public(200),
            p2p_addr: "/ip4/127.0.0.1/tcp/7201".into(),
            voter: true,
        }],
    }
}

/// A chain in memory.
#[derive(Debug, Clone)]
pub struct TestChain {
    /// Current state.
    pub state: MemState,
    /// The chain id.
    pub chain_id: ChainId,
    /// Height of the last executed block.
    pub height: u64,
    /// Time of the last executed block.
    pub time_ms: u64,
    /// Next nonce to use.
    pub nonce: u64,
}

impl Default for TestChain {
    fn default() -> Self {
        Self::new()
    }
}

impl TestChain {
    /// A chain at height 0 from [`genesis`].
    pub fn new() -> Self {
        let g = genesis();
        let mut state = MemState::default();
        state.apply(&g.writes().expect("testkit genesis is valid"));
        TestChain {
            state,
            chain_id: g.chain_id,
            height: 0,
            time_ms: g.genesis_time_ms,
            nonce: 0,
        }
    }

    /// The context of the next block.
    pub fn next_ctx(&self) -> BlockContext {
        BlockContext {
            chain_id: self.chain_id.clone(),
            height: self.height + 1,
            time_ms: self.time_ms + 1_000,
        }
    }

    /// A body of `kind` valid for a minute, with a fresh nonce.
    pub fn body(&mut self, kind: TxKind) -> TxBody {
        self.nonce += 1;
        TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce,
            valid_until_ms: self.time_ms + 60_000,
            kind,
            memo: None,
        }
    }

    /// `kind` signed by `signer` with a fresh nonce.
    pub fn sign(&mut self, signer: &SigningKey, kind: TxKind) -> SignedTx {
        self.body(kind).sign(signer)
    }

    /// Executes one block of `txs` and applies it.
    pub fn execute(&mut self, txs: &[SignedTx]) -> Vec<TxResult> {
        let ctx = self.next_ctx();
        let out = execute_block(&self.state, &ctx, txs).expect("memory state cannot fail");
        self.state.apply(&out.writes);
        self.height = ctx.height;
        self.time_ms = ctx.time_ms;
        out.results
    }

    /// Lets `ms` pass (the next block's time is `ms` + 1 s later than otherwise).
    pub fn advance(&mut self, ms: u64) {
        self.time_ms += ms;
    }

    /// Signs and executes one tx in its own block.
    pub fn submit(&mut self, signer: &SigningKey, kind: TxKind) -> TxOutcome {
        let tx = self.sign(signer, kind);
        self.execute(&[tx]).remove(0).outcome
    }

    /// Like [`Self::submit`], panicking unless applied; returns the events.
    #[track_caller]
    pub fn applied(&mut self, signer: &SigningKey, kind: TxKind) -> Vec<Event> {
        match self.submit(signer, kind) {
            TxOutcome::Applied { events } => events,
            TxOutcome::Rejected { rejection } => panic!("expected applied, got {rejection}"),
        }
    }

    /// Like [`Self::submit`], panicking unless rejected; also checks that the tx changed
    /// nothing but replay protection (the block's other writes equal those of an empty
    /// block). Returns the reason.
    #[track_caller]
    pub fn rejected(&mut self, signer: &SigningKey, kind: TxKind) -> RejectReason {
        let tx = self.sign(signer, kind);
        let ctx = self.next_ctx();
        let empty = execute_block(&self.state, &ctx, &[]).expect("memory state");
        let out =
            execute_block(&self.state, &ctx, std::slice::from_ref(&tx)).expect("memory state");
        assert_eq!(
            out.writes.without_replay_protection(),
            empty.writes.without_replay_protection(),
            "a rejected tx must not change state"
        );
        self.state.apply(&out.writes);
        self.height = ctx.height;
        self.time_ms = ctx.time_ms;
        match out.results.into_iter().next().expect("one result").outcome {
            TxOutcome::Rejected { rejection } => rejection.reason,
            TxOutcome::Applied { events } => panic!("expected rejected, got applied: {events:?}"),
        }
    }

    /// Registers `key(seed)` with `role` for the org of admin `admin`.
    pub fn register(&mut self, admin: &SigningKey, seed: u8, role: Role) -> SigningKey {
        self.applied(
            admin,
            TxKind::RegisterKey(RegisterKeyTx {
                key: public(seed),
                role,
            }),
        );
        key(seed)
    }

    /// Registers `key(seed)` as a consortium auditor of `org` through governance: admin
    /// key 1 (acme) proposes and admin key 2 (globex) approves, a quorum of the three orgs.
    pub fn register_auditor(&mut self, org: &str, seed: u8) -> SigningKey {
        let change = GovernanceChange::AddAuditor {
            org: OrgId(org.into()),
            key: public(seed),
        };
        let proposal = self.sign(
            &key(1),
            TxKind::ProposeGovernance(ProposeGovernanceTx { change }),
        );
        let results = self.execute(std::slice::from_ref(&proposal));
        assert!(
            results[0].outcome.events().is_some(),
            "proposal: {:?}",
            results[0].outcome
        );
        self.applied(
            &key(2),
            TxKind::ApproveGovernance(ApproveGovernanceTx {
                proposal: proposal.id(),
            }),
        );
        key(seed)
    }

    /// Creates `pool` with `spec` as `signer`, issues `codes` testkit codes (unique pools;
    /// shared pools get their one code when `codes > 0`) and activates it if `activate`.
    pub fn pool(
        &mut self,
        signer: &SigningKey,
        pool: &str,
        spec: PoolSpec,
        codes: u64,
        activate: bool,
    ) -> PoolId {
        let id = pool_id(pool);
        let shared = spec.kind == PoolKind::SharedCode;
        self.applied(
            signer,
            TxKind::CreatePool(CreatePoolTx {
                pool: id.clone(),
                spec,
            }),
        );
        if codes > 0 {
            let n = if shared { 1 } else { codes };
            let codes = (0..n)
                .map(|i| issued_code(&id, &code_text(&id, i), i))
                .collect();
            self.applied(
                signer,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: id.clone(),
                    codes,
                }),
            );
        }
        if activate {
            self.applied(
                signer,
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: id.clone(),
                    action: PoolAction::Activate,
                }),
            );
        }
        id
    }

    /// The pool record.
    pub fn pool_record(&self, pool: &PoolId) -> PoolRecord {
        match self
            .state
            .0
            .get(&crate::state::StateKey::Pool(pool.clone()))
        {
            Some(crate::state::StateValue::Pool(p)) => p.clone(),
            other => panic!("no pool {pool}: {other:?}"),
        }
    }

    /// The token record.
    pub fn token(&self, token: &TokenId) -> TokenRecord {
        match self
            .state
            .0
            .get(&crate::state::StateKey::Token(token.clone()))
        {
            Some(crate::state::StateValue::Token(t)) => t.clone(),
            other => panic!("no token {token}: {other:?}"),
        }
    }
}

/// Keys of the state-tree nodes reachable from the root of `version` in `reader`; panics on
/// a missing node (tests of the tree's persistence and of the node's pruning).
pub fn reachable_nodes<R: jmt::storage::TreeReader>(
    reader: &R,
    version: u64,
) -> std::collections::BTreeSet<jmt::storage::NodeKey> {
    use jmt::storage::{NibblePath, Node, NodeKey};
    let mut out = std::collections::BTreeSet::new();
    let mut todo = vec![NodeKey::new(
        version,
        NibblePath::from_iter(std::iter::empty()),
    )];
    while let Some(key) = todo.pop() {
        let node = reader
            .get_node_option(&key)
            .unwrap()
            .unwrap_or_else(|| panic!("node {key:?} of version {version} missing"));
        if let Node::Internal(n) = node {
            for (nibble, child) in n.children_sorted() {
                let path = key
                    .nibble_path()
                    .nibbles()
                    .chain(std::iter::once(nibble))
                    .collect();
                todo.push(NodeKey::new(child.version, path));
            }
        }
        out.insert(key);
    }
    out
}
