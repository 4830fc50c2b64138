//! `GET /console/members?member=…`: a member's wallet in the org's pools (every token
//! ever allocated or transferred to the member, from the node's wallet index, with its
//! state now) and usage history (every tx that touched those tokens: allocations,
//! redemptions, rollbacks, revocations, rejected attempts), with links to token pages.

use super::super::Console;
use super::super::session::Staff;
use super::super::view::{self, PageError};
use super::Layout;
use super::token::status_name;
use axum::extract::{Query, State};
use axum::response::Response;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::{MemberId, TokenId};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most tokens of a wallet shown.
pub const MAX_TOKENS: usize = 500;
/// Most history entries shown (the newest).
pub const MAX_USES: usize = 500;

/// Query of `GET /console/members`.
#[derive(Debug, Deserialize)]
pub(super) struct MemberQuery {
    member: Option<String>,
}

#[derive(Debug, Serialize)]
struct Coupon {
    id: String,
    href: String,
    pool: String,
    pool_name: String,
    status: &'static str,
    held: bool,
}

#[derive(Debug, Serialize)]
struct Use {
    height: u64,
    time: String,
    token: String,
    href: String,
    kind: &'static str,
    outcome: String,
    applied: bool,
}

#[derive(Debug, Serialize)]
struct MemberPage {
    layout: Layout,
    member: String,
    searched: bool,
    coupons: Vec<Coupon>,
    uses: Vec<Use>,
    more_tokens: bool,
}

/// The member's tokens in the org's pools, with pool names.
fn coupons(
    console: &Console,
    member: &MemberId,
) -> Result<(Vec<(TokenId, Coupon)>, bool), PageError> {
    let store = console.node.store();
    let mut names: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut more = false;
    for id in store.wallet(member)? {
        let pool = id.pool.to_string();
        if !names.contains_key(&pool) {
            let name = match store.get(&StateKey::Pool(id.pool.clone()))? {
                Some(StateValue::Pool(p)) if p.owner == console.org => Some(p.spec.name),
                _ => None,
            };
            names.insert(pool.clone(), name);
        }
        let Some(Some(pool_name)) = names.get(&pool).cloned() else {
            continue;
        };
        let Some(StateValue::Token(t)) = store.get(&StateKey::Token(id.clone()))? else {
            continue;
        };
        if out.len() == MAX_TOKENS {
            more = true;
            break;
        }
        let coupon = Coupon {
            href: format!("/console/tokens/{id}"),
            id: id.to_string(),
            pool,
            pool_name,
            status: status_name(&t.status),
            held: t.owner.as_ref() == Some(member),
        };
        out.push((id, coupon));
    }
    Ok((out, more))
}

fn uses(console: &Console, tokens: &[(TokenId, Coupon)]) -> Result<Vec<Use>, PageError> {
    let store = console.node.store();
    let mut at: Vec<(u64, u32, &TokenId)> = Vec::new();
    for (id, _) in tokens {
        at.extend(
            store
                .token_history(id)?
                .into_iter()
                .map(|(h, i)| (h, i, id)),
        );
    }
    at.sort_by_key(|&(h, i, _)| std::cmp::Reverse((h, i)));
    let mut out = Vec::new();
    for (height, index, id) in at.into_iter().take(MAX_USES) {
        let Some(block) = store.block(height)? else {
            continue;
        };
        let Some(tx) = block.txs.get(index as usize) else {
            continue;
        };
        let (applied, outcome) = match store.result_at(height, index)?.map(|r| r.outcome) {
            Some(TxOutcome::Applied { .. }) => (true, "applied".to_string()),
            Some(TxOutcome::Rejected { rejection }) => {
                (false, format!("rejected: {}", rejection.reason.code()))
            }
            None => (false, "result not retained".to_string()),
        };
        out.push(Use {
            height,
            time: view::time(block.header.time_ms),
            token: id.to_string(),
            href: format!("/console/tokens/{id}"),
            kind: tx.body.kind.name(),
            outcome,
            applied,
        });
    }
    Ok(out)
}

fn render(console: &Console, staff: &Staff, member: Option<String>) -> Result<Response, PageError> {
    let height = console.node.store().tip()?.height;
    let text = member
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    let (mut coupons_shown, mut uses_shown, mut more) = (Vec::new(), Vec::new(), false);
    if let Some(m) = &text {
        let member: MemberId = m.parse().map_err(|_| {
            PageError::BadRequest(format!(
                "{:?} is not a member id: give the 64 hex digits of the member id",
                m.chars().take(40).collect::<String>()
            ))
        })?;
        let (found, more_tokens) = coupons(console, &member)?;
        uses_shown = uses(console, &found)?;
        coupons_shown = found.into_iter().map(|(_, c)| c).collect();
        more = more_tokens;
    }
    let page = MemberPage {
        layout: Layout::new(console, staff, "members", "Members".into(), height),
        searched: text.is_some(),
        member: text.unwrap_or_default(),
        coupons: coupons_shown,
        uses: uses_shown,
        more_tokens: more,
    };
    view::page("member.html", &page, height)
}

/// `GET /console/members`.
pub(super) async fn show(
    State(console): State<Arc<Console>>,
    staff: Staff,
    Query(query): Query<MemberQuery>,
) -> Result<Response, PageError> {
    tokio::task::spawn_blocking(move || render(&console, &staff, query.member))
        .await
        .map_err(|e| PageError::Internal(format!("members: {e}")))?
}
