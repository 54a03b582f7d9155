//! Delivery checking for one (client, room) stream.
//!
//! Two independent sequences are checked on every live message:
//! - the gateway's **offset** (per room, consecutive from 1) catches gaps,
//!   duplicates and reordering on the wire;
//! - the publisher's **sequence number** embedded in the payload (per room,
//!   consecutive from 1) must keep a constant distance to the offset, which
//!   catches a gateway delivering the wrong payload for an offset; at the
//!   end the publisher's count per room tells how many messages the client
//!   should have seen.
//!
//! Messages that arrive right after a non-recovered `subscribed` with an
//! offset at or below the one it announced are the room's snapshot: they
//! are counted apart, never as duplicates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The most missing offsets one stream remembers, to recognise late
/// (out-of-order) arrivals. Past it, missing offsets are only counted.
pub const MAX_TRACKED_MISSING: usize = 1024;

/// Totals over many checked streams; merges across clients and workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// Streams checked.
    pub streams: u64,
    /// Messages the publisher sent that the streams should have delivered.
    pub expected: u64,
    /// Distinct live messages delivered.
    pub delivered: u64,
    /// Messages delivered again (offset already seen).
    pub duplicates: u64,
    /// Messages never delivered (inside the stream, or at its head or tail).
    pub missing: u64,
    /// Messages delivered after a later one (a gap later filled).
    pub out_of_order: u64,
    /// Payload sequence numbers that did not match their offset.
    pub seq_mismatches: u64,
    /// Snapshot messages received after a non-recovered subscribe.
    pub snapshots: u64,
    /// Resubscribes the gateway could not recover (history lost).
    pub resets: u64,
}

impl CheckSummary {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Self) {
        self.streams += other.streams;
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.missing += other.missing;
        self.out_of_order += other.out_of_order;
        self.seq_mismatches += other.seq_mismatches;
        self.snapshots += other.snapshots;
        self.resets += other.resets;
    }

    /// True when every expected message arrived exactly once, in order.
    pub fn is_clean(&self) -> bool {
        self.duplicates == 0
            && self.missing == 0
            && self.out_of_order == 0
            && self.seq_mismatches == 0
            && self.resets == 0
            && self.delivered == self.expected
    }
}

/// What happened to one message, for callers that want to react.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next message in order.
    InOrder,
    /// A snapshot message, not part of the live stream.
    Snapshot,
    /// Arrived after skipping `missing` offsets.
    Gap(u64),
    /// An offset already delivered.
    Duplicate,
    /// A missing offset arriving late.
    OutOfOrder,
}

/// The checker for one (client, room) stream.
#[derive(Debug, Clone, Default)]
pub struct RoomChecker {
    epoch: Option<String>,
    /// Offsets at or below this, before the first live message, are snapshot.
    snapshot_upto: Option<u64>,
    /// The highest offset delivered live.
    last_offset: Option<u64>,
    /// Offsets skipped and not yet seen.
    missing: BTreeSet<u64>,
    /// Missing offsets past [`MAX_TRACKED_MISSING`], never recoverable.
    untracked_missing: u64,
    /// `offset - seq`, fixed by the first live message.
    seq_delta: Option<i128>,
    delivered: u64,
    duplicates: u64,
    out_of_order: u64,
    seq_mismatches: u64,
    snapshots: u64,
    resets: u64,
}

impl RoomChecker {
    /// A checker for a stream not yet subscribed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position to resubscribe from, once anything live was delivered.
    pub fn position(&self) -> Option<(String, u64)> {
        Some((
            self.epoch.clone()?,
            self.last_offset.or(self.snapshot_upto)?,
        ))
    }

    /// Takes a `subscribed` frame (prompted or not).
    pub fn on_subscribed(&mut self, epoch: &str, offset: u64, recovered: bool) {
        let same_epoch = self.epoch.as_deref() == Some(epoch);
        if recovered && same_epoch {
            // The missed messages follow; nothing to reset.
            return;
        }
        if self.last_offset.is_some() {
            // We had a live stream and the gateway could not continue it.
            self.resets += 1;
        }
        self.epoch = Some(epoch.to_owned());
        self.snapshot_upto = Some(offset);
        self.last_offset = None;
        self.missing.clear();
        self.seq_delta = None;
    }

    /// Takes a `message` frame's offset and the payload's sequence number.
    pub fn on_message(&mut self, offset: u64, seq: Option<u64>) -> Verdict {
        if self.last_offset.is_none() && self.snapshot_upto.is_some_and(|s| offset <= s) {
            self.snapshots += 1;
            return Verdict::Snapshot;
        }
        let expected_next = self.last_offset.or(self.snapshot_upto).unwrap_or(0) + 1;
        let verdict = match self.last_offset {
            Some(last) if offset <= last => {
                if self.missing.remove(&offset) {
                    self.out_of_order += 1;
                    self.delivered += 1;
                    Verdict::OutOfOrder
                } else {
                    self.duplicates += 1;
                    return Verdict::Duplicate;
                }
            }
            _ => {
                self.delivered += 1;
                let skipped = offset.saturating_sub(expected_next);
                for o in expected_next..offset {
                    if self.missing.len() < MAX_TRACKED_MISSING {
                        self.missing.insert(o);
                    } else {
                        self.untracked_missing += offset - o;
                        break;
                    }
                }
                self.last_offset = Some(offset);
                if skipped == 0 {
                    Verdict::InOrder
                } else {
                    Verdict::Gap(skipped)
                }
            }
        };
        if let Some(seq) = seq {
            self.check_seq(offset, seq);
        }
        verdict
    }

    fn check_seq(&mut self, offset: u64, seq: u64) {
        let delta = i128::from(offset) - i128::from(seq);
        match self.seq_delta {
            None => self.seq_delta = Some(delta),
            Some(d) if d != delta => self.seq_mismatches += 1,
            Some(_) => {}
        }
    }

    /// Closes the stream: `published` is how many messages (sequence numbers
    /// `1..=published`) the publisher sent to the room while this client was
    /// subscribed from the start.
    ///
    /// Offsets and sequence numbers map one to one (a mismatch is counted
    /// apart), so what is missing is what was published and not delivered,
    /// and at least the offsets seen to be skipped.
    pub fn finish(&self, published: u64) -> CheckSummary {
        let inner_missing = self.missing.len() as u64 + self.untracked_missing;
        let missing = published.saturating_sub(self.delivered).max(inner_missing);
        CheckSummary {
            streams: 1,
            expected: published,
            delivered: self.delivered,
            duplicates: self.duplicates,
            missing,
            out_of_order: self.out_of_order,
            seq_mismatches: self.seq_mismatches,
            snapshots: self.snapshots,
            resets: self.resets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subscribes at offset `base` (with one snapshot message), then feeds
    /// live offsets whose seq is `offset - base`.
    fn run(base: u64, offsets: &[u64]) -> RoomChecker {
        let mut c = RoomChecker::new();
        c.on_subscribed("e1", base, false);
        if base > 0 {
            assert_eq!(c.on_message(base, Some(999)), Verdict::Snapshot);
        }
        for &o in offsets {
            c.on_message(o, Some(o - base));
        }
        c
    }

    #[test]
    fn a_clean_stream_after_a_snapshot_is_clean() {
        let c = run(10, &[11, 12, 13, 14]);
        let s = c.finish(4);
        assert!(s.is_clean(), "{s:?}");
        assert_eq!((s.delivered, s.snapshots, s.expected), (4, 1, 4));
    }

    #[test]
    fn gaps_are_missing_and_tails_count() {
        let s = run(0, &[1, 2, 5, 6]).finish(8);
        assert_eq!(s.missing, 2 + 2, "two inside, two at the tail: {s:?}");
        assert_eq!(s.delivered, 4);
        assert!(!s.is_clean());
    }

    #[test]
    fn duplicates_are_counted_and_not_delivered_twice() {
        let s = run(0, &[1, 2, 2, 3, 1]).finish(3);
        assert_eq!((s.duplicates, s.delivered, s.missing), (2, 3, 0));
    }

    #[test]
    fn a_late_gap_filler_is_out_of_order_not_missing() {
        let s = run(0, &[1, 3, 2, 4]).finish(4);
        assert_eq!((s.out_of_order, s.missing, s.delivered), (1, 0, 4));
        assert!(!s.is_clean());
    }

    #[test]
    fn a_missing_head_is_caught_by_the_sequence() {
        // The client subscribed before publishing started but the first
        // live message it got was seq 3: seqs 1 and 2 are missing.
        let mut c = RoomChecker::new();
        c.on_subscribed("e1", 0, false);
        c.on_message(3, Some(3));
        c.on_message(4, Some(4));
        assert_eq!(c.finish(4).missing, 2);
    }

    #[test]
    fn wrong_payload_for_an_offset_is_a_seq_mismatch() {
        let mut c = RoomChecker::new();
        c.on_subscribed("e1", 0, false);
        c.on_message(1, Some(1));
        c.on_message(2, Some(7));
        assert_eq!(c.finish(2).seq_mismatches, 1);
    }

    #[test]
    fn recovery_continues_and_a_reset_is_counted() {
        let mut c = run(0, &[1, 2]);
        assert_eq!(c.position(), Some(("e1".into(), 2)));
        c.on_subscribed("e1", 4, true);
        c.on_message(3, Some(3));
        c.on_message(4, Some(4));
        assert!(c.finish(4).is_clean());
        c.on_subscribed("e2", 1, false);
        c.on_message(1, Some(5));
        let s = c.finish(5);
        assert_eq!((s.resets, s.snapshots), (1, 1));
        assert!(!s.is_clean());
    }

    #[test]
    fn huge_gaps_stay_bounded() {
        let s = run(0, &[1, 1_000_000]).finish(1_000_000);
        assert_eq!(s.missing, 999_998);
    }

    #[test]
    fn summaries_merge_by_addition() {
        let a = run(0, &[1, 2]).finish(2);
        let b = run(0, &[1, 1, 3]).finish(3);
        let mut t = CheckSummary::default();
        t.merge(&a);
        t.merge(&b);
        assert_eq!(
            (t.streams, t.expected, t.delivered, t.duplicates, t.missing),
            (2, 5, 4, 1, 1)
        );
    }
}
