//! What an auditor does with a node's data: fetch every block (as a consortium auditor), check the hash
//! chain, and replay it offline from genesis with the chaincode.

use crate::node::DevNode;
use crate::views::{BlockView, Status};
use couponcactus_chaincode::ledger::{Block, Ledger};

/// The outcome of a full replay.
#[derive(Debug)]
pub struct Replayed {
    /// The node's status the replay was checked against.
    pub status: Status,
    /// Every block, from height 1.
    pub blocks: Vec<BlockView>,
    /// The auditor's ledger after the last block.
    pub ledger: Ledger,
}

/// Fetches blocks 1..=height (the node must be quiet), checks that each block's hash is
/// its header's and links to the previous one (the first to the genesis hash), replays
/// them with [`Ledger::replay`] (which recomputes and compares every header field), checks
/// each block's results are the replay's, and that the replayed tip is the node's status:
/// height, block hash, state root and log size.
pub fn replay_from_genesis(node: &DevNode) -> Replayed {
    let status = node.status();
    let genesis = node.genesis();
    assert_eq!(status.genesis_hash, genesis.hash(), "genesis hash");
    assert_eq!(status.chain_id, genesis.initial.chain_id, "chain id");
    // Signed by the dev chain's consortium auditor: a replay needs every tx.
    let blocks = node.client().blocks_as(&node.keys().auditor, status.height);
    let mut ledger =
        Ledger::from_genesis(&genesis.initial, genesis.hash()).expect("the dev genesis replays");
    let mut prev = genesis.hash();
    for b in &blocks {
        assert_eq!(b.hash, b.header.hash(), "block {}: hash", b.height);
        assert_eq!(b.header.height, b.height, "block {}: height", b.height);
        assert_eq!(b.header.prev_hash, prev, "block {}: prev_hash", b.height);
        let block = Block {
            header: b.header.clone(),
            txs: b.txs.clone(),
        };
        let results = ledger
            .replay(&block)
            .unwrap_or_else(|e| panic!("offline replay of block {} failed: {e}", b.height));
        assert_eq!(results, b.results, "block {}: results", b.height);
        assert_eq!(ledger.tip.block_hash, b.hash, "block {}: tip", b.height);
        prev = b.hash;
    }
    assert_eq!(ledger.tip.height, status.height, "replayed height");
    assert_eq!(
        ledger.tip.block_hash, status.block_hash,
        "replayed block hash"
    );
    assert_eq!(
        ledger.tip.state_root, status.state_root,
        "replayed state root"
    );
    assert_eq!(ledger.tip.log.size, status.log_size, "replayed log size");
    Replayed {
        status,
        blocks,
        ledger,
    }
}
