//! The advisor page (`/console/advisor`) and adopting a proposal
//! (`/console/pools/new?proposal=…`) against a real one-node chain: acme runs a percent
//! pool allocated to 24 members, half of whom redeemed; the analytics store catches up
//! with the chain; the page shows the stamp, the pool's review, the segments, the models
//! and the proposals with their adopt links (writers only), and the budget split when a
//! budget is given. A bad period or budget is shown on the page (400). Adopting prefills
//! the new-pool form with the proposal's spec at the current height; submitting it
//! creates that pool in draft. An unknown proposal shows the form with the reason.

use super::balances::{cell, page, post, sign_in};
use crate::analytics::Analytics;
use crate::console::{Console, ConsoleConfig, Role as StaffRole, WriteKeys};
use crate::intelligence::advisor::{AdviseRequest, advise, gather};
use crate::testchain::{CONSOLE_KEY, Chain};
use axum::http::StatusCode;
use couponcactus_chaincode::execute::{Event, TxOutcome};
use couponcactus_chaincode::ids::{Channel, StoreId};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{self, key, public};
use couponcactus_chaincode::tx::{
    AllocateTx, CreatePoolTx, IssueCodesTx, RedeemTarget, RedeemTx, RegisterKeyTx,
    TransitionPoolTx, TxKind,
};
use couponcactus_chaincode::types::{PoolAction, PoolKind, PoolStatus, Role};
use couponcactus_client::tx_builder::now_ms;
use std::sync::Arc;

const ISSUER: u8 = 10;
const TERMINAL: u8 = 11;
const MEMBERS: u64 = 24;

/// Submits `kind` signed by `seed`, waits, expects it applied: its events.
async fn events(chain: &Chain, seed: u8, kind: TxKind) -> Vec<Event> {
    let tx = chain.builder.sign(&key(seed), kind);
    match chain.node.submit(tx, true).await.unwrap() {
        crate::node::SubmitOutcome::Committed(done) => match done.result.outcome {
            TxOutcome::Applied { events } => events,
            other => panic!("not applied: {other:?}"),
        },
        other => panic!("not committed: {other:?}"),
    }
}

/// acme's `spring` (10 % off), allocated to 24 members, 12 of whom redeemed; a console
/// with the analytics store caught up.
async fn advised_chain() -> (Chain, Arc<Console>, Arc<Analytics>) {
    let chain = Chain::start();
    let reg = |seed: u8, role: Role| {
        TxKind::RegisterKey(RegisterKeyTx {
            key: public(seed),
            role,
        })
    };
    events(&chain, CONSOLE_KEY, reg(ISSUER, Role::Issuer)).await;
    let terminal = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    events(&chain, CONSOLE_KEY, reg(TERMINAL, terminal)).await;
    let pool = testkit::pool_id("spring");
    let mut spec = testkit::spec(PoolKind::UniqueCodes);
    spec.name = "Spring 10".into();
    spec.valid_from_ms = now_ms() - 86_400_000;
    spec.valid_until_ms = now_ms() + 365 * 86_400_000;
    events(
        &chain,
        ISSUER,
        TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec,
        }),
    )
    .await;
    let codes = (0..MEMBERS)
        .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
        .collect();
    events(
        &chain,
        ISSUER,
        TxKind::IssueCodes(IssueCodesTx {
            pool: pool.clone(),
            codes,
        }),
    )
    .await;
    events(
        &chain,
        ISSUER,
        TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        }),
    )
    .await;
    let allocations = (1..=MEMBERS).map(|m| {
        events(
            &chain,
            ISSUER,
            TxKind::Allocate(AllocateTx {
                pool: pool.clone(),
                member: testkit::member(m),
                claim: testkit::claim(m),
            }),
        )
    });
    let tokens: Vec<_> = futures::future::join_all(allocations)
        .await
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            Event::Allocated { token, member, .. } => Some((token, member)),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len() as u64, MEMBERS);
    let redemptions = tokens.iter().take(12).enumerate().map(|(i, (token, m))| {
        events(
            &chain,
            TERMINAL,
            TxKind::Redeem(RedeemTx {
                target: RedeemTarget::Token(token.clone()),
                member: Some(*m),
                order: testkit::order(4_000 + 500 * i as u64),
            }),
        )
    });
    futures::future::join_all(redemptions).await;
    let analytics = Arc::new(Analytics::open(&chain.dir.path().join("analytics.sqlite")).unwrap());
    analytics.catch_up(chain.node.store()).unwrap();
    let dir = chain.dir.path().join("console");
    std::fs::create_dir_all(&dir).unwrap();
    let console = Console::open(
        &dir,
        chain.node.clone(),
        testkit::org("acme"),
        Some(analytics.clone()),
        ConsoleConfig::default(),
        WriteKeys {
            signer: Some(key(CONSOLE_KEY)),
            data_key: None,
        },
    )
    .unwrap();
    (chain, console, analytics)
}

/// The value of the input named `name`.
fn input(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name}"))
        + marker.len();
    let end = html[start..].find('"').unwrap();
    unescape(&html[start..start + end])
}

/// The text of the textarea named `name`.
fn textarea(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker).unwrap();
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = html[start..].find("</textarea>").unwrap();
    unescape(&html[start..start + end])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advisor_shows_its_figures_and_a_proposal_becomes_a_draft_pool() {
    let (chain, console, analytics) = advised_chain().await;
    let router = console.router();
    let admin = sign_in(&console, "ada", StaffRole::Admin);
    let analyst = sign_in(&console, "ann", StaffRole::Analyst);
    let height = chain.node.store().tip().unwrap().height;
    // What the page must show: the advice at this height, made directly.
    let req = AdviseRequest::new("acme");
    let advice = advise(&req, &gather(&analytics, chain.node.store(), &req).unwrap()).unwrap();
    assert_eq!(advice.stamp.height, height);
    assert!(!advice.proposals.is_empty(), "{:#?}", advice.segments);

    let (status, html) = page(&router, &admin, "/console/advisor").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(">Advisor</a>"), "the nav lists the page");
    assert_eq!(cell(&html, "stamp-height"), height.to_string());
    assert_eq!(cell(&html, "stamp-root"), advice.stamp.state_root);
    let pools = html.split("data-pool=\"spring\"").nth(1).unwrap();
    let row = &pools[..pools.find("</tr>").unwrap()];
    let review = &advice.pools[0];
    assert!(row.contains("Spring 10"), "{row}");
    assert!(
        row.contains(&format!(
            "{}.{:02} %",
            review.redemption_rate_bp.unwrap() / 100,
            review.redemption_rate_bp.unwrap() % 100
        )),
        "{row}"
    );
    assert_eq!((review.allocated, review.redeemed), (MEMBERS, 12));
    assert!(
        row.contains(&format!("quadrant-{}", review.quadrant.name())),
        "{row}"
    );
    for s in &advice.segments {
        assert!(html.contains(&s.segment.name().replace('_', " ")));
    }
    assert!(cell(&html, "models").starts_with("Segments: "));
    for p in &advice.proposals {
        assert!(html.contains(&format!("data-proposal=\"{}\"", p.id)));
        assert!(html.contains(&format!("href=\"/console/pools/new?proposal={}\"", p.id)));
    }
    assert!(!html.contains("budget-title"), "no budget asked for");
    // An analyst reads it, without adopt links.
    let (status, html) = page(&router, &analyst, "/console/advisor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-proposal=\"p1\"") && !html.contains("Adopt as draft"));

    // A budget: the split, by segment.
    let (status, html) = page(&router, &admin, "/console/advisor?period=60&budget=500.00").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let method = cell(&html, "budget-method");
    assert!(
        method.starts_with("500.00 EUR across the proposals"),
        "{method}"
    );
    assert!(html.contains("class=\"advisor-budget\""));
    assert!(
        html.contains("proposal=p1&amp;period=60"),
        "adopt keeps the period"
    );

    // Bad input: the page says why, with a 400.
    for (query, says) in [
        ("period=3", "period must be 7 to 365 days, not 3"),
        ("period=week", "period must be a whole number of days"),
        ("budget=5.001", "budget:"),
        ("budget=-5", "budget:"),
        ("budget=0", "budget must be above 0"),
    ] {
        let (status, html) = page(&router, &admin, &format!("/console/advisor?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let error = cell(&html, "advisor-error");
        assert!(error.contains(says), "{query}: {error}");
        assert!(html.contains("id=\"advisor-query\""), "the form stays");
    }

    // Adopting p1: the form prefilled at the current height.
    let p1 = &advice.proposals[0];
    let (status, html) = page(&router, &admin, "/console/pools/new?proposal=p1").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(
        cell(&html, "notice"),
        format!(
            "Prefilled from advisor proposal p1 at height {height}: nothing is created until you submit."
        )
    );
    let id = input(&html, "id");
    assert!(id.ends_with(&format!("-{height}")), "{id}");
    assert!(id.contains(&p1.segment.name().replace('_', "-")), "{id}");
    assert_eq!(input(&html, "name"), p1.spec.name);
    assert_eq!(input(&html, "total_cap"), p1.spec.total_cap.to_string());
    let spec_toml = textarea(&html, "spec_toml");
    assert!(spec_toml.contains(&format!("id = \"{id}\"")), "{spec_toml}");
    // Nothing was created by looking.
    let pool = couponcactus_chaincode::ids::PoolId::new(id.as_str()).unwrap();
    assert!(chain.get(StateKey::Pool(pool.clone())).is_none());
    // An analyst may not adopt (creating a pool is a write).
    let (status, _) = page(&router, &analyst, "/console/pools/new?proposal=p1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Submitting the prefilled spec creates exactly the proposal's pool, in draft.
    let (status, location, body) = post(
        &router,
        &admin,
        "/console/pools/new",
        &[
            ("csrf", admin.csrf.as_str()),
            ("id", id.as_str()),
            ("spec_toml", spec_toml.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, format!("/console/pools/{id}?done=created"));
    let Some(StateValue::Pool(record)) = chain.get(StateKey::Pool(pool)) else {
        panic!("the adopted pool is not in state");
    };
    assert_eq!(record.status, PoolStatus::Draft);
    assert_eq!(record.spec, p1.spec);

    // An unknown proposal: the form, with the reason.
    let (status, html) = page(&router, &admin, "/console/pools/new?proposal=p9").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = cell(&html, "form-error");
    assert!(
        error.contains("no advisor proposal &quot;p9&quot;"),
        "{error}"
    );
    assert!(!html.contains("id=\"notice\""));
    let (status, html) = page(&router, &admin, "/console/pools/new?proposal=p1&period=400").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(cell(&html, "form-error").contains("period must be 7 to 365 days"));
}
