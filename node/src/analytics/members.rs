//! Member activity: the `member_days` rows segments, propensity and the advisor read
//! ([`crate::intelligence`]), written by ingestion in the same SQL transaction as the
//! rollups, in event order.
//!
//! One row per org, member, day, kind, pool and store sums what happened (see
//! [`super::schema`] for the kinds). An undo subtracts from the row it undoes: a rollback
//! finds its redemption's member, day, pool, store and amounts in `redemptions`, a
//! checkout void its checkout in `checkouts`; both are written before the undo is read
//! (redemption rows by `write_facts`, checkouts here, in event order), so an undo in the
//! same batch as what it undoes finds it.

use super::ingest::HOUR_MS;
use super::{AnalyticsError, sql_int};
use couponcactus_chaincode::events::{EventDetail, LedgerEvent};
use couponcactus_chaincode::execute::{BalanceOp, Event};
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::loyalty::Segment;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::BTreeSet;

/// Milliseconds in a day: `member_days.day` is `time_ms / DAY_MS`.
pub const DAY_MS: u64 = 24 * HOUR_MS;

const UPSERT: &str = "INSERT INTO member_days (org, member, day, kind, pool, store, n, gross, \
    discount, points) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (org, member, day, kind, pool, store) DO UPDATE SET n = n + excluded.n, \
    gross = gross + excluded.gross, discount = discount + excluded.discount, \
    points = points + excluded.points";

const REDEMPTION_OF: &str = "SELECT org, member, time_ms, pool, store, in_checkout, \
    order_total, discount FROM redemptions WHERE tx_key = ?1 AND tx_id = ?2 AND member IS NOT NULL";

const INSERT_CHECKOUT: &str = "INSERT OR IGNORE INTO checkouts (tx_key, tx_id, org, member, \
    day, store, gross, discount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const CHECKOUT_OF: &str = "SELECT org, member, day, store, gross, discount FROM checkouts \
    WHERE tx_key = ?1 AND tx_id = ?2 AND voided = 0";

const VOID_CHECKOUT: &str = "UPDATE checkouts SET voided = 1 WHERE tx_key = ?1 AND tx_id = ?2";

/// One `member_days` delta.
#[derive(Debug, Default)]
struct Delta {
    org: String,
    member: String,
    day: i64,
    kind: &'static str,
    pool: String,
    store: String,
    n: i64,
    gross: i64,
    discount: i64,
    points: i64,
}

/// The tx ids of the checkouts among `events`: their coupons' redemptions carry no order
/// total of their own in `member_days` (the checkout row has the basket).
pub(crate) fn checkout_txs(events: &[&LedgerEvent]) -> BTreeSet<TxId> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.detail,
                EventDetail::Applied {
                    event: Event::CheckedOut { .. }
                }
            )
        })
        .map(|e| e.tx_id)
        .collect()
}

fn text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn day_of(e: &LedgerEvent) -> Result<i64, AnalyticsError> {
    sql_int(e.time_ms / DAY_MS, "day")
}

/// Writes the member rows of `events` (in log order).
pub(crate) fn write_member_facts(
    tx: &Transaction<'_>,
    events: &[&LedgerEvent],
    checkouts: &BTreeSet<TxId>,
) -> Result<(), AnalyticsError> {
    let mut upsert = tx.prepare_cached(UPSERT)?;
    for e in events {
        let EventDetail::Applied { event } = &e.detail else {
            continue;
        };
        let Some(d) = delta_of(tx, e, event, checkouts)? else {
            continue;
        };
        upsert.execute(params![
            d.org, d.member, d.day, d.kind, d.pool, d.store, d.n, d.gross, d.discount, d.points
        ])?;
    }
    Ok(())
}

/// What `event` adds to or takes from a member's activity, if anything.
fn delta_of(
    tx: &Transaction<'_>,
    e: &LedgerEvent,
    event: &Event,
    checkouts: &BTreeSet<TxId>,
) -> Result<Option<Delta>, AnalyticsError> {
    let base = |kind| -> Result<Delta, AnalyticsError> {
        Ok(Delta {
            org: text(&e.org),
            member: text(&e.member),
            day: day_of(e)?,
            kind,
            n: 1,
            ..Delta::default()
        })
    };
    Ok(match event {
        Event::Allocated { repeat: false, .. } => Some(Delta {
            pool: text(&e.pool),
            ..base("allocated")?
        }),
        Event::Redeemed {
            member: Some(_), ..
        } => Some(Delta {
            pool: text(&e.pool),
            store: text(&e.store),
            discount: signed(e.amounts.as_ref().and_then(|a| a.discount_minor))?,
            // A checkout's coupon: the checkout's row has the basket.
            gross: if checkouts.contains(&e.tx_id) {
                0
            } else {
                signed(e.amounts.as_ref().and_then(|a| a.order_total_minor))?
            },
            ..base("redeemed")?
        }),
        Event::RolledBack { redemption, .. } => undo_redemption(tx, redemption)?,
        Event::CheckedOut { checkout, .. } => Some(record_checkout(tx, e, checkout, base)?),
        Event::CheckoutVoided { checkout, .. } => undo_checkout(tx, checkout)?,
        Event::BalanceChanged {
            op,
            segment: Segment::Mileage,
            credit,
            amount,
            ..
        } => match (op, credit) {
            (BalanceOp::Earned, true) => Some(Delta {
                n: 1,
                points: signed(Some(*amount))?,
                ..base("earned")?
            }),
            (BalanceOp::Voided, false) => Some(Delta {
                n: -1,
                points: -signed(Some(*amount))?,
                ..base("earned")?
            }),
            _ => None,
        },
        _ => None,
    })
}

fn signed(v: Option<u64>) -> Result<i64, AnalyticsError> {
    sql_int(v.unwrap_or(0), "amount")
}

fn tx_key(id: &TxId) -> i64 {
    super::ingest::tx_key(id)
}

/// The negative of the redemption `redemption` (a rollback), on the redemption's day.
fn undo_redemption(
    tx: &Transaction<'_>,
    redemption: &TxId,
) -> Result<Option<Delta>, AnalyticsError> {
    let row = tx
        .prepare_cached(REDEMPTION_OF)?
        .query_row(params![tx_key(redemption), redemption.to_hex()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .optional()?;
    Ok(row.map(
        |(org, member, time_ms, pool, store, in_checkout, total, discount)| Delta {
            org,
            member,
            day: time_ms / sql_int(DAY_MS, "day").unwrap_or(i64::MAX),
            kind: "redeemed",
            pool,
            store,
            n: -1,
            gross: if in_checkout == 1 {
                0
            } else {
                -total.unwrap_or(0)
            },
            discount: -discount,
            points: 0,
        },
    ))
}

fn record_checkout(
    tx: &Transaction<'_>,
    e: &LedgerEvent,
    checkout: &TxId,
    base: impl Fn(&'static str) -> Result<Delta, AnalyticsError>,
) -> Result<Delta, AnalyticsError> {
    let d = Delta {
        store: text(&e.store),
        gross: signed(e.amounts.as_ref().and_then(|a| a.order_total_minor))?,
        discount: signed(e.amounts.as_ref().and_then(|a| a.discount_minor))?,
        ..base("checkout")?
    };
    tx.prepare_cached(INSERT_CHECKOUT)?.execute(params![
        tx_key(checkout),
        checkout.to_hex(),
        d.org,
        d.member,
        d.day,
        d.store,
        d.gross,
        d.discount
    ])?;
    Ok(d)
}

/// The negative of checkout `checkout` (a void), on the checkout's day.
fn undo_checkout(tx: &Transaction<'_>, checkout: &TxId) -> Result<Option<Delta>, AnalyticsError> {
    let (k, hex) = (tx_key(checkout), checkout.to_hex());
    let row = tx
        .prepare_cached(CHECKOUT_OF)?
        .query_row(params![k, hex], |r| {
            Ok(Delta {
                org: r.get(0)?,
                member: r.get(1)?,
                day: r.get(2)?,
                kind: "checkout",
                store: r.get(3)?,
                n: -1,
                gross: -r.get::<_, i64>(4)?,
                discount: -r.get::<_, i64>(5)?,
                ..Delta::default()
            })
        })
        .optional()?;
    if row.is_some() {
        tx.prepare_cached(VOID_CHECKOUT)?.execute(params![k, hex])?;
    }
    Ok(row)
}

/// Most `(member, day)` rows one read of an org's activity returns: the segments and
/// propensity of an org with more are computed over its first members in id order, and
/// say so ([`MemberData::truncated`]).
pub const MAX_MEMBER_DAY_ROWS: usize = 1_000_000;
/// Most `(member, pool)` allocation outcomes one read returns.
pub const MAX_OUTCOMES: usize = 500_000;

/// A member's net activity on one day (allocations apart from the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDay {
    /// Index into [`MemberData::members`].
    pub member: u32,
    /// `time_ms / DAY_MS`.
    pub day: u32,
    /// Redemptions, checkouts and earns (net of undos).
    pub visits: i64,
    /// Coupons allocated.
    pub allocated: i64,
    /// Order totals (minor units of the pools' and programs' currencies, summed as
    /// numbers: an org trades in one currency in practice; mixed currencies are summed
    /// as they are and documented so).
    pub gross: i64,
    /// Discounts granted.
    pub discount: i64,
    /// Points earned.
    pub points: i64,
}

/// Whether a member redeemed a pool they were allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationOutcome {
    /// Index into [`MemberData::members`].
    pub member: u32,
    /// The pool.
    pub pool: String,
    /// The day of the first allocation.
    pub day: u32,
    /// The day of the first redemption, if any.
    pub redeemed_day: Option<u32>,
}

/// One org's member activity at one analytics position.
#[derive(Clone, Debug, Default)]
pub struct MemberData {
    /// Where the store stood.
    pub at: super::schema::Position,
    /// Member ids (hex), sorted.
    pub members: Vec<String>,
    /// Activity per member and day, by member then day.
    pub days: Vec<MemberDay>,
    /// Redemptions and checkouts per member and store: `(member, store, n)`.
    pub stores: Vec<(u32, String, i64)>,
    /// Allocation outcomes per member and pool.
    pub outcomes: Vec<AllocationOutcome>,
    /// Whether a cap cut the read short.
    pub truncated: bool,
    /// Members with activity that the org may not profile ([`super::consent::ProfilingBasis`]), left out
    /// of everything above.
    pub not_profiled: u64,
}

/// The day rows of an org's members who may be profiled (`profiled`: the condition of
/// [`super::consent::ProfilingBasis::condition`] on alias `m`).
fn days_of_org(profiled: &str) -> String {
    format!(
        "SELECT member, day, \
         SUM(CASE WHEN kind = 'allocated' THEN 0 ELSE n END), \
         SUM(CASE WHEN kind = 'allocated' THEN n ELSE 0 END), \
         SUM(gross), SUM(discount), SUM(points) \
         FROM member_days m WHERE org = ?1 AND member != '' AND {profiled} \
         GROUP BY member, day ORDER BY member, day LIMIT ?2"
    )
}

fn stores_of_org(profiled: &str) -> String {
    format!(
        "SELECT member, store, SUM(n) FROM member_days m \
         WHERE org = ?1 AND member != '' AND store != '' AND kind IN ('redeemed', 'checkout') \
         AND {profiled} GROUP BY member, store HAVING SUM(n) > 0 ORDER BY member, store"
    )
}

fn outcomes_of_org(profiled: &str) -> String {
    format!(
        "SELECT m.member, m.pool, MIN(m.day), \
         (SELECT MIN(r.day) FROM member_days r WHERE r.org = m.org AND r.member = m.member \
            AND r.pool = m.pool AND r.kind = 'redeemed' AND r.n > 0) \
         FROM member_days m WHERE m.org = ?1 AND m.kind = 'allocated' AND m.member != '' \
         AND {profiled} GROUP BY m.member, m.pool ORDER BY m.member, m.pool LIMIT ?2"
    )
}

const NOT_PROFILED: &str = "SELECT COUNT(DISTINCT member) FROM member_days m \
    WHERE org = ?1 AND member != '' AND NOT ";

fn day_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl super::Analytics {
    /// The activity of `org`'s members the org may profile (on the store's
    /// [`super::consent::ProfilingBasis`]), in one read transaction (one position).
    pub fn member_data(&self, org: &str) -> Result<MemberData, AnalyticsError> {
        let profiled = self.profiling_basis().condition("m");
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let mut data = MemberData {
            at: super::schema::position(&tx)?,
            ..MemberData::default()
        };
        read_days(&tx, org, &profiled, &mut data)?;
        read_stores(&tx, org, &profiled, &mut data)?;
        read_outcomes(&tx, org, &profiled, &mut data)?;
        let left_out: i64 = tx
            .prepare_cached(&format!("{NOT_PROFILED}({profiled})"))?
            .query_row(params![org], |r| r.get(0))?;
        data.not_profiled = u64::try_from(left_out).unwrap_or(0);
        tx.commit()?;
        Ok(data)
    }
}

/// The index of `member`, adding it (members arrive sorted in the first query).
fn index_of(data: &mut MemberData, member: String) -> Option<u32> {
    match data.members.binary_search(&member) {
        Ok(i) => u32::try_from(i).ok(),
        Err(_) if data.members.last().is_none_or(|l| *l < member) => {
            data.members.push(member);
            u32::try_from(data.members.len() - 1).ok()
        }
        // A member not among the day rows (truncated away): skipped.
        Err(_) => None,
    }
}

fn read_days(
    tx: &Transaction<'_>,
    org: &str,
    profiled: &str,
    data: &mut MemberData,
) -> Result<(), AnalyticsError> {
    let limit = sql_int(MAX_MEMBER_DAY_ROWS as u64 + 1, "limit")?;
    let mut stmt = tx.prepare_cached(&days_of_org(profiled))?;
    let mut rows = stmt.query(params![org, limit])?;
    while let Some(r) = rows.next()? {
        if data.days.len() == MAX_MEMBER_DAY_ROWS {
            data.truncated = true;
            // Drop the last member's partial days: a member is read whole or not at all.
            let last = data.days.last().map(|d| d.member);
            data.days.retain(|d| Some(d.member) != last);
            data.members
                .truncate(data.days.last().map_or(0, |d| d.member as usize + 1));
            break;
        }
        let Some(member) = index_of(data, r.get(0)?) else {
            continue;
        };
        data.days.push(MemberDay {
            member,
            day: day_u32(r.get(1)?),
            visits: r.get(2)?,
            allocated: r.get(3)?,
            gross: r.get(4)?,
            discount: r.get(5)?,
            points: r.get(6)?,
        });
    }
    Ok(())
}

fn read_stores(
    tx: &Transaction<'_>,
    org: &str,
    profiled: &str,
    data: &mut MemberData,
) -> Result<(), AnalyticsError> {
    let mut stmt = tx.prepare_cached(&stores_of_org(profiled))?;
    let mut rows = stmt.query(params![org])?;
    while let Some(r) = rows.next()? {
        let member: String = r.get(0)?;
        if let Ok(i) = data.members.binary_search(&member) {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            data.stores.push((i, r.get(1)?, r.get(2)?));
        }
    }
    Ok(())
}

fn read_outcomes(
    tx: &Transaction<'_>,
    org: &str,
    profiled: &str,
    data: &mut MemberData,
) -> Result<(), AnalyticsError> {
    let limit = sql_int(MAX_OUTCOMES as u64 + 1, "limit")?;
    let mut stmt = tx.prepare_cached(&outcomes_of_org(profiled))?;
    let mut rows = stmt.query(params![org, limit])?;
    while let Some(r) = rows.next()? {
        if data.outcomes.len() == MAX_OUTCOMES {
            data.truncated = true;
            break;
        }
        let member: String = r.get(0)?;
        let Ok(i) = data.members.binary_search(&member) else {
            continue;
        };
        data.outcomes.push(AllocationOutcome {
            member: u32::try_from(i).unwrap_or(u32::MAX),
            pool: r.get(1)?,
            day: day_u32(r.get(2)?),
            redeemed_day: r.get::<_, Option<i64>>(3)?.map(day_u32),
        });
    }
    Ok(())
}

impl super::Analytics {
    /// Purges `member` (an erasure, docs/compliance-directory.md): deletes its
    /// `member_days`, `checkouts` and `member_seen` rows, and unlinks its redemptions (`member` set to
    /// NULL: the rows stay, as they are also the org's redemption listing and rollup
    /// basis, but no longer name the member), in one transaction. Returns the rows
    /// deleted or unlinked. Events ingested later, or a `cactusd reindex`, bring back the
    /// pseudonymous rows the ledger holds; after an erasure they no longer link to a
    /// person.
    pub fn purge_member(
        &self,
        member: &couponcactus_chaincode::ids::MemberId,
    ) -> Result<u64, AnalyticsError> {
        let id = member.to_string();
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let mut n = tx.execute("DELETE FROM member_days WHERE member = ?1", [&id])?;
        n += tx.execute("DELETE FROM checkouts WHERE member = ?1", [&id])?;
        n += tx.execute(
            "UPDATE redemptions SET member = NULL WHERE member = ?1",
            [&id],
        )?;
        n += super::activity::forget(&tx, &id)?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// Rows of `member_days`, `checkouts`, `redemptions` and `member_seen` naming `member`
    /// (what [`super::Analytics::purge_member`] deletes or unlinks).
    pub fn member_rows(
        &self,
        member: &couponcactus_chaincode::ids::MemberId,
    ) -> Result<u64, AnalyticsError> {
        let id = member.to_string();
        let conn = self.reader();
        let mut n: i64 = 0;
        for table in ["member_days", "checkouts", "redemptions", "member_seen"] {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE member = ?1");
            n += conn.query_row(&sql, [&id], |r| r.get::<_, i64>(0))?;
        }
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
