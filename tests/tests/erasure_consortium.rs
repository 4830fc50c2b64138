//! Erasure across a consortium (issue 21), through the `cactus` binary against a real
//! three-org [`Cluster`]: org 1 (acme) adds a member with a distinctive email, phone and
//! name (and a recipient id and customer reference) to the directory of its node, allocates the member a coupon and records the
//! member's consent, so the member id is on every node's ledger; `cactus member erase`
//! then erases it on node 1 and records the receipt. Afterwards no file under any node's
//! folder (its RocksDB database, the directory's, analytics' and the other SQLite stores
//! with their WAL files, the node's log) holds the email, the phone number or the name,
//! while running and after stopping, and `cactus audit verify` still passes on every node.
//!
//! The scan can fail: the personal data never reaches the disk in clear (the directory
//! seals it), so before the erasure a canary file with the email in node 1's data
//! directory must be found by the very scan that later finds nothing.
//!
//! Needs both binaries built (scripts/test.sh builds every binary).

use couponcactus_tests::cluster::Cluster;
use couponcactus_tests::cluster_cli::ClusterCli;
use couponcactus_tests::scan;
use couponcactus_tests::scan::person::{self, DISTINCTIVE, EMAIL, NAME};
use couponcactus_tests::tamper::audit;
use std::path::Path;

/// What the scan finds in the folder of every node (`node<i>`: database, stores, log).
fn leaks(cluster: &Cluster) -> Vec<(String, &'static str)> {
    cluster
        .nodes()
        .flat_map(|n| scan::leaks(n.dir(), DISTINCTIVE))
        .collect()
}

/// `cactus audit verify` passes against every node, signed with that node's key (a full
/// audit re-executes every tx, which only a consortium node or auditor may read).
fn verified(cluster: &Cluster, genesis: &Path) {
    for node in cluster.nodes() {
        let key = node.dir().join("node.key").display().to_string();
        let run = audit(&node.url(), genesis, &["--key", &key]);
        assert_eq!(run.code, Some(0), "node {}: {run:#?}", node.id());
        assert!(
            run.stdout.starts_with("VERIFIED"),
            "node {}: {run:#?}",
            node.id()
        );
    }
}

#[test]
fn an_erased_member_leaves_no_personal_data_on_any_node_and_every_node_verifies() {
    let cluster = Cluster::builder().nodes(3).start();
    let cli = ClusterCli::for_cluster(&cluster);
    let genesis = cli.genesis.clone();
    let admin = cli.key_file("acme-admin.key", &cluster.org(1).admin);
    let issuer = cli.key_file("acme-issuer.key", &cluster.org(1).issuer);
    let pool = cluster.create_active_pool(1, "spring", 3);

    // Node 1's directory: the member, sealed.
    let added = cli.json(&person::member_add(&admin));
    let member = added["member"].as_str().expect("a member id").to_string();
    assert_eq!(added["record"]["name"], NAME, "{added}");
    // Ledger activity naming the member, which every node applies.
    let allocated = cli.json(&[
        "allocate",
        "--key",
        &issuer,
        "--pool",
        &pool.id.to_string(),
        "--member",
        &member,
    ]);
    assert_eq!(allocated["tx"]["status"], "applied", "{allocated}");
    let hash = blake3::hash(b"ACME may e-mail me offers.\n").to_hex();
    cli.json(&[
        "consent",
        "grant",
        "--key",
        &issuer,
        "--member",
        &member,
        "--purpose",
        "marketing",
        "--text-hash",
        hash.as_str(),
    ]);
    let tip = cluster.assert_converged();
    for node in cluster.nodes() {
        let on_node = cli.on(node.url());
        let consent = on_node.json(&["consent", "show", "--key", &issuer, "--member", &member]);
        assert_eq!(
            consent["consents"][0]["record"]["granted"],
            true,
            "node {} at height {}: {consent}",
            node.id(),
            tip.height
        );
    }

    // The scan works: nothing in clear before the erasure either, and a canary with the
    // email in node 1's data directory is found there.
    assert_eq!(leaks(&cluster), Vec::<(String, &str)>::new());
    let canary = cluster.node(1).dir().join("db").join("canary.txt");
    std::fs::write(&canary, format!("contact: {EMAIL}\n")).expect("writing the canary");
    let found = leaks(&cluster);
    assert!(
        !found.is_empty()
            && found
                .iter()
                .all(|(f, _)| f == &canary.display().to_string()),
        "{found:?}"
    );
    std::fs::remove_file(&canary).expect("removing the canary");

    // Erase on node 1: directory record and key gone, receipt on the ledger.
    let erased = cli.json(&[
        "member", "erase", "--key", &admin, "--member", &member, "--yes",
    ]);
    assert_eq!(erased["erased"]["member"], member.as_str(), "{erased}");
    assert!(
        erased["receipt"].to_string().contains("recorded"),
        "{erased}"
    );
    cluster.assert_converged();
    verified(&cluster, &genesis);
    let found = leaks(&cluster);
    assert!(
        found.is_empty(),
        "personal data after the erasure: {found:?}"
    );

    // Stopped (everything flushed): still nothing, on any node.
    for node in cluster.nodes() {
        node.stop();
    }
    let found = leaks(&cluster);
    assert!(
        found.is_empty(),
        "personal data after the erasure: {found:?}"
    );
}
