//! Long-polling sessions: what a session task shares with the HTTP
//! requests of its client, and the registry of live sessions by `sid`.
//!
//! The session's packets queue in its link (the same bounded queue, and
//! the same slow-consumer rule, as a socket's); a GET takes them all at
//! once, joined by `0x1e`, or waits for some. A POST hands the client's
//! packets to the task through a bounded channel, so a client that posts
//! faster than its session works waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::transport::socket::Socket;
use base64::Engine as _;
use bytes::Bytes;
use dashmap::DashMap;
use herald_protocol::sio::{EioPacket, RECORD_SEPARATOR};
use tokio::sync::mpsc;

use crate::transport::frames::Broadcast;
use crate::transport::link::{Chunk, Link};
use crate::transport::ws::WsReader;

/// An Engine.IO packet on its way to the client, before it is framed for
/// the session's current transport.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A text packet (`4...`, `2`, `6`...).
    Text(Bytes),
    /// A binary message (an attachment).
    Binary(Bytes),
    /// A room message for one namespace socket.
    Event {
        /// The message.
        b: Arc<Broadcast>,
        /// The namespace socket's id in the link.
        nsp_id: u16,
        /// The namespace.
        nsp: Arc<str>,
        /// Whether the event carries its recovery offset.
        recovery: bool,
        /// Whether this completes a live delivery (else it is history).
        live: bool,
    },
}

impl Frame {
    /// A text packet.
    pub fn text(s: impl Into<Bytes>) -> Self {
        Self::Text(s.into())
    }
}

/// What the HTTP side hands a session task.
pub enum Incoming {
    /// Packets from a POST, in order.
    Packets(Vec<EioPacket>),
    /// The client completed the upgrade to this WebSocket (`5` received).
    Upgrade(Box<(Arc<Socket>, WsReader)>),
    /// The client broke a transport rule (overlapping polls, a bad or
    /// oversized POST): the session must close with this reason.
    Violation(&'static str),
}

/// Why a GET poll was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollError {
    /// Another GET is already waiting on this session.
    Overlap,
}

/// One long-polling session, shared by its task and its HTTP requests.
pub struct PollHandle {
    /// Hands POSTed packets and upgrades to the session task (bounded).
    pub tx: mpsc::Sender<Incoming>,
    /// The session's write side: a GET takes its queued packets.
    pub link: Arc<Link>,
    /// Set while a GET is in progress.
    get_busy: AtomicBool,
    /// Set while a WebSocket upgrade is in progress.
    pub upgrading: AtomicBool,
    /// When the pong for the last ping is due, while one is awaited.
    pong_deadline: parking_lot::Mutex<Option<tokio::time::Instant>>,
}

/// Clears `get_busy` when a GET ends. A GET dropped before it answered
/// was aborted by its client (the HTTP connection closed): as the
/// reference server does, that ends the session, as a transport that went
/// away (so it stays recoverable).
struct BusyGuard<'a> {
    handle: &'a PollHandle,
    answered: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.handle.get_busy.store(false, Ordering::Release);
        if !self.answered {
            self.handle.link.gone("client_closed");
        }
    }
}

impl PollHandle {
    /// A handle feeding `tx`, answering GETs from `link`, whose first pong
    /// deadline is `first_deadline` (the handshake's time plus the ping
    /// interval and timeout). It holds from the handshake on, before the
    /// session task first runs, so a poll after it is refused however late
    /// that task starts.
    pub fn new(
        tx: mpsc::Sender<Incoming>,
        link: Arc<Link>,
        first_deadline: tokio::time::Instant,
    ) -> Arc<Self> {
        Arc::new(Self {
            tx,
            link,
            get_busy: AtomicBool::new(false),
            upgrading: AtomicBool::new(false),
            pong_deadline: parking_lot::Mutex::new(Some(first_deadline)),
        })
    }

    /// Publishes the session's pong deadline to its HTTP requests.
    pub fn set_pong_deadline(&self, deadline: Option<tokio::time::Instant>) {
        *self.pong_deadline.lock() = deadline;
    }

    /// Whether a GET is waiting for packets right now.
    pub fn get_pending(&self) -> bool {
        self.get_busy.load(Ordering::Acquire)
    }

    /// Whether the pong deadline has passed: the session is over even if
    /// its task has not woken up to close it yet, so a request arriving
    /// after the deadline is never served (scheduling jitter cannot keep a
    /// timed-out session alive).
    pub fn expired(&self) -> bool {
        self.pong_deadline
            .lock()
            .is_some_and(|d| tokio::time::Instant::now() >= d)
    }

    /// Answers a GET: the queued packets as one payload, waiting up to
    /// `wait` for some (then a noop, so the client polls again); a close
    /// packet once the session ended.
    ///
    /// # Errors
    /// [`PollError::Overlap`] when another GET is in progress.
    pub async fn poll(&self, wait: Duration) -> Result<String, PollError> {
        if self.get_busy.swap(true, Ordering::AcqRel) {
            return Err(PollError::Overlap);
        }
        let mut busy = BusyGuard {
            handle: self,
            answered: false,
        };
        let deadline = tokio::time::Instant::now() + wait;
        let answer = loop {
            match self.link.take_poll() {
                None => break "1".to_owned(),
                Some(chunks) if !chunks.is_empty() => break payload(&chunks),
                Some(_) => {}
            }
            if tokio::time::timeout_at(deadline, self.link.poll_ready())
                .await
                .is_err()
            {
                break "6".to_owned();
            }
        };
        busy.answered = true;
        Ok(answer)
    }
}

/// Joins packets into a polling payload (binary as `b<base64>`).
pub fn payload(chunks: &[Chunk]) -> String {
    let len = chunks.iter().map(|c| c.bytes.len() * 4 / 3 + 3).sum();
    let mut out = String::with_capacity(len);
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        if c.binary {
            out.push('b');
            base64::engine::general_purpose::STANDARD.encode_string(&c.bytes, &mut out);
        } else {
            // Text packets were encoded from `String`s.
            out.push_str(&String::from_utf8_lossy(&c.bytes));
        }
    }
    out
}

/// Live polling sessions by `sid`. Its size is bounded by admission: every
/// entry holds a connection permit.
#[derive(Default)]
pub struct Registry {
    /// The sessions.
    map: DashMap<String, Arc<PollHandle>>,
}

impl Registry {
    /// Adds a session.
    pub fn insert(&self, sid: String, handle: Arc<PollHandle>) {
        self.map.insert(sid, handle);
    }

    /// The session with `sid`.
    pub fn get(&self, sid: &str) -> Option<Arc<PollHandle>> {
        self.map.get(sid).map(|h| h.clone())
    }

    /// Forgets a session.
    pub fn remove(&self, sid: &str) {
        self.map.remove(sid);
    }

    /// Live polling sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests own and await their tasks")]
mod tests {
    use super::*;
    use crate::metrics::GatewayMetrics;
    use crate::transport::frames::Framing;
    use crate::transport::link::LinkLimits;
    use herald_protocol::native::CloseCode;

    fn handle(max_bytes: usize) -> Arc<PollHandle> {
        let link = Link::new(
            Arc::from("sid"),
            Framing::PollSocketIo,
            None,
            LinkLimits {
                max_messages: 10,
                max_bytes,
            },
            Arc::new(GatewayMetrics::new(false)),
        );
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        PollHandle::new(mpsc::channel(1).0, link, far)
    }

    fn text(s: &'static str) -> Chunk {
        Chunk::plain(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn a_poll_returns_queued_packets_joined() {
        let h = handle(100);
        h.link
            .write([
                text("2"),
                Chunk {
                    bytes: Bytes::from_static(b"\x01\x02"),
                    binary: true,
                    done: None,
                },
            ])
            .unwrap();
        assert_eq!(
            h.poll(Duration::from_secs(1)).await,
            Ok("2\x1ebAQI=".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_poll_times_out_with_a_noop_and_a_closed_one_says_close() {
        let h = handle(100);
        assert_eq!(h.poll(Duration::from_millis(10)).await, Ok("6".into()));
        h.link.close(CloseCode::Normal);
        assert_eq!(h.poll(Duration::from_secs(1)).await, Ok("1".into()));
    }

    #[tokio::test]
    async fn a_waiting_poll_is_answered_by_a_write() {
        let h = handle(100);
        let h2 = h.clone();
        let first = tokio::spawn(async move { h2.poll(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            h.poll(Duration::from_secs(1)).await,
            Err(PollError::Overlap)
        );
        h.link.write([text("42[\"x\"]")]).unwrap();
        assert_eq!(first.await.unwrap(), Ok("42[\"x\"]".into()));
    }

    /// The first deadline holds before the session task has run once: a
    /// busy runtime that starts the task late cannot stretch it.
    #[tokio::test(start_paused = true)]
    async fn a_new_handle_expires_at_its_first_deadline_with_no_session_turn() {
        let link = handle(100).link.clone();
        let first = tokio::time::Instant::now() + Duration::from_millis(500);
        let h = PollHandle::new(mpsc::channel(1).0, link, first);
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!h.expired());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(h.expired());
    }

    #[test]
    fn a_client_that_does_not_poll_is_a_slow_consumer() {
        let h = handle(8);
        assert!(h.link.write([text("12345")]).is_ok());
        assert!(h.link.write([text("12345")]).is_err());
        assert_eq!(
            h.link.closed(),
            Some(crate::transport::link::Closed::Code(
                CloseCode::SlowConsumer
            ))
        );
    }
}
