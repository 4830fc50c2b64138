//! [`Postgres`]: a throwaway PostgreSQL server for a test, from Debian's `postgresql`
//! package (`scripts/test.sh` installs it): `initdb` on a fresh data directory in a temp
//! directory, `postgres` listening on 127.0.0.1 on a free port with its unix socket in that
//! directory, stopped and removed on drop (also when the test fails).
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the data directory
//! belongs to the `postgres` system user and `initdb` and `postgres` run as that user.
//! Queries go through `psql` over TCP (trust authentication on 127.0.0.1 only).
//!
//! ```no_run
//! use couponcactus_tests::postgres::Postgres;
//!
//! let pg = Postgres::start();
//! pg.create_database("bi");
//! assert_eq!(pg.query("bi", "SELECT 1 + 1"), vec![vec!["2".to_string()]]);
//! ```
//!
//! A server that cannot be started fails the test with what to install: nothing is skipped.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the server may take to accept connections after it starts.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest the server may take to exit after a fast-shutdown request (SIGINT).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The field separator of [`Postgres::query`]'s `psql` output (ASCII unit separator).
const FIELD_SEPARATOR: &str = "\u{1f}";
/// What to do when the server binaries are missing.
const INSTALL: &str = "install Debian's PostgreSQL server with `apt-get install postgresql` \
                       (scripts/test.sh does this), or point $PG_BIN at a directory holding \
                       initdb, postgres and psql";

/// Why a query or a server start failed.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// A program could not be run at all.
    #[error("running {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `psql` (or `initdb`) exited with an error.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its standard error.
        stderr: String,
    },
}

/// One running PostgreSQL server; stopped (and its directory removed) on drop.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Postgres {
    /// Initializes a cluster in a new temp dir and starts the server on a free port
    /// (panics with the server's log, or with what to install, when it cannot).
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("cactus-pg-")
            .tempdir()
            .expect("creating a temp dir");
        let owner = server_user();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("giving the temp dir to the postgres user");
        }
        std::fs::create_dir(dir.path().join("socket")).expect("creating the socket dir");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path().join("socket"), Some(uid), Some(gid))
                .expect("giving the socket dir to the postgres user");
        }
        initdb(&bin, dir.path(), owner);
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            child: None,
        };
        pg.launch(owner);
        pg
    }

    /// Starts `postgres` on a free port; retries with another port when the one picked
    /// was taken meanwhile.
    fn launch(&mut self, owner: Option<(u32, u32)>) {
        for attempt in 1..=3 {
            self.port = crate::node::free_port();
            let mut child = self.spawn_server(owner);
            match self.wait_ready(&mut child) {
                Ok(()) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = self.log();
                    if attempt < 3 && log.contains("could not bind") {
                        eprintln!("postgres start {attempt} failed ({e}); another port");
                        continue;
                    }
                    panic!("PostgreSQL did not start: {e}\n----- postgres log -----\n{log}");
                }
            }
        }
    }

    fn spawn_server(&self, owner: Option<(u32, u32)>) -> Child {
        let log = self.open_log();
        let stderr = log.try_clone().expect("cloning the log handle");
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.socket_dir())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=30"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
        command.spawn().unwrap_or_else(|e| {
            panic!(
                "starting {}: {e}; {INSTALL}",
                self.bin.join("postgres").display()
            )
        })
    }

    fn wait_ready(&self, child: &mut Child) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("postgres exited with {status}"));
            }
            match self.try_query("postgres", "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("not ready after {READY_TIMEOUT:?}: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Starts the stopped server again on the same data directory and port (panics if it
    /// is running, or with its log if it does not come up).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: postgres is still running");
        let mut child = self.spawn_server(server_user());
        if let Err(e) = self.wait_ready(&mut child) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "PostgreSQL did not restart: {e}\n----- postgres log -----\n{}",
                self.log()
            );
        }
        self.child = Some(child);
    }

    /// The TCP port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A libpq connection string for `database` as the superuser `postgres`, over TCP.
    pub fn dsn(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={database} user=postgres",
            self.port
        )
    }

    /// The process id of the server, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn open_log(&self) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .expect("opening the postgres log")
    }

    /// `CREATE DATABASE name` (panics on error).
    pub fn create_database(&self, name: &str) {
        self.query("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Runs `sql` (one or more statements) in `database` with `psql`: the rows of the last
    /// statement, each a list of fields as text (NULL as the empty string). Panics on error.
    pub fn query(&self, database: &str, sql: &str) -> Vec<Vec<String>> {
        self.try_query(database, sql)
            .unwrap_or_else(|e| panic!("psql in {database}: {e}\nSQL: {sql}"))
    }

    /// [`Postgres::query`], returning `psql`'s failure instead of panicking.
    pub fn try_query(&self, database: &str, sql: &str) -> Result<Vec<Vec<String>>, PostgresError> {
        let out = self.psql(database, &["-c", sql])?;
        Ok(rows(&out))
    }

    /// Runs the SQL file `path` in `database`; `psql`'s whole output (aligned, with
    /// headers), for reading.
    pub fn run_file(&self, database: &str, path: &Path) -> Result<String, PostgresError> {
        let program = self.bin.join("psql");
        let out = Command::new(&program)
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-f")
            .arg(path)
            .output();
        checked(&program, out)
    }

    fn psql(&self, database: &str, args: &[&str]) -> Result<String, PostgresError> {
        let program = self.bin.join("psql");
        let out = Command::new(&program)
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-F", FIELD_SEPARATOR, "-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .args(args)
            .env("PGCONNECT_TIMEOUT", "5")
            .output();
        checked(&program, out)
    }

    /// Fast shutdown (SIGINT), waiting for the exit; SIGKILL after [`STOP_TIMEOUT`].
    /// Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("postgres did not stop within {STOP_TIMEOUT:?}: SIGKILL");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(100)..];
            eprintln!("----- postgres log (last lines) -----\n{}", tail.join("\n"));
        }
        self.stop();
    }
}

/// The server binaries: `$PG_BIN`, or the newest `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!("no PostgreSQL server in /usr/lib/postgresql/*/bin: {INSTALL}"),
    }
}

/// `(uid, gid)` of the `postgres` user when running as root (PostgreSQL refuses root),
/// `None` otherwise (the server runs as the current user).
fn server_user() -> Option<(u32, u32)> {
    if rustix::process::geteuid().as_raw() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .unwrap_or_else(|| panic!("running as root and there is no `postgres` user: {INSTALL}"));
    let fields: Vec<&str> = entry.split(':').collect();
    let id = |i: usize| fields.get(i).and_then(|f| f.parse().ok());
    match (id(2), id(3)) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!("malformed /etc/passwd entry for postgres: {entry}"),
    }
}

/// `initdb` of `dir/data`: superuser `postgres`, trust authentication, UTF-8.
fn initdb(bin: &Path, dir: &Path, owner: Option<(u32, u32)>) {
    let program = bin.join("initdb");
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .arg("--no-sync")
        .current_dir(dir);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    if let Err(e) = checked(&program, command.output()) {
        panic!("initdb failed: {e}; {INSTALL}");
    }
}

fn checked(
    program: &Path,
    out: std::io::Result<std::process::Output>,
) -> Result<String, PostgresError> {
    let program = program.display().to_string();
    let out = out.map_err(|source| PostgresError::Spawn {
        program: program.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(PostgresError::Failed {
            program,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `psql -A -t -F US` output → rows of fields.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(FIELD_SEPARATOR).map(str::to_string).collect())
        .collect()
}
