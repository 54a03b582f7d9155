//! Close frames: the payload a peer sends, and the one the server sends.

use bytes::Bytes;

use super::frame::{Opcode, WsError, encode};

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code.
    pub code: u16,
    /// The reason, UTF-8, at most 123 bytes.
    pub reason: String,
}

/// Whether a peer may send `code` in a close frame (RFC 6455 §7.4).
pub fn valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Parses a close frame's payload: empty, or a code and a UTF-8 reason.
///
/// # Errors
/// [`WsError::Protocol`] for a one-byte payload or a code a peer may not
/// send; [`WsError::InvalidUtf8`] for a reason that is not UTF-8.
pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("a close payload of one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !valid_code(code) {
                return Err(WsError::Protocol("a close code peers may not send"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// The server's close frame with `code` and `reason` (cut to 123 bytes at
/// a character boundary).
pub fn frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(Opcode::Close, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_peers_may_not_send_are_refused() {
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
            assert!(parse(&bad.to_be_bytes()).is_err(), "{bad}");
        }
        assert!(parse(&[0x03]).is_err());
        assert!(parse(&[0x03, 0xE8, 0xFF]).is_err());
        assert_eq!(parse(&4002u16.to_be_bytes()).unwrap().unwrap().code, 4002);
    }

    #[test]
    fn the_server_frame_cuts_long_reasons_at_a_char_boundary() {
        let long = "é".repeat(100);
        let f = frame(4001, &long);
        // 2-byte header, 2-byte code, at most 123 bytes of reason.
        assert!(f.len() <= 2 + 2 + 123);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
        assert_eq!(&f[..4], &[0x88, (f.len() - 2) as u8, 0x0F, 0xA1]);
    }
}
