//! The merchant console end to end: a real `cactusd --dev` (console on, as in the
//! localnet), staff users made with `cactusd users`, and the pages driven in headless
//! Chromium (tests/src/browser.rs); the CSRF and rate-limit refusals over plain HTTP.

use couponcactus_chaincode::ids::PoolId;
use couponcactus_chaincode::tx::{CreatePoolTx, TxKind};
use couponcactus_tests::browser::{Browser, WAIT};
use couponcactus_tests::console::{
    PASSWORD, add_user, csrf_field, http, http_login, page as get_page, session, set_cookie, users,
};
use couponcactus_tests::{DevNode, fixtures};
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};

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
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).expect(name) + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_string()
    };
    let (key, at_ms) = (hidden("key"), hidden("at_ms"));
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
