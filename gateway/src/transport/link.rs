//! A connection's write side, shared by the hub's fan-out and the
//! connection's own task: where a delivery is written.
//!
//! The fan-out offers each broadcast to each subscriber's [`Link`]. When the
//! subscriber is caught up in that room and nothing is queued for it, the
//! pre-framed bytes go straight to its socket with one non-blocking write:
//! no task wake-up, no copy, no allocation. Only what the socket does not
//! take at once (a partial write's remainder, or anything offered while
//! bytes are queued) is queued, and the connection's task flushes the queue
//! when the socket is writable, many frames per write. Queued bytes are
//! always whole frames after the head, so nothing (a ping, a close) is ever
//! written into the middle of a frame.
//!
//! A subscriber that is not caught up (it is joining, or a gap or an epoch
//! change was seen) gets the message in its inbox instead: its task applies
//! the ordering rules (`hub::subscriptions`) and then puts the slot back on
//! the direct path.
//!
//! Every queue here is bounded by the connection's limits: passing them
//! closes the connection as a slow consumer (4002) and frees what it held.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use herald_bus::ask::Ask;
use herald_protocol::RoomName;
use herald_protocol::native::CloseCode;
use herald_protocol::sse::{self, Entry as SseEntry};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::accounting;
use super::frames::{Broadcast, Framing, SioEncoding};
use super::sentlog::SentLog;
use crate::metrics::GatewayMetrics;

/// A room's slot in a link: the index the room map keeps for it.
pub type SlotId = u32;

/// Most frames one flush hands to the socket in one `writev`.
const MAX_IOVECS: usize = 64;

/// Something for a connection task to do.
#[derive(Debug, Clone)]
pub enum Out {
    /// A publication the direct path could not write: the task applies the
    /// ordering rules to it.
    Msg(Arc<Broadcast>),
    /// Join a room on an operator's request.
    Join(RoomName),
    /// Leave a room on an operator's request.
    Leave(RoomName),
    /// Re-read every subscribed room's history: the bus lost continuity.
    Resync,
    /// Send an event with an ack callback and answer the ask.
    Ask(Arc<Ask>),
    /// Tell the client a user joined or left a presence room it is in.
    Presence(Arc<herald_protocol::bus::PresenceEvent>),
}

/// The limits of one link.
#[derive(Debug, Clone, Copy)]
pub struct LinkLimits {
    /// Most queued items: frames not yet written plus inbox items.
    pub max_messages: usize,
    /// Most queued bytes.
    pub max_bytes: usize,
}

/// Bytes on their way to the client.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Whole frames for a framed wire; one packet for a polling wire.
    pub bytes: Bytes,
    /// For a polling wire: a binary packet (sent base64 with a `b` prefix).
    pub binary: bool,
    /// The live broadcast whose delivery completes when this is written.
    pub done: Option<Arc<Broadcast>>,
}

impl Chunk {
    /// Bytes that complete no delivery (replies, control frames, history).
    pub fn plain(bytes: Bytes) -> Self {
        Self {
            bytes,
            binary: false,
            done: None,
        }
    }
}

/// A socket the link can write to without blocking.
pub trait Wire: Send + Sync + 'static {
    /// Writes as much of `bufs` as the socket takes now.
    ///
    /// # Errors
    /// `WouldBlock` when it takes nothing; any other error means the
    /// connection is gone.
    fn try_write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// What became of an offered broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written to the socket.
    Written,
    /// Queued behind bytes the socket has not taken yet; the delivery
    /// completes when they are flushed.
    Queued,
    /// Already sent (an overlap between history and the live feed).
    Skipped,
    /// Handed to the connection's task, which completes the delivery.
    Deferred,
    /// The connection is closing (or just closed as a slow consumer).
    Dropped,
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing is queued any more.
    Empty,
    /// The socket took what it could; wait until it is writable again.
    Blocked,
    /// The connection is closed or its socket failed.
    Closed,
}

/// Why the link no longer carries anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The gateway closes the connection with this code.
    Code(CloseCode),
    /// The socket failed: the peer is gone.
    Gone(&'static str),
}

/// One room of the connection, as the fan-out sees it.
#[derive(Debug, Clone)]
struct Slot {
    /// The room.
    room: RoomName,
    /// The epoch of the last message written.
    epoch: Arc<str>,
    /// The last offset written.
    last: u64,
    /// Whether the direct path may write the next message.
    live: bool,
    /// Socket.IO: the namespaces (indexes into `Inner::nsps`) that joined
    /// the room; each gets its own event frame. Empty for native links.
    nsps: Vec<u16>,
}

/// A Socket.IO namespace socket's write-side state.
#[derive(Debug, Clone)]
struct Nsp {
    /// The namespace.
    name: Arc<str>,
    /// Whether events carry recovery offsets (and are logged).
    recovery: bool,
    /// What was written to this socket, for recovery.
    log: SentLog,
}

/// The state under the link's lock.
struct Inner {
    /// How messages are framed on the current wire.
    framing: Framing,
    /// The socket, while there is one (polling links have none).
    wire: Option<Arc<dyn Wire>>,
    /// Bytes not yet taken by the socket, oldest first.
    queue: VecDeque<Chunk>,
    /// How much of the head chunk the socket already took.
    head_written: usize,
    /// Bytes queued (whole chunks, head included).
    queued_bytes: usize,
    /// Items for the connection task.
    inbox: VecDeque<Out>,
    /// Why the connection must close, once it must.
    closed: Option<Closed>,
    /// Rooms, by slot id (`None`: a free slot).
    slots: Vec<Option<Slot>>,
    /// Socket.IO namespace sockets (`None`: left).
    nsps: Vec<Option<Nsp>>,
    /// Deliveries completed by writes since the last
    /// [`Link::take_written`], for the task to account.
    written: Vec<Arc<Broadcast>>,
    /// Server-Sent Events: each room's position as last written to the
    /// queue, by slot (a stream's slots are its rooms, in order); every
    /// message's `id:` line names them all.
    sse: Vec<Option<SseEntry>>,
    /// Set by [`Link::finish`]: the close sequence's last bytes are queued.
    finished: bool,
}

/// A connection's write side. See the module docs.
pub struct Link {
    /// Everything the fan-out and the task share.
    inner: Mutex<Inner>,
    /// Wakes the connection's task: inbox items, queued bytes, a close.
    wake: Notify,
    /// Wakes a polling GET waiting for bytes.
    poll_wake: Notify,
    /// The limits.
    limits: LinkLimits,
    /// Where dropped deliveries are accounted.
    metrics: Arc<GatewayMetrics>,
    /// The session id clients see (answers to asks carry it).
    sid: Arc<str>,
    /// The transport its deliveries are counted under
    /// (`crate::metrics::TRANSPORTS`).
    transport: AtomicU8,
}

impl Inner {
    fn items(&self) -> usize {
        self.queue.len() + self.inbox.len()
    }

    /// Frees everything queued (except the rest of a frame already begun,
    /// which must still reach the socket whole) and returns the live
    /// deliveries that will now never be written.
    fn clear(&mut self, sid: &str) -> Vec<Arc<Broadcast>> {
        let mut dropped = Vec::new();
        let keep_head = self.head_written > 0;
        let mut kept = None;
        for (i, c) in std::mem::take(&mut self.queue).into_iter().enumerate() {
            if i == 0 && keep_head {
                kept = Some(c);
            } else if let Some(b) = c.done {
                dropped.push(b);
            }
        }
        for o in std::mem::take(&mut self.inbox) {
            match o {
                Out::Msg(b) => dropped.push(b),
                Out::Ask(a) => a.refused(sid, "the connection closed"),
                _ => {}
            }
        }
        self.queued_bytes = kept.as_ref().map_or(0, |c| c.bytes.len());
        if let Some(c) = kept {
            self.queue.push_back(c);
        } else {
            self.head_written = 0;
        }
        dropped
    }
}

impl Link {
    /// A link with no rooms, writing `framing` to `wire` (none for polling).
    pub fn new(
        sid: Arc<str>,
        framing: Framing,
        wire: Option<Arc<dyn Wire>>,
        limits: LinkLimits,
        metrics: Arc<GatewayMetrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                framing,
                wire,
                queue: VecDeque::new(),
                head_written: 0,
                queued_bytes: 0,
                inbox: VecDeque::new(),
                closed: None,
                slots: Vec::new(),
                nsps: Vec::new(),
                written: Vec::new(),
                sse: Vec::new(),
                finished: false,
            }),
            wake: Notify::new(),
            poll_wake: Notify::new(),
            limits,
            metrics,
            sid,
            transport: AtomicU8::new(framing.transport()),
        })
    }

    /// The transport this link's deliveries are counted under.
    pub fn transport(&self) -> crate::metrics::TransportIdx {
        self.transport.load(Ordering::Relaxed)
    }

    /// Counts this link's deliveries under `t` (a WebTransport session,
    /// whose framing is that of raw QUIC).
    pub fn set_transport(&self, t: crate::metrics::TransportIdx) {
        self.transport.store(t, Ordering::Relaxed);
    }

    /// The notification the connection task waits on.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The session id clients see.
    pub fn sid(&self) -> &Arc<str> {
        &self.sid
    }

    /// Wakes the connection task as if something had been queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The framing on the current wire.
    pub fn framing(&self) -> Framing {
        self.inner.lock().framing
    }

    /// Why the connection must close, if it must.
    pub fn closed(&self) -> Option<Closed> {
        self.inner.lock().closed
    }

    /// Marks the connection for closing with `code` (the first reason
    /// wins), frees its queues and wakes its task.
    pub fn close(&self, code: CloseCode) {
        self.shut(Closed::Code(code));
    }

    /// Marks the connection as ended by its peer (`reason`, as in
    /// [`Closed::Gone`]): the transport went away without a close, so the
    /// session stays recoverable. Frees the queues and wakes the task.
    pub fn gone(&self, reason: &'static str) {
        self.shut(Closed::Gone(reason));
    }

    fn shut(&self, why: Closed) {
        let dropped = {
            let mut g = self.inner.lock();
            if g.closed.is_some() {
                return;
            }
            g.closed = Some(why);
            g.clear(&self.sid)
        };
        if !dropped.is_empty() {
            if matches!(why, Closed::Code(CloseCode::SlowConsumer)) {
                self.metrics.slow_consumers.increment(1);
            }
            accounting::dropped(&self.metrics, &dropped);
        } else if matches!(why, Closed::Code(CloseCode::SlowConsumer)) {
            self.metrics.slow_consumers.increment(1);
        }
        self.wake.notify_one();
        self.poll_wake.notify_waiters();
    }

    /// Offers a live broadcast for the room in `slot`. See [`Offer`].
    pub fn offer(&self, slot: SlotId, b: &Arc<Broadcast>) -> Offer {
        let mut g = self.inner.lock();
        if g.closed.is_some() {
            return Offer::Dropped;
        }
        let inner = &mut *g;
        let Some(Some(s)) = inner.slots.get_mut(slot as usize) else {
            return Offer::Skipped;
        };
        if s.live && s.epoch == b.epoch && b.offset <= s.last {
            return Offer::Skipped;
        }
        if !s.live || s.epoch != b.epoch || b.offset != s.last + 1 {
            s.live = false;
            return self.defer_locked(g, Out::Msg(b.clone()));
        }
        let framing = inner.framing;
        if s.nsps.is_empty() && framing == Framing::Sse {
            s.last = b.offset;
            let entry = SseEntry {
                offset: b.offset,
                check: sse::epoch_check(&b.room, &b.epoch),
            };
            if let Some(e) = inner.sse.get_mut(slot as usize) {
                *e = Some(entry);
            }
            let id = Chunk::plain(sse_id_line(&inner.sse));
            return self.write_locked(g, [id, chunk(b.sse().clone(), Some(b))], true);
        }
        if s.nsps.is_empty() {
            let Some(bytes) = b.native_for(framing) else {
                // A Socket.IO slot whose namespaces are not set yet: the
                // task decides.
                s.live = false;
                return self.defer_locked(g, Out::Msg(b.clone()));
            };
            let bytes = bytes.clone();
            s.last = b.offset;
            return self.write_locked(g, [chunk(bytes, Some(b))], true);
        }
        s.last = b.offset;
        let mut chunks = inline::Chunks::default();
        let n = s.nsps.len();
        for (i, &id) in s.nsps.iter().enumerate() {
            let Some(Some(nsp)) = inner.nsps.get_mut(usize::from(id)) else {
                continue;
            };
            let enc = SioEncoding {
                nsp: &nsp.name,
                recovery: nsp.recovery,
            };
            if nsp.recovery {
                nsp.log.push(&s.room, b.offset);
            }
            let done = (i + 1 == n).then_some(b);
            chunks.push(chunk(b.sio(enc, framing), done));
        }
        self.write_locked(g, chunks, true)
    }

    fn defer_locked(&self, mut g: parking_lot::MutexGuard<'_, Inner>, out: Out) -> Offer {
        if g.items() >= self.limits.max_messages {
            drop(g);
            self.shut(Closed::Code(CloseCode::SlowConsumer));
            return Offer::Dropped;
        }
        g.inbox.push_back(out);
        drop(g);
        self.wake.notify_one();
        Offer::Deferred
    }

    /// Queues an item for the connection task.
    ///
    /// # Errors
    /// [`Closed`] when the connection is closing (or just closed as slow).
    pub fn push(&self, out: Out) -> Result<(), Closed> {
        let g = self.inner.lock();
        if let Some(c) = g.closed {
            return Err(c);
        }
        match self.defer_locked(g, out) {
            Offer::Dropped => Err(Closed::Code(CloseCode::SlowConsumer)),
            _ => Ok(()),
        }
    }

    /// Writes `chunks` in order after everything written before: straight
    /// to the socket when nothing is queued, else behind the queue.
    ///
    /// # Errors
    /// [`Closed`] when the connection is closing, its socket failed, or
    /// this write passed the limits (a slow consumer).
    pub fn write(&self, chunks: impl IntoIterator<Item = Chunk>) -> Result<(), Closed> {
        let g = self.inner.lock();
        if let Some(c) = g.closed {
            return Err(c);
        }
        match self.write_locked(g, chunks, false) {
            Offer::Dropped => Err(self.closed().unwrap_or(Closed::Gone("error"))),
            _ => Ok(()),
        }
    }

    /// Writes or queues `chunks`. With `account_inline`, a delivery written
    /// at once is left for the caller (the fan-out) to account; otherwise
    /// every completed delivery goes to the `written` list.
    fn write_locked(
        &self,
        mut g: parking_lot::MutexGuard<'_, Inner>,
        chunks: impl IntoIterator<Item = Chunk>,
        account_inline: bool,
    ) -> Offer {
        let inner = &mut *g;
        let was_empty = inner.queue.is_empty();
        let mut chunks = chunks.into_iter();
        let mut outcome = Offer::Written;
        if was_empty && let Some(wire) = inner.wire.clone() {
            // The direct path: up to four frames in one write, on the
            // stack; nothing is queued unless the socket refuses some.
            let mut batch = inline::Chunks::default();
            for c in chunks.by_ref().take(inline::INLINE) {
                batch.push(c);
            }
            let mut iov = [IoSlice::new(&[]); inline::INLINE];
            let mut total = 0;
            for (slot, c) in iov.iter_mut().zip(batch.iter()) {
                *slot = IoSlice::new(&c.bytes);
                total += c.bytes.len();
            }
            let written = match wire.try_write(&iov[..batch.len()]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => {
                    drop(g);
                    tracing::debug!(error = %e, "write failed");
                    self.shut(Closed::Gone(gone_reason(&e)));
                    return Offer::Dropped;
                }
            };
            let mut rest = chunks.peekable();
            if written == total && rest.peek().is_none() {
                if !account_inline {
                    inner
                        .written
                        .extend(batch.into_iter().filter_map(|c| c.done));
                }
                return Offer::Written;
            }
            // Queue what the socket did not take: the rest of a frame
            // begun, then whole frames.
            let mut skip = written;
            for c in batch {
                let len = c.bytes.len();
                if skip >= len {
                    skip -= len;
                    inner.written.extend(c.done);
                    continue;
                }
                if inner.queue.is_empty() {
                    inner.head_written = skip;
                }
                skip = 0;
                inner.queued_bytes += len;
                inner.queue.push_back(c);
            }
            outcome = Offer::Queued;
            for c in rest {
                inner.queued_bytes += c.bytes.len();
                inner.queue.push_back(c);
            }
        } else {
            for c in chunks {
                inner.queued_bytes += c.bytes.len();
                inner.queue.push_back(c);
                outcome = Offer::Queued;
            }
        }
        if inner.items() > self.limits.max_messages || inner.queued_bytes > self.limits.max_bytes {
            drop(g);
            self.shut(Closed::Code(CloseCode::SlowConsumer));
            return Offer::Dropped;
        }
        let framed = inner.framing.is_framed();
        drop(g);
        if outcome == Offer::Queued {
            if framed {
                if was_empty {
                    self.wake.notify_one();
                }
            } else {
                self.poll_wake.notify_waiters();
            }
        }
        outcome
    }

    /// Whether bytes wait for the socket.
    pub fn has_queued(&self) -> bool {
        !self.inner.lock().queue.is_empty()
    }

    /// Whether the link is closed and its last packets were all taken: a
    /// polling session in this state is over, whatever its task is doing.
    pub fn spent(&self) -> bool {
        let g = self.inner.lock();
        g.closed.is_some() && g.queue.is_empty()
    }

    /// Writes queued bytes while the socket takes them, many frames per
    /// write. Call when the socket is writable.
    pub fn flush(&self) -> Flushed {
        let mut g = self.inner.lock();
        loop {
            let inner = &mut *g;
            let Some(wire) = inner.wire.clone() else {
                return if inner.closed.is_some() {
                    Flushed::Closed
                } else {
                    Flushed::Blocked
                };
            };
            if inner.queue.is_empty() {
                return if inner.closed.is_some() {
                    Flushed::Closed
                } else {
                    Flushed::Empty
                };
            }
            let result = {
                let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
                let mut n = 0;
                for (i, c) in inner.queue.iter().take(MAX_IOVECS).enumerate() {
                    let from = if i == 0 { inner.head_written } else { 0 };
                    iov[i] = IoSlice::new(&c.bytes[from..]);
                    n = i + 1;
                }
                wire.try_write(&iov[..n])
            };
            let mut n = match result {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) => {
                    drop(g);
                    tracing::debug!(error = %e, "write failed");
                    self.shut(Closed::Gone(gone_reason(&e)));
                    return Flushed::Closed;
                }
            };
            while n > 0 {
                let Some(head) = inner.queue.front() else {
                    break;
                };
                let rest = head.bytes.len() - inner.head_written;
                if n < rest {
                    inner.head_written += n;
                    break;
                }
                n -= rest;
                inner.head_written = 0;
                if let Some(c) = inner.queue.pop_front() {
                    inner.queued_bytes -= c.bytes.len();
                    if let Some(b) = c.done {
                        inner.written.push(b);
                    }
                }
            }
        }
    }

    /// Queues the close sequence's last frames, after whatever frame the
    /// socket is part-way through, even though the link is closed; write
    /// them with [`Link::flush_final`].
    pub fn finish(&self, chunks: impl IntoIterator<Item = Chunk>) {
        let mut g = self.inner.lock();
        for c in chunks {
            g.queued_bytes += c.bytes.len();
            g.queue.push_back(c);
        }
        g.finished = true;
        drop(g);
        self.poll_wake.notify_waiters();
    }

    /// [`Link::flush`] for the close sequence: `Empty` once everything,
    /// the close frame included, is written.
    pub fn flush_final(&self) -> Flushed {
        match self.flush() {
            Flushed::Closed if self.inner.lock().queue.is_empty() => Flushed::Empty,
            other => other,
        }
    }

    /// Switches the message encoding (a native client that changed from
    /// text to binary frames gets MessagePack from then on).
    pub fn set_framing(&self, framing: Framing) {
        let mut g = self.inner.lock();
        // A new wire (a polling session upgraded to a WebSocket) is a new
        // transport; a stream that changes its format is not.
        if std::mem::discriminant(&g.framing) != std::mem::discriminant(&framing) {
            self.transport.store(framing.transport(), Ordering::Relaxed);
        }
        g.framing = framing;
    }

    /// Takes every queued packet for a polling GET (and marks their
    /// deliveries written). Returns `None` once the link is closed and
    /// nothing is left.
    pub fn take_poll(&self) -> Option<Vec<Chunk>> {
        let mut g = self.inner.lock();
        if g.queue.is_empty() && g.closed.is_some() {
            return None;
        }
        g.queued_bytes = 0;
        g.head_written = 0;
        let chunks: Vec<Chunk> = std::mem::take(&mut g.queue).into();
        let inner = &mut *g;
        inner
            .written
            .extend(chunks.iter().filter_map(|c| c.done.clone()));
        drop(g);
        if !chunks.is_empty() {
            // The task accounts the written deliveries.
            self.wake.notify_one();
        }
        Some(chunks)
    }

    /// Takes every queued chunk for a wire the task writes itself (a QUIC
    /// stream, whose writes are async) and marks their deliveries written;
    /// the caller writes them in order. What is taken no longer counts
    /// against the queue limits: the stream's own send window holds it.
    pub fn take_queued(&self, into: &mut Vec<Chunk>) {
        let mut g = self.inner.lock();
        g.queued_bytes = 0;
        g.head_written = 0;
        let inner = &mut *g;
        for c in inner.queue.drain(..) {
            if let Some(b) = &c.done {
                inner.written.push(b.clone());
            }
            into.push(c);
        }
    }

    /// Waits until a polling GET has something to take (or the link closes).
    pub async fn poll_ready(&self) {
        let notified = self.poll_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let g = self.inner.lock();
            if !g.queue.is_empty() || g.closed.is_some() {
                return;
            }
        }
        notified.await;
    }

    /// Switches to another wire (a polling session upgrading to WebSocket):
    /// queued packets are re-framed for it, in order, and written first;
    /// those `reframe` maps to `None` mean nothing there and are dropped.
    pub fn set_wire(
        &self,
        framing: Framing,
        wire: Option<Arc<dyn Wire>>,
        reframe: impl Fn(&Chunk) -> Option<Bytes>,
    ) {
        let mut g = self.inner.lock();
        let queue = std::mem::take(&mut g.queue);
        g.queue = queue
            .into_iter()
            .filter_map(|c| {
                Some(Chunk {
                    bytes: reframe(&c)?,
                    binary: c.binary,
                    done: c.done,
                })
            })
            .collect();
        g.queued_bytes = g.queue.iter().map(|c| c.bytes.len()).sum();
        g.head_written = 0;
        g.framing = framing;
        self.transport.store(framing.transport(), Ordering::Relaxed);
        g.wire = wire;
        let queued = !g.queue.is_empty();
        drop(g);
        if queued {
            self.wake.notify_one();
        }
    }

    /// Moves every inbox item into `into`. Returns why the connection must
    /// close, if it must.
    pub fn take_inbox(&self, into: &mut VecDeque<Out>) -> Option<Closed> {
        let mut g = self.inner.lock();
        if let Some(c) = g.closed {
            return Some(c);
        }
        into.append(&mut g.inbox);
        if g.inbox.capacity() > 64 {
            g.inbox = VecDeque::new();
        }
        None
    }

    /// Live deliveries completed by writes since the last call.
    pub fn take_written(&self, into: &mut Vec<Arc<Broadcast>>) {
        let mut g = self.inner.lock();
        into.append(&mut g.written);
    }

    /// Adds a room slot, not yet live, at `(epoch, last)`.
    pub fn add_slot(&self, room: RoomName, epoch: Arc<str>, last: u64) -> SlotId {
        let mut g = self.inner.lock();
        let slot = Slot {
            room,
            epoch,
            last,
            live: false,
            nsps: Vec::new(),
        };
        if let Some(i) = g.slots.iter().position(Option::is_none) {
            g.slots[i] = Some(slot);
            return i as SlotId;
        }
        g.slots.push(Some(slot));
        (g.slots.len() - 1) as SlotId
    }

    /// Frees a slot (its room was left).
    pub fn remove_slot(&self, slot: SlotId) {
        let mut g = self.inner.lock();
        if let Some(s) = g.slots.get_mut(slot as usize) {
            *s = None;
        }
        while matches!(g.slots.last(), Some(None)) {
            g.slots.pop();
        }
    }

    /// The position written in `slot`: `(epoch, last offset)`.
    pub fn position(&self, slot: SlotId) -> Option<(Arc<str>, u64)> {
        let g = self.inner.lock();
        g.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|s| (s.epoch.clone(), s.last))
    }

    /// Sets the position written in `slot` (the task wrote up to there).
    pub fn set_position(&self, slot: SlotId, epoch: Arc<str>, last: u64) {
        let mut g = self.inner.lock();
        if let Some(Some(s)) = g.slots.get_mut(slot as usize) {
            s.epoch = epoch;
            s.last = last;
        }
    }

    /// Puts `slot` on the direct path, unless a message of its room is
    /// still waiting in the inbox (the task must handle it first). Returns
    /// whether the slot is live.
    pub fn go_live(&self, slot: SlotId) -> bool {
        let mut g = self.inner.lock();
        let inner = &mut *g;
        let Some(Some(s)) = inner.slots.get_mut(slot as usize) else {
            return false;
        };
        let waiting = inner
            .inbox
            .iter()
            .any(|o| matches!(o, Out::Msg(b) if b.room == s.room));
        s.live = !waiting;
        s.live
    }

    /// Takes `slot` off the direct path: live messages go to the inbox.
    pub fn hold(&self, slot: SlotId) {
        let mut g = self.inner.lock();
        if let Some(Some(s)) = g.slots.get_mut(slot as usize) {
            s.live = false;
        }
    }

    /// Server-Sent Events: takes every queued chunk for the response body
    /// (and marks their deliveries written). Returns `None` once the link
    /// is closed, [`Link::finish`] queued the final event, and everything
    /// was taken: unlike [`Link::take_poll`], a close alone (a slow
    /// consumer, cut by the fan-out) does not end the body before the
    /// final event.
    pub fn take_sse(&self) -> Option<Vec<Chunk>> {
        {
            let g = self.inner.lock();
            if g.queue.is_empty() && g.closed.is_some() && g.finished {
                return None;
            }
        }
        self.take_poll().or_else(|| Some(Vec::new()))
    }

    /// Server-Sent Events: waits until [`Link::take_sse`] has something
    /// to return (chunks, or the end).
    pub async fn sse_ready(&self) {
        let notified = self.poll_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let g = self.inner.lock();
            if !g.queue.is_empty() || g.finished {
                return;
            }
        }
        notified.await;
    }

    /// Server-Sent Events: the stream's positions before anything is
    /// written (what the client said it holds), one per room in order.
    pub fn set_sse_positions(&self, positions: Vec<Option<SseEntry>>) {
        self.inner.lock().sse = positions;
    }

    /// Server-Sent Events: writes `items` in order like [`Link::write`],
    /// each first moving its room's position and, when asked, preceded by
    /// the `id:` line of every room's position at that point.
    ///
    /// # Errors
    /// As [`Link::write`].
    pub fn write_sse(&self, items: impl IntoIterator<Item = SseItem>) -> Result<(), Closed> {
        let mut g = self.inner.lock();
        if let Some(c) = g.closed {
            return Err(c);
        }
        let mut chunks = Vec::new();
        for item in items {
            if let Some((room, entry)) = item.position
                && let Some(e) = g.sse.get_mut(room)
            {
                *e = entry;
            }
            if item.with_id {
                chunks.push(Chunk::plain(sse_id_line(&g.sse)));
            }
            chunks.push(item.chunk);
        }
        match self.write_locked(g, chunks, false) {
            Offer::Dropped => Err(self.closed().unwrap_or(Closed::Gone("error"))),
            _ => Ok(()),
        }
    }

    /// Socket.IO: adds a namespace socket; returns its index.
    pub fn add_nsp(&self, name: Arc<str>, recovery: bool, log: SentLog) -> u16 {
        let mut g = self.inner.lock();
        let nsp = Nsp {
            name,
            recovery,
            log,
        };
        if let Some(i) = g.nsps.iter().position(Option::is_none) {
            g.nsps[i] = Some(nsp);
            return i as u16;
        }
        g.nsps.push(Some(nsp));
        (g.nsps.len() - 1) as u16
    }

    /// Socket.IO: removes a namespace socket and returns its sent log.
    pub fn remove_nsp(&self, id: u16) -> Option<SentLog> {
        let mut g = self.inner.lock();
        for s in g.slots.iter_mut().flatten() {
            s.nsps.retain(|&n| n != id);
        }
        g.nsps
            .get_mut(usize::from(id))
            .and_then(Option::take)
            .map(|n| n.log)
    }

    /// Socket.IO: the namespaces written for `slot`'s messages.
    pub fn set_slot_nsps(&self, slot: SlotId, nsps: Vec<u16>) {
        let mut g = self.inner.lock();
        if let Some(Some(s)) = g.slots.get_mut(slot as usize) {
            s.nsps = nsps;
        }
    }

    /// Socket.IO: records that the task wrote `room`'s message at `offset`
    /// to namespace socket `id` (the fan-out logs its own writes).
    pub fn log_sent(&self, id: u16, room: &RoomName, offset: u64) {
        let mut g = self.inner.lock();
        if let Some(Some(n)) = g.nsps.get_mut(usize::from(id))
            && n.recovery
        {
            n.log.push(room, offset);
        }
    }

    /// Socket.IO: a copy of namespace socket `id`'s sent log.
    pub fn sent_log(&self, id: u16) -> Option<SentLog> {
        let g = self.inner.lock();
        g.nsps
            .get(usize::from(id))
            .and_then(Option::as_ref)
            .map(|n| n.log.clone())
    }
}

/// One thing an SSE task writes (see [`Link::write_sse`]).
#[derive(Debug)]
pub struct SseItem {
    /// The room (its index in the stream) whose position this write
    /// moves, and the new position.
    pub position: Option<(usize, Option<SseEntry>)>,
    /// Whether an `id:` line goes first.
    pub with_id: bool,
    /// The event's bytes.
    pub chunk: Chunk,
}

/// The `id:` line of a stream's positions.
fn sse_id_line(positions: &[Option<SseEntry>]) -> Bytes {
    let mut id = Vec::with_capacity(positions.len() * 12);
    sse::encode_id(positions.iter().copied(), &mut id);
    let mut line = Vec::with_capacity(id.len() + 5);
    sse::write_id_line(&id, &mut line);
    Bytes::from(line)
}

fn chunk(bytes: Bytes, done: Option<&Arc<Broadcast>>) -> Chunk {
    Chunk {
        bytes,
        binary: false,
        done: done.cloned(),
    }
}

/// The disconnect reason for a failed write: a reset or a broken pipe is
/// the client going away, not a server error.
pub fn gone_reason(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => "client_closed",
        _ => "error",
    }
}

/// A tiny inline vector of chunks: most writes are one chunk, and the
/// direct path must not allocate.
mod inline {
    use super::Chunk;

    /// Chunks kept without a heap allocation.
    pub const INLINE: usize = 4;

    /// Up to [`INLINE`] chunks inline, the rest (more namespaces than that
    /// in one room) on the heap.
    #[derive(Default)]
    pub struct Chunks {
        /// The chunks.
        items: [Option<Chunk>; INLINE],
        /// How many are set.
        len: usize,
        /// Chunks past the inline ones.
        more: Vec<Chunk>,
    }

    impl Chunks {
        /// Appends a chunk.
        pub fn push(&mut self, c: Chunk) {
            if self.len < INLINE {
                self.items[self.len] = Some(c);
                self.len += 1;
            } else {
                self.more.push(c);
            }
        }

        /// How many inline chunks are set.
        pub fn len(&self) -> usize {
            self.len
        }

        /// The inline chunks.
        pub fn iter(&self) -> impl Iterator<Item = &Chunk> {
            self.items.iter().flatten()
        }
    }

    impl IntoIterator for Chunks {
        type Item = Chunk;
        type IntoIter = std::iter::Chain<
            std::iter::Flatten<std::array::IntoIter<Option<Chunk>, INLINE>>,
            std::vec::IntoIter<Chunk>,
        >;

        fn into_iter(self) -> Self::IntoIter {
            self.items.into_iter().flatten().chain(self.more)
        }
    }
}
