//! A live collection's changes as bus publications: event
//! `herald:change` with a [`Change`] for clients and the [`SetChange`] the
//! bus applies to the stored set (always the whole document after the
//! change), or `herald:snapshot` with a reset [`Snapshot`] and
//! [`SetOp::Reset`].

use herald_protocol::JsonText;
use herald_protocol::bus::Publication;
use herald_protocol::collection::{
    CHANGE_EVENT, Change, ChangeKind, SNAPSHOT_EVENT, SetChange, SetOp, SetSpec, Snapshot,
    order::cmp_members,
};

use super::window::Out;
use crate::metrics;
use crate::publish::Origin;

/// The source position of the `k`-th publication of one event to one room:
/// the event's token, then `token:000001`, `token:000002`, ... (byte-wise
/// after the token, before every later token), so a replay of any of them
/// is dropped by the bus.
pub fn sub_pos(hex: &str, k: usize) -> String {
    if k == 0 {
        hex.to_owned()
    } else {
        format!("{hex}:{k:06}")
    }
}

/// The publications of `outs` to `room`, numbered from sub-position `first`.
pub fn publications(
    room: &str,
    spec: &SetSpec,
    outs: Vec<Out>,
    origin: Origin<'_>,
    first: usize,
) -> Vec<Publication> {
    let now = metrics::now_ms();
    outs.into_iter()
        .enumerate()
        .map(|(i, out)| {
            let (event, data, op) = match out {
                Out::Upsert {
                    key,
                    key_value,
                    doc,
                } => {
                    let text = JsonText::from_value(&doc);
                    let c = Change {
                        room: room.to_owned(),
                        key: key_value,
                        kind: ChangeKind::Upsert { doc },
                    };
                    (CHANGE_EVENT, c.to_json(), SetOp::Put { key, doc: text })
                }
                Out::Patch {
                    key,
                    key_value,
                    patch,
                    doc,
                } => {
                    let c = Change {
                        room: room.to_owned(),
                        key: key_value,
                        kind: ChangeKind::Patch(patch),
                    };
                    (
                        CHANGE_EVENT,
                        c.to_json(),
                        SetOp::Put {
                            key,
                            doc: JsonText::from_value(&doc),
                        },
                    )
                }
                Out::Remove { key, key_value } => {
                    let c = Change {
                        room: room.to_owned(),
                        key: key_value,
                        kind: ChangeKind::Remove,
                    };
                    (CHANGE_EVENT, c.to_json(), SetOp::Remove { key })
                }
                Out::Reset { mut docs } => {
                    docs.sort_by(|(ka, a), (kb, b)| cmp_members(spec, a, ka, b, kb));
                    let stored = docs
                        .iter()
                        .map(|(k, d)| (k.clone(), JsonText::from_value(d)))
                        .collect();
                    let s = Snapshot {
                        room: room.to_owned(),
                        spec: spec.clone(),
                        reset: true,
                        docs: docs.into_iter().map(|(_, d)| d).collect(),
                    };
                    (SNAPSHOT_EVENT, s.to_json(), SetOp::Reset { docs: stored })
                }
            };
            Publication {
                room: room.to_owned(),
                event: event.to_owned(),
                data,
                ts_ms: now,
                src_ts_ms: origin.src_ts_ms,
                src: Some(origin.scope.to_owned()),
                src_pos: origin.src_pos.map(|h| sub_pos(h, first + i)),
                fence: Some(origin.fence),
                set: Some(SetChange {
                    spec: spec.clone(),
                    op,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_positions_sort_after_the_token_and_before_the_next() {
        let t = "82000000010000000200000000000000000A";
        let next = "82000000010000000300000000000000000A";
        let subs: Vec<String> = (0..12).map(|k| sub_pos(t, k)).collect();
        assert_eq!(subs[0], t);
        assert!(subs.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        assert!(subs.iter().all(|s| s.as_bytes() < next.as_bytes()));
    }
}
