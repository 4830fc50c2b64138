//! Code helpers for issuers: generating codes, hashing them, sealing them for the org.
//!
//! Codes are generated on the issuer's machine from randomness the caller passes in (the
//! chaincode has no randomness of its own), hashed with [`code_hash`] for the ledger and
//! sealed with AES-256-GCM under the org's 32-byte data key with a caller-supplied 12-byte
//! nonce. Only hashes and sealed bytes ever reach a node.
//!
//! The code hash is unkeyed so that any terminal, including a partner's, can look a code
//! up; codes therefore need enough entropy that guessing one from its hash is hopeless.
//! [`CodePattern::default`] gives 12 characters from a 32-letter alphabet (60 bits), and
//! [`CodePattern::entropy_bits`] lets tools warn about weaker patterns.

use crate::ids::{CodeHash, PoolId};
use crate::types::SealedCode;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// Domain tag of [`code_hash`].
pub const CODE_HASH_TAG: &str = "couponcactus 2026 code hash v1";
/// Length of the AES-GCM nonce at the start of a sealed code.
pub const SEAL_NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of a sealed code.
pub const SEAL_TAG_LEN: usize = 16;

/// Normalises a code as typed: surrounding whitespace and inner spaces or dashes are
/// dropped and letters upper-cased, so `abcd-efgh` and `ABCDEFGH` are the same code.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// `blake3::derive_key(CODE_HASH_TAG, normalize_code(code))`.
pub fn code_hash(code: &str) -> CodeHash {
    CodeHash(blake3::derive_key(
        CODE_HASH_TAG,
        normalize_code(code).as_bytes(),
    ))
}

/// Why codes could not be generated, sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    /// The charset is empty, too large or repeats a character.
    #[error("charset must have 2 to 256 distinct characters")]
    BadCharset,
    /// The pattern has no random positions, or the prefix is not in the code alphabet.
    #[error("pattern {0:?}: {1}")]
    BadPattern(String, &'static str),
    /// Not enough random bytes were supplied.
    #[error("need {needed} random bytes, got {got}")]
    NotEnoughRandomness {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// A sealed code is too short or fails authentication (wrong key, pool or tampering).
    #[error("sealed code cannot be opened: wrong data key, wrong pool, or tampered bytes")]
    OpenFailed,
}

/// How codes look: a fixed prefix, then a pattern where `#` is a random character from the
/// charset and anything else is copied as is (e.g. `####-####-####`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePattern {
    /// Copied before every code, e.g. `SPRING-`.
    pub prefix: String,
    /// `#` = random character.
    pub pattern: String,
    /// Alphabet of random characters.
    pub charset: Vec<char>,
}

/// Crockford-style alphabet without look-alikes (no I, L, O, U).
pub const DEFAULT_CHARSET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl Default for CodePattern {
    fn default() -> Self {
        CodePattern {
            prefix: String::new(),
            pattern: "####-####-####".into(),
            charset: DEFAULT_CHARSET.chars().collect(),
        }
    }
}

impl CodePattern {
    /// Checks the charset and pattern.
    pub fn validate(&self) -> Result<(), CodeError> {
        let mut sorted = self.charset.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.charset.len() || !(2..=256).contains(&self.charset.len()) {
            return Err(CodeError::BadCharset);
        }
        if self.random_positions() == 0 {
            return Err(CodeError::BadPattern(
                self.pattern.clone(),
                "needs at least one '#'",
            ));
        }
        Ok(())
    }

    /// Random characters per code.
    pub fn random_positions(&self) -> usize {
        self.pattern.chars().filter(|c| *c == '#').count()
    }

    /// Random bytes [`Self::generate`] consumes per code (two per random character, so
    /// the modulo bias is below 2⁻⁸ even for a 256-letter charset).
    pub fn random_bytes_per_code(&self) -> usize {
        2 * self.random_positions()
    }

    /// Bits of entropy per code (rounded down).
    pub fn entropy_bits(&self) -> u32 {
        let per_char = usize::BITS - 1 - self.charset.len().leading_zeros();
        per_char * self.random_positions() as u32
    }

    /// Generates one code from `random` ([`Self::random_bytes_per_code`] bytes).
    pub fn generate(&self, random: &[u8]) -> Result<String, CodeError> {
        self.validate()?;
        let needed = self.random_bytes_per_code();
        if random.len() < needed {
            return Err(CodeError::NotEnoughRandomness {
                needed,
                got: random.len(),
            });
        }
        let mut out = String::with_capacity(self.prefix.len() + self.pattern.len());
        out.push_str(&self.prefix);
        let mut bytes = random.chunks_exact(2);
        for c in self.pattern.chars() {
            if c == '#' {
                let pair = bytes.next().expect("length checked above");
                let r = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
                out.push(self.charset[r % self.charset.len()]);
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// The associated data that binds a sealed code to its pool, so a sealed code copied into
/// another pool does not open.
fn seal_aad(pool: &PoolId) -> Vec<u8> {
    let mut aad = b"couponcactus/sealed-code/v1/".to_vec();
    aad.extend_from_slice(pool.as_str().as_bytes());
    aad
}

/// Seals `code` for `pool` under `data_key` with `nonce` (never reuse a nonce with a key).
pub fn seal_code(
    data_key: &[u8; 32],
    nonce: [u8; SEAL_NONCE_LEN],
    pool: &PoolId,
    code: &str,
) -> SealedCode {
    let cipher = Aes256Gcm::new(data_key.into());
    let aad = seal_aad(pool);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: code.as_bytes(),
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of a short code cannot fail");
    let mut out = Vec::with_capacity(SEAL_NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    SealedCode(out)
}

/// Opens a sealed code of `pool` with `data_key`.
pub fn open_code(
    data_key: &[u8; 32],
    pool: &PoolId,
    sealed: &SealedCode,
) -> Result<String, CodeError> {
    if sealed.0.len() < SEAL_NONCE_LEN + SEAL_TAG_LEN {
        return Err(CodeError::OpenFailed);
    }
    let (nonce, ct) = sealed.0.split_at(SEAL_NONCE_LEN);
    let cipher = Aes256Gcm::new(data_key.into());
    let aad = seal_aad(pool);
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map_err(|_| CodeError::OpenFailed)?;
    String::from_utf8(plain).map_err(|_| CodeError::OpenFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_normalised_and_domain_separated() {
        assert_eq!(code_hash("abcd-efgh"), code_hash(" ABCD EFGH "));
        assert_ne!(code_hash("ABCDEFGH"), code_hash("ABCDEFGI"));
        assert_ne!(code_hash("X").0, *blake3::hash(b"X").as_bytes());
    }

    #[test]
    fn generation_follows_pattern_and_is_a_function_of_randomness() {
        let p = CodePattern {
            prefix: "SPRING-".into(),
            ..CodePattern::default()
        };
        let r: Vec<u8> = (0..24).collect();
        let a = p.generate(&r).unwrap();
        assert_eq!(a, p.generate(&r).unwrap());
        assert!(a.starts_with("SPRING-"));
        assert_eq!(a.len(), "SPRING-".len() + 14);
        assert!(
            a["SPRING-".len()..]
                .chars()
                .all(|c| c == '-' || DEFAULT_CHARSET.contains(c))
        );
        assert_eq!(p.entropy_bits(), 60);
        assert!(matches!(
            p.generate(&r[..5]),
            Err(CodeError::NotEnoughRandomness { .. })
        ));
        let bad = CodePattern {
            charset: vec!['A', 'A'],
            ..CodePattern::default()
        };
        assert_eq!(bad.generate(&r), Err(CodeError::BadCharset));
        let none = CodePattern {
            pattern: "FIXED".into(),
            ..CodePattern::default()
        };
        assert!(matches!(none.generate(&r), Err(CodeError::BadPattern(..))));
    }

    #[test]
    fn seal_open_round_trip_and_failures() {
        let key = [7u8; 32];
        let pool = PoolId::new("spring").unwrap();
        let sealed = seal_code(&key, [1; 12], &pool, "ABCD-EFGH");
        assert_eq!(sealed.0.len(), 12 + 9 + 16);
        assert_eq!(open_code(&key, &pool, &sealed).unwrap(), "ABCD-EFGH");
        assert_eq!(
            open_code(&[8; 32], &pool, &sealed),
            Err(CodeError::OpenFailed)
        );
        let other = PoolId::new("autumn").unwrap();
        assert_eq!(open_code(&key, &other, &sealed), Err(CodeError::OpenFailed));
        let mut tampered = sealed.clone();
        tampered.0[14] ^= 1;
        assert_eq!(
            open_code(&key, &pool, &tampered),
            Err(CodeError::OpenFailed)
        );
        assert_eq!(
            open_code(&key, &pool, &SealedCode(vec![0; 10])),
            Err(CodeError::OpenFailed)
        );
    }
}
