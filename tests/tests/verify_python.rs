//! The Python verifier (`examples/verify-python/verify.py`), written from docs/proofs.md,
//! docs/encoding.md and docs/api.md alone, against a real `cactusd --dev` node: it
//! reproduces the docs' vectors (record encodings and hashes, genesis hash, state proofs,
//! block hash, checkpoint signature); it verifies every keyed read, present or absent
//! (tokens, pools, codes, keys, and a token read at a height before it existed), tying the
//! JSON it is shown to the proven value hash; and it refuses a saved answer with one byte
//! changed anywhere that matters (the JSON shown, the proof, the header, the certificate,
//! the consortium, the key proven), exit status 1.
//!
//! Needs `python3` (3.11 or later) with PyNaCl, as the Python POS test does (`scripts/test.sh`
//! installs it; by hand: `python3 -m pip install --user pynacl`). A missing interpreter or
//! module fails the test with that advice rather than skipping it.

use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::ids::{CodeHash, PublicKey};
use couponcactus_tests::DevNode;
use couponcactus_tests::fixtures::PoolFixture;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXIT_FAILED: i32 = 1;

const INSTALL: &str = "install PyNaCl with `python3 -m pip install --user pynacl` (or \
                       `pip install -r examples/verify-python/requirements.txt`); \
                       scripts/test.sh does this";

/// The repository root (this package is `tests/`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `python3`, or `$POS_PYTHON` (the Python examples share it).
fn python() -> String {
    std::env::var("POS_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Fails the test, saying how to install them, unless python3 (3.11+) and PyNaCl are
/// available.
fn require_python_and_pynacl() {
    let probe = Command::new(python())
        .args([
            "-c",
            "import nacl.signing, tomllib, sys; print(sys.version.split()[0])",
        ])
        .output();
    match probe {
        Err(e) => panic!(
            "`{}` could not be run ({e}): the Python verifier test needs Python 3.11 or later \
             (e.g. `apt-get install python3 python3-pip`); then {INSTALL}",
            python()
        ),
        Ok(out) if !out.status.success() => panic!(
            "`{}` lacks PyNaCl or tomllib (Python 3.11+) ({}): {INSTALL}",
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

/// Runs `verify.py ARGS` from the repository root.
fn verify(args: &[&str]) -> Output {
    let script = repo().join("examples/verify-python/verify.py");
    let out = Command::new(python())
        .arg(&script)
        .args(args)
        .current_dir(repo())
        .env_remove("CACTUS_NODE")
        .output()
        .unwrap_or_else(|e| panic!("running {} {}: {e}", python(), script.display()));
    eprintln!(
        "$ verify.py {}\n{}{}(exit {:?})",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts `verify.py` printed `VERIFIED: …` containing `what` and exited 0.
fn assert_verified(out: &Output, what: &str) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(0), "not verified:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("VERIFIED: "))
        .unwrap_or_else(|| panic!("no VERIFIED line in:\n{text}"));
    assert!(line.contains(what), "{line:?} does not say {what:?}");
}

/// Asserts `verify.py` printed `FAILED: …` containing `why` and exited 1.
fn assert_failed(out: &Output, why: &str) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(EXIT_FAILED), "not refused:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("FAILED: "))
        .unwrap_or_else(|| panic!("no FAILED line in:\n{text}"));
    assert!(line.contains(why), "{line:?} does not say {why:?}");
    assert!(!text.contains("VERIFIED"), "{text}");
}

/// A dev node with pool `py-verify`: token 0 allocated, token 1 redeemed, token 2 issued.
struct Chain {
    node: DevNode,
    pool: PoolFixture,
}

impl Chain {
    fn start() -> Chain {
        let node = DevNode::start();
        let pool = node.create_active_pool("py-verify", 3);
        let allocated = node.client().submit(&node.allocate_tx(&pool.id, 1));
        assert_eq!(allocated.status, 200, "allocation: {allocated:?}");
        let redeemed = node.redeem_code(&pool.codes[1], couponcactus_tests::fixtures::order(5_000));
        assert_eq!(redeemed.status, "applied", "redemption: {redeemed:?}");
        Chain { node, pool }
    }

    fn path(&self, name: &str) -> String {
        self.node
            .dir()
            .join(name)
            .to_str()
            .expect("a UTF-8 temp path")
            .to_string()
    }

    /// `verify.py read PATH` as dev's issuer, plus `extra` arguments.
    fn read(&self, path: &str, extra: &[&str]) -> Output {
        let (url, genesis, key) = (
            self.node.url(),
            self.path("genesis.toml"),
            self.path("keys/issuer.key"),
        );
        let mut args = vec!["read", "--node", &url, "--genesis", &genesis, "--key", &key];
        args.extend_from_slice(extra);
        args.push(path);
        verify(&args)
    }

    /// `verify.py check FILE`.
    fn check(&self, file: &str) -> Output {
        verify(&["check", file, "--genesis", &self.path("genesis.toml")])
    }
}

#[test]
fn selftest_reproduces_the_docs_vectors() {
    require_python_and_pynacl();
    let out = verify(&["selftest"]);
    assert_eq!(out.status.code(), Some(0), "selftest failed");
    assert!(stdout(&out).contains("checks passed"), "selftest output");
}

#[test]
fn python_verifier_checks_present_and_absent_reads() {
    require_python_and_pynacl();
    let chain = Chain::start();
    let pool = chain.pool.id.as_str();
    let token = |serial: u64| format!("/v1/tokens/{pool}/{serial}");
    // Present: the JSON shown is re-encoded and hashed to the proven value hash.
    assert_verified(
        &chain.read(&token(0), &[]),
        &format!("token {pool}/0 = allocated"),
    );
    assert_verified(
        &chain.read(&token(1), &[]),
        &format!("token {pool}/1 = redeemed"),
    );
    assert_verified(
        &chain.read(&token(2), &[]),
        &format!("token {pool}/2 = available"),
    );
    assert_verified(
        &chain.read(&format!("/v1/pools/{pool}"), &[]),
        &format!("pool {pool} = active"),
    );
    let code = code_hash(&chain.pool.codes[2]);
    let out = chain.read(&format!("/v1/codes/{code}/token"), &[]);
    assert_verified(&out, &format!("= token {pool}/2, available"));
    let terminal = PublicKey(chain.node.keys().terminal.verifying_key().to_bytes());
    assert_verified(
        &chain.read(&format!("/v1/keys/{terminal}"), &[]),
        "= terminal of dev",
    );

    // Absent: a 404 with the non-inclusion proof of the key the path names.
    assert_verified(
        &chain.read(&token(99), &[]),
        &format!("token {pool}/99 is ABSENT"),
    );
    assert_verified(
        &chain.read("/v1/tokens/no-such-pool/0", &[]),
        "token no-such-pool/0 is ABSENT",
    );
    let unknown = CodeHash([0x5a; 32]);
    let out = chain.read(&format!("/v1/codes/{unknown}/token"), &[]);
    assert_verified(&out, &format!("code {unknown} is ABSENT"));
    let out = chain.read(&format!("/v1/keys/{}", PublicKey([0x11; 32])), &[]);
    assert_verified(&out, "is ABSENT");
    assert_verified(
        &chain.read(&format!("{}/redemption", token(99)), &[]),
        "is ABSENT",
    );
    // A token read at a height before it existed: absent there, and that header is linked
    // by prev_hash to the certified block above it.
    let out = chain.read(&token(2), &["--height", "1"]);
    assert_verified(&out, &format!("token {pool}/2 is ABSENT, at height 1 "));

    // The redemption of a present token is shown without a proof (docs/api.md): the
    // verifier says it cannot check it rather than pass it.
    let out = chain.read(&format!("{}/redemption", token(1)), &[]);
    assert_failed(&out, "carries no proof of what it shows");
}

/// `bundle` with `change` applied, written to `name` in the node's directory.
fn tampered(chain: &Chain, bundle: &Value, name: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut copy = bundle.clone();
    change(&mut copy);
    assert_ne!(&copy, bundle, "{name}: the change changed nothing");
    let path = chain.path(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&copy).expect("JSON")).expect("writing");
    path
}

/// A hex string with its first byte changed.
fn flip(value: &mut Value) {
    let text = value.as_str().expect("a hex string");
    let first = if text.starts_with("00") { "01" } else { "00" };
    *value = Value::String(format!("{first}{}", &text[2..]));
}

fn saved(chain: &Chain, path: &str, name: &str) -> (String, Value) {
    let file = chain.path(name);
    assert_verified(&chain.read(path, &["--save", &file]), "");
    let bundle = serde_json::from_slice(&std::fs::read(&file).expect("the saved answer"))
        .expect("the saved answer is JSON");
    (file, bundle)
}

#[test]
fn python_verifier_refuses_tampered_answers() {
    require_python_and_pynacl();
    let chain = Chain::start();
    let pool = chain.pool.id.as_str();
    let (file, present) = saved(&chain, &format!("/v1/tokens/{pool}/0"), "present.json");
    assert_verified(&chain.check(&file), &format!("token {pool}/0 = allocated"));
    let (file, absent) = saved(&chain, &format!("/v1/tokens/{pool}/99"), "absent.json");
    assert_verified(&chain.check(&file), "is ABSENT");

    let cases: Vec<(&str, &Value, Box<dyn FnOnce(&mut Value)>, &str)> = vec![
        (
            "shown.json",
            &present,
            Box::new(|b| flip(&mut b["answer"]["body"]["token"]["sealed"])),
            "the value shown is not the value proven",
        ),
        (
            "both.json",
            &present,
            Box::new(|b| {
                flip(&mut b["answer"]["body"]["token"]["sealed"]);
                flip(&mut b["answer"]["body"]["proof"]["value"]["token"]["sealed"]);
            }),
            "the value's hash is not the proven value hash",
        ),
        (
            "extra.json",
            &present,
            Box::new(|b| b["answer"]["body"]["token"]["bonus"] = 1.into()),
            "are not the documented fields",
        ),
        (
            "sibling.json",
            &present,
            Box::new(|b| flip(&mut b["answer"]["body"]["proof"]["proof"]["siblings"][0])),
            "does not lead to the state root",
        ),
        (
            "header.json",
            &present,
            Box::new(|b| {
                let t = b["answer"]["body"]["at"]["header"]["time_ms"]
                    .as_u64()
                    .expect("time");
                b["answer"]["body"]["at"]["header"]["time_ms"] = (t + 1).into();
            }),
            "the header of height",
        ),
        (
            "signature.json",
            &present,
            Box::new(|b| flip(&mut b["checkpoint"]["certificate"]["signatures"][0]["signature"])),
            "does not verify",
        ),
        (
            "voters.json",
            &present,
            Box::new(|b| flip(&mut b["consortium"]["consortium"]["nodes"][0]["node_key"])),
            "consortium: the value shown is not the value proven",
        ),
        (
            "route.json",
            &present,
            Box::new(|b| b["route"] = format!("/v1/tokens/{pool}/1").into()),
            "another token",
        ),
        (
            "genesis.json",
            &present,
            Box::new(|b| flip(&mut b["status"]["genesis_hash"])),
            "genesis hash",
        ),
        (
            "absent-key.json",
            &absent,
            Box::new(|b| b["answer"]["body"]["proof"]["key"]["token"]["serial"] = 98.into()),
            "the proof is of",
        ),
        (
            "absent-root.json",
            &absent,
            Box::new(|b| flip(&mut b["answer"]["body"]["at"]["state_root"])),
            "`at.state_root` is not the header's",
        ),
        (
            "absent-claim.json",
            &absent,
            Box::new(|b| b["route"] = format!("/v1/tokens/{pool}/0").into()),
            "the proof is of",
        ),
    ];
    for (name, bundle, change, why) in cases {
        let file = tampered(&chain, bundle, name, change);
        assert_failed(&chain.check(&file), why);
    }
}
