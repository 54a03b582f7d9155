//! Reading a room's history (and, for a live collection, its set) in one
//! script call: what a subscriber gets when it joins or rejoins.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use herald_protocol::collection::SetSpec;
use herald_protocol::{JsonText, Position, RoomName};

use super::keys::shard_of;
use super::state::Shared;
use super::{entry, publish, scripts};
use crate::{BusError, History, Message, StoredSet, read_history};

/// What one history read found.
pub(super) struct Read {
    /// The history rule applied to the entries read.
    pub history: History,
    /// The room's set, when it is a live collection and the entries did not
    /// recover `since`.
    pub set: Option<StoredSet>,
}

fn unavailable(e: redis::RedisError) -> BusError {
    BusError::caused("Redis command failed", e)
}

/// Runs the history script for `room`.
pub(super) async fn read(
    shared: &Shared,
    room: &RoomName,
    since: Option<&Position>,
    limit: usize,
) -> Result<Read, BusError> {
    let cfg = &shared.config;
    let s = shard_of(room, cfg.shards);
    let mut inv = shared.scripts.history.prepare_invoke();
    inv.key(shared.keys.room(s, room))
        .key(shared.keys.hist(s, room))
        .key(shared.keys.set(s, room))
        .arg(publish::epoch_candidate())
        .arg(since.map_or("", |p| p.epoch.as_str()))
        .arg(since.map_or(0, |p| p.offset))
        .arg(limit)
        .arg(cfg.history_size)
        .arg(cfg.history_ttl.as_secs().max(1));
    let mut conn = shared.conn();
    let reply = tokio::time::timeout(
        cfg.command_timeout,
        inv.invoke_async::<redis::Value>(&mut conn),
    )
    .await
    .map_err(|_| BusError::unavailable("history read timed out"))?
    .map_err(unavailable)?;
    let reply = scripts::parse_history(reply)
        .ok_or_else(|| BusError::unavailable("unexpected history reply"))?;
    let epoch: Arc<str> = Arc::from(reply.epoch);
    let hist_key = shared.keys.hist(s, room);
    let mut tail: VecDeque<Arc<Message>> = VecDeque::with_capacity(reply.range.ids.len());
    for mut e in reply.range.ids.into_iter().rev() {
        let offset = e.id.split('-').next().and_then(|o| o.parse::<u64>().ok());
        let frame = entry::take_bytes(&mut e.map, "f");
        let (Some(offset), Some(frame)) = (offset, frame) else {
            entry::invalid(&hist_key, &e.id, "bad history entry");
            continue;
        };
        match entry::message(room, epoch.clone(), offset, &frame) {
            Ok(m) => tail.push_back(Arc::new(m)),
            Err((reason, why)) => entry::skipped(&hist_key, &e.id, reason, &why),
        }
    }
    let history = read_history(&epoch, reply.latest, &tail, since, limit);
    let set = match reply.spec {
        Some(spec) if !history.recovered => {
            let set_key = shared.keys.set(s, room);
            let spec = match SetSpec::decode(&spec) {
                Ok(spec) => spec,
                Err(e) => {
                    // Counted and logged; the room's latest messages stand in.
                    entry::invalid(&set_key, "spec", &e.to_string());
                    return Ok(Read { history, set: None });
                }
            };
            let mut docs = Vec::with_capacity(reply.set.len());
            for (k, d) in reply.set {
                let key = String::from_utf8_lossy(&k).into_owned();
                match JsonText::parse(Bytes::from(d)) {
                    Ok(doc) => docs.push((key, doc)),
                    Err(e) => entry::invalid(&set_key, &key, &e.to_string()),
                }
            }
            Some(StoredSet {
                epoch,
                offset: reply.latest,
                spec,
                docs,
            })
        }
        _ => None,
    };
    Ok(Read { history, set })
}
