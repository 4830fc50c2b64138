//! Reads at heights the pruner removed: 410 `not_retained` naming the nearest retained
//! height; the window, the kept checkpoint and genesis still prove.

use super::*;
use crate::storage::{Retained, Retention};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_height_answers_not_retained_with_the_nearest_retained_one() {
    let retention = Retention {
        window: 3,
        checkpoint_every: 4,
        checkpoints_kept: 1,
    };
    let node = NodeOptions {
        retention,
        ..NodeOptions::default()
    };
    let t = TestNode::start_with_node(ApiOptions::default(), node).await;
    for seed in 0..12u8 {
        t.applied(
            &key(ADMIN_ACME),
            TxKind::RegisterKey(RegisterKeyTx {
                key: public(100 + seed),
                role: Role::Issuer,
            }),
        )
        .await;
    }
    let tip = t.height().await;
    assert!(tip >= 12, "one block per tx, got {tip}");
    let floor = tip - retention.window;
    let store = t.node.store();
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.prune_state().unwrap().floor < floor {
        assert!(
            Instant::now() < deadline,
            "the pruner did not reach {floor}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = store.prune_state().unwrap();
    let checkpoint = (floor - 1) / 4 * 4;
    assert_eq!(state.checkpoints, vec![0, checkpoint]);

    for h in [0, checkpoint, floor, tip] {
        let (status, c) = t.get(&format!("/v1/consortium?height={h}")).await;
        assert_eq!(status, 200, "height {h}: {c}");
        let proof: ProvenValue = serde_json::from_value(c["proof"].clone()).unwrap();
        let root: Hash32 = serde_json::from_value(c["state_root"].clone()).unwrap();
        proof.verify(&root).unwrap();
    }
    let pruned: Vec<u64> = (1..floor).filter(|&h| h != checkpoint).collect();
    assert!(!pruned.is_empty());
    for h in pruned {
        let Retained::Pruned { nearest } = state.retained(h) else {
            panic!("{h} is pruned");
        };
        let (status, body) = t.get(&format!("/v1/consortium?height={h}")).await;
        assert_eq!(status, 410, "height {h}: {body}");
        assert_eq!(body["error"]["code"], "not_retained", "{body}");
        assert_eq!(body["error"]["nearest_retained_height"], nearest, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("height {h}")), "{message}");
        // The nearest one proves.
        let (status, c) = t.get(&format!("/v1/consortium?height={nearest}")).await;
        assert_eq!(status, 200, "nearest {nearest} of {h}: {c}");
        // Proven reads of other kinds say the same.
        let path = format!("/v1/keys/{}?height={h}", public(100).to_hex());
        let (status, body) = t.get(&path).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (410, &json!("not_retained"))
        );
    }
}
