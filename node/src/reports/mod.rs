//! Finance reports of one org (issue 21), computed on the org's node from the ledger's
//! current state, stamped with the height, block hash, state root and latest certificate
//! they were read at: coupon liability per pool and currency with what ends within
//! 30/60/90 days and a breakage estimate ([`coupons`]), the loyalty program's liability per
//! segment with what expires within 30/60/90 days ([`points`]), and cross-brand
//! settlement per partner org: the program's ledger `Settlement` records, and the coupon
//! discounts partners' terminals gave on the org's coupons and the org's terminals on
//! theirs (from the analytics store, whose height is named separately).
//!
//! The state figures are read with bounded scans of the latest state; a block landing
//! during the read makes it start again (up to [`ATTEMPTS`] times), so the height named
//! is the one every state figure was read at. Discount cost per period is the analytics
//! KPI report's (`GET /v1/analytics/kpis?period=month`); the CLI puts both in one document.

pub mod coupons;
pub mod http;
pub mod points;
pub mod privacy;
pub mod scan;

use crate::analytics::AnalyticsError;
use crate::analytics::finance::FinanceFigures;
use crate::storage::{StorageError, Store};
use couponcactus_chaincode::ids::OrgId;
use couponcactus_chaincode::state::{StateError, StateKey, StateValue};
use couponcactus_client::analytics::Stamp;
use couponcactus_client::finance::{
    CouponLiability, FinanceReport, PointsLiability, PointsSettlement,
};
use couponcactus_client::privacy_report::PrivacyReport;
use std::collections::BTreeMap;

/// How often a report is read again when a block lands during the read.
pub const ATTEMPTS: usize = 3;
/// Most settlement records read (one per partner org).
pub const MAX_PARTNERS: usize = 10_000;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// The node's store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A state read failed.
    #[error("state read: {0}")]
    State(#[from] StateError),
    /// The analytics store failed.
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// The report's height could not be stamped.
    #[error("stamp: {0}")]
    Stamp(String),
}

/// Limits of one report's scans.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most tokens read ([`coupons::MAX_TOKENS`]).
    pub tokens: usize,
    /// Most accounts read ([`points::MAX_ACCOUNTS`]).
    pub accounts: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            tokens: coupons::MAX_TOKENS,
            accounts: points::MAX_ACCOUNTS,
        }
    }
}

/// State figures of one read.
struct StateFigures {
    coupons: CouponLiability,
    points: Option<PointsLiability>,
    settlements: Vec<PointsSettlement>,
}

/// Runs `read` until no block lands during it (at most [`ATTEMPTS`] times): its answer
/// and the tip it was read at.
fn at_one_height<T>(
    store: &Store,
    mut read: impl FnMut(u64) -> Result<T, ReportsError>,
) -> Result<(T, couponcactus_chaincode::ledger::ChainTip), ReportsError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = store.tip()?;
        let answer = read(before.time_ms)?;
        let after = store.tip()?;
        if after.height != before.height && attempt < ATTEMPTS {
            continue;
        }
        return Ok((answer, before));
    }
}

/// `org`'s finance report from the store's current state and `figures` from the
/// analytics store; the caller turns the height into a [`Stamp`] with `stamp`.
pub fn finance(
    store: &Store,
    org: &OrgId,
    figures: FinanceFigures,
    limits: Limits,
    stamp: impl Fn(&Store, u64) -> Result<Stamp, ReportsError>,
) -> Result<FinanceReport, ReportsError> {
    let (read, tip) = at_one_height(store, |now| read_state(store, org, now, &figures, limits))?;
    Ok(FinanceReport {
        org: org.to_string(),
        stamp: stamp(store, tip.height)?,
        analytics_height: figures.at.height,
        coupons: read.coupons,
        points: read.points,
        points_settlements: read.settlements,
        coupon_flows: figures.flows,
    })
}

/// `org`'s privacy report (consent coverage, erasure log) from the store's current state.
pub fn privacy_report(
    store: &Store,
    org: &OrgId,
    max: usize,
    stamp: impl Fn(&Store, u64) -> Result<Stamp, ReportsError>,
) -> Result<PrivacyReport, ReportsError> {
    let (p, tip) = at_one_height(store, |_| privacy::privacy(store, org, max))?;
    Ok(PrivacyReport {
        org: org.to_string(),
        stamp: stamp(store, tip.height)?,
        known_members: p.known,
        consent: p.consent,
        erasures: p.erasures,
        truncated: p.truncated,
    })
}

fn read_state(
    store: &Store,
    org: &OrgId,
    now_ms: u64,
    figures: &FinanceFigures,
    limits: Limits,
) -> Result<StateFigures, ReportsError> {
    Ok(StateFigures {
        coupons: coupons::coupon_liability(store, org, now_ms, &figures.pools, limits.tokens)?,
        points: points::points_liability(store, org, now_ms, limits.accounts)?,
        settlements: settlements(store, org)?,
    })
}

/// The bytes every `StateKey::Settlement(org, _)` starts with (two partner ids of
/// different lengths differ from their length on).
fn settlement_prefix(org: &OrgId) -> Vec<u8> {
    let key = |p: &str| {
        OrgId::new(p.to_string())
            .map(|p| StateKey::Settlement(org.clone(), p).to_bytes())
            .unwrap_or_default()
    };
    let (a, b) = (key("a"), key("bb"));
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    a[..shared].to_vec()
}

fn settlements(store: &Store, org: &OrgId) -> Result<Vec<PointsSettlement>, ReportsError> {
    let mut out = Vec::new();
    scan::visit(
        store,
        &settlement_prefix(org),
        MAX_PARTNERS,
        |key, value| {
            if let (StateKey::Settlement(o, partner), StateValue::Settlement(s)) = (key, value)
                && o == *org
            {
                let name = |m: &BTreeMap<_, u64>| {
                    m.iter()
                        .map(
                            |(s, v): (&couponcactus_chaincode::loyalty::Segment, &u64)| {
                                (s.name().to_string(), *v)
                            },
                        )
                        .collect::<BTreeMap<String, u64>>()
                };
                let net = s
                    .net()
                    .into_iter()
                    .map(|(seg, v)| (seg.name().to_string(), i64::try_from(v).unwrap_or(i64::MAX)))
                    .collect();
                out.push(PointsSettlement {
                    partner: partner.to_string(),
                    credited: name(&s.credited),
                    spent: name(&s.spent),
                    net,
                });
            }
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests;
