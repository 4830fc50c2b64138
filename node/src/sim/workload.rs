//! The simulator's chain and its txs: a genesis of three orgs with one voting node each,
//! the setup txs of one pool of codes, and two competing redemptions of every code (from
//! different terminals' points of view: same code, different tx), so that "no double
//! redemption" is tested under every fault, not assumed.

use couponcactus_chaincode::prelude::{
    ApproveGovernanceTx, ChainId, Channel, CodeHash, CreatePoolTx, GovernanceChange, InitialState,
    IssueCodesTx, NodeRecord, PoolAction, PoolKind, ProposeGovernanceTx, RedeemTarget, RedeemTx,
    RegisterKeyTx, Role, SignedTx, StoreId, TransitionPoolTx, TxBody, TxId, TxKind, code_hash,
};
use couponcactus_chaincode::testkit::{self, GENESIS_MS};
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;

/// How long every workload tx stays valid after genesis (virtual runs last minutes): well
/// within `max_tx_validity_ms` (1 h) of any node's clock, skewed ones included.
const VALID_FOR_MS: u64 = 30 * 60_000;

/// The orgs of the test genesis, one node each, in node-id order.
const ORGS: [&str; 3] = ["acme", "globex", "initech"];

/// The seed of node `id`'s key (testkit keys by seed).
pub fn node_key_seed(id: u64) -> u8 {
    200 + id as u8
}

/// Node `id`'s record, as a voter (nodes 1, 2, 3 belong to the three orgs in turn, and
/// so on).
pub fn node_record(id: u64) -> NodeRecord {
    NodeRecord {
        node_id: id,
        org: testkit::org(ORGS[(id as usize - 1) % ORGS.len()]),
        node_key: testkit::public(node_key_seed(id)),
        p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", 7200 + id),
        voter: true,
    }
}

/// The genesis: testkit's three orgs, nodes 1..=`nodes` (1 to 3), all voters.
pub fn genesis(nodes: u64) -> InitialState {
    assert!(
        (1..=3).contains(&nodes),
        "the simulator's genesis has 1 to 3 nodes"
    );
    let mut g = testkit::genesis();
    g.nodes = (1..=nodes).map(node_record).collect();
    g
}

/// The chain's txs, built once per run.
pub struct Workload {
    chain_id: ChainId,
    nonce: u64,
    /// Setup txs, each to be committed before the next is admitted (keys first).
    pub setup: Vec<SignedTx>,
    /// Redemptions in submission order: two per code, interleaved.
    pub redemptions: Vec<SignedTx>,
    /// The code each redemption redeems.
    pub code_of: BTreeMap<TxId, CodeHash>,
}

impl Workload {
    /// Setup and `codes` codes redeemed twice each.
    pub fn new(codes: u64) -> Self {
        let mut w = Workload {
            chain_id: genesis(1).chain_id,
            nonce: 0,
            setup: Vec::new(),
            redemptions: Vec::new(),
            code_of: BTreeMap::new(),
        };
        let (admin, issuer, till) = (testkit::key(1), testkit::key(10), testkit::key(11));
        let pool = testkit::pool_id("sim");
        let terminal = Role::Terminal {
            store: StoreId::new("sim-1").expect("valid store"),
            channel: Channel::new("pos").expect("valid channel"),
        };
        for (seed, role) in [(10, Role::Issuer), (11, terminal)] {
            let kind = TxKind::RegisterKey(RegisterKeyTx {
                key: testkit::public(seed),
                role,
            });
            let tx = w.sign(&admin, kind);
            w.setup.push(tx);
        }
        let mut spec = testkit::spec(PoolKind::UniqueCodes);
        spec.per_member_cap = 2;
        let create = TxKind::CreatePool(CreatePoolTx {
            pool: pool.clone(),
            spec,
        });
        let tx = w.sign(&issuer, create);
        w.setup.push(tx);
        let issued = (0..codes)
            .map(|i| testkit::issued_code(&pool, &testkit::code_text(&pool, i), i))
            .collect();
        let issue = TxKind::IssueCodes(IssueCodesTx {
            pool: pool.clone(),
            codes: issued,
        });
        let tx = w.sign(&issuer, issue);
        w.setup.push(tx);
        let activate = TxKind::TransitionPool(TransitionPoolTx {
            pool: pool.clone(),
            action: PoolAction::Activate,
        });
        let tx = w.sign(&issuer, activate);
        w.setup.push(tx);
        for i in 0..codes {
            let code = code_hash(&testkit::code_text(&pool, i));
            for member in [2 * i, 2 * i + 1] {
                let kind = TxKind::Redeem(RedeemTx {
                    target: RedeemTarget::Code(code),
                    member: Some(testkit::member(member)),
                    order: testkit::order(10_000),
                });
                let tx = w.sign(&till, kind);
                w.code_of.insert(tx.id(), code);
                w.redemptions.push(tx);
            }
        }
        w
    }

    /// The governance txs that admit node `id` as a voter: acme's admin proposes, globex's
    /// approves (a quorum of the three orgs). Submit them in order.
    pub fn add_node(&mut self, id: u64) -> [SignedTx; 2] {
        let change = GovernanceChange::AddNode {
            node: node_record(id),
        };
        let propose = self.sign(
            &testkit::key(1),
            TxKind::ProposeGovernance(ProposeGovernanceTx { change }),
        );
        let approve = self.sign(
            &testkit::key(2),
            TxKind::ApproveGovernance(ApproveGovernanceTx {
                proposal: propose.id(),
            }),
        );
        [propose, approve]
    }

    fn sign(&mut self, key: &SigningKey, kind: TxKind) -> SignedTx {
        self.nonce += 1;
        TxBody {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce,
            valid_until_ms: GENESIS_MS + VALID_FOR_MS,
            kind,
            memo: None,
        }
        .sign(key)
    }
}
