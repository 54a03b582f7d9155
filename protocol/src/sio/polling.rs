//! Engine.IO v4 HTTP long-polling payloads.
//!
//! A payload is one or more packets joined by the ASCII record separator
//! (`0x1e`). Text packets are written as on WebSocket (`4hello`); a binary
//! message is written as `b` followed by its bytes in standard base64.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::engineio::{EioData, EioError, EioPacket, decode_text, write_text};

/// The separator between packets of a polling payload.
pub const RECORD_SEPARATOR: char = '\x1e';

/// Standard alphabet; padding written, and optional when read.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a polling payload (a POST body from the client, or a GET
/// response for a client).
///
/// The length check runs first, so an oversized body costs no parsing.
///
/// # Errors
/// [`EioError::PayloadTooLarge`] when `payload` is longer than
/// `max_payload` bytes; otherwise the first packet's error:
/// [`EioError::Empty`] for an empty payload or an empty packet between
/// separators, [`EioError::BadBase64`], or any error of [`decode_text`].
pub fn decode_payload(payload: &str, max_payload: usize) -> Result<Vec<EioPacket>, EioError> {
    if payload.len() > max_payload {
        return Err(EioError::PayloadTooLarge {
            len: payload.len(),
            max: max_payload,
        });
    }
    payload
        .split(RECORD_SEPARATOR)
        .map(decode_polling_packet)
        .collect()
}

fn decode_polling_packet(packet: &str) -> Result<EioPacket, EioError> {
    match packet.strip_prefix('b') {
        Some(b64) => {
            let bytes = BASE64
                .decode(b64)
                .map_err(|e| EioError::BadBase64(e.to_string()))?;
            Ok(EioPacket::Message(EioData::Binary(bytes.into())))
        }
        None => decode_text(packet),
    }
}

/// Encodes packets as one polling payload.
///
/// Text messages must not contain a raw `0x1e` (Socket.IO's JSON never
/// does: JSON escapes control characters).
pub fn encode_payload(packets: &[EioPacket]) -> String {
    let mut out = String::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        if !write_text(packet, &mut out)
            && let EioPacket::Message(EioData::Binary(bytes)) = packet
        {
            out.push('b');
            BASE64.encode_string(bytes, &mut out);
        }
    }
    out
}

/// Joins already encoded Engine.IO text packets (such as the frames of
/// [`super::encode_event_frame`]) into one polling payload.
pub fn join_frames<S: AsRef<str>>(frames: &[S]) -> String {
    let len = frames.iter().map(|f| f.as_ref().len() + 1).sum();
    let mut out = String::with_capacity(len);
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        out.push_str(frame.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sio::engineio::tests::packet;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_spec_examples() {
        assert_eq!(
            decode_payload("4hello\x1e4€€€", 100).unwrap(),
            vec![EioPacket::text("hello"), EioPacket::text("€€€")]
        );
        assert_eq!(
            decode_payload("4hello\x1ebAQID", 100).unwrap(),
            vec![EioPacket::text("hello"), EioPacket::binary(vec![1u8, 2, 3])]
        );
        assert_eq!(
            decode_payload("2probe\x1e4hello\x1e1", 100).unwrap(),
            vec![
                EioPacket::Ping(Some("probe".into())),
                EioPacket::text("hello"),
                EioPacket::Close
            ]
        );
        assert_eq!(
            decode_payload("bAQIDBA", 100).unwrap(),
            vec![EioPacket::binary(vec![1u8, 2, 3, 4])]
        );
    }

    #[test]
    fn encodes_the_spec_examples() {
        assert_eq!(
            encode_payload(&[EioPacket::text("hello"), EioPacket::binary(vec![1u8, 2, 3])]),
            "4hello\x1ebAQID"
        );
        assert_eq!(
            encode_payload(&[EioPacket::binary(vec![1u8, 2, 3, 4])]),
            "bAQIDBA=="
        );
        assert_eq!(encode_payload(&[EioPacket::Noop]), "6");
        assert_eq!(encode_payload(&[]), "");
        assert_eq!(join_frames(&["42[\"a\"]", "3"]), "42[\"a\"]\x1e3");
    }

    #[test]
    fn each_bad_payload_gets_its_own_error() {
        assert_eq!(
            decode_payload("4hello", 5),
            Err(EioError::PayloadTooLarge { len: 6, max: 5 })
        );
        assert_eq!(decode_payload("", 5), Err(EioError::Empty));
        assert_eq!(decode_payload("4a\x1e\x1e4b", 50), Err(EioError::Empty));
        assert_eq!(decode_payload("4a\x1e", 50), Err(EioError::Empty));
        assert!(matches!(
            decode_payload("b!!!", 50),
            Err(EioError::BadBase64(_))
        ));
        assert_eq!(
            decode_payload("4a\x1e9", 50),
            Err(EioError::UnknownType('9'))
        );
    }

    proptest! {
        #[test]
        fn payloads_round_trip(packets in prop::collection::vec(packet(), 1..6)) {
            let payload = encode_payload(&packets);
            prop_assert_eq!(decode_payload(&payload, payload.len())?, packets);
        }

        #[test]
        fn arbitrary_payloads_never_panic(s in "[\\PC\u{1e}]{0,64}") {
            let _ = decode_payload(&s, 32);
        }
    }
}
