//! A connection's bounded outgoing queue.
//!
//! The hub pushes without waiting; the connection task drains. When a push
//! would pass the message or byte limit, the queue is emptied at once (its
//! memory freed) and marked closed with [`CloseCode::SlowConsumer`]: one slow
//! client never holds memory or time that others need.

use std::collections::VecDeque;
use std::sync::Arc;

use herald_protocol::RoomName;
use herald_protocol::native::CloseCode;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ask::Ask;
use crate::bus::Message;

/// Something for a connection task to do.
#[derive(Debug, Clone)]
pub enum Out {
    /// Send a publication (after the subscription's offset checks).
    Msg(Arc<Message>),
    /// Join a room on an operator's request.
    Join(RoomName),
    /// Leave a room on an operator's request.
    Leave(RoomName),
    /// Re-read every subscribed room's history: the bus lost continuity.
    Resync,
    /// Send an event with an ack callback and answer the ask.
    Ask(Arc<Ask>),
}

/// The result of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Queued,
    /// This push passed a limit: the connection is now closed as slow.
    Overflowed,
    /// The connection was already closing; nothing queued.
    Closed,
}

/// The limits of one outbox.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Most queued items.
    pub max_messages: usize,
    /// Most queued bytes (by the messages' encoded size).
    pub max_bytes: usize,
}

struct State {
    /// Items not yet taken by the connection task.
    queue: VecDeque<Out>,
    /// Encoded bytes of the queued messages.
    bytes: usize,
    /// Why the connection must close, once it must.
    closed: Option<CloseCode>,
}

/// A bounded queue shared between the hub (pushing) and one connection task.
pub struct Outbox {
    /// The queue and its accounting.
    state: Mutex<State>,
    /// Wakes the connection task.
    notify: Notify,
    /// Limits.
    limits: OutboxLimits,
}

impl Outbox {
    /// An empty outbox; allocates no queue storage until the first push.
    pub fn new(limits: OutboxLimits) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                closed: None,
            }),
            notify: Notify::new(),
            limits,
        })
    }

    /// Queues `out`, which costs `bytes` of the byte budget.
    pub fn push(&self, out: Out, bytes: usize) -> Push {
        let mut s = self.state.lock();
        if s.closed.is_some() {
            return Push::Closed;
        }
        if s.queue.len() >= self.limits.max_messages || s.bytes + bytes > self.limits.max_bytes {
            s.closed = Some(CloseCode::SlowConsumer);
            s.queue = VecDeque::new();
            s.bytes = 0;
            drop(s);
            self.notify.notify_one();
            return Push::Overflowed;
        }
        s.queue.push_back(out);
        s.bytes += bytes;
        drop(s);
        self.notify.notify_one();
        Push::Queued
    }

    /// Marks the connection for closing with `code` (the first code wins).
    pub fn close(&self, code: CloseCode) {
        let mut s = self.state.lock();
        if s.closed.is_none() {
            s.closed = Some(code);
            s.queue = VecDeque::new();
            s.bytes = 0;
        }
        drop(s);
        self.notify.notify_one();
    }

    /// Moves every queued item into `into` and returns the close code, if
    /// the connection must close. Frees the queue's storage after a burst.
    pub fn drain(&self, into: &mut VecDeque<Out>) -> Option<CloseCode> {
        let mut s = self.state.lock();
        if s.closed.is_some() {
            return s.closed;
        }
        into.append(&mut s.queue);
        s.bytes = 0;
        if s.queue.capacity() > 64 {
            s.queue = VecDeque::new();
        }
        None
    }

    /// Waits until something is pushed or the outbox is closed.
    pub async fn ready(&self) {
        self.notify.notified().await;
    }

    /// Runs `write` (a socket write) to completion unless the outbox is
    /// closed meanwhile: a slow consumer must not hold its task in a blocked
    /// write. Returns the write's output, or the close code.
    pub async fn guard<T>(
        &self,
        write: impl std::future::Future<Output = T>,
    ) -> Result<T, CloseCode> {
        tokio::pin!(write);
        let mut woken = false;
        let result = loop {
            tokio::select! {
                r = &mut write => break r,
                () = self.ready() => {
                    if let Some(code) = self.closed() {
                        return Err(code);
                    }
                    woken = true;
                }
            }
        };
        if woken {
            // The wake-up was meant for the connection's main loop: hand it back.
            self.wake();
        }
        Ok(result)
    }

    /// Wakes the connection task as if something had been pushed.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// The close code, if the connection must close.
    pub fn closed(&self) -> Option<CloseCode> {
        self.state.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(max_messages: usize, max_bytes: usize) -> Arc<Outbox> {
        Outbox::new(OutboxLimits {
            max_messages,
            max_bytes,
        })
    }

    #[test]
    fn overflow_by_count_closes_as_slow_and_frees_the_queue() {
        let o = outbox(2, 1000);
        assert_eq!(o.push(Out::Resync, 1), Push::Queued);
        assert_eq!(o.push(Out::Resync, 1), Push::Queued);
        assert_eq!(o.push(Out::Resync, 1), Push::Overflowed);
        assert_eq!(o.push(Out::Resync, 1), Push::Closed);
        let mut q = VecDeque::new();
        assert_eq!(o.drain(&mut q), Some(CloseCode::SlowConsumer));
        assert!(q.is_empty());
    }

    #[test]
    fn overflow_by_bytes_and_draining_resets_the_budget() {
        let o = outbox(100, 10);
        assert_eq!(o.push(Out::Resync, 6), Push::Queued);
        let mut q = VecDeque::new();
        assert_eq!(o.drain(&mut q), None);
        assert_eq!(q.len(), 1);
        assert_eq!(o.push(Out::Resync, 6), Push::Queued);
        assert_eq!(o.push(Out::Resync, 6), Push::Overflowed);
    }

    #[test]
    fn first_close_code_wins() {
        let o = outbox(10, 10);
        o.close(CloseCode::Shutdown);
        o.close(CloseCode::Kicked);
        assert_eq!(o.closed(), Some(CloseCode::Shutdown));
    }
}
