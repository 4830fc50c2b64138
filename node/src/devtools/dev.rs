//! `cactusd --dev`: a one-node chain with generated keys, ready for the CLI.
//!
//! On first start in an empty data directory it generates the keys of one org `dev`
//! (org admin, issuer, a terminal at store `dev-store` on channel `pos`, an auditor), the
//! node key and the org's code-sealing data key, writes them as 0600 files under
//! `DIR/keys/`, and writes `DIR/genesis.toml`. Later starts reuse them.

use couponcactus_chaincode::ids::{ChainId, Channel, OrgId, StoreId};
use couponcactus_chaincode::initial::{InitialOrg, InitialState};
use couponcactus_chaincode::types::{ChainParams, NodeRecord, Role};
use couponcactus_genesis::{Genesis, GenesisError, KeyFile};
use std::path::{Path, PathBuf};

/// The keys `--dev` generates, by file stem, with the role each gets on chain (`None`:
/// not an on-chain role).
pub fn dev_roles() -> Vec<(&'static str, Option<Role>)> {
    vec![
        ("org-admin", Some(Role::OrgAdmin)),
        ("issuer", Some(Role::Issuer)),
        (
            "terminal",
            Some(Role::Terminal {
                store: StoreId("dev-store".into()),
                channel: Channel("pos".into()),
            }),
        ),
        ("auditor", Some(Role::Auditor)),
        ("node", None),
    ]
}

/// Where the dev chain's files are.
#[derive(Debug, Clone)]
pub struct DevLayout {
    /// The data directory.
    pub dir: PathBuf,
}

impl DevLayout {
    /// `DIR/genesis.toml`.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.toml")
    }

    /// `DIR/keys/NAME.key`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{name}.key"))
    }

    /// `DIR/keys/data.key`: the org's 32-byte code-sealing key, hex.
    pub fn data_key(&self) -> PathBuf {
        self.dir.join("keys").join("data.key")
    }

    /// `DIR/db`: RocksDB.
    pub fn db(&self) -> PathBuf {
        self.dir.join("db")
    }
}

/// Creates the dev genesis and keys if missing; returns the genesis.
///
/// Crash-safe: everything is written into `DIR/.init` first, then the keys folder and,
/// last, `genesis.toml` are renamed into place. `genesis.toml` existing means the rest is
/// complete; keys without a genesis are leftovers of an interrupted first start (no chain
/// ever used them) and are replaced.
pub fn prepare(dir: &Path, p2p_addr: &str, now_ms: u64) -> Result<Genesis, GenesisError> {
    let layout = DevLayout {
        dir: dir.to_path_buf(),
    };
    if layout.genesis().exists() {
        return Genesis::load(&layout.genesis());
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenesisError::Io {
            path: path.clone(),
            source,
        }
    };
    let staging = DevLayout {
        dir: dir.join(".init"),
    };
    if staging.dir.exists() {
        std::fs::remove_dir_all(&staging.dir).map_err(io(&staging.dir))?;
    }
    std::fs::create_dir_all(staging.dir.join("keys")).map_err(io(&staging.dir))?;
    let mut keys = std::collections::BTreeMap::new();
    for (name, _) in dev_roles() {
        let key = KeyFile::generate();
        key.save(&staging.key(name))?;
        keys.insert(name, key);
    }
    let data_key = KeyFile::generate(); // 32 random bytes, stored like a key file
    data_key.save(&staging.data_key())?;
    let org = OrgId("dev".into());
    let genesis = Genesis::new(InitialState {
        chain_id: ChainId("cactus-dev".into()),
        genesis_time_ms: now_ms,
        params: ChainParams::default(),
        orgs: vec![InitialOrg {
            id: org.clone(),
            name: "Dev Org".into(),
            admin_keys: vec![keys["org-admin"].public_key()],
        }],
        nodes: vec![NodeRecord {
            node_id: 1,
            org,
            node_key: keys["node"].public_key(),
            p2p_addr: p2p_addr.into(),
            voter: true,
        }],
    })?;
    genesis.save(&staging.genesis())?;
    let keys_dir = dir.join("keys");
    if keys_dir.exists() {
        std::fs::remove_dir_all(&keys_dir).map_err(io(&keys_dir))?;
    }
    std::fs::rename(staging.dir.join("keys"), &keys_dir).map_err(io(&keys_dir))?;
    std::fs::rename(staging.genesis(), layout.genesis()).map_err(io(&layout.genesis()))?;
    std::fs::remove_dir_all(&staging.dir).map_err(io(&staging.dir))?;
    Ok(genesis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_first_start_is_recovered_and_a_complete_one_reused() {
        let dir = tempfile::tempdir().unwrap();
        // Leftovers of a crash: a half-written staging folder and keys without a genesis.
        std::fs::create_dir_all(dir.path().join(".init/keys")).unwrap();
        std::fs::write(dir.path().join(".init/keys/org-admin.key"), "{").unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/org-admin.key"), "{").unwrap();
        let genesis = prepare(dir.path(), "/ip4/127.0.0.1/tcp/1", 1_000).unwrap();
        let layout = DevLayout {
            dir: dir.path().to_path_buf(),
        };
        let admin = KeyFile::load(&layout.key("org-admin")).unwrap();
        assert_eq!(genesis.initial.orgs[0].admin_keys, vec![admin.public_key()]);
        assert!(!dir.path().join(".init").exists());
        // A second start reuses everything.
        let again = prepare(dir.path(), "/ip4/127.0.0.1/tcp/1", 2_000).unwrap();
        assert_eq!(again.hash(), genesis.hash());
        assert_eq!(
            KeyFile::load(&layout.key("org-admin"))
                .unwrap()
                .public_key(),
            admin.public_key()
        );
    }
}
