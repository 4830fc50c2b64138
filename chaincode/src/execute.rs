//! Block execution: the coupon state machine.
//!
//! [`execute_block`] takes read-only state, the block context and the block's signed txs,
//! and returns one [`TxResult`] per tx plus the block's [`WriteSet`]. It is a pure
//! function of its inputs: the same state, context and txs give byte-identical results and
//! writes on every node and in every audit replay.
//!
//! Each tx runs against the state left by the txs before it. A tx passes the envelope
//! checks first (signature, chain, staleness, replay, signer key), then the checks of its
//! kind. An applied tx writes its changes; a rejected one changes no coupon, pool or key
//! state. Every tx that passed the envelope checks, applied or rejected, has its id
//! recorded for replay protection until its `valid_until_ms` has passed, so no tx id ever
//! executes twice (in the node-local `SeenTx` index, and in the block's `Remembered` entry,
//! which the state tree commits). Block-level housekeeping (forgetting expired tx ids)
//! runs before the first tx.
//!
//! [`dry_run`] runs every check of one tx without keeping its writes: the validate call
//! a terminal makes before charging a customer.

mod checkout;
mod consent;
mod engagement;
mod holds;
mod members;
mod points;
mod withdrawals;

pub use checkout::redemption_id as checkout_redemption_id;

pub use points::BalanceOp;

use crate::discount::{Quote, quote};
use crate::ids::{MemberId, OrgId, PoolId, PublicKey, TokenId, TxId};
use crate::loyalty::{self, ProgramRecord, Segment};
use crate::reject::{RejectReason, Rejection};
use crate::risk::{HoldReason, HoldTarget};
use crate::state::{Overlay, StateError, StateKey, StateReader, StateValue, WriteSet};
use crate::tx::{
    AllocateTx, ApproveGovernanceTx, CreatePoolTx, IssueCodesTx, MAX_REVOKE_NOTE_BYTES, PreparedTx,
    ProposeGovernanceTx, RedeemTarget, RedeemTx, RegisterKeyTx, RevokeKeyTx, RevokeReason,
    RevokeTokenTx, RollbackTx, SetProgramTx, SignedTx, TransferTokenTx, TransitionPoolTx, TxKind,
    UpdatePoolTx, is_acceptable_key, verify_signatures,
};
use crate::types::{
    BlockContext, ChainParams, CodeIndexEntry, Consortium, Currency, Discount, GovernanceChange,
    KeyRecord, OrgRecord, PoolAction, PoolKind, PoolRecord, PoolSpec, PoolStatus, ProposalRecord,
    RedemptionRecord, Role, TokenRecord, TokenStatus,
};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most housekeeping steps (forgotten tx ids, `Remembered` entries or heights without one)
/// per block, so a block after a long idle gap or a burst of txs stays cheap; the rest
/// continues in the next blocks.
pub const MAX_PRUNE_STEPS_PER_BLOCK: u32 = 4_096;
/// Longest display text (pool names, org names), bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Most entries in any list of a pool spec.
pub const MAX_SPEC_LIST: usize = 64;

/// What happened to one tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxResult {
    /// The tx's id.
    pub tx_id: TxId,
    /// Applied with events, or rejected with a reason.
    pub outcome: TxOutcome,
}

/// Applied or rejected.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TxOutcome {
    /// The tx took effect.
    Applied {
        /// What it did.
        events: Vec<Event>,
    },
    /// The tx changed nothing.
    Rejected {
        /// Why.
        rejection: Rejection,
    },
}

impl TxOutcome {
    /// The rejection, if rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            TxOutcome::Rejected { rejection } => Some(rejection),
            TxOutcome::Applied { .. } => None,
        }
    }

    /// The events, if applied.
    pub fn events(&self) -> Option<&[Event]> {
        match self {
            TxOutcome::Applied { events } => Some(events),
            TxOutcome::Rejected { .. } => None,
        }
    }
}

/// A fact recorded by an applied tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// A key was registered.
    KeyRegistered {
        /// The key.
        key: PublicKey,
        /// Its org.
        org: OrgId,
        /// Its role.
        role: Role,
    },
    /// A key was revoked.
    KeyRevoked {
        /// The key.
        key: PublicKey,
    },
    /// A governance proposal was opened (its id is the proposing tx's id).
    ProposalOpened {
        /// The proposal.
        proposal: TxId,
        /// Approvals so far.
        approvals: u32,
        /// Approvals needed.
        needed: u32,
    },
    /// A proposal got an approval.
    ProposalApproved {
        /// The proposal.
        proposal: TxId,
        /// Approvals so far.
        approvals: u32,
        /// Approvals needed.
        needed: u32,
    },
    /// A proposal reached its quorum and took effect.
    GovernanceApplied {
        /// The proposal.
        proposal: TxId,
        /// What changed.
        change: GovernanceChange,
    },
    /// A pool was created in draft.
    PoolCreated {
        /// The pool.
        pool: PoolId,
    },
    /// A draft pool's spec was replaced.
    PoolUpdated {
        /// The pool.
        pool: PoolId,
    },
    /// A pool changed status.
    PoolStatusChanged {
        /// The pool.
        pool: PoolId,
        /// Old status.
        from: PoolStatus,
        /// New status.
        to: PoolStatus,
    },
    /// Codes were issued.
    CodesIssued {
        /// The pool.
        pool: PoolId,
        /// Serial of the first new token (shared code: 0).
        first_serial: u64,
        /// How many codes.
        count: u64,
    },
    /// A token was allocated to a member.
    Allocated {
        /// The token.
        token: TokenId,
        /// Its holder.
        member: MemberId,
        /// True when the claim key had been used already and the earlier token is returned.
        repeat: bool,
    },
    /// A coupon was redeemed.
    Redeemed {
        /// The redemption's id (the redeem tx's id).
        redemption: TxId,
        /// The pool.
        pool: PoolId,
        /// The token (unique codes).
        token: Option<TokenId>,
        /// The member, where known.
        member: Option<MemberId>,
        /// Amount the discount applied to.
        eligible_minor: u64,
        /// The discount.
        discount_minor: u64,
        /// Its currency.
        currency: Currency,
    },
    /// A redemption was rolled back.
    RolledBack {
        /// The redemption.
        redemption: TxId,
        /// The pool.
        pool: PoolId,
        /// The token restored (unique codes).
        token: Option<TokenId>,
    },
    /// A token was revoked.
    TokenRevoked {
        /// The token.
        token: TokenId,
    },
    /// A token changed hands.
    TokenTransferred {
        /// The token.
        token: TokenId,
        /// Old holder.
        from: MemberId,
        /// New holder.
        to: MemberId,
    },
    /// An org's loyalty program was set or changed.
    ProgramSet {
        /// The org.
        org: OrgId,
        /// The program's version now (1: the first).
        version: u32,
    },
    /// A member's balance in one segment moved (one event per segment a tx moves).
    BalanceChanged {
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
        /// What moved it.
        op: BalanceOp,
        /// The segment.
        segment: Segment,
        /// Up (true) or down.
        credit: bool,
        /// By how much.
        amount: u64,
    },
    /// An adjustment above the program's threshold waits for a second admin.
    AdjustmentRequested {
        /// The adjustment (the adjust tx's id).
        adjustment: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
    },
    /// A pending adjustment was refused; nothing changed.
    AdjustmentRejected {
        /// The adjustment.
        adjustment: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
    },
    /// A checkout applied: its coupons' `Redeemed` and its balance events come before
    /// this summary, in the same tx.
    CheckedOut {
        /// The checkout (the tx's id: what a void names).
        checkout: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
        /// The order's currency.
        currency: Currency,
        /// The basket before discounts.
        total_minor: u64,
        /// What the coupons took.
        discount_minor: u64,
        /// What the balance paid.
        balance_minor: u64,
        /// What was left to pay by other means.
        net_minor: u64,
        /// Points earned (0: none).
        points: u64,
    },
    /// A checkout was voided: its coupons usable again, its spend refunded, its points
    /// taken back (their events come before this one).
    CheckoutVoided {
        /// The checkout.
        checkout: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
    },
    /// A member moved to another tier.
    TierChanged {
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
        /// The tier left.
        from: String,
        /// The tier reached.
        to: String,
    },
    /// A withdrawal moved on (requested, approved, paid or rejected); its balance events
    /// (held, or given back) come before it in the same tx.
    WithdrawalChanged {
        /// The withdrawal (the request tx's id).
        withdrawal: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
        /// The amount.
        amount: u64,
        /// Its status now: `requested`, `approved`, `paid` or `rejected`.
        status: String,
    },
    /// Pending points became spendable before their time: the event their program waits
    /// for came (a `release_points` tx).
    PointsReleased {
        /// The earn or checkout that credited them.
        source: TxId,
        /// The program's org.
        program: OrgId,
        /// The member.
        member: MemberId,
        /// Points released.
        points: u64,
    },
    /// An org placed a hold.
    HoldPlaced {
        /// The org.
        org: OrgId,
        /// What it stops.
        target: HoldTarget,
        /// Why.
        reason: HoldReason,
        /// Placed by the fraud engine, waiting for an org admin's review.
        pending_review: bool,
    },
    /// An org admin confirmed a hold placed pending review (a label: fraud).
    HoldConfirmed {
        /// The org.
        org: OrgId,
        /// What it stops.
        target: HoldTarget,
    },
    /// An org admin lifted a hold (when it was pending review, a label: not fraud).
    HoldLifted {
        /// The org.
        org: OrgId,
        /// What it stopped.
        target: HoldTarget,
        /// Why it had been placed.
        reason: HoldReason,
        /// Whether it was still pending review.
        was_pending: bool,
    },
    /// An org recorded a member's consent decision on a purpose.
    ConsentRecorded {
        /// The org that keeps the record.
        org: OrgId,
        /// The member.
        member: MemberId,
        /// What the decision is about.
        purpose: crate::consent::Purpose,
        /// Granted or withdrawn.
        decision: crate::consent::ConsentDecision,
        /// blake3 of the consent text version shown.
        text_hash: crate::ids::Hash32,
    },
    /// An org recorded that it erased a member's personal data.
    MemberErased {
        /// The org.
        org: OrgId,
        /// The member.
        member: MemberId,
    },
}

/// A block's results and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One per tx, in block order.
    pub results: Vec<TxResult>,
    /// Every state change of the block.
    pub writes: WriteSet,
}

/// Why a tx did not apply: rejected (normal), or state could not be read (abort the block).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    /// The tx is rejected.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<Rejection> for ExecError {
    fn from(r: Rejection) -> Self {
        ExecError::Rejected(r)
    }
}

type Exec<T> = Result<T, ExecError>;

fn fail<T>(reason: RejectReason, message: impl Into<String>) -> Exec<T> {
    Err(ExecError::Rejected(Rejection::new(reason, message)))
}

/// Executes a block: every tx gets a result; state errors abort the whole block.
pub fn execute_block<S: StateReader + ?Sized>(
    state: &S,
    ctx: &BlockContext,
    txs: &[SignedTx],
) -> Result<BlockOutcome, StateError> {
    let prepared: Vec<PreparedTx<'_>> = txs.iter().map(PreparedTx::new).collect();
    let signatures = verify_signatures(&prepared);
    let mut block = WriteSet::default();
    forget_expired_tx_ids(state, &mut block, ctx)?;

    let mut results = Vec::with_capacity(txs.len());
    // The ids this block remembers, in block order: its `Remembered` entry.
    let mut remembered = Vec::new();
    for (p, signature) in prepared.iter().zip(signatures) {
        let mut view = Overlay {
            base: state,
            block: &block,
            tx: WriteSet::default(),
            height: ctx.height,
        };
        let outcome = match signature {
            Err(e) => Err(ExecError::Rejected(Rejection::new(
                RejectReason::BadSignature,
                e.to_string(),
            ))),
            Ok(()) => execute_tx(&mut view, ctx, p),
        };
        // A rejected tx leaves only the record of its id (see `execute_tx`).
        let outcome = match outcome {
            Ok(events) => TxOutcome::Applied { events },
            Err(ExecError::Rejected(rejection)) => TxOutcome::Rejected { rejection },
            Err(ExecError::State(e)) => return Err(e),
        };
        let writes = view.tx;
        if let Some(Some(StateValue::SeenTx(until))) = writes.lookup(&StateKey::SeenTx(p.id)) {
            remembered.push((p.id, *until));
        }
        block.merge(writes);
        results.push(TxResult {
            tx_id: p.id,
            outcome,
        });
    }
    if !remembered.is_empty() {
        block.put(
            StateKey::Remembered(ctx.height),
            StateValue::Remembered(remembered),
        );
    }
    Ok(BlockOutcome {
        results,
        writes: block,
    })
}

/// Runs every check of `tx` (signature included) as if it were the next tx in a block at
/// `ctx`, and returns its events without writing anything.
pub fn dry_run<S: StateReader + ?Sized>(
    state: &S,
    ctx: &BlockContext,
    tx: &SignedTx,
) -> Result<Vec<Event>, ExecError> {
    let p = PreparedTx::new(tx);
    if let Err(e) = tx.verify() {
        return fail(RejectReason::BadSignature, e.to_string());
    }
    let empty = WriteSet::default();
    let mut view = Overlay {
        base: state,
        block: &empty,
        tx: WriteSet::default(),
        height: ctx.height,
    };
    execute_tx(&mut view, ctx, &p)
}

/// Prices a redemption for a terminal without signing anything: the same checks as a
/// redeem by `terminal` at `ctx`, except replay and staleness.
pub fn quote_redemption<S: StateReader + ?Sized>(
    state: &S,
    ctx: &BlockContext,
    terminal: &PublicKey,
    tx: &RedeemTx,
) -> Result<Quote, ExecError> {
    let empty = WriteSet::default();
    let view = Overlay {
        base: state,
        block: &empty,
        tx: WriteSet::default(),
        height: ctx.height,
    };
    let signer = active_key(&view, terminal)?;
    if matches!(signer.role, Role::Terminal { .. }) {
        holds::require_free(&view, &signer.org, &HoldTarget::Terminal(*terminal))?;
    }
    let plan = plan_redemption(&view, ctx, (&signer, *terminal), tx)?;
    Ok(plan.quote)
}

fn execute_tx<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    p: &PreparedTx<'_>,
) -> Exec<Vec<Event>> {
    let body = &p.tx.body;
    if body.chain_id != ctx.chain_id {
        return fail(
            RejectReason::WrongChain,
            format!(
                "tx is for chain {}, this is {}",
                body.chain_id, ctx.chain_id
            ),
        );
    }
    if ctx.time_ms > body.valid_until_ms {
        return fail(
            RejectReason::Stale,
            format!(
                "valid until {} ms, block time is {} ms",
                body.valid_until_ms, ctx.time_ms
            ),
        );
    }
    let params = params(view)?;
    if body.valid_until_ms - ctx.time_ms > params.max_tx_validity_ms {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "valid_until_ms is more than {} ms after the block time",
                params.max_tx_validity_ms
            ),
        );
    }
    if view.seen_tx(&p.id)?.is_some() {
        return fail(
            RejectReason::Duplicate,
            format!("tx {} was executed already", p.id),
        );
    }
    let signer = active_key(view, &p.tx.signer)?;
    // From here on the tx is a registered signer's, for this chain and within its validity:
    // whatever its outcome, its id is remembered, so it can never execute later (a redeem
    // refused while a pool was paused must not succeed when someone replays it).
    let outcome = execute_kind(view, ctx, &params, &signer, p);
    if matches!(outcome, Err(ExecError::Rejected(_))) {
        view.tx = WriteSet::default();
    }
    if !matches!(outcome, Err(ExecError::State(_))) {
        remember_tx_id(view, p.id, body.valid_until_ms)?;
    }
    outcome
}

fn execute_kind<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    params: &ChainParams,
    signer: &KeyRecord,
    p: &PreparedTx<'_>,
) -> Exec<Vec<Event>> {
    // A held terminal signs nothing that applies.
    if matches!(signer.role, Role::Terminal { .. }) {
        holds::require_free(view, &signer.org, &HoldTarget::Terminal(p.tx.signer))?;
    }
    Ok(match &p.tx.body.kind {
        TxKind::RegisterKey(t) => register_key(view, ctx, signer, t)?,
        TxKind::RevokeKey(t) => revoke_key(view, ctx, signer, t)?,
        TxKind::ProposeGovernance(t) => propose(view, ctx, params, signer, p.id, t)?,
        TxKind::ApproveGovernance(t) => approve(view, ctx, signer, t)?,
        TxKind::CreatePool(t) => create_pool(view, ctx, signer, t)?,
        TxKind::UpdatePool(t) => update_pool(view, signer, t)?,
        TxKind::TransitionPool(t) => transition_pool(view, signer, t)?,
        TxKind::IssueCodes(t) => issue_codes(view, params, signer, t)?,
        TxKind::Allocate(t) => allocate(view, ctx, signer, t)?,
        TxKind::Redeem(t) => redeem(view, ctx, (signer, p.tx.signer), p.id, t)?,
        TxKind::Rollback(t) => rollback(view, ctx, signer, t)?,
        TxKind::RevokeToken(t) => revoke_token(view, signer, t)?,
        TxKind::TransferToken(t) => transfer_token(view, signer, t)?,
        TxKind::SetProgram(t) => set_program(view, ctx, signer, t)?,
        TxKind::Load(t) => points::load(view, ctx, signer, p.id, t)?,
        TxKind::Earn(t) => points::earn(view, ctx, signer, p.id, t)?,
        TxKind::Spend(t) => points::spend(view, ctx, signer, p.id, t)?,
        TxKind::Void(t) => points::void(view, ctx, signer, t)?,
        TxKind::Adjust(t) => points::adjust(view, ctx, (signer, p.tx.signer), p.id, t)?,
        TxKind::DecideAdjustment(t) => {
            points::decide_adjustment(view, ctx, (signer, p.tx.signer), t)?
        }
        TxKind::TransferBalance(t) => points::transfer(view, ctx, signer, p.id, t)?,
        TxKind::ExpireBalances(t) => points::expire(view, ctx, signer, t)?,
        TxKind::Checkout(t) => checkout::checkout(view, ctx, (signer, p.tx.signer), p.id, t)?,
        TxKind::RequestWithdrawal(t) => {
            withdrawals::request(view, ctx, (signer, p.tx.signer), p.id, t)?
        }
        TxKind::DecideWithdrawal(t) => withdrawals::decide(view, ctx, (signer, p.tx.signer), t)?,
        TxKind::Engage(t) => engagement::engage(view, ctx, signer, p.id, t)?,
        TxKind::ReleasePoints(t) => engagement::release(view, ctx, signer, t)?,
        TxKind::PlaceHold(t) => holds::place(view, ctx, (signer, p.tx.signer), p.id, t)?,
        TxKind::ReviewHold(t) => holds::review(view, (signer, p.tx.signer), t)?,
        TxKind::RecordConsent(t) => consent::record(view, ctx, signer, t)?,
        TxKind::RecordErasure(t) => consent::erase(view, ctx, signer, t)?,
    })
}

// ---- replay protection -------------------------------------------------------------------
//
// An executed id goes into `SeenTx(id)`, the node-local lookup index (outside the state
// tree), and into its block's `Remembered(height)` entry (block order), which the tree
// commits: one tree key per block, not two per tx. Forgetting walks the `Remembered`
// entries in height order and drops an entry, with its ids' `SeenTx`, once every id in it
// is stale. Staleness is checked before duplicates, so an id that stays in the index a
// little longer never changes an outcome.

/// Records an executed tx id in the lookup index; [`execute_block`] adds it to the block's
/// `Remembered` entry.
fn remember_tx_id<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    id: TxId,
    valid_until_ms: u64,
) -> Exec<()> {
    view.put_seen_tx(&id, valid_until_ms);
    Ok(())
}

/// Forgets the ids of txs that can no longer be replayed: walks the `Remembered` entries of
/// the heights below this block from the cursor, and drops an entry (and its ids' `SeenTx`)
/// once all its ids are stale at the block's time; stops at the first entry that still
/// holds a live id. At most [`MAX_PRUNE_STEPS_PER_BLOCK`] steps (an id, an entry or an
/// empty height each) per block.
fn forget_expired_tx_ids<S: StateReader + ?Sized>(
    state: &S,
    block: &mut WriteSet,
    ctx: &BlockContext,
) -> Result<(), StateError> {
    let mut view = Overlay {
        base: state,
        block,
        tx: WriteSet::default(),
        height: ctx.height,
    };
    // Genesis sets the cursor to height 1; a state without one starts from this block.
    let (mut height, mut index) = view.prune_cursor()?.unwrap_or((ctx.height, 0));
    let start = (height, index);
    let mut steps = 0;
    while height < ctx.height && steps < MAX_PRUNE_STEPS_PER_BLOCK {
        let Some(txs) = view.remembered(height)? else {
            (height, index, steps) = (height + 1, 0, steps + 1);
            continue;
        };
        if txs.iter().any(|&(_, until)| until >= ctx.time_ms) {
            break;
        }
        let from = (index as usize).min(txs.len());
        let take = ((MAX_PRUNE_STEPS_PER_BLOCK - steps) as usize).min(txs.len() - from);
        for (id, _) in &txs[from..from + take] {
            view.delete(StateKey::SeenTx(*id));
        }
        steps += take as u32;
        index = (from + take) as u32;
        if from + take == txs.len() && steps < MAX_PRUNE_STEPS_PER_BLOCK {
            view.delete(StateKey::Remembered(height));
            (height, index, steps) = (height + 1, 0, steps + 1);
        }
    }
    if (height, index) != start || view.prune_cursor()?.is_none() {
        view.put_prune_cursor(height, index);
    }
    let writes = view.tx;
    block.merge(writes);
    Ok(())
}

// ---- shared checks -----------------------------------------------------------------------

fn params<S: StateReader + ?Sized>(view: &Overlay<'_, S>) -> Exec<ChainParams> {
    Ok(view.params(())?.unwrap_or_default())
}

fn consortium<S: StateReader + ?Sized>(view: &Overlay<'_, S>) -> Exec<Consortium> {
    Ok(view.consortium(())?.unwrap_or_default())
}

/// The signer's key record, if registered and not revoked.
fn active_key<S: StateReader + ?Sized>(view: &Overlay<'_, S>, key: &PublicKey) -> Exec<KeyRecord> {
    match view.key(key)? {
        None => fail(
            RejectReason::UnknownKey,
            format!("key {key} is not registered"),
        ),
        Some(k) if k.revoked_at.is_some() => {
            fail(RejectReason::KeyRevoked, format!("key {key} was revoked"))
        }
        Some(k) => Ok(k),
    }
}

fn require_admin(signer: &KeyRecord) -> Exec<()> {
    if signer.role != Role::OrgAdmin {
        return fail(
            RejectReason::NotAuthorized,
            format!("needs an org_admin key, signer is {}", signer.role.name()),
        );
    }
    Ok(())
}

/// The pool, checked to belong to the signer's org, with an admin or issuer signer.
fn managed_pool<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    signer: &KeyRecord,
    pool: &PoolId,
) -> Exec<PoolRecord> {
    let record = existing_pool(view, pool)?;
    if !matches!(signer.role, Role::OrgAdmin | Role::Issuer) {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "needs an org_admin or issuer key, signer is {}",
                signer.role.name()
            ),
        );
    }
    if record.owner != signer.org {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "pool {pool} belongs to {}, signer to {}",
                record.owner, signer.org
            ),
        );
    }
    Ok(record)
}

fn existing_pool<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    pool: &PoolId,
) -> Exec<PoolRecord> {
    match view.pool(pool)? {
        Some(p) => Ok(p),
        None => fail(
            RejectReason::NotFound,
            format!("pool {pool} does not exist"),
        ),
    }
}

fn existing_token<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    token: &TokenId,
) -> Exec<TokenRecord> {
    match view.token(token)? {
        Some(t) => Ok(t),
        None => fail(
            RejectReason::NotFound,
            format!("token {token} does not exist"),
        ),
    }
}

fn check_slug(what: &str, name: &str) -> Exec<()> {
    crate::ids::validate_slug(name)
        .or_else(|e| fail(RejectReason::InvalidInput, format!("{what}: {e}")))
}

fn check_text(what: &str, text: &str) -> Exec<()> {
    if text.is_empty() || text.len() > MAX_NAME_BYTES || text.chars().any(char::is_control) {
        return fail(
            RejectReason::InvalidInput,
            format!("{what} must be 1 to {MAX_NAME_BYTES} bytes without control characters"),
        );
    }
    Ok(())
}

fn check_new_key<S: StateReader + ?Sized>(view: &Overlay<'_, S>, key: &PublicKey) -> Exec<()> {
    if !is_acceptable_key(key) {
        return fail(
            RejectReason::InvalidInput,
            format!("{key} is not a canonical, torsion-free ed25519 public key"),
        );
    }
    if view.key(key)?.is_some() {
        return fail(
            RejectReason::AlreadyExists,
            format!("key {key} is registered already"),
        );
    }
    Ok(())
}

fn check_role(role: &Role) -> Exec<()> {
    if let Role::Terminal { store, channel } = role {
        check_slug("terminal store", store.as_str())?;
        check_slug("terminal channel", channel.as_str())?;
    }
    Ok(())
}

// ---- keys ----------------------------------------------------------------------------------

fn register_key<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &RegisterKeyTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    check_role(&tx.role)?;
    if tx.role == Role::Auditor {
        return fail(
            RejectReason::NotAuthorized,
            "an auditor reads every org's data: it needs the consortium's approval \
             (propose governance change add_auditor)",
        );
    }
    check_new_key(view, &tx.key)?;
    if tx.role == Role::OrgAdmin {
        let mut org = org_record(view, &signer.org)?;
        org.active_admins += 1;
        view.put_org(&signer.org, org);
    }
    view.put_key(
        &tx.key,
        KeyRecord {
            org: signer.org.clone(),
            role: tx.role.clone(),
            registered_at: ctx.height,
            revoked_at: None,
        },
    );
    Ok(vec![Event::KeyRegistered {
        key: tx.key,
        org: signer.org.clone(),
        role: tx.role.clone(),
    }])
}

fn org_record<S: StateReader + ?Sized>(view: &Overlay<'_, S>, org: &OrgId) -> Exec<OrgRecord> {
    match view.org(org)? {
        Some(o) => Ok(o),
        None => fail(RejectReason::NotFound, format!("org {org} does not exist")),
    }
}

fn revoke_key<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &RevokeKeyTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    let Some(mut record) = view.key(&tx.key)? else {
        return fail(
            RejectReason::NotFound,
            format!("key {} is not registered", tx.key),
        );
    };
    if record.org != signer.org {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "key {} belongs to {}, signer to {}",
                tx.key, record.org, signer.org
            ),
        );
    }
    if record.revoked_at.is_some() {
        return fail(
            RejectReason::InvalidTransition,
            format!("key {} is revoked already", tx.key),
        );
    }
    if record.role == Role::OrgAdmin {
        let mut org = org_record(view, &record.org)?;
        if org.active_admins <= 1 {
            return fail(
                RejectReason::InvalidTransition,
                format!("key {} is the last org_admin of {}", tx.key, record.org),
            );
        }
        org.active_admins -= 1;
        view.put_org(&record.org, org);
    }
    record.revoked_at = Some(ctx.height);
    view.put_key(&tx.key, record);
    Ok(vec![Event::KeyRevoked { key: tx.key }])
}

// ---- governance ----------------------------------------------------------------------------

fn validate_change<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    change: &GovernanceChange,
) -> Exec<()> {
    let consortium = consortium(view)?;
    match change {
        GovernanceChange::AddOrg {
            org,
            name,
            admin_key,
        } => {
            check_slug("org id", org.as_str())?;
            check_text("org name", name)?;
            if view.org(org)?.is_some() {
                return fail(
                    RejectReason::AlreadyExists,
                    format!("org {org} exists already"),
                );
            }
            check_new_key(view, admin_key)?;
        }
        GovernanceChange::AddNode { node } => {
            if node.node_id == 0 {
                return fail(RejectReason::InvalidInput, "node id 0 is reserved by raft");
            }
            if consortium.nodes.iter().any(|n| n.node_id == node.node_id)
                || consortium.retired_node_ids.contains(&node.node_id)
            {
                return fail(
                    RejectReason::AlreadyExists,
                    format!("node id {} is or was in use", node.node_id),
                );
            }
            if consortium.nodes.iter().any(|n| n.node_key == node.node_key) {
                return fail(
                    RejectReason::AlreadyExists,
                    format!("node key {} is in use", node.node_key),
                );
            }
            org_record(view, &node.org)?;
            if !is_acceptable_key(&node.node_key) {
                return fail(
                    RejectReason::InvalidInput,
                    "node key is not a valid ed25519 public key",
                );
            }
            check_text("node p2p address", &node.p2p_addr)?;
        }
        GovernanceChange::RemoveNode { node_id } => {
            let Some(node) = consortium.nodes.iter().find(|n| n.node_id == *node_id) else {
                return fail(
                    RejectReason::NotFound,
                    format!("node {node_id} is not a member"),
                );
            };
            if node.voter && consortium.voters().count() <= 1 {
                return fail(
                    RejectReason::InvalidTransition,
                    "cannot remove the last voter",
                );
            }
        }
        GovernanceChange::UpdateParams { params } => validate_params(params)?,
        GovernanceChange::AddAuditor { org, key } => {
            org_record(view, org)?;
            check_new_key(view, key)?;
        }
    }
    Ok(())
}

/// Checks chain parameters for sane ranges.
pub fn validate_params(params: &ChainParams) -> Result<(), Rejection> {
    let bad = |m: &str| Err(Rejection::new(RejectReason::InvalidInput, m));
    if !(1..=100_000).contains(&params.max_batch_codes) {
        return bad("max_batch_codes must be 1 to 100,000");
    }
    if !(1_000..=30 * 24 * 3_600_000).contains(&params.max_tx_validity_ms) {
        return bad("max_tx_validity_ms must be 1 s to 30 days");
    }
    if params.proposal_ttl_ms < 60_000 {
        return bad("proposal_ttl_ms must be at least 60 s");
    }
    let min_sealed = (crate::codes::SEAL_NONCE_LEN + crate::codes::SEAL_TAG_LEN + 1) as u32;
    if !(min_sealed..=4_096).contains(&params.max_sealed_code_bytes) {
        return bad("max_sealed_code_bytes must be 29 to 4,096");
    }
    Ok(())
}

fn apply_change<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    change: &GovernanceChange,
) -> Exec<()> {
    validate_change(view, change)?;
    let mut consortium = consortium(view)?;
    match change {
        GovernanceChange::AddOrg {
            org,
            name,
            admin_key,
        } => {
            view.put_org(
                org,
                OrgRecord {
                    name: name.clone(),
                    active_admins: 1,
                    joined_at: ctx.height,
                },
            );
            view.put_key(
                admin_key,
                KeyRecord {
                    org: org.clone(),
                    role: Role::OrgAdmin,
                    registered_at: ctx.height,
                    revoked_at: None,
                },
            );
        }
        // Only the consortium changes: below, as a verifier replays it.
        GovernanceChange::AddNode { .. } | GovernanceChange::RemoveNode { .. } => {}
        GovernanceChange::UpdateParams { params } => view.put_params((), params.clone()),
        GovernanceChange::AddAuditor { org, key } => {
            // The key registry only: the consortium stays as it is.
            view.put_key(
                key,
                KeyRecord {
                    org: org.clone(),
                    role: Role::Auditor,
                    registered_at: ctx.height,
                    revoked_at: None,
                },
            );
            return Ok(());
        }
    }
    consortium.apply_change(change);
    view.put_consortium((), consortium);
    Ok(())
}

fn propose<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    params: &ChainParams,
    signer: &KeyRecord,
    id: TxId,
    tx: &ProposeGovernanceTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    validate_change(view, &tx.change)?;
    let needed = consortium(view)?.quorum() as u32;
    let mut proposal = ProposalRecord {
        change: tx.change.clone(),
        approvals: vec![signer.org.clone()],
        expires_at_ms: ctx.time_ms.saturating_add(params.proposal_ttl_ms),
        executed_at: None,
    };
    let mut events = vec![Event::ProposalOpened {
        proposal: id,
        approvals: 1,
        needed,
    }];
    if needed <= 1 {
        apply_change(view, ctx, &tx.change)?;
        proposal.executed_at = Some(ctx.height);
        events.push(Event::GovernanceApplied {
            proposal: id,
            change: tx.change.clone(),
        });
    }
    view.put_proposal(&id, proposal);
    Ok(events)
}

fn approve<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &ApproveGovernanceTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    let Some(mut proposal) = view.proposal(&tx.proposal)? else {
        return fail(
            RejectReason::NotFound,
            format!("proposal {} does not exist", tx.proposal),
        );
    };
    if proposal.executed_at.is_some() {
        return fail(
            RejectReason::InvalidTransition,
            format!("proposal {} was applied already", tx.proposal),
        );
    }
    if ctx.time_ms > proposal.expires_at_ms {
        return fail(
            RejectReason::Expired,
            format!("proposal {} expired", tx.proposal),
        );
    }
    let Err(at) = proposal.approvals.binary_search(&signer.org) else {
        return fail(
            RejectReason::AlreadyApproved,
            format!("{} approved already", signer.org),
        );
    };
    proposal.approvals.insert(at, signer.org.clone());
    let members = consortium(view)?;
    // Only current members count: an org that approved and has since left does not.
    let approvals = proposal
        .approvals
        .iter()
        .filter(|o| members.orgs.binary_search(o).is_ok())
        .count();
    let needed = members.quorum();
    let mut events = vec![Event::ProposalApproved {
        proposal: tx.proposal,
        approvals: approvals as u32,
        needed: needed as u32,
    }];
    if approvals >= needed {
        apply_change(view, ctx, &proposal.change)?;
        proposal.executed_at = Some(ctx.height);
        events.push(Event::GovernanceApplied {
            proposal: tx.proposal,
            change: proposal.change.clone(),
        });
    }
    view.put_proposal(&tx.proposal, proposal);
    Ok(events)
}

// ---- pools ---------------------------------------------------------------------------------

fn check_list<T: Ord + AsRef<str>>(what: &str, items: &[T]) -> Exec<()> {
    if items.len() > MAX_SPEC_LIST {
        return fail(
            RejectReason::InvalidInput,
            format!("{what}: more than {MAX_SPEC_LIST} entries"),
        );
    }
    let mut seen = BTreeSet::new();
    for item in items {
        check_slug(what, item.as_ref())?;
        if !seen.insert(item) {
            return fail(
                RejectReason::InvalidInput,
                format!("{what}: {} is listed twice", item.as_ref()),
            );
        }
    }
    Ok(())
}

macro_rules! as_ref_str {
    ($($t:ty),*) => {$(impl AsRef<str> for $t { fn as_ref(&self) -> &str { self.as_str() } })*};
}
as_ref_str!(
    crate::ids::Channel,
    crate::ids::StoreId,
    crate::ids::Category,
    OrgId
);

fn validate_spec<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    owner: &OrgId,
    spec: &PoolSpec,
) -> Exec<()> {
    check_spec_fields(spec)?;
    if let Some(purpose) = &spec.requires_consent {
        consent::check_purpose(view, owner, purpose)?;
    }
    check_partners(view, owner, &spec.partner_orgs)
}

/// The checks of a pool spec that need no state (all but the partner orgs' existence):
/// what `create_pool` and `update_pool` refuse, for callers that build specs off chain
/// (the advisor's proposals, the console's draft form).
pub fn check_spec_fields(spec: &PoolSpec) -> Exec<()> {
    check_text("pool name", &spec.name)?;
    if !spec.currency.is_valid() {
        return fail(
            RejectReason::InvalidInput,
            "currency must be three uppercase letters",
        );
    }
    match spec.discount {
        Discount::Percent { bps } if !(1..=10_000).contains(&bps) => {
            return fail(
                RejectReason::InvalidInput,
                "percent discount must be 1 to 10,000 bps",
            );
        }
        Discount::Fixed { amount_minor: 0 } => {
            return fail(
                RejectReason::InvalidInput,
                "fixed discount must be more than 0",
            );
        }
        _ => {}
    }
    if spec.max_discount_minor == Some(0) {
        return fail(
            RejectReason::InvalidInput,
            "max discount must be more than 0 (or absent)",
        );
    }
    if spec.valid_from_ms >= spec.valid_until_ms {
        return fail(
            RejectReason::InvalidInput,
            "valid_from_ms must be before valid_until_ms",
        );
    }
    if spec.total_cap == 0 || spec.per_member_cap == 0 {
        return fail(
            RejectReason::InvalidInput,
            "total_cap and per_member_cap must be at least 1",
        );
    }
    check_list("allowed channels", &spec.allowed_channels)?;
    check_list("allowed stores", &spec.allowed_stores)?;
    check_list("excluded categories", &spec.excluded_categories)?;
    if let Some(group) = &spec.stacking_group {
        check_slug("stacking group", group)?;
    }
    if let Err(e) = crate::risk::validate_limits(&spec.velocity) {
        return fail(RejectReason::InvalidInput, e);
    }
    if let Some(crate::consent::Purpose::PartnerSharing(partner)) = &spec.requires_consent {
        check_slug("partner org of the required consent", partner.as_str())?;
    }
    check_list("partner orgs", &spec.partner_orgs)
}

/// Partner orgs of a pool or a program: slugs listed once, existing orgs, not the owner.
fn check_partners<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    owner: &OrgId,
    partners: &[OrgId],
) -> Exec<()> {
    check_list("partner orgs", partners)?;
    for partner in partners {
        if partner == owner {
            return fail(
                RejectReason::InvalidInput,
                "the owner cannot be its own partner",
            );
        }
        org_record(view, partner)?;
    }
    Ok(())
}

fn create_pool<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &CreatePoolTx,
) -> Exec<Vec<Event>> {
    if !matches!(signer.role, Role::OrgAdmin | Role::Issuer) {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "needs an org_admin or issuer key, signer is {}",
                signer.role.name()
            ),
        );
    }
    check_slug("pool id", tx.pool.as_str())?;
    validate_spec(view, &signer.org, &tx.spec)?;
    if view.pool(&tx.pool)?.is_some() {
        return fail(
            RejectReason::AlreadyExists,
            format!("pool {} exists already", tx.pool),
        );
    }
    view.put_pool(
        &tx.pool,
        PoolRecord {
            id: tx.pool.clone(),
            owner: signer.org.clone(),
            spec: tx.spec.clone(),
            status: PoolStatus::Draft,
            created_at: ctx.height,
            issued: 0,
            allocated: 0,
            redeemed: 0,
            next_free: 0,
            shared_code: None,
        },
    );
    Ok(vec![Event::PoolCreated {
        pool: tx.pool.clone(),
    }])
}

fn update_pool<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    signer: &KeyRecord,
    tx: &UpdatePoolTx,
) -> Exec<Vec<Event>> {
    let mut pool = managed_pool(view, signer, &tx.pool)?;
    if pool.status != PoolStatus::Draft {
        return fail(
            RejectReason::InvalidTransition,
            format!(
                "pool {} is {}; only draft pools can be updated",
                tx.pool,
                pool.status.name()
            ),
        );
    }
    validate_spec(view, &signer.org, &tx.spec)?;
    let has_codes = pool.issued > 0 || pool.shared_code.is_some();
    if has_codes && tx.spec.kind != pool.spec.kind {
        return fail(
            RejectReason::InvalidTransition,
            "the pool kind cannot change once codes are issued",
        );
    }
    if tx.spec.total_cap < pool.issued {
        return fail(
            RejectReason::QuantityExceeded,
            format!(
                "{} tokens are issued already, above the new cap {}",
                pool.issued, tx.spec.total_cap
            ),
        );
    }
    pool.spec = tx.spec.clone();
    view.put_pool(&tx.pool, pool);
    Ok(vec![Event::PoolUpdated {
        pool: tx.pool.clone(),
    }])
}

fn transition_pool<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    signer: &KeyRecord,
    tx: &TransitionPoolTx,
) -> Exec<Vec<Event>> {
    let mut pool = managed_pool(view, signer, &tx.pool)?;
    let from = pool.status;
    let Some(to) = tx.action.apply(from) else {
        return fail(
            RejectReason::InvalidTransition,
            format!(
                "pool {} cannot {:?} from {}",
                tx.pool,
                tx.action,
                from.name()
            )
            .to_lowercase(),
        );
    };
    if tx.action == PoolAction::Activate && pool.issued == 0 && pool.shared_code.is_none() {
        return fail(
            RejectReason::InvalidTransition,
            format!("pool {} has no codes to activate", tx.pool),
        );
    }
    pool.status = to;
    view.put_pool(&tx.pool, pool);
    Ok(vec![Event::PoolStatusChanged {
        pool: tx.pool.clone(),
        from,
        to,
    }])
}

fn issue_codes<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    params: &ChainParams,
    signer: &KeyRecord,
    tx: &IssueCodesTx,
) -> Exec<Vec<Event>> {
    let mut pool = managed_pool(view, signer, &tx.pool)?;
    if !matches!(pool.status, PoolStatus::Draft | PoolStatus::Paused) {
        return fail(
            RejectReason::InvalidTransition,
            format!(
                "pool {} is {}; codes are issued only in draft or paused",
                tx.pool,
                pool.status.name()
            ),
        );
    }
    let n = tx.codes.len();
    if n == 0 || n > params.max_batch_codes as usize {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "a batch holds 1 to {} codes, this one {n}",
                params.max_batch_codes
            ),
        );
    }
    let min_sealed = crate::codes::SEAL_NONCE_LEN + crate::codes::SEAL_TAG_LEN + 1;
    let mut in_batch = BTreeSet::new();
    for (i, code) in tx.codes.iter().enumerate() {
        let len = code.sealed.0.len();
        if len < min_sealed || len > params.max_sealed_code_bytes as usize {
            return fail(
                RejectReason::InvalidInput,
                format!(
                    "code {i}: sealed code of {len} bytes is outside {min_sealed}..={}",
                    params.max_sealed_code_bytes
                ),
            );
        }
        if !in_batch.insert(code.code_hash) {
            return fail(
                RejectReason::DuplicateCode,
                format!("code {i} repeats an earlier code of the batch"),
            );
        }
        if view.code(&code.code_hash)?.is_some() {
            return fail(
                RejectReason::DuplicateCode,
                format!("code {i} exists on the ledger already"),
            );
        }
    }
    let first_serial = pool.issued;
    match pool.spec.kind {
        PoolKind::SharedCode => {
            if n != 1 || pool.shared_code.is_some() {
                return fail(
                    RejectReason::QuantityExceeded,
                    "a shared-code pool has exactly one code",
                );
            }
            let code = tx.codes[0].clone();
            view.put_code(
                &code.code_hash,
                CodeIndexEntry {
                    pool: tx.pool.clone(),
                    serial: None,
                },
            );
            pool.shared_code = Some(code);
        }
        PoolKind::UniqueCodes => {
            let total = pool
                .issued
                .checked_add(n as u64)
                .filter(|t| *t <= pool.spec.total_cap);
            let Some(total) = total else {
                return fail(
                    RejectReason::QuantityExceeded,
                    format!(
                        "{} issued + {n} would exceed the cap {}",
                        pool.issued, pool.spec.total_cap
                    ),
                );
            };
            for (i, code) in tx.codes.iter().enumerate() {
                let serial = first_serial + i as u64;
                view.put_code(
                    &code.code_hash,
                    CodeIndexEntry {
                        pool: tx.pool.clone(),
                        serial: Some(serial),
                    },
                );
                view.put_token(
                    &TokenId {
                        pool: tx.pool.clone(),
                        serial,
                    },
                    TokenRecord {
                        code_hash: code.code_hash,
                        sealed: code.sealed.clone(),
                        status: TokenStatus::Available,
                        owner: None,
                        claim: None,
                    },
                );
            }
            pool.issued = total;
        }
    }
    view.put_pool(&tx.pool, pool);
    Ok(vec![Event::CodesIssued {
        pool: tx.pool.clone(),
        first_serial,
        count: n as u64,
    }])
}

// ---- tokens --------------------------------------------------------------------------------

fn allocate<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &AllocateTx,
) -> Exec<Vec<Event>> {
    let mut pool = managed_pool(view, signer, &tx.pool)?;
    if pool.spec.kind != PoolKind::UniqueCodes {
        return fail(
            RejectReason::WrongPoolKind,
            "shared-code pools are redeemed by code, not allocated",
        );
    }
    if let Some(serial) = view.claim((&tx.pool, &tx.claim))? {
        let token = TokenId {
            pool: tx.pool.clone(),
            serial,
        };
        let record = existing_token(view, &token)?;
        if record.owner != Some(tx.member) {
            return fail(
                RejectReason::ClaimConflict,
                "this claim key was used for another member",
            );
        }
        return Ok(vec![Event::Allocated {
            token,
            member: tx.member,
            repeat: true,
        }]);
    }
    if pool.status != PoolStatus::Active {
        return fail(
            RejectReason::PoolNotActive,
            format!("pool {} is {}", tx.pool, pool.status.name()),
        );
    }
    if ctx.time_ms >= pool.spec.valid_until_ms {
        return fail(
            RejectReason::Expired,
            format!("pool {} ended at {} ms", tx.pool, pool.spec.valid_until_ms),
        );
    }
    holds::require_member_free(view, &pool.owner, tx.member)?;
    consent::admit(
        view,
        &pool.owner,
        tx.member,
        pool.spec.requires_consent.as_ref(),
    )?;
    let held = view
        .member_allocations((&tx.pool, &tx.member))?
        .unwrap_or(0);
    if held >= pool.spec.per_member_cap {
        return fail(
            RejectReason::MemberLimitExceeded,
            format!(
                "member holds {held} of at most {}",
                pool.spec.per_member_cap
            ),
        );
    }
    // The next free token: the first Available one at or after the cursor. Tokens skipped
    // here (revoked, or redeemed from a printed code) are never allocated later.
    let mut serial = pool.next_free;
    let mut record = loop {
        if serial >= pool.issued {
            pool.next_free = serial;
            return fail(
                RejectReason::QuantityExceeded,
                format!("pool {} has no free tokens left", tx.pool),
            );
        }
        let record = existing_token(
            view,
            &TokenId {
                pool: tx.pool.clone(),
                serial,
            },
        )?;
        if record.status == TokenStatus::Available {
            break record;
        }
        serial += 1;
    };
    let token = TokenId {
        pool: tx.pool.clone(),
        serial,
    };
    record.status = TokenStatus::Allocated;
    record.owner = Some(tx.member);
    record.claim = Some(tx.claim);
    view.put_token(&token, record);
    view.put_claim((&tx.pool, &tx.claim), serial);
    view.put_member_allocations((&tx.pool, &tx.member), held + 1);
    members::register(view, &pool.owner, tx.member)?;
    pool.next_free = serial + 1;
    pool.allocated += 1;
    view.put_pool(&tx.pool, pool);
    Ok(vec![Event::Allocated {
        token,
        member: tx.member,
        repeat: false,
    }])
}

/// Everything a redemption needs, checked.
struct RedemptionPlan {
    pool: PoolRecord,
    token: Option<(TokenId, TokenRecord)>,
    member: Option<MemberId>,
    quote: Quote,
    /// The redeeming terminal's key (for its velocity counter).
    key: PublicKey,
    store: crate::ids::StoreId,
    channel: crate::ids::Channel,
}

/// The redemption checks, in documented order (docs/encoding.md, "Redeem").
fn plan_redemption<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    tx: &RedeemTx,
) -> Exec<RedemptionPlan> {
    let Role::Terminal { store, channel } = &signer.role else {
        return fail(
            RejectReason::NotAuthorized,
            format!("needs a terminal key, signer is {}", signer.role.name()),
        );
    };
    let (pool_id, serial) = match &tx.target {
        RedeemTarget::Token(token) => (token.pool.clone(), Some(token.serial)),
        RedeemTarget::Code(hash) => match view.code(hash)? {
            Some(entry) => (entry.pool, entry.serial),
            None => return fail(RejectReason::NotFound, "no coupon has this code"),
        },
    };
    let pool = existing_pool(view, &pool_id)?;
    if pool.owner != signer.org && !pool.spec.partner_orgs.contains(&signer.org) {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "{} is neither the owner of pool {pool_id} nor a partner of it",
                signer.org
            ),
        );
    }
    if pool.status != PoolStatus::Active {
        return fail(
            RejectReason::PoolNotActive,
            format!("pool {pool_id} is {}", pool.status.name()),
        );
    }
    if ctx.time_ms < pool.spec.valid_from_ms {
        return fail(
            RejectReason::NotYetValid,
            format!("pool {pool_id} starts at {} ms", pool.spec.valid_from_ms),
        );
    }
    if ctx.time_ms >= pool.spec.valid_until_ms {
        return fail(
            RejectReason::Expired,
            format!("pool {pool_id} ended at {} ms", pool.spec.valid_until_ms),
        );
    }
    if !pool.spec.allowed_channels.is_empty() && !pool.spec.allowed_channels.contains(channel) {
        return fail(
            RejectReason::ChannelNotAllowed,
            format!("channel {channel} is not allowed"),
        );
    }
    if !pool.spec.allowed_stores.is_empty() && !pool.spec.allowed_stores.contains(store) {
        return fail(
            RejectReason::StoreNotAllowed,
            format!("store {store} is not allowed"),
        );
    }
    let (token, member) = match (pool.spec.kind, serial) {
        (PoolKind::UniqueCodes, Some(serial)) => {
            let id = TokenId {
                pool: pool_id.clone(),
                serial,
            };
            let record = existing_token(view, &id)?;
            match record.status {
                TokenStatus::Redeemed { redemption } => {
                    return fail(
                        RejectReason::AlreadyRedeemed,
                        format!("token {id} was redeemed by {redemption}"),
                    );
                }
                TokenStatus::Revoked => {
                    return fail(RejectReason::TokenRevoked, format!("token {id} is revoked"));
                }
                TokenStatus::Available | TokenStatus::Allocated => {}
            }
            if let (Some(owner), Some(claimed)) = (record.owner, tx.member)
                && owner != claimed
            {
                return fail(
                    RejectReason::WrongMember,
                    format!("token {id} belongs to another member"),
                );
            }
            // A code is a bearer secret; a token id is not (serials are public and
            // sequential). Redeeming by id therefore needs the member the token is
            // allocated to, so nobody redeems printed or other members' coupons by counting.
            if matches!(tx.target, RedeemTarget::Token(_)) {
                match (record.owner, tx.member) {
                    (Some(_), Some(_)) => {}
                    (None, _) => {
                        return fail(
                            RejectReason::WrongMember,
                            format!("token {id} is not allocated: redeem it by its code"),
                        );
                    }
                    (Some(_), None) => {
                        return fail(
                            RejectReason::WrongMember,
                            format!("redeeming token {id} by id needs the member holding it"),
                        );
                    }
                }
            }
            let member = record.owner.or(tx.member);
            (Some((id, record)), member)
        }
        (PoolKind::SharedCode, None) => {
            let Some(member) = tx.member else {
                return fail(
                    RejectReason::InvalidInput,
                    "a shared code needs the member redeeming it",
                );
            };
            if pool.redeemed >= pool.spec.total_cap {
                return fail(
                    RejectReason::QuantityExceeded,
                    format!("pool {pool_id} reached its cap {}", pool.spec.total_cap),
                );
            }
            let used = view.member_redemptions((&pool_id, &member))?.unwrap_or(0);
            if used >= pool.spec.per_member_cap {
                return fail(
                    RejectReason::MemberLimitExceeded,
                    format!(
                        "member redeemed {used} of at most {}",
                        pool.spec.per_member_cap
                    ),
                );
            }
            (None, Some(member))
        }
        _ => {
            return fail(
                RejectReason::WrongPoolKind,
                format!("pool {pool_id} has no such token"),
            );
        }
    };
    check_holds(view, &pool.owner, &tx.target, token.as_ref(), member)?;
    holds::check_velocity(
        view,
        ctx.time_ms,
        (&pool_id, &pool.spec),
        (key, &signer.org, store, member),
    )?;
    let quote = quote(&pool.spec, &tx.order)?;
    Ok(RedemptionPlan {
        pool,
        token,
        member,
        quote,
        key,
        store: store.clone(),
        channel: channel.clone(),
    })
}

/// The pool owner's holds on the code and the member of a redemption.
fn check_holds<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    owner: &OrgId,
    target: &RedeemTarget,
    token: Option<&(TokenId, TokenRecord)>,
    member: Option<MemberId>,
) -> Exec<()> {
    let code = match (target, token) {
        (RedeemTarget::Code(hash), _) => Some(*hash),
        (RedeemTarget::Token(_), Some((_, record))) => Some(record.code_hash),
        (RedeemTarget::Token(_), None) => None,
    };
    if let Some(hash) = code {
        holds::require_free(view, owner, &HoldTarget::Code(hash))?;
    }
    if let Some(m) = member {
        holds::require_member_free(view, owner, m)?;
    }
    Ok(())
}

fn redeem<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &RedeemTx,
) -> Exec<Vec<Event>> {
    let plan = plan_redemption(view, ctx, (signer, key), tx)?;
    let discount = plan.quote.discount_minor;
    Ok(vec![apply_redemption(
        view, ctx, signer, id, plan, discount, None,
    )?])
}

/// Writes a planned redemption under `id` with `discount_minor` granted (the quote's, or
/// less when a checkout caps it), as part of `checkout` if given.
fn apply_redemption<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    plan: RedemptionPlan,
    discount_minor: u64,
    checkout: Option<TxId>,
) -> Exec<Event> {
    let RedemptionPlan {
        mut pool,
        token,
        member,
        quote,
        key,
        store,
        channel,
    } = plan;
    debug_assert!(discount_minor <= quote.discount_minor);
    let pool_id = pool.id.clone();
    holds::count_velocity(
        view,
        ctx.time_ms,
        (&pool_id, &pool.spec),
        (key, &signer.org, &store, member),
    )?;
    if let Some(m) = member {
        members::register(view, &pool.owner, m)?;
    }
    let token_id = match token {
        Some((token_id, mut record)) => {
            record.status = TokenStatus::Redeemed { redemption: id };
            view.put_token(&token_id, record);
            Some(token_id)
        }
        None => {
            let member = member.expect("shared-code plans carry a member");
            let used = view.member_redemptions((&pool_id, &member))?.unwrap_or(0);
            view.put_member_redemptions((&pool_id, &member), used + 1);
            None
        }
    };
    pool.redeemed += 1;
    let currency = pool.spec.currency;
    view.put_pool(&pool_id, pool);
    view.put_redemption(
        &id,
        RedemptionRecord {
            pool: pool_id.clone(),
            token: token_id.clone(),
            member,
            redeemer_org: signer.org.clone(),
            store,
            channel,
            eligible_minor: quote.eligible_minor,
            discount_minor,
            height: ctx.height,
            time_ms: ctx.time_ms,
            rolled_back_at: None,
            checkout,
        },
    );
    Ok(Event::Redeemed {
        redemption: id,
        pool: pool_id,
        token: token_id,
        member,
        eligible_minor: quote.eligible_minor,
        discount_minor,
        currency,
    })
}

fn rollback<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &RollbackTx,
) -> Exec<Vec<Event>> {
    let Some(redemption) = view.redemption(&tx.redemption)? else {
        return fail(
            RejectReason::NotFound,
            format!("redemption {} does not exist", tx.redemption),
        );
    };
    let pool = existing_pool(view, &redemption.pool)?;
    let allowed = match &signer.role {
        Role::Terminal { store, .. } => {
            signer.org == redemption.redeemer_org && *store == redemption.store
        }
        Role::OrgAdmin => signer.org == pool.owner || signer.org == redemption.redeemer_org,
        _ => false,
    };
    if !allowed {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "needs a terminal of {} at store {} (where it was redeemed), or an org_admin \
                 of the owner or the redeeming org",
                redemption.redeemer_org, redemption.store
            ),
        );
    }
    if let Some(checkout) = redemption.checkout {
        return fail(
            RejectReason::PartOfCheckout,
            format!(
                "redemption {} is part of checkout {checkout}: void the checkout to undo it \
                 with its balance spend and points",
                tx.redemption
            ),
        );
    }
    Ok(vec![undo_redemption(view, ctx, tx.redemption, redemption)?])
}

/// Undoes redemption `id` (its record `redemption`): the token is usable again, the
/// pool's and member's counts go down, the record keeps the rollback's height.
fn undo_redemption<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    id: TxId,
    mut redemption: RedemptionRecord,
) -> Exec<Event> {
    let mut pool = existing_pool(view, &redemption.pool)?;
    if redemption.rolled_back_at.is_some() {
        return fail(
            RejectReason::AlreadyRolledBack,
            format!("redemption {id} was rolled back already"),
        );
    }
    if pool.status == PoolStatus::Archived {
        return fail(
            RejectReason::PoolNotActive,
            format!("pool {} is archived", pool.id),
        );
    }
    if let Some(token_id) = &redemption.token {
        let mut record = existing_token(view, token_id)?;
        if record.status != (TokenStatus::Redeemed { redemption: id }) {
            return fail(
                RejectReason::InvalidTransition,
                format!("token {token_id} is not in this redemption"),
            );
        }
        record.status = if record.owner.is_some() {
            TokenStatus::Allocated
        } else {
            TokenStatus::Available
        };
        view.put_token(token_id, record);
    } else if let Some(member) = redemption.member {
        let used = view.member_redemptions((&pool.id, &member))?.unwrap_or(0);
        view.put_member_redemptions((&pool.id, &member), used.saturating_sub(1));
    }
    pool.redeemed = pool.redeemed.saturating_sub(1);
    redemption.rolled_back_at = Some(ctx.height);
    let event = Event::RolledBack {
        redemption: id,
        pool: pool.id.clone(),
        token: redemption.token.clone(),
    };
    view.put_pool(&redemption.pool.clone(), pool);
    view.put_redemption(&id, redemption);
    Ok(event)
}

fn revoke_token<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    signer: &KeyRecord,
    tx: &RevokeTokenTx,
) -> Exec<Vec<Event>> {
    managed_pool(view, signer, &tx.token.pool)?;
    check_revoke_note(tx)?;
    let mut record = existing_token(view, &tx.token)?;
    match record.status {
        TokenStatus::Redeemed { .. } => {
            return fail(
                RejectReason::AlreadyRedeemed,
                format!("token {} was redeemed", tx.token),
            );
        }
        TokenStatus::Revoked => {
            return fail(
                RejectReason::InvalidTransition,
                format!("token {} is revoked already", tx.token),
            );
        }
        TokenStatus::Available | TokenStatus::Allocated => {}
    }
    record.status = TokenStatus::Revoked;
    view.put_token(&tx.token, record);
    Ok(vec![Event::TokenRevoked {
        token: tx.token.clone(),
    }])
}

/// A revoke's note: 1 to [`MAX_REVOKE_NOTE_BYTES`] bytes without control characters, and
/// present when the reason is `other`.
fn check_revoke_note(tx: &RevokeTokenTx) -> Exec<()> {
    match &tx.note {
        None if tx.reason == RevokeReason::Other => fail(
            RejectReason::InvalidInput,
            "a revoke for reason other needs a note saying why",
        ),
        None => Ok(()),
        Some(note)
            if note.is_empty()
                || note.len() > MAX_REVOKE_NOTE_BYTES
                || note.chars().any(char::is_control) =>
        {
            fail(
                RejectReason::InvalidInput,
                format!(
                    "a revoke note must be 1 to {MAX_REVOKE_NOTE_BYTES} bytes without control characters"
                ),
            )
        }
        Some(_) => Ok(()),
    }
}

fn transfer_token<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    signer: &KeyRecord,
    tx: &TransferTokenTx,
) -> Exec<Vec<Event>> {
    let pool = managed_pool(view, signer, &tx.token.pool)?;
    if !pool.spec.transferable {
        return fail(
            RejectReason::NotTransferable,
            format!("pool {} does not allow transfers", pool.id),
        );
    }
    if !matches!(pool.status, PoolStatus::Active | PoolStatus::Paused) {
        return fail(
            RejectReason::PoolNotActive,
            format!("pool {} is {}", pool.id, pool.status.name()),
        );
    }
    let mut record = existing_token(view, &tx.token)?;
    if let Some(owner) = record.owner {
        holds::require_member_free(view, &pool.owner, owner)?;
    }
    holds::require_member_free(view, &pool.owner, tx.to)?;
    consent::admit(
        view,
        &pool.owner,
        tx.to,
        pool.spec.requires_consent.as_ref(),
    )?;
    match record.status {
        TokenStatus::Allocated => {}
        TokenStatus::Redeemed { .. } => {
            return fail(
                RejectReason::AlreadyRedeemed,
                format!("token {} was redeemed", tx.token),
            );
        }
        TokenStatus::Revoked => {
            return fail(
                RejectReason::TokenRevoked,
                format!("token {} is revoked", tx.token),
            );
        }
        TokenStatus::Available => {
            return fail(
                RejectReason::InvalidTransition,
                format!("token {} is not allocated to anyone", tx.token),
            );
        }
    }
    if record.owner != Some(tx.from) {
        return fail(
            RejectReason::WrongMember,
            format!("token {} does not belong to the sender", tx.token),
        );
    }
    if tx.from == tx.to {
        return fail(
            RejectReason::InvalidInput,
            "sender and receiver are the same member",
        );
    }
    let receiver_holds = view.member_allocations((&pool.id, &tx.to))?.unwrap_or(0);
    if receiver_holds >= pool.spec.per_member_cap {
        return fail(
            RejectReason::MemberLimitExceeded,
            format!(
                "receiver holds {receiver_holds} of at most {}",
                pool.spec.per_member_cap
            ),
        );
    }
    let sender_holds = view.member_allocations((&pool.id, &tx.from))?.unwrap_or(0);
    view.put_member_allocations((&pool.id, &tx.from), sender_holds.saturating_sub(1));
    view.put_member_allocations((&pool.id, &tx.to), receiver_holds + 1);
    members::register(view, &pool.owner, tx.to)?;
    record.owner = Some(tx.to);
    view.put_token(&tx.token, record);
    Ok(vec![Event::TokenTransferred {
        token: tx.token.clone(),
        from: tx.from,
        to: tx.to,
    }])
}

// ---- loyalty -----------------------------------------------------------------------------

/// Sets or changes the signer's org's program: an org admin's, checked by
/// [`loyalty::validate_program`]; its version counts the changes.
fn set_program<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &SetProgramTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    if let Err(e) = loyalty::validate_program(&tx.spec) {
        return fail(RejectReason::InvalidInput, e.to_string());
    }
    check_list("excluded categories", &tx.spec.earn.excluded_categories)?;
    check_partners(view, &signer.org, &tx.spec.partner_orgs)?;
    if let Some(purpose) = &tx.spec.requires_consent {
        consent::check_purpose(view, &signer.org, purpose)?;
    }
    let version = match view.program(&signer.org)? {
        Some(old) => old.version.checked_add(1).ok_or_else(|| {
            ExecError::Rejected(Rejection::new(RejectReason::Overflow, "program version"))
        })?,
        None => 1,
    };
    view.put_program(
        &signer.org,
        ProgramRecord {
            org: signer.org.clone(),
            spec: tx.spec.clone(),
            version,
            updated_ms: ctx.time_ms,
        },
    );
    Ok(vec![Event::ProgramSet {
        org: signer.org.clone(),
        version,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChainId;
    use crate::state::{MemState, StateKey, StateValue};

    fn id(n: u32) -> TxId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        TxId(b)
    }

    /// A state whose block 1 remembered `n` ids valid until `until`, and whose block 3
    /// remembered one id valid until `later`.
    fn remembered(n: u32, until: u64, later: u64) -> MemState {
        let mut s = MemState::default();
        let txs: Vec<(TxId, u64)> = (0..n).map(|i| (id(i), until)).collect();
        for &(i, u) in &txs {
            s.0.insert(StateKey::SeenTx(i), StateValue::SeenTx(u));
        }
        s.0.insert(StateKey::Remembered(1), StateValue::Remembered(txs));
        s.0.insert(StateKey::SeenTx(id(n)), StateValue::SeenTx(later));
        s.0.insert(
            StateKey::Remembered(3),
            StateValue::Remembered(vec![(id(n), later)]),
        );
        s.0.insert(StateKey::PruneCursor, StateValue::PruneCursor(1, 0));
        s
    }

    fn forget(state: &mut MemState, height: u64, time_ms: u64) {
        let ctx = BlockContext {
            chain_id: ChainId::new("c").unwrap(),
            height,
            time_ms,
        };
        let mut block = WriteSet::default();
        forget_expired_tx_ids(state, &mut block, &ctx).unwrap();
        state.apply(&block);
    }

    fn cursor(state: &MemState) -> Option<&StateValue> {
        state.0.get(&StateKey::PruneCursor)
    }

    #[test]
    fn forgetting_is_bounded_per_block_and_resumes_where_it_stopped() {
        let n = MAX_PRUNE_STEPS_PER_BLOCK + 904;
        let mut s = remembered(n, 1_000, 5_000);
        // Not stale yet at the valid-until instant itself: nothing goes.
        forget(&mut s, 4, 1_000);
        assert_eq!(cursor(&s), Some(&StateValue::PruneCursor(1, 0)));
        assert_eq!(s.len(), n as usize + 4);
        // Stale: the first block forgets as many ids as it may, the next one the rest, the
        // entry and the empty height 2, then stops at block 3's live id.
        forget(&mut s, 4, 1_001);
        assert_eq!(
            cursor(&s),
            Some(&StateValue::PruneCursor(1, MAX_PRUNE_STEPS_PER_BLOCK))
        );
        assert!(!s.0.contains_key(&StateKey::SeenTx(id(0))));
        assert!(s.0.contains_key(&StateKey::SeenTx(id(MAX_PRUNE_STEPS_PER_BLOCK))));
        forget(&mut s, 5, 1_002);
        assert_eq!(cursor(&s), Some(&StateValue::PruneCursor(3, 0)));
        assert!(!s.0.contains_key(&StateKey::Remembered(1)));
        assert_eq!(
            s.len(),
            3,
            "block 3's id, its entry and the cursor are left"
        );
        // Block 3's id goes once it is stale, and the cursor stops below the block.
        forget(&mut s, 6, 5_001);
        assert_eq!(cursor(&s), Some(&StateValue::PruneCursor(6, 0)));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_live_id_holds_back_later_entries() {
        // Block 1's ids live until 9,000, block 3's only until 2,000: block 3 waits.
        let mut s = remembered(2, 9_000, 2_000);
        forget(&mut s, 4, 3_000);
        assert_eq!(cursor(&s), Some(&StateValue::PruneCursor(1, 0)));
        assert_eq!(s.len(), 6);
        forget(&mut s, 5, 9_001);
        assert_eq!(cursor(&s), Some(&StateValue::PruneCursor(5, 0)));
        assert_eq!(s.len(), 1);
    }
}
