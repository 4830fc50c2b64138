//! The confidentiality model: which txs (bodies and results) a reader may see.
//!
//! Blocks are shared by every node, but an org's txs stay its own. What is public and what
//! is not, on every route, is written in `docs/api.md` ("Confidentiality"); this module
//! decides it for one tx:
//!
//! - **Everyone**, unsigned readers included, sees governance txs (`propose_governance`,
//!   `approve_governance`) and their results: they change the consortium itself, which is
//!   public because every certificate is checked against it.
//! - **Consortium auditors** (granted by a governance quorum) and **consortium nodes**
//!   (their node key) see every tx.
//! - **Org admins and issuers** see every tx signed by a key of their org, every tx on
//!   a pool their org owns (a partner's redemption of it included) and every tx on their
//!   org's loyalty program (a partner terminal's earn or spend included).
//! - **Terminals and partner keys** see the txs they signed.
//! - Nobody else sees a tx's body or result. Where a block or the history log lists a tx
//!   the reader may not see, the node shows its leaf hashes instead
//!   ([`WithheldTx`], [`WithheldEntry`]), so the roots, and so the certified header,
//!   stay checkable without revealing it.
//!
//! [`Audience`] caches the key-registry and pool lookups of one request, so a page of a
//! thousand blocks costs one state read per signer and per pool.

use super::ApiError;
use super::auth::Reader;
use crate::storage::Store;
use couponcactus_chaincode::block::WithheldTx;
use couponcactus_chaincode::execute::TxResult;
use couponcactus_chaincode::ids::{Hash32, OrgId, PoolId, PublicKey};
use couponcactus_chaincode::state::{StateKey, StateReader, StateValue};
use couponcactus_chaincode::tx::{SignedTx, TxKind};
use couponcactus_chaincode::types::Role;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A history-log entry the reader may not see: its position and leaf hash only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct WithheldEntry {
    /// Position in the log.
    pub log_index: u64,
    /// The entry's leaf hash `H(0x00 ‖ encode(leaf))`, as the log's root commits to it.
    #[schema(value_type = String)]
    pub leaf_hash: Hash32,
}

/// A block's body as one reader sees it: the txs shown, their results, the withheld ones.
pub(crate) type Redacted = (Vec<SignedTx>, Vec<TxResult>, Vec<WithheldTx>);

/// One request's reader, with the lookups it has made.
pub(crate) struct Audience<'a> {
    store: &'a Store,
    reader: Option<&'a Reader>,
    signer_orgs: BTreeMap<PublicKey, Option<OrgId>>,
    pool_owners: BTreeMap<PoolId, Option<OrgId>>,
}

impl<'a> Audience<'a> {
    /// The audience of `reader` (`None`: an unsigned request).
    pub(crate) fn new(store: &'a Store, reader: Option<&'a Reader>) -> Audience<'a> {
        Audience {
            store,
            reader,
            signer_orgs: BTreeMap::new(),
            pool_owners: BTreeMap::new(),
        }
    }

    /// Whether the reader sees every tx (nothing is ever withheld from it).
    pub(crate) fn sees_all(&self) -> bool {
        self.reader.is_some_and(Reader::is_auditor)
    }

    /// Whether the reader may see `tx` and its result.
    pub(crate) fn can_read(&mut self, tx: &SignedTx) -> Result<bool, ApiError> {
        if is_governance(&tx.body.kind) || self.sees_all() {
            return Ok(true);
        }
        let Some(reader) = self.reader else {
            return Ok(false);
        };
        if reader.key == tx.signer {
            return Ok(true);
        }
        if !matches!(reader.record.role, Role::OrgAdmin | Role::Issuer) {
            return Ok(false);
        }
        let org = &reader.record.org;
        if self.signer_org(tx.signer)?.as_ref() == Some(org) {
            return Ok(true);
        }
        if let Some(pool) = self.pool_of(tx)? {
            return Ok(self.pool_owner(&pool)?.as_ref() == Some(org));
        }
        Ok(couponcactus_chaincode::events::tx_program(self.store, tx)?.as_ref() == Some(org))
    }

    /// `Ok` if the reader may see `tx`, else 403 `not_authorized`.
    pub(crate) fn check(&mut self, tx: &SignedTx) -> Result<(), ApiError> {
        if self.can_read(tx)? {
            return Ok(());
        }
        Err(ApiError::Forbidden(match self.reader {
            Some(r) => format!(
                "key {} ({} of {}) may not read tx {}",
                r.key,
                r.record.role.name(),
                r.record.org,
                tx.id()
            ),
            None => format!("tx {} is not public: sign the request", tx.id()),
        }))
    }

    /// Splits a block's txs and results into what the reader sees and what is withheld.
    pub(crate) fn redact(
        &mut self,
        txs: Vec<SignedTx>,
        results: Vec<TxResult>,
    ) -> Result<Redacted, ApiError> {
        if self.sees_all() {
            return Ok((txs, results, Vec::new()));
        }
        let (mut shown_txs, mut shown_results, mut withheld) = (vec![], vec![], vec![]);
        for (i, (tx, result)) in txs.into_iter().zip(results).enumerate() {
            if self.can_read(&tx)? {
                shown_txs.push(tx);
                shown_results.push(result);
            } else {
                withheld.push(WithheldTx::of(i as u32, &tx, &result));
            }
        }
        Ok((shown_txs, shown_results, withheld))
    }

    fn signer_org(&mut self, key: PublicKey) -> Result<Option<OrgId>, ApiError> {
        if let Some(org) = self.signer_orgs.get(&key) {
            return Ok(org.clone());
        }
        let org = match self.store.get(&StateKey::Key(key))? {
            Some(StateValue::Key(k)) => Some(k.org),
            _ => None,
        };
        self.signer_orgs.insert(key, org.clone());
        Ok(org)
    }

    fn pool_owner(&mut self, pool: &PoolId) -> Result<Option<OrgId>, ApiError> {
        if let Some(owner) = self.pool_owners.get(pool) {
            return Ok(owner.clone());
        }
        let owner = match self.store.get(&StateKey::Pool(pool.clone()))? {
            Some(StateValue::Pool(p)) => Some(p.owner),
            _ => None,
        };
        self.pool_owners.insert(pool.clone(), owner.clone());
        Ok(owner)
    }

    /// The pool a tx acts on, if any (the chaincode's rule, shared with event derivation).
    fn pool_of(&self, tx: &SignedTx) -> Result<Option<PoolId>, ApiError> {
        Ok(couponcactus_chaincode::events::tx_pool(self.store, tx)?)
    }
}

/// Governance txs are public: they change the consortium, which every verifier reads.
fn is_governance(kind: &TxKind) -> bool {
    matches!(
        kind,
        TxKind::ProposeGovernance(_) | TxKind::ApproveGovernance(_)
    )
}
