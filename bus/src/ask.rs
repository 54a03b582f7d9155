//! Emits that wait for the clients' acknowledgements (Socket.IO's
//! `io.to(room).timeout(ms).emit(event, data, callback)`).
//!
//! A node's [`Sink::ask`](crate::Sink::ask) queues one [`Ask`] with each
//! target session and returns a [`Pending`] that collects the answers.
//! Each session answers at most once per ask: with the client's ack
//! arguments, or at once with a refusal when it cannot ask (a native
//! WebSocket session, too many asks already pending). An ask whose
//! [`Pending`] was dropped or whose deadline passed is abandoned; sessions
//! forget it.

use std::sync::Arc;

use herald_protocol::RoomName;
use herald_protocol::bus::AskAnswer;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most asks one session keeps waiting for an ack at once.
pub const MAX_PENDING_PER_SESSION: usize = 32;

/// One emit-with-ack, as queued to each target session.
#[derive(Debug)]
pub struct Ask {
    /// The room the ask was addressed to, if it was: a session sends the
    /// event in the first namespace that joined this room.
    pub room: Option<RoomName>,
    /// The event name.
    pub event: String,
    /// The event's argument.
    pub data: Value,
    /// When the asker stops waiting.
    pub deadline: Instant,
    /// Where answers go; capacity one per target session.
    answers: mpsc::Sender<AskAnswer>,
}

impl Ask {
    /// Whether nobody waits for answers any more.
    pub fn abandoned(&self) -> bool {
        self.answers.is_closed() || Instant::now() >= self.deadline
    }

    /// The client acknowledged with `args`.
    pub fn acked(&self, sid: &str, nsp: &str, args: Vec<Value>) {
        self.answer(AskAnswer {
            sid: sid.to_owned(),
            nsp: Some(nsp.to_owned()),
            args: Some(args),
            error: None,
        });
    }

    /// The session cannot ask its client, for `reason`.
    pub fn refused(&self, sid: &str, reason: &str) {
        self.answer(AskAnswer {
            sid: sid.to_owned(),
            nsp: None,
            args: None,
            error: Some(reason.to_owned()),
        });
    }

    fn answer(&self, a: AskAnswer) {
        // The channel has room for one answer per target session and each
        // session answers once, so a full channel only means the asker left.
        let _ = self.answers.try_send(a);
    }
}

/// The asker's side of an ask: how many sessions it went to, and their answers.
#[derive(Debug)]
pub struct Pending {
    /// Sessions the ask was queued to.
    pub sent: usize,
    /// When the asker stops waiting.
    pub deadline: Instant,
    rx: mpsc::Receiver<AskAnswer>,
}

impl Pending {
    /// An ask with `capacity` target sessions, and the pending side.
    pub fn new(
        room: Option<RoomName>,
        event: String,
        data: Value,
        deadline: Instant,
        capacity: usize,
    ) -> (Arc<Ask>, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let ask = Arc::new(Ask {
            room,
            event,
            data,
            deadline,
            answers: tx,
        });
        (
            ask,
            Self {
                sent: 0,
                deadline,
                rx,
            },
        )
    }

    /// Waits until every target session answered or the deadline passed,
    /// and returns the answers that arrived.
    pub async fn collect(mut self) -> Vec<AskAnswer> {
        let mut answers = Vec::with_capacity(self.sent);
        while answers.len() < self.sent {
            match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
                Ok(Some(a)) => answers.push(a),
                Ok(None) | Err(_) => break,
            }
        }
        answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test]
    async fn collect_returns_once_every_session_answered() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (ask, mut pending) = Pending::new(None, "e".into(), json!(1), deadline, 2);
        pending.sent = 2;
        ask.acked("a", "/", vec![json!("ok")]);
        ask.refused("b", "no acks here");
        let started = Instant::now();
        let answers = pending.collect().await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].args, Some(vec![json!("ok")]));
        assert_eq!(answers[1].error.as_deref(), Some("no acks here"));
    }

    #[tokio::test]
    async fn collect_stops_at_the_deadline_with_what_arrived() {
        let deadline = Instant::now() + Duration::from_millis(200);
        let (ask, mut pending) = Pending::new(None, "e".into(), json!(1), deadline, 3);
        pending.sent = 3;
        ask.acked("a", "/x", vec![]);
        let answers = pending.collect().await;
        assert_eq!(answers.len(), 1);
        assert!(ask.abandoned());
    }

    #[tokio::test]
    async fn dropping_the_pending_side_abandons_the_ask() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (ask, pending) = Pending::new(None, "e".into(), json!(1), deadline, 1);
        assert!(!ask.abandoned());
        drop(pending);
        assert!(ask.abandoned());
        // Answering an abandoned ask is harmless.
        ask.acked("a", "/", vec![]);
    }
}
