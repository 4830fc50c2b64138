//! The analytics figures the finance report needs from the redemption detail rows: each
//! pool's average discount per redemption in force (a percentage pool without a cap has
//! no face value; its history estimates one), and the coupon flows between an org and
//! each partner (partners' terminals honouring the org's coupons, and the org's terminals
//! honouring the partners'). Rolled-back redemptions are left out: a refund took the
//! discount back.

use super::schema::{self, Position};
use super::{Analytics, AnalyticsError};
use couponcactus_client::finance::CouponFlow;
use rusqlite::Transaction;
use std::collections::BTreeMap;

const POOL_DISCOUNTS: &str = "SELECT pool, COUNT(*), SUM(discount) FROM redemptions \
    WHERE org = ?1 AND rolled_back_height IS NULL GROUP BY pool";

/// Redemptions of the org's pools by other orgs' terminals, and by the org's terminals of
/// other orgs' pools: one row per (other org, direction, currency).
const PARTNER_FLOWS: &str = "SELECT signer_org, 0, currency, COUNT(*), SUM(discount) \
    FROM redemptions WHERE org = ?1 AND signer_org != ?1 AND rolled_back_height IS NULL \
    GROUP BY signer_org, currency \
    UNION ALL \
    SELECT org, 1, currency, COUNT(*), SUM(discount) FROM redemptions \
    WHERE signer_org = ?1 AND org != ?1 AND rolled_back_height IS NULL \
    GROUP BY org, currency";

/// Redemptions in force of one pool and the discount they gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolDiscount {
    /// Redemptions in force.
    pub redemptions: u64,
    /// Their discounts, minor units of the pool's currency.
    pub discount: u64,
}

impl PoolDiscount {
    /// The average discount per redemption, rounded down; `None` without redemptions.
    pub fn average(&self) -> Option<u64> {
        self.discount.checked_div(self.redemptions)
    }
}

/// What the finance report reads from the analytics store, and where it stood.
#[derive(Clone, Debug, Default)]
pub struct FinanceFigures {
    /// The ingestion position the figures cover.
    pub at: Position,
    /// Per pool id.
    pub pools: BTreeMap<String, PoolDiscount>,
    /// Per partner and currency, in (partner, currency) order.
    pub flows: Vec<CouponFlow>,
}

impl Analytics {
    /// `org`'s pool discounts and partner coupon flows, read in one transaction.
    pub fn finance_figures(&self, org: &str) -> Result<FinanceFigures, AnalyticsError> {
        let mut conn = self.reader();
        let tx = conn.transaction()?;
        let figures = FinanceFigures {
            at: schema::position(&tx)?,
            pools: pool_discounts(&tx, org)?,
            flows: partner_flows(&tx, org)?,
        };
        tx.commit()?;
        Ok(figures)
    }
}

fn pool_discounts(
    tx: &Transaction<'_>,
    org: &str,
) -> Result<BTreeMap<String, PoolDiscount>, AnalyticsError> {
    let mut stmt = tx.prepare_cached(POOL_DISCOUNTS)?;
    let rows = stmt.query_map([org], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (pool, n, sum) = row?;
        let d = PoolDiscount {
            redemptions: u64::try_from(n).unwrap_or(0),
            discount: u64::try_from(sum).unwrap_or(0),
        };
        out.insert(pool, d);
    }
    Ok(out)
}

fn partner_flows(tx: &Transaction<'_>, org: &str) -> Result<Vec<CouponFlow>, AnalyticsError> {
    let mut stmt = tx.prepare_cached(PARTNER_FLOWS)?;
    let rows = stmt.query_map([org], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut by_key: BTreeMap<(String, String), CouponFlow> = BTreeMap::new();
    for row in rows {
        let (partner, direction, currency, n, sum) = row?;
        let flow = by_key
            .entry((partner.clone(), currency.clone()))
            .or_insert_with(|| CouponFlow {
                partner,
                currency,
                honoured_by_partner: 0,
                discount_by_partner: 0,
                honoured_for_partner: 0,
                discount_for_partner: 0,
            });
        let (n, sum) = (
            u64::try_from(n).unwrap_or(0),
            u64::try_from(sum).unwrap_or(0),
        );
        if direction == 0 {
            (flow.honoured_by_partner, flow.discount_by_partner) = (n, sum);
        } else {
            (flow.honoured_for_partner, flow.discount_for_partner) = (n, sum);
        }
    }
    Ok(by_key.into_values().collect())
}
