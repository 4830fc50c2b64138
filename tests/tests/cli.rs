//! The README quick start as an end-to-end test, only through the `cactus` binary: a real
//! local consortium of three `cactusd` processes (`cactusd localnet-init` into a temp dir,
//! node 1 seeding the demo keys), then create a pool from a spec, issue codes (the CSV is
//! written with mode 0600), activate, allocate one to a member, redeem it as a POS terminal
//! (applied, discount shown), redeem again (rejected `already_redeemed`, exit code 3), and
//! show the token with its proof verified locally; `--json` outputs parse. Then the error
//! paths: an unknown key, a wrong role, an unreachable node.
//!
//! Needs both binaries built with the shared build (`scripts/test.sh` makes it; see
//! scripts/lib.sh). The harness is [`couponcactus_tests::localnet`].

use couponcactus_tests::localnet::Localnet;
use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;

/// Exit code of a tx the chain rejected (documented in `cactus --help`).
const EXIT_REJECTED: i32 = 3;

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

/// `serial,code,code_hash` rows of a codes CSV.
fn csv_rows(path: &Path) -> Vec<(u64, String, String)> {
    let text = std::fs::read_to_string(path).expect("reading the codes CSV");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("serial,code,code_hash"), "{text}");
    lines
        .map(|l| {
            let parts: Vec<&str> = l.split(',').collect();
            assert_eq!(parts.len(), 3, "{l}");
            (
                parts[0].parse().expect("a serial"),
                parts[1].to_string(),
                parts[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn the_readme_quick_start_runs_through_the_cli() {
    let net = Localnet::start();
    let issuer = net.key("acme", "issuer");
    let terminal = net.key("acme", "terminal");
    let data_key = net.key("acme", "data");
    let work = net.work().to_path_buf();

    // The node answers, on the localnet's chain.
    let status = net.cactus(&["--json", "status"]).ok().json();
    assert_eq!(status["chain_id"], "cactus-localnet");
    assert!(
        status["voters"].as_array().is_some_and(|v| v.len() == 3),
        "{status}"
    );

    // A pool from a spec file.
    let spec = work.join("spring.toml");
    std::fs::write(
        &spec,
        "id = \"quick-spring\"\nname = \"Quick start spring sale\"\ncurrency = \"EUR\"\n\
         percent = \"10\"\nmax_discount_minor = 2000\ntotal_cap = 100\n",
    )
    .unwrap();
    let created = net
        .cactus(&[
            "--json",
            "pool",
            "create",
            "--key",
            s(&issuer),
            "--spec",
            s(&spec),
        ])
        .ok()
        .json();
    assert_eq!(created["pool"], "quick-spring");
    assert_eq!(created["tx"]["status"], "applied");

    // 50 codes, sealed, in three batches; the plaintext CSV is private.
    let csv = work.join("codes.csv");
    let issued = net
        .cactus(&[
            "--json",
            "codes",
            "generate",
            "--key",
            s(&issuer),
            "--data-key",
            s(&data_key),
            "--pool",
            "quick-spring",
            "--count",
            "50",
            "--prefix",
            "QS-",
            "--batch-size",
            "20",
            "--out",
            s(&csv),
        ])
        .ok()
        .json();
    assert_eq!(issued["issued"], 50);
    assert_eq!(issued["batches"].as_array().map(Vec::len), Some(3));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&csv).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the plaintext codes are private");
    }
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 50);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..50).collect::<Vec<_>>()
    );
    assert!(rows.iter().all(|r| r.1.starts_with("QS-")));
    // Writing over a codes file is refused: it may hold codes already on the ledger.
    let again = net.cactus(&[
        "codes",
        "generate",
        "--key",
        s(&issuer),
        "--data-key",
        s(&data_key),
        "--pool",
        "quick-spring",
        "--count",
        "1",
        "--out",
        s(&csv),
    ]);
    assert_eq!(again.code, 1, "{again:#?}");
    assert!(again.stderr.contains("never overwritten"), "{again:#?}");
    assert_eq!(csv_rows(&csv).len(), 50);

    net.cactus(&["pool", "activate", "quick-spring", "--key", s(&issuer)])
        .ok();

    // Allocate one coupon to a member known to the org by name.
    let secret = work.join("member-secret.key");
    net.cactus(&["keys", "generate", "--out", s(&secret)]).ok();
    let allocate = |claim: &str| {
        net.cactus(&[
            "--json",
            "allocate",
            "--key",
            s(&issuer),
            "--pool",
            "quick-spring",
            "--member-name",
            "alice@example.com",
            "--member-secret",
            s(&secret),
            "--claim",
            claim,
        ])
        .ok()
        .json()
    };
    let allocated = allocate("order-1");
    let token = allocated["token"].clone();
    assert_eq!(token["pool"], "quick-spring");
    let serial = token["serial"].as_u64().expect("a serial");
    assert_eq!(allocated["repeat"], false);
    // The same claim is the same coupon (a double tap is harmless).
    let repeat = allocate("order-1");
    assert_eq!(
        (repeat["token"].clone(), repeat["repeat"].clone()),
        (token.clone(), Value::Bool(true))
    );
    let member = allocated["member"]
        .as_str()
        .expect("a member id")
        .to_string();
    let wallet = net
        .cactus(&["--json", "wallet", &member, "--key", s(&issuer)])
        .ok()
        .json();
    assert_eq!(wallet["tokens"][0]["token_id"], token);

    // At the till: the terminal checks, then redeems the code the customer shows.
    let code = rows[serial as usize].1.clone();
    let redeem_args = |json: bool| {
        let mut args = vec![];
        if json {
            args.push("--json");
        }
        args.extend([
            "redeem",
            "--key",
            s(&terminal),
            "--code",
            &code,
            "--total",
            "100.00",
            "--currency",
            "EUR",
        ]);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let check = net
        .cactus(&[
            "validate",
            "--key",
            s(&terminal),
            "--code",
            &code,
            "--total-minor",
            "10000",
            "--currency",
            "eur",
        ])
        .ok();
    assert!(
        check.stdout.contains("VALID") && check.stdout.contains("10.00 EUR"),
        "{check:#?}"
    );
    let redeemed = net
        .cactus(
            &redeem_args(false)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .ok();
    assert!(redeemed.stdout.contains("APPLIED"), "{redeemed:#?}");
    assert!(
        redeemed.stdout.contains("discount 10.00 EUR"),
        "{redeemed:#?}"
    );
    assert!(
        redeemed.stdout.contains("customer pays 90.00 EUR"),
        "{redeemed:#?}"
    );

    // The second redemption is refused by the chain: exit code 3, the code and message.
    let second = net.cactus(
        &redeem_args(true)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(second.code, EXIT_REJECTED, "{second:#?}");
    let rejected = second.json();
    assert_eq!(rejected["error"]["code"], "already_redeemed");
    assert_eq!(rejected["tx"]["status"], "rejected");
    assert!(
        rejected["tx"]["height"].as_u64().is_some(),
        "a rejected tx has its place: {rejected}"
    );
    assert!(second.stderr.contains("already_redeemed"), "{second:#?}");
    let human = net.cactus(
        &redeem_args(false)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(human.code, EXIT_REJECTED);
    assert!(
        human.stderr.contains("REJECTED") && human.stderr.contains("already_redeemed"),
        "{human:#?}"
    );

    // The token, its state proof checked locally against a certified block.
    let token_id = format!("quick-spring/{serial}");
    let shown = net.cactus(&["token", &token_id, "--key", s(&issuer)]).ok();
    assert!(shown.stdout.contains("redeemed"), "{shown:#?}");
    assert!(
        shown.stdout.contains("proof verified against state root"),
        "{shown:#?}"
    );
    assert!(shown.stdout.contains("certified by nodes"), "{shown:#?}");
    let proven = net
        .cactus(&["--json", "token", &token_id, "--key", s(&issuer)])
        .ok()
        .json();
    assert_eq!(proven["token"]["status"]["status"], "redeemed");
    assert_eq!(proven["token"]["owner"], member.as_str());
    let signers = proven["verified"]["certified_by"]
        .as_array()
        .expect("signers");
    assert!(signers.len() >= 2, "a quorum of the 3 voters: {proven}");
    assert_eq!(proven["verified"]["state_root"], proven["at"]["state_root"]);
    // The state at the allocation's block, linked block by block to the certified one:
    // allocated then, not redeemed.
    let allocated_at = allocated["tx"]["height"]
        .as_u64()
        .expect("a height")
        .to_string();
    let earlier = net
        .cactus(&[
            "--json",
            "token",
            &token_id,
            "--height",
            &allocated_at,
            "--key",
            s(&issuer),
        ])
        .ok()
        .json();
    assert_eq!(earlier["token"]["status"]["status"], "allocated");
    assert_eq!(
        earlier["verified"]["height"].as_u64(),
        allocated["tx"]["height"].as_u64()
    );
    assert!(
        earlier["verified"]["certified_height"].as_u64() > earlier["verified"]["height"].as_u64(),
        "{earlier}"
    );
    // By code too, and its history with log proofs.
    let by_code = net
        .cactus(&["--json", "token", "--code", &code, "--key", s(&issuer)])
        .ok()
        .json();
    assert_eq!(by_code["token_id"], token);
    let history = net
        .cactus(&["--json", "token", "history", &token_id, "--key", s(&issuer)])
        .ok()
        .json();
    let kinds: Vec<&str> = history["history"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["tx"]["body"]["kind"]["type"].as_str().unwrap_or("?"))
        .collect();
    // Rejected txs change nothing, so only applied ones touched the token.
    assert_eq!(kinds.first(), Some(&"issue_codes"), "{history}");
    assert!(kinds.contains(&"allocate"), "{history}");
    assert_eq!(kinds.last(), Some(&"redeem"), "{history}");

    // Only the org opens its sealed codes: the ledger's codes are the CSV's.
    let opened = net
        .cactus(&[
            "--json",
            "codes",
            "open",
            "--data-key",
            s(&data_key),
            "--pool",
            "quick-spring",
        ])
        .ok()
        .json();
    let opened: Vec<(u64, String)> = opened["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| {
            (
                c["serial"].as_u64().unwrap(),
                c["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        opened,
        rows.iter().map(|r| (r.0, r.1.clone())).collect::<Vec<_>>()
    );

    // Blocks and pools read back; --json everywhere parses.
    let block = net.cactus(&["--json", "block", "latest"]).ok().json();
    assert!(block["height"].as_u64().is_some_and(|h| h > 0), "{block}");
    let pools = net
        .cactus(&[
            "--json",
            "pool",
            "list",
            "--org",
            "acme",
            "--key",
            s(&issuer),
        ])
        .ok()
        .json();
    let pool = pools["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "quick-spring"))
        .expect("the quick-start pool is listed");
    assert_eq!(
        (pool["issued"].as_u64(), pool["redeemed"].as_u64()),
        (Some(50), Some(1))
    );
    net.cactus(&[
        "--json",
        "pool",
        "show",
        "quick-spring",
        "--key",
        s(&issuer),
    ])
    .ok()
    .json();

    // The auditor verifies the whole ledger offline from the genesis file it trusts: every
    // signature, header, result and state root re-computed, certificates checked.
    // It signs with its consortium auditor key (granted by governance): without it the
    // node withholds the other orgs' txs and the audit stops saying which key it needs.
    let genesis = net.net().join("genesis.toml");
    let unsigned = net.cactus(&["--genesis", s(&genesis), "audit", "verify"]);
    assert_eq!(unsigned.code, 1, "{unsigned:#?}");
    assert!(
        unsigned.stderr.contains("consortium auditor"),
        "{unsigned:#?}"
    );
    let auditor = net.key("acme", "auditor");
    let audit = net
        .cactus(&[
            "--genesis",
            s(&genesis),
            "audit",
            "verify",
            "--key",
            s(&auditor),
        ])
        .ok();
    assert!(
        audit.stdout.contains("VERIFIED: heights 1..="),
        "audit verdict: {audit:#?}"
    );
    let audit = net
        .cactus(&[
            "--json",
            "--genesis",
            s(&genesis),
            "audit",
            "verify",
            "--key",
            s(&auditor),
        ])
        .ok();
    let report = audit.json();
    assert!(
        report.to_string().contains("verified"),
        "audit --json: {report}"
    );

    // Error paths. A key nobody registered: refused, and told how to register it.
    let stranger = work.join("stranger.key");
    net.cactus(&["keys", "generate", "--out", s(&stranger)])
        .ok();
    let unknown = net.cactus(&[
        "pool",
        "create",
        "--key",
        s(&stranger),
        "--id",
        "nope",
        "--name",
        "Nope",
        "--currency",
        "EUR",
        "--percent",
        "5",
        "--total-cap",
        "3",
    ]);
    assert_eq!(unknown.code, 1, "{unknown:#?}");
    assert!(unknown.stderr.contains("unknown_key"), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("cactus keys register"),
        "{unknown:#?}"
    );
    // A terminal may not create pools: the chain rejects it (exit 3, not_authorized).
    let wrong_role = net.cactus(&[
        "--json",
        "pool",
        "create",
        "--key",
        s(&terminal),
        "--id",
        "by-terminal",
        "--name",
        "No",
        "--currency",
        "EUR",
        "--percent",
        "5",
        "--total-cap",
        "3",
    ]);
    assert_eq!(wrong_role.code, EXIT_REJECTED, "{wrong_role:#?}");
    assert_eq!(wrong_role.json()["error"]["code"], "not_authorized");
    // Nobody listens: a clear message and what to do.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = net.cactus_at(&format!("http://127.0.0.1:{closed}"), &["status"]);
    assert_eq!(down.code, 1, "{down:#?}");
    assert!(down.stderr.contains("cannot reach node at"), "{down:#?}");
    assert!(down.stderr.contains("localnet.sh status"), "{down:#?}");
    let down_json = net.cactus_at(&format!("http://127.0.0.1:{closed}"), &["--json", "status"]);
    assert_eq!(down_json.json()["error"]["code"], "unreachable");
    // A missing key file says how to make one.
    let missing = net.cactus(&["pool", "list", "--org", "acme", "--key", "no-such.key"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("cactus keys generate"),
        "{missing:#?}"
    );
}
