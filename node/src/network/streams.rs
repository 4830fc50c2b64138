//! The raft lanes' streams. Per connected member and [`Lane`], a writer task opens its
//! stream as soon as the member connects, then takes what
//! queued up on the lane (at most [`MAX_STREAM_BATCH_BYTES`] at a time, more only for a
//! single larger message) and writes it as one length-prefixed frame on one long-lived
//! outbound stream, without waiting for the peer: the next batch goes as soon as the
//! stream (yamux's window, TCP) takes it. A stream that fails is dropped with the batch on
//! it (raft tolerates loss) and opened again after a doubling pause. Per inbound stream, a
//! reader task decodes each frame and hands its messages, in order, to the node. The swarm
//! task (`super::Task`) spawns the writers when a member connects and aborts them when it
//! disconnects or leaves; readers end with their stream.

use super::{
    Inbound, Lane, MAX_STREAM_BATCH_BYTES, Protocol, STREAM_RETRY_MAX, STREAM_RETRY_MIN, Shared,
    count_sent, lock, read_frame, write_frame,
};
use couponcactus_chaincode::encoding;
use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// What one lane's writer needs.
pub(super) struct LaneWriter {
    /// Opens the outbound stream.
    pub control: libp2p_stream::Control,
    /// The member's peer id.
    pub peer: PeerId,
    /// Its node id (the queue's key).
    pub to: u64,
    /// Which lane.
    pub lane: Lane,
    /// The lane's protocol name on this chain.
    pub protocol: StreamProtocol,
    /// Where the queue is.
    pub shared: Arc<Mutex<Shared>>,
    /// Rung when messages are queued.
    pub wake: Arc<Notify>,
}

/// Takes up to a batch's worth from the lane's queue; `None` once the queue is gone (the
/// member disconnected or left), which ends the writer.
fn take_batch(shared: &Mutex<Shared>, to: u64, lane: Lane) -> Option<Vec<Vec<u8>>> {
    let mut shared = lock(shared);
    let queue = shared.raft_queues.get_mut(&(to, lane))?;
    let mut batch = Vec::new();
    let mut size = 0usize;
    while let Some(next) = queue.messages.front() {
        if !batch.is_empty() && size + next.len() > MAX_STREAM_BATCH_BYTES {
            break;
        }
        size += next.len();
        let message = queue.messages.pop_front().unwrap_or_default();
        queue.bytes -= message.len();
        batch.push(message);
    }
    Some(batch)
}

/// Runs one lane's writer until its queue goes away.
pub(super) async fn write_lane(mut w: LaneWriter) {
    // Opened at once, not with the first message: opening costs round trips (yamux,
    // protocol negotiation), which on a WAN would delay the first heartbeat by a second.
    let mut stream = w.control.open_stream(w.peer, w.protocol.clone()).await.ok();
    let mut pause = STREAM_RETRY_MIN;
    loop {
        let Some(batch) = take_batch(&w.shared, w.to, w.lane) else {
            return;
        };
        if batch.is_empty() {
            w.wake.notified().await;
            continue;
        }
        let count = batch.len() as u64;
        if stream.is_none() {
            match w.control.open_stream(w.peer, w.protocol.clone()).await {
                Ok(opened) => stream = Some(opened),
                Err(e) => {
                    metrics::counter!("cactus_p2p_dropped_total").increment(count);
                    tracing::debug!(to = w.to, lane = ?w.lane, error = %e, ?pause, "cannot open the raft stream; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STREAM_RETRY_MAX);
                    continue;
                }
            }
        }
        let Some(open) = stream.as_mut() else {
            continue;
        };
        match write_frame(open, encoding::encode(&batch)).await {
            Ok(()) => {
                pause = STREAM_RETRY_MIN;
                count_sent(Protocol::Raft, count);
            }
            Err(e) => {
                metrics::counter!("cactus_p2p_dropped_total").increment(count);
                metrics::counter!("cactus_p2p_stream_resets_total").increment(1);
                tracing::debug!(to = w.to, lane = ?w.lane, error = %e, "raft stream broke; reopening");
                stream = None;
            }
        }
    }
}

/// Accepts a lane's inbound streams for as long as the swarm runs, each read by a task of
/// its own; streams from peers outside the membership are closed unread.
pub(super) async fn accept_lane(
    mut incoming: libp2p_stream::IncomingStreams,
    shared: Arc<Mutex<Shared>>,
    inbound: mpsc::Sender<Inbound>,
) {
    while let Some((peer, stream)) = incoming.next().await {
        let Some(from) = lock(&shared).members.get(&peer).copied() else {
            metrics::counter!("cactus_p2p_refused_total").increment(1);
            tracing::warn!(%peer, "refused a raft stream from a peer outside the membership");
            continue;
        };
        tokio::spawn(read_stream(
            stream,
            peer,
            from,
            Arc::clone(&shared),
            inbound.clone(),
        ));
    }
}

/// Reads frames from one inbound raft stream until it ends, fails or its peer leaves the
/// membership; delivers each frame's messages without waiting (a full inbound channel drops
/// them, counted).
async fn read_stream(
    mut stream: libp2p::Stream,
    peer: PeerId,
    from: u64,
    shared: Arc<Mutex<Shared>>,
    inbound: mpsc::Sender<Inbound>,
) {
    loop {
        let frame = match read_frame(&mut stream).await {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(from, error = %e, "raft stream ended");
                return;
            }
        };
        if lock(&shared).members.get(&peer) != Some(&from) {
            tracing::debug!(
                from,
                "raft stream of a peer that left the membership closed"
            );
            return;
        }
        let messages = match encoding::decode::<Vec<Vec<u8>>>(&frame) {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(node = from, error = %e, "undecodable raft batch; stream closed");
                return;
            }
        };
        if let Err(e) = inbound.try_send(Inbound::Raft { from, messages }) {
            metrics::counter!("cactus_p2p_dropped_total").increment(1);
            if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                return;
            }
            tracing::warn!(from, "inbound channel full; raft batch dropped");
        }
    }
}
