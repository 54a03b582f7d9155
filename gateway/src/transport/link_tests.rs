//! The write path's rules, on a pipe that blocks when told to.

use std::sync::Arc;

use bytes::Bytes;
use herald_bus::Message;
use herald_protocol::RoomName;
use herald_protocol::native::{CloseCode, Format};
use herald_protocol::ws::Opcode;
use serde_json::json;

use super::frames::{Broadcast, Framing, SioEncoding, ws_frame};
use super::link::*;
use super::testwire::Pipe;
use crate::metrics::GatewayMetrics;

fn link(pipe: &Arc<Pipe>, max_messages: usize, max_bytes: usize) -> Arc<Link> {
    Link::new(
        Arc::from("s1"),
        Framing::WsNative(Format::Json),
        Some(pipe.clone() as Arc<dyn Wire>),
        LinkLimits {
            max_messages,
            max_bytes,
        },
        Arc::new(GatewayMetrics::new(false)),
    )
}

fn msg(room: &str, offset: u64, payload: &str) -> Arc<Broadcast> {
    Broadcast::new(Arc::new(Message::new(
        RoomName::new(room).unwrap(),
        "e".into(),
        json!(payload).into(),
        Arc::from("ep"),
        offset,
        0,
        None,
    )))
}

/// A live slot at offset `last` of `room`.
fn live_slot(l: &Link, room: &str, last: u64) -> SlotId {
    let slot = l.add_slot(RoomName::new(room).unwrap(), Arc::from("ep"), last);
    assert!(l.go_live(slot));
    slot
}

fn offsets(pipe: &Pipe) -> Vec<u64> {
    pipe.texts()
        .iter()
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .filter_map(|v| v.get("offset").and_then(serde_json::Value::as_u64))
        .collect()
}

#[test]
fn an_idle_caught_up_link_is_written_in_one_call_with_nothing_queued() {
    let pipe = Pipe::open();
    let l = link(&pipe, 8, 1 << 20);
    let slot = live_slot(&l, "r", 0);
    let b = msg("r", 1, "x");
    assert_eq!(l.offer(slot, &b), Offer::Written);
    assert!(!l.has_queued());
    assert_eq!(pipe.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(&pipe.bytes.lock()[..], &b.ws_native(Format::Json)[..]);
    let mut inbox = Default::default();
    assert_eq!(l.take_inbox(&mut inbox), None);
    assert!(inbox.is_empty(), "the task has nothing to do");
}

#[test]
fn a_partial_write_then_queued_messages_keep_byte_order_and_frame_integrity() {
    let pipe = Pipe::with_budget(7);
    let l = link(&pipe, 64, 1 << 20);
    let slot = live_slot(&l, "r", 0);
    let long = "y".repeat(300);
    assert_eq!(l.offer(slot, &msg("r", 1, &long)), Offer::Queued);
    assert_eq!(
        pipe.bytes.lock().len(),
        7,
        "the socket took part of a frame"
    );
    // A message and a ping arriving meanwhile queue behind the rest of it.
    assert_eq!(l.offer(slot, &msg("r", 2, "z")), Offer::Queued);
    l.write([Chunk::plain(ws_frame(Opcode::Ping, b""))])
        .unwrap();
    assert_eq!(l.offer(slot, &msg("r", 3, "w")), Offer::Queued);
    // The socket drains a few bytes at a time.
    for _ in 0..200 {
        pipe.allow(5);
        if l.flush() == Flushed::Empty {
            break;
        }
    }
    assert!(!l.has_queued());
    let (frames, leftover) = pipe.frames();
    assert_eq!(leftover, 0, "no frame cut short");
    let kinds: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
    assert_eq!(
        kinds,
        vec![0x81, 0x81, 0x89, 0x81],
        "text, text, ping, text"
    );
    assert_eq!(offsets(&pipe), vec![1, 2, 3]);
    let mut written = Vec::new();
    l.take_written(&mut written);
    assert_eq!(
        written.len(),
        3,
        "each queued delivery completes when flushed"
    );
}

#[test]
fn a_reader_that_stops_mid_frame_is_closed_as_slow_and_its_queue_freed() {
    let pipe = Pipe::with_budget(3);
    let l = link(&pipe, 1000, 200);
    let slot = live_slot(&l, "r", 0);
    let first = msg("r", 1, &"a".repeat(50));
    assert_eq!(l.offer(slot, &first), Offer::Queued);
    let mut offer = Offer::Queued;
    let mut n = 2;
    while offer == Offer::Queued {
        offer = l.offer(slot, &msg("r", n, &"b".repeat(50)));
        n += 1;
    }
    assert_eq!(offer, Offer::Dropped);
    assert_eq!(l.closed(), Some(Closed::Code(CloseCode::SlowConsumer)));
    assert_eq!(l.offer(slot, &msg("r", n, "c")), Offer::Dropped);
    // The close frame follows the rest of the frame already begun.
    l.finish([Chunk::plain(ws_frame(
        Opcode::Close,
        &4002u16.to_be_bytes(),
    ))]);
    pipe.allow(1 << 20);
    assert_eq!(l.flush_final(), Flushed::Empty);
    let (frames, leftover) = pipe.frames();
    assert_eq!(leftover, 0);
    assert_eq!(frames.len(), 2, "the first message, whole, then the close");
    assert_eq!(frames[1].0, 0x88);
    assert_eq!(offsets(&pipe), vec![1]);
}

#[test]
fn dropped_deliveries_still_complete_their_fanout() {
    let pipe = Pipe::with_budget(0);
    let l = link(&pipe, 1000, 1 << 20);
    let slot = live_slot(&l, "r", 0);
    let b = msg("r", 1, "x");
    // One subscriber, plus the deliverer's token.
    b.begin_fanout(0);
    b.add_pending(1);
    assert_eq!(l.offer(slot, &b), Offer::Queued);
    assert!(!b.fanout_done(1), "the deliverer is done");
    assert_eq!(b.fanout_pending(), 1, "the queued delivery is not");
    l.close(CloseCode::SlowConsumer);
    assert_eq!(b.fanout_pending(), 0, "closing completes it");
}

#[test]
fn messages_for_a_held_slot_wait_in_the_inbox_in_order() {
    let pipe = Pipe::open();
    let l = link(&pipe, 100, 1 << 20);
    let slot = l.add_slot(RoomName::new("r").unwrap(), Arc::from(""), 0);
    assert_eq!(l.offer(slot, &msg("r", 4, "a")), Offer::Deferred);
    assert_eq!(l.offer(slot, &msg("r", 5, "b")), Offer::Deferred);
    assert!(pipe.bytes.lock().is_empty());
    assert!(
        !l.go_live(slot),
        "messages of the room wait: the slot stays held"
    );
    let mut inbox = std::collections::VecDeque::new();
    assert_eq!(l.take_inbox(&mut inbox), None);
    let got: Vec<u64> = inbox
        .iter()
        .map(|o| match o {
            Out::Msg(b) => b.offset,
            _ => 0,
        })
        .collect();
    assert_eq!(got, vec![4, 5]);
    l.set_position(slot, Arc::from("ep"), 5);
    assert!(l.go_live(slot));
    assert_eq!(l.offer(slot, &msg("r", 6, "c")), Offer::Written);
}

#[test]
fn duplicates_are_skipped_and_gaps_and_epochs_go_to_the_task() {
    let pipe = Pipe::open();
    let l = link(&pipe, 100, 1 << 20);
    let slot = live_slot(&l, "r", 5);
    assert_eq!(l.offer(slot, &msg("r", 5, "dup")), Offer::Skipped);
    assert_eq!(l.offer(slot, &msg("r", 3, "old")), Offer::Skipped);
    assert_eq!(l.offer(slot, &msg("r", 7, "gap")), Offer::Deferred);
    // Held now: even the next in order waits behind the gap.
    assert_eq!(l.offer(slot, &msg("r", 6, "next")), Offer::Deferred);
    let other = l.add_slot(RoomName::new("q").unwrap(), Arc::from("old-epoch"), 9);
    assert!(l.go_live(other));
    assert_eq!(l.offer(other, &msg("q", 10, "new epoch")), Offer::Deferred);
    assert!(pipe.bytes.lock().is_empty());
}

#[test]
fn a_reset_peer_ends_the_link_as_client_closed() {
    let pipe = Pipe::open();
    let l = link(&pipe, 100, 1 << 20);
    let slot = live_slot(&l, "r", 0);
    pipe.reset();
    assert_eq!(l.offer(slot, &msg("r", 1, "x")), Offer::Dropped);
    assert_eq!(l.closed(), Some(Closed::Gone("client_closed")));
}

#[test]
fn socketio_slots_write_one_frame_per_namespace_and_log_them() {
    let pipe = Pipe::open();
    let l = Link::new(
        Arc::from("s1"),
        Framing::WsSocketIo,
        Some(pipe.clone() as Arc<dyn Wire>),
        LinkLimits {
            max_messages: 100,
            max_bytes: 1 << 20,
        },
        Arc::new(GatewayMetrics::new(false)),
    );
    let main = l.add_nsp(Arc::from("/"), true, Default::default());
    let admin = l.add_nsp(Arc::from("/admin"), false, Default::default());
    let slot = live_slot(&l, "r", 0);
    l.set_slot_nsps(slot, vec![main, admin]);
    let b = msg("r", 1, "x");
    assert_eq!(l.offer(slot, &b), Offer::Written);
    let texts = pipe.texts();
    assert_eq!(
        texts,
        vec![
            r#"42["e","x","1 ep r"]"#.to_owned(),
            r#"42/admin,["e","x"]"#.to_owned()
        ]
    );
    assert_eq!(
        b.sio(
            SioEncoding {
                nsp: "/",
                recovery: true
            },
            Framing::WsSocketIo
        ),
        Bytes::from(pipe.bytes.lock()[..2 + texts[0].len()].to_vec())
    );
    let log = l.sent_log(main).unwrap();
    assert_eq!(log.positions_at("r", 1).unwrap().len(), 1);
    assert!(l.sent_log(admin).unwrap().is_empty(), "recovery off there");
}

#[test]
fn a_polling_link_queues_for_the_next_get_and_reframes_on_upgrade() {
    let l = Link::new(
        Arc::from("s1"),
        Framing::PollSocketIo,
        None,
        LinkLimits {
            max_messages: 100,
            max_bytes: 1 << 20,
        },
        Arc::new(GatewayMetrics::new(false)),
    );
    l.write([Chunk::plain(Bytes::from_static(b"2"))]).unwrap();
    l.write([Chunk::plain(Bytes::from_static(b"6"))]).unwrap();
    let pipe = Pipe::open();
    // The re-framing may drop what means nothing on the new wire.
    l.set_wire(
        Framing::WsSocketIo,
        Some(pipe.clone() as Arc<dyn Wire>),
        |c| (c.bytes[..] != b"6"[..]).then(|| ws_frame(Opcode::Text, &c.bytes)),
    );
    l.write([Chunk::plain(ws_frame(Opcode::Text, b"3"))])
        .unwrap();
    assert_eq!(l.flush(), Flushed::Empty);
    assert_eq!(pipe.texts(), vec!["2".to_owned(), "3".to_owned()]);
}
