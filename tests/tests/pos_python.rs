//! The Python POS example (`examples/pos-python/pos.py`), written from docs/encoding.md
//! alone, against a real `cactusd --dev` node: its encoder reproduces the doc's test vectors,
//! and the redemptions it builds, signs and submits as canonical bytes decode on the node
//! into exactly the intended tx (with a memo, or none; a malformed memo is refused before
//! sending), apply with the expected discount, and are refused once redeemed (exit 3, as
//! `cactus`). With several `--node` URLs it fails over from a dead node
//! to a live one, and with the codes' format it corrects look-alike characters and refuses
//! a malformed code before sending anything. A checkout it builds (a coupon typed from paper,
//! a gift pay, points earned; the example loyalty program set and the gift loaded through
//! the `cactus` binary) decodes into exactly the intended tx, prints its receipt and moves
//! the proven balance; an overpaid one is rejected (exit 3, `overpaid`), and its void
//! restores the balance and the coupon.
//!
//! Needs `python3` with PyNaCl (`scripts/test.sh` installs it; by hand:
//! `python3 -m pip install --user pynacl`). A missing interpreter or module fails the test
//! with that advice rather than skipping it. The checkout test also needs the `cactus`
//! binary (scripts/test.sh builds every binary).

use couponcactus_chaincode::codes::code_hash;
use couponcactus_chaincode::execute::{Event, checkout_redemption_id};
use couponcactus_chaincode::ids::{MemberId, OrgId, PublicKey, TxId};
use couponcactus_chaincode::loyalty::Segment;
use couponcactus_chaincode::tx::{
    BalanceSpend, CheckoutTx, RedeemTarget, RedeemTx, RollbackTx, TxKind, VoidTx,
};
use couponcactus_chaincode::types::{Currency, Order, OrderLine};
use couponcactus_tests::DevNode;
use couponcactus_tests::node::{CactusRun, cactus_binary, free_port, run_cactus};
use couponcactus_tests::python::{self, stdout};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

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

/// A loyalty member (64 hex digits).
const ALICE: &str = "a11ce00000000000000000000000000000000000000000000000000000000001";
/// The org of `cactusd --dev`, whose program the example sets.
const DEV_ORG: &str = "dev";

/// `cactus ARGS` against `node`, from `work`, waiting at most 90 s.
fn cactus(node: &DevNode, work: &Path, args: &[&str]) -> CactusRun {
    let mut command = Command::new(cactus_binary());
    command
        .args(args)
        .current_dir(work)
        .env("CACTUS_NODE", node.url())
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_GENESIS")
        .env_remove("CACTUS_MEMBER_SECRET")
        .env("NO_COLOR", "1");
    run_cactus(command, Duration::from_secs(90))
}

/// The output's lines with their runs of spaces squeezed to one (the receipt's columns).
fn squeezed(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn python_terminal_checks_out_with_a_coupon_a_gift_pay_and_points_and_voids_it() {
    require_python_and_pynacl();
    let node = DevNode::start();
    let work = tempfile::tempdir().expect("a temp dir");
    let key = |name: &str| {
        let path = node.dir().join("keys").join(format!("{name}.key"));
        path.to_str().expect("a UTF-8 temp path").to_string()
    };
    let (admin, issuer, terminal) = (key("org-admin"), key("issuer"), key("terminal"));
    let url = node.url();
    let program = python::repo().join("examples/loyalty/program.toml");
    let program = program.to_str().expect("a UTF-8 path");
    // The example program (a point per euro, none on tobacco; gift in EUR), set by the org
    // admin, and a 30.00 EUR gift card for Alice.
    let set = cactus(
        &node,
        work.path(),
        &[
            "--json", "program", "set", "--key", &admin, "--file", program,
        ],
    )
    .ok()
    .json();
    assert_eq!(set["spec"]["name"], "Dev Rewards", "{set}");
    cactus(
        &node,
        work.path(),
        &[
            "--json",
            "points",
            "load",
            "--key",
            &issuer,
            "--member",
            ALICE,
            "--segment",
            "gift",
            "--amount",
            "30.00",
            "--reference",
            "card-1",
        ],
    )
    .ok();
    let balance = || {
        let v = cactus(
            &node,
            work.path(),
            &["--json", "balance", "--key", &terminal, "--member", ALICE],
        )
        .ok()
        .json();
        assert!(v["verified"]["certified_height"].is_u64(), "{v}");
        v["balance"]["balances"].clone()
    };
    assert_eq!(balance(), serde_json::json!({"gift": 3000}));
    let pool = node.create_active_pool("py-checkout", 3); // 10 % off, EUR
    let checkout = |order_ref: &str, total: &str, code: &str, extra: &[&str]| {
        let mut args = vec![
            "checkout",
            "--node",
            &url,
            "--key",
            &terminal,
            "--program",
            DEV_ORG,
            "--member",
            ALICE,
            "--order-ref",
            order_ref,
            "--total-minor",
            total,
            "--currency",
            "EUR",
            "--code",
            code,
        ];
        args.extend_from_slice(extra);
        pos(&args)
    };
    let code = pool.codes[0].as_str();
    let typed = typed_with_look_alikes(code);

    // A typed code that does not fit its format is refused before anything is sent.
    let height = node.status().height;
    let out = checkout("PY-1", "10000", &typed, &["--check-char"]);
    assert_eq!(out.status.code(), Some(EXIT_FAILED), "malformed code");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed") && err.contains("nothing was sent"),
        "{err}"
    );
    assert_eq!(node.status().height, height, "nothing was sent");

    // 100.00 EUR (10.00 of tobacco): the coupon takes 10 % (10.00), the gift pays 20.00,
    // 70.00 is left to pay; points on it less the tobacco: 60.
    let pay = [
        "--line",
        "food:9000",
        "--line",
        "tobacco:1000",
        "--pattern",
        "####-####-####",
        "--pay-segment",
        "gift",
        "--pay",
        "2000",
    ];
    // A dry run (POST /v1/validate) shows the receipt it would print and writes nothing.
    let out = checkout(
        "PY-1",
        "10000",
        &typed,
        &[&pay[..], &["--dry-run"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "dry run");
    assert!(stdout(&out).starts_with("valid: "), "dry run output");
    assert!(
        squeezed(&out).iter().any(|l| l == "left to pay 70.00 EUR"),
        "dry run receipt"
    );
    assert_eq!(node.status().height, height, "a dry run commits nothing");
    let out = checkout("PY-1", "10000", &typed, &pay);
    assert_eq!(out.status.code(), Some(0), "checkout");
    let receipt = squeezed(&out);
    let id = applied_tx_id(&out);
    let void_hint = format!("checkout {id}; undo it all with `pos.py void {id}`");
    for line in [
        "order total 100.00 EUR",
        "coupon py-checkout/0 -10.00 EUR",
        "paid from gift -20.00 EUR",
        "left to pay 70.00 EUR",
        "points earned 60",
        void_hint.as_str(),
    ] {
        assert!(
            receipt.iter().any(|l| l == line),
            "expected {line:?} in the receipt: {receipt:#?}"
        );
    }
    // What the node decoded is exactly the intended checkout, and it applied so.
    let detail = node.client().tx_detail(&node.keys().auditor, &id);
    let tx = detail.tx.expect("the tx detail carries the signed tx");
    assert_eq!(tx.id(), id, "the node's tx id is the one pos.py computed");
    let member: MemberId = ALICE.parse().expect("a member id");
    let org: OrgId = DEV_ORG.parse().expect("an org id");
    assert_eq!(
        tx.body.kind,
        TxKind::Checkout(CheckoutTx {
            program: org.clone(),
            member,
            order_ref: "PY-1".into(),
            order: Order {
                currency: Currency(*b"EUR"),
                total_minor: 10_000,
                lines: vec![
                    OrderLine {
                        category: "food".parse().expect("slug"),
                        amount_minor: 9_000,
                    },
                    OrderLine {
                        category: "tobacco".parse().expect("slug"),
                        amount_minor: 1_000,
                    },
                ],
            },
            coupons: vec![RedeemTarget::Code(code_hash(code))],
            pay: Some(BalanceSpend {
                segments: vec![Segment::Gift],
                amount: 2_000,
            }),
            earn: true,
        })
    );
    let events = detail.view.events();
    assert!(
        matches!(
            events.first(),
            Some(Event::Redeemed { redemption, discount_minor: 1_000, token: Some(t), .. })
                if *redemption == checkout_redemption_id(id, 0) && *t == pool.token(0)
        ),
        "{events:#?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::CheckedOut {
            checkout: id,
            program: org,
            member,
            currency: Currency(*b"EUR"),
            total_minor: 10_000,
            discount_minor: 1_000,
            balance_minor: 2_000,
            net_minor: 7_000,
            points: 60,
        })
    );
    assert_eq!(balance(), serde_json::json!({"gift": 1000, "mileage": 60}));

    // Paying more than the coupon leaves (50.00 - 5.00 < 50.00): the chain rejects the whole
    // checkout (exit 3, `overpaid`), the coupon stays unredeemed and nothing moves.
    let out = checkout(
        "PY-2",
        "5000",
        &pool.codes[1],
        &["--pay-segment", "gift", "--pay", "5000"],
    );
    assert_eq!(out.status.code(), Some(EXIT_REJECTED), "overpaid");
    assert!(
        stdout(&out).starts_with("rejected: overpaid: "),
        "overpaid output"
    );
    // The same coupon twice is refused before sending.
    let out = checkout("PY-2", "5000", &pool.codes[1], &["--code", &pool.codes[1]]);
    assert_eq!(out.status.code(), Some(EXIT_FAILED), "a coupon twice");
    assert_eq!(balance(), serde_json::json!({"gift": 1000, "mileage": 60}));

    // The void undoes it all: the gift refunded, the points taken back, the coupon usable.
    let id_hex = id.to_string();
    let void = |extra: &[&str]| {
        let mut args = vec!["void", "--node", &url, "--key", &terminal, &id_hex];
        args.extend_from_slice(extra);
        pos(&args)
    };
    let out = void(&[]);
    assert_eq!(out.status.code(), Some(0), "void");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("checkout {id} voided")) && text.contains("rolled back redemption"),
        "void output: {text}"
    );
    let voided = node
        .client()
        .tx_detail(&node.keys().auditor, &applied_tx_id(&out));
    assert_eq!(
        voided.tx.expect("the signed void").body.kind,
        TxKind::Void(VoidTx { tx: id })
    );
    assert!(
        matches!(voided.view.events().last(), Some(Event::CheckoutVoided { checkout, .. }) if *checkout == id)
    );
    assert_eq!(balance(), serde_json::json!({"gift": 3000}));
    let out = void(&[]);
    assert_eq!(out.status.code(), Some(EXIT_REJECTED), "a second void");
    assert!(
        stdout(&out).starts_with("rejected: already_voided: "),
        "second void output"
    );
    // The coupon checks out again, in a new order, earning nothing with --no-earn.
    let out = checkout("PY-3", "1000", code, &["--no-earn"]);
    assert_eq!(out.status.code(), Some(0), "the coupon after the void");
    let receipt = squeezed(&out);
    assert!(
        receipt.iter().any(|l| l == "left to pay 9.00 EUR"),
        "{receipt:#?}"
    );
    assert!(
        !receipt.iter().any(|l| l.starts_with("points earned")),
        "{receipt:#?}"
    );
}
