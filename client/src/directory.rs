//! The member directory of an org's node (`/v1/directory/…`, org admins and issuers of the
//! node's org; docs/compliance-directory.md): add or update a subject, the three-way
//! match, show, erase (crypto-shredding) and the data-subject export.
//!
//! Every call is a signed request ([`crate::signed_read`]); a POST's body is covered by the
//! signature through `?body_sha256=` in the signed target (as for webhooks), and every
//! body carries a random `nonce`, so that hash cannot be guessed from the personal data in
//! the body. Personal data travels only in bodies, never in a URL.
//!
//! The whole erasure a person asks for (`cactus member erase`) is the node's erase
//! ([`DirectoryClient::erase`]), then the erasure receipt on the ledger
//! ([`submit_erasure_receipt`]).

use crate::signed_read::SignedApi;
use couponcactus_chaincode::ids::{ChainId, MemberId};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a directory call failed (the shared [`crate::signed_read::ApiClientError`]).
pub type DirectoryError = crate::signed_read::ApiClientError;

/// Why the erasure receipt could not be recorded on the ledger.
#[derive(Debug, thiserror::Error)]
#[error("erasure receipt: {0}")]
pub struct ReceiptError(pub String);

/// A subject to add, or changes to one (fields given replace; recipient ids are added).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectInput {
    /// An existing member to update, or an id to import; `None`: a new random id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Campaign recipient ids to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient_ids: Vec<String>,
    /// The org's own customer reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
}

/// What the directory holds on a subject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRecord {
    /// Email (normalized).
    pub email: Option<String>,
    /// Phone number (normalized).
    pub phone: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Campaign recipient ids.
    pub recipient_ids: Vec<String>,
    /// The org's own customer reference.
    pub external_ref: Option<String>,
    /// Added, ms since the Unix epoch.
    pub created_ms: u64,
    /// Last changed, ms.
    pub updated_ms: u64,
}

/// A subject: member id and record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The member id.
    pub member: MemberId,
    /// The record.
    pub record: SubjectRecord,
}

/// The inputs of a match (any, at least one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchInputs {
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Campaign recipient id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// Member id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
}

/// A match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    /// The member.
    pub member: MemberId,
    /// The inputs that named it.
    pub matched_by: Vec<String>,
    /// The inputs that resolved to nothing.
    pub unmatched: Vec<String>,
}

/// The erasure-log row of an erasure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erased {
    /// The member erased.
    pub member: MemberId,
    /// When, ms since the Unix epoch.
    pub time_ms: u64,
}

/// What the node's erase did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureView {
    /// The erasure-log row.
    pub erased: Erased,
    /// Analytics detail rows deleted or unlinked.
    pub analytics_rows: u64,
}

/// Everything the node holds on a subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectExport {
    /// The member id.
    pub member: MemberId,
    /// The directory's record.
    pub record: SubjectRecord,
    /// Blind indexes kept (kinds).
    pub indexed_by: Vec<String>,
    /// Analytics detail rows naming the member id.
    pub analytics_rows: u64,
    /// When the export was made, ms.
    pub generated_ms: u64,
}

/// A client of one node's member directory, signing as an org admin or issuer.
#[derive(Clone, Debug)]
pub struct DirectoryClient {
    /// The node's signed routes.
    api: SignedApi,
}

type Result<T> = std::result::Result<T, DirectoryError>;

/// 16 random bytes as hex: the `nonce` of a body.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random generator works");
    hex::encode(bytes)
}

/// `value` (a JSON object) with a random `nonce` member.
fn with_nonce(value: impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(value).expect("a request serializes");
    if let serde_json::Value::Object(map) = &mut v {
        map.insert("nonce".into(), serde_json::Value::String(nonce()));
    }
    v
}

impl DirectoryClient {
    /// A client of the node at `base` on `chain_id`, signing with `signer` (an org admin's
    /// or issuer's key of the node's org).
    pub fn new(base: &str, chain_id: ChainId, signer: SigningKey) -> DirectoryClient {
        DirectoryClient {
            api: SignedApi::new(base, chain_id, signer, Duration::from_secs(30)),
        }
    }

    /// Adds a subject or updates one.
    pub async fn add(&self, input: &SubjectInput) -> Result<Subject> {
        self.api
            .json(
                Method::POST,
                "/v1/directory/members",
                Some(with_nonce(input)),
            )
            .await
    }

    /// The three-way match.
    pub async fn find(&self, inputs: &MatchInputs) -> Result<Matched> {
        self.api
            .json(
                Method::POST,
                "/v1/directory/match",
                Some(with_nonce(inputs)),
            )
            .await
    }

    /// One subject.
    pub async fn show(&self, member: &MemberId) -> Result<Subject> {
        let path = format!("/v1/directory/members/{member}");
        self.api.json(Method::GET, &path, None).await
    }

    /// Everything the node holds on one subject.
    pub async fn export(&self, member: &MemberId) -> Result<SubjectExport> {
        let path = format!("/v1/directory/members/{member}/export");
        self.api.json(Method::GET, &path, None).await
    }

    /// The node's erase: record, key and blind indexes deleted, analytics purged.
    pub async fn erase(&self, member: &MemberId) -> Result<ErasureView> {
        let path = format!("/v1/directory/members/{member}/erase");
        let body = with_nonce(serde_json::json!({}));
        self.api.json(Method::POST, &path, Some(body)).await
    }

    /// A link to `member`'s customer wallet: e-mailed to the address on file (`print`
    /// false), or returned to hand over (`print` true).
    pub async fn wallet_link(&self, member: &MemberId, print: bool) -> Result<serde_json::Value> {
        let path = format!("/v1/directory/members/{member}/wallet-link");
        let deliver = if print { "none" } else { "email" };
        let body = with_nonce(serde_json::json!({ "deliver": deliver }));
        self.api.json(Method::POST, &path, Some(body)).await
    }
}

/// What an erasure receipt on the ledger gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReceiptOutcome {
    /// Recorded: the tx id and its block height.
    Recorded {
        /// The `RecordErasure` tx.
        tx_id: String,
        /// Its block.
        height: u64,
    },
    /// The org had recorded it before (the chain said `member_erased`): nothing new.
    AlreadyRecorded,
}

/// Records the erasure of `member` on the ledger (tx `RecordErasure { member }`, signed by
/// an org admin; event `member.erased`): the member id and the block time, no personal
/// data. A receipt recorded before is [`ReceiptOutcome::AlreadyRecorded`]; any other
/// refusal (a key that is not an org admin's) is an error that says why.
pub async fn submit_erasure_receipt(
    node: &crate::NodeClient,
    admin: &SigningKey,
    member: &MemberId,
) -> std::result::Result<ReceiptOutcome, ReceiptError> {
    use crate::consent::{ErasureOutcome, record_erasure};
    let outcome = record_erasure(node, admin, *member)
        .await
        .map_err(|e| ReceiptError(e.to_string()))?;
    match outcome {
        ErasureOutcome::Recorded(view) => Ok(ReceiptOutcome::Recorded {
            tx_id: view.tx_id.to_string(),
            height: view.height.unwrap_or(0),
        }),
        ErasureOutcome::AlreadyRecorded(_) => Ok(ReceiptOutcome::AlreadyRecorded),
        ErasureOutcome::Rejected(view) => {
            let why = view
                .error
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_else(|| "the chain refused it".into());
            Err(ReceiptError(why))
        }
    }
}
