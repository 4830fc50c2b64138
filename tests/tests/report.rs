//! `cactus report` against a real `cactusd --dev` (issue 15, analytics): codes issued,
//! coupons allocated and redeemed, attempts refused; then `report kpis` in JSON, CSV and
//! table form shows exactly those numbers, stamped with the chain position; `report
//! rejections` names the reasons; bad input (a malformed date, an unknown group-by, a time
//! off the hour), a terminal's key and an unsigned request are refused; `cactusd reindex`
//! refuses a running node and, on the stopped node, rebuilds the same figures.
//!
//! Needs both binaries built: `cargo build --workspace --all-targets --profile test`.

use couponcactus_tests::fixtures::order;
use couponcactus_tests::node::{CactusRun, DevNode, cactusd_binary};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn kpis(node: &DevNode, extra: &[&str]) -> CactusRun {
    let issuer = node.key_file("issuer");
    let mut args = vec!["report", "kpis", "--key", &issuer];
    args.extend_from_slice(extra);
    node.cactus(&args)
}

/// The KPI report once the analytics store covers `height` (ingestion follows the chain
/// within a fraction of a second; bounded wait).
fn kpis_at(node: &DevNode, height: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let json = kpis(node, &["--format", "json"]).ok().json();
        if json["stamp"]["height"].as_u64() >= Some(height) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "analytics never reached {height}: {json}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issues 6 codes, redeems 3 of them (10.00, 20.00, 30.00 EUR at 10 % off), tries one
/// again and one unknown code; returns the height after.
fn workload(node: &DevNode) -> u64 {
    let pool = node.create_active_pool("spring", 6);
    for (i, total) in [(0, 1_000), (1, 2_000), (2, 3_000)] {
        let view = node.redeem_code(&pool.codes[i], order(total));
        assert_eq!(view.error_code(), None, "redemption {i} applies");
    }
    let again = node.redeem_code(&pool.codes[0], order(500));
    assert_eq!(again.error_code(), Some("already_redeemed"));
    let unknown = node.redeem_code("NO-SUCH-CODE-AT-ALL", order(500));
    assert_eq!(unknown.error_code(), Some("not_found"));
    node.status().height
}

fn assert_kpis(json: &Value) {
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{json}");
    let row = &rows[0];
    assert_eq!(row["issued"], 6, "{json}");
    assert_eq!(row["redeemed"], 3);
    assert_eq!(row["rejected"], 2);
    assert_eq!(row["redemption_rate_issued"]["bp"], 5_000, "3 of 6");
    let money = &row["money"][0];
    assert_eq!(money["currency"], "EUR");
    assert_eq!(money["gross_order_minor"], 6_000);
    assert_eq!(money["discount_minor"], 600);
    assert_eq!(money["net_order_minor"], 5_400);
    assert_eq!(money["average_basket_minor"], 2_000);
    let budget = &json["budget"][0];
    assert_eq!(
        (budget["pool"].as_str(), budget["used"].as_u64()),
        (Some("spring"), Some(6))
    );
    assert!(
        json["stamp"]["block_hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert!(
        json["stamp"]["state_root"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
}

#[test]
fn report_kpis_show_the_chains_numbers_in_every_format() {
    let mut node = DevNode::start();
    let height = workload(&node);
    let json = kpis_at(&node, height);
    assert_kpis(&json);

    let csv = kpis(&node, &["--format", "csv"]).ok().stdout;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(
        (cell("issued"), cell("redeemed"), cell("rejected")),
        ("6", "3", "2")
    );
    assert_eq!(
        (cell("discount_minor"), cell("gross_order_minor")),
        ("600", "6000")
    );
    assert_eq!(cell("rate_redeemed_issued"), "50.00%");

    let table = kpis(&node, &["--group-by", "pool,store"]).ok().stdout;
    assert!(
        table.contains("issued") && table.contains("spring"),
        "{table}"
    );
    assert!(
        table.contains(&format!("Computed at height {}", json["stamp"]["height"])),
        "{table}"
    );

    let pdf = node.dir().join("kpis.pdf");
    let pdf_path = pdf.to_string_lossy().into_owned();
    kpis(
        &node,
        &["--format", "pdf", "--out", &pdf_path, "--period", "day"],
    )
    .ok();
    let bytes = std::fs::read(&pdf).expect("the PDF written");
    assert!(bytes.starts_with(b"%PDF-"), "a PDF file");

    let issuer = node.key_file("issuer");
    let rejections = node
        .cactus(&["--json", "report", "rejections", "--key", &issuer])
        .ok()
        .json();
    let reasons: Vec<&str> = rejections["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{rejections}");
    assert!(reasons.contains(&"already_redeemed") && reasons.contains(&"not_found"));
    let listing = node
        .cactus(&["--json", "report", "redemptions", "--key", &issuer])
        .ok()
        .json();
    assert_eq!(listing["rows"].as_array().unwrap().len(), 3);

    refuses_bad_input(&node);

    // Reindex: refused while the node runs; on the stopped node the same figures.
    let data_dir = node.dir().to_string_lossy().into_owned();
    let reindex = || {
        Command::new(cactusd_binary())
            .args(["--data-dir", &data_dir, "reindex"])
            .output()
            .expect("running cactusd reindex")
    };
    let running = reindex();
    assert!(!running.status.success());
    assert!(
        String::from_utf8_lossy(&running.stderr).contains("stop the node"),
        "{running:?}"
    );
    node.stop();
    let stopped = reindex();
    assert!(stopped.status.success(), "{stopped:?}");
    node.restart();
    let again = kpis_at(&node, height);
    assert_eq!(again["rows"], json["rows"]);
    assert_eq!(again["budget"], json["budget"]);
}

fn refuses_bad_input(node: &DevNode) {
    let failed = |run: CactusRun, needle: &str| {
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(
            run.stderr.contains(needle) || run.stdout.contains(needle),
            "{needle}: {run:#?}"
        );
    };
    failed(kpis(node, &["--from", "yesterday"]), "--from");
    failed(kpis(node, &["--group-by", "colour"]), "unknown group-by");
    failed(kpis(node, &["--period", "fortnight"]), "unknown period");
    failed(kpis(node, &["--from", "2026-12-01T10:30Z"]), "whole hour");
    failed(
        kpis(node, &["--from", "2026-12-02", "--to", "2026-12-01"]),
        "empty range",
    );
    failed(kpis(node, &["--format", "pdf"]), "--out");
    let terminal = node.key_file("terminal");
    failed(
        node.cactus(&["report", "kpis", "--key", &terminal]),
        "not_authorized",
    );
    let unsigned =
        reqwest::blocking::get(format!("{}/v1/analytics/kpis", node.url())).expect("GET");
    assert_eq!(unsigned.status().as_u16(), 401);
    let doc: Value = reqwest::blocking::get(format!("{}/openapi.json", node.url()))
        .expect("GET /openapi.json")
        .json()
        .expect("JSON");
    for route in ["kpis", "rejections", "redemptions"] {
        let op = &doc["paths"][format!("/v1/analytics/{route}")]["get"];
        assert!(op["responses"]["400"].is_object(), "{route}: {op}");
        assert!(op["security"].is_array(), "{route} is a signed read: {op}");
    }
}
