//! Consent and erasure on the ledger (issue 21): the **purposes** a member consents to, the
//! **consent record** an org keeps per member and purpose, and the **erasure receipt** an
//! org records when it erased a member's personal data off the chain.
//!
//! Only pseudonymous facts reach the chain: the member id (a keyed hash the org computes),
//! the purpose, granted or withdrawn, and the blake3 hash of the consent text version the
//! member was shown; never a name, an e-mail or the text itself. The latest decision per
//! (org, member, purpose) is in state ([`ConsentRecord`]); the history is the log of
//! `record_consent` txs. A pool or a loyalty program may require a purpose
//! (`requires_consent`): the chaincode then refuses to allocate, transfer, earn, load or
//! award engagement points for a member whose latest decision for it is not a grant
//! (`consent_required`). An erasure receipt ([`ErasureRecord`]) stops the org from giving
//! the member anything new (`member_erased`) while everything already on the ledger stays
//! as it is, so every proof stays valid.
//!
//! Pure values; execution is in `execute::consent`.

use crate::ids::OrgId;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a member consents to. Adding a purpose appends a variant (the encoding is the
/// variant index).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Marketing: the org may send the member offers (and allocate them campaign coupons).
    Marketing,
    /// Profiling: the org's intelligence may put the member into segments and score them.
    Profiling,
    /// Sharing with one partner org (the member's id and coupon use with that org). A
    /// record of it is kept by the org that shares, naming the partner.
    PartnerSharing(OrgId),
}

impl Purpose {
    /// `marketing`, `profiling` or `partner:ORG`: the text form the CLI takes and prints.
    pub fn label(&self) -> String {
        match self {
            Purpose::Marketing => "marketing".into(),
            Purpose::Profiling => "profiling".into(),
            Purpose::PartnerSharing(org) => format!("partner:{org}"),
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Why a purpose's text form did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose {0:?}: expected marketing, profiling or partner:ORG")]
pub struct PurposeError(pub String);

impl std::str::FromStr for Purpose {
    type Err = PurposeError;

    fn from_str(s: &str) -> Result<Self, PurposeError> {
        let bad = || PurposeError(s.chars().take(80).collect());
        match s {
            "marketing" => Ok(Purpose::Marketing),
            "profiling" => Ok(Purpose::Profiling),
            _ => {
                let org = s.strip_prefix("partner:").ok_or_else(bad)?;
                let org = OrgId::new(org).map_err(|_| bad())?;
                Ok(Purpose::PartnerSharing(org))
            }
        }
    }
}

/// A member's decision on a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    /// The member agreed (to the text whose hash the tx carries).
    Granted,
    /// The member said no, or took an earlier consent back.
    Withdrawn,
}

impl ConsentDecision {
    /// `granted` or `withdrawn`.
    pub fn name(self) -> &'static str {
        match self {
            ConsentDecision::Granted => "granted",
            ConsentDecision::Withdrawn => "withdrawn",
        }
    }
}

/// An org's latest record of a member's decision on a purpose (under
/// `StateKey::Consent`); each `record_consent` replaces it, the log keeps every one.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// Whether the latest decision is a grant.
    pub granted: bool,
    /// blake3 of the consent text version the member was shown.
    pub text_hash: crate::ids::Hash32,
    /// Block time of the decision's tx, ms.
    pub at_ms: u64,
    /// Height of its block.
    pub height: u64,
}

/// An org's receipt that it erased a member's personal data (under `StateKey::Erasure`):
/// written once, never changed or deleted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ErasureRecord {
    /// Block time of the erasure's tx, ms.
    pub at_ms: u64,
    /// Height of its block.
    pub height: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_parse_and_print() {
        for text in ["marketing", "profiling", "partner:beta"] {
            let p: Purpose = text.parse().unwrap();
            assert_eq!(p.label(), text);
        }
        for bad in ["", "Marketing", "partner:", "partner:Beta", "sharing"] {
            assert!(bad.parse::<Purpose>().is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&Purpose::PartnerSharing(OrgId::new("beta").unwrap())).unwrap(),
            r#"{"partner_sharing":"beta"}"#
        );
        assert_eq!(
            serde_json::to_string(&Purpose::Marketing).unwrap(),
            r#""marketing""#
        );
    }
}
