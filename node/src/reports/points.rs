//! Points and stored-value liability of one org's program: what it owes its members per
//! segment (the ledger's `Liability` record, kept by consensus) and what of it is due or
//! expires within 30, 60 and 90 days of a given time: a bounded scan of the org's accounts
//! ([`MAX_ACCOUNTS`]), lots by their own date and whole segments by their inactivity
//! deadline, whichever comes first. Used by the finance report and the console's balances
//! page.

use super::ReportsError;
use super::scan::{prefix_of, visit};
use crate::storage::{StorageError, Store};
use couponcactus_chaincode::ids::{MemberId, OrgId};
use couponcactus_chaincode::loyalty::{
    Account, DAY_MS, ExpiryPolicy, Liability, Lot, ProgramSpec, Segment, Unit,
};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_client::finance::{PointsLiability, SegmentLiability};
use std::collections::BTreeMap;

/// Most accounts the expiry figures cover (the answer says when there are more).
pub const MAX_ACCOUNTS: usize = 100_000;
/// The horizons of the expiry figures, days (cumulative: each counts the earlier ones).
pub const HORIZONS_DAYS: [u64; 3] = [30, 60, 90];

/// What of one segment is due or expires soon (amounts in the segment's unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expiring {
    /// Past its date (or its inactivity deadline) already, not yet expired by a tx: the
    /// next tx on the account, or an `expire_balances`, expires it.
    pub due: u64,
    /// Expiring in (now, now + [`HORIZONS_DAYS`]`[i]` days].
    pub within: [u64; 3],
}

/// When `lot` stops counting: its own date, or its segment's inactivity deadline
/// (`last_activity_ms` + `idle_days`), whichever is first; `None`: neither.
pub fn deadline(lot: &Lot, idle_days: Option<u32>, last_activity_ms: u64) -> Option<u64> {
    let idle = idle_days.map(|d| last_activity_ms.saturating_add(u64::from(d) * DAY_MS));
    match (lot.expires_ms, idle) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Adds what `account`'s lots have expiring after `now_ms` under `program` to `sums`.
pub fn add_account(
    sums: &mut BTreeMap<Segment, Expiring>,
    program: &ProgramSpec,
    account: &Account,
    now_ms: u64,
) {
    let idle: BTreeMap<Segment, u32> = program
        .segments
        .iter()
        .filter_map(|r| match r.expiry {
            ExpiryPolicy::Inactivity { days } => Some((r.segment, days)),
            _ => None,
        })
        .collect();
    for lot in account.lots.values() {
        let idle_days = idle.get(&lot.segment).copied();
        let Some(at) = deadline(lot, idle_days, account.last_activity_ms) else {
            continue;
        };
        let entry = sums.entry(lot.segment).or_default();
        if at <= now_ms {
            entry.due = entry.due.saturating_add(lot.remaining);
            continue;
        }
        for (sum, days) in entry.within.iter_mut().zip(HORIZONS_DAYS) {
            if at - now_ms <= days * DAY_MS {
                *sum = sum.saturating_add(lot.remaining);
            }
        }
    }
}

/// The org's accounts under `program` (at most `max`): expiring amounts per segment, the
/// accounts counted, and whether more were left uncounted.
pub fn expiring(
    store: &Store,
    org: &OrgId,
    program: &ProgramSpec,
    now_ms: u64,
    max: usize,
) -> Result<(BTreeMap<Segment, Expiring>, usize, bool), StorageError> {
    let prefix = prefix_of(StateKey::Account(org.clone(), MemberId([0; 32])));
    let mut sums = BTreeMap::new();
    let mut accounts = 0usize;
    let (_, more) = visit(store, &prefix, max, |_, value| {
        if let StateValue::Account(account) = value {
            accounts += 1;
            add_account(&mut sums, program, &account, now_ms);
        }
    })?;
    Ok((sums, accounts, more))
}

/// What `segment` counts in `program` (a segment it no longer keeps: mileage points, the
/// others its currency).
pub fn unit_of(program: &ProgramSpec, segment: Segment) -> Unit {
    match program.segment(segment) {
        Ok(rule) => rule.unit,
        Err(_) if segment == Segment::Mileage => Unit::Points,
        Err(_) => Unit::Money {
            currency: program.currency,
        },
    }
}

/// `org`'s program liability at the current state, expiry measured from `now_ms`;
/// `None` when the org runs no program.
pub fn points_liability(
    store: &Store,
    org: &OrgId,
    now_ms: u64,
    max_accounts: usize,
) -> Result<Option<PointsLiability>, ReportsError> {
    let Some(StateValue::Program(program)) = store.get(&StateKey::Program(org.clone()))? else {
        return Ok(None);
    };
    let liability = match store.get(&StateKey::Liability(org.clone()))? {
        Some(StateValue::Liability(l)) => l,
        _ => Liability::default(),
    };
    let spec = &program.spec;
    let (sums, accounts, truncated) = expiring(store, org, spec, now_ms, max_accounts)?;
    let mut segments: Vec<Segment> = spec.segments.iter().map(|r| r.segment).collect();
    segments.extend(liability.by_segment.keys().copied());
    segments.sort();
    segments.dedup();
    let rows = segments
        .into_iter()
        .map(|segment| {
            let e = sums.get(&segment).copied().unwrap_or_default();
            SegmentLiability {
                segment: segment.name().into(),
                unit: match unit_of(spec, segment) {
                    Unit::Points => "points".into(),
                    Unit::Money { currency } => currency.to_string(),
                },
                outstanding: liability.by_segment.get(&segment).copied().unwrap_or(0),
                due: e.due,
                within_30_days: e.within[0],
                within_60_days: e.within[1],
                within_90_days: e.within[2],
            }
        })
        .collect();
    Ok(Some(PointsLiability {
        program: spec.name.clone(),
        version: program.version,
        segments: rows,
        accounts_scanned: accounts as u64,
        truncated,
    }))
}
