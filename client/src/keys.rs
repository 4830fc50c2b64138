//! Key material a client handles: ed25519 key files ([`KeyFile`], JSON, mode 0600), an
//! org's code-sealing data key, public keys given as hex or as a key file, pseudonymous
//! member ids and allocation claim keys.
//!
//! **Member ids.** Members never appear on the ledger by name: an org derives a member's
//! id as a keyed hash of its own customer id with a secret only the org holds,
//! `blake3::keyed_hash(secret, "couponcactus/member/v1" ‖ 0x00 ‖ name)` ([`member_id`]).
//! Erasing the secret makes every member id of the org unlinkable (crypto-shredding). The
//! secret is any key file (its 32-byte secret) or a file with 64 hex characters; make one
//! with `cactus keys generate --out member-secret.key`.
//!
//! **Claim keys.** An allocation's idempotency key: 64 hex characters are taken as they
//! are, any other text is hashed ([`claim_key_from_text`]), so `--claim order-4711` always
//! names the same claim.

use couponcactus_chaincode::ids::{ClaimKey, MemberId, PublicKey};
use couponcactus_chaincode::tx::is_acceptable_key;
use couponcactus_genesis::{GenesisError, KeyFile};
use ed25519_dalek::SigningKey;
use std::path::{Path, PathBuf};

/// Domain tag of member ids.
pub const MEMBER_ID_TAG: &[u8] = b"couponcactus/member/v1\0";
/// Context of claim keys derived from text.
pub const CLAIM_KEY_CONTEXT: &str = "couponcactus 2026 claim key v1";

/// Why key material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A key file could not be read, parsed or checked.
    #[error(transparent)]
    KeyFile(#[from] GenesisError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A public key is neither 64 hex characters nor a readable key file.
    #[error("{input:?} is not a public key: {why}")]
    BadPublicKey {
        /// What was given.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// A secret file holds neither a key file nor 64 hex characters.
    #[error("{path}: not a secret: expected a key file (JSON) or 64 hex characters")]
    BadSecret {
        /// The file.
        path: PathBuf,
    },
}

type Result<T> = std::result::Result<T, KeysError>;

/// Reads a key file (checking that its secret matches its public key).
pub fn load_key_file(path: &Path) -> Result<KeyFile> {
    Ok(KeyFile::load(path)?)
}

/// The signing key of a key file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    Ok(load_key_file(path)?.signing_key())
}

/// An org's 32-byte code-sealing key: the secret of its data key file (`data.key`).
pub fn load_data_key(path: &Path) -> Result<[u8; 32]> {
    Ok(load_key_file(path)?.signing_key().to_bytes())
}

/// The public key of `key`.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// A public key given as 64 hex characters or as the path of a key file; it must be a key
/// the chain accepts (a canonical, torsion-free ed25519 point).
pub fn parse_public_key(input: &str) -> Result<PublicKey> {
    let trimmed = input.trim();
    let key = if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        trimmed
            .parse::<PublicKey>()
            .map_err(|e| KeysError::BadPublicKey {
                input: input.into(),
                why: e.to_string(),
            })?
    } else if Path::new(trimmed).exists() {
        load_key_file(Path::new(trimmed))?.public_key()
    } else {
        return Err(KeysError::BadPublicKey {
            input: input.into(),
            why: "expected 64 hex characters or the path of a key file".into(),
        });
    };
    if !is_acceptable_key(&key) {
        return Err(KeysError::BadPublicKey {
            input: input.into(),
            why: "not a valid ed25519 public key (not canonical, or of small order)".into(),
        });
    }
    Ok(key)
}

/// The 32-byte secret an org derives member ids with.
#[derive(Clone)]
pub struct MemberSecret([u8; 32]);

impl std::fmt::Debug for MemberSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberSecret(..)")
    }
}

impl MemberSecret {
    /// A secret from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MemberSecret {
        MemberSecret(bytes)
    }

    /// Reads a secret: a key file (its secret) or a file of 64 hex characters.
    pub fn load(path: &Path) -> Result<MemberSecret> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Io {
            path: path.into(),
            source,
        })?;
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            return Ok(MemberSecret(load_data_key(path)?));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(trimmed, &mut bytes)
            .map_err(|_| KeysError::BadSecret { path: path.into() })?;
        Ok(MemberSecret(bytes))
    }

    /// The member id of the org's customer `name` ([`member_id`]).
    pub fn member_id(&self, name: &str) -> MemberId {
        member_id(self, name)
    }
}

/// `blake3::keyed_hash(secret, MEMBER_ID_TAG ‖ name)`: the pseudonymous id of the org's
/// customer `name`.
pub fn member_id(secret: &MemberSecret, name: &str) -> MemberId {
    let mut h = blake3::Hasher::new_keyed(&secret.0);
    h.update(MEMBER_ID_TAG);
    h.update(name.as_bytes());
    MemberId(*h.finalize().as_bytes())
}

/// A claim key from text: 64 hex characters as they are, anything else
/// `blake3::derive_key(CLAIM_KEY_CONTEXT, text)`.
pub fn claim_key_from_text(text: &str) -> ClaimKey {
    match text.parse::<ClaimKey>() {
        Ok(key) => key,
        Err(_) => ClaimKey(blake3::derive_key(CLAIM_KEY_CONTEXT, text.as_bytes())),
    }
}

/// A fresh random claim key (an allocation nobody will need to repeat).
pub fn random_claim_key() -> ClaimKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    ClaimKey(bytes)
}

/// The Unix permission bits of a file (`None` elsewhere, or if it cannot be read).
pub fn file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_come_from_hex_or_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terminal.key");
        let key = KeyFile::from_seed([4; 32]);
        key.save(&path).unwrap();
        assert_eq!(file_mode(&path), Some(0o600));
        let hex = key.public_key().to_hex();
        assert_eq!(parse_public_key(&hex).unwrap(), key.public_key());
        assert_eq!(
            parse_public_key(path.to_str().unwrap()).unwrap(),
            key.public_key()
        );
        assert!(parse_public_key("abc").is_err());
        assert!(
            parse_public_key(&"ff".repeat(32)).is_err(),
            "not a curve point"
        );
        // The identity point is of small order: never accepted.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(parse_public_key(&hex::encode(identity)).is_err());
        assert_eq!(
            load_signing_key(&path).unwrap().verifying_key().to_bytes(),
            key.public_key().0
        );
        assert_eq!(load_data_key(&path).unwrap(), [4; 32]);
    }

    #[test]
    fn member_ids_are_keyed_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("member-secret.key");
        KeyFile::from_seed([9; 32]).save(&key_path).unwrap();
        let hex_path = dir.path().join("member-secret.hex");
        std::fs::write(&hex_path, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
        let a = MemberSecret::load(&key_path).unwrap();
        let b = MemberSecret::load(&hex_path).unwrap();
        assert_eq!(
            a.member_id("alice@example.com"),
            b.member_id("alice@example.com")
        );
        assert_ne!(
            a.member_id("alice@example.com"),
            a.member_id("bob@example.com")
        );
        let other = MemberSecret::from_bytes([8; 32]);
        assert_ne!(
            other.member_id("alice@example.com"),
            a.member_id("alice@example.com")
        );
        // The documented formula.
        let mut h = blake3::Hasher::new_keyed(&[9; 32]);
        h.update(b"couponcactus/member/v1\0alice@example.com");
        assert_eq!(a.member_id("alice@example.com").0, *h.finalize().as_bytes());
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "not a secret").unwrap();
        assert!(matches!(
            MemberSecret::load(&bad),
            Err(KeysError::BadSecret { .. })
        ));
    }

    #[test]
    fn claim_keys_from_text_are_stable() {
        assert_eq!(
            claim_key_from_text("order-4711"),
            claim_key_from_text("order-4711")
        );
        assert_ne!(
            claim_key_from_text("order-4711"),
            claim_key_from_text("order-4712")
        );
        let hex = "ab".repeat(32);
        assert_eq!(claim_key_from_text(&hex), ClaimKey([0xab; 32]));
        assert_ne!(random_claim_key(), random_claim_key());
    }
}
