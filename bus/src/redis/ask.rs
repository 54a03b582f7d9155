//! Cluster-wide emits with acks: the asking node adds an [`AskRequest`] to
//! the control stream; every live node (the asker too) sends the event to
//! its local target sockets, waits for their acks until the request's
//! timeout, and answers with one [`AskReply`]. The asker merges the replies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_protocol::bus::{AskAnswer, AskReply, AskRequest, BusFrame, ControlTarget, encode_bus};
use serde_json::Value;
use tokio::time::Instant;

use super::control::{self, Waiter};
use super::state::Shared;
use crate::BusError;

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
    let expected = control::live_nodes(shared).await?;
    let mut waiter = Waiter::register(
        &shared.ask_waiters,
        &shared.config.node_id,
        expected.len() + 4,
    );
    let frame = BusFrame::AskRequest(AskRequest {
        request: waiter.request.clone(),
        reply_to: shared.config.node_id.clone(),
        target,
        event,
        data,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    });
    control::append(shared, encode_bus(&frame)).await?;
    // Each node waits `timeout` for its sockets; its reply then crosses Redis.
    let deadline = Instant::now() + timeout + shared.config.presence_timeout;
    let replies = waiter.gather(&expected, deadline, |r| &r.node).await;
    let mut merged = ClusterAnswers {
        nodes: expected.len(),
        nodes_answered: replies.len(),
        ..ClusterAnswers::default()
    };
    for reply in replies {
        merged.sent += reply.sent;
        merged.answers.extend(reply.answers);
    }
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
    let tasks = shared.tasks.clone();
    tasks.spawn(async move {
        let sent = pending.sent as u64;
        let answers = tokio::select! {
            a = pending.collect() => a,
            () = shared.cancel.cancelled() => Vec::new(),
        };
        shared.asks_running.fetch_sub(1, Ordering::AcqRel);
        if shared.control_out.try_send(reply(sent, answers)).is_err() {
            tracing::warn!("bus: control queue full; dropping an ask reply");
        }
    });
}

/// Routes a node's reply to the ask waiting for it, if any.
pub fn reply_arrived(shared: &Shared, r: AskReply) {
    let request = r.request.clone();
    control::route(&shared.ask_waiters, &request, r);
}
