//! The README quick start as an end-to-end test, only through the `cactus` binary: a real
//! local consortium of three `cactusd` processes (`cactusd localnet-init` into a temp dir,
//! node 1 seeding the demo keys), then create a pool from a spec, issue codes (the CSV is
//! written with mode 0600), activate, allocate one to a member, redeem it as a POS terminal
//! (applied, discount shown), redeem again (rejected `already_redeemed`, exit code 3), and
//! show the token with its proof verified locally; `--json` outputs parse. Then the error
//! paths: an unknown key, a wrong role, an unreachable node.
//!
//! Needs both binaries built: `cargo build -p couponcactus-node --bin cactusd && cargo
//! build -p couponcactus-client --bin cactus` (scripts/test.sh builds every binary).

use couponcactus_tests::node::{CactusRun as Run, cactus_binary, cactusd_binary, run_cactus};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the consortium may take to be up with its demo keys registered.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest one `cactus` command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// Exit code of a tx the chain rejected (documented in `cactus --help`).
const EXIT_REJECTED: i32 = 3;

/// A local consortium of three `cactusd --config` processes in a temp dir; every process
/// is killed on drop, and the nodes' logs are printed if the test is failing.
struct Localnet {
    dir: tempfile::TempDir,
    base_port: u16,
    children: Vec<Child>,
}

impl Localnet {
    /// Starts a fresh 3-node localnet on free ports and waits until every node is healthy,
    /// a leader is elected and node 1 finished seeding (keys registered, demo pools made).
    fn start() -> Localnet {
        for attempt in 1..=3 {
            let mut net = Localnet::launch();
            match net.wait_ready() {
                Ok(()) => return net,
                Err(e) if attempt < 3 && net.logs().contains("ddress already in use") => {
                    eprintln!("localnet start {attempt} failed ({e}): a port was taken; retrying");
                    net.kill();
                }
                Err(e) => {
                    net.print_logs();
                    panic!("the localnet did not come up: {e}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn launch() -> Localnet {
        let cactusd = cactusd_binary();
        let dir = tempfile::Builder::new()
            .prefix("cactus-cli-e2e-")
            .tempdir()
            .expect("creating a temp dir");
        let base_port = free_base_port();
        let net = dir.path().join("net");
        let init = Command::new(&cactusd)
            .args(["localnet-init", "--dir"])
            .arg(&net)
            .args(["--nodes", "3", "--base-port", &base_port.to_string()])
            .env_remove("LOCALNET_BASE_PORT")
            .output()
            .expect("running cactusd localnet-init");
        assert!(
            init.status.success(),
            "cactusd localnet-init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut children = Vec::new();
        for i in 1..=3 {
            let node_dir = net.join(format!("node{i}"));
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(node_dir.join("cactusd.log"))
                .expect("opening the node log");
            let stderr: File = log.try_clone().expect("cloning the log handle");
            let mut command = Command::new(&cactusd);
            command.arg("--config").arg(node_dir.join("cactusd.toml"));
            if i == 1 {
                command.arg("--seed-demo").arg(&net);
            }
            let child = command
                .env("NO_COLOR", "1")
                .env_remove("CACTUSD_CONFIG")
                .env_remove("CACTUSD_DATA_DIR")
                .env_remove("CACTUSD_HTTP_ADDR")
                .env_remove("CACTUSD_P2P_ADDR")
                .env_remove("CACTUSD_LOG_JSON")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", cactusd.display()));
            children.push(child);
        }
        Localnet {
            dir,
            base_port,
            children,
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("building the probe client");
        loop {
            for (i, child) in self.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("node {} exited with {status}", i + 1));
                }
            }
            let healthy = (1..=3).all(|i| {
                probe
                    .get(format!("{}/healthz", self.url(i)))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            });
            // Node 1 writes demo.json once its seeding (key registrations included) is done.
            if healthy && self.net().join("demo.json").is_file() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not healthy and seeded within {READY_TIMEOUT:?} (healthy: {healthy})"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The localnet's folder (genesis.toml, orgs/, node<i>/).
    fn net(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    /// A scratch folder for the test's own files.
    fn work(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.base_port + i)
    }

    /// `orgs/<org>/keys/<name>.key`.
    fn key(&self, org: &str, name: &str) -> PathBuf {
        self.net()
            .join("orgs")
            .join(org)
            .join("keys")
            .join(format!("{name}.key"))
    }

    fn logs(&self) -> String {
        (1..=3)
            .map(|i| {
                std::fs::read_to_string(self.net().join(format!("node{i}/cactusd.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn print_logs(&self) {
        for i in 1..=3 {
            let log = std::fs::read_to_string(self.net().join(format!("node{i}/cactusd.log")))
                .unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let skip = lines.len().saturating_sub(200);
            eprintln!(
                "\n----- node {i} log (last {} lines) -----",
                lines.len() - skip
            );
            for line in &lines[skip..] {
                eprintln!("{line}");
            }
        }
        eprintln!("----- end of node logs -----\n");
    }

    fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            self.print_logs();
        }
    }
}

/// A base port whose node ports (base+1..=3 HTTP, base+101..=103 libp2p) are free now.
fn free_base_port() -> u16 {
    for n in 0..2_000u32 {
        let h = blake3::hash(
            format!(
                "{}-{}-{n}",
                std::process::id(),
                couponcactus_tests::now_ms()
            )
            .as_bytes(),
        );
        let base = 20_000 + u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]) % 10_000;
        let ports = [1, 2, 3, 101, 102, 103].map(|d| base + d);
        let held: Vec<TcpListener> = ports
            .iter()
            .filter_map(|p| TcpListener::bind(("127.0.0.1", *p)).ok())
            .collect();
        if held.len() == ports.len() {
            return base;
        }
    }
    panic!("no free base port in 20000..30000");
}

/// Runs `cactus ARGS` against node 2 (a follower or the leader: any node serves).
fn cactus(net: &Localnet, args: &[&str]) -> Run {
    cactus_at(net, &net.url(2), args)
}

fn cactus_at(net: &Localnet, node: &str, args: &[&str]) -> Run {
    let mut command = Command::new(cactus_binary());
    command
        .args(args)
        .current_dir(net.work())
        .env("CACTUS_NODE", node)
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_GENESIS")
        .env_remove("CACTUS_MEMBER_SECRET")
        .env("NO_COLOR", "1");
    run_cactus(command, COMMAND_TIMEOUT)
}

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
    let status = cactus(&net, &["--json", "status"]).ok().json();
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
    let created = cactus(
        &net,
        &[
            "--json",
            "pool",
            "create",
            "--key",
            s(&issuer),
            "--spec",
            s(&spec),
        ],
    )
    .ok()
    .json();
    assert_eq!(created["pool"], "quick-spring");
    assert_eq!(created["tx"]["status"], "applied");

    // 50 codes, sealed, in three batches; the plaintext CSV is private.
    let csv = work.join("codes.csv");
    let issued = cactus(
        &net,
        &[
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
        ],
    )
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
    let again = cactus(
        &net,
        &[
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
        ],
    );
    assert_eq!(again.code, 1, "{again:#?}");
    assert!(again.stderr.contains("never overwritten"), "{again:#?}");
    assert_eq!(csv_rows(&csv).len(), 50);

    cactus(
        &net,
        &["pool", "activate", "quick-spring", "--key", s(&issuer)],
    )
    .ok();

    // Allocate one coupon to a member known to the org by name.
    let secret = work.join("member-secret.key");
    cactus(&net, &["keys", "generate", "--out", s(&secret)]).ok();
    let allocate = |claim: &str| {
        cactus(
            &net,
            &[
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
            ],
        )
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
    let wallet = cactus(&net, &["--json", "wallet", &member, "--key", s(&issuer)])
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
            "10000",
            "--currency",
            "EUR",
        ]);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let check = cactus(
        &net,
        &[
            "validate",
            "--key",
            s(&terminal),
            "--code",
            &code,
            "--total",
            "10000",
            "--currency",
            "EUR",
        ],
    )
    .ok();
    assert!(
        check.stdout.contains("VALID") && check.stdout.contains("10.00 EUR"),
        "{check:#?}"
    );
    let redeemed = cactus(
        &net,
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
    let second = cactus(
        &net,
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
    let human = cactus(
        &net,
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
    let shown = cactus(&net, &["token", &token_id, "--key", s(&issuer)]).ok();
    assert!(shown.stdout.contains("redeemed"), "{shown:#?}");
    assert!(
        shown.stdout.contains("proof verified against state root"),
        "{shown:#?}"
    );
    assert!(shown.stdout.contains("certified by nodes"), "{shown:#?}");
    let proven = cactus(&net, &["--json", "token", &token_id, "--key", s(&issuer)])
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
    let earlier = cactus(
        &net,
        &[
            "--json",
            "token",
            &token_id,
            "--height",
            &allocated_at,
            "--key",
            s(&issuer),
        ],
    )
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
    let by_code = cactus(
        &net,
        &["--json", "token", "--code", &code, "--key", s(&issuer)],
    )
    .ok()
    .json();
    assert_eq!(by_code["token_id"], token);
    let history = cactus(
        &net,
        &["--json", "token", "history", &token_id, "--key", s(&issuer)],
    )
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
    let opened = cactus(
        &net,
        &[
            "--json",
            "codes",
            "open",
            "--data-key",
            s(&data_key),
            "--pool",
            "quick-spring",
        ],
    )
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
    let block = cactus(&net, &["--json", "block", "latest"]).ok().json();
    assert!(block["height"].as_u64().is_some_and(|h| h > 0), "{block}");
    let pools = cactus(
        &net,
        &[
            "--json",
            "pool",
            "list",
            "--org",
            "acme",
            "--key",
            s(&issuer),
        ],
    )
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
    cactus(
        &net,
        &[
            "--json",
            "pool",
            "show",
            "quick-spring",
            "--key",
            s(&issuer),
        ],
    )
    .ok()
    .json();

    // The auditor verifies the whole ledger offline from the genesis file it trusts: every
    // signature, header, result and state root re-computed, certificates checked.
    let genesis = net.net().join("genesis.toml");
    let audit = cactus(&net, &["--genesis", s(&genesis), "audit", "verify"]).ok();
    assert!(
        audit.stdout.contains("VERIFIED: heights 1..="),
        "audit verdict: {audit:#?}"
    );
    let audit = cactus(
        &net,
        &["--json", "--genesis", s(&genesis), "audit", "verify"],
    )
    .ok();
    let report = audit.json();
    assert!(
        report.to_string().contains("verified"),
        "audit --json: {report}"
    );

    // Error paths. A key nobody registered: refused, and told how to register it.
    let stranger = work.join("stranger.key");
    cactus(&net, &["keys", "generate", "--out", s(&stranger)]).ok();
    let unknown = cactus(
        &net,
        &[
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
        ],
    );
    assert_eq!(unknown.code, 1, "{unknown:#?}");
    assert!(unknown.stderr.contains("unknown_key"), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("cactus keys register"),
        "{unknown:#?}"
    );
    // A terminal may not create pools: the chain rejects it (exit 3, not_authorized).
    let wrong_role = cactus(
        &net,
        &[
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
        ],
    );
    assert_eq!(wrong_role.code, EXIT_REJECTED, "{wrong_role:#?}");
    assert_eq!(wrong_role.json()["error"]["code"], "not_authorized");
    // Nobody listens: a clear message and what to do.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = cactus_at(&net, &format!("http://127.0.0.1:{closed}"), &["status"]);
    assert_eq!(down.code, 1, "{down:#?}");
    assert!(down.stderr.contains("cannot reach node at"), "{down:#?}");
    assert!(down.stderr.contains("localnet.sh status"), "{down:#?}");
    let down_json = cactus_at(
        &net,
        &format!("http://127.0.0.1:{closed}"),
        &["--json", "status"],
    );
    assert_eq!(down_json.json()["error"]["code"], "unreachable");
    // A missing key file says how to make one.
    let missing = cactus(
        &net,
        &["pool", "list", "--org", "acme", "--key", "no-such.key"],
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("cactus keys generate"),
        "{missing:#?}"
    );
}
