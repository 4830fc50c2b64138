//! The privacy report's answer (`GET /v1/reports/privacy`), one definition for the node
//! that serves it and the clients that read it: consent coverage per purpose among the
//! members an org knows (the ledger's member registry), and the erasure log (the ledger's
//! erasure receipts: member id, time, height; no personal data). How each figure is
//! computed: docs/compliance.md, "Reports".

use crate::analytics::{Rate, Stamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Consent for one purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentCoverage {
    /// `marketing`, `profiling` or `partner:ORG`.
    pub purpose: String,
    /// Members whose latest decision is a grant.
    pub granted: u64,
    /// Members whose latest decision is a withdrawal.
    pub withdrawn: u64,
    /// Known members with no decision for it.
    pub no_record: u64,
    /// `granted / known members`.
    pub coverage: Rate,
}

/// One erasure receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErasureEntry {
    /// The erased member's pseudonymous id (hex).
    pub member: String,
    /// Block time of the receipt, ms.
    pub at_ms: u64,
    /// Its block.
    pub height: u64,
}

/// The privacy report of one org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrivacyReport {
    /// The org.
    pub org: String,
    /// Where it was read.
    pub stamp: Stamp,
    /// Members the org knows (the ledger's registry: allocated, transferred, redeemed or
    /// holding a balance with the org), erased ones included.
    pub known_members: u64,
    /// One row per purpose with a decision (marketing and profiling always).
    pub consent: Vec<ConsentCoverage>,
    /// Erasure receipts, oldest first.
    pub erasures: Vec<ErasureEntry>,
    /// A scan reached its limit: the figures cover only the first entries.
    pub truncated: bool,
}
