//! Encoding a broadcast event once for every Socket.IO client.
//!
//! The result is a complete Engine.IO text packet, `42["event",data]` (or
//! `42/nsp,["event",data]`), that serves unchanged as a WebSocket text
//! frame and as a polling packet (join several with
//! [`super::join_frames`]). With connection state recovery the room offset
//! travels as the last argument: `42["event",data,"offset"]`.

use std::fmt::Write as _;

use serde_json::Value;

use super::socketio::write_nsp;

/// Encodes one broadcast EVENT as an Engine.IO text packet.
///
/// `offset`, when given, is appended as the last argument.
pub fn encode_event_frame(nsp: &str, event: &str, data: &Value, offset: Option<&str>) -> String {
    let mut out = head(nsp, event, 64);
    // Writing into a String cannot fail.
    let _ = write!(out, "{data}");
    tail(out, offset)
}

/// Appends the packet [`encode_event_frame`] returns to `out` (which may
/// already hold bytes, such as room left for a WebSocket header), with the
/// data already JSON text (a bus payload, spliced as is).
///
/// `data_json` must be one valid JSON value; it is copied, not checked.
pub fn encode_event_frame_into(
    out: &mut String,
    nsp: &str,
    event: &str,
    data_json: &str,
    offset: Option<&str>,
) {
    out.reserve(8 + nsp.len() + event.len() + data_json.len() + 24);
    out.push_str("42");
    write_nsp(out, nsp);
    out.push('[');
    push_json_str(out, event);
    out.push(',');
    out.push_str(data_json);
    if let Some(offset) = offset {
        out.push(',');
        push_json_str(out, offset);
    }
    out.push(']');
}

/// Like [`encode_event_frame`], with the data already serialized as JSON.
///
/// `data_json` must be one valid JSON value; it is copied as is, not
/// checked.
pub fn encode_event_frame_json(
    nsp: &str,
    event: &str,
    data_json: &str,
    offset: Option<&str>,
) -> String {
    let mut out = head(nsp, event, data_json.len());
    out.push_str(data_json);
    tail(out, offset)
}

fn head(nsp: &str, event: &str, data_len: usize) -> String {
    let mut out = String::with_capacity(8 + nsp.len() + event.len() + data_len + 24);
    out.push_str("42");
    write_nsp(&mut out, nsp);
    out.push('[');
    push_json_str(&mut out, event);
    out.push(',');
    out
}

fn tail(mut out: String, offset: Option<&str>) -> String {
    if let Some(offset) = offset {
        out.push(',');
        push_json_str(&mut out, offset);
    }
    out.push(']');
    out
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_gives_the_same_packet() {
        let data = serde_json::json!({"a": [1, "x\"y"]});
        for (nsp, offset) in [("/", Some("7 e r")), ("/admin", None)] {
            let mut out = String::from("##");
            encode_event_frame_into(&mut out, nsp, "ev\n", &data.to_string(), offset);
            assert_eq!(&out[2..], encode_event_frame(nsp, "ev\n", &data, offset));
        }
    }
    use crate::sio::engineio::{EioData, EioPacket, decode_text as decode_eio};
    use crate::sio::socketio::{SioDecoded, SioPacket, decode_text, encode_frame};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn writes_the_frame_a_socket_io_client_expects() {
        let data = json!({"n": 1});
        assert_eq!(
            encode_event_frame("/", "update", &data, None),
            r#"42["update",{"n":1}]"#
        );
        assert_eq!(
            encode_event_frame("/", "update", &data, Some("e1-7")),
            r#"42["update",{"n":1},"e1-7"]"#
        );
        assert_eq!(
            encode_event_frame_json("/admin", "a\"b", "[1,2]", Some("x")),
            r#"42/admin,["a\"b",[1,2],"x"]"#
        );
    }

    fn decode_frame(frame: &str) -> SioPacket {
        let EioPacket::Message(EioData::Text(text)) = decode_eio(frame).unwrap() else {
            panic!("not a message")
        };
        let SioDecoded::Packet(p) = decode_text(&text).unwrap() else {
            panic!("binary")
        };
        p
    }

    proptest! {
        #[test]
        fn matches_the_general_encoder(
            nsp in prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"],
            event in "\\PC{1,12}".prop_filter("reserved", |e| !crate::sio::RESERVED_EVENTS.contains(&e.as_str())),
            n in any::<i64>(),
            text in "[\\PC\u{0}-\u{1f}]{0,12}",
            offset in prop::option::of("[\\PC\u{0}-\u{1f}]{0,12}"),
        ) {
            let data = json!({"n": n, "s": text});
            let frame = encode_event_frame(&nsp, &event, &data, offset.as_deref());
            let mut args = vec![data.clone()];
            args.extend(offset.clone().map(Value::String));
            let expected = SioPacket::event(nsp.clone(), &event, args);
            prop_assert_eq!(&frame, &encode_frame(&expected).0);
            prop_assert_eq!(decode_frame(&frame), expected);
            prop_assert_eq!(encode_event_frame_json(&nsp, &event, &data.to_string(), offset.as_deref()), frame);
        }
    }
}
