//! # couponcactus-chaincode
//!
//! The deterministic heart of Couponcactus: the types every node, client and auditor share,
//! their canonical encoding, the signed transaction envelope and the coupon state machine.
//! It is pure: no I/O, no clock (block time is an input), no randomness (callers pass it
//! in), no floats, no hash-map iteration. The same blocks executed on any machine give the
//! same results and byte-identical writes.
//!
//! ```
//! use couponcactus_chaincode::prelude::*;
//! use ed25519_dalek::SigningKey;
//!
//! // A one-org chain whose admin is also its only node's operator.
//! let admin = SigningKey::from_bytes(&[1; 32]);
//! let chain = ChainId::new("demo").unwrap();
//! let genesis = InitialState {
//!     chain_id: chain.clone(),
//!     genesis_time_ms: 1_000_000,
//!     params: ChainParams::default(),
//!     orgs: vec![InitialOrg {
//!         id: OrgId::new("acme").unwrap(),
//!         name: "Acme".into(),
//!         admin_keys: vec![PublicKey(admin.verifying_key().to_bytes())],
//!     }],
//!     nodes: vec![NodeRecord {
//!         node_id: 1,
//!         org: OrgId::new("acme").unwrap(),
//!         node_key: PublicKey(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes()),
//!         p2p_addr: "/ip4/127.0.0.1/tcp/7201".into(),
//!         voter: true,
//!     }],
//! };
//! let mut state = MemState::default();
//! state.apply(&genesis.writes().unwrap());
//!
//! // Register a terminal key in block 1.
//! let terminal = SigningKey::from_bytes(&[3; 32]);
//! let tx = TxBody {
//!     chain_id: chain.clone(),
//!     nonce: 1,
//!     valid_until_ms: 2_000_000,
//!     kind: TxKind::RegisterKey(RegisterKeyTx {
//!         key: PublicKey(terminal.verifying_key().to_bytes()),
//!         role: Role::Terminal { store: StoreId::new("berlin-1").unwrap(), channel: Channel::new("pos").unwrap() },
//!     }),
//!     memo: None,
//! }
//! .sign(&admin);
//! let ctx = BlockContext { chain_id: chain, height: 1, time_ms: 1_001_000 };
//! let out = execute_block(&state, &ctx, &[tx.clone()]).unwrap();
//! assert!(out.results[0].outcome.events().is_some());
//! state.apply(&out.writes);
//!
//! // Replaying the same tx is refused, and changes nothing.
//! let ctx2 = BlockContext { height: 2, time_ms: 1_002_000, ..ctx };
//! let again = execute_block(&state, &ctx2, &[tx]).unwrap();
//! assert_eq!(again.results[0].outcome.rejection().unwrap().reason, RejectReason::Duplicate);
//! ```

pub mod block;
pub mod checkout;
pub mod codes;
pub mod commitment;
pub mod consent;
pub mod discount;
pub mod encoding;
pub mod events;
pub mod execute;
pub mod history;
pub mod ids;
pub mod initial;
pub mod ledger;
pub mod loyalty;
pub mod memo;
pub mod reject;
pub mod risk;
pub mod state;
pub mod state_tree;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tx;
pub mod types;

/// Everything most users need, in one import.
pub mod prelude {
    pub use crate::checkout::CheckoutRules;
    pub use crate::codes::{CodePattern, code_hash, open_code, seal_code};
    pub use crate::consent::{ConsentDecision, ConsentRecord, ErasureRecord, Purpose};
    pub use crate::discount::Quote;
    pub use crate::encoding::{decode, encode};
    pub use crate::execute::{
        BalanceOp, BlockOutcome, Event, ExecError, TxOutcome, TxResult, checkout_redemption_id,
        dry_run, execute_block, quote_redemption,
    };
    pub use crate::ids::*;
    pub use crate::initial::{InitialOrg, InitialState};
    pub use crate::loyalty::{
        Account, AdjustReason, AdjustmentRecord, AdjustmentStatus, Direction, EarnRule,
        EngagementRule, ExpiryPolicy, Liability, Lot, LotId, Movement, MovementKind, PeriodCap,
        ProgramRecord, ProgramSpec, Promotion, Segment, SegmentRule, Settlement, Tier, TierBasis,
        TierPolicy, TierState, Unit, WithdrawalRecord, WithdrawalStatus,
    };
    pub use crate::memo::{MAX_MEMO_BYTES, Memo, MemoError};
    pub use crate::reject::{RejectReason, Rejection};
    pub use crate::risk::{
        HoldReason, HoldRecord, HoldStatus, HoldTarget, VelocityKey, VelocityLimit, VelocityScope,
    };
    pub use crate::state::{MemState, StateKey, StateReader, StateValue, WriteSet};
    pub use crate::tx::*;
    pub use crate::types::*;
}
