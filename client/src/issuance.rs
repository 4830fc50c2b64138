//! Code batches for issuers: random codes from the operating system's generator, their
//! hashes, sealing under the org's data key, splitting into batches, and opening them
//! again.
//!
//! The chaincode owns the rules ([`CodePattern`], [`code_hash`], [`seal_code`],
//! [`open_code`]); this module brings the randomness, which the pure chaincode has none
//! of: every code's characters and every seal's 12-byte AES-GCM nonce come from
//! `getrandom`. Codes are distinct by hash (what the ledger checks), so two codes that
//! differ only in case or dashes are never both issued.

use couponcactus_chaincode::codes::{CodeError, CodePattern, code_hash, open_code, seal_code};
use couponcactus_chaincode::ids::{CodeHash, PoolId};
use couponcactus_chaincode::types::IssuedCode;
use std::collections::BTreeSet;

/// Codes below this entropy are guessable from their (unkeyed) hashes by brute force.
pub const MIN_RECOMMENDED_ENTROPY_BITS: u32 = 50;

/// Why codes could not be generated, sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum IssuanceError {
    /// The pattern or charset is unusable, or a sealed code does not open.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The operating system's random generator failed.
    #[error("the OS random generator failed: {0}")]
    Randomness(getrandom::Error),
    /// The pattern cannot make that many distinct codes in reasonable time.
    #[error(
        "the pattern gives about 2^{bits} codes: too few for {count} distinct ones; use a longer pattern"
    )]
    PatternTooSmall {
        /// Entropy of the pattern.
        bits: u32,
        /// Codes asked for.
        count: usize,
    },
    /// A sealed code opened to a code whose hash is not the one issued with it.
    #[error("sealed code {index} opens to a code whose hash is not {expected}")]
    HashMismatch {
        /// Position in the batch.
        index: usize,
        /// The hash issued with it.
        expected: CodeHash,
    },
}

type Result<T> = std::result::Result<T, IssuanceError>;

/// A generated code and its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedCode {
    /// The plaintext code (a bearer secret).
    pub code: String,
    /// [`code_hash`] of it.
    pub code_hash: CodeHash,
}

impl std::fmt::Debug for GeneratedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedCode({})", self.code_hash)
    }
}

fn random_bytes(out: &mut [u8]) -> Result<()> {
    getrandom::fill(out).map_err(IssuanceError::Randomness)
}

/// `count` random codes of `pattern` with distinct hashes.
pub fn generate_codes(pattern: &CodePattern, count: usize) -> Result<Vec<GeneratedCode>> {
    pattern.validate()?;
    let bits = pattern.entropy_bits();
    // Ask for at most a 2^-4 share of the code space, so rejection stays rare.
    if bits < 64 && (count as u128) << 4 > 1u128 << bits {
        return Err(IssuanceError::PatternTooSmall { bits, count });
    }
    let per_code = pattern.random_bytes_per_code();
    let mut seen = BTreeSet::new();
    let mut codes = Vec::with_capacity(count);
    let mut random = vec![0u8; per_code * count.clamp(1, 4096)];
    while codes.len() < count {
        random_bytes(&mut random)?;
        for chunk in random.chunks_exact(per_code) {
            if codes.len() == count {
                break;
            }
            let code = pattern.generate(chunk)?;
            let hash = code_hash(&code);
            if seen.insert(hash) {
                codes.push(GeneratedCode {
                    code,
                    code_hash: hash,
                });
            }
        }
    }
    Ok(codes)
}

/// A code of the issuer's own choosing (e.g. a shared code `SUMMER10`).
pub fn chosen_code(code: &str) -> GeneratedCode {
    GeneratedCode {
        code: code.to_string(),
        code_hash: code_hash(code),
    }
}

/// Seals each code for `pool` under `data_key`, each with a fresh random nonce.
pub fn seal_codes(
    data_key: &[u8; 32],
    pool: &PoolId,
    codes: &[GeneratedCode],
) -> Result<Vec<IssuedCode>> {
    let mut nonces = vec![0u8; 12 * codes.len()];
    random_bytes(&mut nonces)?;
    Ok(codes
        .iter()
        .zip(nonces.chunks_exact(12))
        .map(|(c, nonce)| IssuedCode {
            code_hash: c.code_hash,
            sealed: seal_code(
                data_key,
                nonce.try_into().expect("12-byte chunks"),
                pool,
                &c.code,
            ),
        })
        .collect())
}

/// Opens the sealed codes of `pool` with `data_key`, checking each opens to a code with
/// the hash it was issued under.
pub fn open_codes(
    data_key: &[u8; 32],
    pool: &PoolId,
    issued: &[IssuedCode],
) -> Result<Vec<String>> {
    issued
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let code = open_code(data_key, pool, &c.sealed)?;
            if code_hash(&code) != c.code_hash {
                return Err(IssuanceError::HashMismatch {
                    index,
                    expected: c.code_hash,
                });
            }
            Ok(code)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::codes::DEFAULT_CHARSET;

    #[test]
    fn codes_are_random_distinct_and_follow_the_pattern() {
        let pattern = CodePattern {
            prefix: "SPRING-".into(),
            ..CodePattern::default()
        };
        let codes = generate_codes(&pattern, 2_000).unwrap();
        assert_eq!(codes.len(), 2_000);
        let hashes: BTreeSet<_> = codes.iter().map(|c| c.code_hash).collect();
        assert_eq!(hashes.len(), 2_000);
        for c in &codes {
            assert!(c.code.starts_with("SPRING-"));
            assert_eq!(c.code_hash, code_hash(&c.code));
            assert!(
                c.code["SPRING-".len()..]
                    .chars()
                    .all(|ch| ch == '-' || DEFAULT_CHARSET.contains(ch))
            );
        }
        // Another run gives other codes.
        let again = generate_codes(&pattern, 10).unwrap();
        assert!(again.iter().all(|c| !hashes.contains(&c.code_hash)));
    }

    #[test]
    fn small_patterns_are_refused_rather_than_looping() {
        let tiny = CodePattern {
            pattern: "##".into(),
            charset: vec!['A', 'B'],
            prefix: String::new(),
            check_char: false,
        };
        assert!(matches!(
            generate_codes(&tiny, 4),
            Err(IssuanceError::PatternTooSmall { .. })
        ));
        assert_eq!(generate_codes(&tiny, 0).unwrap().len(), 0);
    }

    #[test]
    fn sealed_codes_open_only_for_their_pool_and_key() {
        let pool = PoolId::new("spring").unwrap();
        let codes = generate_codes(&CodePattern::default(), 20).unwrap();
        let key = [3u8; 32];
        let sealed = seal_codes(&key, &pool, &codes).unwrap();
        // Fresh nonces: the same code sealed twice gives other bytes.
        let twice = seal_codes(&key, &pool, &codes[..1]).unwrap();
        assert_ne!(twice[0].sealed, sealed[0].sealed);
        let opened = open_codes(&key, &pool, &sealed).unwrap();
        let plain: Vec<String> = codes.iter().map(|c| c.code.clone()).collect();
        assert_eq!(opened, plain);
        assert!(open_codes(&[4; 32], &pool, &sealed).is_err());
        assert!(open_codes(&key, &PoolId::new("autumn").unwrap(), &sealed).is_err());
        let mut swapped = sealed.clone();
        swapped[0].code_hash = sealed[1].code_hash;
        assert!(matches!(
            open_codes(&key, &pool, &swapped),
            Err(IssuanceError::HashMismatch { index: 0, .. })
        ));
        assert_eq!(chosen_code("summer-10").code_hash, code_hash("SUMMER10"));
    }
}
