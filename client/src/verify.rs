//! Checking what a node says without trusting it: state proofs, tx and history-log
//! inclusion proofs, and the checkpoint certificate that anchors them, all through the
//! chaincode's own verifiers (`docs/proofs.md`).
//!
//! Trust starts from the chain's genesis file ([`TrustAnchor`]): its hash must be the
//! node's, and its consortium's voters are the keys whose signatures count. A read is
//! believed once this chain of checks holds:
//!
//! 1. the value's state proof leads to the `state_root` of the header it came with (or,
//!    for txs, the log entry's inclusion proof leads to a header's `log_root`) — the pure
//!    `verify_*` functions;
//! 2. that header is linked by `prev_hash` to a block certified by a quorum of the voters
//!    of the certified block's own height (`GET /v1/checkpoints/latest`, waiting briefly
//!    for the certificate to catch up) — [`ProofVerifier`].
//!
//! A certificate is only ever checked against the voter set of its height
//! (`docs/proofs.md`, "The voter set of a height"), never against genesis's because
//! genesis's voters signed it: after a voter change, former voters are no quorum. That
//! voter set is the consortium read with a state proof under the certified header's state
//! root (`GET /v1/consortium?height=h`, [`verify_consortium_view`]), anchored so that the
//! header does not vouch for its own signers: it must have genesis's voters (node ids and
//! keys, [`ConsortiumSource::Genesis`]), or be where the public history log leads when
//! followed from genesis through every membership change — every entry up to the certified
//! log size is fetched, its governance events applied with the chaincode's own
//! [`Consortium::apply_change`], and the entries must hash to the certified header's
//! `log_root` ([`ConsortiumSource::HistoryLog`]). Only then is the certificate checked.

use crate::node_client::{NodeClient, NodeClientError};
use crate::views::{BalanceView, HoldView, LiabilityView, ProgramView, SettlementView};
use crate::views::{
    CheckpointView, CodeView, ConsortiumView, EventProof, LogProof, PageEntry, PoolView, ReadAt,
    Status, TokenHistoryView, TokenView, TxDetail, TxStatus,
};
use couponcactus_chaincode::block::{BlockHeader, CertificateError, verify_block_inclusion};
use couponcactus_chaincode::commitment::{ProvenValue, StateProofError, verify_state_proof};
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::execute::{Event, TxOutcome, TxResult};
use couponcactus_chaincode::history::{
    HistoryError, HistoryLeaf, HistoryLog, leaf_hash, verify_inclusion,
};
use couponcactus_chaincode::ids::{ChainId, Hash32, TokenId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::Consortium;
use couponcactus_genesis::Genesis;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How long [`ProofVerifier`] waits by default for a certificate to reach a header's height.
pub const DEFAULT_CERTIFICATE_WAIT: Duration = Duration::from_secs(15);
/// Most blocks [`ProofVerifier`] fetches to link a header to a certified one.
pub const DEFAULT_MAX_LINK: u64 = 2_000;

/// Why something a node sent does not check out.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The node serves another chain than the genesis.
    #[error("the node serves chain {node}, the genesis file is for chain {genesis}")]
    WrongChain {
        /// The node's chain.
        node: ChainId,
        /// The genesis file's chain.
        genesis: ChainId,
    },
    /// The node's genesis hash is not the genesis file's.
    #[error(
        "the node's genesis hash is {node}, the genesis file's is {genesis}: wrong genesis file, or a node of another chain"
    )]
    GenesisMismatch {
        /// The node's.
        node: Hash32,
        /// The file's.
        genesis: Hash32,
    },
    /// An answer's parts do not fit together (wrong key, value, height or header).
    #[error("{what}: {why}")]
    Mismatch {
        /// What was checked.
        what: String,
        /// What does not fit.
        why: String,
    },
    /// A state proof does not verify.
    #[error(
        "{what}: the state proof does not verify against state root {root} at height {height}: {source}"
    )]
    StateProof {
        /// What was proven.
        what: String,
        /// The height of the root.
        height: u64,
        /// The root.
        root: Hash32,
        /// Why not.
        #[source]
        source: StateProofError,
    },
    /// A tx, result or history-log inclusion proof does not verify.
    #[error("{what}: the inclusion proof does not verify: {source}")]
    Inclusion {
        /// What was proven.
        what: String,
        /// Why not.
        #[source]
        source: HistoryError,
    },
    /// A tx's signature does not verify.
    #[error("tx {0}: its signature does not verify")]
    BadTxSignature(couponcactus_chaincode::ids::TxId),
    /// A read at height 0 has no header to certify.
    #[error("{0}: read at genesis (height 0) has no block header to certify")]
    GenesisRead(String),
    /// The certificate does not verify against the consortium.
    #[error("the certificate of height {height} does not verify: {source}")]
    Certificate {
        /// Its height.
        height: u64,
        /// Why not.
        #[source]
        source: CertificateError,
    },
    /// The header chain from a header to the certified one is broken.
    #[error("header chain broken at height {height}: {why}")]
    BrokenChain {
        /// Where.
        height: u64,
        /// What is wrong.
        why: String,
    },
    /// No certificate reached the header's height in time.
    #[error(
        "block {height} is not certified yet (certified height {certified}) after {waited:?}: are a majority of the voters up?"
    )]
    NotCertified {
        /// The header's height.
        height: u64,
        /// The highest certified height seen.
        certified: u64,
        /// How long we waited.
        waited: Duration,
    },
    /// The header is too far below the certified block to link block by block.
    #[error(
        "block {height} is {gap} blocks below the certified block {certified}; read at a later height to verify it"
    )]
    GapTooLong {
        /// The header's height.
        height: u64,
        /// The certified height.
        certified: u64,
        /// The distance.
        gap: u64,
    },
    /// A request to the node failed.
    #[error(transparent)]
    Node(#[from] NodeClientError),
}

type Result<T> = std::result::Result<T, VerifyError>;

fn mismatch(what: impl Into<String>, why: impl Into<String>) -> VerifyError {
    VerifyError::Mismatch {
        what: what.into(),
        why: why.into(),
    }
}

/// What trust starts from: the chain's genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    chain_id: ChainId,
    genesis_hash: Hash32,
    consortium: Consortium,
}

impl TrustAnchor {
    /// The anchor of a (validated) genesis.
    pub fn from_genesis(genesis: &Genesis) -> TrustAnchor {
        let consortium = match genesis.state_writes().lookup(&StateKey::Consortium) {
            Some(Some(StateValue::Consortium(c))) => c.clone(),
            _ => Consortium::default(),
        };
        TrustAnchor {
            chain_id: genesis.initial.chain_id.clone(),
            genesis_hash: genesis.hash(),
            consortium,
        }
    }

    /// The chain.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash32 {
        self.genesis_hash
    }

    /// The consortium at genesis.
    pub fn genesis_consortium(&self) -> &Consortium {
        &self.consortium
    }

    /// Checks that a node's status is of this chain (chain id and genesis hash).
    pub fn check_status(&self, status: &Status) -> Result<()> {
        if status.chain_id != self.chain_id {
            return Err(VerifyError::WrongChain {
                node: status.chain_id.clone(),
                genesis: self.chain_id.clone(),
            });
        }
        if status.genesis_hash != self.genesis_hash {
            return Err(VerifyError::GenesisMismatch {
                node: status.genesis_hash,
                genesis: self.genesis_hash,
            });
        }
        Ok(())
    }
}

/// Checks one proven state value: the proof is for `key` holding `value` at the read's
/// height, and leads to the state root of the header it came with. Returns that header.
pub(crate) fn check_proven<'a>(
    what: &str,
    at: &'a ReadAt,
    proven: &ProvenValue,
    key: &StateKey,
    value: Option<&StateValue>,
) -> Result<&'a BlockHeader> {
    let header = at
        .header
        .as_ref()
        .ok_or_else(|| VerifyError::GenesisRead(what.to_string()))?;
    if header.height != at.height || header.state_root != at.state_root {
        return Err(mismatch(
            what,
            format!(
                "read at height {} root {}, but the header is height {} root {}",
                at.height, at.state_root, header.height, header.state_root
            ),
        ));
    }
    if proven.version != at.height {
        return Err(mismatch(
            what,
            format!(
                "proof is for height {}, the read for {}",
                proven.version, at.height
            ),
        ));
    }
    if &proven.key != key {
        return Err(mismatch(what, format!("proof is for key {:?}", proven.key)));
    }
    if proven.value.as_ref() != value {
        return Err(mismatch(what, "the proven value is not the value shown"));
    }
    verify_state_proof(&header.state_root, key, value, &proven.proof).map_err(|source| {
        VerifyError::StateProof {
            what: what.to_string(),
            height: header.height,
            root: header.state_root,
            source,
        }
    })?;
    Ok(header)
}

/// Checks a pool read: its state proof against its header's state root. Returns the
/// header, which [`ProofVerifier::certify_header`] then ties to a certificate.
pub fn verify_pool_view(view: &PoolView) -> Result<&BlockHeader> {
    let what = format!("pool {}", view.pool.id);
    check_proven(
        &what,
        &view.at,
        &view.proof,
        &StateKey::Pool(view.pool.id.clone()),
        Some(&StateValue::Pool(view.pool.clone())),
    )
}

/// Checks a program read: its state proof against its header's state root.
pub fn verify_program_view(view: &ProgramView) -> Result<&BlockHeader> {
    check_proven(
        &format!("{}'s loyalty program", view.program.org),
        &view.at,
        &view.proof,
        &StateKey::Program(view.program.org.clone()),
        Some(&StateValue::Program(view.program.clone())),
    )
}

/// Checks a balance read: the account's proof (or its absence's) against the header's
/// state root, and the balances and spendable amounts the node computed against the
/// proven lots at the header's block time.
pub fn verify_balance_view(view: &BalanceView) -> Result<&BlockHeader> {
    let what = format!("member {} in {}'s program", view.member, view.program);
    let value = view.account.clone().map(StateValue::Account);
    let header = check_proven(
        &what,
        &view.at,
        &view.proof,
        &StateKey::Account(view.program.clone(), view.member),
        value.as_ref(),
    )?;
    let account = view.account.clone().unwrap_or_default();
    if account.balances() != view.balances || account.spendable(header.time_ms) != view.spendable {
        return Err(mismatch(
            &what,
            "the balances shown are not the proven lots' at the block time",
        ));
    }
    Ok(header)
}

/// Checks a liability read: its proof (or its absence's: nothing owed).
pub fn verify_liability_view(view: &LiabilityView) -> Result<&BlockHeader> {
    let value = (view.liability != Default::default())
        .then(|| StateValue::Liability(view.liability.clone()));
    check_proven(
        &format!("{}'s liability", view.program),
        &view.at,
        &view.proof,
        &StateKey::Liability(view.program.clone()),
        value.as_ref(),
    )
}

/// Checks a settlement read: its proof (or its absence's), and the net against the
/// proven amounts.
pub fn verify_settlement_view(view: &SettlementView) -> Result<&BlockHeader> {
    let what = format!("the settlement of {} with {}", view.partner, view.program);
    let value =
        (!view.settlement.is_empty()).then(|| StateValue::Settlement(view.settlement.clone()));
    let header = check_proven(
        &what,
        &view.at,
        &view.proof,
        &StateKey::Settlement(view.program.clone(), view.partner.clone()),
        value.as_ref(),
    )?;
    if view.settlement.net() != view.net {
        return Err(mismatch(&what, "the net is not credited minus spent"));
    }
    Ok(header)
}

/// Checks a hold read: the hold key's proof (or its absence's: no hold) against the
/// header's state root.
pub fn verify_hold_view(view: &HoldView) -> Result<&BlockHeader> {
    let value = view.hold.clone().map(StateValue::Hold);
    check_proven(
        &format!("{}'s hold on {}", view.org, view.target),
        &view.at,
        &view.proof,
        &StateKey::Hold(view.org.clone(), view.target.clone()),
        value.as_ref(),
    )
}

/// Checks a token read: its state proof against its header's state root.
pub fn verify_token_view(view: &TokenView) -> Result<&BlockHeader> {
    let what = format!("token {}", view.token_id);
    check_proven(
        &what,
        &view.at,
        &view.proof,
        &StateKey::Token(view.token_id.clone()),
        Some(&StateValue::Token(view.token.clone())),
    )
}

/// A key proven absent: the state proof of a keyed read's 404 (`value: null`), checked
/// against the state root of the header it came with ([`verify_absence`]). Tie the header
/// to a certificate with [`ProofVerifier::absence`] before believing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenAbsence {
    /// What was looked up, for people (`token spring/7`, `code 3fa0…`).
    pub what: String,
    /// Where it was read.
    pub at: ReadAt,
    /// The key's proof, with no value.
    pub proof: ProvenValue,
}

impl ProvenAbsence {
    /// The key proven absent.
    pub fn key(&self) -> &StateKey {
        &self.proof.key
    }

    /// The height it is absent at.
    pub fn height(&self) -> u64 {
        self.at.height
    }
}

/// Checks a keyed read's "not found": the proof is for `key` (the key that was asked for,
/// not one the node chose) with no value, at the read's height, and leads to the state
/// root of the header it came with. `height`, when the read asked for one, must be the
/// height read.
pub fn verify_absence(
    what: &str,
    key: &StateKey,
    height: Option<u64>,
    at: &ReadAt,
    proof: &ProvenValue,
) -> Result<ProvenAbsence> {
    if let Some(h) = height.filter(|h| *h != at.height) {
        return Err(mismatch(
            what,
            format!(
                "asked at height {h}, the node answered for height {}",
                at.height
            ),
        ));
    }
    check_proven(what, at, proof, key, None)?;
    Ok(ProvenAbsence {
        what: what.to_string(),
        at: at.clone(),
        proof: proof.clone(),
    })
}

/// Checks a code lookup: the code-index entry's proof and, for unique codes, the token's,
/// both at the same height.
pub fn verify_code_view(view: &CodeView) -> Result<&BlockHeader> {
    let what = format!("code {}", view.code_hash);
    let header = check_proven(
        &what,
        &view.at,
        &view.code_proof,
        &StateKey::Code(view.code_hash),
        Some(&StateValue::Code(view.entry.clone())),
    )?;
    match (view.entry.serial, &view.token) {
        (Some(serial), Some(token)) => {
            let expected = TokenId {
                pool: view.entry.pool.clone(),
                serial,
            };
            if token.token_id != expected {
                return Err(mismatch(
                    &what,
                    format!(
                        "the code is token {expected}, the answer shows {}",
                        token.token_id
                    ),
                ));
            }
            if token.at != view.at {
                return Err(mismatch(&what, "the token was read at another height"));
            }
            if token.token.code_hash != view.code_hash {
                return Err(mismatch(&what, "the token carries another code hash"));
            }
            verify_token_view(token)?;
        }
        (Some(_), None) => return Err(mismatch(&what, "the code's token is missing")),
        (None, Some(_)) => return Err(mismatch(&what, "a shared code has no token")),
        (None, None) => {}
    }
    Ok(header)
}

/// Checks one history-log inclusion proof for `leaf`.
fn check_log_proof(what: &str, leaf: &HistoryLeaf, log: &LogProof) -> Result<()> {
    if &log.leaf != leaf {
        return Err(mismatch(what, "the log entry is not the tx's result"));
    }
    verify_inclusion(
        &leaf.hash(),
        log.log_index,
        log.log_size,
        &log.proof,
        &log.log_root,
    )
    .map_err(|source| VerifyError::Inclusion {
        what: format!("{what}: history-log entry {}", log.log_index),
        source,
    })
}

/// Checks a committed tx's details: its id and signature, its tx and result inclusion
/// proofs under its block header, and its history-log proof. Returns the log proof, whose
/// root [`ProofVerifier::tx`] ties to a certified header.
pub fn verify_tx_detail(detail: &TxDetail) -> Result<&LogProof> {
    let view = &detail.view;
    let what = format!("tx {}", view.tx_id);
    if !matches!(view.status, TxStatus::Applied | TxStatus::Rejected) {
        return Err(mismatch(
            &what,
            format!("it is {}, not committed", view.status.name()),
        ));
    }
    let missing = |part: &str| mismatch(&what, format!("the answer has no {part}"));
    let tx = detail.tx.as_ref().ok_or_else(|| missing("tx"))?;
    let header = detail.header.as_ref().ok_or_else(|| missing("header"))?;
    let tx_proof = detail
        .tx_proof
        .as_ref()
        .ok_or_else(|| missing("tx proof"))?;
    let result_proof = detail
        .result_proof
        .as_ref()
        .ok_or_else(|| missing("result proof"))?;
    let log = detail.log.as_ref().ok_or_else(|| missing("log proof"))?;
    let outcome = view.result.clone().ok_or_else(|| missing("result"))?;
    let (height, index, log_index) = match (view.height, view.index, view.log_index) {
        (Some(h), Some(i), Some(l)) => (h, i, l),
        _ => return Err(missing("place in the chain")),
    };
    if tx.id() != view.tx_id {
        return Err(mismatch(&what, format!("the tx shown has id {}", tx.id())));
    }
    tx.verify()
        .map_err(|_| VerifyError::BadTxSignature(view.tx_id))?;
    if header.height != height
        || tx_proof.index != u64::from(index)
        || result_proof.index != u64::from(index)
    {
        return Err(mismatch(
            &what,
            "the proofs are for another place than the tx's",
        ));
    }
    verify_block_inclusion(tx, tx_proof, &header.tx_root, header.tx_count).map_err(|source| {
        VerifyError::Inclusion {
            what: format!("{what} in block {height}"),
            source,
        }
    })?;
    let result = TxResult {
        tx_id: view.tx_id,
        outcome: outcome.clone(),
    };
    verify_block_inclusion(&result, result_proof, &header.result_root, header.tx_count).map_err(
        |source| VerifyError::Inclusion {
            what: format!("{what}: result in block {height}"),
            source,
        },
    )?;
    if log.log_index != log_index {
        return Err(mismatch(&what, "the log proof is for another log index"));
    }
    let leaf = HistoryLeaf {
        tx_id: view.tx_id,
        height,
        index,
        outcome,
    };
    check_log_proof(&what, &leaf, log)?;
    Ok(log)
}

/// Checks an event against the history-log entry it names: same tx, block, position and
/// log index, its chain record (`detail`) equal to that entry's event number
/// `id.index` (or its rejection), and the entry's inclusion proof. Returns the log proof,
/// whose root [`ProofVerifier::event`] ties to a certified header. The other fields
/// (org, store, amounts) are derived from the tx and state, which the tx's own proofs
/// (`cactus tx`) cover.
pub fn verify_event(view: &EventProof) -> Result<&LogProof> {
    use couponcactus_chaincode::events::EventDetail;
    let (e, log) = (&view.event, &view.proof);
    let what = format!("event {}", e.id);
    let leaf = &log.leaf;
    if e.id.log_index != e.log_index || log.log_index != e.log_index {
        return Err(mismatch(&what, "its proof is for another log entry"));
    }
    if leaf.tx_id != e.tx_id || leaf.height != e.height || leaf.index != e.tx_index {
        return Err(mismatch(&what, "its log entry is another tx's"));
    }
    let recorded = match (&leaf.outcome, &e.detail) {
        (TxOutcome::Applied { events }, EventDetail::Applied { event }) => {
            events.get(usize::from(e.id.index)) == Some(event)
        }
        (TxOutcome::Rejected { rejection }, EventDetail::Rejected { rejection: r, .. }) => {
            e.id.index == 0 && rejection == r
        }
        _ => false,
    };
    if !recorded {
        return Err(mismatch(&what, "its log entry does not record it"));
    }
    check_log_proof(&what, leaf, log)?;
    Ok(log)
}

/// Checks a token's history: every entry's tx signature and its history-log proof under
/// the answer's header. Returns the header (none on an empty chain).
pub fn verify_token_history(view: &TokenHistoryView) -> Result<Option<&BlockHeader>> {
    let Some(header) = view.header.as_ref() else {
        if view.entries.is_empty() {
            return Ok(None);
        }
        return Err(mismatch(
            format!("history of {}", view.token_id),
            "entries without a header",
        ));
    };
    for entry in &view.entries {
        let tx_id = entry.tx.id();
        let what = format!("history of {}: tx {tx_id}", view.token_id);
        entry
            .tx
            .verify()
            .map_err(|_| VerifyError::BadTxSignature(tx_id))?;
        if entry.log.log_root != header.log_root
            || entry.log.log_size != header.log_size
            || entry.log.at_height != header.height
        {
            return Err(mismatch(
                &what,
                "the log proof is not against the answer's header",
            ));
        }
        if entry.log.log_index != entry.log_index {
            return Err(mismatch(&what, "the log proof is for another log index"));
        }
        let leaf = HistoryLeaf {
            tx_id,
            height: entry.height,
            index: entry.index,
            outcome: entry.result.clone(),
        };
        check_log_proof(&what, &leaf, &entry.log)?;
    }
    Ok(Some(header))
}

/// Checks a checkpoint against `consortium`, which must be the consortium of the
/// certificate's height (see [`ProofVerifier::consortium_at`]): the certificate verifies (a
/// quorum of distinct voters, strictly verifying signatures, this chain) and certifies the
/// header shown. Returns the signers' node ids.
pub fn verify_checkpoint(
    chain_id: &ChainId,
    consortium: &Consortium,
    checkpoint: &CheckpointView,
) -> Result<Vec<u64>> {
    let cert = &checkpoint.certificate;
    cert.verify(chain_id, consortium)
        .map_err(|source| VerifyError::Certificate {
            height: cert.height,
            source,
        })?;
    check_certified_header(checkpoint)?;
    Ok(cert.signatures.iter().map(|s| s.node_id).collect())
}

/// The header shown with a certificate is the one it signs (height and hash).
fn check_certified_header(checkpoint: &CheckpointView) -> Result<()> {
    let cert = &checkpoint.certificate;
    let header = &checkpoint.header;
    if header.height != cert.height || header.hash() != cert.block_hash {
        return Err(mismatch(
            format!("checkpoint {}", cert.height),
            format!(
                "the certificate is for block {} at height {}, the header shown is {} at height {}",
                cert.block_hash,
                cert.height,
                header.hash(),
                header.height
            ),
        ));
    }
    Ok(())
}

/// Checks that `headers` (heights `lower.height + 1 ..`, in order) each link to the one
/// before by `prev_hash`, starting from `lower`; returns the hash of the last one (or of
/// `lower` when there are none).
pub fn verify_header_chain(lower: &BlockHeader, headers: &[BlockHeader]) -> Result<Hash32> {
    let mut prev = lower.hash();
    let mut height = lower.height;
    for h in headers {
        height += 1;
        if h.height != height {
            return Err(VerifyError::BrokenChain {
                height,
                why: format!("got the header of height {}", h.height),
            });
        }
        if h.prev_hash != prev {
            return Err(VerifyError::BrokenChain {
                height,
                why: format!(
                    "prev_hash is {}, the block below hashes to {prev}",
                    h.prev_hash
                ),
            });
        }
        if h.chain_id != lower.chain_id {
            return Err(VerifyError::BrokenChain {
                height,
                why: format!("the header is of chain {}", h.chain_id),
            });
        }
        prev = h.hash();
    }
    Ok(prev)
}

/// Checks a consortium read against the certified header of its height: read at that
/// height, under its state root, with a state proof of the `consortium` key holding the
/// consortium shown. Returns the consortium (still to be anchored: the header alone cannot
/// vouch for the voters that certify it).
pub fn verify_consortium_view(view: &ConsortiumView, header: &BlockHeader) -> Result<Consortium> {
    let what = format!("the consortium at height {}", header.height);
    let at = ReadAt {
        height: view.height,
        state_root: view.state_root,
        header: view.header.clone(),
    };
    if view.header.as_ref() != Some(header) {
        return Err(mismatch(
            &what,
            "it was read under another header than the certified one",
        ));
    }
    check_proven(
        &what,
        &at,
        &view.proof,
        &StateKey::Consortium,
        Some(&StateValue::Consortium(view.consortium.clone())),
    )?;
    Ok(view.consortium.clone())
}

/// The voters of a consortium as a certificate counts them: node ids with their keys.
fn voter_keys(c: &Consortium) -> Vec<(u64, couponcactus_chaincode::ids::PublicKey)> {
    c.voters().map(|n| (n.node_id, n.node_key)).collect()
}

/// Whether two consortia have the same voters (ids and keys).
pub fn same_voters(a: &Consortium, b: &Consortium) -> bool {
    voter_keys(a) == voter_keys(b)
}

/// The consortium rebuilt from the history log: genesis's, with every governance change
/// of the log applied in order, and the log's root recomputed on the way so that the result
/// counts only once the entries are shown to be the certified log ([`Self::finish`]).
#[derive(Clone, Debug)]
pub struct ConsortiumReplay {
    consortium: Consortium,
    log: HistoryLog,
}

impl ConsortiumReplay {
    /// Starts from the genesis consortium.
    pub fn new(genesis: Consortium) -> ConsortiumReplay {
        ConsortiumReplay {
            consortium: genesis,
            log: HistoryLog::default(),
        }
    }

    /// Entries replayed so far.
    pub fn log_size(&self) -> u64 {
        self.log.size
    }

    /// Replays the log entry at `log_index` (entries must come in order, from 0).
    pub fn push(&mut self, log_index: u64, leaf: &HistoryLeaf) -> Result<()> {
        self.push_withheld(log_index, leaf_hash(&encode(leaf)))?;
        for event in leaf.outcome.events().unwrap_or_default() {
            if let Event::GovernanceApplied { change, .. } = event {
                self.consortium.apply_change(change);
            }
        }
        Ok(())
    }

    /// Counts an entry the reader may not see (its leaf hash only) towards the log's root.
    /// Governance entries are public, so a withheld entry changes no voter set; a node
    /// that withheld one anyway is caught where the replayed consortium is compared with
    /// the consortium proven at the certified height.
    pub fn push_withheld(&mut self, log_index: u64, leaf_hash: Hash32) -> Result<()> {
        if log_index != self.log.size {
            return Err(mismatch(
                "history log",
                format!("expected entry {}, got {log_index}", self.log.size),
            ));
        }
        let mut sink = Vec::new();
        self.log.append(leaf_hash, &mut sink);
        Ok(())
    }

    /// The consortium after the certified header's block: every entry up to its log size
    /// was replayed and they hash to its log root.
    pub fn finish(self, certified: &BlockHeader) -> Result<Consortium> {
        if self.log.size != certified.log_size || self.log.root() != certified.log_root {
            return Err(mismatch(
                "history log",
                format!(
                    "its first {} entries hash to {}, the certified header has {} entries with root {}",
                    self.log.size,
                    self.log.root(),
                    certified.log_size,
                    certified.log_root
                ),
            ));
        }
        Ok(self.consortium)
    }
}

/// Where the voter set a certificate was checked against came from. Either way it is the
/// consortium of the certificate's height, proven under the certified header's state root;
/// this says what anchors it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum ConsortiumSource {
    /// Its voters are the genesis file's (node ids and keys).
    Genesis,
    /// Its voters are where genesis and every governance change in the certified history
    /// log lead.
    HistoryLog {
        /// Log entries replayed.
        log_size: u64,
    },
}

/// A header tied to a certified block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certified {
    /// Height of the header that was proven.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash32,
    /// Its state root.
    pub state_root: Hash32,
    /// The certified block it links to.
    pub certified_height: u64,
    /// The certified block's hash.
    pub certified_hash: Hash32,
    /// Node ids whose checkpoint signatures verified.
    pub certified_by: Vec<u64>,
    /// The voters those signatures were checked against.
    pub voters: Vec<u64>,
    /// Where the voters came from.
    pub consortium: ConsortiumSource,
}

/// Ties headers to certified blocks by asking a node for checkpoints and blocks, and
/// checks proven reads end to end. Trusts nothing the node says that does not verify.
#[derive(Clone, Debug)]
pub struct ProofVerifier<'a> {
    client: &'a NodeClient,
    anchor: &'a TrustAnchor,
    certificate_wait: Duration,
    max_link: u64,
}

impl<'a> ProofVerifier<'a> {
    /// A verifier asking `client`, trusting only `anchor`.
    pub fn new(client: &'a NodeClient, anchor: &'a TrustAnchor) -> ProofVerifier<'a> {
        ProofVerifier {
            client,
            anchor,
            certificate_wait: DEFAULT_CERTIFICATE_WAIT,
            max_link: DEFAULT_MAX_LINK,
        }
    }

    /// How long to wait for a certificate to reach a header's height.
    pub fn certificate_wait(mut self, wait: Duration) -> Self {
        self.certificate_wait = wait;
        self
    }

    /// Most blocks to fetch to link a header to the certified block.
    pub fn max_link(mut self, blocks: u64) -> Self {
        self.max_link = blocks;
        self
    }

    /// The latest checkpoint once it reaches `height`.
    async fn checkpoint_at_least(&self, height: u64) -> Result<CheckpointView> {
        let started = Instant::now();
        let mut certified = 0;
        loop {
            match self.client.latest_checkpoint().await {
                Ok(cp) if cp.certificate.height >= height => return Ok(cp),
                Ok(cp) => certified = cp.certificate.height,
                // Nothing certified yet.
                Err(NodeClientError::Api { status: 404, .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if started.elapsed() >= self.certificate_wait {
                return Err(VerifyError::NotCertified {
                    height,
                    certified,
                    waited: self.certificate_wait,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The consortium at the certified header, rebuilt from the history log up to its
    /// `log_size`, whose entries must hash to its `log_root`.
    async fn consortium_from_log(&self, certified: &BlockHeader) -> Result<Consortium> {
        let mut replay = ConsortiumReplay::new(self.anchor.genesis_consortium().clone());
        while replay.log_size() < certified.log_size {
            let from = replay.log_size();
            let page = self
                .client
                .log_entries(from, Some(certified.log_size))
                .await?;
            if page.entries.is_empty() && page.withheld.is_empty() {
                return Err(mismatch(
                    "history log",
                    format!("the node returned no entries from {from}"),
                ));
            }
            for entry in page.in_order() {
                match entry {
                    PageEntry::Shown(e) => replay.push(e.log_index, &e.leaf)?,
                    PageEntry::Withheld(w) => replay.push_withheld(w.log_index, w.leaf_hash)?,
                }
            }
        }
        replay.finish(certified)
    }

    /// The consortium in force at `header`'s height (the voter set a certificate of that
    /// height is checked against): read with its state proof under the header's state root,
    /// and anchored — the voters of genesis, or those the certified history log leads to
    /// from genesis (module doc).
    pub async fn consortium_at(
        &self,
        header: &BlockHeader,
    ) -> Result<(Consortium, ConsortiumSource)> {
        let view = self.client.consortium(Some(header.height)).await?;
        let proven = verify_consortium_view(&view, header)?;
        if same_voters(&proven, self.anchor.genesis_consortium()) {
            return Ok((proven, ConsortiumSource::Genesis));
        }
        // Membership changed since genesis: follow it through the history log.
        let replayed = self.consortium_from_log(header).await?;
        if !same_voters(&proven, &replayed) {
            return Err(mismatch(
                format!("the consortium at height {}", header.height),
                format!(
                    "the state proves voters {:?}, the certified history log leads from genesis to {:?}",
                    voter_keys(&proven).iter().map(|v| v.0).collect::<Vec<_>>(),
                    voter_keys(&replayed)
                        .iter()
                        .map(|v| v.0)
                        .collect::<Vec<_>>()
                ),
            ));
        }
        let source = ConsortiumSource::HistoryLog {
            log_size: header.log_size,
        };
        Ok((proven, source))
    }

    /// The latest checkpoint at or above `height`, with its certificate verified against
    /// the voter set of the certificate's own height ([`Self::consortium_at`]). Returns the
    /// checkpoint, the signers, the voters and what anchors them.
    pub async fn certified_checkpoint(
        &self,
        height: u64,
    ) -> Result<(CheckpointView, Vec<u64>, Vec<u64>, ConsortiumSource)> {
        let cp = self.checkpoint_at_least(height).await?;
        check_certified_header(&cp)?;
        let (consortium, source) = self.consortium_at(&cp.header).await?;
        let signers = verify_checkpoint(self.anchor.chain_id(), &consortium, &cp)?;
        let voters = consortium.voters().map(|n| n.node_id).collect();
        Ok((cp, signers, voters, source))
    }

    /// Ties `header` to a certified block: waits for a certificate at or above its height,
    /// verifies the certificate against the consortium, and links the header to the
    /// certified one through the blocks between them.
    pub async fn certify_header(&self, header: &BlockHeader) -> Result<Certified> {
        if &header.chain_id != self.anchor.chain_id() {
            return Err(VerifyError::WrongChain {
                node: header.chain_id.clone(),
                genesis: self.anchor.chain_id().clone(),
            });
        }
        let (cp, certified_by, voters, consortium) =
            self.certified_checkpoint(header.height).await?;
        let certified_height = cp.header.height;
        let gap = certified_height - header.height;
        if gap > self.max_link {
            return Err(VerifyError::GapTooLong {
                height: header.height,
                certified: certified_height,
                gap,
            });
        }
        // The headers between, a page of blocks per request.
        let mut above = Vec::with_capacity(gap as usize);
        let mut next = header.height + 1;
        while next < certified_height {
            let page = self
                .client
                .block_range(next, Some(certified_height - next))
                .await?;
            if page.blocks.is_empty() {
                return Err(VerifyError::BrokenChain {
                    height: next,
                    why: "the node returned no block".into(),
                });
            }
            for block in page.blocks {
                if next >= certified_height {
                    break;
                }
                above.push(block.header);
                next += 1;
            }
        }
        if gap > 0 {
            above.push(cp.header.clone());
        }
        let top = verify_header_chain(header, &above)?;
        if top != cp.certificate.block_hash {
            return Err(VerifyError::BrokenChain {
                height: certified_height,
                why: format!(
                    "the chain leads to {top}, the certified block is {}",
                    cp.certificate.block_hash
                ),
            });
        }
        Ok(Certified {
            height: header.height,
            block_hash: header.hash(),
            state_root: header.state_root,
            certified_height,
            certified_hash: cp.certificate.block_hash,
            certified_by,
            voters,
            consortium,
        })
    }

    /// Checks a pool read end to end.
    pub async fn pool(&self, view: &PoolView) -> Result<Certified> {
        let header = verify_pool_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a program read end to end.
    pub async fn program(&self, view: &ProgramView) -> Result<Certified> {
        let header = verify_program_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a balance read end to end (proof, computed balances, certificate).
    pub async fn balance(&self, view: &BalanceView) -> Result<Certified> {
        let header = verify_balance_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a liability read end to end.
    pub async fn liability(&self, view: &LiabilityView) -> Result<Certified> {
        let header = verify_liability_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a settlement read end to end.
    pub async fn settlement(&self, view: &SettlementView) -> Result<Certified> {
        let header = verify_settlement_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a hold read end to end (proof of the hold or of its absence, certificate).
    pub async fn hold(&self, view: &HoldView) -> Result<Certified> {
        let header = verify_hold_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a token read end to end.
    pub async fn token(&self, view: &TokenView) -> Result<Certified> {
        let header = verify_token_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a code lookup end to end.
    pub async fn code(&self, view: &CodeView) -> Result<Certified> {
        let header = verify_code_view(view)?;
        self.certify_header(header).await
    }

    /// Checks a "not found" end to end: the absence proof ([`NodeClientError::Absent`],
    /// checked by the client against the answer's state root) again, and its header tied to
    /// a certified block.
    pub async fn absence(&self, absence: &ProvenAbsence) -> Result<Certified> {
        let header = check_proven(
            &absence.what,
            &absence.at,
            &absence.proof,
            &absence.proof.key,
            None,
        )?;
        self.certify_header(header).await
    }

    /// The header at `height`, which must carry the log root and size a proof is against.
    async fn log_header(&self, what: &str, log: &LogProof) -> Result<BlockHeader> {
        let header = self.client.block(log.at_height).await?.header;
        if header.log_root != log.log_root || header.log_size != log.log_size {
            return Err(mismatch(
                what,
                format!(
                    "the log proof is against root {} size {}, block {} has root {} size {}",
                    log.log_root, log.log_size, log.at_height, header.log_root, header.log_size
                ),
            ));
        }
        Ok(header)
    }

    /// Checks a tx end to end: its proofs, and the header whose log root its history-log
    /// proof is against, tied to a certified block.
    pub async fn tx(&self, detail: &TxDetail) -> Result<Certified> {
        let log = verify_tx_detail(detail)?;
        let header = self
            .log_header(&format!("tx {}", detail.view.tx_id), log)
            .await?;
        self.certify_header(&header).await
    }

    /// Checks an event end to end: [`verify_event`], then the header its log proof is
    /// against, certified.
    pub async fn event(&self, view: &EventProof) -> Result<Certified> {
        let log = verify_event(view)?;
        let header = self
            .log_header(&format!("event {}", view.event.id), log)
            .await?;
        self.certify_header(&header).await
    }

    /// Checks a token's history end to end (`None`: an empty history on an empty chain).
    pub async fn token_history(&self, view: &TokenHistoryView) -> Result<Option<Certified>> {
        match verify_token_history(view)? {
            Some(header) => Ok(Some(self.certify_header(header).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx_builder::TxBuilder;
    use crate::views::{HistoryEntry, TxView};
    use couponcactus_chaincode::block::{Certificate, block_inclusion_proof, sign_checkpoint};
    use couponcactus_chaincode::codes::code_hash;
    use couponcactus_chaincode::commitment::prove;
    use couponcactus_chaincode::history::inclusion_proof;
    use couponcactus_chaincode::ids::{CodeHash, MemberId, PoolId};
    use couponcactus_chaincode::ledger::{Block, Ledger};
    use couponcactus_chaincode::testkit;
    use couponcactus_chaincode::tx::{SignedTx, TxKind};
    use couponcactus_chaincode::types::{
        GovernanceChange, NodeRecord, PoolAction, PoolKind, TokenStatus,
    };

    /// A chain in memory with real proofs: a pool with issued codes, one token allocated
    /// and redeemed, and the blocks, results and history needed to prove any of it.
    struct Fixture {
        genesis: Genesis,
        ledger: Ledger,
        blocks: Vec<Block>,
        results: Vec<Vec<TxResult>>,
        redeem: SignedTx,
        pool: PoolId,
    }

    impl Fixture {
        fn new() -> Fixture {
            let genesis = Genesis::new(testkit::genesis()).unwrap();
            let mut ledger = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
            let b = TxBuilder::with_first_nonce(genesis.initial.chain_id.clone(), 1)
                .validity_ms(3_600_000);
            let admin = testkit::key(1);
            let terminal = testkit::key(30);
            let pool = testkit::pool_id("spring");
            let mut blocks = Vec::new();
            let mut results = Vec::new();
            let mut time = genesis.initial.genesis_time_ms;
            let mut run = |ledger: &mut Ledger, txs: Vec<SignedTx>| {
                time += 1_000;
                blocks.push(ledger.propose(1, time, txs).unwrap());
            };
            // Keys and a pool with four codes, activated, one token allocated.
            let now = genesis.initial.genesis_time_ms;
            let b_at =
                |kind: TxKind, key: &ed25519_dalek::SigningKey| b.body_at(kind, now).sign(key);
            run(
                &mut ledger,
                vec![b_at(
                    TxKind::RegisterKey(couponcactus_chaincode::tx::RegisterKeyTx {
                        key: testkit::public(30),
                        role: couponcactus_chaincode::types::Role::Terminal {
                            store: couponcactus_chaincode::ids::StoreId::new("acme-store-1")
                                .unwrap(),
                            channel: couponcactus_chaincode::ids::Channel::new("pos").unwrap(),
                        },
                    }),
                    &admin,
                )],
            );
            let codes = (0..4)
                .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
                .collect();
            run(
                &mut ledger,
                vec![
                    b_at(
                        TxKind::CreatePool(couponcactus_chaincode::tx::CreatePoolTx {
                            pool: pool.clone(),
                            spec: testkit::spec(PoolKind::UniqueCodes),
                        }),
                        &admin,
                    ),
                    b_at(
                        TxKind::IssueCodes(couponcactus_chaincode::tx::IssueCodesTx {
                            pool: pool.clone(),
                            codes,
                        }),
                        &admin,
                    ),
                    b_at(
                        TxKind::TransitionPool(couponcactus_chaincode::tx::TransitionPoolTx {
                            pool: pool.clone(),
                            action: PoolAction::Activate,
                        }),
                        &admin,
                    ),
                    b_at(
                        TxKind::Allocate(couponcactus_chaincode::tx::AllocateTx {
                            pool: pool.clone(),
                            member: testkit::member(1),
                            claim: testkit::claim(1),
                        }),
                        &admin,
                    ),
                ],
            );
            let redeem = b_at(
                TxKind::Redeem(couponcactus_chaincode::tx::RedeemTx {
                    target: couponcactus_chaincode::tx::RedeemTarget::Token(TokenId {
                        pool: pool.clone(),
                        serial: 0,
                    }),
                    member: Some(testkit::member(1)),
                    order: testkit::order(10_000),
                }),
                &terminal,
            );
            run(&mut ledger, vec![redeem.clone()]);
            // Two more blocks, so reads have headers to link.
            run(&mut ledger, vec![]);
            run(&mut ledger, vec![]);
            // Results per block, by replaying on a second ledger.
            let mut replay = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
            for block in &blocks {
                results.push(replay.replay(block).unwrap());
            }
            Fixture {
                genesis,
                ledger,
                blocks,
                results,
                redeem,
                pool,
            }
        }

        fn header(&self, height: u64) -> BlockHeader {
            self.blocks[(height - 1) as usize].header.clone()
        }

        fn at(&self, height: u64) -> ReadAt {
            let header = self.header(height);
            ReadAt {
                height,
                state_root: header.state_root,
                header: Some(header),
            }
        }

        fn token_view(&self, serial: u64, height: u64) -> TokenView {
            let token_id = TokenId {
                pool: self.pool.clone(),
                serial,
            };
            let proof = prove(
                &self.ledger.tree,
                &StateKey::Token(token_id.clone()),
                height,
            )
            .unwrap();
            let Some(StateValue::Token(token)) = proof.value.clone() else {
                panic!("no token {token_id}");
            };
            TokenView {
                token_id,
                token,
                at: self.at(height),
                proof,
            }
        }

        fn certificate(&self, height: u64, signers: &[u8]) -> CheckpointView {
            let header = self.header(height);
            let chain = &self.genesis.initial.chain_id;
            CheckpointView {
                certificate: Certificate {
                    chain_id: chain.clone(),
                    height,
                    block_hash: header.hash(),
                    signatures: signers
                        .iter()
                        .map(|seed| {
                            sign_checkpoint(&testkit::key(*seed), 1, chain, height, &header.hash())
                        })
                        .collect(),
                },
                header,
            }
        }

        fn redeem_detail(&self, log_at: u64) -> TxDetail {
            let height = 3;
            let block = &self.blocks[(height - 1) as usize];
            let results = &self.results[(height - 1) as usize];
            let index = 0u32;
            let outcome = results[0].outcome.clone();
            let log_index = block.header.log_size - block.header.tx_count;
            let at = self.header(log_at);
            let proof = inclusion_proof(&self.ledger.history, log_index, at.log_size).unwrap();
            let leaf = HistoryLeaf {
                tx_id: self.redeem.id(),
                height,
                index,
                outcome: outcome.clone(),
            };
            TxDetail {
                view: TxView {
                    tx_id: self.redeem.id(),
                    status: TxStatus::Applied,
                    height: Some(height),
                    index: Some(index),
                    log_index: Some(log_index),
                    result: Some(outcome),
                    error: None,
                },
                tx: Some(self.redeem.clone()),
                header: Some(block.header.clone()),
                tx_proof: Some(block_inclusion_proof(&block.txs, 0).unwrap()),
                result_proof: Some(block_inclusion_proof(results, 0).unwrap()),
                log: Some(LogProof {
                    leaf,
                    log_index,
                    log_size: at.log_size,
                    log_root: at.log_root,
                    proof,
                    at_height: log_at,
                }),
            }
        }
    }

    #[test]
    fn a_real_token_proof_verifies_and_tampering_is_caught() {
        let f = Fixture::new();
        let view = f.token_view(0, 4);
        assert!(matches!(view.token.status, TokenStatus::Redeemed { .. }));
        assert_eq!(verify_token_view(&view).unwrap(), &f.header(4));
        // At an earlier height the token was allocated, not redeemed: also provable.
        let before = f.token_view(0, 2);
        assert_eq!(before.token.status, TokenStatus::Allocated);
        verify_token_view(&before).unwrap();

        // A forged status (the node claims the coupon is still good).
        let mut forged = view.clone();
        forged.token.status = TokenStatus::Allocated;
        forged.proof.value = Some(StateValue::Token(forged.token.clone()));
        assert!(matches!(
            verify_token_view(&forged),
            Err(VerifyError::StateProof {
                source: StateProofError::ValueMismatch,
                ..
            })
        ));
        // The value shown differs from the value proven.
        let mut shown = view.clone();
        shown.token.owner = Some(MemberId([9; 32]));
        assert!(matches!(
            verify_token_view(&shown),
            Err(VerifyError::Mismatch { .. })
        ));
        // Another root (a header the node made up).
        let mut root = view.clone();
        let mut header = root.at.header.clone().unwrap();
        header.state_root = Hash32([7; 32]);
        root.at.state_root = header.state_root;
        root.at.header = Some(header);
        assert!(matches!(
            verify_token_view(&root),
            Err(VerifyError::StateProof {
                source: StateProofError::RootMismatch,
                ..
            })
        ));
        // The proof of another token.
        let mut other = f.token_view(1, 4);
        other.token = view.token.clone();
        other.proof.value = Some(StateValue::Token(view.token.clone()));
        assert!(verify_token_view(&other).is_err());
        // A tampered sibling.
        let mut sibling = view.clone();
        if let Some(s) = sibling.proof.proof.siblings.first_mut() {
            s.0[0] ^= 1;
        }
        assert!(verify_token_view(&sibling).is_err());
    }

    #[test]
    fn pool_and_code_reads_verify() {
        let f = Fixture::new();
        let proof = prove(&f.ledger.tree, &StateKey::Pool(f.pool.clone()), 4).unwrap();
        let Some(StateValue::Pool(pool)) = proof.value.clone() else {
            panic!("no pool")
        };
        let view = PoolView {
            pool,
            at: f.at(4),
            proof,
        };
        verify_pool_view(&view).unwrap();
        let mut forged = view.clone();
        forged.pool.redeemed = 0;
        assert!(verify_pool_view(&forged).is_err());

        let hash: CodeHash = code_hash(&testkit::code_text(&f.pool, 1));
        let code_proof = prove(&f.ledger.tree, &StateKey::Code(hash), 4).unwrap();
        let Some(StateValue::Code(entry)) = code_proof.value.clone() else {
            panic!("no code")
        };
        let code = CodeView {
            code_hash: hash,
            entry,
            code_proof,
            token: Some(f.token_view(1, 4)),
            at: f.at(4),
        };
        verify_code_view(&code).unwrap();
        let mut wrong_token = code.clone();
        wrong_token.token = Some(f.token_view(2, 4));
        assert!(verify_code_view(&wrong_token).is_err());
        let mut no_token = code.clone();
        no_token.token = None;
        assert!(verify_code_view(&no_token).is_err());
    }

    #[test]
    fn certificates_and_header_chains() {
        let f = Fixture::new();
        let anchor = TrustAnchor::from_genesis(&f.genesis);
        let chain = anchor.chain_id().clone();
        // The testkit genesis has one voter, node 1, whose key is seed 200.
        let cp = f.certificate(5, &[200]);
        assert_eq!(
            verify_checkpoint(&chain, anchor.genesis_consortium(), &cp).unwrap(),
            vec![1]
        );
        // Signed by another key: not the voter's signature.
        let bad = f.certificate(5, &[201]);
        assert!(matches!(
            verify_checkpoint(&chain, anchor.genesis_consortium(), &bad),
            Err(VerifyError::Certificate {
                source: CertificateError::BadSignature(1),
                ..
            })
        ));
        // The header shown is not the one certified.
        let mut swapped = cp.clone();
        swapped.header = f.header(4);
        assert!(verify_checkpoint(&chain, anchor.genesis_consortium(), &swapped).is_err());
        // No signatures: no quorum.
        let mut empty = cp.clone();
        empty.certificate.signatures.clear();
        assert!(matches!(
            verify_checkpoint(&chain, anchor.genesis_consortium(), &empty),
            Err(VerifyError::Certificate {
                source: CertificateError::NoQuorum { .. },
                ..
            })
        ));

        // Header 2 links to the certified header 5 through 3 and 4.
        let above: Vec<BlockHeader> = (3..=5).map(|h| f.header(h)).collect();
        assert_eq!(
            verify_header_chain(&f.header(2), &above).unwrap(),
            cp.certificate.block_hash
        );
        let mut broken = above.clone();
        broken[1].state_root = Hash32([1; 32]);
        assert!(matches!(
            verify_header_chain(&f.header(2), &broken),
            Err(VerifyError::BrokenChain { height: 5, .. })
        ));
        let skipped = vec![f.header(3), f.header(5)];
        assert!(matches!(
            verify_header_chain(&f.header(2), &skipped),
            Err(VerifyError::BrokenChain { height: 4, .. })
        ));

        // The genesis file must be the node's.
        let mut status = crate::views::Status {
            node_id: 1,
            role: "leader".into(),
            leader_id: 1,
            term: 1,
            height: 5,
            block_hash: cp.certificate.block_hash,
            state_root: f.header(5).state_root,
            log_size: f.header(5).log_size,
            certified_height: 5,
            mempool: 0,
            chain_id: chain.clone(),
            genesis_hash: f.genesis.hash(),
            voters: vec![1],
            learners: vec![],
            peers_connected: vec![],
            divergence: None,
        };
        anchor.check_status(&status).unwrap();
        status.genesis_hash = Hash32([0; 32]);
        assert!(matches!(
            anchor.check_status(&status),
            Err(VerifyError::GenesisMismatch { .. })
        ));
    }

    #[test]
    fn tx_proofs_verify_and_tampering_is_caught() {
        let f = Fixture::new();
        let detail = f.redeem_detail(5);
        let log = verify_tx_detail(&detail).unwrap();
        assert_eq!(log.at_height, 5);
        // The log proof is against the log root of block 5's header.
        assert_eq!(log.log_root, f.header(5).log_root);

        let mut forged = detail.clone();
        let rejected = couponcactus_chaincode::execute::TxOutcome::Rejected {
            rejection: couponcactus_chaincode::reject::Rejection::new(
                couponcactus_chaincode::reject::RejectReason::AlreadyRedeemed,
                "forged",
            ),
        };
        forged.view.result = Some(rejected.clone());
        assert!(verify_tx_detail(&forged).is_err(), "another outcome");
        let mut signature = detail.clone();
        if let Some(tx) = signature.tx.as_mut() {
            tx.signature.0[0] ^= 1;
        }
        assert!(matches!(
            verify_tx_detail(&signature),
            Err(VerifyError::BadTxSignature(_))
        ));
        let mut other_tx = detail.clone();
        if let Some(tx) = other_tx.tx.as_mut() {
            tx.body.nonce += 1;
        }
        assert!(verify_tx_detail(&other_tx).is_err());
        let mut log_root = detail.clone();
        if let Some(log) = log_root.log.as_mut() {
            log.log_root = Hash32([3; 32]);
        }
        assert!(matches!(
            verify_tx_detail(&log_root),
            Err(VerifyError::Inclusion { .. })
        ));
        let mut pending = detail.clone();
        pending.view.status = TxStatus::Pending;
        assert!(verify_tx_detail(&pending).is_err());

        // The same tx's history entry, as the token history shows it.
        let log = detail.log.clone().unwrap();
        let history = TokenHistoryView {
            token_id: TokenId {
                pool: f.pool.clone(),
                serial: 0,
            },
            header: Some(f.header(5)),
            entries: vec![HistoryEntry {
                height: 3,
                index: 0,
                log_index: log.log_index,
                tx: f.redeem.clone(),
                result: detail.view.result.clone().unwrap(),
                log,
            }],
        };
        assert_eq!(verify_token_history(&history).unwrap(), Some(&f.header(5)));
        let mut tampered = history.clone();
        tampered.entries[0].result = rejected;
        assert!(verify_token_history(&tampered).is_err());
    }

    #[test]
    fn governance_changes_the_voters_as_the_chaincode_does() {
        let f = Fixture::new();
        let mut consortium = TrustAnchor::from_genesis(&f.genesis)
            .genesis_consortium()
            .clone();
        assert_eq!(
            consortium.voters().map(|n| n.node_id).collect::<Vec<_>>(),
            vec![1]
        );
        let node = |id: u64| NodeRecord {
            node_id: id,
            org: testkit::org("acme"),
            node_key: testkit::public(200 + id as u8),
            p2p_addr: "/ip4/127.0.0.1/tcp/1".into(),
            voter: true,
        };
        consortium.apply_change(&GovernanceChange::AddNode { node: node(3) });
        consortium.apply_change(&GovernanceChange::AddNode { node: node(2) });
        consortium.apply_change(&GovernanceChange::RemoveNode { node_id: 1 });
        assert_eq!(
            consortium.voters().map(|n| n.node_id).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(consortium.retired_node_ids, vec![1]);
    }

    #[test]
    fn voters_changed_by_governance_are_rebuilt_from_the_certified_log() {
        let genesis = Genesis::new(testkit::genesis()).unwrap();
        let anchor = TrustAnchor::from_genesis(&genesis);
        let chain = anchor.chain_id().clone();
        let mut ledger = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
        let b = TxBuilder::with_first_nonce(chain.clone(), 1).validity_ms(3_600_000);
        let now = genesis.initial.genesis_time_ms;
        // acme proposes node 2, globex approves: 2 of 3 orgs, the change applies.
        let node2 = NodeRecord {
            node_id: 2,
            org: testkit::org("globex"),
            node_key: testkit::public(202),
            p2p_addr: "/ip4/127.0.0.1/tcp/7202".into(),
            voter: true,
        };
        let propose = b
            .body_at(
                TxKind::ProposeGovernance(couponcactus_chaincode::tx::ProposeGovernanceTx {
                    change: GovernanceChange::AddNode { node: node2 },
                }),
                now,
            )
            .sign(&testkit::key(1));
        let approve = b
            .body_at(
                TxKind::ApproveGovernance(couponcactus_chaincode::tx::ApproveGovernanceTx {
                    proposal: propose.id(),
                }),
                now,
            )
            .sign(&testkit::key(2));
        let b1 = ledger.propose(1, now + 1_000, vec![propose]).unwrap();
        let b2 = ledger.propose(1, now + 2_000, vec![approve]).unwrap();
        let mut replayed = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
        let mut leaves = Vec::new();
        for block in [&b1, &b2] {
            for (i, r) in replayed.replay(block).unwrap().into_iter().enumerate() {
                leaves.push(HistoryLeaf {
                    tx_id: r.tx_id,
                    height: block.header.height,
                    index: i as u32,
                    outcome: r.outcome,
                });
            }
        }
        assert!(
            leaves[1]
                .outcome
                .events()
                .unwrap()
                .iter()
                .any(|e| matches!(e, Event::GovernanceApplied { .. })),
            "{leaves:?}"
        );
        // Nodes 1 and 2 certify block 2: not a quorum of genesis's voters (node 2 is not
        // one), a quorum of the consortium the certified log leads to.
        let hash = b2.header.hash();
        let cp = CheckpointView {
            certificate: Certificate {
                chain_id: chain.clone(),
                height: 2,
                block_hash: hash,
                signatures: vec![
                    sign_checkpoint(&testkit::key(200), 1, &chain, 2, &hash),
                    sign_checkpoint(&testkit::key(202), 2, &chain, 2, &hash),
                ],
            },
            header: b2.header.clone(),
        };
        assert!(matches!(
            verify_checkpoint(&chain, anchor.genesis_consortium(), &cp),
            Err(VerifyError::Certificate {
                source: CertificateError::NotAVoter(2),
                ..
            })
        ));
        let mut replay = ConsortiumReplay::new(anchor.genesis_consortium().clone());
        for (i, leaf) in leaves.iter().enumerate() {
            replay.push(i as u64, leaf).unwrap();
        }
        let consortium = replay.finish(&b2.header).unwrap();
        assert_eq!(
            consortium.voters().map(|n| n.node_id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            verify_checkpoint(&chain, &consortium, &cp).unwrap(),
            vec![1, 2]
        );

        // A log that is not the certified one does not count.
        let mut forged = ConsortiumReplay::new(anchor.genesis_consortium().clone());
        forged.push(0, &leaves[0]).unwrap();
        let mut fake = leaves[1].clone();
        fake.index = 7;
        forged.push(1, &fake).unwrap();
        assert!(forged.finish(&b2.header).is_err());
        let mut short = ConsortiumReplay::new(anchor.genesis_consortium().clone());
        short.push(0, &leaves[0]).unwrap();
        assert!(short.finish(&b2.header).is_err());
        assert!(
            ConsortiumReplay::new(Consortium::default())
                .push(3, &leaves[0])
                .is_err()
        );
    }

    // ---- certificates against the voter set of their own height; absences (issue 14) --------

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A stand-in node on 127.0.0.1 answering each GET whose path and query is listed with
    /// 200 and its JSON (404 otherwise), one connection per request.
    fn routed_node(routes: Vec<(String, String)>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head.split(' ').nth(1).unwrap_or_default();
                let (status, body) = match routes.iter().find(|(path, _)| path == target) {
                    Some((_, json)) => (200, json.clone()),
                    None => (
                        404,
                        format!(r#"{{"error":{{"code":"not_found","message":"no {target}"}}}}"#),
                    ),
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        url
    }

    fn route(path: &str, value: &impl Serialize) -> (String, String) {
        (path.to_string(), serde_json::to_string(value).unwrap())
    }

    fn node_of(id: u64, org: &str) -> NodeRecord {
        NodeRecord {
            node_id: id,
            org: testkit::org(org),
            node_key: testkit::public(200 + id as u8),
            p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", 7200 + id),
            voter: true,
        }
    }

    /// A chain founded by three voters (nodes 1 to 3, keys seeds 201 to 203) whose
    /// membership changes by governance, one tx per block: node 3 removed (blocks 1 and 2),
    /// node 4 added (blocks 3 and 4), org `umbrella` admitted (blocks 5 and 6).
    struct VoterChange {
        genesis: Genesis,
        ledger: Ledger,
        blocks: Vec<Block>,
        txs: Vec<SignedTx>,
        leaves: Vec<HistoryLeaf>,
    }

    impl VoterChange {
        fn new() -> VoterChange {
            let mut initial = testkit::genesis();
            initial.nodes = (1..=3).map(|id| node_of(id, "acme")).collect();
            let genesis = Genesis::new(initial).unwrap();
            let mut ledger = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
            let b = TxBuilder::with_first_nonce(genesis.initial.chain_id.clone(), 1)
                .validity_ms(3_600_000);
            let now = genesis.initial.genesis_time_ms;
            let changes = [
                GovernanceChange::RemoveNode { node_id: 3 },
                GovernanceChange::AddNode {
                    node: node_of(4, "globex"),
                },
                GovernanceChange::AddOrg {
                    org: testkit::org("umbrella"),
                    name: "Umbrella".into(),
                    admin_key: testkit::public(5),
                },
            ];
            let (mut blocks, mut txs) = (Vec::new(), Vec::new());
            for change in changes {
                let propose = b
                    .body_at(
                        TxKind::ProposeGovernance(
                            couponcactus_chaincode::tx::ProposeGovernanceTx { change },
                        ),
                        now,
                    )
                    .sign(&testkit::key(1));
                let approve = b
                    .body_at(
                        TxKind::ApproveGovernance(
                            couponcactus_chaincode::tx::ApproveGovernanceTx {
                                proposal: propose.id(),
                            },
                        ),
                        now,
                    )
                    .sign(&testkit::key(2));
                for tx in [propose, approve] {
                    let time = now + 1_000 * (blocks.len() as u64 + 1);
                    blocks.push(ledger.propose(1, time, vec![tx.clone()]).unwrap());
                    txs.push(tx);
                }
            }
            let mut replayed = Ledger::from_genesis(&genesis.initial, genesis.hash()).unwrap();
            let mut leaves = Vec::new();
            for block in &blocks {
                for (i, r) in replayed.replay(block).unwrap().into_iter().enumerate() {
                    leaves.push(HistoryLeaf {
                        tx_id: r.tx_id,
                        height: block.header.height,
                        index: i as u32,
                        outcome: r.outcome,
                    });
                }
            }
            VoterChange {
                genesis,
                ledger,
                blocks,
                txs,
                leaves,
            }
        }

        fn header(&self, height: u64) -> BlockHeader {
            self.blocks[(height - 1) as usize].header.clone()
        }

        /// The consortium in the chaincode's state after block `height`, with its proof.
        fn consortium_view(&self, height: u64) -> ConsortiumView {
            let proof = prove(&self.ledger.tree, &StateKey::Consortium, height).unwrap();
            let Some(StateValue::Consortium(consortium)) = proof.value.clone() else {
                panic!("no consortium at {height}");
            };
            let header = self.header(height);
            ConsortiumView {
                height,
                state_root: header.state_root,
                header: Some(header),
                consortium,
                proof,
            }
        }

        /// A certificate of block `height` signed by the nodes `signers` (ascending).
        fn checkpoint(&self, height: u64, signers: &[u64]) -> CheckpointView {
            let header = self.header(height);
            let chain = &self.genesis.initial.chain_id;
            let hash = header.hash();
            CheckpointView {
                certificate: Certificate {
                    chain_id: chain.clone(),
                    height,
                    block_hash: hash,
                    signatures: signers
                        .iter()
                        .map(|id| {
                            sign_checkpoint(
                                &testkit::key(200 + *id as u8),
                                *id,
                                chain,
                                height,
                                &hash,
                            )
                        })
                        .collect(),
                },
                header,
            }
        }

        /// `GET /v1/log/entries?from=0&to=N` of the first `n` entries.
        fn log_route(&self, n: u64) -> (String, String) {
            let entries: Vec<crate::views::LogEntry> = (0..n as usize)
                .map(|i| crate::views::LogEntry {
                    log_index: i as u64,
                    leaf: self.leaves[i].clone(),
                    tx: self.txs[i].clone(),
                })
                .collect();
            let page = serde_json::json!({"from": 0, "to": n, "log_size": n, "entries": entries});
            route(&format!("/v1/log/entries?from=0&to={n}"), &page)
        }

        /// A node serving `checkpoint` as its latest, the consortium `view` at its height, and
        /// the history log up to it.
        fn node(&self, checkpoint: &CheckpointView, view: &ConsortiumView) -> NodeClient {
            let height = checkpoint.certificate.height;
            let url = routed_node(vec![
                route("/v1/checkpoints/latest", checkpoint),
                route(&format!("/v1/consortium?height={height}"), view),
                self.log_route(checkpoint.header.log_size),
            ]);
            NodeClient::new(&url, self.genesis.initial.chain_id.clone()).unwrap()
        }
    }

    fn voter_ids(c: &Consortium) -> Vec<u64> {
        c.voters().map(|n| n.node_id).collect()
    }

    #[test]
    fn the_consortium_replayed_from_the_log_is_the_chaincodes_at_every_height() {
        let c = VoterChange::new();
        let genesis = TrustAnchor::from_genesis(&c.genesis)
            .genesis_consortium()
            .clone();
        assert_eq!(voter_ids(&genesis), vec![1, 2, 3]);
        for height in 1..=c.blocks.len() as u64 {
            let header = c.header(height);
            let mut replay = ConsortiumReplay::new(genesis.clone());
            for (i, leaf) in c.leaves.iter().take(header.log_size as usize).enumerate() {
                replay.push(i as u64, leaf).unwrap();
            }
            let executed = c.consortium_view(height).consortium;
            assert_eq!(replay.finish(&header).unwrap(), executed, "height {height}");
        }
        let last = c.consortium_view(6).consortium;
        assert_eq!(voter_ids(&last), vec![1, 2, 4]);
        assert_eq!(last.retired_node_ids, vec![3]);
        assert!(last.orgs.contains(&testkit::org("umbrella")), "{last:?}");
        // Each change applied in the approving block, as the chaincode applied it.
        assert_eq!(voter_ids(&c.consortium_view(1).consortium), vec![1, 2, 3]);
        assert_eq!(voter_ids(&c.consortium_view(2).consortium), vec![1, 2]);
        assert_eq!(voter_ids(&c.consortium_view(4).consortium), vec![1, 2, 4]);
    }

    #[test]
    fn a_certificate_counts_only_the_voters_of_its_own_height() {
        let c = VoterChange::new();
        let anchor = TrustAnchor::from_genesis(&c.genesis);
        let chain = anchor.chain_id().clone();
        let view = c.consortium_view(4);
        let verify = |client: &NodeClient| {
            block_on(
                ProofVerifier::new(client, &anchor)
                    .certificate_wait(Duration::ZERO)
                    .certified_checkpoint(4),
            )
        };

        // Former voters 1 and 3 are a quorum of the genesis voters, not of height 4's
        // (1, 2 and 4): their certificate must not count.
        let stale = c.checkpoint(4, &[1, 3]);
        assert!(verify_checkpoint(&chain, anchor.genesis_consortium(), &stale).is_ok());
        let err = verify(&c.node(&stale, &view)).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Certificate {
                    height: 4,
                    source: CertificateError::NotAVoter(3)
                }
            ),
            "{err}"
        );
        // Node 1 alone is no quorum of three voters either.
        let alone = c.checkpoint(4, &[1]);
        assert!(matches!(
            verify(&c.node(&alone, &view)),
            Err(VerifyError::Certificate {
                source: CertificateError::NoQuorum { .. },
                ..
            })
        ));

        // The voters of height 4 certify it; their set is anchored through the history log.
        let good = c.checkpoint(4, &[1, 4]);
        let (cp, signers, voters, source) = verify(&c.node(&good, &view)).unwrap();
        assert_eq!(cp, good);
        assert_eq!((signers, voters), (vec![1, 4], vec![1, 2, 4]));
        assert_eq!(source, ConsortiumSource::HistoryLog { log_size: 4 });

        // A node that shows the genesis consortium at height 4 (so that 1 and 3 would
        // count) cannot prove it under height 4's state root.
        let mut forged = view.clone();
        forged.consortium = anchor.genesis_consortium().clone();
        forged.proof.value = Some(StateValue::Consortium(forged.consortium.clone()));
        assert!(matches!(
            verify(&c.node(&stale, &forged)),
            Err(VerifyError::StateProof { .. })
        ));
        // Nor with the consortium of another height.
        let other = c.consortium_view(1);
        assert!(matches!(
            verify(&c.node(&stale, &other)),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn certificates_before_any_change_are_anchored_to_genesis() {
        let c = VoterChange::new();
        let anchor = TrustAnchor::from_genesis(&c.genesis);
        // Block 1 only proposes: the founding voters are still in force.
        let cp = c.checkpoint(1, &[2, 3]);
        let client = c.node(&cp, &c.consortium_view(1));
        let (_, signers, voters, source) = block_on(
            ProofVerifier::new(&client, &anchor)
                .certificate_wait(Duration::ZERO)
                .certified_checkpoint(1),
        )
        .unwrap();
        assert_eq!((signers, voters), (vec![2, 3], vec![1, 2, 3]));
        assert_eq!(source, ConsortiumSource::Genesis);
        // From block 2 on node 3 is retired: with 1, it no longer certifies.
        let cp = c.checkpoint(2, &[1, 3]);
        let client = c.node(&cp, &c.consortium_view(2));
        assert!(
            block_on(
                ProofVerifier::new(&client, &anchor)
                    .certificate_wait(Duration::ZERO)
                    .certified_checkpoint(2),
            )
            .is_err()
        );
    }

    #[test]
    fn an_absence_is_believed_once_proven_and_certified() {
        let f = Fixture::new();
        let anchor = TrustAnchor::from_genesis(&f.genesis);
        let missing = StateKey::Token(TokenId {
            pool: f.pool.clone(),
            serial: 99,
        });
        let proof = prove(&f.ledger.tree, &missing, 5).unwrap();
        assert_eq!(proof.value, None);
        let absence = verify_absence("token spring/99", &missing, None, &f.at(5), &proof).unwrap();
        assert_eq!((absence.key(), absence.height()), (&missing, 5));
        let consortium = {
            let proof = prove(&f.ledger.tree, &StateKey::Consortium, 5).unwrap();
            let Some(StateValue::Consortium(consortium)) = proof.value.clone() else {
                panic!("no consortium");
            };
            ConsortiumView {
                height: 5,
                state_root: f.header(5).state_root,
                header: Some(f.header(5)),
                consortium,
                proof,
            }
        };
        let url = routed_node(vec![
            route("/v1/checkpoints/latest", &f.certificate(5, &[200])),
            route("/v1/consortium?height=5", &consortium),
        ]);
        let client = NodeClient::new(&url, anchor.chain_id().clone()).unwrap();
        let verifier = ProofVerifier::new(&client, &anchor).certificate_wait(Duration::ZERO);
        let certified = block_on(verifier.absence(&absence)).unwrap();
        assert_eq!((certified.height, certified.certified_height), (5, 5));
        assert_eq!(certified.consortium, ConsortiumSource::Genesis);

        // Tampered: a sibling flipped, the absence of a key that exists, another height.
        let mut sibling = absence.clone();
        sibling.proof.proof.siblings[0].0[0] ^= 1;
        assert!(matches!(
            block_on(verifier.absence(&sibling)),
            Err(VerifyError::StateProof { .. })
        ));
        let present = StateKey::Token(TokenId {
            pool: f.pool.clone(),
            serial: 0,
        });
        let mut exists = absence.clone();
        exists.proof.key = present.clone();
        assert!(block_on(verifier.absence(&exists)).is_err());
        assert!(verify_absence("token", &present, None, &f.at(5), &exists.proof).is_err());
        assert!(verify_absence("token", &missing, Some(4), &f.at(5), &proof).is_err());
        // A proof of height 5 is no proof at height 2.
        assert!(verify_absence("token", &missing, None, &f.at(2), &proof).is_err());
    }
}
