//! Coupon liability of one org: per pool, how many coupons members hold that can still be
//! redeemed and what they may cost; what of it ends within 30, 60 and 90 days; and a
//! breakage estimate from the org's closed pools.
//!
//! **Outstanding.** A unique-code pool's outstanding coupons are its tokens in status
//! `allocated` (a bounded scan of its tokens, [`MAX_TOKENS`] over all pools); issued
//! tokens never allocated are shown (`available`) but not counted, since the ledger cannot
//! tell whether a printed code was handed out. A shared-code pool's are its uses left
//! (`total_cap − redeemed`). A pool is *open* while it is active or paused and its
//! validity has not ended; a draft, archived or ended pool owes nothing.
//!
//! **Face value** (per coupon, minor units of the pool's currency): a fixed discount's
//! amount (`fixed`); a percentage's cap (`cap`, an upper bound); a percentage without a
//! cap has none, so the average discount of its redemptions in force estimates it
//! (`average`, from the analytics store), or it is unknown (`unknown`, counted in
//! `unvalued_pools` and left out of the totals).
//!
//! **Breakage.** Over closed unique-code pools (archived, or past `valid_until`): the share
//! of allocated coupons (held or redeemed at the end) never redeemed. Applied to the open
//! liability it estimates what will not be redeemed, rounded down.

use super::ReportsError;
use super::scan::{prefix_without, visit};
use crate::analytics::finance::PoolDiscount;
use crate::storage::Store;
use couponcactus_chaincode::ids::{OrgId, TokenId};
use couponcactus_chaincode::loyalty::DAY_MS;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{Discount, PoolKind, PoolRecord, PoolStatus, TokenStatus};
use couponcactus_client::analytics::Rate;
use couponcactus_client::finance::{Breakage, CouponLiability, CurrencyLiability, PoolLiability};
use std::collections::BTreeMap;

/// Most tokens read over all the org's pools (`truncated` beyond).
pub const MAX_TOKENS: usize = 5_000_000;
/// The horizons of the "ends within" figures, days (cumulative).
pub const HORIZONS_DAYS: [u64; 3] = [30, 60, 90];

/// Status counts of one unique-code pool's tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    available: u64,
    allocated: u64,
    redeemed: u64,
    revoked: u64,
}

/// `org`'s coupon liability at the current state, `now_ms` the report's time and
/// `history` the analytics store's redemptions per pool.
pub fn coupon_liability(
    store: &Store,
    org: &OrgId,
    now_ms: u64,
    history: &BTreeMap<String, PoolDiscount>,
    max_tokens: usize,
) -> Result<CouponLiability, ReportsError> {
    let mut records = Vec::new();
    for id in store.pools_of(org)? {
        if let Some(StateValue::Pool(pool)) = store.get(&StateKey::Pool(id))? {
            records.push(pool);
        }
    }
    liability_of(store, &records, now_ms, history, max_tokens)
}

/// The liability of `records` (one org's pools) at `now_ms`.
pub fn liability_of(
    store: &Store,
    records: &[PoolRecord],
    now_ms: u64,
    history: &BTreeMap<String, PoolDiscount>,
    max_tokens: usize,
) -> Result<CouponLiability, ReportsError> {
    let mut budget = max_tokens;
    let (mut pools, mut closed) = (Vec::new(), Vec::new());
    let (mut scanned, mut truncated) = (0u64, false);
    for pool in records {
        let counts = match pool.spec.kind {
            PoolKind::UniqueCodes => {
                let (counts, seen, more) = token_counts(store, pool, budget)?;
                budget -= seen;
                scanned += seen as u64;
                truncated |= more;
                counts
            }
            PoolKind::SharedCode => Counts::default(),
        };
        let row = pool_row(pool, counts, now_ms, history);
        if !row.open && pool.spec.kind == PoolKind::UniqueCodes && pool.status != PoolStatus::Draft
        {
            closed.push(counts);
        }
        pools.push((row, pool.spec.valid_until_ms));
    }
    let breakage = breakage(&closed);
    let totals = totals(&pools, now_ms, &breakage.rate);
    Ok(CouponLiability {
        pools: pools.into_iter().map(|(row, _)| row).collect(),
        totals,
        breakage,
        tokens_scanned: scanned,
        truncated,
    })
}

/// Counts `pool`'s tokens by status, reading at most `max`: the counts, the tokens read
/// and whether some were left unread.
fn token_counts(
    store: &Store,
    pool: &PoolRecord,
    max: usize,
) -> Result<(Counts, usize, bool), ReportsError> {
    let first = TokenId {
        pool: pool.id.clone(),
        serial: 0,
    };
    // A token key ends with its serial, a fixed-width u64.
    let prefix = prefix_without(StateKey::Token(first), 8);
    let mut c = Counts::default();
    let (seen, more) = visit(store, &prefix, max, |_, value| {
        if let StateValue::Token(t) = value {
            match t.status {
                TokenStatus::Available => c.available += 1,
                TokenStatus::Allocated => c.allocated += 1,
                TokenStatus::Redeemed { .. } => c.redeemed += 1,
                TokenStatus::Revoked => c.revoked += 1,
            }
        }
    })?;
    Ok((c, seen, more))
}

/// The face value of one coupon of `pool` and how it was found.
fn face_value(
    pool: &PoolRecord,
    history: &BTreeMap<String, PoolDiscount>,
) -> (Option<u64>, &'static str) {
    match (&pool.spec.discount, pool.spec.max_discount_minor) {
        (Discount::Fixed { amount_minor }, cap) => (
            Some(cap.map_or(*amount_minor, |c| c.min(*amount_minor))),
            "fixed",
        ),
        (Discount::Percent { .. }, Some(cap)) => (Some(cap), "cap"),
        (Discount::Percent { .. }, None) => {
            match history
                .get(pool.id.as_str())
                .and_then(PoolDiscount::average)
            {
                Some(avg) => (Some(avg), "average"),
                None => (None, "unknown"),
            }
        }
    }
}

fn pool_row(
    pool: &PoolRecord,
    c: Counts,
    now_ms: u64,
    history: &BTreeMap<String, PoolDiscount>,
) -> PoolLiability {
    let open = matches!(pool.status, PoolStatus::Active | PoolStatus::Paused)
        && pool.spec.valid_until_ms > now_ms;
    let (issued, outstanding, redeemed) = match pool.spec.kind {
        PoolKind::UniqueCodes => (pool.issued, c.allocated, c.redeemed),
        PoolKind::SharedCode => {
            let cap = pool.spec.total_cap;
            let left = if pool.shared_code.is_some() {
                cap.saturating_sub(pool.redeemed)
            } else {
                0
            };
            (cap, left, pool.redeemed)
        }
    };
    let (face, basis) = face_value(pool, history);
    let liability = match (open, face) {
        (true, Some(f)) => outstanding.saturating_mul(f),
        _ => 0,
    };
    PoolLiability {
        pool: pool.id.to_string(),
        name: pool.spec.name.clone(),
        status: pool.status.name().into(),
        kind: match pool.spec.kind {
            PoolKind::UniqueCodes => "unique_codes".into(),
            PoolKind::SharedCode => "shared_code".into(),
        },
        currency: pool.spec.currency.to_string(),
        valid_until_ms: pool.spec.valid_until_ms,
        open,
        issued,
        available: c.available,
        redeemed,
        revoked: c.revoked,
        outstanding,
        face_value: face,
        face_basis: basis.into(),
        liability,
    }
}

fn breakage(closed: &[Counts]) -> Breakage {
    let with_allocations: Vec<&Counts> = closed
        .iter()
        .filter(|c| c.allocated + c.redeemed > 0)
        .collect();
    let allocated: u64 = with_allocations
        .iter()
        .map(|c| c.allocated + c.redeemed)
        .sum();
    let unredeemed: u64 = with_allocations.iter().map(|c| c.allocated).sum();
    Breakage {
        closed_pools: with_allocations.len() as u64,
        allocated,
        unredeemed,
        rate: Rate::of(unredeemed, allocated),
    }
}

/// Per currency: the open liability, what of it ends within each horizon, pools without
/// a face value, and the breakage estimate.
fn totals(pools: &[(PoolLiability, u64)], now_ms: u64, rate: &Rate) -> Vec<CurrencyLiability> {
    let mut by: BTreeMap<&str, CurrencyLiability> = BTreeMap::new();
    for (row, until) in pools.iter().filter(|(r, _)| r.open) {
        let t = by
            .entry(&row.currency)
            .or_insert_with(|| CurrencyLiability {
                currency: row.currency.clone(),
                ..CurrencyLiability::default()
            });
        if row.face_value.is_none() && row.outstanding > 0 {
            t.unvalued_pools += 1;
        }
        t.liability = t.liability.saturating_add(row.liability);
        let left = until - now_ms;
        let ends = HORIZONS_DAYS.map(|d| left <= d * DAY_MS);
        let sums = [
            &mut t.ending_within_30_days,
            &mut t.ending_within_60_days,
            &mut t.ending_within_90_days,
        ];
        for (sum, ends) in sums.into_iter().zip(ends) {
            if ends {
                *sum = sum.saturating_add(row.liability);
            }
        }
    }
    by.into_values()
        .map(|mut t| {
            t.estimated_breakage = (rate.den > 0).then(|| {
                let v = u128::from(t.liability) * u128::from(rate.num) / u128::from(rate.den);
                u64::try_from(v).unwrap_or(u64::MAX)
            });
            t
        })
        .collect()
}
