//! Fraud scoring off the chain (issue 20): each org's node scores the redemptions and
//! redemption attempts of its pools as blocks apply, from the signals the ledger records
//! (every failed attempt is on chain), and sends what scores high to review or holds its
//! subject through the chain's holds ([`couponcactus_chaincode::risk`]).
//!
//! - [`config`]: an org's thresholds, rules, stores and canaries (`risk.toml`).
//! - [`engine`]: the pure scoring engine: observations in log order → assessments with
//!   their reasons `{rule, observed, threshold, weight}`.
//! - [`anomaly`]: the statistical model (k-means, `linfa`) behind the `anomaly` reason,
//!   trained on the engine's recent observations and the labels of hold reviews; it never
//!   holds alone.
//! - [`geo`]: distances between stores and opening hours.
//! - [`observe`]: the node's events reduced to observations.
//! - [`store`]: `risk.sqlite`, the flags, the labels and the engine's saved memory.
//! - [`follow`]: the task that scores as blocks apply, raises alerts and holds, and saves
//!   the labels of the org's hold reviews.
//! - [`backtest`]: the same scoring over past blocks.
//! - [`scenario`]: a seeded generator of honest traffic with labelled abuse, and the
//!   precision and recall of a configuration on it (docs/intelligence.md).
//!
//! Why by hand: the rules are a few windows and comparisons over the event stream, which
//! no maintained crate offers as such; the statistical model beside them uses `linfa`
//! (`linfa-clustering`'s k-means).

pub mod anomaly;
pub mod backtest;
pub mod config;
pub mod engine;
pub mod follow;
pub mod geo;
pub mod observe;
pub mod scenario;
pub mod store;

#[cfg(test)]
mod tests;
