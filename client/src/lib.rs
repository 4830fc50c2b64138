//! # couponcactus-client
//!
//! The Rust client of Couponcactus, and the library under the `cactus` CLI: everything a
//! merchant's back office, a point-of-sale terminal, a partner brand or an auditor needs
//! to talk to a node without trusting it.
//!
//! - [`NodeClient`] ([`node_client`]): typed async requests for every call of the node's
//!   HTTP API; answers are the types of [`views`]; errors carry the API's error code.
//! - [`TxBuilder`] ([`tx_builder`]): builds and signs txs of every kind for a chain, with
//!   nonces and a validity window; [`signed_read`] signs non-public reads.
//! - [`verify`]: state, tx and history-log proofs checked with the chaincode's verifiers,
//!   tied to a checkpoint certificate of the consortium known from genesis.
//! - [`keys`] (key files, member ids, claim keys), [`issuance`] (random codes sealed with
//!   the org's data key), [`pool_spec`] (pool specs from TOML or flags), [`genesis_draft`]
//!   (a genesis written step by step), [`amounts`] (currencies and minor units for people),
//!   [`times`] (ISO 8601 dates and durations for people), [`id_prefix`] (ids typed
//!   shortened, like git).
//! - [`audit`]: the offline audit of a whole chain.
//! - [`consent`]: a member's consent records read and proven, and erasure receipts.
//! - [`webhooks`]: webhook endpoints of an org's node, and the receiver's signature check.
//! - [`directory`]: the member directory of an org's node (personal data, the three-way
//!   match, erasure).
//! - [`report_pdf`]: PDF reports (tables and charts, stamped with the chain state they
//!   were computed at) for `cactus report --format pdf`.
//!
//! ```no_run
//! use couponcactus_client::{NodeClient, ProofVerifier, TrustAnchor};
//! use couponcactus_client::genesis::{Genesis, KeyFile};
//! use couponcactus_client::chaincode::ids::TokenId;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = KeyFile::load(".localnet/orgs/acme/keys/issuer.key".as_ref())?.signing_key();
//! let node = NodeClient::connect("http://127.0.0.1:7101").await?.with_reader(issuer);
//! let anchor = TrustAnchor::from_genesis(&Genesis::load(".localnet/genesis.toml".as_ref())?);
//! anchor.check_status(&node.status().await?)?;
//!
//! let token: TokenId = "acme-spring/0".parse()?;
//! let view = node.token(&token, None).await?;
//! let certified = ProofVerifier::new(&node, &anchor).token(&view).await?;
//! println!(
//!     "{token} is {:?}: proven at height {}, certified by nodes {:?}",
//!     view.token.status, certified.height, certified.certified_by
//! );
//! # Ok(()) }
//! ```

pub use couponcactus_chaincode as chaincode;
pub use couponcactus_genesis as genesis;

pub mod amounts;
pub mod analytics;
pub mod audit;
pub mod compliance;
pub mod consent;
pub mod directory;
pub mod finance;
pub mod genesis_draft;
pub mod id_prefix;
pub mod issuance;
pub mod keys;
pub mod node_client;
pub mod pool_spec;
pub mod privacy_report;
pub mod report_pdf;
pub mod signed_read;
pub mod times;
pub mod tx_builder;
pub mod verify;
pub mod views;
pub mod webhooks;

pub use node_client::{NodeClient, NodeClientError, Wait};
pub use tx_builder::TxBuilder;
pub use verify::{Certified, ProofVerifier, TrustAnchor, VerifyError};
