//! [`DevNode`]: one real `cactusd --dev` process on a temporary data directory.

use crate::client::Client;
use crate::views::Status;
use couponcactus_chaincode::ids::ChainId;
use couponcactus_chaincode::state::{StateKey, StateValue};
use couponcactus_chaincode::types::Consortium;
use couponcactus_genesis::{Genesis, KeyFile};
use ed25519_dalek::SigningKey;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Longest a node may take to answer `/healthz` and `/v1/status` as leader after a start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a node may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest [`DevNode::wait_until_height`] waits.
pub const HEIGHT_TIMEOUT: Duration = Duration::from_secs(30);

/// The keys `cactusd --dev` generates (`DIR/keys/*.key`).
#[derive(Clone, Debug)]
pub struct DevKeys {
    /// Org admin of org `dev`.
    pub admin: SigningKey,
    /// Issuer of org `dev`.
    pub issuer: SigningKey,
    /// Terminal of org `dev` at store `dev-store`, channel `pos`.
    pub terminal: SigningKey,
    /// Auditor of org `dev`.
    pub auditor: SigningKey,
    /// The node's key (signs checkpoints).
    pub node: SigningKey,
    /// The org's 32-byte code-sealing key.
    pub data_key: [u8; 32],
}

impl DevKeys {
    fn load(dir: &Path) -> DevKeys {
        let key = |name: &str| {
            let path = dir.join("keys").join(format!("{name}.key"));
            KeyFile::load(&path)
                .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
                .signing_key()
        };
        DevKeys {
            admin: key("org-admin"),
            issuer: key("issuer"),
            terminal: key("terminal"),
            auditor: key("auditor"),
            node: key("node"),
            data_key: key("data").to_bytes(),
        }
    }
}

/// The `cactusd` binary: `$CACTUSD_BIN`, or `cactusd` in the target directory of the
/// running test executable (`target/<profile>/deps/x` → `target/<profile>/cactusd`).
/// Panics with what to run when it is missing, or older than the node's sources.
pub fn cactusd_binary() -> PathBuf {
    built_binary("cactusd", "CACTUSD_BIN", "couponcactus-node")
}

/// The `cactus` CLI binary: `$CACTUS_BIN`, or `cactus` next to `cactusd` in the target
/// directory. Panics with what to run when it is missing, or older than the client's
/// sources.
pub fn cactus_binary() -> PathBuf {
    built_binary("cactus", "CACTUS_BIN", "couponcactus-client")
}

/// Binary `name` of `package`: `$env`, or the one in the target directory of the running
/// test executable, checked to be built and not older than its sources.
fn built_binary(name: &str, env: &str, package: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("the test executable has a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{} not found: the end-to-end tests start the real binary; build it with \
             `cargo build -p {package} --bin {name}` (scripts/test.sh does)",
            bin.display()
        );
    };
    if let Some(source) = changed_source(&bin, built) {
        panic!(
            "{} is older than {}, one of its sources: the tests would run a stale binary; \
             rebuild it with `cargo build -p {package} --bin {name}`",
            bin.display(),
            source.display()
        );
    }
    bin
}

/// A source file of `bin` (from the dep-info file cargo writes next to it, `cactusd.d`)
/// modified after `built`, or missing; `None` if all are older, or there is no dep-info.
fn changed_source(bin: &Path, built: SystemTime) -> Option<PathBuf> {
    let dep_info = std::fs::read_to_string(bin.with_extension("d")).ok()?;
    let (_, deps) = dep_info.lines().next()?.split_once(": ")?;
    // Paths are separated by spaces; a space inside a path is escaped as `\ `.
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => current.extend(chars.next()),
            ' ' => paths.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    paths.push(current);
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .find(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
                || !p.exists()
        })
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// One `cactusd --dev` process: its data directory, ports, keys and a client.
///
/// Killed on drop; if the test is panicking, its log is printed first.
#[derive(Debug)]
pub struct DevNode {
    dir: tempfile::TempDir,
    binary: PathBuf,
    http_port: u16,
    p2p_port: u16,
    child: Option<Child>,
    starts: u32,
    genesis: Genesis,
    keys: DevKeys,
    client: Client,
}

impl DevNode {
    /// Starts a fresh dev chain and waits until it leads (panics with its log otherwise).
    pub fn start() -> DevNode {
        let binary = cactusd_binary();
        let dir = tempfile::Builder::new()
            .prefix("cactus-e2e-")
            .tempdir()
            .expect("creating a temp dir");
        // The port was free a moment ago; if another process took it meanwhile, the node
        // fails to bind and exits: try again with another.
        let mut attempt = 0;
        let (child, http_port, p2p_port) = loop {
            attempt += 1;
            let (http_port, p2p_port) = (free_port(), free_port());
            let mut child = spawn(&binary, dir.path(), http_port, p2p_port, attempt);
            let client = Client::new(
                format!("http://127.0.0.1:{http_port}"),
                ChainId("pending".into()),
            );
            match wait_ready(&mut child, &client) {
                Ok(_) => break (child, http_port, p2p_port),
                Err(e) if attempt < 3 && log_of(dir.path()).contains("binding 127.0.0.1") => {
                    eprintln!("cactusd start {attempt} failed ({e}); retrying on another port");
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    print_log(dir.path());
                    panic!("cactusd did not become ready: {e}");
                }
            }
        };
        let genesis = Genesis::load(&dir.path().join("genesis.toml")).expect("dev genesis");
        let keys = DevKeys::load(dir.path());
        let client = Client::new(
            format!("http://127.0.0.1:{http_port}"),
            genesis.initial.chain_id.clone(),
        );
        DevNode {
            dir,
            binary,
            http_port,
            p2p_port,
            child: Some(child),
            starts: attempt,
            genesis,
            keys,
            client,
        }
    }

    /// The dev key file `name` (`keys/<name>.key`: `org-admin`, `issuer`, `terminal`,
    /// `auditor`, `node`), as `cactus --key` takes it.
    pub fn key_file(&self, name: &str) -> String {
        self.dir()
            .join("keys")
            .join(format!("{name}.key"))
            .display()
            .to_string()
    }

    /// Runs `cactus ARGS` against this node ([`DevNode::cactus_command`]), for at most
    /// [`COMMAND_TIMEOUT`].
    pub fn cactus(&self, args: &[&str]) -> CactusRun {
        run_cactus(self.cactus_command(args), COMMAND_TIMEOUT)
    }

    /// The command `cactus ARGS` against this node: `CACTUS_NODE` and `CACTUS_GENESIS` set
    /// to it, `CACTUS_KEY` and `CACTUS_MEMBER_SECRET` unset, no colours.
    pub fn cactus_command(&self, args: &[&str]) -> Command {
        let mut command = cactus_at(&self.url());
        command
            .env("CACTUS_GENESIS", self.dir().join("genesis.toml"))
            .args(args);
        command
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The client (clone it for other threads).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The dev keys.
    pub fn keys(&self) -> &DevKeys {
        &self.keys
    }

    /// The dev genesis (`DIR/genesis.toml`).
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The consortium at genesis (orgs and voters), for checking certificates.
    pub fn genesis_consortium(&self) -> Consortium {
        let writes = self.genesis.state_writes();
        match writes.0.get(&StateKey::Consortium) {
            Some(Some(StateValue::Consortium(c))) => c.clone(),
            other => panic!("genesis writes no consortium: {other:?}"),
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node's log so far (all starts).
    pub fn log(&self) -> String {
        log_of(self.dir.path())
    }

    /// `GET /healthz` → its `status` (`ok`).
    pub fn health(&self) -> String {
        let reply = self.client.get("/healthz").expect(200);
        reply.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Status {
        self.client.status()
    }

    /// Waits until the node's height reaches `height`; returns that status.
    pub fn wait_until_height(&self, height: u64) -> Status {
        let deadline = Instant::now() + HEIGHT_TIMEOUT;
        loop {
            let status = self.status();
            if status.height >= height {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "height {height} not reached within {HEIGHT_TIMEOUT:?}: {status:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9: the process dies at once, mid-whatever.
    pub fn crash(&mut self) {
        let mut child = self.child.take().expect("crash: the node is not running");
        child.kill().expect("sending SIGKILL");
        let status = child.wait().expect("waiting for the killed node");
        assert!(!status.success(), "a killed node exits unsuccessfully");
    }

    /// SIGTERM, then waits for a clean exit (panics if it takes longer than
    /// [`STOP_TIMEOUT`] or exits with an error).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("stop: the node is not running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("polling the node") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cactusd did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "cactusd exited with {status} after SIGTERM"
        );
        status
    }

    /// Starts the node again on the same data directory and ports, and waits until it
    /// leads.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the node is still running");
        self.starts += 1;
        let mut child = spawn(
            &self.binary,
            self.dir.path(),
            self.http_port,
            self.p2p_port,
            self.starts,
        );
        if let Err(e) = wait_ready(&mut child, &self.client) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cactusd did not become ready after a restart: {e}");
        }
        self.child = Some(child);
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            print_log(self.dir.path());
        }
    }
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("cactusd.log")
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(log_path(dir)).unwrap_or_default()
}

/// Prints the node's log (the last 400 lines) to stderr.
fn print_log(dir: &Path) {
    let log = log_of(dir);
    let lines: Vec<&str> = log.lines().collect();
    let skip = lines.len().saturating_sub(400);
    eprintln!(
        "\n----- cactusd log ({}, last {} of {} lines) -----",
        log_path(dir).display(),
        lines.len() - skip,
        lines.len()
    );
    for line in &lines[skip..] {
        eprintln!("{line}");
    }
    eprintln!("----- end of cactusd log -----\n");
}

fn spawn(binary: &Path, dir: &Path, http_port: u16, p2p_port: u16, start: u32) -> Child {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .expect("opening the node log");
    let args = [
        "--dev".to_string(),
        "--data-dir".to_string(),
        dir.display().to_string(),
        "--http-addr".to_string(),
        format!("127.0.0.1:{http_port}"),
        "--p2p-addr".to_string(),
        format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
    ];
    writeln!(
        log,
        "===== harness: start {start}: {} {} =====",
        binary.display(),
        args.join(" ")
    )
    .expect("writing the node log");
    spawn_cactusd(Command::new(binary).args(&args), log)
}

/// Starts `command` (a `cactusd` command line) as a test's node: no colour, none of
/// cactusd's own variables from the test's environment (they would override its flags),
/// stdout and stderr appended to `log`.
pub fn spawn_cactusd(command: &mut Command, log: File) -> Child {
    let stderr = log.try_clone().expect("cloning the log handle");
    command
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
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"))
}

/// Polls `/healthz` and `/v1/status` until the node answers as leader, the process exits,
/// or [`READY_TIMEOUT`] passes.
fn wait_ready(child: &mut Child, client: &Client) -> Result<Status, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let probe = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("building the probe client");
    let mut last = String::from("no answer yet");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("cactusd exited with {status} before it was ready"));
        }
        let healthy = probe
            .get(format!("{}/healthz", client.base()))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            match probe
                .get(format!("{}/v1/status", client.base()))
                .send()
                .and_then(|r| r.json::<Status>())
            {
                Ok(status) if status.role == "leader" => return Ok(status),
                Ok(status) => last = format!("role {}", status.role),
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready within {READY_TIMEOUT:?} ({last})"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_binaries_are_found_from_cargo_dep_info() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("with space");
        std::fs::create_dir(&src).unwrap();
        let (a, b) = (src.join("a.rs"), dir.path().join("b.rs"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let bin = dir.path().join("cactusd");
        std::fs::write(&bin, "").unwrap();
        let escaped = |p: &Path| p.display().to_string().replace(' ', "\\ ");
        std::fs::write(
            bin.with_extension("d"),
            format!("{}: {} {}\n", bin.display(), escaped(&a), escaped(&b)),
        )
        .unwrap();
        let t = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let newest = t(&a).max(t(&b));
        assert_eq!(changed_source(&bin, newest), None);
        let earlier = newest - Duration::from_secs(5);
        assert!(changed_source(&bin, earlier).is_some());
        std::fs::remove_file(&b).unwrap();
        assert_eq!(changed_source(&bin, newest), Some(b));
        assert_eq!(changed_source(&dir.path().join("none"), newest), None);
    }
}

/// The command `cactus` against the node at `url`: `CACTUS_NODE` set; `CACTUS_KEY`,
/// `CACTUS_GENESIS` and `CACTUS_MEMBER_SECRET` unset; no colours. Arguments follow.
pub fn cactus_at(url: &str) -> Command {
    let mut command = Command::new(cactus_binary());
    command
        .env("CACTUS_NODE", url)
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_GENESIS")
        .env_remove("CACTUS_MEMBER_SECRET")
        .env("NO_COLOR", "1");
    command
}

/// Longest one `cactus` command of a test may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// Exit code of a `cactus` command whose tx the chain rejected (`cactus --help`).
pub const EXIT_REJECTED: i32 = 3;

/// The harness of the CLI end-to-end tests: a [`DevNode`] and a work folder that every
/// `cactus` command runs in (the files it writes land there).
#[derive(Debug)]
pub struct Dev {
    /// The node.
    pub node: DevNode,
    /// The folder `cactus` runs in.
    pub work: tempfile::TempDir,
    /// Whether `cactus` gets `CACTUS_GENESIS` (else what it needs comes from the node).
    genesis: bool,
}

impl Dev {
    /// A fresh dev node; `cactus` runs with its genesis file.
    pub fn start() -> Dev {
        Dev {
            node: DevNode::start(),
            work: tempfile::tempdir().expect("a temp dir"),
            genesis: true,
        }
    }

    /// A fresh dev node; `cactus` runs without `CACTUS_GENESIS`, as a merchant who has
    /// only the node's URL.
    pub fn start_without_genesis() -> Dev {
        Dev {
            genesis: false,
            ..Dev::start()
        }
    }

    /// The dev key file `name` ([`DevNode::key_file`]).
    pub fn key(&self, name: &str) -> String {
        self.node.key_file(name)
    }

    /// `name` in the work folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Runs `cactus ARGS` in the work folder against the node.
    pub fn cactus(&self, args: &[&str]) -> CactusRun {
        let mut command = self.node.cactus_command(args);
        command.current_dir(self.work.path());
        if !self.genesis {
            command.env_remove("CACTUS_GENESIS");
        }
        run_cactus(command, COMMAND_TIMEOUT)
    }

    /// `--json ARGS`, which must succeed; its output.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.cactus(&with_json(args)).ok().json()
    }

    /// `--json ARGS`, which the chain must reject with `code` (exit 3); its stderr.
    #[track_caller]
    pub fn rejected(&self, args: &[&str], code: &str) -> String {
        let run = self.cactus(&with_json(args));
        assert_eq!(run.code, EXIT_REJECTED, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], code, "{run:#?}");
        assert!(run.stderr.contains(code), "{run:#?}");
        run.stderr
    }

    /// `ARGS` as given (human output), which the chain must reject with `code` (exit 3,
    /// the code on stderr); its stderr.
    #[track_caller]
    pub fn rejected_text(&self, args: &[&str], code: &str) -> String {
        let run = self.cactus(args);
        assert_eq!(run.code, EXIT_REJECTED, "{run:#?}");
        assert!(run.stderr.contains(code), "expected {code}: {run:#?}");
        run.stderr
    }

    /// `--json ARGS`, which must fail in the client or the node (exit 1) with `code`; its
    /// output.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: &str) -> serde_json::Value {
        let run = self.cactus(&with_json(args));
        assert_eq!(run.code, 1, "{run:#?}");
        let out = run.json();
        assert_eq!(out["error"]["code"], code, "{run:#?}");
        out
    }
}

fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all
}

/// What one `cactus` run did: its exit code and output.
#[derive(Debug)]
pub struct CactusRun {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CactusRun {
    /// Asserts it succeeded.
    #[track_caller]
    pub fn ok(self) -> CactusRun {
        assert_eq!(self.code, 0, "cactus failed: {self:#?}");
        self
    }

    /// Its `--json` output, parsed.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("--json output does not parse ({e}): {self:#?}"))
    }
}

/// Runs `command` (a `cactus` command line with its arguments, folder and environment),
/// waiting at most `timeout` (then kills it and panics with its output), and prints the
/// command line and output, which a failing test shows.
pub fn run_cactus(mut command: Command, timeout: Duration) -> CactusRun {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cactus");
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("polling cactus").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("cactus output");
            panic!(
                "{shown} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("cactus output");
    let run = CactusRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "$ {shown}\n[exit {}]\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run
}
