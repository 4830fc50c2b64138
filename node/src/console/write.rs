//! Console writes: a staff action becomes a ledger tx signed with the console's org key
//! (`[console] key_file`) whose memo names the staff user (`console:<user id>:<name>`), so
//! every change made from the console is tied on the ledger to the person responsible.
//! The tx is submitted to this node and waited for; the ledger's own checks (the key's
//! role, the pool's owner, legal transitions) decide, and a rejection is shown as the
//! ledger worded it. Only admin and issuer staff write ([`Role::WRITERS`]).

use super::session::Staff;
use super::view::PageError;
use super::{Console, Role};
use crate::node::{SubmitError, SubmitOutcome};
use couponcactus_chaincode::execute::TxOutcome;
use couponcactus_chaincode::ids::TxId;
use couponcactus_chaincode::memo::Memo;
use couponcactus_chaincode::tx::TxKind;
use couponcactus_client::tx_builder::TxBuilder;

/// A write the ledger applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The tx's id.
    pub tx_id: TxId,
    /// The block it landed in.
    pub height: u64,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The page refused it before anything was signed (role, read-only console).
    #[error(transparent)]
    Page(#[from] PageError),
    /// The ledger executed the tx and rejected it: nothing changed.
    #[error("the ledger refused it ({reason}): {message}")]
    Rejected {
        /// The rejection code (e.g. `invalid_transition`).
        reason: String,
        /// The ledger's words.
        message: String,
    },
}

impl From<WriteError> for PageError {
    fn from(e: WriteError) -> PageError {
        match e {
            WriteError::Page(p) => p,
            rejected @ WriteError::Rejected { .. } => PageError::BadRequest(rejected.to_string()),
        }
    }
}

/// The memo of `staff`'s writes.
pub fn memo_of(staff: &Staff) -> Result<Memo, PageError> {
    Memo::new(format!("console:{}:{}", staff.user.id, staff.user.name))
        .map_err(|e| PageError::Internal(format!("staff memo: {e}")))
}

/// Checks `staff` may write here: a writer role and a console that holds a key.
pub fn may_write(console: &Console, staff: &Staff) -> Result<(), PageError> {
    staff.require_role(Role::WRITERS)?;
    if console.signer().is_none() {
        return Err(PageError::Forbidden(
            "this console is read-only: no [console] key_file is configured on this node".into(),
        ));
    }
    Ok(())
}

/// Signs `kind` as `staff` and waits until the ledger executed it.
pub async fn submit(console: &Console, staff: &Staff, kind: TxKind) -> Result<Written, WriteError> {
    may_write(console, staff)?;
    let key = console
        .signer()
        .ok_or_else(|| PageError::Internal("no console key".into()))?;
    let tx = TxBuilder::new(console.node.chain_id().clone())
        .memo(Some(memo_of(staff)?))
        .sign(key, kind);
    let id = tx.id();
    let outcome = console.node.submit(tx, true).await.map_err(|e| match e {
        SubmitError::Admission(a) => PageError::BadRequest(format!("the node refused it: {a}")),
        other => PageError::Internal(other.to_string()),
    })?;
    let SubmitOutcome::Committed(done) = outcome else {
        return Err(PageError::Internal(format!("tx {id} was queued but not waited for")).into());
    };
    match done.result.outcome {
        TxOutcome::Applied { .. } => {
            tracing::info!(tx = %id, user = %staff.user.name, "console write applied");
            Ok(Written {
                tx_id: id,
                height: done.location.height,
            })
        }
        TxOutcome::Rejected { rejection } => Err(WriteError::Rejected {
            reason: rejection.reason.code().to_string(),
            message: rejection.message,
        }),
    }
}
