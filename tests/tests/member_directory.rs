//! The member directory and erasure end to end (issue 21) through the `cactus` binary
//! against a real `cactusd --dev`: a member added with distinctive personal data is found
//! by each of the three inputs (email, recipient id, member id), conflicting inputs are
//! refused `match_conflict`, a terminal may not use the directory, the member gets a
//! coupon, and after `cactus member erase` no file under the node's data directory (its
//! databases, the directory's SQLite and WAL, the analytics store, the node's log) holds
//! any of the personal data, while `cactus audit verify` still passes.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::Dev;
use couponcactus_tests::scan;
use couponcactus_tests::scan::person::{self, DISTINCTIVE, EMAIL, NAME, RECIPIENT};
use couponcactus_tests::tamper::{audit, genesis_file};
use std::path::Path;

/// The `(file, string)` pairs where a distinctive string is on disk under `dir`.
fn leaks(dir: &Path) -> Vec<(String, &'static str)> {
    scan::leaks(dir, DISTINCTIVE)
}

#[test]
fn an_erased_member_leaves_no_personal_data_on_disk_and_the_chain_verifies() {
    let dev = Dev::start();
    let (admin, issuer) = (dev.key("org-admin"), dev.key("issuer"));
    let pool = dev.node.create_active_pool("spring", 3);

    let added = dev.json(&person::member_add(&admin));
    let member = added["member"].as_str().expect("a member id").to_string();
    assert_eq!(member.len(), 64, "{added}");
    assert_eq!(added["record"]["email"], EMAIL.to_lowercase());
    assert_eq!(added["record"]["phone"], "+155501994417");
    // Someone else, for the conflict.
    dev.json(&[
        "member",
        "add",
        "--key",
        &issuer,
        "--email",
        "someone.else@example.org",
        "--recipient-id",
        "rcpt-other",
    ]);

    // Found by each of the three inputs (the email in another case), and by all three.
    for by in [
        vec!["--email", "QUILLON.VEXHAMMER@zanzibar-mail.EXAMPLE"],
        vec!["--recipient-id", RECIPIENT],
        vec!["--member", &member],
        vec![
            "--email",
            EMAIL,
            "--recipient-id",
            RECIPIENT,
            "--member",
            &member,
        ],
    ] {
        let mut args = vec!["member", "find", "--key", &issuer];
        args.extend_from_slice(&by);
        let found = dev.json(&args);
        assert_eq!(found["member"], member.as_str(), "{by:?}: {found}");
    }
    let human = dev
        .cactus(&[
            "member",
            "find",
            "--key",
            &admin,
            "--recipient-id",
            RECIPIENT,
        ])
        .ok();
    assert!(
        human
            .stdout
            .contains(&format!("member {member} (matched by recipient_id)")),
        "{human:#?}"
    );
    // Conflicting inputs: refused, naming the inputs only.
    let conflict = dev.fails(
        &[
            "member",
            "find",
            "--key",
            &admin,
            "--email",
            EMAIL,
            "--recipient-id",
            "rcpt-other",
        ],
        "match_conflict",
    );
    assert!(!conflict.to_string().contains("someone.else"), "{conflict}");
    // A terminal may not read the directory.
    dev.fails(
        &[
            "member",
            "show",
            "--key",
            &dev.key("terminal"),
            "--member",
            &member,
        ],
        "not_authorized",
    );

    // A coupon for the member; the export shows the record.
    let allocated = dev.json(&[
        "allocate",
        "--key",
        &issuer,
        "--pool",
        &pool.id.to_string(),
        "--member",
        &member,
    ]);
    assert_eq!(allocated["member"], member.as_str(), "{allocated}");
    assert_eq!(allocated["tx"]["status"], "applied", "{allocated}");
    let export = dev.json(&["member", "export", "--key", &admin, "--member", &member]);
    assert_eq!(export["directory"]["record"]["name"], NAME, "{export}");
    // The ledger's side of the access request: the member's coupon, proven.
    let tokens = export["ledger"]["coupons"]["tokens"]
        .as_array()
        .expect("tokens");
    assert_eq!(tokens.len(), 1, "{export}");
    assert!(
        export["ledger"]["consent"]["consents"].is_array(),
        "{export}"
    );

    // Only ciphertext reached the disk, even before the erasure; the scan does find a
    // string that is there.
    let found = leaks(dev.node.dir());
    assert!(
        found.is_empty(),
        "personal data on disk before the erasure: {found:?}"
    );
    let canary = tempfile::tempdir().expect("a temp dir");
    for i in 0..6 {
        std::fs::write(canary.path().join(format!("f{i}")), format!("x{i}")).expect("a file");
    }
    std::fs::write(canary.path().join("log"), "... Ottoline ...").expect("a file");
    assert_eq!(leaks(canary.path()).len(), 1);

    // Erase: without --yes (no terminal to say yes) nothing happens; with it, done.
    dev.fails(
        &["member", "erase", "--key", &admin, "--member", &member],
        "aborted",
    );
    assert_eq!(
        dev.json(&["member", "show", "--key", &admin, "--member", &member])["record"]["name"],
        NAME
    );
    let erased = dev.json(&[
        "member", "erase", "--key", &admin, "--member", &member, "--yes",
    ]);
    assert_eq!(erased["erased"]["member"], member.as_str(), "{erased}");
    assert!(
        erased["receipt"].to_string().contains("recorded"),
        "{erased}"
    );
    // The receipt is on the ledger: a new allocation to the member is refused, and the
    // privacy report's erasure log lists it.
    let again = dev.cactus(&[
        "--json",
        "allocate",
        "--key",
        &issuer,
        "--pool",
        &pool.id.to_string(),
        "--member",
        &member,
    ]);
    assert!(
        again.stderr.contains("member_erased") || again.stdout.contains("member_erased"),
        "{again:#?}"
    );
    let privacy = dev.json(&["report", "privacy", "--key", &admin]);
    assert_eq!(
        privacy["erasures"][0]["member"],
        member.as_str(),
        "{privacy}"
    );
    for by in [
        vec!["--email", EMAIL],
        vec!["--recipient-id", RECIPIENT],
        vec!["--member", &member],
    ] {
        let mut args = vec!["member", "find", "--key", &admin];
        args.extend_from_slice(&by);
        dev.fails(&args, "not_found");
    }
    dev.fails(
        &["member", "show", "--key", &admin, "--member", &member],
        "not_found",
    );

    // The chain still verifies, and the member's coupon is still on it (pseudonymous).
    let run = audit(&dev.node.url(), &genesis_file(dev.node.dir()), &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.starts_with("VERIFIED"), "{run:#?}");

    // No personal datum anywhere under the node's data directory, its log included:
    // while it runs, and after it stopped (everything flushed).
    let found = leaks(dev.node.dir());
    assert!(
        found.is_empty(),
        "personal data on disk after the erasure: {found:?}"
    );
    let mut dev = dev;
    dev.node.stop();
    let found = leaks(dev.node.dir());
    assert!(
        found.is_empty(),
        "personal data on disk after the erasure: {found:?}"
    );
    assert!(
        dev.node.log().contains("directory subject erased"),
        "the erasure is logged (member id only)"
    );
}
