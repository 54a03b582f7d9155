//! Client frames to whole messages.

use bytes::{Bytes, BytesMut};

use super::close::{self, CloseFrame};
use super::frame::{self, Opcode, Parsed, WsError};

/// Size limits a peer cannot pass.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame payload accepted.
    pub max_frame: u64,
    /// Largest message (all fragments together) accepted.
    pub max_message: u64,
}

/// A whole message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message, checked to be UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the server answers with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The client starts (or answers) the close handshake.
    Close(Option<CloseFrame>),
}

impl WsMessage {
    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            // Checked when the message was assembled.
            Self::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// Turns a client's bytes into messages: one per call to
/// [`Assembler::decode`], with fragments held until their message ends.
#[derive(Debug)]
pub struct Assembler {
    /// The limits.
    limits: Limits,
    /// A fragmented message still arriving: its opcode and payload so far.
    partial: Option<(Opcode, BytesMut)>,
}

/// What one call to [`Assembler::decode`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used; the caller drops them. 0 means the next
    /// frame is not complete yet: read more and call again with the
    /// unused bytes first.
    pub consumed: usize,
    /// The message that frame completed, if it did.
    pub message: Option<WsMessage>,
}

impl Assembler {
    /// An assembler with nothing pending.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            partial: None,
        }
    }

    /// Whether a fragmented message is part-way through.
    pub fn in_message(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes at most one frame from the front of `buf`, unmasking it in
    /// place.
    ///
    /// # Errors
    /// [`WsError`]: the connection must be closed with its
    /// [`WsError::close_code`]. Nothing more may be decoded afterwards.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<Decoded, WsError> {
        let incomplete = Decoded {
            consumed: 0,
            message: None,
        };
        let h = match frame::parse(buf, self.limits.max_frame)? {
            Parsed::Incomplete => return Ok(incomplete),
            Parsed::Header(h) => h,
        };
        // `h.len` is at most `max_frame`, which the caller's buffer can hold.
        let len = usize::try_from(h.len).map_err(|_| WsError::TooLarge {
            what: "frame",
            size: h.len,
            limit: self.limits.max_frame,
        })?;
        let end = h.header_len + len;
        let Some(payload) = buf.get_mut(h.header_len..end) else {
            return Ok(incomplete);
        };
        frame::unmask(payload, h.mask, 0);
        let payload = &*payload;
        let message = match h.opcode {
            Opcode::Ping => Some(WsMessage::Ping(Bytes::copy_from_slice(payload))),
            Opcode::Pong => Some(WsMessage::Pong(Bytes::copy_from_slice(payload))),
            Opcode::Close => Some(WsMessage::Close(close::parse(payload)?)),
            Opcode::Text | Opcode::Binary => {
                if self.partial.is_some() {
                    return Err(WsError::Protocol(
                        "a new message began before the fragmented one ended",
                    ));
                }
                self.check_message(len as u64)?;
                if h.fin {
                    Some(finish(h.opcode, Bytes::copy_from_slice(payload))?)
                } else {
                    self.partial = Some((h.opcode, BytesMut::from(payload)));
                    None
                }
            }
            Opcode::Continuation => {
                let Some((_, so_far)) = self.partial.as_ref() else {
                    return Err(WsError::Protocol("a continuation frame with no message"));
                };
                self.check_message(so_far.len() as u64 + len as u64)?;
                let Some((opcode, mut so_far)) = self.partial.take() else {
                    return Err(WsError::Protocol("a continuation frame with no message"));
                };
                so_far.extend_from_slice(payload);
                if h.fin {
                    Some(finish(opcode, so_far.freeze())?)
                } else {
                    self.partial = Some((opcode, so_far));
                    None
                }
            }
        };
        Ok(Decoded {
            consumed: end,
            message,
        })
    }

    fn check_message(&self, size: u64) -> Result<(), WsError> {
        if size > self.limits.max_message {
            return Err(WsError::TooLarge {
                what: "message",
                size,
                limit: self.limits.max_message,
            });
        }
        Ok(())
    }
}

fn finish(opcode: Opcode, payload: Bytes) -> Result<WsMessage, WsError> {
    if opcode == Opcode::Text {
        std::str::from_utf8(&payload).map_err(|_| WsError::InvalidUtf8)?;
        Ok(WsMessage::Text(payload))
    } else {
        Ok(WsMessage::Binary(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::unmask;

    fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![(u8::from(fin) << 7) | opcode.bits()];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        unmask(&mut p, mask, 0);
        out.extend_from_slice(&p);
        out
    }

    fn assembler() -> Assembler {
        Assembler::new(Limits {
            max_frame: 1000,
            max_message: 2000,
        })
    }

    /// Feeds `bytes` in pieces of `step`, as reads would deliver them.
    fn feed(a: &mut Assembler, bytes: &[u8], step: usize) -> Result<Vec<WsMessage>, WsError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(step.max(1)) {
            buf.extend_from_slice(chunk);
            loop {
                let d = a.decode(&mut buf)?;
                if d.consumed == 0 {
                    break;
                }
                buf.drain(..d.consumed);
                out.extend(d.message);
            }
        }
        Ok(out)
    }

    #[test]
    fn a_fragmented_text_with_a_ping_between_assembles_at_any_read_size() {
        let mut bytes = client_frame(false, Opcode::Text, "hé".as_bytes());
        bytes.extend(client_frame(true, Opcode::Ping, b"p"));
        bytes.extend(client_frame(true, Opcode::Continuation, "llo".as_bytes()));
        bytes.extend(client_frame(true, Opcode::Binary, &[1, 2, 3]));
        for step in [1, 2, 3, 7, 1000] {
            let got = feed(&mut assembler(), &bytes, step).unwrap();
            assert_eq!(
                got,
                vec![
                    WsMessage::Ping(Bytes::from_static(b"p")),
                    WsMessage::Text(Bytes::from("héllo".as_bytes())),
                    WsMessage::Binary(Bytes::from_static(&[1, 2, 3])),
                ],
                "read size {step}"
            );
        }
    }

    #[test]
    fn invalid_utf8_split_across_fragments_is_refused_with_1007() {
        let mut bytes = client_frame(false, Opcode::Text, &[0xC3]);
        bytes.extend(client_frame(true, Opcode::Continuation, &[0x28]));
        let e = feed(&mut assembler(), &bytes, 100).unwrap_err();
        assert_eq!(e.close_code(), 1007);
        // A character split across fragments is fine.
        let mut ok = client_frame(false, Opcode::Text, &[0xC3]);
        ok.extend(client_frame(true, Opcode::Continuation, &[0xA9]));
        assert_eq!(
            feed(&mut assembler(), &ok, 100).unwrap()[0].as_text(),
            Some("é")
        );
    }

    #[test]
    fn messages_past_the_limit_and_bad_sequences_are_refused() {
        let mut bytes = client_frame(false, Opcode::Binary, &[0u8; 900]);
        for _ in 0..2 {
            bytes.extend(client_frame(false, Opcode::Continuation, &[0u8; 900]));
        }
        let mut a = assembler();
        let e = feed(&mut a, &bytes, 5000).unwrap_err();
        assert_eq!(e.close_code(), 1009);
        let stray = client_frame(true, Opcode::Continuation, b"x");
        assert!(matches!(
            feed(&mut assembler(), &stray, 100),
            Err(WsError::Protocol(_))
        ));
        let mut interleaved = client_frame(false, Opcode::Text, b"a");
        interleaved.extend(client_frame(true, Opcode::Text, b"b"));
        assert!(matches!(
            feed(&mut assembler(), &interleaved, 100),
            Err(WsError::Protocol(_))
        ));
    }

    #[test]
    fn close_frames_carry_their_code() {
        let mut payload = 1001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let got = feed(
            &mut assembler(),
            &client_frame(true, Opcode::Close, &payload),
            3,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![WsMessage::Close(Some(CloseFrame {
                code: 1001,
                reason: "bye".into()
            }))]
        );
        let empty = feed(&mut assembler(), &client_frame(true, Opcode::Close, b""), 3).unwrap();
        assert_eq!(empty, vec![WsMessage::Close(None)]);
    }
}
