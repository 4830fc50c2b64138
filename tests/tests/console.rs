//! The merchant console end to end: a real `cactusd --dev` (console on, as in the
//! localnet), staff users made with `cactusd users`, and the pages driven in headless
//! Chromium (tests/src/browser.rs); the CSRF and rate-limit refusals over plain HTTP.

use couponcactus_chaincode::ids::PoolId;
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind};
use couponcactus_node::webhooks::signature;
use couponcactus_tests::browser::{Browser, WAIT};
use couponcactus_tests::console::{
    PASSWORD, add_user, csrf_field, hidden_field, http, http_login, page as get_page, session,
    set_cookie, users,
};
use couponcactus_tests::node::{cactus_binary, run_cactus};
use couponcactus_tests::receiver::Receiver;
use couponcactus_tests::{DevNode, fixtures};
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use std::process::Command;
use std::time::Duration;

const XSS: &str = "<script>alert(1)</script>";

#[test]
fn users_cli_refuses_bad_input_and_lists_roles() {
    let node = DevNode::start();
    let (ok, out) = users(&node, &["add", "ann", "--role", "analyst"], "short\n");
    assert!(!ok && out.contains("at least 12"), "{out}");
    let (ok, out) = users(
        &node,
        &["add", "ann", "--role", "root"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && out.contains("unknown role"), "{out}");
    add_user(&node, "ann", "analyst");
    let (ok, out) = users(
        &node,
        &["add", "ann", "--role", "issuer"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && out.contains("exists"), "{out}");
    let (ok, out) = users(&node, &["disable", "ann"], "");
    assert!(ok, "{out}");
    let (ok, out) = users(&node, &["list"], "");
    assert!(ok, "{out}");
    assert!(out.contains("admin") && out.contains("ann"), "{out}");
    let ann = out
        .lines()
        .find(|l| l.contains(" ann "))
        .expect("ann's row");
    assert!(ann.contains("analyst") && ann.contains("disabled"), "{out}");
}

#[test]
fn csrf_and_rate_limits_refuse_and_change_nothing() {
    let node = DevNode::start();
    add_user(&node, "ivan", "issuer");
    let (http, base) = (http(), node.url());

    // A login POST without the form's token.
    let refused = http
        .post(format!("{base}/console/login"))
        .form(&[("name", "ivan"), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(set_cookie(&refused, "cactus_session").is_none());
    assert!(
        refused
            .text()
            .unwrap()
            .contains("your form expired or came from another site")
    );

    let ok = http_login(&http, &base, "ivan", PASSWORD);
    assert_eq!(ok.status(), 303);
    let session = set_cookie(&ok, "cactus_session").expect("a session cookie");
    let cookie_line = ok
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cactus_session="))
        .unwrap()
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie_line.contains(attr), "{cookie_line}");
    }
    let cookie = format!("cactus_session={session}");
    let overview = http
        .get(format!("{base}/console"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(overview.status(), 200);
    assert!(overview.headers().get("x-cactus-height").is_some());
    let csrf = csrf_field(&overview.text().unwrap());

    // Logout without and with a wrong token: 403, and the session still works.
    for form in [vec![], vec![("csrf", "0".repeat(64))]] {
        let r = http
            .post(format!("{base}/console/logout"))
            .header(COOKIE, &cookie)
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{form:?}");
        assert!(r.text().unwrap().contains("your form expired"));
        let still = http
            .get(format!("{base}/console"))
            .header(COOKIE, &cookie)
            .send()
            .unwrap();
        assert_eq!(still.status(), 200, "the session survives a refused logout");
    }
    // The right token ends it.
    let out = http
        .post(format!("{base}/console/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = http
        .get(format!("{base}/console"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()[LOCATION], "/console/login");
    // The feed needs a session too.
    let feed = http
        .get(format!("{base}/console/feed"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(feed.status(), 303);

    // Five wrong passwords, then even the right one is refused for a while.
    for i in 0..5 {
        let r = http_login(&http, &base, "ivan", "wrong password here");
        assert_eq!(r.status(), 401, "attempt {i}");
        assert!(set_cookie(&r, "cactus_session").is_none());
    }
    let limited = http_login(&http, &base, "ivan", PASSWORD);
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(set_cookie(&limited, "cactus_session").is_none());
    assert!(limited.text().unwrap().contains("too many failed logins"));
}

#[test]
fn browser_login_refusals_and_disabled_users() {
    let node = DevNode::start();
    add_user(&node, "alice", "admin");
    add_user(&node, "dora", "analyst");
    add_user(&node, "erin", "auditor");
    let (ok, out) = users(&node, &["disable", "dora"], "");
    assert!(ok, "{out}");
    let base = node.url();
    let browser = Browser::start(1280, 900);

    // Signed out: the console sends to the login page.
    browser.goto(&format!("{base}/console"));
    browser.wait_for("#name");
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
    browser.screenshot("login");

    // A wrong password: a message, no session.
    let url = browser.sign_in(&base, "alice", "not the password");
    assert!(url.ends_with("/console/login"), "{url}");
    let error = browser.text("#login-error").expect("an error message");
    assert!(error.contains("wrong user name or password"), "{error}");
    browser.goto(&format!("{base}/console"));
    browser.wait_for("#name");
    assert!(browser.url().ends_with("/console/login"));

    // A disabled user: the same refusal.
    browser.sign_in(&base, "dora", PASSWORD);
    assert!(
        browser.text("#login-error").is_some(),
        "{}",
        browser.source()
    );

    // The right password.
    let url = browser.sign_in(&base, "alice", PASSWORD);
    assert!(url.ends_with("/console"), "{url}");
    assert_eq!(browser.text("h1").as_deref(), Some("Overview"));
    assert!(browser.text(".who .user").unwrap().contains("alice"));

    // Sign out (a real form with its CSRF field).
    browser.click(".who button[type=submit]");
    browser.wait_for("#name");
    browser.goto(&format!("{base}/console/pools"));
    browser.wait_for("#name");
    assert!(browser.url().ends_with("/console/login"));

    // A user disabled while signed in loses the session.
    browser.sign_in(&base, "erin", PASSWORD);
    assert_eq!(browser.text("h1").as_deref(), Some("Overview"));
    let (ok, out) = users(&node, &["disable", "erin"], "");
    assert!(ok, "{out}");
    browser.goto(&format!("{base}/console/pools"));
    browser.wait_for("#name");
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
}

#[test]
fn browser_pages_escape_names_follow_redemptions_and_fit_a_phone() {
    let node = DevNode::start();
    add_user(&node, "nina", "analyst");
    let spring = node.create_active_pool("spring", 4);
    let redeemed = node.redeem_code(&spring.codes[0], fixtures::order(5_000));
    assert_eq!(redeemed.status, "applied");
    let xss = PoolId::new("xss").unwrap();
    node.client().apply(
        &node.keys().issuer,
        TxKind::CreatePool(CreatePoolTx {
            pool: xss.clone(),
            spec: fixtures::spec(XSS),
        }),
    );
    let base = node.url();
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "nina", PASSWORD);

    // Pools: tabs with counts; the hostile name is text, not markup.
    browser.goto(&format!("{base}/console/pools"));
    browser.wait_for("table.pools");
    let names = browser.texts("table.pools tbody td a");
    assert!(names.iter().any(|n| n == XSS), "{names:?}");
    assert!(names.iter().any(|n| n == "spring"), "{names:?}");
    let tabs = browser.texts(".tabs a");
    assert!(
        tabs.iter()
            .any(|t| t.starts_with("all") && t.ends_with('2')),
        "{tabs:?}"
    );
    assert!(
        tabs.iter()
            .any(|t| t.starts_with("draft") && t.ends_with('1')),
        "{tabs:?}"
    );
    let scripts = browser.eval("return document.querySelectorAll('script').length;");
    assert_eq!(
        scripts,
        serde_json::json!(0),
        "no script element on the pools page"
    );
    browser.screenshot("pools");
    browser.goto(&format!("{base}/console/pools?status=draft"));
    browser.wait_for(".tabs a[aria-current=page]");
    assert_eq!(browser.texts("table.pools tbody tr").len(), 1);
    browser.goto(&format!("{base}/console/pools/xss"));
    browser.wait_for("h1");
    assert!(browser.text("h1").unwrap().contains(XSS));

    // Pool detail: funnel and the day's redemption.
    browser.goto(&format!("{base}/console/pools/spring"));
    browser.wait_for(".funnel");
    let funnel = browser.texts(".funnel li");
    assert!(
        funnel[0].contains("Issued") && funnel[0].contains('4'),
        "{funnel:?}"
    );
    assert!(
        funnel[2].contains("Redeemed") && funnel[2].contains('1'),
        "{funnel:?}"
    );
    assert!(browser.source().contains("<svg"), "a chart");
    assert!(browser.text("#stores-title").is_some());
    browser.screenshot("pool");
    browser.goto(&format!("{base}/console/pools/nope"));
    browser.wait_for("#problem");

    // Overview: KPIs; a terminal's redemption appears in the live feed.
    browser.goto(&format!("{base}/console"));
    browser.wait_for(".kpis");
    browser.wait_until("the live feed to connect", WAIT, |b| {
        b.eval("return !document.getElementById('live-status').hidden;") == serde_json::json!(true)
    });
    let before = browser.texts("#feed tbody tr").len();
    let fresh = node.redeem_code(&spring.codes[1], fixtures::order(7_000));
    assert_eq!(fresh.status, "applied");
    browser.wait_until("the redemption in the live feed", WAIT, |b| {
        b.texts("#feed tbody tr").len() > before
    });
    let rows = browser.texts("#feed tbody tr");
    assert!(
        rows[0].contains("spring") && rows[0].contains("dev-store"),
        "{rows:?}"
    );
    browser.screenshot("overview");

    // Phone width: nothing wider than the screen on any page.
    browser.resize(375, 800);
    for path in [
        "/console",
        "/console/pools",
        "/console/pools/spring",
        "/console/pools/xss",
        "/console/alerts",
    ] {
        browser.goto(&format!("{base}{path}"));
        browser.wait_for("h1");
        let fits =
            browser.eval("return [document.documentElement.scrollWidth, window.innerWidth];");
        let (scroll, inner) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
        assert!(inner <= 400, "the window is phone-sized: {inner}");
        assert!(
            scroll <= inner,
            "{path}: {scroll} px wide in a {inner} px window"
        );
        if path == "/console" {
            browser.screenshot("phone-overview");
        }
    }
}

/// The events of pool `pool` as the org admin reads them through the API.
fn pool_events(node: &DevNode, pool: &str) -> Vec<serde_json::Value> {
    let reply = node.client().get_signed(
        &node.keys().admin,
        &format!("/v1/events?pool={pool}&limit=100"),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn browser_creates_and_activates_a_pool_tied_to_the_user() {
    let node = DevNode::start();
    add_user(&node, "wendy", "issuer");
    add_user(&node, "ann", "analyst");
    let (ok, out) = users(&node, &["list"], "");
    assert!(ok, "{out}");
    let wendy_id = out
        .lines()
        .find(|l| l.contains(" wendy "))
        .and_then(|l| l.split_whitespace().next())
        .expect("wendy's id")
        .to_string();
    let memo = format!("console:{wendy_id}:wendy");
    let base = node.url();
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "wendy", PASSWORD);

    // A bad form: the reason, the fields kept, nothing on chain.
    browser.goto(&format!("{base}/console/pools"));
    browser.click("#new-pool");
    browser.wait_for("#p-id");
    browser.fill("#p-id", "ui-pool");
    browser.fill("#p-name", XSS);
    browser.fill("#p-percent", "10");
    browser.fill("#p-cap", "lots");
    browser.click(".pool-form button[type=submit]");
    browser.wait_for("#form-error");
    assert!(
        browser
            .text("#form-error")
            .unwrap()
            .contains("whole number")
    );
    assert!(pool_events(&node, "ui-pool").is_empty());

    // The corrected form creates the pool in draft.
    browser.fill("#p-cap", "100");
    browser.click(".pool-form button[type=submit]");
    browser.wait_for("#notice");
    assert_eq!(
        browser.text("#notice").as_deref(),
        Some("Pool created in draft.")
    );
    assert!(
        browser.text("h1").unwrap().contains(XSS),
        "the name is text"
    );
    browser.screenshot("pool-created");

    // Activating a pool without codes: the ledger's refusal, the pool still a draft.
    browser.click("#action-activate");
    browser.wait_for("#problem");
    let refusal = browser.source();
    assert!(refusal.contains("no codes to activate"), "{refusal}");

    // Codes issued from the console come back as a CSV download, and only there.
    let http = http();
    let wendy = session(&http, &base, "wendy");
    let page = get_page(&http, &wendy, &format!("{base}/console/pools/ui-pool"));
    let issue = |count: &str| {
        http.post(format!("{base}/console/pools/ui-pool/codes"))
            .header(COOKIE, &wendy)
            .form(&[("csrf", csrf_field(&page).as_str()), ("count", count)])
            .send()
            .unwrap()
    };
    for bad in ["0", "lots", "10001"] {
        let r = issue(bad);
        assert_eq!(r.status(), 400, "count {bad}");
        assert!(r.text().unwrap().contains("a whole number from 1 to"));
    }
    let csv = issue("3");
    assert_eq!(csv.status(), 200);
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"codes-ui-pool-h"),
        "{disposition}"
    );
    let text = csv.text().unwrap();
    let codes: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        (text.lines().next(), codes.len()),
        (Some("code"), 3),
        "{text}"
    );
    let pool_page = get_page(&http, &wendy, &format!("{base}/console/pools/ui-pool"));
    assert!(
        codes.iter().all(|c| !pool_page.contains(c)),
        "no page shows a code"
    );
    browser.goto(&format!("{base}/console/pools/ui-pool"));
    browser.click("#action-activate");
    browser.wait_for("#notice");
    assert_eq!(browser.text("#notice").as_deref(), Some("Pool activated."));
    assert_eq!(browser.text("h1 .status").as_deref(), Some("active"));
    // The downloaded codes are the pool's: one redeems at a terminal.
    let redeemed = node.redeem_code(codes[0], fixtures::order(5_000));
    assert_eq!(redeemed.status, "applied", "{redeemed:?}");

    // On chain: the creation and the activation carry wendy's id; the refused
    // activation is a rejection with her id too.
    let events = pool_events(&node, "ui-pool");
    let of =
        |t: &str| -> Vec<&serde_json::Value> { events.iter().filter(|e| e["type"] == t).collect() };
    let created = of("pool.created");
    let moved = of("pool.transitioned");
    let issued = of("codes.issued");
    assert_eq!(
        (created.len(), moved.len(), issued.len()),
        (1, 1, 1),
        "{events:#?}"
    );
    for e in created.iter().chain(&moved).chain(&issued) {
        assert_eq!(e["memo"], serde_json::json!(memo), "{e:#}");
    }
    assert_eq!(
        moved[0]["detail"]["event"]["to"], "active",
        "{:#}",
        moved[0]
    );
    let rejected = of("tx.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["memo"], serde_json::json!(memo));

    // A read-only user: no buttons, and a forged write is refused.
    let cookie = session(&http, &base, "ann");
    let page = get_page(&http, &cookie, &format!("{base}/console/pools/ui-pool"));
    assert!(!page.contains("action-pause") && page.contains("needs the admin or issuer role"));
    let csrf = csrf_field(&page);
    for (path, field) in [
        ("transition", ("action", "pause")),
        ("codes", ("count", "5")),
    ] {
        let forged = http
            .post(format!("{base}/console/pools/ui-pool/{path}"))
            .header(COOKIE, &cookie)
            .form(&[("csrf", csrf.as_str()), field])
            .send()
            .unwrap();
        assert_eq!(forged.status(), 403, "{path}");
    }
    let refused = http
        .get(format!("{base}/console/pools/new"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        pool_events(&node, "ui-pool").len(),
        events.len(),
        "nothing changed"
    );
}

#[test]
fn bulk_revoke_previews_confirms_once_and_reports_every_row() {
    let node = DevNode::start();
    add_user(&node, "wendy", "issuer");
    add_user(&node, "ann", "analyst");
    let pool = node.create_active_pool("bulk", 4);
    let redeemed = node.redeem_code(&pool.codes[0], fixtures::order(5_000));
    assert_eq!(redeemed.status, "applied");
    let csv = "token,reason,note\n\
               bulk/1,fraud,\n\
               bulk/2,,\n\
               bulk/0,fraud,\n\
               nope/1,fraud,\n\
               bulk/9,fraud,\n\
               bulk/3,other,\n\
               bulk/1,customer_request,\n\
               bulk/3,stolen,\n\
               spring-17,fraud,\n";
    let base = node.url();
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "wendy", PASSWORD);
    browser.goto(&format!("{base}/console/bulk"));
    browser.wait_for("#bulk-csv");
    browser.fill("#bulk-csv", csv);
    browser.click("#bulk-preview");
    browser.wait_for("#bulk-summary");
    let summary = browser.text("#bulk-summary").unwrap();
    assert!(
        summary.starts_with("2 to revoke, 7 with a problem"),
        "{summary}"
    );
    let rows = browser.texts("#bulk-rows tbody tr");
    for (line, needle) in [
        (4, "redeemed already"),
        (5, "the org has no pool nope"),
        (6, "no token bulk/9"),
        (7, "reason other needs a note"),
        (8, "repeats line 2"),
        (9, "stolen"),
        (10, "not a token id"),
    ] {
        assert!(rows[line - 2].contains(needle), "line {line}: {rows:?}");
    }
    browser.screenshot("bulk-preview");
    let revoked = |node: &DevNode| {
        pool_events(node, "bulk")
            .into_iter()
            .filter(|e| e["type"] == "coupon.revoked")
            .collect::<Vec<_>>()
    };
    assert!(revoked(&node).is_empty(), "a dry run signs nothing");

    // Confirm over HTTP as the same user (the answer is a download), twice.
    let page = browser.source();
    let (key, at_ms) = (hidden_field(&page, "key"), hidden_field(&page, "at_ms"));
    let http = http();
    let wendy = session(&http, &base, "wendy");
    let form_page = get_page(&http, &wendy, &format!("{base}/console/bulk"));
    let confirm = |cookie: &str, csrf: &str| {
        http.post(format!("{base}/console/bulk/confirm"))
            .header(COOKIE, cookie)
            .form(&[
                ("csrf", csrf),
                ("key", &key),
                ("at_ms", &at_ms),
                ("csv", csv),
            ])
            .send()
            .unwrap()
    };
    let csrf = csrf_field(&form_page);
    let mut files = Vec::new();
    for _ in 0..2 {
        let r = confirm(&wendy, &csrf);
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("bulk-revoke-result.csv")
        );
        files.push(r.text().unwrap());
    }
    assert_eq!(
        files[0], files[1],
        "the same confirmation, the same txs and results"
    );
    let lines: Vec<&str> = files[0].lines().collect();
    assert_eq!(lines[0], "line,token,result,detail,tx_id");
    assert_eq!(lines.len(), 10, "{}", files[0]);
    assert!(
        lines[1].starts_with("2,bulk/1,revoked,,") && lines[2].starts_with("3,bulk/2,revoked,,")
    );
    assert!(
        lines[3..].iter().all(|l| l.contains(",skipped,")),
        "{}",
        files[0]
    );
    let events = revoked(&node);
    assert_eq!(events.len(), 2, "revoked once each: {events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["memo"].as_str().unwrap().ends_with(":wendy"))
    );

    // A read-only user may not, and a stale or keyless confirmation is refused.
    let ann = session(&http, &base, "ann");
    let ann_page = get_page(&http, &ann, &format!("{base}/console"));
    assert_eq!(confirm(&ann, &csrf_field(&ann_page)).status(), 403);
    let stale = http
        .post(format!("{base}/console/bulk/confirm"))
        .header(COOKIE, &wendy)
        .form(&[
            ("csrf", csrf.as_str()),
            ("key", key.as_str()),
            ("at_ms", "1000"),
            ("csv", csv),
        ])
        .send()
        .unwrap();
    assert_eq!(stale.status(), 400);
    assert!(stale.text().unwrap().contains("run it again"));
    assert_eq!(revoked(&node).len(), 2, "nothing more revoked");
}

/// Signs in as wendy, opens the Grant tab, runs the dry run of `csv` and checks what it
/// shows (the CSV of `bulk_grant_…`); the confirm form's key and time.
fn grant_dry_run_in_browser(base: &str, csv: &str) -> (String, String) {
    let browser = Browser::start(1280, 900);
    browser.sign_in(base, "wendy", PASSWORD);
    browser.goto(&format!("{base}/console/bulk"));
    browser.wait_for("#tab-grant");
    browser.click("#tab-grant");
    browser.wait_for("#grant-csv");
    browser.fill("#grant-csv", csv);
    browser.click("#grant-preview");
    browser.wait_for("#grant-summary");
    let summary = browser.text("#grant-summary").unwrap();
    assert!(
        summary.starts_with("3 to grant, 7 with a problem"),
        "{summary}"
    );
    let rows = browser.texts("#grant-rows tbody tr");
    for (line, needle) in [
        (4, "repeats line 2"),
        (5, "not a member id"),
        (6, "no pool nope"),
        (7, "grant-draft is draft"),
        (8, "more than 1, the pool's cap per member"),
        (10, "would run out of unallocated coupons"),
        (11, "not a pool id"),
    ] {
        assert!(rows[line - 2].contains(needle), "line {line}: {rows:?}");
    }
    for line in [2, 3, 9] {
        assert!(rows[line - 2].ends_with("ok"), "line {line}: {rows:?}");
    }
    let impact = browser.texts("#grant-pools tbody tr");
    assert_eq!(impact.len(), 1, "{impact:?}");
    assert!(impact[0].contains("10.00 % off"), "{impact:?}");
    browser.eval("document.getElementById('grant-preview-title').scrollIntoView(); return true;");
    browser.screenshot("bulk-grant-preview");
    let page = browser.source();
    (hidden_field(&page, "key"), hidden_field(&page, "at_ms"))
}

/// Checks the grant result `file`: a line per CSV row, the `granted` lines allocated and
/// the rest skipped; on the ledger each granted member holds the token its line names,
/// and those are the pool's serials 0, 1, 2.
fn assert_granted_as_the_file_says(
    node: &DevNode,
    pool: &fixtures::PoolFixture,
    file: &str,
    granted: &[usize],
) {
    let lines: Vec<Vec<&str>> = file.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        lines[0].join(","),
        "line,pool,member,result,token,detail,tx_id"
    );
    assert_eq!(lines.len(), 11, "{file}");
    let mut serials: Vec<u64> = Vec::new();
    for line in &lines[1..] {
        let number: usize = line[0].parse().unwrap();
        if !granted.contains(&number) {
            assert_eq!(line[3], "skipped", "line {number}: {file}");
            continue;
        }
        assert_eq!(line[3], "allocated", "line {number}: {file}");
        let serial: u64 = line[4].strip_prefix("grant/").unwrap().parse().unwrap();
        let view = node.client().token(&node.keys().admin, &pool.token(serial));
        assert_eq!(
            view.token.owner.map(|o| o.to_hex()).as_deref(),
            Some(line[2])
        );
        serials.push(serial);
    }
    serials.sort();
    assert_eq!(serials, [0, 1, 2]);
}

#[test]
fn bulk_grant_previews_confirms_once_and_allocates_the_good_rows() {
    let node = DevNode::start();
    add_user(&node, "wendy", "issuer");
    add_user(&node, "ann", "analyst");
    let pool = node.create_active_pool("grant", 3);
    node.create_draft_pool("grant-draft", 2);
    let m: Vec<String> = (0..5).map(|n| fixtures::member(n).to_hex()).collect();
    let csv = format!(
        "pool,member,claim\n\
         grant,{m1},\n\
         grant,{m2},mailing-7\n\
         grant,{m1},\n\
         grant,not-a-member,\n\
         nope,{m3},\n\
         grant-draft,{m3},\n\
         grant,{m1},second\n\
         grant,{m3}\n\
         grant,{m4},\n\
         Bad Pool,{m4},\n",
        m1 = m[1],
        m2 = m[2],
        m3 = m[3],
        m4 = m[4]
    );
    let allocated = |node: &DevNode| {
        pool_events(node, "grant")
            .into_iter()
            .filter(|e| e["type"] == "coupon.allocated")
            .collect::<Vec<_>>()
    };
    let base = node.url();
    let (key, at_ms) = grant_dry_run_in_browser(&base, &csv);
    assert!(allocated(&node).is_empty(), "a dry run signs nothing");

    // Confirm over HTTP as the same user (the answer is a download), twice.
    let http = http();
    let wendy = session(&http, &base, "wendy");
    let csrf = csrf_field(&get_page(
        &http,
        &wendy,
        &format!("{base}/console/bulk/grant"),
    ));
    let url = format!("{base}/console/bulk/grant/confirm");
    let confirmation = [("key", &*key), ("at_ms", &*at_ms), ("csv", &*csv)];
    let mut files = Vec::new();
    for _ in 0..2 {
        let r = post_form(&http, &wendy, &url, Some(&csrf), &confirmation);
        assert_eq!(r.status(), 200);
        let disposition = r.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains("bulk-grant-result.csv"),
            "{disposition}"
        );
        files.push(r.text().unwrap());
    }
    assert_eq!(
        files[0], files[1],
        "the same confirmation, the same results"
    );
    assert_granted_as_the_file_says(&node, &pool, &files[0], &[2, 3, 9]);
    let events = allocated(&node);
    assert_eq!(events.len(), 3, "allocated once each: {events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e["memo"].as_str().unwrap().ends_with(":wendy")),
        "{events:#?}"
    );

    // A read-only user may not, and a dry run after the grant finds the claim used.
    let ann = session(&http, &base, "ann");
    let ann_csrf = csrf_field(&get_page(&http, &ann, &format!("{base}/console")));
    let refused = post_form(&http, &ann, &url, Some(&ann_csrf), &confirmation);
    assert_eq!(refused.status(), 403);
    let form = http
        .get(format!("{base}/console/bulk/grant"))
        .header(COOKIE, &ann)
        .send()
        .unwrap();
    assert_eq!(form.status(), 403);
    let used = format!("pool,member,claim\ngrant,{},mailing-7\n", m[2]);
    let preview = format!("{base}/console/bulk/grant/preview");
    let again = post_form(&http, &wendy, &preview, Some(&csrf), &[("csv", &used)]);
    let again = again.text().unwrap();
    assert!(
        again.contains("<strong>0</strong> to grant")
            && again.contains("granted already with this claim: grant&#x2f;"),
        "{again}"
    );
    assert_eq!(allocated(&node).len(), 3, "nothing more allocated");
}

/// Posts `form` (with the page's CSRF token unless `csrf` is `None`) as `cookie`.
fn post_form(
    http: &reqwest::blocking::Client,
    cookie: &str,
    url: &str,
    csrf: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    if let Some(token) = csrf {
        fields.push(("csrf", token));
    }
    http.post(url)
        .header(COOKIE, cookie)
        .form(&fields)
        .send()
        .unwrap()
}

/// Registers a webhook endpoint of the dev org for `types` with `cactus webhooks add`, as
/// the org admin: its secret.
fn register_webhook(node: &DevNode, url: &str, types: &[&str]) -> String {
    let mut command = Command::new(cactus_binary());
    command
        .args(["--node", &node.url(), "--genesis"])
        .arg(node.dir().join("genesis.toml"))
        .args(["webhooks", "add", "--url", url, "--key"])
        .arg(node.dir().join("keys").join("org-admin.key"))
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_NODE")
        .env_remove("CACTUS_GENESIS")
        .env("NO_COLOR", "1");
    for t in types {
        command.args(["--type", t]);
    }
    let run = run_cactus(command, Duration::from_secs(60)).ok();
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("a secret in {run:?}"))
        .to_string()
}

#[test]
fn alert_rules_fire_live_in_the_browser_and_to_webhooks_once() {
    let mut node = DevNode::start();
    add_user(&node, "ana", "analyst");
    add_user(&node, "ivan", "issuer");
    let spring = node.create_active_pool("spring", 6);
    let receiver = Receiver::start();
    let secret = register_webhook(&node, &receiver.url(), &["alert.triggered"]);
    let (http, base) = (http(), node.url());
    let rules_url = format!("{base}/console/alerts/rules");
    let rule = [
        ("name", "Big discount"),
        ("kind", "large_discount"),
        ("amount", "20.00"),
        ("currency", "EUR"),
        ("webhooks", "on"),
    ];

    // Refusals change nothing: a read-only role, a missing CSRF token, bad numbers.
    let ana = session(&http, &base, "ana");
    let ana_csrf = csrf_field(&get_page(&http, &ana, &format!("{base}/console/alerts")));
    let r = post_form(&http, &ana, &rules_url, Some(&ana_csrf), &rule);
    assert_eq!(r.status(), 403);
    let ivan = session(&http, &base, "ivan");
    let alerts_page = get_page(&http, &ivan, &format!("{base}/console/alerts"));
    let csrf = csrf_field(&alerts_page);
    assert_eq!(
        post_form(&http, &ivan, &rules_url, None, &rule).status(),
        403
    );
    let bad_factor = [
        ("name", "Spike"),
        ("kind", "rate_spike"),
        ("factor", "lots"),
    ];
    let r = post_form(&http, &ivan, &rules_url, Some(&csrf), &bad_factor);
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .unwrap()
            .contains("factor &quot;lots&quot;: a number like 3 or 2.5")
    );
    let bad_pool = [
        ("pool", "nope"),
        ("name", "x"),
        ("kind", "large_discount"),
        ("amount", "1"),
    ];
    let r = post_form(&http, &ivan, &rules_url, Some(&csrf), &bad_pool);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("the org has no pool"));
    let rules = get_page(&http, &ivan, &format!("{base}/console/alerts"));
    assert!(
        rules.contains("No rules: add one below."),
        "nothing was added"
    );

    // The issuer adds the rule in the browser and watches the alerts page.
    let browser = Browser::start(1280, 900);
    browser.sign_in(&base, "ivan", PASSWORD);
    browser.goto(&format!("{base}/console/alerts"));
    browser.wait_for("#rule-form");
    browser.fill("#r-name", "Big discount");
    browser.fill("#r-amount", "20.00");
    browser.click("#rule-form button[type=submit]");
    browser.wait_for("#notice");
    let rows = browser.texts("#rules tbody tr");
    assert!(
        rows.len() == 1 && rows[0].contains("discount > 20.00 EUR") && rows[0].contains("ivan"),
        "{rows:?}"
    );
    browser.wait_until("the alert stream to connect", WAIT, |b| {
        b.eval("return !document.getElementById('alerts-live').hidden;") == serde_json::json!(true)
    });

    // 10 % of 100.00 is below the threshold; 10 % of 500.00 is above it.
    assert_eq!(
        node.redeem_code(&spring.codes[0], fixtures::order(10_000))
            .status,
        "applied"
    );
    let big = node.redeem_code(&spring.codes[1], fixtures::order(50_000));
    assert_eq!(big.status, "applied");
    browser.wait_until("the alert on the page, live", WAIT, |b| {
        !b.texts("#alerts tbody tr").is_empty()
    });
    let shown = browser.texts("#alerts tbody tr");
    assert_eq!(shown.len(), 1, "only the large discount: {shown:?}");
    assert!(
        shown[0].contains("Discount of 50.00 EUR at dev-store (pool spring) above 20.00 EUR"),
        "{shown:?}"
    );
    browser.screenshot("alerts");

    // The webhook: one signed `alert.triggered` quoting the redemption.
    let log = receiver.wait("the alert", |l| !l.is_empty());
    let first = &log[0];
    assert!(signature::verify(
        &secret,
        &first.id,
        first.timestamp,
        &first.body,
        &first.signature
    ));
    let body = first.json();
    assert_eq!(body["type"], "alert.triggered");
    assert_eq!(body["data"]["rule_name"], "Big discount");
    assert_eq!(body["data"]["observed"], 5_000);
    assert_eq!(body["data"]["tx_id"], big.tx_id.to_string());

    // A restart with the page open (the node does not wait forever for its event streams):
    // the page reconnects, and a new large discount raises exactly one more alert, shown
    // live (the evaluator resumes at its saved cursor; nothing is raised twice).
    node.stop();
    node.restart();
    browser.wait_until("the alert stream to reconnect", WAIT, |b| {
        b.eval("return !document.getElementById('alerts-live').hidden;") == serde_json::json!(true)
    });
    assert_eq!(
        node.redeem_code(&spring.codes[2], fixtures::order(30_000))
            .status,
        "applied"
    );
    browser.wait_until("the second alert on the page, live", WAIT, |b| {
        b.texts("#alerts tbody tr").len() == 2
    });
    let log = receiver.wait("the second alert", |l| {
        l.iter()
            .map(|r| r.id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 2
    });
    assert!(log.iter().all(|r| r.json()["type"] == "alert.triggered"));

    // Turning the rule off from its row: the page says so and the rule stays listed, off.
    browser.goto(&format!("{base}/console/alerts"));
    browser.wait_for("#rules");
    browser.click("#rules button[value=disable]");
    browser.wait_for("#notice");
    assert_eq!(browser.text("#notice").unwrap(), "Rule turned off.");
    let rows = browser.texts("#rules tbody tr");
    assert!(rows.len() == 1 && rows[0].contains("off"), "{rows:?}");
    let overview = get_page(
        &http,
        &session(&http, &base, "ana"),
        &format!("{base}/console"),
    );
    assert_eq!(
        overview.matches("Big discount</strong>").count(),
        2,
        "{overview}"
    );
}
