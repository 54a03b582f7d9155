//! Subscription output as SSE events, and the position each one moves.
//!
//! | event | data | id |
//! | --- | --- | --- |
//! | `subscribed` | the native `subscribed` frame: a first subscription, or `recovered: true` | yes |
//! | `reset` | the same frame with `recovered: false`, when the client held a position that can no longer be recovered (another epoch, too old) or a gap could not be filled: drop the room's state | yes |
//! | `message` | the native `message` frame | yes |
//! | `unsubscribed` | the native frame: an operator made the stream leave the room | yes |
//! | `presence` | the native `presence` frame | no |
//! | `disconnect` | the native `disconnect` frame; the stream ends | no |
//!
//! A `subscribed` or `reset` event's id puts its room just before the
//! snapshot that follows it (or at the room's offset when none does), so
//! a client cut off in the middle of a snapshot recovers the rest.

use std::collections::HashMap;

use bytes::Bytes;
use herald_protocol::RoomName;
use herald_protocol::native::{CloseCode, Format, ServerFrame, encode_server};
use herald_protocol::sse::{Entry, epoch_check, write_event};

use crate::hub::subscriptions::Emit;
use crate::transport::link::{Chunk, SseItem};

/// One event's bytes: `event: name` and the native frame as JSON `data`.
pub fn event(name: &str, frame: &ServerFrame) -> Bytes {
    let json = encode_server(frame, Format::Json);
    let mut out = Vec::with_capacity(json.len() + name.len() + 16);
    write_event(name, &json, &mut out);
    Bytes::from(out)
}

/// The final event of a stream the gateway ends with `code`.
pub fn disconnect(code: CloseCode) -> Chunk {
    Chunk::plain(event("disconnect", &ServerFrame::disconnect(code)))
}

/// A stream's rooms, for turning subscription output into events.
pub struct Stream {
    /// Room → its index in the stream (and in the id).
    index: HashMap<RoomName, usize>,
    /// Whether the client holds a position in each room (a `subscribed`
    /// that does not recover it is a `reset`).
    held: Vec<bool>,
}

impl Stream {
    /// A stream of `rooms`, in order; `held[i]` when the client came with
    /// a position in room `i`.
    pub fn new(rooms: &[RoomName], held: Vec<bool>) -> Self {
        Self {
            index: rooms
                .iter()
                .enumerate()
                .map(|(i, r)| (r.clone(), i))
                .collect(),
            held,
        }
    }

    /// The events for `emits`, in order (drained).
    pub fn items(&mut self, emits: &mut Vec<Emit>) -> Vec<SseItem> {
        let mut items = Vec::with_capacity(emits.len());
        let emits: Vec<Emit> = std::mem::take(emits);
        for (n, e) in emits.iter().enumerate() {
            match e {
                Emit::Subscribed {
                    room,
                    epoch,
                    offset,
                    recovered,
                    id,
                } => {
                    let Some(&i) = self.index.get(room) else {
                        continue;
                    };
                    // An unprompted one (no id) always means "drop it".
                    let fresh = id.is_some() && !self.held.get(i).copied().unwrap_or(false);
                    let name = if *recovered || fresh {
                        "subscribed"
                    } else {
                        "reset"
                    };
                    if let Some(h) = self.held.get_mut(i) {
                        *h = true;
                    }
                    let first = emits[n + 1..].iter().find_map(|e| match e {
                        Emit::Message { b, live: false } if b.room == *room => Some(b.offset),
                        _ => None,
                    });
                    let at = first.map_or(*offset, |f| f.saturating_sub(1));
                    let frame = ServerFrame::Subscribed {
                        room: room.to_string(),
                        epoch: epoch.to_string(),
                        offset: *offset,
                        recovered: *recovered,
                        id: None,
                    };
                    items.push(SseItem {
                        position: Some((
                            i,
                            Some(Entry {
                                offset: at,
                                check: epoch_check(room, epoch),
                            }),
                        )),
                        with_id: true,
                        chunk: Chunk::plain(event(name, &frame)),
                    });
                }
                Emit::Message { b, live } => {
                    let Some(&i) = self.index.get(&b.room) else {
                        continue;
                    };
                    items.push(SseItem {
                        position: Some((
                            i,
                            Some(Entry {
                                offset: b.offset,
                                check: epoch_check(&b.room, &b.epoch),
                            }),
                        )),
                        with_id: true,
                        chunk: Chunk {
                            bytes: b.sse().clone(),
                            binary: false,
                            done: live.then(|| b.clone()),
                        },
                    });
                }
                Emit::Unsubscribed { room } => {
                    let position = self.index.get(room).map(|&i| (i, None));
                    let frame = ServerFrame::Unsubscribed {
                        room: room.to_string(),
                        id: None,
                    };
                    items.push(SseItem {
                        with_id: position.is_some(),
                        position,
                        chunk: Chunk::plain(event("unsubscribed", &frame)),
                    });
                }
                Emit::Presence(p) => {
                    let frame = ServerFrame::Presence {
                        room: p.room.clone(),
                        user: p.user.clone(),
                        action: p.action,
                    };
                    items.push(SseItem {
                        position: None,
                        with_id: false,
                        chunk: Chunk::plain(event("presence", &frame)),
                    });
                }
            }
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_bus::Message;
    use serde_json::json;

    use super::*;
    use crate::transport::frames::Broadcast;

    fn msg(room: &str, offset: u64) -> Emit {
        Emit::Message {
            b: Broadcast::new(Arc::new(Message::new(
                RoomName::new(room).unwrap_or_else(|_| unreachable!()),
                "e".into(),
                json!(offset).into(),
                Arc::from("ep"),
                offset,
                0,
                None,
            ))),
            live: false,
        }
    }

    fn subscribed(room: &str, offset: u64, recovered: bool, id: Option<u64>) -> Emit {
        Emit::Subscribed {
            room: RoomName::new(room).unwrap_or_else(|_| unreachable!()),
            epoch: Arc::from("ep"),
            offset,
            recovered,
            id,
        }
    }

    fn name(item: &SseItem) -> String {
        let text = String::from_utf8_lossy(&item.chunk.bytes);
        text.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_snapshot_puts_the_room_before_its_first_message() {
        let rooms = [RoomName::new("a").unwrap_or_else(|_| unreachable!())];
        let mut s = Stream::new(&rooms, vec![false]);
        let mut emits = vec![subscribed("a", 9, false, Some(0)), msg("a", 8), msg("a", 9)];
        let items = s.items(&mut emits);
        assert_eq!(name(&items[0]), "event: subscribed");
        let check = epoch_check("a", "ep");
        assert_eq!(
            items[0].position,
            Some((0, Some(Entry { offset: 7, check })))
        );
        assert_eq!(
            items[2].position,
            Some((0, Some(Entry { offset: 9, check })))
        );
        assert!(emits.is_empty());
    }

    #[test]
    fn a_position_not_recovered_and_an_unprompted_restart_are_resets() {
        let rooms = [
            RoomName::new("a").unwrap_or_else(|_| unreachable!()),
            RoomName::new("b").unwrap_or_else(|_| unreachable!()),
        ];
        let mut s = Stream::new(&rooms, vec![true, false]);
        let mut emits = vec![
            subscribed("a", 3, false, Some(0)),
            subscribed("b", 0, false, Some(1)),
            subscribed("b", 2, true, None),
            subscribed("b", 0, false, None),
        ];
        let names: Vec<String> = s.items(&mut emits).iter().map(name).collect();
        assert_eq!(
            names,
            [
                "event: reset",
                "event: subscribed",
                "event: subscribed",
                "event: reset"
            ]
        );
    }
}
