//! Counters and a command log of what the server received, so tests can
//! assert a client does not spin and never resumed from a dead position.

use mongodb::bson::{Bson, Document, doc};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};

/// Most entries the command log keeps (the oldest are dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// One command as received, with its change stream start arguments and result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandRecord {
    /// Arrival order since start (or the last reset), from 0.
    pub seq: u64,
    /// Command name (the body's first key, as sent).
    pub name: String,
    /// `resumeAfter` token `_data` of a `$changeStream` aggregate.
    pub resume_after: Option<String>,
    /// `startAfter` token `_data` of a `$changeStream` aggregate.
    pub start_after: Option<String>,
    /// `startAtOperationTime` of a `$changeStream` aggregate, as (time, increment).
    pub start_at_operation_time: Option<(u32, u32)>,
    /// The error code answered; `None` for success (or not answered yet).
    pub error_code: Option<i32>,
    /// The connection was closed instead of answering (fail point).
    pub closed: bool,
}

impl CommandRecord {
    /// The token this command resumes from (`resumeAfter` or `startAfter`).
    pub fn resume_token(&self) -> Option<&str> {
        self.resume_after.as_deref().or(self.start_after.as_deref())
    }

    /// Whether it asked to start anywhere but "now".
    pub fn has_resume_args(&self) -> bool {
        self.resume_token().is_some() || self.start_at_operation_time.is_some()
    }

    fn to_doc(&self) -> Document {
        let mut d = doc! {
            "seq": i64::try_from(self.seq).unwrap_or(i64::MAX),
            "name": &self.name,
        };
        if let Some(t) = &self.resume_after {
            d.insert("resumeAfter", t);
        }
        if let Some(t) = &self.start_after {
            d.insert("startAfter", t);
        }
        if let Some((time, increment)) = self.start_at_operation_time {
            d.insert(
                "startAtOperationTime",
                Bson::Timestamp(mongodb::bson::Timestamp { time, increment }),
            );
        }
        if let Some(c) = self.error_code {
            d.insert("errorCode", c);
        }
        if self.closed {
            d.insert("closed", true);
        }
        d
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands received, by command name (the body's first key, as sent).
    pub commands: BTreeMap<String, u64>,
    /// Connections accepted and served.
    pub connections_accepted: u64,
    /// Connections closed at accept (refusal fault or connection limit).
    pub connections_refused: u64,
    /// The last [`LOG_CAPACITY`] commands, in arrival order.
    pub log: Vec<CommandRecord>,
}

impl Stats {
    /// Count of one command name.
    pub fn count(&self, name: &str) -> u64 {
        self.commands.get(name).copied().unwrap_or(0)
    }

    /// `aggregate` commands (change stream opens and resumes).
    pub fn aggregates(&self) -> u64 {
        self.count("aggregate")
    }

    /// `getMore` commands.
    pub fn get_mores(&self) -> u64 {
        self.count("getMore")
    }

    /// `killCursors` commands.
    pub fn kill_cursors(&self) -> u64 {
        self.count("killCursors")
    }

    /// The logged `aggregate` commands, in arrival order.
    pub fn aggregate_log(&self) -> Vec<&CommandRecord> {
        self.log.iter().filter(|r| r.name == "aggregate").collect()
    }

    /// The snapshot as a document (reply of `heraldStats`).
    pub fn to_doc(&self) -> Document {
        let mut cmds = Document::new();
        for (k, v) in &self.commands {
            cmds.insert(k.clone(), i64::try_from(*v).unwrap_or(i64::MAX));
        }
        let log: Vec<Bson> = self
            .log
            .iter()
            .map(|r| Bson::Document(r.to_doc()))
            .collect();
        doc! {
            "commands": cmds,
            "connectionsAccepted": i64::try_from(self.connections_accepted).unwrap_or(i64::MAX),
            "connectionsRefused": i64::try_from(self.connections_refused).unwrap_or(i64::MAX),
            "log": log,
        }
    }
}

/// The `_data` of a token argument; anything else as its debug form, so a
/// malformed token is still visible in the log.
fn token_data(v: Option<&Bson>) -> Option<String> {
    match v? {
        Bson::Null => None,
        Bson::Document(d) => Some(
            d.get_str("_data")
                .map_or_else(|_| format!("{d}"), str::to_owned),
        ),
        other => Some(format!("{other}")),
    }
}

/// A command's record without its result.
fn record(seq: u64, name: &str, body: &Document) -> CommandRecord {
    let mut r = CommandRecord {
        seq,
        name: name.to_owned(),
        ..CommandRecord::default()
    };
    let opts = match body.get("pipeline") {
        Some(Bson::Array(stages)) => stages
            .first()
            .and_then(Bson::as_document)
            .and_then(|s| s.get_document("$changeStream").ok()),
        _ => None,
    };
    if let Some(o) = opts {
        r.resume_after = token_data(o.get("resumeAfter"));
        r.start_after = token_data(o.get("startAfter"));
        if let Some(Bson::Timestamp(ts)) = o.get("startAtOperationTime") {
            r.start_at_operation_time = Some((ts.time, ts.increment));
        }
    }
    r
}

#[derive(Debug, Default)]
struct Inner {
    stats: Stats,
    log: VecDeque<CommandRecord>,
    next_seq: u64,
}

/// Shared collector.
#[derive(Debug, Default)]
pub(crate) struct StatsCollector {
    inner: Mutex<Inner>,
}

impl StatsCollector {
    /// Counts and logs a command as it arrives; returns its log sequence
    /// number for [`StatsCollector::finish`].
    pub(crate) fn command(&self, name: &str, body: &Document) -> u64 {
        let mut g = self.inner.lock();
        let s = &mut g.stats;
        if let Some(v) = s.commands.get_mut(name) {
            *v += 1;
        } else if s.commands.len() < 256 {
            s.commands.insert(name.to_owned(), 1);
        }
        let seq = g.next_seq;
        g.next_seq += 1;
        let r = record(seq, name, body);
        if g.log.len() >= LOG_CAPACITY {
            g.log.pop_front();
        }
        g.log.push_back(r);
        seq
    }

    /// Records how command `seq` ended (`error_code` `None`: success).
    pub(crate) fn finish(&self, seq: u64, error_code: Option<i32>, closed: bool) {
        let mut g = self.inner.lock();
        if let Some(r) = g.log.iter_mut().rev().find(|r| r.seq == seq) {
            r.error_code = error_code;
            r.closed = closed;
        }
    }

    pub(crate) fn accepted(&self) {
        self.inner.lock().stats.connections_accepted += 1;
    }

    pub(crate) fn refused(&self) {
        self.inner.lock().stats.connections_refused += 1;
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let g = self.inner.lock();
        let mut s = g.stats.clone();
        s.log = g.log.iter().cloned().collect();
        s
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_resume_arguments_and_results_in_arrival_order() {
        let c = StatsCollector::default();
        let a = c.command(
            "aggregate",
            &doc! {"aggregate": "c", "pipeline": [{"$changeStream": {"resumeAfter": {"_data": "82AB"}}}]},
        );
        let g = c.command("getMore", &doc! {"getMore": 1_i64});
        let b = c.command(
            "aggregate",
            &doc! {"aggregate": "c", "pipeline": [{"$changeStream": {
                "startAtOperationTime": Bson::Timestamp(mongodb::bson::Timestamp { time: 7, increment: 2 })
            }}]},
        );
        c.finish(g, Some(286), false);
        c.finish(a, None, false);
        c.finish(b, None, true);
        let s = c.snapshot();
        assert_eq!(s.aggregates(), 2);
        let log: Vec<_> = s
            .log
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.resume_token(),
                    r.start_at_operation_time,
                    r.error_code,
                    r.closed,
                )
            })
            .collect();
        assert_eq!(
            log,
            [
                ("aggregate", Some("82AB"), None, None, false),
                ("getMore", None, None, Some(286), false),
                ("aggregate", None, Some((7, 2)), None, true),
            ]
        );
        assert!(s.aggregate_log()[1].has_resume_args());
        assert_eq!(s.to_doc().get_array("log").map(Vec::len).ok(), Some(3));
        c.reset();
        assert!(c.snapshot().log.is_empty());
    }

    #[test]
    fn the_log_is_bounded() {
        let c = StatsCollector::default();
        for _ in 0..LOG_CAPACITY + 5 {
            c.command("ping", &Document::new());
        }
        let s = c.snapshot();
        assert_eq!(s.log.len(), LOG_CAPACITY);
        assert_eq!(s.log[0].seq, 5);
        assert_eq!(s.count("ping"), (LOG_CAPACITY + 5) as u64);
    }
}
