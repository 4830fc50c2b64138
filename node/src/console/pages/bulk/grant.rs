//! Bulk grant (`/console/bulk/grant`): a CSV of `pool,member[,claim]` rows becomes one
//! batch of signed `allocate` txs, each handing the pool's next unallocated coupon to the
//! member (the steps and the idempotency are the parent module's).
//!
//! `member` is the member's pseudonymous id (64 hex digits, as the API and the member page
//! take it). `claim` is the allocation's idempotency key as `cactus allocate --claim`
//! takes it (64 hex digits as they are, any other text hashed); without one, the claim is
//! derived from the confirmation's key and the line, so a confirmation posted again claims
//! the same and the ledger hands back the same token. A row passes when its pool is an
//! active unique-codes pool of the org that has not ended, its claim was not used before,
//! the member stays within the pool's per-member cap, the pool has an unallocated coupon
//! left for it (counted per pool, in file order) and it is not repeated in the file. This
//! module owns those checks ([`check`], over any [`StateReader`], unit-tested), the page
//! with its per-pool impact (coupons granted, unallocated left, face value) and the
//! result file's lines ([`Grant`]).

use super::super::super::Console;
use super::super::super::view::{self, PageError};
use super::{Confirmation, Outcome, cell};
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::{ClaimKey, MemberId, OrgId, PoolId, TokenId};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{AllocateTx, TxKind};
use couponcactus_chaincode::types::{
    Discount, PoolKind, PoolRecord, PoolSpec, PoolStatus, TokenStatus,
};
use couponcactus_client::keys::claim_key_from_text;
use couponcactus_client::tx_builder::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest claim text.
pub const MAX_CLAIM_CHARS: usize = 200;
/// Most tokens past a pool's allocation cursor read to count its unallocated coupons.
const MAX_SCAN: u64 = 20_000;
/// What a derived claim is derived for ([`Confirmation::derive`]).
const CLAIM_PURPOSE: &str = "grant claim";

/// One checked row.
#[derive(Clone, Debug, Serialize)]
pub(in super::super) struct Row {
    /// 1-based line in the CSV (the header is line 1).
    line: usize,
    pool: String,
    member: String,
    /// The claim as typed (empty: derived).
    claim: String,
    /// Why it will not be granted (`None`: it will).
    problem: Option<String>,
    #[serde(skip)]
    tx: Option<AllocateTx>,
}

/// A CSV line as typed.
#[derive(Debug, Deserialize)]
struct CsvRow {
    pool: String,
    member: String,
    #[serde(default)]
    claim: Option<String>,
}

/// The grant's impact on one pool.
#[derive(Debug, Serialize)]
pub(in super::super) struct Impact {
    pool: String,
    name: String,
    granted: u64,
    allocated: u64,
    unallocated: u64,
    after: u64,
    value: String,
}

impl Row {
    fn refused(line: usize, r: &CsvRow, why: String) -> Row {
        Row {
            line,
            pool: cell(&r.pool),
            member: cell(&r.member),
            claim: cell(r.claim.as_deref().unwrap_or_default()),
            problem: Some(why),
            tx: None,
        }
    }
}

/// Checks a row's own text (ids and claim) and makes its tx; the claim, when not given,
/// is derived from `confirmation` and the line.
fn parse_row(line: usize, r: CsvRow, confirmation: &Confirmation) -> Row {
    let Ok(pool) = PoolId::new(r.pool.as_str()) else {
        let why = "not a pool id: a-z, 0-9, '-', '_' and '.', e.g. spring-sale".into();
        return Row::refused(line, &r, why);
    };
    let Ok(member) = r.member.parse::<MemberId>() else {
        let why = "not a member id: give the member's 64 hex digits".into();
        return Row::refused(line, &r, why);
    };
    let typed = r.claim.clone().unwrap_or_default();
    if typed.chars().count() > MAX_CLAIM_CHARS {
        let why = format!("the claim is over {MAX_CLAIM_CHARS} characters");
        return Row::refused(line, &r, why);
    }
    let claim = match typed.as_str() {
        "" => ClaimKey(confirmation.derive(CLAIM_PURPOSE, line)),
        text => claim_key_from_text(text),
    };
    Row {
        line,
        pool: pool.to_string(),
        member: member.to_hex(),
        claim: typed,
        problem: None,
        tx: Some(AllocateTx {
            pool,
            member,
            claim,
        }),
    }
}

/// Why pool `id` (`None`: not on the chain) grants nothing at time `now`, if it does not.
fn pool_problem(id: &PoolId, pool: Option<&PoolRecord>, org: &OrgId, now: u64) -> Option<String> {
    let Some(pool) = pool else {
        return Some(format!("no pool {id}"));
    };
    if &pool.owner != org {
        return Some(format!(
            "pool {id} is not the org's: it belongs to {}",
            pool.owner
        ));
    }
    if pool.spec.kind != PoolKind::UniqueCodes {
        return Some(format!(
            "pool {id} has one shared code: it is redeemed by code, not granted"
        ));
    }
    if pool.status != PoolStatus::Active {
        return Some(format!(
            "pool {id} is {}: only an active pool grants",
            pool.status.name()
        ));
    }
    if now >= pool.spec.valid_until_ms {
        return Some(format!("pool {id} has ended"));
    }
    None
}

fn state_error(e: couponcactus_chaincode::state::StateError) -> PageError {
    PageError::Internal(format!("node database: {e}"))
}

/// The pool `id`, if any.
fn read_pool<S: StateReader>(state: &S, id: &PoolId) -> Result<Option<PoolRecord>, PageError> {
    match state
        .get(&StateKey::Pool(id.clone()))
        .map_err(state_error)?
    {
        Some(StateValue::Pool(p)) => Ok(Some(p)),
        _ => Ok(None),
    }
}

/// Why the claim of `tx` cannot hand out a new coupon, if it was used before.
fn claim_problem<S: StateReader>(state: &S, tx: &AllocateTx) -> Result<Option<String>, PageError> {
    let key = StateKey::Claim(tx.pool.clone(), tx.claim);
    let Some(StateValue::Claim(serial)) = state.get(&key).map_err(state_error)? else {
        return Ok(None);
    };
    let token = TokenId {
        pool: tx.pool.clone(),
        serial,
    };
    let owner = match state
        .get(&StateKey::Token(token.clone()))
        .map_err(state_error)?
    {
        Some(StateValue::Token(t)) => t.owner,
        _ => None,
    };
    Ok(Some(if owner == Some(tx.member) {
        format!("granted already with this claim: {token}")
    } else {
        "this claim was used for another member".into()
    }))
}

/// How many allocations `member` holds in `pool`.
fn held<S: StateReader>(state: &S, pool: &PoolId, member: &MemberId) -> Result<u64, PageError> {
    let key = StateKey::MemberAllocations(pool.clone(), *member);
    match state.get(&key).map_err(state_error)? {
        Some(StateValue::Count(n)) => Ok(u64::from(n)),
        _ => Ok(0),
    }
}

/// The pool's unallocated coupons: tokens past its allocation cursor that are still
/// available, read until `wanted` are found (at most [`MAX_SCAN`] read; tokens not read
/// count as available, as the ledger's cursor would find them).
fn unallocated<S: StateReader>(
    state: &S,
    pool: &PoolRecord,
    wanted: u64,
) -> Result<u64, PageError> {
    let end = pool.issued.min(pool.next_free.saturating_add(MAX_SCAN));
    let (mut found, mut skipped, mut serial) = (0u64, 0u64, pool.next_free);
    while serial < end && found < wanted {
        let id = TokenId {
            pool: pool.id.clone(),
            serial,
        };
        match state.get(&StateKey::Token(id)).map_err(state_error)? {
            Some(StateValue::Token(t)) if t.status == TokenStatus::Available => found += 1,
            _ => skipped += 1,
        }
        serial += 1;
    }
    Ok(pool
        .issued
        .saturating_sub(pool.next_free)
        .saturating_sub(skipped))
}

/// Why `tx` gets no coupon of its (grantable) `pool`: its claim was used, or the member
/// would pass the cap with the rows before it (`holds`: allocations counted so far).
fn member_problem<S: StateReader>(
    state: &S,
    tx: &AllocateTx,
    pool: &PoolRecord,
    holds: &mut BTreeMap<(PoolId, MemberId), u64>,
) -> Result<Option<String>, PageError> {
    if let Some(why) = claim_problem(state, tx)? {
        return Ok(Some(why));
    }
    let key = (tx.pool.clone(), tx.member);
    let before = match holds.get(&key) {
        Some(n) => *n,
        None => held(state, &tx.pool, &tx.member)?,
    };
    holds.insert(key, before + 1);
    let cap = u64::from(pool.spec.per_member_cap);
    Ok((before + 1 > cap)
        .then(|| format!("the member would hold more than {cap}, the pool's cap per member")))
}

/// Checks the rows against the chain (`state`, the org `org`, at `now`): the pool, the
/// claim and the member's cap row by row, then the pools' unallocated coupons in file
/// order. Rows that fail keep their tx (a confirmation posted again finds it committed).
fn check_chain<S: StateReader>(
    state: &S,
    org: &OrgId,
    now: u64,
    rows: &mut [Row],
) -> Result<(), PageError> {
    let mut pools: BTreeMap<PoolId, Option<PoolRecord>> = BTreeMap::new();
    let mut holds: BTreeMap<(PoolId, MemberId), u64> = BTreeMap::new();
    let mut wanted: BTreeMap<PoolId, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter_mut().enumerate() {
        let Some(tx) = row.tx.as_ref().filter(|_| row.problem.is_none()) else {
            continue;
        };
        if !pools.contains_key(&tx.pool) {
            pools.insert(tx.pool.clone(), read_pool(state, &tx.pool)?);
        }
        let pool = pools.get(&tx.pool).and_then(Option::as_ref);
        row.problem = match (pool_problem(&tx.pool, pool, org, now), pool) {
            (None, Some(pool)) => member_problem(state, tx, pool, &mut holds)?,
            (why, _) => why,
        };
        if row.problem.is_none() {
            wanted.entry(tx.pool.clone()).or_default().push(i);
        }
    }
    for (id, indexes) in wanted {
        let Some(Some(pool)) = pools.get(&id) else {
            continue;
        };
        let free = unallocated(state, pool, indexes.len() as u64)?;
        for &i in indexes
            .iter()
            .skip(usize::try_from(free).unwrap_or(usize::MAX))
        {
            rows[i].problem = Some(format!("pool {id} would run out of unallocated coupons"));
        }
    }
    Ok(())
}

/// Parses and checks the CSV against `state`: every row, good or not (`Err`: the file as
/// a whole). Rows repeating a row's pool, member and claim text are refused.
fn check<S: StateReader>(
    state: &S,
    org: &OrgId,
    now: u64,
    confirmation: &Confirmation,
    text: &str,
) -> Result<Result<Vec<Row>, String>, PageError> {
    let help = "pool and member (64 hex digits), and optionally claim";
    let typed = match super::read_csv::<CsvRow>(text, &["pool", "member"], help) {
        Ok(typed) => typed,
        Err(e) => return Ok(Err(e)),
    };
    let mut rows = Vec::with_capacity(typed.len());
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (line, record) in typed {
        let mut row = match record {
            Ok(r) => parse_row(line, r, confirmation),
            Err(e) => Row::refused(line, &CsvRow::empty(), e),
        };
        if row.tx.is_some() {
            let key = (row.pool.clone(), row.member.clone(), row.claim.clone());
            if let Some(first) = seen.get(&key) {
                row.problem = Some(format!(
                    "repeats line {first} (give each a claim to grant a member more than one)"
                ));
                row.tx = None;
            } else {
                seen.insert(key, line);
            }
        }
        rows.push(row);
    }
    check_chain(state, org, now, &mut rows)?;
    Ok(Ok(rows))
}

impl CsvRow {
    fn empty() -> CsvRow {
        CsvRow {
            pool: String::new(),
            member: String::new(),
            claim: None,
        }
    }
}

/// What granting `count` coupons of a pool with `spec` is worth.
fn value(spec: &PoolSpec, count: u64) -> String {
    let currency = spec.currency.to_string();
    let money = |minor: u64| view::money(i64::try_from(minor).unwrap_or(i64::MAX), &currency);
    match spec.discount {
        Discount::Fixed { amount_minor } => format!(
            "{} face value ({} each)",
            money(amount_minor.saturating_mul(count)),
            money(amount_minor)
        ),
        Discount::Percent { bps } => {
            let pct = format!("{}.{:02} % off", bps / 100, bps % 100);
            match spec.max_discount_minor {
                Some(max) => format!(
                    "{pct}, at most {} in all ({} each)",
                    money(max.saturating_mul(count)),
                    money(max)
                ),
                None => format!("{pct} each order: no fixed face value"),
            }
        }
    }
}

/// Per pool: coupons granted, allocated and unallocated now, left after, value.
fn per_pool(console: &Console, rows: &[Row]) -> Result<Vec<Impact>, PageError> {
    let mut counts: BTreeMap<PoolId, u64> = BTreeMap::new();
    for tx in rows
        .iter()
        .filter(|r| r.problem.is_none())
        .filter_map(|r| r.tx.as_ref())
    {
        *counts.entry(tx.pool.clone()).or_default() += 1;
    }
    let store = console.node.store();
    let mut out = Vec::with_capacity(counts.len());
    for (id, granted) in counts {
        let Some(pool) = read_pool(store, &id)? else {
            continue;
        };
        let free = unallocated(store, &pool, granted)?;
        out.push(Impact {
            pool: id.to_string(),
            name: pool.spec.name.clone(),
            granted,
            allocated: pool.allocated,
            unallocated: free,
            after: free.saturating_sub(granted),
            value: value(&pool.spec, granted),
        });
    }
    Ok(out)
}

/// The result file's line of `row`: the token it got, or why not.
fn result_line(row: Row, outcome: &Outcome) -> Vec<String> {
    let token = match outcome {
        Outcome::Applied { events, .. } => events.iter().find_map(|e| match e {
            Event::Allocated { token, .. } => Some(token.to_string()),
            _ => None,
        }),
        _ => None,
    };
    let [result, detail, tx] = outcome.cells("allocated");
    let (line, pool, member) = (row.line.to_string(), row.pool, row.member);
    vec![
        line,
        pool,
        member,
        result,
        token.unwrap_or_default(),
        detail,
        tx,
    ]
}

/// Bulk grant.
pub(in super::super) struct Grant;

impl super::Kind for Grant {
    type Row = Row;
    type Impact = Impact;
    const TEMPLATE: &'static str = "bulk_grant.html";
    const TITLE: &'static str = "Bulk grant";
    const WHAT: &'static str = "grant";
    const HEADER: &'static [&'static str] = &[
        "line", "pool", "member", "result", "token", "detail", "tx_id",
    ];
    const FILE: &'static str = "bulk-grant-result.csv";

    fn check(
        console: &Console,
        confirmation: &Confirmation,
        text: &str,
    ) -> Result<Result<Vec<Row>, String>, PageError> {
        let store = console.node.store();
        check(store, &console.org, now_ms(), confirmation, text)
    }

    fn passes(row: &Row) -> bool {
        row.problem.is_none()
    }

    fn per_pool(console: &Console, rows: &[Row]) -> Result<Vec<Impact>, PageError> {
        per_pool(console, rows)
    }

    fn plan(row: &Row) -> (usize, Option<TxKind>, Option<String>) {
        let kind = row.tx.clone().map(TxKind::Allocate);
        (row.line, kind, row.problem.clone())
    }

    fn result_line(row: Row, outcome: &Outcome) -> Vec<String> {
        result_line(row, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::ids::CodeHash;
    use couponcactus_chaincode::state::MemState;
    use couponcactus_chaincode::testkit::{member, org, pool_id, spec};
    use couponcactus_chaincode::types::{SealedCode, TokenRecord};

    const KEY: Confirmation = Confirmation {
        key: [7; 16],
        at_ms: 1,
    };

    fn pool(state: &mut MemState, name: &str, owner: &str, status: PoolStatus, issued: u64) {
        let mut s = spec(PoolKind::UniqueCodes);
        if name == "shared" {
            s.kind = PoolKind::SharedCode;
        }
        if name == "ended" {
            s.valid_until_ms = s.valid_from_ms;
        }
        let record = PoolRecord {
            id: pool_id(name),
            owner: org(owner),
            spec: s,
            status,
            created_at: 1,
            issued,
            allocated: 0,
            redeemed: 0,
            next_free: 0,
            shared_code: None,
        };
        state
            .0
            .insert(StateKey::Pool(pool_id(name)), StateValue::Pool(record));
    }

    fn token(state: &mut MemState, serial: u64, status: TokenStatus, owner: Option<MemberId>) {
        let id = TokenId {
            pool: pool_id("ours"),
            serial,
        };
        let record = TokenRecord {
            code_hash: CodeHash([serial as u8; 32]),
            sealed: SealedCode(vec![]),
            status,
            owner,
            claim: None,
        };
        state
            .0
            .insert(StateKey::Token(id), StateValue::Token(record));
    }

    /// Pool `ours` (acme's, active): 5 tokens issued and the cursor at 1: serial 0
    /// allocated to member 9 with claim `used`, 2 revoked, 1, 3 and 4 available, so 3
    /// coupons are unallocated. The other pools have one problem each.
    fn chain() -> MemState {
        let mut state = MemState::default();
        pool(&mut state, "ours", "acme", PoolStatus::Active, 5);
        if let Some(StateValue::Pool(p)) = state.0.get_mut(&StateKey::Pool(pool_id("ours"))) {
            p.next_free = 1;
            p.allocated = 1;
        }
        token(&mut state, 0, TokenStatus::Allocated, Some(member(9)));
        token(&mut state, 1, TokenStatus::Available, None);
        token(&mut state, 2, TokenStatus::Revoked, None);
        token(&mut state, 3, TokenStatus::Available, None);
        token(&mut state, 4, TokenStatus::Available, None);
        let used = StateKey::Claim(pool_id("ours"), claim_key_from_text("used"));
        state.0.insert(used, StateValue::Claim(0));
        let held = StateKey::MemberAllocations(pool_id("ours"), member(9));
        state.0.insert(held, StateValue::Count(1));
        pool(&mut state, "draft", "acme", PoolStatus::Draft, 5);
        pool(&mut state, "paused", "acme", PoolStatus::Paused, 5);
        pool(&mut state, "shared", "acme", PoolStatus::Active, 0);
        pool(&mut state, "ended", "acme", PoolStatus::Active, 5);
        pool(&mut state, "theirs", "other", PoolStatus::Active, 5);
        state
    }

    fn now() -> u64 {
        spec(PoolKind::UniqueCodes).valid_from_ms + 1
    }

    fn checked(csv: &str) -> Vec<Row> {
        check(&chain(), &org("acme"), now(), &KEY, csv)
            .unwrap()
            .unwrap()
    }

    fn m(n: u64) -> String {
        member(n).to_hex()
    }

    #[test]
    fn rows_are_checked_against_the_chain_in_file_order() {
        let csv = format!(
            "pool,member,claim\n\
             ours,{m1},\n\
             ours,{m9},used\n\
             ours,{m2},used\n\
             ours,{m9},another\n\
             ours,{m3},\n\
             ours,{m4},\n\
             ours,{m5},\n\
             draft,{m1},\n\
             paused,{m1},\n\
             shared,{m1},\n\
             ended,{m1},\n\
             theirs,{m1},\n\
             nope,{m1},\n",
            m1 = m(1),
            m2 = m(2),
            m3 = m(3),
            m4 = m(4),
            m5 = m(5),
            m9 = m(9)
        );
        let rows = checked(&csv);
        let problems: Vec<(usize, Option<&str>)> = rows
            .iter()
            .map(|r| (r.line, r.problem.as_deref()))
            .collect();
        let expected = [
            (2, None),
            (3, Some("granted already with this claim: ours/0")),
            (4, Some("this claim was used for another member")),
            (
                5,
                Some("the member would hold more than 1, the pool's cap per member"),
            ),
            (6, None),
            (7, None),
            (8, Some("pool ours would run out of unallocated coupons")),
            (9, Some("pool draft is draft: only an active pool grants")),
            (
                10,
                Some("pool paused is paused: only an active pool grants"),
            ),
            (
                11,
                Some("pool shared has one shared code: it is redeemed by code, not granted"),
            ),
            (12, Some("pool ended has ended")),
            (
                13,
                Some("pool theirs is not the org's: it belongs to other"),
            ),
            (14, Some("no pool nope")),
        ];
        assert_eq!(problems, expected);
        assert!(
            rows.iter().all(|r| r.tx.is_some()),
            "rows refused by the chain keep their tx (a repeated confirmation finds it)"
        );
    }

    #[test]
    fn bad_text_and_repeated_rows_get_no_tx() {
        let long = "x".repeat(MAX_CLAIM_CHARS + 1);
        let csv = format!(
            "member,pool,claim\n\
             {m1},ours\n\
             {m1},ours,\n\
             {m3},ours,a\n\
             {m3},ours,a\n\
             {m1},Ours,\n\
             12ab,ours,\n\
             {m2},ours,{long}\n",
            m1 = m(1),
            m2 = m(2),
            m3 = m(3),
        );
        let rows = checked(&csv);
        let problem = |line: usize| rows[line - 2].problem.clone().unwrap_or_default();
        assert_eq!(problem(2), "");
        assert!(problem(3).starts_with("repeats line 2"), "{rows:?}");
        assert_eq!(problem(4), "", "another claim is another grant");
        assert!(problem(5).starts_with("repeats line 4"), "{rows:?}");
        assert!(problem(6).starts_with("not a pool id"), "{rows:?}");
        assert!(problem(7).starts_with("not a member id"), "{rows:?}");
        assert!(problem(8).contains("over 200 characters"), "{rows:?}");
        for line in [3, 5, 6, 7, 8] {
            assert!(rows[line - 2].tx.is_none(), "line {line}");
            assert!(rows[line - 2].pool.chars().count() <= super::super::MAX_CELL_CHARS);
        }
        let e = check(&chain(), &org("acme"), now(), &KEY, "pool,claim\nours,a\n").unwrap();
        assert!(e.unwrap_err().contains("pool and member"));
    }

    #[test]
    fn claims_are_as_typed_or_derived_from_the_key_and_line() {
        let csv = format!("pool,member,claim\nours,{},\nours,{},mine\n", m(1), m(2));
        let rows = checked(&csv);
        let claim = |i: usize| rows[i].tx.as_ref().unwrap().claim;
        assert_eq!(claim(0), ClaimKey(KEY.derive(CLAIM_PURPOSE, 2)));
        assert_eq!(claim(1), claim_key_from_text("mine"));
        assert_eq!(
            checked(&csv)[0].tx,
            rows[0].tx,
            "the same key, the same claims"
        );
        let other = Confirmation {
            key: [8; 16],
            at_ms: 1,
        };
        let again = check(&chain(), &org("acme"), now(), &other, &csv)
            .unwrap()
            .unwrap();
        assert_ne!(again[0].tx, rows[0].tx, "another dry run, another claim");
        assert_eq!(again[1].tx, rows[1].tx, "a typed claim stays");
    }

    #[test]
    fn unallocated_coupons_skip_what_is_past_the_cursor_and_not_available() {
        let state = chain();
        let Some(StateValue::Pool(ours)) = state.0.get(&StateKey::Pool(pool_id("ours"))).cloned()
        else {
            panic!("the pool");
        };
        assert_eq!(unallocated(&state, &ours, 10).unwrap(), 3);
        assert_eq!(
            unallocated(&state, &ours, 0).unwrap(),
            4,
            "unread: counted free"
        );
    }

    #[test]
    fn the_budget_impact_is_the_face_value_times_the_count() {
        let mut s = spec(PoolKind::UniqueCodes);
        s.discount = Discount::Fixed { amount_minor: 500 };
        assert_eq!(value(&s, 3), "15.00 EUR face value (5.00 EUR each)");
        s.discount = Discount::Percent { bps: 1_250 };
        assert_eq!(value(&s, 3), "12.50 % off each order: no fixed face value");
        s.max_discount_minor = Some(1_000);
        assert_eq!(
            value(&s, 3),
            "12.50 % off, at most 30.00 EUR in all (10.00 EUR each)"
        );
        assert!(value(&s, u64::MAX).contains("EUR"), "no overflow");
    }
}
