//! Reassembling binary Socket.IO packets from their Engine.IO messages.
//!
//! A BINARY_EVENT or BINARY_ACK arrives as a text header announcing `N`
//! attachments, then exactly `N` binary messages. [`BinaryAssembler`] holds
//! at most one pending packet and at most `max_attachments` buffers, each as
//! large as the transport allows, so a peer cannot make it grow further.

use bytes::Bytes;

use super::socketio::{MAX_ATTACHMENTS, SioDecoded, SioError, SioPacket, decode_text_with};

/// Turns a stream of Engine.IO messages into complete Socket.IO packets.
///
/// Feed every text message to [`handle_text`](Self::handle_text) and every
/// binary message to [`handle_binary`](Self::handle_binary); each returns a
/// packet once it is complete. After an error the assembler is reset; the
/// caller usually closes the connection.
#[derive(Debug, Clone)]
pub struct BinaryAssembler {
    /// The most attachments one packet may announce.
    max_attachments: usize,
    /// The binary packet being completed, and how many attachments it needs.
    pending: Option<(SioPacket, usize)>,
}

impl Default for BinaryAssembler {
    fn default() -> Self {
        Self::new(MAX_ATTACHMENTS)
    }
}

impl BinaryAssembler {
    /// An assembler refusing packets that announce more than
    /// `max_attachments` attachments.
    pub fn new(max_attachments: usize) -> Self {
        Self {
            max_attachments,
            pending: None,
        }
    }

    /// Takes a text message. Returns the packet when it is complete, or
    /// `None` when it is a binary header waiting for attachments.
    ///
    /// # Errors
    /// [`SioError::UnexpectedText`] while a binary packet is incomplete, or
    /// any error of [`super::decode_text`].
    pub fn handle_text(&mut self, text: &str) -> Result<Option<SioPacket>, SioError> {
        if let Some((packet, count)) = self.pending.take() {
            return Err(SioError::UnexpectedText {
                missing: count - packet.attachments.len(),
            });
        }
        match decode_text_with(text, self.max_attachments)? {
            SioDecoded::Packet(packet) => Ok(Some(packet)),
            SioDecoded::NeedsAttachments { mut packet, count } => {
                packet.attachments.reserve_exact(count);
                self.pending = Some((packet, count));
                Ok(None)
            }
        }
    }

    /// Takes a binary message. Returns the packet when this was its last
    /// attachment.
    ///
    /// # Errors
    /// [`SioError::UnexpectedBinary`] when no binary packet is pending.
    pub fn handle_binary(&mut self, bytes: Bytes) -> Result<Option<SioPacket>, SioError> {
        let Some((packet, count)) = self.pending.as_mut() else {
            return Err(SioError::UnexpectedBinary);
        };
        packet.attachments.push(bytes);
        if packet.attachments.len() < *count {
            return Ok(None);
        }
        Ok(self.pending.take().map(|(packet, _)| packet))
    }

    /// How many attachments the pending packet still needs (0 when none is
    /// pending).
    pub fn missing(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |(p, count)| count - p.attachments.len())
    }

    /// Drops the pending packet, if any.
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sio::socketio::{SioKind, encode, placeholder};
    use serde_json::json;

    #[test]
    fn reassembles_the_spec_binary_event() {
        let mut asm = BinaryAssembler::default();
        assert_eq!(
            asm.handle_text(r#"51-["bin",{"_placeholder":true,"num":0}]"#)
                .unwrap(),
            None
        );
        assert_eq!(asm.missing(), 1);
        let p = asm
            .handle_binary(Bytes::from_static(&[1, 2, 3]))
            .unwrap()
            .unwrap();
        assert_eq!(p.kind, SioKind::Event);
        assert_eq!(p.event_name(), Some("bin"));
        assert_eq!(p.attachments, vec![Bytes::from_static(&[1, 2, 3])]);
        assert_eq!(asm.missing(), 0);
        // Plain packets pass straight through.
        assert_eq!(
            asm.handle_text(r#"2["x"]"#).unwrap().unwrap().event_name(),
            Some("x")
        );
    }

    #[test]
    fn round_trips_through_encode() {
        let mut p = SioPacket::ack(
            "/admin",
            7,
            vec![placeholder(1), json!("x"), placeholder(0)],
        );
        p.attachments = vec![Bytes::from_static(b"a"), Bytes::from_static(b"bb")];
        let (text, bins) = encode(&p);
        assert_eq!(
            text,
            r#"62-/admin,7[{"_placeholder":true,"num":1},"x",{"_placeholder":true,"num":0}]"#
        );
        let mut asm = BinaryAssembler::default();
        assert_eq!(asm.handle_text(&text).unwrap(), None);
        assert_eq!(asm.handle_binary(bins[0].clone()).unwrap(), None);
        assert_eq!(asm.handle_binary(bins[1].clone()).unwrap(), Some(p));
    }

    #[test]
    fn out_of_order_messages_are_errors() {
        let mut asm = BinaryAssembler::default();
        assert_eq!(
            asm.handle_binary(Bytes::new()),
            Err(SioError::UnexpectedBinary)
        );
        asm.handle_text(r#"52-["b",{"_placeholder":true,"num":1}]"#)
            .unwrap();
        asm.handle_binary(Bytes::new()).unwrap();
        assert_eq!(
            asm.handle_text(r#"2["x"]"#),
            Err(SioError::UnexpectedText { missing: 1 })
        );
        // The error reset the assembler.
        assert_eq!(asm.missing(), 0);
        assert_eq!(
            asm.handle_binary(Bytes::new()),
            Err(SioError::UnexpectedBinary)
        );
        asm.handle_text(r#"51-["b",{"_placeholder":true,"num":0}]"#)
            .unwrap();
        asm.reset();
        assert_eq!(asm.missing(), 0);
    }

    #[test]
    fn the_attachment_limit_is_configurable() {
        let mut asm = BinaryAssembler::new(2);
        assert_eq!(
            asm.handle_text(r#"53-["b",{"_placeholder":true,"num":0}]"#),
            Err(SioError::TooManyAttachments { count: 3, max: 2 })
        );
        assert_eq!(asm.missing(), 0);
    }
}
