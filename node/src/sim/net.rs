//! The simulated network of the deterministic cluster simulator: which messages between
//! replicas arrive, when, how often, and which are lost.
//!
//! This module owns message delivery only. It is pure: no threads, no clocks, no sockets.
//! Time is virtual (milliseconds passed in by the caller), and every random choice comes
//! from one seeded generator, so the same seed and the same calls give the same deliveries
//! and the same [`NetCounters`]. A failing simulator run is replayed from its seed.
//!
//! # Randomness
//!
//! The generator is a hand-written SplitMix64 ([`SimRng`]), not `rand`'s `StdRng`: `rand`
//! documents that `StdRng`'s algorithm may change between releases, and a seed kept as a
//! regression test must replay the same run for as long as the test exists. SplitMix64 is
//! eight lines, has no dependency and is fully specified here. Probabilities are integers
//! in per mille (0..=1000); no floats.
//!
//! # Model
//!
//! [`SimNet::send`] decides a message's fate when it is sent: dropped (crashed or blocked
//! endpoint, random loss, full queue) or queued, once or twice (duplication), with an
//! arrival time of `now + base ± jitter` (after the link's backlog when it is shaped: see
//! below; plus an explicit hold-back when reordering
//! strikes), never beyond [`NetConfig::max_delay_ms`]. [`SimNet::deliveries`] returns what
//! has arrived by a time, ordered by arrival time then by a sequence number, and checks the
//! partitions and cuts again at arrival: a message in flight when a partition starts is
//! lost, as on a real network. Apply a fault scheduled at time `t` after calling
//! `deliveries(t)`.
//!
//! Faults ([`Fault`], applied with [`SimNet::apply`]) can change at any time: delay and
//! jitter, loss, duplication, reordering and rate for all links (and per link with
//! [`SimNet::set_link`]); symmetric partitions into groups; one-way cuts; isolating a node;
//! crashing and restarting a node; [`Fault::Heal`] restores the network (not crashed
//! nodes: a node comes back with [`Fault::Restart`]). A crash closes the node's
//! connections: every message queued to or from it is lost, like the buffers of a closed
//! TCP connection. [`random_schedule`] draws a bounded, seeded fault schedule that always
//! ends healed with every node up.
//!
//! Bounds (every queue and loop is bounded): at most [`NetConfig::max_queued`] messages in
//! flight (the newest beyond it is dropped and counted), at most
//! [`NetConfig::max_delay_ms`] of delay after a message leaves its link, at most
//! [`NetConfig::max_backlog_bytes`] waiting on a shaped link, at most
//! [`MAX_SCHEDULE_STEPS`] random faults.
//!
//! # Bandwidth
//!
//! A link may have a rate ([`LinkFaults::rate_bytes_per_s`]; 0: unlimited). Every message
//! then has a size ([`WireSize`]) and is serialized behind the link's earlier messages,
//! one link being one direction between two nodes, like a shaped interface's queue: it
//! leaves when the link is free plus `size / rate`, and arrives `base ± jitter` after
//! that, so a backlog delays everything behind it, heartbeats included. A link's backlog
//! is bounded ([`NetConfig::max_backlog_bytes`]): a message that would queue beyond it is
//! dropped and counted ([`NetCounters::dropped_backlog`]), as a full shaper queue drops
//! its tail. Time on a shaped link is kept in microseconds, so small messages are not
//! each rounded up to a whole millisecond. Loss is decided before a message queues, so a
//! lost message takes no bandwidth (a simplification: on a real link it is lost after
//! taking its share).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A node's identity on the simulated network (the Raft id).
pub type NodeId = u64;

/// The largest probability: 1000 per mille, always.
pub const PERMILLE: u16 = 1000;

/// The largest [`NetConfig::max_queued`] accepted.
pub const MAX_QUEUED_LIMIT: usize = 1_000_000;

/// The most faults [`random_schedule`] draws (before its closing restarts and heal).
pub const MAX_SCHEDULE_STEPS: usize = 10_000;

/// The longest gap between two faults of a [`random_schedule`], in milliseconds.
pub const SCHEDULE_MAX_GAP_MS: u64 = 500;

/// The largest base delay and the largest jitter a [`random_schedule`] sets, in
/// milliseconds: a schedule is valid for any network whose `max_delay_ms` is at least
/// twice this.
pub const SCHEDULE_MAX_DELAY_MS: u64 = 50;

/// What the simulated network refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// A probability above 1000 per mille.
    #[error("probability {value} per mille is above {PERMILLE}")]
    Permille {
        /// The probability given.
        value: u16,
    },
    /// A base delay plus jitter beyond the network's maximum delay.
    #[error("delay {base_ms} ms ± {jitter_ms} ms exceeds the maximum of {max_ms} ms")]
    DelayTooLong {
        /// The base delay given.
        base_ms: u64,
        /// The jitter given.
        jitter_ms: u64,
        /// The network's maximum delay.
        max_ms: u64,
    },
    /// A partition naming one node in two groups.
    #[error("node {0} is named in two partition groups")]
    NodeInTwoGroups(NodeId),
    /// A queue bound of zero or above [`MAX_QUEUED_LIMIT`].
    #[error("queue bound {0} is outside 1..={MAX_QUEUED_LIMIT}")]
    QueueBound(usize),
    /// A shaped link's backlog bound of zero bytes.
    #[error("a shaped link's backlog bound must be above zero bytes")]
    BacklogBound,
}

/// The size of a message on the wire, which a shaped link serializes
/// ([`LinkFaults::rate_bytes_per_s`]).
pub trait WireSize {
    /// Encoded bytes.
    fn wire_bytes(&self) -> u64;
}

/// The faults of one link (or of every link without its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkFaults {
    /// Delay every message takes, in milliseconds.
    pub base_ms: u64,
    /// The delay varies uniformly in `base_ms ± jitter_ms` (never below zero).
    pub jitter_ms: u64,
    /// Chance a message is lost, per mille.
    pub loss_permille: u16,
    /// Chance a message arrives twice, per mille.
    pub duplicate_permille: u16,
    /// Chance a message is held back by up to [`NetConfig::reorder_window_ms`] extra, so
    /// that later messages overtake it, per mille.
    pub reorder_permille: u16,
    /// Bytes per second the link carries (0: unlimited); messages queue behind each other.
    pub rate_bytes_per_s: u64,
}

impl LinkFaults {
    /// Checks the probabilities and that `base_ms + jitter_ms` fits in `max_delay_ms`.
    pub fn validate(&self, max_delay_ms: u64) -> Result<(), NetError> {
        for value in [
            self.loss_permille,
            self.duplicate_permille,
            self.reorder_permille,
        ] {
            check_permille(value)?;
        }
        check_delay(self.base_ms, self.jitter_ms, max_delay_ms)
    }
}

fn check_permille(value: u16) -> Result<(), NetError> {
    if value > PERMILLE {
        return Err(NetError::Permille { value });
    }
    Ok(())
}

fn check_delay(base_ms: u64, jitter_ms: u64, max_ms: u64) -> Result<(), NetError> {
    if base_ms.saturating_add(jitter_ms) > max_ms {
        return Err(NetError::DelayTooLong {
            base_ms,
            jitter_ms,
            max_ms,
        });
    }
    Ok(())
}

/// The network's baseline (what [`Fault::Heal`] restores) and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The faults of every link when healed.
    pub link: LinkFaults,
    /// Most messages in flight; a message sent beyond it is dropped (overflow).
    pub max_queued: usize,
    /// Longest delay a message can take, hold-back for reordering included.
    pub max_delay_ms: u64,
    /// Longest extra hold-back of a reordered message.
    pub reorder_window_ms: u64,
    /// Most bytes waiting to be serialized on one shaped link; a message beyond it is
    /// dropped.
    pub max_backlog_bytes: u64,
}

impl Default for NetConfig {
    /// A healthy LAN: 1 ms per message, no faults, 10,000 messages in flight at most,
    /// 10 s of delay at most, reordering holds a message back by up to 20 ms, and a shaped
    /// link queues up to 1 MiB (32 s at 256 kbit/s, a shaper's generous default).
    fn default() -> Self {
        Self {
            link: LinkFaults {
                base_ms: 1,
                ..LinkFaults::default()
            },
            max_queued: 10_000,
            max_delay_ms: 10_000,
            reorder_window_ms: 20,
            max_backlog_bytes: 1 << 20,
        }
    }
}

impl NetConfig {
    /// Checks the bounds and the baseline link faults.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.max_queued == 0 || self.max_queued > MAX_QUEUED_LIMIT {
            return Err(NetError::QueueBound(self.max_queued));
        }
        if self.max_backlog_bytes == 0 {
            return Err(NetError::BacklogBound);
        }
        self.link.validate(self.max_delay_ms)
    }
}

/// One fault (or the end of faults) a scenario applies to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Splits the nodes into groups; no message crosses groups (both directions). Nodes
    /// named in no group form one more group together. Replaces any earlier partition.
    Partition(Vec<Vec<NodeId>>),
    /// Drops messages from `from` to `to` only.
    Cut {
        /// The sender whose messages are dropped.
        from: NodeId,
        /// The receiver that no longer hears `from`.
        to: NodeId,
    },
    /// Cuts a node off from every other node, both directions.
    Isolate(NodeId),
    /// Ends partitions, cuts and isolation and restores the baseline link faults (per-link
    /// settings included). Crashed nodes stay down until [`Fault::Restart`].
    Heal,
    /// Sets the loss probability of every link, per mille.
    Loss(u16),
    /// Sets the delay of every link.
    Delay {
        /// Delay every message takes.
        base_ms: u64,
        /// Uniform variation around `base_ms`.
        jitter_ms: u64,
    },
    /// Sets the duplication probability of every link, per mille.
    Duplicate(u16),
    /// Sets the reordering (hold-back) probability of every link, per mille.
    Reorder(u16),
    /// Sets the rate of every link, in bytes per second (0: unlimited).
    Rate(u64),
    /// Crashes a node: it neither sends nor receives, and every message queued to or from
    /// it is lost.
    Crash(NodeId),
    /// Brings a crashed node back (with nothing queued).
    Restart(NodeId),
}

impl Fault {
    /// The fault's kind, as counted in [`NetCounters::faults`] and printed in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Partition(_) => "partition",
            Self::Cut { .. } => "cut",
            Self::Isolate(_) => "isolate",
            Self::Heal => "heal",
            Self::Loss(_) => "loss",
            Self::Delay { .. } => "delay",
            Self::Duplicate(_) => "duplicate",
            Self::Reorder(_) => "reorder",
            Self::Rate(_) => "rate",
            Self::Crash(_) => "crash",
            Self::Restart(_) => "restart",
        }
    }

    /// Starts a scenario: this fault, then `next`.
    pub fn then(self, next: Fault) -> Scenario {
        Scenario(vec![self, next])
    }
}

/// A partition into the given groups (see [`Fault::Partition`]).
pub fn partition(groups: &[&[NodeId]]) -> Fault {
    Fault::Partition(groups.iter().map(|group| group.to_vec()).collect())
}

/// The end of partitions, cuts and isolation (see [`Fault::Heal`]).
pub fn heal() -> Fault {
    Fault::Heal
}

/// A one-way cut from `from` to `to` (see [`Fault::Cut`]).
pub fn cut(from: NodeId, to: NodeId) -> Fault {
    Fault::Cut { from, to }
}

/// Faults in the order a scenario applies them; the scenario runner decides when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario(pub Vec<Fault>);

impl Scenario {
    /// This scenario, then `next`.
    pub fn then(mut self, next: Fault) -> Scenario {
        self.0.push(next);
        self
    }
}

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Random loss.
    Loss,
    /// The endpoints are in different partition groups, or one is isolated.
    Partition,
    /// A one-way cut of this direction.
    Cut,
    /// An endpoint is crashed (or crashed while the message was in flight).
    Crash,
    /// The queue was full.
    Overflow,
    /// A shaped link's backlog was full.
    Backlog,
}

/// What the network did, by kind: the simulator prints these as "faults injected by kind".
///
/// Every message sent or duplicated is, at any time, delivered, dropped or queued:
/// `sent + duplicated == delivered + dropped() + queued`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Messages handed to [`SimNet::send`].
    pub sent: u64,
    /// Messages returned by [`SimNet::deliveries`] (duplicates counted each time).
    pub delivered: u64,
    /// Dropped by random loss.
    pub dropped_loss: u64,
    /// Dropped by a partition or isolation.
    pub dropped_partition: u64,
    /// Dropped by a one-way cut.
    pub dropped_cut: u64,
    /// Dropped because an endpoint was or became crashed.
    pub dropped_crash: u64,
    /// Dropped because the queue was full.
    pub dropped_overflow: u64,
    /// Dropped because a shaped link's backlog was full.
    pub dropped_backlog: u64,
    /// Extra copies queued by duplication.
    pub duplicated: u64,
    /// Messages delivered after a message sent later on the same link.
    pub reordered: u64,
    /// Faults applied, by [`Fault::kind`].
    pub faults: BTreeMap<&'static str, u64>,
}

impl NetCounters {
    /// Messages dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss
            + self.dropped_partition
            + self.dropped_cut
            + self.dropped_crash
            + self.dropped_overflow
            + self.dropped_backlog
    }

    fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Loss => &mut self.dropped_loss,
            DropReason::Partition => &mut self.dropped_partition,
            DropReason::Cut => &mut self.dropped_cut,
            DropReason::Crash => &mut self.dropped_crash,
            DropReason::Overflow => &mut self.dropped_overflow,
            DropReason::Backlog => &mut self.dropped_backlog,
        };
        *counter += 1;
    }
}

impl fmt::Display for NetCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} delivered {} dropped {} (loss {}, partition {}, cut {}, crash {}, \
             overflow {}, backlog {}) duplicated {} reordered {}; faults:",
            self.sent,
            self.delivered,
            self.dropped(),
            self.dropped_loss,
            self.dropped_partition,
            self.dropped_cut,
            self.dropped_crash,
            self.dropped_overflow,
            self.dropped_backlog,
            self.duplicated,
            self.reordered,
        )?;
        for (kind, count) in &self.faults {
            write!(f, " {kind} {count}")?;
        }
        Ok(())
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): the simulator's seeded generator, fixed forever
/// so that kept seeds replay (see the module docs).
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), by multiply-shift (Lemire).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `permille` / 1000 (always at 1000 and above, never at 0).
    pub fn chance(&mut self, permille: u16) -> bool {
        self.below(u64::from(PERMILLE)) < u64::from(permille)
    }
}

/// A message in flight.
#[derive(Clone, Debug)]
struct Envelope<M> {
    from: NodeId,
    to: NodeId,
    /// The sequence number of the `send` (shared by a duplicate), for reorder counting.
    origin: u64,
    msg: M,
}

/// The simulated network between nodes, carrying messages of type `M`.
#[derive(Clone, Debug)]
pub struct SimNet<M> {
    rng: SimRng,
    config: NetConfig,
    /// The faults of links without their own setting.
    current: LinkFaults,
    links: BTreeMap<(NodeId, NodeId), LinkFaults>,
    /// Partition group of each named node; empty when not partitioned.
    groups: BTreeMap<NodeId, usize>,
    isolated: BTreeSet<NodeId>,
    cuts: BTreeSet<(NodeId, NodeId)>,
    crashed: BTreeSet<NodeId>,
    /// In flight, by (arrival time, sequence number).
    queue: BTreeMap<(u64, u64), Envelope<M>>,
    /// The latest `origin` delivered on each link.
    last_origin: BTreeMap<(NodeId, NodeId), u64>,
    /// When each shaped link has serialized what it was given (µs).
    link_free_us: BTreeMap<(NodeId, NodeId), u64>,
    next_seq: u64,
    now_ms: u64,
    counters: NetCounters,
}

/// The implicit group of nodes named in no partition group.
const UNNAMED_GROUP: usize = usize::MAX;

impl<M: Clone + WireSize> SimNet<M> {
    /// A healed network with the given baseline and bounds, drawing from `seed`.
    pub fn new(seed: u64, config: NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        Ok(Self {
            rng: SimRng::new(seed),
            config,
            current: config.link,
            links: BTreeMap::new(),
            groups: BTreeMap::new(),
            isolated: BTreeSet::new(),
            cuts: BTreeSet::new(),
            crashed: BTreeSet::new(),
            queue: BTreeMap::new(),
            last_origin: BTreeMap::new(),
            link_free_us: BTreeMap::new(),
            next_seq: 0,
            now_ms: 0,
            counters: NetCounters::default(),
        })
    }

    /// Sends `msg` from `from` to `to` at `now_ms` (a time earlier than one already seen
    /// counts as the latest time seen). The message is dropped, queued, or queued twice.
    pub fn send(&mut self, from: NodeId, to: NodeId, msg: M, now_ms: u64) {
        let now = self.advance(now_ms);
        self.counters.sent += 1;
        let origin = self.bump_seq();
        if let Some(reason) = self.blocked(from, to) {
            self.counters.count_drop(reason);
            return;
        }
        let faults = self.link(from, to);
        if self.rng.chance(faults.loss_permille) {
            self.counters.count_drop(DropReason::Loss);
            return;
        }
        let envelope = Envelope {
            from,
            to,
            origin,
            msg,
        };
        if self.rng.chance(faults.duplicate_permille) {
            self.counters.duplicated += 1;
            self.enqueue(envelope.clone(), faults, now);
        }
        self.enqueue(envelope, faults, now);
    }

    /// The messages that have arrived by `now_ms`, as `(from, to, msg)`, ordered by arrival
    /// time then sequence number. Messages whose link is blocked at arrival are dropped.
    pub fn deliveries(&mut self, now_ms: u64) -> Vec<(NodeId, NodeId, M)> {
        let now = self.advance(now_ms);
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let envelope = entry.remove();
            if let Some(reason) = self.blocked(envelope.from, envelope.to) {
                self.counters.count_drop(reason);
                continue;
            }
            self.note_order(&envelope);
            self.counters.delivered += 1;
            out.push((envelope.from, envelope.to, envelope.msg));
        }
        out
    }

    /// Applies a fault (counted by kind when accepted).
    pub fn apply(&mut self, fault: Fault) -> Result<(), NetError> {
        let kind = fault.kind();
        match fault {
            Fault::Partition(groups) => self.groups = group_map(&groups)?,
            Fault::Cut { from, to } => {
                self.cuts.insert((from, to));
            }
            Fault::Isolate(node) => {
                self.isolated.insert(node);
            }
            Fault::Heal => self.heal(),
            Fault::Loss(value) => {
                check_permille(value)?;
                self.current.loss_permille = value;
            }
            Fault::Delay { base_ms, jitter_ms } => {
                check_delay(base_ms, jitter_ms, self.config.max_delay_ms)?;
                self.current.base_ms = base_ms;
                self.current.jitter_ms = jitter_ms;
            }
            Fault::Duplicate(value) => {
                check_permille(value)?;
                self.current.duplicate_permille = value;
            }
            Fault::Reorder(value) => {
                check_permille(value)?;
                self.current.reorder_permille = value;
            }
            Fault::Rate(rate) => self.current.rate_bytes_per_s = rate,
            Fault::Crash(node) => self.crash(node),
            Fault::Restart(node) => {
                self.crashed.remove(&node);
            }
        }
        *self.counters.faults.entry(kind).or_insert(0) += 1;
        Ok(())
    }

    /// Applies a scenario's faults in order, stopping at the first refused.
    pub fn apply_all(&mut self, scenario: Scenario) -> Result<(), NetError> {
        scenario
            .0
            .into_iter()
            .try_for_each(|fault| self.apply(fault))
    }

    /// Gives the link `from` → `to` its own faults (`None`: back to the all-links faults).
    pub fn set_link(
        &mut self,
        from: NodeId,
        to: NodeId,
        faults: Option<LinkFaults>,
    ) -> Result<(), NetError> {
        match faults {
            Some(faults) => {
                faults.validate(self.config.max_delay_ms)?;
                self.links.insert((from, to), faults);
            }
            None => {
                self.links.remove(&(from, to));
            }
        }
        Ok(())
    }

    /// The faults the link `from` → `to` has now (its own, or the all-links ones).
    pub fn link_faults(&self, from: NodeId, to: NodeId) -> LinkFaults {
        self.link(from, to)
    }

    /// Bytes waiting to be serialized on the link `from` → `to` at `now_ms` (0 unless
    /// the link is shaped and busy).
    pub fn backlog_bytes(&self, from: NodeId, to: NodeId, now_ms: u64) -> u64 {
        let rate = self.link(from, to).rate_bytes_per_s;
        let free = self.link_free_us.get(&(from, to)).copied().unwrap_or(0);
        let waiting_us = free.saturating_sub(now_ms.saturating_mul(1_000));
        (u128::from(waiting_us) * u128::from(rate) / 1_000_000) as u64
    }

    /// What happened so far.
    pub fn counters(&self) -> &NetCounters {
        &self.counters
    }

    /// Messages in flight.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// When the next message in flight arrives, if any: the time a runner can jump to.
    pub fn next_arrival(&self) -> Option<u64> {
        self.queue.keys().next().map(|&(at, _)| at)
    }

    /// The latest time seen by [`Self::send`] or [`Self::deliveries`].
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Whether `node` is crashed.
    pub fn is_crashed(&self, node: NodeId) -> bool {
        self.crashed.contains(&node)
    }

    /// Whether the network is back to its baseline with every node up.
    pub fn is_healed(&self) -> bool {
        self.groups.is_empty()
            && self.isolated.is_empty()
            && self.cuts.is_empty()
            && self.crashed.is_empty()
            && self.links.is_empty()
            && self.current == self.config.link
    }

    fn advance(&mut self, now_ms: u64) -> u64 {
        self.now_ms = self.now_ms.max(now_ms);
        self.now_ms
    }

    fn bump_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn link(&self, from: NodeId, to: NodeId) -> LinkFaults {
        self.links.get(&(from, to)).copied().unwrap_or(self.current)
    }

    /// Why a message from `from` to `to` cannot pass now, if it cannot.
    fn blocked(&self, from: NodeId, to: NodeId) -> Option<DropReason> {
        if self.crashed.contains(&from) || self.crashed.contains(&to) {
            return Some(DropReason::Crash);
        }
        if from == to {
            return None;
        }
        let group = |node| self.groups.get(&node).copied().unwrap_or(UNNAMED_GROUP);
        if self.isolated.contains(&from) || self.isolated.contains(&to) || group(from) != group(to)
        {
            return Some(DropReason::Partition);
        }
        if self.cuts.contains(&(from, to)) {
            return Some(DropReason::Cut);
        }
        None
    }

    /// Queues a message behind its link's backlog with a drawn delay, or drops it when
    /// the queue or the link's backlog is full.
    fn enqueue(&mut self, envelope: Envelope<M>, faults: LinkFaults, now: u64) {
        if self.queue.len() >= self.config.max_queued {
            self.counters.count_drop(DropReason::Overflow);
            return;
        }
        let link = (envelope.from, envelope.to);
        let bytes = envelope.msg.wire_bytes();
        let Some(sent) = self.serialize(link, bytes, faults.rate_bytes_per_s, now) else {
            self.counters.count_drop(DropReason::Backlog);
            return;
        };
        let arrival = sent.saturating_add(self.draw_delay(faults));
        let seq = self.bump_seq();
        self.queue.insert((arrival, seq), envelope);
    }

    /// When a message of `bytes` given to `link` at `now` (ms) has left it (ms, rounded
    /// up): at once on an unlimited link, else behind the link's backlog at `rate`.
    /// `None`: the backlog would pass [`NetConfig::max_backlog_bytes`].
    fn serialize(
        &mut self,
        link: (NodeId, NodeId),
        bytes: u64,
        rate: u64,
        now: u64,
    ) -> Option<u64> {
        if rate == 0 {
            return Some(now);
        }
        let now_us = now.saturating_mul(1_000);
        let free_us = self
            .link_free_us
            .get(&link)
            .copied()
            .unwrap_or(0)
            .max(now_us);
        let waiting = u128::from(free_us - now_us) * u128::from(rate) / 1_000_000;
        if waiting + u128::from(bytes) > u128::from(self.config.max_backlog_bytes) {
            return None;
        }
        let takes_us = (u128::from(bytes) * 1_000_000).div_ceil(u128::from(rate));
        let done_us = free_us.saturating_add(u64::try_from(takes_us).unwrap_or(u64::MAX));
        self.link_free_us.insert(link, done_us);
        Some(done_us.div_ceil(1_000))
    }

    /// `base ± jitter` (at least 0), plus a hold-back when reordering strikes, capped.
    fn draw_delay(&mut self, faults: LinkFaults) -> u64 {
        let spread = faults.jitter_ms.saturating_mul(2).saturating_add(1);
        let offset = self.rng.below(spread);
        let mut delay = faults
            .base_ms
            .saturating_add(offset)
            .saturating_sub(faults.jitter_ms);
        if self.rng.chance(faults.reorder_permille) {
            let hold = 1 + self.rng.below(self.config.reorder_window_ms.max(1));
            delay = delay.saturating_add(hold);
        }
        delay.min(self.config.max_delay_ms)
    }

    fn note_order(&mut self, envelope: &Envelope<M>) {
        let last = self
            .last_origin
            .entry((envelope.from, envelope.to))
            .or_insert(0);
        if envelope.origin < *last {
            self.counters.reordered += 1;
        } else {
            *last = envelope.origin;
        }
    }

    fn heal(&mut self) {
        self.groups.clear();
        self.isolated.clear();
        self.cuts.clear();
        self.links.clear();
        self.current = self.config.link;
    }

    fn crash(&mut self, node: NodeId) {
        self.crashed.insert(node);
        let before = self.queue.len();
        self.queue
            .retain(|_, envelope| envelope.from != node && envelope.to != node);
        self.link_free_us
            .retain(|&(from, to), _| from != node && to != node);
        for _ in self.queue.len()..before {
            self.counters.count_drop(DropReason::Crash);
        }
    }
}

/// Each named node's group index; refuses a node named twice.
fn group_map(groups: &[Vec<NodeId>]) -> Result<BTreeMap<NodeId, usize>, NetError> {
    let mut map = BTreeMap::new();
    for (index, group) in groups.iter().enumerate() {
        for &node in group {
            if map.insert(node, index).is_some() {
                return Err(NetError::NodeInTwoGroups(node));
            }
        }
    }
    Ok(map)
}

/// A seeded random fault schedule over `nodes`: `(at_ms, fault)` in time order, at most
/// `steps` (capped at [`MAX_SCHEDULE_STEPS`]) random faults spaced 1..=[`SCHEDULE_MAX_GAP_MS`]
/// apart, then a restart of every node still crashed and a [`Fault::Heal`]. At most a
/// minority of `nodes` (duplicates ignored) is crashed at once. The same seed gives the same schedule.
pub fn random_schedule(seed: u64, nodes: &[NodeId], steps: usize) -> Vec<(u64, Fault)> {
    let steps = steps.min(MAX_SCHEDULE_STEPS);
    let nodes: Vec<NodeId> = nodes
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let nodes = nodes.as_slice();
    let mut rng = SimRng::new(seed);
    let mut crashed = BTreeSet::new();
    let mut schedule = Vec::with_capacity(steps + nodes.len() + 1);
    let mut at = 0;
    for _ in 0..steps {
        at += 1 + rng.below(SCHEDULE_MAX_GAP_MS);
        schedule.push((at, random_fault(&mut rng, nodes, &mut crashed)));
    }
    at += 1 + rng.below(SCHEDULE_MAX_GAP_MS);
    schedule.extend(crashed.into_iter().map(|node| (at, Fault::Restart(node))));
    schedule.push((at, Fault::Heal));
    schedule
}

/// One random fault; `crashed` tracks the nodes the schedule has crashed.
fn random_fault(rng: &mut SimRng, nodes: &[NodeId], crashed: &mut BTreeSet<NodeId>) -> Fault {
    let pick = |rng: &mut SimRng| nodes.get(rng.below(nodes.len() as u64) as usize).copied();
    match rng.below(9) {
        0 if nodes.len() >= 2 => {
            let mut shuffled = nodes.to_vec();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let split = 1 + rng.below(shuffled.len() as u64 - 1) as usize;
            let (left, right) = shuffled.split_at(split);
            Fault::Partition(vec![left.to_vec(), right.to_vec()])
        }
        1 => match (pick(rng), pick(rng)) {
            (Some(from), Some(to)) if from != to => Fault::Cut { from, to },
            _ => Fault::Heal,
        },
        2 => pick(rng).map_or(Fault::Heal, Fault::Isolate),
        4 => Fault::Loss(rng.below(301) as u16),
        5 => Fault::Delay {
            base_ms: rng.below(SCHEDULE_MAX_DELAY_MS + 1),
            jitter_ms: rng.below(SCHEDULE_MAX_DELAY_MS + 1),
        },
        6 => Fault::Duplicate(rng.below(201) as u16),
        7 => Fault::Reorder(rng.below(201) as u16),
        8 => crash_or_restart(rng, nodes, crashed),
        _ => Fault::Heal,
    }
}

/// Crashes an up node while a minority is down, else restarts a crashed one.
fn crash_or_restart(rng: &mut SimRng, nodes: &[NodeId], crashed: &mut BTreeSet<NodeId>) -> Fault {
    let up: Vec<NodeId> = nodes
        .iter()
        .copied()
        .filter(|n| !crashed.contains(n))
        .collect();
    let may_crash = (crashed.len() + 1) * 2 < nodes.len();
    if may_crash
        && (crashed.is_empty() || rng.chance(500))
        && let Some(&node) = up.get(rng.below(up.len() as u64) as usize)
    {
        crashed.insert(node);
        return Fault::Crash(node);
    }
    let down = crashed
        .iter()
        .nth(rng.below(crashed.len() as u64) as usize)
        .copied();
    match down {
        Some(node) => {
            crashed.remove(&node);
            Fault::Restart(node)
        }
        None => Fault::Heal,
    }
}

#[cfg(test)]
mod tests;
