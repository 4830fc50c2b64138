//! Consent records and erasure receipts (issue 21) for a client: reading a member's
//! consent with its proofs (`GET /v1/members/{member}/consent`), checking those proofs,
//! and recording an erasure receipt the way `cactus member erase` needs it.
//!
//! The txs themselves are built by [`TxBuilder::record_consent`] and
//! [`TxBuilder::record_erasure`]; [`consent_text_hash`] hashes the consent text shown.
//! A consent read names every purpose the org may record for the member (marketing,
//! profiling, and sharing with each other org of the consortium), each with the state
//! proof of its record or of its absence, plus the erasure receipt's key, all at one
//! height: [`verify_consent_view`] checks each against that height's header, and
//! [`ProofVerifier::consent`] ties the header to a checkpoint certificate.
//!
//! [`TxBuilder::record_consent`]: crate::tx_builder::TxBuilder::record_consent
//! [`TxBuilder::record_erasure`]: crate::tx_builder::TxBuilder::record_erasure
//! [`consent_text_hash`]: crate::tx_builder::consent_text_hash

use crate::node_client::{NodeClient, NodeClientError};
use crate::verify::{Certified, ProofVerifier, VerifyError, check_proven};
use crate::views::{ReadAt, TxStatus, TxView};
use couponcactus_chaincode::block::BlockHeader;
use couponcactus_chaincode::commitment::ProvenValue;
use couponcactus_chaincode::consent::{ConsentRecord, ErasureRecord, Purpose};
use couponcactus_chaincode::ids::{MemberId, OrgId};
use couponcactus_chaincode::reject::RejectReason;
use couponcactus_chaincode::state::{StateKey, StateValue};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// One purpose's latest decision (or none) with its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEntry {
    /// The purpose.
    pub purpose: Purpose,
    /// The org's latest record (`None`: no decision recorded, proven).
    pub record: Option<ConsentRecord>,
    /// The `StateKey::Consent(org, member, purpose)` proof.
    pub proof: ProvenValue,
}

/// `GET /v1/members/{member}/consent?org=`: what an org recorded about a member's consent,
/// proven at one height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentView {
    /// The org that keeps the records.
    pub org: OrgId,
    /// The member.
    pub member: MemberId,
    /// Where it was read.
    pub at: ReadAt,
    /// Marketing, profiling, then sharing with each other org (by org id).
    pub consents: Vec<ConsentEntry>,
    /// The org's erasure receipt for the member (`None`: none, proven).
    pub erasure: Option<ErasureRecord>,
    /// The `StateKey::Erasure(org, member)` proof.
    pub erasure_proof: ProvenValue,
}

impl ConsentView {
    /// The latest decision on `purpose`, if the view lists the purpose and one is recorded.
    pub fn granted(&self, purpose: &Purpose) -> Option<bool> {
        self.consents
            .iter()
            .find(|e| &e.purpose == purpose)
            .and_then(|e| e.record.as_ref())
            .map(|r| r.granted)
    }
}

impl NodeClient {
    /// `org`'s consent records and erasure receipt for `member`, proven
    /// (`GET /v1/members/{member}/consent?org=&height=`, signed; default the reader's org).
    pub async fn consent(
        &self,
        org: Option<&OrgId>,
        member: &MemberId,
        height: Option<u64>,
    ) -> Result<ConsentView, NodeClientError> {
        let mut query = Vec::new();
        if let Some(org) = org {
            query.push(format!("org={org}"));
        }
        if let Some(h) = height {
            query.push(format!("height={h}"));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        self.get(&format!("/v1/members/{member}/consent{query}"), true)
            .await
    }
}

/// Checks a consent read: each purpose's proof (of its record or of its absence) and the
/// erasure key's proof against the header of the height read. Returns that header.
pub fn verify_consent_view(view: &ConsentView) -> Result<&BlockHeader, VerifyError> {
    let (org, member) = (&view.org, view.member);
    let mut header = None;
    for entry in &view.consents {
        let what = format!("{org}'s consent record of {member} for {}", entry.purpose);
        let key = StateKey::Consent(org.clone(), member, entry.purpose.clone());
        let value = entry.record.clone().map(StateValue::Consent);
        header = Some(check_proven(
            &what,
            &view.at,
            &entry.proof,
            &key,
            value.as_ref(),
        )?);
    }
    let what = format!("{org}'s erasure receipt for {member}");
    let value = view.erasure.clone().map(StateValue::Erasure);
    let key = StateKey::Erasure(org.clone(), member);
    let last = check_proven(&what, &view.at, &view.erasure_proof, &key, value.as_ref())?;
    Ok(header.unwrap_or(last))
}

impl ProofVerifier<'_> {
    /// Checks a consent read end to end (every proof, then the certificate).
    pub async fn consent(&self, view: &ConsentView) -> Result<Certified, VerifyError> {
        let header = verify_consent_view(view)?;
        self.certify_header(header).await
    }
}

/// How an erasure receipt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErasureOutcome {
    /// The receipt is on the chain now: this tx.
    Recorded(TxView),
    /// The org had recorded it before: the chain refused this one with `member_erased`.
    AlreadyRecorded(TxView),
    /// The chain refused it for another reason (e.g. `not_authorized`: not an org admin).
    Rejected(TxView),
}

/// Signs and submits `admin`'s erasure receipt for `member` (of the admin's org) and waits
/// for its block: what `cactus member erase` records on the ledger after it destroyed the
/// member's directory record and key. A receipt recorded before reads as
/// [`ErasureOutcome::AlreadyRecorded`], so erasing twice is harmless.
pub async fn record_erasure(
    client: &NodeClient,
    admin: &SigningKey,
    member: MemberId,
) -> Result<ErasureOutcome, NodeClientError> {
    let tx = client.tx_builder().record_erasure(admin, member);
    let view = client.submit(&tx).await?;
    Ok(match view.status {
        TxStatus::Applied => ErasureOutcome::Recorded(view),
        _ if erased_already(&view) => ErasureOutcome::AlreadyRecorded(view),
        _ => ErasureOutcome::Rejected(view),
    })
}

/// Whether a rejected tx view says the member's erasure was recorded before.
fn erased_already(view: &TxView) -> bool {
    let code = RejectReason::MemberErased.code();
    view.rejection().map(|r| r.reason) == Some(RejectReason::MemberErased)
        || view.error_code() == Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::execute::TxOutcome;
    use couponcactus_chaincode::ids::TxId;
    use couponcactus_chaincode::reject::Rejection;

    fn rejected(reason: RejectReason) -> TxView {
        TxView {
            tx_id: TxId([1; 32]),
            status: TxStatus::Rejected,
            height: Some(3),
            index: Some(0),
            log_index: Some(9),
            result: Some(TxOutcome::Rejected {
                rejection: Rejection::new(reason, "x"),
            }),
            error: None,
        }
    }

    #[test]
    fn a_second_receipt_reads_as_recorded_already() {
        assert!(erased_already(&rejected(RejectReason::MemberErased)));
        assert!(!erased_already(&rejected(RejectReason::NotAuthorized)));
    }
}
