//! Live collections on the bus: the stored set a publisher reads back, and
//! the snapshot message a new subscriber gets instead of the latest
//! messages. Shared by every bus implementation.

use std::sync::Arc;

use herald_protocol::collection::{SNAPSHOT_EVENT, SetSpec, Snapshot, order};
use herald_protocol::{JsonText, RoomName};
use serde_json::Value;

use crate::Message;

/// A room's stored set, read in one step with the room's position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSet {
    /// The room's epoch.
    pub epoch: Arc<str>,
    /// The room's latest offset: the set is the state after it.
    pub offset: u64,
    /// The set's shape.
    pub spec: SetSpec,
    /// Every member: key text and document.
    pub docs: Vec<(String, JsonText)>,
}

impl StoredSet {
    /// The snapshot message of this set: event
    /// [`SNAPSHOT_EVENT`], at the room's latest offset, the members in the
    /// set's order. A member whose stored text is not a JSON document is
    /// left out and logged.
    pub fn snapshot(&self, room: &RoomName, ts_ms: u64) -> Message {
        let mut members: Vec<(&str, Value)> = Vec::with_capacity(self.docs.len());
        for (k, d) in &self.docs {
            match serde_json::from_slice::<Value>(d.as_bytes()) {
                Ok(v) => members.push((k.as_str(), v)),
                Err(e) => {
                    tracing::warn!(room = %room, key = %k, error = %e, "skipped an unreadable set member");
                }
            }
        }
        members.sort_by(|(ka, a), (kb, b)| order::cmp_members(&self.spec, a, ka, b, kb));
        let snap = Snapshot {
            room: room.to_string(),
            spec: self.spec.clone(),
            reset: false,
            docs: members.into_iter().map(|(_, v)| v).collect(),
        };
        Message::new(
            room.clone(),
            SNAPSHOT_EVENT.to_owned(),
            snap.to_json(),
            self.epoch.clone(),
            self.offset,
            ts_ms,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_one_message_at_the_latest_offset_in_set_order() {
        let spec = SetSpec {
            key: "_id".into(),
            sort: Some("n".into()),
            descending: true,
            limit: Some(2),
        };
        let doc = |t: &str| JsonText::parse(bytes::Bytes::from(t.to_owned())).unwrap();
        let set = StoredSet {
            epoch: "e1".into(),
            offset: 9,
            spec,
            docs: vec![
                ("\"a\"".into(), doc(r#"{"_id":"a","n":1}"#)),
                ("\"b\"".into(), doc(r#"{"_id":"b","n":5}"#)),
            ],
        };
        let room = RoomName::new("orders:live").unwrap();
        let m = set.snapshot(&room, 1);
        assert_eq!(
            (m.event.as_str(), m.offset, &*m.epoch),
            (SNAPSHOT_EVENT, 9, "e1")
        );
        let snap = Snapshot::decode(m.data.as_bytes()).unwrap();
        assert_eq!(
            snap.docs,
            vec![
                serde_json::json!({"_id":"b","n":5}),
                serde_json::json!({"_id":"a","n":1})
            ]
        );
        assert!(!snap.reset);
    }
}
