//! The customer wallet end to end, as a customer on a phone would use it: a real `cactusd
//! --dev` (console and wallet on, every active pool offered), carol put in acme's member
//! directory and given a coupon with the CLI, her magic link printed by `cactus member
//! link --print`, and the wallet driven in headless Chromium at a phone's width (390 px):
//! the link asks before it opens, the wallet shows her coupon with its code and QR code,
//! verified on the ledger, and the offer; a claim lands; the page never scrolls sideways;
//! the same link does not open again; closing ends the session.
//!
//! Needs both binaries built (`cargo build --workspace --all-targets --profile test`) and
//! Debian's chromium and chromium-driver (scripts/test.sh installs them).

use couponcactus_tests::DevNode;
use couponcactus_tests::browser::Browser;

/// Whether the page is wider than the window (a sideways scroll on a phone).
fn overflows(browser: &Browser) -> bool {
    let wide = browser.eval("return document.documentElement.scrollWidth > window.innerWidth + 1;");
    wide.as_bool().unwrap_or(true)
}

#[test]
fn a_customer_opens_the_wallet_from_a_link_on_a_phone_and_claims_an_offer() {
    let node = DevNode::start();
    let spring = node.create_active_pool("spring", 4);
    node.create_active_pool("autumn", 4);
    let admin = node.key_file("org-admin");
    let issuer = node.key_file("issuer");
    let added = node
        .cactus(&[
            "--json",
            "member",
            "add",
            "--key",
            &admin,
            "--email",
            "carol@example.org",
            "--name",
            "Carol Example",
        ])
        .ok()
        .json();
    let member = added["member"].as_str().expect("a member id").to_string();
    let pool = spring.id.to_string();
    node.cactus(&[
        "--json", "allocate", "--key", &issuer, "--pool", &pool, "--member", &member,
    ])
    .ok();
    // No SMTP server in --dev: mailing is refused clearly, printing works.
    let mailed = node.cactus(&["member", "link", "--key", &admin, "--member", &member]);
    assert_ne!(mailed.code, 0, "{mailed:#?}");
    assert!(mailed.stderr.contains("smtp"), "{mailed:#?}");
    let link = node
        .cactus(&[
            "--json", "member", "link", "--key", &admin, "--member", &member, "--print",
        ])
        .ok()
        .json();
    let url = link["url"].as_str().expect("the link").to_string();
    assert!(
        url.starts_with(&format!("{}/wallet/open?t=", node.url())),
        "{url}"
    );

    let browser = Browser::start(390, 844);
    browser.goto(&url);
    browser.wait_for("#open");
    assert!(!overflows(&browser), "the confirmation fits a phone");
    browser.click("#open");
    let coupon = browser.wait_for("article.coupon");
    assert!(coupon.contains("spring"), "{coupon}");
    assert!(coupon.contains("ready to use"), "{coupon}");
    assert!(
        coupon.contains(&spring.codes[0]),
        "the code is shown: {coupon}"
    );
    assert!(coupon.contains("Verified on the ledger"), "{coupon}");
    let qr = browser.eval("return document.querySelectorAll('article.coupon .qr svg').length;");
    assert_eq!(qr.as_u64(), Some(1), "one QR code");
    assert!(!overflows(&browser), "the wallet fits a phone");
    browser.screenshot("wallet-phone");
    let offers = browser.texts(".offer-card h3");
    assert!(offers.iter().any(|o| o.contains("autumn")), "{offers:?}");

    // Claim the autumn offer: it lands and leaves the offers.
    let claimed = browser.eval(
        "const f=[...document.querySelectorAll('.offer-card form')].find(f=>f.pool.value==='autumn'); f.querySelector('button').click(); return true;",
    );
    assert_eq!(claimed.as_bool(), Some(true));
    let notice = browser.wait_for(".notice");
    assert!(notice.contains("Claimed"), "{notice}");
    let coupons = browser.texts("article.coupon h3");
    assert_eq!(coupons.len(), 2, "{coupons:?}");

    // The link is used up; closing the wallet ends the session.
    browser.goto(&url);
    browser.wait_for("#open");
    browser.click("#open");
    let used = browser.wait_for("main");
    assert!(used.contains("already used"), "{used}");
    browser.goto(&format!("{}/wallet", node.url()));
    browser.wait_for("button.link");
    browser.click("button.link");
    let closed = browser.wait_for("main");
    assert!(closed.contains("signed out"), "{closed}");
    browser.goto(&format!("{}/wallet", node.url()));
    let after = browser.wait_for("main");
    assert!(after.contains("Open it with the link"), "{after}");
}
