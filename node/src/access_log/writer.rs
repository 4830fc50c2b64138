//! The access log's one writer task: takes up to [`WRITE_BATCH`] queued entries at a
//! time, names the org and role of tx signers from the chain's key registry, and stores
//! them in one transaction. On shutdown it stores what is queued and ends.

use super::store::AccessLogStore;
use super::{Entry, WRITE_BATCH};
use couponcactus_chaincode::ids::PublicKey;
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The writer (run it with [`Writer::run`]).
#[derive(Debug)]
pub struct Writer {
    receiver: mpsc::Receiver<Entry>,
    store: Arc<AccessLogStore>,
    chain: Option<crate::storage::Store>,
}

impl Writer {
    pub(super) fn new(
        receiver: mpsc::Receiver<Entry>,
        store: Arc<AccessLogStore>,
        chain: Option<crate::storage::Store>,
    ) -> Writer {
        Writer {
            receiver,
            store,
            chain,
        }
    }

    /// Names tx signers from `chain`'s key registry (for a log opened before the node).
    pub fn with_chain(mut self, chain: crate::storage::Store) -> Writer {
        self.chain = Some(chain);
        self
    }

    /// Stores entries as they come until `shutdown` completes (or every sender is gone),
    /// then stores what is still queued.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        loop {
            let received = tokio::select! {
                n = self.receiver.recv_many(&mut batch, WRITE_BATCH) => n,
                () = &mut shutdown => break,
            };
            if received == 0 {
                return;
            }
            self.write(&mut batch).await;
        }
        self.receiver.close();
        // Bounded: the queue holds at most QUEUE_CAPACITY entries once closed.
        while self.receiver.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            self.write(&mut batch).await;
        }
    }

    async fn write(&self, batch: &mut Vec<Entry>) {
        let mut entries = std::mem::take(batch);
        let (store, chain) = (self.store.clone(), self.chain.clone());
        let written = tokio::task::spawn_blocking(move || {
            if let Some(chain) = &chain {
                name_signers(chain, &mut entries);
            }
            store.insert(&entries)
        })
        .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "access log: storing entries failed"),
            Err(e) => tracing::warn!(error = %e, "access log: the writer's task failed"),
        }
    }
}

/// Fills the org and role of `key` actors that have none (tx signers) from the registry,
/// each key looked up once per batch.
fn name_signers(chain: &crate::storage::Store, entries: &mut [Entry]) {
    let mut known: BTreeMap<String, Option<(String, String)>> = BTreeMap::new();
    for entry in entries
        .iter_mut()
        .filter(|e| e.actor.kind == "key" && e.actor.org.is_none())
    {
        let Some(hex) = entry.actor.key.clone() else {
            continue;
        };
        let named = known.entry(hex).or_insert_with_key(|hex| {
            let key = hex.parse::<PublicKey>().ok()?;
            match chain.get(&StateKey::Key(key)) {
                Ok(Some(StateValue::Key(record))) => {
                    Some((record.org.to_string(), record.role.name().to_string()))
                }
                _ => None,
            }
        });
        if let Some((org, role)) = named {
            entry.actor.org = Some(org.clone());
            entry.actor.role = Some(role.clone());
        }
    }
}
