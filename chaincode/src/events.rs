//! Ledger events: what every tx result means to a merchant, derived from the block.
//!
//! Each history-log entry (one per tx) becomes one or more [`LedgerEvent`]s: every
//! chaincode [`Event`] of an applied tx, or one `tx.rejected` for a rejected tx (failed
//! attempts are fraud evidence). An event carries what consumers filter and aggregate on
//! (org, pool, token, member, store, channel, signer, amounts) so that webhooks, the
//! analytics store and exports never need to read the tx or the state again.
//!
//! Derivation is pure and deterministic: [`derive_block_events`] reads only the block, its
//! results and the state *after* the block (for facts that never change once written: a
//! key's org and role, a pool's owner, a code's pool, a redemption's record, a token's
//! holder), so every node derives the same events, and a replay derives them again.
//! Per-entity sequence numbers (per pool, per token) count the events of that entity from
//! 1 without gaps; they are the one fold over the whole chain, kept by the caller in a
//! [`Sequences`] map loaded for the entities a block touches ([`Sequences::entities`]).
//!
//! An event is verifiable: [`EventId`] names the history-log entry (`log_index`) and the
//! position of the chaincode event inside it; that entry's inclusion proof proves the
//! event's chain part (`detail`), and the tx's inclusion in its block proves the fields
//! taken from the tx (store, channel, order total, signer, memo). The byte layout is in
//! `docs/encoding.md` ("Ledger events").

use crate::consent::ConsentDecision;
use crate::execute::{BalanceOp, Event, TxOutcome, TxResult};
use crate::ids::{Channel, MemberId, OrgId, PoolId, PublicKey, StoreId, TokenId, TxId};
use crate::memo::Memo;
use crate::reject::Rejection;
use crate::risk::HoldTarget;
use crate::state::{StateError, StateKey, StateReader, StateValue, WriteSet};
use crate::tx::{
    PlaceHoldTx, RedeemTarget, ReleasePointsTx, ReviewHoldTx, SignedTx, TxKind, VoidTx,
};
use crate::types::{Currency, KeyRecord, Role};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Most events one history-log entry can produce (a tx yields a handful; this bounds
/// [`EventId::index`] and is asserted).
pub const MAX_EVENTS_PER_ENTRY: usize = 1 << 16;

/// Where an event comes from: history-log entry `log_index`, event `index` within it.
/// Unique, stable across nodes and replays, and totally ordered as the log is; it is the
/// event's id, its webhook id and its cursor. Text form `evt_{log_index}_{index}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Default)]
pub struct EventId {
    /// The history-log entry (one per tx, from 0).
    pub log_index: u64,
    /// Position among that entry's events, from 0.
    pub index: u16,
}

impl EventId {
    /// The first event of entry `log_index`.
    pub fn first_of(log_index: u64) -> EventId {
        EventId {
            log_index,
            index: 0,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evt_{}_{}", self.log_index, self.index)
    }
}

/// Why an event id did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed event id {0:?}: expected evt_<log index>_<index>, e.g. evt_1042_0")]
pub struct EventIdError(pub String);

impl FromStr for EventId {
    type Err = EventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EventIdError(s.chars().take(80).collect());
        let rest = s.strip_prefix("evt_").ok_or_else(bad)?;
        let (log, index) = rest.split_once('_').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(log) || !digits(index) || (log.len() > 1 && log.starts_with('0')) {
            return Err(bad());
        }
        Ok(EventId {
            log_index: log.parse().map_err(|_| bad())?,
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The event's type: what consumers subscribe to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub enum EventType {
    /// A pool was created in draft.
    #[serde(rename = "pool.created")]
    PoolCreated,
    /// A draft pool's spec was replaced.
    #[serde(rename = "pool.updated")]
    PoolUpdated,
    /// A pool changed status (activated, paused, resumed, closed).
    #[serde(rename = "pool.transitioned")]
    PoolTransitioned,
    /// A batch of codes was issued.
    #[serde(rename = "codes.issued")]
    CodesIssued,
    /// A coupon was allocated to a member.
    #[serde(rename = "coupon.allocated")]
    CouponAllocated,
    /// A coupon was redeemed.
    #[serde(rename = "coupon.redeemed")]
    CouponRedeemed,
    /// A redemption was rolled back (refund, voided sale).
    #[serde(rename = "coupon.rolled_back")]
    CouponRolledBack,
    /// A coupon was revoked.
    #[serde(rename = "coupon.revoked")]
    CouponRevoked,
    /// A coupon changed hands.
    #[serde(rename = "coupon.transferred")]
    CouponTransferred,
    /// A key was registered.
    #[serde(rename = "key.registered")]
    KeyRegistered,
    /// A key was revoked.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A governance proposal was opened.
    #[serde(rename = "governance.proposed")]
    GovernanceProposed,
    /// A governance proposal got an approval.
    #[serde(rename = "governance.approved")]
    GovernanceApproved,
    /// A governance change took effect.
    #[serde(rename = "governance.applied")]
    GovernanceApplied,
    /// A tx was refused; nothing changed.
    #[serde(rename = "tx.rejected")]
    TxRejected,
    /// An org's loyalty program was set or changed.
    #[serde(rename = "program.set")]
    ProgramSet,
    /// Points earned on an order.
    #[serde(rename = "balance.earned")]
    BalanceEarned,
    /// Stored value loaded.
    #[serde(rename = "balance.loaded")]
    BalanceLoaded,
    /// Balance spent.
    #[serde(rename = "balance.spent")]
    BalanceSpent,
    /// A spend voided: the amount went back to its lots.
    #[serde(rename = "balance.refunded")]
    BalanceRefunded,
    /// An earn, load or received transfer voided.
    #[serde(rename = "balance.voided")]
    BalanceVoided,
    /// An admin adjustment applied.
    #[serde(rename = "balance.adjusted")]
    BalanceAdjusted,
    /// Balance moved between two members (one event each).
    #[serde(rename = "balance.transferred")]
    BalanceTransferred,
    /// Lots expired.
    #[serde(rename = "balance.expired")]
    BalanceExpired,
    /// An adjustment waits for a second admin.
    #[serde(rename = "adjustment.requested")]
    AdjustmentRequested,
    /// A pending adjustment was refused.
    #[serde(rename = "adjustment.rejected")]
    AdjustmentRejected,
    /// A member changed tier.
    #[serde(rename = "tier.changed")]
    TierChanged,
    /// A checkout applied (coupons, a balance spend, points) to one order.
    #[serde(rename = "checkout.completed")]
    CheckoutCompleted,
    /// A checkout was voided as a whole.
    #[serde(rename = "checkout.voided")]
    CheckoutVoided,
    /// Stored value held for a withdrawal.
    #[serde(rename = "balance.withdrawn")]
    BalanceWithdrawn,
    /// A withdrawal was asked for.
    #[serde(rename = "withdrawal.requested")]
    WithdrawalRequested,
    /// A withdrawal was approved.
    #[serde(rename = "withdrawal.approved")]
    WithdrawalApproved,
    /// A withdrawal was paid out.
    #[serde(rename = "withdrawal.paid")]
    WithdrawalPaid,
    /// A withdrawal was rejected; the amount went back.
    #[serde(rename = "withdrawal.rejected")]
    WithdrawalRejected,
    /// Pending points became spendable on their program's event.
    #[serde(rename = "balance.released")]
    BalanceReleased,
    /// An org placed a hold on a member, terminal or code (by an org admin, or by its
    /// fraud engine pending review).
    #[serde(rename = "hold.placed")]
    HoldPlaced,
    /// An org admin confirmed a hold placed pending review.
    #[serde(rename = "hold.confirmed")]
    HoldConfirmed,
    /// An org admin lifted a hold.
    #[serde(rename = "hold.lifted")]
    HoldLifted,
    /// An org recorded a member's consent to a purpose.
    #[serde(rename = "consent.granted")]
    ConsentGranted,
    /// An org recorded a member's withdrawal (or refusal) of a purpose.
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    /// An org recorded that it erased a member's personal data.
    #[serde(rename = "member.erased")]
    MemberErased,
}

impl EventType {
    /// Every type, in declaration order.
    pub const ALL: [EventType; 41] = [
        EventType::PoolCreated,
        EventType::PoolUpdated,
        EventType::PoolTransitioned,
        EventType::CodesIssued,
        EventType::CouponAllocated,
        EventType::CouponRedeemed,
        EventType::CouponRolledBack,
        EventType::CouponRevoked,
        EventType::CouponTransferred,
        EventType::KeyRegistered,
        EventType::KeyRevoked,
        EventType::GovernanceProposed,
        EventType::GovernanceApproved,
        EventType::GovernanceApplied,
        EventType::TxRejected,
        EventType::ProgramSet,
        EventType::BalanceEarned,
        EventType::BalanceLoaded,
        EventType::BalanceSpent,
        EventType::BalanceRefunded,
        EventType::BalanceVoided,
        EventType::BalanceAdjusted,
        EventType::BalanceTransferred,
        EventType::BalanceExpired,
        EventType::AdjustmentRequested,
        EventType::AdjustmentRejected,
        EventType::TierChanged,
        EventType::CheckoutCompleted,
        EventType::CheckoutVoided,
        EventType::BalanceWithdrawn,
        EventType::WithdrawalRequested,
        EventType::WithdrawalApproved,
        EventType::WithdrawalPaid,
        EventType::WithdrawalRejected,
        EventType::BalanceReleased,
        EventType::HoldPlaced,
        EventType::HoldConfirmed,
        EventType::HoldLifted,
        EventType::ConsentGranted,
        EventType::ConsentWithdrawn,
        EventType::MemberErased,
    ];

    /// The type's stable name, e.g. `coupon.redeemed`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::PoolCreated => "pool.created",
            EventType::PoolUpdated => "pool.updated",
            EventType::PoolTransitioned => "pool.transitioned",
            EventType::CodesIssued => "codes.issued",
            EventType::CouponAllocated => "coupon.allocated",
            EventType::CouponRedeemed => "coupon.redeemed",
            EventType::CouponRolledBack => "coupon.rolled_back",
            EventType::CouponRevoked => "coupon.revoked",
            EventType::CouponTransferred => "coupon.transferred",
            EventType::KeyRegistered => "key.registered",
            EventType::KeyRevoked => "key.revoked",
            EventType::GovernanceProposed => "governance.proposed",
            EventType::GovernanceApproved => "governance.approved",
            EventType::GovernanceApplied => "governance.applied",
            EventType::TxRejected => "tx.rejected",
            EventType::ProgramSet => "program.set",
            EventType::BalanceEarned => "balance.earned",
            EventType::BalanceLoaded => "balance.loaded",
            EventType::BalanceSpent => "balance.spent",
            EventType::BalanceRefunded => "balance.refunded",
            EventType::BalanceVoided => "balance.voided",
            EventType::BalanceAdjusted => "balance.adjusted",
            EventType::BalanceTransferred => "balance.transferred",
            EventType::BalanceExpired => "balance.expired",
            EventType::AdjustmentRequested => "adjustment.requested",
            EventType::AdjustmentRejected => "adjustment.rejected",
            EventType::TierChanged => "tier.changed",
            EventType::CheckoutCompleted => "checkout.completed",
            EventType::CheckoutVoided => "checkout.voided",
            EventType::BalanceWithdrawn => "balance.withdrawn",
            EventType::WithdrawalRequested => "withdrawal.requested",
            EventType::WithdrawalApproved => "withdrawal.approved",
            EventType::WithdrawalPaid => "withdrawal.paid",
            EventType::WithdrawalRejected => "withdrawal.rejected",
            EventType::BalanceReleased => "balance.released",
            EventType::HoldPlaced => "hold.placed",
            EventType::HoldConfirmed => "hold.confirmed",
            EventType::HoldLifted => "hold.lifted",
            EventType::ConsentGranted => "consent.granted",
            EventType::ConsentWithdrawn => "consent.withdrawn",
            EventType::MemberErased => "member.erased",
        }
    }

    /// The type of a chaincode event.
    pub fn of(event: &Event) -> EventType {
        match event {
            Event::KeyRegistered { .. } => EventType::KeyRegistered,
            Event::KeyRevoked { .. } => EventType::KeyRevoked,
            Event::ProposalOpened { .. } => EventType::GovernanceProposed,
            Event::ProposalApproved { .. } => EventType::GovernanceApproved,
            Event::GovernanceApplied { .. } => EventType::GovernanceApplied,
            Event::PoolCreated { .. } => EventType::PoolCreated,
            Event::PoolUpdated { .. } => EventType::PoolUpdated,
            Event::PoolStatusChanged { .. } => EventType::PoolTransitioned,
            Event::CodesIssued { .. } => EventType::CodesIssued,
            Event::Allocated { .. } => EventType::CouponAllocated,
            Event::Redeemed { .. } => EventType::CouponRedeemed,
            Event::RolledBack { .. } => EventType::CouponRolledBack,
            Event::TokenRevoked { .. } => EventType::CouponRevoked,
            Event::TokenTransferred { .. } => EventType::CouponTransferred,
            Event::ProgramSet { .. } => EventType::ProgramSet,
            Event::BalanceChanged { op, .. } => match op {
                BalanceOp::Earned => EventType::BalanceEarned,
                BalanceOp::Loaded => EventType::BalanceLoaded,
                BalanceOp::Spent => EventType::BalanceSpent,
                BalanceOp::Refunded => EventType::BalanceRefunded,
                BalanceOp::Voided => EventType::BalanceVoided,
                BalanceOp::Adjusted => EventType::BalanceAdjusted,
                BalanceOp::TransferredOut | BalanceOp::TransferredIn => {
                    EventType::BalanceTransferred
                }
                BalanceOp::Expired => EventType::BalanceExpired,
                BalanceOp::Withdrawn => EventType::BalanceWithdrawn,
            },
            Event::WithdrawalChanged { status, .. } => match status.as_str() {
                "requested" => EventType::WithdrawalRequested,
                "approved" => EventType::WithdrawalApproved,
                "paid" => EventType::WithdrawalPaid,
                _ => EventType::WithdrawalRejected,
            },
            Event::AdjustmentRequested { .. } => EventType::AdjustmentRequested,
            Event::AdjustmentRejected { .. } => EventType::AdjustmentRejected,
            Event::TierChanged { .. } => EventType::TierChanged,
            Event::CheckedOut { .. } => EventType::CheckoutCompleted,
            Event::CheckoutVoided { .. } => EventType::CheckoutVoided,
            Event::PointsReleased { .. } => EventType::BalanceReleased,
            Event::HoldPlaced { .. } => EventType::HoldPlaced,
            Event::HoldConfirmed { .. } => EventType::HoldConfirmed,
            Event::HoldLifted { .. } => EventType::HoldLifted,
            Event::ConsentRecorded { decision, .. } => match decision {
                ConsentDecision::Granted => EventType::ConsentGranted,
                ConsentDecision::Withdrawn => EventType::ConsentWithdrawn,
            },
            Event::MemberErased { .. } => EventType::MemberErased,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                format!("unknown event type {s:?}; known: {}", known.join(", "))
            })
    }
}

/// Money on an event, minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EventAmounts {
    /// The pool's currency.
    pub currency: Currency,
    /// The basket total before discount, from the redeem tx's order (absent on rollbacks:
    /// the chain keeps only the eligible amount of a redemption).
    pub order_total_minor: Option<u64>,
    /// The part of the order the discount applied to.
    pub eligible_minor: Option<u64>,
    /// The discount granted (absent on a rejected redemption).
    pub discount_minor: Option<u64>,
}

/// The chain's own record of what happened: the chaincode event, or the rejection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum EventDetail {
    /// An applied tx's chaincode event, as in the history-log leaf.
    Applied {
        /// The event.
        event: Event,
    },
    /// A rejected tx: its kind and the rejection, as in the history-log leaf.
    Rejected {
        /// The tx kind's name, e.g. `redeem`.
        tx_kind: String,
        /// Why it was refused.
        rejection: Rejection,
    },
}

/// One ledger event, as the event API, webhooks and the analytics store carry it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct LedgerEvent {
    /// Stable id and cursor (history-log entry and position).
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The history-log entry it comes from (`id.log_index`; its inclusion proof proves
    /// `detail`).
    pub log_index: u64,
    /// Height of the block.
    pub height: u64,
    /// Block time, ms since the Unix epoch.
    pub time_ms: u64,
    /// The tx.
    pub tx_id: TxId,
    /// Position of the tx in its block.
    pub tx_index: u32,
    /// The key that signed the tx (for redemptions, the terminal).
    pub signer: PublicKey,
    /// The signer's org (`None` when the key was unknown to the chain).
    pub signer_org: Option<OrgId>,
    /// The tx's memo (e.g. the console's staff user id), on every event of the tx, applied
    /// or rejected; proven by the tx's inclusion in its block. Absent in JSON means `None`.
    #[serde(default)]
    pub memo: Option<Memo>,
    /// The org the event belongs to: the pool's owner for pool and coupon events, else the
    /// signer's org; `None` for governance and for unknown signers.
    pub org: Option<OrgId>,
    /// The pool concerned.
    pub pool: Option<PoolId>,
    /// The coupon concerned (unique codes).
    pub token: Option<TokenId>,
    /// The pseudonymous member concerned.
    pub member: Option<MemberId>,
    /// The store: the terminal's (redemptions, rollbacks, terminal txs).
    pub store: Option<StoreId>,
    /// The channel: the terminal's.
    pub channel: Option<Channel>,
    /// Order and discount amounts (redemptions, rollbacks, rejected redemptions).
    pub amounts: Option<EventAmounts>,
    /// This event's number among the events of `pool`, from 1, gap-free.
    pub pool_seq: Option<u64>,
    /// This event's number among the events of `token`, from 1, gap-free.
    pub token_seq: Option<u64>,
    /// The chain's record.
    pub detail: EventDetail,
}

impl LedgerEvent {
    /// Whether the redeeming org differs from the pool's owner (a partner redemption).
    pub fn is_partner_redemption(&self) -> bool {
        self.kind == EventType::CouponRedeemed && self.signer_org != self.org
    }

    /// Whether the event comes from a governance tx, applied or not. Governance is public
    /// (docs/api.md, "Confidentiality"): it changes the consortium every verifier reads.
    pub fn is_public(&self) -> bool {
        match &self.detail {
            EventDetail::Applied { event } => matches!(
                event,
                Event::ProposalOpened { .. }
                    | Event::ProposalApproved { .. }
                    | Event::GovernanceApplied { .. }
            ),
            EventDetail::Rejected { tx_kind, .. } => {
                tx_kind == "propose_governance" || tx_kind == "approve_governance"
            }
        }
    }

    /// Whether the admins and issuers of `org` may see the event, by the confidentiality
    /// model: public events, and events of txs signed by the org's keys or on its pools.
    /// (Terminal and partner keys see the events of the txs they signed; auditors all.)
    pub fn org_sees(&self, org: &OrgId) -> bool {
        self.is_public() || self.org.as_ref() == Some(org) || self.signer_org.as_ref() == Some(org)
    }
}

/// A page of `GET /v1/events`: shared by the node that answers it and the clients that
/// read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsPage {
    /// The events, in log order.
    pub events: Vec<LedgerEvent>,
    /// Pass as `after` for the next page: the last event scanned (filtered-out ones
    /// included); the request's `after` when nothing was scanned.
    pub next: Option<EventId>,
    /// The history log's size whose events are stored (entries `0..log_size`).
    pub log_size: u64,
}

/// What a per-entity sequence counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum SeqKey {
    /// The events of a pool.
    Pool(PoolId),
    /// The events of a token.
    Token(TokenId),
}

/// The last sequence number given per entity (absent: none yet). The caller loads the
/// entries [`Sequences::entities`] names, [`Sequences::assign`]s, and stores them back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sequences(pub BTreeMap<SeqKey, u64>);

impl Sequences {
    /// The entities whose counters `events` advance.
    pub fn entities(events: &[LedgerEvent]) -> BTreeSet<SeqKey> {
        let mut keys = BTreeSet::new();
        for e in events {
            if let Some(pool) = &e.pool {
                keys.insert(SeqKey::Pool(pool.clone()));
            }
            if let Some(token) = &e.token {
                keys.insert(SeqKey::Token(token.clone()));
            }
        }
        keys
    }

    /// Numbers `events` (in order) per pool and per token, advancing the counters.
    pub fn assign(&mut self, events: &mut [LedgerEvent]) {
        for e in events {
            e.pool_seq = e.pool.clone().map(|p| self.next(SeqKey::Pool(p)));
            e.token_seq = e.token.clone().map(|t| self.next(SeqKey::Token(t)));
        }
    }

    fn next(&mut self, key: SeqKey) -> u64 {
        let n = self.0.entry(key).or_insert(0);
        *n += 1;
        *n
    }
}

/// Reads through one block's writes to the state before it: the state after the block.
#[derive(Debug)]
pub struct AfterBlock<'a, S: ?Sized> {
    /// The state before the block.
    pub base: &'a S,
    /// The block's writes.
    pub writes: &'a WriteSet,
}

impl<S: StateReader + ?Sized> StateReader for AfterBlock<'_, S> {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError> {
        match self.writes.lookup(key) {
            Some(v) => Ok(v.cloned()),
            None => self.base.get(key),
        }
    }
}

/// Where a block's entries start and when it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockPosition {
    /// The block's height.
    pub height: u64,
    /// Its time, ms.
    pub time_ms: u64,
    /// The log index of its first tx.
    pub first_log_index: u64,
}

/// The events of one block, in log order, with sequence numbers unset (see [`Sequences`]).
/// `state` is the state after the block; `txs` and `results` are parallel.
pub fn derive_block_events<S: StateReader + ?Sized>(
    state: &S,
    at: BlockPosition,
    txs: &[SignedTx],
    results: &[TxResult],
) -> Result<Vec<LedgerEvent>, StateError> {
    assert_eq!(txs.len(), results.len(), "one result per tx");
    let mut out = Vec::with_capacity(txs.len());
    for (i, (tx, result)) in txs.iter().zip(results).enumerate() {
        let entry = Entry {
            at,
            tx,
            result,
            tx_index: i as u32,
        };
        entry.derive(state, &mut out)?;
    }
    Ok(out)
}

/// One tx's history-log entry while it is turned into events.
struct Entry<'a> {
    at: BlockPosition,
    tx: &'a SignedTx,
    result: &'a TxResult,
    tx_index: u32,
}

impl Entry<'_> {
    fn derive<S: StateReader + ?Sized>(
        &self,
        state: &S,
        out: &mut Vec<LedgerEvent>,
    ) -> Result<(), StateError> {
        let signer = signer_record(state, &self.tx.signer, self.result)?;
        match &self.result.outcome {
            TxOutcome::Applied { events } => {
                assert!(events.len() <= MAX_EVENTS_PER_ENTRY, "events per entry");
                for (k, event) in events.iter().enumerate() {
                    let mut e = self.base(
                        k as u16,
                        signer.as_ref(),
                        EventDetail::Applied {
                            event: event.clone(),
                        },
                    );
                    e.kind = EventType::of(event);
                    fill_applied(state, self.tx, event, &mut e)?;
                    out.push(e);
                }
            }
            TxOutcome::Rejected { rejection } => {
                let detail = EventDetail::Rejected {
                    tx_kind: self.tx.body.kind.name().to_string(),
                    rejection: rejection.clone(),
                };
                let mut e = self.base(0, signer.as_ref(), detail);
                fill_rejected(state, self.tx, &mut e)?;
                out.push(e);
            }
        }
        Ok(())
    }

    /// The fields every event of the entry shares; `org` defaults to the signer's.
    fn base(&self, index: u16, signer: Option<&KeyRecord>, detail: EventDetail) -> LedgerEvent {
        let (store, channel) = match signer.map(|k| &k.role) {
            Some(Role::Terminal { store, channel }) => (Some(store.clone()), Some(channel.clone())),
            _ => (None, None),
        };
        LedgerEvent {
            id: EventId {
                log_index: self.at.first_log_index + u64::from(self.tx_index),
                index,
            },
            kind: EventType::TxRejected,
            log_index: self.at.first_log_index + u64::from(self.tx_index),
            height: self.at.height,
            time_ms: self.at.time_ms,
            tx_id: self.result.tx_id,
            tx_index: self.tx_index,
            signer: self.tx.signer,
            signer_org: signer.map(|k| k.org.clone()),
            memo: self.tx.body.memo.clone(),
            org: signer.map(|k| k.org.clone()),
            pool: None,
            token: None,
            member: None,
            store,
            channel,
            amounts: None,
            pool_seq: None,
            token_seq: None,
            detail,
        }
    }
}

/// The signer's key record. A tx refused because its key was unknown has no signer org,
/// even if the key is registered later: the event says what the chain knew then.
fn signer_record<S: StateReader + ?Sized>(
    state: &S,
    key: &PublicKey,
    result: &TxResult,
) -> Result<Option<KeyRecord>, StateError> {
    use crate::reject::RejectReason;
    let unknown = matches!(
        result.outcome.rejection().map(|r| r.reason),
        Some(RejectReason::UnknownKey | RejectReason::BadSignature | RejectReason::WrongChain)
    );
    if unknown {
        return Ok(None);
    }
    Ok(match state.get(&StateKey::Key(*key))? {
        Some(StateValue::Key(k)) => Some(k),
        _ => None,
    })
}

/// Fills pool, token, member, amounts and org from an applied chaincode event.
fn fill_applied<S: StateReader + ?Sized>(
    state: &S,
    tx: &SignedTx,
    event: &Event,
    e: &mut LedgerEvent,
) -> Result<(), StateError> {
    match event {
        Event::KeyRegistered { org, .. } => e.org = Some(org.clone()),
        Event::KeyRevoked { key } => {
            if let Some(StateValue::Key(k)) = state.get(&StateKey::Key(*key))? {
                e.org = Some(k.org);
            }
        }
        Event::ProposalOpened { .. }
        | Event::ProposalApproved { .. }
        | Event::GovernanceApplied { .. } => e.org = None,
        Event::PoolCreated { pool } | Event::PoolUpdated { pool } => e.pool = Some(pool.clone()),
        Event::PoolStatusChanged { pool, .. } | Event::CodesIssued { pool, .. } => {
            e.pool = Some(pool.clone())
        }
        Event::Allocated { token, member, .. } => {
            e.token = Some(token.clone());
            e.member = Some(*member);
        }
        Event::Redeemed { .. } => fill_redeemed(tx, event, e),
        Event::RolledBack {
            redemption,
            pool,
            token,
        } => fill_rolled_back(state, redemption, pool, token, e)?,
        Event::TokenRevoked { token } => {
            e.token = Some(token.clone());
            e.member = token_holder(state, token)?;
        }
        Event::TokenTransferred { token, to, .. } => {
            e.token = Some(token.clone());
            e.member = Some(*to);
        }
        Event::ProgramSet { org, .. } => e.org = Some(org.clone()),
        Event::HoldPlaced { org, target, .. }
        | Event::HoldConfirmed { org, target }
        | Event::HoldLifted { org, target, .. } => {
            e.org = Some(org.clone());
            if let HoldTarget::Member(m) = target {
                e.member = Some(*m);
            }
        }
        Event::ConsentRecorded { org, member, .. } | Event::MemberErased { org, member } => {
            e.org = Some(org.clone());
            e.member = Some(*member);
        }
        Event::CheckedOut {
            program,
            member,
            currency,
            total_minor,
            discount_minor,
            ..
        } => {
            e.org = Some(program.clone());
            e.member = Some(*member);
            e.amounts = Some(EventAmounts {
                currency: *currency,
                order_total_minor: Some(*total_minor),
                eligible_minor: None,
                discount_minor: Some(*discount_minor),
            });
        }
        Event::BalanceChanged {
            program, member, ..
        }
        | Event::AdjustmentRequested {
            program, member, ..
        }
        | Event::AdjustmentRejected {
            program, member, ..
        }
        | Event::TierChanged {
            program, member, ..
        }
        | Event::CheckoutVoided {
            program, member, ..
        }
        | Event::WithdrawalChanged {
            program, member, ..
        }
        | Event::PointsReleased {
            program, member, ..
        } => {
            e.org = Some(program.clone());
            e.member = Some(*member);
        }
    }
    if let (None, Some(token)) = (&e.pool, &e.token) {
        e.pool = Some(token.pool.clone());
    }
    if let Some(pool) = &e.pool {
        e.org = pool_owner(state, pool)?.or(e.org.take());
    }
    Ok(())
}

fn fill_redeemed(tx: &SignedTx, event: &Event, e: &mut LedgerEvent) {
    let Event::Redeemed {
        pool,
        token,
        member,
        eligible_minor,
        discount_minor,
        currency,
        ..
    } = event
    else {
        return;
    };
    e.pool = Some(pool.clone());
    e.token = token.clone();
    e.member = *member;
    let order_total_minor = match &tx.body.kind {
        TxKind::Redeem(r) => Some(r.order.total_minor),
        TxKind::Checkout(c) => Some(c.order.total_minor),
        _ => None,
    };
    e.amounts = Some(EventAmounts {
        currency: *currency,
        order_total_minor,
        eligible_minor: Some(*eligible_minor),
        discount_minor: Some(*discount_minor),
    });
}

fn fill_rolled_back<S: StateReader + ?Sized>(
    state: &S,
    redemption: &TxId,
    pool: &PoolId,
    token: &Option<TokenId>,
    e: &mut LedgerEvent,
) -> Result<(), StateError> {
    e.pool = Some(pool.clone());
    e.token = token.clone();
    if let Some(StateValue::Redemption(r)) = state.get(&StateKey::Redemption(*redemption))? {
        e.member = r.member;
        e.store = Some(r.store.clone());
        e.channel = Some(r.channel.clone());
        let currency = match state.get(&StateKey::Pool(pool.clone()))? {
            Some(StateValue::Pool(p)) => Some(p.spec.currency),
            _ => None,
        };
        e.amounts = currency.map(|currency| EventAmounts {
            currency,
            order_total_minor: None,
            eligible_minor: Some(r.eligible_minor),
            discount_minor: Some(r.discount_minor),
        });
    }
    Ok(())
}

/// Fills what a rejected tx aimed at: its pool (and owner), token, member and order.
fn fill_rejected<S: StateReader + ?Sized>(
    state: &S,
    tx: &SignedTx,
    e: &mut LedgerEvent,
) -> Result<(), StateError> {
    e.pool = tx_pool(state, tx)?;
    match &tx.body.kind {
        TxKind::Allocate(t) => e.member = Some(t.member),
        TxKind::Redeem(t) => {
            if let RedeemTarget::Token(token) = &t.target {
                e.token = Some(token.clone());
            }
            e.member = t.member;
            e.amounts = Some(EventAmounts {
                currency: t.order.currency,
                order_total_minor: Some(t.order.total_minor),
                eligible_minor: None,
                discount_minor: None,
            });
        }
        TxKind::RevokeToken(t) => e.token = Some(t.token.clone()),
        TxKind::TransferToken(t) => {
            e.token = Some(t.token.clone());
            e.member = Some(t.from);
        }
        TxKind::Earn(t) => {
            e.member = Some(t.member);
            e.amounts = Some(EventAmounts {
                currency: t.order.currency,
                order_total_minor: Some(t.order.total_minor),
                eligible_minor: None,
                discount_minor: None,
            });
        }
        TxKind::Checkout(t) => {
            e.member = Some(t.member);
            e.amounts = Some(EventAmounts {
                currency: t.order.currency,
                order_total_minor: Some(t.order.total_minor),
                eligible_minor: None,
                discount_minor: None,
            });
        }
        TxKind::Load(t) => e.member = Some(t.member),
        TxKind::Spend(t) => e.member = Some(t.member),
        TxKind::Adjust(t) => e.member = Some(t.member),
        TxKind::RequestWithdrawal(t) => e.member = Some(t.member),
        TxKind::Engage(t) => e.member = Some(t.member),
        TxKind::PlaceHold(PlaceHoldTx {
            target: HoldTarget::Member(m),
            ..
        })
        | TxKind::ReviewHold(ReviewHoldTx {
            target: HoldTarget::Member(m),
            ..
        }) => e.member = Some(*m),
        TxKind::TransferBalance(t) => e.member = Some(t.from),
        TxKind::RecordConsent(t) => e.member = Some(t.member),
        TxKind::RecordErasure(t) => e.member = Some(t.member),
        _ => {}
    }
    if e.pool.is_none()
        && let Some(program) = tx_program(state, tx)?
    {
        e.org = Some(program);
    }
    if let Some(pool) = &e.pool
        && let Some(owner) = pool_owner(state, pool)?
    {
        e.org = Some(owner);
    }
    Ok(())
}

/// The pool a tx acts on, if any (looked up for a code hash and a rollback). Shared with
/// the node's confidentiality rules, which show an org the txs on its pools.
pub fn tx_pool<S: StateReader + ?Sized>(
    state: &S,
    tx: &SignedTx,
) -> Result<Option<PoolId>, StateError> {
    Ok(match &tx.body.kind {
        TxKind::CreatePool(t) => Some(t.pool.clone()),
        TxKind::UpdatePool(t) => Some(t.pool.clone()),
        TxKind::TransitionPool(t) => Some(t.pool.clone()),
        TxKind::IssueCodes(t) => Some(t.pool.clone()),
        TxKind::Allocate(t) => Some(t.pool.clone()),
        TxKind::RevokeToken(t) => Some(t.token.pool.clone()),
        TxKind::TransferToken(t) => Some(t.token.pool.clone()),
        TxKind::Redeem(t) => match &t.target {
            RedeemTarget::Token(token) => Some(token.pool.clone()),
            RedeemTarget::Code(hash) => match state.get(&StateKey::Code(*hash))? {
                Some(StateValue::Code(entry)) => Some(entry.pool),
                _ => None,
            },
        },
        TxKind::Rollback(t) => match state.get(&StateKey::Redemption(t.redemption))? {
            Some(StateValue::Redemption(r)) => Some(r.pool),
            _ => None,
        },
        TxKind::RegisterKey(_)
        | TxKind::RevokeKey(_)
        | TxKind::ProposeGovernance(_)
        | TxKind::ApproveGovernance(_)
        | TxKind::SetProgram(_)
        | TxKind::Load(_)
        | TxKind::Earn(_)
        | TxKind::Spend(_)
        | TxKind::Void(_)
        | TxKind::Adjust(_)
        | TxKind::DecideAdjustment(_)
        | TxKind::TransferBalance(_)
        | TxKind::ExpireBalances(_)
        | TxKind::Checkout(_)
        | TxKind::RequestWithdrawal(_)
        | TxKind::DecideWithdrawal(_)
        | TxKind::Engage(_)
        | TxKind::ReleasePoints(_)
        | TxKind::PlaceHold(_)
        | TxKind::ReviewHold(_)
        | TxKind::RecordConsent(_)
        | TxKind::RecordErasure(_) => None,
    })
}

/// The loyalty program (its org) a tx acts on, if any (looked up for a void and an
/// adjustment's decision). Shared with the node's confidentiality rules, which show an
/// org the txs on its program, a partner terminal's included.
pub fn tx_program<S: StateReader + ?Sized>(
    state: &S,
    tx: &SignedTx,
) -> Result<Option<OrgId>, StateError> {
    Ok(match &tx.body.kind {
        TxKind::SetProgram(_) => None, // the signer's own org
        TxKind::Load(t) => Some(t.program.clone()),
        TxKind::Earn(t) => Some(t.program.clone()),
        TxKind::Spend(t) => Some(t.program.clone()),
        TxKind::Adjust(t) => Some(t.program.clone()),
        TxKind::TransferBalance(t) => Some(t.program.clone()),
        TxKind::ExpireBalances(t) => Some(t.program.clone()),
        TxKind::Checkout(t) => Some(t.program.clone()),
        TxKind::RequestWithdrawal(t) => Some(t.program.clone()),
        TxKind::DecideWithdrawal(t) => match state.get(&StateKey::Withdrawal(t.withdrawal))? {
            Some(StateValue::Withdrawal(w)) => Some(w.program),
            _ => None,
        },
        TxKind::Engage(t) => Some(t.program.clone()),
        TxKind::Void(VoidTx { tx }) | TxKind::ReleasePoints(ReleasePointsTx { tx }) => {
            match state.get(&StateKey::Movement(*tx))? {
                Some(StateValue::Movement(m)) => Some(m.program),
                _ => None,
            }
        }
        TxKind::DecideAdjustment(t) => match state.get(&StateKey::Adjustment(t.adjustment))? {
            Some(StateValue::Adjustment(a)) => Some(a.program),
            _ => None,
        },
        TxKind::RegisterKey(_)
        | TxKind::RevokeKey(_)
        | TxKind::ProposeGovernance(_)
        | TxKind::ApproveGovernance(_)
        | TxKind::CreatePool(_)
        | TxKind::UpdatePool(_)
        | TxKind::TransitionPool(_)
        | TxKind::IssueCodes(_)
        | TxKind::Allocate(_)
        | TxKind::Redeem(_)
        | TxKind::Rollback(_)
        | TxKind::RevokeToken(_)
        | TxKind::TransferToken(_)
        | TxKind::PlaceHold(_)
        | TxKind::ReviewHold(_)
        | TxKind::RecordConsent(_)
        | TxKind::RecordErasure(_) => None,
    })
}

fn pool_owner<S: StateReader + ?Sized>(
    state: &S,
    pool: &PoolId,
) -> Result<Option<OrgId>, StateError> {
    Ok(match state.get(&StateKey::Pool(pool.clone()))? {
        Some(StateValue::Pool(p)) => Some(p.owner),
        _ => None,
    })
}

fn token_holder<S: StateReader + ?Sized>(
    state: &S,
    token: &TokenId,
) -> Result<Option<MemberId>, StateError> {
    Ok(match state.get(&StateKey::Token(token.clone()))? {
        Some(StateValue::Token(t)) => t.owner,
        _ => None,
    })
}
