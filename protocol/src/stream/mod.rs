//! Herald's native protocol on a byte stream (a QUIC or WebTransport
//! bidirectional stream): each frame is a 5-byte head, then its payload.
//!
//! ```text
//! +--------+----------------------------+------------------------+
//! | kind   | length (u32, big-endian)   | payload (length bytes) |
//! | 1 byte | 4 bytes                    |                        |
//! +--------+----------------------------+------------------------+
//! ```
//!
//! `kind` is [`Kind::Json`] (1: the payload is a JSON native frame) or
//! [`Kind::MsgPack`] (2: a MessagePack one), the same choice a WebSocket
//! makes with its text and binary opcodes. A stream may mix them; the
//! gateway answers in the kind the client last sent. Any other kind, and
//! any length over the limit, is an error that ends the stream
//! (`docs/protocol.md`, "Transports").

mod decoder;

pub use decoder::{Decoder, StreamError};

use crate::native::Format;

/// Bytes in a frame's head.
pub const HEAD_LEN: usize = 5;

/// What a frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A native frame as JSON text.
    Json,
    /// A native frame as MessagePack.
    MsgPack,
}

impl Kind {
    /// The byte that names this kind on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Self::Json => 1,
            Self::MsgPack => 2,
        }
    }

    /// The kind a head's first byte names, if any.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Json),
            2 => Some(Self::MsgPack),
            _ => None,
        }
    }

    /// The native encoding of this kind's payloads.
    pub fn format(self) -> Format {
        match self {
            Self::Json => Format::Json,
            Self::MsgPack => Format::MsgPack,
        }
    }

    /// The kind that carries `format`.
    pub fn of(format: Format) -> Self {
        match format {
            Format::Json => Self::Json,
            Format::MsgPack => Self::MsgPack,
        }
    }
}

/// The head of a frame of `kind` whose payload is `len` bytes.
///
/// # Panics
/// If `len` does not fit in 32 bits (no native frame comes near).
pub fn head(kind: Kind, len: usize) -> [u8; HEAD_LEN] {
    let len = u32::try_from(len).expect("a stream frame's payload fits in 32 bits");
    let l = len.to_be_bytes();
    [kind.byte(), l[0], l[1], l[2], l[3]]
}

/// Appends one whole frame to `out`.
pub fn encode_into(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEAD_LEN + payload.len());
    out.extend_from_slice(&head(kind, payload.len()));
    out.extend_from_slice(payload);
}

/// One whole frame.
pub fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(kind, payload, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_its_kind_its_length_and_its_payload() {
        assert_eq!(encode(Kind::Json, b"{}"), b"\x01\x00\x00\x00\x02{}");
        assert_eq!(encode(Kind::MsgPack, b""), b"\x02\x00\x00\x00\x00");
    }

    #[test]
    fn kinds_round_trip_through_their_byte_and_format() {
        for k in [Kind::Json, Kind::MsgPack] {
            assert_eq!(Kind::from_byte(k.byte()), Some(k));
            assert_eq!(Kind::of(k.format()), k);
        }
        assert_eq!(Kind::from_byte(0), None);
        assert_eq!(Kind::from_byte(3), None);
    }
}
