//! When each member was last seen on the ledger: the `member_seen` table, one row per
//! member id with the block time of the latest applied event that names it (an
//! allocation, redemption, rollback, checkout, earn or void, a consent decision, a hold),
//! whatever org's. It is what the member directory's retention class
//! ([`crate::directory::retention`]) asks to tell an inactive member from an active one.
//!
//! Unlike the detail rows (`member_days`, `checkouts`, `redemptions`), `member_seen` is not
//! deleted by the `analytics_detail` retention window: it is one pseudonymous id and one
//! time per member, and a member whose detail rows aged out must still read as active
//! until the directory's own window is past. An erasure receipt (`member.erased`) and
//! [`super::Analytics::purge_member`] delete the member's row. Being derived from the
//! event log like the rest of the store, `cactusd reindex` rebuilds it exactly.

use super::{Analytics, AnalyticsError, sql_int};
use couponcactus_chaincode::events::{EventDetail, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use rusqlite::{Transaction, params};
use std::collections::BTreeMap;

/// The table (created with the others by [`super::schema`]).
pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS member_seen (
    member TEXT PRIMARY KEY, time_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Most member ids one [`Analytics::last_seen`] call takes.
pub const MAX_LOOKUP: usize = 10_000;

const UPSERT: &str = "INSERT INTO member_seen (member, time_ms) VALUES (?1, ?2) \
    ON CONFLICT (member) DO UPDATE SET time_ms = MAX(time_ms, excluded.time_ms)";

/// Records the time of every applied event of `events` that names a member (an erasure
/// receipt deletes the row instead).
pub(crate) fn write_activity(
    tx: &Transaction<'_>,
    events: &[&LedgerEvent],
) -> Result<(), AnalyticsError> {
    let mut upsert = tx.prepare_cached(UPSERT)?;
    for e in events {
        let (EventDetail::Applied { event }, Some(member)) = (&e.detail, &e.member) else {
            continue;
        };
        if matches!(event, Event::MemberErased { .. }) {
            forget(tx, &member.to_hex())?;
        } else {
            upsert.execute(params![member.to_hex(), sql_int(e.time_ms, "time")?])?;
        }
    }
    Ok(())
}

/// Deletes `member`'s row (hex id).
pub(crate) fn forget(tx: &Transaction<'_>, member: &str) -> Result<usize, AnalyticsError> {
    Ok(tx.execute("DELETE FROM member_seen WHERE member = ?1", [member])?)
}

impl Analytics {
    /// The last time (ms) the ledger named each of `members` (lowercase hex ids), for
    /// those it ever named; at most [`MAX_LOOKUP`] ids.
    pub fn last_seen(&self, members: &[String]) -> Result<BTreeMap<String, u64>, AnalyticsError> {
        if members.len() > MAX_LOOKUP {
            return Err(AnalyticsError::Invalid(format!(
                "at most {MAX_LOOKUP} members per lookup, not {}",
                members.len()
            )));
        }
        let conn = self.reader();
        let mut stmt = conn.prepare_cached("SELECT time_ms FROM member_seen WHERE member = ?1")?;
        let mut out = BTreeMap::new();
        for m in members {
            let mut rows = stmt.query([m])?;
            if let Some(row) = rows.next()? {
                out.insert(m.clone(), u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0));
            }
        }
        Ok(out)
    }
}
