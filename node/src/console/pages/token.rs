//! `GET /console/tokens/{pool}/{serial}`: one token of the org's pools. Its state, every
//! tx that touched it (the node's per-token history index, rejected attempts included),
//! and a badge saying whether its state proof verified against the latest certified
//! checkpoint.
//!
//! The server builds the proof bundle `cactus audit prove-token` would fetch (the token's
//! state proof at the latest certified height, that header, its certificate and the
//! consortium proven under it) and checks it with the client library's
//! [`couponcactus_client::audit::check_bundle`], the check `cactus audit check-proof`
//! runs. The check here is not anchored to a genesis file (the console is the node
//! itself): the voter set is the consortium proven under the certified state root.
//! `…/proof.json` downloads the bundle for an offline `cactus audit check-proof FILE
//! --genesis GENESIS`, which anchors it.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::commitment::prove;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::{PoolId, TokenId};
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::types::{TokenRecord, TokenStatus};
use couponcactus_client::audit::{
    BundleCheck, Claim, PROOF_BUNDLE_FORMAT, ProofBundle, check_bundle,
};
use serde::Serialize;
use std::sync::Arc;

/// Most history entries shown (the newest).
pub const MAX_HISTORY: usize = 500;

fn internal(what: &str, e: impl std::fmt::Display) -> PageError {
    PageError::Internal(format!("{what}: {e}"))
}

/// The token of the path, if it is one of the org's: else a 404 page.
pub(super) fn org_token(
    console: &Console,
    pool: &str,
    serial: &str,
) -> Result<(TokenId, TokenRecord), PageError> {
    let missing = || {
        PageError::NotFound(format!(
            "no token {}/{} in the org's pools",
            pool.chars().take(64).collect::<String>(),
            serial.chars().take(24).collect::<String>()
        ))
    };
    let pool_id: PoolId = pool.parse().map_err(|_| missing())?;
    let serial: u64 = serial.parse().map_err(|_| missing())?;
    let store = console.node.store();
    match store.get(&StateKey::Pool(pool_id.clone()))? {
        Some(StateValue::Pool(p)) if p.owner == console.org => {}
        _ => return Err(missing()),
    }
    let id = TokenId {
        pool: pool_id,
        serial,
    };
    match store.get(&StateKey::Token(id.clone()))? {
        Some(StateValue::Token(t)) => Ok((id, t)),
        _ => Err(missing()),
    }
}

/// A token status's label.
pub(super) fn status_name(s: &TokenStatus) -> &'static str {
    match s {
        TokenStatus::Available => "available",
        TokenStatus::Allocated => "allocated",
        TokenStatus::Redeemed { .. } => "redeemed",
        TokenStatus::Revoked => "revoked",
    }
}

/// The proof bundle of `token` at the latest certified height (`Err`: why there is none).
pub(super) fn bundle(
    console: &Console,
    token: &TokenId,
) -> Result<Result<ProofBundle, String>, PageError> {
    let store = console.node.store();
    let Some(certificate) = store.latest_certificate()? else {
        return Ok(Err("no block is certified yet".into()));
    };
    let h = certificate.height;
    let Some(header) = store.header(h)? else {
        return Ok(Err(format!(
            "the header of certified height {h} is not retained"
        )));
    };
    let genesis_hash = store
        .genesis_hash()?
        .ok_or_else(|| PageError::Internal("the node has no genesis hash".into()))?;
    let proof =
        prove(store, &StateKey::Token(token.clone()), h).map_err(|e| internal("token proof", e))?;
    if proof.value.is_none() {
        return Ok(Err(format!(
            "the token is newer than the latest certified height {h}: wait for the next checkpoint"
        )));
    }
    let consortium =
        prove(store, &StateKey::Consortium, h).map_err(|e| internal("consortium proof", e))?;
    Ok(Ok(ProofBundle {
        format: PROOF_BUNDLE_FORMAT.into(),
        chain_id: console.node.chain_id().clone(),
        genesis_hash,
        claim: Claim::Token {
            token_id: token.clone(),
            proof,
        },
        header,
        links: vec![],
        certificate,
        consortium,
    }))
}

/// The badge.
#[derive(Debug, Serialize)]
struct Badge {
    verified: bool,
    text: String,
}

fn badge(result: &Result<BundleCheck, String>) -> Badge {
    match result {
        Ok(c) => Badge {
            verified: true,
            text: format!(
                "State proof verified against certified checkpoint at height {} (nodes {})",
                c.certified_height,
                c.certified_by
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Err(why) => Badge {
            verified: false,
            text: format!("Not verified: {why}"),
        },
    }
}

/// One tx of the history.
#[derive(Debug, Serialize)]
struct Entry {
    height: u64,
    time: String,
    kind: &'static str,
    tx_id: String,
    memo: Option<String>,
    applied: bool,
    outcome: String,
}

fn history(console: &Console, token: &TokenId) -> Result<(Vec<Entry>, usize), PageError> {
    let store = console.node.store();
    let all = store.token_history(token)?;
    let total = all.len();
    let mut cached: Option<Block> = None;
    let mut out = Vec::new();
    for (height, index) in all.into_iter().rev().take(MAX_HISTORY) {
        if cached.as_ref().is_none_or(|b| b.header.height != height) {
            cached = store.block(height)?;
        }
        let Some(block) = cached.as_ref() else {
            continue;
        };
        let Some(tx) = block.txs.get(index as usize) else {
            continue;
        };
        let result = store.result_at(height, index)?;
        let (applied, outcome) = match result.map(|r| r.outcome) {
            Some(TxOutcome::Applied { .. }) => (true, "applied".to_string()),
            Some(TxOutcome::Rejected { rejection }) => (
                false,
                format!(
                    "rejected: {} ({})",
                    rejection.reason.code(),
                    rejection.message
                ),
            ),
            None => (false, "result not retained".to_string()),
        };
        out.push(Entry {
            height,
            time: view::time(block.header.time_ms),
            kind: tx.body.kind.name(),
            tx_id: tx.id().to_string(),
            memo: tx.body.memo.as_ref().map(|m| m.to_string()),
            applied,
            outcome,
        });
    }
    Ok((out, total))
}

#[derive(Debug, Serialize)]
struct TokenPage {
    layout: Layout,
    id: String,
    pool: String,
    pool_name: String,
    serial: u64,
    status: &'static str,
    owner: Option<String>,
    redemption: Option<String>,
    code_hash: String,
    badge: Badge,
    proof_href: Option<String>,
    history: Vec<Entry>,
    history_total: usize,
}

fn render(
    console: &Console,
    staff: &Staff,
    pool: &str,
    serial: &str,
) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let (id, token) = org_token(console, pool, serial)?;
    let pool_name = match console.node.store().get(&StateKey::Pool(id.pool.clone()))? {
        Some(StateValue::Pool(p)) => p.spec.name,
        _ => String::new(),
    };
    let built = bundle(console, &id)?;
    let checked = match &built {
        Ok(b) => check_bundle(b, None).map_err(|e| e.to_string()),
        Err(why) => Err(why.clone()),
    };
    let (history, history_total) = history(console, &id)?;
    let page = TokenPage {
        layout: Layout::new(console, staff, "", format!("Token {id}"), height),
        id: id.to_string(),
        pool: id.pool.to_string(),
        pool_name,
        serial: id.serial,
        status: status_name(&token.status),
        owner: token.owner.map(|m| m.to_string()),
        redemption: match &token.status {
            TokenStatus::Redeemed { redemption } => Some(redemption.to_string()),
            _ => None,
        },
        code_hash: token.code_hash.to_string(),
        badge: badge(&checked),
        proof_href: built
            .is_ok()
            .then(|| format!("/console/tokens/{id}/proof.json")),
        history,
        history_total,
    };
    view::page("token.html", &page, height)
}

/// `GET /console/tokens/{pool}/{serial}`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Path((pool, serial)): Path<(String, String)>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff, &pool, &serial))
        .await
        .map_err(|e| internal("token", e))?
}

fn proof_json(console: &Console, pool: &str, serial: &str) -> Result<Response, PageError> {
    let (id, _) = org_token(console, pool, serial)?;
    let bundle = bundle(console, &id)?.map_err(PageError::NotFound)?;
    let text = serde_json::to_string_pretty(&bundle).map_err(|e| internal("proof", e))?;
    let mut response = (StatusCode::OK, format!("{text}\n")).into_response();
    let headers = response.headers_mut();
    view::secure_headers(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let name = format!(
        "attachment; filename=\"proof-{}-{}.json\"",
        id.pool, id.serial
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `GET /console/tokens/{pool}/{serial}/proof.json`: the proof bundle, as
/// `cactus audit prove-token` writes it.
pub(super) async fn proof(
    State(console): State<Arc<Console>>,
    _staff: Staff,
    Path((pool, serial)): Path<(String, String)>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || proof_json(&console, &pool, &serial))
        .await
        .map_err(|e| internal("proof", e))?
}
