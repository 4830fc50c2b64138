//! Durable storage on RocksDB: chain state, the state tree, the history log, blocks, tx
//! results, indexes, certificates and the Raft log, in column families.
//!
//! Everything one block changes is written by [`Store::commit_block`] in a single atomic
//! `WriteBatch` that also carries the Raft index of the entry the block came from, so after
//! a crash (kill -9 at any instant) the node restarts at exactly the last applied block and
//! re-applies later committed entries. That write is not fsynced on its own: the block is
//! a function of Raft entries that are already durable, and the next fsynced write of the
//! Raft log makes it durable too (one WAL, written in order); a power loss in between only
//! means the node applies those entries again at restart. The chaincode reads state through
//! [`Store`]'s [`StateReader`] impl; the state tree through jmt's [`TreeReader`]; the
//! history log through [`HistoryReader`]. The Raft log lives in [`crate::raft_log`].

use couponcactus_chaincode::block::{BlockHeader, Certificate};
use couponcactus_chaincode::commitment::{MemTreeStore, StateUpdate};
use couponcactus_chaincode::encoding::{decode, decode_prefix, encode};
use couponcactus_chaincode::execute::{Event, TxResult};
use couponcactus_chaincode::history::{HistoryError, HistoryReader, NodeIndex};
use couponcactus_chaincode::ids::{
    Hash32, MemberId, OrgId, PoolId, PublicKey, StoreId, TokenId, TxId,
};
use couponcactus_chaincode::initial::InitialState;
use couponcactus_chaincode::ledger::{AppliedBlock, Block, ChainTip, genesis_tip};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::state::{StateError, StateKey, StateReader, StateValue, WriteSet};
use couponcactus_chaincode::tx::{RedeemTarget, SignedTx, TxKind};
use couponcactus_chaincode::types::CodeIndexEntry;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

mod prune;
pub use prune::{PruneProgress, PruneState, Retained, Retention};

/// Column family names, one per kind of data.
pub mod cf {
    /// Singletons: tip, applied index, genesis.
    pub const META: &str = "meta";
    /// Raft log entries by index.
    pub const RAFT_LOG: &str = "raft_log";
    /// Raft hard state, conf state, compaction point.
    pub const RAFT_STATE: &str = "raft_state";
    /// Latest chaincode state.
    pub const STATE: &str = "state";
    /// State-tree nodes.
    pub const JMT_NODES: &str = "jmt_nodes";
    /// State-tree values by key hash and version.
    pub const JMT_VALUES: &str = "jmt_values";
    /// State-tree nodes that became stale, by version (for pruning).
    pub const JMT_STALE: &str = "jmt_stale";
    /// Keys whose earlier values a version superseded, by version (for pruning).
    pub const JMT_STALE_VALUES: &str = "jmt_stale_values";
    /// Stale nodes and superseded values a kept checkpoint still reads, by checkpoint
    /// (`prune`).
    pub const JMT_HELD: &str = "jmt_held";
    /// Blocks by height.
    pub const BLOCKS: &str = "blocks";
    /// Tx results by (height, index), and tx id → (height, index).
    pub const RESULTS: &str = "results";
    /// History-log subtree hashes.
    pub const HISTORY: &str = "history";
    /// Secondary indexes (wallets, token history with its rejected attempts, pools by org,
    /// redemptions by store).
    pub const INDEXES: &str = "indexes";
    /// Checkpoint certificates by height.
    pub const CERTS: &str = "certs";
    /// Ledger events by history-log entry, and their per-entity sequence counters
    /// (`crate::events`).
    pub const EVENTS: &str = "events";
    /// All of them.
    pub const ALL: &[&str] = &[
        META,
        RAFT_LOG,
        RAFT_STATE,
        STATE,
        JMT_NODES,
        JMT_VALUES,
        JMT_STALE,
        JMT_STALE_VALUES,
        JMT_HELD,
        BLOCKS,
        RESULTS,
        HISTORY,
        INDEXES,
        CERTS,
        EVENTS,
    ];
}

const META_TIP: &[u8] = b"tip";
const META_APPLIED: &[u8] = b"applied_index";
const META_GENESIS_HASH: &[u8] = b"genesis_hash";
/// The tip at height 0 (genesis has no stored block header; see [`Store::genesis_tip`]).
const META_GENESIS_TIP: &[u8] = b"genesis_tip";
const META_SYNC_BASE: &[u8] = b"sync_base";
const META_FORMAT: &[u8] = b"storage_format";
/// Present once every stored block's rejected txs aimed at a token are in the token
/// history index ([`Store::index_rejected_attempts`]).
const META_REJECTED_INDEXED: &[u8] = b"rejected_attempts_indexed";

/// Most ids one prefix lookup returns ([`Store::tx_ids_with_prefix`],
/// [`Store::keys_with_prefix`]): two tell that a prefix is ambiguous, a few more name the
/// candidates.
pub const MAX_PREFIX_MATCHES: usize = 8;

/// The on-disk layout this build reads and writes. Format 2 keys state-tree nodes by
/// big-endian version first ([`node_key_bytes`]), so each block's new nodes sort after
/// all older ones; format 1 used borsh's little-endian version, which scattered every
/// block's nodes across the whole key space (about a fifth more bytes written per
/// redemption, docs/performance.md). Format 3 stores txs whose body ends with a memo
/// (`TxBody::memo`) and ledger events that carry it. Format 4 commits replay protection
/// once per block (`StateKey::Remembered`) and keeps the per-id index (`SeenTx`) out of the
/// state tree, so state roots differ. Formats 3 and 4 are new chain layouts, see
/// [`CHAIN_LAYOUT_FORMAT`].
pub const STORAGE_FORMAT: u32 = 4;

/// The first format of this build's chain layout. A directory of an older format holds a
/// chain this build cannot continue (format 2: txs without a memo, so tx bytes, ids and
/// block roots differ; format 3: replay protection in the state tree, so state roots
/// differ), and no peer running this build can serve it either: it is refused as another
/// chain layout ([`StorageError::ChainLayout`]), not as a directory to re-sync.
pub const CHAIN_LAYOUT_FORMAT: u32 = 4;

/// RocksDB memory shared by all column families of one database, which bounds most of a
/// node's RSS beyond the in-memory mempool: memtables (all families together flush at
/// [`Self::WRITE_BUFFERS`]) and one LRU block cache for data blocks.
struct SharedMemory {
    block_cache: rocksdb::Cache,
    write_buffers: rocksdb::WriteBufferManager,
}

impl SharedMemory {
    /// Bytes of memtables across all column families before RocksDB flushes.
    const WRITE_BUFFERS: usize = 128 << 20;
    /// Bytes of the block cache.
    const BLOCK_CACHE: usize = 96 << 20;

    fn new() -> Self {
        let block_cache = rocksdb::Cache::new_lru_cache(Self::BLOCK_CACHE);
        let write_buffers = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
            Self::WRITE_BUFFERS,
            false,
            block_cache.clone(),
        );
        SharedMemory {
            block_cache,
            write_buffers,
        }
    }
}

/// Database-wide options: background work for two cores, smooth syncing of table files,
/// bounded WAL and memtables.
fn db_options(memory: &SharedMemory) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_keep_log_file_num(4);
    opts.set_max_total_wal_size(256 << 20);
    opts.set_max_background_jobs(2);
    // Write table files out in 1 MiB steps instead of one burst at the end.
    opts.set_bytes_per_sync(1 << 20);
    opts.set_write_buffer_manager(&memory.write_buffers);
    opts
}

/// Per column family options. All of them share the block cache; index and filter blocks
/// stay outside it (in the cache, a missed lookup re-read a whole filter block: see
/// docs/performance.md). Point-read families get a bloom filter. [`cf::JMT_VALUES`] is
/// only ever sought by key hash (the newest version at or below one, or all of a key's
/// versions for the pruner), never point-read: its filter is on the 32-byte key-hash
/// prefix ([`JMT_VALUE_PREFIX`]), so a seek skips every table file without that key.
/// Hashes do not compress, so the tree's families are stored uncompressed; the others use
/// LZ4 below the first two levels.
fn cf_options(name: &str, memory: &SharedMemory) -> Options {
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&memory.block_cache);
    table.set_format_version(5);
    if !matches!(
        name,
        cf::INDEXES | cf::JMT_STALE | cf::JMT_STALE_VALUES | cf::JMT_HELD | cf::RAFT_LOG
    ) {
        table.set_bloom_filter(10.0, false);
    }
    let mut opts = Options::default();
    if name == cf::JMT_VALUES {
        table.set_whole_key_filtering(false);
        opts.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(
            JMT_VALUE_PREFIX,
        ));
        opts.set_memtable_prefix_bloom_ratio(0.1);
    }
    opts.set_block_based_table_factory(&table);
    opts.set_level_compaction_dynamic_level_bytes(true);
    opts.set_write_buffer_size(32 << 20);
    if matches!(
        name,
        cf::JMT_NODES
            | cf::JMT_VALUES
            | cf::JMT_STALE
            | cf::JMT_STALE_VALUES
            | cf::JMT_HELD
            | cf::HISTORY
    ) {
        opts.set_compression_type(rocksdb::DBCompressionType::None);
    } else {
        use rocksdb::DBCompressionType::{Lz4, None};
        opts.set_compression_per_level(&[None, None, Lz4, Lz4, Lz4, Lz4, Lz4]);
    }
    opts
}

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB failed (I/O error, disk full, corruption).
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// A stored record does not decode.
    #[error("corrupt {what}: {why}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        why: String,
    },
    /// The data directory belongs to another chain.
    #[error("data directory holds chain with genesis {found}, not {expected}")]
    WrongGenesis {
        /// Genesis hash on disk.
        found: Hash32,
        /// Genesis hash configured.
        expected: Hash32,
    },
    /// The store has no genesis yet.
    #[error("store is not initialised with a genesis")]
    NotInitialised,
    /// The data directory was written by a build with another storage layout.
    #[error(
        "data directory has storage format {found}, this cactusd reads format {expected}: \
         move it aside and start with an empty data directory (the node catches up from its \
         peers by state sync), or run the cactusd that wrote it"
    )]
    Format {
        /// Format recorded in the directory.
        found: u32,
        /// Format this build reads.
        expected: u32,
    },
    /// The data directory holds a chain of an older chain layout
    /// ([`CHAIN_LAYOUT_FORMAT`]), which this build can neither read nor continue.
    #[error(
        "data directory has storage format {found}, this cactusd reads format \
         {STORAGE_FORMAT}: this is a new chain layout (format 3: every tx carries a memo \
         field, so tx bytes, tx ids and block hashes differ; format 4: replay protection is \
         committed once per block, so state roots differ), and the chain in this directory \
         cannot be read or continued, not even by state sync from peers running this \
         cactusd. Start a new chain: a new genesis with empty data directories on every node \
         (`scripts/dev.sh --fresh`, or `--single --fresh` for a dev chain), or keep running \
         the cactusd that wrote it"
    )]
    ChainLayout {
        /// Format recorded in the directory.
        found: u32,
    },
    /// The disk is full: the write was refused and nothing of it was stored.
    #[error(
        "disk full (ENOSPC): a write of the node's database was refused and nothing of it \
         was stored; free space and restart the node (it resumes at its last stored block)"
    )]
    DiskFull,
    /// A simulated process crash ([`DiskFaults::crash_after`]): this write and every later
    /// one of the same store are refused, as if the process had died before issuing them.
    #[error("simulated crash: the store takes no more writes")]
    Crashed,
}

/// Faults the deterministic simulator ([`crate::sim`]) injects at the store's two write
/// paths, which every write of chain state and the Raft log goes through: a full disk,
/// and a process crash before a given write. A store without faults never consults this.
#[derive(Debug, Default)]
pub struct DiskFaults {
    /// While set, every write fails with [`StorageError::DiskFull`].
    full: AtomicBool,
    /// Writes that still succeed before the simulated crash (`u64::MAX`: no crash armed).
    crash_in: AtomicU64,
    /// Set once the crash happened: every later write fails with [`StorageError::Crashed`].
    crashed: AtomicBool,
    /// Skip fsync. A simulated crash is a process crash, which keeps written but unsynced
    /// data (the OS has it), so fsync changes nothing the simulator checks and costs
    /// milliseconds per block; power loss is not simulated.
    no_sync: AtomicBool,
    /// Writes that succeeded, for crash points chosen by write count.
    writes: AtomicU64,
}

impl DiskFaults {
    /// No faults armed; fsync skipped when `no_sync`.
    pub fn new(no_sync: bool) -> Self {
        let faults = DiskFaults {
            crash_in: AtomicU64::new(u64::MAX),
            ..Default::default()
        };
        faults.no_sync.store(no_sync, Ordering::SeqCst);
        faults
    }

    /// Fills (`true`) or frees (`false`) the disk.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    /// Arms a crash: `writes` more writes succeed, then this one and all later ones fail.
    pub fn crash_after(&self, writes: u64) {
        self.crash_in.store(writes, Ordering::SeqCst);
    }

    /// Disarms the crash point and clears a crash that happened (a restart of the node).
    pub fn reset_crash(&self) {
        self.crash_in.store(u64::MAX, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }

    /// Whether the armed crash happened.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Writes that succeeded so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Checks a write about to be issued.
    fn admit(&self) -> Result<(), StorageError> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(StorageError::Crashed);
        }
        if self.full.load(Ordering::SeqCst) {
            return Err(StorageError::DiskFull);
        }
        let left = self.crash_in.load(Ordering::SeqCst);
        if left == 0 {
            self.crashed.store(true, Ordering::SeqCst);
            return Err(StorageError::Crashed);
        }
        if left != u64::MAX {
            self.crash_in.store(left - 1, Ordering::SeqCst);
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn corrupt(
    what: &'static str,
) -> impl Fn(couponcactus_chaincode::encoding::EncodingError) -> StorageError {
    move |e| StorageError::Corrupt {
        what,
        why: e.to_string(),
    }
}

/// Where a tx landed.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Position in the history log (leaf index).
    pub log_index: u64,
}

/// Where a snapshot-synced store's history begins ([`Store::sync_base`]): the store was
/// installed from a state snapshot at `height` (see [`crate::state_sync`]), so blocks, tx
/// results, token histories and history-log proofs before `height + 1` are not on this
/// node; a full (replaying) node or an auditor has them.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct SyncBase {
    /// Height of the installed snapshot.
    pub height: u64,
    /// Header of the block at that height (`None` for a genesis snapshot).
    pub header: Option<BlockHeader>,
}

/// A raw (key bytes, value bytes) entry of a column family.
pub(crate) type RawEntry = (Box<[u8]>, Box<[u8]>);

/// A verified state snapshot to install in one write ([`Store::install_synced_state`]).
#[derive(Debug)]
pub(crate) struct SyncedState<'a> {
    /// The whole chaincode state at the snapshot height (puts only).
    pub state: &'a WriteSet,
    /// The state tree rebuilt at the snapshot height: its nodes and values (nothing is
    /// stale in a lone version).
    pub tree: &'a StateUpdate,
    /// History-log subtree hashes of the tip's frontier.
    pub history: &'a [couponcactus_chaincode::history::HistoryNode],
    /// The tip at the snapshot height.
    pub tip: &'a ChainTip,
    /// The Raft index the snapshot state was applied up to.
    pub raft_index: u64,
    /// A certificate of the snapshot block, if one came with it.
    pub certificate: Option<&'a Certificate>,
    /// What [`Store::sync_base`] will say.
    pub base: &'a SyncBase,
}

/// The node's database.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
    /// The block cache the database shares (for [`Store::memory`]); none when read-only.
    block_cache: Option<rocksdb::Cache>,
    /// Injected write faults (the simulator's stores only).
    faults: Option<Arc<DiskFaults>>,
}

/// What RocksDB holds in memory ([`Store::memory`]), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbMemory {
    /// All memtables (bounded by the write buffer manager, [`SharedMemory::WRITE_BUFFERS`]).
    pub memtables: u64,
    /// Table readers: the index and filter blocks of every open table file, which grow with
    /// the database (they are kept outside the block cache).
    pub table_readers: u64,
    /// The block cache, memtable reservations included ([`SharedMemory::BLOCK_CACHE`]).
    pub block_cache: u64,
}

/// One column family's size on disk ([`Store::disk_by_column_family`]), in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfDisk {
    /// The column family ([`cf`]).
    pub name: &'static str,
    /// Its table (SST) files.
    pub sst: u64,
    /// RocksDB's estimate of the live data in them.
    pub live: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.db.path().display())
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, with [`db_options`] and
    /// [`cf_options`]. A database written with another layout ([`STORAGE_FORMAT`]) is
    /// refused with [`StorageError::Format`].
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let memory = SharedMemory::new();
        let cfs = cf::ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name, &memory)));
        let db = DB::open_cf_descriptors(&db_options(&memory), path, cfs)?;
        let mut store = Store::with_db(db);
        store.block_cache = Some(memory.block_cache.clone());
        store.check_format()?;
        store.index_rejected_attempts()?;
        store.index_events()?;
        Ok(store)
    }

    /// [`Store::open`] with injected write faults, for the simulator: the faults apply from
    /// the first write after opening.
    pub fn open_with_faults(path: &Path, faults: Arc<DiskFaults>) -> Result<Self, StorageError> {
        let mut store = Store::open(path)?;
        store.faults = Some(faults);
        Ok(store)
    }

    /// Records [`STORAGE_FORMAT`] in an empty database, or checks the one recorded.
    fn check_format(&self) -> Result<(), StorageError> {
        let found = match self.get_cf(cf::META, META_FORMAT)? {
            Some(b) => decode::<u32>(&b).map_err(corrupt("storage format"))?,
            // A database with a genesis but no format marker predates the marker (format 1).
            None if self.get_cf(cf::META, META_GENESIS_HASH)?.is_some() => 1,
            None => {
                // A new database: every block it will hold is indexed as it is committed.
                let mut batch = WriteBatch::default();
                batch.put_cf(self.handle(cf::META), META_FORMAT, encode(&STORAGE_FORMAT));
                batch.put_cf(self.handle(cf::META), META_REJECTED_INDEXED, []);
                self.mark_events_indexed(&mut batch);
                return self.write_synced(batch);
            }
        };
        if found < CHAIN_LAYOUT_FORMAT {
            return Err(StorageError::ChainLayout { found });
        }
        if found != STORAGE_FORMAT {
            return Err(StorageError::Format {
                found,
                expected: STORAGE_FORMAT,
            });
        }
        Ok(())
    }

    /// Opens an existing database (such as a checkpoint) read-only.
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, StorageError> {
        let db = DB::open_cf_for_read_only(&Options::default(), path, cf::ALL, false)?;
        Ok(Store::with_db(db))
    }

    fn with_db(db: DB) -> Self {
        Store {
            db: Arc::new(db),
            block_cache: None,
            faults: None,
        }
    }

    /// What RocksDB holds in memory now (`/metrics`: `cactus_rocksdb_*_bytes`).
    pub fn memory(&self) -> Result<DbMemory, StorageError> {
        let caches: Vec<&rocksdb::Cache> = self.block_cache.iter().collect();
        let stats = rocksdb::perf::get_memory_usage_stats(Some(&[&self.db]), Some(&caches))?;
        Ok(DbMemory {
            memtables: stats.mem_table_total,
            table_readers: stats.mem_table_readers_total,
            block_cache: stats.cache_total,
        })
    }

    /// Each column family's table files on disk and RocksDB's estimate of the live data in
    /// them, in bytes: where `sst` stays well above `live`, deleted or overwritten data
    /// (pruned tree versions, say) waits for compaction.
    pub fn disk_by_column_family(&self) -> Result<Vec<CfDisk>, StorageError> {
        let property = |cf: &rocksdb::ColumnFamily, name: &str| {
            Ok::<u64, StorageError>(self.db.property_int_value_cf(cf, name)?.unwrap_or(0))
        };
        cf::ALL
            .iter()
            .map(|name| {
                let handle = self.handle(name);
                Ok(CfDisk {
                    name,
                    sst: property(handle, "rocksdb.total-sst-files-size")?,
                    live: property(handle, "rocksdb.estimate-live-data-size")?,
                })
            })
            .collect()
    }

    /// Creates a consistent checkpoint of the whole database at `path` (which must not
    /// exist): hard links to the table files, after a memtable flush.
    pub(crate) fn checkpoint(&self, path: &Path) -> Result<(), StorageError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(path)?;
        Ok(())
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    pub(crate) fn handle(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    fn get_cf(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.handle(name), key)?)
    }

    /// Writes `batch` atomically and durably (fsync of the WAL).
    pub(crate) fn write_synced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        let mut sync = true;
        if let Some(faults) = &self.faults {
            faults.admit()?;
            sync = !faults.no_sync.load(Ordering::SeqCst);
        }
        opts.set_sync(sync);
        Ok(self.db.write_opt(batch, &opts)?)
    }

    /// Writes `batch` atomically to the WAL without waiting for an fsync (durable with the
    /// next synced write).
    pub(crate) fn write_unsynced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        if let Some(faults) = &self.faults {
            faults.admit()?;
        }
        Ok(self.db.write(batch)?)
    }

    /// The genesis hash this store was initialised with.
    pub fn genesis_hash(&self) -> Result<Option<Hash32>, StorageError> {
        self.get_cf(cf::META, META_GENESIS_HASH)?
            .map(|b| decode(&b).map_err(corrupt("genesis hash")))
            .transpose()
    }

    /// Initialises an empty store with genesis state (version 0), or checks that an existing
    /// store belongs to the same genesis. Returns the tip.
    pub fn init_genesis(
        &self,
        genesis: &InitialState,
        genesis_hash: Hash32,
    ) -> Result<ChainTip, StorageError> {
        if let Some(found) = self.genesis_hash()? {
            if found != genesis_hash {
                return Err(StorageError::WrongGenesis {
                    found,
                    expected: genesis_hash,
                });
            }
            self.backfill_genesis_tip(genesis, genesis_hash)?;
            return self.tip();
        }
        let (tip, writes, update) =
            genesis_tip(genesis, genesis_hash, self).map_err(|e| StorageError::Corrupt {
                what: "genesis",
                why: e.to_string(),
            })?;
        let mut batch = WriteBatch::default();
        self.put_state_writes(&mut batch, &writes);
        self.put_tree_update(&mut batch, &update);
        batch.put_cf(self.handle(cf::META), META_TIP, encode(&tip));
        batch.put_cf(self.handle(cf::META), META_GENESIS_TIP, encode(&tip));
        batch.put_cf(self.handle(cf::META), META_APPLIED, encode(&0u64));
        batch.put_cf(
            self.handle(cf::META),
            META_GENESIS_HASH,
            encode(&genesis_hash),
        );
        self.write_synced(batch)?;
        Ok(tip)
    }

    /// A store written by a build before the genesis tip was recorded gets it now: genesis
    /// is computed again on an empty tree (no stored node is read, so a pruned version 0
    /// does not matter).
    fn backfill_genesis_tip(
        &self,
        genesis: &InitialState,
        genesis_hash: Hash32,
    ) -> Result<(), StorageError> {
        if self.genesis_tip()?.is_some() {
            return Ok(());
        }
        let (tip, _, _) =
            genesis_tip(genesis, genesis_hash, &MemTreeStore::new()).map_err(|e| {
                StorageError::Corrupt {
                    what: "genesis",
                    why: e.to_string(),
                }
            })?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.handle(cf::META), META_GENESIS_TIP, encode(&tip));
        self.write_synced(batch)
    }

    /// The tip at height 0 (its hash, state root and time), as [`Self::init_genesis`]
    /// recorded it; `None` only before the store is initialised.
    pub fn genesis_tip(&self) -> Result<Option<ChainTip>, StorageError> {
        self.get_cf(cf::META, META_GENESIS_TIP)?
            .map(|b| decode(&b).map_err(corrupt("genesis tip")))
            .transpose()
    }

    /// The tip after the last applied block.
    pub fn tip(&self) -> Result<ChainTip, StorageError> {
        let bytes = self
            .get_cf(cf::META, META_TIP)?
            .ok_or(StorageError::NotInitialised)?;
        decode(&bytes).map_err(corrupt("tip"))
    }

    /// The Raft index of the last applied entry.
    pub fn applied_index(&self) -> Result<u64, StorageError> {
        match self.get_cf(cf::META, META_APPLIED)? {
            Some(b) => decode(&b).map_err(corrupt("applied index")),
            None => Ok(0),
        }
    }

    /// Records that Raft entry `index` carried no block (an election no-op). Not fsynced
    /// on its own, like [`Self::commit_block`].
    pub fn set_applied_index(&self, index: u64) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.handle(cf::META), META_APPLIED, encode(&index));
        self.write_unsynced(batch)
    }

    /// Adds "applied index = `index`" to `batch`.
    pub(crate) fn put_applied_index(&self, batch: &mut WriteBatch, index: u64) {
        batch.put_cf(self.handle(cf::META), META_APPLIED, encode(&index));
    }

    fn put_state_writes(&self, batch: &mut WriteBatch, writes: &WriteSet) {
        let state = self.handle(cf::STATE);
        for (k, v) in &writes.0 {
            match v {
                Some(v) => batch.put_cf(state, k.to_bytes(), v.to_bytes()),
                None => batch.delete_cf(state, k.to_bytes()),
            }
        }
    }

    /// Adds nodes, each already in its stored encoding (borsh), and values to `batch`.
    fn put_nodes(
        &self,
        batch: &mut WriteBatch,
        nodes: &BTreeMap<NodeKey, Vec<u8>>,
        values: &BTreeMap<(Version, KeyHash), Option<OwnedValue>>,
    ) {
        let (node_cf, value_cf) = (self.handle(cf::JMT_NODES), self.handle(cf::JMT_VALUES));
        for (key, node) in nodes {
            batch.put_cf(node_cf, node_key_bytes(key), node);
        }
        for ((version, key_hash), value) in values {
            batch.put_cf(value_cf, value_key(key_hash, *version), encode(value));
        }
    }

    /// Writes a version's nodes and values, and the stale-index entries the pruner reads
    /// ([`prune`]): each replaced node, and each key written (its older values are
    /// superseded).
    fn put_tree_update(&self, batch: &mut WriteBatch, update: &StateUpdate) {
        self.put_nodes(batch, &update.nodes, &update.values);
        let stale = self.handle(cf::JMT_STALE);
        for s in &update.stale {
            let mut key = s.stale_since_version.to_be_bytes().to_vec();
            key.extend(node_key_bytes(&s.node_key));
            batch.put_cf(stale, key, []);
        }
        let superseded = self.handle(cf::JMT_STALE_VALUES);
        for (version, key_hash) in update.values.keys() {
            if *version > 0 {
                let mut key = version.to_be_bytes().to_vec();
                key.extend_from_slice(&key_hash.0);
                batch.put_cf(superseded, key, []);
            }
        }
    }

    /// Persists an applied block — state writes, tree update, history nodes, the block, its
    /// results and index entries, the tip and the Raft index it came from — in one atomic
    /// write, without an fsync of its own (see the module docs).
    pub fn commit_block(
        &self,
        raft_index: u64,
        block: &Block,
        applied: &AppliedBlock,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let height = applied.header.height;
        self.put_state_writes(&mut batch, &applied.state_writes);
        self.put_tree_update(&mut batch, &applied.state_update);
        let history = self.handle(cf::HISTORY);
        for (at, hash) in &applied.history_nodes {
            batch.put_cf(history, history_key(*at), hash.0);
        }
        batch.put_cf(self.handle(cf::BLOCKS), height.to_be_bytes(), encode(block));
        let results = self.handle(cf::RESULTS);
        let first_log_index = applied.tip.log.size - applied.results.len() as u64;
        for (i, result) in applied.results.iter().enumerate() {
            let location = TxLocation {
                height,
                index: i as u32,
                log_index: first_log_index + i as u64,
            };
            batch.put_cf(results, result_key(height, i as u32), encode(result));
            // A tx id is indexed by its first execution; a later duplicate stays findable
            // by position but does not shadow the original.
            if !matches!(result.outcome.rejection(), Some(r) if r.reason == couponcactus_chaincode::reject::RejectReason::Duplicate)
            {
                batch.put_cf(results, tx_key(&result.tx_id), encode(&location));
            }
        }
        self.put_indexes(&mut batch, height, &applied.results, &applied.state_writes);
        self.put_rejected_attempts(
            &mut batch,
            height,
            block,
            &applied.results,
            &applied.state_writes,
        )?;
        self.put_events(
            &mut batch,
            self,
            &applied.state_writes,
            block,
            &applied.results,
            &mut Default::default(),
        )?;
        batch.put_cf(self.handle(cf::META), META_TIP, encode(&applied.tip));
        batch.put_cf(self.handle(cf::META), META_APPLIED, encode(&raft_index));
        self.write_unsynced(batch)
    }

    fn put_indexes(
        &self,
        batch: &mut WriteBatch,
        height: u64,
        results: &[TxResult],
        writes: &WriteSet,
    ) {
        let idx = self.handle(cf::INDEXES);
        for (i, result) in results.iter().enumerate() {
            for event in result.outcome.events().unwrap_or_default() {
                let tokens: Vec<TokenId> = match event {
                    Event::Allocated {
                        token,
                        member,
                        repeat: false,
                    } => {
                        batch.put_cf(idx, wallet_key(member, token), []);
                        vec![token.clone()]
                    }
                    Event::TokenTransferred { token, to, .. } => {
                        batch.put_cf(idx, wallet_key(to, token), []);
                        vec![token.clone()]
                    }
                    Event::Redeemed { token: Some(t), .. }
                    | Event::RolledBack { token: Some(t), .. }
                    | Event::TokenRevoked { token: t } => vec![t.clone()],
                    Event::CodesIssued {
                        pool,
                        first_serial,
                        count,
                    } if *count <= 100_000 => (0..*count)
                        .map(|k| TokenId {
                            pool: pool.clone(),
                            serial: first_serial + k,
                        })
                        .filter(|t| writes.0.contains_key(&StateKey::Token(t.clone())))
                        .collect(),
                    _ => vec![],
                };
                for token in tokens {
                    batch.put_cf(idx, token_history_key(&token, height, i as u32), []);
                }
            }
        }
        for (key, value) in &writes.0 {
            match (key, value) {
                (StateKey::Pool(id), Some(StateValue::Pool(p))) => {
                    batch.put_cf(idx, pool_key(&p.owner, id), []);
                }
                (StateKey::Redemption(id), Some(StateValue::Redemption(r)))
                    if r.rolled_back_at.is_none() =>
                {
                    batch.put_cf(idx, store_key(&r.redeemer_org, &r.store, r.height, id), []);
                }
                _ => {}
            }
        }
    }

    /// Adds a token-history entry for each rejected tx of the block that aimed at an
    /// existing token ([`Self::rejected_target`]): failed redemptions and other refused
    /// attempts are evidence an auditor reads in the token's history. Applied txs are
    /// indexed by their events ([`Self::put_indexes`]).
    fn put_rejected_attempts(
        &self,
        batch: &mut WriteBatch,
        height: u64,
        block: &Block,
        results: &[TxResult],
        writes: &WriteSet,
    ) -> Result<(), StorageError> {
        let idx = self.handle(cf::INDEXES);
        for (i, (tx, result)) in block.txs.iter().zip(results).enumerate() {
            if let Some(token) = self.rejected_target(tx, result, Some(writes))? {
                batch.put_cf(idx, token_history_key(&token, height, i as u32), []);
            }
        }
        Ok(())
    }

    /// The token a rejected tx aimed at: a redemption of a token or of a unique code, a
    /// rollback of a token's redemption, a revocation or a transfer. `None` for applied
    /// txs, other kinds, shared codes, and rejections for a thing that did not exist
    /// (`not_found`: a mistyped code names no token). Codes and redemption records are
    /// never deleted, so the state after the block (`writes` over the store) or any later
    /// state names the same token.
    fn rejected_target(
        &self,
        tx: &SignedTx,
        result: &TxResult,
        writes: Option<&WriteSet>,
    ) -> Result<Option<TokenId>, StorageError> {
        match result.outcome.rejection() {
            Some(r) if r.reason != RejectReason::NotFound => {}
            _ => return Ok(None),
        }
        Ok(match &tx.body.kind {
            TxKind::Redeem(t) => match &t.target {
                RedeemTarget::Token(id) => Some(id.clone()),
                RedeemTarget::Code(hash) => {
                    match self.state_after(writes, &StateKey::Code(*hash))? {
                        Some(StateValue::Code(CodeIndexEntry {
                            pool,
                            serial: Some(serial),
                        })) => Some(TokenId { pool, serial }),
                        _ => None,
                    }
                }
            },
            TxKind::Rollback(t) => {
                match self.state_after(writes, &StateKey::Redemption(t.redemption))? {
                    Some(StateValue::Redemption(r)) => r.token,
                    _ => None,
                }
            }
            TxKind::RevokeToken(t) => Some(t.token.clone()),
            TxKind::TransferToken(t) => Some(t.token.clone()),
            _ => None,
        })
    }

    /// The value at `key` after a block that wrote `writes` (before it is committed), or
    /// in the latest state.
    fn state_after(
        &self,
        writes: Option<&WriteSet>,
        key: &StateKey,
    ) -> Result<Option<StateValue>, StorageError> {
        if let Some(written) = writes.and_then(|w| w.0.get(key)) {
            return Ok(written.clone());
        }
        self.get_cf(cf::STATE, &key.to_bytes())?
            .map(|b| StateValue::from_bytes(&b).map_err(corrupt("state value")))
            .transpose()
    }

    /// Once per database: adds the token-history entries of rejected attempts
    /// ([`Self::put_rejected_attempts`]) for the blocks a cactusd stored before it indexed
    /// them. Index entries are derived data with the same key layout, so this changes no
    /// storage format; a database created by this build is marked done at creation.
    fn index_rejected_attempts(&self) -> Result<(), StorageError> {
        if self.get_cf(cf::META, META_REJECTED_INDEXED)?.is_some() {
            return Ok(());
        }
        let idx = self.handle(cf::INDEXES);
        let mut batch = WriteBatch::default();
        let mut block: Option<Block> = None;
        for item in self
            .db
            .iterator_cf(self.handle(cf::RESULTS), IteratorMode::Start)
        {
            let (key, value) = item?;
            // Results by position are (height, index), 12 bytes; tx ids are longer.
            let (Ok(height), Ok(index)) = (
                key.get(..8)
                    .unwrap_or_default()
                    .try_into()
                    .map(u64::from_be_bytes),
                key.get(8..)
                    .unwrap_or_default()
                    .try_into()
                    .map(u32::from_be_bytes),
            ) else {
                continue;
            };
            let result: TxResult = decode(&value).map_err(corrupt("tx result"))?;
            if result.outcome.rejection().is_none() {
                continue;
            }
            if block.as_ref().is_none_or(|b| b.header.height != height) {
                block = self.block(height)?;
            }
            let Some(tx) = block.as_ref().and_then(|b| b.txs.get(index as usize)) else {
                continue;
            };
            if let Some(token) = self.rejected_target(tx, &result, None)? {
                batch.put_cf(idx, token_history_key(&token, height, index), []);
            }
        }
        if !batch.is_empty() {
            tracing::info!(
                entries = batch.len(),
                "indexed the rejected attempts on tokens of earlier blocks (once)"
            );
        }
        batch.put_cf(self.handle(cf::META), META_REJECTED_INDEXED, []);
        self.write_synced(batch)
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        self.get_cf(cf::BLOCKS, &height.to_be_bytes())?
            .map(|b| decode(&b).map_err(corrupt("block")))
            .transpose()
    }

    /// The header of the block stored at `height`, read from the front of the stored block
    /// without copying or decoding its txs (a block is `header ‖ txs`; a block of 5,000
    /// issued codes takes milliseconds to decode whole). What proofs, certificates and
    /// binary searches by log size read.
    pub fn block_header(&self, height: u64) -> Result<Option<BlockHeader>, StorageError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.handle(cf::BLOCKS), height.to_be_bytes())?
        else {
            return Ok(None);
        };
        let (header, _) = decode_prefix::<BlockHeader>(&bytes).map_err(corrupt("block header"))?;
        Ok(Some(header))
    }

    /// The results of the block at `height`, in order.
    pub fn block_results(&self, height: u64) -> Result<Vec<TxResult>, StorageError> {
        let prefix = height.to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.handle(cf::RESULTS), prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || k.len() != 12 {
                break;
            }
            out.push(decode(&v).map_err(corrupt("tx result"))?);
        }
        Ok(out)
    }

    /// Where tx `id` was first executed.
    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>, StorageError> {
        self.get_cf(cf::RESULTS, &tx_key(id))?
            .map(|b| decode(&b).map_err(corrupt("tx location")))
            .transpose()
    }

    /// The result at a location.
    pub fn result_at(&self, height: u64, index: u32) -> Result<Option<TxResult>, StorageError> {
        self.get_cf(cf::RESULTS, &result_key(height, index))?
            .map(|b| decode(&b).map_err(corrupt("tx result")))
            .transpose()
    }

    /// Tokens ever allocated or transferred to `member` (check current ownership in state).
    pub fn wallet(&self, member: &MemberId) -> Result<Vec<TokenId>, StorageError> {
        self.scan_suffixes(&wallet_prefix(member), |rest| decode::<TokenId>(rest).ok())
    }

    /// (height, index) of every tx that touched `token`, oldest first.
    pub fn token_history(&self, token: &TokenId) -> Result<Vec<(u64, u32)>, StorageError> {
        self.scan_suffixes(&token_history_prefix(token), |rest| {
            let h = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let i = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
            Some((h, i))
        })
    }

    /// The ids of committed txs whose lowercase hex starts with `prefix` (hex digits, any
    /// length up to 64), at most `limit`, in id order: a bounded scan of the tx-id index.
    /// A prefix that is not hex matches nothing.
    pub fn tx_ids_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<TxId>, StorageError> {
        self.scan_hex_prefix(cf::RESULTS, b"id", prefix, limit, |rest| {
            Some(TxId(rest.try_into().ok()?))
        })
    }

    /// The registered keys (revoked ones too) whose hex starts with `prefix`, at most
    /// `limit`, in key order: a bounded scan of the key registry in state.
    pub fn keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<PublicKey>, StorageError> {
        let mut tag = StateKey::Key(PublicKey([0; 32])).to_bytes();
        tag.truncate(tag.len() - 32);
        self.scan_hex_prefix(cf::STATE, &tag, prefix, limit, |rest| {
            Some(PublicKey(rest.try_into().ok()?))
        })
    }

    /// Keys of `cf_name` that are `tag` followed by 32 bytes whose hex starts with `prefix`.
    fn scan_hex_prefix<T>(
        &self,
        cf_name: &str,
        tag: &[u8],
        prefix: &str,
        limit: usize,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, StorageError> {
        let (even, odd) = prefix.split_at(prefix.len() & !1);
        let (Ok(bytes), true) = (
            hex::decode(even),
            prefix.len() <= 64 && prefix.bytes().all(|b| b.is_ascii_hexdigit()),
        ) else {
            return Ok(Vec::new());
        };
        let prefix = prefix.to_ascii_lowercase();
        let mut seek = tag.to_vec();
        seek.extend(bytes);
        if let Some(nibble) = odd.chars().next().and_then(|c| c.to_digit(16)) {
            seek.push((nibble as u8) << 4);
        }
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.handle(cf_name),
            IteratorMode::From(&seek, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item?;
            // The matching keys sort together from `seek` on: stop at the first other one.
            let Some(rest) = key.strip_prefix(tag) else {
                break;
            };
            if !hex::encode(rest).starts_with(&prefix) {
                break;
            }
            if rest.len() != 32 {
                continue;
            }
            if let Some(id) = parse(rest) {
                out.push(id);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Pools created by `org`.
    pub fn pools_of(&self, org: &OrgId) -> Result<Vec<PoolId>, StorageError> {
        self.scan_suffixes(&pool_prefix(org), |rest| {
            Some(PoolId(String::from_utf8(rest.to_vec()).ok()?))
        })
    }

    /// Redemptions at `store` of `org` (redeem tx ids, oldest first; check rollbacks in
    /// state).
    pub fn redemptions_at(&self, org: &OrgId, store: &StoreId) -> Result<Vec<TxId>, StorageError> {
        self.scan_suffixes(&store_prefix(org, store), |rest| {
            Some(TxId(rest.get(8..40)?.try_into().ok()?))
        })
    }

    fn scan_suffixes<T>(
        &self,
        prefix: &[u8],
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, StorageError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.handle(cf::INDEXES),
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            let parsed = parse(&k[prefix.len()..]).ok_or(StorageError::Corrupt {
                what: "index entry",
                why: hex::encode(&k),
            })?;
            out.push(parsed);
        }
        Ok(out)
    }

    /// Stores a checkpoint certificate, without an fsync of its own: the next synced write
    /// (the Raft log's, a block later) makes it durable, in WAL order. A power loss before
    /// that loses only this certificate; later heights get their own, and a proof is
    /// anchored to the latest one.
    pub fn put_certificate(&self, cert: &Certificate) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.handle(cf::CERTS),
            cert.height.to_be_bytes(),
            encode(cert),
        );
        self.write_unsynced(batch)
    }

    /// The certificate stored for `height`, if any.
    pub fn certificate(&self, height: u64) -> Result<Option<Certificate>, StorageError> {
        self.get_cf(cf::CERTS, &height.to_be_bytes())?
            .map(|b| decode(&b).map_err(corrupt("certificate")))
            .transpose()
    }

    /// Where this store's history begins if it was installed from a state snapshot
    /// ([`crate::state_sync::install_snapshot`]); `None` on a store that applied every block
    /// from genesis.
    pub fn sync_base(&self) -> Result<Option<SyncBase>, StorageError> {
        self.get_cf(cf::META, META_SYNC_BASE)?
            .map(|b| decode(&b).map_err(corrupt("sync base")))
            .transpose()
    }

    /// The header of the block at `height`: from the stored block, or, on a node installed
    /// from a snapshot, from its sync base (the one block whose header it has without the
    /// block).
    pub fn header(&self, height: u64) -> Result<Option<BlockHeader>, StorageError> {
        if let Some(header) = self.block_header(height)? {
            return Ok(Some(header));
        }
        Ok(self
            .sync_base()?
            .filter(|b| b.height == height)
            .and_then(|b| b.header))
    }

    /// The raw value at `key` in the `raft_state` column family (whose layout
    /// [`crate::raft_log`] owns).
    pub(crate) fn raft_state_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_cf(cf::RAFT_STATE, key)
    }

    /// Every entry of the `state` column family (state key bytes, value bytes), in key
    /// order.
    pub(crate) fn state_entries(
        &self,
    ) -> impl Iterator<Item = Result<RawEntry, StorageError>> + '_ {
        self.db
            .iterator_cf(self.handle(cf::STATE), IteratorMode::Start)
            .map(|item| item.map_err(StorageError::from))
    }

    /// The entries of the current state whose key bytes start with `prefix` (e.g. one
    /// [`StateKey`] variant's tag, or an org's accounts: `StateKey::Account(org, m)`'s bytes
    /// without the member's 32), decoded, in key order: at most `limit` of them, from the
    /// first key after `after` (or the first of the prefix), and whether more follow. A
    /// bounded scan: a caller walks a large range in chunks, passing the last key it got.
    pub fn state_with_prefix(
        &self,
        prefix: &[u8],
        after: Option<&StateKey>,
        limit: usize,
    ) -> Result<(Vec<(StateKey, StateValue)>, bool), StorageError> {
        let after = after.map(StateKey::to_bytes);
        let seek = match &after {
            Some(a) if a.as_slice() > prefix => a.clone(),
            _ => prefix.to_vec(),
        };
        let iter = self.db.iterator_cf(
            self.handle(cf::STATE),
            IteratorMode::From(&seek, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if after.as_deref() == Some(&*key) {
                continue;
            }
            if out.len() >= limit {
                return Ok((out, true));
            }
            let corrupt = |why: String| StorageError::Corrupt {
                what: "state entry",
                why: format!("{}: {why}", hex::encode(&key)),
            };
            let k = StateKey::from_bytes(&key).map_err(|e| corrupt(e.to_string()))?;
            let v = StateValue::from_bytes(&value).map_err(|e| corrupt(e.to_string()))?;
            out.push((k, v));
        }
        Ok((out, false))
    }

    /// Deletes every key of column family `name` in `batch` (one range tombstone).
    fn clear_cf(&self, batch: &mut WriteBatch, name: &str) -> Result<(), StorageError> {
        let handle = self.handle(name);
        let mut whole = ReadOptions::default();
        whole.set_total_order_seek(true);
        let last = match self
            .db
            .iterator_cf_opt(handle, whole, IteratorMode::End)
            .next()
        {
            None => return Ok(()),
            Some(item) => item?.0,
        };
        // Every key is >= the empty key and < `last ‖ 0x00`.
        let mut end = last.into_vec();
        end.push(0);
        batch.delete_range_cf(handle, Vec::new(), end);
        Ok(())
    }

    /// Replaces the chain state with a verified snapshot in one atomic, fsynced write:
    /// clears state, the state tree, the history log and the indexes; writes the snapshot's
    /// state, tree, history frontier, tip, applied Raft index, certificate and sync base;
    /// rebuilds the indexes that state determines ([`Self::put_rebuilt_indexes`]). Blocks,
    /// tx results, certificates and the Raft log are left as they are.
    pub(crate) fn install_synced_state(&self, s: &SyncedState<'_>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for name in [
            cf::STATE,
            cf::JMT_NODES,
            cf::JMT_VALUES,
            cf::JMT_STALE,
            cf::JMT_STALE_VALUES,
            cf::JMT_HELD,
            cf::HISTORY,
            cf::INDEXES,
        ] {
            self.clear_cf(&mut batch, name)?;
        }
        // The snapshot's version is the only one: nothing below it to prune or keep.
        batch.delete_cf(self.handle(cf::META), prune::META_PRUNE);
        self.put_state_writes(&mut batch, s.state);
        self.put_nodes(&mut batch, &s.tree.nodes, &s.tree.values);
        let history = self.handle(cf::HISTORY);
        for (at, hash) in s.history {
            batch.put_cf(history, history_key(*at), hash.0);
        }
        self.put_rebuilt_indexes(&mut batch, s.state);
        if let Some(cert) = s.certificate {
            batch.put_cf(
                self.handle(cf::CERTS),
                cert.height.to_be_bytes(),
                encode(cert),
            );
        }
        let meta = self.handle(cf::META);
        batch.put_cf(meta, META_TIP, encode(s.tip));
        batch.put_cf(meta, META_APPLIED, encode(&s.raft_index));
        batch.put_cf(meta, META_SYNC_BASE, encode(s.base));
        self.write_synced(batch)
    }

    /// The index entries that the state alone determines, as [`Self::put_indexes`] would
    /// have left them: pools by owner (exact), redemptions by store (exact: every
    /// redemption record, except one rolled back in its own block, which `put_indexes`
    /// never saw in force), and wallet entries for each token's current holder (a token's
    /// earlier holders, before a transfer, are not recoverable). Token histories need the
    /// blocks and are not rebuilt.
    fn put_rebuilt_indexes(&self, batch: &mut WriteBatch, state: &WriteSet) {
        let idx = self.handle(cf::INDEXES);
        for (key, value) in &state.0 {
            match (key, value) {
                (StateKey::Pool(id), Some(StateValue::Pool(p))) => {
                    batch.put_cf(idx, pool_key(&p.owner, id), []);
                }
                (StateKey::Token(token), Some(StateValue::Token(t))) => {
                    if let Some(owner) = &t.owner {
                        batch.put_cf(idx, wallet_key(owner, token), []);
                    }
                }
                (StateKey::Redemption(id), Some(StateValue::Redemption(r)))
                    if r.rolled_back_at != Some(r.height) =>
                {
                    batch.put_cf(idx, store_key(&r.redeemer_org, &r.store, r.height, id), []);
                }
                _ => {}
            }
        }
    }

    /// Overwrites one raw entry of column family `cf_name` (one of [`cf::ALL`]), durably.
    /// Nothing in the node calls this: it is the hook the audit tests use to tamper with a
    /// *copy* of a data directory (a stored block, tx result, certificate or state value)
    /// and check that `cactus audit verify` names the damaged height.
    #[doc(hidden)]
    pub fn put_raw(&self, cf_name: &str, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let handle = self
            .db
            .cf_handle(cf_name)
            .ok_or_else(|| StorageError::Corrupt {
                what: "column family",
                why: format!("no column family {cf_name:?}"),
            })?;
        let mut batch = WriteBatch::default();
        batch.put_cf(handle, key, value);
        self.write_synced(batch)
    }

    /// The certificate of the highest certified block.
    pub fn latest_certificate(&self) -> Result<Option<Certificate>, StorageError> {
        let mut iter = self
            .db
            .iterator_cf(self.handle(cf::CERTS), IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item?;
                Ok(Some(decode(&v).map_err(corrupt("certificate"))?))
            }
        }
    }
}

/// The `jmt_nodes` key of a state-tree node: its version, big-endian (so a block's new
/// nodes sort after every older node and RocksDB appends them), then the borsh bytes of
/// its nibble path (jmt exposes the path only through borsh).
fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(48);
    k.extend_from_slice(&key.version().to_be_bytes());
    borsh::to_writer(&mut k, key.nibble_path()).expect("borsh into a vec");
    k
}

/// Bytes of a [`cf::JMT_VALUES`] key that name the key (its hash); the version follows.
/// Iterators over that family set `prefix_same_as_start` (one key's versions) or
/// `total_order_seek` (the whole family).
const JMT_VALUE_PREFIX: usize = 32;

/// Read options of a seek among one key's versions in [`cf::JMT_VALUES`]: table files
/// whose prefix filter does not hold the key are skipped.
fn one_key_versions() -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.set_prefix_same_as_start(true);
    opts
}

fn value_key(key_hash: &KeyHash, version: Version) -> Vec<u8> {
    let mut k = key_hash.0.to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn history_key(at: NodeIndex) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = at.level;
    k[1..].copy_from_slice(&at.index.to_be_bytes());
    k
}

fn result_key(height: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn tx_key(id: &TxId) -> Vec<u8> {
    let mut k = b"id".to_vec();
    k.extend_from_slice(&id.0);
    k
}

fn wallet_prefix(member: &MemberId) -> Vec<u8> {
    let mut k = b"w".to_vec();
    k.extend_from_slice(&member.0);
    k
}

fn wallet_key(member: &MemberId, token: &TokenId) -> Vec<u8> {
    let mut k = wallet_prefix(member);
    k.extend(encode(token));
    k
}

fn token_history_prefix(token: &TokenId) -> Vec<u8> {
    let mut k = b"t".to_vec();
    k.extend(encode(token));
    k
}

fn token_history_key(token: &TokenId, height: u64, index: u32) -> Vec<u8> {
    let mut k = token_history_prefix(token);
    k.extend_from_slice(&result_key(height, index));
    k
}

fn pool_prefix(org: &OrgId) -> Vec<u8> {
    let mut k = b"p".to_vec();
    k.extend(encode(org));
    k
}

fn pool_key(org: &OrgId, pool: &PoolId) -> Vec<u8> {
    let mut k = pool_prefix(org);
    k.extend_from_slice(pool.as_str().as_bytes());
    k
}

fn store_prefix(org: &OrgId, store: &StoreId) -> Vec<u8> {
    let mut k = b"s".to_vec();
    k.extend(encode(org));
    k.extend(encode(store));
    k
}

fn store_key(org: &OrgId, store: &StoreId, height: u64, id: &TxId) -> Vec<u8> {
    let mut k = store_prefix(org, store);
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(&id.0);
    k
}

impl StateReader for Store {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StateError> {
        let bytes = self
            .db
            .get_cf(self.handle(cf::STATE), key.to_bytes())
            .map_err(|e| StateError::Backend(e.to_string()))?;
        bytes
            .map(|b| {
                StateValue::from_bytes(&b).map_err(|e| StateError::Corrupt {
                    key: key.clone(),
                    why: e.to_string(),
                })
            })
            .transpose()
    }
}

impl TreeReader for Store {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self
            .db
            .get_cf(self.handle(cf::JMT_NODES), node_key_bytes(node_key))?
        {
            None => Ok(None),
            Some(b) => Ok(Some(borsh::from_slice(&b)?)),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let seek = value_key(&key_hash, max_version);
        let mut iter = self.db.iterator_cf_opt(
            self.handle(cf::JMT_VALUES),
            one_key_versions(),
            IteratorMode::From(&seek, Direction::Reverse),
        );
        match iter.next() {
            Some(item) => {
                let (k, v) = item?;
                if k.len() == 40 && k[..32] == key_hash.0 {
                    Ok(decode::<Option<Vec<u8>>>(&v)
                        .map_err(|e| anyhow::anyhow!("corrupt jmt value: {e}"))?)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's restore path asks for this; state sync (issue 5) restores through
        // snapshots of chaincode state instead.
        anyhow::bail!("get_rightmost_leaf is not supported by the node's tree store")
    }
}

impl TreeWriter for Store {
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        let encoded: BTreeMap<NodeKey, Vec<u8>> = node_batch
            .nodes()
            .iter()
            .map(|(k, n)| (k.clone(), borsh::to_vec(n).expect("borsh to vec")))
            .collect();
        self.put_nodes(&mut batch, &encoded, node_batch.values());
        self.write_synced(batch)?;
        Ok(())
    }
}

impl HistoryReader for Store {
    fn node(&self, at: NodeIndex) -> Result<Option<Hash32>, HistoryError> {
        let bytes = self
            .db
            .get_cf(self.handle(cf::HISTORY), history_key(at))
            .map_err(|e| HistoryError::Storage(e.to_string()))?;
        bytes
            .map(|b| {
                b.as_slice()
                    .try_into()
                    .map(Hash32)
                    .map_err(|_| HistoryError::Storage("history node is not 32 bytes".into()))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::commitment::{prove, verify_state_proof};
    use couponcactus_chaincode::history::{inclusion_proof, root_at, verify_inclusion};
    use couponcactus_chaincode::ledger::apply_block;
    use couponcactus_chaincode::testkit;
    use couponcactus_chaincode::tx::{RegisterKeyTx, TxBody};
    use couponcactus_chaincode::types::Role;

    fn register(nonce: u64, seed: u8) -> couponcactus_chaincode::tx::SignedTx {
        let g = testkit::genesis();
        TxBody {
            chain_id: g.chain_id,
            nonce,
            valid_until_ms: g.genesis_time_ms + 600_000,
            kind: TxKind::RegisterKey(RegisterKeyTx {
                key: testkit::public(seed),
                role: Role::Issuer,
            }),
            memo: None,
        }
        .sign(&testkit::key(1))
    }

    #[test]
    fn injected_disk_faults_refuse_writes_and_store_nothing_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(DiskFaults::new(true));
        let store = Store::open_with_faults(dir.path(), faults.clone()).unwrap();
        store
            .init_genesis(&testkit::genesis(), Hash32([5; 32]))
            .unwrap();
        let before = store.applied_index().unwrap();
        // A full disk: the write is refused with a clear error and nothing of it is stored.
        faults.set_full(true);
        let err = store.set_applied_index(before + 1).unwrap_err();
        assert!(matches!(err, StorageError::DiskFull), "{err}");
        assert!(err.to_string().contains("ENOSPC"), "{err}");
        assert_eq!(store.applied_index().unwrap(), before);
        faults.set_full(false);
        // A crash point: one more write succeeds, then this and every later one fail.
        faults.crash_after(1);
        store.set_applied_index(before + 1).unwrap();
        for index in [before + 2, before + 3] {
            let err = store.set_applied_index(index).unwrap_err();
            assert!(matches!(err, StorageError::Crashed), "{err}");
        }
        assert!(faults.crashed());
        assert_eq!(store.applied_index().unwrap(), before + 1);
        // A restart disarms it.
        faults.reset_crash();
        store.set_applied_index(before + 3).unwrap();
        assert_eq!(store.applied_index().unwrap(), before + 3);
    }

    #[test]
    fn blocks_persist_atomically_and_survive_reopen_with_proofs() {
        let dir = tempfile::tempdir().unwrap();
        let g = testkit::genesis();
        let tip = {
            let store = Store::open(dir.path()).unwrap();
            let mut tip = store.init_genesis(&g, Hash32([3; 32])).unwrap();
            assert_eq!(
                store.init_genesis(&g, Hash32([3; 32])).unwrap(),
                tip,
                "idempotent"
            );
            assert_eq!(store.genesis_tip().unwrap(), Some(tip.clone()));
            // A store from before the genesis tip was recorded gets it on its next start.
            let mut forget = WriteBatch::default();
            forget.delete_cf(store.handle(cf::META), META_GENESIS_TIP);
            store.write_synced(forget).unwrap();
            assert_eq!(store.genesis_tip().unwrap(), None);
            store.init_genesis(&g, Hash32([3; 32])).unwrap();
            assert_eq!(store.genesis_tip().unwrap(), Some(tip.clone()));
            for h in 1..=3u64 {
                let txs = vec![register(h, 10 + h as u8), register(h + 100, 10 + h as u8)];
                let applied =
                    apply_block(&store, &store, &tip, 1, g.genesis_time_ms + h, &txs).unwrap();
                let block = Block {
                    header: applied.header.clone(),
                    txs,
                };
                store.commit_block(h * 10, &block, &applied).unwrap();
                tip = applied.tip;
            }
            tip
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.tip().unwrap(), tip);
        assert_eq!(store.applied_index().unwrap(), 30);
        // The second registration of each key is rejected, and indexed by position only.
        let results = store.block_results(2).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results[1].outcome.rejection().is_some());
        let loc = store.tx_location(&results[0].tx_id).unwrap().unwrap();
        assert_eq!((loc.height, loc.index, loc.log_index), (2, 0, 2));
        // State proof from RocksDB verifies against the header's root.
        let key = StateKey::Key(testkit::public(12));
        let proven = prove(&store, &key, 3).unwrap();
        let header = store.block(3).unwrap().unwrap().header;
        // The header alone, read from the front of the stored block, is the same.
        for h in 1..=3 {
            let whole = store.block(h).unwrap().unwrap().header;
            assert_eq!(store.block_header(h).unwrap(), Some(whole));
        }
        assert_eq!(store.block_header(4).unwrap(), None);
        verify_state_proof(
            &header.state_root,
            &key,
            proven.value.as_ref(),
            &proven.proof,
        )
        .unwrap();
        assert!(proven.value.is_some());
        // History proof from RocksDB verifies against the header's log root.
        assert_eq!(root_at(&store, header.log_size).unwrap(), header.log_root);
        let leaf = couponcactus_chaincode::history::HistoryLeaf {
            tx_id: results[0].tx_id,
            height: 2,
            index: 0,
            outcome: results[0].outcome.clone(),
        };
        let path = inclusion_proof(&store, 2, header.log_size).unwrap();
        verify_inclusion(&leaf.hash(), 2, header.log_size, &path, &header.log_root).unwrap();
        // Reopening with another genesis hash is refused.
        assert!(matches!(
            store.init_genesis(&g, Hash32([4; 32])),
            Err(StorageError::WrongGenesis { .. })
        ));
    }

    /// Applies and commits one block of `txs` at height `h`; returns the new tip.
    fn commit(
        store: &Store,
        tip: &ChainTip,
        h: u64,
        txs: Vec<SignedTx>,
    ) -> (ChainTip, Vec<TxResult>) {
        let g = testkit::genesis();
        let applied =
            apply_block(store, store, tip, 1, g.genesis_time_ms + h * 1_000, &txs).unwrap();
        let block = Block {
            header: applied.header.clone(),
            txs,
        };
        store.commit_block(h, &block, &applied).unwrap();
        (applied.tip, applied.results)
    }

    fn signed(nonce: u64, signer: u8, kind: TxKind) -> SignedTx {
        let g = testkit::genesis();
        TxBody {
            chain_id: g.chain_id,
            nonce,
            valid_until_ms: g.genesis_time_ms + 600_000,
            kind,
            memo: None,
        }
        .sign(&testkit::key(signer))
    }

    /// A chain where token spring/0 is issued, allocated, redeemed, then attempted again:
    /// a second redemption by code (already redeemed), a redemption of an unknown code, a
    /// revocation by a terminal (not authorized). Returns the store's directory and the
    /// (height, index) of every tx, in order.
    fn chain_with_rejected_attempts() -> (tempfile::TempDir, Vec<(u64, u32)>) {
        use couponcactus_chaincode::codes::code_hash;
        use couponcactus_chaincode::ids::{Channel, StoreId};
        use couponcactus_chaincode::tx::{
            AllocateTx, CreatePoolTx, IssueCodesTx, RedeemTx, RevokeReason, RevokeTokenTx,
            TransitionPoolTx,
        };
        use couponcactus_chaincode::types::{PoolAction, PoolKind};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut tip = store
            .init_genesis(&testkit::genesis(), Hash32([3; 32]))
            .unwrap();
        let pool = testkit::pool_id("spring");
        let code = testkit::code_text(&pool, 0);
        let token = TokenId {
            pool: pool.clone(),
            serial: 0,
        };
        let redeem = |hash| {
            TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Code(hash),
                member: None,
                order: testkit::order(10_000),
            })
        };
        let terminal = Role::Terminal {
            store: StoreId::new("s1").unwrap(),
            channel: Channel::new("pos").unwrap(),
        };
        let blocks = vec![
            vec![
                signed(
                    1,
                    1,
                    TxKind::RegisterKey(RegisterKeyTx {
                        key: testkit::public(10),
                        role: Role::Issuer,
                    }),
                ),
                signed(
                    2,
                    1,
                    TxKind::RegisterKey(RegisterKeyTx {
                        key: testkit::public(11),
                        role: terminal,
                    }),
                ),
            ],
            vec![signed(
                3,
                10,
                TxKind::CreatePool(CreatePoolTx {
                    pool: pool.clone(),
                    spec: testkit::spec(PoolKind::UniqueCodes),
                }),
            )],
            vec![signed(
                4,
                10,
                TxKind::IssueCodes(IssueCodesTx {
                    pool: pool.clone(),
                    codes: vec![testkit::issued_code(&pool, &code, 0)],
                }),
            )],
            vec![signed(
                5,
                10,
                TxKind::TransitionPool(TransitionPoolTx {
                    pool: pool.clone(),
                    action: PoolAction::Activate,
                }),
            )],
            vec![signed(
                6,
                10,
                TxKind::Allocate(AllocateTx {
                    pool: pool.clone(),
                    member: testkit::member(1),
                    claim: testkit::claim(1),
                }),
            )],
            vec![signed(7, 11, redeem(code_hash(&code)))],
            vec![
                signed(8, 11, redeem(code_hash(&code))),
                signed(9, 11, redeem(code_hash("NO-SUCH-CODE"))),
                signed(
                    10,
                    11,
                    TxKind::RevokeToken(RevokeTokenTx {
                        token: token.clone(),
                        reason: RevokeReason::Fraud,
                        note: None,
                    }),
                ),
            ],
        ];
        let mut at = Vec::new();
        for (h, txs) in blocks.into_iter().enumerate() {
            let h = h as u64 + 1;
            let n = txs.len();
            let (next, results) = commit(&store, &tip, h, txs);
            if h == 6 {
                assert!(results[0].outcome.rejection().is_none(), "{results:?}");
            }
            if h == 7 {
                let codes: Vec<_> = results
                    .iter()
                    .map(|r| r.outcome.rejection().map(|r| r.reason.code()))
                    .collect();
                assert_eq!(
                    codes,
                    [
                        Some("already_redeemed"),
                        Some("not_found"),
                        Some("not_authorized")
                    ]
                );
            }
            at.extend((0..n as u32).map(|i| (h, i)));
            tip = next;
        }
        (dir, at)
    }

    #[test]
    fn token_history_lists_rejected_attempts_and_old_stores_are_backfilled_once() {
        let (dir, at) = chain_with_rejected_attempts();
        let token = TokenId {
            pool: testkit::pool_id("spring"),
            serial: 0,
        };
        // Issue, allocate, redeem, the second redemption and the revocation; not the
        // unknown code (it names no token) nor the txs of other things.
        let expected = vec![(3, 0), (5, 0), (6, 0), (7, 0), (7, 2)];
        assert_eq!(at.len(), 10);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.token_history(&token).unwrap(), expected);

        // A store written before rejected attempts were indexed: no marker, no entries.
        let idx = store.handle(cf::INDEXES);
        store
            .db()
            .delete_cf(idx, token_history_key(&token, 7, 0))
            .unwrap();
        store
            .db()
            .delete_cf(idx, token_history_key(&token, 7, 2))
            .unwrap();
        store
            .db()
            .delete_cf(store.handle(cf::META), META_REJECTED_INDEXED)
            .unwrap();
        assert_eq!(
            store.token_history(&token).unwrap(),
            vec![(3, 0), (5, 0), (6, 0)]
        );
        drop(store);
        // Reopening indexes them from the stored blocks, once.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.token_history(&token).unwrap(), expected);
        assert!(
            store
                .get_cf(cf::META, META_REJECTED_INDEXED)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn ids_are_found_by_hex_prefix_within_a_bound() {
        let (dir, _) = chain_with_rejected_attempts();
        let store = Store::open(dir.path()).unwrap();
        let ids: Vec<TxId> = (1..=7u64)
            .flat_map(|h| store.block_results(h).unwrap())
            .map(|r| r.tx_id)
            .collect();
        for id in &ids {
            let hex = id.to_hex();
            for len in [8, 9, 13, 64] {
                assert_eq!(
                    store.tx_ids_with_prefix(&hex[..len], 8).unwrap(),
                    [*id],
                    "{hex} {len}"
                );
            }
            assert_eq!(
                store
                    .tx_ids_with_prefix(&hex[..8].to_uppercase(), 8)
                    .unwrap(),
                [*id]
            );
        }
        // Every id starts with one of 16 digits: a one-digit prefix finds them all, up to
        // the bound, in order.
        let mut all = Vec::new();
        for d in "0123456789abcdef".chars() {
            all.extend(store.tx_ids_with_prefix(&d.to_string(), 100).unwrap());
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert_eq!(store.tx_ids_with_prefix("", 3).unwrap().len(), 3);
        assert!(store.tx_ids_with_prefix("zz", 8).unwrap().is_empty());
        assert!(
            store
                .tx_ids_with_prefix(&"0".repeat(65), 8)
                .unwrap()
                .is_empty()
        );

        let issuer = testkit::public(10).to_hex();
        assert_eq!(
            store.keys_with_prefix(&issuer[..9], 8).unwrap(),
            [testkit::public(10)]
        );
        let registered = store.keys_with_prefix("", 100).unwrap();
        // The three genesis admins and the two keys registered.
        assert_eq!(registered.len(), 5, "{registered:?}");
    }

    /// Opens a database without checking its format (to write another format's marker).
    fn open_unchecked(path: &Path) -> Store {
        let memory = SharedMemory::new();
        let cfs = cf::ALL
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name, &memory)));
        Store::with_db(DB::open_cf_descriptors(&db_options(&memory), path, cfs).unwrap())
    }

    #[test]
    fn tree_nodes_sort_by_version_and_other_formats_are_refused() {
        use jmt::storage::NibblePath;
        // jmt builds paths only inside the crate; borsh is (num_nibbles as u64, bytes).
        let path = |bytes: &[u8]| -> NibblePath {
            borsh::from_slice(&borsh::to_vec(&(bytes.len() as u64 * 2, bytes.to_vec())).unwrap())
                .unwrap()
        };
        // A later version sorts after every node of an earlier one, whatever the path.
        let keys = [
            NodeKey::new(255, path(&[0xff, 0xff])),
            NodeKey::new(256, path(&[])),
            NodeKey::new(256, path(&[0x00])),
            NodeKey::new(65_536, path(&[0x00])),
        ];
        let bytes: Vec<Vec<u8>> = keys.iter().map(node_key_bytes).collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");

        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .init_genesis(&testkit::genesis(), Hash32([3; 32]))
                .unwrap();
        }
        // Reopening the same format works; a directory of format 1 to 3 (txs without a
        // memo, replay protection in the tree) is refused as another chain layout, a later
        // format by number.
        drop(Store::open(dir.path()).unwrap());
        let reopen_as = |format: u32| {
            let store = open_unchecked(dir.path());
            store
                .put_raw(cf::META, META_FORMAT, &encode(&format))
                .unwrap();
            drop(store);
            Store::open(dir.path()).unwrap_err()
        };
        for old in [1u32, 2, 3] {
            let err = reopen_as(old);
            assert!(
                matches!(err, StorageError::ChainLayout { found } if found == old),
                "{err}"
            );
            let text = err.to_string();
            assert!(text.contains(&format!("storage format {old}")), "{text}");
            assert!(text.contains("new chain layout"), "{text}");
            assert!(text.contains("scripts/dev.sh --fresh"), "{text}");
        }
        let err = reopen_as(5);
        assert!(
            matches!(
                err,
                StorageError::Format {
                    found: 5,
                    expected: 4
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("storage format 5"), "{err}");
    }

    #[test]
    fn state_with_prefix_is_bounded_resumable_and_stays_in_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let tip = store
            .init_genesis(&testkit::genesis(), Hash32([3; 32]))
            .unwrap();
        let txs = (0..5).map(|i| register(i + 1, 40 + i as u8)).collect();
        let (_, results) = commit(&store, &tip, 1, txs);
        assert!(results.iter().all(|r| r.outcome.rejection().is_none()));
        let mut tag = StateKey::Key(PublicKey([0; 32])).to_bytes();
        tag.truncate(tag.len() - 32);
        let (all, more) = store.state_with_prefix(&tag, None, 1_000).unwrap();
        assert!(!more);
        // The 3 genesis admins and the 5 issuers, and nothing but keys.
        assert_eq!(all.len(), 8, "{all:?}");
        assert!(
            all.iter()
                .all(|(k, v)| matches!((k, v), (StateKey::Key(_), StateValue::Key(_))))
        );
        assert!(
            all.windows(2)
                .all(|w| w[0].0.to_bytes() < w[1].0.to_bytes())
        );
        // In chunks of 3: the same entries, `more` until the last chunk.
        let (mut walked, mut after, mut chunks) = (Vec::new(), None, 0);
        loop {
            let (chunk, more) = store.state_with_prefix(&tag, after.as_ref(), 3).unwrap();
            chunks += 1;
            assert!(chunk.len() <= 3);
            after = chunk.last().map(|(k, _)| k.clone());
            walked.extend(chunk);
            if !more {
                break;
            }
        }
        assert_eq!((walked, chunks), (all.clone(), 3));
        // Exactly `limit` left: no more.
        let (last, more) = store.state_with_prefix(&tag, Some(&all[4].0), 3).unwrap();
        assert_eq!((last.len(), more), (3, false));
        let (none, more) = store.state_with_prefix(&tag, None, 0).unwrap();
        assert!(none.is_empty() && more);
        // A prefix nothing has.
        let mut accounts = StateKey::Account(testkit::org("acme"), MemberId([0; 32])).to_bytes();
        accounts.truncate(accounts.len() - 32);
        assert_eq!(
            store.state_with_prefix(&accounts, None, 10).unwrap(),
            (Vec::new(), false)
        );
    }
}
