//! The vote keeper: certification of checkpoints, as a pure state machine.
//!
//! After applying a block every node signs its hash and broadcasts the vote; a majority of
//! the consortium's voters signing *this node's* hash at a height makes the block's
//! [`Certificate`], and a vote for another hash is a [`Divergence`]. [`VoteKeeper`] owns
//! that bookkeeping: the votes gathered per height (kept from [`VOTE_WINDOW`] behind the
//! last applied height to [`VOTE_WINDOW`] ahead of the tip), this node's hashes, and the
//! hashes of recently certified heights (at most [`VOTE_WINDOW`]) to check late votes.
//!
//! It is pure, raft-rs style: it takes inputs (a height this node applied, a peer's vote,
//! the tip height and consortium of the moment) and returns [`Effect`]s in order, for the
//! driver (the consensus loop in [`crate::node`]) to carry out: broadcast the vote, store
//! the certificate, log and count a divergence. No I/O, clock, lock, metric or log here;
//! signing and verification are deterministic ed25519. The one hash it may not remember
//! (this node's block at an older height) comes from a lookup the driver passes in.

use bincode::{Decode, Encode};
use couponcactus_chaincode::block::{
    Certificate, CheckpointSignature, checkpoint_message, sign_checkpoint,
};
use couponcactus_chaincode::ids::{ChainId, Hash32};
use couponcactus_chaincode::types::Consortium;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use std::collections::BTreeMap;

/// How far ahead of its own tip a node keeps peers' votes, how far behind the last applied
/// height it keeps uncertified heights, and how many certified hashes it remembers.
pub const VOTE_WINDOW: u64 = 4_096;

/// Two nodes applied different blocks at the same height: never expected, always loud.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Divergence {
    /// The height.
    pub height: u64,
    /// The node whose vote disagrees with this node.
    pub node_id: u64,
    /// This node's block hash at that height.
    pub ours: Hash32,
    /// The hash the other node signed.
    pub theirs: Hash32,
}

/// A node's signature of the block it applied at a height, as broadcast to its peers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CheckpointVote {
    /// The block's height.
    pub height: u64,
    /// The hash the signer applied at that height.
    pub block_hash: Hash32,
    /// The signature ([`checkpoint_message`] by the node key).
    pub signature: CheckpointSignature,
}

/// What the driver must do, in the order returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send this node's vote to its peers.
    Broadcast(CheckpointVote),
    /// A quorum of voters signed this node's hash: store the certificate (it verifies).
    Certified(Certificate),
    /// A vote for another hash than this node's at that height.
    Diverged(Divergence),
    /// A peer's vote was not kept.
    Dropped {
        /// The vote's height.
        height: u64,
        /// Its signer.
        signer: u64,
        /// Why.
        reason: DropReason,
    },
}

/// Why a peer's vote was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Height 0, or more than [`VOTE_WINDOW`] ahead of the tip.
    OutOfWindow,
    /// The signer is not in the consortium (any more).
    UnknownSigner,
    /// The signature does not verify against the signer's node key.
    BadSignature,
    /// The height is applied and no longer awaits votes (certified or forgotten).
    Stale,
}

/// Votes gathered for one height until a quorum certifies it.
#[derive(Debug, Default)]
struct Pending {
    /// This node's hash at the height, once applied.
    ours: Option<Hash32>,
    /// Votes by signer (checked against `ours` once known); ascending signers. Each with
    /// the node key its signature verified under when it arrived, so a certificate is
    /// assembled without verifying any signature again (a signer whose key changed since
    /// is left out).
    votes: BTreeMap<u64, (CheckpointVote, [u8; 32])>,
}

/// Gathers checkpoint votes into certificates and spots divergences; see the module doc.
pub struct VoteKeeper {
    node_id: u64,
    key: SigningKey,
    chain_id: ChainId,
    /// Heights not certified yet.
    pending: BTreeMap<u64, Pending>,
    /// Hashes of recently certified heights, to check late votes for divergence.
    recent: BTreeMap<u64, Hash32>,
}

impl std::fmt::Debug for VoteKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoteKeeper")
            .field("node_id", &self.node_id)
            .field("pending", &self.pending.len())
            .field("recent", &self.recent.len())
            .finish_non_exhaustive()
    }
}

impl VoteKeeper {
    /// A keeper for node `node_id`, signing with its node key on chain `chain_id`.
    pub fn new(node_id: u64, key: SigningKey, chain_id: ChainId) -> Self {
        Self {
            node_id,
            key,
            chain_id,
            pending: BTreeMap::new(),
            recent: BTreeMap::new(),
        }
    }

    /// This node applied `block_hash` at `height`: signs it, and returns the vote to
    /// broadcast, then a divergence for each early vote for another hash, then the
    /// certificate if a quorum of `consortium`'s voters is reached. Forgets uncertified
    /// heights more than [`VOTE_WINDOW`] behind.
    pub fn applied(
        &mut self,
        height: u64,
        block_hash: Hash32,
        consortium: &Consortium,
    ) -> Vec<Effect> {
        let me = self.node_id;
        let signature = sign_checkpoint(&self.key, me, &self.chain_id, height, &block_hash);
        let vote = CheckpointVote {
            height,
            block_hash,
            signature,
        };
        let mut effects = vec![Effect::Broadcast(vote.clone())];
        let pending = self.pending.entry(height).or_default();
        pending.ours = Some(block_hash);
        pending
            .votes
            .insert(me, (vote, self.key.verifying_key().to_bytes()));
        // Votes that arrived before this node applied the height.
        effects.extend(
            pending
                .votes
                .values()
                .map(|(v, _)| v)
                .filter(|v| v.signature.node_id != me)
                .filter_map(|v| divergence(v, block_hash))
                .map(Effect::Diverged),
        );
        effects.extend(self.try_certify(height, consortium));
        // Forget heights far behind (their votes will never come).
        let floor = height.saturating_sub(VOTE_WINDOW);
        self.pending = self.pending.split_off(&floor);
        effects
    }

    /// A peer's vote, with this node's tip height and consortium: dropped if out of the
    /// window, not a member's or badly signed; checked against this node's hash at that
    /// height (a divergence if it differs); kept until this node applies the height if it
    /// has not yet; the certificate if it completes a quorum. `our_hash_at(height)` gives
    /// this node's block hash at an applied height the keeper no longer remembers (called
    /// at most once, only for a valid vote); its error is returned as is.
    pub fn on_vote<E>(
        &mut self,
        vote: CheckpointVote,
        tip_height: u64,
        consortium: &Consortium,
        our_hash_at: impl FnOnce(u64) -> Result<Option<Hash32>, E>,
    ) -> Result<Vec<Effect>, E> {
        let height = vote.height;
        let signer = vote.signature.node_id;
        let dropped = |reason| {
            Ok(vec![Effect::Dropped {
                height,
                signer,
                reason,
            }])
        };
        if height > tip_height.saturating_add(VOTE_WINDOW) || height == 0 {
            return dropped(DropReason::OutOfWindow);
        }
        let Some(node) = consortium.nodes.iter().find(|n| n.node_id == signer) else {
            return dropped(DropReason::UnknownSigner);
        };
        let key = node.node_key.0;
        if !self.signature_verifies(&vote, &key) {
            return dropped(DropReason::BadSignature);
        }
        let ours = match self.pending.get(&height).and_then(|p| p.ours) {
            Some(h) => Some(h),
            None if height <= tip_height => match self.recent.get(&height) {
                Some(h) => Some(*h),
                None => our_hash_at(height)?,
            },
            None => None,
        };
        if let Some(d) = ours.and_then(|ours| divergence(&vote, ours)) {
            return Ok(vec![Effect::Diverged(d)]);
        }
        if let Some(pending) = self.pending.get_mut(&height) {
            pending.votes.insert(signer, (vote, key));
            Ok(self.try_certify(height, consortium).into_iter().collect())
        } else if height > tip_height {
            let pending = self.pending.entry(height).or_default();
            pending.votes.insert(signer, (vote, key));
            Ok(Vec::new())
        } else {
            dropped(DropReason::Stale)
        }
    }

    /// Forgets the votes for heights up to `height` (a snapshot installed up to there).
    pub fn forget_through(&mut self, height: u64) {
        self.pending = self.pending.split_off(&height.saturating_add(1));
    }

    /// This node's own votes for the oldest heights not certified yet, at most `max`:
    /// what to send again. A vote is sent once, fire and forget, so a peer whose link was
    /// not up yet (this node just restarted, or the peer did) never saw it; sending the
    /// uncertified ones again lets the peer count them, or report a divergence at the
    /// first height where this node differs.
    pub fn unanswered(&self, max: usize) -> Vec<CheckpointVote> {
        self.pending
            .values()
            .filter_map(|p| p.votes.get(&self.node_id).map(|(v, _)| v.clone()))
            .take(max)
            .collect()
    }

    /// Heights awaiting votes (bounded: see [`VOTE_WINDOW`]).
    pub fn pending_heights(&self) -> usize {
        self.pending.len()
    }

    /// Certified hashes remembered to check late votes (at most [`VOTE_WINDOW`]).
    pub fn remembered_hashes(&self) -> usize {
        self.recent.len()
    }

    fn signature_verifies(&self, vote: &CheckpointVote, key: &[u8; 32]) -> bool {
        VerifyingKey::from_bytes(key).is_ok_and(|k| {
            let msg = checkpoint_message(&self.chain_id, vote.height, &vote.block_hash);
            let sig = Signature::from_bytes(&vote.signature.signature.0);
            k.verify_strict(&msg, &sig).is_ok()
        })
    }

    /// The certificate once a quorum of the consortium's voters signed our hash. Every
    /// kept vote's signature verified when it arrived (ours is our own), so only votes
    /// for our hash by a current voter under the key that verified them count, and no
    /// signature is verified again (it was: each certificate cost a quorum of signature
    /// checks more per block).
    fn try_certify(&mut self, height: u64, consortium: &Consortium) -> Option<Effect> {
        let pending = self.pending.get(&height)?;
        let ours = pending.ours?;
        let signatures: Vec<CheckpointSignature> = pending
            .votes
            .values()
            .filter(|(v, key)| {
                v.block_hash == ours
                    && consortium
                        .voters()
                        .any(|n| n.node_id == v.signature.node_id && n.node_key.0 == *key)
            })
            .map(|(v, _)| v.signature.clone())
            .collect(); // BTreeMap order: ascending signers
        if signatures.len() < consortium.voters().count() / 2 + 1 {
            return None;
        }
        let cert = Certificate {
            chain_id: self.chain_id.clone(),
            height,
            block_hash: ours,
            signatures,
        };
        debug_assert_eq!(cert.verify(&self.chain_id, consortium), Ok(()));
        self.pending.remove(&height);
        self.recent.insert(height, ours);
        while self.recent.len() > VOTE_WINDOW as usize {
            self.recent.pop_first();
        }
        Some(Effect::Certified(cert))
    }
}

/// The divergence `vote` shows if it is not for `ours`.
fn divergence(vote: &CheckpointVote, ours: Hash32) -> Option<Divergence> {
    (vote.block_hash != ours).then_some(Divergence {
        height: vote.height,
        node_id: vote.signature.node_id,
        ours,
        theirs: vote.block_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_chaincode::ids::{OrgId, PublicKey};
    use couponcactus_chaincode::types::NodeRecord;
    use proptest::prelude::*;

    const OURS: Hash32 = Hash32([0xAA; 32]);
    const THEIRS: Hash32 = Hash32([0xBB; 32]);

    fn chain() -> ChainId {
        ChainId::new("testchain").unwrap()
    }

    fn key(id: u64) -> SigningKey {
        SigningKey::from_bytes(&[id as u8; 32])
    }

    fn record(id: u64, voter: bool) -> NodeRecord {
        NodeRecord {
            node_id: id,
            org: OrgId::new("acme").unwrap(),
            node_key: PublicKey(key(id).verifying_key().to_bytes()),
            p2p_addr: "/ip4/127.0.0.1/tcp/1".into(),
            voter,
        }
    }

    /// Nodes `voters` and `learners` (ids ascending, as in state).
    fn consortium(voters: &[u64], learners: &[u64]) -> Consortium {
        let mut nodes: Vec<NodeRecord> = voters.iter().map(|&id| record(id, true)).collect();
        nodes.extend(learners.iter().map(|&id| record(id, false)));
        nodes.sort_by_key(|n| n.node_id);
        Consortium {
            orgs: vec![OrgId::new("acme").unwrap()],
            nodes,
            retired_node_ids: vec![],
        }
    }

    fn keeper(id: u64) -> VoteKeeper {
        VoteKeeper::new(id, key(id), chain())
    }

    fn signed(id: u64, signer: &SigningKey, height: u64, hash: Hash32) -> CheckpointVote {
        CheckpointVote {
            height,
            block_hash: hash,
            signature: sign_checkpoint(signer, id, &chain(), height, &hash),
        }
    }

    fn vote(id: u64, height: u64, hash: Hash32) -> CheckpointVote {
        signed(id, &key(id), height, hash)
    }

    /// A lookup the keeper must not need.
    fn no_lookup(height: u64) -> Result<Option<Hash32>, String> {
        Err(format!("unexpected lookup of height {height}"))
    }

    fn deliver(k: &mut VoteKeeper, v: CheckpointVote, tip: u64, c: &Consortium) -> Vec<Effect> {
        k.on_vote(v, tip, c, no_lookup).unwrap()
    }

    fn certificates(effects: &[Effect]) -> Vec<&Certificate> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Certified(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn signers(cert: &Certificate) -> Vec<u64> {
        cert.signatures.iter().map(|s| s.node_id).collect()
    }

    fn dropped(height: u64, signer: u64, reason: DropReason) -> Vec<Effect> {
        vec![Effect::Dropped {
            height,
            signer,
            reason,
        }]
    }

    #[test]
    fn applying_broadcasts_our_signed_vote_first() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        let effects = k.applied(5, OURS, &c);
        assert_eq!(effects, vec![Effect::Broadcast(vote(1, 5, OURS))]);
        assert_eq!(k.pending_heights(), 1);
    }

    #[test]
    fn our_uncertified_votes_are_the_ones_sent_again_oldest_first() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        for h in 1..=4 {
            k.applied(h, OURS, &c);
        }
        // A peer's early vote for a height not applied is not ours to send.
        deliver(&mut k, vote(2, 9, OURS), 4, &c);
        deliver(&mut k, vote(3, 2, OURS), 4, &c); // certifies 2
        let heights = |k: &VoteKeeper, max| -> Vec<u64> {
            k.unanswered(max).iter().map(|v| v.height).collect()
        };
        assert_eq!(heights(&k, 8), vec![1, 3, 4]);
        assert_eq!(heights(&k, 2), vec![1, 3]);
        assert_eq!(k.unanswered(1), vec![vote(1, 1, OURS)]);
    }

    #[test]
    fn two_of_three_voters_certify_and_the_certificate_verifies() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        let effects = deliver(&mut k, vote(3, 1, OURS), 1, &c);
        let [cert] = certificates(&effects)[..] else {
            panic!("one certificate expected: {effects:?}");
        };
        assert_eq!(signers(cert), vec![1, 3]);
        assert_eq!((cert.height, cert.block_hash), (1, OURS));
        assert_eq!(cert.verify(&chain(), &c), Ok(()));
        assert_eq!((k.pending_heights(), k.remembered_hashes()), (0, 1));
        // The third vote comes late: nothing more to do.
        let late = deliver(&mut k, vote(2, 1, OURS), 1, &c);
        assert_eq!(late, dropped(1, 2, DropReason::Stale));
    }

    #[test]
    fn three_of_four_voters_certify_not_two() {
        let c = consortium(&[1, 2, 3, 4], &[]);
        let mut k = keeper(2);
        k.applied(1, OURS, &c);
        assert!(deliver(&mut k, vote(4, 1, OURS), 1, &c).is_empty());
        let effects = deliver(&mut k, vote(1, 1, OURS), 1, &c);
        let [cert] = certificates(&effects)[..] else {
            panic!("one certificate expected: {effects:?}");
        };
        assert_eq!(signers(cert), vec![1, 2, 4], "ascending signers");
        assert_eq!(cert.verify(&chain(), &c), Ok(()));
    }

    #[test]
    fn a_learners_vote_does_not_count() {
        let c = consortium(&[1, 2, 3], &[4]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        assert!(deliver(&mut k, vote(4, 1, OURS), 1, &c).is_empty());
        assert_eq!(k.pending_heights(), 1);
        let effects = deliver(&mut k, vote(2, 1, OURS), 1, &c);
        let [cert] = certificates(&effects)[..] else {
            panic!("one certificate expected: {effects:?}");
        };
        assert_eq!(signers(cert), vec![1, 2]);
    }

    #[test]
    fn a_learner_node_certifies_with_the_voters_signatures_only() {
        let c = consortium(&[1, 2, 3], &[4]);
        let mut k = keeper(4);
        k.applied(1, OURS, &c);
        assert!(deliver(&mut k, vote(1, 1, OURS), 1, &c).is_empty());
        let effects = deliver(&mut k, vote(3, 1, OURS), 1, &c);
        assert_eq!(signers(certificates(&effects)[0]), vec![1, 3]);
    }

    #[test]
    fn votes_before_the_height_is_applied_are_kept_then_counted() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        // Tip 0: height 1 not applied yet.
        assert!(deliver(&mut k, vote(2, 1, OURS), 0, &c).is_empty());
        assert!(deliver(&mut k, vote(3, 2, OURS), 0, &c).is_empty());
        assert_eq!(k.pending_heights(), 2);
        let effects = k.applied(1, OURS, &c);
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert_eq!(effects[0], Effect::Broadcast(vote(1, 1, OURS)));
        assert_eq!(signers(certificates(&effects)[0]), vec![1, 2]);
        assert_eq!(k.pending_heights(), 1, "height 2 still waits");
    }

    /// Kept votes are not verified again when they complete a quorum; one whose signer's
    /// node key changed since it arrived (it verified under the old key) does not count.
    #[test]
    fn a_vote_kept_under_a_key_since_replaced_does_not_count() {
        let old = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        assert!(deliver(&mut k, vote(2, 1, OURS), 0, &old).is_empty());
        let mut rotated = old.clone();
        rotated.nodes[1].node_key = PublicKey(key(22).verifying_key().to_bytes());
        let effects = k.applied(1, OURS, &rotated);
        assert!(certificates(&effects).is_empty(), "{effects:?}");
        let effects = deliver(&mut k, signed(3, &key(3), 1, OURS), 1, &rotated);
        assert_eq!(signers(certificates(&effects)[0]), vec![1, 3]);
        assert_eq!(certificates(&effects)[0].verify(&chain(), &rotated), Ok(()));
    }

    #[test]
    fn an_early_vote_for_another_hash_diverges_when_we_apply() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        assert!(deliver(&mut k, vote(2, 1, THEIRS), 0, &c).is_empty());
        let effects = k.applied(1, OURS, &c);
        let d = Divergence {
            height: 1,
            node_id: 2,
            ours: OURS,
            theirs: THEIRS,
        };
        assert_eq!(
            effects,
            vec![Effect::Broadcast(vote(1, 1, OURS)), Effect::Diverged(d)]
        );
    }

    #[test]
    fn a_vote_for_another_hash_is_a_divergence_and_never_certifies() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        k.applied(7, OURS, &c);
        for signer in [2, 3] {
            let effects = deliver(&mut k, vote(signer, 7, THEIRS), 7, &c);
            let d = Divergence {
                height: 7,
                node_id: signer,
                ours: OURS,
                theirs: THEIRS,
            };
            assert_eq!(effects, vec![Effect::Diverged(d)]);
        }
        assert_eq!(k.pending_heights(), 1, "still uncertified");
        // The same divergent vote again is reported again (once per vote).
        assert_eq!(deliver(&mut k, vote(2, 7, THEIRS), 7, &c).len(), 1);
    }

    #[test]
    fn a_late_divergent_vote_is_checked_against_the_remembered_hash() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        deliver(&mut k, vote(2, 1, OURS), 1, &c);
        let effects = deliver(&mut k, vote(3, 1, THEIRS), 3, &c);
        assert!(matches!(&effects[..], [Effect::Diverged(d)] if d.node_id == 3));
    }

    #[test]
    fn an_old_height_is_looked_up_once_and_its_errors_returned() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        let mut asked = Vec::new();
        let mut lookup = |h| {
            asked.push(h);
            Ok::<_, String>(Some(OURS))
        };
        let effects = k.on_vote(vote(2, 3, THEIRS), 9, &c, &mut lookup).unwrap();
        assert!(matches!(&effects[..], [Effect::Diverged(d)] if d.ours == OURS && d.height == 3));
        let effects = k.on_vote(vote(2, 4, OURS), 9, &c, &mut lookup).unwrap();
        assert_eq!(effects, dropped(4, 2, DropReason::Stale));
        assert_eq!(asked, vec![3, 4]);
        let failed = k.on_vote(vote(2, 5, OURS), 9, &c, |_| Err("disk".to_string()));
        assert_eq!(failed, Err("disk".to_string()));
        // A bad vote never reaches the store.
        let bad = signed(2, &key(9), 6, OURS);
        assert!(k.on_vote(bad, 9, &c, no_lookup).is_ok());
    }

    #[test]
    fn bad_signatures_are_dropped() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        let forged = signed(2, &key(3), 1, OURS);
        assert_eq!(
            deliver(&mut k, forged, 1, &c),
            dropped(1, 2, DropReason::BadSignature)
        );
        let mut tampered = vote(2, 1, THEIRS);
        tampered.block_hash = OURS;
        assert_eq!(
            deliver(&mut k, tampered, 1, &c),
            dropped(1, 2, DropReason::BadSignature)
        );
        let other_chain = CheckpointVote {
            height: 1,
            block_hash: OURS,
            signature: sign_checkpoint(&key(2), 2, &ChainId::new("other").unwrap(), 1, &OURS),
        };
        assert_eq!(
            deliver(&mut k, other_chain, 1, &c),
            dropped(1, 2, DropReason::BadSignature)
        );
        assert_eq!(k.pending_heights(), 1, "nothing certified");
    }

    #[test]
    fn a_non_members_vote_is_dropped() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        assert_eq!(
            deliver(&mut k, vote(7, 1, OURS), 1, &c),
            dropped(1, 7, DropReason::UnknownSigner)
        );
        assert_eq!(k.pending_heights(), 1);
    }

    #[test]
    fn votes_out_of_the_window_are_dropped() {
        let c = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        let tip = 10;
        let far = tip + VOTE_WINDOW + 1;
        assert_eq!(
            deliver(&mut k, vote(2, far, OURS), tip, &c),
            dropped(far, 2, DropReason::OutOfWindow)
        );
        assert_eq!(
            deliver(&mut k, vote(2, 0, OURS), tip, &c),
            dropped(0, 2, DropReason::OutOfWindow)
        );
        assert_eq!(k.pending_heights(), 0);
        assert!(deliver(&mut k, vote(2, far - 1, OURS), tip, &c).is_empty());
        assert_eq!(k.pending_heights(), 1, "the window's edge is kept");
        let top = u64::MAX;
        assert!(deliver(&mut k, vote(2, top, OURS), top - 1, &c).is_empty());
    }

    #[test]
    fn the_same_vote_twice_counts_once() {
        let c = consortium(&[1, 2, 3, 4], &[]);
        let mut k = keeper(1);
        k.applied(1, OURS, &c);
        assert!(deliver(&mut k, vote(2, 1, OURS), 1, &c).is_empty());
        assert!(deliver(&mut k, vote(2, 1, OURS), 1, &c).is_empty());
        let effects = deliver(&mut k, vote(3, 1, OURS), 1, &c);
        assert_eq!(signers(certificates(&effects)[0]), vec![1, 2, 3]);
    }

    #[test]
    fn memory_is_bounded_by_the_window() {
        let lone = consortium(&[1], &[]);
        let mut k = keeper(1);
        let n = VOTE_WINDOW + 50;
        for h in 1..=n {
            let effects = k.applied(h, OURS, &lone);
            assert_eq!(
                certificates(&effects).len(),
                1,
                "a lone voter certifies at once"
            );
        }
        assert_eq!(k.pending_heights(), 0);
        assert_eq!(k.remembered_hashes(), VOTE_WINDOW as usize);

        let trio = consortium(&[1, 2, 3], &[]);
        let mut k = keeper(1);
        for h in 1..=n {
            k.applied(h, OURS, &trio);
        }
        // Heights n - VOTE_WINDOW ..= n wait; older ones are forgotten.
        assert_eq!(k.pending_heights(), VOTE_WINDOW as usize + 1);
        assert_eq!(k.remembered_hashes(), 0);
        // A vote for a forgotten height needs the store, and certifies nothing.
        let effects = k.on_vote(vote(2, 10, OURS), n, &trio, |_| Ok::<_, String>(Some(OURS)));
        assert_eq!(effects, Ok(dropped(10, 2, DropReason::Stale)));
        k.forget_through(n - 1);
        assert_eq!(k.pending_heights(), 1);
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Peer {
        Honest,
        Diverging,
        BadSignature,
        Learner,
        Stranger,
    }

    #[derive(Clone, Copy, Debug)]
    enum Event {
        Applied,
        Vote(usize),
    }

    /// Peers (node ids 2, 3, ...) with how many copies of their vote arrive, and the
    /// arrival order of those copies and of this node (node 1) applying the height.
    fn scenario() -> impl Strategy<Value = (Vec<Peer>, Vec<Event>)> {
        let peer = prop_oneof![
            4 => Just(Peer::Honest),
            2 => Just(Peer::Diverging),
            1 => Just(Peer::BadSignature),
            1 => Just(Peer::Learner),
            1 => Just(Peer::Stranger),
        ];
        prop::collection::vec((peer, 1usize..=3), 0..=6).prop_flat_map(|peers| {
            let mut events = vec![Event::Applied];
            for (i, (_, copies)) in peers.iter().enumerate() {
                events.extend(std::iter::repeat_n(Event::Vote(i), *copies));
            }
            let kinds: Vec<Peer> = peers.iter().map(|(p, _)| *p).collect();
            (Just(kinds), Just(events).prop_shuffle())
        })
    }

    fn run(peers: &[Peer], events: &[Event]) -> (Consortium, Vec<Effect>) {
        let id = |i: usize| i as u64 + 2;
        let members = |learner: bool| {
            (0..peers.len())
                .filter(move |&i| peers[i] != Peer::Stranger)
                .filter(move |&i| (peers[i] == Peer::Learner) == learner)
                .map(id)
        };
        let voters: Vec<u64> = std::iter::once(1).chain(members(false)).collect();
        let learners: Vec<u64> = members(true).collect();
        let c = consortium(&voters, &learners);
        let mut k = keeper(1);
        let mut tip = 0;
        let mut effects = Vec::new();
        for event in events {
            match *event {
                Event::Applied => {
                    effects.extend(k.applied(1, OURS, &c));
                    tip = 1;
                }
                Event::Vote(i) => {
                    let v = match peers[i] {
                        Peer::Diverging => vote(id(i), 1, THEIRS),
                        Peer::BadSignature => signed(id(i), &key(99), 1, OURS),
                        _ => vote(id(i), 1, OURS),
                    };
                    effects.extend(deliver(&mut k, v, tip, &c));
                }
            }
        }
        (c, effects)
    }

    proptest! {
        #[test]
        fn the_certificate_does_not_depend_on_arrival_order((peers, events) in scenario()) {
            let (c, effects) = run(&peers, &events);
            let honest: Vec<u64> = std::iter::once(1)
                .chain((0..peers.len()).filter(|&i| peers[i] == Peer::Honest).map(|i| i as u64 + 2))
                .collect();
            let quorum = c.voters().count() / 2 + 1;
            let certs = certificates(&effects);
            prop_assert_eq!(certs.len(), usize::from(honest.len() >= quorum));
            if let [cert] = certs[..] {
                prop_assert_eq!(cert.verify(&chain(), &c), Ok(()));
                let s = signers(cert);
                prop_assert!(s.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(s.iter().all(|n| honest.contains(n)));
                if honest.len() == quorum {
                    // Exactly a quorum signed our hash: one possible certificate.
                    prop_assert_eq!(&s, &honest);
                    // The same votes, all after this node applied the height.
                    let votes = events.iter().filter(|e| matches!(e, Event::Vote(_)));
                    let applied_first: Vec<Event> =
                        std::iter::once(Event::Applied).chain(votes.copied()).collect();
                    let (_, reference) = run(&peers, &applied_first);
                    prop_assert_eq!(certificates(&reference), certs.clone());
                }
            }
            // Every diverging peer is reported, nobody else.
            for (i, peer) in peers.iter().enumerate() {
                let id = i as u64 + 2;
                let reported = effects.iter().any(|e| matches!(e, Effect::Diverged(d) if d.node_id == id));
                prop_assert_eq!(reported, *peer == Peer::Diverging, "peer {}", id);
            }
        }
    }
}
