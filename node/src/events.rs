//! The node's event log: every ledger event ([`LedgerEvent`]), stored with its block.
//!
//! [`Store::commit_block`] derives a block's events
//! ([`couponcactus_chaincode::events::derive_block_events`], against the state after the
//! block) and writes them, with the per-pool and per-token sequence counters they advance,
//! in the block's own atomic write: the event log is never behind or ahead of the chain,
//! and a crash loses neither. Readers page through it by cursor ([`Store::events_after`]);
//! the event API, the webhook outbox and the analytics store all follow it, woken by
//! [`EventsTip`] after each applied block.
//!
//! Layout in column family [`cf::EVENTS`]: `b'e' ‖ log_index (u64 BE)` → the entry's
//! events (canonical bincode `Vec<LedgerEvent>`), and `b's' ‖ encode(SeqKey)` → the last
//! sequence number given (u64 BE). A database from before the event log is indexed once
//! at open ([`Store::index_events`]).

use crate::storage::{StorageError, Store, cf};
use couponcactus_chaincode::encoding::{decode, encode};
use couponcactus_chaincode::events::{
    AfterBlock, BlockPosition, EventId, LedgerEvent, SeqKey, Sequences, derive_block_events,
};
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateReader, WriteSet};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use std::collections::BTreeMap;
use tokio::sync::watch;

/// Most events one page ([`Store::events_after`]) returns.
pub const MAX_EVENTS_PAGE: usize = 1_000;

/// Most history-log entries one page scans (filters may skip many): bounds a page's work.
pub const MAX_ENTRIES_SCANNED: usize = 10_000;

/// Meta key marking a database whose blocks all have their events stored.
pub(crate) const META_EVENTS_INDEXED: &[u8] = b"events_indexed";

/// What one [`Store::events_after`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventScan {
    /// The events kept, in log order.
    pub events: Vec<LedgerEvent>,
    /// The last event scanned (kept or not): the cursor to continue from; the request's
    /// `after` when nothing was scanned.
    pub next: Option<EventId>,
    /// Whether the scan reached the end of the stored log (a follower is caught up);
    /// false when it stopped at the page's limit or the scan bound.
    pub exhausted: bool,
}

/// The log size whose events are stored, published after every applied block. Followers
/// (SSE streams, webhook dispatch, analytics) wait on [`EventsTip::subscribe`].
#[derive(Clone, Debug)]
pub struct EventsTip(watch::Sender<u64>);

impl EventsTip {
    /// Starts at `log_size`.
    pub fn new(log_size: u64) -> EventsTip {
        EventsTip(watch::Sender::new(log_size))
    }

    /// Publishes a new log size (never lower).
    pub fn advance(&self, log_size: u64) {
        self.0.send_if_modified(|v| {
            let grew = log_size > *v;
            *v = (*v).max(log_size);
            grew
        });
    }

    /// A receiver that sees every later advance.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// The current log size.
    pub fn get(&self) -> u64 {
        *self.0.borrow()
    }
}

/// How long a read model that follows the chain (analytics, console alerts) rests after a
/// pass that caught up, so blocks that commit meanwhile are taken in one pass: a pass per
/// block cost ~6 % (analytics) and ~3 % (alerts) of the machine at one-tx blocks
/// (docs/performance.md, "Fewer passes per block"). Such read models lag the chain by at
/// most about this much more.
pub const FOLLOW_COALESCE: std::time::Duration = std::time::Duration::from_millis(200);

/// Rests [`FOLLOW_COALESCE`] after a caught-up pass, unless `shutdown` completes first:
/// returns `true` if it did (the follower stops). The follower's [`EventsTip`] receiver
/// keeps a tip that moves meanwhile.
pub async fn rest_after_pass<F: std::future::Future<Output = ()>>(
    shutdown: &mut std::pin::Pin<&mut F>,
) -> bool {
    tokio::select! {
        _ = shutdown.as_mut() => true,
        _ = tokio::time::sleep(FOLLOW_COALESCE) => false,
    }
}

fn entry_key(log_index: u64) -> [u8; 9] {
    let mut k = [b'e'; 9];
    k[1..].copy_from_slice(&log_index.to_be_bytes());
    k
}

fn seq_key(key: &SeqKey) -> Vec<u8> {
    let mut k = vec![b's'];
    k.extend(encode(key));
    k
}

fn corrupt(
    what: &'static str,
) -> impl Fn(couponcactus_chaincode::encoding::EncodingError) -> StorageError {
    move |e| StorageError::Corrupt {
        what,
        why: e.to_string(),
    }
}

impl Store {
    /// Derives the events of a block (state `before` it plus its `writes`) and adds them
    /// and their sequence counters to `batch`. `pending` holds counters written earlier in
    /// the same batch (empty for one block).
    pub(crate) fn put_events<S: StateReader + ?Sized>(
        &self,
        batch: &mut WriteBatch,
        before: &S,
        writes: &WriteSet,
        block: &Block,
        results: &[TxResult],
        pending: &mut Sequences,
    ) -> Result<(), StorageError> {
        let first_log_index = block.header.log_size - results.len() as u64;
        let at = BlockPosition {
            height: block.header.height,
            time_ms: block.header.time_ms,
            first_log_index,
        };
        let after = AfterBlock {
            base: before,
            writes,
        };
        let mut events = derive_block_events(&after, at, &block.txs, results).map_err(|e| {
            StorageError::Corrupt {
                what: "state while deriving events",
                why: e.to_string(),
            }
        })?;
        // The counters this block advances: loaded (from `pending` or the store), advanced
        // by `assign`, and written back; no other counter changes.
        let advanced = Sequences::entities(&events);
        for key in &advanced {
            if !pending.0.contains_key(key) {
                let last = self.last_seq(key)?;
                pending.0.insert(key.clone(), last);
            }
        }
        pending.assign(&mut events);
        let handle = self.handle(cf::EVENTS);
        for key in &advanced {
            batch.put_cf(handle, seq_key(key), pending.0[key].to_be_bytes());
        }
        let mut by_entry: BTreeMap<u64, Vec<LedgerEvent>> = BTreeMap::new();
        for e in events {
            by_entry.entry(e.log_index).or_default().push(e);
        }
        for (log_index, entry) in by_entry {
            batch.put_cf(handle, entry_key(log_index), encode(&entry));
        }
        Ok(())
    }

    fn last_seq(&self, key: &SeqKey) -> Result<u64, StorageError> {
        let got = self.db().get_cf(self.handle(cf::EVENTS), seq_key(key))?;
        Ok(match got {
            Some(b) => {
                u64::from_be_bytes(b.as_slice().try_into().map_err(|_| StorageError::Corrupt {
                    what: "event sequence",
                    why: format!("{} bytes, expected 8", b.len()),
                })?)
            }
            None => 0,
        })
    }

    /// The events of history-log entry `log_index` (empty if none is stored there).
    pub fn entry_events(&self, log_index: u64) -> Result<Vec<LedgerEvent>, StorageError> {
        self.db()
            .get_cf(self.handle(cf::EVENTS), entry_key(log_index))?
            .map(|b| decode(&b).map_err(corrupt("events")))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// One event by id.
    pub fn event(&self, id: EventId) -> Result<Option<LedgerEvent>, StorageError> {
        Ok(self
            .entry_events(id.log_index)?
            .into_iter()
            .find(|e| e.id == id))
    }

    /// Up to `limit` (≤ [`MAX_EVENTS_PAGE`]) events strictly after `after` (from the first
    /// without), in log order, that `keep` accepts, scanning at most
    /// [`MAX_ENTRIES_SCANNED`] entries.
    pub fn events_after(
        &self,
        after: Option<EventId>,
        limit: usize,
        mut keep: impl FnMut(&LedgerEvent) -> bool,
    ) -> Result<EventScan, StorageError> {
        let limit = limit.clamp(1, MAX_EVENTS_PAGE);
        let start = after.map(|a| a.log_index).unwrap_or(0);
        let mode = IteratorMode::From(&entry_key(start), Direction::Forward);
        let mut scan = EventScan {
            events: Vec::new(),
            next: after,
            exhausted: false,
        };
        for (scanned, item) in self
            .db()
            .iterator_cf(self.handle(cf::EVENTS), mode)
            .enumerate()
        {
            let (key, value) = item?;
            if key.first() != Some(&b'e') {
                break;
            }
            if scanned >= MAX_ENTRIES_SCANNED {
                return Ok(scan);
            }
            let entry: Vec<LedgerEvent> = decode(&value).map_err(corrupt("events"))?;
            for e in entry {
                if after.is_some_and(|a| e.id <= a) {
                    continue;
                }
                if scan.events.len() == limit {
                    return Ok(scan);
                }
                scan.next = Some(e.id);
                if keep(&e) {
                    scan.events.push(e);
                }
            }
        }
        scan.exhausted = true;
        Ok(scan)
    }

    /// Once per database: stores the events of every block a cactusd stored before it kept
    /// an event log. Facts are read from the latest state (they never change once written),
    /// so the events equal those a node deriving them at commit gets.
    pub(crate) fn index_events(&self) -> Result<(), StorageError> {
        if self
            .db()
            .get_cf(self.handle(cf::META), META_EVENTS_INDEXED)?
            .is_some()
        {
            return Ok(());
        }
        let tip = self.tip()?;
        let first = self.sync_base()?.map(|b| b.height + 1).unwrap_or(1);
        let mut pending = Sequences::default();
        let mut batch = WriteBatch::default();
        for height in first..=tip.height {
            let Some(block) = self.block(height)? else {
                continue;
            };
            let results = self.block_results(height)?;
            self.put_events(
                &mut batch,
                self,
                &WriteSet::default(),
                &block,
                &results,
                &mut pending,
            )?;
            if batch.len() > 10_000 {
                self.write_unsynced(std::mem::take(&mut batch))?;
                pending = Sequences::default();
            }
        }
        if tip.height > 0 {
            tracing::info!(
                blocks = tip.height,
                "stored the events of earlier blocks (once)"
            );
        }
        batch.put_cf(self.handle(cf::META), META_EVENTS_INDEXED, []);
        self.write_synced(batch)
    }

    /// Marks a new database's event log complete (every block will be indexed at commit).
    pub(crate) fn mark_events_indexed(&self, batch: &mut WriteBatch) {
        batch.put_cf(self.handle(cf::META), META_EVENTS_INDEXED, []);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_resting_after_a_pass_stops_on_shutdown() {
        let done = std::future::ready(());
        tokio::pin!(done);
        assert!(rest_after_pass(&mut done).await, "shutdown first: stop");
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        assert!(!rest_after_pass(&mut never).await, "rested: go on");
    }
}
