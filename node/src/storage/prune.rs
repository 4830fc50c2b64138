//! Pruning: deletes the state-tree nodes and values that no retained version reads, so a
//! node's disk stays flat under steady load (issue 18, step 4).
//!
//! Every block writes one version of the state tree: jmt's new nodes and values, an entry
//! in [`cf::JMT_STALE`] for each node it replaced (stale since that height; exact, see
//! `StateTree::commit`) and one in [`cf::JMT_STALE_VALUES`] for each key it wrote (the
//! key's earlier values are superseded at that height). Retained versions are
//!
//! - the window: every height from `tip - window` (the *floor*) to the tip;
//! - checkpoints: the last `checkpoints_kept` multiples of `checkpoint_every` below the
//!   floor, and genesis (height 0), always.
//!
//! A node stale since `s` that was written at `n` is read only by versions in `[n, s)`: once
//! `s` is at or below the floor it is deleted, unless a checkpoint lies in `[n, s)`; then it
//! is *held* in [`cf::JMT_HELD`] under the newest such checkpoint and looked at again when
//! that checkpoint expires. Values work alike per key: the newest value at or below the
//! floor and at or below each checkpoint stay (a deletion's tombstone only while an older
//! value stays), the rest go.
//!
//! [`Retention`] holds the rules and is pure; [`Store::prune_step`] does the I/O in steps
//! of bounded size, each one atomic `WriteBatch`, that a background thread
//! ([`crate::pruner`]) runs after blocks. The floor and the kept checkpoints are written
//! to META ([`PruneState`]) before the first deletion they allow, so readers
//! ([`Store::retention`]) refuse a pruned height before its nodes go; a reader already
//! walking such a height when they go gets a missing-node error.
//!
//! Written by hand: jmt leaves its stale index to the storage and ships no pruner, and no
//! maintained crate prunes a jmt with long-kept versions.

use super::{StorageError, Store, cf, corrupt};
use bincode::{Decode, Encode};
use couponcactus_chaincode::encoding::{decode, encode};
use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch};
use std::collections::BTreeSet;

/// META key of the [`PruneState`].
pub(super) const META_PRUNE: &[u8] = b"prune_state";

/// Which versions of the state tree a node keeps (`[storage]` in the node's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Heights below the tip whose versions are kept: a proof can be read at any of the
    /// last `window + 1` heights. 0 keeps every version (no pruning).
    pub window: u64,
    /// Heights that are multiples of this are kept longer, as checkpoints (0: none but
    /// genesis).
    pub checkpoint_every: u64,
    /// How many checkpoints below the window are kept (genesis comes on top).
    pub checkpoints_kept: usize,
}

impl Default for Retention {
    /// About 7 minutes of blocks at full load (10 blocks/s), a day of blocks when idle
    /// (one per 20 s); 8 checkpoints 10,000 heights apart.
    fn default() -> Self {
        Retention {
            window: 4_096,
            checkpoint_every: 10_000,
            checkpoints_kept: 8,
        }
    }
}

/// What the pruner has done, in META: readers check heights against it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct PruneState {
    /// Lowest height of the window: versions from here up are whole.
    pub floor: u64,
    /// Kept heights below the floor, ascending (genesis first once the floor passed it).
    pub checkpoints: Vec<u64>,
    /// Stale-node entries of heights below this are all processed (where the next step's
    /// scan starts; at most `floor + 1`).
    pub node_cursor: u64,
    /// The same for stale-value entries.
    pub value_cursor: u64,
}

/// Whether a height's state is still on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retained {
    /// Whole: proofs can be read at it.
    Yes,
    /// Pruned; `nearest` is the closest retained height (the higher one on a tie).
    Pruned {
        /// The nearest retained height.
        nearest: u64,
    },
}

impl PruneState {
    /// Whether `height` (at or below the tip) is retained.
    pub fn retained(&self, height: u64) -> Retained {
        if height >= self.floor || self.checkpoints.contains(&height) {
            return Retained::Yes;
        }
        let above = self
            .checkpoints
            .iter()
            .copied()
            .find(|&c| c > height)
            .unwrap_or(self.floor);
        let below = self.checkpoints.iter().copied().rfind(|&c| c < height);
        let nearest = match below {
            Some(b) if height - b < above - height => b,
            _ => above,
        };
        Retained::Pruned { nearest }
    }

    /// Whether everything up to the floor is processed (nothing is prunable below floor 1:
    /// stale entries start at height 1). Expired held entries are taken before the stale
    /// scans move, so they are done too.
    fn settled(&self) -> bool {
        self.floor == 0 || (self.node_cursor > self.floor && self.value_cursor > self.floor)
    }

    /// The newest kept checkpoint in `[written, stale_since)`: one that still reads a node
    /// written at `written` and replaced at `stale_since`.
    fn protector(&self, written: u64, stale_since: u64) -> Option<u64> {
        self.checkpoints
            .iter()
            .copied()
            .rfind(|&c| c >= written && c < stale_since)
    }
}

impl Retention {
    /// Whether this retention prunes at all.
    pub fn prunes(&self) -> bool {
        self.window > 0
    }

    /// The state after the floor moves up to `tip - window`: heights that leave the window
    /// and are checkpoints join the kept list, the oldest beyond `checkpoints_kept` leave it
    /// (genesis never does). The cursors stay.
    pub fn advance(&self, old: &PruneState, tip: u64) -> PruneState {
        let floor = tip.saturating_sub(self.window).max(old.floor);
        if !self.prunes() || floor == old.floor {
            return old.clone();
        }
        let mut kept: BTreeSet<u64> = old.checkpoints.iter().copied().collect();
        if old.floor == 0 {
            kept.insert(0);
        }
        if let Some(multiples) = (floor - 1).checked_div(self.checkpoint_every) {
            // Only the newest `checkpoints_kept` of the heights that leave now can stay.
            let last = multiples * self.checkpoint_every;
            let span = self.checkpoint_every * self.checkpoints_kept as u64;
            let first = old.floor.max(last.saturating_sub(span));
            let mut c = first.next_multiple_of(self.checkpoint_every);
            while c < floor {
                kept.insert(c);
                c += self.checkpoint_every;
            }
        }
        let nonzero: Vec<u64> = kept.iter().copied().filter(|&c| c > 0).collect();
        let expired = nonzero.len().saturating_sub(self.checkpoints_kept);
        for c in &nonzero[..expired] {
            kept.remove(c);
        }
        PruneState {
            floor,
            checkpoints: kept.into_iter().collect(),
            ..old.clone()
        }
    }
}

/// What one [`Store::prune_step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneProgress {
    /// Tree nodes deleted.
    pub nodes_deleted: u64,
    /// Values deleted (tombstones included).
    pub values_deleted: u64,
    /// Nodes and keys moved to the held list for a checkpoint.
    pub held: u64,
    /// Whether everything the floor allows is done (otherwise call again).
    pub done: bool,
    /// The floor after the step.
    pub floor: u64,
}

/// A held entry's key: the checkpoint, then what it holds (a node key with [`HELD_NODE`],
/// or a key hash with [`HELD_VALUES`]).
fn held_key(checkpoint: u64, tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = checkpoint.to_be_bytes().to_vec();
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

const HELD_NODE: u8 = 0;
const HELD_VALUES: u8 = 1;

/// A stale-node entry: `stale_since (8 bytes BE) ++ node key bytes`, whose first 8 bytes
/// are the node's version, big-endian (`node_key_bytes`).
fn split_stale(key: &[u8]) -> Result<(u64, &[u8], u64), StorageError> {
    let be = |b: &[u8]| b.try_into().map(u64::from_be_bytes);
    match (key.get(..8).map(be), key.get(8..), key.get(8..16).map(be)) {
        (Some(Ok(s)), Some(node), Some(Ok(n))) => Ok((s, node, n)),
        _ => Err(StorageError::Corrupt {
            what: "stale index entry",
            why: format!("{} bytes", key.len()),
        }),
    }
}

/// The deletions and holds one step gathers before writing them.
struct Step<'a> {
    store: &'a Store,
    state: PruneState,
    batch: WriteBatch,
    progress: PruneProgress,
    /// Key hashes whose values to look at (once each per step).
    keys: BTreeSet<[u8; 32]>,
}

impl Store {
    /// What the pruner has done so far (nothing: floor 0, no checkpoints).
    pub fn prune_state(&self) -> Result<PruneState, StorageError> {
        self.get_cf(cf::META, META_PRUNE)?
            .map(|b| decode(&b).map_err(corrupt("prune state")))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Whether the state at `height` is still on this node, as far as pruning goes (a node
    /// that joined by state sync also lacks the heights below its sync base).
    pub fn retention(&self, height: u64) -> Result<Retained, StorageError> {
        Ok(self.prune_state()?.retained(height))
    }

    /// Prunes what `retention` allows at `tip`, up to about `budget` entries, in one atomic
    /// write. Call again while it returns `done: false`.
    pub fn prune_step(
        &self,
        retention: &Retention,
        tip: u64,
        budget: usize,
    ) -> Result<PruneProgress, StorageError> {
        let old = self.prune_state()?;
        let state = retention.advance(&old, tip);
        if state == old && old.settled() {
            // The usual case between floor moves: nothing to read or write.
            return Ok(PruneProgress {
                done: true,
                floor: old.floor,
                ..PruneProgress::default()
            });
        }
        let mut step = Step {
            store: self,
            state,
            batch: WriteBatch::default(),
            progress: PruneProgress::default(),
            keys: BTreeSet::new(),
        };
        let mut left = budget.max(1);
        left -= step.expire_held(left)?;
        let finished = left > 0 && step.drain_stale(left)?;
        step.prune_values()?;
        step.progress.done = finished;
        step.progress.floor = step.state.floor;
        if step.state == old && step.batch.is_empty() {
            return Ok(step.progress);
        }
        step.batch
            .put_cf(self.handle(cf::META), META_PRUNE, encode(&step.state));
        self.write_unsynced(step.batch)?;
        Ok(step.progress)
    }
}

impl Step<'_> {
    /// Looks again at the held entries of checkpoints that expired (those between genesis
    /// and the oldest kept one). Returns how many it took.
    fn expire_held(&mut self, budget: usize) -> Result<usize, StorageError> {
        let kept_from = self
            .state
            .checkpoints
            .iter()
            .copied()
            .find(|&c| c > 0)
            .unwrap_or(self.state.floor);
        if kept_from <= 1 {
            return Ok(0);
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(1u64.to_be_bytes().to_vec());
        opts.set_iterate_upper_bound(kept_from.to_be_bytes().to_vec());
        let store = self.store;
        let held = store.handle(cf::JMT_HELD);
        let mut taken = 0;
        for item in store
            .db
            .iterator_cf_opt(held, opts, IteratorMode::Start)
            .take(budget)
        {
            let (key, value) = item?;
            self.batch.delete_cf(held, &key);
            taken += 1;
            match key.get(8) {
                Some(&HELD_NODE) => {
                    let mut stale = value.to_vec();
                    stale.extend_from_slice(&key[9..]);
                    self.stale_node(&stale)?;
                }
                Some(&HELD_VALUES) => {
                    let hash = key[9..].try_into().map_err(|_| StorageError::Corrupt {
                        what: "held key hash",
                        why: format!("{} bytes", key.len()),
                    })?;
                    self.keys.insert(hash);
                }
                _ => {
                    return Err(StorageError::Corrupt {
                        what: "held entry",
                        why: format!("{} bytes", key.len()),
                    });
                }
            }
        }
        Ok(taken)
    }

    /// Processes stale-node, then stale-value entries from their cursors up to the floor,
    /// oldest first, at most `budget` of them. Returns whether both reached the floor.
    fn drain_stale(&mut self, budget: usize) -> Result<bool, StorageError> {
        let mut left = budget;
        let to = self.state.floor + 1;
        let (nodes, left_after) = self.drain(cf::JMT_STALE, self.state.node_cursor, to, left)?;
        self.state.node_cursor = nodes;
        left = left_after;
        let (values, _) = self.drain(cf::JMT_STALE_VALUES, self.state.value_cursor, to, left)?;
        self.state.value_cursor = values;
        Ok(nodes == to && values == to)
    }

    /// Processes the entries of stale index `name` of heights in `[from, to)`, at most
    /// `budget`: returns the height to resume from (`to` when all are done) and the budget
    /// left.
    fn drain(
        &mut self,
        name: &str,
        from: u64,
        to: u64,
        mut left: usize,
    ) -> Result<(u64, usize), StorageError> {
        if from >= to {
            return Ok((from.max(to), left));
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(from.to_be_bytes().to_vec());
        opts.set_iterate_upper_bound(to.to_be_bytes().to_vec());
        let store = self.store;
        let handle = store.handle(name);
        for item in store.db.iterator_cf_opt(handle, opts, IteratorMode::Start) {
            let (key, _) = item?;
            let (since, _, _) = split_stale(&key)?;
            if left == 0 {
                // Stopped inside or after this height: the next step starts at it again.
                return Ok((since, 0));
            }
            left -= 1;
            self.batch.delete_cf(handle, &key);
            if name == cf::JMT_STALE {
                self.stale_node(&key)?;
            } else {
                let hash = key.get(8..40).and_then(|h| h.try_into().ok());
                self.keys.insert(hash.ok_or_else(|| StorageError::Corrupt {
                    what: "stale value entry",
                    why: format!("{} bytes", key.len()),
                })?);
            }
        }
        Ok((to, left))
    }

    /// Deletes the node of stale entry `entry`, or holds it for the newest checkpoint that
    /// still reads it.
    fn stale_node(&mut self, entry: &[u8]) -> Result<(), StorageError> {
        let (since, node, written) = split_stale(entry)?;
        match self.state.protector(written, since) {
            Some(c) => {
                let held = self.store.handle(cf::JMT_HELD);
                self.batch
                    .put_cf(held, held_key(c, HELD_NODE, node), since.to_be_bytes());
                self.progress.held += 1;
            }
            None => {
                self.batch.delete_cf(self.store.handle(cf::JMT_NODES), node);
                self.progress.nodes_deleted += 1;
            }
        }
        Ok(())
    }

    /// For each gathered key hash, deletes the values no retained version reads.
    fn prune_values(&mut self) -> Result<(), StorageError> {
        let keys = std::mem::take(&mut self.keys);
        for hash in keys {
            self.prune_key_values(&hash)?;
        }
        Ok(())
    }

    fn prune_key_values(&mut self, hash: &[u8; 32]) -> Result<(), StorageError> {
        let store = self.store;
        let values = store.handle(cf::JMT_VALUES);
        let mut versions = Vec::new();
        // The key's versions at or below the floor: a prefix seek (the family's filter is
        // on the key hash, so table files without this key are not read), bounded above.
        let mut opts = super::one_key_versions();
        let mut end = hash.to_vec();
        end.extend_from_slice(&self.state.floor.saturating_add(1).to_be_bytes());
        opts.set_iterate_upper_bound(end);
        let iter =
            store
                .db
                .iterator_cf_opt(values, opts, IteratorMode::From(hash, Direction::Forward));
        for item in iter {
            let (key, value) = item?;
            if key.len() != 40 || key[..32] != hash[..] {
                break;
            }
            let version = u64::from_be_bytes(key[32..].try_into().expect("8 bytes"));
            if version > self.state.floor {
                break;
            }
            let present = decode::<Option<Vec<u8>>>(&value)
                .map_err(corrupt("jmt value"))?
                .is_some();
            versions.push((version, present));
        }
        let plan = plan_values(&self.state, &versions);
        for version in plan.delete {
            let mut key = hash.to_vec();
            key.extend_from_slice(&version.to_be_bytes());
            self.batch.delete_cf(values, key);
            self.progress.values_deleted += 1;
        }
        if let Some(c) = plan.hold {
            let held = self.store.handle(cf::JMT_HELD);
            self.batch.put_cf(held, held_key(c, HELD_VALUES, hash), []);
            self.progress.held += 1;
        }
        Ok(())
    }
}

/// What to do with one key's values at or below the floor.
#[derive(Debug, PartialEq, Eq)]
struct ValuePlan {
    /// Versions to delete.
    delete: Vec<u64>,
    /// The newest checkpoint that keeps one of the others, if any: look again when it
    /// expires.
    hold: Option<u64>,
}

/// Given one key's `(version, present)` values at or below the floor, ascending: keeps the
/// newest at or below the floor and at or below each checkpoint, and a tombstone only
/// while an older value stays (so a reader never seeks past it to an older value).
fn plan_values(state: &PruneState, versions: &[(u64, bool)]) -> ValuePlan {
    let newest_at = |h: u64| versions.iter().rposition(|&(v, _)| v <= h);
    let mut keep = vec![false; versions.len()];
    for &c in &state.checkpoints {
        if let Some(i) = newest_at(c) {
            keep[i] = true;
        }
    }
    if let Some(i) = newest_at(state.floor) {
        let older_kept = keep[..i].iter().any(|&k| k);
        keep[i] = versions[i].1 || older_kept || keep[i];
    }
    // A checkpoint's tombstone is needed only over an older kept value, too.
    for i in 0..versions.len() {
        if keep[i] && !versions[i].1 && !keep[..i].iter().any(|&k| k) {
            keep[i] = false;
        }
    }
    let hold = state
        .checkpoints
        .iter()
        .copied()
        .rfind(|&c| newest_at(c).is_some_and(|i| keep[i]));
    ValuePlan {
        delete: versions
            .iter()
            .zip(&keep)
            .filter(|&(_, &k)| !k)
            .map(|(&(v, _), _)| v)
            .collect(),
        hold,
    }
}

#[cfg(test)]
mod tests;
