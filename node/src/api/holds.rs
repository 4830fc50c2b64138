//! Reads of an org's fraud holds (issue 20's `StateKey::Hold`): `GET /v1/holds`, the holds
//! in force of one org, and `GET /v1/holds/{kind}/{id}`, one target's hold with its state
//! proof (or the proof that there is none).
//!
//! A hold is a fraud suspicion (`docs/intelligence.md`), so it is confidential: the org's
//! staff read their own org's holds (org admins, issuers and the org's `risk` key, its
//! fraud engine), consortium auditors and nodes read any org's (`?org=`); terminals and
//! partner keys get 403, whatever org they belong to, and so does staff asking for
//! another org.
//!
//! The listing is a bounded scan of the current state ([`Store::state_with_prefix`], at
//! most [`MAX_HOLDS`], `truncated` beyond) stamped with the height it was read at; it
//! carries no proofs (a listing's completeness cannot be proven key by key), but every
//! entry is provable with the point read at that height. The point read answers 200
//! either way, like a member's balance: "no hold" is an answer, proven by the key's proof
//! of absence.

use super::auth::Reader;
use super::extract::{ApiPath, ApiQuery, parse};
use super::reads::{ReadAt, read_at};
use super::{ApiError, AppState, blocking};
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use couponcactus_chaincode::commitment::{ProvenValue, prove};
use couponcactus_chaincode::ids::{CodeHash, MemberId, OrgId, PublicKey, TxId};
use couponcactus_chaincode::risk::{HoldReason, HoldRecord, HoldStatus, HoldTarget};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most holds one listing returns (`truncated` says more are in force).
pub const MAX_HOLDS: usize = 10_000;
/// How often a listing is read again when a block lands during the scan, so that the
/// height it names is the one it was read at.
const LIST_ATTEMPTS: usize = 3;

/// `?org=`: whose holds (default: the signer's org; another org: auditors only).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HoldsQuery {
    /// The org whose holds to read (default: the signer's org; auditors may name any).
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    org: Option<String>,
}

/// `?org=&height=` of a point read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HoldQuery {
    /// The org whose hold to read (default: the signer's org; auditors may name any).
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    org: Option<String>,
    /// A retained block height (default: the latest applied block).
    height: Option<u64>,
}

/// One hold in force.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HoldEntry {
    /// What it stops: `{"kind": "member"|"terminal"|"code", "id": "<64 hex>"}`.
    #[schema(value_type = Object)]
    pub target: HoldTarget,
    /// Why: `velocity`, `enumeration`, `bot`, `leakage`, `impossible_travel`,
    /// `collusion`, `canary`, `customer_request` or `other`.
    #[schema(value_type = String)]
    pub reason: HoldReason,
    /// What the reviewer reads.
    pub note: String,
    /// `pending_review` (placed by the org's risk key) or `confirmed`.
    #[schema(value_type = String)]
    pub status: HoldStatus,
    /// The key that placed it.
    #[schema(value_type = String)]
    pub placed_by: PublicKey,
    /// The placing tx.
    #[schema(value_type = String)]
    pub placed_tx: TxId,
    /// Block time it was placed, ms since the Unix epoch.
    pub placed_ms: u64,
    /// The org admin who confirmed it on review (`null`: pending, or placed by an admin).
    #[schema(value_type = Option<String>)]
    pub confirmed_by: Option<PublicKey>,
}

impl HoldEntry {
    fn new(target: HoldTarget, r: HoldRecord) -> HoldEntry {
        HoldEntry {
            target,
            reason: r.reason,
            note: r.note,
            status: r.status,
            placed_by: r.placed_by,
            placed_tx: r.placed_tx,
            placed_ms: r.placed_ms,
            confirmed_by: r.confirmed_by,
        }
    }
}

/// An org's holds in force.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HoldsView {
    /// The org.
    #[schema(value_type = String)]
    pub org: OrgId,
    /// The height the holds were read at (prove one with `GET /v1/holds/{kind}/{id}?height=`).
    pub height: u64,
    /// That block's time, ms since the Unix epoch.
    pub time_ms: u64,
    /// The holds, in state-key order (members, then terminals, then codes; by id).
    pub holds: Vec<HoldEntry>,
    /// More than [`MAX_HOLDS`] are in force: only the first are listed.
    pub truncated: bool,
}

/// One target's hold (or none) with its proof.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HoldView {
    /// The org.
    #[schema(value_type = String)]
    pub org: OrgId,
    /// The target asked for.
    #[schema(value_type = Object)]
    pub target: HoldTarget,
    /// The hold in force; `null`: the org does not hold the target.
    #[schema(value_type = Option<Object>)]
    pub hold: Option<HoldRecord>,
    /// Where it was read.
    pub at: ReadAt,
    /// The `StateKey::Hold(org, target)` proof (value `null`: no hold, proven).
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Lists an org's holds in force.
#[utoipa::path(
    get,
    path = "/v1/holds",
    tag = "holds",
    params(HoldsQuery),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The org's holds in force at the height read (at most 10,000; `truncated` beyond)", body = HoldsView),
        (status = 400, description = "A malformed org (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Not an org admin's, issuer's or risk key of the org, nor an auditor's (terminals and partners never)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<HoldsQuery>,
) -> Result<Json<HoldsView>, ApiError> {
    let org = holds_org(&reader, query.org.as_deref())?;
    let node = state.node.clone();
    blocking(move || Ok(Json(list_holds(node.store(), org, MAX_HOLDS)?))).await
}

/// The holds under `org`'s prefix at a height no block landed during (retried a few
/// times; one iterator is one RocksDB snapshot, the tips around it name its height).
fn list_holds(store: &Store, org: OrgId, max: usize) -> Result<HoldsView, ApiError> {
    let prefix = org_prefix(&org);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = store.tip()?.height;
        let (entries, truncated) = store.state_with_prefix(&prefix, None, max)?;
        let tip = store.tip()?;
        if tip.height != before && attempt < LIST_ATTEMPTS {
            continue;
        }
        let holds = entries
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Hold(_, target), StateValue::Hold(r)) => Some(HoldEntry::new(target, r)),
                _ => None,
            })
            .collect();
        return Ok(HoldsView {
            org,
            height: tip.height,
            time_ms: tip.time_ms,
            holds,
            truncated,
        });
    }
}

/// The bytes every `StateKey::Hold(org, _)` starts with: what two holds of `org` on
/// targets of different kinds share (the target's variant tag is the first byte after).
fn org_prefix(org: &OrgId) -> Vec<u8> {
    let a = StateKey::Hold(org.clone(), HoldTarget::Member(MemberId([0; 32]))).to_bytes();
    let b = StateKey::Hold(org.clone(), HoldTarget::Code(CodeHash([0; 32]))).to_bytes();
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    a[..shared].to_vec()
}

/// Reads one target's hold with its state proof.
#[utoipa::path(
    get,
    path = "/v1/holds/{kind}/{id}",
    tag = "holds",
    params(
        ("kind" = String, Path, description = "What is held: member, terminal or code", pattern = r"^(member|terminal|code)$"),
        ("id" = String, Path, description = "Member id, terminal key or code hash (64 hex digits)", pattern = r"^[0-9a-fA-F]{64}$"),
        HoldQuery,
    ),
    security(("signed_read" = [])),
    responses(
        (status = 200, description = "The org's hold on the target, or `hold: null`, proven at the height read", body = HoldView),
        (status = 400, description = "A malformed kind, id, org or height (`invalid_input`)", body = super::ErrorResponse),
        (status = 401, description = "Unsigned or badly signed request", body = super::ErrorResponse),
        (status = 403, description = "Not an org admin's, issuer's or risk key of the org, nor an auditor's (terminals and partners never)", body = super::ErrorResponse),
        (status = 410, description = "Height pruned by this node (`not_retained`)", body = super::ErrorResponse),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath((kind, id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<HoldQuery>,
) -> Result<Json<HoldView>, ApiError> {
    let target = parse_target(&kind, &id)?;
    let org = holds_org(&reader, query.org.as_deref())?;
    let node = state.node.clone();
    blocking(move || {
        let store = node.store();
        let at = read_at(store, query.height)?;
        let key = StateKey::Hold(org.clone(), target.clone());
        let proof = prove(store, &key, at.height)?;
        let hold = match proof.value.clone() {
            Some(StateValue::Hold(h)) => Some(h),
            _ => None,
        };
        Ok(Json(HoldView {
            org,
            target,
            hold,
            at,
            proof,
        }))
    })
    .await
}

/// `{kind}/{id}` as a hold target.
fn parse_target(kind: &str, id: &str) -> Result<HoldTarget, ApiError> {
    Ok(match kind {
        "member" => HoldTarget::Member(parse("member id", id)?),
        "terminal" => HoldTarget::Terminal(parse("terminal key", id)?),
        "code" => HoldTarget::Code(parse("code hash", id)?),
        other => {
            return Err(ApiError::InvalidInput(format!(
                "hold kind {other:?}: expected member, terminal or code"
            )));
        }
    })
}

/// The org whose holds `reader` reads: `asked` (default its own); an auditor any, the
/// org's admins, issuers and risk key their own; nobody else.
fn holds_org(reader: &Reader, asked: Option<&str>) -> Result<OrgId, ApiError> {
    let asked: Option<OrgId> = asked.map(|o| parse("org", o)).transpose()?;
    let own = &reader.record.org;
    if reader.is_auditor() {
        return Ok(asked.unwrap_or_else(|| own.clone()));
    }
    let staff = matches!(
        reader.record.role,
        Role::OrgAdmin | Role::Issuer | Role::Risk
    );
    let org = asked.unwrap_or_else(|| own.clone());
    if staff && &org == own {
        return Ok(org);
    }
    Err(ApiError::Forbidden(format!(
        "key {} ({} of {own}) may not read {org}'s holds: a hold is a fraud suspicion, read by \
         the org's admins, issuers and risk key, and by auditors",
        reader.key,
        reader.record.role.name(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orgs_prefix_covers_its_holds_and_no_other_orgs() {
        let acme = OrgId("acme".into());
        let prefix = org_prefix(&acme);
        for target in [
            HoldTarget::Member(MemberId([7; 32])),
            HoldTarget::Terminal(PublicKey([9; 32])),
            HoldTarget::Code(CodeHash([0xff; 32])),
        ] {
            let key = StateKey::Hold(acme.clone(), target.clone()).to_bytes();
            assert!(key.starts_with(&prefix), "{target:?}");
            let other = StateKey::Hold(OrgId("acme2".into()), target).to_bytes();
            assert!(!other.starts_with(&prefix));
        }
        let account = StateKey::Account(acme, MemberId([7; 32])).to_bytes();
        assert!(!account.starts_with(&prefix));
    }
}
