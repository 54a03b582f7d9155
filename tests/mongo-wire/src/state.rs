//! State shared by all connections: data, oplog, cursors, faults, stats.

use crate::commands::cursors::Cursor;
use crate::config::Config;
use crate::faults::Faults;
use crate::oplog::Oplog;
use crate::stats::StatsCollector;
use crate::store::Store;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use tokio::sync::watch;

/// Data and oplog, changed together under one lock so events match writes.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) store: Store,
    pub(crate) oplog: Oplog,
}

/// Most cursors a client may hold open at once.
pub(crate) const MAX_CURSORS: usize = 10_000;

/// Everything the connection tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Address reported in `hello` (`me`, `hosts`, `primary`).
    pub(crate) host: String,
    pub(crate) db: Mutex<Db>,
    pub(crate) cursors: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Cursor>>>>,
    /// Latest oplog sequence number; change stream `getMore`s wait on it.
    pub(crate) oplog_changed: watch::Sender<u64>,
    pub(crate) faults: Faults,
    pub(crate) stats: StatsCollector,
    next_cursor: AtomicI64,
    next_conn: AtomicI32,
}

impl Shared {
    pub(crate) fn new(config: Config, addr: SocketAddr) -> Self {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        Self {
            db: Mutex::new(Db {
                store: Store::default(),
                oplog: Oplog::new(config.oplog_capacity),
            }),
            config,
            host,
            cursors: Mutex::new(HashMap::new()),
            oplog_changed: watch::channel(0).0,
            faults: Faults::default(),
            stats: StatsCollector::default(),
            // Above i32::MAX so a client that truncates ids to int32 breaks visibly.
            next_cursor: AtomicI64::new(5_000_000_000),
            next_conn: AtomicI32::new(1),
        }
    }

    /// Runs a write under the data lock, then wakes waiting change streams.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Db) -> R) -> R {
        let (r, seq) = {
            let mut db = self.db.lock();
            let r = f(&mut db);
            (r, db.oplog.last_seq())
        };
        self.oplog_changed.send_if_modified(|v| {
            let changed = *v != seq;
            *v = seq;
            changed
        });
        r
    }

    pub(crate) fn next_connection_id(&self) -> i32 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a cursor and returns its id, or `None` when too many are open.
    pub(crate) fn add_cursor(&self, c: Cursor) -> Option<i64> {
        let mut map = self.cursors.lock();
        if map.len() >= MAX_CURSORS {
            return None;
        }
        let id = self.next_cursor.fetch_add(1, Ordering::Relaxed);
        map.insert(id, Arc::new(tokio::sync::Mutex::new(c)));
        Some(id)
    }
}
