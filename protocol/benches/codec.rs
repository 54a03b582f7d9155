//! Encoding cost of the broadcast frame, per format.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use herald_protocol::native::{Format, ServerFrame, encode_server};
use serde_json::json;

fn encode_message(c: &mut Criterion) {
    let frame = ServerFrame::Message {
        room: "dashboard:sales".into(),
        event: "dashboard:update".into(),
        data: json!({"revenue": 1234.5, "orders": 42, "region": "eu", "ts": 1_700_000_000_000u64}),
        offset: 99,
        ts: Some(1_700_000_000_000),
    };
    c.bench_function("encode_message_json", |b| {
        b.iter(|| encode_server(&frame, Format::Json))
    });
    c.bench_function("encode_message_msgpack", |b| {
        b.iter(|| encode_server(&frame, Format::MsgPack))
    });
}

criterion_group!(benches, encode_message);
criterion_main!(benches);
