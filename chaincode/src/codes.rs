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
//!
//! Codes read aloud or typed from paper go through [`check_typed_code`] on the client
//! before any request: it maps look-alike characters (`O`→`0`, `I`/`L`→`1`, `U`→`V`) only
//! where the pattern makes the typed character impossible, so it never changes a code the
//! pattern can produce, and it verifies the optional check character (Luhn mod N over the
//! random characters, [`check_char`], [`verify_check_char`]) so a mistyped code is caught
//! at the till. The ledger itself only ever sees [`code_hash`] of [`normalize_code`]; both
//! are unchanged by this (`docs/encoding.md`, "Typed codes").

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
    /// A typed code has not as many characters as its pattern (spaces and dashes aside).
    #[error(
        "the code has {got} characters where its pattern has {expected} (spaces and dashes not counted)"
    )]
    TypedLength {
        /// Characters the pattern has (prefix, fixed, random and check character).
        expected: usize,
        /// Characters typed.
        got: usize,
    },
    /// A typed character cannot stand where it is, even after look-alike mapping.
    #[error("character {position} of the code, {found:?}, cannot be there: expected {expected}")]
    TypedCharacter {
        /// 1-based position in the code as typed (spaces and dashes counted).
        position: usize,
        /// The character typed (upper-cased).
        found: char,
        /// What the pattern has there.
        expected: String,
    },
    /// The check character does not match the rest of the code.
    #[error("the check character does not match: a character is mistyped or two are swapped")]
    CheckCharMismatch,
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
    /// Append a check character ([`check_char`]) after the pattern.
    pub check_char: bool,
}

/// Crockford-style alphabet without look-alikes (no I, L, O, U).
pub const DEFAULT_CHARSET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl Default for CodePattern {
    fn default() -> Self {
        CodePattern {
            prefix: String::new(),
            pattern: "####-####-####".into(),
            charset: DEFAULT_CHARSET.chars().collect(),
            check_char: false,
        }
    }
}

impl CodePattern {
    /// Checks the charset and pattern: 2 to 256 characters that stay distinct single
    /// characters under [`normalize_code`] (no whitespace, no `-`, not both `a` and `A`), at
    /// least one `#`, and an even-sized charset when a check character is asked for (Luhn
    /// mod N catches every single-character error only for even N).
    pub fn validate(&self) -> Result<(), CodeError> {
        let normalized = normalized_charset(&self.charset).ok_or(CodeError::BadCharset)?;
        let mut sorted = normalized.clone();
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
        if self.check_char && !self.charset.len().is_multiple_of(2) {
            return Err(CodeError::BadPattern(
                self.pattern.clone(),
                "a check character needs a charset of even size",
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
        let mut indices = Vec::with_capacity(self.random_positions());
        for c in self.pattern.chars() {
            if c == '#' {
                let pair = bytes.next().expect("length checked above");
                let r = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
                indices.push(r % self.charset.len());
                out.push(self.charset[r % self.charset.len()]);
            } else {
                out.push(c);
            }
        }
        if self.check_char {
            out.push(self.charset[luhn_check_index(&indices, self.charset.len())]);
        }
        Ok(out)
    }

    /// The pattern as the typed code must follow it, normalized like the code: every
    /// character of the prefix and the pattern through [`normalize_code`], `#` a random
    /// slot, then the check character's slot.
    fn slots(&self) -> Vec<Slot> {
        let fixed =
            |text: &str| -> Vec<Slot> { normalize_code(text).chars().map(Slot::Fixed).collect() };
        let mut slots = fixed(&self.prefix);
        for c in self.pattern.chars() {
            if c == '#' {
                slots.push(Slot::Random);
            } else {
                slots.extend(fixed(&c.to_string()));
            }
        }
        if self.check_char {
            slots.push(Slot::Check);
        }
        slots
    }
}

/// One character of a code as its pattern lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A prefix or pattern character, copied as is.
    Fixed(char),
    /// A random character from the charset.
    Random,
    /// The check character (a charset character).
    Check,
}

/// The characters typed for each other: a typed character that cannot stand where it is
/// becomes the one member of its class that can (see [`check_typed_code`]).
pub const LOOK_ALIKES: [&str; 3] = ["0O", "1IL", "VU"];

/// The charset as [`normalize_code`] sees it: each character upper-cased; `None` if one
/// is whitespace or `-` or does not upper-case to a single character.
fn normalized_charset(charset: &[char]) -> Option<Vec<char>> {
    charset
        .iter()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) if !u.is_whitespace() && u != '-' => Some(u),
                _ => None,
            }
        })
        .collect()
}

/// The look-alike class of `c`, if any.
fn look_alike_class(c: char) -> Option<&'static str> {
    LOOK_ALIKES.into_iter().find(|class| class.contains(c))
}

/// Luhn mod N: the sum over `indices` (values below `n`) read from the right, doubling
/// every second value starting with the rightmost when `double_rightmost`, a doubled value
/// `d` counting as `d / n + d % n`.
fn luhn_sum(indices: &[usize], n: usize, double_rightmost: bool) -> usize {
    let mut double = double_rightmost;
    let mut sum = 0;
    for &index in indices.iter().rev() {
        let addend = if double { 2 * index } else { index };
        sum += addend / n + addend % n;
        double = !double;
    }
    sum % n
}

/// The index of the Luhn mod N check character of `indices`.
fn luhn_check_index(indices: &[usize], n: usize) -> usize {
    (n - luhn_sum(indices, n, true)) % n
}

/// The positions in `charset` (normalized) of the characters of `symbols` (normalized);
/// `None` if one is not in the charset.
fn charset_indices(symbols: &str, charset: &[char]) -> Option<Vec<usize>> {
    let charset = normalized_charset(charset)?;
    normalize_code(symbols)
        .chars()
        .map(|c| charset.iter().position(|&s| s == c))
        .collect()
}

/// The check character of `random`, the random characters of a code in order (no prefix,
/// no fixed characters): Luhn mod N over their positions in `charset`, N = the charset's
/// size (`docs/encoding.md`, "Check character"). Fails if a character is not in the
/// charset.
pub fn check_char(random: &str, charset: &[char]) -> Result<char, CodeError> {
    let indices = charset_indices(random, charset).ok_or(CodeError::BadCharset)?;
    if charset.len() < 2 {
        return Err(CodeError::BadCharset);
    }
    Ok(charset[luhn_check_index(&indices, charset.len())])
}

/// Whether the last character of `random_and_check` is the check character of the ones
/// before it (random characters only, as for [`check_char`]). False for characters outside
/// the charset or fewer than two characters.
pub fn verify_check_char(random_and_check: &str, charset: &[char]) -> bool {
    match charset_indices(random_and_check, charset) {
        Some(indices) if indices.len() >= 2 && charset.len() >= 2 => {
            luhn_sum(&indices, charset.len(), false) == 0
        }
        _ => false,
    }
}

/// Checks a code as typed or read aloud against the pattern it was generated with, before
/// any request, and returns it normalized (what [`code_hash`] hashes; the hash is the same
/// as the printed code's).
///
/// After [`normalize_code`] (spaces and dashes dropped, upper-cased) the code must have
/// the pattern's length; each character is taken as is when it can stand where it is, and
/// otherwise replaced by its look-alike ([`LOOK_ALIKES`]) that can: at a prefix or fixed
/// position the pattern's character, at a random or check position the one class member
/// in the charset. A character is therefore changed only where the pattern rules it out,
/// so no code the pattern generates is ever changed. With [`CodePattern::check_char`], the
/// check character must then verify ([`verify_check_char`]).
pub fn check_typed_code(code: &str, pattern: &CodePattern) -> Result<String, CodeError> {
    pattern.validate()?;
    let slots = pattern.slots();
    let got = normalize_code(code).chars().count();
    if got != slots.len() {
        return Err(CodeError::TypedLength {
            expected: slots.len(),
            got,
        });
    }
    let charset = normalized_charset(&pattern.charset).ok_or(CodeError::BadCharset)?;
    let mut out = String::with_capacity(slots.len());
    let mut slot = slots.iter();
    for (i, typed) in code.chars().enumerate() {
        if typed.is_whitespace() || typed == '-' {
            continue;
        }
        for found in typed.to_uppercase() {
            let at = *slot.next().expect("lengths are equal");
            let mapped =
                map_typed(found, at, &charset).ok_or_else(|| CodeError::TypedCharacter {
                    position: i + 1,
                    found,
                    expected: expected_at(at),
                })?;
            out.push(mapped);
        }
    }
    if pattern.check_char {
        let random: String = out
            .chars()
            .zip(&slots)
            .filter(|(_, s)| !matches!(s, Slot::Fixed(_)))
            .map(|(c, _)| c)
            .collect();
        if !verify_check_char(&random, &charset) {
            return Err(CodeError::CheckCharMismatch);
        }
    }
    Ok(out)
}

/// `found` where the pattern has `at`, after look-alike mapping; `None` if it cannot be.
fn map_typed(found: char, at: Slot, charset: &[char]) -> Option<char> {
    let class = look_alike_class(found);
    match at {
        Slot::Fixed(want) if found == want => Some(want),
        Slot::Fixed(want) => class.filter(|c| c.contains(want)).map(|_| want),
        Slot::Random | Slot::Check if charset.contains(&found) => Some(found),
        Slot::Random | Slot::Check => {
            let mut in_charset = class?.chars().filter(|c| charset.contains(c));
            match (in_charset.next(), in_charset.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

/// How an error names what the pattern has at a slot.
fn expected_at(at: Slot) -> String {
    match at {
        Slot::Fixed(c) => format!("{c:?} (fixed by the pattern)"),
        Slot::Random => "a character of the code alphabet".into(),
        Slot::Check => "the check character (a character of the code alphabet)".into(),
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

    /// RFC 4648 base32: has O, I, L and U, and no 0 or 1.
    const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    fn pattern(prefix: &str, charset: &str, check_char: bool) -> CodePattern {
        CodePattern {
            prefix: prefix.into(),
            charset: charset.chars().collect(),
            check_char,
            ..CodePattern::default()
        }
    }

    #[test]
    fn look_alikes_map_only_where_the_pattern_rules_them_out() {
        let default = CodePattern::default();
        assert_eq!(
            check_typed_code("abcd-efgh-jkmo", &default).unwrap(),
            "ABCDEFGHJKM0"
        );
        assert_eq!(
            check_typed_code(" IL0O uvwx yz12", &default).unwrap(),
            "1100VVWXYZ12"
        );
        // A charset that has O, I, L and U keeps them; 0 can only be O there; 1 could be
        // I or L: ambiguous, so refused rather than guessed.
        let base32 = pattern("", BASE32, false);
        assert_eq!(
            check_typed_code("OILU-0ABC-DEFG", &base32).unwrap(),
            "OILUOABCDEFG"
        );
        assert_eq!(
            check_typed_code("1ABC-DEFG-HJKM", &base32),
            Err(CodeError::TypedCharacter {
                position: 1,
                found: '1',
                expected: "a character of the code alphabet".into()
            })
        );
        // Prefix characters outside the charset are kept, and their look-alikes restored.
        let spring = pattern("SPRING-", DEFAULT_CHARSET, false);
        assert_eq!(
            check_typed_code("spr1ng-abcd-efgh-jkmn", &spring).unwrap(),
            "SPRINGABCDEFGHJKMN"
        );
        assert_eq!(
            code_hash(&check_typed_code("spr1ng abcd efgh jkmn", &spring).unwrap()),
            code_hash("SPRING-ABCD-EFGH-JKMN")
        );
    }

    #[test]
    fn typed_codes_that_cannot_fit_are_refused_with_the_place() {
        let default = CodePattern::default();
        assert_eq!(
            check_typed_code("ABCD-EFGH-JKM", &default),
            Err(CodeError::TypedLength {
                expected: 12,
                got: 11
            })
        );
        assert_eq!(
            check_typed_code("ABCD-EFGH-JKMNP", &default),
            Err(CodeError::TypedLength {
                expected: 12,
                got: 13
            })
        );
        assert_eq!(
            check_typed_code("ABCD-EF*H-JKMN", &default),
            Err(CodeError::TypedCharacter {
                position: 8,
                found: '*',
                expected: "a character of the code alphabet".into()
            })
        );
        let spring = pattern("SPRING-", DEFAULT_CHARSET, false);
        let err = check_typed_code("SPRANG-ABCD-EFGH-JKMN", &spring).unwrap_err();
        assert_eq!(
            err,
            CodeError::TypedCharacter {
                position: 4,
                found: 'A',
                expected: "'I' (fixed by the pattern)".into()
            }
        );
        assert!(err.to_string().contains("character 4 of the code"), "{err}");
        assert_eq!(
            check_typed_code("", &default).unwrap_err(),
            CodeError::TypedLength {
                expected: 12,
                got: 0
            }
        );
        let broken = pattern("", "AB-", false);
        assert_eq!(check_typed_code("AB", &broken), Err(CodeError::BadCharset));
    }

    #[test]
    fn generated_codes_are_never_changed_by_the_typed_check() {
        let patterns = [
            CodePattern::default(),
            pattern("", DEFAULT_CHARSET, true),
            pattern("SPRING-", BASE32, true),
            pattern("Löwe ", "abcdefghijklmnopqrstuvwxyz012345", true),
            CodePattern {
                pattern: "##-#.#".into(),
                ..pattern("", "01OIL", false)
            },
        ];
        for p in &patterns {
            for seed in 0u32..300 {
                let random: Vec<u8> = blake3::hash(&seed.to_le_bytes()).as_bytes().to_vec();
                let code = p.generate(&random).unwrap();
                assert_eq!(
                    check_typed_code(&code, p).as_deref(),
                    Ok(normalize_code(&code).as_str()),
                    "{p:?} {code}"
                );
            }
        }
    }

    #[test]
    fn check_character_is_luhn_mod_32_over_the_random_characters() {
        let charset: Vec<char> = DEFAULT_CHARSET.chars().collect();
        // The worked example of docs/encoding.md.
        assert_eq!(check_char("ABCDEFGHJKMN", &charset), Ok('3'));
        assert!(verify_check_char("ABCDEFGHJKMN3", &charset));
        assert!(!verify_check_char("ABCDEFGHJKMN4", &charset));
        assert!(!verify_check_char("6", &charset));
        assert!(
            !verify_check_char("ABCO6", &charset),
            "O is not in the charset"
        );
        assert_eq!(check_char("ABC*", &charset), Err(CodeError::BadCharset));
        let p = pattern("SPR-", DEFAULT_CHARSET, true);
        let code = p.generate(&[7; 24]).unwrap();
        let random: String = normalize_code(&code)["SPR".len()..].to_string();
        assert!(verify_check_char(&random, &charset), "{code}");
        assert_eq!(
            check_char(&random[..12], &charset),
            Ok(random.chars().last().unwrap())
        );
        let odd = pattern("", "ABC", true);
        assert!(matches!(odd.validate(), Err(CodeError::BadPattern(..))));
    }

    #[test]
    fn check_character_catches_every_single_error_and_almost_every_swap() {
        let p = pattern("", DEFAULT_CHARSET, true);
        let good = p.generate(&[42; 24]).unwrap();
        assert_eq!(check_typed_code(&good, &p).unwrap(), normalize_code(&good));
        let chars: Vec<char> = normalize_code(&good).chars().collect();
        for i in 0..chars.len() {
            for wrong in DEFAULT_CHARSET.chars().filter(|&c| c != chars[i]) {
                let mut typo = chars.clone();
                typo[i] = wrong;
                let typo: String = typo.into_iter().collect();
                assert_eq!(
                    check_typed_code(&typo, &p),
                    Err(CodeError::CheckCharMismatch),
                    "{typo}"
                );
            }
        }
        // Adjacent swaps, at every position of every code: caught unless the two
        // characters are '0' and 'Z' (positions 0 and 31: Luhn mod N's one blind pair).
        let charset: Vec<char> = DEFAULT_CHARSET.chars().collect();
        for a in 0..32 {
            for b in 0..32 {
                for parity in 0..2 {
                    let mut random: Vec<char> = vec!['7'; 4 + parity];
                    random.extend([charset[a], charset[b]]);
                    let body: String = random.iter().collect();
                    let check = check_char(&body, &charset).unwrap();
                    let mut all: Vec<char> = body.chars().collect();
                    all.push(check);
                    let n = all.len();
                    for (x, y) in [(n - 3, n - 2), (n - 2, n - 1)] {
                        let mut swapped = all.clone();
                        swapped.swap(x, y);
                        if swapped == all {
                            continue;
                        }
                        let blind =
                            [all[x], all[y]] == ['0', 'Z'] || [all[x], all[y]] == ['Z', '0'];
                        let caught =
                            !verify_check_char(&swapped.iter().collect::<String>(), &charset);
                        assert_eq!(caught, !blind, "{all:?} swap {x},{y}");
                    }
                }
            }
        }
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
