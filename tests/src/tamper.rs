//! Tampering with a *copy* of a node's data directory, and running `cactus audit` on it:
//! what the audit tests use to check that an audit fails, naming the height, when a block,
//! a tx result, a certificate or a state value in a node's database has been altered.
//!
//! [`copy_data_dir`] copies a stopped node's directory (database, keys, genesis);
//! [`open_store`] opens the copy's RocksDB with the node's own [`Store`], and the
//! `tamper_*` functions overwrite one stored record through [`Store::put_raw`] with the
//! node's key layout; [`CopyNode`] runs `cactusd --dev` on the copy; [`audit`] runs the
//! `cactus` binary.

use crate::client::Client;
use crate::node::{cactus_binary, cactusd_binary, free_port, spawn_cactusd};
use crate::views::Status;
use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ids::ChainId;
use couponcactus_chaincode::ledger::Block;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_node::storage::{Store, cf};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Copies `from` (a stopped node's data directory) into a new temporary directory.
pub fn copy_data_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::Builder::new()
        .prefix("cactus-tampered-")
        .tempdir()
        .expect("creating a temp dir");
    copy_tree(from, to.path());
    to
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("reading the data directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            std::fs::create_dir_all(&target).expect("creating a directory");
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}

/// Opens the database of a (copied, stopped) dev data directory.
pub fn open_store(dir: &Path) -> Store {
    Store::open(&dir.join("db")).expect("opening the copied database")
}

/// Replaces the stored block at `height` with `change(block)` (header untouched unless
/// `change` touches it).
pub fn tamper_block(store: &Store, height: u64, change: impl FnOnce(&mut Block)) {
    let mut block = store
        .block(height)
        .expect("reading the block")
        .expect("the block exists");
    change(&mut block);
    store
        .put_raw(cf::BLOCKS, &height.to_be_bytes(), &encode(&block))
        .expect("writing the block");
}

/// Replaces the stored result of tx `index` of block `height` with `change(result)`.
pub fn tamper_result(store: &Store, height: u64, index: u32, change: impl FnOnce(&mut TxResult)) {
    let mut result = store
        .result_at(height, index)
        .expect("reading the result")
        .expect("the result exists");
    change(&mut result);
    let mut key = height.to_be_bytes().to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    store
        .put_raw(cf::RESULTS, &key, &encode(&result))
        .expect("writing the result");
}

/// Flips a bit of the first signature of the certificate stored for `height`.
pub fn tamper_certificate(store: &Store, height: u64) {
    let mut cert = store
        .certificate(height)
        .expect("reading the certificate")
        .expect("the block is certified");
    cert.signatures[0].signature.0[7] ^= 0x20;
    store
        .put_certificate(&cert)
        .expect("writing the certificate");
}

/// Overwrites the latest state value of `key` (not the state tree: the next block that
/// reads or writes it carries the change into its state root and results).
pub fn tamper_state(store: &Store, key: &StateKey, change: impl FnOnce(&mut StateValue)) {
    let mut value = store
        .get(key)
        .expect("reading the state")
        .expect("the key has a value");
    change(&mut value);
    store
        .put_raw(cf::STATE, &key.to_bytes(), &value.to_bytes())
        .expect("writing the state");
}

/// `cactusd --dev` running on a copied data directory, on fresh ports; killed on drop.
#[derive(Debug)]
pub struct CopyNode {
    dir: tempfile::TempDir,
    child: Option<Child>,
    url: String,
    client: Client,
}

impl CopyNode {
    /// Starts the node on `dir` and waits until it leads.
    pub fn start(dir: tempfile::TempDir, chain_id: ChainId) -> CopyNode {
        let (http, p2p) = (free_port(), free_port());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("cactusd.log"))
            .expect("opening the node log");
        let child = spawn_cactusd(
            Command::new(cactusd_binary())
                .args(["--dev", "--data-dir"])
                .arg(dir.path())
                .args(["--http-addr", &format!("127.0.0.1:{http}")])
                .args(["--p2p-addr", &format!("/ip4/127.0.0.1/tcp/{p2p}")]),
            log,
        );
        let url = format!("http://127.0.0.1:{http}");
        let mut node = CopyNode {
            client: Client::new(url.clone(), chain_id),
            dir,
            child: Some(child),
            url,
        };
        node.wait_ready();
        node
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("cactusd on the copy exited with {status}:\n{}", self.log());
            }
            if let Ok(reply) = self.client.try_get("/v1/status")
                && reply.status == 200
                && reply.body["role"] == "leader"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cactusd on the copy did not lead within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client of this node.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Status {
        self.client.status()
    }

    /// The node's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cactusd.log")).unwrap_or_default()
    }
}

impl Drop for CopyNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("----- cactusd (copy) log -----\n{}", self.log());
        }
    }
}

/// What a `cactus` run printed and how it exited.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Standard output as JSON (`--json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("cactus printed no JSON ({e}): {self:#?}"))
    }
}

/// Runs `cactus --node URL ARGS…`.
pub fn cactus(node_url: &str, args: &[&str]) -> CliRun {
    let out = Command::new(cactus_binary())
        .args(["--node", node_url])
        .args(args)
        .env_remove("CACTUS_GENESIS")
        .env_remove("CACTUS_NODE")
        .stdin(Stdio::null())
        .output()
        .expect("running cactus");
    CliRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cactus --node URL audit verify --genesis GENESIS [--key AUDITOR] EXTRA…`, signed
/// with the dev chain's consortium auditor key next to the genesis file when there is one
/// (a full audit needs a key that reads every tx).
pub fn audit(node_url: &str, genesis: &Path, extra: &[&str]) -> CliRun {
    let key = genesis
        .parent()
        .map(|dir| dir.join("keys").join("auditor.key"))
        .filter(|k| k.exists())
        .map(|k| k.display().to_string());
    let genesis = genesis.display().to_string();
    let mut args = vec!["audit", "verify", "--genesis", genesis.as_str()];
    if let Some(key) = &key {
        args.extend_from_slice(&["--key", key.as_str()]);
    }
    args.extend_from_slice(extra);
    cactus(node_url, &args)
}

/// The genesis file of a dev data directory.
pub fn genesis_file(dir: &Path) -> PathBuf {
    dir.join("genesis.toml")
}
