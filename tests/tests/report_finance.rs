//! `cactus report finance` against a real `cactusd --dev` (issue 21, reports): three
//! coupons of a 10 %-off pool allocated, two of them redeemed (10.00 and 30.00 EUR
//! orders: 1.00 and 3.00 off), so one coupon is outstanding, valued at the pool's average
//! discount (2.00); the JSON, CSV, table and PDF forms show it, stamped with the chain
//! position; a terminal's key, a bad `--months` and a PDF without `--out` are refused.
//!
//! Needs both binaries built: `cargo build --workspace --all-targets --profile test`.

use couponcactus_tests::fixtures::order;
use couponcactus_tests::node::{CactusRun, DevNode};
use serde_json::Value;
use std::time::{Duration, Instant};

fn finance(node: &DevNode, key_name: &str, extra: &[&str]) -> CactusRun {
    let key = node.key_file(key_name);
    let mut args = vec!["report", "finance", "--key", key.as_str()];
    args.extend_from_slice(extra);
    node.cactus(&args)
}

/// The JSON report once its analytics figures cover `height` (bounded wait).
fn finance_at(node: &DevNode, height: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let json = finance(node, "issuer", &["--format", "json"]).ok().json();
        if json["finance"]["analytics_height"].as_u64() >= Some(height) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "analytics never reached {height}: {json}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn workload(node: &DevNode) -> u64 {
    let pool = node.create_active_pool("spring", 6);
    for m in 1..=3 {
        let reply = node.client().submit(&node.allocate_tx(&pool.id, m));
        let status = (reply.status, reply.body["status"].as_str());
        assert_eq!(
            status,
            (200, Some("applied")),
            "allocation {m}: {}",
            reply.body
        );
    }
    for (i, total) in [(0, 1_000), (1, 3_000)] {
        let view = node.redeem_code(&pool.codes[i], order(total));
        assert_eq!(view.error_code(), None, "redemption {i} applies");
    }
    node.status().height
}

#[test]
fn report_finance_values_the_outstanding_coupons_in_every_format() {
    let node = DevNode::start();
    let height = workload(&node);
    let json = finance_at(&node, height);
    let f = &json["finance"];
    assert!(f["stamp"]["height"].as_u64() >= Some(height), "{f}");
    assert_eq!(
        f["stamp"]["state_root"].as_str().map(str::len),
        Some(64),
        "{f}"
    );
    let pools = f["coupons"]["pools"].as_array().expect("pools");
    let spring = pools
        .iter()
        .find(|p| p["pool"] == "spring")
        .expect("spring");
    assert_eq!(spring["outstanding"], 1, "{spring}");
    assert_eq!(spring["redeemed"], 2, "{spring}");
    assert_eq!(spring["available"], 3, "{spring}");
    assert_eq!(spring["face_basis"], "average", "{spring}");
    assert_eq!(spring["face_value"], 200, "{spring}");
    assert_eq!(spring["liability"], 200, "{spring}");
    let eur = &f["coupons"]["totals"][0];
    assert_eq!(
        (eur["currency"].as_str(), eur["liability"].as_u64()),
        (Some("EUR"), Some(200))
    );
    // Discount cost per month: the two redemptions, 4.00 EUR off.
    let months = json["discount_by_month"]["rows"].as_array().expect("rows");
    let discount: i64 = months
        .iter()
        .flat_map(|r| r["money"].as_array().cloned().unwrap_or_default())
        .map(|m| m["net_discount_minor"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(discount, 400, "{json}");

    let csv = finance(&node, "issuer", &["--format", "csv"]).ok().stdout;
    assert!(csv.starts_with("# Coupon liability by currency"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("EUR,200,")), "{csv}");
    assert!(csv.contains("# Discount cost per month"), "{csv}");

    let table = finance(&node, "issuer", &[]).ok().stdout;
    assert!(table.contains("spring"), "{table}");
    assert!(table.contains("Computed at height"), "{table}");

    let out = node.dir().join("finance.pdf");
    let out_arg = out.to_string_lossy().into_owned();
    finance(&node, "issuer", &["--format", "pdf", "--out", &out_arg]).ok();
    let bytes = std::fs::read(&out).expect("the PDF");
    assert!(bytes.starts_with(b"%PDF"), "a PDF");

    // Refusals: a terminal's key, a bad --months, a PDF without --out.
    let refused = |run: CactusRun, needle: &str| {
        assert_ne!(run.code, 0, "{run:#?}");
        assert!(run.stderr.contains(needle), "{needle}: {run:#?}");
    };
    refused(
        finance(&node, "terminal", &[]),
        "may not read the finance report",
    );
    refused(finance(&node, "issuer", &["--months", "0"]), "--months");
    refused(finance(&node, "issuer", &["--format", "pdf"]), "--out");
    let unsigned =
        reqwest::blocking::get(format!("{}/v1/reports/finance", node.url())).expect("GET");
    assert_eq!(unsigned.status().as_u16(), 401);
}
