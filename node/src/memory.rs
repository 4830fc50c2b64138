//! Handing memory the process freed back to the system: a thread that asks glibc's
//! allocator to return its free pages every [`MemoryConfig::trim_interval_ms`].
//!
//! glibc keeps what a thread freed in that thread's arena for reuse and returns memory to
//! the system only from the top of a heap. A node's transient allocations are large and
//! many (a block's write set, tree update and RocksDB write batch: tens of MiB for a block
//! of issue txs), so after a burst the freed pages stay resident. Measured after issuing
//! 1,000,000 codes: ~600 MiB RSS per node, of which `malloc_trim(0)` returned ~250 MiB
//! (docs/performance.md, "Step 3 bounded"). jemalloc with background purging
//! was measured too and did not lower the RSS there; `malloc_trim` is one libc call, so
//! this is written by hand (no maintained crate wraps it safely), and it is the
//! workspace's one `unsafe` block.
//!
//! `malloc_trim` locks each arena in turn while it walks its free chunks: a thread that
//! allocates in that arena meanwhile waits. `cactus_memory_trim_seconds` records how long
//! each call takes (~30 ms on a busy node; every 2 s under sustained load with pruning it
//! cost ~18 % of redemption throughput, docs/performance.md). Elsewhere than Linux with glibc there is nothing to do (musl and other
//! allocators return memory themselves) and no thread starts.

use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `[memory]` in the node's config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Milliseconds between two returns of freed memory to the system (0: never).
    pub trim_interval_ms: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            trim_interval_ms: 2_000,
        }
    }
}

/// The handle of the trimming thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct Trimmer {
    /// Dropped first on drop: the thread sees the disconnect and ends.
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    /// Starts the thread; `None` when `config` turns trimming off, when the allocator is
    /// not glibc's, or when the thread cannot be spawned (logged: it only costs memory).
    pub fn start(config: &MemoryConfig) -> Option<Trimmer> {
        if config.trim_interval_ms == 0 || !TRIMS {
            return None;
        }
        let interval = Duration::from_millis(config.trim_interval_ms);
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let started = Instant::now();
                    let released = trim();
                    metrics::histogram!("cactus_memory_trim_seconds")
                        .record(started.elapsed().as_secs_f64());
                    if released {
                        metrics::counter!("cactus_memory_trims_released_total").increment(1);
                    }
                }
            });
        match spawned {
            Ok(thread) => Some(Trimmer {
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "spawning the memory-trim thread failed: freed memory stays with the allocator");
                None
            }
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether this build's allocator keeps freed memory that [`trim`] can return.
const TRIMS: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Asks glibc to return the free pages of every arena; whether it returned any.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "malloc_trim is a C function; it takes no pointers"
)]
pub fn trim() -> bool {
    // SAFETY: malloc_trim(0) reads and writes only glibc's own arenas, under their locks;
    // it has no preconditions on the caller.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Nothing to return with other allocators.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed memory comes back: a burst of small allocations freed below a live one stays
    /// resident until trimmed.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trimming_returns_freed_memory_to_the_system() {
        let rss = || -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        // 256 MiB in 4 KiB pieces (below the mmap threshold: they come from the heap),
        // then one live allocation above them so the heap's top cannot shrink.
        let burst: Vec<Vec<u8>> = (0..65_536).map(|i| vec![i as u8; 4_000]).collect();
        let pin = vec![1u8; 4_000];
        let before_free = rss();
        drop(burst);
        trim();
        let after_trim = rss();
        assert!(
            after_trim + (128 << 20) < before_free,
            "{before_free} bytes resident before freeing, {after_trim} after trimming"
        );
        assert_eq!(pin[0], 1);
    }

    #[test]
    fn a_zero_interval_starts_no_thread() {
        assert!(
            Trimmer::start(&MemoryConfig {
                trim_interval_ms: 0
            })
            .is_none()
        );
        let running = Trimmer::start(&MemoryConfig {
            trim_interval_ms: 10,
        });
        assert_eq!(running.is_some(), TRIMS);
        drop(running);
    }
}
