//! The wallet's pages: `GET /wallet/open?t=…` asks the customer to confirm (a mail
//! scanner that prefetches links must not use up the one-time link) and `POST
//! /wallet/open` opens a session (a random token in an `HttpOnly`, `SameSite=Lax`,
//! `Path=/wallet` cookie, hashed in the store); `GET /wallet` is the wallet, sized for a
//! phone; `POST /wallet/claim` claims a public coupon; `POST /wallet/logout` ends the
//! session. Forms carry a CSRF token derived from the session (a keyed hash under the
//! link key); a missing or wrong one changes nothing. Every answer has the console's
//! security headers (CSP without scripts, no caching, no framing).

use super::Wallet;
use super::links::{Link, LinkError};
use crate::console::session::{cookie, secrets_equal, token_hash};
use crate::console::view::{self, PageError};
use crate::node::{SubmitOutcome, now_ms};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::{ClaimKey, MemberId, PoolId, TokenId};
use couponcactus_chaincode::loyalty::{Segment, Unit};
use couponcactus_chaincode::memo::Memo;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{AllocateTx, TxKind};
use couponcactus_chaincode::types::{Discount, PoolKind, PoolRecord, PoolStatus, TokenStatus};
use couponcactus_client::amounts::format_minor;
use couponcactus_client::tx_builder::TxBuilder;
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// The session cookie's name.
pub const COOKIE: &str = "cactus_wallet";
/// Most coupons shown (the newest).
pub const MAX_COUPONS: usize = 200;
/// Most history entries shown per coupon (the newest).
pub const MAX_HISTORY: usize = 20;
/// Most public coupons offered.
pub const MAX_CLAIMABLE: usize = 50;
/// Context of claim keys of wallet claims.
const CLAIM_CONTEXT: &str = "couponcactus 2026 wallet claim v1";

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("wallet.html", include_str!("templates/wallet.html")),
        ("message.html", include_str!("templates/message.html")),
        ("open.html", include_str!("templates/open.html")),
        ("style.css.html", include_str!("templates/style.css.html")),
    ] {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
});

fn render<T: Serialize>(name: &str, context: &T) -> Result<Response, PageError> {
    let env = ENV.as_ref().map_err(|e| PageError::Internal(e.clone()))?;
    let body = env
        .get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| PageError::Internal(format!("wallet page: {e}")))?;
    Ok(view::html(body))
}

/// A page that says something to the customer, with `status`.
fn message(status: axum::http::StatusCode, title: &str, text: &str) -> Response {
    #[derive(Serialize)]
    struct Message<'a> {
        title: &'a str,
        text: &'a str,
    }
    match render("message.html", &Message { title, text }) {
        Ok(page) => (status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The wallet's routes.
pub fn routes(wallet: Arc<Wallet>) -> Router {
    Router::new()
        .route("/wallet", get(home))
        .route("/wallet/open", get(confirm).post(open))
        .route("/wallet/claim", post(claim))
        .route("/wallet/logout", post(logout))
        .with_state(wallet)
}

/// `?t=` of a link.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    t: Option<String>,
}

/// The form of `POST /wallet/open`.
#[derive(Debug, Deserialize)]
pub struct OpenForm {
    t: Option<String>,
}

async fn confirm(State(wallet): State<Arc<Wallet>>, Query(q): Query<TokenQuery>) -> Response {
    #[derive(Serialize)]
    struct Open<'a> {
        org: &'a str,
        token: &'a str,
    }
    let token = q.t.unwrap_or_default();
    // Checked now for a clear message (the use is counted on POST).
    if let Err(e) = Link::check(&token, &wallet.key, now_ms()) {
        return message(
            axum::http::StatusCode::FORBIDDEN,
            "Link not valid",
            &e.to_string(),
        );
    }
    let org = wallet.org().to_string();
    render(
        "open.html",
        &Open {
            org: &org,
            token: &token,
        },
    )
    .unwrap_or_else(|e| e.into_response())
}

async fn open(State(wallet): State<Arc<Wallet>>, Form(form): Form<OpenForm>) -> Response {
    let now = now_ms();
    let token = form.t.unwrap_or_default();
    let link = match Link::check(&token, &wallet.key, now) {
        Ok(link) => link,
        Err(e) => {
            return message(
                axum::http::StatusCode::FORBIDDEN,
                "Link not valid",
                &e.to_string(),
            );
        }
    };
    let w = wallet.clone();
    let started = tokio::task::spawn_blocking(move || -> Result<Option<String>, PageError> {
        let fresh = w
            .store
            .use_link(&link.nonce, link.expires_ms, now)
            .map_err(|e| PageError::Internal(e.to_string()))?;
        if !fresh {
            return Ok(None);
        }
        let session = crate::console::password::random_secret(32);
        let expires = now.saturating_add(w.config.session_ttl_secs * 1000);
        w.store
            .start_session(&token_hash(&session), &link.member, now, expires)
            .map_err(|e| PageError::Internal(e.to_string()))?;
        Ok(Some(session))
    })
    .await;
    match started {
        Ok(Ok(Some(session))) => {
            let mut response = Redirect::to("/wallet").into_response();
            let cookie = set_cookie(
                &session,
                wallet.config.session_ttl_secs,
                wallet.config.secure_cookies,
            );
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            view::secure_headers(response.headers_mut());
            response
        }
        Ok(Ok(None)) => message(
            axum::http::StatusCode::FORBIDDEN,
            "Link already used",
            &LinkError::Used.to_string(),
        ),
        Ok(Err(e)) => e.into_response(),
        Err(e) => PageError::Internal(format!("opening the wallet: {e}")).into_response(),
    }
}

fn set_cookie(value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={value}; Path=/wallet; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The member of the request's live session and the session's hash.
async fn session(
    wallet: &Arc<Wallet>,
    headers: &axum::http::HeaderMap,
) -> Option<(MemberId, [u8; 32])> {
    let token = cookie(headers, COOKIE)?;
    let hash = token_hash(&token);
    let w = wallet.clone();
    let member = tokio::task::spawn_blocking(move || w.store.session(&hash, now_ms()))
        .await
        .ok()?
        .ok()??;
    Some((member, hash))
}

/// The CSRF token of the session `hash`.
fn csrf(wallet: &Wallet, hash: &[u8; 32]) -> String {
    let mut h = blake3::Hasher::new_keyed(&wallet.key);
    h.update(b"couponcactus/wallet-csrf/v1");
    h.update(hash);
    h.finalize().to_hex()[..32].to_string()
}

fn signed_out() -> Response {
    message(
        axum::http::StatusCode::UNAUTHORIZED,
        "Your wallet is closed",
        "Open it with the link the shop sent you; a link works once and for a short time, so ask for a new one if it has expired.",
    )
}

/// `?claimed=` / `?refused=` after a claim.
#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    claimed: Option<String>,
    refused: Option<String>,
}

async fn home(
    State(wallet): State<Arc<Wallet>>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    let Some((member, hash)) = session(&wallet, &headers).await else {
        return signed_out();
    };
    let csrf = csrf(&wallet, &hash);
    let w = wallet.clone();
    let built = tokio::task::spawn_blocking(move || build(&w, &member, csrf, &q)).await;
    match built {
        Ok(Ok(page)) => render("wallet.html", &page).unwrap_or_else(|e| e.into_response()),
        Ok(Err(e)) => e.into_response(),
        Err(e) => PageError::Internal(format!("wallet: {e}")).into_response(),
    }
}

/// One entry of a coupon's history.
#[derive(Debug, Serialize)]
struct Entry {
    time: String,
    what: &'static str,
    height: u64,
    /// In a block at or below the certified checkpoint the coupon's proof verified at.
    verified: bool,
}

/// One of the member's coupons.
#[derive(Debug, Serialize)]
struct Coupon {
    id: String,
    name: String,
    offer: String,
    valid_until: String,
    status: &'static str,
    usable: bool,
    code: Option<String>,
    qr_svg: Option<String>,
    verified: bool,
    proof: String,
    history: Vec<Entry>,
}

/// One balance.
#[derive(Debug, Serialize)]
struct Balance {
    label: &'static str,
    amount: String,
}

/// A public coupon the member may claim.
#[derive(Debug, Serialize)]
struct Offer {
    pool: String,
    name: String,
    offer: String,
    valid_until: String,
}

#[derive(Debug, Serialize)]
struct WalletPage {
    org: String,
    member: String,
    height: u64,
    csrf: String,
    coupons: Vec<Coupon>,
    program: Option<String>,
    balances: Vec<Balance>,
    offers: Vec<Offer>,
    notice: Option<String>,
    problem: Option<String>,
}

fn build(
    wallet: &Wallet,
    member: &MemberId,
    csrf: String,
    q: &HomeQuery,
) -> Result<WalletPage, PageError> {
    let store = wallet.node().store();
    let height = store.tip()?.height;
    let coupons = coupons(wallet, member)?;
    let (program, balances) = balances(wallet, member)?;
    let offers = offers(wallet, member, now_ms())?;
    let notice = q.claimed.as_ref().map(|p| {
        format!(
            "Claimed: the coupon of {} is in your wallet.",
            p.chars().take(64).collect::<String>()
        )
    });
    let problem = q.refused.as_deref().map(refusal_text);
    Ok(WalletPage {
        org: wallet.org().to_string(),
        member: member.to_string().chars().take(12).collect(),
        height,
        csrf,
        coupons,
        program,
        balances,
        offers,
        notice,
        problem,
    })
}

/// A customer's words for a refused claim (codes only: nothing from the request is echoed).
fn refusal_text(code: &str) -> String {
    match code {
        "member_limit_exceeded" => "You already have as many of these coupons as allowed.",
        "quantity_exceeded" => "Sorry, these coupons are all gone.",
        "pool_not_active" | "expired" | "not_yet_valid" => "This offer is not available now.",
        "consent_required" => "This offer needs your consent first: ask the shop.",
        "on_hold" => "Your account is under review: ask the shop.",
        "not_offered" => "This offer is not available in your wallet.",
        _ => "The claim did not go through: try again later or ask the shop.",
    }
    .to_string()
}

/// What `spec` takes off, in words.
fn offer_text(pool: &PoolRecord) -> String {
    let currency = pool.spec.currency;
    match pool.spec.discount {
        Discount::Percent { bps } => {
            let pct = if bps % 100 == 0 {
                format!("{} %", bps / 100)
            } else {
                format!("{}.{:02} %", bps / 100, bps % 100)
            };
            match pool.spec.max_discount_minor {
                Some(cap) => format!("{pct} off, up to {}", format_minor(cap, currency)),
                None => format!("{pct} off"),
            }
        }
        Discount::Fixed { amount_minor } => format!("{} off", format_minor(amount_minor, currency)),
    }
}

fn qr_svg(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(168, 168)
            .build(),
    )
}

fn coupons(wallet: &Wallet, member: &MemberId) -> Result<Vec<Coupon>, PageError> {
    let store = wallet.node().store();
    let mut ids = store.wallet(member)?;
    ids.reverse();
    let mut out = Vec::new();
    for id in ids.into_iter().take(MAX_COUPONS) {
        let Some(StateValue::Token(token)) = store.get(&StateKey::Token(id.clone()))? else {
            continue;
        };
        let Some(StateValue::Pool(pool)) = store.get(&StateKey::Pool(id.pool.clone()))? else {
            continue;
        };
        if pool.owner != *wallet.org() || token.owner != Some(*member) {
            continue;
        }
        out.push(coupon(wallet, id, &token, &pool)?);
    }
    Ok(out)
}

fn coupon(
    wallet: &Wallet,
    id: TokenId,
    token: &couponcactus_chaincode::types::TokenRecord,
    pool: &PoolRecord,
) -> Result<Coupon, PageError> {
    let (status, usable) = match token.status {
        TokenStatus::Allocated => ("ready to use", pool.status == PoolStatus::Active),
        TokenStatus::Redeemed { .. } => ("used", false),
        TokenStatus::Revoked => ("withdrawn by the shop", false),
        TokenStatus::Available => ("not yours yet", false),
    };
    let code = wallet
        .console
        .data_key()
        .and_then(|k| couponcactus_chaincode::codes::open_code(k, &id.pool, &token.sealed).ok());
    let qr_svg = if usable {
        code.as_deref()
            .map(qr_svg)
            .unwrap_or_else(|| qr_svg(&id.to_string()))
    } else {
        None
    };
    let (verified, proof, certified) = crate::console::token_verified(&wallet.console, &id)?;
    Ok(Coupon {
        id: id.to_string(),
        name: pool.spec.name.clone(),
        offer: offer_text(pool),
        valid_until: view::date(pool.spec.valid_until_ms.saturating_sub(1)),
        status,
        usable,
        code: if usable { code } else { None },
        qr_svg,
        verified,
        proof,
        history: history(wallet, &id, verified.then_some(certified).flatten())?,
    })
}

fn history(wallet: &Wallet, id: &TokenId, certified: Option<u64>) -> Result<Vec<Entry>, PageError> {
    let store = wallet.node().store();
    let mut out = Vec::new();
    for (height, index) in store.token_history(id)?.into_iter().rev().take(MAX_HISTORY) {
        let Some(block) = store.block(height)? else {
            continue;
        };
        let Some(tx) = block.txs.get(index as usize) else {
            continue;
        };
        let applied = matches!(
            store.result_at(height, index)?.map(|r| r.outcome),
            Some(TxOutcome::Applied { .. })
        );
        let what = match (tx.body.kind.name(), applied) {
            ("allocate", true) => "Received",
            ("redeem" | "checkout", true) => "Used at checkout",
            ("rollback", true) => "Refunded: the coupon can be used again",
            ("transfer_token", true) => "Transferred",
            ("revoke_token", true) => "Withdrawn by the shop",
            ("issue_codes", true) => "Issued",
            (_, false) => "Attempt refused",
            _ => "Changed",
        };
        out.push(Entry {
            time: view::time(block.header.time_ms),
            what,
            height,
            verified: certified.is_some_and(|c| height <= c),
        });
    }
    Ok(out)
}

fn segment_label(segment: Segment) -> &'static str {
    match segment {
        Segment::CashDeposit => "Cash balance",
        Segment::Gift => "Gift balance",
        Segment::Mileage => "Points",
        Segment::RefundCredit => "Refund credit",
    }
}

fn balances(
    wallet: &Wallet,
    member: &MemberId,
) -> Result<(Option<String>, Vec<Balance>), PageError> {
    let store = wallet.node().store();
    let org = wallet.org().clone();
    let Some(StateValue::Program(program)) = store.get(&StateKey::Program(org.clone()))? else {
        return Ok((None, vec![]));
    };
    let mut sums: BTreeMap<Segment, u64> = BTreeMap::new();
    if let Some(StateValue::Account(account)) = store.get(&StateKey::Account(org, *member))? {
        for lot in account.lots.values() {
            *sums.entry(lot.segment).or_default() += lot.remaining;
        }
    }
    let rows = program
        .spec
        .segments
        .iter()
        .map(|rule| {
            let amount = sums.get(&rule.segment).copied().unwrap_or(0);
            Balance {
                label: segment_label(rule.segment),
                amount: match rule.unit {
                    Unit::Money { currency } => format_minor(amount, currency),
                    Unit::Points => format!("{amount} points"),
                },
            }
        })
        .collect();
    Ok((Some(program.spec.name), rows))
}

/// The org's coupons offered in the wallet that `member` may still claim at `now`.
fn offers(wallet: &Wallet, member: &MemberId, now: u64) -> Result<Vec<Offer>, PageError> {
    let store = wallet.node().store();
    let mut out = Vec::new();
    for id in store.pools_of(wallet.org())? {
        if out.len() >= MAX_CLAIMABLE {
            break;
        }
        if !wallet.offered(&id) {
            continue;
        }
        let Some(StateValue::Pool(pool)) = store.get(&StateKey::Pool(id.clone()))? else {
            continue;
        };
        if !claimable(&pool, now) {
            continue;
        }
        let held = match store.get(&StateKey::MemberAllocations(id.clone(), *member))? {
            Some(StateValue::Count(n)) => n,
            _ => 0,
        };
        if held >= pool.spec.per_member_cap {
            continue;
        }
        out.push(Offer {
            pool: id.to_string(),
            name: pool.spec.name.clone(),
            offer: offer_text(&pool),
            valid_until: view::date(pool.spec.valid_until_ms.saturating_sub(1)),
        });
    }
    Ok(out)
}

/// Whether `pool` hands out coupons at `now`: active, unique codes, valid, codes left.
fn claimable(pool: &PoolRecord, now: u64) -> bool {
    pool.status == PoolStatus::Active
        && pool.spec.kind == PoolKind::UniqueCodes
        && pool.spec.valid_from_ms <= now
        && now < pool.spec.valid_until_ms
        && pool.next_free < pool.issued
}

/// The claim key of `member`'s wallet claim of `pool`: the same for every tap.
pub fn claim_key(member: &MemberId, pool: &PoolId) -> ClaimKey {
    let mut h = blake3::Hasher::new_derive_key(CLAIM_CONTEXT);
    h.update(&member.0);
    h.update(pool.as_str().as_bytes());
    ClaimKey(*h.finalize().as_bytes())
}

/// The claim form.
#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    pool: Option<String>,
    csrf: Option<String>,
}

async fn claim(
    State(wallet): State<Arc<Wallet>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<ClaimForm>,
) -> Response {
    let Some((member, hash)) = session(&wallet, &headers).await else {
        return signed_out();
    };
    let expected = csrf(&wallet, &hash);
    if !form
        .csrf
        .as_deref()
        .is_some_and(|g| secrets_equal(&expected, g))
    {
        return PageError::Csrf.into_response();
    }
    let pool = match form.pool.as_deref().map(str::parse::<PoolId>) {
        Some(Ok(p)) if wallet.offered(&p) => p,
        _ => return Redirect::to("/wallet?refused=not_offered").into_response(),
    };
    let Some(key) = wallet.console.signer().cloned() else {
        return message(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "Claims are off",
            "This shop's wallet cannot hand out coupons right now.",
        );
    };
    let kind = TxKind::Allocate(AllocateTx {
        pool: pool.clone(),
        member,
        claim: claim_key(&member, &pool),
    });
    let memo = Memo::new("wallet:claim".to_string()).ok();
    let tx = TxBuilder::new(wallet.node().chain_id().clone())
        .memo(memo)
        .sign(&key, kind);
    match wallet.node().submit(tx, true).await {
        Ok(SubmitOutcome::Committed(done)) => match done.result.outcome {
            TxOutcome::Applied { .. } => {
                Redirect::to(&format!("/wallet?claimed={pool}")).into_response()
            }
            TxOutcome::Rejected { rejection } => {
                Redirect::to(&format!("/wallet?refused={}", rejection.reason.code()))
                    .into_response()
            }
        },
        Ok(_) => Redirect::to("/wallet?refused=pending").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "wallet claim not submitted");
            Redirect::to("/wallet?refused=unavailable").into_response()
        }
    }
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

async fn logout(
    State(wallet): State<Arc<Wallet>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some((_, hash)) = session(&wallet, &headers).await else {
        return signed_out();
    };
    if !form
        .csrf
        .as_deref()
        .is_some_and(|g| secrets_equal(&csrf(&wallet, &hash), g))
    {
        return PageError::Csrf.into_response();
    }
    let w = wallet.clone();
    let _ = tokio::task::spawn_blocking(move || w.store.end_session(&hash)).await;
    let mut response = message(
        axum::http::StatusCode::OK,
        "Wallet closed",
        "You are signed out. Open your wallet again with a new link from the shop.",
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, wallet.config.secure_cookies),
    );
    response
}
