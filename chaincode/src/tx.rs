//! Transactions: bodies, kinds, the signed envelope, tx ids and signature checks.
//!
//! A [`SignedTx`] is `{ body, signer, signature }`. The signature is ed25519 over
//! [`signing_message`]: the domain tag [`TX_SIGNING_TAG`], the chain id (length-prefixed)
//! and the canonical bytes of the body. The tx id ([`tx_id`]) is blake3 over
//! [`TX_ID_TAG`], the body bytes and the signer — not the signature, so a re-signed copy of
//! the same body by the same key is the same tx (ed25519 signatures are deterministic
//! anyway, but a third party must not be able to mint a new id by mauling one).
//!
//! A signature is valid when `verify_strict` accepts it; nodes admit a tx only then
//! ([`SignedTx::verify`]). Inside a block, [`verify_signatures`] checks signatures with the
//! batch equation of ed25519-dalek's `verify_batch` in fixed chunks of [`SIGNATURE_BATCH`]
//! and falls back to `verify_strict` one by one only inside a chunk that fails; the batch
//! coefficients derive from a transcript of the chunk, so every node and auditor reaches
//! the same verdict for the same block.
//!
//! The one known difference: the batch equation can accept a signature whose nonce point
//! `R` carries a small-order component, which `verify_strict` always refuses. Only the
//! key's holder can make one, no honest node admits one, and the verdict is the same on
//! every node and in every replay (it depends only on the block), so it cannot fork the
//! chain; a registered key (torsion-free, see [`is_acceptable_key`]) is required for any
//! tx to act. An independent verifier must use the same chunked procedure to agree with
//! the chain in that corner case.

use crate::consent::{ConsentDecision, Purpose};
use crate::encoding::{encode, encode_into};
use crate::ids::{
    ChainId, ClaimKey, CodeHash, Hash32, MemberId, OrgId, PoolId, PublicKey, SignatureBytes,
    TokenId, TxId,
};
use crate::loyalty::{AdjustReason, Direction, ProgramSpec, Segment};
use crate::memo::Memo;
use crate::risk::{HoldReason, HoldTarget};
use crate::types::{GovernanceChange, IssuedCode, Order, PoolAction, PoolSpec, Role};
use bincode::{Decode, Encode};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use merlin::Transcript;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// Domain tag that starts every signed tx message.
pub const TX_SIGNING_TAG: &[u8] = b"couponcactus/tx/v1";
/// Domain tag that starts the tx id preimage.
pub const TX_ID_TAG: &[u8] = b"couponcactus/txid/v1";
/// Signatures per batch in [`verify_signatures`].
pub const SIGNATURE_BATCH: usize = 256;

/// What a tx asks for, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxBody {
    /// The chain it is for; must match the executing chain.
    pub chain_id: ChainId,
    /// Any number the signer picks to make otherwise identical txs distinct.
    pub nonce: u64,
    /// Block time (ms) after which the tx is stale and refused.
    pub valid_until_ms: u64,
    /// What to do.
    pub kind: TxKind,
    /// Who or why, for the record (e.g. the console's staff user id): signed with the body,
    /// kept in the block and copied to the tx's ledger events; execution ignores it.
    /// Absent in JSON means `None`.
    #[serde(default)]
    pub memo: Option<Memo>,
}

/// Every kind of transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TxKind {
    /// Register a key for the signer's org (org admin only).
    RegisterKey(RegisterKeyTx),
    /// Revoke a key of the signer's org (org admin only).
    RevokeKey(RevokeKeyTx),
    /// Propose a consortium change (org admin); counts as the proposer org's approval.
    ProposeGovernance(ProposeGovernanceTx),
    /// Approve a pending proposal (org admin of another org).
    ApproveGovernance(ApproveGovernanceTx),
    /// Create a pool in draft (org admin or issuer).
    CreatePool(CreatePoolTx),
    /// Replace a draft pool's spec (org admin or issuer of the owner).
    UpdatePool(UpdatePoolTx),
    /// Move a pool through its lifecycle (org admin or issuer of the owner).
    TransitionPool(TransitionPoolTx),
    /// Issue a batch of sealed codes, all or nothing (org admin or issuer of the owner).
    IssueCodes(IssueCodesTx),
    /// Allocate the pool's next free token to a member (org admin or issuer of the owner).
    Allocate(AllocateTx),
    /// Redeem a coupon (terminal of the owner or of a partner org).
    Redeem(RedeemTx),
    /// Undo a redemption on refund (terminal of the redeeming org, or owner's admin).
    Rollback(RollbackTx),
    /// Revoke a token (org admin or issuer of the owner).
    RevokeToken(RevokeTokenTx),
    /// Move a token to another member (org admin or issuer of the owner).
    TransferToken(TransferTokenTx),
    /// Set the signer's org's loyalty program, or change it (org admin only).
    SetProgram(SetProgramTx),
    /// Load stored value (a deposit or a gift) onto a member's balance (org admin or
    /// issuer of the program's org; a terminal of it or of a partner org).
    Load(LoadTx),
    /// Earn points on an order, once per order (terminal of the program's org or of a
    /// partner org).
    Earn(EarnTx),
    /// Spend from a member's balances (terminal of the program's org or of a partner org).
    Spend(SpendTx),
    /// Undo an earn, load, spend or transfer exactly once (the org that made it: a
    /// terminal of the same store, or an org admin).
    Void(VoidTx),
    /// Credit or debit a balance with a reason (org admin of the program's org); above
    /// the program's threshold it waits for a second admin.
    Adjust(AdjustTx),
    /// Approve or reject a pending adjustment (another org admin of the program's org).
    DecideAdjustment(DecideAdjustmentTx),
    /// Move balance between two members, where the program allows it (org admin or issuer
    /// of the program's org).
    TransferBalance(TransferBalanceTx),
    /// Expire what is due on members' balances at the block time (org admin or issuer of
    /// the program's org): the housekeeping a node runs.
    ExpireBalances(ExpireBalancesTx),
    /// Apply coupons and a balance spend to one order and earn on what is left, all or
    /// nothing (terminal of the program's org or of a partner org); a void undoes it.
    Checkout(CheckoutTx),
    /// Ask to pay a member's stored value out (org admin or issuer of the program's org):
    /// the amount is held at once, then approved and paid, or rejected.
    RequestWithdrawal(RequestWithdrawalTx),
    /// Approve (another admin than the requester), record as paid, or reject a
    /// withdrawal (org admin; paid also an issuer) of the program's org.
    DecideWithdrawal(DecideWithdrawalTx),
    /// Award the points of an engagement rule (a review, a sign-up, a referral) once per
    /// reference (org admin or issuer of the program's org; a terminal of it or of a
    /// partner org).
    Engage(EngageTx),
    /// Make the pending points of an earn or a checkout spendable: the event the program
    /// waits for came (the org that made it: a terminal of the same store, or an org
    /// admin).
    ReleasePoints(ReleasePointsTx),
    /// Stop a member, a terminal or a code of the signer's org (org admin: in force;
    /// risk key: pending an org admin's review).
    PlaceHold(PlaceHoldTx),
    /// Confirm or lift a hold of the signer's org (org admin).
    ReviewHold(ReviewHoldTx),
    /// Record a member's consent decision on a purpose for the signer's org (org admin,
    /// issuer or terminal: consent is captured at sign-up, online or at the till).
    RecordConsent(RecordConsentTx),
    /// Record that the signer's org erased a member's personal data (org admin): the
    /// org gives the member nothing new afterwards.
    RecordErasure(RecordErasureTx),
}

impl TxKind {
    /// The kind's stable snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::RegisterKey(_) => "register_key",
            TxKind::RevokeKey(_) => "revoke_key",
            TxKind::ProposeGovernance(_) => "propose_governance",
            TxKind::ApproveGovernance(_) => "approve_governance",
            TxKind::CreatePool(_) => "create_pool",
            TxKind::UpdatePool(_) => "update_pool",
            TxKind::TransitionPool(_) => "transition_pool",
            TxKind::IssueCodes(_) => "issue_codes",
            TxKind::Allocate(_) => "allocate",
            TxKind::Redeem(_) => "redeem",
            TxKind::Rollback(_) => "rollback",
            TxKind::RevokeToken(_) => "revoke_token",
            TxKind::TransferToken(_) => "transfer_token",
            TxKind::SetProgram(_) => "set_program",
            TxKind::Load(_) => "load",
            TxKind::Earn(_) => "earn",
            TxKind::Spend(_) => "spend",
            TxKind::Void(_) => "void",
            TxKind::Adjust(_) => "adjust",
            TxKind::DecideAdjustment(_) => "decide_adjustment",
            TxKind::TransferBalance(_) => "transfer_balance",
            TxKind::ExpireBalances(_) => "expire_balances",
            TxKind::Checkout(_) => "checkout",
            TxKind::RequestWithdrawal(_) => "request_withdrawal",
            TxKind::DecideWithdrawal(_) => "decide_withdrawal",
            TxKind::Engage(_) => "engage",
            TxKind::ReleasePoints(_) => "release_points",
            TxKind::PlaceHold(_) => "place_hold",
            TxKind::ReviewHold(_) => "review_hold",
            TxKind::RecordConsent(_) => "record_consent",
            TxKind::RecordErasure(_) => "record_erasure",
        }
    }
}

/// Register `key` with `role` for the signer's org.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RegisterKeyTx {
    /// The new key; must be a valid, torsion-free ed25519 point never registered before.
    pub key: PublicKey,
    /// What it may do.
    pub role: Role,
}

/// Revoke `key` (of the signer's org).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RevokeKeyTx {
    /// The key to revoke.
    pub key: PublicKey,
}

/// Propose a consortium change.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposeGovernanceTx {
    /// The change.
    pub change: GovernanceChange,
}

/// Approve proposal `proposal` (the id of the proposing tx).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ApproveGovernanceTx {
    /// Id of the tx that proposed it.
    pub proposal: TxId,
}

/// Create pool `pool` in draft with `spec`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CreatePoolTx {
    /// The new pool's id (unique on the ledger).
    pub pool: PoolId,
    /// Its rules.
    pub spec: PoolSpec,
}

/// Replace the spec of draft pool `pool`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UpdatePoolTx {
    /// The pool.
    pub pool: PoolId,
    /// Its new rules.
    pub spec: PoolSpec,
}

/// Apply `action` to `pool`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TransitionPoolTx {
    /// The pool.
    pub pool: PoolId,
    /// The lifecycle step.
    pub action: PoolAction,
}

/// Issue `codes` into `pool` (draft or paused), all or nothing.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct IssueCodesTx {
    /// The pool.
    pub pool: PoolId,
    /// Hashes and sealed forms; tokens get the next serials in this order.
    pub codes: Vec<IssuedCode>,
}

/// Allocate a token of `pool` to `member`, idempotently per `claim`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AllocateTx {
    /// The pool (unique codes).
    pub pool: PoolId,
    /// Who receives it.
    pub member: MemberId,
    /// Idempotency key: the same key always returns the same token.
    pub claim: ClaimKey,
}

/// What a terminal redeems.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeemTarget {
    /// A token by id (member presents a wallet coupon): only an allocated token, and only
    /// with `member` set to its holder.
    Token(TokenId),
    /// A code by hash (customer types or scans a code): the code is a bearer secret.
    Code(CodeHash),
}

/// Redeem `target` for `member` against `order`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RedeemTx {
    /// Token or code.
    pub target: RedeemTarget,
    /// The member redeeming; required for shared codes, checked against the token's owner.
    pub member: Option<MemberId>,
    /// The order it applies to.
    pub order: Order,
}

/// Roll back redemption `redemption` (the redeem tx's id).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RollbackTx {
    /// The redeem tx's id.
    pub redemption: TxId,
}

/// Longest [`RevokeTokenTx::note`], in bytes (UTF-8).
pub const MAX_REVOKE_NOTE_BYTES: usize = 140;

/// Revoke `token`, for a stated reason that stays on the ledger for auditors.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RevokeTokenTx {
    /// The token.
    pub token: TokenId,
    /// Why it is revoked.
    pub reason: RevokeReason,
    /// Free text for the auditor: 1 to [`MAX_REVOKE_NOTE_BYTES`] bytes without control
    /// characters; required when `reason` is [`RevokeReason::Other`].
    pub note: Option<String>,
}

/// Why a token is revoked: a fixed set, so that auditors and reports can count by it.
/// Adding a reason appends a variant (the encoding is the variant index), never reorders.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The coupon was obtained or used fraudulently (leaked, stolen, forged).
    Fraud,
    /// The customer asked for it (e.g. account closed, coupon returned).
    CustomerRequest,
    /// It should never have been issued or allocated (wrong pool, wrong member, test data).
    IssuedInError,
    /// The campaign it belongs to ended early.
    ExpiredCampaign,
    /// Anything else: the note says what.
    Other,
}

impl RevokeReason {
    /// Every reason, in encoding order.
    pub const ALL: &'static [RevokeReason] = &[
        RevokeReason::Fraud,
        RevokeReason::CustomerRequest,
        RevokeReason::IssuedInError,
        RevokeReason::ExpiredCampaign,
        RevokeReason::Other,
    ];

    /// The stable snake_case name (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            RevokeReason::Fraud => "fraud",
            RevokeReason::CustomerRequest => "customer_request",
            RevokeReason::IssuedInError => "issued_in_error",
            RevokeReason::ExpiredCampaign => "expired_campaign",
            RevokeReason::Other => "other",
        }
    }
}

impl std::fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RevokeReason {
    type Err = String;
    /// Parses a [`RevokeReason::name`] (dashes are taken for underscores).
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim().replace('-', "_");
        RevokeReason::ALL
            .iter()
            .copied()
            .find(|r| r.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = RevokeReason::ALL.iter().map(|r| r.name()).collect();
                format!("{s:?} is not a revoke reason: one of {}", names.join(", "))
            })
    }
}

/// Move `token` from member `from` to member `to`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TransferTokenTx {
    /// The token.
    pub token: TokenId,
    /// Its current owner.
    pub from: MemberId,
    /// The new owner.
    pub to: MemberId,
}

/// Set the signer's org's loyalty program (`crate::loyalty`): its segments, earn rules and
/// tiers. Balances already held keep their lots; the new rules apply from this block on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SetProgramTx {
    /// The program.
    pub spec: ProgramSpec,
}

/// Longest reference (order number, receipt, payment id), bytes.
pub const MAX_REFERENCE_BYTES: usize = 64;
/// Longest adjustment note, bytes.
pub const MAX_ADJUST_NOTE_BYTES: usize = 140;
/// Most members one [`ExpireBalancesTx`] visits.
pub const MAX_EXPIRE_MEMBERS: usize = 64;

/// Load `amount` of stored value into `segment` of `member`'s balance in `program`'s
/// program: a deposit the member paid (`cash_deposit`), a gift (`gift`) or store credit
/// (`refund_credit`); points are earned or adjusted, never loaded.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct LoadTx {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The segment (not `mileage`).
    pub segment: Segment,
    /// Amount, minor units of the program's currency.
    pub amount: u64,
    /// The payment or gift it comes from (1 to [`MAX_REFERENCE_BYTES`] printable ASCII).
    pub reference: String,
}

/// Earn points on `order` for `member`; an order (the signer's org and `order_ref`) earns
/// once.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EarnTx {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The order's reference at the selling org (1 to [`MAX_REFERENCE_BYTES`] printable
    /// ASCII).
    pub order_ref: String,
    /// The order (net of discounts: what the member paid); its currency is the program's.
    pub order: Order,
}

/// Spend `amount` from `member`'s spendable lots of `segments`, in the program's spend
/// order.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SpendTx {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The segments to draw from (1 to 4, sorted, all counting the same unit).
    pub segments: Vec<Segment>,
    /// Amount (minor units or points).
    pub amount: u64,
    /// The order it pays for (1 to [`MAX_REFERENCE_BYTES`] printable ASCII).
    pub order_ref: String,
}

/// Undo the balance movement made by tx `tx` (an earn, load, spend or transfer): a spend's
/// draws go back to their lots (a refund); an earn's, load's or transfer's lots are taken
/// back whole (refused once anything was spent from them: adjust instead).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct VoidTx {
    /// The tx that moved the balance.
    pub tx: TxId,
}

/// Credit or debit `amount` on `segment` of `member`'s balance, for `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AdjustTx {
    /// The program's org (the signer's).
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
    /// What the admin writes for the auditor (1 to [`MAX_ADJUST_NOTE_BYTES`] bytes, no
    /// control characters).
    pub note: String,
}

/// Approve (apply) or reject a pending adjustment.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DecideAdjustmentTx {
    /// The adjust tx's id.
    pub adjustment: TxId,
    /// Apply it (true) or refuse it (false).
    pub approve: bool,
}

/// Move `amount` of `segment` from one member to another; the receiver's new lots keep
/// the drawn lots' expiry.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TransferBalanceTx {
    /// The program's org (the signer's).
    pub program: OrgId,
    /// Who gives.
    pub from: MemberId,
    /// Who receives.
    pub to: MemberId,
    /// The segment.
    pub segment: Segment,
    /// Amount.
    pub amount: u64,
}

/// Expire what is due at the block time on each of `members`' balances.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ExpireBalancesTx {
    /// The program's org (the signer's).
    pub program: OrgId,
    /// The members (1 to [`MAX_EXPIRE_MEMBERS`], sorted, no duplicates).
    pub members: Vec<MemberId>,
}

/// One order at the till: coupons, then a balance spend, then points on what is left
/// (`crate::checkout` has the order and the stacking rules, the program's
/// `checkout` rules the caps).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CheckoutTx {
    /// The program's org (its rules apply; its balances pay; its points are earned).
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The order's reference at the selling org (1 to [`MAX_REFERENCE_BYTES`] printable
    /// ASCII): an order checks out, or earns, once.
    pub order_ref: String,
    /// The basket before any discount; its currency is the program's and the pools'.
    pub order: Order,
    /// Coupons, applied in this order (0 to `checkout::MAX_COUPONS`, no target twice).
    pub coupons: Vec<RedeemTarget>,
    /// A balance spend that pays part of what the coupons leave.
    pub pay: Option<BalanceSpend>,
    /// Earn points on what is left to pay.
    pub earn: bool,
}

/// What a checkout draws from the member's balances.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BalanceSpend {
    /// The segments (1 to 4, sorted, one unit).
    pub segments: Vec<Segment>,
    /// Amount in their unit: minor units of money, or points (a point pays the program's
    /// `checkout.point_value_minor`).
    pub amount: u64,
}

/// Pay `amount` of a money segment of `member`'s balance out of the program (a deposit
/// returned, store credit cashed): the lots are drawn when asked, and go back on a
/// rejection.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RequestWithdrawalTx {
    /// The program's org (the signer's).
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// The segment: `cash_deposit` or `refund_credit` (gift balances are not cash).
    pub segment: Segment,
    /// Amount, minor units of the program's currency.
    pub amount: u64,
    /// The member's request (a ticket or form number; 1 to [`MAX_REFERENCE_BYTES`]
    /// printable ASCII).
    pub reference: String,
}

/// What happens to a withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum WithdrawalDecision {
    /// Requested → approved (an org admin other than the requester's key).
    Approve,
    /// Approved → paid, with the payment's reference (org admin or issuer).
    Paid {
        /// The bank transfer or payout id (1 to [`MAX_REFERENCE_BYTES`] printable ASCII).
        payment: String,
    },
    /// Requested or approved → rejected: the amount goes back to its lots (org admin).
    Reject,
}

/// Decide withdrawal `withdrawal` (the request tx's id).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DecideWithdrawalTx {
    /// The request tx's id.
    pub withdrawal: TxId,
    /// What happens to it.
    pub decision: WithdrawalDecision,
}

/// Award `member` the points of the program's engagement rule `action`, once per
/// `reference` (the review's id, the sign-up's; for a referral, the referred member is
/// the reference: each is referred once per action).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EngageTx {
    /// The program's org.
    pub program: OrgId,
    /// The member who acted (the referrer, for a referral).
    pub member: MemberId,
    /// The engagement rule's action.
    pub action: String,
    /// What the action was (1 to [`MAX_REFERENCE_BYTES`] printable ASCII); for a
    /// referral, empty: the referred member is the reference.
    pub reference: String,
    /// For a referral rule: the member referred (not the referrer).
    pub referred: Option<MemberId>,
}

/// Make the pending points that tx `tx` (an earn or a checkout) credited spendable now.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReleasePointsTx {
    /// The earn or checkout tx.
    pub tx: TxId,
}

/// Hold `target` for `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PlaceHoldTx {
    /// What to stop.
    pub target: HoldTarget,
    /// Why.
    pub reason: HoldReason,
    /// What the reviewer reads: the evidence, the score (at most
    /// [`crate::risk::MAX_HOLD_NOTE_BYTES`] bytes, no control characters).
    pub note: String,
}

/// What a review of a hold decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldDecision {
    /// The suspicion was right: the hold stays, confirmed.
    Confirm,
    /// It was not (or it is over): the hold goes.
    Lift,
}

/// Confirm or lift the signer's org's hold on `target`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReviewHoldTx {
    /// The held member, terminal or code.
    pub target: HoldTarget,
    /// Confirm or lift.
    pub decision: HoldDecision,
    /// Why (same limits as a hold's note).
    pub note: String,
}

/// Record `member`'s decision on `purpose` for the signer's org.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RecordConsentTx {
    /// The member (pseudonymous id).
    pub member: MemberId,
    /// What the decision is about.
    pub purpose: Purpose,
    /// Granted or withdrawn.
    pub decision: ConsentDecision,
    /// blake3 of the consent text version the member was shown (not all zeros).
    pub text_hash: Hash32,
}

/// Record that the signer's org erased `member`'s personal data.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RecordErasureTx {
    /// The member (pseudonymous id).
    pub member: MemberId,
}

/// The signed envelope.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedTx {
    /// What is asked.
    pub body: TxBody,
    /// Who asks: a registered ed25519 key.
    pub signer: PublicKey,
    /// ed25519 over [`signing_message`].
    pub signature: SignatureBytes,
}

/// The bytes an ed25519 signature of a tx covers: `TX_SIGNING_TAG ‖ u64le(len(chain_id)) ‖
/// chain_id ‖ body bytes`.
pub fn signing_message(chain_id: &ChainId, body_bytes: &[u8]) -> Vec<u8> {
    let mut msg =
        Vec::with_capacity(TX_SIGNING_TAG.len() + 8 + chain_id.0.len() + body_bytes.len());
    msg.extend_from_slice(TX_SIGNING_TAG);
    encode_into(chain_id, &mut msg);
    msg.extend_from_slice(body_bytes);
    msg
}

/// The tx id: `blake3(TX_ID_TAG ‖ body bytes ‖ signer)`.
pub fn tx_id(body_bytes: &[u8], signer: &PublicKey) -> TxId {
    let mut h = blake3::Hasher::new();
    h.update(TX_ID_TAG);
    h.update(body_bytes);
    h.update(&signer.0);
    TxId(*h.finalize().as_bytes())
}

/// Domain tag that starts every signed read request of the HTTP API.
pub const READ_SIGNING_TAG: &[u8] = b"couponcactus/read/v1";

/// The bytes a signed read request's ed25519 signature covers: `READ_SIGNING_TAG ‖
/// u64le(len(chain_id)) ‖ chain_id ‖ u64le(time_ms) ‖ method ‖ " " ‖ path_and_query`, where
/// `method` is the upper-case HTTP method and `path_and_query` the request target exactly as
/// sent (e.g. `/v1/tokens/spring/0?height=7`). The node checks it with `verify_strict` and
/// accepts `time_ms` within a minute of its clock (see `docs/api.md`).
pub fn read_signing_message(
    chain_id: &ChainId,
    time_ms: u64,
    method: &str,
    path_and_query: &str,
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(
        READ_SIGNING_TAG.len() + 17 + chain_id.0.len() + method.len() + path_and_query.len(),
    );
    msg.extend_from_slice(READ_SIGNING_TAG);
    encode_into(chain_id, &mut msg);
    msg.extend_from_slice(&time_ms.to_le_bytes());
    msg.extend_from_slice(method.as_bytes());
    msg.push(b' ');
    msg.extend_from_slice(path_and_query.as_bytes());
    msg
}

/// Signs a read request ([`read_signing_message`]) with `key`.
pub fn sign_read(
    key: &SigningKey,
    chain_id: &ChainId,
    time_ms: u64,
    method: &str,
    path_and_query: &str,
) -> SignatureBytes {
    let msg = read_signing_message(chain_id, time_ms, method, path_and_query);
    SignatureBytes(key.sign(&msg).to_bytes())
}

impl TxBody {
    /// The same body with `memo` attached (or removed, with `None`).
    pub fn with_memo(self, memo: Option<Memo>) -> TxBody {
        TxBody { memo, ..self }
    }

    /// Signs the body with `key`.
    pub fn sign(self, key: &SigningKey) -> SignedTx {
        let body_bytes = encode(&self);
        let signature = key.sign(&signing_message(&self.chain_id, &body_bytes));
        SignedTx {
            body: self,
            signer: PublicKey(key.verifying_key().to_bytes()),
            signature: SignatureBytes(signature.to_bytes()),
        }
    }
}

impl SignedTx {
    /// Canonical bytes of the body.
    pub fn body_bytes(&self) -> Vec<u8> {
        encode(&self.body)
    }

    /// The tx id.
    pub fn id(&self) -> TxId {
        tx_id(&self.body_bytes(), &self.signer)
    }

    /// Checks the signature alone with `verify_strict` (what a node does at admission).
    pub fn verify(&self) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(&self.signer.0).map_err(|_| SignatureError::BadKey)?;
        let msg = signing_message(&self.body.chain_id, &self.body_bytes());
        key.verify_strict(&msg, &Signature::from_bytes(&self.signature.0))
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Why a signature is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum SignatureError {
    /// The signer bytes are not a valid ed25519 point.
    #[error("signer is not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify for this body and signer.
    #[error("signature does not verify")]
    Invalid,
}

/// A tx with its derived bytes and id computed once.
#[derive(Debug, Clone)]
pub struct PreparedTx<'a> {
    /// The tx.
    pub tx: &'a SignedTx,
    /// Canonical body bytes.
    pub body_bytes: Vec<u8>,
    /// Its id.
    pub id: TxId,
}

impl<'a> PreparedTx<'a> {
    /// Encodes the body and computes the id.
    pub fn new(tx: &'a SignedTx) -> Self {
        let body_bytes = tx.body_bytes();
        let id = tx_id(&body_bytes, &tx.signer);
        PreparedTx { tx, body_bytes, id }
    }
}

/// Checks every tx's signature; `result[i]` is tx `i`'s verdict.
///
/// Chunks of [`SIGNATURE_BATCH`] txs (by position) are checked with one batch equation; a
/// chunk that fails is re-checked one signature at a time with `verify_strict`.
///
/// The batch equation, its transcript and its coefficients are exactly those of
/// `ed25519_dalek::verify_batch` over the chunk's txs whose key decodes (see
/// [`batch_equation_holds`]), so a chunk passes here if and only if it passes there; the
/// work differs only in that a key signing many txs of the chunk contributes one term
/// instead of one per signature.
pub fn verify_signatures(txs: &[PreparedTx<'_>]) -> Vec<Result<(), SignatureError>> {
    let mut verdicts = Vec::with_capacity(txs.len());
    // Decompressing a key costs about as much as a signature check; blocks reuse few keys
    // (terminals, issuers), so each distinct key is decompressed once per call.
    let mut index: std::collections::BTreeMap<PublicKey, Option<usize>> = Default::default();
    let mut keys: Vec<BatchKey> = Vec::new();
    let mut members = Vec::with_capacity(SIGNATURE_BATCH.min(txs.len()));
    for chunk in txs.chunks(SIGNATURE_BATCH) {
        members.clear();
        let mut chunk_verdicts = Vec::with_capacity(chunk.len());
        for (j, p) in chunk.iter().enumerate() {
            let slot = *index.entry(p.tx.signer).or_insert_with(|| {
                let key = VerifyingKey::from_bytes(&p.tx.signer.0).ok()?;
                keys.push(BatchKey::new(key));
                Some(keys.len() - 1)
            });
            match slot {
                Some(k) => {
                    members.push((j, k));
                    chunk_verdicts.push(Ok(()));
                }
                None => chunk_verdicts.push(Err(SignatureError::BadKey)),
            }
        }
        if !batch_equation_holds(chunk, &members, &mut keys) {
            // `members` holds only the txs whose key decoded.
            for &(j, k) in &members {
                let p = &chunk[j];
                let msg = signing_message(&p.tx.body.chain_id, &p.body_bytes);
                let signature = Signature::from_bytes(&p.tx.signature.0);
                if keys[k].key.verify_strict(&msg, &signature).is_err() {
                    chunk_verdicts[j] = Err(SignatureError::Invalid);
                }
            }
        }
        verdicts.extend(chunk_verdicts);
    }
    verdicts
}

/// A signer key decoded once per [`verify_signatures`] call.
struct BatchKey {
    key: VerifyingKey,
    point: EdwardsPoint,
    /// Whether the point lies in the prime-order subgroup; computed when first needed.
    torsion_free: Option<bool>,
    /// Signatures by this key in the current chunk, and their summed coefficient.
    uses: usize,
    coefficient: Scalar,
}

impl BatchKey {
    fn new(key: VerifyingKey) -> Self {
        BatchKey {
            point: key.to_edwards(),
            key,
            torsion_free: None,
            uses: 0,
            coefficient: Scalar::ZERO,
        }
    }
}

/// A key signing at least this many txs of a chunk gets one aggregated term in the batch
/// equation. (Aggregating needs a torsion check of the key, which costs about as much as
/// the terms it saves for a handful of signatures.)
const AGGREGATE_MIN_USES: usize = 8;

/// The rng `ed25519_dalek::verify_batch` finalizes its transcript rng with: it adds nothing,
/// so the batch coefficients are a deterministic function of the batch.
struct ZeroRng;

impl rand_core::RngCore for ZeroRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for ZeroRng {}

/// Feeds the bytes of [`signing_message`] to `hash` without building the message.
fn hash_signing_message(hash: &mut Sha512, chain_id: &ChainId, body_bytes: &[u8]) {
    hash.update(TX_SIGNING_TAG);
    hash.update((chain_id.0.len() as u64).to_le_bytes());
    hash.update(chain_id.0.as_bytes());
    hash.update(body_bytes);
}

/// The batch equation of `ed25519_dalek::verify_batch` (version 2) for the txs
/// `chunk[j]` signed by `keys[k]`, for each `(j, k)` in `members`:
///
/// `[-Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢhᵢ]Aᵢ = 0`, with `hᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ Mᵢ)`, the
/// coefficients `zᵢ` drawn as 128-bit integers from a merlin transcript of every `hᵢ` and
/// then every `sᵢ`, finalized with an rng that adds nothing; false if an `sᵢ` is not
/// canonical or an `Rᵢ` does not decode. The one difference is how the sum is computed: the
/// terms of a key that is torsion-free and signs at least [`AGGREGATE_MIN_USES`] txs of
/// the chunk are folded into `[Σ zᵢhᵢ mod ℓ]A` — the same point, since `ℓA = 0` for such a
/// key — so the multiscalar multiplication has one term per such key instead of one per
/// signature. Keys with a torsion component keep one term per signature, as in
/// `verify_batch`. `tests::batch_equation_agrees_with_ed25519_dalek` checks the
/// equivalence, including torsioned keys and points, non-canonical scalars and
/// undecodable points.
fn batch_equation_holds(
    chunk: &[PreparedTx<'_>],
    members: &[(usize, usize)],
    keys: &mut [BatchKey],
) -> bool {
    let n = members.len();
    let mut transcript = Transcript::new(b"ed25519 batch verification");
    let mut hrams = Vec::with_capacity(n);
    for &(j, k) in members {
        let p = &chunk[j];
        let mut h = Sha512::new();
        h.update(&p.tx.signature.0[..32]);
        h.update(keys[k].key.as_bytes());
        hash_signing_message(&mut h, &p.tx.body.chain_id, &p.body_bytes);
        let hram: [u8; 64] = h.finalize().into();
        transcript.append_message(b"hram", &hram);
        hrams.push(Scalar::from_bytes_mod_order_wide(&hram));
    }
    for &(j, _) in members {
        transcript.append_message(b"sig.s", &chunk[j].tx.signature.0[32..]);
    }
    let mut rng = transcript.build_rng().finalize(&mut ZeroRng);

    // Count each key's signatures in the chunk.
    for &(_, k) in members {
        keys[k].uses = 0;
        keys[k].coefficient = Scalar::ZERO;
    }
    for &(_, k) in members {
        keys[k].uses += 1;
    }

    // Terms: B, then every R, then the A terms (one per aggregated key, else one per
    // signature).
    let mut scalars = Vec::with_capacity(2 * n + 1);
    let mut points = Vec::with_capacity(2 * n + 1);
    scalars.push(Scalar::ZERO); // -Σ zᵢsᵢ, filled in below
    points.push(ED25519_BASEPOINT_POINT);
    let mut b_coefficient = Scalar::ZERO;
    let mut a_terms = Vec::with_capacity(n);
    for (&(j, k), hram) in members.iter().zip(&hrams) {
        let signature = &chunk[j].tx.signature.0;
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature[32..]);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let z = Scalar::from(u128::from_le_bytes({
            let mut buf = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rng, &mut buf);
            buf
        }));
        b_coefficient += z * s;
        scalars.push(z);
        points.push(r);
        let key = &mut keys[k];
        let aggregate = key.uses >= AGGREGATE_MIN_USES
            && *key
                .torsion_free
                .get_or_insert_with(|| key.point.is_torsion_free());
        if aggregate {
            key.coefficient += z * hram;
        } else {
            a_terms.push((z * hram, key.point));
        }
    }
    scalars[0] = -b_coefficient;
    for &(_, k) in members {
        let key = &mut keys[k];
        if key.uses >= AGGREGATE_MIN_USES && key.torsion_free == Some(true) {
            scalars.push(key.coefficient);
            points.push(key.point);
            key.uses = 0; // one term per key
        }
    }
    for (scalar, point) in a_terms {
        scalars.push(scalar);
        points.push(point);
    }
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

/// Whether `key` may be registered: the canonical encoding of a torsion-free ed25519 point
/// that is not of small order. (So the key side of the batch and strict equations agree;
/// see [`verify_signatures`] for the one remaining difference, on the signature side.)
pub fn is_acceptable_key(key: &PublicKey) -> bool {
    match VerifyingKey::from_bytes(&key.0) {
        Ok(k) => {
            let point = k.to_edwards();
            !k.is_weak() && point.is_torsion_free() && point.compress().to_bytes() == key.0
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MemberId;

    fn body(nonce: u64) -> TxBody {
        TxBody {
            chain_id: ChainId::new("test").unwrap(),
            nonce,
            valid_until_ms: 1_000,
            kind: TxKind::RevokeKey(RevokeKeyTx {
                key: PublicKey([1; 32]),
            }),
            memo: None,
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signed_tx_verifies_and_tampering_breaks_it() {
        let tx = body(1).sign(&key(1));
        assert_eq!(tx.verify(), Ok(()));
        let mut t = tx.clone();
        t.body.nonce = 2;
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
        let mut t = tx.clone();
        t.signer = PublicKey(key(2).verifying_key().to_bytes());
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
        let mut t = tx.clone();
        t.signature.0[3] ^= 1;
        assert!(t.verify().is_err());
        // Another chain id changes what is signed.
        let mut t = tx;
        t.body.chain_id = ChainId::new("other").unwrap();
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
    }

    #[test]
    fn the_memo_is_signed_and_part_of_the_id() {
        let memo = Memo::new("staff:u-42").unwrap();
        let plain = body(1).sign(&key(1));
        let tx = body(1).with_memo(Some(memo.clone())).sign(&key(1));
        assert_eq!(tx.verify(), Ok(()));
        assert_ne!(tx.id(), plain.id());
        // The memo is the last field: absent is one `00` byte, present `01` ‖ string.
        let mut want = plain.body_bytes();
        assert_eq!(want.pop(), Some(0));
        want.push(1);
        want.extend_from_slice(&encode(&"staff:u-42".to_string()));
        assert_eq!(tx.body_bytes(), want);
        // Altering, adding or dropping a memo breaks the signature.
        for other in [Some(Memo::new("staff:u-43").unwrap()), None] {
            let mut t = tx.clone();
            t.body.memo = other;
            assert_eq!(t.verify(), Err(SignatureError::Invalid));
        }
        let mut t = plain;
        t.body.memo = Some(memo);
        assert_eq!(t.verify(), Err(SignatureError::Invalid));
    }

    #[test]
    fn a_malformed_memo_does_not_decode_and_json_may_omit_it() {
        use crate::encoding::decode;
        let tx = body(1)
            .with_memo(Some(Memo::new("ok").unwrap()))
            .sign(&key(1));
        let bytes = encode(&tx);
        assert_eq!(decode::<SignedTx>(&bytes).unwrap(), tx);
        // Replace the memo's text "ok" by "o\n" in the bytes.
        let at = bytes
            .windows(2)
            .position(|w| w == b"ok")
            .expect("memo text in the bytes");
        let mut bad = bytes.clone();
        bad[at + 1] = b'\n';
        let err = decode::<SignedTx>(&bad).unwrap_err().to_string();
        assert!(
            err.contains("invalid memo: control character U+000A"),
            "{err}"
        );
        // JSON: the memo round-trips; absent means None; a bad one is refused.
        let json = serde_json::to_value(&tx).unwrap();
        assert_eq!(json["body"]["memo"], "ok");
        assert_eq!(
            serde_json::from_value::<SignedTx>(json.clone()).unwrap(),
            tx
        );
        let mut none = serde_json::to_value(body(1).sign(&key(1))).unwrap();
        assert_eq!(none["body"]["memo"], serde_json::Value::Null);
        none["body"].as_object_mut().unwrap().remove("memo");
        assert_eq!(
            serde_json::from_value::<SignedTx>(none).unwrap().body.memo,
            None
        );
        let mut long = json;
        long["body"]["memo"] = "x".repeat(129).into();
        let err = serde_json::from_value::<SignedTx>(long)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 128 bytes"), "{err}");
    }

    #[test]
    fn read_signing_message_is_laid_out_as_documented() {
        let chain = ChainId::new("abc").unwrap();
        let msg = read_signing_message(&chain, 0x0102, "GET", "/v1/x?y=1");
        let mut want = b"couponcactus/read/v1".to_vec();
        want.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(b"abc");
        want.extend_from_slice(&[2, 1, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(b"GET /v1/x?y=1");
        assert_eq!(msg, want);
        let sig = sign_read(&key(1), &chain, 0x0102, "GET", "/v1/x?y=1");
        let vk = key(1).verifying_key();
        assert!(
            vk.verify_strict(&msg, &Signature::from_bytes(&sig.0))
                .is_ok()
        );
        let other = read_signing_message(&chain, 0x0102, "GET", "/v1/x?y=2");
        assert!(
            vk.verify_strict(&other, &Signature::from_bytes(&sig.0))
                .is_err()
        );
    }

    #[test]
    fn tx_id_ignores_signature_but_covers_body_and_signer() {
        let a = body(1).sign(&key(1));
        let mut b = a.clone();
        b.signature = SignatureBytes([0; 64]);
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), body(2).sign(&key(1)).id());
        assert_ne!(a.id(), body(1).sign(&key(2)).id());
    }

    #[test]
    fn batch_verification_finds_exactly_the_bad_signatures() {
        let mut txs: Vec<SignedTx> = (0..600)
            .map(|i| body(i).sign(&key((i % 5) as u8 + 1)))
            .collect();
        txs[7].signature.0[10] ^= 0x40;
        txs[300].body.nonce += 1_000_000;
        txs[599].signer = PublicKey([0xff; 32]); // not a curve point
        let prepared: Vec<_> = txs.iter().map(PreparedTx::new).collect();
        let verdicts = verify_signatures(&prepared);
        for (i, v) in verdicts.iter().enumerate() {
            match i {
                7 | 300 => assert_eq!(*v, Err(SignatureError::Invalid), "tx {i}"),
                599 => assert!(v.is_err(), "tx {i}"),
                _ => assert_eq!(*v, Ok(()), "tx {i}"),
            }
        }
    }

    /// The implementation before terms were aggregated: `ed25519_dalek::verify_batch` per
    /// chunk. `verify_signatures` must give the same verdicts.
    fn reference_verify_signatures(txs: &[PreparedTx<'_>]) -> Vec<Result<(), SignatureError>> {
        let mut verdicts = Vec::with_capacity(txs.len());
        for chunk in txs.chunks(SIGNATURE_BATCH) {
            let mut messages = Vec::new();
            let mut signatures = Vec::new();
            let mut verifying = Vec::new();
            let mut chunk_verdicts = Vec::new();
            for p in chunk {
                match VerifyingKey::from_bytes(&p.tx.signer.0) {
                    Ok(k) => {
                        messages.push(signing_message(&p.tx.body.chain_id, &p.body_bytes));
                        signatures.push(Signature::from_bytes(&p.tx.signature.0));
                        verifying.push(k);
                        chunk_verdicts.push(Ok(()));
                    }
                    Err(_) => chunk_verdicts.push(Err(SignatureError::BadKey)),
                }
            }
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            if ed25519_dalek::verify_batch(&refs, &signatures, &verifying).is_err() {
                for (j, v) in chunk_verdicts.iter_mut().filter(|v| v.is_ok()).enumerate() {
                    if verifying[j].verify_strict(refs[j], &signatures[j]).is_err() {
                        *v = Err(SignatureError::Invalid);
                    }
                }
            }
            verdicts.extend(chunk_verdicts);
        }
        verdicts
    }

    /// Whether one chunk passes `ed25519_dalek::verify_batch`.
    fn dalek_batch(txs: &[SignedTx]) -> bool {
        let prepared: Vec<_> = txs.iter().map(PreparedTx::new).collect();
        let messages: Vec<Vec<u8>> = prepared
            .iter()
            .map(|p| signing_message(&p.tx.body.chain_id, &p.body_bytes))
            .collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<Signature> = txs
            .iter()
            .map(|t| Signature::from_bytes(&t.signature.0))
            .collect();
        let keys: Vec<VerifyingKey> = txs
            .iter()
            .map(|t| VerifyingKey::from_bytes(&t.signer.0).unwrap())
            .collect();
        ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok()
    }

    /// Whether one chunk passes [`batch_equation_holds`].
    fn our_batch(txs: &[SignedTx]) -> bool {
        let prepared: Vec<_> = txs.iter().map(PreparedTx::new).collect();
        let mut index = std::collections::BTreeMap::new();
        let mut keys = Vec::new();
        let mut members = Vec::new();
        for (j, t) in txs.iter().enumerate() {
            let k = *index.entry(t.signer).or_insert_with(|| {
                keys.push(BatchKey::new(
                    VerifyingKey::from_bytes(&t.signer.0).unwrap(),
                ));
                keys.len() - 1
            });
            members.push((j, k));
        }
        batch_equation_holds(&prepared, &members, &mut keys)
    }

    fn scalar(seed: u64) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&Sha512::digest(seed.to_le_bytes()).into())
    }

    /// Signs `body` for the public point `a_pub` (which may carry a torsion component) with
    /// secret scalar `a`, nonce `r` and `r_torsion` added to the nonce point.
    fn raw_sign(
        a: &Scalar,
        a_pub: &EdwardsPoint,
        r: Scalar,
        r_torsion: Option<EdwardsPoint>,
        body: TxBody,
    ) -> SignedTx {
        let signer = PublicKey(a_pub.compress().to_bytes());
        let msg = signing_message(&body.chain_id, &encode(&body));
        let mut r_point = EdwardsPoint::mul_base(&r);
        if let Some(t) = r_torsion {
            r_point += t;
        }
        let r_bytes = r_point.compress().to_bytes();
        let h = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(signer.0)
                .chain_update(&msg)
                .finalize()
                .into(),
        );
        let s = r + h * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        SignedTx {
            body,
            signer,
            signature: SignatureBytes(signature),
        }
    }

    #[test]
    fn signing_message_hash_feeds_the_signed_bytes() {
        for chain in ["test", "a", "couponcactus-main.2026"] {
            let mut b = body(9);
            b.chain_id = ChainId::new(chain).unwrap();
            let bytes = encode(&b);
            let mut streamed = Sha512::new();
            hash_signing_message(&mut streamed, &b.chain_id, &bytes);
            assert_eq!(
                streamed.finalize(),
                Sha512::digest(signing_message(&b.chain_id, &bytes))
            );
        }
    }

    #[test]
    fn batch_equation_agrees_with_ed25519_dalek() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let honest: Vec<SigningKey> = (1..=3).map(key).collect();
        let a = scalar(1_000);
        let torsioned = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[4]; // order-2 component
        let torsioned8 = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1]; // order-8 component
        let mut outcomes = std::collections::BTreeSet::new();
        for trial in 0..24u64 {
            let n = 8 * trial;
            let mut txs: Vec<SignedTx> = Vec::new();
            // Honest keys signing many txs (aggregated) and one signing once.
            for i in 0..20 {
                txs.push(body(n + i).sign(&honest[(i % 2) as usize]));
            }
            txs.push(body(n + 100).sign(&honest[2]));
            // A key with a torsion component signing often (never aggregated).
            let tk = if trial % 2 == 0 {
                torsioned
            } else {
                torsioned8
            };
            for i in 0..(8 + trial % 3) {
                txs.push(raw_sign(
                    &a,
                    &tk,
                    scalar(n + 200 + i),
                    None,
                    body(n + 200 + i),
                ));
            }
            // A nonce point with a torsion component.
            if trial % 3 == 0 {
                let t = Some(EIGHT_TORSION[4]);
                txs.push(raw_sign(
                    &a,
                    &EdwardsPoint::mul_base(&a),
                    scalar(n),
                    t,
                    body(n + 300),
                ));
            }
            // Corruptions: a wrong signature, a non-canonical s, an undecodable R.
            match trial % 5 {
                1 => txs[3].signature.0[40] ^= 1,
                2 => {
                    let s =
                        Scalar::from_canonical_bytes(txs[5].signature.0[32..].try_into().unwrap())
                            .unwrap();
                    // s + ℓ still fits in 256 bits and is not canonical.
                    let mut wide = [0u8; 32];
                    // ℓ, little-endian.
                    let ell: [u8; 32] = [
                        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
                        0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                    ];
                    let mut carry = 0u16;
                    for (i, w) in wide.iter_mut().enumerate() {
                        let v = u16::from(s.as_bytes()[i]) + u16::from(ell[i]) + carry;
                        *w = v as u8;
                        carry = v >> 8;
                    }
                    txs[5].signature.0[32..].copy_from_slice(&wide);
                }
                3 => {
                    // y = 2 is not the y-coordinate of a curve point.
                    let mut r = [0u8; 32];
                    r[0] = 2;
                    txs[7].signature.0[..32].copy_from_slice(&r);
                }
                _ => {}
            }
            let ours = our_batch(&txs);
            assert_eq!(ours, dalek_batch(&txs), "trial {trial}");
            outcomes.insert(ours);
        }
        // The trials include chunks that pass despite torsion, and chunks that fail.
        assert_eq!(outcomes.len(), 2);
    }

    #[test]
    fn verify_signatures_matches_the_per_chunk_reference() {
        let keys: Vec<SigningKey> = (1..=4).map(key).collect();
        let mut txs: Vec<SignedTx> = (0..280)
            .map(|i| body(i).sign(&keys[if i % 50 == 0 { 3 } else { (i % 3) as usize }]))
            .collect();
        // The first chunk is clean; the second has a bad signature, a changed body, a key
        // that does not decode and a broken nonce point.
        txs[258].signature.0[60] ^= 0x01;
        txs[262].body.nonce += 7;
        txs[270].signer = PublicKey([0xff; 32]);
        txs[271].signature.0[0] ^= 0x80;
        let prepared: Vec<_> = txs.iter().map(PreparedTx::new).collect();
        let verdicts = verify_signatures(&prepared);
        assert_eq!(verdicts, reference_verify_signatures(&prepared));
        assert!(verdicts[..SIGNATURE_BATCH].iter().all(Result::is_ok));
        assert_eq!(verdicts.iter().filter(|v| v.is_err()).count(), 4);
    }

    #[test]
    fn weak_and_invalid_keys_are_not_acceptable() {
        assert!(is_acceptable_key(&PublicKey(
            key(9).verifying_key().to_bytes()
        )));
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!is_acceptable_key(&PublicKey(identity)));
        assert!(!is_acceptable_key(&PublicKey([0xff; 32])));
        let _ = MemberId([0; 32]);
    }
}
