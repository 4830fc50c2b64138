//! The CLI speaks the merchant's language (issue 13), end to end through the `cactus`
//! binary against a real `cactusd --dev`: decimal amounts in the currency and ISO 8601
//! dates and durations, with their bad inputs refused before anything is sent (exit 1,
//! `invalid_input`, the chain's height unchanged); currency codes in any case; rejections
//! with amounts in the currency and hints that fit the caller; the customer's code printed
//! by `allocate --data-key`; `pool list` without `--org`; `revoke --reason` recorded on the
//! ledger; and the client's pre-checks, which `--force` gets past to a chain rejection
//! (exit 3), while a well-formed unknown code always reaches the chain (fraud evidence).
//!
//! Needs both binaries built: `cargo build -p couponcactus-node --bin cactusd && cargo
//! build -p couponcactus-client --bin cactus` (scripts/test.sh builds every binary).

use couponcactus_tests::Dev;
use couponcactus_tests::node::CactusRun;
use std::path::Path;

/// 2099-12-25T00:00:00Z: the end of 2099-12-24, as `--valid-until 2099-12-24` means it.
const END_OF_2099_12_24_MS: u64 = 4_101_840_000_000;

/// What these tests add to the shared harness: the chain's height, and a refusal that
/// must leave it unchanged.
trait Merchant {
    fn height(&self) -> u64;
    fn refused(&self, args: &[&str], says: &str) -> CactusRun;
}

impl Merchant for Dev {
    fn height(&self) -> u64 {
        self.cactus(&["--json", "status"]).ok().json()["height"]
            .as_u64()
            .expect("a height")
    }

    /// Runs a command that must be refused by the client: exit 1, `invalid_input`, the
    /// message containing `says`, and nothing committed.
    #[track_caller]
    fn refused(&self, args: &[&str], says: &str) -> CactusRun {
        let before = self.height();
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        let run = self.cactus(&json);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], "invalid_input", "{run:#?}");
        assert!(run.stderr.contains(says), "expected {says:?}: {run:#?}");
        assert_eq!(self.height(), before, "nothing may be sent: {run:#?}");
        run
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp paths").to_string()
}

/// `serial,code,…` rows of a codes CSV: (serial, code).
fn codes(csv: &Path) -> Vec<(Option<u64>, String)> {
    let text = std::fs::read_to_string(csv).expect("the codes CSV");
    text.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].parse().ok(), cells[1].to_string())
        })
        .collect()
}

/// Creates pool `id` from flags, issues `count` codes (or the shared `code`), activates it.
fn active_pool(dev: &Dev, id: &str, extra: &[&str], issue: &[&str]) -> Vec<(Option<u64>, String)> {
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
    let csv = path(&dev.file(&format!("{id}.csv")));
    let data = dev.key("data");
    let mut generate = vec![
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
    ];
    generate.extend_from_slice(issue);
    dev.cactus(&generate).ok();
    dev.cactus(&["pool", "activate", id, "--key", &issuer]).ok();
    codes(Path::new(&csv))
}

#[test]
fn pools_take_decimal_amounts_and_iso_dates_and_refuse_bad_ones_before_sending() {
    let dev = Dev::start_without_genesis();
    let issuer = dev.key("issuer");
    let base = [
        "pool",
        "create",
        "--key",
        &issuer,
        "--name",
        "Winter",
        "--percent",
        "10",
        "--total-cap",
        "5",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>| dev.cactus(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let created = run(with(&[
        "--json",
        "--id",
        "winter",
        "--currency",
        "eur",
        "--max-discount",
        "20.00",
        "--min-spend",
        "50",
        "--valid-from",
        "2026-01-01T09:00+01:00",
        "--valid-until",
        "2099-12-24",
    ]))
    .ok()
    .json();
    let spec = &created["spec"];
    assert_eq!(spec["currency"], "EUR");
    assert_eq!(spec["max_discount_minor"], 2_000);
    assert_eq!(spec["min_spend_minor"], 5_000);
    assert_eq!(spec["valid_from_ms"], 1_767_254_400_000u64);
    assert_eq!(spec["valid_until_ms"], END_OF_2099_12_24_MS);

    // A spec file in the merchant's terms (the README's).
    let toml = dev.file("spring.toml");
    std::fs::write(
        &toml,
        "id = \"spring\"\nname = \"Spring sale\"\ncurrency = \"eur\"\npercent = \"10\"\n\
         max_discount = \"20.00\"\nvalid_for = \"30d\"\ntotal_cap = 1000\n",
    )
    .unwrap();
    let spring = dev
        .cactus(&[
            "--json",
            "pool",
            "create",
            "--key",
            &issuer,
            "--spec",
            &path(&toml),
        ])
        .ok()
        .json();
    let s = &spring["spec"];
    assert_eq!(s["max_discount_minor"], 2_000);
    assert_eq!(
        s["valid_until_ms"].as_u64().unwrap() - s["valid_from_ms"].as_u64().unwrap(),
        30 * 86_400_000
    );

    let refuse = |extra: &[&str], says: &str| {
        let args = with(extra);
        dev.refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), says);
    };
    refuse(
        &[
            "--id",
            "a",
            "--currency",
            "eur",
            "--valid-until",
            "2020-01-01",
        ],
        "in the past",
    );
    refuse(&["--id", "b", "--currency", "xyz"], "ISO 4217");
    refuse(
        &["--id", "c", "--currency", "EUR", "--max-discount", "20.001"],
        "at most 2 decimals",
    );
    refuse(
        &["--id", "d", "--currency", "EUR", "--min-spend=-5"],
        "negative",
    );
    refuse(
        &[
            "--id",
            "e",
            "--currency",
            "EUR",
            "--valid-until",
            "2099-12-24T18:00",
        ],
        "no time zone",
    );
    refuse(
        &["--id", "f", "--currency", "EUR", "--valid-for", "30"],
        "not a duration",
    );
    // Two forms of one value are a command-line error.
    let both = run(with(&[
        "--id",
        "g",
        "--currency",
        "EUR",
        "--valid-for",
        "3d",
        "--valid-days",
        "3",
    ]));
    assert_eq!(both.code, 2, "{both:#?}");

    // `pool list` knows the key's org.
    let listed = dev
        .cactus(&["--json", "pool", "list", "--key", &issuer])
        .ok()
        .json();
    let ids: Vec<&str> = listed["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"winter") && ids.contains(&"spring"),
        "{listed}"
    );
    assert_eq!(listed["org"], "dev");
}

#[test]
fn redemptions_in_the_currency_with_hints_for_the_till_and_prechecks() {
    let dev = Dev::start_without_genesis();
    let issuer = dev.key("issuer");
    let terminal = dev.key("terminal");
    let rows = active_pool(&dev, "gift", &["--min-spend", "50.00"], &["--count", "4"]);

    // The issuer allocates and, with its data key, learns the customer's code.
    let secret = path(&dev.file("member.key"));
    dev.cactus(&["keys", "generate", "--out", &secret]).ok();
    let data = dev.key("data");
    let allocated = dev
        .cactus(&[
            "--json",
            "allocate",
            "--key",
            &issuer,
            "--pool",
            "gift",
            "--data-key",
            &data,
            "--member-name",
            "alice",
            "--member-secret",
            &secret,
        ])
        .ok()
        .json();
    let serial = allocated["token"]["serial"].as_u64().expect("a serial");
    let code = allocated["code"]
        .as_str()
        .expect("the customer's code")
        .to_string();
    assert_eq!(
        rows.iter()
            .find(|r| r.0 == Some(serial))
            .map(|r| r.1.clone()),
        Some(code.clone())
    );
    let human = dev
        .cactus(&[
            "allocate",
            "--key",
            &issuer,
            "--pool",
            "gift",
            "--data-key",
            &data,
            "--member-name",
            "bob",
            "--member-secret",
            &secret,
        ])
        .ok();
    assert!(human.stdout.contains("the customer's code: "), "{human:#?}");

    let redeem = |code: &str, extra: &[&str]| -> Vec<String> {
        ["redeem", "--key", &terminal, "--code", code]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let refuse = |args: Vec<String>, says: &str| {
        dev.refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), says)
    };
    let reject = |args: Vec<String>, code: &str| {
        dev.rejected_text(&args.iter().map(String::as_str).collect::<Vec<_>>(), code)
    };

    // Bad amounts and currencies never leave the till.
    refuse(
        redeem(&code, &["--total", "80.001", "--currency", "EUR"]),
        "at most 2 decimals",
    );
    refuse(
        redeem(&code, &["--total=-80", "--currency", "EUR"]),
        "negative",
    );
    refuse(
        redeem(&code, &["--total", "80", "--currency", "EURO"]),
        "ISO 4217",
    );
    refuse(
        redeem(
            &code,
            &["--total", "10", "--line", "food=12.00", "--currency", "eur"],
        ),
        "--force",
    );
    // Below the minimum spend: rejected by the chain, said in euros.
    let below = reject(
        redeem(&code, &["--total", "30.00", "--currency", "eur"]),
        "min_spend_not_met",
    );
    assert!(
        below.contains("min spend 50.00 EUR, eligible 30.00 EUR"),
        "{below}"
    );
    // Lower-case currency, decimal total: applied.
    let applied = dev
        .cactus(
            &redeem(&code, &["--total", "80.00", "--currency", "eur"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .ok();
    assert!(applied.stdout.contains("discount 8.00 EUR"), "{applied:#?}");
    let again = reject(
        redeem(&code, &["--total-minor", "8000", "--currency", "EUR"]),
        "already_redeemed",
    );
    assert!(again.contains("cactus rollback"), "{again}");

    // A malformed code unknown to the ledger is a typo: refused, unless --force, which
    // gets it to the chain (rejected, exit 3).
    let typo = refuse(
        redeem("7K2M-9QXR-4T!", &["--total", "80", "--currency", "EUR"]),
        "--force",
    );
    assert!(typo.stderr.contains("not a code"), "{typo:#?}");
    reject(
        redeem(
            "7K2M-9QXR-4T!",
            &["--total", "80", "--currency", "EUR", "--force"],
        ),
        "not_found",
    );
    // A well-formed unknown code is a real attempt: it always reaches the ledger.
    let before = dev.height();
    reject(
        redeem("0000-0000-0000", &["--total", "80", "--currency", "EUR"]),
        "not_found",
    );
    assert!(dev.height() > before, "the failed attempt is on the ledger");

    // The pool paused: the terminal is told to ask the merchant, never to activate it.
    dev.cactus(&["pool", "pause", "gift", "--key", &issuer])
        .ok();
    let other = rows
        .iter()
        .find(|r| r.0 != Some(serial))
        .expect("another code")
        .1
        .clone();
    let paused = reject(
        redeem(&other, &["--total", "80", "--currency", "EUR"]),
        "pool_not_active",
    );
    assert!(paused.contains("ask the merchant"), "{paused}");
    assert!(!paused.contains("activate"), "{paused}");
    // The issuer, for its own tx, is told what to do.
    let issuer_hint = dev.rejected_text(
        &["pool", "pause", "gift", "--key", &issuer],
        "invalid_transition",
    );
    assert!(issuer_hint.contains("draft → active"), "{issuer_hint}");
}

#[test]
fn shared_codes_need_a_member_before_anything_is_sent() {
    let dev = Dev::start_without_genesis();
    let terminal = dev.key("terminal");
    active_pool(
        &dev,
        "summer",
        &["--kind", "shared-code"],
        &["--code", "SUMMER10"],
    );
    let args = [
        "redeem",
        "--key",
        &terminal,
        "--code",
        "summer10",
        "--total",
        "20",
        "--currency",
        "EUR",
    ];
    let run = dev.refused(&args, "shared code");
    assert!(run.stderr.contains("--member"), "{run:#?}");
    let mut forced = args.to_vec();
    forced.push("--force");
    dev.rejected_text(&forced, "invalid_input");
}

#[test]
fn revokes_say_why_on_the_ledger_and_unknown_ids_are_caught() {
    let dev = Dev::start_without_genesis();
    let issuer = dev.key("issuer");
    active_pool(&dev, "fall", &[], &["--count", "3"]);

    let revoked = dev
        .cactus(&[
            "--json",
            "revoke",
            "--key",
            &issuer,
            "--token",
            "fall/1",
            "--reason",
            "fraud",
            "--note",
            "code posted on a forum",
        ])
        .ok()
        .json();
    assert_eq!(revoked["reason"], "fraud");
    let tx_id = revoked["tx"]["tx_id"]
        .as_str()
        .expect("a tx id")
        .to_string();
    let on_ledger = dev
        .cactus(&["--json", "tx", &tx_id, "--key", &issuer])
        .ok()
        .stdout;
    assert!(
        on_ledger.contains("\"reason\":\"fraud\"")
            && on_ledger.contains("\"note\":\"code posted on a forum\""),
        "{on_ledger}"
    );
    // Revoking it again: the hint is about the token, not about pool states.
    let again = dev.rejected_text(
        &[
            "revoke",
            "--key",
            &issuer,
            "--token",
            "fall/1",
            "--reason",
            "customer-request",
        ],
        "invalid_transition",
    );
    assert!(again.contains("revoked already"), "{again}");
    assert!(
        !again.contains("draft") && !again.contains("paused"),
        "{again}"
    );

    // A reason is required, from the fixed set; `other` needs a note; notes are bounded.
    let missing = dev.cactus(&["revoke", "--key", &issuer, "--token", "fall/2"]);
    assert_eq!(missing.code, 2, "{missing:#?}");
    let unknown = dev.cactus(&[
        "revoke", "--key", &issuer, "--token", "fall/2", "--reason", "stolen",
    ]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    dev.refused(
        &[
            "revoke", "--key", &issuer, "--token", "fall/2", "--reason", "other",
        ],
        "--note",
    );
    let long = "x".repeat(141);
    dev.refused(
        &[
            "revoke", "--key", &issuer, "--token", "fall/2", "--reason", "fraud", "--note", &long,
        ],
        "140 bytes",
    );

    // Unknown pools and tokens are typos: refused; --force reaches the chain.
    dev.refused(
        &[
            "revoke", "--key", &issuer, "--token", "fall/99", "--reason", "fraud",
        ],
        "no token",
    );
    dev.refused(
        &[
            "revoke", "--key", &issuer, "--token", "fal/1", "--reason", "fraud",
        ],
        "no pool fal",
    );
    dev.rejected_text(
        &[
            "revoke", "--key", &issuer, "--token", "fall/99", "--reason", "fraud", "--force",
        ],
        "not_found",
    );
    dev.refused(&["pool", "archive", "fal", "--key", &issuer], "no pool fal");
    dev.rejected_text(
        &["pool", "archive", "fal", "--key", &issuer, "--force"],
        "not_found",
    );
    let secret = path(&dev.file("member.key"));
    dev.cactus(&["keys", "generate", "--out", &secret]).ok();
    dev.refused(
        &[
            "allocate",
            "--key",
            &issuer,
            "--pool",
            "fal",
            "--member-name",
            "a",
            "--member-secret",
            &secret,
        ],
        "no pool fal",
    );
}
