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
use crate::execute::{BlockOutcome, TxResult, execute_block};
use crate::history::{HistoryLeaf, HistoryLog, HistoryNode};
use crate::ids::{ChainId, Hash32};
use crate::initial::{InitialState, InitialStateError};
use crate::state::{MemState, StateError, StateReader, WriteSet};
use crate::state_tree::StateTree;
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
    let tip = genesis_chain_tip(genesis, genesis_hash, update.root);
    Ok((tip, writes, update))
}

/// The tip at height 0 whose state root is `state_root`.
fn genesis_chain_tip(genesis: &InitialState, genesis_hash: Hash32, state_root: Hash32) -> ChainTip {
    ChainTip {
        chain_id: genesis.chain_id.clone(),
        height: 0,
        time_ms: genesis.genesis_time_ms,
        block_hash: genesis_hash,
        state_root,
        log: HistoryLog::default(),
    }
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
    let outcome = execute_next(state, tip, time_ms, txs)?;
    let state_update = commit_writes(tree, tip.height + 1, &outcome.writes)?;
    Ok(sealed_block(
        tip,
        proposer,
        time_ms,
        txs,
        outcome,
        state_update,
    ))
}

/// [`apply_block`] with the state tree in memory: the root and the jmt nodes to persist
/// come from `tree` ([`StateTree::commit`]: no reads of stored nodes but those of subtrees
/// it evicted, from `state`), which must be at `tip`. A block that fails to execute leaves
/// `tree` as it was; when the commit fails ([`StateTree::is_broken`]) or the caller fails
/// to persist the result, the caller must drop `tree` and load it again.
pub fn apply_block_in_memory<S>(
    state: &S,
    tree: &mut StateTree,
    tip: &ChainTip,
    proposer: u64,
    time_ms: u64,
    txs: &[SignedTx],
) -> Result<AppliedBlock, LedgerError>
where
    S: StateReader + TreeReader + ?Sized,
{
    let outcome = execute_next(state, tip, time_ms, txs)?;
    let state_update = tree.commit(state, tip.height + 1, &outcome.writes)?;
    Ok(sealed_block(
        tip,
        proposer,
        time_ms,
        txs,
        outcome,
        state_update,
    ))
}

/// The applied block of `outcome` once its tree version is committed: sealed ([`seal`])
/// under the version's root.
fn sealed_block(
    tip: &ChainTip,
    proposer: u64,
    time_ms: u64,
    txs: &[SignedTx],
    outcome: BlockOutcome,
    state_update: StateUpdate,
) -> AppliedBlock {
    let sealed = seal(
        tip,
        proposer,
        time_ms,
        txs,
        &outcome.results,
        state_update.root,
    );
    AppliedBlock {
        header: sealed.header,
        results: outcome.results,
        state_writes: outcome.writes,
        state_update,
        history_nodes: sealed.history_nodes,
        tip: sealed.tip,
    }
}

/// Executes `txs` in the block after `tip` at `time_ms` (which must be after the tip's).
fn execute_next<S: StateReader + ?Sized>(
    state: &S,
    tip: &ChainTip,
    time_ms: u64,
    txs: &[SignedTx],
) -> Result<BlockOutcome, LedgerError> {
    if time_ms <= tip.time_ms {
        return Err(LedgerError::TimeNotIncreasing {
            time_ms,
            previous_ms: tip.time_ms,
        });
    }
    let ctx = BlockContext {
        chain_id: tip.chain_id.clone(),
        height: tip.height + 1,
        time_ms,
    };
    Ok(execute_block(state, &ctx, txs)?)
}

/// A block's header, the tip after it and the history nodes it completes.
struct Sealed {
    header: BlockHeader,
    tip: ChainTip,
    history_nodes: Vec<HistoryNode>,
}

/// Appends the results to the history log and builds the header and tip of the block
/// after `tip` whose state root is `state_root`.
fn seal(
    tip: &ChainTip,
    proposer: u64,
    time_ms: u64,
    txs: &[SignedTx],
    results: &[TxResult],
    state_root: Hash32,
) -> Sealed {
    let height = tip.height + 1;
    let mut log = tip.log.clone();
    let mut history_nodes = Vec::with_capacity(2 * txs.len());
    for (index, result) in results.iter().enumerate() {
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
        result_root: result_root(results),
        state_root,
        log_root: log.root(),
        log_size: log.size,
        proposer,
    };
    let tip = ChainTip {
        chain_id: tip.chain_id.clone(),
        height,
        time_ms,
        block_hash: header.hash(),
        state_root,
        log,
    };
    Sealed {
        header,
        tip,
        history_nodes,
    }
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
    check_height(tip, h)?;
    let applied = apply_block(state, tree, tip, h.proposer, h.time_ms, &block.txs)?;
    check_header(h, &applied.header)?;
    Ok(applied)
}

fn check_height(tip: &ChainTip, h: &BlockHeader) -> Result<(), LedgerError> {
    if h.height != tip.height + 1 {
        return Err(LedgerError::WrongHeight {
            expected: tip.height + 1,
            got: h.height,
        });
    }
    Ok(())
}

/// Compares a received header `h` with the one computed `c`, naming the first field that
/// differs.
fn check_header(h: &BlockHeader, c: &BlockHeader) -> Result<(), LedgerError> {
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
    Ok(())
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
        tree.write_update(&update);
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
        self.tree.write_update(&applied.state_update);
        self.history.extend(applied.history_nodes);
        self.tip = applied.tip;
    }
}

/// What an auditor replays a chain with: state in memory and the latest state root from
/// an in-memory [`StateTree`] (jmt's exact roots, without jmt's per-version node store).
/// It checks every block against its header like [`Ledger::replay`], keeps no older
/// versions (an auditor reads proofs from nodes, not from its own tree) and is unchanged
/// by a block that does not match.
#[derive(Clone, Debug)]
pub struct Replayer {
    /// Latest chaincode state.
    pub state: MemState,
    /// The state tree at the tip.
    pub tree: StateTree,
    /// History-log subtree hashes completed since the caller last cleared them.
    pub history: std::collections::BTreeMap<crate::history::NodeIndex, Hash32>,
    /// Where the chain stands.
    pub tip: ChainTip,
}

impl Replayer {
    /// A replayer at height 0.
    pub fn from_genesis(genesis: &InitialState, genesis_hash: Hash32) -> Result<Self, LedgerError> {
        let writes = genesis.writes()?;
        let mut tree = StateTree::new();
        let state_root = tree.apply_writes(&writes);
        let mut state = MemState::default();
        state.apply(&writes);
        Ok(Replayer {
            state,
            tree,
            history: Default::default(),
            tip: genesis_chain_tip(genesis, genesis_hash, state_root),
        })
    }

    /// A replayer that resumes at `tip` with `state` (an audit checkpoint). Returns the
    /// root the state gives when it is not the tip's.
    pub fn resume(state: MemState, tip: ChainTip) -> Result<Self, Hash32> {
        let mut tree = StateTree::new();
        let root = tree.apply(
            state
                .0
                .iter()
                .filter(|(k, _)| !k.is_node_local())
                .map(|(k, v)| {
                    (
                        crate::commitment::key_hash(k),
                        Some(crate::commitment::value_hash(v)),
                    )
                }),
        );
        if root != tip.state_root {
            return Err(root);
        }
        Ok(Replayer {
            state,
            tree,
            history: Default::default(),
            tip,
        })
    }

    /// Replays someone else's block, checking its header; applies it if it matches and
    /// leaves everything as it was if not.
    pub fn replay(&mut self, block: &Block) -> Result<Vec<TxResult>, LedgerError> {
        let h = &block.header;
        check_height(&self.tip, h)?;
        let outcome = execute_next(&self.state, &self.tip, h.time_ms, &block.txs)?;
        let undo: Vec<(Hash32, Option<Hash32>)> = outcome
            .writes
            .0
            .keys()
            .filter(|k| !k.is_node_local())
            .map(|k| {
                let kh = crate::commitment::key_hash(k);
                (kh, self.tree.get(&kh))
            })
            .collect();
        let root = self.tree.apply_writes(&outcome.writes);
        let sealed = seal(
            &self.tip,
            h.proposer,
            h.time_ms,
            &block.txs,
            &outcome.results,
            root,
        );
        if let Err(e) = check_header(h, &sealed.header) {
            self.tree.apply(undo);
            return Err(e);
        }
        self.state.apply(&outcome.writes);
        self.history.extend(sealed.history_nodes);
        self.tip = sealed.tip;
        Ok(outcome.results)
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

    /// The in-memory replayer reaches the ledger's tips, names tampered fields as the
    /// ledger does, is left unchanged by a block that does not match, and resumes from a
    /// state and tip only if the state gives the tip's root.
    #[test]
    fn replayer_matches_the_ledger_and_survives_bad_blocks() {
        let g = testkit::genesis();
        let mut leader = Ledger::from_genesis(&g, Hash32([7; 32])).unwrap();
        let mut replayer = Replayer::from_genesis(&g, Hash32([7; 32])).unwrap();
        assert_eq!(replayer.tip, leader.tip);
        let blocks: Vec<Block> = (1..=4u64)
            .map(|h| {
                let txs = (0..h).map(|i| tx(10 * h + i)).collect();
                leader.propose(1, g.genesis_time_ms + h, txs).unwrap()
            })
            .collect();
        replayer.replay(&blocks[0]).unwrap();
        for (field, flip) in [("state_root", 0usize), ("log_root", 1)] {
            let mut bad = blocks[1].clone();
            match flip {
                0 => bad.header.state_root.0[0] ^= 1,
                _ => bad.header.log_root.0[0] ^= 1,
            }
            let before = (
                replayer.tip.clone(),
                replayer.tree.root_hash(),
                replayer.state.clone(),
            );
            match replayer.replay(&bad) {
                Err(LedgerError::Mismatch { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
            let after = (
                replayer.tip.clone(),
                replayer.tree.root_hash(),
                replayer.state.clone(),
            );
            assert_eq!(after, before, "a refused block changes nothing");
        }
        for b in &blocks[1..] {
            replayer.replay(b).unwrap();
        }
        assert_eq!(replayer.tip, leader.tip);
        assert_eq!(replayer.state, leader.state);

        let resumed = Replayer::resume(leader.state.clone(), leader.tip.clone()).unwrap();
        assert_eq!(resumed.tree.root_hash(), leader.tip.state_root);
        let mut wrong = leader.tip.clone();
        wrong.state_root.0[0] ^= 1;
        assert_eq!(
            Replayer::resume(leader.state.clone(), wrong).err(),
            Some(leader.tip.state_root)
        );
    }
}
