//! Cluster-wide emits with acks: the asking node adds an [`AskRequest`] to
//! the control stream; every live node (the asker too) sends the event to
//! its local target sockets, waits for their acks until the request's
//! timeout, and answers with one [`AskReply`]. The asker merges the replies.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_protocol::bus::{AskAnswer, AskReply, AskRequest, BusFrame, ControlTarget, encode_bus};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::control::{self, Heartbeat};
use super::state::Shared;
use crate::bus::BusError;

/// Longest ack timeout a request may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Most asks one node serves at once; later requests get an empty reply.
pub const MAX_RUNNING: usize = 256;

/// The merged answers of every node.
#[derive(Debug, Clone, Default)]
pub struct ClusterAnswers {
    /// Live nodes asked.
    pub nodes: usize,
    /// Nodes whose reply arrived.
    pub nodes_answered: usize,
    /// Sockets the event was sent to, over the nodes that answered.
    pub sent: u64,
    /// Every socket's answer.
    pub answers: Vec<AskAnswer>,
}

/// Asks the target's sockets on every live node and merges the replies.
///
/// # Errors
/// [`BusError::Unavailable`] when the request could not be sent.
pub async fn ask_cluster(
    shared: &Shared,
    target: ControlTarget,
    event: String,
    data: Value,
    timeout: Duration,
) -> Result<ClusterAnswers, BusError> {
    let timeout = timeout.min(MAX_TIMEOUT);
    let live = control::heartbeat(shared, Heartbeat::List).await?;
    let expected: HashSet<String> = live.into_iter().map(|h| h.node).collect();
    let request = format!("{}-{:016x}", shared.config.node_id, rand::random::<u64>());
    let (tx, mut rx) = mpsc::channel(expected.len().max(1) + 4);
    shared.ask_waiters.lock().insert(request.clone(), tx);
    let _waiter = Waiter {
        shared,
        request: request.clone(),
    };
    let frame = BusFrame::AskRequest(AskRequest {
        request,
        reply_to: shared.config.node_id.clone(),
        target,
        event,
        data,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    });
    control::append(shared, encode_bus(&frame)).await?;
    // Each node waits `timeout` for its sockets; its reply then crosses Redis.
    let deadline = Instant::now() + timeout + shared.config.presence_timeout;
    let mut merged = ClusterAnswers {
        nodes: expected.len(),
        ..ClusterAnswers::default()
    };
    let mut answered = HashSet::new();
    while !expected.iter().all(|n| answered.contains(n)) {
        let reply = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => break,
        };
        if !answered.insert(reply.node.clone()) {
            continue;
        }
        merged.sent += reply.sent;
        merged.answers.extend(reply.answers);
    }
    merged.nodes_answered = answered.len();
    Ok(merged)
}

/// Serves an ask read from the control stream: asks the local sockets,
/// then replies to the asker.
pub fn serve(shared: &Arc<Shared>, req: AskRequest) {
    let Some(sink) = shared.sink().cloned() else {
        return;
    };
    let node = shared.config.node_id.clone();
    let request = req.request.clone();
    let reply = move |sent, answers| {
        encode_bus(&BusFrame::AskReply(AskReply {
            request,
            node,
            sent,
            answers,
        }))
    };
    if shared.asks_running.fetch_add(1, Ordering::AcqRel) >= MAX_RUNNING {
        shared.asks_running.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!("bus: too many asks running; answering one with no sockets");
        let _ = shared.control_out.try_send(reply(0, Vec::new()));
        return;
    }
    let timeout = Duration::from_millis(req.timeout_ms).min(MAX_TIMEOUT);
    let pending = sink.ask(&req.target, req.event, req.data, Instant::now() + timeout);
    let shared = shared.clone();
    tokio::spawn(async move {
        let sent = pending.sent as u64;
        let answers = pending.collect().await;
        shared.asks_running.fetch_sub(1, Ordering::AcqRel);
        if shared.control_out.try_send(reply(sent, answers)).is_err() {
            tracing::warn!("bus: control queue full; dropping an ask reply");
        }
    });
}

/// Routes a node's reply to the ask waiting for it, if any.
pub fn reply_arrived(shared: &Shared, r: AskReply) {
    let waiter = shared.ask_waiters.lock().get(&r.request).cloned();
    if let Some(tx) = waiter {
        let _ = tx.try_send(r);
    }
}

/// Removes an ask waiter when the ask ends, however it ends.
struct Waiter<'a> {
    /// The registry.
    shared: &'a Shared,
    /// The request id.
    request: String,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.shared.ask_waiters.lock().remove(&self.request);
    }
}
