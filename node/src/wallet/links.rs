//! Magic links: what a customer follows to open their wallet, without a password. A link
//! carries a token `base64url(payload ‖ tag)` where the payload is the member id (32
//! bytes), the expiry (ms since the epoch, 8 bytes little-endian) and a random 16-byte
//! nonce, and the tag is `HMAC-SHA256(link key, "couponcactus/wallet-link/v1" ‖ payload)`
//! under the node's wallet link key (`wallet.key` in its data directory, 0600). A token is
//! accepted once ([`super::store::WalletStore::use_link`] records its nonce until it
//! expires), before its expiry, and only with a tag made by this node's key; the check
//! compares tags in constant time. Nothing about the member but its pseudonymous id is in
//! the link.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use couponcactus_chaincode::ids::MemberId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Domain tag of link MACs.
const TAG_CONTEXT: &[u8] = b"couponcactus/wallet-link/v1";
/// Bytes of a payload: member, expiry, nonce.
const PAYLOAD_LEN: usize = 32 + 8 + 16;
/// Bytes of a tag.
const TAG_LEN: usize = 32;
/// Longest token accepted, characters (base64url of payload and tag).
pub const MAX_TOKEN_CHARS: usize = 128;

/// Why a link was refused (the page says so in words a customer understands).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token this node made (malformed, or a wrong tag).
    #[error("this link is not valid: ask the shop for a new one")]
    Invalid,
    /// Past its expiry.
    #[error("this link has expired: ask the shop for a new one")]
    Expired,
    /// Followed before.
    #[error("this link was already used: ask the shop for a new one")]
    Used,
}

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Whose wallet it opens.
    pub member: MemberId,
    /// Not accepted at or after this time, ms.
    pub expires_ms: u64,
    /// Its one-time nonce.
    pub nonce: [u8; 16],
}

fn tag(key: &[u8; 32], payload: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(TAG_CONTEXT);
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

impl Link {
    /// The token of this link under `key`.
    pub fn token(&self, key: &[u8; 32]) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.extend_from_slice(&self.member.0);
        bytes.extend_from_slice(&self.expires_ms.to_le_bytes());
        bytes.extend_from_slice(&self.nonce);
        let t = tag(key, &bytes);
        bytes.extend_from_slice(&t);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads and checks `token` under `key` at `now_ms` (the one-time use is the store's).
    pub fn check(token: &str, key: &[u8; 32], now_ms: u64) -> Result<Link, LinkError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(LinkError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| LinkError::Invalid)?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN {
            return Err(LinkError::Invalid);
        }
        let (payload, given) = bytes.split_at(PAYLOAD_LEN);
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(TAG_CONTEXT);
        mac.update(payload);
        mac.verify_slice(given).map_err(|_| LinkError::Invalid)?;
        let mut member = [0u8; 32];
        member.copy_from_slice(&payload[..32]);
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&payload[32..40]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&payload[40..]);
        let link = Link {
            member: MemberId(member),
            expires_ms: u64::from_le_bytes(expiry),
            nonce,
        };
        if now_ms >= link.expires_ms {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            member: MemberId([7; 32]),
            expires_ms: 1_000,
            nonce: [3; 16],
        }
    }

    #[test]
    fn a_token_opens_under_its_key_until_it_expires() {
        let key = [1; 32];
        let token = link().token(&key);
        assert!(token.len() <= MAX_TOKEN_CHARS);
        assert_eq!(Link::check(&token, &key, 999), Ok(link()));
        assert_eq!(Link::check(&token, &key, 1_000), Err(LinkError::Expired));
        assert_eq!(Link::check(&token, &[2; 32], 0), Err(LinkError::Invalid));
    }

    #[test]
    fn a_changed_byte_or_a_malformed_token_is_invalid() {
        let key = [1; 32];
        let token = link().token(&key);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in [0, 33, 45, PAYLOAD_LEN + 1] {
            bytes[i] ^= 1;
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                Link::check(&forged, &key, 0),
                Err(LinkError::Invalid),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        for bad in [
            "",
            "not base64 !",
            &"A".repeat(MAX_TOKEN_CHARS + 1),
            &token[..20],
        ] {
            assert_eq!(
                Link::check(bad, &key, 0),
                Err(LinkError::Invalid),
                "{bad:?}"
            );
        }
    }
}
