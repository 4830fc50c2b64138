//! The directory's keys: the master key file and the keys derived from it, and the
//! AES-256-GCM seals the store writes.
//!
//! The master key is 32 random bytes in a file of its own (mode 0600, created on first
//! use). Two keys derive from it by HMAC-SHA256 under the master key of a label, one label
//! per use so neither key tells anything about the other: the *wrap key*
//! (`couponcactus/directory/wrap/v1`) seals each subject's own random key, and the *index
//! key* (`couponcactus/directory/index/v1`) computes the blind indexes. A third label
//! (`couponcactus/directory/check/v1`) gives the check value the store keeps to refuse a
//! wrong master key.
//!
//! A seal is `nonce (12 random bytes) ‖ AES-256-GCM ciphertext and tag`, with the
//! member id as associated data: a sealed record or key moved to another row does not
//! open.

use super::DirectoryError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use std::io::Write as _;
use std::path::Path;

/// Length of every key here, bytes.
pub const KEY_LEN: usize = 32;
/// Length of a seal's nonce, bytes.
pub const NONCE_LEN: usize = 12;
/// Length of a seal's tag, bytes.
pub const TAG_LEN: usize = 16;

const WRAP_LABEL: &[u8] = b"couponcactus/directory/wrap/v1";
const INDEX_LABEL: &[u8] = b"couponcactus/directory/index/v1";
const CHECK_LABEL: &[u8] = b"couponcactus/directory/check/v1";

/// The master key (never printed: its `Debug` shows nothing of it).
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// HMAC-SHA256 of `parts` (each length-prefixed, so no two inputs collide) under `key`.
pub fn hmac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(&(p.len() as u64).to_le_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl MasterKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    /// 32 fresh random bytes.
    pub fn random() -> MasterKey {
        MasterKey(random_key())
    }

    /// Reads the key file at `path`, or creates it (mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, DirectoryError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
                    DirectoryError::BadKeyFile(format!(
                        "the directory key file {} holds {} bytes: a directory key is exactly {KEY_LEN} bytes",
                        path.display(),
                        b.len()
                    ))
                })?;
                Ok(MasterKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::random();
                key.write_new(path)?;
                tracing::info!(file = %path.display(), "created the directory key: back it up");
                Ok(key)
            }
            Err(source) => Err(DirectoryError::Io {
                what: format!("reading the directory key {}", path.display()),
                source,
            }),
        }
    }

    /// Writes the key to a new file (mode 0600; an existing file is not overwritten).
    fn write_new(&self, path: &Path) -> Result<(), DirectoryError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |what: &str, source| DirectoryError::Io {
            what: format!("{what} the directory key {}", path.display()),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the folder of", e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("creating", e))?;
        file.write_all(&self.0).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))
    }

    /// The key that wraps subjects' keys.
    pub fn wrap_key(&self) -> [u8; KEY_LEN] {
        hmac(&self.0, &[WRAP_LABEL])
    }

    /// The key of the blind indexes.
    pub fn index_key(&self) -> [u8; KEY_LEN] {
        hmac(&self.0, &[INDEX_LABEL])
    }

    /// The check value the store keeps (tells a wrong key, reveals nothing of the key).
    pub fn check_value(&self) -> [u8; 32] {
        hmac(&self.0, &[CHECK_LABEL])
    }
}

/// 32 random bytes from the OS's generator.
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// Seals `plain` under `key` with a random nonce, bound to `aad`.
pub fn seal(key: &[u8; KEY_LEN], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(key.into());
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        .expect("AES-GCM encryption of a bounded record cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a [`seal`]; `what` names the thing in the error.
pub fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, DirectoryError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(DirectoryError::Unseal(what));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| DirectoryError::Unseal(what))
}
