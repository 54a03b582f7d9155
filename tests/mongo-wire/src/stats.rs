//! Counters of what the server received, so tests can assert a client does not spin.

use mongodb::bson::{Document, doc};
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Commands received, by command name (the body's first key, as sent).
    pub commands: BTreeMap<String, u64>,
    /// Connections accepted and served.
    pub connections_accepted: u64,
    /// Connections closed at accept (refusal fault or connection limit).
    pub connections_refused: u64,
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

    /// The snapshot as a document (reply of `heraldStats`).
    pub fn to_doc(&self) -> Document {
        let mut cmds = Document::new();
        for (k, v) in &self.commands {
            cmds.insert(k.clone(), i64::try_from(*v).unwrap_or(i64::MAX));
        }
        doc! {
            "commands": cmds,
            "connectionsAccepted": i64::try_from(self.connections_accepted).unwrap_or(i64::MAX),
            "connectionsRefused": i64::try_from(self.connections_refused).unwrap_or(i64::MAX),
        }
    }
}

/// Shared collector.
#[derive(Debug, Default)]
pub(crate) struct StatsCollector {
    inner: Mutex<Stats>,
}

impl StatsCollector {
    pub(crate) fn command(&self, name: &str) {
        let mut s = self.inner.lock();
        if let Some(v) = s.commands.get_mut(name) {
            *v += 1;
        } else if s.commands.len() < 256 {
            s.commands.insert(name.to_owned(), 1);
        }
    }

    pub(crate) fn accepted(&self) {
        self.inner.lock().connections_accepted += 1;
    }

    pub(crate) fn refused(&self) {
        self.inner.lock().connections_refused += 1;
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.inner.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock() = Stats::default();
    }
}
