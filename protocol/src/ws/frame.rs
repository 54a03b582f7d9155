//! One WebSocket frame: parsing a client frame's header and encoding the
//! server's (unmasked) frames.

use bytes::{BufMut, Bytes, BytesMut};

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A continuation of a fragmented message.
    Continuation,
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// The close handshake.
    Close,
    /// A ping, answered with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    /// The opcode's 4-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control frame (close, ping, pong).
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Why a client's bytes are not acceptable WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A frame or message is larger than allowed (close code 1009).
    #[error("{what} of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// "frame" or "message".
        what: &'static str,
        /// Its size (or the size it would reach).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The frames break the protocol (close code 1002).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// A text message or close reason is not UTF-8 (close code 1007).
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
}

impl WsError {
    /// The close code a server answers this error with.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 1009,
            Self::Protocol(_) => 1002,
            Self::InvalidUtf8 => 1007,
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The FIN bit: the last frame of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key (client frames always have one).
    pub mask: [u8; 4],
    /// The payload's length.
    pub len: u64,
    /// The header's own length in bytes.
    pub header_len: usize,
}

/// The outcome of [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed before the header can be read.
    Incomplete,
    /// A complete header; the payload may still be partly unread.
    Header(Header),
}

/// Parses a client frame's header from the start of `buf`.
///
/// # Errors
/// [`WsError::Protocol`] for reserved bits, an unknown opcode, an unmasked
/// frame, a bad length encoding or a fragmented or oversized control
/// frame; [`WsError::TooLarge`] when the payload passes `max_frame`.
pub fn parse(buf: &[u8], max_frame: u64) -> Result<Parsed, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(Parsed::Incomplete);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set without an extension"));
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(WsError::Protocol("unknown opcode"))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("client frames must be masked"));
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(Parsed::Incomplete);
            };
            let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
            if len < 126 {
                return Err(WsError::Protocol("length not minimally encoded"));
            }
            (len, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(Parsed::Incomplete);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let len = u64::from_be_bytes(a);
            if len >> 63 != 0 {
                return Err(WsError::Protocol("length has its high bit set"));
            }
            if len <= u64::from(u16::MAX) {
                return Err(WsError::Protocol("length not minimally encoded"));
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > 125) {
        return Err(WsError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    if len > max_frame {
        return Err(WsError::TooLarge {
            what: "frame",
            size: len,
            limit: max_frame,
        });
    }
    let Some(m) = buf.get(at..at + 4) else {
        return Ok(Parsed::Incomplete);
    };
    let mask = [m[0], m[1], m[2], m[3]];
    at += 4;
    Ok(Parsed::Header(Header {
        fin,
        opcode,
        mask,
        len,
        header_len: at,
    }))
}

/// Unmasks `payload` in place; `offset` is the payload position of its
/// first byte (for a payload unmasked in pieces).
pub fn unmask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[(offset + i) & 3];
    }
}

/// The header of an unmasked, final server frame of `len` payload bytes,
/// written into `out`; returns how many bytes it took (2, 4 or 10).
pub fn header(opcode: Opcode, len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A whole unmasked server frame: header and payload in one buffer, ready
/// to be written to any number of sockets.
pub fn encode(opcode: Opcode, payload: &[u8]) -> Bytes {
    let mut h = [0u8; 10];
    let n = header(opcode, payload.len(), &mut h);
    let mut out = BytesMut::with_capacity(n + payload.len());
    out.put_slice(&h[..n]);
    out.put_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    pub fn client_frame(fin: bool, opcode: Opcode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode.bits()];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        unmask(&mut p, mask, 0);
        out.extend_from_slice(&p);
        out
    }

    #[test]
    fn server_headers_use_the_shortest_length_form() {
        let mut h = [0u8; 10];
        assert_eq!(header(Opcode::Text, 5, &mut h), 2);
        assert_eq!(&h[..2], &[0x81, 5]);
        assert_eq!(header(Opcode::Binary, 300, &mut h), 4);
        assert_eq!(&h[..4], &[0x82, 126, 1, 44]);
        assert_eq!(header(Opcode::Text, 70_000, &mut h), 10);
        assert_eq!(&h[..2], &[0x81, 127]);
        assert_eq!(encode(Opcode::Pong, b"hi").as_ref(), &[0x8A, 2, b'h', b'i']);
    }

    #[test]
    fn client_headers_parse_in_every_length_form() {
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let f = client_frame(true, Opcode::Binary, &vec![7u8; len], [1, 2, 3, 4]);
            let Parsed::Header(h) = parse(&f, 1 << 20).unwrap() else {
                panic!("incomplete at {len}")
            };
            assert_eq!(h.len as usize, len);
            assert_eq!(h.header_len + len, f.len());
            // Every strict prefix of the header is incomplete, never an error.
            for cut in 0..h.header_len {
                assert_eq!(parse(&f[..cut], 1 << 20), Ok(Parsed::Incomplete));
            }
        }
    }

    #[test]
    fn bad_headers_are_refused_with_their_close_code() {
        let unmasked = [0x81u8, 0x03, b'a', b'b', b'c'];
        assert_eq!(parse(&unmasked, 100).unwrap_err().close_code(), 1002);
        let rsv = [0xC1u8, 0x80, 0, 0, 0, 0];
        assert!(matches!(parse(&rsv, 100), Err(WsError::Protocol(_))));
        let opcode = [0x83u8, 0x80, 0, 0, 0, 0];
        assert!(matches!(parse(&opcode, 100), Err(WsError::Protocol(_))));
        let fragmented_ping = [0x09u8, 0x80, 0, 0, 0, 0];
        assert!(matches!(
            parse(&fragmented_ping, 100),
            Err(WsError::Protocol(_))
        ));
        let big = client_frame(true, Opcode::Text, &[b'x'; 200], [0; 4]);
        assert_eq!(parse(&big, 100).unwrap_err().close_code(), 1009);
        let not_minimal = [0x82u8, 0x80 | 126, 0, 5, 0, 0, 0, 0];
        assert!(matches!(
            parse(&not_minimal, 100),
            Err(WsError::Protocol(_))
        ));
    }
}
