//! Publishing: one script call per publication, pipelined per batch.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use herald_protocol::bus::{BusFrame, Publication, encode_bus};
use herald_protocol::{Position, RoomName};
use redis::{Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use super::keys::shard_of;
use super::scripts::parse_publish;
use super::state::Shared;
use crate::bus::BusError;

/// What happened to one publication the store accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Stored at this new position.
    Stored(Position),
    /// A replay of a source position already stored for the room: nothing
    /// was stored; the position is the room's latest.
    Duplicate(Position),
}

impl Published {
    /// The position either way.
    pub fn position(&self) -> &Position {
        match self {
            Self::Stored(p) | Self::Duplicate(p) => p,
        }
    }

    /// The position either way, by value.
    pub fn into_position(self) -> Position {
        match self {
            Self::Stored(p) | Self::Duplicate(p) => p,
        }
    }
}

/// A publication ready to send.
struct Prepared {
    /// Its shard.
    shard: u32,
    /// The `EVALSHA` command.
    cmd: Cmd,
}

/// A random epoch candidate: `r` and 12 hex digits.
pub fn epoch_candidate() -> String {
    format!("r{:012x}", rand::random::<u64>() >> 16)
}

fn prepare(shared: &Shared, p: Publication) -> Result<Prepared, BusError> {
    let room = RoomName::new(&p.room).map_err(|e| BusError::Invalid(e.to_string()))?;
    let shard = shard_of(&room, shared.config.shards);
    let src = p.src.clone().unwrap_or_default();
    let src_pos = p.src_pos.clone().unwrap_or_default();
    let fence = p.fence.map(|f| f.to_string()).unwrap_or_default();
    let frame = encode_bus(&BusFrame::Publish(p));
    if frame.len() > shared.config.max_frame_bytes {
        return Err(BusError::Invalid(format!(
            "publication is {} bytes encoded; the limit is {}",
            frame.len(),
            shared.config.max_frame_bytes
        )));
    }
    let k = &shared.keys;
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(shared.scripts.publish.get_hash())
        .arg(4)
        .arg(k.room(shard, &room))
        .arg(k.hist(shard, &room))
        .arg(k.stream(shard))
        .arg(k.fence(shard, &src))
        .arg(room.as_str())
        .arg(frame)
        .arg(epoch_candidate())
        .arg(src)
        .arg(src_pos)
        .arg(fence)
        .arg(shared.config.history_size)
        .arg(shared.config.history_ttl.as_secs().max(1))
        .arg(shared.config.stream_maxlen);
    Ok(Prepared { shard, cmd })
}

fn unavailable(e: &RedisError) -> BusError {
    BusError::Unavailable(e.to_string())
}

fn classify(r: Result<Value, RedisError>) -> Result<Published, BusError> {
    match r {
        Ok(v) => {
            let reply = parse_publish(&v)
                .ok_or_else(|| BusError::Unavailable(format!("unexpected reply {v:?}")))?;
            let pos = Position {
                epoch: reply.epoch,
                offset: reply.offset,
            };
            Ok(if reply.stored {
                Published::Stored(pos)
            } else {
                Published::Duplicate(pos)
            })
        }
        Err(e) if e.code() == Some("STALEFENCE") => Err(BusError::Rejected(
            e.detail()
                .map_or_else(|| "stale fence".to_owned(), |d| format!("stale fence: {d}")),
        )),
        Err(e) => Err(unavailable(&e)),
    }
}

fn is_noscript(r: &Result<Value, RedisError>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
}

/// Sends commands as one pipeline; a result per command.
async fn pipeline(shared: &Shared, cmds: &[&Cmd]) -> Vec<Result<Value, RedisError>> {
    let mut pipe = redis::pipe();
    for c in cmds {
        pipe.add_command((*c).clone());
    }
    pipe.ignore_errors();
    let mut conn = shared.conn();
    let run = pipe.query_async::<Vec<Result<Value, RedisError>>>(&mut conn);
    match tokio::time::timeout(shared.config.command_timeout, run).await {
        Ok(Ok(results)) if results.len() == cmds.len() => results,
        Ok(Ok(results)) => {
            let e = RedisError::from((
                ErrorKind::Client,
                "pipeline reply count mismatch",
                results.len().to_string(),
            ));
            cmds.iter().map(|_| Err(e.clone())).collect()
        }
        Ok(Err(e)) => cmds.iter().map(|_| Err(e.clone())).collect(),
        Err(_) => {
            let e = RedisError::from((ErrorKind::Io, "publish timed out"));
            cmds.iter().map(|_| Err(e.clone())).collect()
        }
    }
}

/// Runs one group (one pipeline); reloads the script once if Redis lost it.
async fn run_group(shared: &Shared, cmds: Vec<&Cmd>) -> Vec<Result<Published, BusError>> {
    let mut results = pipeline(shared, &cmds).await;
    let missing: Vec<usize> = (0..results.len())
        .filter(|&i| is_noscript(&results[i]))
        .collect();
    if !missing.is_empty() {
        let mut conn = shared.conn();
        let load = shared.scripts.publish.load_async(&mut conn);
        if let Ok(Ok(_)) = tokio::time::timeout(shared.config.command_timeout, load).await {
            let retry: Vec<&Cmd> = missing.iter().map(|&i| cmds[i]).collect();
            for (i, r) in missing.into_iter().zip(pipeline(shared, &retry).await) {
                results[i] = r;
            }
        }
    }
    results.into_iter().map(classify).collect()
}

/// Publishes a batch; see [`Published`]. Results are in batch order.
pub async fn publish(shared: &Shared, batch: Vec<Publication>) -> Vec<Result<Published, BusError>> {
    let prepared: Vec<Result<Prepared, BusError>> =
        batch.into_iter().map(|p| prepare(shared, p)).collect();
    let mut out: Vec<Option<Result<Published, BusError>>> = Vec::with_capacity(prepared.len());
    // Groups of batch indexes sent as one pipeline: one per shard on a
    // cluster (a pipeline must stay in one slot), one in all otherwise.
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, p) in prepared.iter().enumerate() {
        match p {
            Ok(p) => {
                let g = if shared.connector.is_cluster() {
                    p.shard
                } else {
                    0
                };
                groups.entry(g).or_default().push(i);
                out.push(None);
            }
            Err(e) => out.push(Some(Err(e.clone()))),
        }
    }
    let runs = groups.values().map(|idx| {
        let cmds: Vec<&Cmd> = idx
            .iter()
            .filter_map(|&i| prepared[i].as_ref().ok().map(|p| &p.cmd))
            .collect();
        run_group(shared, cmds)
    });
    let results = join_all(runs).await;
    for (idx, res) in groups.values().zip(results) {
        for (&i, r) in idx.iter().zip(res) {
            out[i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(BusError::Unavailable("publication was not sent".into()))))
        .collect()
}
