//! The coupon advisor through the `cactus` binary against a real `cactusd --dev` (issue
//! 20): ten members redeem a pool's codes; `cactus advise` reviews the pool and proposes
//! offers for the segment they form, stamped with the height; `--adopt p1 --out FILE`
//! writes the proposal's spec, which `cactus pool create --spec` turns into a draft pool;
//! a terminal key is refused, a period out of range and an unknown proposal are named.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::DevNode;
use couponcactus_tests::node::{CactusRun, cactus_binary, run_cactus};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the analytics store may take to ingest the redemptions.
const INGEST_WAIT: Duration = Duration::from_secs(20);

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

fn cactus(node: &DevNode, work: &Path, args: &[&str]) -> CactusRun {
    let mut command = Command::new(cactus_binary());
    command
        .args(args)
        .current_dir(work)
        .env("CACTUS_NODE", node.url())
        .env("CACTUS_GENESIS", node.dir().join("genesis.toml"))
        .env_remove("CACTUS_KEY")
        .env("NO_COLOR", "1");
    run_cactus(command, COMMAND_TIMEOUT)
}

/// Pool `spring` (10 % off, EUR) with 12 codes, active; returns the codes.
fn spring(node: &DevNode, work: &Path, key: &str, data: &str) -> Vec<String> {
    let create = [
        "pool",
        "create",
        "--key",
        key,
        "--id",
        "spring",
        "--name",
        "Spring",
        "--currency",
        "eur",
        "--percent",
        "10",
        "--total-cap",
        "100",
    ];
    cactus(node, work, &create).ok();
    let csv = path(&work.join("spring.csv"));
    let generate = [
        "codes",
        "generate",
        "--key",
        key,
        "--data-key",
        data,
        "--pool",
        "spring",
        "--count",
        "12",
        "--out",
        &csv,
    ];
    cactus(node, work, &generate).ok();
    cactus(node, work, &["pool", "activate", "spring", "--key", key]).ok();
    std::fs::read_to_string(&csv)
        .expect("the codes CSV")
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("a code column").to_string())
        .collect()
}

#[test]
fn the_advisor_reviews_pools_proposes_offers_and_a_proposal_becomes_a_draft() {
    let node = DevNode::start();
    let work = tempfile::tempdir().expect("a temp dir");
    let work = work.path();
    let key = |name: &str| path(&node.dir().join("keys").join(format!("{name}.key")));
    let (admin, issuer, terminal) = (key("org-admin"), key("issuer"), key("terminal"));
    let codes = spring(&node, work, &issuer, &key("data"));
    for (i, code) in codes.iter().take(10).enumerate() {
        let member = format!("{:064x}", 0xa000 + i);
        let redeem = [
            "redeem",
            "--key",
            &terminal,
            "--code",
            code,
            "--member",
            &member,
            "--total",
            "80.00",
            "--currency",
            "eur",
        ];
        cactus(&node, work, &redeem).ok();
    }
    let advice = wait_for_redemptions(&node, work, &admin, 10);
    let height = advice["stamp"]["height"].as_u64().expect("a height");
    assert!(height > 0, "{advice:#}");
    let spring = &advice["pools"][0];
    assert_eq!(spring["pool"], "spring");
    assert_eq!(
        spring["redemption_rate_bp"],
        serde_json::Value::Null,
        "no allocations: no rate"
    );
    let new = advice["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .find(|s| s["segment"] == "new")
        .unwrap_or_else(|| panic!("no new members: {advice:#}"));
    assert_eq!(new["members"], 10);
    let proposals = advice["proposals"].as_array().expect("proposals");
    assert!(!proposals.is_empty(), "{advice:#}");
    assert!(
        proposals[0]["rationale"]
            .as_str()
            .expect("a rationale")
            .contains(&format!("height {height}")),
        "{advice:#}"
    );

    // Text for a person.
    let text = cactus(&node, work, &["advise", "--key", &admin])
        .ok()
        .stdout;
    assert!(
        text.contains("Pools:") && text.contains("Proposals"),
        "{text}"
    );
    assert!(text.contains("spring"), "{text}");

    // Adopting writes the spec; a person creates the draft from it.
    let out = path(&work.join("p1.toml"));
    let adopted = cactus(
        &node,
        work,
        &["advise", "--key", &admin, "--adopt", "p1", "--out", &out],
    )
    .ok();
    assert!(
        adopted.stdout.contains("cactus pool create --spec"),
        "{adopted:#?}"
    );
    let create = [
        "pool", "create", "--key", &issuer, "--id", "adopted", "--spec", &out,
    ];
    cactus(&node, work, &create).ok();
    let shown = cactus(
        &node,
        work,
        &["--json", "pool", "show", "adopted", "--key", &issuer],
    )
    .ok()
    .json();
    assert_eq!(shown["pool"]["status"], "draft", "{shown:#}");

    refusals(&node, work, &admin, &terminal);
}

/// `cactus advise --json` once the store has ingested `redeemed` redemptions of spring.
fn wait_for_redemptions(
    node: &DevNode,
    work: &Path,
    admin: &str,
    redeemed: u64,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let advice = cactus(node, work, &["--json", "advise", "--key", admin])
            .ok()
            .json();
        if advice["pools"][0]["redeemed"] == redeemed {
            return advice;
        }
        assert!(started.elapsed() < INGEST_WAIT, "not ingested: {advice:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn refusals(node: &DevNode, work: &Path, admin: &str, terminal: &str) {
    let run = cactus(node, work, &["advise", "--key", terminal]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(
        run.stderr.contains("not_authorized") && run.stderr.contains("terminal key"),
        "{run:#?}"
    );
    let run = cactus(
        node,
        work,
        &["advise", "--key", admin, "--period-days", "3"],
    );
    assert!(
        run.stderr.contains("period_days must be 7 to 365, not 3"),
        "{run:#?}"
    );
    let out = path(&work.join("none.toml"));
    let run = cactus(
        node,
        work,
        &["advise", "--key", admin, "--adopt", "p9", "--out", &out],
    );
    assert!(run.stderr.contains("no proposal \"p9\""), "{run:#?}");
    assert!(!Path::new(&out).exists());
}
