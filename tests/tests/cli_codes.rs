//! `cactus` with codes people type and several nodes, through the binary, against a real
//! `cactusd --dev` node: `--node DEAD,LIVE` (comma-separated, repeated, or in CACTUS_NODE)
//! fails over to the live node, every node dead names them all (exit 1); `codes generate
//! --check-char` issues codes with a check character through the failover; `codes check`
//! corrects look-alikes and refuses a wrong check character or an adjacent swap (exit 1,
//! `malformed_code`); `codes qr` writes PNG and SVG files (mode 0600, never overwritten),
//! one or a whole CSV.
//!
//! Needs both binaries built (`cargo build --workspace --all-targets --profile test`).

use couponcactus_tests::DevNode;
use couponcactus_tests::node::{CactusRun, cactus_binary, free_port, run_cactus};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

fn cactus(args: &[&str]) -> CactusRun {
    cactus_env(args, None)
}

fn cactus_env(args: &[&str], node_env: Option<&str>) -> CactusRun {
    let mut command = Command::new(cactus_binary());
    command
        .args(args)
        .env_remove("CACTUS_KEY")
        .env_remove("CACTUS_GENESIS");
    match node_env {
        Some(nodes) => command.env("CACTUS_NODE", nodes),
        None => command.env_remove("CACTUS_NODE"),
    };
    run_cactus(command, TIMEOUT)
}

fn dead_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[test]
fn several_nodes_fail_over_and_all_dead_names_them() {
    let node = DevNode::start();
    let live = node.url();
    let (dead, other) = (dead_url(), dead_url());
    let height = |run: CactusRun| run.ok().json()["height"].as_u64();
    let both = format!("{dead},{live}");
    assert!(height(cactus(&["--json", "--node", &both, "status"])).is_some());
    assert!(
        height(cactus(&[
            "--json", "--node", &dead, "--node", &live, "status"
        ]))
        .is_some()
    );
    assert!(height(cactus_env(&["--json", "status"], Some(&both))).is_some());

    let run = cactus(&["--json", "--node", &format!("{dead},{other}"), "status"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.json()["error"]["code"], "unreachable");
    assert!(
        run.stderr
            .contains(&format!("cannot reach any of the nodes {dead}, {other}")),
        "both nodes named: {run:#?}"
    );
    let run = cactus(&["--node", "", "status"]);
    assert_eq!(run.code, 1, "{run:#?}");
}

#[test]
fn codes_with_a_check_character_are_issued_checked_and_rendered() {
    let node = DevNode::start();
    let pool = node.create_draft_pool("cli-typed", 0);
    let keys = node.dir().join("keys");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("codes.csv");
    let nodes = format!("{},{}", dead_url(), node.url());
    let s = |p: &Path| p.to_str().unwrap().to_string();
    cactus(&[
        "--node",
        &nodes,
        "codes",
        "generate",
        "--key",
        &s(&keys.join("issuer.key")),
        "--data-key",
        &s(&keys.join("data.key")),
        "--pool",
        pool.id.as_str(),
        "--count",
        "3",
        "--check-char",
        "--out",
        &s(&csv),
    ])
    .ok();
    let text = std::fs::read_to_string(&csv).unwrap();
    let codes: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 3, "{text}");
    for code in &codes {
        // #### #### #### and the check character.
        assert_eq!(code.len(), 15, "{code}");
        let run = cactus(&["--json", "codes", "check", code, "--check-char"]).ok();
        assert_eq!(run.json()["code"], code.replace('-', ""));
        assert_eq!(run.json()["corrected"], false);
        // Without the check character the format does not fit.
        let run = cactus(&["--json", "codes", "check", &code[..14]]).ok();
        assert_eq!(run.json()["code"], code[..14].replace('-', ""));
        let run = cactus(&["--json", "codes", "check", code]);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], "malformed_code");
    }

    // One wrong character, and two adjacent ones swapped: caught before any request.
    let code = &codes[0];
    let mut chars: Vec<char> = code.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let wrong: String = chars.iter().collect();
    let mut swapped: Vec<char> = code.chars().collect();
    let i = (0..swapped.len() - 1)
        .find(|&i| {
            let (a, b) = (swapped[i], swapped[i + 1]);
            a != b && a != '-' && b != '-' && !matches!((a, b), ('0', 'Z') | ('Z', '0'))
        })
        .expect("two different adjacent characters");
    swapped.swap(i, i + 1);
    let swapped: String = swapped.iter().collect();
    for typo in [&wrong, &swapped] {
        let run = cactus(&["--json", "codes", "check", typo, "--check-char"]);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.json()["error"]["code"], "malformed_code");
        assert!(run.stderr.contains("check character"), "{run:#?}");
    }
    // Look-alikes are corrected, and the hash is the printed code's.
    let run = cactus(&["--json", "codes", "check", "abcd-efgh-jkmo"]).ok();
    assert_eq!(run.json()["code"], "ABCDEFGHJKM0");
    assert_eq!(run.json()["corrected"], true);

    // QR codes: PNG and SVG, mode 0600, never overwritten; a whole CSV into a directory.
    let png = dir.path().join("c.png");
    let svg = dir.path().join("c.svg");
    cactus(&["codes", "qr", code, "--check-char", "--out", &s(&png)]).ok();
    cactus(&["codes", "qr", code, "--out", &s(&svg)]).ok();
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&png).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = cactus(&["codes", "qr", code, "--out", &s(&png)]);
    assert_eq!(again.code, 1, "{again:#?}");
    let jpg = cactus(&["codes", "qr", code, "--out", &s(&dir.path().join("c.jpg"))]);
    assert_eq!(jpg.code, 1, "{jpg:#?}");
    let typo = cactus(&[
        "codes",
        "qr",
        &wrong,
        "--check-char",
        "--out",
        &s(&dir.path().join("t.png")),
    ]);
    assert_eq!(typo.code, 1, "{typo:#?}");
    assert!(!dir.path().join("t.png").exists());
    let out_dir = dir.path().join("qr");
    cactus(&[
        "codes",
        "qr",
        "--from-csv",
        &s(&csv),
        "--out-dir",
        &s(&out_dir),
        "--format",
        "svg",
        "--check-char",
    ])
    .ok();
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["code-0.svg", "code-1.svg", "code-2.svg"]);
}
