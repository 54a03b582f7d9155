//! A change event from the driver's raw bytes to the frame the router hands
//! Redis, on both paths, in one run:
//!
//! - `tree`: the raw event copied into a `Document`, its `fullDocument`
//!   converted into a `serde_json::Value`, and that tree encoded into a
//!   version 1 frame (the router before the payload became text);
//! - `text`: the raw event read in place, its `fullDocument` written as
//!   JSON text in one pass, and the frame's head built beside it (the two
//!   parts go into the Redis command as they are).
//!
//! `cargo bench -p herald-router --bench convert_path`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use herald_protocol::bus::{Publication, PublicationFrame};
use herald_router::as_json::document_text;
use herald_router::convert::document_to_json;
use mongodb::bson::{DateTime, RawDocumentBuf, doc, oid::ObjectId};

fn event() -> RawDocumentBuf {
    let items: Vec<_> = (0..8)
        .map(|i| doc! {"sku": format!("SKU-{i:04}"), "qty": i + 1, "price": 9.99 + f64::from(i)})
        .collect();
    let full = doc! {
        "_id": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(), "status": "paid",
        "total": 1234.5, "customer": {"name": "Ada Lovelace", "region": "eu-west", "tier": "gold"},
        "items": items, "updatedAt": DateTime::from_millis(1_764_756_000_000),
    };
    RawDocumentBuf::from_document(&doc! {
        "_id": {"_data": "8265700000000000030000000000000001"},
        "operationType": "replace", "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": full.get("_id").unwrap().clone()},
        "fullDocument": full, "wallTime": DateTime::from_millis(1_764_756_000_000),
    })
    .unwrap()
}

fn router_side(c: &mut Criterion) {
    let raw = event();
    let mut g = c.benchmark_group("raw_event_to_bus_frame");
    g.bench_function("tree", |b| {
        b.iter(|| {
            let ev = raw.to_document().unwrap();
            let data = document_to_json(ev.get_document("fullDocument").unwrap()).unwrap();
            let mut frame = vec![1u8];
            rmp_serde::encode::write_named(
                &mut frame,
                &serde_json::json!({"t": "publish", "room": "dashboard:orders",
                    "event": "dashboard:update", "data": data, "ts_ms": 1u64,
                    "src": "shop", "src_pos": "82657", "fence": 3}),
            )
            .unwrap();
            frame
        });
    });
    g.bench_function("text", |b| {
        b.iter(|| {
            let data = document_text(raw.get_document("fullDocument").unwrap()).unwrap();
            PublicationFrame::new(Publication {
                room: "dashboard:orders".into(),
                event: "dashboard:update".into(),
                data,
                ts_ms: 1,
                src_ts_ms: None,
                src: Some("shop".into()),
                src_pos: Some("82657".into()),
                fence: Some(3),
                set: None,
            })
        });
    });
    g.finish();
}

criterion_group!(benches, router_side);
criterion_main!(benches);
