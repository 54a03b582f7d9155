//! Fuzz target: `backend::decode_reply` (an application backend's reply
//! to a CONNECT and to an event) and `sio::json_binary::extract_binary`
//! on every argument list a reply can carry.
//!
//! Properties: never a panic; a reply decodes the same after a
//! re-encode (floats within one unit in the last place); attachments stay within `MAX_ATTACHMENTS`; whenever
//! `extract_binary` succeeds, `inline_binary` gives the arguments back as
//! they were.

#![no_main]

use herald_protocol::backend::{ConnectReply, EmitBack, EventReply, decode_reply};
use herald_protocol::sio::MAX_ATTACHMENTS;
use herald_protocol::sio::json_binary::{extract_binary, inline_binary};
use herald_protocol_fuzz::same_json;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = decode_reply::<ConnectReply>(data) {
        check_emits(&reply.emits);
        if let Some(data) = &reply.data {
            let _ = serde_json::to_vec(data).expect("a decoded value encodes");
        }
    }
    if let Ok(reply) = decode_reply::<EventReply>(data) {
        check_emits(&reply.emits);
        if let Some(ack) = &reply.ack {
            check_args(ack);
        }
        let again = as_json(&reply);
        let bytes = serde_json::to_vec(&again).expect("encodes");
        let back: EventReply = decode_reply(&bytes).expect("a re-encoded reply decodes");
        // Floats within herald_protocol_fuzz::FLOAT_ULPS (docs/fuzzing.md).
        assert!(
            same_json(&as_json(&back), &again),
            "{again} came back as {back:?}"
        );
    }
});

fn check_emits(emits: &[EmitBack]) {
    for e in emits {
        check_args(&e.args);
    }
}

fn check_args(args: &[Value]) {
    let mut extracted = args.to_vec();
    let Ok(attachments) = extract_binary(&mut extracted, MAX_ATTACHMENTS) else {
        return;
    };
    assert!(attachments.len() <= MAX_ATTACHMENTS);
    let mut back = Value::Array(extracted);
    inline_binary(&mut back, &attachments);
    assert_eq!(back, Value::Array(args.to_vec()));
}

fn as_json(reply: &EventReply) -> Value {
    serde_json::json!({
        "ack": reply.ack,
        "emits": reply.emits.iter().map(|e| serde_json::json!({"event": e.event, "args": e.args})).collect::<Vec<_>>(),
        "join": reply.join,
        "leave": reply.leave,
    })
}
