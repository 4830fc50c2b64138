//! A one-node chain on a temporary directory for the node's in-process tests (the
//! console's pages, the fraud scorer): start it, submit txs and wait for them, read its
//! state, open a console of an org on it.

use crate::console::{Console, ConsoleConfig, WriteKeys};
use crate::node::{NodeHandle, NodeOptions, SubmitOutcome, start};
use crate::storage::Store;
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::testkit::{self, key};
use couponcactus_chaincode::tx::TxKind;
use couponcactus_client::tx_builder::TxBuilder;
use ed25519_dalek::SigningKey;
use std::sync::Arc;

/// acme's genesis admin: the key consoles sign with by default.
pub const CONSOLE_KEY: u8 = 1;

/// A one-node chain on a temporary directory.
pub struct Chain {
    pub node: NodeHandle,
    pub builder: TxBuilder,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    pub dir: tempfile::TempDir,
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.node.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Chain {
    /// Starts the chain of the testkit genesis.
    pub fn start() -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("chain")).unwrap();
        let genesis = testkit::genesis();
        let hash = couponcactus_genesis::Genesis::new(genesis.clone())
            .unwrap()
            .hash();
        let (node, thread) = start(
            store,
            &genesis,
            hash,
            key(200),
            NodeOptions::default(),
            None,
        )
        .unwrap();
        Chain {
            node,
            builder: TxBuilder::new(genesis.chain_id),
            thread: Some(thread),
            dir,
        }
    }

    /// Submits `kind` signed by `signer`, waits, expects it applied: its id.
    pub async fn applied(&self, signer: &SigningKey, kind: TxKind) -> TxId {
        let tx = self.builder.sign(signer, kind);
        let id = tx.id();
        match self.node.submit(tx, true).await.unwrap() {
            SubmitOutcome::Committed(done) => {
                assert!(
                    matches!(done.result.outcome, TxOutcome::Applied { .. }),
                    "{:?}",
                    done.result.outcome
                );
            }
            other => panic!("not committed: {other:?}"),
        }
        id
    }

    /// The state at `key`.
    pub fn get(&self, key: StateKey) -> Option<StateValue> {
        self.node.store().get(&key).unwrap()
    }

    /// A console of `org` on this node, signing with `key(CONSOLE_KEY)`, its store in
    /// `sub` of the chain's directory.
    pub fn console(&self, org: &str, sub: &str) -> Arc<Console> {
        self.console_signing(org, sub, CONSOLE_KEY)
    }

    /// A console of `org` on this node, signing with `key(seed)`, its store in `sub`.
    pub fn console_signing(&self, org: &str, sub: &str, seed: u8) -> Arc<Console> {
        let dir = self.dir.path().join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        Console::open(
            &dir,
            self.node.clone(),
            testkit::org(org),
            None,
            ConsoleConfig::default(),
            WriteKeys {
                signer: Some(key(seed)),
                data_key: None,
            },
        )
        .unwrap()
    }
}
