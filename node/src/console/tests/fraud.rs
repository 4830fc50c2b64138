//! The fraud page (`/console/fraud`) against a real one-node chain: acme's `risk` key (its
//! fraud engine) holds a member and a terminal pending review, an org admin holds another
//! member; the console (signing with acme's genesis admin key) lists them with Confirm and
//! Lift for a writer and without for an analyst, confirms one (its state becomes
//! confirmed, by the console's key) and lifts others (deleted). A missing CSRF token, a
//! read-only role, a blank or multi-line note, an unknown target are refused before
//! anything is signed (the chain's height does not move); a hold confirmed already and a
//! console signing with an issuer key get the chain's refusal in its words. The scorer's
//! flags written to `risk.sqlite` in the console's data directory are listed with their
//! reasons; without the file the page says scoring is off and how to turn it on.

use super::balances::{Session, cell, height, page, post, sign_in};
use crate::console::{Console, ConsoleConfig, Role as StaffRole, WriteKeys};
use crate::risk::engine::{Assessment, Reason, Verdict};
use crate::risk::store::{Flag, Label, RISK_FILE, RiskStore};
use crate::testchain::{CONSOLE_KEY, Chain};
use axum::Router;
use axum::http::StatusCode;
use couponcactus_chaincode::ids::{Channel, MemberId, StoreId};
use couponcactus_chaincode::risk::{HoldReason, HoldRecord, HoldStatus, HoldTarget};
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::testkit::{self, key, member, public};
use couponcactus_chaincode::tx::{EarnTx, PlaceHoldTx, RegisterKeyTx, SetProgramTx, TxKind};
use couponcactus_chaincode::types::Role;
use std::sync::Arc;

const ISSUER: u8 = 10;
const TERMINAL: u8 = 11;
const RISK: u8 = 30;

async fn register(chain: &Chain, seed: u8, role: Role) {
    let kind = TxKind::RegisterKey(RegisterKeyTx {
        key: public(seed),
        role,
    });
    chain.applied(&key(CONSOLE_KEY), kind).await;
}

/// Holds `target` signed by `seed` (pending review for the risk key).
async fn place(chain: &Chain, seed: u8, target: &HoldTarget, reason: HoldReason, note: &str) {
    let kind = TxKind::PlaceHold(PlaceHoldTx {
        target: target.clone(),
        reason,
        note: note.into(),
    });
    chain.applied(&key(seed), kind).await;
}

fn hold(chain: &Chain, target: &HoldTarget) -> Option<HoldRecord> {
    match chain.get(StateKey::Hold(testkit::org("acme"), target.clone())) {
        Some(StateValue::Hold(h)) => Some(h),
        None => None,
        other => panic!("not a hold: {other:?}"),
    }
}

/// `kind:id` of a target, as the page's rows carry it.
fn row_id(target: &HoldTarget) -> String {
    let id = match target {
        HoldTarget::Member(m) => m.to_hex(),
        HoldTarget::Terminal(k) => k.to_hex(),
        HoldTarget::Code(h) => h.to_hex(),
    };
    format!("{}:{id}", target.kind_name())
}

/// The table of class `class` (empty when the page has none).
fn table<'a>(html: &'a str, class: &str) -> &'a str {
    let Some(start) = html.find(&format!("<table class=\"{class}\">")) else {
        return "";
    };
    let end = html[start..].find("</table>").unwrap();
    &html[start..start + end]
}

/// The holds a table lists, in page order (`kind:id`).
fn listed(table: &str) -> Vec<String> {
    table
        .split("data-hold=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

/// The row of `target` in a table.
fn row<'a>(table: &'a str, target: &HoldTarget) -> &'a str {
    let start = table
        .find(&format!("data-hold=\"{}\"", row_id(target)))
        .unwrap_or_else(|| panic!("no row of {target}"));
    let end = table[start..].find("</tr>").unwrap();
    &table[start..start + end]
}

/// The decisions a row offers (its buttons' values), in page order.
fn offered(row: &str) -> Vec<&str> {
    row.split("name=\"decision\" value=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

/// A review of `target` as `s`, with its CSRF token.
async fn review(
    router: &Router,
    s: &Session,
    target: &HoldTarget,
    decision: &str,
    note: &str,
) -> (StatusCode, String, String) {
    let (kind, id) = row_id(target)
        .split_once(':')
        .map(|(k, i)| (k.to_string(), i.to_string()))
        .unwrap();
    let form = [
        ("csrf", s.csrf.as_str()),
        ("kind", kind.as_str()),
        ("id", id.as_str()),
        ("decision", decision),
        ("note", note),
    ];
    post(router, s, "/console/fraud/holds", &form).await
}

async fn fraud_page(router: &Router, s: &Session) -> String {
    let (status, html) = page(router, s, "/console/fraud").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    html
}

/// acme with a terminal, a risk key and a program members 3 and 4 earned in; the risk key
/// holds member 3 and the terminal (pending review), the console's admin key member 4
/// (confirmed).
async fn held_chain() -> (Chain, [HoldTarget; 3]) {
    let chain = Chain::start();
    let terminal = Role::Terminal {
        store: StoreId::new("berlin-1").unwrap(),
        channel: Channel::new("pos").unwrap(),
    };
    register(&chain, TERMINAL, terminal).await;
    register(&chain, RISK, Role::Risk).await;
    // acme holds only members it knows: members 3 and 4 earned in its program.
    let program = SetProgramTx {
        spec: testkit::program_spec(),
    };
    chain
        .applied(&key(CONSOLE_KEY), TxKind::SetProgram(program))
        .await;
    for m in [3, 4] {
        let earn = EarnTx {
            program: testkit::org("acme"),
            member: member(m),
            order_ref: format!("o-{m}"),
            order: testkit::order(5_000),
        };
        chain.applied(&key(TERMINAL), TxKind::Earn(earn)).await;
    }
    let m3 = HoldTarget::Member(member(3));
    let till = HoldTarget::Terminal(public(TERMINAL));
    let m4 = HoldTarget::Member(member(4));
    let note = "score 70: <b>velocity</b> 6 > 5";
    place(&chain, RISK, &m3, HoldReason::Velocity, note).await;
    place(
        &chain,
        RISK,
        &till,
        HoldReason::Collusion,
        "redeems for others",
    )
    .await;
    place(
        &chain,
        CONSOLE_KEY,
        &m4,
        HoldReason::Other,
        "asked by phone",
    )
    .await;
    (chain, [m3, till, m4])
}

/// The page as the admin first sees it: the risk key's holds (member 3, the terminal)
/// pending with both buttons, the admin's (member 4) in force with Lift, scoring off.
fn first_look(html: &str, [m3, till, m4]: [&HoldTarget; 3]) {
    assert!(html.contains(">Fraud</a>"), "the nav lists the page");
    let pending = table(html, "pending-holds");
    assert_eq!(listed(pending), [row_id(till), row_id(m3)], "newest first");
    assert_eq!(cell(html, "pending-count"), "2");
    assert_eq!(offered(row(pending, m3)), ["confirm", "lift"]);
    assert_eq!(offered(row(pending, till)), ["confirm", "lift"]);
    let m3_row = row(pending, m3);
    assert!(
        m3_row.contains("the org&#x27;s fraud engine (risk key)"),
        "{m3_row}"
    );
    assert!(m3_row.contains("&lt;b&gt;velocity") && !html.contains("<b>velocity"));
    assert!(m3_row.contains(&format!("?member={}", member(3))));
    assert!(row(pending, till).contains("store berlin-1 (pos)"));
    assert!(row(pending, till).contains("collusion"));
    let confirmed = table(html, "confirmed-holds");
    assert_eq!(listed(confirmed), [row_id(m4)]);
    assert_eq!(
        offered(row(confirmed, m4)),
        ["lift"],
        "confirmed: lift only"
    );
    assert!(row(confirmed, m4).contains("an org admin"));
    assert!(
        !html.contains("id=\"key-hint\""),
        "the console key is an admin's"
    );
    // No risk.sqlite in the console's directory: scoring is off, and how to turn it on.
    let off = cell(html, "scoring-off");
    assert!(off.contains("Fraud scoring is off"), "{off}");
    assert!(
        html.contains("<code>fraud_scoring = true</code>") && html.contains("docs/intelligence.md")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_fraud_page_lists_holds_and_confirms_and_lifts_them() {
    let (chain, [m3, till, m4]) = held_chain().await;
    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    first_look(&fraud_page(&router, &ada).await, [&m3, &till, &m4]);

    refusals_sign_nothing(&chain, &console, &ada, &m3).await;

    // Confirm: the state says confirmed, by the console's key; the row moves.
    let (status, location, body) = review(&router, &ada, &m3, "confirm", "seen on CCTV").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/fraud?done=confirmed");
    let record = hold(&chain, &m3).expect("still held");
    assert_eq!(
        (record.status, record.confirmed_by),
        (HoldStatus::Confirmed, Some(public(CONSOLE_KEY)))
    );
    let (_, html) = page(&router, &ada, &location).await;
    assert!(cell(&html, "notice").starts_with("Hold confirmed"));
    assert_eq!(listed(table(&html, "pending-holds")), [row_id(&till)]);
    assert_eq!(
        listed(table(&html, "confirmed-holds")),
        [row_id(&m4), row_id(&m3)],
        "newest placed first"
    );
    // Confirmed already: the chain refuses, in its words; nothing changes.
    let (status, _, body) = review(&router, &ada, &m3, "confirm", "again").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("invalid_transition"), "{body}");
    assert!(body.contains("is confirmed already"), "{body}");

    // Lift: a pending hold and a confirmed one are deleted.
    for target in [&till, &m4] {
        let (status, location, body) = review(&router, &ada, target, "lift", "not fraud").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(location, "/console/fraud?done=lifted");
        assert_eq!(hold(&chain, target), None, "{target} lifted");
    }
    let (_, html) = page(&router, &ada, "/console/fraud?done=lifted").await;
    assert!(cell(&html, "notice").starts_with("Hold lifted"));
    assert!(cell(&html, "no-pending").contains("No hold is waiting"));
    assert_eq!(listed(table(&html, "confirmed-holds")), [row_id(&m3)]);
}

/// What is refused before anything is signed: the height does not move.
async fn refusals_sign_nothing(
    chain: &Chain,
    console: &Arc<Console>,
    ada: &Session,
    m3: &HoldTarget,
) {
    let router = console.router();
    let before = height(chain);
    let id = member(3).to_hex();
    // No or a wrong CSRF token.
    for csrf in [None, Some("0000")] {
        let mut form = vec![("kind", "member"), ("id", id.as_str())];
        form.extend([("decision", "confirm"), ("note", "seen")]);
        form.extend(csrf.map(|c| ("csrf", c)));
        let (status, _, body) = post(&router, ada, "/console/fraud/holds", &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}: {body}");
        assert!(body.contains("your form expired"), "{body}");
    }
    // A blank, multi-line or too long note.
    let long = "x".repeat(281);
    for note in ["", "   ", "two\nlines", long.as_str()] {
        let (status, _, body) = review(&router, ada, m3, "confirm", note).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{note:?}: {body}");
        assert!(body.contains("nothing was submitted"), "{body}");
        assert!(!body.contains("the ledger refused"), "{body}");
    }
    // An unknown decision, kind or id; a member acme does not hold.
    let (status, _, body) = review(&router, ada, m3, "maybe", "seen").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("confirm or lift"), "{body}");
    for (kind, id, says) in [
        ("store", id.as_str(), "member, terminal or code"),
        ("member", "abc", "64 hex digits"),
    ] {
        let form = [
            ("csrf", ada.csrf.as_str()),
            ("kind", kind),
            ("id", id),
            ("decision", "lift"),
            ("note", "seen"),
        ];
        let (status, _, body) = post(&router, ada, "/console/fraud/holds", &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(says), "{body}");
    }
    let free = HoldTarget::Member(MemberId([9; 32]));
    let (status, _, body) = review(&router, ada, &free, "lift", "seen").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("acme holds no member"), "{body}");
    // A read-only role sees the holds without buttons, and its forged POST is refused.
    let ann = sign_in(console, "ann", StaffRole::Analyst);
    let html = fraud_page(&router, &ann).await;
    assert_eq!(listed(table(&html, "pending-holds")).len(), 2);
    assert!(
        !html.contains("name=\"decision\""),
        "no buttons for an analyst"
    );
    assert!(!html.contains("action=\"/console/fraud/holds\""));
    assert!(cell(&html, "read-only").contains("needs the admin or issuer role"));
    let (status, _, body) = review(&router, &ann, m3, "confirm", "seen").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("analyst user"), "{body}");
    assert_eq!(height(chain), before, "nothing was submitted");
    assert_eq!(hold(chain, m3).unwrap().status, HoldStatus::PendingReview);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_fraud_with_an_issuer_key_shows_the_chains_refusal() {
    let (chain, [m3, _, _]) = held_chain().await;
    register(&chain, ISSUER, Role::Issuer).await;
    let console = chain.console_signing("acme", "console-issuer", ISSUER);
    let router = console.router();
    let ivy = sign_in(&console, "ivy", StaffRole::Issuer);
    let html = fraud_page(&router, &ivy).await;
    let hint = cell(&html, "key-hint");
    assert!(hint.contains("has the issuer role"), "{hint}");
    assert!(hint.contains("cactus hold confirm|lift"), "{hint}");
    assert_eq!(
        offered(row(table(&html, "pending-holds"), &m3)),
        ["confirm", "lift"]
    );
    let (status, _, body) = review(&router, &ivy, &m3, "confirm", "seen on CCTV").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not_authorized"), "{body}");
    assert!(
        body.contains("needs an org_admin key, signer is issuer"),
        "{body}"
    );
    assert_eq!(hold(&chain, &m3).unwrap().status, HoldStatus::PendingReview);
}

/// A flag of event `n` (`n` ms after `t0`) with two reasons.
fn flag(n: u64, t0: u64, subject: Option<(HoldTarget, HoldReason)>) -> Flag {
    Flag {
        event_id: format!("{n}:0"),
        time_ms: t0 + n,
        height: n,
        tx_id: format!("{n:064x}"),
        event_type: "tx.rejected".into(),
        pool: Some("spring".into()),
        store: Some("berlin-1".into()),
        assessment: Assessment {
            score: 75,
            reasons: vec![
                Reason {
                    rule: "failed_validations".into(),
                    observed: 9,
                    threshold: 8,
                    weight: 60,
                },
                Reason {
                    rule: "off_hours".into(),
                    observed: 3,
                    threshold: 0,
                    weight: 15,
                },
            ],
            subject,
            verdict: Verdict::Hold,
        },
    }
}

/// The flags a page lists, in page order (event ids).
fn flags_listed(html: &str) -> Vec<String> {
    table(html, "flags")
        .split("data-flag=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_fraud_lists_the_scorers_flags_with_their_reasons() {
    let chain = Chain::start();
    let console = chain.console("acme", "console-acme");
    let router = console.router();
    let ada = sign_in(&console, "ada", StaffRole::Admin);
    let html = fraud_page(&router, &ada).await;
    assert!(cell(&html, "scoring-off").contains("Fraud scoring is off"));
    assert!(flags_listed(&html).is_empty());

    // The scorer's file in the console's data directory, 205 flags in it.
    let store = RiskStore::open(&console.data_dir().join(RISK_FILE)).unwrap();
    let t0 = 1_764_000_000_000;
    let till = (
        HoldTarget::Terminal(public(TERMINAL)),
        HoldReason::Enumeration,
    );
    let who = (HoldTarget::Member(member(7)), HoldReason::Velocity);
    let mut flags: Vec<Flag> = (0..203).map(|n| flag(n, t0, None)).collect();
    flags.push(flag(203, t0, Some(who)));
    flags.push(flag(204, t0, Some(till)));
    store.add(&flags).unwrap();
    store
        .set_action("204:0", "hold requested (tx <i>abc</i>)")
        .unwrap();
    // Three hold reviews the scorer saved as labels (one twice: an event id once).
    let label = |n: u64, fraud| Label {
        event_id: format!("{n}:1"),
        time_ms: t0,
        height: n,
        subject: HoldTarget::Member(member(7)),
        fraud,
    };
    let labels = [
        label(1, true),
        label(2, false),
        label(3, false),
        label(3, false),
    ];
    assert_eq!(store.add_labels(&labels).unwrap(), 3);
    let html = fraud_page(&router, &ada).await;
    assert!(
        cell(&html, "labels").contains("1 confirmed (fraud), 2 lifted while pending review"),
        "{}",
        cell(&html, "labels")
    );
    assert!(!html.contains("scoring-off"));
    assert!(
        cell(&html, "scoring-stopped").contains("Fraud scoring is off in this node"),
        "config off"
    );
    let listed = flags_listed(&html);
    assert_eq!(listed.len(), 200, "the newest 200");
    assert_eq!((listed[0].as_str(), listed[199].as_str()), ("204:0", "5:0"));
    let newest = {
        let t = table(&html, "flags");
        let start = t.find("data-flag=\"204:0\"").unwrap();
        &t[start..start + t[start..].find("</tr>").unwrap()]
    };
    for says in [
        "2025-11-24T16:00:00Z",
        ">75<",
        "class=\"verdict-hold\"",
        "tx.rejected",
        "berlin-1",
        "/console/pools/spring",
        "<code>failed_validations 9 &gt; 8 (+60)</code>",
        "<code>off_hours 3 &gt; 0 (+15)</code>",
        &format!(
            "terminal {}… (enumeration)",
            &public(TERMINAL).to_hex()[..12]
        ),
        "hold requested (tx &lt;i&gt;abc&lt;&#x2f;i&gt;)",
    ] {
        assert!(newest.contains(says), "{says:?} in {newest}");
    }
    let member_flag = table(&html, "flags");
    assert!(member_flag.contains(&format!("?member={}", member(7))));

    scoring_on_says_so(&chain, &console).await;
}

/// A console with scoring on, over the same file, says so and lists the same flags.
async fn scoring_on_says_so(chain: &Chain, console: &Console) {
    let config = ConsoleConfig {
        fraud_scoring: true,
        ..ConsoleConfig::default()
    };
    let scoring = Console::open(
        console.data_dir(),
        chain.node.clone(),
        testkit::org("acme"),
        None,
        config,
        WriteKeys::default(),
    )
    .unwrap();
    let nina = sign_in(&scoring, "nina", StaffRole::Analyst);
    let html = fraud_page(&scoring.router(), &nina).await;
    assert!(cell(&html, "scoring-on").starts_with("Fraud scoring is on"));
    assert_eq!(flags_listed(&html).len(), 200);
}
