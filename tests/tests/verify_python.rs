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
use couponcactus_tests::python::{self, stdout};
use serde_json::Value;
use std::process::Output;

const EXIT_FAILED: i32 = 1;

const INSTALL: &str = "install PyNaCl with `python3 -m pip install --user pynacl` (or \
                       `pip install -r examples/verify-python/requirements.txt`); \
                       scripts/test.sh does this";

/// Fails the test, saying how to install them, unless Python and what it imports are
/// available.
fn require_python_and_pynacl() {
    python::require(
        "import nacl.signing, tomllib",
        "the Python verifier test needs Python 3.11 or later",
        INSTALL,
    );
}

/// Runs `verify.py ARGS` from the repository root.
fn verify(args: &[&str]) -> Output {
    python::run("examples/verify-python/verify.py", args)
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

    // The redemption in force of a present token: the token and the redemption record
    // shown are both proven; by code, the proven token carries the code's hash.
    let out = chain.read(&format!("{}/redemption", token(1)), &[]);
    assert_verified(&out, &format!("token {pool}/1 = redeemed by "));
    let code = code_hash(&chain.pool.codes[1]);
    let out = chain.read(&format!("/v1/codes/{code}/redemption"), &[]);
    assert_verified(&out, &format!("token {pool}/1 = redeemed by "));
    let out = chain.read(&format!("{}/redemption", token(0)), &[]);
    assert_verified(&out, "no redemption in force");
}

/// One change to a saved answer (JSON pointers into it).
enum Change {
    /// Change the first byte of the hex string there.
    Flip(&'static str),
    /// Set the value there (adding the key if it is new).
    Set(&'static str, Value),
}

impl Change {
    fn apply(&self, bundle: &mut Value) {
        let (pointer, value) = match self {
            Change::Flip(pointer) => {
                let text = bundle.pointer(pointer).and_then(Value::as_str);
                let text = text.unwrap_or_else(|| panic!("no hex string at {pointer}"));
                let first = if text.starts_with("00") { "01" } else { "00" };
                (*pointer, Value::String(format!("{first}{}", &text[2..])))
            }
            Change::Set(pointer, value) => (*pointer, value.clone()),
        };
        let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
        let target = bundle.pointer_mut(parent).expect("the parent exists");
        match target {
            Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
            Value::Object(map) => {
                map.insert(key.to_string(), value);
            }
            other => panic!("{parent} is not an object or array: {other}"),
        }
    }
}

/// `verify.py read PATH --save` (plus `extra`), verified; the saved answer and its JSON.
fn saved(chain: &Chain, path: &str, extra: &[&str], name: &str) -> (String, Value) {
    let file = chain.path(name);
    let args = [extra, &["--save", file.as_str()]].concat();
    assert_verified(&chain.read(path, &args), "");
    let bundle = serde_json::from_slice(&std::fs::read(&file).expect("the saved answer"))
        .expect("the saved answer is JSON");
    (file, bundle)
}

/// `bundle` with `changes`, written to `name`, must be refused, saying `why`.
fn assert_refused(chain: &Chain, bundle: &Value, name: &str, changes: &[Change], why: &str) {
    let mut copy = bundle.clone();
    for change in changes {
        change.apply(&mut copy);
    }
    assert_ne!(&copy, bundle, "{name}: the change changed nothing");
    let path = chain.path(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&copy).expect("JSON")).expect("writing");
    assert_failed(&chain.check(&path), why);
}

#[test]
fn python_verifier_refuses_tampered_answers() {
    use Change::{Flip, Set};
    require_python_and_pynacl();
    let chain = Chain::start();
    let pool = chain.pool.id.as_str();
    let token = |serial: u64| format!("/v1/tokens/{pool}/{serial}");
    let (file, present) = saved(&chain, &token(0), &[], "present.json");
    assert_verified(&chain.check(&file), &format!("token {pool}/0 = allocated"));
    let (file, absent) = saved(&chain, &token(99), &[], "absent.json");
    assert_verified(&chain.check(&file), "is ABSENT");
    // Token 2 is absent at height 1, before it was issued.
    let (file, old) = saved(&chain, &token(2), &["--height", "1"], "old.json");
    assert_verified(&chain.check(&file), "is ABSENT, at height 1 ");

    let (_, redeemed) = saved(
        &chain,
        &format!("{}/redemption", token(1)),
        &[],
        "redeemed.json",
    );
    let sealed = "/answer/body/token/sealed";
    let cases = [
        (
            &present,
            "shown.json",
            vec![Flip(sealed)],
            "the value shown is not the value proven",
        ),
        (
            &present,
            "both.json",
            vec![Flip(sealed), Flip("/answer/body/proof/value/token/sealed")],
            "the value's hash is not the proven value hash",
        ),
        (
            &present,
            "extra.json",
            vec![Set("/answer/body/token/bonus", 1.into())],
            "documented fields",
        ),
        (
            &present,
            "sibling.json",
            vec![Flip("/answer/body/proof/proof/siblings/0")],
            "state root",
        ),
        (
            &present,
            "header.json",
            vec![Flip("/answer/body/at/header/tx_root")],
            "the header of height",
        ),
        (
            &present,
            "signature.json",
            vec![Flip("/checkpoint/certificate/signatures/0/signature")],
            "the signature of node 1 does not verify",
        ),
        (
            &present,
            "voters.json",
            vec![Flip("/consortium/consortium/nodes/0/node_key")],
            "consortium: the value shown is not the value proven",
        ),
        (
            &present,
            "route.json",
            vec![Set("/route", token(1).into())],
            "another token",
        ),
        (
            &present,
            "genesis.json",
            vec![Flip("/status/genesis_hash")],
            "genesis hash",
        ),
        (
            &absent,
            "absent-key.json",
            vec![Set("/answer/body/proof/key/token/serial", 98.into())],
            "the proof is of",
        ),
        (
            &absent,
            "absent-root.json",
            vec![Flip("/answer/body/at/state_root")],
            "`at.state_root`",
        ),
        (
            &absent,
            "absent-claim.json",
            vec![Set("/route", token(0).into())],
            "the proof is of",
        ),
        (
            &redeemed,
            "discount.json",
            vec![Set(
                "/answer/body/redemption/record/discount_minor",
                1.into(),
            )],
            "the value shown is not the value proven",
        ),
        (
            &redeemed,
            "status.json",
            vec![Set(
                "/answer/body/status",
                serde_json::json!({"status": "available"}),
            )],
            "the status shown is not the proven one",
        ),
        // An old answer passed off as one at the height asked.
        (
            &old,
            "stale.json",
            vec![Set("/height", present["height"].clone())],
            "asked at height",
        ),
    ];
    for (bundle, name, changes, why) in cases {
        assert_refused(&chain, bundle, name, &changes, why);
    }
}
