//! The apply side of a replica: committed blocks executed through the chaincode on the
//! in-memory state tree and stored, each with its Raft index, in one write.
//!
//! This is raft-rs's asynchronous apply. The core ([`crate::replica`]) hands out committed
//! entries in log order ([`Output::Apply`](crate::replica::Output::Apply)), an [`Applier`]
//! executes and stores them, and its report ([`Input::Applied`](crate::replica::Input))
//! tells the core to vote for the block, answer its submitters and advance Raft's applied
//! index. cactusd runs the applier on a thread of its own ([`spawn`]), so heartbeats, votes
//! and appends never wait behind a large block; the simulator runs it inline at a seeded
//! later step, so the interleavings are tried deterministically.
//!
//! The applier owns the state tree; nothing else touches it. The core sends a
//! configuration change or a snapshot install through only once every job before it is
//! reported (a barrier), so the store under the tree changes between jobs only, and the
//! tree is loaded again whenever the stored tip is not the tree's: after a snapshot
//! install, or after a block's write failed once the tree had taken the block.

use crate::mempool::Mempool;
use crate::node::{BlockProposal, Committed};
use crate::replica::AppliedBlock;
use crate::storage::{StorageError, Store, TxLocation};
use crate::worker::Worker;
use couponcactus_chaincode::encoding::decode;
use couponcactus_chaincode::ids::Hash32;
use couponcactus_chaincode::ledger::{Block, ChainTip, apply_block_in_memory};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::state_tree::StateTree;
use couponcactus_chaincode::types::ChainParams;
use raft::eraftpb::Entry;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

/// Most jobs handed to the applier and not yet reported: the depth of the pipeline
/// between ordering and applying, and the applier thread's mailbox.
pub const MAX_APPLY_IN_FLIGHT: usize = 8;

/// Why a job could not be applied. Every one stops the node: what was stored stays, and a
/// restart applies the same entry again from the Raft log.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Storage failed (a full disk among others): nothing of the block was stored.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The state tree could not be loaded, or does not match the stored tip.
    #[error("state tree: {0}")]
    Tree(String),
    /// The applier thread is gone (it stopped after an earlier failure, reported apart).
    #[error("the applier thread is gone")]
    Stopped,
    /// A committed entry that is not a block proposal (a bug, or a corrupt log).
    #[error("raft entry {index} is not a block proposal: {why}")]
    Decode {
        /// The entry.
        index: u64,
        /// The decoder's error.
        why: String,
    },
    /// The chaincode could not execute the block (a bug or corrupt state: valid and
    /// invalid txs alike have results).
    #[error("executing block at raft index {index}: {why}")]
    Execute {
        /// The entry.
        index: u64,
        /// The chaincode's error.
        why: String,
    },
}

/// One committed entry to apply, in log order: a block proposal, or a new leader's empty
/// entry, which only moves the applied index. The applier decodes it, so not even a large
/// block's decoding holds the consensus thread.
#[derive(Debug)]
pub struct ApplyJob {
    /// The normal Raft entry.
    pub entry: Entry,
}

impl ApplyJob {
    /// The entry's Raft index.
    pub fn index(&self) -> u64 {
        self.entry.index
    }
}

/// What the applier reports for a job it finished.
#[derive(Debug)]
pub struct ApplyDone {
    /// The entry's Raft index (now the stored applied index).
    pub index: u64,
    /// The block stored, for a block entry.
    pub block: Option<BlockApplied>,
}

/// A stored block and what it changed that the node keeps outside the state.
#[derive(Debug)]
pub struct BlockApplied {
    /// The block, its hash and its txs' results.
    pub block: AppliedBlock,
    /// The chain parameters, when the block changed them.
    pub params: Option<ChainParams>,
    /// Whether the block changed the consortium.
    pub consortium_changed: bool,
}

/// Executes and stores committed blocks over the state tree it owns: see the module docs.
pub struct Applier {
    store: Store,
    /// Txs leave its in-flight set once their block is stored.
    mempool: Arc<Mutex<Mempool>>,
    /// Tree nodes kept in memory after each block ([`crate::node::NodeOptions`]).
    resident_nodes: usize,
    /// The tree and the height it is at; `None` until loaded, and after a failed write.
    tree: Option<(u64, StateTree)>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Applier(tree at {:?})", self.tree.as_ref().map(|t| t.0))
    }
}

/// The state tree of `tip`, loaded from its stored nodes and checked against its root.
pub fn load_tree(store: &Store, tip: &ChainTip) -> Result<StateTree, ApplyError> {
    let started = std::time::Instant::now();
    let tree = StateTree::load(store, tip.height)
        .map_err(|e| ApplyError::Tree(format!("loading the tree at {}: {e}", tip.height)))?;
    if tree.root_hash() != tip.state_root {
        return Err(ApplyError::Tree(format!(
            "the stored tree at height {} has root {}, its header {}",
            tip.height,
            tree.root_hash(),
            tip.state_root
        )));
    }
    tracing::info!(
        height = tip.height,
        keys = tree.len(),
        ms = started.elapsed().as_millis() as u64,
        "state tree loaded"
    );
    Ok(tree)
}

impl Applier {
    /// An applier over `store`, with the tree of its tip loaded and checked (a store
    /// whose tree does not match its tip is refused here, before the node starts).
    pub fn open(
        store: Store,
        mempool: Arc<Mutex<Mempool>>,
        resident_nodes: usize,
    ) -> Result<Applier, ApplyError> {
        let tip = store.tip()?;
        let tree = load_tree(&store, &tip)?;
        Ok(Applier {
            store,
            mempool,
            resident_nodes,
            tree: Some((tip.height, tree)),
        })
    }

    /// The height and root of the tree in memory (`None` after a failed write dropped it).
    pub fn tree_at(&self) -> Option<(u64, Hash32)> {
        self.tree.as_ref().map(|(h, t)| (*h, t.root_hash()))
    }

    /// Applies one committed entry: a block is executed, stored with its index in one
    /// write and its txs settled in the mempool; an election entry moves the applied
    /// index.
    pub fn apply(&mut self, job: ApplyJob) -> Result<ApplyDone, ApplyError> {
        let index = job.index();
        if job.entry.data.is_empty() {
            self.store.set_applied_index(index)?;
            return Ok(ApplyDone { index, block: None });
        }
        let proposal: BlockProposal = decode(&job.entry.data).map_err(|e| ApplyError::Decode {
            index,
            why: e.to_string(),
        })?;
        let block = self.apply_block(index, proposal)?;
        Ok(ApplyDone {
            index,
            block: Some(block),
        })
    }

    /// The tree at `tip`: the one in memory if it is there, loaded otherwise.
    fn take_tree(&mut self, tip: &ChainTip) -> Result<StateTree, ApplyError> {
        match self.tree.take() {
            Some((height, tree)) if height == tip.height && tree.root_hash() == tip.state_root => {
                Ok(tree)
            }
            _ => load_tree(&self.store, tip),
        }
    }

    fn apply_block(
        &mut self,
        index: u64,
        proposal: BlockProposal,
    ) -> Result<BlockApplied, ApplyError> {
        // The one clock read of the apply path: how long apply takes, for a metric only.
        let started = std::time::Instant::now();
        let tip = self.store.tip()?;
        let time_ms = proposal.time_ms.max(tip.time_ms + 1);
        let mut tree = self.take_tree(&tip)?;
        let applied = apply_block_in_memory(
            &self.store,
            &mut tree,
            &tip,
            proposal.proposer,
            time_ms,
            &proposal.txs,
        );
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => {
                // Nothing of a block that failed to execute reached the tree; one whose
                // commit failed reading an evicted subtree is loaded again.
                if !tree.is_broken() {
                    self.tree = Some((tip.height, tree));
                }
                return Err(ApplyError::Execute {
                    index,
                    why: e.to_string(),
                });
            }
        };
        let header = applied.header.clone();
        assert_eq!(
            header.height,
            tip.height + 1,
            "blocks apply in height order"
        );
        let block = Block {
            header: header.clone(),
            txs: proposal.txs,
        };
        // Not stored: the tree holds a block the store does not, so it stays dropped and
        // is loaded again from the store before the next block.
        self.store.commit_block(index, &block, &applied)?;
        // Stored: what the tree evicts now can be read back.
        let evicted = tree.evict(self.resident_nodes);
        if evicted > 0 {
            metrics::counter!("cactus_state_tree_evicted_nodes_total").increment(evicted as u64);
        }
        metrics::gauge!("cactus_state_tree_resident_nodes").set(tree.resident() as f64);
        metrics::gauge!("cactus_state_tree_bytes").set(tree.arena_bytes() as f64);
        self.tree = Some((header.height, tree));
        // Stored: the block's txs are no longer in flight (queries find them committed).
        lock(&self.mempool).settle(applied.results.iter().map(|r| r.tx_id));
        let params = match applied.state_writes.0.get(&StateKey::Params) {
            Some(Some(StateValue::Params(p))) => Some(p.clone()),
            _ => None,
        };
        let consortium_changed = applied.state_writes.0.contains_key(&StateKey::Consortium);
        let first_log_index = header.log_size - applied.results.len() as u64;
        let txs = applied
            .results
            .into_iter()
            .enumerate()
            .map(|(i, result)| Committed {
                location: TxLocation {
                    height: header.height,
                    index: i as u32,
                    log_index: first_log_index + i as u64,
                },
                result,
            })
            .collect();
        metrics::histogram!("cactus_block_apply_seconds").record(started.elapsed().as_secs_f64());
        Ok(BlockApplied {
            block: AppliedBlock {
                raft_index: index,
                hash: header.hash(),
                header,
                txs,
            },
            params,
            consortium_changed,
        })
    }
}

/// Runs `applier` on thread `applier`, taking jobs in order from a mailbox of
/// [`MAX_APPLY_IN_FLIGHT`] and handing each result to `report`. The thread stops after
/// its first failure (the core stops the node on that report) and when the handle is
/// dropped, after the jobs already in its mailbox.
pub fn spawn(
    mut applier: Applier,
    report: impl Fn(Result<ApplyDone, ApplyError>) + Send + 'static,
) -> std::io::Result<Worker<ApplyJob>> {
    Worker::spawn(
        "applier",
        MAX_APPLY_IN_FLIGHT,
        move |jobs: Receiver<ApplyJob>| {
            for job in jobs {
                let result = applier.apply(job);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "apply failed; the applier stops");
                    report(result);
                    return;
                }
                report(result);
            }
        },
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
