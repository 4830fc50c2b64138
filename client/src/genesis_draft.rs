//! Writing a genesis step by step: `cactus genesis init / add-org / add-node / finalize`.
//!
//! **How a draft is stored.** A draft *is* the genesis file: the TOML of the chaincode's
//! `InitialState`, exactly what `couponcactus_genesis::Genesis` reads, written after every
//! step. While it is being put together it may not be valid yet (no orgs, no voter); each
//! step checks what it adds (well-formed ids and keys, no repeated org, node id or key, the
//! node's org listed), and [`GenesisDraft::finalize`] runs the full validation of the
//! `genesis` crate and gives the genesis hash. A node refuses an invalid genesis file, so a
//! draft that was never finalized cannot start a chain by accident.

use couponcactus_chaincode::ids::{ChainId, Hash32, IdError, OrgId, PublicKey};
use couponcactus_chaincode::initial::{InitialOrg, InitialState};
use couponcactus_chaincode::tx::is_acceptable_key;
use couponcactus_chaincode::types::{ChainParams, NodeRecord};
use couponcactus_genesis::{Genesis, GenesisError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The comment at the top of every genesis file the CLI writes.
pub const HEADER: &str = "# Couponcactus genesis, written by `cactus genesis`.\n\
# Every node of the chain gets this very file; `cactus genesis finalize` validates it and\n\
# prints its hash (comments and formatting do not change the hash).\n\n";

/// Why a genesis draft could not be read, changed or finalized.
#[derive(Debug, thiserror::Error)]
pub enum GenesisDraftError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists already (init never overwrites).
    #[error(
        "{0} exists already: pick another --out, or edit it with `cactus genesis add-org/add-node`"
    )]
    Exists(PathBuf),
    /// The file is not a genesis TOML.
    #[error("{path}: not a genesis file: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An id breaks the slug rule.
    #[error("invalid {what}: {source}")]
    BadId {
        /// What the id names.
        what: &'static str,
        /// Why.
        #[source]
        source: IdError,
    },
    /// Something added repeats what the draft has.
    #[error("duplicate {0}")]
    Duplicate(String),
    /// A node names an org the draft does not list.
    #[error(
        "node {node_id}: org {org} is not in the genesis; add it first with `cactus genesis add-org`"
    )]
    UnknownOrg {
        /// The node.
        node_id: u64,
        /// Its org.
        org: OrgId,
    },
    /// A value is out of range or malformed.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// Full validation failed.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
}

type Result<T> = std::result::Result<T, GenesisDraftError>;

/// A genesis being put together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisDraft {
    /// What it says so far.
    pub initial: InitialState,
}

impl GenesisDraft {
    /// An empty draft of chain `chain_id` with genesis time `genesis_time_ms`.
    pub fn new(chain_id: &str, genesis_time_ms: u64, params: ChainParams) -> Result<GenesisDraft> {
        let chain_id = ChainId::new(chain_id).map_err(|source| GenesisDraftError::BadId {
            what: "chain id",
            source,
        })?;
        Ok(GenesisDraft {
            initial: InitialState {
                chain_id,
                genesis_time_ms,
                params,
                orgs: vec![],
                nodes: vec![],
            },
        })
    }

    /// Reads a draft (or a finished genesis) without validating it.
    pub fn load(path: &Path) -> Result<GenesisDraft> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisDraftError::Io {
            path: path.into(),
            source,
        })?;
        let initial = toml::from_str(&text).map_err(|e| GenesisDraftError::Parse {
            path: path.into(),
            why: e.to_string(),
        })?;
        Ok(GenesisDraft { initial })
    }

    /// The TOML text, with [`HEADER`].
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(&self.initial).expect("an initial state serializes");
        format!("{HEADER}{body}")
    }

    /// Writes a new draft file, refusing to replace an existing one.
    pub fn create(&self, path: &Path) -> Result<()> {
        let io = |source| GenesisDraftError::Io {
            path: path.into(),
            source,
        };
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(GenesisDraftError::Exists(path.into()));
            }
            Err(e) => return Err(io(e)),
        };
        file.write_all(self.to_toml().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Rewrites the draft file (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| GenesisDraftError::Io { path: p, source }
        };
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(self.to_toml().as_bytes())
            .map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    /// Adds an org with its first admin key.
    pub fn add_org(&mut self, id: &str, name: &str, admin_key: PublicKey) -> Result<()> {
        let id = OrgId::new(id).map_err(|source| GenesisDraftError::BadId {
            what: "org id",
            source,
        })?;
        if name.trim().is_empty() || name.len() > 200 {
            return Err(GenesisDraftError::Invalid {
                what: "org name",
                why: "1 to 200 bytes".into(),
            });
        }
        if !is_acceptable_key(&admin_key) {
            return Err(GenesisDraftError::Invalid {
                what: "admin key",
                why: format!("{admin_key} is not a valid ed25519 public key"),
            });
        }
        if self.initial.orgs.iter().any(|o| o.id == id) {
            return Err(GenesisDraftError::Duplicate(format!("org {id}")));
        }
        if self.keys().any(|k| k == admin_key) {
            return Err(GenesisDraftError::Duplicate(format!("key {admin_key}")));
        }
        self.initial.orgs.push(InitialOrg {
            id,
            name: name.to_string(),
            admin_keys: vec![admin_key],
        });
        Ok(())
    }

    /// Adds a founding node (a voter unless `learner`).
    pub fn add_node(
        &mut self,
        node_id: u64,
        org: &str,
        node_key: PublicKey,
        p2p_addr: &str,
        learner: bool,
    ) -> Result<()> {
        if node_id == 0 {
            return Err(GenesisDraftError::Invalid {
                what: "node id",
                why: "0 is reserved by Raft; ids start at 1".into(),
            });
        }
        let org = OrgId::new(org).map_err(|source| GenesisDraftError::BadId {
            what: "org id",
            source,
        })?;
        if !self.initial.orgs.iter().any(|o| o.id == org) {
            return Err(GenesisDraftError::UnknownOrg { node_id, org });
        }
        if !is_acceptable_key(&node_key) {
            return Err(GenesisDraftError::Invalid {
                what: "node key",
                why: format!("{node_key} is not a valid ed25519 public key"),
            });
        }
        let addr = p2p_addr.trim();
        if !(addr.starts_with("/ip4/") || addr.starts_with("/ip6/") || addr.starts_with("/dns"))
            || !addr.contains("/tcp/")
        {
            return Err(GenesisDraftError::Invalid {
                what: "p2p address",
                why: format!(
                    "{p2p_addr:?} is not a libp2p TCP multiaddr such as /ip4/10.0.0.5/tcp/7201 or /dns4/node-a/tcp/7201"
                ),
            });
        }
        if self.initial.nodes.iter().any(|n| n.node_id == node_id) {
            return Err(GenesisDraftError::Duplicate(format!("node id {node_id}")));
        }
        if self.keys().any(|k| k == node_key) {
            return Err(GenesisDraftError::Duplicate(format!("key {node_key}")));
        }
        let at = self.initial.nodes.partition_point(|n| n.node_id < node_id);
        self.initial.nodes.insert(
            at,
            NodeRecord {
                node_id,
                org,
                node_key,
                p2p_addr: addr.to_string(),
                voter: !learner,
            },
        );
        Ok(())
    }

    fn keys(&self) -> impl Iterator<Item = PublicKey> + '_ {
        self.initial
            .orgs
            .iter()
            .flat_map(|o| o.admin_keys.iter().copied())
            .chain(self.initial.nodes.iter().map(|n| n.node_key))
    }

    /// Validates the draft as a genesis (unique ids, well-formed keys, at least one voter, …)
    /// and returns it with its hash.
    pub fn finalize(&self) -> Result<(Genesis, Hash32)> {
        let genesis = Genesis::new(self.initial.clone())?;
        let hash = genesis.hash();
        Ok((genesis, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_genesis::KeyFile;

    #[test]
    fn a_draft_grows_into_a_valid_genesis_with_a_stable_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.toml");
        let draft =
            GenesisDraft::new("cactus-main", 1_767_225_600_000, ChainParams::default()).unwrap();
        draft.create(&path).unwrap();
        assert!(matches!(
            draft.create(&path),
            Err(GenesisDraftError::Exists(_))
        ));

        let mut d = GenesisDraft::load(&path).unwrap();
        assert!(d.finalize().is_err(), "no org, no voter yet");
        let admin = KeyFile::from_seed([1; 32]).public_key();
        let node_key = KeyFile::from_seed([2; 32]).public_key();
        d.add_org("acme", "Acme Corp", admin).unwrap();
        assert!(matches!(
            d.add_org("acme", "Again", KeyFile::from_seed([3; 32]).public_key()),
            Err(GenesisDraftError::Duplicate(_))
        ));
        assert!(matches!(
            d.add_org("globex", "Globex", admin),
            Err(GenesisDraftError::Duplicate(_))
        ));
        assert!(
            d.add_org("Not Slug", "x", KeyFile::from_seed([4; 32]).public_key())
                .is_err()
        );
        assert!(matches!(
            d.add_node(1, "initech", node_key, "/ip4/127.0.0.1/tcp/7201", false),
            Err(GenesisDraftError::UnknownOrg { .. })
        ));
        assert!(
            d.add_node(1, "acme", node_key, "127.0.0.1:7201", false)
                .is_err()
        );
        assert!(
            d.add_node(0, "acme", node_key, "/ip4/127.0.0.1/tcp/7201", false)
                .is_err()
        );
        d.add_node(1, "acme", node_key, "/ip4/127.0.0.1/tcp/7201", true)
            .unwrap();
        d.save(&path).unwrap();
        let learner_only = GenesisDraft::load(&path).unwrap();
        let err = learner_only.finalize().unwrap_err();
        assert!(err.to_string().contains("voting node"), "{err}");

        let mut d = learner_only;
        assert!(matches!(
            d.add_node(
                1,
                "acme",
                KeyFile::from_seed([5; 32]).public_key(),
                "/dns4/node-a/tcp/7201",
                false
            ),
            Err(GenesisDraftError::Duplicate(_))
        ));
        d.add_node(
            2,
            "acme",
            KeyFile::from_seed([5; 32]).public_key(),
            "/dns4/node-a/tcp/7201",
            false,
        )
        .unwrap();
        d.save(&path).unwrap();
        let (genesis, hash) = GenesisDraft::load(&path).unwrap().finalize().unwrap();
        // The file the draft wrote is what the genesis crate (and so every node) reads.
        let loaded = Genesis::load(&path).unwrap();
        assert_eq!(loaded, genesis);
        assert_eq!(loaded.hash(), hash);
    }
}
