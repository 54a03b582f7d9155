//! A publication's payload from a bus frame to a client frame, per
//! broadcast, on both paths a gateway can take, in one run:
//!
//! - `tree`: the version 1 frame (payload inside the MessagePack map)
//!   decoded into a `serde_json::Value`, as the gateway did before, then
//!   serialized into the native
//!   JSON frame and the Socket.IO packet (what the gateway did before the
//!   payload became text);
//! - `text`: the version 2 frame (payload after the map) decoded with the
//!   payload shared, not copied, then spliced into both frames.
//!
//! `cargo bench -p herald-protocol --bench payload_path`
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use herald_protocol::JsonText;
use herald_protocol::bus::{BusFrame, Publication, decode_bus_shared, encode_bus};
use herald_protocol::native::codec::{MessageRef, MessageTag, encode_message_into};
use herald_protocol::native::{Format, ServerFrame, encode_server};
use herald_protocol::sio::{encode_event_frame, encode_event_frame_into};
use serde_json::{Value, json};

/// An orders-panel update: a document of about 600 bytes of JSON.
fn payload() -> Value {
    let items: Vec<Value> = (0..8)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": i + 1, "price": 9.99 + f64::from(i)}))
        .collect();
    json!({
        "_id": "65a1b2c3d4e5f60718293a4b", "status": "paid", "total": 1234.5,
        "customer": {"name": "Ada Lovelace", "region": "eu-west", "tier": "gold"},
        "items": items, "updatedAt": "2026-12-03T10:00:00.000Z"
    })
}

fn publication(data: &Value) -> Publication {
    Publication {
        room: "dashboard:orders".into(),
        event: "dashboard:update".into(),
        data: JsonText::from_value(data),
        ts_ms: 1_700_000_000_000,
        src_ts_ms: Some(1_700_000_000_000),
        src: Some("shop".into()),
        src_pos: Some("8265700000000000030000000000000001".into()),
        fence: Some(3),
        set: None,
    }
}

/// A publication as the gateway decoded it before: the payload a tree.
#[derive(serde::Deserialize)]
struct OldPublication {
    room: String,
    event: String,
    data: Value,
    ts_ms: u64,
}

/// The version 1 frame of the same publication.
fn frame_v1(data: &Value) -> Vec<u8> {
    let mut out = vec![1u8];
    rmp_serde::encode::write_named(
        &mut out,
        &json!({
            "t": "publish", "room": "dashboard:orders", "event": "dashboard:update",
            "data": data, "ts_ms": 1_700_000_000_000u64, "src_ts_ms": 1_700_000_000_000u64,
            "src": "shop", "src_pos": "8265700000000000030000000000000001", "fence": 3
        }),
    )
    .unwrap();
    out
}

fn gateway_side(c: &mut Criterion) {
    let data = payload();
    let v1 = frame_v1(&data);
    let v2 = Bytes::from(encode_bus(&BusFrame::Publish(publication(&data))));
    let mut g = c.benchmark_group("bus_frame_to_client_frames");
    g.bench_function("tree", |b| {
        b.iter(|| {
            let p: OldPublication = rmp_serde::from_slice(&v1[1..]).unwrap();
            let value = p.data;
            let native = encode_server(
                &ServerFrame::Message {
                    room: p.room.clone(),
                    event: p.event.clone(),
                    data: value.clone(),
                    offset: 7,
                    ts: Some(p.ts_ms),
                },
                Format::Json,
            );
            let sio = encode_event_frame("/", &p.event, &value, Some("7"));
            (native, sio)
        });
    });
    g.bench_function("text", |b| {
        b.iter(|| {
            let Ok(BusFrame::Publish(p)) = decode_bus_shared(&v2) else {
                unreachable!()
            };
            let mut native = Vec::new();
            encode_message_into(
                &mut native,
                &MessageRef {
                    kind: MessageTag,
                    room: &p.room,
                    event: &p.event,
                    data: &p.data,
                    offset: 7,
                    ts: Some(p.ts_ms),
                },
                Format::Json,
            );
            let mut sio = String::new();
            encode_event_frame_into(&mut sio, "/", &p.event, p.data.as_str(), Some("7"));
            (native, sio)
        });
    });
    g.finish();
}

criterion_group!(benches, gateway_side);
criterion_main!(benches);
