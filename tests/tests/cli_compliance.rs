//! The access log and retention through the `cactus` binary against a real `cactusd
//! --dev` (issue 21): the org admin reads the retention status, places, lists and lifts a
//! legal hold (an issuer and a terminal are refused, an unknown class and a lifted hold
//! are named), and exports the access log as CSV and JSON, which names who did it, the
//! route templates and no query string; the node's data directory holds
//! `access-log.sqlite` and `retention.sqlite`.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::DevNode;
use std::time::Duration;

#[test]
fn holds_and_the_access_log_through_the_cli() {
    let node = DevNode::start();
    let admin = node.key_file("org-admin");
    let status = node
        .cactus(&["--json", "retention", "status", "--key", &admin])
        .ok()
        .json();
    let classes: Vec<&str> = status["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "webhook_deliveries",
            "access_log",
            "analytics_detail",
            "directory_inactive"
        ]
    );
    assert_eq!(status["classes"][1]["enforced"], true, "{status}");
    let text = node
        .cactus(&["retention", "status", "--key", &admin])
        .ok()
        .stdout;
    assert!(
        text.contains("access_log") && text.contains("365 days"),
        "{text}"
    );

    let placed = node
        .cactus(&[
            "--json",
            "retention",
            "hold",
            "add",
            "--class",
            "access_log",
            "--reason",
            "case 17",
            "--key",
            &admin,
        ])
        .ok()
        .json();
    let id = placed["id"].as_u64().unwrap().to_string();
    for who in ["issuer", "terminal"] {
        let run = node.cactus(&[
            "--json",
            "retention",
            "hold",
            "add",
            "--class",
            "all",
            "--reason",
            "x",
            "--key",
            &node.key_file(who),
        ]);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], "not_authorized", "{run:#?}");
    }
    let bad = node.cactus(&[
        "--json",
        "retention",
        "hold",
        "add",
        "--class",
        "tokens",
        "--reason",
        "x",
        "--key",
        &admin,
    ]);
    assert_eq!(bad.json()["error"]["code"], "invalid_input", "{bad:#?}");
    let list = node
        .cactus(&["--json", "retention", "hold", "list", "--key", &admin])
        .ok()
        .json();
    assert_eq!(list["holds"].as_array().unwrap().len(), 1, "{list}");
    node.cactus(&["retention", "hold", "remove", &id, "--key", &admin])
        .ok();
    let again = node.cactus(&[
        "--json",
        "retention",
        "hold",
        "remove",
        &id,
        "--key",
        &admin,
    ]);
    assert_eq!(again.json()["error"]["code"], "not_found", "{again:#?}");

    // The log is written by a queue: give the writer a moment.
    std::thread::sleep(Duration::from_millis(500));
    let csv = node
        .cactus(&["access-log", "export", "--format", "csv", "--key", &admin])
        .ok()
        .stdout;
    assert!(csv.starts_with("id,time,time_ms,actor_kind"), "{csv}");
    assert!(csv.contains("POST,/v1/retention/holds,"), "{csv}");
    assert!(csv.contains("DELETE,/v1/retention/holds/{id},id="), "{csv}");
    assert!(!csv.contains("body_sha256"), "no query string: {csv}");
    let out = node.dir().join("access.json");
    let out_arg = out.display().to_string();
    node.cactus(&[
        "access-log",
        "export",
        "--format",
        "json",
        "--from",
        "2020-01-01",
        "--out",
        &out_arg,
        "--key",
        &admin,
    ])
    .ok();
    let entries: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let refused = entries
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["status"] == 403 && e["actor"]["role"] == "issuer");
    assert!(
        refused,
        "the issuer's refused attempts are logged, with its role: {entries}"
    );
    let issuer = node.cactus(&[
        "--json",
        "access-log",
        "export",
        "--key",
        &node.key_file("issuer"),
    ]);
    assert_eq!(
        issuer.json()["error"]["code"],
        "not_authorized",
        "{issuer:#?}"
    );
    let auditor = node
        .cactus(&[
            "access-log",
            "export",
            "--format",
            "json",
            "--key",
            &node.key_file("auditor"),
        ])
        .ok();
    assert!(
        auditor.stdout.contains("\"role\": \"issuer\""),
        "{}",
        auditor.stdout
    );
    assert!(node.dir().join("access-log.sqlite").exists());
    assert!(node.dir().join("retention.sqlite").exists());
}
