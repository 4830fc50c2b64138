//! The Python POS example (`examples/pos-python/pos.py`), written from docs/encoding.md
//! alone, against a real `cactusd --dev` node: its encoder reproduces the doc's test vectors,
//! and the redemptions it builds, signs and submits as canonical bytes decode on the node
//! into exactly the intended tx (with a memo, or none; a malformed memo is refused before
//! sending), apply with the expected discount, and are refused once redeemed (exit 3, as
//! `cactus`). With several `--node` URLs it fails over from a dead node
//! to a live one, and with the codes' format it corrects look-alike characters and refuses
//! a malformed code before sending anything.
//!
//! Needs `python3` with PyNaCl (`scripts/test.sh` installs it; by hand:
//! `python3 -m pip install --user pynacl`). A missing interpreter or module fails the test
//! with that advice rather than skipping it.

use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::execute::Event;
use couponcactus_chaincode::ids::{PublicKey, TxId};
use couponcactus_chaincode::tx::{RedeemTarget, RedeemTx, RollbackTx, TxKind};
use couponcactus_chaincode::types::{Currency, Order, OrderLine};
use couponcactus_tests::DevNode;
use couponcactus_tests::node::free_port;
use couponcactus_tests::python::{self, stdout};
use std::process::Output;

/// `cactus`'s exit codes, which pos.py shares: failed, and rejected by the chain.
const EXIT_FAILED: i32 = 1;
const EXIT_REJECTED: i32 = 3;

const INSTALL: &str = "install PyNaCl with `python3 -m pip install --user pynacl` (or \
                       `pip install -r examples/pos-python/requirements.txt`); scripts/test.sh \
                       does this";

/// Fails the test, saying how to install them, unless Python and what it imports are
/// available.
fn require_python_and_pynacl() {
    python::require(
        "import nacl.signing",
        "the Python POS test needs Python 3",
        INSTALL,
    );
}

/// Runs `pos.py ARGS` from the repository root.
fn pos(args: &[&str]) -> Output {
    python::run("examples/pos-python/pos.py", args)
}

/// The tx id on the `applied: tx <id> …` line of pos.py's output.
fn applied_tx_id(out: &Output) -> TxId {
    let text = stdout(out);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("applied: tx "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `applied: tx ID` line in:\n{text}"));
    id.parse()
        .unwrap_or_else(|e| panic!("bad tx id {id:?}: {e:?}"))
}

#[test]
fn selftest_reproduces_the_encoding_doc_vectors() {
    require_python_and_pynacl();
    // Against the values embedded in pos.py and, with --doc, those in docs/encoding.md.
    for args in [
        &["selftest"][..],
        &["selftest", "--doc", "docs/encoding.md"],
    ] {
        let out = pos(args);
        assert!(out.status.success(), "pos.py {args:?} failed");
        assert!(
            stdout(&out).contains("checks passed"),
            "unexpected output of pos.py {args:?}"
        );
    }
}

#[test]
fn python_terminal_redeems_once_and_rolls_back() {
    require_python_and_pynacl();
    let node = DevNode::start();
    let pool = node.create_active_pool("py-spring", 2); // 10 % off, EUR, any store/channel
    let url = node.url();
    let key = node.dir().join("keys/terminal.key");
    let key = key.to_str().expect("a UTF-8 temp path");
    let code = pool.codes[0].as_str();
    // A 59.90 EUR basket with two category lines (none excluded): 10 % → 5.99 EUR.
    let redeem = |extra: &[&str]| {
        let mut args = vec![
            "redeem",
            "--node",
            &url,
            "--key",
            key,
            "--code",
            code,
            "--currency",
            "EUR",
            "--total-minor",
            "5990",
            "--line",
            "food:4990",
            "--line",
            "tobacco:1000",
        ];
        args.extend_from_slice(extra);
        pos(&args)
    };

    // A dry run (POST /v1/validate) says it would apply and writes nothing.
    let height = node.status().height;
    let out = redeem(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "dry run");
    assert!(stdout(&out).starts_with("valid: "), "dry run output");
    assert_eq!(node.status().height, height, "a dry run commits nothing");

    // The redemption applies with the expected discount.
    let out = redeem(&[]);
    assert_eq!(out.status.code(), Some(0), "redeem");
    let text = stdout(&out);
    assert!(
        text.contains("discount 599 minor units (5.99 EUR) on eligible 5990 (59.90 EUR)"),
        "redeem output: {text}"
    );
    // What the node decoded from the Python bytes is exactly the intended tx, and it applied.
    let id = applied_tx_id(&out);
    let detail = node.client().tx_detail(&node.keys().auditor, &id);
    let tx = detail.tx.expect("the tx detail carries the signed tx");
    assert_eq!(tx.id(), id, "the node's tx id is the one pos.py computed");
    assert_eq!(
        tx.signer,
        PublicKey(node.keys().terminal.verifying_key().to_bytes())
    );
    assert_eq!(tx.body.chain_id, *node.client().chain_id());
    assert_eq!(tx.body.memo, None, "no --memo: the body ends with None");
    let order = Order {
        currency: Currency(*b"EUR"),
        total_minor: 5990,
        lines: vec![
            OrderLine {
                category: "food".parse().expect("slug"),
                amount_minor: 4990,
            },
            OrderLine {
                category: "tobacco".parse().expect("slug"),
                amount_minor: 1000,
            },
        ],
    };
    assert_eq!(
        tx.body.kind,
        TxKind::Redeem(RedeemTx {
            target: RedeemTarget::Code(code_hash(code)),
            member: None,
            order,
        })
    );
    assert_eq!(
        detail.view.events(),
        [Event::Redeemed {
            redemption: id,
            pool: pool.id.clone(),
            token: Some(pool.token(0)),
            member: None,
            eligible_minor: 5990,
            discount_minor: 599,
            currency: Currency(*b"EUR"),
        }]
    );

    // Again (a new nonce, so a new tx): rejected by the chain, recorded in a block: exit 3.
    let out = redeem(&[]);
    assert_eq!(out.status.code(), Some(EXIT_REJECTED), "second redemption");
    assert!(
        stdout(&out).starts_with("rejected: already_redeemed: "),
        "second redemption output"
    );
    // The dry run says the same; --json gives the node's answer for scripts.
    let out = redeem(&["--dry-run", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_REJECTED),
        "dry run after redemption"
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(reply["error"]["code"], "already_redeemed", "{reply}");

    // A malformed memo is refused before anything is sent.
    let id_hex = id.to_string();
    let height = node.status().height;
    let long = "x".repeat(129);
    for bad in ["", "two\nlines", long.as_str()] {
        let out = pos(&[
            "rollback", "--node", &url, "--key", key, "--memo", bad, &id_hex,
        ]);
        assert_eq!(out.status.code(), Some(1), "memo {bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid memo"), "memo {bad:?}: {err}");
    }
    assert_eq!(node.status().height, height, "nothing was sent");
    // A refund rolls the redemption back (the cashier's id in the memo); then the code
    // redeems again.
    let out = pos(&[
        "rollback",
        "--node",
        &url,
        "--key",
        key,
        "--memo",
        "cashier 7 — refund",
        &id_hex,
    ]);
    assert_eq!(out.status.code(), Some(0), "rollback");
    let rollback = node
        .client()
        .tx_detail(&node.keys().auditor, &applied_tx_id(&out))
        .tx
        .expect("signed tx");
    assert_eq!(
        rollback.body.kind,
        TxKind::Rollback(RollbackTx { redemption: id })
    );
    assert_eq!(
        rollback.body.memo.as_ref().map(|m| m.as_str()),
        Some("cashier 7 — refund"),
        "the memo pos.py encoded is the one the node decoded"
    );
    let out = redeem(&[]);
    assert_eq!(out.status.code(), Some(0), "redeem after the rollback");
}

/// `code` as a cashier might type it from paper: lower case, spaced, and with each `0`, `1`
/// and `V` as its look-alike `O`, `I`, `U`.
fn typed_with_look_alikes(code: &str) -> String {
    code.chars()
        .map(|c| match c {
            '0' => 'O',
            '1' => 'I',
            'V' => 'u',
            '-' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[test]
fn python_terminal_fails_over_and_checks_typed_codes() {
    require_python_and_pynacl();
    let node = DevNode::start();
    let pool = node.create_active_pool("py-typed", 8);
    let live = node.url();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let key = node.dir().join("keys/terminal.key");
    let key = key.to_str().expect("a UTF-8 temp path");
    let chain = node.client().chain_id().to_string();
    // The fixture's codes are fixed by the pool id: one of them has a 0, 1 or V.
    let (serial, code) = pool
        .codes
        .iter()
        .enumerate()
        .find(|(_, c)| c.contains(['0', '1', 'V']))
        .expect("a code of py-typed with a 0, 1 or V");
    let typed = typed_with_look_alikes(code);
    assert_ne!(typed.to_uppercase(), code.to_uppercase());
    let redeem = |nodes: &[&str], code: &str, extra: &[&str]| {
        let mut args = vec![
            "redeem",
            "--key",
            key,
            "--code",
            code,
            "--total-minor",
            "1000",
        ];
        for n in nodes {
            args.extend(["--node", n]);
        }
        args.extend_from_slice(extra);
        pos(&args)
    };

    // Without the codes' format the typed code is hashed as typed: no such code (exit 3).
    let out = redeem(&[live.as_str()], &typed, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(EXIT_REJECTED), "unknown as typed");

    // A malformed code (no check character where the format has one) is refused before
    // any request: exit 1, nothing committed, even with only dead nodes.
    let height = node.status().height;
    let out = redeem(&[dead.as_str()], &typed, &["--check-char"]);
    assert_eq!(out.status.code(), Some(EXIT_FAILED), "malformed code");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed") && err.contains("nothing was sent"),
        "{err}"
    );
    assert!(!err.contains("cannot reach"), "no request was made: {err}");

    // With the format, the look-alikes are corrected; the dead node is skipped (the tx is
    // signed once and its bytes go to the next node) and the redemption applies.
    let both = format!("{dead},{live}");
    let out = redeem(
        &[both.as_str()],
        &typed,
        &["--pattern", "####-####-####", "--chain-id", &chain],
    );
    assert_eq!(out.status.code(), Some(0), "redeem through the live node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("node {dead} failed")), "{err}");
    let id = applied_tx_id(&out);
    let detail = node.client().tx_detail(&node.keys().auditor, &id);
    let tx = detail.tx.expect("the signed tx");
    let TxKind::Redeem(redeem_tx) = &tx.body.kind else {
        panic!("not a redemption: {:?}", tx.body.kind);
    };
    assert_eq!(redeem_tx.target, RedeemTarget::Code(code_hash(code)));
    assert!(
        matches!(detail.view.events(), [Event::Redeemed { token: Some(t), .. }] if *t == pool.token(serial as u64))
    );
    assert!(node.status().height > height);

    // Every node dead: exit 1, naming them all.
    let other_dead = format!("http://127.0.0.1:{}", free_port());
    let out = redeem(&[dead.as_str(), other_dead.as_str()], code, &[]);
    assert_eq!(out.status.code(), Some(EXIT_FAILED), "no node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach any node ({dead}, {other_dead})")),
        "{err}"
    );
}
