//! The loyalty records kept in state beside the accounts: an org's liability per segment,
//! what a partner owes a program and is owed by it, each balance movement (so a void
//! undoes it exactly once), and adjustments awaiting a second admin.
//!
//! Pure values with checked arithmetic; execution reads, changes and writes them.

use super::{Allocation, Deltas, LotId, LoyaltyError, Result, Segment};
use crate::ids::{MemberId, OrgId, PublicKey, StoreId, TxId};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an org's program owes its members, per segment: the sum of every member's
/// balance (pending lots included, expired ones once expired).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Liability {
    /// Outstanding amount per segment (segments at 0 are left out).
    pub by_segment: BTreeMap<Segment, u64>,
}

impl Liability {
    /// Adds signed `deltas`. A result below zero or above `u64::MAX` is refused: the sum
    /// of balances can never be negative, so it would be a bug in the caller.
    pub fn apply(&mut self, deltas: &Deltas) -> Result<()> {
        apply_to(&mut self.by_segment, deltas)
    }
}

fn apply_to(map: &mut BTreeMap<Segment, u64>, deltas: &Deltas) -> Result<()> {
    let mut next = map.clone();
    for (segment, delta) in &deltas.0 {
        let held = i128::from(next.get(segment).copied().unwrap_or(0));
        let sum = u64::try_from(held + delta).map_err(|_| {
            LoyaltyError::InvalidAmount(format!("the {} total leaves range", segment.name()))
        })?;
        if sum == 0 {
            next.remove(segment);
        } else {
            next.insert(*segment, sum);
        }
    }
    *map = next;
    Ok(())
}

/// Between a program's org and one partner org: what the partner's terminals credited in
/// the program (the partner owes it to the program) and what members spent at the
/// partner (the program owes it to the partner), per segment. Voids subtract what they
/// undo, so the record is always the net of what stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Settlement {
    /// Credited by the partner, per segment.
    pub credited: BTreeMap<Segment, u64>,
    /// Spent at the partner, per segment.
    pub spent: BTreeMap<Segment, u64>,
}

impl Settlement {
    /// Adds signed amounts to what the partner credited.
    pub fn credit(&mut self, deltas: &Deltas) -> Result<()> {
        apply_to(&mut self.credited, deltas)
    }

    /// Adds signed amounts to what was spent at the partner.
    pub fn spend(&mut self, deltas: &Deltas) -> Result<()> {
        apply_to(&mut self.spent, deltas)
    }

    /// Per segment, credited minus spent: positive, the partner owes the program;
    /// negative, the program owes the partner.
    pub fn net(&self) -> BTreeMap<Segment, i128> {
        let mut net: BTreeMap<Segment, i128> = BTreeMap::new();
        for (segment, amount) in &self.credited {
            *net.entry(*segment).or_default() += i128::from(*amount);
        }
        for (segment, amount) in &self.spent {
            *net.entry(*segment).or_default() -= i128::from(*amount);
        }
        net
    }

    /// Whether nothing is owed either way (the record can be deleted).
    pub fn is_empty(&self) -> bool {
        self.credited.is_empty() && self.spent.is_empty()
    }
}

/// One balance movement, by the id of the tx that made it: what a void needs to undo it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Movement {
    /// The program's org.
    pub program: OrgId,
    /// The member whose balance moved.
    pub member: MemberId,
    /// The org whose key signed it (the program's org or a partner).
    pub by_org: OrgId,
    /// The signing terminal's store (terminal txs).
    pub store: Option<StoreId>,
    /// What moved.
    pub kind: MovementKind,
    /// Whether a void undid it (it cannot be voided twice).
    pub voided: bool,
}

/// What a movement did.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "movement")]
pub enum MovementKind {
    /// Points earned on an order: one lot.
    Earn {
        /// The lot.
        lot: LotId,
        /// Points.
        points: u64,
        /// The order's reference (with the signer's org, the once-per-order key).
        order_ref: String,
    },
    /// Stored value loaded: one lot.
    Load {
        /// The lot.
        lot: LotId,
        /// Its segment.
        segment: Segment,
        /// Amount.
        amount: u64,
    },
    /// A spend: the lots drawn.
    Spend {
        /// The draws.
        allocation: Allocation,
    },
    /// A checkout: its redemptions, its balance spend and the points it earned.
    Checkout {
        /// The redemptions of its coupons, in order.
        redemptions: Vec<TxId>,
        /// The balance spend's draws (empty: none).
        allocation: Allocation,
        /// The lot of the points earned, and how many (none when nothing was earned).
        earned: Option<(LotId, u64)>,
        /// The order's reference.
        order_ref: String,
    },
    /// A transfer to another member: the lots drawn from this member and the lots
    /// created for the receiver.
    Transfer {
        /// The receiver.
        to: MemberId,
        /// The draws.
        allocation: Allocation,
        /// The receiver's new lots (one per draw).
        lots: Vec<LotId>,
    },
    /// Points for an engagement (a review, a sign-up, a referral): one lot, and for a
    /// referral one lot of the referred member's too.
    Engagement {
        /// The rule's action.
        action: String,
        /// The action's reference (with the program and the action, the once-only key).
        reference: String,
        /// The lot.
        lot: LotId,
        /// Points.
        points: u64,
        /// For a referral: the referred member, their lot and points.
        referred: Option<(MemberId, LotId, u64)>,
    },
}

/// Which way an adjustment moves a balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Adds a lot.
    Credit,
    /// Draws from the segment's lots (pending ones included).
    Debit,
}

/// Why an admin adjusted a balance: a fixed set auditors count by. Adding a reason appends
/// a variant (the encoding is the variant index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustReason {
    /// A gesture for a customer (service recovery).
    Goodwill,
    /// A mistake corrected (a missed earn, a wrong load).
    Correction,
    /// Balances carried over from another system.
    Migration,
    /// Taken back for abuse.
    Fraud,
    /// Anything else; the note says what.
    Other,
}

impl AdjustReason {
    /// The reason's stable name.
    pub fn name(self) -> &'static str {
        match self {
            AdjustReason::Goodwill => "goodwill",
            AdjustReason::Correction => "correction",
            AdjustReason::Migration => "migration",
            AdjustReason::Fraud => "fraud",
            AdjustReason::Other => "other",
        }
    }
}

/// Where an adjustment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentStatus {
    /// Above the program's threshold: waits for a second admin.
    Pending,
    /// Applied (at once, or when approved).
    Applied,
    /// Refused by a second admin; nothing changed.
    Rejected,
}

/// An adjustment, by the id of the tx that asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AdjustmentRecord {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The segment.
    pub segment: Segment,
    /// Credit or debit.
    pub direction: Direction,
    /// Amount.
    pub amount: u64,
    /// Why.
    pub reason: AdjustReason,
    /// What the maker wrote.
    pub note: String,
    /// The admin key that asked (the maker; it cannot approve).
    pub maker: PublicKey,
    /// Block time of the request.
    pub requested_ms: u64,
    /// Where it stands.
    pub status: AdjustmentStatus,
    /// The admin key that approved or rejected it (the checker).
    pub checker: Option<PublicKey>,
}

/// Where a withdrawal stands.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum WithdrawalStatus {
    /// Asked; the amount is held (drawn from the lots).
    Requested,
    /// Approved by a second key; to be paid.
    Approved {
        /// The approving admin key.
        by: PublicKey,
    },
    /// Paid out.
    Paid {
        /// The approving admin key.
        approved_by: PublicKey,
        /// The payment's reference.
        payment: String,
        /// Block time of the payment's record.
        paid_ms: u64,
    },
    /// Rejected; the amount went back to its lots.
    Rejected {
        /// The rejecting admin key.
        by: PublicKey,
    },
}

/// A withdrawal, by the id of the request tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WithdrawalRecord {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The segment.
    pub segment: Segment,
    /// Amount, minor units.
    pub amount: u64,
    /// The member's request reference.
    pub reference: String,
    /// The key that asked.
    pub requested_by: PublicKey,
    /// Block time of the request.
    pub requested_ms: u64,
    /// The lots drawn (credited back on a rejection).
    pub allocation: Allocation,
    /// Where it stands.
    pub status: WithdrawalStatus,
}

impl WithdrawalStatus {
    /// The status's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            WithdrawalStatus::Requested => "requested",
            WithdrawalStatus::Approved { .. } => "approved",
            WithdrawalStatus::Paid { .. } => "paid",
            WithdrawalStatus::Rejected { .. } => "rejected",
        }
    }
}
