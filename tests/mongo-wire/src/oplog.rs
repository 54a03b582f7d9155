//! The global oplog: every write appends entries with a strictly increasing
//! cluster time and sequence number; old entries fall off past `capacity`.

use crate::token::{ResumeToken, TokenKind};
use mongodb::bson::{DateTime, Document, Timestamp};
use std::collections::VecDeque;
use std::sync::Arc;

/// A namespace; `coll` is `None` for database-wide entries (`dropDatabase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Database name.
    pub db: String,
    /// Collection name.
    pub coll: Option<String>,
}

impl Namespace {
    /// A collection namespace.
    pub fn coll(db: &str, coll: &str) -> Self {
        Self {
            db: db.to_owned(),
            coll: Some(coll.to_owned()),
        }
    }
}

/// Kind of write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Insert (also upsert inserts).
    Insert,
    /// Operator update.
    Update,
    /// Replacement update.
    Replace,
    /// Delete.
    Delete,
    /// Collection drop.
    Drop,
    /// Collection rename (`ns` is the source, `to` the target).
    Rename,
    /// Database drop.
    DropDatabase,
}

impl OpKind {
    /// The change event `operationType`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::Drop => "drop",
            Self::Rename => "rename",
            Self::DropDatabase => "dropDatabase",
        }
    }
}

/// What a write records, before it gets a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Kind of write.
    pub op: OpKind,
    /// Namespace written.
    pub ns: Namespace,
    /// `{_id}` for document writes.
    pub document_key: Option<Document>,
    /// Post-image (insert, replace, update).
    pub post_image: Option<Document>,
    /// Pre-image (update, replace, delete).
    pub pre_image: Option<Document>,
    /// `updateDescription` for updates.
    pub update_description: Option<Document>,
    /// Rename target.
    pub to: Option<Namespace>,
    /// `disambiguatedPaths` of an update (sent under `showExpandedEvents`).
    pub disambiguated: Option<Document>,
    /// The collection had `changeStreamPreAndPostImages` enabled at the
    /// write: `whenAvailable` / `required` images exist.
    pub images: bool,
}

impl Change {
    /// A change with only the kind and namespace set.
    pub fn new(op: OpKind, ns: Namespace) -> Self {
        Self {
            op,
            ns,
            document_key: None,
            post_image: None,
            pre_image: None,
            update_description: None,
            to: None,
            disambiguated: None,
            images: false,
        }
    }
}

/// A positioned oplog entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Cluster time.
    pub ts: Timestamp,
    /// Wall clock time.
    pub wall: DateTime,
    /// The write.
    pub change: Change,
}

impl Entry {
    /// The token of this entry's event.
    pub fn token(&self) -> ResumeToken {
        ResumeToken {
            ts: self.ts,
            seq: self.seq,
            kind: TokenKind::Event,
        }
    }
}

/// Where a stream starts could not be served: history was forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLost;

/// The oplog.
#[derive(Debug)]
pub struct Oplog {
    /// Retained entries, oldest first.
    entries: VecDeque<Arc<Entry>>,
    /// Maximum retained entries.
    capacity: usize,
    /// Sequence number of the newest entry (0 before any write).
    last_seq: u64,
    /// Highest cluster time handed out (event or high-water mark).
    clock: Timestamp,
    /// Entries up to this sequence number are forgotten.
    forgotten_seq: u64,
    /// Cluster time of the newest forgotten entry.
    forgotten_ts: Option<Timestamp>,
}

fn now_secs() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl Oplog {
    /// An empty oplog retaining at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            last_seq: 0,
            clock: Timestamp {
                time: 0,
                increment: 0,
            },
            forgotten_seq: 0,
            forgotten_ts: None,
        }
    }

    /// Appends a change and returns its entry.
    pub fn append(&mut self, change: Change) -> Arc<Entry> {
        let now = now_secs();
        self.clock = if now > self.clock.time {
            Timestamp {
                time: now,
                increment: 1,
            }
        } else {
            Timestamp {
                time: self.clock.time,
                increment: self.clock.increment.saturating_add(1),
            }
        };
        self.last_seq += 1;
        let entry = Arc::new(Entry {
            seq: self.last_seq,
            ts: self.clock,
            wall: DateTime::now(),
            change,
        });
        self.entries.push_back(entry.clone());
        while self.entries.len() > self.capacity {
            if let Some(old) = self.entries.pop_front() {
                self.forget(&old);
            }
        }
        entry
    }

    fn forget(&mut self, e: &Entry) {
        self.forgotten_seq = e.seq;
        self.forgotten_ts = Some(e.ts);
    }

    /// Sequence number of the newest entry.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The current cluster time, advanced to the wall clock second (like a
    /// server's periodic no-op writes).
    pub fn now(&mut self) -> Timestamp {
        let now = now_secs();
        if now > self.clock.time {
            self.clock = Timestamp {
                time: now,
                increment: 0,
            };
        }
        self.clock
    }

    /// A high-water mark token after everything up to `seq`.
    pub fn high_water(&mut self, seq: u64) -> ResumeToken {
        ResumeToken {
            ts: self.now(),
            seq,
            kind: TokenKind::HighWater,
        }
    }

    /// Checks that events after `seq` are all still retained.
    ///
    /// # Errors
    /// `HistoryLost` when entries after `seq` were forgotten.
    pub fn check_after(&self, seq: u64) -> Result<(), HistoryLost> {
        if seq < self.forgotten_seq {
            Err(HistoryLost)
        } else {
            Ok(())
        }
    }

    /// Position (last seq before) for `startAtOperationTime: ts`.
    ///
    /// # Errors
    /// `HistoryLost` if entries at or after `ts` were forgotten.
    pub fn position_at(&self, ts: Timestamp) -> Result<u64, HistoryLost> {
        if self
            .forgotten_ts
            .is_some_and(|f| (f.time, f.increment) >= (ts.time, ts.increment))
        {
            return Err(HistoryLost);
        }
        Ok(self
            .entries
            .iter()
            .find(|e| (e.ts.time, e.ts.increment) >= (ts.time, ts.increment))
            .map_or(self.last_seq, |e| e.seq - 1))
    }

    /// Retained entries with a sequence number above `seq`.
    pub fn after(&self, seq: u64) -> impl Iterator<Item = &Arc<Entry>> {
        let first = self.entries.front().map_or(self.last_seq + 1, |e| e.seq);
        let skip =
            usize::try_from(seq.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        self.entries.iter().skip(skip)
    }

    /// The retained entry with this sequence number.
    pub fn get(&self, seq: u64) -> Option<&Arc<Entry>> {
        self.after(seq.saturating_sub(1))
            .next()
            .filter(|e| e.seq == seq)
    }

    /// Forgets all history: every token issued so far stops being resumable
    /// unless it is at the very end.
    pub fn truncate(&mut self) {
        if let Some(last) = self.entries.back().cloned() {
            self.forget(&last);
        }
        self.entries.clear();
    }

    /// Forgets all history *including* the present position, as when a
    /// stream's history fell off a real replica set's oplog: a no-op entry
    /// takes the next sequence number and cluster time and is forgotten
    /// with everything before it, so every token issued so far (even one at
    /// the very end) fails with 286, while a stream opened from now works.
    pub fn lose_history(&mut self) {
        self.truncate();
        self.now();
        self.clock = Timestamp {
            time: self.clock.time,
            increment: self.clock.increment.saturating_add(1),
        };
        self.last_seq += 1;
        self.forgotten_seq = self.last_seq;
        self.forgotten_ts = Some(self.clock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(o: &mut Oplog) -> Arc<Entry> {
        o.append(Change::new(OpKind::Insert, Namespace::coll("d", "c")))
    }

    #[test]
    fn times_increase_and_retention_loses_history() {
        let mut o = Oplog::new(3);
        let a = ins(&mut o);
        let hw = o.high_water(a.seq);
        let b = ins(&mut o);
        assert!(a.token().to_hex() < hw.to_hex() && hw.to_hex() < b.token().to_hex());
        for _ in 0..3 {
            ins(&mut o);
        }
        assert_eq!(o.last_seq(), 5);
        assert_eq!(o.after(2).map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert!(o.check_after(1).is_err());
        assert!(o.check_after(2).is_ok());
        assert_eq!(o.get(4).map(|e| e.seq), Some(4));
        assert!(o.position_at(a.ts).is_err());
        o.truncate();
        assert!(o.check_after(4).is_err());
        assert!(o.check_after(5).is_ok());
        assert_eq!(o.after(5).count(), 0);
    }

    #[test]
    fn losing_history_refuses_even_the_newest_token() {
        let mut o = Oplog::new(10);
        let a = ins(&mut o);
        let hw = o.high_water(a.seq);
        o.lose_history();
        assert!(o.check_after(a.seq).is_err(), "the last event's position");
        assert!(o.check_after(hw.seq).is_err(), "the idle high-water mark");
        assert!(o.position_at(hw.ts).is_err());
        // A stream opened from now reads on.
        let now = o.last_seq();
        assert!(now > a.seq && o.check_after(now).is_ok());
        let b = ins(&mut o);
        assert_eq!(o.after(now).map(|e| e.seq).collect::<Vec<_>>(), [b.seq]);
        assert!(hw.to_hex() < o.high_water(now).to_hex());
    }
}
