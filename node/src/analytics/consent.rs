//! Which members an org may profile (issue 21): the `member_consent` table, written from
//! the ledger's `consent.granted`, `consent.withdrawn` and `member.erased` events, and the
//! rule [`ProfilingBasis`] that [`super::Analytics::member_data`] applies, so segments,
//! propensity and the advisor ([`crate::intelligence`]) never see a member the org may not
//! profile.
//!
//! `member_consent(org, member, purpose, granted, height)` keeps each org's latest decision
//! per member and purpose (`purpose` is the purpose's text form: `marketing`, `profiling`,
//! `partner:ORG`), and an erasure receipt as the row `purpose = 'erasure'`. Later events
//! overwrite earlier ones, so a replay ends where the chain does.
//!
//! The basis is the operator's (`[intelligence] profiling_basis` in the node's config):
//! - `legitimate_interest` (default): every member is profiled except those whose latest
//!   profiling decision is a withdrawal (an objection), and erased members;
//! - `consent`: only members whose latest profiling decision is a grant, never erased ones.

use super::AnalyticsError;
use couponcactus_chaincode::consent::{ConsentDecision, Purpose};
use couponcactus_chaincode::events::{EventDetail, LedgerEvent};
use couponcactus_chaincode::execute::Event;
use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};

/// The `purpose` of an erasure receipt's row.
pub const ERASURE: &str = "erasure";

/// The table (created with the others by [`super::schema`]).
pub(crate) const DDL: &str = "
CREATE TABLE IF NOT EXISTS member_consent (
    org TEXT NOT NULL, member TEXT NOT NULL, purpose TEXT NOT NULL,
    granted INTEGER NOT NULL, height INTEGER NOT NULL,
    PRIMARY KEY (org, member, purpose)
) WITHOUT ROWID;
";

const UPSERT: &str = "INSERT INTO member_consent (org, member, purpose, granted, height) \
    VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (org, member, purpose) DO UPDATE SET \
    granted = excluded.granted, height = excluded.height";

/// On what legal basis the org's intelligence profiles members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfilingBasis {
    /// Everyone, except members who withdrew (objected to) profiling, and erased ones.
    #[default]
    LegitimateInterest,
    /// Only members whose latest profiling decision is a grant (never erased ones).
    Consent,
}

impl ProfilingBasis {
    /// The SQL condition that keeps a row of `alias` (a table with `org` and `member`
    /// columns) only for members the org may profile.
    pub(crate) fn condition(self, alias: &str) -> String {
        let row = |purpose: &str, extra: &str| {
            format!(
                "SELECT 1 FROM member_consent c WHERE c.org = {alias}.org \
                 AND c.member = {alias}.member AND c.purpose = '{purpose}'{extra}"
            )
        };
        let erased = format!("NOT EXISTS ({})", row(ERASURE, ""));
        match self {
            ProfilingBasis::LegitimateInterest => format!(
                "{erased} AND NOT EXISTS ({})",
                row("profiling", " AND c.granted = 0")
            ),
            ProfilingBasis::Consent => format!(
                "{erased} AND EXISTS ({})",
                row("profiling", " AND c.granted = 1")
            ),
        }
    }

    /// `legitimate_interest` or `consent`.
    pub fn name(self) -> &'static str {
        match self {
            ProfilingBasis::LegitimateInterest => "legitimate_interest",
            ProfilingBasis::Consent => "consent",
        }
    }
}

/// Writes the consent rows of `events` (in log order).
pub(crate) fn write_consent_facts(
    tx: &Transaction<'_>,
    events: &[&LedgerEvent],
) -> Result<(), AnalyticsError> {
    let mut upsert = tx.prepare_cached(UPSERT)?;
    for e in events {
        let EventDetail::Applied { event } = &e.detail else {
            continue;
        };
        let (org, member, purpose, granted) = match event {
            Event::ConsentRecorded {
                org,
                member,
                purpose,
                decision,
                ..
            } => (
                org,
                member,
                Purpose::label(purpose),
                *decision == ConsentDecision::Granted,
            ),
            Event::MemberErased { org, member } => (org, member, ERASURE.to_string(), false),
            _ => continue,
        };
        upsert.execute(params![
            org.as_str(),
            member.to_hex(),
            purpose,
            i64::from(granted),
            super::sql_int(e.height, "height")?
        ])?;
        if matches!(event, Event::MemberErased { .. }) {
            purge_erased(tx, org.as_str(), &member.to_hex())?;
        }
    }
    Ok(())
}

/// On every node, an erasure receipt purges the member's detail rows of the org (its
/// activity per day and its checkouts; its redemptions stay, unlinked), those of this very
/// batch included: what `directory::purge_member` does on the org's own node.
fn purge_erased(tx: &Transaction<'_>, org: &str, member: &str) -> Result<(), AnalyticsError> {
    tx.execute(
        "DELETE FROM member_days WHERE org = ?1 AND member = ?2",
        params![org, member],
    )?;
    tx.execute(
        "DELETE FROM checkouts WHERE org = ?1 AND member = ?2",
        params![org, member],
    )?;
    tx.execute(
        "UPDATE redemptions SET member = NULL WHERE org = ?1 AND member = ?2",
        params![org, member],
    )?;
    Ok(())
}
