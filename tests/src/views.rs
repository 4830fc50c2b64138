//! The API's JSON responses, as a client parses them (see `node/src/api/` and
//! `docs/api.md`). Chain types (headers, txs, results, proofs) are the chaincode's own, so
//! what the node sends is checked with the same verifiers an auditor runs.

use couponcactus_chaincode::block::{BlockHeader, BlockInclusionProof, Certificate};
use couponcactus_chaincode::commitment::ProvenValue;
use couponcactus_chaincode::execute::{Event, TxOutcome, TxResult};
use couponcactus_chaincode::history::HistoryLeaf;
use couponcactus_chaincode::ids::{ChainId, Hash32, MemberId, OrgId, TokenId, TxId};
use couponcactus_chaincode::tx::SignedTx;
use couponcactus_chaincode::types::{PoolRecord, TokenRecord};
use serde::Deserialize;

/// `{"error":{"code","message"}}`, and the `error` member of tx views.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// Stable snake_case code.
    pub code: String,
    /// For people.
    pub message: String,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Status {
    /// This node's Raft id.
    pub node_id: u64,
    /// `leader`, `follower`, …
    pub role: String,
    /// The leader's Raft id.
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
    /// Txs in the mempool.
    pub mempool: usize,
    /// The chain.
    pub chain_id: ChainId,
    /// Genesis hash.
    pub genesis_hash: Hash32,
    /// Raft voters, as this node's Raft configuration has them (consortium nodes).
    #[serde(default)]
    pub voters: Vec<u64>,
    /// Raft learners: nodes catching up before they vote.
    #[serde(default)]
    pub learners: Vec<u64>,
    /// Consortium members this node has a connection to.
    #[serde(default)]
    pub peers_connected: Vec<u64>,
    /// The first divergence this node saw (another node signed a different block hash at a
    /// height), `null` when none.
    #[serde(default)]
    pub divergence: Option<serde_json::Value>,
}

impl Status {
    /// What must survive a restart unchanged: height, block hash, state root, log size.
    pub fn chain_point(&self) -> (u64, Hash32, Hash32, u64) {
        (self.height, self.block_hash, self.state_root, self.log_size)
    }
}

/// A tx's status and result (`POST /v1/txs`, batch results, `GET /v1/txs/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TxView {
    /// The tx id.
    pub tx_id: TxId,
    /// `applied`, `rejected`, `pending` or `refused`.
    pub status: String,
    /// Height of its block.
    pub height: Option<u64>,
    /// Position in the block.
    pub index: Option<u32>,
    /// Position in the history log.
    pub log_index: Option<u64>,
    /// The chaincode's outcome.
    pub result: Option<TxOutcome>,
    /// Why it was rejected or refused.
    pub error: Option<ErrorBody>,
}

impl TxView {
    /// The events of an applied tx (panics otherwise, showing the view).
    pub fn events(&self) -> &[Event] {
        match &self.result {
            Some(TxOutcome::Applied { events }) => events,
            _ => panic!("tx {} was not applied: {self:#?}", self.tx_id),
        }
    }

    /// The rejection or refusal code, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }
}

/// `POST /v1/txs/batch`.
#[derive(Clone, Debug, Deserialize)]
pub struct BatchView {
    /// Txs in the batch.
    pub count: usize,
    /// Applied.
    pub applied: usize,
    /// Rejected in their block.
    pub rejected: usize,
    /// Not committed yet.
    pub pending: usize,
    /// Refused at admission.
    pub refused: usize,
    /// One per tx, in batch order.
    pub results: Vec<TxView>,
}

/// A history-log inclusion proof (`GET /v1/txs/{id}` → `log`).
#[derive(Clone, Debug, Deserialize)]
pub struct LogProof {
    /// The log entry.
    pub leaf: HistoryLeaf,
    /// Its position.
    pub log_index: u64,
    /// Size of the log the proof is against.
    pub log_size: u64,
    /// Root of that log.
    pub log_root: Hash32,
    /// Audit path.
    pub proof: Vec<Hash32>,
    /// Height of the header with that root.
    pub at_height: u64,
}

/// `GET /v1/txs/{id}`.
#[derive(Clone, Debug, Deserialize)]
pub struct TxDetail {
    /// Status and result.
    #[serde(flatten)]
    pub view: TxView,
    /// The signed tx.
    pub tx: Option<SignedTx>,
    /// Its block's header.
    pub header: Option<BlockHeader>,
    /// Proof under `header.tx_root`.
    pub tx_proof: Option<BlockInclusionProof>,
    /// Proof under `header.result_root`.
    pub result_proof: Option<BlockInclusionProof>,
    /// Proof under the latest header's log root.
    pub log: Option<LogProof>,
}

/// `GET /v1/blocks/{height}`.
#[derive(Clone, Debug, Deserialize)]
pub struct BlockView {
    /// Height.
    pub height: u64,
    /// Hash of the header.
    pub hash: Hash32,
    /// Header.
    pub header: BlockHeader,
    /// Signed txs.
    pub txs: Vec<SignedTx>,
    /// One result per tx.
    pub results: Vec<TxResult>,
}

/// `GET /v1/checkpoints/latest`.
#[derive(Clone, Debug, Deserialize)]
pub struct CheckpointView {
    /// Quorum signatures over the block hash.
    pub certificate: Certificate,
    /// The certified header.
    pub header: BlockHeader,
}

/// Where a proven read was made.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReadAt {
    /// Height read.
    pub height: u64,
    /// State root at that height.
    pub state_root: Hash32,
    /// Header at that height (none at genesis).
    pub header: Option<BlockHeader>,
}

/// `GET /v1/tokens/{pool}/{serial}`.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenView {
    /// The token id.
    pub token_id: TokenId,
    /// The token.
    pub token: TokenRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/pools/{id}`.
#[derive(Clone, Debug, Deserialize)]
pub struct PoolView {
    /// The pool.
    pub pool: PoolRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// Its state proof.
    pub proof: ProvenValue,
}

/// `GET /v1/log/consistency`.
#[derive(Clone, Debug, Deserialize)]
pub struct ConsistencyView {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// Root at the older size.
    pub from_root: Hash32,
    /// Root at the newer size.
    pub to_root: Hash32,
    /// The proof.
    pub proof: Vec<Hash32>,
}

/// One entry of `GET /v1/log/entries`.
#[derive(Clone, Debug, Deserialize)]
pub struct LogEntry {
    /// Position in the log.
    pub log_index: u64,
    /// The leaf.
    pub leaf: HistoryLeaf,
    /// The signed tx.
    pub tx: SignedTx,
}

/// `GET /v1/log/entries`.
#[derive(Clone, Debug, Deserialize)]
pub struct LogEntriesView {
    /// First index returned.
    pub from: u64,
    /// End (exclusive).
    pub to: u64,
    /// The log's size.
    pub log_size: u64,
    /// Entries.
    pub entries: Vec<LogEntry>,
    /// Next page start.
    pub next: Option<u64>,
}

/// One token of `GET /v1/members/{member}/wallet`.
#[derive(Clone, Debug, Deserialize)]
pub struct WalletToken {
    /// Its id.
    pub token_id: TokenId,
    /// The token.
    pub token: TokenRecord,
}

/// `GET /v1/members/{member}/wallet`.
#[derive(Clone, Debug, Deserialize)]
pub struct WalletView {
    /// The member.
    pub member: MemberId,
    /// Height read at.
    pub height: u64,
    /// Tokens the member holds.
    pub tokens: Vec<WalletToken>,
}

/// `GET /v1/orgs/{org}/pools`.
#[derive(Clone, Debug, Deserialize)]
pub struct OrgPoolsView {
    /// The org.
    pub org: OrgId,
    /// Its pools the key may read.
    pub pools: Vec<PoolRecord>,
}
