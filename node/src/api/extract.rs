//! Extractors whose failures answer in the API's error shape, and tx body decoding.

use super::{ApiError, MAX_BATCH_TXS};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use couponcactus_chaincode::encoding::decode;
use couponcactus_chaincode::tx::SignedTx;
use serde::de::DeserializeOwned;
use std::str::FromStr;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

/// Canonical bincode bytes of a tx or batch (`docs/encoding.md`), for the OpenAPI document.
#[derive(Debug)]
pub(crate) struct Bincode;

impl utoipa::PartialSchema for Bincode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("Canonical bincode bytes (docs/encoding.md)"))
            .into()
    }
}

impl utoipa::ToSchema for Bincode {}

/// `Query<T>` answering 400 `invalid_input` when the query does not parse.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError::InvalidInput(e.body_text())),
        }
    }
}

/// `Path<T>` answering 400 `invalid_input` when a segment does not parse.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError::InvalidInput(e.body_text())),
        }
    }
}

/// Parses a path or query value, answering 400 `invalid_input` naming `what`.
pub(crate) fn parse<T>(what: &str, text: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| ApiError::InvalidInput(format!("{what} {text:?}: {e}")))
}

/// The body's bytes, or 413 `oversize` / 400 `malformed`.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::Oversize(format!("request body too large: {}", e.body_text()))
        } else {
            ApiError::Malformed(e.body_text())
        }
    })
}

/// Whether the body is canonical bincode (`Content-Type: application/octet-stream`);
/// anything else is read as JSON.
pub(crate) fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/octet-stream"))
}

/// One signed tx from a JSON or canonical bincode body.
pub(crate) fn decode_tx(binary: bool, bytes: &[u8]) -> Result<SignedTx, ApiError> {
    if binary {
        decode(bytes)
            .map_err(|e| ApiError::Malformed(format!("body is not a canonical SignedTx: {e}")))
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::Malformed(format!("body is not a SignedTx: {e}")))
    }
}

/// A batch of signed txs (a JSON array, or the canonical bincode of `Vec<SignedTx>`), at
/// most [`MAX_BATCH_TXS`].
pub(crate) fn decode_batch(binary: bool, bytes: &[u8]) -> Result<Vec<SignedTx>, ApiError> {
    let too_many = |n: u64| {
        ApiError::Oversize(format!(
            "batch of {n} txs exceeds the limit of {MAX_BATCH_TXS}"
        ))
    };
    let txs: Vec<SignedTx> = if binary {
        // The length prefix comes first: refuse a too-large batch before decoding it.
        if let Some(prefix) = bytes.first_chunk::<8>() {
            let n = u64::from_le_bytes(*prefix);
            if n > MAX_BATCH_TXS as u64 {
                return Err(too_many(n));
            }
        }
        decode(bytes).map_err(|e| {
            ApiError::Malformed(format!("body is not a canonical Vec<SignedTx>: {e}"))
        })?
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::Malformed(format!("body is not a JSON array of SignedTx: {e}"))
        })?
    };
    if txs.len() > MAX_BATCH_TXS {
        return Err(too_many(txs.len() as u64));
    }
    Ok(txs)
}
