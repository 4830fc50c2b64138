//! The Raft log and Raft's own state on RocksDB: a [`raft::Storage`] implementation.
//!
//! Entries live in column family `raft_log` keyed by big-endian index; the hard state, the
//! conf state and the compaction point in `raft_state`. [`RaftStore::persist`] writes new
//! entries (truncating any conflicting suffix) and the hard state in one fsynced batch: the
//! Ready loop calls it before it acknowledges anything. First and last index are cached in
//! memory (the log is only changed through this type).
//!
//! Snapshots: [`raft::Storage::snapshot`] does not copy state. It asks the node's
//! [`SnapshotExporter`] for an export of the state at a block boundary and returns a
//! snapshot whose `data` is only the export's [`crate::state_sync::SnapshotDescriptor`];
//! the receiver streams the state itself in chunks and verifies it before installing
//! ([`crate::state_sync`]). While an export is being built the answer is
//! `SnapshotTemporarilyUnavailable` and raft-rs asks again later, as it is designed to.

use crate::state_sync::SnapshotExporter;
use crate::storage::{StorageError, Store, cf};
use couponcactus_chaincode::encoding::encode;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError as RaftStorageError};
use rocksdb::WriteBatch;
use std::sync::{Arc, Mutex};

const HARD_STATE: &[u8] = b"hard_state";
const CONF_STATE: &[u8] = b"conf_state";
/// (index, term) of the last entry removed by compaction.
const TRUNCATED: &[u8] = b"truncated";

#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Index and term of the last compacted entry (0, 0 when nothing was compacted).
    truncated_index: u64,
    truncated_term: u64,
    /// Index of the last entry (truncated_index when the log is empty).
    last_index: u64,
}

/// Raft storage on the node's RocksDB.
#[derive(Clone)]
pub struct RaftStore {
    store: Store,
    bounds: Arc<Mutex<Bounds>>,
    /// Builds the state exports snapshots point at (none: snapshots are unavailable).
    exporter: Option<Arc<SnapshotExporter>>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RaftStore({:?}, {:?})", self.store, self.bounds())
    }
}

fn other(e: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(RaftStorageError::Other(e.to_string().into()))
}

impl RaftStore {
    /// Opens the Raft storage in `store`; on first use records `voters` as the conf state.
    pub fn open(store: Store, voters: &[u64]) -> Result<Self, StorageError> {
        let state = store.handle(cf::RAFT_STATE);
        let db = store.db();
        if db.get_cf(state, CONF_STATE)?.is_none() {
            let mut cs = ConfState::default();
            cs.set_voters(voters.to_vec());
            let mut batch = WriteBatch::default();
            batch.put_cf(
                state,
                CONF_STATE,
                cs.write_to_bytes().expect("protobuf encodes"),
            );
            store.write_synced(batch)?;
        }
        let (truncated_index, truncated_term) = match db.get_cf(state, TRUNCATED)? {
            Some(b) if b.len() == 16 => (
                u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
            ),
            _ => (0, 0),
        };
        let last_index = match db
            .iterator_cf(store.handle(cf::RAFT_LOG), rocksdb::IteratorMode::End)
            .next()
        {
            Some(item) => {
                let (k, _) = item?;
                u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                    what: "raft log key",
                    why: hex::encode(&k),
                })?)
            }
            None => truncated_index,
        };
        Ok(RaftStore {
            store,
            bounds: Arc::new(Mutex::new(Bounds {
                truncated_index,
                truncated_term,
                last_index,
            })),
            exporter: None,
        })
    }

    /// Serves snapshots from `exporter`'s state exports.
    pub fn with_exporter(mut self, exporter: Arc<SnapshotExporter>) -> Self {
        self.exporter = Some(exporter);
        self
    }

    /// Records the conf state a conf-change entry produced, with that entry's index as the
    /// applied index, in one synced write (so a restart neither loses nor repeats it).
    pub fn apply_conf_state(&self, index: u64, cs: &ConfState) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.store.handle(cf::RAFT_STATE),
            CONF_STATE,
            cs.write_to_bytes().expect("protobuf encodes"),
        );
        self.store.put_applied_index(&mut batch, index);
        self.store.write_synced(batch)
    }

    /// Installs a received snapshot's metadata once its state is installed: the log is
    /// emptied, the compaction point becomes the snapshot's (index, term), the conf state
    /// its conf state, and the hard state's commit at least its index; one synced write.
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) -> Result<(), StorageError> {
        let mut hs = self.hard_state()?;
        hs.set_commit(hs.commit.max(meta.index));
        hs.set_term(hs.term.max(meta.term));
        let bounds = self.bounds();
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.store.handle(cf::RAFT_LOG),
            0u64.to_be_bytes(),
            (bounds.last_index.max(meta.index) + 1).to_be_bytes(),
        );
        let state = self.store.handle(cf::RAFT_STATE);
        let mut t = meta.index.to_be_bytes().to_vec();
        t.extend_from_slice(&meta.term.to_be_bytes());
        batch.put_cf(state, TRUNCATED, t);
        batch.put_cf(
            state,
            CONF_STATE,
            meta.get_conf_state()
                .write_to_bytes()
                .expect("protobuf encodes"),
        );
        batch.put_cf(
            state,
            HARD_STATE,
            hs.write_to_bytes().expect("protobuf encodes"),
        );
        self.store.write_synced(batch)?;
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner()) = Bounds {
            truncated_index: meta.index,
            truncated_term: meta.term,
            last_index: meta.index,
        };
        Ok(())
    }

    /// The stored conf state.
    pub fn stored_conf_state(&self) -> Result<ConfState, StorageError> {
        self.conf_state()
    }

    fn bounds(&self) -> Bounds {
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `entries` (dropping any existing entries from the first new index on) and
    /// sets `hard_state`, in one fsynced write.
    pub fn persist(
        &self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        let log = self.store.handle(cf::RAFT_LOG);
        let mut bounds = self.bounds();
        if let Some(first) = entries.first() {
            if first.index <= bounds.last_index {
                batch.delete_range_cf(
                    log,
                    first.index.to_be_bytes(),
                    (bounds.last_index + 1).to_be_bytes(),
                );
            }
            for e in entries {
                batch.put_cf(
                    log,
                    e.index.to_be_bytes(),
                    e.write_to_bytes().expect("protobuf encodes"),
                );
            }
            bounds.last_index = entries.last().expect("non-empty").index;
        }
        if let Some(hs) = hard_state {
            batch.put_cf(
                self.store.handle(cf::RAFT_STATE),
                HARD_STATE,
                hs.write_to_bytes().expect("protobuf encodes"),
            );
        }
        self.store.write_synced(batch)?;
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner()) = bounds;
        Ok(())
    }

    /// Sets the commit index in the stored hard state (light ready). Written to the WAL
    /// without its own fsync: the next persisted Ready is synced, which makes this earlier
    /// write durable too; a commit index on disk below the truth is always safe, and one
    /// below the applied index is raised at start.
    pub fn set_commit(&self, commit: u64) -> Result<(), StorageError> {
        let mut hs = self.hard_state()?;
        if hs.commit >= commit {
            return Ok(());
        }
        hs.set_commit(commit);
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.store.handle(cf::RAFT_STATE),
            HARD_STATE,
            hs.write_to_bytes().expect("protobuf encodes"),
        );
        self.store.write_unsynced(batch)
    }

    /// Index of the first entry still in the log.
    pub fn first_index(&self) -> u64 {
        self.bounds().truncated_index + 1
    }

    /// Drops entries up to and including `index` (which must be applied).
    pub fn compact(&self, index: u64) -> Result<(), StorageError> {
        let bounds = self.bounds();
        if index <= bounds.truncated_index || index > bounds.last_index {
            return Ok(());
        }
        let term = self
            .entry(index)?
            .map(|e| e.term)
            .ok_or(StorageError::Corrupt {
                what: "raft log",
                why: format!("entry {index} missing"),
            })?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.store.handle(cf::RAFT_LOG),
            0u64.to_be_bytes(),
            (index + 1).to_be_bytes(),
        );
        let mut t = index.to_be_bytes().to_vec();
        t.extend_from_slice(&term.to_be_bytes());
        batch.put_cf(self.store.handle(cf::RAFT_STATE), TRUNCATED, t);
        self.store.write_synced(batch)?;
        let mut b = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        b.truncated_index = index;
        b.truncated_term = term;
        Ok(())
    }

    fn hard_state(&self) -> Result<HardState, StorageError> {
        match self
            .store
            .db()
            .get_cf(self.store.handle(cf::RAFT_STATE), HARD_STATE)?
        {
            Some(b) => HardState::parse_from_bytes(&b).map_err(|e| StorageError::Corrupt {
                what: "hard state",
                why: e.to_string(),
            }),
            None => Ok(HardState::default()),
        }
    }

    fn conf_state(&self) -> Result<ConfState, StorageError> {
        match self
            .store
            .db()
            .get_cf(self.store.handle(cf::RAFT_STATE), CONF_STATE)?
        {
            Some(b) => ConfState::parse_from_bytes(&b).map_err(|e| StorageError::Corrupt {
                what: "conf state",
                why: e.to_string(),
            }),
            None => Ok(ConfState::default()),
        }
    }

    fn entry(&self, index: u64) -> Result<Option<Entry>, StorageError> {
        match self
            .store
            .db()
            .get_cf(self.store.handle(cf::RAFT_LOG), index.to_be_bytes())?
        {
            Some(b) => Ok(Some(Entry::parse_from_bytes(&b).map_err(|e| {
                StorageError::Corrupt {
                    what: "raft entry",
                    why: e.to_string(),
                }
            })?)),
            None => Ok(None),
        }
    }
}

impl raft::Storage for RaftStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state().map_err(other)?,
            conf_state: self.conf_state().map_err(other)?,
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let bounds = self.bounds();
        if low <= bounds.truncated_index {
            return Err(raft::Error::Store(RaftStorageError::Compacted));
        }
        if high > bounds.last_index + 1 {
            return Err(raft::Error::Store(RaftStorageError::Unavailable));
        }
        let max = max_size.into();
        let mut out = Vec::with_capacity((high - low) as usize);
        let mut size = 0u64;
        for index in low..high {
            let e = self
                .entry(index)
                .map_err(other)?
                .ok_or(raft::Error::Store(RaftStorageError::Unavailable))?;
            size += u64::from(e.compute_size());
            // At least one entry is always returned.
            if !out.is_empty() && max.is_some_and(|m| size > m) {
                break;
            }
            out.push(e);
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let bounds = self.bounds();
        if idx == bounds.truncated_index {
            return Ok(bounds.truncated_term);
        }
        if idx < bounds.truncated_index {
            return Err(raft::Error::Store(RaftStorageError::Compacted));
        }
        if idx > bounds.last_index {
            return Err(raft::Error::Store(RaftStorageError::Unavailable));
        }
        Ok(self
            .entry(idx)
            .map_err(other)?
            .ok_or(raft::Error::Store(RaftStorageError::Unavailable))?
            .term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.bounds().truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.bounds().last_index)
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let unavailable = || raft::Error::Store(RaftStorageError::SnapshotTemporarilyUnavailable);
        let Some(exporter) = &self.exporter else {
            return Err(unavailable());
        };
        // The follower continues from the snapshot with entries still in the log.
        let min_index = request_index.max(self.bounds().truncated_index);
        let descriptor = match exporter.prepare(min_index) {
            Ok(Some(d)) => d,
            Ok(None) => return Err(unavailable()),
            Err(e) => {
                tracing::warn!(error = %e, to, "snapshot export failed; retrying later");
                return Err(unavailable());
            }
        };
        let term = match self.term(descriptor.raft_index) {
            Ok(t) => t,
            Err(_) => return Err(unavailable()), // compacted meanwhile: a newer export comes
        };
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = descriptor.raft_index;
        meta.term = term;
        meta.set_conf_state(ConfState::parse_from_bytes(&descriptor.conf_state).map_err(other)?);
        snapshot.data = encode(&descriptor).into();
        tracing::info!(
            to,
            height = descriptor.height,
            index = descriptor.raft_index,
            "sending a state snapshot"
        );
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8; 10].into(),
            ..Default::default()
        }
    }

    #[test]
    fn append_truncate_compact_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = RaftStore::open(store.clone(), &[1]).unwrap();
        assert_eq!(
            (
                raft::Storage::first_index(&log).unwrap(),
                log.last_index().unwrap()
            ),
            (1, 0)
        );
        assert_eq!(log.initial_state().unwrap().conf_state.voters, vec![1]);
        log.persist(&(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>(), None)
            .unwrap();
        // A new leader overwrites entries 4.. with term 2.
        let hs = HardState {
            term: 2,
            commit: 3,
            ..Default::default()
        };
        log.persist(&[entry(4, 2)], Some(&hs)).unwrap();
        assert_eq!(log.last_index().unwrap(), 4);
        assert_eq!(log.term(4).unwrap(), 2);
        assert_eq!(
            log.entries(1, 5, None, GetEntriesContext::empty(false))
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            log.entries(1, 5, 1, GetEntriesContext::empty(false))
                .unwrap()
                .len(),
            1
        );
        log.compact(2).unwrap();
        assert_eq!(raft::Storage::first_index(&log).unwrap(), 3);
        assert_eq!(log.term(2).unwrap(), 1);
        assert!(log.term(1).is_err());
        assert!(
            log.entries(2, 4, None, GetEntriesContext::empty(false))
                .is_err()
        );
        drop(log);
        let log = RaftStore::open(store, &[9]).unwrap();
        assert_eq!(
            (
                raft::Storage::first_index(&log).unwrap(),
                log.last_index().unwrap()
            ),
            (3, 4)
        );
        let state = log.initial_state().unwrap();
        assert_eq!((state.hard_state.term, state.hard_state.commit), (2, 3));
        assert_eq!(
            state.conf_state.voters,
            vec![1],
            "conf state is kept, not reset"
        );
    }
}
