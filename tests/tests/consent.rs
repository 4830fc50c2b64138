//! Consent on the ledger through the `cactus` binary against a real `cactusd --dev`
//! (issue 21): a pool requiring marketing consent refuses to allocate to a member without
//! it (`consent_required`, exit 3); `cactus consent grant` with the consent text's file
//! lets the allocation through; `cactus consent withdraw` refuses the next one again;
//! `cactus consent show` proves each purpose's latest decision; a role that may not record
//! consent is refused.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::Dev;
use std::path::Path;

/// A member id (64 hex characters).
const ALICE: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

#[test]
fn a_pool_requiring_marketing_consent_allocates_only_while_it_is_granted() {
    let dev = Dev::start();
    let (issuer, data, terminal) = (dev.key("issuer"), dev.key("data"), dev.key("terminal"));
    dev.cactus(&[
        "pool",
        "create",
        "--key",
        &issuer,
        "--id",
        "news",
        "--name",
        "Newsletter welcome",
        "--currency",
        "eur",
        "--percent",
        "10",
        "--total-cap",
        "10",
        "--per-member-cap",
        "5",
        "--requires-consent",
        "marketing",
    ])
    .ok();
    let csv = path(&dev.file("news.csv"));
    dev.cactus(&[
        "codes",
        "generate",
        "--key",
        &issuer,
        "--data-key",
        &data,
        "--pool",
        "news",
        "--count",
        "5",
        "--out",
        &csv,
    ])
    .ok();
    dev.cactus(&["pool", "activate", "news", "--key", &issuer])
        .ok();
    let shown = dev.cactus(&["pool", "show", "news", "--key", &issuer]).ok();
    assert!(
        shown.stdout.contains("marketing required to allocate"),
        "{shown:#?}"
    );
    let allocate = |claim: &'static str| -> Vec<String> {
        [
            "allocate", "--key", &issuer, "--pool", "news", "--member", ALICE, "--claim", claim,
        ]
        .map(String::from)
        .to_vec()
    };

    // No consent recorded: refused, with a hint that names the command.
    let first = allocate("order-1");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let refused = dev.rejected(&first, "consent_required");
    assert!(refused.contains("cactus consent grant"), "{refused}");

    // The member agrees at the till: the terminal records it with the text shown.
    let text = dev.file("marketing-v3.txt");
    std::fs::write(&text, "I agree to receive offers from ACME by e-mail.\n").unwrap();
    let text_arg = path(&text);
    let granted = dev.json(&[
        "consent",
        "grant",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--purpose",
        "marketing",
        "--text",
        &text_arg,
    ]);
    assert_eq!(granted["decision"], "granted", "{granted}");
    let hash = blake3::hash(b"I agree to receive offers from ACME by e-mail.\n").to_hex();
    assert_eq!(granted["text_hash"], hash.as_str(), "{granted}");
    let allocated = dev.json(&first);
    assert!(!allocated["token"].is_null(), "{allocated}");
    assert_eq!(allocated["member"], ALICE, "{allocated}");

    // Proven: marketing granted with that text, profiling never recorded, no erasure.
    let show = dev.json(&["consent", "show", "--key", &issuer, "--member", ALICE]);
    let consents = show["consents"].as_array().expect("consents");
    assert_eq!(consents[0]["purpose"], "marketing", "{show}");
    assert_eq!(consents[0]["record"]["granted"], true, "{show}");
    assert_eq!(consents[0]["record"]["text_hash"], hash.as_str(), "{show}");
    assert_eq!(consents[1]["purpose"], "profiling", "{show}");
    assert!(consents[1]["record"].is_null(), "{show}");
    assert!(show["erasure"].is_null(), "{show}");
    assert!(show["verified"]["height"].as_u64().is_some(), "{show}");
    let human = dev
        .cactus(&["consent", "show", "--key", &issuer, "--member", ALICE])
        .ok();
    for says in [
        "marketing",
        "granted (text",
        "nothing recorded",
        "proof verified",
    ] {
        assert!(human.stdout.contains(says), "{says:?}: {human:#?}");
    }

    // Withdrawn (by hash this time): the next allocation is refused again.
    dev.json(&[
        "consent",
        "withdraw",
        "--key",
        &issuer,
        "--member",
        ALICE,
        "--purpose",
        "marketing",
        "--text-hash",
        hash.as_str(),
    ]);
    let second = allocate("order-2");
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    dev.rejected(&second, "consent_required");
    let show = dev.json(&["consent", "show", "--key", &issuer, "--member", ALICE]);
    assert_eq!(show["consents"][0]["record"]["granted"], false, "{show}");

    // The privacy report counts it: alice known, her marketing consent withdrawn.
    let privacy = dev.json(&["report", "privacy", "--key", &issuer]);
    assert_eq!(privacy["known_members"], 1, "{privacy}");
    let rows = privacy["consent"].as_array().expect("consent rows");
    let marketing = rows
        .iter()
        .find(|c| c["purpose"] == "marketing")
        .expect("marketing");
    let counts = (
        marketing["granted"].as_u64(),
        marketing["withdrawn"].as_u64(),
    );
    assert_eq!(counts, (Some(0), Some(1)), "{privacy}");
    let table = dev
        .cactus(&["report", "privacy", "--key", &issuer])
        .ok()
        .stdout;
    assert!(
        table.contains("Consent coverage") && table.contains("marketing"),
        "{table}"
    );

    // A role that may not record consent: the auditor's key is refused by the chain;
    // a decision without the text shown is refused before anything is signed.
    let auditor = dev.key("auditor");
    dev.rejected(
        &[
            "consent",
            "grant",
            "--key",
            &auditor,
            "--member",
            ALICE,
            "--purpose",
            "marketing",
            "--text",
            &text_arg,
        ],
        "not_authorized",
    );
    let err = dev.cactus(&[
        "consent",
        "grant",
        "--key",
        &issuer,
        "--member",
        ALICE,
        "--purpose",
        "marketing",
    ]);
    assert_ne!(err.code, 0, "a decision needs the text: {err:#?}");
}
