//! Signed reads: the three `x-cactus-*` headers a non-public read of the HTTP API carries
//! (pools, tokens, codes, wallets, token history, tx details).
//!
//! The signature is ed25519 over the chaincode's
//! [`read_signing_message`](couponcactus_chaincode::tx::read_signing_message):
//! `"couponcactus/read/v1" ‖ u64le(len(chain_id)) ‖ chain_id ‖ u64le(time_ms) ‖ METHOD ‖ " "
//! ‖ path-and-query`, where path-and-query is the request target exactly as sent. The node
//! accepts a time within 60 s of its clock from a registered, unrevoked key, and shows what
//! the key's role may see (`docs/api.md`).

use couponcactus_chaincode::ids::{ChainId, PublicKey, SignatureBytes};
use couponcactus_chaincode::tx::sign_read;
use ed25519_dalek::SigningKey;

/// Header carrying the reader's public key (hex).
pub const KEY_HEADER: &str = "x-cactus-key";
/// Header carrying the request time (ms since the Unix epoch, decimal).
pub const TIME_HEADER: &str = "x-cactus-time";
/// Header carrying the signature (hex).
pub const SIGNATURE_HEADER: &str = "x-cactus-signature";

/// The signature of one read request, ready to become its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSignature {
    /// The reader's public key.
    pub key: PublicKey,
    /// The request time the signature covers (ms since the Unix epoch).
    pub time_ms: u64,
    /// ed25519 over the read signing message.
    pub signature: SignatureBytes,
}

impl ReadSignature {
    /// Signs `method path_and_query` on `chain_id` at `time_ms` with `key`.
    pub fn sign(
        key: &SigningKey,
        chain_id: &ChainId,
        time_ms: u64,
        method: &str,
        path_and_query: &str,
    ) -> ReadSignature {
        ReadSignature {
            key: PublicKey(key.verifying_key().to_bytes()),
            time_ms,
            signature: sign_read(key, chain_id, time_ms, method, path_and_query),
        }
    }

    /// The headers, as `(name, value)` pairs.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (KEY_HEADER, self.key.to_hex()),
            (TIME_HEADER, self.time_ms.to_string()),
            (SIGNATURE_HEADER, self.signature.to_hex()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::tx::read_signing_message;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn headers_carry_a_signature_the_node_would_accept() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let chain = ChainId::new("cactus-localnet").unwrap();
        let path = "/v1/tokens/spring/3?height=7";
        let signed = ReadSignature::sign(&key, &chain, 1_767_225_600_123, "GET", path);
        let headers = signed.headers();
        assert_eq!(
            headers[0],
            (KEY_HEADER, hex::encode(key.verifying_key().to_bytes()))
        );
        assert_eq!(headers[1], (TIME_HEADER, "1767225600123".to_string()));
        let sig_bytes: [u8; 64] = hex::decode(&headers[2].1).unwrap().try_into().unwrap();
        let message = read_signing_message(&chain, 1_767_225_600_123, "GET", path);
        let verifying = key.verifying_key();
        verifying
            .verify_strict(&message, &Signature::from_bytes(&sig_bytes))
            .expect("the node's check (verify_strict) accepts it");
        // Another path, time, method or chain is another message.
        for other in [
            read_signing_message(&chain, 1_767_225_600_123, "GET", "/v1/tokens/spring/3"),
            read_signing_message(&chain, 1_767_225_600_124, "GET", path),
            read_signing_message(&chain, 1_767_225_600_123, "POST", path),
            read_signing_message(&ChainId::new("x").unwrap(), 1_767_225_600_123, "GET", path),
        ] {
            assert!(
                verifying
                    .verify(&other, &Signature::from_bytes(&sig_bytes))
                    .is_err()
            );
        }
    }
}

/// Why a signed API request ([`signed_json`]) failed: the one error of the webhook,
/// directory and compliance clients.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientError {
    /// The node could not be reached or the answer not read.
    #[error("{method} {url}: {source}")]
    Transport {
        /// Method.
        method: reqwest::Method,
        /// URL (a member id at most: no personal data is ever in one).
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an API error (`{"error": {"code", "message"}, …}`).
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code (`not_authorized`, `invalid_input`, `not_found`, `unsafe_url`,
        /// `match_conflict`, `already_linked`, `directory_off`, …).
        code: String,
        /// Details.
        message: String,
        /// `match_conflict` only: the inputs grouped by the member they name.
        groups: Vec<Vec<String>>,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer ({status}): {why}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        why: String,
    },
}

impl ApiClientError {
    /// The API error code, if the node answered with one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ApiClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One node's signed routes as the webhook, directory and compliance clients reach them:
/// the node's base URL, its chain, the key every request is signed with, and an HTTP
/// client with the owning client's timeout. Each of those clients holds one and sends
/// through [`SignedApi::json`].
#[derive(Clone)]
pub struct SignedApi {
    /// The HTTP client, with the owning client's request timeout.
    http: reqwest::Client,
    /// The node's base URL, without a trailing `/`.
    base: String,
    /// The chain every signature is bound to.
    chain_id: ChainId,
    /// The key every request is signed with (never printed by `Debug`).
    key: SigningKey,
}

impl std::fmt::Debug for SignedApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedApi")
            .field("base", &self.base)
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl SignedApi {
    /// The routes of the node at `base` (e.g. `http://127.0.0.1:7101`) on `chain_id`,
    /// signed with `key`, each request given up after `timeout`.
    pub fn new(
        base: &str,
        chain_id: ChainId,
        key: SigningKey,
        timeout: std::time::Duration,
    ) -> SignedApi {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        SignedApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            chain_id,
            key,
        }
    }

    /// One signed request ([`signed_json`]).
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiClientError> {
        let me = (self.base.as_str(), &self.chain_id, &self.key);
        signed_json(&self.http, me, method, path, body).await
    }
}

/// Sends one request signed as a read by `key` (the webhook, directory and compliance
/// routes): a JSON `body` adds `body_sha256` to the signed target
/// ([`crate::webhooks::signed_target`]), so the signature covers it too.
pub async fn signed_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    (base, chain_id, key): (&str, &ChainId, &ed25519_dalek::SigningKey),
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, ApiClientError> {
    let bytes = body.map(|b| serde_json::to_vec(&b).expect("JSON serializes"));
    let target = match &bytes {
        Some(b) => crate::webhooks::signed_target(path, b),
        None => path.to_string(),
    };
    let url = format!("{base}{target}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let signature = ReadSignature::sign(key, chain_id, now, method.as_str(), &target);
    let transport = |source| ApiClientError::Transport {
        method: method.clone(),
        url: url.clone(),
        source,
    };
    let mut request = http.request(method.clone(), &url);
    for (name, value) in signature.headers() {
        request = request.header(name, value);
    }
    if let Some(b) = bytes {
        request = request.header("content-type", "application/json").body(b);
    }
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let text = response.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&text).map_err(|e| ApiClientError::Unexpected {
            status,
            why: e.to_string(),
        });
    }
    let body: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    Err(
        match (
            body["error"]["code"].as_str(),
            body["error"]["message"].as_str(),
        ) {
            (Some(code), Some(message)) => ApiClientError::Api {
                status,
                code: code.to_string(),
                message: message.to_string(),
                groups: serde_json::from_value(body["groups"].clone()).unwrap_or_default(),
            },
            _ => ApiClientError::Unexpected {
                status,
                why: String::from_utf8_lossy(&text).chars().take(200).collect(),
            },
        },
    )
}
