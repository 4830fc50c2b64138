//! # couponcactus-client
//!
//! The Rust client of Couponcactus. The typed HTTP client, signed reads, local proof
//! verification and the `cactus` CLI arrive with the client issue; there is deliberately
//! no `cactus` binary yet rather than one that does nothing. Until then, build and sign
//! txs with [`couponcactus_chaincode::tx::TxBody::sign`] and sign reads with
//! [`couponcactus_chaincode::tx::sign_read`], as the end-to-end tests in `tests/` do.

pub use couponcactus_chaincode as chaincode;
pub use couponcactus_genesis as genesis;
