//! A stream's bytes to whole frames, with a finite size limit.

use bytes::{Buf, Bytes, BytesMut};

use super::{HEAD_LEN, Kind};

/// Why a stream's bytes are not valid frames. Each ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The head names no known kind.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The head announces more than the limit.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The announced payload length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// Collects a stream's bytes and hands out whole frames. It holds at most
/// one head and one payload of at most `max_payload` bytes, plus what one
/// read added.
#[derive(Debug)]
pub struct Decoder {
    /// Largest payload accepted.
    max_payload: usize,
    /// Bytes not yet part of a returned frame.
    buf: BytesMut,
}

impl Decoder {
    /// A decoder refusing payloads over `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload,
            buf: BytesMut::new(),
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `None` until one is complete.
    ///
    /// # Errors
    /// [`StreamError`] as soon as a head is bad; the stream must end.
    pub fn next_frame(&mut self) -> Result<Option<(Kind, Bytes)>, StreamError> {
        if self.buf.len() < HEAD_LEN {
            return Ok(None);
        }
        let kind = Kind::from_byte(self.buf[0]).ok_or(StreamError::UnknownKind(self.buf[0]))?;
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let len = len as usize;
        if len > self.max_payload {
            return Err(StreamError::TooLarge {
                len: len as u64,
                max: self.max_payload as u64,
            });
        }
        if self.buf.len() < HEAD_LEN + len {
            self.buf.reserve(HEAD_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEAD_LEN);
        Ok(Some((kind, self.buf.split_to(len).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole_and_in_order() {
        let mut wire = encode(Kind::Json, b"{\"op\":\"ping\"}");
        wire.extend(encode(Kind::MsgPack, &[0x80]));
        for cut in 0..=wire.len() {
            let mut d = Decoder::new(100);
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![
                    (Kind::Json, Bytes::from_static(b"{\"op\":\"ping\"}")),
                    (Kind::MsgPack, Bytes::from_static(&[0x80])),
                ],
                "cut at {cut}"
            );
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn an_oversized_head_is_refused_before_its_payload_arrives() {
        let mut d = Decoder::new(10);
        d.push(&super::super::head(Kind::Json, 11));
        assert_eq!(
            d.next_frame(),
            Err(StreamError::TooLarge { len: 11, max: 10 })
        );
        let mut d = Decoder::new(10);
        d.push(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(StreamError::TooLarge { .. })));
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let mut d = Decoder::new(10);
        d.push(&[7, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(StreamError::UnknownKind(7)));
    }

    #[test]
    fn a_frame_at_the_limit_is_accepted() {
        let mut d = Decoder::new(3);
        d.push(&encode(Kind::Json, b"abc"));
        assert_eq!(
            d.next_frame(),
            Ok(Some((Kind::Json, Bytes::from_static(b"abc"))))
        );
    }
}
