//! The Lua scripts of the protocol and the parsing of their replies.

use redis::streams::StreamRangeReply;
use redis::{Script, Value};

/// The publish script (see `publish.lua` and `docs/adapter-protocol.md`).
pub const PUBLISH_LUA: &str = include_str!("publish.lua");
/// The batch publish script: many publications of one shard per call.
pub const PUBLISH_BATCH_LUA: &str = include_str!("publish_batch.lua");
/// The history script.
pub const HISTORY_LUA: &str = include_str!("history.lua");
/// The data marker script.
pub const MARKER_LUA: &str = include_str!("marker.lua");
/// The heartbeat and node listing script.
pub const HEARTBEAT_LUA: &str = include_str!("heartbeat.lua");

/// The loaded scripts.
pub struct Scripts {
    /// Publishes one publication.
    pub publish: Script,
    /// Publishes many publications of one shard.
    pub publish_batch: Script,
    /// Reads a room's position and history.
    pub history: Script,
    /// Checks or plants a shard's data marker.
    pub marker: Script,
    /// Writes a heartbeat and lists live nodes.
    pub heartbeat: Script,
}

impl Scripts {
    /// Hashes every script.
    pub fn new() -> Self {
        Self {
            publish: Script::new(PUBLISH_LUA),
            publish_batch: Script::new(PUBLISH_BATCH_LUA),
            history: Script::new(HISTORY_LUA),
            marker: Script::new(MARKER_LUA),
            heartbeat: Script::new(HEARTBEAT_LUA),
        }
    }
}

/// A string-like reply element as bytes.
pub fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A string-like reply element as text.
pub fn str_of(v: &Value) -> Option<&str> {
    bytes_of(v).and_then(|b| std::str::from_utf8(b).ok())
}

/// What the publish script answered.
#[derive(Debug, PartialEq, Eq)]
pub struct PublishReply {
    /// `false` when the publication replayed a stored source position.
    pub stored: bool,
    /// The room's epoch.
    pub epoch: String,
    /// The new offset, or the room's latest offset for a replay.
    pub offset: u64,
}

/// Parses `{status, epoch, offset}`.
pub fn parse_publish(v: &Value) -> Option<PublishReply> {
    let Value::Array(items) = v else { return None };
    let [status, epoch, offset] = items.as_slice() else {
        return None;
    };
    let stored = match str_of(status)? {
        "ok" => true,
        "dup" => false,
        _ => return None,
    };
    Some(PublishReply {
        stored,
        epoch: str_of(epoch)?.to_owned(),
        offset: str_of(offset)?.parse().ok()?,
    })
}

/// What the batch publish script answered for one publication.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchItem {
    /// Stored or replayed, as the single publish script would answer.
    Done(PublishReply),
    /// Refused by the fence, with the script's message.
    StaleFence(String),
}

/// Parses the batch reply: one `{status, epoch|message, offset}` per publication.
pub fn parse_publish_batch(v: &Value) -> Option<Vec<BatchItem>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .map(|item| {
            if let Value::Array(parts) = item
                && let [status, msg, _] = parts.as_slice()
                && str_of(status)? == "stalefence"
            {
                return Some(BatchItem::StaleFence(str_of(msg)?.to_owned()));
            }
            parse_publish(item).map(BatchItem::Done)
        })
        .collect()
}

/// What the history script answered.
#[derive(Debug, Default)]
pub struct HistoryReply {
    /// The room's epoch.
    pub epoch: String,
    /// The room's latest offset.
    pub latest: u64,
    /// The newest entries, newest first.
    pub range: StreamRangeReply,
    /// The live-collection spec, for a room with a set.
    pub spec: Option<Vec<u8>>,
    /// The set's members (key text, document), when the script read them.
    pub set: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Parses `{epoch, latest, entries, spec|nil, {key, doc, ...}}`.
pub fn parse_history(v: Value) -> Option<HistoryReply> {
    let Value::Array(items) = v else {
        return None;
    };
    let [epoch, latest, entries, spec, set]: [Value; 5] = items.try_into().ok()?;
    let range = match entries {
        Value::Array(a) if a.is_empty() => StreamRangeReply::default(),
        other => redis::from_redis_value(other).ok()?,
    };
    let spec = match spec {
        Value::Nil => None,
        other => Some(bytes_of(&other)?.to_vec()),
    };
    let Value::Array(flat) = set else { return None };
    let mut members = Vec::with_capacity(flat.len() / 2);
    for pair in flat.chunks(2) {
        let [k, d] = pair else { return None };
        members.push((bytes_of(k)?.to_vec(), bytes_of(d)?.to_vec()));
    }
    Some(HistoryReply {
        epoch: str_of(&epoch)?.to_owned(),
        latest: str_of(&latest)?.parse().ok()?,
        range,
        spec,
        set: members,
    })
}
