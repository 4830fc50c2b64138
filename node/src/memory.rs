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
//! `malloc_trim` locks each arena in turn while it walks its free chunks, and the pages it
//! returns are faulted in again (zeroed by the kernel) when the allocator reuses them. On a
//! node at its limit that is pure cost: trimming every 2 s under sustained load with
//! pruning cost ~18 % of redemption throughput, each call ~30 ms (docs/performance.md,
//! "Step 3 bounded"). So the thread trims when it pays: it looks at the process's CPU clock
//! every [`MemoryConfig::trim_interval_ms`], and trims when the node was *idle* since the
//! last look (below [`MemoryConfig::idle_cpu_percent`] of one core) after doing some work
//! since the last trim, which is when freed pages will not be reused soon; while the node
//! stays busy it trims at most every [`MemoryConfig::busy_trim_interval_ms`], so a node that
//! is never idle still hands back a burst's memory. [`Policy`] holds that rule and is pure;
//! the thread only reads clocks and calls glibc. `cactus_memory_trim_seconds` records each
//! call's duration and `cactus_memory_trims_total{reason}` why it ran. Elsewhere than Linux
//! with glibc there is nothing to do (musl and other allocators return memory themselves)
//! and no thread starts.

use crate::worker::Worker;
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// `[memory]` in the node's config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Milliseconds between two looks at the process's CPU use, each of which may trim
    /// (0: never trim, no thread).
    pub trim_interval_ms: u64,
    /// Below this share of one core (percent) used since the previous look, the node is
    /// idle: it trims then if it did any work since its last trim.
    pub idle_cpu_percent: u32,
    /// While the node stays busy, the longest time between two trims (0: never trim while
    /// busy). Bounds how long a burst's freed memory can stay resident on a node that is
    /// never idle, at the cost of one ~30 ms trim per interval. Right after issuing
    /// 1,000,000 codes: 528–550 MiB per node with 2 s, 563–575 MiB with 30 s
    /// (docs/performance.md, "Trimming when it is cheap").
    pub busy_trim_interval_ms: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            trim_interval_ms: 1_000,
            idle_cpu_percent: 20,
            busy_trim_interval_ms: 2_000,
        }
    }
}

/// CPU time the process must have used since the last trim for an idle look to trim again:
/// an idle node with nothing freed since its last trim has nothing to hand back.
const MIN_WORK_BETWEEN_TRIMS: Duration = Duration::from_millis(100);

/// Why a trim ran (the `reason` label of `cactus_memory_trims_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimReason {
    /// The node was idle since the previous look, after some work since the last trim.
    Idle,
    /// The node stayed busy for [`MemoryConfig::busy_trim_interval_ms`].
    Busy,
}

impl TrimReason {
    fn label(self) -> &'static str {
        match self {
            TrimReason::Idle => "idle",
            TrimReason::Busy => "busy",
        }
    }
}

/// What the thread saw at one look.
#[derive(Clone, Copy, Debug)]
pub struct Look {
    /// Wall time since the previous look.
    pub elapsed: Duration,
    /// The process's CPU time (all threads) since the previous look.
    pub cpu: Duration,
    /// The process's CPU time since the last trim (or since the thread started).
    pub cpu_since_trim: Duration,
    /// Wall time since the last trim (or since the thread started).
    pub since_trim: Duration,
}

/// When to trim: [`MemoryConfig`]'s rule, without clocks.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    idle_cpu_percent: u32,
    busy_interval: Option<Duration>,
}

impl Policy {
    /// The rule `config` sets.
    pub fn new(config: &MemoryConfig) -> Policy {
        Policy {
            idle_cpu_percent: config.idle_cpu_percent,
            busy_interval: (config.busy_trim_interval_ms > 0)
                .then(|| Duration::from_millis(config.busy_trim_interval_ms)),
        }
    }

    /// Whether to trim now, and why.
    pub fn decide(&self, look: &Look) -> Option<TrimReason> {
        // CPU share of one core since the previous look, in percent (integer arithmetic:
        // cpu / elapsed * 100, compared without dividing).
        let idle = look.cpu.as_micros() * 100
            < u128::from(self.idle_cpu_percent) * look.elapsed.as_micros();
        if idle {
            return (look.cpu_since_trim >= MIN_WORK_BETWEEN_TRIMS).then_some(TrimReason::Idle);
        }
        match self.busy_interval {
            Some(bound) if look.since_trim >= bound => Some(TrimReason::Busy),
            _ => None,
        }
    }
}

/// The handle of the trimming thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct Trimmer {
    /// The thread; its mailbox carries nothing, it only closes to stop the thread.
    _worker: Worker<()>,
}

impl Trimmer {
    /// Starts the thread; `None` when `config` turns trimming off, when the allocator is
    /// not glibc's, or when the thread cannot be spawned (logged: it only costs memory).
    pub fn start(config: &MemoryConfig) -> Option<Trimmer> {
        if config.trim_interval_ms == 0 || !TRIMS {
            return None;
        }
        let interval = Duration::from_millis(config.trim_interval_ms);
        let policy = Policy::new(config);
        match Worker::spawn("memory-trim", 1, move |stopped| {
            run(policy, interval, &stopped)
        }) {
            Ok(worker) => Some(Trimmer { _worker: worker }),
            Err(e) => {
                tracing::warn!(error = %e, "spawning the memory-trim thread failed: freed memory stays with the allocator");
                None
            }
        }
    }
}

/// The thread: a look every `interval` until `stopped` disconnects, trimming when `policy`
/// says so. The clocks are read again after a trim, so its own CPU time does not count as
/// the node's work.
fn run(policy: Policy, interval: Duration, stopped: &Receiver<()>) {
    let mut looked = (Instant::now(), process_cpu());
    let mut trimmed = looked;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        let now = (Instant::now(), process_cpu());
        let look = Look {
            elapsed: now.0 - looked.0,
            cpu: now.1.saturating_sub(looked.1),
            cpu_since_trim: now.1.saturating_sub(trimmed.1),
            since_trim: now.0 - trimmed.0,
        };
        looked = now;
        let Some(reason) = policy.decide(&look) else {
            continue;
        };
        let released = trim();
        metrics::histogram!("cactus_memory_trim_seconds").record(now.0.elapsed().as_secs_f64());
        metrics::counter!("cactus_memory_trims_total", "reason" => reason.label()).increment(1);
        if released {
            metrics::counter!("cactus_memory_trims_released_total").increment(1);
        }
        looked = (Instant::now(), process_cpu());
        trimmed = looked;
    }
}

/// CPU time used by all of the process's threads so far.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
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
                trim_interval_ms: 0,
                ..MemoryConfig::default()
            })
            .is_none()
        );
        let running = Trimmer::start(&MemoryConfig {
            trim_interval_ms: 10,
            ..MemoryConfig::default()
        });
        assert_eq!(running.is_some(), TRIMS);
        drop(running);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A look one second after the previous one.
    fn look(cpu_ms: u64, cpu_since_trim_ms: u64, since_trim_ms: u64) -> Look {
        Look {
            elapsed: ms(1_000),
            cpu: ms(cpu_ms),
            cpu_since_trim: ms(cpu_since_trim_ms),
            since_trim: ms(since_trim_ms),
        }
    }

    #[test]
    fn an_idle_node_trims_once_after_work() {
        let policy = Policy::new(&MemoryConfig::default());
        // 19 % of a core since the last look, after 5 s of work: idle, trim.
        assert_eq!(
            policy.decide(&look(190, 5_000, 10_000)),
            Some(TrimReason::Idle)
        );
        // 20 % is not idle: no trim within the busy interval (2 s) of the last one.
        assert_eq!(policy.decide(&look(200, 5_000, 1_000)), None);
        // Idle again, but almost nothing done since the trim: nothing to hand back.
        assert_eq!(policy.decide(&look(10, 99, 5_000)), None);
        assert_eq!(policy.decide(&look(10, 100, 5_000)), Some(TrimReason::Idle));
    }

    #[test]
    fn a_busy_node_trims_only_at_the_bound() {
        let policy = Policy::new(&MemoryConfig::default());
        assert_eq!(policy.decide(&look(1_900, 50_000, 1_999)), None);
        assert_eq!(
            policy.decide(&look(1_900, 50_000, 2_000)),
            Some(TrimReason::Busy)
        );
        let never = Policy::new(&MemoryConfig {
            busy_trim_interval_ms: 0,
            ..MemoryConfig::default()
        });
        assert_eq!(never.decide(&look(1_900, 50_000, 3_600_000)), None);
        // A 100 % threshold: every look below one core's worth of CPU trims, if there was
        // work since the last trim (close to trimming at a fixed interval).
        let always = Policy::new(&MemoryConfig {
            idle_cpu_percent: 100,
            ..MemoryConfig::default()
        });
        assert_eq!(
            always.decide(&look(900, 900, 1_000)),
            Some(TrimReason::Idle)
        );
    }

    #[test]
    fn the_process_cpu_clock_counts_this_threads_work() {
        let before = process_cpu();
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < ms(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        // Spinning 50 ms of wall time on a loaded 2-core machine still gets some CPU.
        assert!(process_cpu() > before + ms(5), "{x}");
    }
}
