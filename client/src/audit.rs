//! Offline audit: verify a Couponcactus chain from a trusted genesis file and signatures,
//! without trusting the node that serves it.
//!
//! [`Auditor`] downloads every block, with its results and certificate, from a
//! [`ChainSource`] (a node over HTTP: [`HttpSource`]) and, starting from the genesis the
//! auditor supplies, checks for each height in order: the header hash chain (height,
//! chain id, `prev_hash` link to the previous block's hash), re-executes the block with the
//! chaincode ([`Replayer::replay`]: state in memory, the state root from the in-memory
//! state tree; it checks every tx signature with one batch equation
//! and recomputes and compares every header field: tx and result roots, state root, history
//! log root and size), compares the node's stored results with the re-executed ones, and
//! checks the block's certificate against the voter set of its height — the consortium in
//! the state after that block, as replayed. It also checks that the node's latest certified
//! checkpoint and its status are the replayed blocks, and, given a [`Pin`] saved by an
//! earlier audit, that the pinned block is still the chain's block at its height and that
//! the history log today extends the pinned log (an RFC 9162 consistency proof from the
//! node, checked with the chaincode verifier). The first thing wrong ends the audit with a
//! [`Failure`] naming the height, what differs, what was expected and what was found.
//!
//! Certificates: nodes store one per height, so a block at or below the latest certified
//! height without a certificate of its own is reported as a warning (it is still vouched
//! for by the next certified block through the hash chain); a certificate that does not
//! verify is a failure. Blocks above the latest certified height are verified but not yet
//! certified. A tx whose signature does not verify is rejected by the chaincode as
//! `bad_signature` (so re-execution accounts for it); an honest node never admits one, so
//! the audit warns about each.
//!
//! An audit is resumable: [`AuditReport::checkpoint`] is the auditor's replayed state after
//! the last verified block ([`AuditCheckpoint`]: the tip with its history-log frontier and
//! every state entry); [`Auditor::resume`] continues from it after checking that its block
//! is still the chain's, rebuilding the state tree from the entries and checking the state
//! root.
//!
//! Single proofs for third parties: [`prove_token`] and [`prove_tx`] fetch a proof from a
//! node and package it with the block header it verifies against, the headers linking that
//! block to a certified one, the certificate and the consortium proven under the certified
//! state root, as a self-contained [`ProofBundle`]; [`check_bundle`] verifies one offline,
//! anchoring the certificate's voter set to a trusted genesis.

use couponcactus_chaincode::block::{
    BlockHeader, BlockInclusionProof, Certificate, WithheldTx, verify_block_inclusion,
};
use couponcactus_chaincode::commitment::ProvenValue;
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::execute::{TxOutcome, TxResult};
use couponcactus_chaincode::history::{HistoryLeaf, verify_consistency, verify_inclusion};
use couponcactus_chaincode::ids::{ChainId, Hash32, PublicKey, TokenId, TxId};
use couponcactus_chaincode::initial::InitialState;
use couponcactus_chaincode::ledger::{Block, ChainTip, LedgerError, Replayer};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::state::{MemState, StateKey, StateValue};
use couponcactus_chaincode::tx::{SignedTx, sign_read};
use couponcactus_chaincode::types::Consortium;
use couponcactus_genesis::Genesis;
use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Blocks asked for per range request (the node's maximum).
pub const DEFAULT_RANGE: u64 = 1_000;
/// First line of an audit checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8] = b"couponcactus-audit-checkpoint/v1\n";
/// `format` of a [`ProofBundle`].
pub const PROOF_BUNDLE_FORMAT: &str = "couponcactus/proof-bundle/v1";
/// Most headers a [`ProofBundle`] links from its block to a certified one.
pub const MAX_LINKS: u64 = 1_000;

/// Why an audit or a proof could not be carried out, or a proof bundle does not verify.
/// (A chain that is wrong is not an error: it is a [`Verdict::Failed`].)
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The node could not be reached or did not answer.
    #[error("{url}: {why}")]
    Http {
        /// The request.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The node answered with an error.
    #[error("{url}: the node answered {status} {code}: {message}")]
    Node {
        /// The request.
        url: String,
        /// HTTP status.
        status: u16,
        /// The API error code.
        code: String,
        /// The API error message.
        message: String,
    },
    /// Something received or read does not have the expected form.
    #[error("{what}: {why}")]
    Malformed {
        /// What was being read.
        what: String,
        /// What is wrong.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The input cannot be used for this audit (another chain, a chain shorter than the
    /// checkpoint, nothing certified yet, …).
    #[error("{0}")]
    Unusable(String),
    /// The node withheld txs of a block from this reader: a full audit replays every tx,
    /// so it needs a key that reads everything.
    #[error(
        "the node withheld {count} of the {total} txs of block {height} from this reader: a \
         full audit re-executes every tx, so sign it with a consortium auditor's key \
         (registered by a governance quorum) or a consortium node's key"
    )]
    Withheld {
        /// The block.
        height: u64,
        /// Txs withheld.
        count: usize,
        /// Txs in the block.
        total: u64,
    },
    /// Re-executing failed for a reason other than a mismatch (the auditor's own state).
    #[error("replaying block {height}: {why}")]
    Replay {
        /// The block.
        height: u64,
        /// The error.
        why: String,
    },
    /// A proof bundle does not verify.
    #[error("the proof does not verify: {0}")]
    InvalidProof(String),
}

fn malformed(what: impl Into<String>, why: impl ToString) -> AuditError {
    AuditError::Malformed {
        what: what.into(),
        why: why.to_string(),
    }
}

fn file_error(path: &Path, why: impl ToString) -> AuditError {
    AuditError::File {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// What a node serves
// ---------------------------------------------------------------------------------------

/// One block of `GET /v1/blocks?from=&limit=`: the block (header and the txs the reader may
/// see), one result per tx shown, its certificate if the node stored one, and the withheld
/// txs' leaves. The node's bincode response is `encode(Vec<BlockRecord>)`, fields in this
/// order (the same bytes as a tuple of them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// The block (header and the txs shown).
    pub block: Block,
    /// One result per tx shown, in order.
    pub results: Vec<TxResult>,
    /// Its certificate, if stored.
    pub certificate: Option<Certificate>,
    /// The txs the reader may not see (empty for a consortium auditor).
    #[serde(default)]
    pub withheld: Vec<WithheldTx>,
}

type WireRecord = (Block, Vec<TxResult>, Option<Certificate>, Vec<WithheldTx>);

impl BlockRecord {
    /// Decodes a range response body (`encode(Vec<BlockRecord>)`).
    pub fn decode_range(bytes: &[u8]) -> Result<Vec<BlockRecord>, AuditError> {
        let records: Vec<WireRecord> =
            decode(bytes).map_err(|e| malformed("block range (bincode)", e))?;
        Ok(records
            .into_iter()
            .map(|(block, results, certificate, withheld)| BlockRecord {
                block,
                results,
                certificate,
                withheld,
            })
            .collect())
    }

    /// Encodes records as a range response body.
    pub fn encode_range(records: &[BlockRecord]) -> Vec<u8> {
        type Wire<'a> = (
            &'a Block,
            &'a Vec<TxResult>,
            &'a Option<Certificate>,
            &'a Vec<WithheldTx>,
        );
        let wire: Vec<Wire<'_>> = records
            .iter()
            .map(|r| (&r.block, &r.results, &r.certificate, &r.withheld))
            .collect();
        encode(&wire)
    }
}

/// The part of `GET /v1/status` an audit uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's Raft id.
    pub node_id: u64,
    /// Height of its last applied block.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// The history log's size after it.
    pub log_size: u64,
    /// Its highest certified height.
    pub certified_height: u64,
    /// The chain.
    pub chain_id: ChainId,
    /// The genesis hash.
    pub genesis_hash: Hash32,
}

/// `GET /v1/checkpoints/latest`: the highest certified block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The certificate.
    pub certificate: Certificate,
    /// The header it certifies.
    pub header: BlockHeader,
}

/// `GET /v1/log/consistency`: a consistency proof between two log sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// Older size.
    pub from: u64,
    /// Newer size.
    pub to: u64,
    /// The node's root at the older size.
    pub from_root: Hash32,
    /// The node's root at the newer size.
    pub to_root: Hash32,
    /// RFC 9162 consistency proof.
    pub proof: Vec<Hash32>,
}

/// Where an audit reads the chain from.
pub trait ChainSource: Sync {
    /// The node's status.
    fn status(&self) -> impl Future<Output = Result<NodeStatus, AuditError>> + Send;
    /// Up to `limit` consecutive blocks from height `from` (fewer at the tip or when the
    /// node caps the response; none above the tip).
    fn blocks(
        &self,
        from: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<BlockRecord>, AuditError>> + Send;
    /// The latest certified checkpoint (`None`: nothing certified yet).
    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<Checkpoint>, AuditError>> + Send;
    /// A consistency proof from log size `from` to log size `to`.
    fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Consistency, AuditError>> + Send;
}

/// A node's public API over HTTP, plus the signed reads [`prove_token`] and [`prove_tx`]
/// need.
#[derive(Clone, Debug)]
pub struct HttpSource {
    base: String,
    http: reqwest::Client,
    /// The key that signs block downloads, with the chain it signs for: blocks are shown
    /// whole only to a key that reads everything.
    reader: Option<(SigningKey, ChainId)>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl HttpSource {
    /// A source reading from the node at `base_url` (`http://127.0.0.1:7101`).
    pub fn new(base_url: &str) -> Result<Self, AuditError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AuditError::Http {
                url: base_url.into(),
                why: e.to_string(),
            })?;
        Ok(HttpSource {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            reader: None,
        })
    }

    /// Signs block downloads with `reader` for `chain_id` (a consortium auditor's or a
    /// node's key sees every tx; without one, other orgs' txs are withheld).
    pub fn with_reader(mut self, reader: SigningKey, chain_id: ChainId) -> HttpSource {
        self.reader = Some((reader, chain_id));
        self
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Vec<u8>, AuditError> {
        let http = |e: reqwest::Error| AuditError::Http {
            url: url.to_owned(),
            why: e.to_string(),
        };
        let response = request.send().await.map_err(http)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(http)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (
                "unknown".into(),
                String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            ),
        };
        Err(AuditError::Node {
            url: url.to_owned(),
            status,
            code,
            message,
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, AuditError> {
        let url = format!("{}{path}", self.base);
        let bytes = self
            .send(
                self.http.get(&url).header("accept", "application/json"),
                &url,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(url, e))
    }

    /// A signed read (`docs/api.md`): `GET path` signed by `reader` for `chain_id`.
    pub async fn get_signed<T: DeserializeOwned>(
        &self,
        reader: &SigningKey,
        chain_id: &ChainId,
        path: &str,
    ) -> Result<T, AuditError> {
        let url = format!("{}{path}", self.base);
        let request = self.http.get(&url).header("accept", "application/json");
        let request = signed_read(request, reader, chain_id, path);
        let bytes = self.send(request, &url).await?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(url, e))
    }

    /// `GET /v1/consortium?height=H`: the consortium at `height` with its state proof.
    pub async fn consortium(&self, height: u64) -> Result<ConsortiumRead, AuditError> {
        self.get_json(&format!("/v1/consortium?height={height}"))
            .await
    }
}

/// `request` (a `GET path`) with the signed-read headers of `reader` for `chain_id`
/// (`docs/api.md`, "Signed reads"), timed now.
fn signed_read(
    request: reqwest::RequestBuilder,
    reader: &SigningKey,
    chain_id: &ChainId,
    path: &str,
) -> reqwest::RequestBuilder {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let signature = sign_read(reader, chain_id, time_ms, "GET", path);
    request
        .header(
            "x-cactus-key",
            hex::encode(reader.verifying_key().to_bytes()),
        )
        .header("x-cactus-time", time_ms.to_string())
        .header("x-cactus-signature", signature.to_hex())
}

impl ChainSource for HttpSource {
    async fn status(&self) -> Result<NodeStatus, AuditError> {
        self.get_json("/v1/status").await
    }

    async fn blocks(&self, from: u64, limit: u64) -> Result<Vec<BlockRecord>, AuditError> {
        let path = format!("/v1/blocks?from={from}&limit={limit}");
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .get(&url)
            .header("accept", "application/octet-stream");
        if let Some((key, chain_id)) = &self.reader {
            request = signed_read(request, key, chain_id, &path);
        }
        let bytes = self.send(request, &url).await?;
        BlockRecord::decode_range(&bytes)
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        match self.get_json("/v1/checkpoints/latest").await {
            Ok(c) => Ok(Some(c)),
            Err(AuditError::Node { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Consistency, AuditError> {
        self.get_json(&format!("/v1/log/consistency?from={from}&to={to}"))
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Pins and checkpoints
// ---------------------------------------------------------------------------------------

/// A point of the chain an earlier audit verified: later audits check that the block at
/// `height` still has `block_hash` and that the history log still extends the log of
/// `log_size` entries with root `log_root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Height of the pinned block.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash32,
    /// The history log's size after it.
    pub log_size: u64,
    /// The history log's root after it.
    pub log_root: Hash32,
    /// The chain (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<ChainId>,
    /// The genesis hash (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<Hash32>,
}

impl Pin {
    /// Reads a pin from a file: a JSON pin object, the `--json` output of `cactus audit
    /// verify` (its `pin` member), or an audit checkpoint file.
    pub fn load(path: &Path) -> Result<Pin, AuditError> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        Pin::parse(&bytes).map_err(|e| file_error(path, e))
    }

    /// [`Pin::load`] on bytes.
    pub fn parse(bytes: &[u8]) -> Result<Pin, AuditError> {
        if bytes.starts_with(CHECKPOINT_MAGIC) {
            let header = CheckpointHeader::parse(bytes)?.0;
            return Ok(header.pin);
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed("pin (JSON)", e))?;
        let value = match value.get("pin") {
            Some(pin) => pin.clone(),
            None => value,
        };
        serde_json::from_value(value).map_err(|e| {
            malformed(
                "pin",
                format!("{e}: expected {{height, block_hash, log_size, log_root}}"),
            )
        })
    }

    fn of_tip(tip: &ChainTip, genesis_hash: Hash32) -> Pin {
        Pin {
            height: tip.height,
            block_hash: tip.block_hash,
            log_size: tip.log.size,
            log_root: tip.log.root(),
            chain_id: Some(tip.chain_id.clone()),
            genesis_hash: Some(genesis_hash),
        }
    }
}

/// The auditor's replayed state after a verified height, to resume from
/// ([`Auditor::resume`]).
///
/// File format ([`AuditCheckpoint::save`]): the line [`CHECKPOINT_MAGIC`], one line of JSON
/// (`format`, `pin`, `chain_id`, `genesis_hash`, `tip` with the history-log frontier,
/// `txs`, `certified_height`, `entries`), then `entries` state entries, each
/// `u32 LE length ‖ encode(StateKey) ‖ u32 LE length ‖ encode(StateValue)`, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The chain.
    pub chain_id: ChainId,
    /// The genesis hash it was replayed from.
    pub genesis_hash: Hash32,
    /// The verified tip: height, time, block hash, state root, history-log frontier.
    pub tip: ChainTip,
    /// Txs in blocks `1..=tip.height`.
    pub txs: u64,
    /// The highest height whose certificate was verified.
    pub certified_height: u64,
    /// Every state entry after the tip.
    pub state: MemState,
}

#[derive(Serialize, Deserialize)]
struct CheckpointHeader {
    format: String,
    pin: Pin,
    chain_id: ChainId,
    genesis_hash: Hash32,
    tip: ChainTip,
    txs: u64,
    certified_height: u64,
    entries: u64,
}

impl CheckpointHeader {
    /// The header and the offset of the entries.
    fn parse(bytes: &[u8]) -> Result<(CheckpointHeader, usize), AuditError> {
        let rest = bytes
            .strip_prefix(CHECKPOINT_MAGIC)
            .ok_or_else(|| malformed("audit checkpoint", "not an audit checkpoint file"))?;
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| malformed("audit checkpoint", "truncated header"))?;
        let header: CheckpointHeader =
            serde_json::from_slice(&rest[..end]).map_err(|e| malformed("audit checkpoint", e))?;
        Ok((header, CHECKPOINT_MAGIC.len() + end + 1))
    }
}

impl AuditCheckpoint {
    /// A pin of its tip.
    pub fn pin(&self) -> Pin {
        Pin::of_tip(&self.tip, self.genesis_hash)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = CheckpointHeader {
            format: String::from_utf8_lossy(CHECKPOINT_MAGIC).trim().to_owned(),
            pin: self.pin(),
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
            tip: self.tip.clone(),
            txs: self.txs,
            certified_height: self.certified_height,
            entries: self.state.0.len() as u64,
        };
        let mut out = CHECKPOINT_MAGIC.to_vec();
        serde_json::to_writer(&mut out, &header).expect("a checkpoint header serializes");
        out.push(b'\n');
        for (k, v) in &self.state.0 {
            for bytes in [k.to_bytes(), v.to_bytes()] {
                out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(&bytes);
            }
        }
        out
    }

    /// Parses a checkpoint file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let (header, mut at) = CheckpointHeader::parse(bytes)?;
        let mut next = |what: &str| -> Result<&[u8], AuditError> {
            let len = bytes
                .get(at..at + 4)
                .ok_or_else(|| malformed("audit checkpoint", format!("truncated {what}")))?;
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            let item = bytes
                .get(at + 4..at + 4 + len)
                .ok_or_else(|| malformed("audit checkpoint", format!("truncated {what}")))?;
            at += 4 + len;
            Ok(item)
        };
        let mut state = MemState::default();
        for _ in 0..header.entries {
            let key = StateKey::from_bytes(next("state key")?)
                .map_err(|e| malformed("audit checkpoint state key", e))?;
            let value = StateValue::from_bytes(next("state value")?)
                .map_err(|e| malformed("audit checkpoint state value", e))?;
            state.0.insert(key, value);
        }
        if at != bytes.len() {
            return Err(malformed(
                "audit checkpoint",
                format!("{} bytes after the last entry", bytes.len() - at),
            ));
        }
        Ok(AuditCheckpoint {
            chain_id: header.chain_id,
            genesis_hash: header.genesis_hash,
            tip: header.tip,
            txs: header.txs,
            certified_height: header.certified_height,
            state,
        })
    }

    /// Writes the checkpoint to `path` (through a temporary file and a rename, so an
    /// interrupted save leaves the previous file whole).
    pub fn save(&self, path: &Path) -> Result<(), AuditError> {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| file_error(&tmp, e))?;
        file.write_all(&self.to_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
    }

    /// Reads a checkpoint file.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        Self::from_bytes(&bytes).map_err(|e| file_error(path, e))
    }
}

// ---------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------

/// The outcome of an audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Verified(Box<Verified>),
    /// The first check that failed.
    Failed(Failure),
}

/// What a passing audit verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// First height verified by this run (1, or the resumed checkpoint's height + 1).
    pub from_height: u64,
    /// Last height verified (the node's height when the audit started).
    pub height: u64,
    /// Its block hash.
    pub block_hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// Txs in blocks `1..=height`.
    pub txs: u64,
    /// Txs re-executed by this run.
    pub txs_checked: u64,
    /// The node's latest certified height, checked against the replayed block.
    pub certified_height: u64,
    /// The nodes whose signatures make that certificate.
    pub certified_by: Vec<u64>,
    /// Certificates verified by this run.
    pub certificates_checked: u64,
    /// Heights at or below the certified height without a certificate of their own.
    pub uncertified: u64,
    /// The pin this audit checked, if any.
    pub pinned: Option<Pin>,
    /// A pin of the verified tip, for the next audit.
    pub pin: Pin,
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The height of the block at fault (0: the chain itself, e.g. another genesis).
    pub height: u64,
    /// What is wrong.
    pub what: String,
    /// What a correct chain has there (recomputed or trusted).
    pub expected: String,
    /// What the node served.
    pub found: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FAILED at height {}: {} (expected {}, found {})",
            self.height, self.what, self.expected, self.found
        )
    }
}

fn failure(
    height: u64,
    what: impl Into<String>,
    expected: impl ToString,
    found: impl ToString,
) -> Failure {
    Failure {
        height,
        what: what.into(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// Progress of a running audit, reported after each range of blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// First height of this run.
    pub start: u64,
    /// Last height verified so far.
    pub height: u64,
    /// Height the audit runs to.
    pub target: u64,
    /// Txs re-executed so far by this run.
    pub txs: u64,
}

/// The outcome of [`Auditor::verify`].
#[derive(Debug)]
pub struct AuditReport {
    /// Verified or failed.
    pub verdict: Verdict,
    /// Things worth knowing that do not make the chain wrong (missing certificates, txs
    /// with invalid signatures rejected by the chaincode, nothing certified yet, …).
    pub warnings: Vec<String>,
    /// The replayed state after the last verified height (only when verified): save it to
    /// resume later.
    pub checkpoint: Option<AuditCheckpoint>,
}

// ---------------------------------------------------------------------------------------
// The auditor
// ---------------------------------------------------------------------------------------

/// Verifies a chain from genesis (or from a saved [`AuditCheckpoint`]); see the module
/// documentation for what it checks.
#[derive(Debug)]
pub struct Auditor {
    genesis: InitialState,
    genesis_hash: Hash32,
    pin: Option<Pin>,
    resume: Option<AuditCheckpoint>,
    range: u64,
}

/// What the node claims about heights the replay will reach, checked when it does.
#[derive(Debug, Default)]
struct Expectations {
    checkpoint: Option<Checkpoint>,
    status: Option<NodeStatus>,
    pin: Option<Pin>,
}

/// The replay: the auditor's ledger and what it has counted.
#[derive(Debug)]
struct Replay {
    /// State, the in-memory state tree and the tip (jmt's roots, without its version store).
    ledger: Replayer,
    expect: Expectations,
    txs: u64,
    txs_checked: u64,
    certificates_checked: u64,
    certified_height: u64,
    missing: Vec<(u64, u64)>,
    bad_signatures: Vec<(u64, usize, TxId)>,
}

impl Auditor {
    /// An auditor trusting `genesis`.
    pub fn new(genesis: &Genesis) -> Self {
        Auditor {
            genesis: genesis.initial.clone(),
            genesis_hash: genesis.hash(),
            pin: None,
            resume: None,
            range: DEFAULT_RANGE,
        }
    }

    /// Also checks that the chain still has `pin`'s block and that its history log extends
    /// the pinned log.
    pub fn pin(mut self, pin: Pin) -> Result<Self, AuditError> {
        if pin
            .chain_id
            .as_ref()
            .is_some_and(|c| *c != self.genesis.chain_id)
        {
            return Err(AuditError::Unusable(format!(
                "the pin is for chain {}, the genesis for {}",
                pin.chain_id
                    .as_ref()
                    .map(|c| c.as_str())
                    .unwrap_or_default(),
                self.genesis.chain_id
            )));
        }
        if pin.genesis_hash.is_some_and(|g| g != self.genesis_hash) {
            return Err(AuditError::Unusable(
                "the pin was taken from a chain with another genesis".into(),
            ));
        }
        self.pin = Some(pin);
        Ok(self)
    }

    /// Continues from a checkpoint saved by an earlier audit of this genesis.
    pub fn resume(mut self, checkpoint: AuditCheckpoint) -> Result<Self, AuditError> {
        if checkpoint.genesis_hash != self.genesis_hash
            || checkpoint.chain_id != self.genesis.chain_id
        {
            return Err(AuditError::Unusable(format!(
                "the audit checkpoint is of chain {} with genesis {}, not of the genesis given \
                 (chain {}, genesis {})",
                checkpoint.chain_id,
                checkpoint.genesis_hash,
                self.genesis.chain_id,
                self.genesis_hash
            )));
        }
        self.resume = Some(checkpoint);
        Ok(self)
    }

    /// Blocks per range request (default and at most [`DEFAULT_RANGE`]).
    pub fn range(mut self, blocks: u64) -> Self {
        self.range = blocks.clamp(1, DEFAULT_RANGE);
        self
    }

    /// Runs the audit against `source`, calling `progress` after each range of blocks.
    pub async fn verify<S: ChainSource>(
        self,
        source: &S,
        mut progress: impl FnMut(&Progress) + Send,
    ) -> Result<AuditReport, AuditError> {
        let Auditor {
            genesis,
            genesis_hash,
            pin,
            resume,
            range,
        } = self;
        let failed = |f: Failure, warnings: Vec<String>| {
            Ok(AuditReport {
                verdict: Verdict::Failed(f),
                warnings,
                checkpoint: None,
            })
        };
        let mut warnings = Vec::new();
        let status = source.status().await?;
        if status.chain_id != genesis.chain_id {
            return failed(
                failure(
                    0,
                    "the node serves another chain",
                    &genesis.chain_id,
                    &status.chain_id,
                ),
                warnings,
            );
        }
        if status.genesis_hash != genesis_hash {
            return failed(
                failure(
                    0,
                    "the node's genesis hash is not the genesis file's",
                    genesis_hash,
                    status.genesis_hash,
                ),
                warnings,
            );
        }
        let checkpoint = source.latest_checkpoint().await?;
        let certified = checkpoint.as_ref().map_or(0, |c| c.certificate.height);
        let target = status.height.max(certified);
        if checkpoint.is_none() {
            warnings.push("the node has no certified checkpoint yet: nothing is certified".into());
        }

        // Where the replay starts: genesis, or a checkpoint whose block is still the chain's.
        let resumed = resume.as_ref().map(|c| c.tip.height);
        let mut replay = match resume {
            None => {
                Replay::new(Replayer::from_genesis(&genesis, genesis_hash).map_err(|e| {
                    AuditError::Unusable(format!("the genesis does not replay: {e}"))
                })?)
            }
            Some(ck) => {
                let height = ck.tip.height;
                if height > target {
                    return failed(
                        failure(
                            height,
                            "the node's chain is shorter than the audit checkpoint",
                            format!("a block at height {height}"),
                            format!("the chain ends at height {target}"),
                        ),
                        warnings,
                    );
                }
                if height > 0 {
                    let record = fetch_one(source, height).await?;
                    let hash = record.block.header.hash();
                    if hash != ck.tip.block_hash {
                        return failed(
                            failure(
                                height,
                                "the block differs from the one the audit checkpoint verified (the chain was rewritten)",
                                ck.tip.block_hash,
                                hash,
                            ),
                            warnings,
                        );
                    }
                }
                tokio::task::spawn_blocking(move || Replay::resume(ck))
                    .await
                    .map_err(|e| AuditError::Unusable(format!("rebuilding the state: {e}")))??
            }
        };

        // A pin at or below the resumed height is checked directly.
        if let Some(pin) = &pin {
            if pin.height > target {
                return failed(
                    failure(
                        pin.height,
                        "the node's chain is shorter than the pin",
                        format!("the pinned block {}", pin.block_hash),
                        format!("the chain ends at height {target}"),
                    ),
                    warnings,
                );
            }
            if pin.height == 0 {
                if pin.block_hash != genesis_hash || pin.log_size != 0 {
                    return failed(
                        failure(
                            0,
                            "the pin at height 0 is not this genesis",
                            genesis_hash,
                            pin.block_hash,
                        ),
                        warnings,
                    );
                }
            } else if resumed.is_some_and(|r| pin.height <= r) {
                let record = fetch_one(source, pin.height).await?;
                if let Some(f) = check_pin(pin, &record.block.header) {
                    return failed(f, warnings);
                }
            }
        }
        replay.expect = Expectations {
            checkpoint: checkpoint.clone(),
            status: Some(status.clone()),
            pin: pin.clone(),
        };
        if let Some(c) = &checkpoint
            && c.certificate.height <= replay.ledger.tip.height
        {
            // Certified at or below the resumed height: the checkpoint must be on the
            // verified chain.
            let record = fetch_one(source, c.certificate.height).await?;
            let hash = record.block.header.hash();
            if hash != c.certificate.block_hash {
                return failed(
                    failure(
                        c.certificate.height,
                        "the node's latest certified checkpoint is for another block",
                        hash,
                        c.certificate.block_hash,
                    ),
                    warnings,
                );
            }
        }

        let start = replay.ledger.tip.height + 1;
        let mut report = Progress {
            start,
            height: replay.ledger.tip.height,
            target,
            txs: 0,
        };
        progress(&report);
        let limit = |from: u64| range.min(target + 1 - from);
        let mut pending = if start <= target {
            Some(source.blocks(start, limit(start)).await?)
        } else {
            None
        };
        while let Some(records) = pending.take() {
            let from = replay.ledger.tip.height + 1;
            if records.is_empty() {
                return Err(AuditError::Unusable(format!(
                    "the node returned no blocks from height {from}, though it reported height {target}"
                )));
            }
            let next = from + records.len() as u64;
            let work = tokio::task::spawn_blocking(move || {
                let outcome = replay.check_blocks(records);
                (replay, outcome)
            });
            let fetch = async {
                if next <= target {
                    source.blocks(next, limit(next)).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let (done, fetched) = tokio::join!(work, fetch);
            let (back, outcome) =
                done.map_err(|e| AuditError::Unusable(format!("the replay task failed: {e}")))?;
            replay = back;
            if let Some(f) = outcome? {
                warnings.extend(replay.warnings());
                return failed(f, warnings);
            }
            report.height = replay.ledger.tip.height;
            report.txs = replay.txs_checked;
            progress(&report);
            pending = fetched?;
        }

        // The history log today extends the pinned one.
        let tip = replay.ledger.tip.clone();
        if let Some(pin) = &pin
            && pin.height > 0
        {
            let c = source.consistency(pin.log_size, tip.log.size).await?;
            let root = tip.log.root();
            let bad = if (c.from, c.to) != (pin.log_size, tip.log.size) {
                Some(format!("a proof for sizes {}..{}", c.from, c.to))
            } else if c.from_root != pin.log_root {
                Some(format!("a proof from root {}", c.from_root))
            } else if c.to_root != root {
                Some(format!("a proof to root {}", c.to_root))
            } else {
                verify_consistency(pin.log_size, tip.log.size, &pin.log_root, &root, &c.proof)
                    .err()
                    .map(|e| format!("a proof that does not verify ({e})"))
            };
            if let Some(found) = bad {
                warnings.extend(replay.warnings());
                return failed(
                    failure(
                        tip.height,
                        format!(
                            "the history log is not consistent with the pin at height {}",
                            pin.height
                        ),
                        format!(
                            "a consistency proof from size {} (root {}) to size {} (root {root})",
                            pin.log_size, pin.log_root, tip.log.size
                        ),
                        found,
                    ),
                    warnings,
                );
            }
        }

        warnings.extend(replay.warnings());
        let certified_by = checkpoint
            .as_ref()
            .map(|c| c.certificate.signatures.iter().map(|s| s.node_id).collect())
            .unwrap_or_default();
        let verified = Verified {
            from_height: start,
            height: tip.height,
            block_hash: tip.block_hash,
            state_root: tip.state_root,
            txs: replay.txs,
            txs_checked: replay.txs_checked,
            certified_height: certified,
            certified_by,
            certificates_checked: replay.certificates_checked,
            uncertified: replay.missing.iter().map(|(a, b)| b - a + 1).sum(),
            pinned: pin,
            pin: Pin::of_tip(&tip, genesis_hash),
        };
        let checkpoint = AuditCheckpoint {
            chain_id: tip.chain_id.clone(),
            genesis_hash,
            tip,
            txs: replay.txs,
            certified_height: replay.certified_height,
            state: replay.ledger.state,
        };
        Ok(AuditReport {
            verdict: Verdict::Verified(Box::new(verified)),
            warnings,
            checkpoint: Some(checkpoint),
        })
    }
}

async fn fetch_one<S: ChainSource>(source: &S, height: u64) -> Result<BlockRecord, AuditError> {
    let mut records = source.blocks(height, 1).await?;
    match records.pop() {
        Some(r) if records.is_empty() && r.block.header.height == height => Ok(r),
        _ => Err(AuditError::Unusable(format!(
            "the node did not return block {height}"
        ))),
    }
}

fn check_pin(pin: &Pin, header: &BlockHeader) -> Option<Failure> {
    let hash = header.hash();
    let what = "the block differs from the pinned one (the chain was rewritten since the pin)";
    if hash != pin.block_hash {
        return Some(failure(pin.height, what, pin.block_hash, hash));
    }
    if header.log_size != pin.log_size || header.log_root != pin.log_root {
        return Some(failure(
            pin.height,
            "the pinned history log differs from the block's",
            format!("log size {} root {}", pin.log_size, pin.log_root),
            format!("log size {} root {}", header.log_size, header.log_root),
        ));
    }
    None
}

/// The consortium in `state`.
pub fn consortium_of(state: &MemState) -> Option<&Consortium> {
    match state.0.get(&StateKey::Consortium) {
        Some(StateValue::Consortium(c)) => Some(c),
        _ => None,
    }
}

fn voter_list(c: &Consortium) -> String {
    let ids: Vec<u64> = c.voters().map(|v| v.node_id).collect();
    format!("{ids:?}")
}

fn signer_list(cert: &Certificate) -> String {
    let ids: Vec<u64> = cert.signatures.iter().map(|s| s.node_id).collect();
    format!("{ids:?}")
}

/// A result as the audit prints it: compact JSON, cut at 400 characters.
fn describe(result: &TxResult) -> String {
    let json = serde_json::to_string(result).unwrap_or_else(|e| e.to_string());
    if json.chars().count() > 400 {
        let cut: String = json.chars().take(400).collect();
        format!("{cut}…")
    } else {
        json
    }
}

impl Replay {
    fn new(ledger: Replayer) -> Self {
        Replay {
            ledger,
            expect: Expectations::default(),
            txs: 0,
            txs_checked: 0,
            certificates_checked: 0,
            certified_height: 0,
            missing: Vec::new(),
            bad_signatures: Vec::new(),
        }
    }

    /// Rebuilds the replay from a checkpoint: the in-memory state tree is built from its
    /// entries, and its root must be the tip's state root.
    fn resume(ck: AuditCheckpoint) -> Result<Self, AuditError> {
        let height = ck.tip.height;
        let bad = |why: String| {
            AuditError::Unusable(format!(
                "the audit checkpoint at height {height} is unusable: {why}"
            ))
        };
        if ck.tip.log.frontier.len() != ck.tip.log.size.count_ones() as usize {
            return Err(bad("its history-log frontier does not fit its size".into()));
        }
        let (txs, certified_height, tip_root) = (ck.txs, ck.certified_height, ck.tip.state_root);
        let ledger = Replayer::resume(ck.state, ck.tip).map_err(|root| {
            bad(format!(
                "its entries give state root {root}, its tip says {tip_root}"
            ))
        })?;
        let mut replay = Replay::new(ledger);
        replay.txs = txs;
        replay.certified_height = certified_height;
        Ok(replay)
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (a, b) in &self.missing {
            out.push(if a == b {
                format!("height {a}: no certificate stored (vouched for by a later certified block through the hash chain)")
            } else {
                format!("heights {a}..={b}: no certificates stored (vouched for by a later certified block through the hash chain)")
            });
        }
        for (height, index, id) in self.bad_signatures.iter().take(20) {
            out.push(format!(
                "height {height}, tx {index} ({id}): its signature does not verify; the chaincode rejected it as bad_signature (an honest node never admits such a tx)"
            ));
        }
        if self.bad_signatures.len() > 20 {
            out.push(format!(
                "… and {} more txs with invalid signatures",
                self.bad_signatures.len() - 20
            ));
        }
        out
    }

    /// Checks consecutive blocks; the first failure ends the check.
    fn check_blocks(&mut self, records: Vec<BlockRecord>) -> Result<Option<Failure>, AuditError> {
        for record in records {
            if let Some(f) = self.check_block(record)? {
                return Ok(Some(f));
            }
        }
        Ok(None)
    }

    fn check_block(&mut self, record: BlockRecord) -> Result<Option<Failure>, AuditError> {
        let tip = &self.ledger.tip;
        let h = tip.height + 1;
        let header = &record.block.header;
        if !record.withheld.is_empty() {
            return Err(AuditError::Withheld {
                height: header.height,
                count: record.withheld.len(),
                total: header.tx_count,
            });
        }
        if header.height != h {
            return Ok(Some(failure(
                h,
                "the node served a block of another height",
                h,
                header.height,
            )));
        }
        if header.chain_id != tip.chain_id {
            return Ok(Some(failure(
                h,
                "header field chain_id is another chain's",
                &tip.chain_id,
                &header.chain_id,
            )));
        }
        if header.prev_hash != tip.block_hash {
            return Ok(Some(failure(
                h,
                format!(
                    "header field prev_hash does not link to block {}'s hash (the hash chain is broken)",
                    h - 1
                ),
                tip.block_hash,
                header.prev_hash,
            )));
        }
        if record.results.len() != record.block.txs.len() {
            return Ok(Some(failure(
                h,
                "the node stores another number of results than txs",
                record.block.txs.len(),
                record.results.len(),
            )));
        }
        let results = match self.ledger.replay(&record.block) {
            Ok(results) => results,
            Err(LedgerError::Mismatch {
                height,
                field,
                claimed,
                computed,
            }) => {
                return Ok(Some(failure(
                    height,
                    format!("header field {field} differs from re-execution"),
                    computed,
                    claimed,
                )));
            }
            Err(LedgerError::TimeNotIncreasing {
                time_ms,
                previous_ms,
            }) => {
                return Ok(Some(failure(
                    h,
                    "header field time_ms is not after the previous block's",
                    format!("more than {previous_ms}"),
                    time_ms,
                )));
            }
            Err(LedgerError::WrongHeight { expected, got }) => {
                return Ok(Some(failure(
                    h,
                    "the node served a block of another height",
                    expected,
                    got,
                )));
            }
            Err(e) => {
                return Err(AuditError::Replay {
                    height: h,
                    why: e.to_string(),
                });
            }
        };
        // The history nodes are not needed: the tip's frontier is enough to go on.
        self.ledger.history.clear();
        let hash = self.ledger.tip.block_hash;
        for (i, (ours, theirs)) in results.iter().zip(&record.results).enumerate() {
            if ours != theirs {
                return Ok(Some(failure(
                    h,
                    format!("the stored result of tx {i} differs from re-execution"),
                    describe(ours),
                    describe(theirs),
                )));
            }
        }
        for (i, r) in results.iter().enumerate() {
            if let TxOutcome::Rejected { rejection } = &r.outcome
                && rejection.reason == RejectReason::BadSignature
            {
                self.bad_signatures.push((h, i, r.tx_id));
            }
        }
        let n = results.len() as u64;
        self.txs += n;
        self.txs_checked += n;

        let consortium = consortium_of(&self.ledger.state)
            .cloned()
            .unwrap_or_default();
        let chain_id = self.ledger.tip.chain_id.clone();
        let check_cert = |cert: &Certificate, whose: &str| -> Option<Failure> {
            if cert.height != h {
                return Some(failure(
                    h,
                    format!("{whose} is for another height"),
                    h,
                    cert.height,
                ));
            }
            if cert.block_hash != hash {
                return Some(failure(
                    h,
                    format!("{whose} is for another block hash"),
                    hash,
                    cert.block_hash,
                ));
            }
            cert.verify(&chain_id, &consortium).err().map(|e| {
                failure(
                    h,
                    format!("{whose} does not verify against the voter set of its height: {e}"),
                    format!(
                        "signatures of more than half of voters {} over block {hash}",
                        voter_list(&consortium)
                    ),
                    format!("signatures by nodes {}", signer_list(cert)),
                )
            })
        };
        let certified_at = self
            .expect
            .checkpoint
            .as_ref()
            .map_or(0, |c| c.certificate.height);
        match &record.certificate {
            Some(cert) => {
                if let Some(f) = check_cert(cert, "the block's certificate") {
                    return Ok(Some(f));
                }
                self.certificates_checked += 1;
                self.certified_height = h;
            }
            None if h <= certified_at => match self.missing.last_mut() {
                Some((_, end)) if *end + 1 == h => *end = h,
                _ => self.missing.push((h, h)),
            },
            None => {}
        }
        if let Some(cp) = &self.expect.checkpoint
            && cp.certificate.height == h
        {
            if cp.header.hash() != cp.certificate.block_hash {
                return Ok(Some(failure(
                    h,
                    "the node's latest checkpoint pairs a certificate with another header",
                    cp.certificate.block_hash,
                    cp.header.hash(),
                )));
            }
            if let Some(f) = check_cert(&cp.certificate, "the node's latest certified checkpoint") {
                return Ok(Some(f));
            }
            self.certified_height = h;
        }
        if let Some(status) = &self.expect.status
            && status.height == h
        {
            let tip = &self.ledger.tip;
            if status.block_hash != tip.block_hash {
                return Ok(Some(failure(
                    h,
                    "the node's status reports another block hash",
                    tip.block_hash,
                    status.block_hash,
                )));
            }
            if status.state_root != tip.state_root {
                return Ok(Some(failure(
                    h,
                    "the node's status reports another state root than re-execution",
                    tip.state_root,
                    status.state_root,
                )));
            }
            if status.log_size != tip.log.size {
                return Ok(Some(failure(
                    h,
                    "the node's status reports another history-log size",
                    tip.log.size,
                    status.log_size,
                )));
            }
        }
        if let Some(pin) = &self.expect.pin
            && pin.height == h
            && let Some(f) = check_pin(pin, &record.block.header)
        {
            return Ok(Some(f));
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// Proof bundles
// ---------------------------------------------------------------------------------------

/// A self-contained proof a third party checks offline with [`check_bundle`] and the
/// chain's genesis file: a claim, the header it verifies against, headers linking that
/// header to a certified one, the certificate, and the consortium at the certified height
/// proven under its state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofBundle {
    /// [`PROOF_BUNDLE_FORMAT`].
    pub format: String,
    /// The chain.
    pub chain_id: ChainId,
    /// Its genesis hash.
    pub genesis_hash: Hash32,
    /// What is proven.
    pub claim: Claim,
    /// The header the claim verifies against.
    pub header: BlockHeader,
    /// Headers of the following blocks up to the certified one, in height order (empty
    /// when `header` is certified itself); each links to the previous by `prev_hash`.
    #[serde(default)]
    pub links: Vec<BlockHeader>,
    /// Certificate of the last header (`links`' last, or `header`).
    pub certificate: Certificate,
    /// The consortium at the certified height (`StateKey::Consortium`), proven under the
    /// certified header's state root: the voter set the certificate is checked against.
    pub consortium: ProvenValue,
}

/// What a [`ProofBundle`] proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Claim {
    /// A token's record after the block of `header`, proven under its state root.
    Token {
        /// The token.
        token_id: TokenId,
        /// `{version, key, value, proof}` with `key` the token's state key.
        proof: ProvenValue,
    },
    /// A tx and its result in the block of `header`.
    Tx {
        /// The signed tx.
        tx: SignedTx,
        /// Its result.
        result: TxResult,
        /// Its inclusion under `header.tx_root`.
        tx_proof: BlockInclusionProof,
        /// The result's inclusion under `header.result_root`.
        result_proof: BlockInclusionProof,
        /// Its history-log entry with an inclusion proof under the log root of the header
        /// at `at_height` (`header` or one of `links`), when the node's proof was against a
        /// header the bundle links to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<LogClaim>,
    },
}

/// A tx's history-log entry with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogClaim {
    /// The entry.
    pub leaf: HistoryLeaf,
    /// Its position in the log.
    pub log_index: u64,
    /// Height of the header whose `log_root`/`log_size` the proof is against.
    pub at_height: u64,
    /// RFC 9162 audit path, leaf side first.
    pub proof: Vec<Hash32>,
}

/// What [`check_bundle`] established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleCheck {
    /// `token` or `tx`.
    pub kind: String,
    /// One line saying what is proven.
    pub statement: String,
    /// Height of the block the claim is in (or read at).
    pub height: u64,
    /// The certified height vouching for it.
    pub certified_height: u64,
    /// The nodes whose signatures make the certificate.
    pub certified_by: Vec<u64>,
    /// Whether the certificate's voter set was anchored to a trusted genesis.
    pub anchored: bool,
}

/// `GET /v1/consortium`.
#[derive(Clone, Debug, Deserialize)]
pub struct ConsortiumRead {
    /// The height read.
    pub height: u64,
    /// The header at that height (none at 0).
    pub header: Option<BlockHeader>,
    /// The proven consortium.
    pub proof: ProvenValue,
}

fn invalid(why: impl Into<String>) -> AuditError {
    AuditError::InvalidProof(why.into())
}

fn voter_keys(c: &Consortium) -> BTreeSet<(u64, PublicKey)> {
    c.voters().map(|v| (v.node_id, v.node_key)).collect()
}

/// The consortium genesis creates.
pub fn genesis_consortium(genesis: &Genesis) -> Option<Consortium> {
    match genesis.state_writes().0.get(&StateKey::Consortium) {
        Some(Some(StateValue::Consortium(c))) => Some(c.clone()),
        _ => None,
    }
}

/// Verifies a bundle offline: the claim against its header's roots, the headers' links,
/// the certificate against the consortium proven under the certified state root, and —
/// given the chain's genesis — that this voter set is genesis's (a bundle whose voter set
/// changed since genesis cannot be anchored by genesis alone: audit the chain with
/// [`Auditor`], which follows membership changes).
pub fn check_bundle(
    bundle: &ProofBundle,
    genesis: Option<&Genesis>,
) -> Result<BundleCheck, AuditError> {
    if bundle.format != PROOF_BUNDLE_FORMAT {
        return Err(invalid(format!(
            "unknown bundle format {:?} (expected {PROOF_BUNDLE_FORMAT:?})",
            bundle.format
        )));
    }
    if let Some(g) = genesis {
        if bundle.chain_id != g.initial.chain_id {
            return Err(invalid(format!(
                "the bundle is for chain {}, the genesis for {}",
                bundle.chain_id, g.initial.chain_id
            )));
        }
        if bundle.genesis_hash != g.hash() {
            return Err(invalid(format!(
                "the bundle names genesis {}, the genesis file hashes to {}",
                bundle.genesis_hash,
                g.hash()
            )));
        }
    }
    let header = &bundle.header;
    if header.chain_id != bundle.chain_id {
        return Err(invalid("the header is of another chain"));
    }
    let (kind, statement) = match &bundle.claim {
        Claim::Token { token_id, proof } => {
            if proof.key != StateKey::Token(token_id.clone()) {
                return Err(invalid(
                    "the state proof is for another key than the token's",
                ));
            }
            if proof.version != header.height {
                return Err(invalid(format!(
                    "the state proof is at version {}, the header at height {}",
                    proof.version, header.height
                )));
            }
            let Some(StateValue::Token(record)) = &proof.value else {
                return Err(invalid("the state proof carries no token record"));
            };
            proof
                .verify(&header.state_root)
                .map_err(|e| invalid(format!("token state proof: {e}")))?;
            let record = serde_json::to_string(record).unwrap_or_default();
            (
                "token",
                format!("token {token_id} after block {} is {record}", header.height),
            )
        }
        Claim::Tx {
            tx,
            result,
            tx_proof,
            result_proof,
            log,
        } => {
            let id = tx.id();
            if result.tx_id != id {
                return Err(invalid("the result is of another tx"));
            }
            tx.verify()
                .map_err(|e| invalid(format!("the tx's signature: {e}")))?;
            verify_block_inclusion(tx, tx_proof, &header.tx_root, header.tx_count)
                .map_err(|e| invalid(format!("tx inclusion under tx_root: {e}")))?;
            if result_proof.index != tx_proof.index {
                return Err(invalid(
                    "the result proof is for another position than the tx's",
                ));
            }
            verify_block_inclusion(result, result_proof, &header.result_root, header.tx_count)
                .map_err(|e| invalid(format!("result inclusion under result_root: {e}")))?;
            if let Some(log) = log {
                let first = header.log_size - header.tx_count;
                let expected = HistoryLeaf {
                    tx_id: id,
                    height: header.height,
                    index: tx_proof.index as u32,
                    outcome: result.outcome.clone(),
                };
                if log.leaf != expected || log.log_index != first + tx_proof.index {
                    return Err(invalid("the history-log entry is not the tx's"));
                }
                let at = std::iter::once(header)
                    .chain(&bundle.links)
                    .find(|h| h.height == log.at_height)
                    .ok_or_else(|| {
                        invalid(format!(
                            "the log proof is against height {}, which the bundle does not carry",
                            log.at_height
                        ))
                    })?;
                verify_inclusion(
                    &log.leaf.hash(),
                    log.log_index,
                    at.log_size,
                    &log.proof,
                    &at.log_root,
                )
                .map_err(|e| invalid(format!("history-log inclusion: {e}")))?;
            }
            let outcome = match &result.outcome {
                TxOutcome::Applied { events } => format!("applied with {} events", events.len()),
                TxOutcome::Rejected { rejection } => {
                    format!("rejected ({})", rejection.reason.code())
                }
            };
            (
                "tx",
                format!(
                    "tx {id} ({}) is tx {} of block {}, {outcome}",
                    tx.body.kind.name(),
                    tx_proof.index,
                    header.height
                ),
            )
        }
    };
    // Link the header to the certified one.
    let mut last = header;
    for next in &bundle.links {
        if next.height != last.height + 1
            || next.prev_hash != last.hash()
            || next.chain_id != bundle.chain_id
        {
            return Err(invalid(format!(
                "header {} does not link to header {}",
                next.height, last.height
            )));
        }
        last = next;
    }
    let cert = &bundle.certificate;
    if cert.height != last.height || cert.block_hash != last.hash() {
        return Err(invalid(format!(
            "the certificate is for block {} at height {}, not for header {} ({})",
            cert.block_hash,
            cert.height,
            last.height,
            last.hash()
        )));
    }
    let c = &bundle.consortium;
    if c.key != StateKey::Consortium || c.version != last.height {
        return Err(invalid(
            "the consortium proof is not of the certified height's consortium",
        ));
    }
    let Some(StateValue::Consortium(consortium)) = &c.value else {
        return Err(invalid("the consortium proof carries no consortium"));
    };
    c.verify(&last.state_root)
        .map_err(|e| invalid(format!("consortium state proof: {e}")))?;
    cert.verify(&bundle.chain_id, consortium)
        .map_err(|e| invalid(format!("certificate: {e}")))?;
    let anchored = match genesis {
        None => false,
        Some(g) => {
            let ours = voter_keys(consortium);
            let trusted = genesis_consortium(g)
                .map(|c| voter_keys(&c))
                .unwrap_or_default();
            if ours != trusted {
                return Err(invalid(format!(
                    "the voter set at height {} ({}) is not genesis's ({}): membership changed \
                     since genesis, so genesis alone cannot vouch for it; audit the chain with \
                     `cactus audit verify`, which follows membership changes",
                    last.height,
                    voter_list(consortium),
                    genesis_consortium(g)
                        .map(|c| voter_list(&c))
                        .unwrap_or_default()
                )));
            }
            true
        }
    };
    Ok(BundleCheck {
        kind: kind.into(),
        statement,
        height: header.height,
        certified_height: last.height,
        certified_by: cert.signatures.iter().map(|s| s.node_id).collect(),
        anchored,
    })
}

#[derive(Deserialize)]
struct ReadAt {
    height: u64,
    header: Option<BlockHeader>,
}

#[derive(Deserialize)]
struct TokenRead {
    at: ReadAt,
    proof: ProvenValue,
}

#[derive(Deserialize)]
struct LogRead {
    leaf: HistoryLeaf,
    log_index: u64,
    proof: Vec<Hash32>,
    at_height: u64,
}

#[derive(Deserialize)]
struct TxRead {
    status: String,
    result: Option<TxOutcome>,
    tx: Option<SignedTx>,
    header: Option<BlockHeader>,
    tx_proof: Option<BlockInclusionProof>,
    result_proof: Option<BlockInclusionProof>,
    log: Option<LogRead>,
}

async fn chain_of(source: &HttpSource) -> Result<(NodeStatus, Checkpoint), AuditError> {
    let status = source.status().await?;
    let checkpoint = source.latest_checkpoint().await?.ok_or_else(|| {
        AuditError::Unusable("the node has certified no block yet: try again shortly".into())
    })?;
    Ok((status, checkpoint))
}

/// Fetches a token's record at the node's latest certified height with its state proof
/// (a signed read by `reader`), the certificate and the proven consortium, checks it all
/// locally with [`check_bundle`] (`genesis`, when given, anchors the voter set) and
/// returns the bundle.
pub async fn prove_token(
    source: &HttpSource,
    reader: &SigningKey,
    token: &TokenId,
    genesis: Option<&Genesis>,
) -> Result<(ProofBundle, BundleCheck), AuditError> {
    let (status, checkpoint) = chain_of(source).await?;
    let height = checkpoint.certificate.height;
    let path = format!("/v1/tokens/{}/{}?height={height}", token.pool, token.serial);
    let read: TokenRead = source.get_signed(reader, &status.chain_id, &path).await?;
    let header = read
        .at
        .header
        .filter(|_| read.at.height == height)
        .ok_or_else(|| malformed(path, format!("no header at height {height}")))?;
    let consortium = source.consortium(height).await?;
    let bundle = ProofBundle {
        format: PROOF_BUNDLE_FORMAT.into(),
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash,
        claim: Claim::Token {
            token_id: token.clone(),
            proof: read.proof,
        },
        header,
        links: vec![],
        certificate: checkpoint.certificate,
        consortium: consortium.proof,
    };
    let check = check_bundle(&bundle, genesis)?;
    Ok((bundle, check))
}

/// Fetches a tx with its inclusion proofs (a signed read by `reader`), links its block to
/// the first certified block at or above it (and above the node's log proof, if the link
/// stays under [`MAX_LINKS`] headers), adds the certificate and the proven consortium,
/// checks it all locally with [`check_bundle`] and returns the bundle.
pub async fn prove_tx(
    source: &HttpSource,
    reader: &SigningKey,
    tx_id: &TxId,
    genesis: Option<&Genesis>,
) -> Result<(ProofBundle, BundleCheck), AuditError> {
    let (status, checkpoint) = chain_of(source).await?;
    let path = format!("/v1/txs/{tx_id}");
    let read: TxRead = source.get_signed(reader, &status.chain_id, &path).await?;
    let incomplete = || {
        malformed(
            path.clone(),
            "the node's answer lacks the tx, its header or its proofs",
        )
    };
    if read.status == "pending" {
        return Err(AuditError::Unusable(format!(
            "tx {tx_id} is pending: it is not in a block yet"
        )));
    }
    let (Some(tx), Some(header), Some(outcome), Some(tx_proof), Some(result_proof)) = (
        read.tx,
        read.header,
        read.result,
        read.tx_proof,
        read.result_proof,
    ) else {
        return Err(incomplete());
    };
    let height = header.height;
    let certified = checkpoint.certificate.height;
    if certified < height {
        return Err(AuditError::Unusable(format!(
            "tx {tx_id} is in block {height}, above the latest certified height {certified}: try again shortly"
        )));
    }
    // The node's log proof is against its latest header; keep it when that header is
    // certified or links to a certified one within reach.
    let want_log = read
        .log
        .as_ref()
        .map(|l| l.at_height)
        .filter(|at| *at >= height && *at <= certified && *at - height <= MAX_LINKS);
    let want = want_log.unwrap_or(height);
    // Headers from the tx's block on, until a certified one at or above `want` (or, past
    // reach, the first certified one at or above the tx's block).
    let mut seen: Vec<(BlockHeader, Option<Certificate>)> = Vec::new();
    let mut from = height;
    let last = certified.min(height + MAX_LINKS);
    while from <= last && !seen.iter().any(|(h, c)| h.height >= want && c.is_some()) {
        let records = source
            .blocks(from, (last + 1 - from).min(DEFAULT_RANGE))
            .await?;
        if records.is_empty() {
            break;
        }
        for r in records {
            if r.block.header.height != from {
                return Err(malformed("block range", format!("expected block {from}")));
            }
            from += 1;
            seen.push((r.block.header, r.certificate));
        }
    }
    if seen.first().is_none_or(|(h, _)| *h != header) {
        return Err(AuditError::Unusable(format!(
            "the node serves another header for block {height} than with the tx"
        )));
    }
    let pick = |at_least: u64| {
        seen.iter()
            .position(|(h, c)| h.height >= at_least && c.is_some())
    };
    let (end, log) = match pick(want) {
        Some(i) => (i, want_log.and(read.log)),
        None => match pick(height) {
            Some(i) => (i, None),
            None => {
                return Err(AuditError::Unusable(format!(
                    "no certificate stored for block {height} or the {MAX_LINKS} blocks above it"
                )));
            }
        },
    };
    let log = log.filter(|l| l.at_height <= seen[end].0.height);
    let mut seen = seen.into_iter().take(end + 1);
    let first = seen.next();
    debug_assert!(first.is_some());
    let mut links = Vec::with_capacity(end);
    let mut certificate = None;
    for (h, c) in seen {
        links.push(h);
        certificate = c;
    }
    let certificate = match (certificate, first) {
        (Some(c), _) => c,
        (None, Some((_, Some(c)))) => c,
        _ => return Err(AuditError::Unusable("no certificate found".into())),
    };
    let consortium = source.consortium(certificate.height).await?;
    let bundle = ProofBundle {
        format: PROOF_BUNDLE_FORMAT.into(),
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash,
        claim: Claim::Tx {
            result: TxResult {
                tx_id: tx.id(),
                outcome,
            },
            tx,
            tx_proof,
            result_proof,
            log: log.map(|l| LogClaim {
                leaf: l.leaf,
                log_index: l.log_index,
                at_height: l.at_height,
                proof: l.proof,
            }),
        },
        header,
        links,
        certificate,
        consortium: consortium.proof,
    };
    let check = check_bundle(&bundle, genesis)?;
    Ok((bundle, check))
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::block::{
        CheckpointSignature, block_inclusion_proof, sign_checkpoint,
    };
    use couponcactus_chaincode::commitment::prove;
    use couponcactus_chaincode::history::{HistoryReader, NodeIndex, consistency_proof};
    use couponcactus_chaincode::ids::{OrgId, PoolId, SignatureBytes};
    use couponcactus_chaincode::initial::InitialOrg;
    use couponcactus_chaincode::ledger::Ledger;
    use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody, TxKind};
    use couponcactus_chaincode::types::{ChainParams, NodeRecord, Role};
    use std::collections::BTreeMap;

    const GENESIS_MS: u64 = 1_767_225_600_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn public(seed: u8) -> PublicKey {
        PublicKey(key(seed).verifying_key().to_bytes())
    }

    /// One org (admin key seed 1) and three voting nodes (node keys seeds 201..=203).
    fn genesis() -> Genesis {
        let acme = OrgId::new("acme").unwrap();
        Genesis::new(InitialState {
            chain_id: ChainId::new("audit-test").unwrap(),
            genesis_time_ms: GENESIS_MS,
            params: ChainParams::default(),
            orgs: vec![InitialOrg {
                id: acme.clone(),
                name: "Acme".into(),
                admin_keys: vec![public(1)],
            }],
            nodes: (1..=3u8)
                .map(|i| NodeRecord {
                    node_id: u64::from(i),
                    org: acme.clone(),
                    node_key: public(200 + i),
                    p2p_addr: format!("/ip4/127.0.0.1/tcp/720{i}"),
                    voter: true,
                })
                .collect(),
        })
        .unwrap()
    }

    fn register(nonce: u64, seed: u8) -> SignedTx {
        TxBody {
            chain_id: genesis().initial.chain_id,
            nonce,
            valid_until_ms: GENESIS_MS + 600_000,
            kind: TxKind::RegisterKey(RegisterKeyTx {
                key: public(seed),
                role: Role::Issuer,
            }),
            memo: None,
        }
        .sign(&key(1))
    }

    fn certify(header: &BlockHeader, signers: &[u64]) -> Certificate {
        let hash = header.hash();
        Certificate {
            chain_id: header.chain_id.clone(),
            height: header.height,
            block_hash: hash,
            signatures: signers
                .iter()
                .map(|&i| {
                    sign_checkpoint(
                        &key(200 + i as u8),
                        i,
                        &header.chain_id,
                        header.height,
                        &hash,
                    )
                })
                .collect(),
        }
    }

    /// A node in memory: blocks with results and certificates, its history log and tree.
    #[derive(Debug)]
    struct MemSource {
        records: Vec<BlockRecord>,
        status: NodeStatus,
        checkpoint: Option<Checkpoint>,
        history: BTreeMap<NodeIndex, Hash32>,
        ledger: Ledger,
        tamper_consistency: bool,
    }

    impl ChainSource for MemSource {
        async fn status(&self) -> Result<NodeStatus, AuditError> {
            Ok(self.status.clone())
        }

        async fn blocks(&self, from: u64, limit: u64) -> Result<Vec<BlockRecord>, AuditError> {
            let start = (from as usize).saturating_sub(1).min(self.records.len());
            let end = (start + limit as usize).min(self.records.len());
            Ok(self.records[start..end].to_vec())
        }

        async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
            Ok(self.checkpoint.clone())
        }

        async fn consistency(&self, from: u64, to: u64) -> Result<Consistency, AuditError> {
            let h = &self.history;
            let mut proof = consistency_proof(h, from, to).unwrap();
            if self.tamper_consistency
                && let Some(p) = proof.first_mut()
            {
                p.0[0] ^= 1;
            }
            Ok(Consistency {
                from,
                to,
                from_root: couponcactus_chaincode::history::root_at(h, from).unwrap(),
                to_root: couponcactus_chaincode::history::root_at(h, to).unwrap(),
                proof,
            })
        }
    }

    /// `blocks` blocks of two registrations each (the `variant`th chain: another variant
    /// registers other keys from block `fork_at` on), all certified by nodes 1 and 2.
    fn chain_with(blocks: u64, variant: u8, fork_at: u64) -> MemSource {
        let g = genesis();
        let mut leader = Ledger::from_genesis(&g.initial, g.hash()).unwrap();
        let mut records = Vec::new();
        for h in 1..=blocks {
            let seed = if h >= fork_at { 100 + variant } else { 10 } + (2 * h) as u8;
            let txs = vec![register(2 * h, seed), register(2 * h + 1, seed + 1)];
            let before = leader.tip.clone();
            let applied = couponcactus_chaincode::ledger::apply_block(
                &leader.state,
                &leader.tree,
                &before,
                1,
                GENESIS_MS + 1_000 * h,
                &txs,
            )
            .unwrap();
            let results = applied.results.clone();
            let block = leader.propose(1, GENESIS_MS + 1_000 * h, txs).unwrap();
            assert_eq!(block.header, applied.header);
            records.push(BlockRecord {
                certificate: Some(certify(&block.header, &[1, 2])),
                block,
                results,
                withheld: Vec::new(),
            });
        }
        let tip = leader.tip.clone();
        let last = records.last().map(|r| r.block.header.clone());
        MemSource {
            status: NodeStatus {
                node_id: 1,
                height: tip.height,
                block_hash: tip.block_hash,
                state_root: tip.state_root,
                log_size: tip.log.size,
                certified_height: tip.height,
                chain_id: tip.chain_id.clone(),
                genesis_hash: g.hash(),
            },
            checkpoint: last.map(|header| Checkpoint {
                certificate: certify(&header, &[1, 2]),
                header,
            }),
            history: leader.history.clone(),
            records,
            ledger: leader,
            tamper_consistency: false,
        }
    }

    fn chain(blocks: u64) -> MemSource {
        chain_with(blocks, 0, u64::MAX)
    }

    async fn audit(auditor: Auditor, source: &MemSource) -> AuditReport {
        auditor.range(2).verify(source, |_| {}).await.unwrap()
    }

    fn verified(report: &AuditReport) -> &Verified {
        match &report.verdict {
            Verdict::Verified(v) => v,
            Verdict::Failed(f) => panic!("{f}"),
        }
    }

    fn failed(report: &AuditReport) -> &Failure {
        match &report.verdict {
            Verdict::Failed(f) => f,
            Verdict::Verified(v) => panic!("verified: {v:?}"),
        }
    }

    #[tokio::test]
    async fn an_honest_chain_verifies_with_progress() {
        let source = chain(6);
        let mut seen = Vec::new();
        let report = Auditor::new(&genesis())
            .range(4)
            .verify(&source, |p| seen.push((p.height, p.target, p.txs)))
            .await
            .unwrap();
        let v = verified(&report);
        assert_eq!(
            (v.from_height, v.height, v.txs, v.txs_checked),
            (1, 6, 12, 12)
        );
        assert_eq!(v.certified_height, 6);
        assert_eq!(v.certified_by, [1, 2]);
        assert_eq!((v.certificates_checked, v.uncertified), (6, 0));
        assert_eq!(v.block_hash, source.status.block_hash);
        assert_eq!(v.state_root, source.status.state_root);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(seen, [(0, 6, 0), (4, 6, 8), (6, 6, 12)]);
        let ck = report.checkpoint.unwrap();
        assert_eq!(ck.tip, source.ledger.tip);
        assert_eq!(ck.state, source.ledger.state);
    }

    #[tokio::test]
    async fn every_kind_of_tampering_fails_naming_the_height() {
        type Tamper = Box<dyn Fn(&mut MemSource)>;
        let cases: Vec<(&str, u64, &str, Tamper)> = vec![
            (
                "tx",
                3,
                "tx_root",
                Box::new(|s| s.records[2].block.txs[0].body.nonce += 1000),
            ),
            (
                "tx signature",
                2,
                "tx_root",
                Box::new(|s| s.records[1].block.txs[1].signature.0[5] ^= 1),
            ),
            (
                "result",
                4,
                "stored result of tx 1",
                Box::new(|s| {
                    s.records[3].results[1].outcome = TxOutcome::Applied { events: vec![] };
                }),
            ),
            (
                "state root",
                2,
                "state_root",
                Box::new(|s| s.records[1].block.header.state_root.0[0] ^= 1),
            ),
            (
                "log size",
                5,
                "log_size",
                Box::new(|s| s.records[4].block.header.log_size += 1),
            ),
            (
                "prev hash",
                5,
                "prev_hash",
                Box::new(|s| s.records[4].block.header.prev_hash.0[3] ^= 1),
            ),
            (
                "block time",
                3,
                "time_ms",
                Box::new(|s| {
                    s.records[2].block.header.time_ms = s.records[1].block.header.time_ms;
                }),
            ),
            (
                "height",
                4,
                "another height",
                Box::new(|s| {
                    s.records.remove(3);
                }),
            ),
            (
                "certificate signature",
                3,
                "does not verify",
                Box::new(|s| {
                    s.records[2].certificate.as_mut().unwrap().signatures[0]
                        .signature
                        .0[0] ^= 1;
                }),
            ),
            (
                "certificate by a stranger",
                4,
                "node 9 is not a voter",
                Box::new(|s| {
                    let c = s.records[3].certificate.as_mut().unwrap();
                    c.signatures.push(CheckpointSignature {
                        node_id: 9,
                        signature: SignatureBytes([0; 64]),
                    });
                }),
            ),
            (
                "certificate without quorum",
                2,
                "quorum",
                Box::new(|s| {
                    s.records[1].certificate.as_mut().unwrap().signatures.pop();
                }),
            ),
            (
                "certificate of another block",
                4,
                "another block hash",
                Box::new(|s| {
                    let other = s.records[4].block.header.clone();
                    s.records[3].certificate = Some(Certificate {
                        height: 4,
                        ..certify(&other, &[1, 2])
                    });
                }),
            ),
            (
                "checkpoint",
                6,
                "latest certified checkpoint",
                Box::new(|s| {
                    let other = s.records[4].block.header.clone();
                    let mut header = s.records[5].block.header.clone();
                    header.state_root = other.state_root;
                    s.checkpoint = Some(Checkpoint {
                        certificate: certify(&header, &[1, 2]),
                        header,
                    });
                }),
            ),
            (
                "status",
                6,
                "status reports another state root",
                Box::new(|s| s.status.state_root.0[0] ^= 1),
            ),
            (
                "genesis",
                0,
                "genesis hash",
                Box::new(|s| s.status.genesis_hash.0[0] ^= 1),
            ),
        ];
        for (name, height, what, tamper) in cases {
            let mut source = chain(6);
            tamper(&mut source);
            let report = audit(Auditor::new(&genesis()), &source).await;
            let f = failed(&report);
            assert_eq!(f.height, height, "{name}: {f}");
            assert!(f.what.contains(what), "{name}: {f}");
            assert!(report.checkpoint.is_none(), "{name}");
        }
    }

    #[tokio::test]
    async fn missing_certificates_and_bad_signatures_are_warnings() {
        let mut source = chain(5);
        source.records[1].certificate = None;
        source.records[2].certificate = None;
        source.records[4].certificate = None; // the checkpoint still certifies 5
        let report = audit(Auditor::new(&genesis()), &source).await;
        let v = verified(&report);
        assert_eq!((v.certificates_checked, v.uncertified), (2, 3));
        assert_eq!(v.certified_height, 5);
        assert!(
            report.warnings[0].starts_with("heights 2..=3: no certificates"),
            "{:?}",
            report.warnings
        );
        assert!(
            report.warnings[1].starts_with("height 5: no certificate"),
            "{:?}",
            report.warnings
        );

        // A block above the certified height is verified, not certified, and no warning.
        let mut source = chain(4);
        source.records[3].certificate = None;
        let header = source.records[2].block.header.clone();
        source.checkpoint = Some(Checkpoint {
            certificate: certify(&header, &[2, 3]),
            header,
        });
        let report = audit(Auditor::new(&genesis()), &source).await;
        let v = verified(&report);
        assert_eq!(
            (v.height, v.certified_height, v.certified_by.clone()),
            (4, 3, vec![2, 3])
        );
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);

        // A tx with a broken signature that the chaincode rejected: consistent, but flagged.
        let g = genesis();
        let mut leader = Ledger::from_genesis(&g.initial, g.hash()).unwrap();
        let mut bad = register(1, 50);
        bad.signature.0[0] ^= 1;
        let tip = leader.tip.clone();
        let applied = couponcactus_chaincode::ledger::apply_block(
            &leader.state,
            &leader.tree,
            &tip,
            1,
            GENESIS_MS + 1_000,
            std::slice::from_ref(&bad),
        )
        .unwrap();
        let block = leader.propose(1, GENESIS_MS + 1_000, vec![bad]).unwrap();
        let mut source = chain(1);
        source.status.block_hash = block.header.hash();
        source.status.state_root = block.header.state_root;
        source.status.log_size = 1;
        source.checkpoint = Some(Checkpoint {
            certificate: certify(&block.header, &[1, 3]),
            header: block.header.clone(),
        });
        source.records = vec![BlockRecord {
            certificate: Some(certify(&block.header, &[1, 3])),
            block,
            results: applied.results,
            withheld: Vec::new(),
        }];
        let report = audit(Auditor::new(&genesis()), &source).await;
        verified(&report);
        assert!(
            report.warnings[0].contains("bad_signature"),
            "{:?}",
            report.warnings
        );
    }

    #[tokio::test]
    async fn pins_catch_rewritten_history() {
        let honest = chain(6);
        let report = audit(Auditor::new(&genesis()), &chain(3)).await;
        let pin = verified(&report).pin.clone();
        assert_eq!(pin.height, 3);
        // The pin survives its JSON round trip, alone or inside `--json` output.
        let json = serde_json::to_vec(&pin).unwrap();
        assert_eq!(Pin::parse(&json).unwrap(), pin);
        let wrapped =
            serde_json::to_vec(&serde_json::json!({"verdict": "verified", "pin": pin})).unwrap();
        assert_eq!(Pin::parse(&wrapped).unwrap(), pin);

        let report = audit(Auditor::new(&genesis()).pin(pin.clone()).unwrap(), &honest).await;
        assert_eq!(verified(&report).pinned, Some(pin.clone()));

        // Another history from height 2 on: the pinned block is not the chain's any more.
        let forked = chain_with(6, 1, 2);
        let report = audit(Auditor::new(&genesis()).pin(pin.clone()).unwrap(), &forked).await;
        let f = failed(&report);
        assert_eq!(f.height, 3, "{f}");
        assert!(f.what.contains("pinned"), "{f}");

        // A consistency proof that does not verify.
        let mut lying = chain(6);
        lying.tamper_consistency = true;
        let report = audit(Auditor::new(&genesis()).pin(pin.clone()).unwrap(), &lying).await;
        let f = failed(&report);
        assert_eq!(f.height, 6, "{f}");
        assert!(f.what.contains("not consistent with the pin"), "{f}");

        // A chain shorter than the pin, and a pin of another chain.
        let report = audit(
            Auditor::new(&genesis()).pin(pin.clone()).unwrap(),
            &chain(2),
        )
        .await;
        assert_eq!(failed(&report).height, 3);
        let other = Pin {
            genesis_hash: Some(Hash32([1; 32])),
            ..pin
        };
        assert!(matches!(
            Auditor::new(&genesis()).pin(other),
            Err(AuditError::Unusable(_))
        ));
    }

    #[tokio::test]
    async fn audits_resume_from_a_saved_checkpoint() {
        let report = audit(Auditor::new(&genesis()), &chain(4)).await;
        let ck = report.checkpoint.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.ck");
        ck.save(&path).unwrap();
        let loaded = AuditCheckpoint::load(&path).unwrap();
        assert_eq!(loaded, ck);
        assert_eq!(Pin::load(&path).unwrap(), ck.pin());

        let full = chain(7);
        let report = audit(
            Auditor::new(&genesis()).resume(loaded.clone()).unwrap(),
            &full,
        )
        .await;
        let v = verified(&report);
        assert_eq!(
            (v.from_height, v.height, v.txs, v.txs_checked),
            (5, 7, 14, 6)
        );
        let again = report.checkpoint.unwrap();
        assert_eq!(again.tip, full.ledger.tip);
        assert_eq!(again.state, full.ledger.state);

        // The chain was rewritten below the checkpoint.
        let forked = chain_with(7, 2, 3);
        let report = audit(
            Auditor::new(&genesis()).resume(loaded.clone()).unwrap(),
            &forked,
        )
        .await;
        let f = failed(&report);
        assert_eq!(f.height, 4, "{f}");
        assert!(f.what.contains("audit checkpoint"), "{f}");

        // A checkpoint whose state does not give its root is refused.
        let mut broken = loaded.clone();
        broken.state.0.remove(&StateKey::Key(public(12)));
        let err = Auditor::new(&genesis())
            .resume(broken)
            .unwrap()
            .verify(&full, |_| {})
            .await;
        assert!(
            matches!(err, Err(AuditError::Unusable(ref m)) if m.contains("state root")),
            "{err:?}"
        );
        // And a truncated file does not load.
        let bytes = std::fs::read(&path).unwrap();
        assert!(AuditCheckpoint::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    }

    #[tokio::test]
    async fn a_block_with_withheld_txs_stops_the_audit_with_what_key_it_needs() {
        let mut source = chain(3);
        let record = &mut source.records[1];
        let (tx, result) = (record.block.txs.remove(0), record.results.remove(0));
        record.withheld = vec![WithheldTx::of(0, &tx, &result)];
        let err = Auditor::new(&genesis())
            .range(2)
            .verify(&source, |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Withheld {
                    height: 2,
                    count: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("consortium auditor"), "{err}");
    }

    #[test]
    fn range_bodies_are_the_tuple_encoding() {
        let source = chain(2);
        let bytes = BlockRecord::encode_range(&source.records);
        assert_eq!(BlockRecord::decode_range(&bytes).unwrap(), source.records);
        let tuples: Vec<WireRecord> = source
            .records
            .iter()
            .map(|r| {
                (
                    r.block.clone(),
                    r.results.clone(),
                    r.certificate.clone(),
                    r.withheld.clone(),
                )
            })
            .collect();
        assert_eq!(encode(&tuples), bytes);
        assert!(BlockRecord::decode_range(&bytes[1..]).is_err());
    }

    fn token_bundle(source: &MemSource) -> ProofBundle {
        // A state read of a registered key stands in for a token: same proof machinery.
        let height = source.status.height;
        let header = source.records.last().unwrap().block.header.clone();
        let token_id = TokenId {
            pool: PoolId::new("spring").unwrap(),
            serial: 0,
        };
        let proof = prove(
            &source.ledger.tree,
            &StateKey::Token(token_id.clone()),
            height,
        )
        .unwrap();
        ProofBundle {
            format: PROOF_BUNDLE_FORMAT.into(),
            chain_id: header.chain_id.clone(),
            genesis_hash: genesis().hash(),
            claim: Claim::Token { token_id, proof },
            certificate: certify(&header, &[2, 3]),
            consortium: prove(&source.ledger.tree, &StateKey::Consortium, height).unwrap(),
            header,
            links: vec![],
        }
    }

    #[test]
    fn tx_bundles_verify_offline_and_tampered_ones_do_not() {
        let source = chain(5);
        let g = genesis();
        let block = &source.records[1];
        let header = block.block.header.clone();
        let index = 1u64;
        let first = header.log_size - header.tx_count;
        let leaf = HistoryLeaf {
            tx_id: block.results[1].tx_id,
            height: 2,
            index: 1,
            outcome: block.results[1].outcome.clone(),
        };
        let at = &source.records[3].block.header;
        let log_proof = couponcactus_chaincode::history::inclusion_proof(
            &source.history,
            first + index,
            at.log_size,
        )
        .unwrap();
        let links: Vec<BlockHeader> = source.records[2..4]
            .iter()
            .map(|r| r.block.header.clone())
            .collect();
        let bundle = ProofBundle {
            format: PROOF_BUNDLE_FORMAT.into(),
            chain_id: header.chain_id.clone(),
            genesis_hash: g.hash(),
            claim: Claim::Tx {
                tx: block.block.txs[1].clone(),
                result: block.results[1].clone(),
                tx_proof: block_inclusion_proof(&block.block.txs, index).unwrap(),
                result_proof: block_inclusion_proof(&block.results, index).unwrap(),
                log: Some(LogClaim {
                    leaf,
                    log_index: first + index,
                    at_height: 4,
                    proof: log_proof,
                }),
            },
            header,
            links,
            certificate: certify(at, &[1, 3]),
            consortium: prove(&source.ledger.tree, &StateKey::Consortium, 4).unwrap(),
        };
        let check = check_bundle(&bundle, Some(&g)).unwrap();
        assert_eq!(
            (check.kind.as_str(), check.height, check.certified_height),
            ("tx", 2, 4)
        );
        assert!(check.anchored);
        assert_eq!(check.certified_by, [1, 3]);
        assert!(
            check.statement.contains("register_key"),
            "{}",
            check.statement
        );
        assert!(!check_bundle(&bundle, None).unwrap().anchored);
        // Through JSON, as a third party receives it.
        let json = serde_json::to_string_pretty(&bundle).unwrap();
        let back: ProofBundle = serde_json::from_str(&json).unwrap();
        assert_eq!(check_bundle(&back, Some(&g)).unwrap(), check);

        type Tamper = Box<dyn Fn(&mut ProofBundle)>;
        let cases: Vec<(&str, Tamper)> = vec![
            (
                "tx_root",
                Box::new(|b| {
                    if let Claim::Tx { tx, result, .. } = &mut b.claim {
                        tx.body.nonce += 1;
                        *tx = tx.body.clone().sign(&key(1));
                        result.tx_id = tx.id();
                    }
                }),
            ),
            (
                "signature",
                Box::new(|b| {
                    if let Claim::Tx { tx, .. } = &mut b.claim {
                        tx.signature.0[0] ^= 1;
                    }
                }),
            ),
            (
                "result_root",
                Box::new(|b| {
                    if let Claim::Tx { result, .. } = &mut b.claim {
                        result.outcome = TxOutcome::Applied { events: vec![] };
                    }
                }),
            ),
            (
                "history-log",
                Box::new(|b| {
                    if let Claim::Tx { log: Some(log), .. } = &mut b.claim {
                        log.proof[0].0[0] ^= 1;
                    }
                }),
            ),
            (
                "does not link",
                Box::new(|b| b.links[0].state_root.0[0] ^= 1),
            ),
            (
                "certificate",
                Box::new(|b| b.certificate.signatures[0].signature.0[1] ^= 1),
            ),
            (
                "consortium",
                Box::new(|b| {
                    if let Some(StateValue::Consortium(c)) = &mut b.consortium.value {
                        c.nodes[0].node_key = public(99);
                    }
                }),
            ),
            ("chain", Box::new(|b| b.genesis_hash.0[0] ^= 1)),
        ];
        for (what, tamper) in cases {
            let mut bad = bundle.clone();
            tamper(&mut bad);
            match check_bundle(&bad, Some(&g)) {
                Err(AuditError::InvalidProof(m)) => assert!(
                    m.contains(what) || (what == "chain" && m.contains("genesis")),
                    "{what}: {m}"
                ),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn token_bundles_need_the_genesis_voter_set() {
        let source = chain(3);
        let g = genesis();
        let bundle = token_bundle(&source);
        // No token in this chain: the proof is a non-inclusion proof, which a token claim
        // refuses.
        assert!(
            matches!(check_bundle(&bundle, Some(&g)), Err(AuditError::InvalidProof(m)) if m.contains("no token"))
        );
        // A consortium other than genesis's (here: proven under another chain's root) is
        // not anchored.
        let mut other = g.initial.clone();
        other.nodes.truncate(2);
        let other = Genesis::new(other).unwrap();
        let err = check_bundle(
            &ProofBundle {
                claim: Claim::Tx {
                    tx: source.records[0].block.txs[0].clone(),
                    result: source.records[0].results[0].clone(),
                    tx_proof: block_inclusion_proof(&source.records[0].block.txs, 0).unwrap(),
                    result_proof: block_inclusion_proof(&source.records[0].results, 0).unwrap(),
                    log: None,
                },
                header: source.records[0].block.header.clone(),
                links: source.records[1..]
                    .iter()
                    .map(|r| r.block.header.clone())
                    .collect(),
                genesis_hash: other.hash(),
                ..bundle
            },
            Some(&other),
        );
        assert!(
            matches!(err, Err(AuditError::InvalidProof(ref m)) if m.contains("not genesis's")),
            "{err:?}"
        );
        let _ = HistoryReader::node(&source.history, NodeIndex { level: 0, index: 0 });
    }
}
