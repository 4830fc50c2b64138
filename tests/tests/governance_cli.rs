//! `cactus governance` end to end, only through the `cactus` binary against a real
//! three-org consortium ([`Cluster`]): org 1's admin proposes admitting a fourth node, org
//! 2's admin approves and the change takes effect; node 4 becomes a voter and the chain
//! converges; then the node is removed the same way and the voters are [1, 2, 3] again.
//! Along the way: `show` and `list` read proposals from the certified history log, a
//! parameter change starts from the current (changed) params, and the error paths exit
//! with code 3 as the chain rejects them: an org approving twice (`already_approved`),
//! approving a proposal that took effect (`invalid_transition`), and a terminal key
//! proposing (`not_authorized`). And a consortium auditor comes only by a quorum: an
//! admin alone is told how, a proposal reads nothing until approved.
//!
//! Needs both binaries built: `cargo build -p couponcactus-node --bin cactusd -p
//! couponcactus-client --bin cactus`.

use couponcactus_tests::cluster::Cluster;
use couponcactus_tests::cluster_cli::ClusterCli as Cli;
use couponcactus_tests::node::{CactusRun as Run, EXIT_REJECTED};
use ed25519_dalek::SigningKey;
use std::path::Path;

/// A `cactus` run the chain refused.
trait Rejected {
    /// Asserts the chain rejected the tx with `code` (exit code 3).
    fn rejected(self, code: &str) -> Self;
}

impl Rejected for Run {
    #[track_caller]
    fn rejected(self, code: &str) -> Run {
        assert_eq!(self.code, EXIT_REJECTED, "expected a rejection: {self:#?}");
        assert!(
            self.stderr.contains("REJECTED") && self.stderr.contains(code),
            "expected rejection {code}: {self:#?}"
        );
        self
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

#[test]
fn org_admins_add_and_remove_a_node_with_the_cli() {
    let mut cluster = Cluster::start(3);
    let four = cluster.add_node();
    assert_eq!(four, 4);
    let cli = Cli::for_cluster(&cluster);
    let acme = cli.key_file("acme-admin.key", &cluster.org(1).admin);
    let globex = cli.key_file("globex-admin.key", &cluster.org(2).admin);
    let initech = cli.key_file("initech-admin.key", &cluster.org(3).admin);
    let terminal = cli.key_file("acme-terminal.key", &cluster.org(1).terminal);
    let node4 = cluster.node(four);
    let node4_org = cluster.org(node4.org()).id.to_string();
    let node4_key = node4.dir().join("node.key");
    let node4_addr = node4.p2p_addr();

    // Org 1's admin proposes node 4 as a voter: one of the two approvals needed.
    let proposed = cli
        .run(&[
            "--json",
            "governance",
            "propose",
            "add-node",
            "--key",
            &acme,
            "--id",
            "4",
            "--org",
            &node4_org,
            "--node-key",
            s(&node4_key),
            "--p2p-addr",
            &node4_addr,
        ])
        .ok()
        .json();
    let proposal = proposed["proposal"]
        .as_str()
        .expect("the proposal id")
        .to_string();
    assert_eq!(proposed["approvals"], 1, "{proposed}");
    assert_eq!(proposed["needed"], 2, "{proposed}");
    assert_eq!(proposed["orgs"], 3, "{proposed}");
    assert_eq!(proposed["proposer_org"], "acme", "{proposed}");
    assert!(proposed["executed_at"].is_null(), "{proposed}");
    assert_eq!(proposed["change"]["change"], "add_node", "{proposed}");
    assert_eq!(proposed["change"]["node"]["node_id"], 4, "{proposed}");
    assert_eq!(proposed["change"]["node"]["voter"], true, "{proposed}");
    assert!(
        proposed["next"]
            .as_str()
            .unwrap()
            .contains(&format!("cactus governance approve {proposal}")),
        "{proposed}"
    );

    // Anyone with the genesis file sees it open, with acme's approval.
    let shown = cli
        .run(&["--json", "governance", "show", &proposal])
        .ok()
        .json();
    assert_eq!(shown["proposal"]["state"], "open", "{shown}");
    assert_eq!(shown["proposal"]["approvals"][0]["org"], "acme", "{shown}");
    assert_eq!(shown["proposal"]["needed"], 2, "{shown}");
    assert!(
        shown["proposal"]["expires_at_ms"].as_u64().is_some(),
        "{shown}"
    );
    let human = cli.run(&["governance", "show", &proposal]).ok();
    assert!(
        human.stdout.contains("open: needs 1 more approval"),
        "{human:#?}"
    );
    assert!(human.stdout.contains("certified by nodes"), "{human:#?}");
    let open = cli
        .run(&["--json", "governance", "list", "--open"])
        .ok()
        .json();
    assert_eq!(open["proposals"].as_array().unwrap().len(), 1, "{open}");
    assert_eq!(
        open["proposals"][0]["proposal"],
        proposal.as_str(),
        "{open}"
    );

    // The same org approving again is rejected by the chain: exit 3.
    let twice = cli
        .run(&["governance", "approve", &proposal, "--key", &acme])
        .rejected("already_approved");
    assert!(twice.stderr.contains("hint:"), "{twice:#?}");

    // Org 2's admin approves: the change takes effect in that block.
    let approved = cli
        .run(&["governance", "approve", &proposal, "--key", &globex])
        .ok();
    assert!(
        approved.stdout.contains("executed at block")
            && approved.stdout.contains("node 4 added")
            && approved.stdout.contains("learner"),
        "{approved:#?}"
    );
    node4.set_member(true);
    cluster.wait_for("node 4 a voter on the leader", || {
        let statuses = cluster.member_statuses()?;
        let leader = statuses
            .iter()
            .find(|s| s.role == "leader")
            .ok_or("no leader")?;
        if leader.voters.contains(&four) {
            Ok(())
        } else {
            Err(format!(
                "leader {}: voters {:?} learners {:?}",
                leader.node_id, leader.voters, leader.learners
            ))
        }
    });
    cluster.wait_for_voters(&[1, 2, 3, 4]);
    cluster.assert_converged();

    // Approving a proposal that took effect is rejected; so is a terminal proposing.
    cli.run(&["governance", "approve", &proposal, "--key", &initech])
        .rejected("invalid_transition");
    let terminal_run = cli.run(&[
        "--json",
        "governance",
        "propose",
        "remove-node",
        "--key",
        &terminal,
        "--id",
        "4",
    ]);
    assert_eq!(terminal_run.code, EXIT_REJECTED, "{terminal_run:#?}");
    assert_eq!(
        terminal_run.json()["error"]["code"],
        "not_authorized",
        "{terminal_run:#?}"
    );
    assert!(
        terminal_run.stderr.contains("org-admin key"),
        "{terminal_run:#?}"
    );

    // `show` now reads it as executed, with the block the new four voters certified.
    let shown = cli
        .run(&["--json", "governance", "show", &proposal])
        .ok()
        .json();
    assert_eq!(shown["proposal"]["state"], "executed", "{shown}");
    assert_eq!(
        shown["proposal"]["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["org"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["acme", "globex"],
        "{shown}"
    );

    // Org 2 proposes removing node 4 (human output), org 3 approves.
    let removal = cli
        .run(&[
            "governance",
            "propose",
            "remove-node",
            "--key",
            &globex,
            "--id",
            "4",
        ])
        .ok();
    assert!(
        removal
            .stdout
            .contains("needs 2 of 3 orgs; approvals: globex"),
        "{removal:#?}"
    );
    let removal_id = removal
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("proposal "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the proposal id line")
        .to_string();
    let removed = cli
        .run(&[
            "--json",
            "governance",
            "approve",
            &removal_id,
            "--key",
            &initech,
        ])
        .ok()
        .json();
    assert_eq!(removed["approvals"], 2, "{removed}");
    assert_eq!(removed["approved_by"], "initech", "{removed}");
    assert!(removed["executed_at"].as_u64().is_some(), "{removed}");
    assert_eq!(removed["change"]["change"], "remove_node", "{removed}");
    node4.set_member(false);
    let statuses = cluster.wait_for_voters(&[1, 2, 3]);
    assert!(statuses.iter().all(|s| !s.learners.contains(&four)));
    cluster.assert_converged();

    // Parameters: a change applies, and the next proposal starts from the changed params.
    let batch = cli
        .run(&[
            "--json",
            "governance",
            "propose",
            "params",
            "--key",
            &initech,
            "--max-batch-codes",
            "6000",
        ])
        .ok()
        .json();
    assert_eq!(batch["base"]["params"]["max_batch_codes"], 5000, "{batch}");
    let batch_id = batch["proposal"].as_str().unwrap().to_string();
    cli.run(&["governance", "approve", &batch_id, "--key", &acme])
        .ok();
    let ttl = cli
        .run(&[
            "--json",
            "governance",
            "propose",
            "params",
            "--key",
            &acme,
            "--proposal-ttl-ms",
            "3600000",
        ])
        .ok()
        .json();
    assert_eq!(ttl["base"]["params"]["max_batch_codes"], 6000, "{ttl}");
    assert_eq!(ttl["change"]["params"]["max_batch_codes"], 6000, "{ttl}");
    assert_eq!(
        ttl["change"]["params"]["proposal_ttl_ms"], 3_600_000,
        "{ttl}"
    );
    let all = cli.run(&["--json", "governance", "list"]).ok().json();
    // The harness's three consortium auditors came by governance too (executed first).
    let states: Vec<(&str, &str)> = all["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["change"]["change"].as_str().unwrap(),
                p["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("add_auditor", "executed"),
            ("add_auditor", "executed"),
            ("add_auditor", "executed"),
            ("add_node", "executed"),
            ("remove_node", "executed"),
            ("update_params", "executed"),
            ("update_params", "open"),
        ],
        "{all}"
    );
    assert_eq!(all["params"]["max_batch_codes"], 6000, "{all}");
    let listed = cli.run(&["governance", "list", "--open"]).ok();
    assert!(
        listed
            .stdout
            .contains("proposal_ttl_ms 604800000 → 3600000"),
        "{listed:#?}"
    );
}

#[test]
fn a_consortium_auditor_needs_a_quorum_of_the_orgs() {
    let cluster = Cluster::start(3);
    let cli = Cli::for_cluster(&cluster);
    let acme = cli.key_file("acme-admin.key", &cluster.org(1).admin);
    let globex = cli.key_file("globex-admin.key", &cluster.org(2).admin);
    let auditor = cli.key_file("new-auditor.key", &SigningKey::from_bytes(&[0x7a; 32]));
    // Block 1 holds every org's key registrations (the harness's first batch).
    let block = "1".to_string();

    // An org admin alone may not; the CLI says how instead of sending it.
    let alone = cli.run(&[
        "keys", "register", "--key", &acme, "--public", &auditor, "--role", "auditor",
    ]);
    assert_ne!(alone.code, 0, "{alone:#?}");
    assert!(alone.stderr.contains("propose add-auditor"), "{alone:#?}");

    // Proposed by acme: not in force until globex approves.
    let proposed = cli
        .run(&[
            "--json",
            "governance",
            "propose",
            "add-auditor",
            "--key",
            &acme,
            "--org",
            "acme",
            "--auditor-key",
            &auditor,
        ])
        .ok()
        .json();
    let proposal = proposed["proposal"]
        .as_str()
        .unwrap_or_else(|| panic!("no proposal id: {proposed}"))
        .to_string();
    let before = cli.run(&["block", &block, "--key", &auditor]);
    assert_ne!(
        before.code, 0,
        "an unregistered key reads nothing: {before:#?}"
    );
    cli.run(&["governance", "approve", &proposal, "--key", &globex])
        .ok();

    // In force: it reads every tx of a block; an org admin sees other orgs' txs withheld.
    let full = cli.run(&["block", &block, "--key", &auditor]).ok();
    assert!(!full.stdout.contains("withheld"), "{full:#?}");
    let partial = cli.run(&["block", &block, "--key", &globex]).ok();
    assert!(partial.stdout.contains("withheld"), "{partial:#?}");
}
