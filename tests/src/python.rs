//! The Python examples (`examples/pos-python`, `examples/verify-python`) as the end-to-end
//! tests run them: the interpreter (`python3`, or `$POS_PYTHON`), a check that it has what
//! an example needs (failing with install advice rather than skipping), and running a
//! script from the repository root with its output echoed for the test log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (this package is `tests/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `python3`, or `$POS_PYTHON` (the Python examples share it).
pub fn python() -> String {
    std::env::var("POS_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Fails the test unless `python() -c imports` runs: `needs` says what for, `install` how
/// to get what is missing.
pub fn require(imports: &str, needs: &str, install: &str) {
    let probe = Command::new(python())
        .args([
            "-c",
            &format!("{imports}; import sys; print(sys.version.split()[0])"),
        ])
        .output();
    match probe {
        Err(e) => panic!(
            "`{}` could not be run ({e}): {needs} (e.g. `apt-get install python3 \
             python3-pip`); then {install}",
            python()
        ),
        Ok(out) if !out.status.success() => panic!(
            "`{}` cannot `{imports}` ({}): {install}",
            python(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
        ),
        Ok(_) => {}
    }
}

/// Runs the example `script` (a path under the repository) with `args` from the repository
/// root, without the `cactus` variables of the caller's environment, and echoes the run.
pub fn run(script: &str, args: &[&str]) -> Output {
    let path = repo().join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .current_dir(repo())
        .env_remove("CACTUS_NODE")
        .env_remove("CACTUS_KEY")
        .output()
        .unwrap_or_else(|e| panic!("running {} {}: {e}", python(), path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    eprintln!(
        "$ {} {}\n{}{}(exit {:?})",
        name.unwrap_or_default(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

/// A run's standard output.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
