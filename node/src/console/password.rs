//! Staff passwords: Argon2id PHC strings (the `argon2` crate's default parameters) and the
//! length rules.

use super::ConsoleError;
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted, bytes (bounds the hashing work of a login).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password's length.
pub fn check(password: &str) -> Result<(), ConsoleError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(ConsoleError::Invalid(format!(
            "the password has {chars} characters: use at least {MIN_PASSWORD_LEN}"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(ConsoleError::Invalid(format!(
            "the password is over {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// The PHC string of `password` (Argon2id, default parameters, random salt).
pub fn hash(password: &str) -> Result<String, ConsoleError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ConsoleError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed one, or a
/// password over [`MAX_PASSWORD_LEN`]).
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random password: what a login of an unknown user is verified against, so
/// it costs as much as a known user's.
pub fn dummy_hash() -> Result<String, ConsoleError> {
    hash(&random_secret(24))
}

/// `bytes` random bytes as lowercase hex (tokens, generated passwords).
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes.min(256)];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}
