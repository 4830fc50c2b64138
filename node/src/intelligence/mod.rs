//! Intelligence over one org's ledger activity: member segments, redemption propensity,
//! the budget split and the coupon advisor. (Fraud scoring lives in [`crate::risk`]: it
//! follows the event log live; what is here is computed on request.)
//!
//! Everything here is a pure function of the analytics store's member activity
//! ([`crate::analytics::members::MemberData`]) at one position and of the pool specs read
//! from the chain state at that height, so the same height gives the same answer: "as of"
//! is the block time of the analytics position, never the wall clock, and the models are
//! trained with fixed seeds. Each answer carries the height it was computed at.
//!
//! - [`segments`]: RFM scores 1–5, named groups, churn risk, lifetime value, home store;
//!   k-means clusters (linfa) with the RFM groups as the fallback.
//! - [`propensity`]: the chance a member redeems a coupon of a given incentive, from a
//!   logistic regression (linfa) trained on the org's own allocations and redemptions and
//!   calibrated on held-out allocations; a rule-based estimate when there is too little
//!   history.
//! - [`budget`]: coupons per segment that maximise expected redemptions or margin within
//!   a budget and a code stock, as a linear program (microlp), with a greedy fallback.
//!
//! The statistics use floating point (the workspace lint against float arithmetic is
//! lifted per module, each saying why); money stays integer minor units in every answer.

pub mod advisor;
pub mod budget;
pub mod llm;
pub mod population;
pub mod propensity;
pub mod segments;

/// What can go wrong computing intelligence.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// A parameter is out of range (HTTP 400, CLI usage error).
    #[error("{0}")]
    Invalid(String),
    /// The analytics store failed.
    #[error(transparent)]
    Analytics(#[from] crate::analytics::AnalyticsError),
}

#[cfg(test)]
mod tests;
