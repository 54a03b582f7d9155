//! Bytes on the wire for one changed field of a 2 KB document: a live
//! collection's `patch` against the whole document (`upsert`, what a plain
//! room would send), as native JSON and MessagePack `message` frames and as
//! a Socket.IO event packet.
//!
//! ```text
//! cargo run --release -p herald-protocol --example collection_bytes
//! ```

use herald_protocol::JsonText;
use herald_protocol::collection::{CHANGE_EVENT, Change, ChangeKind, Patch};
use herald_protocol::native::codec::{Format, MessageRef, MessageTag, encode_message_into};
use serde_json::{Value, json};

/// An order of about 2 KB: the shape the demo and the router's example use,
/// with sixteen line items.
fn order() -> Value {
    let items: Vec<Value> = (0..16)
        .map(|i| {
            json!({
                "sku": format!("SKU-{i:03}"),
                "name": format!("Espresso beans, single origin lot {i}"),
                "qty": i % 4 + 1,
                "unit": 24.90,
                "warehouse": "eu-central-1b",
            })
        })
        .collect();
    json!({
        "_id": "65f0c0ffee0000000000a1b2",
        "customer": {"name": "Grace Hopper", "email": "grace@example.org", "tier": "gold"},
        "region": "eu",
        "status": "pending",
        "total": 1034.4,
        "currency": "EUR",
        "createdAt": "2026-12-03T18:00:00.000Z",
        "items": items,
        "shipping": {"street": "1 Harbour Way", "city": "Rotterdam", "zip": "3011", "country": "NL"},
    })
}

fn native(data: &JsonText, format: Format) -> usize {
    let mut out = Vec::new();
    encode_message_into(
        &mut out,
        &MessageRef {
            kind: MessageTag,
            room: "orders:live",
            event: CHANGE_EVENT,
            data,
            offset: 123_456,
            ts: Some(1_764_784_800_000),
        },
        format,
    );
    out.len()
}

fn socketio(data: &JsonText) -> usize {
    format!("42[\"{CHANGE_EVENT}\",{}]", data.as_str()).len()
}

fn main() {
    let mut doc = order();
    let key = doc["_id"].clone();
    doc["status"] = json!("paid");
    let upsert = Change {
        room: "orders:live".into(),
        key: key.clone(),
        kind: ChangeKind::Upsert { doc: doc.clone() },
    }
    .to_json();
    let mut p = Patch::default();
    p.set.insert("status".into(), json!("paid"));
    let patch = Change {
        room: "orders:live".into(),
        key,
        kind: ChangeKind::Patch(p),
    }
    .to_json();
    println!(
        "document: {} bytes of JSON",
        JsonText::from_value(&doc).len()
    );
    println!("| encoding | upsert (whole document) | patch (one field) | ratio |");
    println!("| --- | --- | --- | --- |");
    for (name, f) in [
        ("native JSON", Format::Json),
        ("native MessagePack", Format::MsgPack),
    ] {
        let (u, pt) = (native(&upsert, f), native(&patch, f));
        #[allow(clippy::cast_precision_loss)]
        let ratio = u as f64 / pt as f64;
        println!("| {name} | {u} | {pt} | {ratio:.1}× |");
    }
    let (u, pt) = (socketio(&upsert), socketio(&patch));
    #[allow(clippy::cast_precision_loss)]
    let ratio = u as f64 / pt as f64;
    println!("| Socket.IO packet | {u} | {pt} | {ratio:.1}× |");
}
