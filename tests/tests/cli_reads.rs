//! The reading side of the CLI (issue 13) against a real local consortium, only through
//! the `cactus` binary (and two hand-made txs):
//!
//! - ids typed shortened: `tx` and `rollback --redemption` take a hex prefix of a tx id (as
//!   the CLI prints it, `…` included), `keys revoke --public` a prefix of a key; a prefix
//!   shared by two committed txs is refused with both candidates (exit 1), as are a
//!   too-short and an unknown one;
//! - `rollback` by code, by token (a partner's terminal too) and by id prefix; rolling back
//!   a code never redeemed, or a token twice, says it is not redeemed (exit 1);
//! - `token history` lists the rejected attempts (a second redemption: `already_redeemed`)
//!   with their signers named;
//! - `tx` names its signer by role, org and store, a revoked key as revoked;
//! - `wallet` shows pool names, discounts and validity, its proofs verified;
//! - `token`, `token --code` and `pool show` of something that does not exist say "not
//!   found (proven at height H)" once the node's proof of its absence and the certificate
//!   of that height verified (issue 14);
//! - `events list` shows the rejected attempt as a `tx.rejected` event, `events show`
//!   verifies it, another org sees none of it (issue 15);
//! - `--memo` (issue 16): a malformed memo is refused before anything is sent; a
//!   redemption signed with one shows it on `tx` and on its event.
//!
//! Needs both binaries built: `cargo build --workspace --all-targets --profile test`.

use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::ids::{ChainId, PublicKey};
use couponcactus_chaincode::tx::{RedeemTarget, RedeemTx, SignedTx, TxBody, TxKind, tx_id};
use couponcactus_chaincode::types::Order;
use couponcactus_genesis::{Genesis, KeyFile};
use couponcactus_tests::localnet::Localnet;
use couponcactus_tests::node::CactusRun;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Exit code of a tx the chain rejected.
const EXIT_REJECTED: i32 = 3;
/// How acme's localnet terminal is named.
const ACME_TERMINAL: &str = "terminal acme/acme-store-1 (pos)";

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

/// The plaintext demo codes of `pool`, by serial.
fn codes(net: &Localnet, org: &str, pool: &str) -> Vec<String> {
    let path = net
        .net()
        .join("orgs")
        .join(org)
        .join(format!("codes-{pool}.csv"));
    let text = std::fs::read_to_string(&path).expect("the demo codes");
    text.lines()
        .skip(1)
        .map(|l| l.split_once(',').expect("serial,code").1.to_string())
        .collect()
}

/// `cactus --json redeem` of `code` for an order of `total` EUR minor units.
fn redeem(net: &Localnet, key: &Path, code: &str, total: &str) -> CactusRun {
    net.cactus(&[
        "--json",
        "redeem",
        "--key",
        s(key),
        "--code",
        code,
        "--total-minor",
        total,
        "--currency",
        "EUR",
    ])
}

/// The redemption id of an applied `redeem --json`.
fn redemption_of(run: CactusRun) -> String {
    let json = run.ok().json();
    json["redeemed"]["redemption"]
        .as_str()
        .unwrap_or_else(|| panic!("a redemption id: {json}"))
        .to_string()
}

/// The `error.code` of a failed `--json` command that exited with 1.
#[track_caller]
fn failed_with(run: &CactusRun, code: &str) -> Value {
    assert_eq!(run.code, 1, "{run:#?}");
    let json = run.json();
    assert_eq!(json["error"]["code"], code, "{run:#?}");
    json
}

/// Two redemptions of an unknown code signed by `key` whose tx ids share their first 8 hex
/// digits, submitted (the chain rejects them, but they are committed: real tx ids).
fn two_txs_sharing_a_prefix(net: &Localnet, key: &Path) -> (String, String) {
    let chain: ChainId = Genesis::load(&net.net().join("genesis.toml"))
        .expect("the localnet genesis")
        .initial
        .chain_id;
    let signer = KeyFile::load(key).expect("the terminal key").signing_key();
    let public = PublicKey(signer.verifying_key().to_bytes());
    let valid_until = couponcactus_tests::now_ms() + 60_000;
    let body = |nonce: u64| TxBody {
        chain_id: chain.clone(),
        nonce,
        valid_until_ms: valid_until,
        kind: TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Code(code_hash("NO-SUCH-CODE-0000")),
            member: None,
            order: Order {
                currency: "EUR".parse().expect("a currency"),
                total_minor: 1_000,
                lines: vec![],
            },
        }),
        memo: None,
    };
    // A birthday search over 32 bits: about 80,000 bodies hashed.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let start = valid_until * 1_000;
    let (a, b) = (start..)
        .find_map(|nonce| {
            let id = tx_id(&encode(&body(nonce)), &public).to_hex();
            seen.insert(id[..8].to_string(), nonce)
                .map(|other| (other, nonce))
        })
        .expect("an unbounded search ends");
    let http = reqwest::blocking::Client::new();
    let mut ids = Vec::new();
    for nonce in [a, b] {
        let tx: SignedTx = body(nonce).sign(&signer);
        let response = http
            .post(format!("{}/v1/txs", net.url(2)))
            .json(&tx)
            .send()
            .expect("submitting");
        assert_eq!(response.status().as_u16(), 422, "rejected but committed");
        ids.push(tx.id().to_hex());
    }
    assert_eq!(ids[0][..8], ids[1][..8]);
    (ids[0].clone(), ids[1].clone())
}

fn ids_are_typed_shortened(net: &Localnet, spring: &[String]) {
    let terminal = net.key("acme", "terminal");
    let auditor = net.key("acme", "auditor");
    let redemption = redemption_of(redeem(net, &terminal, &spring[10], "8000"));

    // As the CLI prints it (16 digits and `…`), and with 8 digits.
    let shown = format!("{}…", &redemption[..16]);
    let human = net.cactus(&["tx", &shown, "--key", s(&auditor)]).ok();
    assert!(human.stdout.contains(&redemption), "{human:#?}");
    assert!(
        human
            .stdout
            .contains(&format!("signed by  {ACME_TERMINAL}")),
        "{human:#?}"
    );
    let json = net
        .cactus(&["--json", "tx", &redemption[..8], "--key", s(&auditor)])
        .ok()
        .json();
    assert_eq!(json["tx"]["tx_id"], redemption.as_str());
    assert_eq!(json["signer"]["name"], ACME_TERMINAL, "{json}");

    // Too short, not hex, unknown: refused before or by the node, clearly.
    let short = net.cactus(&["tx", "1234567", "--key", s(&auditor)]);
    assert_eq!(short.code, 1, "{short:#?}");
    assert!(short.stderr.contains("at least 8 hex digits"), "{short:#?}");
    failed_with(
        &net.cactus(&["--json", "tx", "xyz12345", "--key", s(&auditor)]),
        "invalid_input",
    );
    let unknown = if redemption.starts_with("0000") {
        "ffffffff"
    } else {
        "00000000"
    };
    failed_with(
        &net.cactus(&["--json", "tx", unknown, "--key", s(&auditor)]),
        "not_found",
    );

    // Two committed txs share 8 digits: the prefix is refused with both candidates.
    let (a, b) = two_txs_sharing_a_prefix(net, &terminal);
    let ambiguous = failed_with(
        &net.cactus(&["--json", "tx", &a[..8], "--key", s(&auditor)]),
        "ambiguous_id",
    );
    let message = ambiguous["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&a) && message.contains(&b), "{ambiguous}");
    let human = net.cactus(&["tx", &a[..8], "--key", s(&auditor)]);
    assert_eq!(human.code, 1, "{human:#?}");
    assert!(
        human.stderr.contains(&a) && human.stderr.contains(&b),
        "{human:#?}"
    );
    failed_with(
        &net.cactus(&[
            "--json",
            "rollback",
            "--key",
            s(&terminal),
            "--redemption",
            &a[..8],
        ]),
        "ambiguous_id",
    );
    // One more digit than they share names one.
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let one = net
        .cactus(&["--json", "tx", &a[..=common], "--key", s(&auditor)])
        .ok()
        .json();
    assert_eq!(one["tx"]["tx_id"], a.as_str());
    assert_eq!(
        one["tx"]["error"]["code"], "not_found",
        "the unknown code: {one}"
    );
}

fn rollback_by_code_token_and_prefix(net: &Localnet, spring: &[String]) {
    let terminal = net.key("acme", "terminal");
    let rollback = |what: &str, value: &str| {
        net.cactus(&["--json", "rollback", "--key", s(&terminal), what, value])
    };
    // A code never redeemed has nothing to roll back.
    let never = failed_with(&rollback("--code", &spring[11]), "not_redeemed");
    assert!(
        never["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("acme-spring/11")),
        "{never}"
    );
    // By token, once; the second time says so.
    let redeemed = redeem(net, &terminal, &spring[12], "8000").ok().json();
    assert_eq!(redeemed["redeemed"]["token"]["serial"], 12, "{redeemed}");
    let done = net
        .cactus(&[
            "rollback",
            "--key",
            s(&terminal),
            "--token",
            "acme-spring/12",
        ])
        .ok();
    assert!(done.stdout.contains("redeemable again"), "{done:#?}");
    let twice = net.cactus(&[
        "rollback",
        "--key",
        s(&terminal),
        "--token",
        "acme-spring/12",
    ]);
    assert_eq!(twice.code, 1, "{twice:#?}");
    assert!(twice.stderr.contains("not redeemed"), "{twice:#?}");
    failed_with(&rollback("--token", "acme-spring/12"), "not_redeemed");
    // By a prefix of the redemption id, and by code.
    let again = redemption_of(redeem(net, &terminal, &spring[12], "8000"));
    let json = rollback("--redemption", &again[..10]).ok().json();
    assert_eq!(json["redemption"], again.as_str());
    let by_code = redemption_of(redeem(net, &terminal, &spring[13], "8000"));
    // The code as a clerk types it: any case.
    let json = rollback("--code", &spring[13].to_lowercase()).ok().json();
    assert_eq!(json["redemption"], by_code.as_str());
    assert_eq!(json["found"]["token_id"]["serial"], 13);
    // A partner's terminal reads globex's pool rules (globex lists acme as partner) and
    // rolls back its own redemption there, once.
    let welcome = codes(net, "globex", "globex-welcome");
    let partner = redemption_of(redeem(net, &terminal, &welcome[7], "3000"));
    let json = rollback("--code", &welcome[7]).ok().json();
    assert_eq!(json["redemption"], partner.as_str());
    failed_with(&rollback("--code", &welcome[7]), "not_redeemed");
    // Exactly one of --redemption, --code, --token.
    let neither = net.cactus(&["rollback", "--key", s(&terminal)]);
    assert_eq!(neither.code, 2, "{neither:#?}");
}

fn history_lists_rejected_attempts(net: &Localnet, spring: &[String]) {
    let terminal = net.key("acme", "terminal");
    let auditor = net.key("acme", "auditor");
    // spring[10] was redeemed above: a second redemption is rejected, and stays as evidence.
    let second = redeem(net, &terminal, &spring[10], "8000");
    assert_eq!(second.code, EXIT_REJECTED, "{second:#?}");
    let json = net
        .cactus(&[
            "--json",
            "token",
            "history",
            "acme-spring/10",
            "--key",
            s(&auditor),
        ])
        .ok()
        .json();
    let entries = json["history"]["entries"].as_array().expect("entries");
    let last = entries.last().expect("an entry");
    assert_eq!(last["result"]["status"], "rejected", "{json}");
    assert_eq!(last["result"]["rejection"]["reason"], "already_redeemed");
    assert_eq!(json["rejected"], 1, "{json}");
    let human = net
        .cactus(&["token", "history", "acme-spring/10", "--key", s(&auditor)])
        .ok();
    assert!(
        human.stdout.contains("REJECTED already_redeemed"),
        "{human:#?}"
    );
    assert!(
        human.stdout.contains(&format!("by {ACME_TERMINAL}")),
        "{human:#?}"
    );
    assert!(human.stdout.contains("1 of them rejected"), "{human:#?}");
}

/// `events list` shows the rejected second redemption as a `tx.rejected` event with its
/// reason; `events show` checks it against a certified header; another org's issuer does
/// not see it; a malformed cursor is refused before anything is sent.
fn events_show_the_attempt_and_verify(net: &Localnet) {
    let issuer = net.key("acme", "issuer");
    let json = net
        .cactus(&[
            "--json",
            "events",
            "list",
            "--key",
            s(&issuer),
            "--type",
            "tx.rejected",
            "--limit",
            "1000",
        ])
        .ok()
        .json();
    let events = json["events"].as_array().expect("events");
    let rejected = events
        .iter()
        .find(|e| e["detail"]["rejection"]["reason"] == "already_redeemed")
        .unwrap_or_else(|| panic!("the rejected second redemption: {json}"));
    assert_eq!(rejected["org"], "acme", "{rejected}");
    assert_eq!(rejected["store"], "acme-store-1", "{rejected}");
    let id = rejected["id"].as_str().unwrap();
    let shown = net
        .cactus(&["events", "show", id, "--key", s(&issuer)])
        .ok();
    assert!(shown.stdout.contains("tx.rejected"), "{shown:#?}");
    assert!(shown.stdout.contains("certified by nodes"), "{shown:#?}");
    let human = net
        .cactus(&[
            "events",
            "list",
            "--key",
            s(&issuer),
            "--type",
            "coupon.redeemed",
        ])
        .ok();
    assert!(human.stdout.contains("coupon.redeemed"), "{human:#?}");
    assert!(human.stdout.contains("store acme-store-1"), "{human:#?}");
    // globex's issuer sees none of acme's redemptions and may not open this event.
    let globex = net.key("globex", "issuer");
    let theirs = net
        .cactus(&[
            "--json",
            "events",
            "list",
            "--key",
            s(&globex),
            "--type",
            "coupon.redeemed",
        ])
        .ok()
        .json();
    assert!(
        theirs["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["org"] != "acme"),
        "{theirs}"
    );
    let refused = net.cactus(&["events", "show", id, "--key", s(&globex)]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.contains("not_authorized") || refused.stderr.contains("may not read"),
        "{refused:#?}"
    );
    let bad = net.cactus(&["events", "list", "--key", s(&issuer), "--after", "12"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("evt_<log index>_<index>"), "{bad:#?}");
}

fn tx_names_a_revoked_signer(net: &Localnet, spring: &[String]) {
    let admin = net.key("acme", "org-admin");
    let auditor = net.key("acme", "auditor");
    let till: PathBuf = net.work().join("till-2.key");
    net.cactus(&["keys", "generate", "--out", s(&till)]).ok();
    net.cactus(&[
        "keys",
        "register",
        "--key",
        s(&admin),
        "--public",
        s(&till),
        "--role",
        "terminal",
        "--store",
        "acme-store-1",
        "--channel",
        "pos",
    ])
    .ok();
    let redemption = redemption_of(redeem(net, &till, &spring[14], "8000"));
    let public = KeyFile::load(&till)
        .expect("the new key")
        .public_key()
        .to_hex();
    // Revoked by a prefix of the key; a too-short one is refused.
    let short = net.cactus(&[
        "keys",
        "revoke",
        "--key",
        s(&admin),
        "--public",
        &public[..5],
    ]);
    assert_eq!(short.code, 1, "{short:#?}");
    net.cactus(&[
        "keys",
        "revoke",
        "--key",
        s(&admin),
        "--public",
        &public[..12],
    ])
    .ok();
    let shown = net
        .cactus(&["tx", &redemption[..12], "--key", s(&auditor)])
        .ok();
    assert!(
        shown
            .stdout
            .contains(&format!("{ACME_TERMINAL}, key revoked in block")),
        "{shown:#?}"
    );
    let json = net
        .cactus(&["--json", "tx", &redemption, "--key", s(&auditor)])
        .ok()
        .json();
    assert!(
        json["signer"]["record"]["revoked_at"].as_u64().is_some(),
        "{json}"
    );
}

fn wallet_shows_pools_and_verifies(net: &Localnet) {
    let issuer = net.key("acme", "issuer");
    let secret = net.work().join("member-secret.key");
    net.cactus(&["keys", "generate", "--out", s(&secret)]).ok();
    let member = [
        "--member-name",
        "bob@example.com",
        "--member-secret",
        s(&secret),
    ];
    let mut allocate = vec![
        "--json",
        "allocate",
        "--key",
        s(&issuer),
        "--pool",
        "acme-spring",
    ];
    allocate.extend(member);
    let token = net.cactus(&allocate).ok().json()["token"].clone();
    let mut wallet = vec!["wallet", "--key", s(&issuer)];
    wallet.extend(member);
    let human = net.cactus(&wallet).ok();
    for shown in [
        "Acme spring sale: 15% off",
        "15 % off (at most 20.00 EUR)",
        "valid until",
        "allocated",
        "proof verified against state root",
    ] {
        assert!(human.stdout.contains(shown), "{shown:?} in {human:#?}");
    }
    let mut json = vec!["--json"];
    json.extend(&wallet);
    let json = net.cactus(&json).ok().json();
    assert_eq!(json["tokens"][0]["token_id"], token, "{json}");
    assert_eq!(json["pools"][0]["pool"]["id"], "acme-spring");
    assert!(json["verified"]["certified_by"].is_array(), "{json}");
    // Another org's key sees nothing of it.
    let globex = net.key("globex", "issuer");
    let mut other = vec!["wallet", "--key", s(&globex)];
    other.extend(member);
    let none = net.cactus(&other).ok();
    assert!(
        none.stdout.contains("holds no coupons this key may see"),
        "{none:#?}"
    );
}

/// `--memo`: a malformed memo is refused before anything is sent (exit 2, the rule named);
/// a redemption signed with `--memo` shows the memo on `tx` (JSON and text) and on its
/// event in `events list` (JSON and text).
fn memos_are_signed_and_shown(net: &Localnet, spring: &[String]) {
    let terminal = net.key("acme", "terminal");
    let auditor = net.key("acme", "auditor");
    let issuer = net.key("acme", "issuer");
    let code = spring.get(15).expect("a 16th demo code");
    let redeem_with = |memo: &str| {
        net.cactus(&[
            "--json",
            "--memo",
            memo,
            "redeem",
            "--key",
            s(&terminal),
            "--code",
            code,
            "--total-minor",
            "8000",
            "--currency",
            "EUR",
        ])
    };
    let long = "x".repeat(129);
    for (memo, why) in [
        ("", "must not be empty"),
        ("tab\there", "control character U+0009"),
        ("   ", "only whitespace"),
        (long.as_str(), "at most 128 bytes"),
    ] {
        let run = redeem_with(memo);
        assert_eq!(run.code, 2, "{memo:?}: {run:#?}");
        assert!(
            run.stderr.contains("invalid memo") && run.stderr.contains(why),
            "{memo:?}: {run:#?}"
        );
    }
    // Nothing was sent: the code still redeems, now with a memo.
    let memo = "cashier 7 — Zoë";
    let id = redemption_of(redeem_with(memo));
    let json = net
        .cactus(&["--json", "tx", &id, "--key", s(&auditor)])
        .ok()
        .json();
    assert_eq!(json["tx"]["tx"]["body"]["memo"], memo, "{json}");
    let human = net.cactus(&["tx", &id, "--key", s(&auditor)]).ok();
    assert!(
        human.stdout.contains(&format!("— memo {memo:?}")),
        "{human:#?}"
    );
    let list = |json: bool| {
        let mut args = vec![
            "events",
            "list",
            "--key",
            s(&issuer),
            "--type",
            "coupon.redeemed",
            "--limit",
            "1000",
        ];
        if json {
            args.insert(0, "--json");
        }
        net.cactus(&args).ok()
    };
    let events = list(true).json();
    let event = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["tx_id"] == id.as_str())
        .unwrap_or_else(|| panic!("the redemption's event: {events}"));
    assert_eq!(event["memo"], memo, "{event}");
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["memo"].is_null()),
        "redemptions without --memo have none: {events}"
    );
    let text = list(false);
    assert!(text.stdout.contains(&format!("memo {memo:?}")), "{text:#?}");
}

#[test]
fn unknown_tokens_codes_and_pools_are_proven_not_found() {
    let net = Localnet::start();
    let issuer = net.key("acme", "issuer");
    let proven = |run: &CactusRun, what: &str| {
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(
            run.stderr
                .contains(&format!("{what}: not found (proven at height ")),
            "{what}: {run:#?}"
        );
        assert!(
            run.stderr.contains("proof verified against state root"),
            "{run:#?}"
        );
    };
    let token = net.cactus(&["token", "acme-spring/99999", "--key", s(&issuer)]);
    proven(&token, "token acme-spring/99999");
    let hash = code_hash("NO-SUCH-CODE-0000");
    let code = net.cactus(&["token", "--code", "NO-SUCH-CODE-0000", "--key", s(&issuer)]);
    proven(&code, &format!("code {hash}"));
    let pool = net.cactus(&["pool", "show", "no-such-pool", "--key", s(&issuer)]);
    proven(&pool, "pool no-such-pool");
    // With --json: the error, and the proof with what verified it, on stdout.
    let json = net.cactus(&["--json", "token", "acme-spring/99999", "--key", s(&issuer)]);
    let shown = failed_with(&json, "not_found");
    assert_eq!(shown["found"], false, "{shown}");
    assert!(shown["proof"]["value"].is_null(), "{shown}");
    assert_eq!(shown["proof"]["key"]["token"]["serial"], 99999, "{shown}");
    assert_eq!(shown["proof"]["version"], shown["at"]["height"], "{shown}");
    assert!(shown["verified"]["certified_by"].is_array(), "{shown}");
}

#[test]
fn ids_rollbacks_histories_signers_and_wallets_read_as_people_think() {
    let net = Localnet::start();
    let spring = codes(&net, "acme", "acme-spring");
    assert!(spring.len() >= 15, "{spring:?}");
    ids_are_typed_shortened(&net, &spring);
    rollback_by_code_token_and_prefix(&net, &spring);
    history_lists_rejected_attempts(&net, &spring);
    events_show_the_attempt_and_verify(&net);
    tx_names_a_revoked_signer(&net, &spring);
    wallet_shows_pools_and_verifies(&net);
    memos_are_signed_and_shown(&net, &spring);
}
