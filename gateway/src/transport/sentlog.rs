//! What a connection wrote, per room, in order: the interleaving a
//! Socket.IO socket in several rooms needs to resume each room exactly
//! from the one offset its client echoes.
//!
//! Consecutive messages of one room collapse into one run, so a socket in
//! one room keeps one entry however much it receives.

use std::collections::VecDeque;

use herald_protocol::RoomName;
use serde::{Deserialize, Serialize};

/// Most runs a log keeps; older runs are dropped (and the log says so).
pub const SENT_LOG_RUNS: usize = 256;

/// One run: offsets `first..=last` of `room`, written one after another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The room.
    pub room: RoomName,
    /// The first offset of the run.
    pub first: u64,
    /// The last offset of the run.
    pub last: u64,
}

/// The messages written to one socket, oldest first, bounded.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SentLog {
    /// The runs, in write order.
    runs: VecDeque<Run>,
    /// Whether old runs were dropped to stay within [`SENT_LOG_RUNS`].
    pub evicted: bool,
}

impl SentLog {
    /// Records that `room`'s message at `offset` was written.
    pub fn push(&mut self, room: &RoomName, offset: u64) {
        if let Some(run) = self.runs.back_mut()
            && run.room == *room
            && run.last + 1 == offset
        {
            run.last = offset;
            return;
        }
        if self.runs.len() >= SENT_LOG_RUNS {
            self.runs.pop_front();
            self.evicted = true;
        }
        self.runs.push_back(Run {
            room: room.clone(),
            first: offset,
            last: offset,
        });
    }

    /// The runs, oldest first.
    pub fn runs(&self) -> impl DoubleEndedIterator<Item = &Run> {
        self.runs.iter()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Each room's last offset the client had received when it last saw
    /// `room`'s message at `offset`; `None` when that message is not in
    /// the log. Rooms with nothing received before that point are absent.
    pub fn positions_at(&self, room: &str, offset: u64) -> Option<Vec<(RoomName, u64)>> {
        let at = self
            .runs
            .iter()
            .rposition(|r| r.room.as_str() == room && r.first <= offset && offset <= r.last)?;
        let mut out: Vec<(RoomName, u64)> = Vec::new();
        for (i, r) in self.runs.iter().enumerate().take(at + 1).rev() {
            let last = if i == at { offset } else { r.last };
            if !out.iter().any(|(room, _)| *room == r.room) {
                out.push((r.room.clone(), last));
            }
        }
        Some(out)
    }

    /// The first offset of `room` written after `room2`'s message at
    /// `offset` (the client never got it), if one was.
    pub fn first_after(&self, room: &RoomName, at_room: &str, at_offset: u64) -> Option<u64> {
        let at = self.runs.iter().rposition(|r| {
            r.room.as_str() == at_room && r.first <= at_offset && at_offset <= r.last
        })?;
        self.runs
            .iter()
            .skip(at)
            .find(|r| r.room == *room && (r.room.as_str() != at_room || r.last > at_offset))
            .map(|r| {
                if r.room.as_str() == at_room {
                    at_offset + 1
                } else {
                    r.first
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomName {
        RoomName::new(s).unwrap()
    }

    #[test]
    fn consecutive_messages_of_a_room_share_a_run() {
        let mut log = SentLog::default();
        for o in 1..=1000 {
            log.push(&room("a"), o);
        }
        assert_eq!(log.runs().count(), 1);
        log.push(&room("b"), 7);
        log.push(&room("a"), 1001);
        assert_eq!(log.runs().count(), 3);
    }

    #[test]
    fn positions_follow_the_interleaving() {
        // Written: a1 b7 a2 b8 a3; the client echoes a2.
        let mut log = SentLog::default();
        for (r, o) in [("a", 1), ("b", 7), ("a", 2), ("b", 8), ("a", 3)] {
            log.push(&room(r), o);
        }
        let mut got = log.positions_at("a", 2).unwrap();
        got.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
        assert_eq!(got, vec![(room("a"), 2), (room("b"), 7)]);
        assert_eq!(log.first_after(&room("b"), "a", 2), Some(8));
        assert_eq!(log.first_after(&room("a"), "a", 2), Some(3));
        assert!(log.positions_at("a", 9).is_none());
        assert!(log.positions_at("c", 1).is_none());
    }

    #[test]
    fn the_log_is_bounded() {
        let mut log = SentLog::default();
        for o in 0..(SENT_LOG_RUNS as u64 + 10) {
            log.push(&room(if o % 2 == 0 { "a" } else { "b" }), o);
        }
        assert_eq!(log.runs().count(), SENT_LOG_RUNS);
        assert!(log.evicted);
    }
}
