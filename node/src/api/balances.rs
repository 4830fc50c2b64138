//! Signed, proven reads of loyalty state (issue 19): an org's program, a member's
//! balances and lots, the org's liability per segment, and what a partner and the
//! program owe each other.
//!
//! Each answer carries the record with its state proof and the header of the height read
//! ([`ReadAt`]), as the coupon reads do ([`super::reads`]). A member's balances are also
//! given as numbers computed from the proven lots at that block's time (spendable,
//! pending), so a terminal needs no loyalty arithmetic; a verifier recomputes them from
//! the proven account. A member without an account answers 200 with zero balances and
//! the key's proof of absence: "no balance" is provable too.
//!
//! Who reads what: the program's org (any of its keys), its partner orgs (their keys:
//! terminals earn and spend there) and auditors read programs and balances; the
//! liability is the org's admins' and issuers' and the auditors'; a settlement is the
//! two orgs' admins' and issuers' and the auditors'.

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::reads::{HeightQuery, ReadAt, read_at};
use super::{ApiError, AppState, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::ids::{MemberId, OrgId};
use couponcactus_chaincode::loyalty::{Account, Liability, ProgramRecord, Segment, Settlement};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::Role;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An org's program with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProgramView {
    /// The program.
    #[schema(value_type = Object)]
    pub program: ProgramRecord,
    /// Where it was read.
    pub at: ReadAt,
    /// The program key's proof.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// A member's balances in a program, with the account's proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// The program's org.
    #[schema(value_type = String)]
    pub program: OrgId,
    /// The member.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// Everything held, per segment (pending lots included).
    #[schema(value_type = Object)]
    pub balances: BTreeMap<Segment, u64>,
    /// Spendable at the block time of the height read.
    #[schema(value_type = Object)]
    pub spendable: BTreeMap<Segment, u64>,
    /// The tier held (its name), if the program has tiers.
    pub tier: Option<String>,
    /// The account (lots, earn log, tier state); `null` when the member has none.
    #[schema(value_type = Option<Object>)]
    pub account: Option<Account>,
    /// Where it was read (`at.header.time_ms` is the time `spendable` is computed at).
    pub at: ReadAt,
    /// The account key's proof (value `null`: no account, every balance 0).
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// An org's liability per segment with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LiabilityView {
    /// The program's org.
    #[schema(value_type = String)]
    pub program: OrgId,
    /// Outstanding per segment (the sum of every member's balance).
    #[schema(value_type = Object)]
    pub liability: Liability,
    /// Where it was read.
    pub at: ReadAt,
    /// The liability key's proof (value `null`: nothing owed).
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// What a partner and a program owe each other, with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SettlementView {
    /// The program's org.
    #[schema(value_type = String)]
    pub program: OrgId,
    /// The partner org.
    #[schema(value_type = String)]
    pub partner: OrgId,
    /// Credited by the partner (it owes the program) and spent at the partner (the
    /// program owes it), per segment.
    #[schema(value_type = Object)]
    pub settlement: Settlement,
    /// Per segment, credited minus spent: positive, the partner owes the program;
    /// negative, the program owes the partner.
    #[schema(value_type = Object)]
    pub net: BTreeMap<Segment, i128>,
    /// Where it was read.
    pub at: ReadAt,
    /// The settlement key's proof (value `null`: nothing owed either way).
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Reads an org's loyalty program with a state proof.
#[utoipa::path(
    get,
    path = "/v1/programs/{org}",
    tag = "loyalty",
    params(("org" = String, Path, description = "The program's org", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), HeightQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The program, proven at the height read", body = ProgramView),
        (status = 400, description = "A malformed org or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Neither the org's key, a partner's nor an auditor's", body = super::ErrorResponse),
        (status = 404, description = "The org runs no program at that height: `at` and `proof` (value null) prove it", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn get_program(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(org): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<ProgramView>, ApiError> {
    let org: OrgId = parse("org", &org)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let (program, at, proof) = proven_program(store, &reader, &org, query.height)?;
        Ok(Json(ProgramView { program, at, proof }))
    })
    .await
}

/// The program at the height read, checked readable by `reader`.
fn proven_program(
    store: &Store,
    reader: &Reader,
    org: &OrgId,
    height: Option<u64>,
) -> Result<(ProgramRecord, ReadAt, ProvenValue), ApiError> {
    let at = read_at(store, height)?;
    let proof = prove(store, &StateKey::Program(org.clone()), at.height)?;
    let Some(StateValue::Program(program)) = proof.value.clone() else {
        if !reader.is_auditor() && &reader.record.org != org {
            return Err(forbidden(reader, org));
        }
        let message = format!("{org} runs no loyalty program at height {}", at.height);
        return Err(ApiError::absent(message, at, proof));
    };
    let partner = program.spec.partner_orgs.contains(&reader.record.org);
    if !(reader.is_auditor() || &reader.record.org == org || partner) {
        return Err(forbidden(reader, org));
    }
    Ok((program, at, proof))
}

fn forbidden(reader: &Reader, org: &OrgId) -> ApiError {
    ApiError::Forbidden(format!(
        "key {} ({} of {}) may not read {org}'s loyalty program",
        reader.key,
        reader.record.role.name(),
        reader.record.org
    ))
}

/// Reads a member's balances and lots in a program, with the account's proof.
#[utoipa::path(
    get,
    path = "/v1/programs/{org}/members/{member}",
    tag = "loyalty",
    params(
        ("org" = String, Path, description = "The program's org", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        ("member" = String, Path, description = "Member id (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$"),
        HeightQuery,
    ),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The member's balances, spendable amounts and account, proven at the height read (a member without an account: zero balances and a proof of absence)", body = BalanceView),
        (status = 400, description = "A malformed org, member or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Neither the org's key, a partner's nor an auditor's", body = super::ErrorResponse),
        (status = 404, description = "The org runs no program at that height (proven)", body = super::error::NotFoundProof),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn member_balance(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<BalanceView>, ApiError> {
    let org: OrgId = parse("org", &org)?;
    let member: MemberId = parse("member id", &member)?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let (program, at, _) = proven_program(store, &reader, &org, query.height)?;
        let proof = prove(store, &StateKey::Account(org.clone(), member), at.height)?;
        let account = match proof.value.clone() {
            Some(StateValue::Account(a)) => Some(a),
            _ => None,
        };
        let now_ms = at.header.as_ref().map_or(0, |h| h.time_ms);
        let held = account.clone().unwrap_or_default();
        let tier = program
            .spec
            .tiers
            .tiers
            .get(usize::from(held.tier.index))
            .map(|t| t.name.clone());
        Ok(Json(BalanceView {
            program: org,
            member,
            balances: held.balances(),
            spendable: held.spendable(now_ms),
            tier,
            account,
            at,
            proof,
        }))
    })
    .await
}

/// Reads an org's loyalty liability per segment, with its proof.
#[utoipa::path(
    get,
    path = "/v1/programs/{org}/liability",
    tag = "loyalty",
    params(("org" = String, Path, description = "The program's org", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"), HeightQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "What the program owes its members per segment, proven at the height read", body = LiabilityView),
        (status = 400, description = "A malformed org or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Not an org admin's or issuer's key of the org, nor an auditor's", body = super::ErrorResponse),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn liability(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(org): ApiPath<String>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<LiabilityView>, ApiError> {
    let org: OrgId = parse("org", &org)?;
    check_staff(&reader, &[&org])?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let proof = prove(store, &StateKey::Liability(org.clone()), at.height)?;
        let liability = match proof.value.clone() {
            Some(StateValue::Liability(l)) => l,
            _ => Liability::default(),
        };
        Ok(Json(LiabilityView {
            program: org,
            liability,
            at,
            proof,
        }))
    })
    .await
}

/// Reads what a partner org and a program owe each other, with its proof.
#[utoipa::path(
    get,
    path = "/v1/programs/{org}/settlements/{partner}",
    tag = "loyalty",
    params(
        ("org" = String, Path, description = "The program's org", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        ("partner" = String, Path, description = "The partner org", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"),
        HeightQuery,
    ),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Credited by the partner, spent at the partner and the net per segment, proven at the height read", body = SettlementView),
        (status = 400, description = "A malformed org or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Not an org admin's or issuer's key of either org, nor an auditor's", body = super::ErrorResponse),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn settlement(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((org, partner)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<HeightQuery>,
) -> Result<Json<SettlementView>, ApiError> {
    let org: OrgId = parse("org", &org)?;
    let partner: OrgId = parse("partner org", &partner)?;
    check_staff(&reader, &[&org, &partner])?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let key = StateKey::Settlement(org.clone(), partner.clone());
        let proof = prove(store, &key, at.height)?;
        let settlement = match proof.value.clone() {
            Some(StateValue::Settlement(s)) => s,
            _ => Settlement::default(),
        };
        let net = settlement.net();
        Ok(Json(SettlementView {
            program: org,
            partner,
            settlement,
            net,
            at,
            proof,
        }))
    })
    .await
}

/// An auditor, or an org admin's or issuer's key of one of `orgs`.
fn check_staff(reader: &Reader, orgs: &[&OrgId]) -> Result<(), ApiError> {
    let staff = matches!(reader.record.role, Role::OrgAdmin | Role::Issuer)
        && orgs.contains(&&reader.record.org);
    if reader.is_auditor() || staff {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "key {} ({} of {}) may not read this: org admins and issuers of {} and auditors may",
        reader.key,
        reader.record.role.name(),
        reader.record.org,
        orgs.iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_net_is_credited_minus_spent_per_segment() {
        let mut s = Settlement::default();
        s.credited.insert(Segment::Mileage, 200);
        s.spent.insert(Segment::Mileage, 250);
        s.spent.insert(Segment::Gift, 10);
        let net = s.net();
        assert_eq!(net[&Segment::Mileage], -50);
        assert_eq!(net[&Segment::Gift], -10);
    }
}
