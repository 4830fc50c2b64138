//! The coupon domain: key roles, orgs, nodes, pools, tokens, redemptions and chain
//! parameters, as they are stored in state and carried in transactions.
//!
//! Money is always an integer number of minor units (cents) of one ISO 4217 currency;
//! percentages are basis points (1/100 of a percent); times are milliseconds since the Unix
//! epoch as given by block time, never a local clock.

use crate::ids::{
    Category, Channel, ClaimKey, CodeHash, MemberId, OrgId, PoolId, PublicKey, StoreId, TokenId,
    TxId,
};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a registered key may do. Every key belongs to exactly one org.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// Manages the org's keys and pools and votes on consortium changes.
    OrgAdmin,
    /// Creates pools, issues code batches, allocates, revokes and transfers tokens.
    Issuer,
    /// A point-of-sale terminal: validates and redeems at its store and channel; rolls back
    /// redemptions made at its own store (a refund at another store goes through an org
    /// admin of the redeeming org).
    Terminal {
        /// The store the terminal stands in.
        store: StoreId,
        /// The channel it sells through.
        channel: Channel,
    },
    /// A consortium auditor: reads every org's txs and state, writes nothing. Granted only
    /// by a governance quorum ([`GovernanceChange::AddAuditor`]) or at genesis.
    Auditor,
    /// A partner brand's reader key: reads pools that list its org as partner.
    Partner,
    /// The org's fraud engine (the node's scorer): places holds pending an org admin's
    /// review, nothing else.
    Risk,
}

impl Role {
    /// The role's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::Issuer => "issuer",
            Role::Terminal { .. } => "terminal",
            Role::Auditor => "auditor",
            Role::Partner => "partner",
            Role::Risk => "risk",
        }
    }
}

/// A registered key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The org the key acts for.
    pub org: OrgId,
    /// What it may do.
    pub role: Role,
    /// Height of the block that registered it (0 = genesis).
    pub registered_at: u64,
    /// Height of the block that revoked it; a revoked key can never sign again.
    pub revoked_at: Option<u64>,
}

/// A consortium member org.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Human-readable name (display only).
    pub name: String,
    /// Number of unrevoked org-admin keys; the last one cannot be revoked, so an org can
    /// never lock itself out.
    pub active_admins: u32,
    /// Height at which the org joined (0 = genesis).
    pub joined_at: u64,
}

/// A member an org knows: one a coupon of the org's pools was allocated or transferred
/// to, or who had a balance in the org's loyalty program (issue 20). Written once, when the
/// org first meets the member, and never changed or deleted; an org holds only members it
/// knows.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Height of the block in which the org first knew the member.
    pub first_seen: u64,
}

/// A consensus node as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Raft id, unique and never reused.
    pub node_id: u64,
    /// The org that runs it.
    pub org: OrgId,
    /// The node's ed25519 key: signs checkpoints and is its libp2p identity.
    pub node_key: PublicKey,
    /// Where peers dial it (a libp2p multiaddr).
    pub p2p_addr: String,
    /// Voters count towards quorums and checkpoint certificates; learners only follow.
    pub voter: bool,
}

/// An ISO 4217 currency code, three uppercase ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Currency(pub [u8; 3]);

impl Currency {
    /// Whether the code is three uppercase ASCII letters.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(u8::is_ascii_uppercase)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({self})")
    }
}

/// Why a currency code could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid currency {0:?}: expected three uppercase letters such as EUR")]
pub struct CurrencyError(pub String);

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, CurrencyError> {
        let bytes: [u8; 3] = s
            .as_bytes()
            .try_into()
            .map_err(|_| CurrencyError(s.to_string()))?;
        let c = Currency(bytes);
        if c.is_valid() {
            Ok(c)
        } else {
            Err(CurrencyError(s.to_string()))
        }
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How much a coupon takes off.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Discount {
    /// A share of the eligible amount, in basis points (1 to 10,000).
    Percent {
        /// 1 bp = 0.01 %.
        bps: u32,
    },
    /// A fixed amount in minor units of the pool's currency.
    Fixed {
        /// Amount in minor units (> 0).
        amount_minor: u64,
    },
}

/// Whether each token has its own code, or one code is shared by many redemptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// One token per code; tokens are issued in batches and allocated to members.
    UniqueCodes,
    /// One public code (e.g. `SUMMER10`); redeemed by members up to the caps.
    SharedCode,
}

/// The rules of a campaign. Fixed once the pool leaves draft.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Display name (1 to 200 bytes).
    pub name: String,
    /// Unique codes or one shared code.
    pub kind: PoolKind,
    /// The currency of all amounts in this pool and of the orders it applies to.
    pub currency: Currency,
    /// What it takes off.
    pub discount: Discount,
    /// Upper bound of one discount, in minor units (`None`: no bound beyond the order).
    pub max_discount_minor: Option<u64>,
    /// Eligible order amount needed, in minor units (0: none).
    pub min_spend_minor: u64,
    /// First instant (block time, ms) a redemption is accepted.
    pub valid_from_ms: u64,
    /// First instant (block time, ms) redemptions are refused (exclusive end).
    pub valid_until_ms: u64,
    /// Unique codes: most tokens ever issued. Shared code: most redemptions in force.
    pub total_cap: u64,
    /// Most allocations (unique codes) or redemptions in force (shared code) per member.
    pub per_member_cap: u32,
    /// Channels where it may be redeemed (empty: all).
    pub allowed_channels: Vec<Channel>,
    /// Stores where it may be redeemed (empty: all).
    pub allowed_stores: Vec<StoreId>,
    /// Categories whose amounts are not eligible for the discount.
    pub excluded_categories: Vec<Category>,
    /// Coupons of one stacking group are not combined in one order (informational for
    /// terminals; the ledger records it).
    pub stacking_group: Option<String>,
    /// Partner orgs whose terminals may honour (redeem) this pool and whose partner keys
    /// may read it.
    pub partner_orgs: Vec<OrgId>,
    /// Whether tokens may be transferred between members.
    pub transferable: bool,
    /// Redemptions per member, terminal or store in rolling windows (empty: no limit).
    #[serde(default)]
    pub velocity: Vec<crate::risk::VelocityLimit>,
    /// A purpose the member must have consented to (their latest decision, recorded by
    /// the owner org, a grant) before a token is allocated or transferred to them
    /// (`None`: no consent needed).
    #[serde(default)]
    pub requires_consent: Option<crate::consent::Purpose>,
}

/// Pool lifecycle: draft → active → paused ⇄ active → archived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolStatus {
    /// Being set up: spec may change, codes may be issued; nothing is redeemable.
    Draft,
    /// Allocations and redemptions are accepted.
    Active,
    /// Temporarily stopped; codes may be issued; rollbacks still accepted.
    Paused,
    /// Ended for good; terminal.
    Archived,
}

impl PoolStatus {
    /// The status's stable name.
    pub fn name(self) -> &'static str {
        match self {
            PoolStatus::Draft => "draft",
            PoolStatus::Active => "active",
            PoolStatus::Paused => "paused",
            PoolStatus::Archived => "archived",
        }
    }
}

/// A status change requested of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolAction {
    /// draft → active.
    Activate,
    /// active → paused.
    Pause,
    /// paused → active.
    Resume,
    /// draft, active or paused → archived.
    Archive,
}

impl PoolAction {
    /// The status this action leads to from `from`, or `None` if the transition is illegal.
    pub fn apply(self, from: PoolStatus) -> Option<PoolStatus> {
        use PoolStatus::*;
        match (self, from) {
            (PoolAction::Activate, Draft) => Some(Active),
            (PoolAction::Pause, Active) => Some(Paused),
            (PoolAction::Resume, Paused) => Some(Active),
            (PoolAction::Archive, Draft | Active | Paused) => Some(Archived),
            _ => None,
        }
    }
}

/// A pool in state.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PoolRecord {
    /// The pool's id.
    pub id: PoolId,
    /// The org that created it; only its keys manage it.
    pub owner: OrgId,
    /// The campaign rules.
    pub spec: PoolSpec,
    /// Where it is in its lifecycle.
    pub status: PoolStatus,
    /// Height of the creating block.
    pub created_at: u64,
    /// Tokens issued so far (unique codes): serials `0..issued` exist.
    pub issued: u64,
    /// Tokens handed to members so far (unique codes).
    pub allocated: u64,
    /// Redemptions in force (redeemed and not rolled back).
    pub redeemed: u64,
    /// Allocation cursor: every serial below it was allocated, redeemed or revoked when the
    /// cursor passed it and is never allocated again (a printed code that was redeemed and
    /// rolled back goes back to `Available` but stays below the cursor: its paper copy
    /// is still out there).
    pub next_free: u64,
    /// The shared code (hash and sealed form), once issued (shared-code pools).
    pub shared_code: Option<IssuedCode>,
}

/// A code sealed with AES-256-GCM under the issuing org's data key: 12-byte nonce followed
/// by ciphertext and 16-byte tag. Only the issuing org can open it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SealedCode(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl fmt::Debug for SealedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCode({} bytes)", self.0.len())
    }
}

/// Serde helper: `Vec<u8>` as a hex string.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Deserializes bytes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
    }
}

/// One code of an issued batch: its hash (for lookup at redemption) and its sealed form
/// (for the issuing org).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct IssuedCode {
    /// [`crate::codes::code_hash`] of the plaintext code.
    pub code_hash: CodeHash,
    /// The code sealed under the org's data key.
    pub sealed: SealedCode,
}

/// Where a token is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TokenStatus {
    /// Issued, not yet handed to a member (a printed code may still be redeemed).
    Available,
    /// Handed to a member.
    Allocated,
    /// Redeemed by the redemption with this id (the redeem tx's id).
    Redeemed {
        /// The redeem tx's id.
        redemption: TxId,
    },
    /// Revoked by its org; can never be redeemed.
    Revoked,
}

/// A coupon token (unique-code pools).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hash of its code.
    pub code_hash: CodeHash,
    /// Its code, sealed for the issuing org.
    pub sealed: SealedCode,
    /// Life status.
    pub status: TokenStatus,
    /// The member holding it, once allocated.
    pub owner: Option<MemberId>,
    /// The claim key of its allocation.
    pub claim: Option<ClaimKey>,
}

/// What a code hash points at.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CodeIndexEntry {
    /// The pool the code belongs to.
    pub pool: PoolId,
    /// The token's serial (unique codes), or `None` for a pool's shared code.
    pub serial: Option<u64>,
}

/// The order a redemption applies to, as the terminal reports it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Order {
    /// Currency of every amount below; must be the pool's.
    pub currency: Currency,
    /// Basket total before any discount, minor units.
    pub total_minor: u64,
    /// Amounts per category (need not cover the whole basket); amounts of excluded
    /// categories are not eligible for the discount. Their sum must not exceed the total.
    pub lines: Vec<OrderLine>,
}

/// The amount of an order that falls in one category.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct OrderLine {
    /// The category.
    pub category: Category,
    /// Its amount, minor units.
    pub amount_minor: u64,
}

/// A redemption in state, keyed by the id of the redeem tx.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RedemptionRecord {
    /// The pool redeemed.
    pub pool: PoolId,
    /// The token redeemed (unique codes); `None` for a shared code.
    pub token: Option<TokenId>,
    /// The member, where known.
    pub member: Option<MemberId>,
    /// The org whose terminal redeemed (the owner or a partner).
    pub redeemer_org: OrgId,
    /// The terminal's store.
    pub store: StoreId,
    /// The terminal's channel.
    pub channel: Channel,
    /// Eligible amount the discount was computed on, minor units.
    pub eligible_minor: u64,
    /// The discount granted, minor units.
    pub discount_minor: u64,
    /// Block height of the redemption.
    pub height: u64,
    /// Block time of the redemption.
    pub time_ms: u64,
    /// Height of the rollback that undid it, if any (at most one).
    pub rolled_back_at: Option<u64>,
    /// The checkout it is part of (its tx id), if any: such a redemption is undone only
    /// with its whole checkout (a void of the checkout), never alone.
    pub checkout: Option<TxId>,
}

/// Who is in the consortium: the orgs and the consensus nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Consortium {
    /// Member orgs, ascending; governance quorums count them.
    pub orgs: Vec<OrgId>,
    /// Consensus nodes, ascending by id.
    pub nodes: Vec<NodeRecord>,
    /// Ids of removed nodes, ascending; never reused, so old signatures stay unambiguous.
    pub retired_node_ids: Vec<u64>,
}

impl Consortium {
    /// Approvals needed for a governance change: more than half of the orgs.
    pub fn quorum(&self) -> usize {
        self.orgs.len() / 2 + 1
    }

    /// The voting nodes (they sign checkpoints and make raft quorums).
    pub fn voters(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes.iter().filter(|n| n.voter)
    }

    /// Applies what an executed governance change does to the consortium: an org joins the
    /// orgs, a node joins the nodes, a removed node leaves them for the retired ids; other
    /// changes leave it as it is. The chaincode executes a change (after validating it)
    /// with this, and a verifier that follows membership changes through the history log's
    /// `governance_applied` events replays them with it, so both agree by construction.
    pub fn apply_change(&mut self, change: &GovernanceChange) {
        match change {
            GovernanceChange::AddOrg { org, .. } => {
                if let Err(at) = self.orgs.binary_search(org) {
                    self.orgs.insert(at, org.clone());
                }
            }
            GovernanceChange::AddNode { node } => {
                let at = self.nodes.partition_point(|n| n.node_id < node.node_id);
                self.nodes.insert(at, node.clone());
            }
            GovernanceChange::RemoveNode { node_id } => {
                self.nodes.retain(|n| n.node_id != *node_id);
                if let Err(at) = self.retired_node_ids.binary_search(node_id) {
                    self.retired_node_ids.insert(at, *node_id);
                }
            }
            GovernanceChange::UpdateParams { .. } | GovernanceChange::AddAuditor { .. } => {}
        }
    }
}

/// A consortium change waiting for a quorum of org admins.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposalRecord {
    /// The change.
    pub change: GovernanceChange,
    /// Orgs that approved, ascending, each once (the proposer's org first approves).
    pub approvals: Vec<OrgId>,
    /// Block time after which it can no longer be approved.
    pub expires_at_ms: u64,
    /// Height at which the quorum was reached and the change applied.
    pub executed_at: Option<u64>,
}

/// A change to the consortium itself; needs approvals from more than half of the orgs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum GovernanceChange {
    /// Admit a new org with its first admin key.
    AddOrg {
        /// The new org's id.
        org: OrgId,
        /// Display name.
        name: String,
        /// Its first org-admin key.
        admin_key: PublicKey,
    },
    /// Add a consensus node (the node software joins it as learner, then promotes it).
    AddNode {
        /// The node.
        node: NodeRecord,
    },
    /// Remove a consensus node.
    RemoveNode {
        /// Its raft id.
        node_id: u64,
    },
    /// Replace the chain parameters.
    UpdateParams {
        /// The new parameters.
        params: ChainParams,
    },
    /// Register a consortium auditor: a key that reads every org's txs and state. Only a
    /// governance quorum grants that right (an org admin alone cannot register an auditor).
    AddAuditor {
        /// The org the key belongs to (who answers for it; it may revoke it alone).
        org: OrgId,
        /// The auditor's key; must be new to the registry.
        key: PublicKey,
    },
}

/// Chain-wide parameters, fixed at genesis and changed only by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ChainParams {
    /// Most codes in one issue batch.
    pub max_batch_codes: u32,
    /// Longest allowed `valid_until_ms - block time` of a tx: bounds how long tx ids must be
    /// remembered for replay protection, so the node-local index of ids holds about this
    /// long of txs (an hour by default: at 2,000 tx/s, 7.2 million ids, ~0.4 GB on disk).
    pub max_tx_validity_ms: u64,
    /// How long a governance proposal stays open.
    pub proposal_ttl_ms: u64,
    /// Largest sealed code, bytes.
    pub max_sealed_code_bytes: u32,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            max_batch_codes: 5_000,
            max_tx_validity_ms: 60 * 60 * 1000,
            proposal_ttl_ms: 7 * 24 * 60 * 60 * 1000,
            max_sealed_code_bytes: 128,
        }
    }
}

/// Where and when a block is executed. Block time comes from the proposer and is strictly
/// increasing; it is the only clock the chaincode knows.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockContext {
    /// The chain being executed.
    pub chain_id: crate::ids::ChainId,
    /// Height of the block (genesis state is height 0; the first block is 1).
    pub height: u64,
    /// Block time, ms since the Unix epoch.
    pub time_ms: u64,
}
