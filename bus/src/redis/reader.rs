//! Readers: blocking `XREAD` loops that hand entries to the sink.
//!
//! Standalone: one reader connection reads the control stream and every
//! watched shard in one `XREAD`; a change of interest interrupts it with
//! `CLIENT UNBLOCK` from the command connection. Cluster: `XREAD` over
//! several slots is refused, so the control stream and each watched shard
//! get a reader (and a cluster connection) of their own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_protocol::bus::{BusFrame, decode_bus};
use redis::streams::{StreamId, StreamReadReply};

use super::conn::ReaderConn;
use super::entry::{self, invalid};
use super::state::Shared;
use super::{ask, control};

/// Which streams a reader reads.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The control stream and every watched shard (standalone).
    All,
    /// The control stream only (cluster).
    Control,
    /// One shard, while its watch generation lasts (cluster).
    Shard(u32, u64),
}

/// What one stream of a read is.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The control stream.
    Control,
    /// A shard, with the watch generation the read began under.
    Shard(u32, u64),
}

/// One planned `XREAD`.
struct Plan {
    /// Stream keys, IDs and what they are.
    streams: Vec<(String, String, Target)>,
    /// `Interest::resets` when planned.
    resets: u64,
}

/// Capped exponential backoff with full jitter.
pub struct Backoff {
    /// The next ceiling.
    current: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    /// Starts at the minimum.
    pub fn new() -> Self {
        Self { current: Self::MIN }
    }

    /// The next delay: uniform in `[ceiling/2, ceiling]`, ceiling doubling to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        self.current = (self.current * 2).min(Self::MAX);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Back to the minimum after a success.
    pub fn reset(&mut self) {
        self.current = Self::MIN;
    }
}

fn plan(shared: &Shared, scope: Scope) -> Option<Plan> {
    let i = shared.interest.lock();
    let keys = &shared.keys;
    let mut streams = Vec::new();
    if matches!(scope, Scope::All | Scope::Control) {
        streams.push((keys.control(), i.control_next.clone(), Target::Control));
    }
    match scope {
        Scope::All => {
            for (&s, w) in &i.shards {
                streams.push((
                    keys.stream(s),
                    w.next_id.clone(),
                    Target::Shard(s, w.generation),
                ));
            }
        }
        Scope::Shard(s, generation) => {
            let w = i.shards.get(&s).filter(|w| w.generation == generation)?;
            streams.push((
                keys.stream(s),
                w.next_id.clone(),
                Target::Shard(s, generation),
            ));
        }
        Scope::Control => {}
    }
    Some(Plan {
        streams,
        resets: i.resets,
    })
}

/// Runs a reader until the bus stops (or, for a shard reader, until the shard is unwatched).
pub async fn run(shared: Arc<Shared>, scope: Scope) {
    let mut backoff = Backoff::new();
    loop {
        let cfg = &shared.config;
        match shared
            .connector
            .reader(cfg.block, cfg.command_timeout)
            .await
        {
            Ok(conn) => {
                if read_loop(&shared, scope, conn, &mut backoff).await {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "bus reader cannot connect"),
        }
        shared.status.reader_ok.store(false, Ordering::Relaxed);
        shared.reader_client.store(0, Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shared.cancel.cancelled() => return,
        }
    }
}

/// Reads until an error (returns `false`) or the end of the reader (`true`).
async fn read_loop(
    shared: &Arc<Shared>,
    scope: Scope,
    mut conn: ReaderConn,
    backoff: &mut Backoff,
) -> bool {
    if matches!(scope, Scope::All) {
        match redis::cmd("CLIENT")
            .arg("ID")
            .query_async::<i64>(&mut conn)
            .await
        {
            Ok(id) => shared.reader_client.store(id, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, "bus reader: CLIENT ID failed");
                return false;
            }
        }
    }
    loop {
        if shared.cancel.is_cancelled() {
            return true;
        }
        let Some(plan) = plan(shared, scope) else {
            return true;
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(shared.config.read_count)
            .arg("BLOCK")
            .arg(u64::try_from(shared.config.block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS");
        for (k, _, _) in &plan.streams {
            cmd.arg(k);
        }
        for (_, id, _) in &plan.streams {
            cmd.arg(id);
        }
        let read = cmd.query_async::<Option<StreamReadReply>>(&mut conn);
        tokio::pin!(read);
        let result = tokio::select! {
            r = &mut read => r,
            () = shared.wake.notified(), if matches!(scope, Scope::All) => interrupt(shared, read).await,
            () = shared.cancel.cancelled() => return true,
        };
        match result {
            Ok(reply) => {
                shared.status.reader_ok.store(true, Ordering::Relaxed);
                backoff.reset();
                if let Some(reply) = reply {
                    handle(shared, &plan, reply);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "bus reader: XREAD failed; reconnecting");
                return false;
            }
        }
    }
}

/// Ends a blocked `XREAD` early so the reader picks up new streams.
async fn interrupt<F, T>(shared: &Shared, mut read: std::pin::Pin<&mut F>) -> T
where
    F: Future<Output = T>,
{
    // The XREAD may not have reached the server yet: retry until it returns.
    loop {
        let id = shared.reader_client.load(Ordering::Relaxed);
        let mut conn = shared.conn();
        let unblock = async {
            let _ = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async::<i64>(&mut conn)
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::select! {
            r = &mut read => return r,
            () = unblock => {}
        }
    }
}

fn handle(shared: &Arc<Shared>, plan: &Plan, reply: StreamReadReply) {
    for key in reply.keys {
        let Some((_, _, target)) = plan.streams.iter().find(|(k, _, _)| *k == key.key) else {
            continue;
        };
        let Some(last) = key.ids.last().map(|e| e.id.clone()) else {
            continue;
        };
        match *target {
            Target::Control => {
                for e in &key.ids {
                    control_entry(shared, &key.key, e);
                }
            }
            Target::Shard(s, _) => shard_entries(shared, s, &key.key, key.ids),
        }
        let mut i = shared.interest.lock();
        if i.resets != plan.resets {
            continue;
        }
        match *target {
            Target::Control => i.control_next = last,
            Target::Shard(s, generation) => {
                if let Some(w) = i.shards.get_mut(&s).filter(|w| w.generation == generation) {
                    w.next_id = last;
                }
            }
        }
    }
}

fn shard_entries(shared: &Arc<Shared>, shard: u32, stream: &str, ids: Vec<StreamId>) {
    let parsed: Vec<_> = ids
        .into_iter()
        .filter_map(|mut e| match entry::shard_entry(&mut e.map) {
            Ok(x) => Some((e.id, x)),
            Err(why) => {
                invalid(stream, &e.id, why);
                None
            }
        })
        .collect();
    // Keep the entries of watched rooms (one lock for the batch).
    let wanted: Vec<_> = {
        let i = shared.interest.lock();
        let Some(w) = i.shards.get(&shard) else {
            return;
        };
        parsed
            .into_iter()
            .filter_map(|(e, x)| {
                w.rooms
                    .get_key_value(x.room.as_str())
                    .map(|(r, _)| (e, x, r.clone()))
            })
            .collect()
    };
    let sink = shared.sink();
    for (e, x, room) in wanted {
        let epoch: Arc<str> = Arc::from(x.epoch);
        match entry::message(&room, epoch.clone(), x.offset, &x.frame) {
            Ok(msg) if room == shared.probe_room => {
                drop(msg);
                *shared.probe_seen.lock() = Some((epoch, x.offset));
            }
            Ok(msg) => {
                if let Some(sink) = sink {
                    sink.deliver(Arc::new(msg));
                }
            }
            Err((reason, why)) => entry::skipped(stream, &e, reason, &why),
        }
    }
}

fn control_entry(shared: &Arc<Shared>, stream: &str, e: &StreamId) {
    let Some(bytes) = entry::control_frame(&e.map) else {
        invalid(stream, &e.id, "missing field f");
        return;
    };
    match decode_bus(bytes) {
        Ok(BusFrame::Control(cmd)) => {
            if let Some(sink) = shared.sink() {
                sink.control(cmd);
            }
        }
        Ok(BusFrame::PresenceQuery(q)) => control::answer(shared, q),
        Ok(BusFrame::PresenceReply(r)) => control::reply_arrived(shared, r),
        Ok(BusFrame::AskRequest(r)) => ask::serve(shared, r),
        Ok(BusFrame::AskReply(r)) => ask::reply_arrived(shared, r),
        Ok(BusFrame::Presence(ev)) => {
            if let Some(sink) = shared.sink() {
                sink.presence(ev);
            }
        }
        Ok(BusFrame::Heartbeat(_)) => {}
        Ok(BusFrame::Publish(_)) => invalid(stream, &e.id, "publication on the control stream"),
        Ok(BusFrame::Unknown) => entry::skipped(
            stream,
            &e.id,
            entry::Skip::UnknownKind,
            "a frame kind this node does not know",
        ),
        Err(err) => entry::skipped(stream, &e.id, entry::Skip::of(&err), &err.to_string()),
    }
}
