//! Webhook endpoints of an org's node (`/v1/webhooks/endpoints…`, org admins only) and the
//! receiver-side check of a delivery's Standard Webhooks signature.
//!
//! Every call is a signed request ([`crate::signed_read`]). A POST's body is covered by
//! the signature through `?body_sha256=<hex SHA-256 of the body>` in the signed request
//! target (docs/api.md, "Webhooks").
//!
//! Receivers check a delivery with [`verify_signature`] over the raw body and the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, and refuse a
//! timestamp more than [`TIMESTAMP_TOLERANCE_SECS`] from their clock ([`check_timestamp`]).

use crate::signed_read::SignedApi;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use couponcactus_chaincode::ids::ChainId;
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How far a delivery's `webhook-timestamp` may be from the receiver's clock, seconds.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 300;

/// Why a webhook call failed (the shared [`crate::signed_read::ApiClientError`]).
pub type WebhooksError = crate::signed_read::ApiClientError;

/// A registered endpoint (never its secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_…`.
    pub id: String,
    /// Its org.
    pub org: String,
    /// Where events go.
    pub url: String,
    /// Event types delivered; empty: all.
    pub types: Vec<String>,
    /// Free text.
    pub description: String,
    /// Whether deliveries run.
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled, ms.
    pub disabled_at_ms: Option<u64>,
    /// When it was registered, ms.
    pub created_ms: u64,
    /// The last event delivered.
    pub cursor: Option<String>,
    /// Failed attempts of the held event.
    pub attempts: u32,
    /// Failing since, ms.
    pub failing_since_ms: Option<u64>,
    /// Next attempt due, ms.
    pub next_attempt_ms: Option<u64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Events delivered.
    pub delivered: u64,
    /// When the rotated-out secret expires, ms.
    pub old_secret_expires_ms: Option<u64>,
    /// Replays queued.
    pub pending_replays: u64,
}

/// A new endpoint and its secret (shown once).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatedEndpoint {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `whsec_…`.
    pub secret: String,
}

/// A rotated secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RotatedSecret {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The new `whsec_…`.
    pub secret: String,
}

/// A queued replay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplayQueued {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// First height.
    pub from_height: u64,
    /// Last height.
    pub to_height: u64,
}

/// One delivery-log row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Row id.
    pub id: u64,
    /// The event.
    pub event_id: String,
    /// Attempt, from 1.
    pub attempt: u32,
    /// A replay.
    pub replay: bool,
    /// HTTP status.
    pub status: Option<u16>,
    /// Failure.
    pub error: Option<String>,
    /// Duration, ms.
    pub latency_ms: u64,
    /// When, ms.
    pub time_ms: u64,
}

/// What a replay covers: heights or block times (ms), inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRange {
    /// First height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_height: Option<u64>,
    /// Last height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_height: Option<u64>,
    /// First block time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    /// Last block time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
}

#[derive(Deserialize)]
struct EndpointList {
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct DeliveryList {
    deliveries: Vec<Delivery>,
}

/// A client of one node's webhook API, signing as an org admin.
#[derive(Clone, Debug)]
pub struct WebhooksClient {
    /// The node's signed routes.
    api: SignedApi,
}

type Result<T> = std::result::Result<T, WebhooksError>;

impl WebhooksClient {
    /// A client of the node at `base` (e.g. `http://127.0.0.1:7101`) on `chain_id`,
    /// signing with the org admin key `admin`.
    pub fn new(base: &str, chain_id: ChainId, admin: SigningKey) -> WebhooksClient {
        WebhooksClient {
            api: SignedApi::new(base, chain_id, admin, Duration::from_secs(30)),
        }
    }

    /// Registers an endpoint for `types` (empty: every type); the secret is in the answer
    /// only.
    pub async fn create(
        &self,
        url: &str,
        types: &[String],
        description: &str,
    ) -> Result<CreatedEndpoint> {
        let body = serde_json::json!({"url": url, "types": types, "description": description});
        self.api
            .json(Method::POST, "/v1/webhooks/endpoints", Some(body))
            .await
    }

    /// The endpoints of the node's org.
    pub async fn list(&self) -> Result<Vec<Endpoint>> {
        let list: EndpointList = self
            .api
            .json(Method::GET, "/v1/webhooks/endpoints", None)
            .await?;
        Ok(list.endpoints)
    }

    /// One endpoint.
    pub async fn get(&self, id: &str) -> Result<Endpoint> {
        self.api
            .json(Method::GET, &format!("/v1/webhooks/endpoints/{id}"), None)
            .await
    }

    /// A new secret; the old one stays valid 24 h.
    pub async fn rotate_secret(&self, id: &str) -> Result<RotatedSecret> {
        self.api
            .json(
                Method::POST,
                &format!("/v1/webhooks/endpoints/{id}/rotate-secret"),
                Some(serde_json::json!({})),
            )
            .await
    }

    /// Stops deliveries (the cursor is kept).
    pub async fn disable(&self, id: &str, reason: Option<&str>) -> Result<Endpoint> {
        let body = serde_json::json!({"reason": reason});
        self.api
            .json(
                Method::POST,
                &format!("/v1/webhooks/endpoints/{id}/disable"),
                Some(body),
            )
            .await
    }

    /// Resumes deliveries from the cursor, at once.
    pub async fn enable(&self, id: &str) -> Result<Endpoint> {
        self.api
            .json(
                Method::POST,
                &format!("/v1/webhooks/endpoints/{id}/enable"),
                Some(serde_json::json!({})),
            )
            .await
    }

    /// Delivers the events of a height or time range again.
    pub async fn replay(&self, id: &str, range: &ReplayRange) -> Result<ReplayQueued> {
        let body = serde_json::to_value(range).expect("a range serializes");
        self.api
            .json(
                Method::POST,
                &format!("/v1/webhooks/endpoints/{id}/replay"),
                Some(body),
            )
            .await
    }

    /// The delivery log, newest first.
    pub async fn deliveries(
        &self,
        id: &str,
        limit: u64,
        before: Option<u64>,
    ) -> Result<Vec<Delivery>> {
        let mut path = format!("/v1/webhooks/endpoints/{id}/deliveries?limit={limit}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let list: DeliveryList = self.api.json(Method::GET, &path, None).await?;
        Ok(list.deliveries)
    }
}

/// `path` with `body_sha256=<hex SHA-256 of body>` added to its query: the target a POST
/// with a body signs.
pub fn signed_target(path: &str, body: &[u8]) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{sep}body_sha256={}",
        hex::encode(Sha256::digest(body))
    )
}

/// Whether one of the `v1,<base64>` signatures of a `webhook-signature` header is
/// HMAC-SHA256 under `secret` (`whsec_<base64>`) of `"{id}.{timestamp}.{body}"`
/// (constant-time comparison).
pub fn verify_signature(secret: &str, id: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
    let Ok(key) = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)) else {
        return false;
    };
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .any(|given| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
                return false;
            };
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&given).is_ok()
        })
}

/// `Ok` when `timestamp` (Unix seconds) is within [`TIMESTAMP_TOLERANCE_SECS`] of
/// `now_secs`, else how far off it is.
pub fn check_timestamp(timestamp: u64, now_secs: u64) -> std::result::Result<(), String> {
    let off = timestamp.abs_diff(now_secs);
    if off > TIMESTAMP_TOLERANCE_SECS {
        return Err(format!(
            "webhook-timestamp {timestamp} is {off} s from this clock (tolerance {TIMESTAMP_TOLERANCE_SECS} s): refuse it (a replayed or delayed message)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_standard_webhooks_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let header = "v1,bm9ldHZhbGlk v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verify_signature(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            header
        ));
        assert!(!verify_signature(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_331,
            body,
            header
        ));
        assert!(!verify_signature(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            b"{}",
            header
        ));
        assert!(!verify_signature("whsec_%%", "m", 1, body, header));
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused() {
        assert!(check_timestamp(1_000, 1_300).is_ok());
        assert!(check_timestamp(1_300, 1_000).is_ok());
        assert!(check_timestamp(1_000, 1_301).is_err());
        assert!(check_timestamp(1_302, 1_001).is_err());
    }

    #[test]
    fn the_body_hash_goes_into_the_signed_target() {
        let t = signed_target("/v1/webhooks/endpoints", b"{}");
        assert_eq!(
            t,
            "/v1/webhooks/endpoints?body_sha256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(signed_target("/x?a=1", b"").starts_with("/x?a=1&body_sha256="));
    }
}
