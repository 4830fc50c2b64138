//! The node's JSON answers, as the client parses them: one type per response of the HTTP
//! API (`docs/api.md`, `/openapi.json`), mirroring the views in the node's `api` module
//! field for field without depending on the node crate. Chain types (headers, signed txs,
//! results, proofs, records) are the chaincode's own, so what a node sends is checked with
//! the very verifiers an auditor runs ([`crate::verify`]).
//!
//! Every type also serializes back to the same JSON, which is what `cactus --json` prints.

use couponcactus_chaincode::block::{BlockHeader, BlockInclusionProof, Certificate, WithheldTx};
use couponcactus_chaincode::commitment::ProvenValue;
use couponcactus_chaincode::execute::{Event, TxOutcome, TxResult};
use couponcactus_chaincode::history::HistoryLeaf;
use couponcactus_chaincode::ids::{
    ChainId, CodeHash, Hash32, MemberId, OrgId, PublicKey, StoreId, TokenId, TxId,
};
use couponcactus_chaincode::loyalty::{Account, Liability, ProgramRecord, Segment, Settlement};
use couponcactus_chaincode::reject::Rejection;
use couponcactus_chaincode::risk::{HoldReason, HoldRecord, HoldStatus, HoldTarget};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{
    CodeIndexEntry, Consortium, KeyRecord, PoolRecord, RedemptionRecord, TokenRecord, TokenStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `error` member of every error answer (`{"error":{"code","message"}}`) and of tx
/// views that were rejected or refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable snake_case code: a chaincode rejection code (`already_redeemed`, …) or one of
    /// the API's own (`unknown_key`, `not_found`, `malformed`, …).
    pub code: String,
    /// What exactly went wrong, for people.
    pub message: String,
}

/// Every error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The 404 of a keyed read (`GET /v1/pools/{id}`, `/v1/tokens/{pool}/{serial}`,
/// `/v1/codes/{code_hash}/token`, `/v1/keys/{key}`, and the redemption reads): the error,
/// and the proof that the key read holds no value at `at.height` (`proof.value` is null).
/// [`crate::NodeClient`] checks it and answers [`crate::NodeClientError::Absent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFoundView {
    /// `code` is `not_found`.
    pub error: ErrorBody,
    /// Where it was read.
    pub at: ReadAt,
    /// The key's proof, value null.
    pub proof: ProvenValue,
}

/// A divergence a node saw: another node signed a different block hash at a height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// The height.
    pub height: u64,
    /// The node whose vote disagrees.
    pub node_id: u64,
    /// The reporting node's block hash at that height.
    pub ours: Hash32,
    /// The hash the other node signed.
    pub theirs: Hash32,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This node's Raft id.
    pub node_id: u64,
    /// `leader`, `follower`, `candidate` or `pre_candidate`.
    pub role: String,
    /// The leader's Raft id (0 when none is known).
    pub leader_id: u64,
    /// Raft term.
    pub term: u64,
    /// Height of the last applied block.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash32,
    /// State root after it.
    pub state_root: Hash32,
    /// History-log size after it.
    pub log_size: u64,
    /// Highest certified height.
    pub certified_height: u64,
    /// Txs waiting in the mempool.
    pub mempool: usize,
    /// The chain.
    pub chain_id: ChainId,
    /// The genesis hash.
    pub genesis_hash: Hash32,
    /// Raft voters as this node's configuration has them.
    #[serde(default)]
    pub voters: Vec<u64>,
    /// Raft learners (catching up before they vote).
    #[serde(default)]
    pub learners: Vec<u64>,
    /// Consortium members this node is connected to.
    #[serde(default)]
    pub peers_connected: Vec<u64>,
    /// The first divergence this node saw, if any.
    #[serde(default)]
    pub divergence: Option<Divergence>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The node's height.
    pub height: u64,
}

/// Where a submitted tx stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// In a block, applied.
    Applied,
    /// In a block, rejected by the chaincode (the reason is in `error`).
    Rejected,
    /// Admitted, not committed yet (or not within the wait).
    Pending,
    /// Refused at admission, never queued (batches only; the reason is in `error`).
    Refused,
}

impl TxStatus {
    /// The status's stable name.
    pub fn name(self) -> &'static str {
        match self {
            TxStatus::Applied => "applied",
            TxStatus::Rejected => "rejected",
            TxStatus::Pending => "pending",
            TxStatus::Refused => "refused",
        }
    }
}

/// A tx's status and result: `POST /v1/txs`, each result of a batch, and the first part
/// of `GET /v1/txs/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    /// The tx id.
    pub tx_id: TxId,
    /// Where it stands.
    pub status: TxStatus,
    /// Height of its block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Position in the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Position in the history log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// The chaincode's outcome (committed txs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TxOutcome>,
    /// Why it was rejected or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl TxView {
    /// The events of an applied tx.
    pub fn events(&self) -> Option<&[Event]> {
        self.result.as_ref().and_then(TxOutcome::events)
    }

    /// The chaincode's rejection of a committed, rejected tx.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.result.as_ref().and_then(TxOutcome::rejection)
    }

    /// The rejection or refusal code, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }
}

/// `POST /v1/txs/batch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchView {
    /// Txs in the batch.
    pub count: usize,
    /// How many were applied.
    pub applied: usize,
    /// How many were rejected in their block.
    pub rejected: usize,
    /// How many are admitted but not committed (yet).
    pub pending: usize,
    /// How many were refused at admission.
    pub refused: usize,
    /// One result per tx, in batch order.
    pub results: Vec<TxView>,
}

/// `POST /v1/validate`: the dry run of a signed tx in the next block's context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateView {
    /// The tx id.
    pub tx_id: TxId,
    /// `valid` or `rejected`.
    pub status: String,
    /// Height of the block context it was checked in.
    pub height: u64,
    /// Block time it was checked at (ms).
    pub time_ms: u64,
    /// What it would do (a redemption: the `redeemed` event with the discount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    /// Why it would be rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl ValidateView {
    /// Whether every check passed.
    pub fn is_valid(&self) -> bool {
        self.status == "valid" && self.error.is_none()
    }
}

/// One ledger event with the proof of the history-log entry it comes from
/// (`GET /v1/events/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProof {
    /// The event.
    pub event: couponcactus_chaincode::events::LedgerEvent,
    /// Its history-log entry and that entry's inclusion proof.
    pub proof: LogProof,
}

/// A history-log inclusion proof of one tx result under a header's log root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogProof {
    /// The log entry `{tx_id, height, index, outcome}`.
    pub leaf: HistoryLeaf,
    /// Its position in the log.
    pub log_index: u64,
    /// Size of the log the proof is against (the header's `log_size`).
    pub log_size: u64,
    /// Root of that log (the header's `log_root`).
    pub log_root: Hash32,
    /// RFC 9162 audit path, leaf side first.
    pub proof: Vec<Hash32>,
    /// Height of the header whose log root the proof is against.
    pub at_height: u64,
}

/// `GET /v1/txs/{id}`: a tx with its result and proofs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxDetail {
    /// Status and result.
    #[serde(flatten)]
    pub view: TxView,
    /// The signed tx (committed txs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<SignedTx>,
    /// The header of its block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<BlockHeader>,
    /// Proof of the tx under `header.tx_root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_proof: Option<BlockInclusionProof>,
    /// Proof of the result under `header.result_root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_proof: Option<BlockInclusionProof>,
    /// Proof of the history-log entry under the latest header's log root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogProof>,
}

/// `GET /v1/blocks/{height}` and `/v1/blocks/latest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// Its height.
    pub height: u64,
    /// Its hash (`BlockHeader::hash`).
    pub hash: Hash32,
    /// The header.
    pub header: BlockHeader,
    /// The signed txs the reader may see, in block order.
    pub txs: Vec<SignedTx>,
    /// One result per tx shown.
    pub results: Vec<TxResult>,
    /// The block's own checkpoint certificate, once certified (nodes that serve it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The txs the reader may not see, as leaf hashes (empty for an auditor); with the
    /// shown ones they hash to the header's roots ([`verify_redacted_body`]).
    ///
    /// [`verify_redacted_body`]: couponcactus_chaincode::block::verify_redacted_body
    #[serde(default)]
    pub withheld: Vec<WithheldTx>,
}

/// `GET /v1/blocks?from=H&limit=N` as JSON: consecutive blocks with results and
/// certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRangeView {
    /// First height returned.
    pub from: u64,
    /// The node's latest height when the range was read.
    pub tip: u64,
    /// Blocks `from..from + blocks.len()`.
    pub blocks: Vec<BlockView>,
}

/// `GET /v1/consortium?height=H`: orgs and nodes at a height, with a state proof under that
/// height's state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsortiumView {
    /// The height read.
    pub height: u64,
    /// The state root at that height.
    pub state_root: Hash32,
    /// The header at that height (none at genesis).
    #[serde(default)]
    pub header: Option<BlockHeader>,
    /// Orgs and nodes (voters sign certificates).
    pub consortium: Consortium,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/checkpoints/latest`: the highest certified block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// Signatures of a quorum of voters over the block hash.
    pub certificate: Certificate,
    /// The certified block's header.
    pub header: BlockHeader,
}

/// Where a proven read was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadAt {
    /// The height read.
    pub height: u64,
    /// The state root at that height.
    pub state_root: Hash32,
    /// The header at that height (none at genesis).
    #[serde(default)]
    pub header: Option<BlockHeader>,
}

/// `GET /v1/pools/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    /// The pool.
    pub pool: PoolRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/orgs/{org}/pools`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPoolsView {
    /// The org.
    pub org: OrgId,
    /// Its pools the key may read (current state, no proofs).
    pub pools: Vec<PoolRecord>,
}

/// `GET /v1/orgs/{org}/stores/{store}/redemptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRedemptionsView {
    /// The org whose terminals redeemed.
    pub org: OrgId,
    /// The store.
    pub store: StoreId,
    /// Redemptions, oldest first: the redeem tx id and the current record.
    pub redemptions: Vec<(TxId, RedemptionRecord)>,
}

/// `GET /v1/tokens/{pool}/{serial}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    /// The token's id.
    pub token_id: TokenId,
    /// The token.
    pub token: TokenRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/codes/{code_hash}/token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeView {
    /// The code hash.
    pub code_hash: CodeHash,
    /// The pool and serial it points at (no serial: a pool's shared code).
    pub entry: CodeIndexEntry,
    /// Proof of the code-index entry.
    pub code_proof: ProvenValue,
    /// The token (unique codes), with its own proof at the same height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenView>,
    /// Where it was read.
    pub at: ReadAt,
}

/// One token of a wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletToken {
    /// Its id.
    pub token_id: TokenId,
    /// The token at the wallet's height.
    pub token: TokenRecord,
    /// Its state proof under the wallet's `at.state_root` (nodes before issue 13 sent none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProvenValue>,
}

/// A pool of a wallet's tokens, with its state proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPool {
    /// The pool at the wallet's height.
    pub pool: PoolRecord,
    /// Its state proof under the wallet's `at.state_root`.
    pub proof: ProvenValue,
}

/// `GET /v1/members/{member}/wallet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    /// The member.
    pub member: MemberId,
    /// The height it was read at.
    pub height: u64,
    /// Where it was read: the proofs verify against `at.state_root` (nodes before issue 13
    /// sent no proofs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<ReadAt>,
    /// Tokens the member owns, in pools the key may read.
    pub tokens: Vec<WalletToken>,
    /// The pools of those tokens (name, discount, validity), proven.
    #[serde(default)]
    pub pools: Vec<WalletPool>,
}

impl WalletView {
    /// The pool of a token of this wallet, if the node sent it.
    pub fn pool(&self, token: &TokenId) -> Option<&PoolRecord> {
        self.pools
            .iter()
            .map(|p| &p.pool)
            .find(|p| p.id == token.pool)
    }
}

/// `GET /v1/programs/{org}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramView {
    /// The program.
    pub program: ProgramRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/programs/{org}/members/{member}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// The program's org.
    pub program: OrgId,
    /// The member.
    pub member: MemberId,
    /// Everything held per segment (pending included), as the node computed it.
    pub balances: BTreeMap<Segment, u64>,
    /// Spendable at the block time of the height read, as the node computed it.
    pub spendable: BTreeMap<Segment, u64>,
    /// The tier held.
    pub tier: Option<String>,
    /// The account (`None`: the member has none).
    pub account: Option<Account>,
    /// Where it was read.
    pub at: ReadAt,
    /// The account key's proof (no value when there is no account).
    pub proof: ProvenValue,
}

/// `GET /v1/programs/{org}/liability`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiabilityView {
    /// The program's org.
    pub program: OrgId,
    /// Outstanding per segment.
    pub liability: Liability,
    /// Where it was read.
    pub at: ReadAt,
    /// The liability key's proof (no value: nothing owed).
    pub proof: ProvenValue,
}

/// `GET /v1/programs/{org}/settlements/{partner}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementView {
    /// The program's org.
    pub program: OrgId,
    /// The partner org.
    pub partner: OrgId,
    /// Credited by the partner and spent at it, per segment.
    pub settlement: Settlement,
    /// Credited minus spent per segment (positive: the partner owes the program).
    pub net: BTreeMap<Segment, i128>,
    /// Where it was read.
    pub at: ReadAt,
    /// The settlement key's proof (no value: nothing owed either way).
    pub proof: ProvenValue,
}

/// One hold of `GET /v1/holds`: the target and its record's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldEntry {
    /// What it stops.
    pub target: HoldTarget,
    /// Why.
    pub reason: HoldReason,
    /// What the reviewer reads.
    pub note: String,
    /// Pending review or confirmed.
    pub status: HoldStatus,
    /// The key that placed it.
    pub placed_by: PublicKey,
    /// The placing tx.
    pub placed_tx: TxId,
    /// Block time it was placed, ms.
    pub placed_ms: u64,
    /// The org admin who confirmed it on review.
    pub confirmed_by: Option<PublicKey>,
}

impl HoldEntry {
    /// The state record these fields are (what a proven read of the target shows).
    pub fn record(&self) -> HoldRecord {
        HoldRecord {
            reason: self.reason,
            note: self.note.clone(),
            placed_by: self.placed_by,
            placed_tx: self.placed_tx,
            placed_ms: self.placed_ms,
            status: self.status,
            confirmed_by: self.confirmed_by,
        }
    }
}

/// `GET /v1/holds`: an org's holds in force at a height (unproven; each is provable with
/// `GET /v1/holds/{kind}/{id}?height=`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldsView {
    /// The org.
    pub org: OrgId,
    /// The height read.
    pub height: u64,
    /// That block's time, ms.
    pub time_ms: u64,
    /// The holds, in state-key order.
    pub holds: Vec<HoldEntry>,
    /// More holds are in force than the node lists.
    pub truncated: bool,
}

/// `GET /v1/holds/{kind}/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    /// The org.
    pub org: OrgId,
    /// The target asked for.
    pub target: HoldTarget,
    /// The hold in force (`None`: the org does not hold the target).
    pub hold: Option<HoldRecord>,
    /// Where it was read.
    pub at: ReadAt,
    /// The hold key's proof (no value: no hold).
    pub proof: ProvenValue,
}

/// One tx of a token's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Height of its block.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Position in the history log.
    pub log_index: u64,
    /// The signed tx.
    pub tx: SignedTx,
    /// Its result.
    pub result: TxOutcome,
    /// Proof of its log entry under the latest header's log root.
    pub log: LogProof,
}

/// `GET /v1/tokens/{pool}/{serial}/history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHistoryView {
    /// The token.
    pub token_id: TokenId,
    /// The header the log proofs are against (the latest block).
    #[serde(default)]
    pub header: Option<BlockHeader>,
    /// Every tx that touched the token, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// `GET /v1/log/consistency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyView {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// Root at the older size.
    pub from_root: Hash32,
    /// Root at the newer size.
    pub to_root: Hash32,
    /// RFC 9162 consistency proof.
    pub proof: Vec<Hash32>,
}

/// One entry of `GET /v1/log/entries` the reader may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log.
    pub log_index: u64,
    /// The log leaf.
    pub leaf: HistoryLeaf,
    /// The signed tx.
    pub tx: SignedTx,
}

/// An entry of `GET /v1/log/entries` the reader may not see: its leaf hash only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithheldEntry {
    /// Position in the log.
    pub log_index: u64,
    /// `H(0x00 ‖ encode(leaf))`, as the log's root commits to it.
    pub leaf_hash: Hash32,
}

/// A page's entries in log order: shown ones with their tx, withheld ones as leaf hashes.
#[derive(Clone, Copy, Debug)]
pub enum PageEntry<'a> {
    /// An entry the reader may see.
    Shown(&'a LogEntry),
    /// An entry the reader may not see.
    Withheld(&'a WithheldEntry),
}

impl PageEntry<'_> {
    /// Its position in the log.
    pub fn log_index(&self) -> u64 {
        match self {
            PageEntry::Shown(e) => e.log_index,
            PageEntry::Withheld(w) => w.log_index,
        }
    }

    /// Its leaf hash (computed for a shown entry).
    pub fn leaf_hash(&self) -> Hash32 {
        match self {
            PageEntry::Shown(e) => e.leaf.hash(),
            PageEntry::Withheld(w) => w.leaf_hash,
        }
    }
}

/// `GET /v1/log/entries`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntriesView {
    /// First index returned.
    pub from: u64,
    /// End of the range returned (exclusive).
    pub to: u64,
    /// The log's current size.
    pub log_size: u64,
    /// The entries of `from..to` the reader may see.
    pub entries: Vec<LogEntry>,
    /// The entries of `from..to` the reader may not see (older nodes send none).
    #[serde(default)]
    pub withheld: Vec<WithheldEntry>,
    /// Where the next page starts, if the range asked for went further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

impl LogEntriesView {
    /// Every entry of the page in log order, shown and withheld ones merged.
    pub fn in_order(&self) -> Vec<PageEntry<'_>> {
        let mut all: Vec<PageEntry<'_>> = self
            .entries
            .iter()
            .map(PageEntry::Shown)
            .chain(self.withheld.iter().map(PageEntry::Withheld))
            .collect();
        all.sort_by_key(PageEntry::log_index);
        all
    }
}

/// `GET /v1/txs/prefix/{prefix}` and `GET /v1/keys/prefix/{prefix}`: the one full id a hex
/// prefix names (several: 409 `ambiguous_id`; none: 404 `not_found`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMatch {
    /// The prefix asked for (lowercase).
    pub prefix: String,
    /// The full id (64 hex digits).
    pub id: String,
}

/// `GET /v1/keys/{key}`: a key's registration with its state proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// The public key.
    pub key: PublicKey,
    /// Its org, role (a terminal's store and channel), registration and revocation heights.
    pub record: KeyRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// A redemption: the redeem tx's id and its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionEntry {
    /// The redemption id (the redeem tx's id).
    pub id: TxId,
    /// The record.
    pub record: RedemptionRecord,
}

/// `GET /v1/tokens/{pool}/{serial}/redemption` and `GET /v1/codes/{code_hash}/redemption`:
/// a token's status and its redemption in force, both proven at the latest height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRedemptionView {
    /// The token.
    pub token_id: TokenId,
    /// Its status in the latest state.
    pub status: TokenStatus,
    /// The redemption in force, if the token is redeemed.
    #[serde(default)]
    pub redemption: Option<RedemptionEntry>,
    /// The height read.
    pub height: u64,
    /// Where it was read: the proofs verify against `at.state_root`.
    pub at: ReadAt,
    /// The token record's proof.
    pub token_proof: ProvenValue,
    /// The redemption record's proof, when redeemed.
    #[serde(default)]
    pub redemption_proof: Option<ProvenValue>,
}

impl TokenRedemptionView {
    /// Checks that what is shown is what is proven: the token's status is its proven
    /// record's, the redemption in force is the proven redemption record that status names,
    /// and both proofs verify under `at.state_root` at the height read.
    pub fn check_proofs(&self) -> Result<(), String> {
        let proven_at = |p: &ProvenValue, what: &str| {
            if p.version != self.at.height || self.height != self.at.height {
                return Err(format!("the {what} proof is not at the height read"));
            }
            p.verify(&self.at.state_root)
                .map_err(|e| format!("the {what} proof does not verify: {e}"))
        };
        let p = &self.token_proof;
        proven_at(p, "token")?;
        let Some(StateValue::Token(token)) = &p.value else {
            return Err("the token proof proves no token".into());
        };
        if p.key != StateKey::Token(self.token_id.clone()) || token.status != self.status {
            return Err("the token shown is not the token proven".into());
        }
        match (&self.status, &self.redemption, &self.redemption_proof) {
            (TokenStatus::Redeemed { redemption }, Some(entry), Some(p)) => {
                proven_at(p, "redemption")?;
                let proven = match &p.value {
                    Some(StateValue::Redemption(r)) => r,
                    _ => return Err("the redemption proof proves no redemption".into()),
                };
                if *redemption != entry.id
                    || p.key != StateKey::Redemption(entry.id)
                    || *proven != entry.record
                {
                    return Err("the redemption shown is not the one proven".into());
                }
                Ok(())
            }
            (TokenStatus::Redeemed { .. }, _, _) => {
                Err("a redeemed token without its proven redemption".into())
            }
            (_, None, None) => Ok(()),
            _ => Err("a redemption shown for a token that is not redeemed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::commitment::{MemTreeStore, prove};
    use couponcactus_chaincode::ids::{Channel, CodeHash, OrgId, PoolId, StoreId};
    use couponcactus_chaincode::state::WriteSet;
    use couponcactus_chaincode::types::SealedCode;

    /// A redeemed token and its redemption in force, proven from a one-block tree.
    fn redeemed() -> TokenRedemptionView {
        let token_id = TokenId {
            pool: PoolId("spring".into()),
            serial: 3,
        };
        let redemption = TxId([7; 32]);
        let status = TokenStatus::Redeemed { redemption };
        let token = TokenRecord {
            code_hash: CodeHash([1; 32]),
            sealed: SealedCode(vec![2; 40]),
            status: status.clone(),
            owner: None,
            claim: None,
        };
        let record = RedemptionRecord {
            pool: token_id.pool.clone(),
            token: Some(token_id.clone()),
            member: None,
            redeemer_org: OrgId("acme".into()),
            store: StoreId("berlin-1".into()),
            channel: Channel("pos".into()),
            eligible_minor: 8_000,
            discount_minor: 800,
            height: 1,
            time_ms: 1,
            rolled_back_at: None,
            checkout: None,
        };
        let (tk, rk) = (
            StateKey::Token(token_id.clone()),
            StateKey::Redemption(redemption),
        );
        let mut writes = WriteSet::default();
        writes.0.insert(tk.clone(), Some(StateValue::Token(token)));
        writes
            .0
            .insert(rk.clone(), Some(StateValue::Redemption(record.clone())));
        let tree = MemTreeStore::new();
        tree.commit(0, &WriteSet::default()).unwrap();
        let root = tree.commit(1, &writes).unwrap();
        TokenRedemptionView {
            token_id,
            status,
            redemption: Some(RedemptionEntry {
                id: redemption,
                record,
            }),
            height: 1,
            at: ReadAt {
                height: 1,
                state_root: root,
                header: None,
            },
            token_proof: prove(&tree, &tk, 1).unwrap(),
            redemption_proof: Some(prove(&tree, &rk, 1).unwrap()),
        }
    }

    #[test]
    fn a_redemption_in_force_is_what_its_proofs_say() {
        let view = redeemed();
        assert_eq!(view.check_proofs(), Ok(()));
        // Another amount shown than proven; no proof of the redemption; a status that is
        // not the proven one; another root; a proof at another height.
        let mut shown = view.clone();
        shown.redemption.as_mut().unwrap().record.discount_minor = 8_000;
        assert!(shown.check_proofs().is_err());
        let mut unproven = view.clone();
        unproven.redemption_proof = None;
        assert!(unproven.check_proofs().is_err());
        let mut status = view.clone();
        status.status = TokenStatus::Available;
        assert!(status.check_proofs().is_err());
        let mut root = view.clone();
        root.at.state_root.0[0] ^= 1;
        assert!(root.check_proofs().is_err());
        let mut height = view.clone();
        height.height = 2;
        assert!(height.check_proofs().is_err());
    }
}
