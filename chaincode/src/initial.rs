//! The initial state of a chain: what genesis puts in state before the first block.
//!
//! The `genesis` crate owns the file format and the genesis hash; this module owns the
//! meaning, so that an auditor replaying from genesis builds the very same state with the
//! chaincode alone.

use crate::execute::validate_params;
use crate::ids::{ChainId, OrgId, PublicKey};
use crate::state::{StateKey, StateValue, WriteSet};
use crate::tx::is_acceptable_key;
use crate::types::{ChainParams, Consortium, KeyRecord, NodeRecord, OrgRecord, Role};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An org present at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct InitialOrg {
    /// Its id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Its org-admin keys (at least one).
    pub admin_keys: Vec<PublicKey>,
}

/// Everything genesis fixes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct InitialState {
    /// The chain's id; every tx signs it.
    pub chain_id: ChainId,
    /// Genesis time (ms); the first block's time must be later.
    pub genesis_time_ms: u64,
    /// Chain parameters.
    pub params: ChainParams,
    /// Founding orgs.
    pub orgs: Vec<InitialOrg>,
    /// Founding consensus nodes (at least one voter).
    pub nodes: Vec<NodeRecord>,
}

/// Why an initial state is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InitialStateError {
    /// An id or name breaks its rule.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What is invalid.
        what: String,
        /// Why.
        why: String,
    },
    /// Something that must be unique repeats.
    #[error("duplicate {0}")]
    Duplicate(String),
    /// No voting node.
    #[error("genesis needs at least one voting node")]
    NoVoter,
}

impl InitialState {
    /// Checks the initial state: well-formed ids and keys, unique orgs, keys and nodes,
    /// nodes run by listed orgs, at least one admin per org and one voter.
    pub fn validate(&self) -> Result<(), InitialStateError> {
        let invalid = |what: &str, why: String| InitialStateError::Invalid {
            what: what.into(),
            why,
        };
        self.chain_id
            .validate()
            .map_err(|e| invalid("chain id", e.to_string()))?;
        validate_params(&self.params).map_err(|r| invalid("params", r.message))?;
        let mut orgs = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for org in &self.orgs {
            org.id
                .validate()
                .map_err(|e| invalid("org id", e.to_string()))?;
            if org.name.is_empty() || org.name.len() > crate::execute::MAX_NAME_BYTES {
                return Err(invalid(
                    "org name",
                    format!("{}: must be 1 to 200 bytes", org.id),
                ));
            }
            if !orgs.insert(&org.id) {
                return Err(InitialStateError::Duplicate(format!("org {}", org.id)));
            }
            if org.admin_keys.is_empty() {
                return Err(invalid("org", format!("{} has no admin key", org.id)));
            }
            for key in &org.admin_keys {
                if !is_acceptable_key(key) {
                    return Err(invalid("admin key", format!("{key} of {}", org.id)));
                }
                if !keys.insert(*key) {
                    return Err(InitialStateError::Duplicate(format!("key {key}")));
                }
            }
        }
        let mut ids = BTreeSet::new();
        let mut node_keys = BTreeSet::new();
        for node in &self.nodes {
            if node.node_id == 0 {
                return Err(invalid("node id", "0 is reserved by raft".into()));
            }
            if !ids.insert(node.node_id) {
                return Err(InitialStateError::Duplicate(format!(
                    "node id {}",
                    node.node_id
                )));
            }
            if !is_acceptable_key(&node.node_key) {
                return Err(invalid("node key", format!("node {}", node.node_id)));
            }
            if !node_keys.insert(node.node_key) {
                return Err(InitialStateError::Duplicate(format!(
                    "node key {}",
                    node.node_key
                )));
            }
            if !orgs.contains(&node.org) {
                return Err(invalid(
                    "node",
                    format!("node {} is run by unknown org {}", node.node_id, node.org),
                ));
            }
            if node.p2p_addr.is_empty() {
                return Err(invalid(
                    "node",
                    format!("node {} has no p2p address", node.node_id),
                ));
            }
        }
        if !self.nodes.iter().any(|n| n.voter) {
            return Err(InitialStateError::NoVoter);
        }
        Ok(())
    }

    /// The writes that make up state at height 0.
    pub fn writes(&self) -> Result<WriteSet, InitialStateError> {
        self.validate()?;
        let mut w = WriteSet::default();
        w.put(StateKey::Params, StateValue::Params(self.params.clone()));
        let mut consortium = Consortium::default();
        for org in &self.orgs {
            w.put(
                StateKey::Org(org.id.clone()),
                StateValue::Org(OrgRecord {
                    name: org.name.clone(),
                    active_admins: org.admin_keys.len() as u32,
                    joined_at: 0,
                }),
            );
            for key in &org.admin_keys {
                w.put(
                    StateKey::Key(*key),
                    StateValue::Key(KeyRecord {
                        org: org.id.clone(),
                        role: Role::OrgAdmin,
                        registered_at: 0,
                        revoked_at: None,
                    }),
                );
            }
            consortium.orgs.push(org.id.clone());
        }
        consortium.orgs.sort();
        consortium.nodes = self.nodes.clone();
        consortium.nodes.sort_by_key(|n| n.node_id);
        w.put(StateKey::Consortium, StateValue::Consortium(consortium));
        w.put(
            StateKey::PruneCursor,
            // Forgetting starts at the first block's `Remembered` entry.
            StateValue::PruneCursor(1, 0),
        );
        Ok(w)
    }
}
