//! `GET|POST /console/pools/new`: create a pool in draft from a form, or from a pool spec
//! in TOML (the format of `cactus pool create --spec`; form fields that are filled in
//! override the TOML's). The spec is checked by the client library's `PoolSpecDraft` as
//! the CLI checks it, and the pool is created by a signed tx ([`super::super::write`]).
//! A refused spec or a ledger rejection shows the form again, filled in, with the reason.
//!
//! `GET /console/pools/new?proposal=p1[&period=30]` adopts an advisor proposal
//! ([`super::advisor`]): the advice is made again at the current height, and the form is
//! prefilled with the proposal's spec (in the fields and as TOML) and a suggested pool id.
//! Nothing is created until the person submits the form.

use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::Layout;
use super::advisor;
use crate::intelligence::advisor::AdviseRequest;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind};
use couponcactus_chaincode::types::{Discount, PoolKind, PoolSpec};
use couponcactus_client::amounts::{format_decimal, parse_currency};
use couponcactus_client::pool_spec::{PoolSpecDraft, percent_text};
use couponcactus_client::tx_builder::now_ms;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The form's fields, as typed (empty means "not given").
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct NewPool {
    id: String,
    name: String,
    kind: String,
    currency: String,
    percent: String,
    fixed: String,
    max_discount: String,
    min_spend: String,
    valid_from: String,
    valid_until: String,
    total_cap: String,
    per_member_cap: String,
    channels: String,
    stores: String,
    partners: String,
    spec_toml: String,
}

#[derive(Debug, Serialize)]
struct NewPoolPage {
    layout: Layout,
    form: NewPool,
    error: Option<String>,
    notice: Option<String>,
}

/// Query of `GET /console/pools/new`: an advisor proposal to adopt.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Adopt {
    proposal: String,
    period: String,
}

/// The form filled in with `spec` and pool id `id`: every field the form has, and the
/// whole spec as TOML (the fields override it with the same values; what has no field,
/// such as excluded categories or velocity limits, comes from the TOML).
pub(super) fn prefilled(id: &str, spec: &PoolSpec) -> Result<NewPool, String> {
    let c = spec.currency;
    let (percent, fixed) = match spec.discount {
        Discount::Percent { bps } => (percent_text(bps), String::new()),
        Discount::Fixed { amount_minor } => (String::new(), format_decimal(amount_minor, c)),
    };
    let draft = PoolSpecDraft::from_spec(Some(id), spec);
    let spec_toml = draft.to_toml().map_err(|e| e.to_string())?;
    let joined = |v: Vec<String>| v.join(", ");
    Ok(NewPool {
        id: id.to_string(),
        name: spec.name.clone(),
        kind: match spec.kind {
            PoolKind::UniqueCodes => "unique_codes".into(),
            PoolKind::SharedCode => "shared_code".into(),
        },
        currency: c.to_string(),
        percent,
        fixed,
        max_discount: spec
            .max_discount_minor
            .map(|m| format_decimal(m, c))
            .unwrap_or_default(),
        min_spend: format_decimal(spec.min_spend_minor, c),
        valid_from: draft.valid_from.clone().unwrap_or_default(),
        valid_until: draft.valid_until.clone().unwrap_or_default(),
        total_cap: spec.total_cap.to_string(),
        per_member_cap: spec.per_member_cap.to_string(),
        channels: joined(draft.allowed_channels.clone().unwrap_or_default()),
        stores: joined(draft.allowed_stores.clone().unwrap_or_default()),
        partners: joined(draft.partner_orgs.clone().unwrap_or_default()),
        spec_toml,
    })
}

/// The form prefilled from proposal `adopt.proposal` of the advice made now, and the
/// notice saying so; `Err` is the reason to show on the empty form.
async fn adopted(console: &Arc<Console>, adopt: &Adopt) -> Result<(NewPool, String), PageError> {
    let wanted = adopt.proposal.trim();
    let req = AdviseRequest {
        period_days: advisor::period_of(&adopt.period)?,
        ..AdviseRequest::new(console.org.as_str())
    };
    let advice = advisor::advice_for(console, req).await?;
    let Some(p) = advice.proposals.iter().find(|p| p.id == wanted) else {
        let ids: Vec<&str> = advice.proposals.iter().map(|p| p.id.as_str()).collect();
        let offered = if ids.is_empty() {
            "it proposes nothing".to_string()
        } else {
            format!("it proposes {}", ids.join(", "))
        };
        return Err(PageError::BadRequest(format!(
            "no advisor proposal {:?} at height {} ({offered}): open the Advisor and adopt one from there",
            wanted.chars().take(20).collect::<String>(),
            advice.stamp.height
        )));
    };
    let id = advisor::suggested_id(&advice, p);
    let form = prefilled(&id, &p.spec).map_err(PageError::Internal)?;
    let notice = format!(
        "Prefilled from advisor proposal {} at height {}: nothing is created until you submit.",
        p.id, advice.stamp.height
    );
    Ok((form, notice))
}

fn text(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn number<T: std::str::FromStr>(label: &str, v: &str) -> Result<Option<T>, String> {
    text(v)
        .map(|t| {
            t.parse::<T>()
                .map_err(|_| format!("{label} must be a whole number, not {t:?}"))
        })
        .transpose()
}

fn list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v.split([',', '\n']).filter_map(text).collect();
    (!items.is_empty()).then_some(items)
}

/// The spec the form describes: the TOML (if any), overridden by the filled-in fields.
fn draft(form: &NewPool) -> Result<PoolSpecDraft, String> {
    let base = match text(&form.spec_toml) {
        Some(t) => PoolSpecDraft::from_toml(&t).map_err(|e| format!("pool spec TOML: {e}"))?,
        None => PoolSpecDraft::default(),
    };
    let kind = match text(&form.kind).as_deref() {
        None => None,
        Some("unique_codes") => Some(PoolKind::UniqueCodes),
        Some("shared_code") => Some(PoolKind::SharedCode),
        Some(other) => return Err(format!("unknown kind {other:?}")),
    };
    let currency = text(&form.currency)
        .map(|c| parse_currency(&c).map_err(|e| e.to_string()))
        .transpose()?;
    let top = PoolSpecDraft {
        id: text(&form.id),
        name: text(&form.name),
        kind,
        currency,
        percent: text(&form.percent),
        fixed: text(&form.fixed),
        max_discount: text(&form.max_discount),
        min_spend: text(&form.min_spend),
        valid_from: text(&form.valid_from),
        valid_until: text(&form.valid_until),
        total_cap: number("Total cap", &form.total_cap)?,
        per_member_cap: number("Per member cap", &form.per_member_cap)?,
        allowed_channels: list(&form.channels),
        allowed_stores: list(&form.stores),
        partner_orgs: list(&form.partners),
        ..PoolSpecDraft::default()
    };
    Ok(base.overridden_by(top))
}

/// The tx that creates the form's pool.
fn create_tx(form: &NewPool) -> Result<TxKind, String> {
    let draft = draft(form)?;
    let pool = draft
        .pool_id()
        .map_err(|e| e.to_string())?
        .ok_or("give the pool an id (letters, digits, '-' and '_')")?;
    let spec = draft.into_spec(now_ms()).map_err(|e| e.to_string())?;
    Ok(TxKind::CreatePool(CreatePoolTx { pool, spec }))
}

fn render(
    console: &Console,
    staff: &Staff,
    form: NewPool,
    error: Option<String>,
) -> Result<Response, PageError> {
    render_with(console, staff, form, error, None)
}

fn render_with(
    console: &Console,
    staff: &Staff,
    form: NewPool,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let failed = error.is_some();
    let page = NewPoolPage {
        layout: Layout::new(console, staff, "pools", "New pool".into(), height),
        form,
        error,
        notice,
    };
    let mut response = view::page("pool_new.html", &page, height)?;
    if failed {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `GET /console/pools/new` (`?proposal=p1`: adopting an advisor proposal).
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(adopt): Query<Adopt>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let blank = NewPool {
        kind: "unique_codes".into(),
        currency: "EUR".into(),
        per_member_cap: "1".into(),
        ..NewPool::default()
    };
    if adopt.proposal.trim().is_empty() {
        return render(&console, &staff, blank, None);
    }
    match adopted(&console, &adopt).await {
        Ok((form, notice)) => render_with(&console, &staff, form, None, Some(notice)),
        Err(PageError::BadRequest(why)) => render(&console, &staff, blank, Some(why)),
        Err(e) => Err(e),
    }
}

/// `POST /console/pools/new`: creates the pool and shows it.
pub(super) async fn submit(
    State(console): State<Arc<Console>>,
    CheckedForm(staff, form): CheckedForm<NewPool>,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let kind = match create_tx(&form) {
        Ok(kind) => kind,
        Err(why) => return render(&console, &staff, form, Some(why)),
    };
    let TxKind::CreatePool(CreatePoolTx { pool, .. }) = &kind else {
        unreachable!("create_tx makes a CreatePool tx");
    };
    let target = format!("/console/pools/{pool}?done=created");
    match write::submit(&console, &staff, kind).await {
        Ok(_) => Ok(see_other(&target)),
        Err(write::WriteError::Rejected { reason, message }) => render(
            &console,
            &staff,
            form,
            Some(format!("the ledger refused it ({reason}): {message}")),
        ),
        Err(e) => Err(e.into()),
    }
}

/// A 303 to `target` (a console path).
pub(super) fn see_other(target: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(target) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> NewPool {
        NewPool {
            id: "spring-10".into(),
            name: "Spring <b>10</b>".into(),
            kind: "unique_codes".into(),
            currency: "eur".into(),
            percent: "10".into(),
            total_cap: "500".into(),
            per_member_cap: "1".into(),
            channels: "pos, web".into(),
            ..NewPool::default()
        }
    }

    #[test]
    fn a_prefilled_form_creates_exactly_the_adopted_spec() {
        let day = 86_400_000;
        let start = (now_ms() / day + 1) * day;
        let mut spec = couponcactus_chaincode::testkit::spec(PoolKind::UniqueCodes);
        spec.name = "Win back at risk — 20.00 % off".into();
        spec.discount = Discount::Percent { bps: 2_000 };
        spec.max_discount_minor = Some(1_200);
        spec.min_spend_minor = 0;
        spec.valid_from_ms = start;
        spec.valid_until_ms = start + 30 * day;
        spec.total_cap = 37;
        spec.excluded_categories = vec![couponcactus_chaincode::ids::Category("tobacco".into())];
        let mut fixed = spec.clone();
        fixed.discount = Discount::Fixed { amount_minor: 750 };
        fixed.max_discount_minor = None;
        fixed.min_spend_minor = 5_000;
        for spec in [spec, fixed] {
            let form = prefilled("win-back-at-risk-12", &spec).unwrap();
            let TxKind::CreatePool(tx) = create_tx(&form).unwrap() else {
                panic!("not a create");
            };
            assert_eq!(tx.pool.as_str(), "win-back-at-risk-12");
            assert_eq!(tx.spec, spec, "the fields and the TOML");
            // The TOML alone says the same.
            let toml_only = NewPool {
                spec_toml: form.spec_toml.clone(),
                ..NewPool::default()
            };
            let TxKind::CreatePool(tx) = create_tx(&toml_only).unwrap() else {
                panic!("not a create");
            };
            assert_eq!(tx.spec, spec, "{}", form.spec_toml);
        }
    }

    #[test]
    fn a_filled_form_makes_a_create_pool_tx() {
        let TxKind::CreatePool(tx) = create_tx(&form()).unwrap() else {
            panic!("not a create");
        };
        assert_eq!(tx.pool.as_str(), "spring-10");
        assert_eq!(tx.spec.name, "Spring <b>10</b>");
        assert_eq!(tx.spec.total_cap, 500);
        assert_eq!(tx.spec.currency.to_string(), "EUR");
        assert_eq!(tx.spec.allowed_channels.len(), 2);
    }

    #[test]
    fn fields_override_the_toml_and_bad_input_is_explained() {
        let mut f = form();
        f.spec_toml = "name = \"From TOML\"\ntotal_cap = 7\n".into();
        f.total_cap.clear();
        let TxKind::CreatePool(tx) = create_tx(&f).unwrap() else {
            panic!("not a create");
        };
        assert_eq!(
            (tx.spec.name.as_str(), tx.spec.total_cap),
            ("Spring <b>10</b>", 7)
        );
        for (edit, needle) in [
            (|f: &mut NewPool| f.total_cap = "many".into()) as fn(&mut NewPool),
            |f| f.id.clear(),
            |f| f.kind = "lottery".into(),
            |f| f.currency = "EURO".into(),
            |f| f.spec_toml = "total_cap = \"x\"".into(),
        ]
        .into_iter()
        .zip([
            "whole number",
            "give the pool an id",
            "unknown kind",
            "",
            "TOML",
        ]) {
            let mut f = form();
            edit(&mut f);
            let why = create_tx(&f).unwrap_err();
            assert!(why.contains(needle), "{why}");
        }
    }
}
