//! `GET|POST /console/pools/new`: create a pool in draft from a form, or from a pool spec
//! in TOML (the format of `cactus pool create --spec`; form fields that are filled in
//! override the TOML's). The spec is checked by the client library's `PoolSpecDraft` as
//! the CLI checks it, and the pool is created by a signed tx ([`super::super::write`]).
//! A refused spec or a ledger rejection shows the form again, filled in, with the reason.

use super::super::csrf::CheckedForm;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::super::{Console, write};
use super::Layout;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind};
use couponcactus_chaincode::types::PoolKind;
use couponcactus_client::amounts::parse_currency;
use couponcactus_client::pool_spec::PoolSpecDraft;
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
    let height = console.node.store().tip()?.height;
    let failed = error.is_some();
    let page = NewPoolPage {
        layout: Layout::new(console, staff, "pools", "New pool".into(), height),
        form,
        error,
    };
    let mut response = view::page("pool_new.html", &page, height)?;
    if failed {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `GET /console/pools/new`.
pub(super) async fn form(
    State(console): State<Arc<Console>>,
    staff: Staff,
) -> Result<Response, PageError> {
    write::may_write(&console, &staff)?;
    let form = NewPool {
        kind: "unique_codes".into(),
        currency: "EUR".into(),
        per_member_cap: "1".into(),
        ..NewPool::default()
    };
    render(&console, &staff, form, None)
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
