//! Loyalty balances through the `cactus` binary against a real `cactusd --dev` (issue 19):
//! the example program set from its TOML file, points earned on an order and gift value
//! loaded, a proven balance, a spend in the spend order and its void, maker-checker
//! adjustments with a second admin, the liability; engagement and referral points, points
//! released on an event; bad amounts refused before anything
//! is sent, chain rejections with exit 3 and their code.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::DevNode;
use couponcactus_tests::node::{CactusRun, cactus_binary, run_cactus};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
const EXIT_REJECTED: i32 = 3;
/// A member id (64 hex characters).
const ALICE: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";
const BOB: &str = "b0b0000000000000000000000000000000000000000000000000000000000002";

struct Dev {
    node: DevNode,
    work: tempfile::TempDir,
}

impl Dev {
    fn key(&self, name: &str) -> String {
        path(&self.node.dir().join("keys").join(format!("{name}.key")))
    }

    fn cactus(&self, args: &[&str]) -> CactusRun {
        let mut command = Command::new(cactus_binary());
        command
            .args(args)
            .current_dir(self.work.path())
            .env("CACTUS_NODE", self.node.url())
            .env_remove("CACTUS_KEY")
            .env_remove("CACTUS_GENESIS")
            .env_remove("CACTUS_MEMBER_SECRET")
            .env("NO_COLOR", "1");
        run_cactus(command, COMMAND_TIMEOUT)
    }

    /// `--json` and must succeed.
    #[track_caller]
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.cactus(&all).ok().json()
    }

    fn height(&self) -> u64 {
        self.json(&["status"])["height"].as_u64().expect("a height")
    }

    fn balance(&self, member: &str) -> serde_json::Value {
        let v = self.json(&[
            "balance",
            "--key",
            &self.key("terminal"),
            "--member",
            member,
        ]);
        assert!(v["verified"]["certified_height"].is_u64(), "{v}");
        v["balance"].clone()
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

fn example_program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loyalty/program.toml")
}

#[test]
fn a_program_earns_loads_spends_voids_and_adjusts_with_proven_balances() {
    let dev = Dev {
        node: DevNode::start(),
        work: tempfile::tempdir().expect("a temp dir"),
    };
    let (admin, issuer, terminal) = (dev.key("org-admin"), dev.key("issuer"), dev.key("terminal"));
    let set = dev.json(&[
        "program",
        "set",
        "--key",
        &admin,
        "--file",
        &path(&example_program()),
    ]);
    assert_eq!(set["spec"]["name"], "Dev Rewards", "{set}");
    let shown = dev.cactus(&["program", "show", "--key", &terminal]).ok();
    assert!(
        shown
            .stdout
            .contains("program \"Dev Rewards\" of dev (version 1, EUR)"),
        "{shown:#?}"
    );

    // 80.00 EUR earns 80 points; a gift card of 25.00 EUR.
    let earned = dev
        .cactus(&[
            "points",
            "earn",
            "--key",
            &terminal,
            "--member",
            ALICE,
            "--order-ref",
            "R-1001",
            "--total",
            "80.00",
        ])
        .ok();
    assert!(
        earned
            .stdout
            .contains("+80 points mileage for member a11ce"),
        "{earned:#?}"
    );
    dev.json(&[
        "points",
        "load",
        "--key",
        &issuer,
        "--member",
        ALICE,
        "--segment",
        "gift",
        "--amount",
        "25.00",
        "--reference",
        "card-77",
    ]);
    let b = dev.balance(ALICE);
    assert_eq!(
        b["balances"],
        serde_json::json!({"gift": 2500, "mileage": 80}),
        "{b}"
    );
    assert_eq!(b["spendable"], b["balances"]);
    assert_eq!(b["tier"], "base");

    // Earning twice for one order, spending more than held: the chain's code, exit 3.
    let again = dev.cactus(&[
        "--json",
        "points",
        "earn",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--order-ref",
        "R-1001",
        "--total",
        "80.00",
    ]);
    assert_eq!(again.code, EXIT_REJECTED, "{again:#?}");
    assert_eq!(again.json()["error"]["code"], "already_earned");
    let over = dev.cactus(&[
        "--json",
        "points",
        "spend",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--segment",
        "gift",
        "--amount",
        "25.01",
        "--order-ref",
        "R-1002",
    ]);
    assert_eq!(over.code, EXIT_REJECTED, "{over:#?}");
    assert_eq!(over.json()["error"]["code"], "insufficient_balance");

    // Bad amounts never leave the client.
    let before = dev.height();
    for (args, says) in [
        (
            vec!["--segment", "mileage", "--amount", "1.5"],
            "whole numbers",
        ),
        (vec!["--segment", "gift", "--amount", "1.234"], "--amount"),
        (
            vec!["--segment", "refund-credit", "--amount", "1"],
            "no refund_credit",
        ),
    ] {
        let mut all = vec![
            "--json",
            "points",
            "spend",
            "--key",
            &terminal,
            "--member",
            ALICE,
            "--order-ref",
            "R",
        ];
        all.extend(args);
        let run = dev.cactus(&all);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], "invalid_input", "{run:#?}");
        assert!(run.stderr.contains(says), "expected {says:?}: {run:#?}");
    }
    assert_eq!(dev.height(), before, "nothing was sent");

    // A spend, then its void (a refund): the same lots back.
    let spent = dev.json(&[
        "points",
        "spend",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--segment",
        "gift",
        "--amount",
        "10.00",
        "--order-ref",
        "R-1003",
    ]);
    assert_eq!(dev.balance(ALICE)["balances"]["gift"], 1500);
    let spend_tx = spent["tx"]["tx_id"].as_str().expect("a tx id").to_string();
    dev.json(&[
        "points",
        "void",
        "--key",
        &terminal,
        "--tx",
        &spend_tx[..12],
    ]);
    assert_eq!(dev.balance(ALICE)["balances"]["gift"], 2500);
    let twice = dev.cactus(&[
        "--json", "points", "void", "--key", &admin, "--tx", &spend_tx,
    ]);
    assert_eq!(twice.code, EXIT_REJECTED, "{twice:#?}");
    assert_eq!(twice.json()["error"]["code"], "already_voided");

    // Maker-checker: 60 points is above the 5,000 threshold? No: 6,000 is.
    let small = dev.json(&[
        "points",
        "adjust",
        "--key",
        &admin,
        "--member",
        BOB,
        "--segment",
        "mileage",
        "--amount",
        "60",
        "--reason",
        "goodwill",
        "--note",
        "late delivery",
    ]);
    assert_eq!(small["events"][0]["op"], "adjusted", "{small}");
    let asked = dev.json(&[
        "points",
        "adjust",
        "--key",
        &admin,
        "--member",
        BOB,
        "--segment",
        "mileage",
        "--amount",
        "6000",
        "--reason",
        "migration",
        "--note",
        "carried over from the old card",
    ]);
    let adjustment = asked["tx"]["tx_id"].as_str().expect("an id").to_string();
    assert_eq!(
        asked["events"][0]["event"], "adjustment_requested",
        "{asked}"
    );
    let own = dev.cactus(&[
        "--json",
        "points",
        "approve",
        "--key",
        &admin,
        "--adjustment",
        &adjustment,
    ]);
    assert_eq!(own.code, EXIT_REJECTED, "{own:#?}");
    assert_eq!(own.json()["error"]["code"], "self_approval");
    let second = path(&dev.work.path().join("admin2.key"));
    dev.cactus(&["keys", "generate", "--out", &second]).ok();
    dev.json(&[
        "keys",
        "register",
        "--key",
        &admin,
        "--public",
        &second,
        "--role",
        "org-admin",
    ]);
    dev.json(&[
        "points",
        "approve",
        "--key",
        &second,
        "--adjustment",
        &adjustment,
    ]);
    assert_eq!(dev.balance(BOB)["balances"]["mileage"], 6060);

    // A withdrawal of a cash deposit: held, approved by an admin, recorded as paid.
    dev.json(&[
        "points",
        "load",
        "--key",
        &issuer,
        "--member",
        BOB,
        "--segment",
        "cash-deposit",
        "--amount",
        "50.00",
        "--reference",
        "deposit-1",
    ]);
    let asked = dev.json(&[
        "points",
        "withdraw",
        "--key",
        &issuer,
        "--member",
        BOB,
        "--segment",
        "cash-deposit",
        "--amount",
        "20.00",
        "--reference",
        "ticket-9",
    ]);
    let withdrawal = asked["tx"]["tx_id"].as_str().expect("an id").to_string();
    assert_eq!(dev.balance(BOB)["balances"]["cash_deposit"], 3000);
    let early = dev.cactus(&[
        "--json",
        "points",
        "withdrawal",
        "--key",
        &issuer,
        "--id",
        &withdrawal,
        "paid",
        "--payment",
        "sepa-1",
    ]);
    assert_eq!(early.code, EXIT_REJECTED, "{early:#?}");
    assert_eq!(early.json()["error"]["code"], "invalid_transition");
    dev.json(&[
        "points",
        "withdrawal",
        "--key",
        &admin,
        "--id",
        &withdrawal,
        "approve",
    ]);
    let paid = dev
        .cactus(&[
            "points",
            "withdrawal",
            "--key",
            &issuer,
            "--id",
            &withdrawal,
            "paid",
            "--payment",
            "sepa-1",
        ])
        .ok();
    assert!(
        paid.stdout.contains("of 2000 minor units: paid"),
        "{paid:#?}"
    );
    dev.json(&[
        "points",
        "adjust",
        "--key",
        &admin,
        "--member",
        BOB,
        "--segment",
        "cash-deposit",
        "--debit",
        "--amount",
        "30.00",
        "--reason",
        "other",
        "--note",
        "closing the account",
    ]);

    // The liability is the sum of the balances, proven.
    let liability = dev.json(&["program", "liability", "--key", &issuer]);
    assert_eq!(
        liability["liability"]["by_segment"],
        serde_json::json!({"gift": 2500, "mileage": 6140}),
        "{liability}"
    );
    let human = dev.cactus(&["program", "liability", "--key", &issuer]).ok();
    assert!(
        human.stdout.contains("gift 25.00 EUR, mileage 6140 points"),
        "{human:#?}"
    );
}

/// Creates pool `id` (10 % off, `extra` flags), generates 3 codes and activates it; the
/// codes, from the CSV `codes generate` writes.
fn active_pool(dev: &Dev, id: &str, extra: &[&str]) -> Vec<String> {
    let issuer = dev.key("issuer");
    let mut create = vec![
        "pool",
        "create",
        "--key",
        &issuer,
        "--id",
        id,
        "--name",
        id,
        "--currency",
        "eur",
        "--percent",
        "10",
        "--total-cap",
        "10",
    ];
    create.extend_from_slice(extra);
    dev.cactus(&create).ok();
    let csv = path(&dev.work.path().join(format!("{id}.csv")));
    let data = dev.key("data");
    dev.cactus(&[
        "codes",
        "generate",
        "--key",
        &issuer,
        "--data-key",
        &data,
        "--pool",
        id,
        "--out",
        &csv,
        "--count",
        "3",
    ])
    .ok();
    dev.cactus(&["pool", "activate", id, "--key", &issuer]).ok();
    std::fs::read_to_string(&csv)
        .expect("the codes CSV")
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("a code column").to_string())
        .collect()
}

#[test]
fn a_checkout_applies_coupons_a_gift_spend_and_points_and_a_void_undoes_it() {
    let dev = Dev {
        node: DevNode::start(),
        work: tempfile::tempdir().expect("a temp dir"),
    };
    let (admin, issuer, terminal) = (dev.key("org-admin"), dev.key("issuer"), dev.key("terminal"));
    dev.json(&[
        "program",
        "set",
        "--key",
        &admin,
        "--file",
        &path(&example_program()),
    ]);
    dev.json(&[
        "points",
        "load",
        "--key",
        &issuer,
        "--member",
        ALICE,
        "--segment",
        "gift",
        "--amount",
        "30.00",
        "--reference",
        "card-1",
    ]);
    let spring = active_pool(&dev, "spring", &["--stacking-group", "seasonal"]);
    let autumn = active_pool(&dev, "autumn", &["--stacking-group", "seasonal"]);
    let welcome = active_pool(&dev, "welcome", &[]);

    // 100.00 EUR: spring 10 % (10.00), welcome 10 % (10.00), then 20.00 of gift; 60.00
    // left to pay earns 60 points.
    let receipt = dev
        .cactus(&[
            "checkout",
            "--key",
            &terminal,
            "--member",
            ALICE,
            "--order-ref",
            "T-1",
            "--total",
            "100.00",
            "--code",
            &spring[0],
            "--code",
            &welcome[0],
            "--pay-segment",
            "gift",
            "--pay",
            "20.00",
        ])
        .ok();
    let squeezed: Vec<String> = receipt
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for line in [
        "order total 100.00 EUR",
        "coupon spring -10.00 EUR",
        "coupon welcome -10.00 EUR",
        "paid from gift -20.00 EUR",
        "left to pay 60.00 EUR",
        "points earned 60",
    ] {
        assert!(
            squeezed.iter().any(|l| l == line),
            "expected {line:?}: {receipt:#?}"
        );
    }
    let b = dev.balance(ALICE);
    assert_eq!(
        b["balances"],
        serde_json::json!({"gift": 1000, "mileage": 60}),
        "{b}"
    );

    // Two coupons of one stacking group: the chain refuses the whole checkout.
    let conflict = dev.cactus(&[
        "--json",
        "checkout",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--order-ref",
        "T-2",
        "--total",
        "50.00",
        "--code",
        &spring[1],
        "--code",
        &autumn[0],
    ]);
    assert_eq!(conflict.code, EXIT_REJECTED, "{conflict:#?}");
    assert_eq!(conflict.json()["error"]["code"], "stacking_conflict");
    assert_eq!(
        dev.balance(ALICE)["balances"]["mileage"],
        60,
        "nothing changed"
    );

    // The void undoes it all: coupons usable again, gift back, points gone.
    let done = dev.json(&[
        "checkout",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--order-ref",
        "T-3",
        "--total",
        "10.00",
        "--code",
        &autumn[1],
        "--no-earn",
    ]);
    let checkout = done["tx"]["tx_id"].as_str().expect("an id").to_string();
    let first = receipt
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("checkout "))
        .and_then(|l| l.split(' ').next())
        .expect("the receipt names the checkout")
        .to_string();
    let voided = dev.json(&["points", "void", "--key", &terminal, "--tx", &first]);
    let kinds: Vec<&str> = voided["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"rolled_back"), "{voided}");
    assert_eq!(kinds.last(), Some(&"checkout_voided"), "{voided}");
    let b = dev.balance(ALICE);
    assert_eq!(b["balances"], serde_json::json!({"gift": 3000}), "{b}");
    assert_ne!(checkout, first);
    // The spring coupon redeems again in a new order.
    dev.json(&[
        "checkout",
        "--key",
        &terminal,
        "--member",
        ALICE,
        "--order-ref",
        "T-4",
        "--total",
        "10.00",
        "--code",
        &spring[0],
    ]);
}

#[test]
fn engagement_referrals_and_points_released_on_an_event_from_the_cli() {
    let dev = Dev {
        node: DevNode::start(),
        work: tempfile::tempdir().expect("a temp dir"),
    };
    let (admin, issuer, terminal) = (dev.key("org-admin"), dev.key("issuer"), dev.key("terminal"));
    let program = path(&example_program());
    dev.json(&["program", "set", "--key", &admin, "--file", &program]);
    let shown = dev.cactus(&["program", "show", "--key", &issuer]).ok();
    for says in [
        "engagement review: 50 points, at most 3 per member in 30 days",
        "engagement referral: 500 points (+250 to the referred member)",
        "(never downgraded by a rule change)",
    ] {
        assert!(shown.stdout.contains(says), "{says:?}: {shown:#?}");
    }

    // A review: 50 points, once per review id.
    let review = |reference: &str| {
        dev.cactus(&[
            "points",
            "engage",
            "--key",
            &issuer,
            "--member",
            ALICE,
            "--action",
            "review",
            "--reference",
            reference,
        ])
    };
    let first = review("rev-81").ok();
    assert!(
        first.stdout.contains("+50 points mileage for member a11ce"),
        "{first:#?}"
    );
    let again = review("rev-81");
    assert_eq!(again.code, EXIT_REJECTED, "{again:#?}");
    assert!(
        again.stderr.contains("was awarded already"),
        "the chain's words: {again:#?}"
    );

    // Alice refers Bob: both credited in one tx; Bob is referred once.
    let refer = |by: &str| {
        dev.cactus(&[
            "--json",
            "points",
            "engage",
            "--key",
            &issuer,
            "--member",
            by,
            "--action",
            "referral",
            "--referred",
            BOB,
        ])
    };
    let referred = refer(ALICE).ok().json();
    assert_eq!(
        referred["events"].as_array().map(Vec::len),
        Some(2),
        "{referred}"
    );
    assert_eq!(dev.balance(ALICE)["balances"]["mileage"], 550);
    assert_eq!(dev.balance(BOB)["balances"]["mileage"], 250);
    let twice = refer(ALICE);
    assert_eq!(twice.code, EXIT_REJECTED, "{twice:#?}");
    assert_eq!(twice.json()["error"]["code"], "already_earned");

    // The program now keeps order points pending until the order's event.
    let text = std::fs::read_to_string(example_program()).expect("the example program");
    let waiting = dev.work.path().join("program.toml");
    std::fs::write(
        &waiting,
        text.replace("release_on_event = false", "release_on_event = true"),
    )
    .expect("a program file");
    dev.json(&["program", "set", "--key", &admin, "--file", &path(&waiting)]);
    let earned = dev.json(&[
        "points",
        "earn",
        "--key",
        &terminal,
        "--member",
        BOB,
        "--order-ref",
        "R-2001",
        "--total",
        "40.00",
    ]);
    let earn_tx = earned["tx"]["tx_id"].as_str().expect("a tx id").to_string();
    let bob = dev.balance(BOB);
    assert_eq!(bob["balances"]["mileage"], 290, "{bob}");
    assert_eq!(bob["spendable"]["mileage"], 250, "{bob}");
    let released = dev
        .cactus(&["points", "release", "--key", &terminal, "--tx", &earn_tx])
        .ok();
    assert!(
        released
            .stdout
            .contains("40 pending points of member b0b0000000000000… are spendable now"),
        "{released:#?}"
    );
    assert_eq!(dev.balance(BOB)["spendable"]["mileage"], 290);
    let again = dev.cactus(&[
        "--json", "points", "release", "--key", &admin, "--tx", &earn_tx,
    ]);
    assert_eq!(again.code, EXIT_REJECTED, "{again:#?}");
    assert_eq!(again.json()["error"]["code"], "not_pending");
}
