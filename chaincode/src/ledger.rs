//! Applying and replaying blocks: execution, state commitment, history log and header in
//! one pure step.
//!
//! [`apply_block`] is what a proposer (and every follower) runs for a new block: it
//! executes the txs, commits the write set to the state tree at the block's height,
//! appends every result to the history log, and builds the header. It returns
//! [`AppliedBlock`], the effects to persist atomically (state writes, tree batch, history
//! nodes, header, results) — it writes nothing itself. [`replay_block`] is what followers
//! and auditors run for a block someone else built: the same computation, then a field by
//! field comparison with the header received, so the first divergence is named.
//!
//! ```
//! use couponcactus_chaincode::ledger::Ledger;
//! use couponcactus_chaincode::prelude::*;
//! use couponcactus_chaincode::testkit;
//!
//! let genesis = testkit::genesis();
//! let mut ledger = Ledger::from_genesis(&genesis, Hash32([0; 32])).unwrap();
//! let tx = TxBody {
//!     chain_id: genesis.chain_id.clone(),
//!     nonce: 1,
//!     valid_until_ms: genesis.genesis_time_ms + 60_000,
//!     kind: TxKind::RevokeKey(RevokeKeyTx { key: testkit::public(9) }),
//!     memo: None,
//! }
//! .sign(&testkit::key(1));
//! let block = ledger.propose(1, genesis.genesis_time_ms + 1_000, vec![tx]).unwrap();
//! assert_eq!(block.header.height, 1);
//! assert_eq!(block.header.log_size, 1);
//!
//! // An auditor replays the same block from genesis and reaches the same header.
//! let mut auditor = Ledger::from_genesis(&genesis, Hash32([0; 32])).unwrap();
//! auditor.replay(&block).unwrap();
//! assert_eq!(auditor.tip.block_hash, ledger.tip.block_hash);
//! ```

use crate::block::{BlockHeader, result_root, tx_root};
use crate::commitment::{CommitmentError, MemTreeStore, StateUpdate, commit_writes};
use crate::execute::{TxResult, execute_block};
use crate::history::{HistoryLeaf, HistoryLog, HistoryNode};
use crate::ids::{ChainId, Hash32};
use crate::initial::{InitialState, InitialStateError};
use crate::state::{MemState, StateError, StateReader, WriteSet};
use crate::tx::SignedTx;
use crate::types::BlockContext;
use bincode::{Decode, Encode};
use jmt::storage::TreeReader;
use serde::{Deserialize, Serialize};

/// A block: its header and its txs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Block {
    /// What the block commits to.
    pub header: BlockHeader,
    /// The txs, in execution order.
    pub txs: Vec<SignedTx>,
}

/// Where the chain stands after a block: what the next block builds on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ChainTip {
    /// The chain.
    pub chain_id: ChainId,
    /// Height of the last block (0 = genesis).
    pub height: u64,
    /// Its time (genesis: genesis time).
    pub time_ms: u64,
    /// Its hash (genesis: the genesis hash).
    pub block_hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// The history log after it (size and frontier).
    pub log: HistoryLog,
}

/// Everything one block changes, to be persisted atomically by the caller.
#[derive(Debug)]
pub struct AppliedBlock {
    /// The block's header.
    pub header: BlockHeader,
    /// One result per tx.
    pub results: Vec<TxResult>,
    /// Chaincode state changes.
    pub state_writes: WriteSet,
    /// State-tree nodes, values and stale-node indices at this height.
    pub state_update: StateUpdate,
    /// History-log subtree hashes completed by this block.
    pub history_nodes: Vec<HistoryNode>,
    /// The tip after the block.
    pub tip: ChainTip,
}

/// Why a block could not be applied or does not match.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    /// Block time must be strictly above the previous block's.
    #[error("block time {time_ms} ms is not after the previous block's {previous_ms} ms")]
    TimeNotIncreasing {
        /// The block's time.
        time_ms: u64,
        /// The previous block's time.
        previous_ms: u64,
    },
    /// The block is not the next one.
    #[error("expected height {expected}, got {got}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// A header field differs from the recomputed one.
    #[error("block {height}: {field} differs (header {claimed}, recomputed {computed})")]
    Mismatch {
        /// Height of the block.
        height: u64,
        /// Which header field.
        field: &'static str,
        /// What the header says (hex or number).
        claimed: String,
        /// What replaying gives.
        computed: String,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state tree failed.
    #[error(transparent)]
    Commitment(#[from] CommitmentError),
    /// Genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] InitialStateError),
}

/// The tip at height 0 and the tree update of genesis state.
pub fn genesis_tip<T: TreeReader>(
    genesis: &InitialState,
    genesis_hash: Hash32,
    tree: &T,
) -> Result<(ChainTip, WriteSet, StateUpdate), LedgerError> {
    let writes = genesis.writes()?;
    let update = commit_writes(tree, 0, &writes)?;
    let tip = ChainTip {
        chain_id: genesis.chain_id.clone(),
        height: 0,
        time_ms: genesis.genesis_time_ms,
        block_hash: genesis_hash,
        state_root: update.root,
        log: HistoryLog::default(),
    };
    Ok((tip, writes, update))
}

/// Executes `txs` as the block after `tip`, proposed by node `proposer` at `time_ms`.
pub fn apply_block<S, T>(
    state: &S,
    tree: &T,
    tip: &ChainTip,
    proposer: u64,
    time_ms: u64,
    txs: &[SignedTx],
) -> Result<AppliedBlock, LedgerError>
where
    S: StateReader + ?Sized,
    T: TreeReader,
{
    if time_ms <= tip.time_ms {
        return Err(LedgerError::TimeNotIncreasing {
            time_ms,
            previous_ms: tip.time_ms,
        });
    }
    let height = tip.height + 1;
    let ctx = BlockContext {
        chain_id: tip.chain_id.clone(),
        height,
        time_ms,
    };
    let outcome = execute_block(state, &ctx, txs)?;
    let state_update = commit_writes(tree, height, &outcome.writes)?;
    let mut log = tip.log.clone();
    let mut history_nodes = Vec::with_capacity(2 * txs.len());
    for (index, result) in outcome.results.iter().enumerate() {
        let leaf = HistoryLeaf {
            tx_id: result.tx_id,
            height,
            index: index as u32,
            outcome: result.outcome.clone(),
        };
        log.append(leaf.hash(), &mut history_nodes);
    }
    let header = BlockHeader {
        chain_id: tip.chain_id.clone(),
        height,
        time_ms,
        prev_hash: tip.block_hash,
        tx_count: txs.len() as u64,
        tx_root: tx_root(txs),
        result_root: result_root(&outcome.results),
        state_root: state_update.root,
        log_root: log.root(),
        log_size: log.size,
        proposer,
    };
    let tip = ChainTip {
        chain_id: tip.chain_id.clone(),
        height,
        time_ms,
        block_hash: header.hash(),
        state_root: state_update.root,
        log,
    };
    Ok(AppliedBlock {
        header,
        results: outcome.results,
        state_writes: outcome.writes,
        state_update,
        history_nodes,
        tip,
    })
}

/// Re-executes `block` on top of `tip` and checks its header field by field.
pub fn replay_block<S, T>(
    state: &S,
    tree: &T,
    tip: &ChainTip,
    block: &Block,
) -> Result<AppliedBlock, LedgerError>
where
    S: StateReader + ?Sized,
    T: TreeReader,
{
    let h = &block.header;
    if h.height != tip.height + 1 {
        return Err(LedgerError::WrongHeight {
            expected: tip.height + 1,
            got: h.height,
        });
    }
    let applied = apply_block(state, tree, tip, h.proposer, h.time_ms, &block.txs)?;
    let c = &applied.header;
    let mismatch = |field, claimed: String, computed: String| {
        Err(LedgerError::Mismatch {
            height: h.height,
            field,
            claimed,
            computed,
        })
    };
    let hashes = [
        ("prev_hash", h.prev_hash, c.prev_hash),
        ("tx_root", h.tx_root, c.tx_root),
        ("result_root", h.result_root, c.result_root),
        ("state_root", h.state_root, c.state_root),
        ("log_root", h.log_root, c.log_root),
    ];
    if h.chain_id != c.chain_id {
        return mismatch("chain_id", h.chain_id.to_string(), c.chain_id.to_string());
    }
    if h.tx_count != c.tx_count {
        return mismatch("tx_count", h.tx_count.to_string(), c.tx_count.to_string());
    }
    for (field, claimed, computed) in hashes {
        if claimed != computed {
            return mismatch(field, claimed.to_hex(), computed.to_hex());
        }
    }
    if h.log_size != c.log_size {
        return mismatch("log_size", h.log_size.to_string(), c.log_size.to_string());
    }
    debug_assert_eq!(h, c, "every header field was compared");
    Ok(applied)
}

/// A whole ledger in memory: state, state tree and tip. What tests, examples and an
/// offline auditor use; a node keeps the same three in RocksDB.
#[derive(Debug)]
pub struct Ledger {
    /// Latest chaincode state.
    pub state: MemState,
    /// The state tree, every version.
    pub tree: MemTreeStore,
    /// History-log subtree hashes.
    pub history: std::collections::BTreeMap<crate::history::NodeIndex, Hash32>,
    /// Where the chain stands.
    pub tip: ChainTip,
}

impl Ledger {
    /// A ledger at height 0.
    pub fn from_genesis(genesis: &InitialState, genesis_hash: Hash32) -> Result<Self, LedgerError> {
        let tree = MemTreeStore::new();
        let (tip, writes, update) = genesis_tip(genesis, genesis_hash, &tree)?;
        tree.write_update(&update.batch);
        let mut state = MemState::default();
        state.apply(&writes);
        Ok(Ledger {
            state,
            tree,
            history: Default::default(),
            tip,
        })
    }

    /// Builds, applies and returns the next block.
    pub fn propose(
        &mut self,
        proposer: u64,
        time_ms: u64,
        txs: Vec<SignedTx>,
    ) -> Result<Block, LedgerError> {
        let applied = apply_block(&self.state, &self.tree, &self.tip, proposer, time_ms, &txs)?;
        let header = applied.header.clone();
        self.commit(applied);
        Ok(Block { header, txs })
    }

    /// Replays someone else's block, checking its header; applies it if it matches.
    pub fn replay(&mut self, block: &Block) -> Result<Vec<TxResult>, LedgerError> {
        let applied = replay_block(&self.state, &self.tree, &self.tip, block)?;
        let results = applied.results.clone();
        self.commit(applied);
        Ok(results)
    }

    fn commit(&mut self, applied: AppliedBlock) {
        self.state.apply(&applied.state_writes);
        self.tree.write_update(&applied.state_update.batch);
        self.history.extend(applied.history_nodes);
        self.tip = applied.tip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use crate::tx::{RevokeKeyTx, TxBody, TxKind};

    fn tx(nonce: u64) -> SignedTx {
        let g = testkit::genesis();
        TxBody {
            chain_id: g.chain_id,
            nonce,
            valid_until_ms: g.genesis_time_ms + 600_000,
            kind: TxKind::RevokeKey(RevokeKeyTx {
                key: testkit::public(9),
            }),
            memo: None,
        }
        .sign(&testkit::key(1))
    }

    #[test]
    fn replay_names_the_first_tampered_field() {
        let g = testkit::genesis();
        let mut leader = Ledger::from_genesis(&g, Hash32([7; 32])).unwrap();
        let b1 = leader
            .propose(1, g.genesis_time_ms + 1, vec![tx(1), tx(2)])
            .unwrap();
        let b2 = leader
            .propose(1, g.genesis_time_ms + 2, vec![tx(3)])
            .unwrap();
        assert_eq!(b2.header.prev_hash, b1.header.hash());
        assert_eq!(b2.header.log_size, 3);

        let fresh = || {
            let mut l = Ledger::from_genesis(&g, Hash32([7; 32])).unwrap();
            l.replay(&b1).unwrap();
            l
        };
        let mut honest = fresh();
        honest.replay(&b2).unwrap();
        assert_eq!(honest.tip, leader.tip);

        type Tamper = Box<dyn Fn(&mut Block)>;
        let cases: Vec<(&str, Tamper)> = vec![
            ("state_root", Box::new(|b| b.header.state_root.0[0] ^= 1)),
            ("result_root", Box::new(|b| b.header.result_root.0[0] ^= 1)),
            ("log_root", Box::new(|b| b.header.log_root.0[0] ^= 1)),
            ("prev_hash", Box::new(|b| b.header.prev_hash.0[0] ^= 1)),
            ("tx_root", Box::new(|b| b.txs[0].body.nonce = 99)),
            ("tx_count", Box::new(|b| b.header.tx_count = 5)),
        ];
        for (field, tamper) in cases {
            let mut bad = b2.clone();
            tamper(&mut bad);
            match fresh().replay(&bad) {
                Err(LedgerError::Mismatch {
                    field: f,
                    height: 2,
                    ..
                }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut early = b2.clone();
        early.header.time_ms = b1.header.time_ms;
        assert!(matches!(
            fresh().replay(&early),
            Err(LedgerError::TimeNotIncreasing { .. })
        ));
        assert!(matches!(
            fresh().replay(&b1),
            Err(LedgerError::WrongHeight {
                expected: 2,
                got: 1
            })
        ));
    }
}
