//! The consortium transport between `cactusd` nodes: a libp2p swarm (TCP, noise, yamux on
//! tokio) that owns every connection to the other members, refuses anyone outside the current
//! membership, and carries four request-response protocols (raft messages, tx forwarding,
//! checkpoint votes, snapshot chunks) whose payloads are opaque bytes. It exists so that the
//! rest of the node never touches libp2p: consensus and the mempool see node ids, byte
//! payloads and a bounded inbound channel, while this module handles identity (a node's
//! libp2p identity is its ed25519 node key), admission, redialing, batching, back-pressure and
//! per-chain protocol names (so two chains never talk to each other).
//!
//! Raft messages do not wait for round trips: each connected member gets two long-lived
//! outbound streams (`libp2p-stream`), one for appends and snapshots and one for everything
//! else (heartbeats, votes, responses), as etcd's rafthttp does, so a heartbeat never queues
//! behind a large append. A writer task per stream writes length-prefixed batches as they
//! queue up (each at most [`MAX_STREAM_BATCH_BYTES`] unless one message is larger), keeps
//! each lane's order, and reopens its stream after an error. The other protocols are
//! request-response with timeouts from the config; tx forwarding and checkpoint votes are
//! idempotent and retried with a doubling backoff after a timeout or a lost connection.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use couponcactus_chaincode::encoding::MAX_DECODE_BYTES;
use couponcactus_chaincode::ids::PublicKey;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt};
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport};

mod streams;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, identity, noise, tcp, yamux,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Largest frame (request or response) the codec reads or writes: 64 MiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Largest encoded raft batch; the receiver decodes it with
/// [`couponcactus_chaincode::encoding::decode`], which refuses more than this.
pub const MAX_RAFT_BATCH_BYTES: usize = MAX_DECODE_BYTES;

/// Largest single raft message: one message plus the batch framing must fit in a batch.
pub const MAX_RAFT_MESSAGE_BYTES: usize = MAX_RAFT_BATCH_BYTES - 16;

/// Raft messages queued for one peer beyond which [`NetworkHandle::send_raft`] drops new ones.
pub const MAX_QUEUED_RAFT_MESSAGES: usize = 4096;

/// Raft bytes queued for one peer beyond which [`NetworkHandle::send_raft`] drops new ones.
pub const MAX_QUEUED_RAFT_BYTES: usize = 64 * 1024 * 1024;

/// Most bytes of raft messages one stream write carries (a single larger message goes alone).
/// Small, so that one write holds a thin link for a fraction of a second (256 KiB: 1 s at
/// 2 Mbit/s) and the other lane's heartbeats interleave with it in the muxer.
pub const MAX_STREAM_BATCH_BYTES: usize = 256 * 1024;

/// First pause before a raft stream is reopened after it failed; it doubles up to
/// [`STREAM_RETRY_MAX`] while opening keeps failing.
const STREAM_RETRY_MIN: Duration = Duration::from_millis(50);

/// Longest pause between attempts to reopen a raft stream.
const STREAM_RETRY_MAX: Duration = Duration::from_secs(2);

/// Capacity of the inbound channel returned by [`start`]; when full, raft and checkpoint
/// messages are dropped (counted in `cactus_p2p_dropped_total`) and requests are refused.
pub const INBOUND_CAPACITY: usize = 4096;

/// A connection with no traffic is kept this long, so members stay connected between messages.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// Snapshot requests carry large chunks; they never get less than this.
const MIN_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`start`] waits for the listener to report its address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything that can go wrong in the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A public key is not a valid ed25519 point.
    #[error("invalid ed25519 public key: {0}")]
    InvalidKey(String),
    /// The node's own signing key could not become a libp2p identity.
    #[error("invalid node key: {0}")]
    InvalidNodeKey(String),
    /// A multiaddr did not parse.
    #[error("invalid multiaddr {addr:?}: {reason}")]
    InvalidAddr {
        /// The offending address.
        addr: String,
        /// Why it did not parse.
        reason: String,
    },
    /// Building the transport or listening failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer is not a member (or is this node).
    #[error("node {peer} is not a member")]
    UnknownPeer {
        /// The node id asked for.
        peer: u64,
    },
    /// No connection to the peer is up; nothing was queued or sent.
    #[error("not connected to node {peer}")]
    NotConnected {
        /// The node id asked for.
        peer: u64,
    },
    /// The raft queue for the peer is full; the new messages were dropped.
    #[error("raft queue to node {peer} is full; messages dropped")]
    Backpressure {
        /// The node id whose queue is full.
        peer: u64,
    },
    /// A message is larger than the protocol allows.
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Size of the offending message.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The peer does not speak the protocol (e.g. it belongs to another chain).
    #[error("node {peer} does not support the {protocol:?} protocol")]
    ProtocolNotSupported {
        /// The node id asked.
        peer: u64,
        /// The protocol asked for.
        protocol: Protocol,
    },
    /// The peer did not answer within the request timeout.
    #[error("request to node {peer} timed out")]
    Timeout {
        /// The node id asked.
        peer: u64,
    },
    /// The request failed otherwise (connection closed, I/O error, the peer refused to answer).
    #[error("request to node {peer} failed: {reason}")]
    Request {
        /// The node id asked.
        peer: u64,
        /// What went wrong.
        reason: String,
    },
    /// The swarm task has stopped.
    #[error("network is shut down")]
    Shutdown,
}

/// A member of the consortium as the network needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The node id used everywhere above the network (raft ids, [`Inbound`] senders).
    pub node_id: u64,
    /// The node's ed25519 key, which is also its libp2p identity (see [`peer_id_of`]).
    pub public_key: PublicKey,
    /// Where to dial it, as a multiaddr such as `/ip4/127.0.0.1/tcp/7202`.
    pub addr: String,
}

/// The libp2p peer id of a node key.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let public = identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| NetworkError::InvalidKey(e.to_string()))?;
    Ok(identity::PublicKey::from(public).to_peer_id())
}

/// Which raft stream a message goes on; each keeps its own order (etcd's rafthttp split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Log appends and snapshots: the bulk.
    Append,
    /// Everything else: heartbeats, votes and all responses, never behind an append.
    Control,
}

impl Lane {
    /// Both lanes.
    pub const ALL: [Lane; 2] = [Lane::Append, Lane::Control];

    /// The wire protocol name of the lane's stream for a chain.
    pub fn name(self, chain_tag: &str) -> String {
        match self {
            Lane::Append => format!("/couponcactus/{chain_tag}/raft-append/2"),
            Lane::Control => format!("/couponcactus/{chain_tag}/raft/2"),
        }
    }
}

/// The protocols spoken between nodes: raft on streams ([`Lane`]), the rest request-response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Raft messages (batched on the two lane streams, delivered as [`Inbound::Raft`];
    /// not a request protocol: [`NetworkHandle::request`] refuses it).
    Raft,
    /// Txs forwarded to the leader; answered by the receiving node.
    Forward,
    /// Checkpoint votes (acknowledged by the network, delivered as [`Inbound::Checkpoint`]).
    Checkpoint,
    /// Snapshot chunks for state sync; answered by the receiving node.
    Snapshot,
}

impl Protocol {
    /// All protocols.
    pub const ALL: [Protocol; 4] = [
        Protocol::Raft,
        Protocol::Forward,
        Protocol::Checkpoint,
        Protocol::Snapshot,
    ];

    /// The short name used in the wire protocol name and in the `protocol` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Raft => "raft",
            Protocol::Forward => "tx",
            Protocol::Checkpoint => "checkpoint",
            Protocol::Snapshot => "snapshot",
        }
    }

    /// The wire protocol name for a chain, `/couponcactus/{chain_tag}/{name}/1`.
    pub fn name(self, chain_tag: &str) -> String {
        format!("/couponcactus/{chain_tag}/{}/1", self.as_str())
    }
}

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// This node's id; a member entry with this id is skipped.
    pub node_id: u64,
    /// This node's ed25519 key; its libp2p identity.
    pub key: ed25519_dalek::SigningKey,
    /// The multiaddr to listen on (port 0 picks a free port, see [`NetworkHandle::listen_addrs`]).
    pub listen: String,
    /// Part of every protocol name so that nodes of different chains never talk (the node
    /// passes the first 16 hex chars of the genesis hash).
    pub chain_tag: String,
    /// The initial membership; may include this node itself.
    pub peers: Vec<PeerInfo>,
    /// Timeout for forward and checkpoint requests; snapshot requests get
    /// `max(60 s, this)`.
    pub request_timeout: Duration,
    /// Attempts of a forward or checkpoint request that timed out or lost its connection
    /// (both are idempotent: a tx by its id, a vote by its signer and height); at least 1.
    pub request_attempts: u32,
    /// Pause before the second attempt; it doubles for each further one.
    pub retry_backoff: Duration,
    /// Addresses to dial members at instead of their [`PeerInfo::addr`], by node id (NAT,
    /// tunnels, a test's delaying proxy); the identity check is the same.
    pub dial: HashMap<u64, String>,
}

/// Traffic from other members, delivered on the receiver returned by [`start`].
#[derive(Debug)]
pub enum Inbound {
    /// Raft messages from a member; one-way (the network already acked them).
    Raft {
        /// Sender node id.
        from: u64,
        /// The messages, each as the sender's node encoded it, in the order sent.
        messages: Vec<Vec<u8>>,
    },
    /// A checkpoint vote from a member; one-way.
    Checkpoint {
        /// Sender node id.
        from: u64,
        /// The vote as the sender's node encoded it.
        payload: Vec<u8>,
    },
    /// A request that needs an answer (Forward, Snapshot): send the answer bytes on `reply`;
    /// dropping it makes the peer see an error.
    Request {
        /// Which protocol it came on.
        protocol: Protocol,
        /// Sender node id.
        from: u64,
        /// The request as the sender's node encoded it.
        payload: Vec<u8>,
        /// Where the answer goes; it must come within the sender's request timeout.
        reply: oneshot::Sender<Vec<u8>>,
    },
}

/// A cheap, cloneable handle to the swarm task; the task stops when every handle is dropped.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    /// Commands to the swarm task (unbounded so that sync callers never block; every command
    /// comes from a caller action; raft traffic goes to the lane writers, not through here).
    commands: mpsc::UnboundedSender<Command>,
    /// State the swarm task keeps up to date so that queries and `send_raft` are synchronous.
    shared: Arc<Mutex<Shared>>,
    /// How idempotent requests are retried.
    retry: RetryPolicy,
    /// The runtime the network runs on, so a std thread can broadcast (votes are sent by
    /// tasks that retry).
    runtime: tokio::runtime::Handle,
}

/// Attempts and backoff of idempotent requests ([`NetworkConfig::request_attempts`]).
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    /// At least 1.
    attempts: u32,
    /// Pause before the second attempt, doubling after.
    backoff: Duration,
}

/// State shared between the handles and the swarm task.
#[derive(Debug, Default)]
struct Shared {
    /// Members with at least one open connection.
    connected: BTreeSet<u64>,
    /// Addresses the listener is bound to.
    listen_addrs: Vec<String>,
    /// Raft messages waiting for their lane's writer, per connected member and lane.
    raft_queues: HashMap<(u64, Lane), RaftQueue>,
    /// The membership by peer id, for attributing inbound raft streams.
    members: HashMap<PeerId, u64>,
}

/// Raft messages queued for one peer on one lane.
#[derive(Debug, Default)]
struct RaftQueue {
    /// The messages, oldest first.
    messages: VecDeque<Vec<u8>>,
    /// Sum of their lengths, for the byte bound.
    bytes: usize,
    /// Wakes the lane's writer (a permit is kept when it is busy, so no wake-up is lost).
    wake: Arc<tokio::sync::Notify>,
}

/// Locks the shared state; a panic elsewhere while holding it leaves consistent-enough data.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What handles ask the swarm task to do.
#[derive(Debug)]
enum Command {
    /// Send a request and report the answer.
    Request {
        /// Target node id.
        to: u64,
        /// Which protocol to send on.
        protocol: Protocol,
        /// The request bytes.
        payload: Vec<u8>,
        /// Where the answer (or failure) goes.
        reply: RequestReply,
    },
    /// Replace the membership.
    SetPeers(Vec<PeerInfo>),
}

impl NetworkHandle {
    /// This node's listen addresses once bound (so tests can use port 0).
    pub async fn listen_addrs(&self) -> Vec<String> {
        lock(&self.shared).listen_addrs.clone()
    }

    /// Queues raft messages (each already protobuf-encoded) to one peer on one lane.
    /// Non-blocking (callable from a std thread). The lane's writer sends what is queued
    /// as soon as its stream takes it, in batches of up to [`MAX_STREAM_BATCH_BYTES`],
    /// without waiting for the peer; the peer receives each lane's messages in order.
    ///
    /// Errors (nothing is queued): [`NetworkError::NotConnected`] when no connection to the
    /// peer is up; [`NetworkError::Backpressure`] when the lane's queue would exceed
    /// [`MAX_QUEUED_RAFT_MESSAGES`] or [`MAX_QUEUED_RAFT_BYTES`] (the messages are dropped
    /// and counted in `cactus_p2p_dropped_total`; raft tolerates loss, the caller should
    /// report the peer unreachable); [`NetworkError::TooLarge`] for a message over
    /// [`MAX_RAFT_MESSAGE_BYTES`].
    pub fn send_raft(
        &self,
        to: u64,
        lane: Lane,
        messages: Vec<Vec<u8>>,
    ) -> Result<(), NetworkError> {
        if messages.is_empty() {
            return Ok(());
        }
        if let Some(big) = messages.iter().find(|m| m.len() > MAX_RAFT_MESSAGE_BYTES) {
            return Err(NetworkError::TooLarge {
                size: big.len(),
                limit: MAX_RAFT_MESSAGE_BYTES,
            });
        }
        let bytes: usize = messages.iter().map(Vec::len).sum();
        let count = messages.len();
        let mut shared = lock(&self.shared);
        if !shared.connected.contains(&to) {
            return Err(NetworkError::NotConnected { peer: to });
        }
        let Some(queue) = shared.raft_queues.get_mut(&(to, lane)) else {
            return Err(NetworkError::NotConnected { peer: to });
        };
        if queue.messages.len() + count > MAX_QUEUED_RAFT_MESSAGES
            || queue.bytes + bytes > MAX_QUEUED_RAFT_BYTES
        {
            drop(shared);
            metrics::counter!("cactus_p2p_dropped_total").increment(count as u64);
            return Err(NetworkError::Backpressure { peer: to });
        }
        queue.messages.extend(messages);
        queue.bytes += bytes;
        queue.wake.notify_one();
        Ok(())
    }

    /// Sends a checkpoint vote to every connected member, one-way (fire and forget: each
    /// send is retried like [`NetworkHandle::request`], then only logged). Callable from a
    /// std thread.
    pub fn broadcast_checkpoint(&self, payload: Vec<u8>) {
        for to in self.connected() {
            let handle = self.clone();
            let payload = payload.clone();
            self.runtime.spawn(async move {
                if let Err(e) = handle.request(to, Protocol::Checkpoint, payload).await {
                    tracing::debug!(to, error = %e, "checkpoint vote not delivered");
                }
            });
        }
    }

    /// Sends a request and waits for the answer. Forward and Snapshot are answered by the
    /// receiving node ([`Inbound::Request`]); Checkpoint is answered by the receiving
    /// network with an empty ack; Raft is refused (it goes by [`NetworkHandle::send_raft`]).
    /// Fails fast with [`NetworkError::NotConnected`] rather than dialing. Forward and
    /// Checkpoint requests, which are idempotent, are sent again after a timeout or a
    /// failed connection, up to the configured attempts, after a doubling pause.
    pub async fn request(
        &self,
        to: u64,
        protocol: Protocol,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, NetworkError> {
        let attempts = match protocol {
            Protocol::Forward | Protocol::Checkpoint => self.retry.attempts.max(1),
            Protocol::Raft | Protocol::Snapshot => 1,
        };
        let mut pause = self.retry.backoff;
        let mut attempt = 1;
        loop {
            let result = self.request_once(to, protocol, payload.clone()).await;
            let retry = matches!(
                result,
                Err(NetworkError::Timeout { .. } | NetworkError::Request { .. })
            );
            if !retry || attempt >= attempts {
                return result;
            }
            metrics::counter!("cactus_p2p_retries_total", "protocol" => protocol.as_str())
                .increment(1);
            tracing::debug!(to, ?protocol, attempt, error = ?result.err(), "request failed; retrying");
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2);
            attempt += 1;
        }
    }

    /// One attempt of [`NetworkHandle::request`].
    async fn request_once(
        &self,
        to: u64,
        protocol: Protocol,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, NetworkError> {
        if protocol == Protocol::Raft {
            return Err(NetworkError::Request {
                peer: to,
                reason: "raft messages go by send_raft".into(),
            });
        }
        if payload.len() > MAX_FRAME_BYTES {
            return Err(NetworkError::TooLarge {
                size: payload.len(),
                limit: MAX_FRAME_BYTES,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                to,
                protocol,
                payload,
                reply,
            })
            .map_err(|_| NetworkError::Shutdown)?;
        answer.await.map_err(|_| NetworkError::Shutdown)?
    }

    /// Replaces the membership: newly allowed peers are dialed, removed peers are disallowed
    /// and disconnected (applied by the swarm task shortly after this returns). Entries for this node are skipped; entries with an invalid key or
    /// address are skipped with a warning.
    pub fn set_peers(&self, peers: Vec<PeerInfo>) {
        if self.commands.send(Command::SetPeers(peers)).is_err() {
            tracing::debug!("set_peers after network shutdown");
        }
    }

    /// Node ids of members with an open connection.
    pub fn connected(&self) -> Vec<u64> {
        lock(&self.shared).connected.iter().copied().collect()
    }
}

/// Binds and starts the swarm on the current tokio runtime; inbound traffic is delivered on
/// the returned receiver. Returns once the listener is bound.
pub async fn start(
    config: NetworkConfig,
) -> Result<(NetworkHandle, mpsc::Receiver<Inbound>), NetworkError> {
    let keypair = identity::Keypair::ed25519_from_bytes(config.key.to_bytes())
        .map_err(|e| NetworkError::InvalidNodeKey(e.to_string()))?;
    let local_peer = keypair.public().to_peer_id();
    let listen = parse_addr(&config.listen)?;
    let members = resolve_members(config.node_id, local_peer, &config.peers, &config.dial)?;

    let rr = |protocol: Protocol, timeout: Duration| {
        let name = StreamProtocol::try_from_owned(protocol.name(&config.chain_tag))
            .map_err(|e| NetworkError::Transport(format!("protocol name: {e}")))?;
        Ok::<_, NetworkError>(request_response::Behaviour::with_codec(
            FrameCodec,
            [(name, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(timeout),
        ))
    };
    let mut allow = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for member in members.values() {
        allow.allow_peer(member.peer_id);
    }
    let streams = libp2p_stream::Behaviour::new();
    let mut control = streams.new_control();
    let lanes = lane_protocols(&config.chain_tag)?;
    let behaviour = Behaviour {
        allow,
        streams,
        forward: rr(Protocol::Forward, config.request_timeout)?,
        checkpoint: rr(Protocol::Checkpoint, config.request_timeout)?,
        snapshot: rr(
            Protocol::Snapshot,
            config.request_timeout.max(MIN_SNAPSHOT_TIMEOUT),
        )?,
    };

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        // `/dns4/host/tcp/port` peer addresses (containers, real deployments).
        .with_dns()
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    swarm
        .listen_on(listen)
        .map_err(|e| NetworkError::Transport(format!("listen on {}: {e}", config.listen)))?;

    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Mutex::new(Shared::default()));
    for protocol in lanes.values() {
        let incoming = control
            .accept(protocol.clone())
            .map_err(|e| NetworkError::Transport(format!("raft stream protocol: {e}")))?;
        tokio::spawn(streams::accept_lane(
            incoming,
            Arc::clone(&shared),
            inbound_tx.clone(),
        ));
    }
    // Members start one after another: a peer that is not up yet at this node's start is
    // expected, so its first warning waits one interval (debug until then).
    let started = std::time::Instant::now();
    let dial_warned = members.values().map(|m| (m.peer_id, started)).collect();
    let mut task = Task {
        swarm,
        node_id: config.node_id,
        local_peer,
        peers: members.iter().map(|(id, m)| (m.peer_id, *id)).collect(),
        members,
        shared: Arc::clone(&shared),
        inbound: inbound_tx,
        control,
        lanes,
        writers: HashMap::new(),
        dial: config.dial.clone(),
        requests: HashMap::new(),
        replies: FuturesUnordered::new(),
        dial_warned,
        dials: Default::default(),
    };

    // Drive the swarm until the listener reports its address, so `listen_addrs` is accurate
    // as soon as `start` returns; events seen meanwhile are handled normally.
    let bound = tokio::time::timeout(LISTEN_TIMEOUT, async {
        loop {
            let event = task.swarm.select_next_some().await;
            if let SwarmEvent::ListenerClosed { reason, .. } = &event {
                return Err(NetworkError::Transport(format!(
                    "listener closed: {reason:?}"
                )));
            }
            if let SwarmEvent::ListenerError { error, .. } = &event {
                return Err(NetworkError::Transport(format!("listener: {error}")));
            }
            task.on_swarm_event(event);
            if !lock(&task.shared).listen_addrs.is_empty() {
                return Ok(());
            }
        }
    })
    .await;
    match bound {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(NetworkError::Transport(format!(
                "no listen address on {} after {LISTEN_TIMEOUT:?}",
                config.listen
            )));
        }
    }
    task.sync_connected();
    task.dial_missing();
    tokio::spawn(task.run(command_rx));
    let handle = NetworkHandle {
        commands,
        shared,
        retry: RetryPolicy {
            attempts: config.request_attempts.max(1),
            backoff: config.retry_backoff,
        },
        runtime: tokio::runtime::Handle::current(),
    };
    Ok((handle, inbound_rx))
}

/// Each lane's protocol name on this chain.
fn lane_protocols(chain_tag: &str) -> Result<HashMap<Lane, StreamProtocol>, NetworkError> {
    Lane::ALL
        .into_iter()
        .map(|lane| {
            StreamProtocol::try_from_owned(lane.name(chain_tag))
                .map(|name| (lane, name))
                .map_err(|e| NetworkError::Transport(format!("protocol name: {e}")))
        })
        .collect()
}

fn parse_addr(addr: &str) -> Result<Multiaddr, NetworkError> {
    addr.parse()
        .map_err(|e: libp2p::multiaddr::Error| NetworkError::InvalidAddr {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })
}

/// A member as the swarm task keeps it.
#[derive(Debug, Clone)]
struct Member {
    /// Its libp2p identity, derived from its node key.
    peer_id: PeerId,
    /// Where to dial it.
    addr: Multiaddr,
}

/// Turns peer infos into members, skipping this node (by id or by key); a member with a
/// dial override is dialed there.
fn resolve_members(
    node_id: u64,
    local_peer: PeerId,
    peers: &[PeerInfo],
    dial: &HashMap<u64, String>,
) -> Result<HashMap<u64, Member>, NetworkError> {
    let mut members = HashMap::new();
    for peer in peers {
        let peer_id = peer_id_of(&peer.public_key)?;
        if peer.node_id == node_id || peer_id == local_peer {
            continue;
        }
        let addr = parse_addr(dial.get(&peer.node_id).unwrap_or(&peer.addr))?;
        members.insert(peer.node_id, Member { peer_id, addr });
    }
    Ok(members)
}

/// The composed behaviour: the allow list first, so connections from and to non-members are
/// denied before any protocol sees them, then the raft lane streams, then one
/// request-response behaviour per other protocol.
#[derive(NetworkBehaviour)]
struct Behaviour {
    /// Admission: exactly the current members' peer ids.
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    /// The raft lanes' streams ([`Lane::name`]).
    streams: libp2p_stream::Behaviour,
    /// `/couponcactus/{chain_tag}/tx/1`.
    forward: request_response::Behaviour<FrameCodec>,
    /// `/couponcactus/{chain_tag}/checkpoint/1`.
    checkpoint: request_response::Behaviour<FrameCodec>,
    /// `/couponcactus/{chain_tag}/snapshot/1` (longer timeout).
    snapshot: request_response::Behaviour<FrameCodec>,
}

impl Behaviour {
    /// The request-response behaviour of a protocol (none for raft, which is on streams).
    fn protocol(
        &mut self,
        protocol: Protocol,
    ) -> Option<&mut request_response::Behaviour<FrameCodec>> {
        match protocol {
            Protocol::Raft => None,
            Protocol::Forward => Some(&mut self.forward),
            Protocol::Checkpoint => Some(&mut self.checkpoint),
            Protocol::Snapshot => Some(&mut self.snapshot),
        }
    }
}

/// The one codec of every protocol: a u32 big-endian length prefix, then that many bytes.
#[derive(Debug, Clone, Copy, Default)]
struct FrameCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME_BYTES}"),
        ));
    }
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME_BYTES)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds {MAX_FRAME_BYTES}", data.len()),
            )
        })?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&data).await?;
    io.flush().await
}

// `request_response::Codec` is an `#[async_trait]` trait; the methods below are what that
// macro expands to (the node does not depend on `async-trait`).
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    fn read_request<'life0, 'life1, 'life2, 'async_trait, T>(
        &'life0 mut self,
        _protocol: &'life1 StreamProtocol,
        io: &'life2 mut T,
    ) -> BoxFuture<'async_trait, io::Result<Vec<u8>>>
    where
        T: AsyncRead + Unpin + Send + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(read_frame(io))
    }

    fn read_response<'life0, 'life1, 'life2, 'async_trait, T>(
        &'life0 mut self,
        _protocol: &'life1 StreamProtocol,
        io: &'life2 mut T,
    ) -> BoxFuture<'async_trait, io::Result<Vec<u8>>>
    where
        T: AsyncRead + Unpin + Send + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(read_frame(io))
    }

    fn write_request<'life0, 'life1, 'life2, 'async_trait, T>(
        &'life0 mut self,
        _protocol: &'life1 StreamProtocol,
        io: &'life2 mut T,
        req: Vec<u8>,
    ) -> BoxFuture<'async_trait, io::Result<()>>
    where
        T: AsyncWrite + Unpin + Send + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(write_frame(io, req))
    }

    fn write_response<'life0, 'life1, 'life2, 'async_trait, T>(
        &'life0 mut self,
        _protocol: &'life1 StreamProtocol,
        io: &'life2 mut T,
        res: Vec<u8>,
    ) -> BoxFuture<'async_trait, io::Result<()>>
    where
        T: AsyncWrite + Unpin + Send + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(write_frame(io, res))
    }
}

/// The answer of this node to an inbound Forward/Snapshot request, once its handler replies.
type PendingReply = (
    Protocol,
    request_response::ResponseChannel<Vec<u8>>,
    Option<Vec<u8>>,
);

/// Waiter for the answer to one of our own requests.
type RequestReply = oneshot::Sender<Result<Vec<u8>, NetworkError>>;

/// The swarm task: owns the swarm and all per-peer bookkeeping.
struct Task {
    /// The libp2p swarm; only this task touches it.
    swarm: Swarm<Behaviour>,
    /// This node's id, never dialed nor counted as a member.
    node_id: u64,
    /// This node's peer id, never dialed.
    local_peer: PeerId,
    /// The membership (without this node), by node id.
    members: HashMap<u64, Member>,
    /// The membership, by peer id: how inbound traffic is attributed to a node id.
    peers: HashMap<PeerId, u64>,
    /// State read by the handles (connected set, listen addresses, raft queues).
    shared: Arc<Mutex<Shared>>,
    /// Where inbound traffic goes; only ever `try_send`, so the node cannot stall the swarm.
    inbound: mpsc::Sender<Inbound>,
    /// Opens the raft lanes' outbound streams (a clone per writer).
    control: libp2p_stream::Control,
    /// Each lane's protocol name on this chain.
    lanes: HashMap<Lane, StreamProtocol>,
    /// The lane writers of each connected member, aborted when it disconnects or leaves.
    writers: HashMap<u64, Vec<tokio::task::AbortHandle>>,
    /// Dial overrides by node id ([`NetworkConfig::dial`]).
    dial: HashMap<u64, String>,
    /// Outstanding Forward/Snapshot/explicit requests: the target and who waits for the answer.
    requests: HashMap<(Protocol, OutboundRequestId), (u64, RequestReply)>,
    /// Inbound requests waiting for this node's answer.
    replies: FuturesUnordered<BoxFuture<'static, PendingReply>>,
    /// When a failed dial to each peer was last logged at warn level (at most every
    /// [`DIAL_WARN_INTERVAL`], so a member that is down does not flood the log, yet a
    /// misconfigured address is never silent). Every genesis member starts with this
    /// node's start time, so the peers of a consortium starting together log no warning.
    dial_warned: HashMap<PeerId, std::time::Instant>,
    /// When each member without a connection may be dialed again ([`crate::dial`]).
    dials: crate::dial::DialSchedule<PeerId>,
}

/// How often a failing dial to the same peer is logged at warn level.
const DIAL_WARN_INTERVAL: Duration = Duration::from_secs(30);

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // Dials are due per member (at once, then backing off from a short first retry:
        // `crate::dial`); this tick only asks which are due.
        let mut redial = tokio::time::interval(crate::dial::DIAL_TICK);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((protocol, channel, answer)) = self.replies.next(), if !self.replies.is_empty() => {
                    match answer {
                        Some(answer) => {
                            let sent = self.swarm.behaviour_mut().protocol(protocol).map(|b| b.send_response(channel, answer));
                            if !matches!(sent, Some(Ok(()))) {
                                tracing::debug!(?protocol, "answer came after the request was given up");
                            }
                        }
                        None => tracing::debug!(?protocol, "request dropped unanswered by the node"),
                    }
                }
                _ = redial.tick() => self.dial_missing(),
            }
        }
        for writer in self.writers.values().flatten() {
            writer.abort();
        }
        let mut shared = lock(&self.shared);
        shared.connected.clear();
        shared.raft_queues.clear();
        metrics::gauge!("cactus_p2p_peers_connected").set(0.0);
        tracing::debug!("network task stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                to,
                protocol,
                payload,
                reply,
            } => {
                let Some(member) = self.members.get(&to) else {
                    let _ = reply.send(Err(NetworkError::UnknownPeer { peer: to }));
                    return;
                };
                let peer = member.peer_id;
                if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(NetworkError::NotConnected { peer: to }));
                    return;
                }
                let Some(behaviour) = self.swarm.behaviour_mut().protocol(protocol) else {
                    return;
                };
                let id = behaviour.send_request(&peer, payload);
                count_sent(protocol, 1);
                self.requests.insert((protocol, id), (to, reply));
            }
            Command::SetPeers(peers) => self.set_peers(peers),
        }
    }

    fn set_peers(&mut self, peers: Vec<PeerInfo>) {
        let mut members = HashMap::new();
        for info in peers {
            let peer_id = match peer_id_of(&info.public_key) {
                Ok(peer_id) => peer_id,
                Err(e) => {
                    tracing::warn!(node = info.node_id, error = %e, "skipping member with a bad key");
                    continue;
                }
            };
            if info.node_id == self.node_id || peer_id == self.local_peer {
                continue;
            }
            match parse_addr(self.dial.get(&info.node_id).unwrap_or(&info.addr)) {
                Ok(addr) => {
                    members.insert(info.node_id, Member { peer_id, addr });
                }
                Err(e) => {
                    tracing::warn!(node = info.node_id, error = %e, "skipping member with a bad address")
                }
            }
        }
        let new_peers: HashSet<PeerId> = members.values().map(|m| m.peer_id).collect();
        let removed: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| !new_peers.contains(p))
            .copied()
            .collect();
        for peer in removed {
            self.swarm.behaviour_mut().allow.disallow_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            tracing::info!(%peer, "peer removed from membership");
        }
        for peer in &new_peers {
            self.swarm.behaviour_mut().allow.allow_peer(*peer);
        }
        self.peers = members.iter().map(|(id, m)| (m.peer_id, *id)).collect();
        self.members = members;
        self.sync_connected();
        self.dial_missing();
    }

    /// Recomputes the connected set from the swarm and the membership (after the membership
    /// changed, or a connection opened or closed): a newly connected member gets its lane
    /// queues and writers, one no longer connected loses them (queued messages are dropped
    /// and counted).
    fn sync_connected(&mut self) {
        let connected: BTreeSet<u64> = self
            .members
            .iter()
            .filter(|(_, m)| self.swarm.is_connected(&m.peer_id))
            .map(|(id, _)| *id)
            .collect();
        let gone: Vec<u64> = self
            .writers
            .keys()
            .filter(|id| !connected.contains(id))
            .copied()
            .collect();
        for id in gone {
            for writer in self.writers.remove(&id).unwrap_or_default() {
                writer.abort();
            }
        }
        let mut shared = lock(&self.shared);
        let mut dropped = 0usize;
        shared.raft_queues.retain(|(id, _), queue| {
            let keep = connected.contains(id);
            if !keep {
                dropped += queue.messages.len();
            }
            keep
        });
        if dropped > 0 {
            metrics::counter!("cactus_p2p_dropped_total").increment(dropped as u64);
        }
        for &id in &connected {
            if self.writers.contains_key(&id) {
                continue;
            }
            let writers = self.spawn_writers(&mut shared, id);
            self.writers.insert(id, writers);
        }
        metrics::gauge!("cactus_p2p_peers_connected").set(connected.len() as f64);
        shared.connected = connected;
        shared.members = self.peers.clone();
    }

    /// Opens a member's lane queues and spawns their writers.
    fn spawn_writers(&self, shared: &mut Shared, to: u64) -> Vec<tokio::task::AbortHandle> {
        let Some(peer) = self.members.get(&to).map(|m| m.peer_id) else {
            return Vec::new();
        };
        let mut writers = Vec::new();
        for (&lane, protocol) in &self.lanes {
            let wake = Arc::new(tokio::sync::Notify::new());
            shared.raft_queues.insert(
                (to, lane),
                RaftQueue {
                    wake: Arc::clone(&wake),
                    ..RaftQueue::default()
                },
            );
            let writer = streams::LaneWriter {
                control: self.control.clone(),
                peer,
                to,
                lane,
                protocol: protocol.clone(),
                shared: Arc::clone(&self.shared),
                wake,
            };
            writers.push(tokio::spawn(streams::write_lane(writer)).abort_handle());
        }
        writers
    }

    /// Dials every member without a connection whose dial is due (a no-op for those
    /// already being dialed).
    fn dial_missing(&mut self) {
        let now = std::time::Instant::now();
        let targets: Vec<Member> = self
            .members
            .values()
            .filter(|m| m.peer_id != self.local_peer && !self.swarm.is_connected(&m.peer_id))
            .filter(|m| self.dials.due(&m.peer_id, now))
            .cloned()
            .collect();
        for member in targets {
            self.dials.dialing(member.peer_id, now);
            let opts = DialOpts::peer_id(member.peer_id)
                .addresses(vec![member.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(peer = %member.peer_id, addr = %member.addr, error = %e, "dial failed");
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Allow(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Streams(())) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Forward(e)) => {
                self.on_rr_event(Protocol::Forward, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Checkpoint(e)) => {
                self.on_rr_event(Protocol::Checkpoint, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Snapshot(e)) => {
                self.on_rr_event(Protocol::Snapshot, e)
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, node = ?self.peers.get(&peer_id), "peer connected");
                }
                self.dials.connected(&peer_id);
                self.sync_connected();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                tracing::info!(peer = %peer_id, node = ?self.peers.get(&peer_id), cause = ?cause, "peer disconnected");
                self.sync_connected();
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                peer_id,
                send_back_addr,
                ..
            } => {
                metrics::counter!("cactus_p2p_refused_total").increment(1);
                tracing::debug!(peer = ?peer_id, addr = %send_back_addr, %cause, "refused connection");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let now = std::time::Instant::now();
                if let Some(p) = peer_id {
                    self.dials.failed(p, now);
                }
                let warn = peer_id.is_some_and(|p| {
                    let due = self
                        .dial_warned
                        .get(&p)
                        .is_none_or(|t| now.duration_since(*t) >= DIAL_WARN_INTERVAL);
                    if due {
                        self.dial_warned.insert(p, now);
                    }
                    due
                });
                let node = peer_id.and_then(|p| self.peers.get(&p).copied());
                if warn {
                    tracing::warn!(peer = ?peer_id, ?node, %error, "cannot connect to a member (retrying every second; next warning in 30 s)");
                } else {
                    tracing::debug!(peer = ?peer_id, ?node, %error, "outgoing connection failed");
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                lock(&self.shared).listen_addrs.push(address.to_string());
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let address = address.to_string();
                lock(&self.shared).listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                tracing::warn!(?reason, "listener closed");
            }
            _ => {}
        }
    }

    fn on_rr_event(
        &mut self,
        protocol: Protocol,
        event: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(protocol, peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((_, reply)) = self.requests.remove(&(protocol, request_id)) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let node = self.peers.get(&peer).copied();
                tracing::debug!(?protocol, %peer, ?node, %error, "request failed");
                if let Some((to, reply)) = self.requests.remove(&(protocol, request_id)) {
                    let error = match error {
                        OutboundFailure::UnsupportedProtocols => {
                            NetworkError::ProtocolNotSupported { peer: to, protocol }
                        }
                        OutboundFailure::Timeout => NetworkError::Timeout { peer: to },
                        other => NetworkError::Request {
                            peer: to,
                            reason: other.to_string(),
                        },
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(?protocol, %peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_request(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        payload: Vec<u8>,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        let Some(&from) = self.peers.get(&peer) else {
            // The allow list should have kept it out; dropping `channel` refuses the request.
            metrics::counter!("cactus_p2p_refused_total").increment(1);
            tracing::warn!(?protocol, %peer, "refused request from a peer outside the membership");
            return;
        };
        match protocol {
            // Raft has no request-response behaviour; nothing arrives here for it.
            Protocol::Raft => {}
            Protocol::Checkpoint => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .checkpoint
                    .send_response(channel, Vec::new());
                self.deliver(Inbound::Checkpoint { from, payload });
            }
            Protocol::Forward | Protocol::Snapshot => {
                let (reply, answer) = oneshot::channel();
                if self.deliver(Inbound::Request {
                    protocol,
                    from,
                    payload,
                    reply,
                }) {
                    self.replies
                        .push(async move { (protocol, channel, answer.await.ok()) }.boxed());
                }
            }
        }
    }

    /// Hands inbound traffic to the node without ever waiting; when the node cannot keep up
    /// the item is dropped and counted.
    fn deliver(&self, item: Inbound) -> bool {
        match self.inbound.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(item)) => {
                metrics::counter!("cactus_p2p_dropped_total").increment(1);
                tracing::warn!(from = inbound_from(&item), "inbound channel full; dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("cactus_p2p_dropped_total").increment(1);
                false
            }
        }
    }
}

fn inbound_from(item: &Inbound) -> u64 {
    match item {
        Inbound::Raft { from, .. }
        | Inbound::Checkpoint { from, .. }
        | Inbound::Request { from, .. } => *from,
    }
}

fn count_sent(protocol: Protocol, n: u64) {
    metrics::counter!("cactus_p2p_messages_sent_total", "protocol" => protocol.as_str())
        .increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::time::Instant;

    const TAG: &str = "0123456789abcdef";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn info(seed: u8, node_id: u64, addr: &str) -> PeerInfo {
        PeerInfo {
            node_id,
            public_key: PublicKey(key(seed).verifying_key().to_bytes()),
            addr: addr.to_owned(),
        }
    }

    /// Starts a node with no members yet (addresses are only known once bound).
    async fn node(
        seed: u8,
        node_id: u64,
        tag: &str,
    ) -> (NetworkHandle, mpsc::Receiver<Inbound>, PeerInfo) {
        let (handle, rx) = start(NetworkConfig {
            node_id,
            key: key(seed),
            listen: "/ip4/127.0.0.1/tcp/0".to_owned(),
            chain_tag: tag.to_owned(),
            peers: Vec::new(),
            request_timeout: Duration::from_secs(2),
            request_attempts: 2,
            retry_backoff: Duration::from_millis(50),
            dial: HashMap::new(),
        })
        .await
        .expect("start");
        let addr = handle.listen_addrs().await.first().cloned().expect("bound");
        (handle, rx, info(seed, node_id, &addr))
    }

    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What a test node's handler saw.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Raft(u64, Vec<Vec<u8>>),
        Checkpoint(u64, Vec<u8>),
        Request(u64, Protocol, Vec<u8>),
    }

    /// A node's handler task: answers requests with `answer:` + payload and reports
    /// everything it sees.
    fn serve(mut rx: mpsc::Receiver<Inbound>) -> mpsc::UnboundedReceiver<Seen> {
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                let item = match item {
                    Inbound::Raft { from, messages } => Seen::Raft(from, messages),
                    Inbound::Checkpoint { from, payload } => Seen::Checkpoint(from, payload),
                    Inbound::Request {
                        protocol,
                        from,
                        payload,
                        reply,
                    } => {
                        let mut answer = b"answer:".to_vec();
                        answer.extend_from_slice(&payload);
                        let _ = reply.send(answer);
                        Seen::Request(from, protocol, payload)
                    }
                };
                let _ = tx.send(item);
            }
        });
        seen
    }

    fn drain(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Ok(item) = seen.try_recv() {
            out.push(item);
        }
        out
    }

    async fn all_connected(handles: &[(&NetworkHandle, Vec<u64>)]) {
        for (handle, expected) in handles {
            eventually("connections", || handle.connected() == *expected).await;
        }
    }

    /// Receives raft messages from `from` until `expected` many arrived.
    async fn raft_from(
        seen: &mut mpsc::UnboundedReceiver<Seen>,
        from: u64,
        expected: usize,
    ) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), async {
            while got.len() < expected {
                match seen.recv().await.expect("handler alive") {
                    Seen::Raft(f, messages) if f == from => got.extend(messages),
                    _ => {}
                }
            }
        })
        .await
        .expect("raft messages arrive");
        got
    }

    fn batches(prefix: &str, count: usize) -> Vec<Vec<Vec<u8>>> {
        (0..count)
            .map(|i| {
                (0..3)
                    .map(|j| format!("{prefix}-{i}-{j}").into_bytes())
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn network_three_nodes_exchange_raft_requests_and_checkpoints() {
        let (a, a_rx, a_info) = node(1, 1, TAG).await;
        let (b, b_rx, b_info) = node(2, 2, TAG).await;
        let (c, c_rx, c_info) = node(3, 3, TAG).await;
        let members = vec![a_info, b_info, c_info];
        for handle in [&a, &b, &c] {
            handle.set_peers(members.clone());
        }
        let (mut a_seen, mut b_seen, mut c_seen) = (serve(a_rx), serve(b_rx), serve(c_rx));
        all_connected(&[(&a, vec![2, 3]), (&b, vec![1, 3]), (&c, vec![1, 2])]).await;

        // Raft batches both ways, in order.
        let a_to_b = batches("a", 200);
        let b_to_a = batches("b", 200);
        for (x, y) in a_to_b.iter().zip(&b_to_a) {
            a.send_raft(2, Lane::Control, x.clone()).expect("a -> b");
            b.send_raft(1, Lane::Control, y.clone()).expect("b -> a");
        }
        let expected_at_b: Vec<Vec<u8>> = a_to_b.into_iter().flatten().collect();
        let expected_at_a: Vec<Vec<u8>> = b_to_a.into_iter().flatten().collect();
        assert_eq!(
            raft_from(&mut b_seen, 1, expected_at_b.len()).await,
            expected_at_b
        );
        assert_eq!(
            raft_from(&mut a_seen, 2, expected_at_a.len()).await,
            expected_at_a
        );

        // Requests are answered by the receiver's handler task.
        let answer = a
            .request(2, Protocol::Forward, b"tx-1".to_vec())
            .await
            .expect("forward");
        assert_eq!(answer, b"answer:tx-1");
        let answer = c
            .request(1, Protocol::Snapshot, b"chunk".to_vec())
            .await
            .expect("snapshot");
        assert_eq!(answer, b"answer:chunk");
        assert_eq!(
            drain(&mut b_seen),
            vec![Seen::Request(1, Protocol::Forward, b"tx-1".to_vec())]
        );
        assert_eq!(
            drain(&mut a_seen),
            vec![Seen::Request(3, Protocol::Snapshot, b"chunk".to_vec())]
        );

        // A checkpoint broadcast reaches both others.
        a.broadcast_checkpoint(b"vote".to_vec());
        for seen in [&mut b_seen, &mut c_seen] {
            let got = tokio::time::timeout(Duration::from_secs(5), seen.recv())
                .await
                .expect("checkpoint arrives");
            assert_eq!(got, Some(Seen::Checkpoint(1, b"vote".to_vec())));
        }
        assert!(
            drain(&mut a_seen).is_empty(),
            "the broadcaster does not hear itself"
        );
    }

    #[tokio::test]
    async fn network_refuses_non_members() {
        let (a, a_rx, a_info) = node(1, 1, TAG).await;
        let (b, b_rx, b_info) = node(2, 2, TAG).await;
        let (x, x_rx, x_info) = node(9, 9, TAG).await;
        a.set_peers(vec![a_info.clone(), b_info.clone()]);
        b.set_peers(vec![a_info.clone(), b_info]);
        // The outsider believes it is a member and dials `a`.
        x.set_peers(vec![a_info, x_info]);
        let (mut a_seen, _b_seen, _x_seen) = (serve(a_rx), serve(b_rx), serve(x_rx));
        all_connected(&[(&a, vec![2]), (&b, vec![1])]).await;

        // For a while (covering redials), the outsider keeps trying.
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut attempts = 0;
        while Instant::now() < deadline {
            let _ = x.send_raft(1, Lane::Control, vec![b"intruder".to_vec()]);
            x.broadcast_checkpoint(b"forged vote".to_vec());
            let answer = x.request(1, Protocol::Forward, b"tx".to_vec()).await;
            assert!(answer.is_err(), "a non-member got an answer: {answer:?}");
            attempts += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(attempts > 5);
        assert!(!a.connected().contains(&9));
        // Members still talk to each other, and `a` never saw the outsider.
        b.send_raft(1, Lane::Control, vec![b"member".to_vec()])
            .expect("b -> a");
        assert_eq!(raft_from(&mut a_seen, 2, 1).await, vec![b"member".to_vec()]);
        let seen = drain(&mut a_seen);
        assert!(seen.is_empty(), "unexpected inbound at a: {seen:?}");
    }

    #[tokio::test]
    async fn network_set_peers_removes_and_readmits() {
        let (a, a_rx, a_info) = node(1, 1, TAG).await;
        let (b, b_rx, b_info) = node(2, 2, TAG).await;
        let members = vec![a_info.clone(), b_info];
        a.set_peers(members.clone());
        b.set_peers(members.clone());
        let (mut a_seen, _b_seen) = (serve(a_rx), serve(b_rx));
        all_connected(&[(&a, vec![2]), (&b, vec![1])]).await;
        b.send_raft(1, Lane::Control, vec![b"before".to_vec()])
            .expect("b -> a");
        assert_eq!(raft_from(&mut a_seen, 2, 1).await, vec![b"before".to_vec()]);

        // Removed: `a` drops the connection and refuses `b`'s redials and messages.
        a.set_peers(vec![a_info]);
        eventually("a drops b", || a.connected().is_empty()).await;
        assert!(matches!(
            a.send_raft(2, Lane::Control, vec![b"x".to_vec()]),
            Err(NetworkError::NotConnected { peer: 2 })
        ));
        eventually("b sees the disconnect", || b.connected().is_empty()).await;
        let deadline = Instant::now() + Duration::from_millis(1300);
        while Instant::now() < deadline {
            let _ = b.send_raft(1, Lane::Control, vec![b"after removal".to_vec()]);
            assert!(
                b.request(1, Protocol::Forward, b"tx".to_vec())
                    .await
                    .is_err()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(a.connected().is_empty());
        let seen = drain(&mut a_seen);
        assert!(seen.is_empty(), "a removed peer got through: {seen:?}");

        // Readmitted: it reconnects and its messages flow again.
        a.set_peers(members);
        all_connected(&[(&a, vec![2]), (&b, vec![1])]).await;
        b.send_raft(1, Lane::Control, vec![b"back".to_vec()])
            .expect("b -> a");
        assert_eq!(raft_from(&mut a_seen, 2, 1).await, vec![b"back".to_vec()]);
    }

    #[tokio::test]
    async fn network_backpressure_never_blocks() {
        let (a, a_rx, a_info) = node(1, 1, TAG).await;
        // `b` never drains its inbound receiver.
        let (b, mut b_rx, b_info) = node(2, 2, TAG).await;
        // Node 3 is a member that is not running.
        let down = info(3, 3, "/ip4/127.0.0.1/tcp/1");
        a.set_peers(vec![a_info.clone(), b_info.clone(), down.clone()]);
        b.set_peers(vec![a_info, b_info, down]);
        let _a_seen = serve(a_rx);
        all_connected(&[(&a, vec![2]), (&b, vec![1])]).await;

        assert!(matches!(
            a.send_raft(3, Lane::Control, vec![b"m".to_vec()]),
            Err(NetworkError::NotConnected { peer: 3 })
        ));
        assert!(matches!(
            a.send_raft(42, Lane::Control, vec![b"m".to_vec()]),
            Err(NetworkError::NotConnected { peer: 42 })
        ));
        assert!(matches!(
            a.request(3, Protocol::Forward, b"tx".to_vec()).await,
            Err(NetworkError::NotConnected { peer: 3 })
        ));

        // More than a queue's worth at once is refused outright.
        let too_many = vec![vec![0u8; 8]; MAX_QUEUED_RAFT_MESSAGES + 1];
        assert!(matches!(
            a.send_raft(2, Lane::Control, too_many),
            Err(NetworkError::Backpressure { peer: 2 })
        ));
        // A flood without yielding (the swarm task shares this thread) fills the queue:
        // the sender gets Backpressure at once instead of blocking.
        let started = Instant::now();
        let mut refused = 0;
        for _ in 0..1000 {
            match a.send_raft(2, Lane::Control, vec![vec![7u8; 256]; 8]) {
                Ok(()) => {}
                Err(NetworkError::Backpressure { peer: 2 }) => refused += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(refused, 1000 - MAX_QUEUED_RAFT_MESSAGES / 8);
        assert!(started.elapsed() < Duration::from_secs(1));

        // One inbound item per checkpoint: more than the inbound channel holds. `b` acks
        // them all (its swarm task is never blocked) and drops what does not fit.
        let total = INBOUND_CAPACITY + 200;
        let mut sent = 0;
        while sent < total {
            let chunk = (total - sent).min(50);
            let acks = futures::future::join_all(
                (0..chunk).map(|_| a.request(2, Protocol::Checkpoint, b"vote".to_vec())),
            )
            .await;
            for ack in acks {
                assert_eq!(ack.expect("acked"), Vec::<u8>::new());
            }
            sent += chunk;
        }
        // `b` is still responsive: its own request is answered by `a`'s handler.
        let answer = b
            .request(1, Protocol::Forward, b"ping".to_vec())
            .await
            .expect("b alive");
        assert_eq!(answer, b"answer:ping");
        // Its inbound holds exactly what fits; the rest was dropped.
        let mut held = 0;
        while b_rx.try_recv().is_ok() {
            held += 1;
        }
        assert_eq!(held, INBOUND_CAPACITY);
    }

    #[tokio::test]
    async fn network_other_chain_is_not_understood() {
        let (a, a_rx, a_info) = node(1, 1, "aaaaaaaaaaaaaaaa").await;
        let (b, b_rx, b_info) = node(2, 2, "bbbbbbbbbbbbbbbb").await;
        let members = vec![a_info, b_info];
        a.set_peers(members.clone());
        b.set_peers(members);
        let (_a_seen, mut b_seen) = (serve(a_rx), serve(b_rx));
        all_connected(&[(&a, vec![2]), (&b, vec![1])]).await;

        let answer = a.request(2, Protocol::Forward, b"tx".to_vec()).await;
        assert!(
            matches!(
                answer,
                Err(NetworkError::ProtocolNotSupported {
                    peer: 2,
                    protocol: Protocol::Forward
                })
            ),
            "{answer:?}"
        );
        let ack = a.request(2, Protocol::Checkpoint, b"vote".to_vec()).await;
        assert!(
            matches!(ack, Err(NetworkError::ProtocolNotSupported { .. })),
            "{ack:?}"
        );
        a.send_raft(2, Lane::Control, vec![b"m".to_vec()])
            .expect("queued");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = drain(&mut b_seen);
        assert!(
            seen.is_empty(),
            "another chain's traffic got through: {seen:?}"
        );
    }

    #[test]
    fn network_peer_id_is_the_node_key() {
        let key = key(5);
        let public = PublicKey(key.verifying_key().to_bytes());
        let keypair = identity::Keypair::ed25519_from_bytes(key.to_bytes()).expect("keypair");
        assert_eq!(
            peer_id_of(&public).expect("peer id"),
            keypair.public().to_peer_id()
        );
        assert!(Protocol::Forward.name(TAG).ends_with("/tx/1"));
    }
}
