//! # couponcactus-genesis
//!
//! The genesis file of a Couponcactus chain: its TOML format, validation, the genesis hash
//! every node and auditor pins, and ed25519 key files.
//!
//! The meaning of genesis (what state it creates) belongs to the chaincode
//! ([`couponcactus_chaincode::initial::InitialState`]); this crate reads and writes it.
//! The genesis hash is `blake3::derive_key(GENESIS_HASH_CONTEXT, canonical bytes of the
//! InitialState)`, so it does not depend on TOML formatting or comments.
//!
//! ```
//! use couponcactus_genesis::{Genesis, KeyFile};
//! use couponcactus_chaincode::prelude::*;
//!
//! let admin = KeyFile::from_seed([1; 32]);
//! let node = KeyFile::from_seed([2; 32]);
//! let genesis = Genesis::new(InitialState {
//!     chain_id: ChainId::new("demo").unwrap(),
//!     genesis_time_ms: 1_767_225_600_000,
//!     params: ChainParams::default(),
//!     orgs: vec![InitialOrg { id: OrgId::new("acme").unwrap(), name: "Acme".into(), admin_keys: vec![admin.public_key()] }],
//!     nodes: vec![NodeRecord { node_id: 1, org: OrgId::new("acme").unwrap(), node_key: node.public_key(),
//!                              p2p_addr: "/ip4/127.0.0.1/tcp/7201".into(), voter: true }],
//! }).unwrap();
//! let text = genesis.to_toml();
//! let again = Genesis::from_toml(&text).unwrap();
//! assert_eq!(again.hash(), genesis.hash());
//! ```

use couponcactus_chaincode::encoding::encode;
use couponcactus_chaincode::ids::{Hash32, PublicKey};
use couponcactus_chaincode::initial::{InitialState, InitialStateError};
use couponcactus_chaincode::state::WriteSet;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Context string of the genesis hash.
pub const GENESIS_HASH_CONTEXT: &str = "couponcactus 2026 genesis v1";

/// Why a genesis or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML / JSON of the expected shape.
    #[error("{path}: {why}")]
    Parse {
        /// The file (or `<string>`).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The genesis content breaks a rule.
    #[error("invalid genesis: {0}")]
    Invalid(#[from] InitialStateError),
    /// A key file's secret does not match its public key, or is malformed.
    #[error("{path}: {why}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// A validated genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// What genesis fixes.
    #[serde(flatten)]
    pub initial: InitialState,
}

impl Genesis {
    /// Validates `initial`.
    pub fn new(initial: InitialState) -> Result<Self, GenesisError> {
        initial.validate()?;
        Ok(Genesis { initial })
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let initial: InitialState = toml::from_str(text).map_err(|e| GenesisError::Parse {
            path: "<string>".into(),
            why: e.to_string(),
        })?;
        Self::new(initial)
    }

    /// Reads and validates a genesis file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            GenesisError::Parse { why, .. } => GenesisError::Parse {
                path: path.into(),
                why,
            },
            other => other,
        })
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.initial).expect("genesis serializes to TOML")
    }

    /// Writes the genesis file.
    pub fn save(&self, path: &Path) -> Result<(), GenesisError> {
        fs::write(path, self.to_toml()).map_err(|source| GenesisError::Io {
            path: path.into(),
            source,
        })
    }

    /// The genesis hash: `blake3::derive_key(GENESIS_HASH_CONTEXT, encode(initial))`.
    pub fn hash(&self) -> Hash32 {
        Hash32(blake3::derive_key(
            GENESIS_HASH_CONTEXT,
            &encode(&self.initial),
        ))
    }

    /// The state writes of height 0.
    pub fn state_writes(&self) -> WriteSet {
        self.initial.writes().expect("validated at construction")
    }
}

/// An ed25519 key on disk: JSON with the public key and the 32-byte secret seed in hex,
/// written with mode 0600.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// Public key, hex.
    pub public_key: PublicKey,
    /// Secret seed, hex.
    secret_key: String,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({})", self.public_key)
    }
}

impl KeyFile {
    /// A key from a fixed seed (tests and reproducible demos only).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        KeyFile {
            public_key: PublicKey(key.verifying_key().to_bytes()),
            secret_key: hex::encode(seed),
        }
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random generator is available");
        Self::from_seed(seed)
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The signing key.
    pub fn signing_key(&self) -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&self.secret_key, &mut seed).expect("checked when loaded or built");
        SigningKey::from_bytes(&seed)
    }

    /// Reads a key file, checking the secret matches the public key.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: path.into(),
            source,
        })?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| GenesisError::Parse {
            path: path.into(),
            why: e.to_string(),
        })?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&file.secret_key, &mut seed).map_err(|_| GenesisError::BadKey {
            path: path.into(),
            why: "secret_key is not 64 hex characters".into(),
        })?;
        if Self::from_seed(seed).public_key != file.public_key {
            return Err(GenesisError::BadKey {
                path: path.into(),
                why: "secret_key does not match public_key".into(),
            });
        }
        Ok(file)
    }

    /// Writes the key file with mode 0600 (refusing to overwrite an existing file).
    pub fn save(&self, path: &Path) -> Result<(), GenesisError> {
        let io = |source| GenesisError::Io {
            path: path.into(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path).map_err(io)?;
        let json = serde_json::to_string_pretty(self).expect("key file serializes");
        f.write_all(json.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::prelude::*;

    fn sample() -> InitialState {
        InitialState {
            chain_id: ChainId::new("demo").unwrap(),
            genesis_time_ms: 1,
            params: ChainParams::default(),
            orgs: vec![InitialOrg {
                id: OrgId::new("acme").unwrap(),
                name: "Acme".into(),
                admin_keys: vec![KeyFile::from_seed([1; 32]).public_key()],
            }],
            nodes: vec![NodeRecord {
                node_id: 1,
                org: OrgId::new("acme").unwrap(),
                node_key: KeyFile::from_seed([2; 32]).public_key(),
                p2p_addr: "/ip4/127.0.0.1/tcp/7201".into(),
                voter: true,
            }],
        }
    }

    #[test]
    fn toml_round_trip_keeps_the_hash() {
        let g = Genesis::new(sample()).unwrap();
        let text = g.to_toml();
        assert_eq!(Genesis::from_toml(&text).unwrap(), g);
        assert_eq!(
            Genesis::from_toml(&format!("# comment\n{text}"))
                .unwrap()
                .hash(),
            g.hash()
        );
        let mut other = sample();
        other.genesis_time_ms = 2;
        assert_ne!(Genesis::new(other).unwrap().hash(), g.hash());
    }

    #[test]
    fn invalid_genesis_is_refused_with_the_reason() {
        let mut s = sample();
        s.nodes[0].voter = false;
        assert!(matches!(
            Genesis::new(s),
            Err(GenesisError::Invalid(InitialStateError::NoVoter))
        ));
        let mut s = sample();
        s.orgs.push(s.orgs[0].clone());
        let err = Genesis::new(s).unwrap_err().to_string();
        assert!(err.contains("duplicate org acme"), "{err}");
        let mut s = sample();
        s.orgs[0].admin_keys = vec![PublicKey([0xff; 32])];
        assert!(Genesis::new(s).is_err());
        assert!(matches!(
            Genesis::from_toml("chain_id = 5"),
            Err(GenesisError::Parse { .. })
        ));
    }

    /// docs/encoding.md, "Genesis hash": its genesis file, vector and context string.
    const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md");

    /// The lines of the first fenced block of the document whose info string is `info`.
    fn doc_block(doc: &str, info: &str) -> String {
        let mut lines = doc.lines().skip_while(|l| l.trim() != format!("```{info}"));
        assert!(lines.next().is_some(), "{DOC_PATH} has no ```{info} block");
        let body: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
        body.join("\n") + "\n"
    }

    /// The value of `key: value` in the document's genesis vector.
    fn vector_field(doc: &str, key: &str) -> String {
        doc_block(doc, "genesis-vector")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("the genesis vector has no `{key}` line"))
            .trim()
            .to_string()
    }

    #[test]
    fn documented_genesis_vector_is_the_hash_of_its_toml() {
        let doc = fs::read_to_string(DOC_PATH).expect("docs/encoding.md");
        let genesis = Genesis::from_toml(&doc_block(&doc, "toml genesis"))
            .expect("the documented genesis file is valid");
        let (bytes, hash) = (hex::encode(encode(&genesis.initial)), genesis.hash());
        let expected = format!("initial_state: {bytes}\ngenesis_hash: {hash}");
        let documented = format!(
            "initial_state: {}\ngenesis_hash: {}",
            vector_field(&doc, "initial_state"),
            vector_field(&doc, "genesis_hash")
        );
        assert_eq!(
            documented, expected,
            "docs/encoding.md's genesis vector is not its genesis file's (fix it by hand)"
        );
        let context = format!("context = \"{GENESIS_HASH_CONTEXT}\"");
        assert!(
            doc.contains(&context),
            "docs/encoding.md does not give the genesis hash's {context}"
        );
        // The documented rule, by hand: derive_key(context, encode(InitialState)).
        assert_eq!(
            hash.0,
            blake3::derive_key(GENESIS_HASH_CONTEXT, &encode(&genesis.initial))
        );
    }

    /// What docs/encoding.md says of the genesis file: formatting, key order within a table
    /// and unknown keys do not change the hash; the order of `[[orgs]]` tables does.
    #[test]
    fn genesis_hash_follows_the_documented_rules() {
        let doc = fs::read_to_string(DOC_PATH).expect("docs/encoding.md");
        let text = doc_block(&doc, "toml genesis");
        let hash = Genesis::from_toml(&text).unwrap().hash();
        let reformatted = format!("# a comment\nunknown_key = 1\n{text}")
            .replace("max_batch_codes = 5000\n", "")
            .replace(
                "[params]\n",
                "[params]\nmax_batch_codes   =   5_000 # reordered\n",
            );
        assert_ne!(reformatted, text);
        assert_eq!(Genesis::from_toml(&reformatted).unwrap().hash(), hash);
        let first_org = "[[orgs]]\nid = \"acme\"\nname = \"ACME\"\n";
        let at = text.find(first_org).expect("acme's [[orgs]] table");
        let end = text[at + 1..].find("[[orgs]]").expect("another org") + at + 1;
        let swapped = format!("{}{}{}", &text[..at], &text[end..], &text[at..end]);
        let swapped = Genesis::from_toml(&swapped).expect("orgs in another order");
        assert_ne!(swapped.hash(), hash, "the order of [[orgs]] counts");
        assert_eq!(
            swapped.state_writes(),
            Genesis::from_toml(&text).unwrap().state_writes()
        );
    }

    #[test]
    fn key_files_round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.key");
        let key = KeyFile::generate();
        key.save(&path).unwrap();
        assert_eq!(KeyFile::load(&path).unwrap().public_key(), key.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(key.save(&path).is_err(), "must not overwrite a key");
        let tampered = fs::read_to_string(&path)
            .unwrap()
            .replace(&key.public_key().to_hex(), &"ab".repeat(32));
        fs::write(&path, tampered).unwrap();
        assert!(matches!(
            KeyFile::load(&path),
            Err(GenesisError::BadKey { .. })
        ));
    }
}
