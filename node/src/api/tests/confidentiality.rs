//! The confidentiality model on every route that shows txs or key records: what an unsigned
//! reader, another org, a partner, the org itself and a consortium auditor see, and that
//! what is withheld still checks against the certified header.

use super::*;
use couponcactus_chaincode::block::verify_redacted_body;
use couponcactus_chaincode::history::HistoryLog;

/// The block holding the pool's creation (the first tx signed by the issuer).
async fn create_pool_height(t: &TestNode) -> u64 {
    let tip = t.height().await;
    for h in 1..=tip {
        let (_, block) = t
            .signed_get(&key(AUDITOR), &format!("/v1/blocks/{h}"))
            .await;
        let txs: Vec<SignedTx> = from_json(&block["txs"]);
        if txs
            .iter()
            .any(|tx| matches!(tx.body.kind, TxKind::CreatePool(_)))
        {
            return h;
        }
    }
    panic!("no create_pool tx in blocks 1..={tip}");
}

/// Checks a block as `reader` sees it against its header; returns (shown, withheld).
fn check_shown(block: &Value) -> (Vec<SignedTx>, Vec<WithheldTx>) {
    let header: BlockHeader = from_json(&block["header"]);
    let txs: Vec<SignedTx> = from_json(&block["txs"]);
    let results: Vec<couponcactus_chaincode::execute::TxResult> = from_json(&block["results"]);
    let withheld: Vec<WithheldTx> = from_json(&block["withheld"]);
    verify_redacted_body(&header, &txs, &results, &withheld)
        .unwrap_or_else(|e| panic!("{e}: {block}"));
    (txs, withheld)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_show_tx_bodies_only_to_who_may_read_them() {
    let t = TestNode::start().await;
    t.setup().await;
    let h = create_pool_height(&t).await;
    let path = format!("/v1/blocks/{h}");

    // Unsigned, another org's issuer, the partner: header and leaves, no pool spec.
    let (status, anonymous) = t.get(&path).await;
    assert_eq!(status, 200, "{anonymous}");
    for (who, block) in [
        ("unsigned", anonymous),
        ("initech", t.signed_get(&key(OTHER_ISSUER), &path).await.1),
        ("partner", t.signed_get(&key(PARTNER), &path).await.1),
    ] {
        let (shown, withheld) = check_shown(&block);
        assert!(shown.is_empty(), "{who} sees {shown:?}");
        assert_eq!(
            withheld.len() as u64,
            block["header"]["tx_count"].as_u64().unwrap()
        );
        assert!(
            !block.to_string().contains("max_discount"),
            "{who}: {block}"
        );
        assert!(
            block["certificate"].is_object(),
            "{who}: certificates are public"
        );
    }
    // The owner's issuer and the consortium auditor see the pool's creation in full.
    for reader in [ISSUER, AUDITOR] {
        let (_, block) = t.signed_get(&key(reader), &path).await;
        let (shown, withheld) = check_shown(&block);
        assert!(withheld.is_empty(), "{block}");
        assert!(
            shown
                .iter()
                .any(|tx| matches!(tx.body.kind, TxKind::CreatePool(_))),
            "{block}"
        );
    }
    // A badly signed read is refused, not served as anonymous.
    let time = now_ms();
    let (status, body) = t
        .send(
            t.http
                .get(format!("{}{path}", t.url))
                .header(KEY_HEADER, public(ISSUER).to_hex())
                .header(TIME_HEADER, time.to_string())
                .header(SIGNATURE_HEADER, "00".repeat(64)),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_signature"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_the_log_withhold_other_orgs_txs_and_still_hash_to_the_roots() {
    let t = TestNode::start().await;
    t.setup().await;
    let tip = t.height().await;

    // The JSON range, unsigned: every block checks against its header; only governance
    // txs (public) are shown.
    let request = t
        .http
        .get(format!("{}/v1/blocks?from=1&limit={tip}", t.url))
        .header("accept", "application/json");
    let (status, range) = t.send(request).await;
    assert_eq!(status, 200, "{range}");
    let mut governance = 0;
    for block in range["blocks"].as_array().unwrap() {
        let (shown, _) = check_shown(block);
        for tx in &shown {
            assert!(
                matches!(
                    tx.body.kind,
                    TxKind::ProposeGovernance(_) | TxKind::ApproveGovernance(_)
                ),
                "an unsigned reader sees {:?}",
                tx.body.kind
            );
            governance += 1;
        }
    }
    assert_eq!(
        governance, 2,
        "the auditor's proposal and its approval are public"
    );

    // The log, unsigned: withheld entries carry leaf hashes; together the page hashes to
    // the latest header's log root.
    let (status, log) = t.get("/v1/log/entries?from=0").await;
    assert_eq!(status, 200, "{log}");
    let mut leaves: Vec<(u64, Hash32)> = Vec::new();
    for e in log["entries"].as_array().unwrap() {
        let leaf: HistoryLeaf = from_json(&e["leaf"]);
        leaves.push((e["log_index"].as_u64().unwrap(), leaf.hash()));
    }
    for w in log["withheld"].as_array().unwrap() {
        leaves.push((w["log_index"].as_u64().unwrap(), from_json(&w["leaf_hash"])));
    }
    leaves.sort();
    assert!(log["withheld"].as_array().unwrap().len() > 5, "{log}");
    let mut history = HistoryLog::default();
    for (i, (index, hash)) in leaves.iter().enumerate() {
        assert_eq!(*index, i as u64);
        history.append(*hash, &mut Vec::new());
    }
    let (_, latest) = t.get("/v1/blocks/latest").await;
    let header: BlockHeader = from_json(&latest["header"]);
    assert_eq!(
        (history.size, history.root()),
        (header.log_size, header.log_root)
    );
    assert!(
        !log.to_string().contains("claim"),
        "no allocation leaks: {log}"
    );

    // The auditor sees every entry.
    let (_, full) = t.signed_get(&key(AUDITOR), "/v1/log/entries?from=0").await;
    assert_eq!(full["withheld"].as_array().map(Vec::len), Some(0), "{full}");
    assert_eq!(
        full["entries"].as_array().unwrap().len() as u64,
        header.log_size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_reads_and_prefixes_follow_the_same_model() {
    let t = TestNode::start().await;
    let pool = t.setup().await;
    // A redemption by the terminal: the terminal, the owner's issuer and the auditor read
    // it; the partner and another org do not, and a prefix does not find it for them.
    let tx = t.tx(&key(TERMINAL), redeem(&pool, 0, 1));
    assert_eq!(t.submit(&tx).await.0, 200);
    let path = format!("/v1/txs/{}", tx.id());
    for reader in [TERMINAL, ISSUER, AUDITOR] {
        let (status, body) = t.signed_get(&key(reader), &path).await;
        assert_eq!(status, 200, "{reader}: {body}");
    }
    for reader in [PARTNER, OTHER_ISSUER] {
        let (status, body) = t.signed_get(&key(reader), &path).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("not_authorized"))
        );
    }
    let prefix = format!("/v1/txs/prefix/{}", &tx.id().to_hex()[..12]);
    assert_eq!(
        t.get(&prefix).await.0,
        404,
        "unsigned readers find no coupon tx"
    );
    assert_eq!(t.signed_get(&key(OTHER_ISSUER), &prefix).await.0, 404);
    assert_eq!(t.signed_get(&key(ISSUER), &prefix).await.0, 200);

    // Key records: a terminal's (its store) only to its org and auditors; admins' are public.
    let terminal = format!("/v1/keys/{}", public(TERMINAL).to_hex());
    assert_eq!(t.get(&terminal).await.0, 403);
    assert_eq!(t.signed_get(&key(OTHER_ISSUER), &terminal).await.0, 403);
    assert_eq!(t.signed_get(&key(ISSUER), &terminal).await.0, 200);
    assert_eq!(t.signed_get(&key(AUDITOR), &terminal).await.0, 200);
    let admin = format!("/v1/keys/{}", public(ADMIN_GLOBEX).to_hex());
    assert_eq!(t.get(&admin).await.0, 200);
    let terminal_prefix = format!("/v1/keys/prefix/{}", &public(TERMINAL).to_hex()[..10]);
    assert_eq!(t.get(&terminal_prefix).await.0, 404);
    assert_eq!(t.signed_get(&key(ISSUER), &terminal_prefix).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partners_terminal_reads_the_rules_and_a_node_key_reads_everything() {
    let t = TestNode::start().await;
    t.setup().await;
    // globex's terminal (globex is a partner of spring) reads the pool before charging.
    let globex_pos = 21;
    t.applied(
        &key(ADMIN_GLOBEX),
        TxKind::RegisterKey(RegisterKeyTx {
            key: public(globex_pos),
            role: Role::Terminal {
                store: StoreId::new("hamburg-1").unwrap(),
                channel: Channel::new("pos").unwrap(),
            },
        }),
    )
    .await;
    let (status, body) = t.signed_get(&key(globex_pos), "/v1/pools/spring").await;
    assert_eq!(status, 200, "{body}");
    // initech's issuer (not a partner) may not.
    assert_eq!(
        t.signed_get(&key(OTHER_ISSUER), "/v1/pools/spring").await.0,
        403
    );
    // The node's own key (key 200 in this harness) reads every tx of a block.
    let h = create_pool_height(&t).await;
    let (_, block) = t.signed_get(&key(200), &format!("/v1/blocks/{h}")).await;
    assert_eq!(
        block["withheld"].as_array().map(Vec::len),
        Some(0),
        "{block}"
    );
    // An org admin alone cannot grant a consortium-wide read right.
    let (status, body) = t
        .submit(&t.tx(
            &key(ADMIN_ACME),
            TxKind::RegisterKey(RegisterKeyTx {
                key: public(77),
                role: Role::Auditor,
            }),
        ))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("not_authorized"))
    );
}
