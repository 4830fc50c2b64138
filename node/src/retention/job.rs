//! The retention job: every `[retention] interval_ms` one pass asks each class to delete
//! at most `max_rows_per_pass` rows past its window, minus what the legal holds in force
//! keep, and records what each deleted. A class that hit the limit has more due: the next
//! pass follows after [`CATCH_UP`] instead of the interval. It stops when the node does.

use super::holds::Hold;
use super::{ClassHolds, DAY_MS, Retention, RetentionError};
use crate::node::now_ms;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The first pass's delay after the node starts.
pub const FIRST_PASS: Duration = Duration::from_secs(10);
/// The delay before the next pass when a class had more due than one pass deletes.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Rows deleted per class (classes that failed are missing).
    pub deleted: BTreeMap<String, u64>,
    /// Whether a class deleted its limit (more may be due).
    pub more_due: bool,
}

impl Retention {
    /// One pass at `now_ms`: every class enforced, each with its own window and holds.
    pub fn pass(&self, now_ms: u64) -> Result<PassReport, RetentionError> {
        let holds: Vec<Hold> = self.store().list()?;
        let limit = self.config().max_rows_per_pass;
        let mut report = PassReport::default();
        for class in self.classes() {
            let name = class.name();
            let Some(days) = self.config().window_days(name) else {
                tracing::warn!(class = name, "retention: no window for this class; skipped");
                continue;
            };
            let cutoff = now_ms.saturating_sub(days.saturating_mul(DAY_MS));
            let kept = ClassHolds::of(name, &holds);
            match class.purge(cutoff, &kept, limit) {
                Ok(n) => {
                    self.store().record_run(name, now_ms, n, None)?;
                    metrics::counter!("cactus_retention_deleted_total", "class" => name)
                        .increment(n);
                    if n > 0 {
                        tracing::info!(
                            class = name,
                            deleted = n,
                            cutoff_ms = cutoff,
                            "retention: deleted rows past the window"
                        );
                    }
                    report.more_due |= n >= limit;
                    report.deleted.insert(name.to_string(), n);
                }
                Err(e) => {
                    tracing::warn!(class = name, error = %e, "retention: the pass over this class failed");
                    self.store()
                        .record_run(name, now_ms, 0, Some(&e.to_string()))?;
                }
            }
        }
        self.store().record_pass(now_ms)?;
        Ok(report)
    }
}

/// Runs passes until `shutdown` completes.
pub async fn run(retention: Arc<Retention>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut delay = FIRST_PASS.min(retention.config().interval());
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(delay) => {}
        }
        let service = retention.clone();
        let pass = tokio::task::spawn_blocking(move || service.pass(now_ms())).await;
        delay = match pass {
            Ok(Ok(report)) if report.more_due => CATCH_UP,
            Ok(Ok(_)) => retention.config().interval(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "retention: the pass failed");
                retention.config().interval()
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention: the pass's task failed");
                retention.config().interval()
            }
        };
    }
}
