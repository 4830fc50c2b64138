//! # couponcactus-node
//!
//! The node a merchant runs (`cactusd`): durable storage on RocksDB, a Raft log (raft-rs),
//! the mempool and block builder, and the HTTP API. Txs are admitted by the mempool,
//! ordered by Raft as blocks, applied through the chaincode's pure
//! [`couponcactus_chaincode::ledger::apply_block`], and persisted in one atomic batch per
//! block before anyone is told they are committed.

pub mod access_log;
pub mod analytics;
pub mod api;
pub mod applier;
pub mod certify;
pub mod config;
pub mod console;
pub mod dial;
pub mod directory;
pub mod events;
pub mod forward;
pub mod intelligence;
pub mod membership;
pub mod memory;
pub mod mempool;
pub mod network;
pub mod node;
pub mod proposer;
mod pruner;
pub mod raft_log;
pub mod replica;
pub mod reports;
pub mod retention;
pub mod risk;
pub mod sim;
pub mod state_sync;
pub mod storage;
#[cfg(test)]
pub(crate) mod testchain;
pub mod timing;
pub mod wallet;
pub mod webhooks;
pub mod worker;
