//! Herald's connection state recovery offset, the last argument of every
//! message event when recovery is on: `"<offset> <epoch> <room>"`. A
//! reconnecting client sends the last one it got back in its CONNECT, so
//! it is client input. Spaces cannot occur in room names or epochs.

/// The offset argument of a message event: `"<offset> <epoch> <room>"`.
pub fn offset_string(offset: u64, epoch: &str, room: &str) -> String {
    format!("{offset} {epoch} {room}")
}

/// A parsed offset argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOffset<'a> {
    /// The message's offset in its room.
    pub offset: u64,
    /// The room's epoch.
    pub epoch: &'a str,
    /// The room.
    pub room: &'a str,
}

/// Parses an offset argument; `None` when it is not one of Herald's.
pub fn parse_offset(s: &str) -> Option<ParsedOffset<'_>> {
    let mut parts = s.splitn(3, ' ');
    let offset = parts.next()?.parse().ok()?;
    let epoch = parts.next().filter(|e| !e.is_empty())?;
    let room = parts.next().filter(|r| !r.is_empty())?;
    Some(ParsedOffset {
        offset,
        epoch,
        room,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        let s = offset_string(42, "m00ff", "dashboard:sales");
        assert_eq!(
            parse_offset(&s),
            Some(ParsedOffset {
                offset: 42,
                epoch: "m00ff",
                room: "dashboard:sales"
            })
        );
        assert_eq!(parse_offset("x e r"), None);
        assert_eq!(parse_offset("1 e"), None);
        assert_eq!(parse_offset("1  r"), None, "an empty epoch");
        assert_eq!(parse_offset(""), None);
    }
}
