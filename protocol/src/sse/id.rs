//! The stream position id: where an SSE stream stands in every one of its
//! rooms, in one `id:` field (EventSource keeps only the last one and
//! sends it back as `Last-Event-ID` when it reconnects).
//!
//! ```text
//! id     = entry *( "-" entry )          one entry per room, in the stream's room order
//! entry  = "" / offset "." check         empty: no position in that room
//! offset = base36 u64                    the last offset the client holds
//! check  = base36 u32                    epoch_check(room, epoch)
//! ```
//!
//! Base36 digits are `0-9a-z`, lowercase, without leading zeros (`0` is
//! zero). An id is at most [`MAX_ENTRIES`] entries and [`MAX_ID_BYTES`]
//! bytes; every character is URL-safe, so the same text is the `since`
//! query parameter. The check is 32 bits of FNV-1a over the room name, a
//! zero byte and the epoch: a position from another epoch (or given for
//! another room) fails it, and the gateway answers with a reset instead
//! of a recovery. An entry is at most 21 bytes (13 for a `u64`, 7 for a
//! `u32`, the dot), so a 64-room stream's id fits in 1.4 KB; a typical
//! entry (offset below 46,656, any epoch) is at most 11.

/// Most rooms one id can name.
pub const MAX_ENTRIES: usize = 256;

/// Longest entry: a `u64` and a `u32` in base36, and the dot.
pub const MAX_ENTRY_BYTES: usize = 13 + 1 + 7;

/// Longest id: [`MAX_ENTRIES`] entries of [`MAX_ENTRY_BYTES`] and their
/// separators.
pub const MAX_ID_BYTES: usize = MAX_ENTRIES * (MAX_ENTRY_BYTES + 1) - 1;

/// One room's position in an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The last offset the client holds (0: none yet).
    pub offset: u64,
    /// [`epoch_check`] of the room and the offset's epoch.
    pub check: u32,
}

/// Why an id (or a `since` parameter) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Longer than [`MAX_ID_BYTES`].
    #[error("the stream id is {0} bytes, more than the {MAX_ID_BYTES} allowed")]
    TooLong(usize),
    /// Not one entry per room of the stream.
    #[error("the stream id has {found} entries; this stream has {expected} rooms")]
    Count {
        /// The stream's rooms.
        expected: usize,
        /// Entries in the id.
        found: usize,
    },
    /// An entry is not `offset.check` in canonical base36.
    #[error("entry {0} of the stream id is not offset.check in lowercase base36")]
    BadEntry(usize),
}

/// The check of `epoch` in `room`: 32-bit FNV-1a over the room's bytes, a
/// zero byte, and the epoch's bytes.
pub fn epoch_check(room: &str, epoch: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let bytes = room.as_bytes().iter().chain(&[0u8]).chain(epoch.as_bytes());
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn push_base36(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 13];
    let mut i = digits.len();
    loop {
        i -= 1;
        let d = (n % 36) as u8;
        digits[i] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A canonical base36 number no larger than `max`, or `None`.
fn parse_base36(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            _ => return None,
        };
        n = n.checked_mul(36)?.checked_add(u64::from(d))?;
    }
    (n <= max).then_some(n)
}

/// Appends the id of `entries` (in the stream's room order) to `out`.
pub fn encode_id(entries: impl IntoIterator<Item = Option<Entry>>, out: &mut Vec<u8>) {
    for (i, e) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        if let Some(e) = e {
            push_base36(e.offset, out);
            out.push(b'.');
            push_base36(u64::from(e.check), out);
        }
    }
}

/// Reads the id of a stream of `rooms` rooms: one entry per room, in
/// order. An empty id (a stream that never wrote one) is no position in
/// any room.
///
/// # Errors
/// [`IdError`] when the id is too long, has another number of entries, or
/// an entry is not canonical `offset.check`.
pub fn decode_id(id: &[u8], rooms: usize) -> Result<Vec<Option<Entry>>, IdError> {
    if id.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong(id.len()));
    }
    if id.is_empty() {
        return Ok(vec![None; rooms]);
    }
    let found = id.iter().filter(|&&c| c == b'-').count() + 1;
    if found != rooms {
        return Err(IdError::Count {
            expected: rooms,
            found,
        });
    }
    id.split(|&c| c == b'-')
        .enumerate()
        .map(|(i, part)| {
            if part.is_empty() {
                return Ok(None);
            }
            let dot = part
                .iter()
                .position(|&c| c == b'.')
                .ok_or(IdError::BadEntry(i))?;
            let offset = parse_base36(&part[..dot], u64::MAX).ok_or(IdError::BadEntry(i))?;
            let check =
                parse_base36(&part[dot + 1..], u64::from(u32::MAX)).ok_or(IdError::BadEntry(i))?;
            Ok(Some(Entry {
                offset,
                check: check as u32,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(entries: &[Option<Entry>]) -> String {
        let mut out = Vec::new();
        encode_id(entries.iter().copied(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn e(offset: u64, check: u32) -> Option<Entry> {
        Some(Entry { offset, check })
    }

    #[test]
    fn entries_encode_in_order_and_decode_back() {
        let entries = [e(41, 7), None, e(0, 0), e(u64::MAX, u32::MAX)];
        let text = id(&entries);
        assert_eq!(text, "15.7--0.0-3w5e11264sgsf.1z141z3");
        assert_eq!(decode_id(text.as_bytes(), 4), Ok(entries.to_vec()));
    }

    #[test]
    fn the_longest_id_fits_the_bound() {
        let entries = vec![e(u64::MAX, u32::MAX); MAX_ENTRIES];
        let text = id(&entries);
        assert_eq!(text.len(), MAX_ID_BYTES);
        assert_eq!(decode_id(text.as_bytes(), MAX_ENTRIES), Ok(entries));
        let longer = format!("{text}-");
        assert_eq!(
            decode_id(longer.as_bytes(), MAX_ENTRIES + 1),
            Err(IdError::TooLong(MAX_ID_BYTES + 1))
        );
    }

    #[test]
    fn an_empty_id_is_no_position_anywhere() {
        assert_eq!(decode_id(b"", 3), Ok(vec![None; 3]));
        assert_eq!(decode_id(b"--", 3), Ok(vec![None; 3]));
    }

    #[test]
    fn malformed_ids_are_refused_never_a_panic() {
        let count = |found| Err(IdError::Count { expected: 2, found });
        assert_eq!(decode_id(b"1.2", 2), count(1));
        assert_eq!(decode_id(b"1.2-3.4-5.6", 2), count(3));
        for bad in [
            &b"1-2.3"[..],
            b"01.2-",
            b"1.02-",
            b"A.2-",
            b"1.-",
            b".1-",
            b"1.2.3-",
            b"1.1z141z4-",
            b"3w5e11264sgsg.1-",
            b"1 .2-",
        ] {
            assert!(
                matches!(decode_id(bad, 2), Err(IdError::BadEntry(0))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_check_depends_on_room_and_epoch() {
        let a = epoch_check("r", "e1");
        assert_eq!(a, epoch_check("r", "e1"));
        assert_ne!(a, epoch_check("r", "e2"));
        assert_ne!(a, epoch_check("s", "e1"));
        // The vector herald.js's test checks too (tests/js/herald-sse.test.mjs).
        assert_eq!(epoch_check("dashboard:sales", "m1f9"), 2_600_035_860);
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(epoch_check("ab", "c"), epoch_check("a", "bc"));
    }

    #[test]
    fn ids_are_url_safe() {
        let text = id(&[e(123_456, epoch_check("x", "y")), None, e(1, 2)]);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        );
    }
}
