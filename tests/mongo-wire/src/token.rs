//! Resume tokens.
//!
//! `_data` is uppercase hex of 18 bytes:
//! `0x82 | timestamp (8 bytes BE, time<<32 | increment) | seq (8 bytes BE) | kind (1 byte)`.
//! `seq` is the oplog sequence number of the last event at or before the position;
//! `kind` is 0 for an event, 1 for the invalidate that follows event `seq`, and 2 for a
//! high-water mark after event `seq`. Cluster times strictly increase with `seq`, and a
//! high-water mark's time is at least its event's time and below the next event's, so
//! byte-wise (and hex string) order equals oplog order. Resuming from any token returns
//! the events with a sequence number above `seq`.

use mongodb::bson::{Bson, Document, Timestamp, doc};

/// What position a token marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenKind {
    /// The event with sequence number `seq`.
    Event = 0,
    /// The invalidate that a stream emitted after event `seq`.
    Invalidate = 1,
    /// A high-water mark: all events up to `seq` were scanned.
    HighWater = 2,
}

/// A decoded resume token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeToken {
    /// Cluster time of the position.
    pub ts: Timestamp,
    /// Oplog sequence number of the last event at or before the position.
    pub seq: u64,
    /// What the position is.
    pub kind: TokenKind,
}

/// Why a token could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resume token: {0}")]
pub struct TokenError(pub &'static str);

const LEN: usize = 18;

impl ResumeToken {
    /// The `_data` hex string.
    pub fn to_hex(&self) -> String {
        let mut b = Vec::with_capacity(LEN);
        b.push(0x82);
        b.extend_from_slice(
            &((u64::from(self.ts.time) << 32) | u64::from(self.ts.increment)).to_be_bytes(),
        );
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.push(self.kind as u8);
        b.iter().map(|x| format!("{x:02X}")).collect()
    }

    /// The token document, `{_data: "<hex>"}`.
    pub fn to_doc(&self) -> Document {
        doc! {"_data": self.to_hex()}
    }

    /// Decodes a `_data` hex string.
    ///
    /// # Errors
    /// Wrong length, non-hex characters, a wrong prefix or kind.
    pub fn from_hex(s: &str) -> Result<Self, TokenError> {
        if s.len() != LEN * 2 || !s.is_ascii() {
            return Err(TokenError("wrong length"));
        }
        let mut b = [0u8; LEN];
        for (i, slot) in b.iter_mut().enumerate() {
            *slot =
                u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).map_err(|_| TokenError("not hex"))?;
        }
        if b[0] != 0x82 {
            return Err(TokenError("unknown format"));
        }
        let u = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[r]);
            u64::from_be_bytes(a)
        };
        let ts = u(1..9);
        let kind = match b[17] {
            0 => TokenKind::Event,
            1 => TokenKind::Invalidate,
            2 => TokenKind::HighWater,
            _ => return Err(TokenError("unknown kind")),
        };
        Ok(Self {
            ts: Timestamp {
                time: (ts >> 32) as u32,
                increment: ts as u32,
            },
            seq: u(9..17),
            kind,
        })
    }

    /// Decodes a token document `{_data: "<hex>"}`.
    ///
    /// # Errors
    /// A missing or non-string `_data`, or an undecodable string.
    pub fn from_doc(d: &Document) -> Result<Self, TokenError> {
        match d.get("_data") {
            Some(Bson::String(s)) => Self::from_hex(s),
            _ => Err(TokenError("missing _data string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(time: u32, increment: u32, seq: u64, kind: TokenKind) -> ResumeToken {
        ResumeToken {
            ts: Timestamp { time, increment },
            seq,
            kind,
        }
    }

    #[test]
    fn round_trip_and_order() {
        let toks = [
            t(5, 1, 1, TokenKind::Event),
            t(5, 1, 1, TokenKind::Invalidate),
            t(5, 1, 1, TokenKind::HighWater),
            t(5, 2, 2, TokenKind::Event),
            t(6, 0, 2, TokenKind::HighWater),
            t(6, 1, 3, TokenKind::Event),
        ];
        for w in toks.windows(2) {
            assert!(w[0].to_hex() < w[1].to_hex(), "{:?} !< {:?}", w[0], w[1]);
        }
        for tok in toks {
            let hex = tok.to_hex();
            assert!(hex.starts_with("82"));
            assert_eq!(ResumeToken::from_hex(&hex), Ok(tok));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "82",
            "zz",
            &"0".repeat(36),
            &format!("82{}", "0".repeat(32) + "07"),
        ] {
            assert!(ResumeToken::from_hex(bad).is_err(), "{bad}");
        }
        assert!(ResumeToken::from_doc(&doc! {"_data": 1}).is_err());
    }
}
