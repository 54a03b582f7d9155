//! Publishing: one batch script call per shard of a batch, pipelined.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use herald_protocol::JsonText;
use herald_protocol::bus::{Publication, PublicationFrame};
use herald_protocol::collection::{SetChange, SetOp};
use herald_protocol::{Position, RoomName};
use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisWrite, ServerErrorKind, ToRedisArgs,
    ToSingleRedisArg, Value,
};

use super::keys::shard_of;
use super::scripts::{BatchItem, parse_publish_batch};
use super::state::Shared;
use crate::BusError;

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

/// Publications stored by one call of the batch script at most; bounds how
/// long one call holds Redis.
pub const MAX_SCRIPT_BATCH: usize = 256;

/// A publication ready to send.
struct Prepared {
    /// Its shard.
    shard: u32,
    /// Room hash, history stream, fence and set keys.
    keys: [String; 4],
    /// The room.
    room: RoomName,
    /// The frame, written into the command in its two parts.
    frame: PublicationFrame,
    /// Epoch candidate, src, src_pos, fence, then the set op, key, value
    /// and spec (all empty without a set op).
    args: [String; 8],
}

/// A frame as one command argument: its head and its payload are written
/// straight into the command buffer, so the whole frame is never built
/// apart from it.
struct FrameArg<'a>(&'a PublicationFrame);

impl ToRedisArgs for FrameArg<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        // The command buffer is a Vec: writing cannot fail.
        let _ = self.0.write_to(&mut out.writer_for_next_arg());
    }
}

impl ToSingleRedisArg for FrameArg<'_> {}

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
    let [op, key, value, spec] = set_args(p.set.as_ref());
    let frame = PublicationFrame::new(p);
    if frame.len() > shared.config.max_frame_bytes {
        return Err(BusError::Invalid(format!(
            "publication is {} bytes encoded; the limit is {}",
            frame.len(),
            shared.config.max_frame_bytes
        )));
    }
    let k = &shared.keys;
    Ok(Prepared {
        shard,
        keys: [
            k.room(shard, &room),
            k.hist(shard, &room),
            k.fence(shard, &src),
            k.set(shard, &room),
        ],
        room,
        frame,
        args: [epoch_candidate(), src, src_pos, fence, op, key, value, spec],
    })
}

/// The batch script's set arguments: op, key, value, spec.
fn set_args(set: Option<&SetChange>) -> [String; 4] {
    let Some(set) = set else {
        return Default::default();
    };
    let text = |j: &JsonText| String::from_utf8_lossy(j.as_bytes()).into_owned();
    let (key, value) = match &set.op {
        SetOp::Put { key, doc } => (key.clone(), text(doc)),
        SetOp::Remove { key } => (key.clone(), String::new()),
        SetOp::Reset { docs } => {
            let pairs: Vec<[&str; 2]> =
                docs.iter().map(|(k, d)| [k.as_str(), d.as_str()]).collect();
            (
                String::new(),
                serde_json::to_string(&pairs).unwrap_or_default(),
            )
        }
    };
    [set.op.kind().to_owned(), key, value, set.spec.to_text()]
}

/// One `EVALSHA` of the batch script for publications of one shard.
fn batch_cmd(shared: &Shared, shard: u32, items: &[&Prepared]) -> Cmd {
    let cfg = &shared.config;
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(shared.scripts.publish_batch.get_hash())
        .arg(1 + 4 * items.len())
        .arg(shared.keys.stream(shard));
    for p in items {
        for k in &p.keys {
            cmd.arg(k);
        }
    }
    cmd.arg(cfg.history_size)
        .arg(cfg.history_ttl.as_secs().max(1))
        .arg(cfg.stream_maxlen);
    for p in items {
        cmd.arg(p.room.as_str()).arg(FrameArg(&p.frame));
        for a in &p.args {
            cmd.arg(a.as_str());
        }
    }
    cmd
}

fn unavailable(e: &RedisError) -> BusError {
    BusError::caused("Redis command failed", e.clone())
}

/// The results of one script call of `n` publications.
fn classify(r: Result<Value, RedisError>, n: usize) -> Vec<Result<Published, BusError>> {
    let v = match r {
        Ok(v) => v,
        Err(e) => return vec![Err(unavailable(&e)); n],
    };
    match parse_publish_batch(&v) {
        Some(items) if items.len() == n => items
            .into_iter()
            .map(|item| match item {
                BatchItem::Done(reply) => {
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
                BatchItem::StaleFence(why) => {
                    Err(BusError::Rejected(format!("stale fence: {why}")))
                }
            })
            .collect(),
        _ => vec![Err(BusError::unavailable(format!("unexpected reply {v:?}"))); n],
    }
}

fn is_noscript(r: &Result<Value, RedisError>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
}

/// Sends a pipeline of `n` commands; a result per command.
async fn pipeline(shared: &Shared, pipe: &Pipeline, n: usize) -> Vec<Result<Value, RedisError>> {
    let mut conn = shared.conn();
    let run = pipe.query_async::<Vec<Result<Value, RedisError>>>(&mut conn);
    let all = |e: RedisError| (0..n).map(|_| Err(e.clone())).collect();
    match tokio::time::timeout(shared.config.command_timeout, run).await {
        Ok(Ok(results)) if results.len() == n => results,
        Ok(Ok(results)) => all(RedisError::from((
            ErrorKind::Client,
            "pipeline reply count mismatch",
            results.len().to_string(),
        ))),
        Ok(Err(e)) => all(e),
        Err(_) => all(RedisError::from((ErrorKind::Io, "publish timed out"))),
    }
}

/// Runs one group of script calls as one pipeline; reloads the script once
/// if Redis lost it (a `NOSCRIPT` call stored nothing, so it is safe to resend).
async fn run_group(shared: &Shared, cmds: Vec<Cmd>) -> Vec<Result<Value, RedisError>> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    let n = cmds.len();
    for c in cmds {
        pipe.add_command(c);
    }
    let mut results = pipeline(shared, &pipe, n).await;
    let missing: Vec<usize> = (0..results.len())
        .filter(|&i| is_noscript(&results[i]))
        .collect();
    if !missing.is_empty() {
        let mut conn = shared.conn();
        let load = shared.scripts.publish_batch.load_async(&mut conn);
        if let Ok(Ok(_)) = tokio::time::timeout(shared.config.command_timeout, load).await {
            let mut retry = redis::pipe();
            retry.ignore_errors();
            for &i in &missing {
                if let Some(c) = pipe.cmd_iter().nth(i) {
                    retry.add_command(c.clone());
                }
            }
            let again = pipeline(shared, &retry, missing.len()).await;
            for (i, r) in missing.into_iter().zip(again) {
                results[i] = r;
            }
        }
    }
    results
}

/// Publishes a batch; see [`Published`]. Results are in batch order.
///
/// Publications are grouped by shard (in batch order within a shard, so a
/// room's publications keep their order) and stored by one batch script
/// call per [`MAX_SCRIPT_BATCH`] publications of a shard. Standalone, every
/// call goes out in one pipeline; on a cluster, one pipeline per shard.
pub async fn publish(shared: &Shared, batch: Vec<Publication>) -> Vec<Result<Published, BusError>> {
    let prepared: Vec<Result<Prepared, BusError>> =
        batch.into_iter().map(|p| prepare(shared, p)).collect();
    let mut out: Vec<Option<Result<Published, BusError>>> = Vec::with_capacity(prepared.len());
    let mut by_shard: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, p) in prepared.iter().enumerate() {
        match p {
            Ok(p) => {
                by_shard.entry(p.shard).or_default().push(i);
                out.push(None);
            }
            Err(e) => out.push(Some(Err(e.clone()))),
        }
    }
    // Script calls: (shard, batch indexes), then pipelines of calls.
    let calls: Vec<(u32, &[usize])> = by_shard
        .iter()
        .flat_map(|(&s, idx)| idx.chunks(MAX_SCRIPT_BATCH).map(move |c| (s, c)))
        .collect();
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (c, (s, _)) in calls.iter().enumerate() {
        let g = if shared.connector.is_cluster() { *s } else { 0 };
        groups.entry(g).or_default().push(c);
    }
    let runs = groups.values().map(|cs| {
        let cmds: Vec<Cmd> = cs
            .iter()
            .map(|&c| {
                let (s, idx) = calls[c];
                let items: Vec<&Prepared> = idx
                    .iter()
                    .filter_map(|&i| prepared[i].as_ref().ok())
                    .collect();
                batch_cmd(shared, s, &items)
            })
            .collect();
        run_group(shared, cmds)
    });
    let results = join_all(runs).await;
    for (cs, res) in groups.values().zip(results) {
        for (&c, r) in cs.iter().zip(res) {
            let idx = calls[c].1;
            for (&i, one) in idx.iter().zip(classify(r, idx.len())) {
                out[i] = Some(one);
            }
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(BusError::unavailable("publication was not sent"))))
        .collect()
}
