//! Fraud holds and velocity limits through the `cactus` binary against a real `cactusd
//! --dev` (issue 20): a member the org never met cannot be held (`not_found`); the org
//! admin holds a member who redeemed one of its coupons (the member's redemption is refused
//! `on_hold`, exit 3; the hold is listed and proven; lifted, the redemption applies), the
//! org's risk key holds a terminal pending review (it stops at once; an admin confirms;
//! terminals may not read holds), another org's code cannot be held (`not_found`), and a
//! pool with `--velocity member:1/1h` refuses a member's second redemption
//! (`velocity_exceeded`), a rolled-back one still counting.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::Dev;
use std::path::Path;

/// Member ids (64 hex characters).
const ALICE: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";
const BOB: &str = "b0b0000000000000000000000000000000000000000000000000000000000002";

/// Pool `id` (10 % off, EUR) with `count` codes, active, created and issued by `key`
/// with `data` as the data key; returns its codes.
fn pool(
    dev: &Dev,
    id: &str,
    (key, data): (&str, &str),
    count: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut create = vec![
        "pool",
        "create",
        "--key",
        key,
        "--id",
        id,
        "--name",
        id,
        "--currency",
        "eur",
        "--percent",
        "10",
        "--total-cap",
        "100",
    ];
    create.extend_from_slice(extra);
    dev.cactus(&create).ok();
    let csv = dev.file(&format!("{id}.csv"));
    let csv_arg = path(&csv);
    dev.cactus(&[
        "codes",
        "generate",
        "--key",
        key,
        "--data-key",
        data,
        "--pool",
        id,
        "--count",
        count,
        "--out",
        &csv_arg,
    ])
    .ok();
    dev.cactus(&["pool", "activate", id, "--key", key]).ok();
    let text = std::fs::read_to_string(&csv).expect("the codes CSV");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("a code column").to_string())
        .collect()
}

/// `cactus redeem` of `code` for `member` by the dev terminal, 80.00 EUR.
fn redeem<'a>(terminal: &'a str, code: &'a str, member: &'a str) -> Vec<&'a str> {
    vec![
        "redeem",
        "--key",
        terminal,
        "--code",
        code,
        "--member",
        member,
        "--total",
        "80.00",
        "--currency",
        "eur",
    ]
}

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

#[test]
fn holds_stop_members_terminals_and_codes_until_an_admin_lifts_them() {
    let dev = Dev::start();
    let (admin, terminal) = (dev.key("org-admin"), dev.key("terminal"));
    let codes = pool(
        &dev,
        "spring",
        (&dev.key("issuer"), &dev.key("data")),
        "6",
        &[],
    );

    // A member the org never met cannot be held: bob has had no coupon of acme's yet.
    let unknown = dev.rejected(
        &[
            "hold", "place", "--key", &admin, "--member", BOB, "--reason", "bot", "--note", "typo?",
        ],
        "not_found",
    );
    assert!(unknown.contains("is unknown to org"), "{unknown}");
    // Alice redeemed a coupon of acme's: acme knows her.
    dev.cactus(&redeem(&terminal, &codes[5], ALICE)).ok();

    // The org admin holds alice: in force at once; her redemption is refused.
    let placed = dev.json(&[
        "hold",
        "place",
        "--key",
        &admin,
        "--member",
        ALICE,
        "--reason",
        "velocity",
        "--note",
        "6 redemptions in 10 min",
    ]);
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let refused = dev.rejected(&redeem(&terminal, &codes[0], ALICE), "on_hold");
    assert!(refused.contains("cactus hold lift"), "the hint: {refused}");

    // Listed (human text for the analyst, JSON for scripts) and proven.
    let listed = dev.cactus(&["hold", "list", "--key", &admin]).ok();
    for says in [
        &format!("member {ALICE}") as &str,
        "reason   velocity",
        "CONFIRMED (placed by an org admin)",
        "note     \"6 redemptions in 10 min\"",
        "unproven",
    ] {
        assert!(listed.stdout.contains(says), "{says:?}: {listed:#?}");
    }
    let listed = dev.json(&["hold", "list", "--key", &dev.key("issuer"), "--verify"]);
    let holds = listed["holds"]["holds"].as_array().expect("holds");
    assert_eq!(holds.len(), 1, "{listed}");
    assert_eq!(holds[0]["target"]["id"], ALICE);
    assert_eq!(holds[0]["reason"], "velocity");
    assert!(listed["verified"]["certified_height"].is_u64(), "{listed}");
    let shown = dev.json(&["hold", "show", "--key", &admin, "--member", ALICE]);
    assert_eq!(shown["held"], true, "{shown}");
    assert_eq!(shown["hold"]["status"], "confirmed");
    assert!(shown["verified"]["certified_height"].is_u64(), "{shown}");

    // Lifted: the redemption applies; no hold, and that is proven too.
    let lifted = dev
        .cactus(&[
            "hold", "lift", "--key", &admin, "--member", ALICE, "--note", "verified",
        ])
        .ok();
    assert!(
        lifted.stdout.contains("LIFTED the hold on member"),
        "{lifted:#?}"
    );
    let applied = dev.cactus(&redeem(&terminal, &codes[0], ALICE)).ok();
    assert!(applied.stdout.contains("discount 8.00 EUR"), "{applied:#?}");
    let shown = dev
        .cactus(&["hold", "show", "--key", &admin, "--member", ALICE])
        .ok();
    assert!(shown.stdout.contains("does not hold"), "{shown:#?}");
    assert!(shown.stdout.contains("proof verified"), "{shown:#?}");

    another_orgs_code_is_not_found(&dev, &admin);
    the_risk_key_holds_a_terminal_pending_review(&dev, &codes);
}

/// A code of another org (admitted by governance, with its own pool) cannot be held:
/// `not_found`, as an unknown code.
fn another_orgs_code_is_not_found(dev: &Dev, admin: &str) {
    let (other, other_data) = (
        path(&dev.file("other.key")),
        path(&dev.file("other-data.key")),
    );
    dev.cactus(&["keys", "generate", "--out", &other]).ok();
    dev.cactus(&["keys", "generate", "--out", &other_data]).ok();
    dev.cactus(&[
        "governance",
        "propose",
        "add-org",
        "--key",
        admin,
        "--id",
        "other",
        "--name",
        "Other",
        "--admin-key",
        &other,
    ])
    .ok();
    let theirs = pool(dev, "other-pool", (&other, &other_data), "1", &[]);
    for code in [theirs[0].as_str(), "ZZZZ-ZZZZ-ZZZZ"] {
        dev.rejected(
            &[
                "hold",
                "place",
                "--key",
                admin,
                "--code",
                code,
                "--reason",
                "leakage",
                "--note",
                "posted online",
            ],
            "not_found",
        );
    }
}

/// A key registered with `--role risk` by the org admin: the org's fraud engine.
fn risk_key(dev: &Dev, admin: &str) -> String {
    let risk = path(&dev.file("risk.key"));
    dev.cactus(&["keys", "generate", "--out", &risk]).ok();
    let registered = dev
        .cactus(&[
            "keys", "register", "--key", admin, "--public", &risk, "--role", "risk",
        ])
        .ok();
    assert!(
        registered.stdout.contains("as risk of org dev"),
        "{registered:#?}"
    );
    risk
}

/// The org's fraud engine holds the terminal pending review: it stops at once; the admin
/// confirms; a terminal may not read holds, the risk key may not decide them.
fn the_risk_key_holds_a_terminal_pending_review(dev: &Dev, codes: &[String]) {
    let (admin, terminal) = (dev.key("org-admin"), dev.key("terminal"));
    let risk = risk_key(dev, &admin);
    let placed = dev
        .cactus(&[
            "hold",
            "place",
            "--key",
            &risk,
            "--terminal",
            &terminal,
            "--reason",
            "collusion",
            "--note",
            "redeems for others, score 0.93",
        ])
        .ok();
    let says = "PENDING REVIEW: it stops already; an org admin decides with `cactus hold";
    assert!(placed.stdout.contains(says), "{placed:#?}");
    dev.rejected(&redeem(&terminal, &codes[1], BOB), "on_hold");
    let listed = dev.json(&["hold", "list", "--key", &risk]);
    let hold = &listed["holds"]["holds"][0];
    assert_eq!(
        (&hold["target"]["kind"], &hold["status"]),
        (&"terminal".into(), &"pending_review".into()),
        "{listed}"
    );
    let said = dev.rejected(
        &[
            "hold",
            "confirm",
            "--key",
            &risk,
            "--terminal",
            &terminal,
            "--note",
            "sure",
        ],
        "not_authorized",
    );
    assert!(
        said.contains("only an org admin confirms or lifts"),
        "{said}"
    );
    let confirmed = dev
        .cactus(&[
            "hold",
            "confirm",
            "--key",
            &admin,
            "--terminal",
            &terminal,
            "--note",
            "seen on CCTV",
        ])
        .ok();
    assert!(
        confirmed.stdout.contains("CONFIRMED the hold"),
        "{confirmed:#?}"
    );
    dev.rejected(&redeem(&terminal, &codes[1], BOB), "on_hold");
    let shown = dev
        .cactus(&["hold", "show", "--key", &admin, "--terminal", &terminal])
        .ok();
    assert!(
        shown.stdout.contains("CONFIRMED by org admin"),
        "{shown:#?}"
    );
    let denied = dev.cactus(&["--json", "hold", "list", "--key", &terminal]);
    assert_eq!(denied.code, 1, "{denied:#?}");
    assert!(denied.stderr.contains("fraud suspicion"), "{denied:#?}");
}

#[test]
fn a_velocity_limit_refuses_a_members_second_redemption_rolled_back_or_not() {
    let dev = Dev::start();
    let terminal = dev.key("terminal");
    let issuer = dev.key("issuer");
    let codes = pool(
        &dev,
        "limited",
        (&issuer, &dev.key("data")),
        "4",
        &["--velocity", "member:1/1h"],
    );
    let shown = dev.json(&["pool", "show", "limited", "--key", &issuer]);
    assert_eq!(
        shown["pool"]["spec"]["velocity"],
        serde_json::json!([{"per": "member", "max": 1, "window_ms": 3_600_000}]),
        "{shown}"
    );
    dev.cactus(&redeem(&terminal, &codes[0], ALICE)).ok();
    let said = dev.rejected(&redeem(&terminal, &codes[1], ALICE), "velocity_exceeded");
    assert!(said.contains("at most 1"), "{said}");
    // Another member is counted apart.
    dev.cactus(&redeem(&terminal, &codes[1], BOB)).ok();
    // A refund does not give the use back to the limit: redeem-and-refund is what it stops.
    dev.cactus(&["rollback", "--key", &terminal, "--code", &codes[0]])
        .ok();
    dev.rejected(&redeem(&terminal, &codes[2], ALICE), "velocity_exceeded");
}
