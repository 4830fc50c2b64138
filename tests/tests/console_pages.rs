//! The console's read-only pages end to end (a real `cactusd --dev`, headless Chromium):
//! the redemption log (filters, code search, CSV export equal to the ledger's
//! `/v1/analytics/redemptions`, PDF export), member lookup, the token page with its
//! server-verified proof badge and a downloaded proof checked by `cactus audit
//! check-proof`, the audit page, and the loyalty balances page (before and after the org
//! sets its program), and the fraud page (a hold the org's risk key placed, pending
//! review, with its Confirm button, and scoring on); each with a bad input. And the
//! advisor: its proposals, a bad budget, and the first proposal adopted through the
//! prefilled new-pool form into a draft pool.

use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::risk::{HoldReason, HoldTarget};
use couponcactus_chaincode::tx::{PlaceHoldTx, RegisterKeyTx, TxKind};
use couponcactus_chaincode::types::Role;
use couponcactus_tests::browser::{Browser, WAIT};
use couponcactus_tests::console::{PASSWORD, add_user, csrf_field, http, session};
use couponcactus_tests::node::{cactus_binary, run_cactus};
use couponcactus_tests::{DevNode, fixtures};
use reqwest::blocking::Client as Http;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn get(http: &Http, cookie: &str, url: &str) -> (u16, String) {
    let r = http.get(url).header(COOKIE, cookie).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// The ledger's redemptions of the org (the issuer's signed read of
/// `/v1/analytics/redemptions`) once the analytics store covers `height`.
fn ledger_rows(node: &DevNode, query: &str, height: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = format!("/v1/analytics/redemptions?org=dev{query}");
        let json: Value = node
            .client()
            .get_signed(&node.keys().issuer, &path)
            .expect(200)
            .json();
        if json["stamp"]["height"].as_u64() >= Some(height) {
            return json["rows"].as_array().cloned().unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "analytics never reached {height}: {json}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// CSV rows as (column → value) maps.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every page at 375 px: nothing wider than the window.
fn fits_a_phone(browser: &Browser, base: &str, paths: &[&str]) {
    browser.resize(375, 800);
    for path in paths {
        browser.goto(&format!("{base}{path}"));
        browser.wait_for("h1");
        let fits =
            browser.eval("return [document.documentElement.scrollWidth, window.innerWidth];");
        let (scroll, inner) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{path}: {scroll} px wide in a {inner} px window"
        );
    }
    browser.resize(1280, 900);
}

#[test]
fn redemption_log_filters_search_and_exports_equal_the_ledger() {
    let node = DevNode::start();
    add_user(&node, "nina", "analyst");
    let spring = node.create_active_pool("spring", 4);
    let autumn = node.create_active_pool("autumn", 2);
    for code in [&spring.codes[0], &spring.codes[1], &autumn.codes[0]] {
        assert_eq!(
            node.redeem_code(code, fixtures::order(5_000)).status,
            "applied"
        );
    }
    let height = node.status().height;
    let (http, base) = (http(), node.url());
    let cookie = session(&http, &base, "nina");

    // The CSV of a filter is the ledger's redemptions for that filter, field by field.
    let ledger = ledger_rows(&node, "&pool=spring", height);
    assert_eq!(ledger.len(), 2);
    let r = http
        .get(format!("{base}/console/redemptions.csv?pool=spring"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv_rows(&r.text().unwrap());
    assert_eq!(csv.len(), ledger.len(), "{csv:?}");
    for (row, want) in csv.iter().zip(&ledger) {
        for (column, field) in [
            ("id", "id"),
            ("height", "height"),
            ("tx_id", "tx_id"),
            ("pool", "pool"),
            ("token", "token"),
            ("store", "store"),
            ("channel", "channel"),
            ("terminal", "terminal"),
            ("discount_minor", "discount_minor"),
            ("eligible_minor", "eligible_minor"),
            ("rolled_back_height", "rolled_back_height"),
        ] {
            assert_eq!(row[column], as_text(&want[field]), "{column} of {row:?}");
        }
    }
    let all = csv_rows(&get(&http, &cookie, &format!("{base}/console/redemptions.csv")).1);
    assert_eq!(all.len(), ledger_rows(&node, "", height).len());
    assert_eq!(all.len(), 3);
    let none = csv_rows(
        &get(
            &http,
            &cookie,
            &format!("{base}/console/redemptions.csv?result=rolled_back"),
        )
        .1,
    );
    assert!(none.is_empty(), "{none:?}");
    let pdf = http
        .get(format!("{base}/console/redemptions.pdf?pool=autumn"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().unwrap().starts_with(b"%PDF"));

    // Malformed filters: a message, not a 500.
    for (query, message) in [
        ("from=yesterday", "is not a day"),
        ("result=lost", "unknown result"),
        ("member=42", "not a member id"),
        ("from=2026-12-05&to=2026-12-01", "range is empty"),
    ] {
        let (status, body) = get(
            &http,
            &cookie,
            &format!("{base}/console/redemptions?{query}"),
        );
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(message), "{query}: {body}");
    }

    // The code search: the POST is hashed at once; only the hash is in the next URL.
    let page = get(&http, &cookie, &format!("{base}/console/redemptions")).1;
    let csrf = csrf_field(&page);
    let code = spring.codes[1].clone();
    let r = http
        .post(format!("{base}/console/redemptions/search"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.contains("code_hash=") && !location.contains(&code),
        "{location}"
    );
    let (status, found) = get(&http, &cookie, &format!("{base}{location}"));
    assert_eq!(status, 200);
    assert_eq!(
        found.matches("data-event=").count(),
        1,
        "one redemption of that code"
    );
    assert!(!found.contains(&code), "the page does not show the code");
    let refused = http
        .post(format!("{base}/console/redemptions/search"))
        .header(COOKIE, &cookie)
        .form(&[("code", code.as_str())])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403, "no CSRF token");

    // In the browser: the log, a filter, and a code that does not exist.
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "nina", PASSWORD);
    browser.goto(&format!("{base}/console/redemptions"));
    browser.wait_for("table.redemptions");
    assert_eq!(browser.texts("table.redemptions tbody tr").len(), 3);
    assert!(browser.text("[data-height]").is_some());
    browser.screenshot("redemptions");
    browser.goto(&format!("{base}/console/redemptions?pool=autumn"));
    browser.wait_for("table.redemptions");
    assert_eq!(browser.texts("table.redemptions tbody tr").len(), 1);
    browser.fill("#f-code", "NOPE-NOPE-NOPE");
    browser.click(".code-search button[type=submit]");
    let problem = browser.wait_for("#problem");
    assert!(problem.contains("No coupon with that code"), "{problem}");
    assert!(!browser.url().contains("NOPE"), "{}", browser.url());
    browser.goto(&format!("{base}/console/redemptions?result=rolled_back"));
    let empty = browser.wait_for("#empty");
    assert!(empty.contains("No redemptions match"), "{empty}");
    fits_a_phone(
        &browser,
        &base,
        &[
            "/console/redemptions",
            "/console/redemptions?result=rejected",
        ],
    );
}

#[test]
fn member_token_audit_and_balances_pages_with_a_verified_proof() {
    let node = DevNode::start();
    add_user(&node, "erin", "auditor");
    let spring = node.create_active_pool("spring", 3);
    let allocated = node.client().submit(&node.allocate_tx(&spring.id, 7));
    assert_eq!(allocated.status, 200, "{allocated:?}");
    let (http, base) = (http(), node.url());
    let cookie = session(&http, &base, "erin");
    let member = fixtures::member(7).to_string();

    // Member lookup: the wallet links to the token page.
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "erin", PASSWORD);
    browser.goto(&format!("{base}/console/members?member={member}"));
    browser.wait_for("table.wallet");
    let links = browser.texts("table.wallet tbody td:first-child a");
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(links[0].starts_with("spring/"), "{links:?}");
    assert!(
        !browser.texts("table.uses tbody tr").is_empty(),
        "the allocation is in the history"
    );
    browser.screenshot("member");
    browser.goto(&format!("{base}/console/members?member=not-hex"));
    let problem = browser.wait_for("#problem");
    assert!(problem.contains("not a member id"), "{problem}");
    browser.goto(&format!(
        "{base}/console/members?member={}",
        fixtures::member(8)
    ));
    assert!(browser.wait_for("#empty").contains("No coupons"));

    // The token page: verified once a checkpoint certifies the allocation.
    let token = links[0].clone();
    let deadline = Instant::now() + WAIT;
    let badge = loop {
        browser.goto(&format!("{base}/console/tokens/{token}"));
        let badge = browser.wait_for("#proof-badge");
        if badge.contains("State proof verified") {
            break badge;
        }
        assert!(
            Instant::now() < deadline,
            "the badge never verified: {badge}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        badge.contains("verified against certified checkpoint at height"),
        "{badge}"
    );
    // Anchored to the node's genesis, as `check-proof --genesis` anchors it.
    let genesis = couponcactus_genesis::Genesis::load(&node.dir().join("genesis.toml"))
        .unwrap()
        .hash()
        .to_string();
    assert!(
        badge.contains(&format!("anchored to genesis {}", &genesis[..16])),
        "{badge}"
    );
    assert!(browser.text("h1").unwrap().contains("allocated"));
    assert!(!browser.texts("table.history tbody tr").is_empty());
    browser.screenshot("token");

    // The downloaded proof passes `cactus audit check-proof` against the genesis.
    let (status, proof) = get(
        &http,
        &cookie,
        &format!("{base}/console/tokens/{token}/proof.json"),
    );
    assert_eq!(status, 200, "{proof}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proof.json");
    std::fs::write(&file, &proof).unwrap();
    let mut command = Command::new(cactus_binary());
    command
        .arg("--genesis")
        .arg(node.dir().join("genesis.toml"))
        .args(["audit", "check-proof"])
        .arg(&file)
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_GENESIS")
        .env("NO_COLOR", "1");
    let run = run_cactus(command, Duration::from_secs(60)).ok();
    assert!(run.stdout.contains("VALID"), "{run:?}");
    // A tampered proof fails it.
    std::fs::write(&file, proof.replacen("\"serial\": ", "\"serial\": 1", 1)).unwrap();
    let mut command = Command::new(cactus_binary());
    command
        .arg("--genesis")
        .arg(node.dir().join("genesis.toml"))
        .args(["audit", "check-proof"])
        .arg(&file)
        .env_remove("CACTUS_GENESIS");
    assert_ne!(
        run_cactus(command, Duration::from_secs(60)).code,
        0,
        "a tampered proof"
    );

    // Unknown tokens: a 404 page with a clear message.
    for path in ["spring/999", "nope/1", "spring/x"] {
        let (status, body) = get(&http, &cookie, &format!("{base}/console/tokens/{path}"));
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("no token"), "{path}: {body}");
    }
    browser.goto(&format!("{base}/console/tokens/spring/999"));
    assert!(browser.wait_for("#problem").contains("no token spring/999"));

    // The audit page: certified height, signers, consortium, no divergence.
    browser.goto(&format!("{base}/console/audit"));
    browser.wait_for("#certified-height");
    let certified: u64 = browser.text("#certified-height").unwrap().parse().unwrap();
    assert!(certified >= 1);
    assert!(!browser.text("#signers").unwrap().is_empty());
    assert!(
        browser
            .text("#divergence")
            .unwrap()
            .contains("No divergence")
    );
    assert!(!browser.texts("table.nodes tbody tr").is_empty());
    browser.screenshot("audit");

    // Balances: none before the org sets a program; then its liability and a pending
    // adjustment (read-only for an auditor).
    browser.goto(&format!("{base}/console/balances"));
    let none = browser.wait_for("#no-program");
    assert!(none.contains("runs no loyalty program"), "{none}");
    let keys = node.dir().join("keys");
    let key = |name: &str| keys.join(format!("{name}.key")).display().to_string();
    let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/loyalty/program.toml")
        .display()
        .to_string();
    let member_hex = member.as_str();
    for args in [
        vec![
            "program",
            "set",
            "--key",
            &key("org-admin"),
            "--file",
            &program,
        ],
        vec![
            "points",
            "load",
            "--key",
            &key("issuer"),
            "--member",
            member_hex,
            "--segment",
            "gift",
            "--amount",
            "25.00",
            "--reference",
            "card-77",
        ],
        vec![
            "points",
            "adjust",
            "--key",
            &key("org-admin"),
            "--member",
            member_hex,
            "--segment",
            "mileage",
            "--amount",
            "6000",
            "--reason",
            "migration",
            "--note",
            "carried over",
        ],
    ] {
        let mut command = Command::new(cactus_binary());
        command
            .args(&args)
            .current_dir(dir.path())
            .env("CACTUS_NODE", &base)
            .env_remove("CACTUS_KEY")
            .env_remove("CACTUS_GENESIS")
            .env("NO_COLOR", "1");
        run_cactus(command, Duration::from_secs(60)).ok();
    }
    browser.goto(&format!("{base}/console/balances"));
    assert_eq!(browser.wait_for("#liability-gift"), "25.00 EUR");
    assert_eq!(browser.text("#liability-mileage").unwrap(), "0 points");
    assert_eq!(browser.text("#expiring-gift-90").unwrap(), "0.00 EUR");
    assert_eq!(browser.text("#accounts").unwrap(), "1");
    let rows = browser.texts("table.pending tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("credit 6000 points"), "{rows:?}");
    assert!(
        browser
            .text("#read-only")
            .unwrap()
            .contains("needs the admin or issuer role")
    );
    browser.screenshot("balances");
    fits_a_phone(
        &browser,
        &base,
        &[
            &format!("/console/members?member={member}"),
            &format!("/console/tokens/{token}"),
            "/console/audit",
            "/console/balances",
        ],
    );
}

#[test]
fn fraud_page_shows_a_pending_hold_and_that_scoring_is_on() {
    let node = DevNode::start();
    add_user(&node, "ada", "admin");
    // A risk key of the org (its fraud engine) holds a member: pending review.
    let risk = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let register = TxKind::RegisterKey(RegisterKeyTx {
        key: PublicKey(risk.verifying_key().to_bytes()),
        role: Role::Risk,
    });
    node.client().apply(&node.keys().admin, register);
    // The org holds only members it knows: a coupon of its pool was allocated to them.
    let spring = node.create_active_pool("spring", 3);
    let allocated = node.client().submit(&node.allocate_tx(&spring.id, 21));
    assert_eq!(allocated.status, 200, "{allocated:?}");
    let member = fixtures::member(21);
    let place = TxKind::PlaceHold(PlaceHoldTx {
        target: HoldTarget::Member(member),
        reason: HoldReason::Velocity,
        note: "6 redemptions in 10 min".into(),
    });
    node.client().apply(&risk, place);
    let base = node.url();

    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "ada", PASSWORD);
    browser.goto(&format!("{base}/console"));
    browser.click("nav a[href='/console/fraud']");
    browser.wait_for("table.pending-holds");
    assert_eq!(browser.text("#pending-count").unwrap(), "1");
    let rows = browser.texts("table.pending-holds tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    for says in [
        "velocity",
        "6 redemptions in 10 min",
        "fraud engine (risk key)",
    ] {
        assert!(rows[0].contains(says), "{says:?} in {rows:?}");
    }
    assert_eq!(
        browser.texts("table.pending-holds button.confirm"),
        ["Confirm"]
    );
    assert!(
        browser
            .text("#no-confirmed")
            .unwrap()
            .contains("No confirmed hold")
    );
    // `--dev` scores (fraud_scoring on) and its console signs with the issuer key.
    let on = browser.text("#scoring-on").unwrap();
    assert!(on.contains("Fraud scoring is on"), "{on}");
    assert!(browser.text("#scoring-off").is_none());
    let hint = browser.text("#key-hint").unwrap();
    assert!(hint.contains("has the issuer role"), "{hint}");
    browser.screenshot("fraud");

    // Confirm from the page: the chain refuses the issuer key, in its words.
    browser.fill(&format!("#note-member-{member}"), "seen on CCTV");
    browser.click("table.pending-holds button.confirm");
    let problem = browser.wait_for("#problem");
    assert!(problem.contains("not_authorized"), "{problem}");
    assert!(problem.contains("needs an org_admin key"), "{problem}");
    browser.goto(&format!("{base}/console/fraud"));
    browser.wait_for("table.pending-holds");
    assert_eq!(
        browser.text("#pending-count").unwrap(),
        "1",
        "still pending"
    );
    fits_a_phone(&browser, &base, &["/console/fraud"]);
}

#[test]
fn advisor_proposal_adopted_as_a_draft_pool_from_the_browser() {
    let node = DevNode::start();
    add_user(&node, "ada", "admin");
    // A percent pool allocated to 24 members, and a few of its other codes redeemed: the
    // members nobody offered a fixed amount to are a gap the advisor proposes to fill.
    let spring = node.create_active_pool("spring", 30);
    let allocations: Vec<_> = (1..=24).map(|m| node.allocate_tx(&spring.id, m)).collect();
    node.client().batch(&allocations);
    for code in &spring.codes[24..] {
        node.redeem_code(code, fixtures::order(5_000));
    }
    let base = node.url();
    // The analytics store catches up with the chain: wait for the proposals.
    let http = http();
    let cookie = session(&http, &base, "ada");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, html) = get(&http, &cookie, &format!("{base}/console/advisor"));
        if status == 200 && html.contains("data-proposal=\"p1\"") {
            break;
        }
        assert!(Instant::now() < deadline, "no proposal: {status} {html}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "ada", PASSWORD);
    browser.goto(&format!("{base}/console"));
    browser.click("nav a[href='/console/advisor']");
    browser.wait_for("article.proposal");
    let height: u64 = browser.text("#stamp-height").unwrap().parse().unwrap();
    let row = browser.texts("table.advisor-pools tr[data-pool='spring']");
    assert_eq!(row.len(), 1, "{row:?}");
    assert!(!browser.texts("table.advisor-segments tbody tr").is_empty());
    assert!(browser.text("#models").unwrap().starts_with("Segments: "));
    let title = browser
        .text("article.proposal[data-proposal='p1'] h3")
        .unwrap();
    browser.screenshot("advisor");

    // A bad budget is explained on the page.
    browser.fill("#a-budget", "5.001");
    browser.click("#advisor-query button[type=submit]");
    let error = browser.wait_for("#advisor-error");
    assert!(error.starts_with("budget:"), "{error}");
    browser.fill("#a-budget", "250.00");
    browser.click("#advisor-query button[type=submit]");
    browser.wait_for("table.advisor-budget");

    // Adopt p1: the new-pool form, prefilled; nothing on chain until it is submitted.
    browser.click("article.proposal[data-proposal='p1'] a.adopt");
    let notice = browser.wait_for("#notice");
    assert!(
        notice.starts_with("Prefilled from advisor proposal p1 at height"),
        "{notice}"
    );
    assert!(notice.ends_with("nothing is created until you submit."));
    let id = browser
        .eval("return document.querySelector('#p-id').value")
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.len() > 3, "{id}");
    let suffix: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
    assert!(suffix >= height, "{id} at {height}");
    let name = browser
        .eval("return document.querySelector('#p-name').value")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        title.contains(name.split(" — ").nth(1).unwrap()),
        "{title} / {name}"
    );
    let missing = node
        .client()
        .get_signed(&node.keys().admin, &format!("/v1/pools/{id}"));
    assert_eq!(missing.status, 404, "{}", missing.body);
    browser.click(".pool-form button[type=submit]");
    let created = browser.wait_for("#notice");
    assert_eq!(created, "Pool created in draft.");
    assert!(browser.url().contains(&format!("/console/pools/{id}")));
    let pool = node.client().pool(&node.keys().admin, &id).pool;
    assert_eq!(pool.status.name(), "draft");
    assert_eq!(pool.spec.name, name);
    browser.screenshot("advisor-adopted");
}
