//! The retention class `directory_inactive` ([`crate::retention`]): the directory records
//! of members inactive for `[retention] directory_inactive_days` are deleted.
//!
//! **Inactive** means both: the record last changed (`subjects.updated_at_ms`, the sealed
//! record's `updated_ms`) before the cutoff, and the ledger last named the member id before
//! it (or never did). The ledger side is read from the analytics store's `member_seen`
//! table ([`crate::analytics::activity`]): one indexed row per member with the time of the
//! latest applied event naming it (allocation, redemption, checkout, earn, consent, …).
//! It is the cheapest reliable source the node has: the chain state keeps no last-activity
//! time per member (only when an org first saw one), and finding one in the event log
//! means scanning it all; `member_seen` is that scan done once by the ingester, kept
//! incrementally, rebuilt exactly by `cactusd reindex`, and not cut by the shorter
//! `analytics_detail` window (the detail rows `member_days` are). Because the store is
//! derived and may lag, a pass first waits (at most [`CATCH_UP_WAIT`]) until it covers the
//! chain's height as read at the pass's start, and fails the class for this pass
//! otherwise (recorded as the class's `last_error`): a store being rebuilt never makes an
//! active member look inactive.
//!
//! **Deletion** is the erasure's crypto-shredding ([`super::store::DirectoryStore::delete_inactive`]):
//! the row with the wrapped subject key (its only copy) and the sealed record, the blind
//! indexes, `secure_delete`, the WAL truncated. It is recorded as a *retention deletion*:
//! the count in `retention.sqlite` (`runs`, `GET /v1/retention`), the metric
//! `cactus_retention_deleted_total{class="directory_inactive"}` and one log line per
//! member id, and **not** as an erasure (no row in the erasure log, no `member.erased`
//! receipt on the ledger). An erasure receipt is the org's public record that it honoured
//! a data subject's request; it makes the chain refuse the member (`member_erased`) and
//! purges the member's analytics on every node. Retention is the org's own storage
//! limitation, asked by no one: the member id stays valid on the ledger (coupons and
//! balances stay theirs), and the member may be added to the directory again.
//!
//! Legal holds: a hold of the class (or `all`) keeps every record; a member hold keeps
//! that member's.

use super::Directory;
use crate::analytics::Analytics;
use crate::retention::{ClassHolds, DIRECTORY_INACTIVE, RetentionClass, RetentionError};
use couponcactus_chaincode::ids::MemberId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Subjects read per page of candidates.
pub const PAGE: u64 = 500;
/// Longest a pass waits for the analytics store to cover the chain's height.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// Reads the chain's current height.
pub type ChainHeight = Box<dyn Fn() -> Result<u64, String> + Send + Sync>;

/// The `directory_inactive` class.
pub struct InactiveMembers {
    directory: Arc<Directory>,
    analytics: Arc<Analytics>,
    chain_height: ChainHeight,
}

impl std::fmt::Debug for InactiveMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InactiveMembers").finish_non_exhaustive()
    }
}

/// Of one page of candidates (records last changed before `cutoff_ms`), those due: not
/// held, and not named by the ledger at or after the cutoff (`seen`: last activity per
/// lowercase hex id).
pub fn due(
    candidates: &[(u64, MemberId)],
    holds: &ClassHolds,
    seen: &BTreeMap<String, u64>,
    cutoff_ms: u64,
) -> Vec<MemberId> {
    candidates
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| {
            let hex = m.to_hex();
            !holds.members.contains(&hex) && seen.get(&hex).is_none_or(|t| *t < cutoff_ms)
        })
        .collect()
}

fn store_error(e: impl std::fmt::Display) -> RetentionError {
    RetentionError::Unavailable(format!("directory retention: {e}"))
}

impl InactiveMembers {
    /// The class over `directory`, reading activity from `analytics`, which must cover
    /// `chain_height()` before anything is deleted.
    pub fn new(
        directory: Arc<Directory>,
        analytics: Arc<Analytics>,
        chain_height: ChainHeight,
    ) -> InactiveMembers {
        InactiveMembers {
            directory,
            analytics,
            chain_height,
        }
    }

    /// Waits until the analytics store covers the chain's height (bounded).
    fn wait_for_analytics(&self) -> Result<(), RetentionError> {
        let chain = (self.chain_height)().map_err(store_error)?;
        let start = Instant::now();
        loop {
            let covered = self.analytics.position().map_err(store_error)?.height;
            if covered >= chain {
                return Ok(());
            }
            if start.elapsed() >= CATCH_UP_WAIT {
                return Err(RetentionError::Unavailable(format!(
                    "directory retention waits: the analytics store covers height {covered}, \
                     the chain is at {chain} (catching up or being rebuilt); nothing deleted"
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl RetentionClass for InactiveMembers {
    fn name(&self) -> &'static str {
        DIRECTORY_INACTIVE
    }

    fn purge(&self, cutoff_ms: u64, holds: &ClassHolds, limit: u64) -> Result<u64, RetentionError> {
        if holds.all || limit == 0 {
            return Ok(0);
        }
        self.wait_for_analytics()?;
        let store = self.directory.store();
        // Every page moves past the last one: at most every subject once.
        let pages = store.count().map_err(store_error)? / PAGE + 1;
        let mut after = None;
        let mut deleted = 0u64;
        for _ in 0..pages {
            let page = store
                .inactive_page(cutoff_ms, after.as_ref(), PAGE)
                .map_err(store_error)?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            let hexes: Vec<String> = page.iter().map(|(_, m)| m.to_hex()).collect();
            let seen = self.analytics.last_seen(&hexes).map_err(store_error)?;
            let mut due = due(&page, holds, &seen, cutoff_ms);
            due.truncate(usize::try_from(limit - deleted).unwrap_or(usize::MAX));
            for member in store
                .delete_inactive(&due, cutoff_ms)
                .map_err(store_error)?
            {
                tracing::info!(%member, "directory subject deleted: inactive past the retention window");
                deleted += 1;
            }
            if deleted >= limit {
                break;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
