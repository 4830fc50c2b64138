//! The pruner thread: after blocks, deletes the state-tree versions that fell out of the
//! retention window ([`Store::prune_step`], `storage::prune` has the rules), in bounded
//! steps, off the consensus thread.
//!
//! The consensus thread tells it the tip after each applied block ([`Pruner::notify`]: a
//! queue of one, so a busy pruner sees only the latest tip). Dropping the [`Pruner`] stops
//! the thread after its current step and waits for it, so the database is closed when the
//! node's driver is gone (a restart in the same process reopens it).

use crate::storage::{PruneProgress, Retention, Store};
use crate::worker::Worker;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

/// Most stale entries one step deletes or holds in one write (about 1 MiB of batch).
const STEP_ENTRIES: usize = 8_192;

/// How long the pruner waits after a failed step (a full disk, say) before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The handle of the pruner thread.
pub(crate) struct Pruner {
    /// The thread, with a mailbox of one tip.
    worker: Worker<u64>,
}

impl Pruner {
    /// Starts the thread; `None` if `retention` keeps every version or the thread cannot be
    /// spawned (then nothing is pruned, which only costs disk: logged).
    pub(crate) fn start(store: Store, retention: Retention) -> Option<Pruner> {
        if !retention.prunes() {
            return None;
        }
        match Worker::spawn("pruner", 1, move |inbox| run(&store, &retention, &inbox)) {
            Ok(worker) => Some(Pruner { worker }),
            Err(e) => {
                tracing::error!(error = %e, "spawning the pruner thread failed: nothing is pruned");
                None
            }
        }
    }

    /// Tells the pruner the tip moved to `height` (dropped if it has not taken the last
    /// one yet: it reads the newest when it does).
    pub(crate) fn notify(&self, height: u64) {
        self.worker.offer(height);
    }
}

/// The thread: waits for a tip, prunes up to it in steps, until the handle is dropped.
fn run(store: &Store, retention: &Retention, inbox: &Receiver<u64>) {
    let mut tip = match inbox.recv() {
        Ok(tip) => tip,
        Err(_) => return,
    };
    loop {
        match prune_to(store, retention, tip, inbox) {
            Ok(Some(newer)) => tip = newer,
            Ok(None) => match inbox.recv() {
                Ok(newer) => tip = newer,
                Err(_) => return,
            },
            Err(Stop) => return,
        }
    }
}

/// The handle was dropped.
struct Stop;

/// Prunes up to `tip`; returns a newer tip if one came meanwhile.
fn prune_to(
    store: &Store,
    retention: &Retention,
    tip: u64,
    inbox: &Receiver<u64>,
) -> Result<Option<u64>, Stop> {
    let mut total = PruneProgress::default();
    let started = std::time::Instant::now();
    loop {
        let newer = match inbox.try_recv() {
            Ok(newer) => Some(newer),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => return Err(Stop),
        };
        if newer.is_some() {
            return Ok(newer);
        }
        match store.prune_step(retention, tip, STEP_ENTRIES) {
            Ok(step) => {
                total.nodes_deleted += step.nodes_deleted;
                total.values_deleted += step.values_deleted;
                total.held += step.held;
                metrics::counter!("cactus_pruned_nodes_total").increment(step.nodes_deleted);
                metrics::counter!("cactus_pruned_values_total").increment(step.values_deleted);
                metrics::gauge!("cactus_prune_floor").set(step.floor as f64);
                if step.done {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, tip, "pruning failed; retrying later");
                return match inbox.recv_timeout(RETRY_AFTER) {
                    Ok(newer) => Ok(Some(newer)),
                    Err(mpsc::RecvTimeoutError::Timeout) => Ok(Some(tip)),
                    Err(mpsc::RecvTimeoutError::Disconnected) => Err(Stop),
                };
            }
        }
    }
    if total.nodes_deleted + total.values_deleted > 100_000 {
        tracing::info!(
            tip,
            nodes = total.nodes_deleted,
            values = total.values_deleted,
            held = total.held,
            ms = started.elapsed().as_millis() as u64,
            "pruned state-tree versions below the retention window"
        );
    }
    Ok(None)
}
