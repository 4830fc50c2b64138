//! Reads of a member's consent records and erasure receipt (issue 21's
//! `StateKey::Consent` and `StateKey::Erasure`): `GET /v1/members/{member}/consent`.
//!
//! One answer names every purpose the org may record for the member — marketing,
//! profiling, and sharing with each other org of the consortium at the height read — each
//! with the state proof of the org's latest record or of its absence, and the erasure key's
//! proof, all at one height, so `cactus consent show` proves what the org may do with the
//! member without trusting the node. Always 200: "nothing recorded" is an answer, proven.
//!
//! Who reads: the org's admins, issuers and terminals (the till asks at sign-up) read their
//! own org's records; consortium auditors and nodes any org's (`?org=`). Partner and risk
//! keys get 403, as does staff asking for another org.

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::reads::{ReadAt, read_at};
use super::{ApiError, AppState, blocking};
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::consent::{ConsentRecord, ErasureRecord, Purpose};
use couponcactus_chaincode::ids::{MemberId, OrgId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most partner orgs one answer lists purposes for (the consortium's other orgs).
pub const MAX_PARTNER_PURPOSES: usize = 64;

/// `?org=&height=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsentQuery {
    /// The org whose records to read (default: the signer's org; auditors may name any).
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    org: Option<String>,
    /// A retained block height (default: the latest applied block).
    height: Option<u64>,
}

/// One purpose's latest record (or none) with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConsentEntry {
    /// `"marketing"`, `"profiling"` or `{"partner_sharing": "<org>"}`.
    #[schema(value_type = Object)]
    pub purpose: Purpose,
    /// The org's latest record of the member's decision (`null`: none recorded, proven).
    #[schema(value_type = Option<Object>)]
    pub record: Option<ConsentRecord>,
    /// The `StateKey::Consent(org, member, purpose)` proof.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// An org's consent records and erasure receipt for a member, proven at one height.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// The org that keeps the records.
    #[schema(value_type = String)]
    pub org: OrgId,
    /// The member.
    #[schema(value_type = String)]
    pub member: MemberId,
    /// Where it was read.
    pub at: ReadAt,
    /// Marketing, profiling, then sharing with each other org of the consortium.
    pub consents: Vec<ConsentEntry>,
    /// The org's erasure receipt for the member (`null`: none, proven).
    #[schema(value_type = Option<Object>)]
    pub erasure: Option<ErasureRecord>,
    /// The `StateKey::Erasure(org, member)` proof.
    #[schema(value_type = Object)]
    pub erasure_proof: ProvenValue,
}

/// Reads a member's consent records and erasure receipt with their proofs.
#[utoipa::path(
    get,
    path = "/v1/members/{member}/consent",
    tag = "state",
    params(
        ("member" = String, Path, description = "Member id (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$"),
        ConsentQuery,
    ),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "Every purpose's latest record (or `null`) and the erasure receipt (or `null`), proven at the height read", body = ConsentView),
        (status = 400, description = "A malformed member, org or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Not an org admin's, issuer's or terminal key of the org, nor an auditor's", body = super::ErrorResponse),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(member): ApiPath<String>,
    ApiQuery(query): ApiQuery<ConsentQuery>,
) -> Result<Json<ConsentView>, ApiError> {
    let member: MemberId = parse("member id", &member)?;
    let org = consent_org(&reader, query.org.as_deref())?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let consortium = match prove(store, &StateKey::Consortium, at.height)?.value {
            Some(StateValue::Consortium(c)) => c,
            _ => Default::default(),
        };
        let mut consents = Vec::new();
        for purpose in purposes(&org, &consortium.orgs) {
            let key = StateKey::Consent(org.clone(), member, purpose.clone());
            let proof = prove(store, &key, at.height)?;
            let record = match &proof.value {
                Some(StateValue::Consent(r)) => Some(r.clone()),
                _ => None,
            };
            consents.push(ConsentEntry {
                purpose,
                record,
                proof,
            });
        }
        let erasure_proof = prove(store, &StateKey::Erasure(org.clone(), member), at.height)?;
        let erasure = match &erasure_proof.value {
            Some(StateValue::Erasure(r)) => Some(r.clone()),
            _ => None,
        };
        Ok(Json(ConsentView {
            org,
            member,
            at,
            consents,
            erasure,
            erasure_proof,
        }))
    })
    .await
}

/// The purposes `org` may record: marketing, profiling, and sharing with each other org
/// (at most [`MAX_PARTNER_PURPOSES`]).
fn purposes(org: &OrgId, orgs: &[OrgId]) -> Vec<Purpose> {
    let partners = orgs
        .iter()
        .filter(|o| *o != org)
        .take(MAX_PARTNER_PURPOSES)
        .map(|o| Purpose::PartnerSharing(o.clone()));
    [Purpose::Marketing, Purpose::Profiling]
        .into_iter()
        .chain(partners)
        .collect()
}

/// The org whose records `reader` reads: `asked` (default its own); an auditor any, the
/// org's admins, issuers and terminals their own; nobody else.
fn consent_org(reader: &Reader, asked: Option<&str>) -> Result<OrgId, ApiError> {
    let asked: Option<OrgId> = asked.map(|o| parse("org", o)).transpose()?;
    let own = &reader.record.org;
    if reader.is_auditor() {
        return Ok(asked.unwrap_or_else(|| own.clone()));
    }
    let staff = matches!(
        reader.record.role,
        Role::OrgAdmin | Role::Issuer | Role::Terminal { .. }
    );
    let org = asked.unwrap_or_else(|| own.clone());
    if staff && &org == own {
        return Ok(org);
    }
    Err(ApiError::Forbidden(format!(
        "key {} ({} of {own}) may not read {org}'s consent records: they are read by the \
         org's admins, issuers and terminals, and by auditors",
        reader.key,
        reader.record.role.name(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purposes_are_marketing_profiling_and_each_other_org() {
        let org = |s: &str| OrgId(s.into());
        let all = [org("acme"), org("beta"), org("globex")];
        assert_eq!(
            purposes(&org("beta"), &all),
            vec![
                Purpose::Marketing,
                Purpose::Profiling,
                Purpose::PartnerSharing(org("acme")),
                Purpose::PartnerSharing(org("globex")),
            ]
        );
        let many: Vec<OrgId> = (0..100).map(|i| org(&format!("o{i}"))).collect();
        assert_eq!(purposes(&org("x"), &many).len(), 2 + MAX_PARTNER_PURPOSES);
    }
}
