//! A local consortium for end-to-end tests of the `cactus` CLI: three `cactusd --config`
//! processes from `cactusd localnet-init` in a temp dir (orgs `acme`, `globex`, `initech`,
//! every org's key files, node 1 seeding the demo pools and keys), on free ports, killed
//! on drop (with their logs printed when the test fails); and `cactus` runs against it.
//!
//! Needs both binaries built (`cargo build --workspace --all-targets --profile test`, as
//! scripts/test.sh does).

use crate::node::{CactusRun, cactus_binary, cactusd_binary, run_cactus, spawn_cactusd};
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Longest the consortium may take to be up with its demo keys registered.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest one `cactus` command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// A local consortium of three `cactusd --config` processes in a temp dir; every process
/// is killed on drop, and the nodes' logs are printed if the test is failing.
#[derive(Debug)]
pub struct Localnet {
    dir: tempfile::TempDir,
    base_port: u16,
    children: Vec<Child>,
}

impl Localnet {
    /// Starts a fresh 3-node localnet on free ports and waits until every node is healthy,
    /// a leader is elected and node 1 finished seeding (keys registered, demo pools made).
    pub fn start() -> Localnet {
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
            let mut command = Command::new(&cactusd);
            command.arg("--config").arg(node_dir.join("cactusd.toml"));
            if i == 1 {
                command.arg("--seed-demo").arg(&net);
            }
            let child = spawn_cactusd(&mut command, log);
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
    pub fn net(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    /// A scratch folder for the test's own files.
    pub fn work(&self) -> &Path {
        self.dir.path()
    }

    /// Node `i`'s HTTP API (1-based).
    pub fn url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.base_port + i)
    }

    /// `orgs/<org>/keys/<name>.key`.
    pub fn key(&self, org: &str, name: &str) -> PathBuf {
        self.net()
            .join("orgs")
            .join(org)
            .join("keys")
            .join(format!("{name}.key"))
    }

    /// Every node's log, concatenated.
    pub fn logs(&self) -> String {
        (1..=3)
            .map(|i| {
                std::fs::read_to_string(self.net().join(format!("node{i}/cactusd.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Prints the last 200 lines of each node's log to stderr.
    pub fn print_logs(&self) {
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

    /// Kills every node (and waits for them).
    pub fn kill(&mut self) {
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
pub fn free_base_port() -> u16 {
    for n in 0..2_000u32 {
        let h = blake3::hash(format!("{}-{}-{n}", std::process::id(), crate::now_ms()).as_bytes());
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

impl Localnet {
    /// Runs `cactus ARGS` against node 2 (a follower or the leader: any node serves), in
    /// the scratch folder, with no `CACTUS_*` variables but `CACTUS_NODE`.
    pub fn cactus(&self, args: &[&str]) -> CactusRun {
        self.cactus_at(&self.url(2), args)
    }

    /// Runs `cactus ARGS` against the node at `node`.
    pub fn cactus_at(&self, node: &str, args: &[&str]) -> CactusRun {
        let mut command = Command::new(cactus_binary());
        command
            .args(args)
            .current_dir(self.work())
            .env("CACTUS_NODE", node)
            .env_remove("CACTUS_KEY")
            .env_remove("CACTUS_GENESIS")
            .env_remove("CACTUS_MEMBER_SECRET")
            .env("NO_COLOR", "1");
        run_cactus(command, COMMAND_TIMEOUT)
    }
}
