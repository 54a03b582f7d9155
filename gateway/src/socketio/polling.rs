//! Long-polling sessions: the queues a session task shares with the HTTP
//! requests of its client, and the registry of live sessions by `sid`.
//!
//! The session task pushes encoded packets ([`PollHandle::push`]); a GET
//! takes them all at once, joined by `0x1e`, or waits for some. A POST
//! hands the client's packets to the task through a bounded channel, so a
//! client that posts faster than its session works waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use dashmap::DashMap;
use herald_protocol::sio::{EioPacket, RECORD_SEPARATOR};
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// An encoded Engine.IO packet on its way to the client.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A text packet (`4...`, `2`, `6`...): a WebSocket text frame, or one
    /// packet of a polling payload.
    Text(Utf8Bytes),
    /// A binary message: a WebSocket binary frame, or `b<base64>` when polling.
    Binary(Bytes),
}

impl Frame {
    /// A text frame from a string.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Self::Text(s.into())
    }

    /// Bytes this frame costs on the wire (approximately, for budgets).
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len() * 4 / 3 + 4,
        }
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the HTTP side hands a session task.
pub enum Incoming {
    /// Packets from a POST, in order.
    Packets(Vec<EioPacket>),
    /// The client completed the upgrade to this WebSocket (`5` received).
    Upgrade(Box<WebSocketStream<TcpStream>>),
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

/// Packets waiting for the client's next GET.
#[derive(Default)]
struct PollOut {
    /// The packets, oldest first.
    frames: Vec<Frame>,
    /// Their total size.
    bytes: usize,
    /// Set once the session ended: the close packet is the last one.
    closed: bool,
}

/// One long-polling session, shared by its task and its HTTP requests.
pub struct PollHandle {
    /// Hands POSTed packets and upgrades to the session task (bounded).
    pub tx: mpsc::Sender<Incoming>,
    /// Packets for the next GET.
    out: Mutex<PollOut>,
    /// Wakes a waiting GET.
    notify: Notify,
    /// Set while a GET is in progress.
    get_busy: AtomicBool,
    /// Set while a WebSocket upgrade is in progress.
    pub upgrading: AtomicBool,
}

/// Clears `get_busy` when a GET ends, also when the client goes away.
struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl PollHandle {
    /// A handle feeding `tx`.
    pub fn new(tx: mpsc::Sender<Incoming>) -> Arc<Self> {
        Arc::new(Self {
            tx,
            out: Mutex::new(PollOut::default()),
            notify: Notify::new(),
            get_busy: AtomicBool::new(false),
            upgrading: AtomicBool::new(false),
        })
    }

    /// Queues frames for the client. Returns false, queuing nothing, when
    /// that would pass `max_bytes` or `max_frames`: the client does not
    /// poll fast enough.
    pub fn push(&self, frames: Vec<Frame>, max_bytes: usize, max_frames: usize) -> bool {
        if frames.is_empty() {
            return true;
        }
        let mut out = self.out.lock();
        let bytes: usize = frames.iter().map(Frame::len).sum();
        if out.bytes + bytes > max_bytes || out.frames.len() + frames.len() > max_frames {
            return false;
        }
        out.bytes += bytes;
        out.frames.extend(frames);
        drop(out);
        self.notify.notify_one();
        true
    }

    /// Ends the session: `packet` (close `1`, or noop `6` on an upgrade) is
    /// the last thing a poll returns.
    pub fn finish(&self, packet: &'static str) {
        let mut out = self.out.lock();
        if !out.closed {
            out.closed = true;
            out.frames.push(Frame::text(packet));
        }
        drop(out);
        self.notify.notify_one();
    }

    /// Takes every queued frame (on an upgrade, to send over the WebSocket).
    pub fn take_all(&self) -> Vec<Frame> {
        let mut out = self.out.lock();
        out.bytes = 0;
        std::mem::take(&mut out.frames)
    }

    /// Answers a GET: the queued packets as one payload, waiting up to
    /// `wait` for some (then a noop, so the client polls again).
    ///
    /// # Errors
    /// [`PollError::Overlap`] when another GET is in progress.
    pub async fn poll(&self, wait: Duration) -> Result<String, PollError> {
        if self.get_busy.swap(true, Ordering::AcqRel) {
            return Err(PollError::Overlap);
        }
        let _busy = BusyGuard(&self.get_busy);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let mut out = self.out.lock();
                if !out.frames.is_empty() {
                    out.bytes = 0;
                    let frames = std::mem::take(&mut out.frames);
                    drop(out);
                    return Ok(payload(&frames));
                }
                if out.closed {
                    return Ok("1".to_owned());
                }
            }
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                return Ok("6".to_owned());
            }
        }
    }
}

/// Joins frames into a polling payload (binary as `b<base64>`).
pub fn payload(frames: &[Frame]) -> String {
    let len = frames.iter().map(|f| f.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        match f {
            Frame::Text(t) => out.push_str(t.as_str()),
            Frame::Binary(b) => {
                out.push('b');
                base64::engine::general_purpose::STANDARD.encode_string(b, &mut out);
            }
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
mod tests {
    use super::*;

    fn handle() -> Arc<PollHandle> {
        PollHandle::new(mpsc::channel(1).0)
    }

    #[tokio::test]
    async fn a_poll_returns_queued_packets_joined() {
        let h = handle();
        assert!(h.push(
            vec![
                Frame::text("2"),
                Frame::Binary(Bytes::from_static(b"\x01\x02"))
            ],
            100,
            10
        ));
        assert_eq!(
            h.poll(Duration::from_secs(1)).await,
            Ok("2\x1ebAQI=".into())
        );
    }

    #[tokio::test]
    async fn an_empty_poll_times_out_with_a_noop_and_a_closed_one_says_close() {
        let h = handle();
        assert_eq!(h.poll(Duration::from_millis(10)).await, Ok("6".into()));
        h.finish("1");
        assert_eq!(h.poll(Duration::from_secs(1)).await, Ok("1".into()));
    }

    #[tokio::test]
    async fn overlapping_polls_are_refused() {
        let h = handle();
        let h2 = h.clone();
        let first = tokio::spawn(async move { h2.poll(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            h.poll(Duration::from_secs(1)).await,
            Err(PollError::Overlap)
        );
        h.push(vec![Frame::text("42[\"x\"]")], 100, 10);
        assert_eq!(first.await.unwrap(), Ok("42[\"x\"]".into()));
    }

    #[test]
    fn pushes_past_the_budget_are_refused() {
        let h = handle();
        assert!(h.push(vec![Frame::text("12345")], 8, 10));
        assert!(!h.push(vec![Frame::text("12345")], 8, 10));
        assert!(!h.push(vec![Frame::text("1"), Frame::text("2")], 100, 2));
    }
}
