//! The README's quick start, run as a new user runs it, after the build `scripts/test.sh`
//! made (CI runs this suite in a fresh clone, right after that build).
//!
//! 1. `scripts/localnet.sh up` (what `scripts/dev.sh` runs) on free ports in a temp folder:
//!    its build must compile no dependency again, RocksDB's C++ least of all, because
//!    `scripts/dev.sh` and `scripts/test.sh` share one build command (scripts/lib.sh).
//! 2. The shell block between `<!-- quickstart -->` and `<!-- /quickstart -->` in README.md,
//!    with the ports and folders of step 1 put in: it must run to its end and print what the
//!    README says it prints (applied, rejected as already redeemed, verified).
//!
//! Needs the workspace built with the shared command (scripts/test.sh does it first).

use couponcactus_tests::node::{CactusRun, cactus_binary, cactusd_binary, run_cactus};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long `scripts/localnet.sh up` may take when nothing needs compiling (cargo's
/// freshness check and linking-free start, three nodes and the demo seeding).
const UP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the README's commands may take together.
const QUICKSTART_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository's root (this crate is `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The cargo target directory the test binaries were built in (`…/debug/cactusd`).
fn target_dir() -> PathBuf {
    let bin = cactusd_binary();
    bin.parent()
        .and_then(Path::parent)
        .expect("cactusd lives in <target>/debug/")
        .to_path_buf()
}

/// A base port whose HTTP (base+1..=3) and libp2p (base+101..=103) ports are free now.
fn free_base_port() -> u16 {
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let seed = u16::try_from(std::process::id() % 300).expect("below 300");
    (0..300u16)
        .map(|i| 20_000 + ((seed + i * 7) % 300) * 100)
        .find(|&base| (1..=3).all(|i| free(base + i) && free(base + 100 + i)))
        .expect("a free range of ports between 20000 and 50000")
}

/// The workspace's own packages (their sources may be newer than the build; everything
/// else is a dependency, which must never compile again).
fn workspace_packages() -> BTreeSet<&'static str> {
    [
        "couponcactus-chaincode",
        "couponcactus-genesis",
        "couponcactus-node",
        "couponcactus-client",
        "couponcactus-tests",
    ]
    .into()
}

/// The packages cargo compiled, from its `Compiling NAME vX` lines.
fn compiled_packages(cargo_output: &str) -> Vec<String> {
    cargo_output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Variables a person's shell passes on to `scripts/dev.sh`. The test runner adds its own
/// (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, `NEXTEST_*`, a library path, …), and build scripts
/// that watch such variables (ring's, through `cc`) would build again for that reason
/// alone, which a person's `scripts/dev.sh` never sees: the command runs with only these.
const USER_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "CARGO_INCREMENTAL",
    "RUSTFLAGS",
    "CI",
];

/// `command` with the environment of a person's shell (see [`USER_ENV`]).
fn user_shell(mut command: Command) -> Command {
    command.env_clear();
    for name in USER_ENV {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

/// A local consortium started through the scripts; `scripts/localnet.sh down` on drop.
struct ScriptedLocalnet {
    dir: tempfile::TempDir,
    base_port: u16,
}

impl ScriptedLocalnet {
    fn script(&self, args: &[&str]) -> Command {
        let mut command = user_shell(Command::new("bash"));
        command
            .arg(repo_root().join("scripts/localnet.sh"))
            .args(args)
            .current_dir(repo_root())
            .env("LOCALNET_DIR", self.localnet_dir())
            .env("LOCALNET_BASE_PORT", self.base_port.to_string())
            .env("LOCALNET_TIMEOUT", "120")
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CACTUSD_BIN");
        command
    }

    fn localnet_dir(&self) -> PathBuf {
        self.dir.path().join("localnet")
    }

    fn node_url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.base_port + i)
    }
}

impl Drop for ScriptedLocalnet {
    fn drop(&mut self) {
        let _ = run_cactus(self.script(&["down"]), Duration::from_secs(60));
    }
}

/// The README's quick-start block, with this run's ports, folders and binaries put in.
fn quickstart_script(net: &ScriptedLocalnet) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- quickstart -->")
        .expect("README.md marks its quick start with <!-- quickstart -->");
    let end = readme[start..]
        .find("<!-- /quickstart -->")
        .expect("and ends it with <!-- /quickstart -->")
        + start;
    let block = &readme[start..end];
    let code: String = block
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|fenced| fenced.split_once('\n').map_or("", |(_, body)| body))
        .collect();
    assert!(
        code.contains("cactus redeem"),
        "the quick start block has commands"
    );
    let mut script = code
        .replace(
            "$PWD/target/debug",
            &target_dir().join("debug").display().to_string(),
        )
        .replace(".localnet/", &format!("{}/", net.localnet_dir().display()))
        .replace(
            " examples/",
            &format!(" {}/examples/", repo_root().display()),
        );
    for i in 1..=3 {
        script = script.replace(&format!("http://127.0.0.1:710{i}"), &net.node_url(i));
    }
    format!("set -euo pipefail\n{script}")
}

#[test]
fn the_readme_quick_start_runs_on_the_shared_build() {
    // Fail early with the harness's message if the binaries are missing or stale.
    let _ = (cactusd_binary(), cactus_binary());
    let net = ScriptedLocalnet {
        dir: tempfile::Builder::new()
            .prefix("cactus-readme-")
            .tempdir()
            .expect("a temp dir"),
        base_port: free_base_port(),
    };
    let up = run_cactus(net.script(&["up"]), UP_TIMEOUT);
    assert_eq!(up.code, 0, "scripts/localnet.sh up failed");
    let rebuilt: Vec<String> = compiled_packages(&up.stderr)
        .into_iter()
        .filter(|p| !workspace_packages().contains(p.as_str()))
        .collect();
    assert!(
        rebuilt.is_empty(),
        "scripts/dev.sh compiled dependencies again after the test build: {rebuilt:?}; \
         scripts/lib.sh's WORKSPACE_BUILD must be the one command both scripts use"
    );

    let work = net.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("a work folder");
    let mut bash = user_shell(Command::new("bash"));
    bash.arg("-c")
        .arg(quickstart_script(&net))
        .current_dir(&work)
        .env("NO_COLOR", "1");
    let run: CactusRun = run_cactus(bash, QUICKSTART_TIMEOUT);
    assert_eq!(run.code, 0, "the README quick start failed");
    for expected in [
        "APPLIED",
        "already_redeemed",
        "(exit code 3)",
        "points earned",
        "VERIFIED",
    ] {
        assert!(
            run.stdout.contains(expected) || run.stderr.contains(expected),
            "the quick start should print {expected:?} as the README says"
        );
    }
    assert!(
        std::fs::read_dir(&work)
            .expect("the work folder")
            .next()
            .is_none(),
        "the quick start writes its files under .localnet/, not into the working folder"
    );
}

#[test]
fn compiling_lines_are_read_from_cargo_output() {
    let out = "   Compiling librocksdb-sys v0.17.3+10.4.2\n    Compiling couponcactus-node v0.1.0 (/x)\n    Finished `test` profile";
    assert_eq!(
        compiled_packages(out),
        ["librocksdb-sys", "couponcactus-node"]
    );
}
