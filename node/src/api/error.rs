//! The API's one error type and its mapping to HTTP statuses and stable codes.
//!
//! | status | codes |
//! | --- | --- |
//! | 400 | `malformed` (undecodable body), `invalid_input` (bad path or query value, and admission's validity bound), `bad_signature`, `wrong_chain`, `stale` (tx admission) |
//! | 401 | `unauthenticated`, `bad_signature`, `stale`, `unknown_key`, `key_revoked` (signed reads); `unknown_key`, `key_revoked` (tx admission) |
//! | 403 | `not_authorized` (the key's role may not read this) |
//! | 404 | `not_found` (a keyed state read of an absent key carries `at` and `proof`: the proof of its absence, [`NotFoundProof`]) |
//! | 410 | `not_retained` (a height whose state this node pruned; `error.nearest_retained_height` names one it kept) |
//! | 409 | `duplicate` (a dry run of a tx id already executed), `ambiguous_id` (an id prefix that names several ids; `error.candidates` lists them) |
//! | 413 | `oversize` |
//! | 422 | every other chaincode rejection (`already_redeemed`, `invalid_transition`, …) |
//! | 503 | `mempool_full`, `shutting_down` |
//! | 504 | `commit_timeout`, `timeout` |
//! | 500 | `internal` |

use super::reads::ReadAt;
use crate::mempool::AdmissionError;
use crate::node::SubmitError;
use crate::storage::StorageError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use couponcactus_chaincode::commitment::{CommitmentError, ProvenValue};
use couponcactus_chaincode::history::HistoryError;
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::reject::{RejectReason, Rejection};
use couponcactus_chaincode::state::StateError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `error` member of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code (the chaincode's rejection codes, or the API's own).
    pub code: String,
    /// What exactly went wrong, for people.
    pub message: String,
    /// `ambiguous_id` only: the full ids the prefix matches (hex; a few of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// `not_retained` only: the retained height nearest to the one asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest_retained_height: Option<u64>,
}

impl ErrorBody {
    /// A body with just a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            message: message.into(),
            candidates: Vec::new(),
            nearest_retained_height: None,
        }
    }
}

/// Every error response: `{"error":{"code":"…","message":"…"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The 404 of a keyed state read whose key is absent at the height read:
/// `{"error":{"code":"not_found","message":"…"},"at":{…},"proof":{…,"value":null,…}}`.
///
/// `proof` is the [`ProvenValue`] of the key looked up with `value: null`: it verifies
/// with `verify_state_proof(at.state_root, proof.key, None, proof.proof)`, and `at.header`
/// hashes to a block a certificate signs, so "not found" is checked, not taken on the
/// node's word.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotFoundProof {
    /// `code` is `not_found`.
    pub error: ErrorBody,
    /// The height read, its state root and header.
    pub at: ReadAt,
    /// `{version, key, value: null, proof}`: the key's non-inclusion proof under
    /// `at.state_root`.
    #[schema(value_type = Object)]
    pub proof: ProvenValue,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body does not decode (bad JSON or bincode).
    #[error("{0}")]
    Malformed(String),
    /// A path or query value is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// A signed read lacks, or fails, authentication.
    #[error("{message}")]
    Unauthenticated {
        /// `unauthenticated`, `bad_signature`, `stale`, `unknown_key` or `key_revoked`.
        code: &'static str,
        /// Details.
        message: String,
    },
    /// The key's role does not allow reading this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// A keyed state read found its key absent, and proves it ([`ApiError::absent`]):
    /// 404 `not_found` with `at` and `proof` ([`NotFoundProof`]).
    #[error("{message}")]
    NotFoundProven {
        /// What was not found, and at which height.
        message: String,
        /// Where it was read.
        at: Box<ReadAt>,
        /// The key's proof, `value: None`.
        proof: Box<ProvenValue>,
    },
    /// The state at a height was pruned ([`crate::storage::Retention`]): 410
    /// `not_retained`, with the nearest retained height.
    #[error(
        "the state at height {height} is not retained by this node (pruned); the nearest retained height is {nearest}"
    )]
    NotRetained {
        /// The height asked for.
        height: u64,
        /// The nearest height whose state is kept.
        nearest: u64,
    },
    /// An id prefix names more than one id.
    #[error("{message}")]
    Ambiguous {
        /// Which ids were matched, and what to do.
        message: String,
        /// The full ids matched (hex).
        candidates: Vec<String>,
    },
    /// A body or batch is larger than allowed.
    #[error("{0}")]
    Oversize(String),
    /// The tx was refused at admission.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// The chaincode rejected the tx (dry run).
    #[error("{0}")]
    Rejected(Rejection),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// The tx was not committed in time (it may still be).
    #[error(
        "tx {0} was not committed in time; query GET /v1/txs/{0} or resubmit it (resubmission is idempotent)"
    )]
    CommitTimeout(TxId),
    /// Something failed inside the node.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) | ApiError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NotFoundProven { .. } => StatusCode::NOT_FOUND,
            ApiError::NotRetained { .. } => StatusCode::GONE,
            ApiError::Ambiguous { .. } => StatusCode::CONFLICT,
            ApiError::Oversize(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Admission(e) => admission_status(e),
            ApiError::Rejected(r) => rejection_status(r.reason),
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::CommitTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed",
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::Unauthenticated { code, .. } => code,
            ApiError::Forbidden(_) => "not_authorized",
            ApiError::NotFound(_) | ApiError::NotFoundProven { .. } => "not_found",
            ApiError::NotRetained { .. } => "not_retained",
            ApiError::Ambiguous { .. } => "ambiguous_id",
            ApiError::Oversize(_) => "oversize",
            ApiError::Admission(e) => e.code(),
            ApiError::Rejected(r) => r.reason.code(),
            ApiError::ShuttingDown => "shutting_down",
            ApiError::CommitTimeout(_) => "commit_timeout",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The 404 of a keyed read whose key is absent at `at`: `proof` must be the key's
    /// proof at `at.height` with no value (anything else is the node's own bug, answered
    /// 500 rather than a proof that would not verify).
    pub fn absent(message: String, at: ReadAt, proof: ProvenValue) -> ApiError {
        if proof.value.is_some() || proof.version != at.height {
            return ApiError::Internal(format!(
                "{message}, but the proof of {:?} at version {} does not show it absent at height {}",
                proof.key, proof.version, at.height
            ));
        }
        ApiError::NotFoundProven {
            message,
            at: Box::new(at),
            proof: Box::new(proof),
        }
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            candidates: match self {
                ApiError::Ambiguous { candidates, .. } => candidates.clone(),
                _ => Vec::new(),
            },
            nearest_retained_height: match self {
                ApiError::NotRetained { nearest, .. } => Some(*nearest),
                _ => None,
            },
            ..ErrorBody::new(self.code(), self.to_string())
        }
    }
}

/// The status of a tx refused at admission.
pub(crate) fn admission_status(e: &AdmissionError) -> StatusCode {
    match e {
        AdmissionError::WrongChain { .. }
        | AdmissionError::BadSignature(_)
        | AdmissionError::Stale { .. }
        | AdmissionError::ValidityTooLong { .. } => StatusCode::BAD_REQUEST,
        AdmissionError::UnknownKey(_) | AdmissionError::KeyRevoked(_) => StatusCode::UNAUTHORIZED,
        AdmissionError::Oversize { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AdmissionError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
        AdmissionError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a tx the chaincode rejected: 409 for a replayed tx id, 422 otherwise.
pub(crate) fn rejection_status(reason: RejectReason) -> StatusCode {
    match reason {
        RejectReason::Duplicate => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A JSON error response.
pub(crate) fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorResponse {
        error: ErrorBody::new(code, message),
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "request failed");
        }
        let error = self.body();
        match self {
            ApiError::NotFoundProven { at, proof, .. } => {
                let body = NotFoundProof {
                    error,
                    at: *at,
                    proof: *proof,
                };
                (status, Json(body)).into_response()
            }
            _ => (status, Json(ErrorResponse { error })).into_response(),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Admission(a) => ApiError::Admission(a),
            SubmitError::Timeout(id) => ApiError::CommitTimeout(id),
            SubmitError::ShuttingDown => ApiError::ShuttingDown,
            SubmitError::Storage(s) => ApiError::from(s),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Internal(format!("storage: {e}"))
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        ApiError::Internal(format!("history log: {e}"))
    }
}

impl From<CommitmentError> for ApiError {
    fn from(e: CommitmentError) -> Self {
        match e {
            CommitmentError::MissingVersion(v) => {
                ApiError::NotFound(format!("state at height {v} is not retained by this node"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
