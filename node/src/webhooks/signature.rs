//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>).
//!
//! A secret is `whsec_` followed by the base64 of its key bytes. A delivery carries
//! `webhook-id` (the event id), `webhook-timestamp` (Unix seconds) and `webhook-signature`:
//! `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one per valid secret,
//! space-separated (two while a rotated-out secret is still valid).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

/// Prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Key bytes of a new secret.
pub const SECRET_BYTES: usize = 24;

/// A new random secret, `whsec_<base64 of 24 random bytes>`.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a secret (`whsec_` prefix optional), or why it is not one.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD
        .decode(b64)
        .map_err(|e| format!("the secret is not whsec_<base64>: {e}"))?;
    if key.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The `webhook-signature` header value for `secrets` (each `whsec_…`): their signatures,
/// space-separated. Secrets that do not decode are skipped.
pub fn header(secrets: &[String], id: &str, timestamp: u64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| secret_key(s).ok())
        .map(|k| sign(&k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1` signature of `header` is the one of `secret` over `id`, `timestamp`
/// and `body` (constant-time comparison). The timestamp's freshness is the caller's check.
pub fn verify(secret: &str, id: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
    let Ok(key) = secret_key(secret) else {
        return false;
    };
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries (svix `webhooks` tests).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: u64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_standard_webhooks_example() {
        let key = secret_key(SPEC_SECRET).unwrap();
        assert_eq!(sign(&key, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
        assert!(verify(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, SPEC_SIG));
    }

    #[test]
    fn fixed_vector_of_an_event_delivery() {
        let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 24]));
        assert_eq!(secret, "whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH");
        let body = br#"{"type":"coupon.redeemed","timestamp":"2026-01-01T00:00:00Z","data":{}}"#;
        let h = header(
            std::slice::from_ref(&secret),
            "evt_42_0",
            1_767_225_600,
            body,
        );
        assert_eq!(h, "v1,C/FLfVudubcaTM5c424w+mQKV+PpZ+4sR6SYRhOJ/sg=");
        assert!(verify(&secret, "evt_42_0", 1_767_225_600, body, &h));
    }

    #[test]
    fn two_secrets_give_two_signatures_either_verifies() {
        let (old, new) = (new_secret(), new_secret());
        let h = header(&[new.clone(), old.clone()], "evt_1_0", 10, b"{}");
        assert_eq!(h.split(' ').count(), 2);
        assert!(verify(&old, "evt_1_0", 10, b"{}", &h));
        assert!(verify(&new, "evt_1_0", 10, b"{}", &h));
        assert!(!verify(&new_secret(), "evt_1_0", 10, b"{}", &h));
    }

    #[test]
    fn tampering_with_any_part_fails() {
        let s = new_secret();
        let h = header(std::slice::from_ref(&s), "evt_1_0", 10, b"{\"a\":1}");
        assert!(verify(&s, "evt_1_0", 10, b"{\"a\":1}", &h));
        assert!(!verify(&s, "evt_1_1", 10, b"{\"a\":1}", &h));
        assert!(!verify(&s, "evt_1_0", 11, b"{\"a\":1}", &h));
        assert!(!verify(&s, "evt_1_0", 10, b"{\"a\":2}", &h));
        assert!(!verify(&s, "evt_1_0", 10, b"{\"a\":1}", "v2,abc"));
        assert!(!verify("whsec_!!", "evt_1_0", 10, b"{\"a\":1}", &h));
        assert!(secret_key("whsec_").is_err());
    }
}
