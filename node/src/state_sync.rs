//! State sync: how a new or lagging node catches up from a snapshot of the chain state
//! instead of replaying every block.
//!
//! This module owns both sides of it and the wire types between them. A Raft snapshot's
//! `data` is only a small [`SnapshotDescriptor`] (height, Raft index, the tip with its
//! history-log frontier, the block header, a certificate if the source has one, and where
//! to fetch the state); the state itself travels separately, in chunks
//! ([`ChunkRequest`] / [`ChunkResponse`]), so Raft never has to hold or ship hundreds of
//! megabytes in one message.
//!
//! Flow. On the source (normally the leader), [`SnapshotExporter::prepare`] runs on the
//! consensus thread while the applier thread may be storing a block: it takes a RocksDB
//! checkpoint (hard links, cheap and consistent because every block is one atomic write,
//! and the export reads its height, Raft index and configuration from the checkpoint,
//! not from the live store) and returns at once; a background thread opens the checkpoint read-only and writes the `state` column
//! family, in key order, to an export file of length-prefixed records, then removes the
//! checkpoint. Later calls return the finished export's descriptor. Network tasks serve
//! chunks of finished exports with [`SnapshotExporter::read_chunk`] from any thread. On the
//! receiver, [`install_snapshot`] (blocking, on a fetch thread of its own, while the core
//! waits with the applier drained) checks the descriptor, fetches every chunk, rebuilds
//! the state tree at the snapshot height, verifies the root against the tip and header
//! (and the certificate against the consortium in the received state), and only then
//! replaces the local state in one atomic, fsynced write. Any failure leaves the receiving store untouched.
//!
//! Why this design. Verifying before installing means a faulty or hostile source can make
//! sync fail but never install a wrong state: the state root binds every entry, the header
//! binds the root, and a certificate (when present) binds the header to a quorum of
//! voters. Without a certificate the header is trusted as coming from the Raft leader
//! (an admitted peer), exactly as a block received through Raft would be. Exporting from a
//! checkpoint keeps the consensus thread free while the file is written, and a file (not
//! a live RocksDB snapshot) survives restarts: [`SnapshotExporter::new`] reloads finished
//! exports, so a receiver can keep fetching after the source restarts.
//!
//! What a synced node has, and lacks. The receiving store must already be initialised
//! ([`Store::init_genesis`]) for the same chain; its blocks, tx results, certificates and
//! Raft log are kept as they are. After install it holds the full state at height `h`, the
//! state tree at version `h` (proofs at `h` and later; not at earlier versions), the
//! history log's frontier at `h` (roots of any size from `h`'s log size on, and proofs of
//! leaves appended after `h`; not inclusion or consistency proofs that need older nodes),
//! and the indexes that state alone determines: pools by org and redemptions by store
//! (exact), wallets (each token's current holder; earlier holders of transferred tokens
//! are missing). Token histories start at `h + 1`. Blocks and tx results before `h + 1`
//! are not copied: a snapshot-synced node serves blocks and results from `h + 1` on, and
//! [`Store::sync_base`] records the snapshot height and header so the API can say why
//! older ones are absent. Auditors who need everything use a full (replaying) node.
//!
//! Known limit: the receiver assembles the whole state and its tree in memory before the
//! single install write (a few hundred MB at a million tokens). The source side streams.

use crate::storage::{StorageError, Store, SyncBase, SyncedState};
use couponcactus_chaincode::block::{BlockHeader, Certificate, CertificateError};
use couponcactus_chaincode::commitment::{CommitmentError, commit_writes};
use couponcactus_chaincode::encoding::{EncodingError, MAX_DECODE_BYTES, decode, encode};
use couponcactus_chaincode::history::{HistoryLog, HistoryNode, NodeIndex};
use couponcactus_chaincode::ids::{ChainId, Hash32};
use couponcactus_chaincode::ledger::ChainTip;
use couponcactus_chaincode::state::{StateKey, StateValue, WriteSet, seen_txs_of};
use jmt::storage::{LeafNode, NibblePath, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// How many finished exports a source keeps (the newest ones).
pub const KEEP_EXPORTS: usize = 2;
/// The most entry bytes one chunk carries, whatever the request asks (keeps a response far
/// below the decoder's limit).
pub const MAX_CHUNK_BYTES: u32 = 8 << 20;
/// The chunk size [`install_snapshot`] asks for.
pub const DEFAULT_CHUNK_BYTES: u32 = 1 << 20;
/// The key under which [`crate::raft_log`] keeps Raft's conf state in `raft_state`.
const RAFT_CONF_STATE_KEY: &[u8] = b"conf_state";
/// Export files get a seek point at least every this many bytes.
const SEEK_POINT_EVERY: u64 = 64 << 10;

/// Why exporting, serving or installing a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The local store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file operation on the export directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No finished export with this id on this node (never built, or already replaced by
    /// newer ones).
    #[error("no snapshot export {0} on this node")]
    UnknownExport(u64),
    /// An export file does not have the expected form.
    #[error("corrupt snapshot export: {0}")]
    CorruptExport(String),
    /// The background export thread panicked.
    #[error("snapshot export thread panicked")]
    ExportPanicked,
    /// A descriptor, request or response does not decode.
    #[error("snapshot message: {0}")]
    Encoding(#[from] EncodingError),
    /// The snapshot cannot be used for a reason outside this module's checks (for callers,
    /// e.g. a Raft snapshot whose data is not a descriptor).
    #[error("invalid snapshot: {0}")]
    Invalid(String),
    /// The transport failed to fetch a chunk (for the network layer's errors).
    #[error("fetching a snapshot chunk: {0}")]
    Fetch(String),
    /// The snapshot is for another chain, or the local store belongs to another chain.
    #[error("snapshot is for chain {found}, this node runs {expected}")]
    WrongChain {
        /// This node's chain.
        expected: ChainId,
        /// The snapshot's (or the local store's) chain.
        found: ChainId,
    },
    /// The snapshot is older than what the local store already applied.
    #[error("snapshot at height {snapshot} is behind the local tip at {local}")]
    Behind {
        /// The snapshot's height.
        snapshot: u64,
        /// The local tip's height.
        local: u64,
    },
    /// A snapshot above genesis came without the header of its block.
    #[error("snapshot at height {0} has no block header")]
    MissingHeader(u64),
    /// The header does not hash to the tip's block hash.
    #[error("header hashes to {header}, the tip says {tip}")]
    HeaderHash {
        /// `header.hash()`.
        header: Hash32,
        /// `tip.block_hash`.
        tip: Hash32,
    },
    /// A field of the descriptor disagrees with another (tip, header, local genesis).
    #[error("snapshot descriptor: {field} disagrees ({detail})")]
    DescriptorMismatch {
        /// Which field.
        field: &'static str,
        /// The two sides.
        detail: String,
    },
    /// The tip's history frontier does not have one hash per set bit of its size.
    #[error("history frontier has {frontier} hashes, a log of {size} needs {expected}")]
    BadFrontier {
        /// Log size.
        size: u64,
        /// Hashes sent.
        frontier: usize,
        /// `size.count_ones()`.
        expected: usize,
    },
    /// The source broke the chunk protocol (wrong export, no progress).
    #[error("snapshot source: {0}")]
    Protocol(String),
    /// Entry `index` (0-based, over the whole snapshot) is not strictly above the previous
    /// key: reordered or duplicated.
    #[error("snapshot entry {index} is not in strictly ascending key order")]
    KeyOrder {
        /// Position of the entry.
        index: u64,
    },
    /// Entry `index` does not decode as a canonical state key or value.
    #[error("snapshot entry {index}: {why}")]
    BadEntry {
        /// Position of the entry.
        index: u64,
        /// What is wrong.
        why: String,
    },
    /// The number of entries differs from the descriptor's `total_entries`.
    #[error("snapshot has {got} entries, the descriptor says {expected}")]
    EntryCount {
        /// `total_entries`.
        expected: u64,
        /// Received (or at least received, when over).
        got: u64,
    },
    /// The state tree rebuilt from the entries has another root than the tip.
    #[error("rebuilt state root {computed} differs from the snapshot's {expected}")]
    StateRoot {
        /// The tip's (and header's) state root.
        expected: Hash32,
        /// The root of the received state.
        computed: Hash32,
    },
    /// Rebuilding the state tree failed.
    #[error(transparent)]
    Commitment(#[from] CommitmentError),
    /// The certificate is for another block than the snapshot's.
    #[error("certificate is for {cert}, the snapshot is {snapshot}")]
    CertificateMismatch {
        /// Height and hash the certificate signs.
        cert: String,
        /// Height and hash of the snapshot.
        snapshot: String,
    },
    /// The received state has no consortium to check the certificate against.
    #[error("snapshot state has no consortium")]
    NoConsortium,
    /// The certificate does not verify against the snapshot state's voters.
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
}

impl SyncError {
    /// Whether the snapshot itself was found invalid (as opposed to an I/O, storage or
    /// transport failure): a reason to distrust the source.
    pub fn is_invalid_snapshot(&self) -> bool {
        !matches!(
            self,
            SyncError::Storage(_)
                | SyncError::Io { .. }
                | SyncError::UnknownExport(_)
                | SyncError::CorruptExport(_)
                | SyncError::ExportPanicked
                | SyncError::Fetch(_)
                | SyncError::Behind { .. }
        )
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SyncError {
    let what = what.into();
    move |source| SyncError::Io { what, source }
}

/// What a Raft snapshot's `data` carries ([`Self::to_bytes`]): which state, how to check
/// it, and where to fetch it.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct SnapshotDescriptor {
    /// Block height of the snapshot state.
    pub height: u64,
    /// Raft index applied at that height (the source's applied index).
    pub raft_index: u64,
    /// The tip at `height`, including the history-log frontier.
    pub tip: ChainTip,
    /// Header of block `height` (`None` at genesis).
    pub header: Option<BlockHeader>,
    /// A certificate of block `height`, if the source has one.
    pub certificate: Option<Certificate>,
    /// Raft id of the node serving the chunks.
    pub source: u64,
    /// The export on the source (its Raft index).
    pub export_id: u64,
    /// Number of state entries.
    pub total_entries: u64,
    /// Raft's conf state as of `raft_index` (raft-rs protobuf bytes, as the source's Raft
    /// storage keeps it; empty if it has none), for the Raft snapshot's metadata.
    pub conf_state: Vec<u8>,
}

impl SnapshotDescriptor {
    /// Canonical bytes (what goes into the Raft snapshot's `data`).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SyncError> {
        Ok(decode(bytes)?)
    }
}

/// A request for the entries of export `export_id` after key `after`.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ChunkRequest {
    /// The export.
    pub export_id: u64,
    /// The last key received (`None`: from the start).
    pub after: Option<Vec<u8>>,
    /// Entry bytes (keys + values) wanted, at most; at least one entry is always sent.
    pub max_bytes: u32,
}

/// Consecutive state entries of an export.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ChunkResponse {
    /// (state key bytes, value bytes), ascending by key.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether the last entry of the export is in this chunk (or there is none left).
    pub done: bool,
}

/// A finished export on disk.
#[derive(Debug)]
struct Export {
    descriptor: SnapshotDescriptor,
    data: PathBuf,
    desc: PathBuf,
    /// Length of the data file.
    len: u64,
    /// (key, offset of its record), ascending; the first record is always one.
    seek_points: Vec<(Vec<u8>, u64)>,
}

impl Export {
    fn remove_files(&self) {
        // Best effort: a reader that already opened the data file keeps reading it.
        let _ = std::fs::remove_file(&self.desc);
        let _ = std::fs::remove_file(&self.data);
    }
}

#[derive(Debug, Default)]
struct ExportState {
    /// Finished exports, ascending by id.
    exports: Vec<Arc<Export>>,
    /// The build under way, if any.
    build: Option<JoinHandle<Result<Export, SyncError>>>,
}

/// The source side: builds exports of the state and serves their chunks. Share it in an
/// `Arc`: [`Self::prepare`] is called from the consensus thread, [`Self::read_chunk`] from
/// network tasks.
#[derive(Debug)]
pub struct SnapshotExporter {
    store: Store,
    dir: PathBuf,
    node_id: u64,
    state: Mutex<ExportState>,
    /// Build exports on the calling thread (the simulator's nodes, whose runs must not
    /// depend on when a background thread finishes); cactusd builds in the background.
    inline: bool,
}

impl SnapshotExporter {
    /// An exporter keeping its files in `dir` (e.g. `<data_dir>/snapshots`, created if
    /// missing). Reloads finished exports found there (the newest [`KEEP_EXPORTS`]) and
    /// removes leftovers of interrupted builds.
    pub fn new(store: Store, dir: PathBuf, node_id: u64) -> Result<Self, SyncError> {
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut exports = Vec::new();
        let listing = std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))?;
        for item in listing {
            let item = item.map_err(io(format!("listing {}", dir.display())))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with("checkpoint-") {
                std::fs::remove_dir_all(&path)
                    .map_err(io(format!("removing {}", path.display())))?;
            } else if name.ends_with(".tmp") {
                std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
            } else if let Some(id) = parse_export_name(&name, ".data") {
                if !desc_path(&dir, id).exists() {
                    // Written, but the descriptor never was: unfinished.
                    std::fs::remove_file(&path)
                        .map_err(io(format!("removing {}", path.display())))?;
                }
            } else if let Some(id) = parse_export_name(&name, ".desc") {
                exports.push(Arc::new(load_export(&dir, id)?));
            }
        }
        exports.sort_by_key(|e| e.descriptor.export_id);
        let exporter = SnapshotExporter {
            store,
            dir,
            node_id,
            state: Mutex::new(ExportState {
                exports,
                build: None,
            }),
            inline: false,
        };
        prune(&mut exporter.lock());
        Ok(exporter)
    }

    /// Builds every export on the thread that calls [`Self::prepare`], which then returns
    /// the finished descriptor at once (for the deterministic simulator).
    pub fn building_inline(mut self) -> Self {
        self.inline = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, ExportState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by Raft on the consensus thread (any block the applier stores meanwhile is
    /// one atomic write, so the checkpoint is consistent). Returns the descriptor of
    /// the newest finished export whose Raft index is at least `min_index`. Otherwise
    /// returns `Ok(None)` (retry later), after starting a build unless one is under way or
    /// this node has not applied `min_index` yet: a RocksDB checkpoint of the database now,
    /// written to an export file by a background thread. A failed build is reported once
    /// (the next call starts a new one).
    pub fn prepare(&self, min_index: u64) -> Result<Option<SnapshotDescriptor>, SyncError> {
        let mut state = self.lock();
        if state.build.as_ref().is_some_and(|b| b.is_finished()) {
            let build = state.build.take().expect("checked above");
            match build.join() {
                Ok(Ok(export)) => {
                    metrics::counter!("cactus_snapshot_exports_total").increment(1);
                    tracing::info!(
                        height = export.descriptor.height,
                        raft_index = export.descriptor.raft_index,
                        entries = export.descriptor.total_entries,
                        bytes = export.len,
                        "snapshot export finished"
                    );
                    state.exports.push(Arc::new(export));
                    state.exports.sort_by_key(|e| e.descriptor.export_id);
                    prune(&mut state);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "snapshot export failed");
                    return Err(e);
                }
                Err(_) => return Err(SyncError::ExportPanicked),
            }
        }
        if let Some(export) = state
            .exports
            .iter()
            .rev()
            .find(|e| e.descriptor.raft_index >= min_index)
        {
            return Ok(Some(export.descriptor.clone()));
        }
        if state.build.is_some() {
            return Ok(None);
        }
        let applied = self.store.applied_index()?;
        if applied < min_index {
            return Ok(None);
        }
        let checkpoint = self.dir.join(format!("checkpoint-{applied:020}"));
        if checkpoint.exists() {
            std::fs::remove_dir_all(&checkpoint)
                .map_err(io(format!("removing {}", checkpoint.display())))?;
        }
        self.store.checkpoint(&checkpoint)?;
        let (dir, node_id) = (self.dir.clone(), self.node_id);
        if self.inline {
            let export = build_export(&checkpoint, &dir, node_id);
            let _ = std::fs::remove_dir_all(&checkpoint);
            let export = Arc::new(export?);
            let descriptor = export.descriptor.clone();
            state.exports.push(export);
            state.exports.sort_by_key(|e| e.descriptor.export_id);
            prune(&mut state);
            return Ok(Some(descriptor));
        }
        let build = std::thread::Builder::new()
            .name("snapshot-export".into())
            .spawn(move || {
                let result = build_export(&checkpoint, &dir, node_id);
                let _ = std::fs::remove_dir_all(&checkpoint);
                result
            })
            .map_err(io("spawning the snapshot export thread"))?;
        state.build = Some(build);
        Ok(None)
    }

    /// The entries of finished export `req.export_id` with keys above `req.after`, up to
    /// `req.max_bytes` of keys and values (capped at [`MAX_CHUNK_BYTES`]) but at least one.
    /// Callable from any thread.
    pub fn read_chunk(&self, req: &ChunkRequest) -> Result<ChunkResponse, SyncError> {
        let export = self
            .lock()
            .exports
            .iter()
            .find(|e| e.descriptor.export_id == req.export_id)
            .cloned()
            .ok_or(SyncError::UnknownExport(req.export_id))?;
        let after = req.after.as_deref();
        let start = match after {
            None => 0,
            Some(after) => {
                let i = export
                    .seek_points
                    .partition_point(|(k, _)| k.as_slice() <= after);
                i.checked_sub(1).map_or(0, |i| export.seek_points[i].1)
            }
        };
        let file = match File::open(&export.data) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SyncError::UnknownExport(req.export_id));
            }
            Err(e) => return Err(io(format!("opening {}", export.data.display()))(e)),
        };
        let mut reader = BufReader::new(file);
        reader
            .seek(SeekFrom::Start(start))
            .map_err(io("seeking in a snapshot export"))?;
        let budget = req.max_bytes.min(MAX_CHUNK_BYTES) as usize;
        let (mut offset, mut bytes, mut entries) = (start, 0usize, Vec::new());
        while offset < export.len {
            let (key, value, next) = read_record(&mut reader, offset, export.len)?;
            if after.is_some_and(|a| key.as_slice() <= a) {
                offset = next;
                continue;
            }
            let size = key.len() + value.len();
            if !entries.is_empty() && bytes + size > budget {
                break;
            }
            bytes += size;
            entries.push((key, value));
            offset = next;
            if bytes >= budget {
                break;
            }
        }
        Ok(ChunkResponse {
            entries,
            done: offset >= export.len,
        })
    }
}

/// Keeps the newest [`KEEP_EXPORTS`] exports, deleting the files of the others.
fn prune(state: &mut ExportState) {
    while state.exports.len() > KEEP_EXPORTS {
        let old = state.exports.remove(0);
        tracing::debug!(
            export_id = old.descriptor.export_id,
            "removing old snapshot export"
        );
        old.remove_files();
    }
}

fn data_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("export-{id:020}.data"))
}

fn desc_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("export-{id:020}.desc"))
}

fn parse_export_name(name: &str, ext: &str) -> Option<u64> {
    name.strip_prefix("export-")?
        .strip_suffix(ext)?
        .parse()
        .ok()
}

/// Writes `path` through `write` into a `.tmp` file beside it, fsyncs it, then renames it
/// into place (so a file under its final name is always complete).
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
    ));
    let file = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(|e| io(format!("writing {}", tmp.display()))(e.into_error()))?;
    file.sync_all()
        .map_err(io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("renaming {}", tmp.display())))
}

/// Builds an export from the checkpoint at `checkpoint` into `dir`.
fn build_export(checkpoint: &Path, dir: &Path, node_id: u64) -> Result<Export, SyncError> {
    let source = Store::open_read_only(checkpoint)?;
    let tip = source.tip()?;
    let raft_index = source.applied_index()?;
    let height = tip.height;
    let header = if height == 0 {
        None
    } else {
        let from_block = source.block_header(height)?;
        // A store that was itself snapshot-synced at `height` has no block there, but its
        // sync base keeps the header.
        let from_base = || -> Result<Option<BlockHeader>, SyncError> {
            Ok(source
                .sync_base()?
                .filter(|b| b.height == height)
                .and_then(|b| b.header))
        };
        match from_block {
            Some(h) => Some(h),
            None => Some(from_base()?.ok_or(SyncError::MissingHeader(height))?),
        }
    };
    let certificate = source.certificate(height)?;
    let conf_state = source
        .raft_state_value(RAFT_CONF_STATE_KEY)?
        .unwrap_or_default();
    let id = raft_index;
    let data = data_path(dir, id);
    let (mut total, mut len, mut seek_points) = (0u64, 0u64, Vec::new());
    write_atomically(&data, |out| {
        let mut last_point: Option<u64> = None;
        for item in source.state_entries() {
            let (key, value) = item?;
            // Node-local keys are no part of a snapshot: the receiver derives them.
            if StateKey::from_bytes(&key).is_ok_and(|k| k.is_node_local()) {
                continue;
            }
            if last_point.is_none_or(|p| len - p >= SEEK_POINT_EVERY) {
                seek_points.push((key.to_vec(), len));
                last_point = Some(len);
            }
            for part in [&key, &value] {
                let n = u32::try_from(part.len())
                    .map_err(|_| SyncError::CorruptExport("state entry over 4 GiB".into()))?;
                out.write_all(&n.to_le_bytes())
                    .and_then(|()| out.write_all(part))
                    .map_err(io("writing a snapshot export"))?;
                len += 4 + part.len() as u64;
            }
            total += 1;
        }
        Ok(())
    })?;
    drop(source);
    let descriptor = SnapshotDescriptor {
        height,
        raft_index,
        tip,
        header,
        certificate,
        source: node_id,
        export_id: id,
        total_entries: total,
        conf_state,
    };
    let desc = desc_path(dir, id);
    write_atomically(&desc, |out| {
        out.write_all(&descriptor.to_bytes())
            .map_err(io("writing a snapshot descriptor"))
    })?;
    if let Ok(d) = File::open(dir) {
        // Make the renames durable (best effort: not every platform syncs directories).
        let _ = d.sync_all();
    }
    Ok(Export {
        descriptor,
        data,
        desc,
        len,
        seek_points,
    })
}

/// Reloads finished export `id` from `dir`, rebuilding its seek points.
fn load_export(dir: &Path, id: u64) -> Result<Export, SyncError> {
    let (data, desc) = (data_path(dir, id), desc_path(dir, id));
    let bytes = std::fs::read(&desc).map_err(io(format!("reading {}", desc.display())))?;
    let descriptor = SnapshotDescriptor::from_bytes(&bytes)?;
    if descriptor.export_id != id {
        return Err(SyncError::CorruptExport(format!(
            "{} describes export {}",
            desc.display(),
            descriptor.export_id
        )));
    }
    let file = File::open(&data).map_err(io(format!("opening {}", data.display())))?;
    let len = file
        .metadata()
        .map_err(io(format!("reading {}", data.display())))?
        .len();
    let mut reader = BufReader::new(file);
    let (mut offset, mut count, mut seek_points) = (0u64, 0u64, Vec::new());
    let mut last_point: Option<u64> = None;
    while offset < len {
        let (key, _, next) = read_record(&mut reader, offset, len)?;
        if last_point.is_none_or(|p| offset - p >= SEEK_POINT_EVERY) {
            seek_points.push((key, offset));
            last_point = Some(offset);
        }
        offset = next;
        count += 1;
    }
    if count != descriptor.total_entries {
        return Err(SyncError::CorruptExport(format!(
            "{} holds {count} entries, its descriptor says {}",
            data.display(),
            descriptor.total_entries
        )));
    }
    Ok(Export {
        descriptor,
        data,
        desc,
        len,
        seek_points,
    })
}

/// Reads the record at `offset` (key, value, offset of the next record).
fn read_record(
    reader: &mut impl Read,
    offset: u64,
    len: u64,
) -> Result<(Vec<u8>, Vec<u8>, u64), SyncError> {
    let mut next = offset;
    let mut part = || -> Result<Vec<u8>, SyncError> {
        let mut n = [0u8; 4];
        reader
            .read_exact(&mut n)
            .map_err(io("reading a snapshot export"))?;
        let n = u32::from_le_bytes(n) as u64;
        if n > MAX_DECODE_BYTES as u64 || next + 4 + n > len {
            return Err(SyncError::CorruptExport(format!(
                "record at offset {offset} claims {n} bytes"
            )));
        }
        let mut bytes = vec![0u8; n as usize];
        reader
            .read_exact(&mut bytes)
            .map_err(io("reading a snapshot export"))?;
        next += 4 + n;
        Ok(bytes)
    };
    let key = part()?;
    let value = part()?;
    Ok((key, value, next))
}

/// The empty tree whose root at `version - 1` is the empty (null) node: what jmt needs
/// under it to build the whole state as one batch at `version`.
struct EmptyBelow {
    version: Version,
}

impl TreeReader for EmptyBelow {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let previous_root = self
            .version
            .checked_sub(1)
            .map(|v| NodeKey::new(v, NibblePath::from_iter(std::iter::empty())));
        Ok((Some(node_key) == previous_root.as_ref()).then_some(Node::Null))
    }

    fn get_value_option(
        &self,
        _max_version: Version,
        _key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

fn mismatch(field: &'static str, detail: String) -> SyncError {
    SyncError::DescriptorMismatch { field, detail }
}

/// Checks what the descriptor says about itself: chain, tip against header, frontier,
/// certificate target. Needs no state.
fn verify_descriptor(chain_id: &ChainId, d: &SnapshotDescriptor) -> Result<(), SyncError> {
    let tip = &d.tip;
    if &tip.chain_id != chain_id {
        return Err(SyncError::WrongChain {
            expected: chain_id.clone(),
            found: tip.chain_id.clone(),
        });
    }
    if d.height != tip.height {
        return Err(mismatch(
            "height",
            format!("descriptor {}, tip {}", d.height, tip.height),
        ));
    }
    let expected = tip.log.size.count_ones() as usize;
    if tip.log.frontier.len() != expected {
        return Err(SyncError::BadFrontier {
            size: tip.log.size,
            frontier: tip.log.frontier.len(),
            expected,
        });
    }
    match &d.header {
        None if d.height == 0 => {
            if tip.log.size != 0 {
                return Err(mismatch(
                    "log_size",
                    format!("genesis tip with a log of {}", tip.log.size),
                ));
            }
        }
        None => return Err(SyncError::MissingHeader(d.height)),
        Some(_) if d.height == 0 => {
            return Err(mismatch(
                "header",
                "a genesis snapshot has no header".into(),
            ));
        }
        Some(h) => {
            let hash = h.hash();
            if hash != tip.block_hash {
                return Err(SyncError::HeaderHash {
                    header: hash,
                    tip: tip.block_hash,
                });
            }
            let log_root = tip.log.root();
            let checks: [(&'static str, bool, String); 6] = [
                (
                    "chain_id",
                    h.chain_id == tip.chain_id,
                    format!("header {}, tip {}", h.chain_id, tip.chain_id),
                ),
                (
                    "height",
                    h.height == tip.height,
                    format!("header {}, tip {}", h.height, tip.height),
                ),
                (
                    "time_ms",
                    h.time_ms == tip.time_ms,
                    format!("header {}, tip {}", h.time_ms, tip.time_ms),
                ),
                (
                    "state_root",
                    h.state_root == tip.state_root,
                    format!("header {}, tip {}", h.state_root, tip.state_root),
                ),
                (
                    "log_root",
                    h.log_root == log_root,
                    format!("header {}, tip frontier {}", h.log_root, log_root),
                ),
                (
                    "log_size",
                    h.log_size == tip.log.size,
                    format!("header {}, tip {}", h.log_size, tip.log.size),
                ),
            ];
            if let Some((field, _, detail)) = checks.into_iter().find(|(_, ok, _)| !ok) {
                return Err(mismatch(field, detail));
            }
        }
    }
    if let Some(c) = &d.certificate
        && (c.height != d.height || c.block_hash != tip.block_hash)
    {
        return Err(SyncError::CertificateMismatch {
            cert: format!("height {} hash {}", c.height, c.block_hash),
            snapshot: format!("height {} hash {}", d.height, tip.block_hash),
        });
    }
    Ok(())
}

/// Checks the descriptor against the receiving store: initialised, same chain, not
/// behind, the same genesis (height 0) or the same block (same height).
fn verify_against_local(
    store: &Store,
    chain_id: &ChainId,
    d: &SnapshotDescriptor,
) -> Result<(), SyncError> {
    let genesis_hash = store.genesis_hash()?.ok_or(StorageError::NotInitialised)?;
    let local = store.tip()?;
    if &local.chain_id != chain_id {
        return Err(SyncError::WrongChain {
            expected: chain_id.clone(),
            found: local.chain_id,
        });
    }
    if d.height < local.height {
        return Err(SyncError::Behind {
            snapshot: d.height,
            local: local.height,
        });
    }
    if d.height == 0 && d.tip.block_hash != genesis_hash {
        return Err(mismatch(
            "block_hash",
            format!(
                "genesis snapshot {}, local genesis {genesis_hash}",
                d.tip.block_hash
            ),
        ));
    }
    if d.height == local.height && d.tip.block_hash != local.block_hash {
        return Err(mismatch(
            "block_hash",
            format!(
                "snapshot {} at height {}, local tip {}",
                d.tip.block_hash, d.height, local.block_hash
            ),
        ));
    }
    Ok(())
}

/// Fetches every chunk and decodes the entries, checking order, canonical form and count.
fn fetch_state(
    d: &SnapshotDescriptor,
    fetch: &mut impl FnMut(&ChunkRequest) -> Result<ChunkResponse, SyncError>,
) -> Result<WriteSet, SyncError> {
    let mut state = WriteSet::default();
    let mut after: Option<Vec<u8>> = None;
    let mut count = 0u64;
    loop {
        let response = fetch(&ChunkRequest {
            export_id: d.export_id,
            after: after.clone(),
            max_bytes: DEFAULT_CHUNK_BYTES,
        })?;
        if response.entries.is_empty() && !response.done {
            return Err(SyncError::Protocol(format!(
                "empty chunk before the end (after {count} entries)"
            )));
        }
        for (key_bytes, value_bytes) in response.entries {
            let index = count;
            if after.as_ref().is_some_and(|a| key_bytes <= *a) {
                return Err(SyncError::KeyOrder { index });
            }
            count += 1;
            if count > d.total_entries {
                return Err(SyncError::EntryCount {
                    expected: d.total_entries,
                    got: count,
                });
            }
            let bad = |why: String| SyncError::BadEntry { index, why };
            let key = StateKey::from_bytes(&key_bytes).map_err(|e| bad(format!("key: {e}")))?;
            let value =
                StateValue::from_bytes(&value_bytes).map_err(|e| bad(format!("value: {e}")))?;
            // Storage and the tree key by the canonical bytes; accept nothing else.
            if key.to_bytes() != key_bytes || value.to_bytes() != value_bytes {
                return Err(bad("not in canonical encoding".into()));
            }
            // The root does not bind node-local keys: a snapshot carrying one is refused,
            // and the receiver derives them from what the root binds.
            if key.is_node_local() {
                return Err(bad(format!("node-local key {key:?} in a snapshot")));
            }
            state.put(key, value);
            after = Some(key_bytes);
        }
        if response.done {
            break;
        }
    }
    if count != d.total_entries {
        return Err(SyncError::EntryCount {
            expected: d.total_entries,
            got: count,
        });
    }
    Ok(state)
}

/// The stored history nodes a log needs to compute its root (and any later root): one
/// perfect subtree per set bit of its size, largest (leftmost) first, as in the frontier.
fn frontier_nodes(log: &HistoryLog) -> Vec<HistoryNode> {
    let mut hashes = log.frontier.iter();
    let mut start = 0u64;
    let mut out = Vec::with_capacity(log.frontier.len());
    for level in (0..64u8).rev() {
        if (log.size >> level) & 1 == 1 {
            let Some(hash) = hashes.next() else { break };
            out.push((
                NodeIndex {
                    level,
                    index: start >> level,
                },
                *hash,
            ));
            start += 1 << level;
        }
    }
    out
}

/// The receiver side: fetches the snapshot `descriptor` describes through `fetch` (one call
/// per chunk, blocking), verifies it completely, and only then installs it in `store` in
/// one atomic, fsynced write. Returns the new tip.
///
/// `store` must be initialised ([`Store::init_genesis`]) for `chain_id`, and its tip must
/// not be above the snapshot's height. Checked before anything is written: the header
/// hashes to the tip's block hash and agrees with the tip (chain, height, time, state root,
/// log root and size); the frontier has one hash per set bit of the log size; the chain is
/// `chain_id` (and a genesis snapshot's hash is the local genesis hash); entry keys are
/// strictly ascending and every key and value decodes canonically; the entry count is
/// `total_entries`; no entry is node-local (`SeenTx`: the root does not bind those, so
/// they are derived from the verified `Remembered` entries instead); the state tree
/// rebuilt from the entries has the tip's root; a
/// certificate, if present, is for this block and verifies against the voters of the
/// consortium in the received state. On any failure the store is unchanged.
///
/// Install clears state, the state tree, the history log and the indexes, then writes the
/// state, its tree (version = the snapshot height), the history frontier, the tip, the
/// applied Raft index (`descriptor.raft_index`), the certificate, the indexes that state
/// determines and [`Store::sync_base`]. Blocks, tx results and the Raft log are left alone;
/// the caller brings its Raft storage to the snapshot (see the module docs for what a
/// synced node lacks).
pub fn install_snapshot(
    store: &Store,
    chain_id: &ChainId,
    descriptor: &SnapshotDescriptor,
    mut fetch: impl FnMut(&ChunkRequest) -> Result<ChunkResponse, SyncError>,
) -> Result<ChainTip, SyncError> {
    let result = install(store, chain_id, descriptor, &mut fetch);
    let label = match &result {
        Ok(_) => "ok",
        Err(e) if e.is_invalid_snapshot() => "invalid",
        Err(_) => "error",
    };
    metrics::counter!("cactus_snapshot_installs_total", "result" => label).increment(1);
    match &result {
        Ok(tip) => tracing::info!(
            height = tip.height,
            raft_index = descriptor.raft_index,
            source = descriptor.source,
            entries = descriptor.total_entries,
            "installed state snapshot"
        ),
        Err(e) => tracing::warn!(
            height = descriptor.height,
            source = descriptor.source,
            error = %e,
            "state snapshot not installed"
        ),
    }
    result
}

fn install(
    store: &Store,
    chain_id: &ChainId,
    d: &SnapshotDescriptor,
    fetch: &mut impl FnMut(&ChunkRequest) -> Result<ChunkResponse, SyncError>,
) -> Result<ChainTip, SyncError> {
    verify_descriptor(chain_id, d)?;
    verify_against_local(store, chain_id, d)?;
    let mut state = fetch_state(d, fetch)?;
    let update = commit_writes(&EmptyBelow { version: d.height }, d.height, &state)?;
    if update.root != d.tip.state_root {
        return Err(SyncError::StateRoot {
            expected: d.tip.state_root,
            computed: update.root,
        });
    }
    if let Some(cert) = &d.certificate {
        let consortium = match state.lookup(&StateKey::Consortium) {
            Some(Some(StateValue::Consortium(c))) => c,
            _ => return Err(SyncError::NoConsortium),
        };
        cert.verify(chain_id, consortium)?;
    }
    // The replay-protection index, from the verified `Remembered` entries.
    let seen = seen_txs_of(state.0.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))));
    state.merge(seen);
    let history = frontier_nodes(&d.tip.log);
    let base = SyncBase {
        height: d.height,
        header: d.header.clone(),
    };
    store.install_synced_state(&SyncedState {
        state: &state,
        tree: &update,
        history: &history,
        tip: &d.tip,
        raft_index: d.raft_index,
        certificate: d.certificate.as_ref(),
        base: &base,
    })?;
    Ok(d.tip.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{RawEntry, cf};
    use couponcactus_chaincode::block::sign_checkpoint;
    use couponcactus_chaincode::commitment::{prove, state_root, verify_state_proof};
    use couponcactus_chaincode::execute::Event;
    use couponcactus_chaincode::history::root_at;
    use couponcactus_chaincode::ids::{Channel, MemberId, StoreId, TokenId, TxId};
    use couponcactus_chaincode::ledger::{Block, apply_block};
    use couponcactus_chaincode::state::StateReader;
    use couponcactus_chaincode::testkit::{self, TestChain};
    use couponcactus_chaincode::tx::{
        AllocateTx, CreatePoolTx, IssueCodesTx, RedeemTarget, RedeemTx, RegisterKeyTx, SignedTx,
        TransferTokenTx, TransitionPoolTx, TxKind,
    };
    use couponcactus_chaincode::types::{PoolAction, PoolKind, Role};
    use ed25519_dalek::SigningKey;
    use std::time::{Duration, Instant};

    const GENESIS_HASH: Hash32 = Hash32([3; 32]);
    const CODES: u64 = 400;

    /// A store with blocks applied and committed the way the node does it.
    struct Chain {
        store: Store,
        chain: TestChain,
        tip: ChainTip,
        raft_index: u64,
        blocks: Vec<Block>,
        _dir: tempfile::TempDir,
    }

    impl Chain {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let tip = store
                .init_genesis(&testkit::genesis(), GENESIS_HASH)
                .unwrap();
            Chain {
                store,
                chain: TestChain::new(),
                tip,
                raft_index: 0,
                blocks: vec![],
                _dir: dir,
            }
        }

        /// Signs `txs`, applies them as the next block, commits it; every tx must apply.
        fn block(&mut self, txs: Vec<(&SigningKey, TxKind)>) -> Vec<Event> {
            let txs: Vec<SignedTx> = txs
                .into_iter()
                .map(|(k, kind)| self.chain.sign(k, kind))
                .collect();
            let time = self.chain.next_ctx().time_ms;
            let applied = apply_block(&self.store, &self.store, &self.tip, 1, time, &txs).unwrap();
            let mut events = vec![];
            for r in &applied.results {
                events.extend(r.outcome.events().expect("applied").iter().cloned());
            }
            let block = Block {
                header: applied.header.clone(),
                txs,
            };
            // Leave gaps, as election no-ops and conf changes do.
            self.raft_index += 3;
            self.store
                .commit_block(self.raft_index, &block, &applied)
                .unwrap();
            self.tip = applied.tip;
            self.chain.height += 1;
            self.chain.time_ms = time;
            self.blocks.push(block);
            events
        }

        /// Certifies the tip with the testkit's one voter (node 1, key 200).
        fn certify(&self) -> Certificate {
            let g = testkit::genesis();
            let sig = sign_checkpoint(
                &testkit::key(200),
                1,
                &g.chain_id,
                self.tip.height,
                &self.tip.block_hash,
            );
            let cert = Certificate {
                chain_id: g.chain_id,
                height: self.tip.height,
                block_hash: self.tip.block_hash,
                signatures: vec![sig],
            };
            self.store.put_certificate(&cert).unwrap();
            cert
        }
    }

    fn member(n: u64) -> MemberId {
        testkit::member(n)
    }

    fn token_of(events: &[Event], who: &MemberId) -> TokenId {
        events
            .iter()
            .find_map(|e| match e {
                Event::Allocated { token, member, .. } if member == who => Some(token.clone()),
                _ => None,
            })
            .expect("allocated")
    }

    /// Genesis, keys, a pool with codes, allocations, a redemption and a transfer.
    fn populated() -> (Chain, TokenId) {
        let mut c = Chain::new();
        let (admin, issuer, terminal) = (testkit::key(1), testkit::key(10), testkit::key(11));
        c.block(vec![
            (
                &admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(10),
                    role: Role::Issuer,
                }),
            ),
            (
                &admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(11),
                    role: Role::Terminal {
                        store: StoreId::new("berlin-1").unwrap(),
                        channel: Channel::new("pos").unwrap(),
                    },
                }),
            ),
        ]);
        let pool = testkit::pool_id("spring");
        let mut spec = testkit::spec(PoolKind::UniqueCodes);
        spec.transferable = true;
        c.block(vec![(
            &issuer,
            TxKind::CreatePool(CreatePoolTx {
                pool: pool.clone(),
                spec,
            }),
        )]);
        let codes = (0..CODES)
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        c.block(vec![(
            &issuer,
            TxKind::IssueCodes(IssueCodesTx {
                pool: pool.clone(),
                codes,
            }),
        )]);
        c.block(vec![(
            &issuer,
            TxKind::TransitionPool(TransitionPoolTx {
                pool: pool.clone(),
                action: PoolAction::Activate,
            }),
        )]);
        let allocations = (1..=5)
            .map(|m| {
                (
                    &issuer,
                    TxKind::Allocate(AllocateTx {
                        pool: pool.clone(),
                        member: member(m),
                        claim: testkit::claim(m),
                    }),
                )
            })
            .collect();
        let events = c.block(allocations);
        let (t1, t2) = (token_of(&events, &member(1)), token_of(&events, &member(2)));
        c.block(vec![
            (
                &terminal,
                TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Token(t1.clone()),
                    member: Some(member(1)),
                    order: testkit::order(10_000),
                }),
            ),
            (
                &issuer,
                TxKind::TransferToken(TransferTokenTx {
                    token: t2,
                    from: member(2),
                    to: member(9),
                }),
            ),
        ]);
        (c, t1)
    }

    fn exporter(store: &Store) -> (SnapshotExporter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let e = SnapshotExporter::new(store.clone(), dir.path().join("snapshots"), 7).unwrap();
        (e, dir)
    }

    fn wait_for(exporter: &SnapshotExporter, min_index: u64) -> SnapshotDescriptor {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(d) = exporter.prepare(min_index).unwrap() {
                return d;
            }
            assert!(Instant::now() < deadline, "export did not finish");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A store with the same genesis, as a node has it before it syncs.
    fn receiver() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(&testkit::genesis(), GENESIS_HASH)
            .unwrap();
        (store, dir)
    }

    /// Every key and value of every column family.
    fn dump(store: &Store) -> Vec<(&'static str, RawEntry)> {
        let mut out = vec![];
        for name in cf::ALL {
            for item in store
                .db()
                .iterator_cf(store.handle(name), rocksdb::IteratorMode::Start)
            {
                let (k, v) = item.unwrap();
                out.push((*name, (k, v)));
            }
        }
        out
    }

    fn state_of(store: &Store) -> Vec<RawEntry> {
        store.state_entries().map(Result::unwrap).collect()
    }

    /// Every entry of an export, fetched in small chunks.
    fn all_entries(exporter: &SnapshotExporter, id: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = vec![];
        loop {
            let chunk = exporter
                .read_chunk(&ChunkRequest {
                    export_id: id,
                    after: out.last().map(|(k, _)| k.clone()),
                    max_bytes: 500,
                })
                .unwrap();
            out.extend(chunk.entries);
            if chunk.done {
                return out;
            }
        }
    }

    #[test]
    fn state_sync_installs_a_verified_copy_that_continues_with_the_next_block() {
        let (mut src, redeemed) = populated();
        let cert = src.certify();
        let (exporter, _edir) = exporter(&src.store);
        assert!(
            exporter.prepare(src.raft_index).unwrap().is_none(),
            "builds"
        );
        let d = wait_for(&exporter, src.raft_index);
        assert_eq!(
            (d.height, d.raft_index, d.export_id, d.source),
            (src.tip.height, src.raft_index, src.raft_index, 7)
        );
        assert_eq!(d.tip, src.tip);
        assert_eq!(d.header.as_ref(), Some(&src.blocks.last().unwrap().header));
        assert_eq!(d.certificate.as_ref(), Some(&cert));
        // Every entry but the node-local replay index, which the receiver derives.
        let local = |e: &RawEntry| StateKey::from_bytes(&e.0).unwrap().is_node_local();
        let src_state = state_of(&src.store);
        let seen = src_state.iter().filter(|e| local(e)).count();
        assert!(seen > 0, "the source remembers tx ids");
        assert_eq!(d.total_entries, (src_state.len() - seen) as u64);
        assert!(d.total_entries > 2 * CODES);
        // Through its bytes, as Raft carries it.
        let d = SnapshotDescriptor::from_bytes(&d.to_bytes()).unwrap();

        let (recv, _rdir) = receiver();
        let chain_id = testkit::genesis().chain_id;
        let mut calls = 0;
        let tip = install_snapshot(&recv, &chain_id, &d, |req| {
            calls += 1;
            assert_eq!(req.export_id, d.export_id);
            exporter.read_chunk(&ChunkRequest {
                max_bytes: 300,
                ..req.clone()
            })
        })
        .unwrap();
        assert!(calls > 50, "many chunks: {calls}");
        let h = src.tip.height;
        assert_eq!(tip, src.tip);
        assert_eq!(recv.tip().unwrap(), src.tip);
        assert_eq!(recv.applied_index().unwrap(), src.raft_index);
        assert_eq!(state_of(&recv), state_of(&src.store));
        assert_eq!(state_root(&recv, h).unwrap(), Some(src.tip.state_root));
        for key in [
            StateKey::Token(redeemed.clone()),
            StateKey::Consortium,
            StateKey::Key(testkit::public(99)), // absent
        ] {
            let proven = prove(&recv, &key, h).unwrap();
            assert_eq!(proven, prove(&src.store, &key, h).unwrap());
            verify_state_proof(
                &src.tip.state_root,
                &key,
                proven.value.as_ref(),
                &proven.proof,
            )
            .unwrap();
        }
        let size = src.tip.log.size;
        assert_eq!(
            root_at(&recv, size).unwrap(),
            root_at(&src.store, size).unwrap()
        );
        assert_eq!(root_at(&recv, size).unwrap(), src.tip.log.root());
        assert_eq!(
            recv.sync_base().unwrap(),
            Some(SyncBase {
                height: h,
                header: d.header.clone()
            })
        );
        assert_eq!(src.store.sync_base().unwrap(), None);
        assert_eq!(recv.latest_certificate().unwrap(), Some(cert));
        assert_eq!(recv.block(h).unwrap(), None, "blocks are not copied");
        // Indexes state determines are rebuilt; histories start after the snapshot.
        let (acme, berlin) = (testkit::org("acme"), StoreId::new("berlin-1").unwrap());
        assert_eq!(
            recv.pools_of(&acme).unwrap(),
            src.store.pools_of(&acme).unwrap()
        );
        assert_eq!(recv.pools_of(&acme).unwrap().len(), 1);
        let redemptions = src.store.redemptions_at(&acme, &berlin).unwrap();
        assert_eq!(redemptions.len(), 1);
        assert_eq!(recv.redemptions_at(&acme, &berlin).unwrap(), redemptions);
        for m in [1, 3, 9] {
            assert_eq!(
                recv.wallet(&member(m)).unwrap(),
                src.store.wallet(&member(m)).unwrap()
            );
        }
        assert_eq!(src.store.wallet(&member(2)).unwrap().len(), 1);
        assert!(
            recv.wallet(&member(2)).unwrap().is_empty(),
            "earlier holder"
        );
        assert!(!src.store.token_history(&redeemed).unwrap().is_empty());
        assert!(recv.token_history(&redeemed).unwrap().is_empty());

        // The next block applies on top of the installed state with the same header.
        let issuer = testkit::key(10);
        src.block(vec![(
            &issuer,
            TxKind::Allocate(AllocateTx {
                pool: testkit::pool_id("spring"),
                member: member(6),
                claim: testkit::claim(6),
            }),
        )]);
        let next = src.blocks.last().unwrap().clone();
        let applied = apply_block(
            &recv,
            &recv,
            &tip,
            next.header.proposer,
            next.header.time_ms,
            &next.txs,
        )
        .unwrap();
        assert_eq!(applied.header, next.header);
        recv.commit_block(src.raft_index, &next, &applied).unwrap();
        assert_eq!(recv.tip().unwrap(), src.tip);
        assert_eq!(state_of(&recv), state_of(&src.store));
        let size = src.tip.log.size;
        assert_eq!(root_at(&recv, size).unwrap(), next.header.log_root);
        let key = StateKey::Token(TokenId {
            pool: testkit::pool_id("spring"),
            serial: 5,
        });
        assert_eq!(
            prove(&recv, &key, h + 1).unwrap(),
            prove(&src.store, &key, h + 1).unwrap()
        );
        assert_eq!(recv.token_history(&key_token(&key)).unwrap().len(), 1);
    }

    fn key_token(key: &StateKey) -> TokenId {
        match key {
            StateKey::Token(t) => t.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn state_sync_export_keeps_the_height_it_was_prepared_at() {
        let (mut src, _) = populated();
        let (at, index) = (src.tip.clone(), src.raft_index);
        let (exporter, _edir) = exporter(&src.store);
        assert!(exporter.prepare(index).unwrap().is_none());
        // The source keeps applying blocks while the export is written.
        let admin = testkit::key(1);
        for seed in 30..33 {
            src.block(vec![(
                &admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(seed),
                    role: Role::Issuer,
                }),
            )]);
        }
        let d = wait_for(&exporter, index);
        assert_eq!((d.height, d.raft_index), (at.height, index));
        assert_eq!(d.tip, at);
        let (recv, _rdir) = receiver();
        let tip = install_snapshot(&recv, &at.chain_id, &d, |r| exporter.read_chunk(r)).unwrap();
        assert_eq!(tip, at);
        assert_eq!(recv.tip().unwrap(), at);
        assert_eq!(
            recv.get(&StateKey::Key(testkit::public(30))).unwrap(),
            None,
            "a later block's write is not in the export"
        );
        // A newer minimum starts a newer export.
        assert!(exporter.prepare(src.raft_index).unwrap().is_none());
        let newer = wait_for(&exporter, src.raft_index);
        assert_eq!(newer.tip, src.tip);
    }

    type Tamper = Box<dyn Fn(&mut SnapshotDescriptor, &mut Vec<(Vec<u8>, Vec<u8>)>)>;
    type Expect = Box<dyn Fn(&SyncError) -> bool>;

    #[test]
    fn state_sync_rejects_tampered_snapshots_and_leaves_the_store_unchanged() {
        let (src, _) = populated();
        src.certify();
        let (exporter, _edir) = exporter(&src.store);
        exporter.prepare(src.raft_index).unwrap();
        let d = wait_for(&exporter, src.raft_index);
        let entries = all_entries(&exporter, d.export_id);
        assert_eq!(entries.len() as u64, d.total_entries);

        // The receiver has applied the first block already.
        let (recv, _rdir) = receiver();
        let first = &src.blocks[0];
        let g = testkit::genesis();
        let applied = apply_block(
            &recv,
            &recv,
            &recv.tip().unwrap(),
            1,
            first.header.time_ms,
            &first.txs,
        )
        .unwrap();
        recv.commit_block(3, first, &applied).unwrap();
        let before = dump(&recv);
        let local_tip = recv.tip().unwrap();

        let middle = entries.len() / 2;
        let cases: Vec<(&str, Tamper, Expect)> = vec![
            (
                "changed value",
                Box::new(move |_, e| e[middle].1 = StateValue::SeenTx(42).to_bytes()),
                Box::new(|e| matches!(e, SyncError::StateRoot { .. })),
            ),
            (
                "undecodable value",
                Box::new(move |_, e| e[middle].1 = vec![0xee; 3]),
                Box::new(
                    move |e| matches!(e, SyncError::BadEntry { index, .. } if *index == middle as u64),
                ),
            ),
            (
                "dropped entry",
                Box::new(move |_, e| {
                    e.remove(middle);
                }),
                Box::new(|e| matches!(e, SyncError::EntryCount { .. })),
            ),
            (
                "dropped entry, count adjusted",
                Box::new(move |d, e| {
                    e.remove(middle);
                    d.total_entries -= 1;
                }),
                Box::new(|e| matches!(e, SyncError::StateRoot { .. })),
            ),
            (
                "reordered keys",
                Box::new(move |_, e| e.swap(middle, middle + 1)),
                Box::new(
                    move |e| matches!(e, SyncError::KeyOrder { index } if *index == middle as u64 + 1),
                ),
            ),
            (
                "duplicated key",
                Box::new(move |d, e| {
                    e.insert(middle, e[middle].clone());
                    d.total_entries += 1;
                }),
                Box::new(|e| matches!(e, SyncError::KeyOrder { .. })),
            ),
            (
                "a node-local key, count adjusted",
                Box::new(|d, e| {
                    let key = StateKey::SeenTx(TxId([9; 32])).to_bytes();
                    let at = e.partition_point(|(k, _)| *k < key);
                    e.insert(at, (key, StateValue::SeenTx(1).to_bytes()));
                    d.total_entries += 1;
                }),
                Box::new(
                    |e| matches!(e, SyncError::BadEntry { why, .. } if why.contains("node-local")),
                ),
            ),
            (
                "extra entry",
                Box::new(|_, e| e.push((vec![0xff; 4], vec![0]))),
                Box::new(|e| matches!(e, SyncError::EntryCount { .. })),
            ),
            (
                "wrong state root in the tip",
                Box::new(|d, _| d.tip.state_root.0[0] ^= 1),
                Box::new(|e| {
                    matches!(
                        e,
                        SyncError::DescriptorMismatch {
                            field: "state_root",
                            ..
                        }
                    )
                }),
            ),
            (
                "wrong state root in tip and header, rehashed",
                Box::new(|d, _| {
                    let h = d.header.as_mut().unwrap();
                    h.state_root.0[0] ^= 1;
                    d.tip.state_root = h.state_root;
                    d.tip.block_hash = h.hash();
                    d.certificate = None;
                }),
                Box::new(|e| matches!(e, SyncError::StateRoot { .. })),
            ),
            (
                "header not hashing to the tip",
                Box::new(|d, _| d.header.as_mut().unwrap().time_ms += 1),
                Box::new(|e| matches!(e, SyncError::HeaderHash { .. })),
            ),
            (
                "missing header",
                Box::new(|d, _| d.header = None),
                Box::new(|e| matches!(e, SyncError::MissingHeader(_))),
            ),
            (
                "history frontier",
                Box::new(|d, _| {
                    d.tip.log.frontier.pop();
                }),
                Box::new(|e| matches!(e, SyncError::BadFrontier { .. })),
            ),
            (
                "certificate with a bad signature",
                Box::new(|d, _| {
                    d.certificate.as_mut().unwrap().signatures[0].signature.0[5] ^= 1;
                }),
                Box::new(|e| {
                    matches!(e, SyncError::Certificate(CertificateError::BadSignature(1)))
                }),
            ),
            (
                "certificate of another block",
                Box::new(|d, _| d.certificate.as_mut().unwrap().block_hash.0[0] ^= 1),
                Box::new(|e| matches!(e, SyncError::CertificateMismatch { .. })),
            ),
            (
                "another chain",
                Box::new(|d, _| d.tip.chain_id = ChainId::new("otherchain").unwrap()),
                Box::new(|e| matches!(e, SyncError::WrongChain { .. })),
            ),
            (
                "behind the local tip",
                Box::new(move |d, _| {
                    *d = SnapshotDescriptor {
                        height: 0,
                        tip: ChainTip {
                            height: 0,
                            block_hash: GENESIS_HASH,
                            log: HistoryLog::default(),
                            ..local_tip.clone()
                        },
                        header: None,
                        certificate: None,
                        ..d.clone()
                    };
                }),
                Box::new(|e| {
                    matches!(
                        e,
                        SyncError::Behind {
                            snapshot: 0,
                            local: 1
                        }
                    )
                }),
            ),
        ];
        for (name, tamper, expect) in cases {
            let (mut bad_d, mut bad_e) = (d.clone(), entries.clone());
            tamper(&mut bad_d, &mut bad_e);
            let mut served = 0;
            let result = install_snapshot(&recv, &g.chain_id, &bad_d, |req| {
                assert_eq!(req.export_id, d.export_id);
                let end = (served + 7).min(bad_e.len());
                let chunk = ChunkResponse {
                    entries: bad_e[served..end].to_vec(),
                    done: end == bad_e.len(),
                };
                served = end;
                Ok(chunk)
            });
            match result {
                Err(e) => assert!(expect(&e), "{name}: unexpected error {e}"),
                Ok(_) => panic!("{name}: installed"),
            }
            assert!(dump(&recv) == before, "{name}: the store changed");
        }
        // A source that stops making progress.
        let stalled = install_snapshot(&recv, &g.chain_id, &d, |_| {
            Ok(ChunkResponse {
                entries: vec![],
                done: false,
            })
        });
        assert!(matches!(stalled, Err(SyncError::Protocol(_))));
        let failing = install_snapshot(&recv, &g.chain_id, &d, |_| {
            Err(SyncError::Fetch("connection reset".into()))
        });
        assert!(matches!(failing, Err(SyncError::Fetch(_))));
        assert!(dump(&recv) == before);
        // The honest snapshot installs over the receiver's own blocks.
        install_snapshot(&recv, &g.chain_id, &d, |r| exporter.read_chunk(r)).unwrap();
        assert_eq!(recv.tip().unwrap(), src.tip);
        assert_eq!(state_of(&recv), state_of(&src.store));
        assert_eq!(
            recv.block(1).unwrap().as_ref(),
            Some(first),
            "own blocks kept"
        );
    }

    #[test]
    fn state_sync_read_chunk_serves_finished_exports_only() {
        let (mut src, _) = populated();
        let (exporter, edir) = exporter(&src.store);
        let err = exporter
            .read_chunk(&ChunkRequest {
                export_id: 999,
                after: None,
                max_bytes: 1000,
            })
            .unwrap_err();
        assert!(matches!(err, SyncError::UnknownExport(999)), "{err}");
        exporter.prepare(src.raft_index).unwrap();
        let first = wait_for(&exporter, src.raft_index);
        let entries = all_entries(&exporter, first.export_id);
        assert!(exporter.lock().exports[0].seek_points.len() > 1);
        // Any resume point gives the entries after it.
        for i in (0..entries.len() - 1).step_by(37) {
            let chunk = exporter
                .read_chunk(&ChunkRequest {
                    export_id: first.export_id,
                    after: Some(entries[i].0.clone()),
                    max_bytes: 1,
                })
                .unwrap();
            assert_eq!(chunk.entries, vec![entries[i + 1].clone()]);
            assert_eq!(chunk.done, i + 2 == entries.len());
        }
        let last = exporter
            .read_chunk(&ChunkRequest {
                export_id: first.export_id,
                after: Some(entries.last().unwrap().0.clone()),
                max_bytes: 1000,
            })
            .unwrap();
        assert_eq!((last.entries.len(), last.done), (0, true));

        // Only the newest two exports are kept.
        let admin = testkit::key(1);
        let mut ids = vec![first.export_id];
        for seed in 40..42 {
            src.block(vec![(
                &admin,
                TxKind::RegisterKey(RegisterKeyTx {
                    key: testkit::public(seed),
                    role: Role::Issuer,
                }),
            )]);
            exporter.prepare(src.raft_index).unwrap();
            ids.push(wait_for(&exporter, src.raft_index).export_id);
        }
        assert!(matches!(
            exporter.read_chunk(&ChunkRequest {
                export_id: ids[0],
                after: None,
                max_bytes: 1000,
            }),
            Err(SyncError::UnknownExport(_))
        ));
        let newest = all_entries(&exporter, ids[2]);
        let exported = state_of(&src.store)
            .iter()
            .filter(|e| !StateKey::from_bytes(&e.0).unwrap().is_node_local())
            .count();
        assert_eq!(newest.len(), exported);

        // A restarted exporter serves the exports it finished.
        drop(exporter);
        let reopened =
            SnapshotExporter::new(src.store.clone(), edir.path().join("snapshots"), 7).unwrap();
        let d = reopened.prepare(src.raft_index).unwrap().expect("reloaded");
        assert_eq!((d.export_id, d.tip.clone()), (ids[2], src.tip.clone()));
        assert_eq!(all_entries(&reopened, ids[2]), newest);
        assert!(all_entries(&reopened, ids[1]).len() < newest.len());
    }
}
