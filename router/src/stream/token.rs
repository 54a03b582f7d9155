//! Resume tokens: their `_data` hex, and the cluster time it starts with.

use mongodb::bson::{Bson, RawDocument, doc};
use mongodb::change_stream::event::ResumeToken;

/// The token's `_data` hex string.
pub fn token_hex(token: &ResumeToken) -> Option<String> {
    match mongodb::bson::to_bson(token).ok()? {
        Bson::Document(d) => d.get_str("_data").ok().map(str::to_owned),
        _ => None,
    }
}

/// An event's token hex (`_id._data`).
pub fn event_token_hex(event: &RawDocument) -> Option<&str> {
    event.get_document("_id").ok()?.get_str("_data").ok()
}

/// A token from its `_data` hex.
pub fn token_from_hex(hex: &str) -> Option<ResumeToken> {
    mongodb::bson::from_bson(Bson::Document(doc! { "_data": hex })).ok()
}

/// The cluster time (seconds, increment) a token's `_data` starts with: byte
/// `0x82`, then 8 bytes big-endian `seconds << 32 | increment`.
pub fn token_cluster_time(hex: &str) -> Option<(u32, u32)> {
    let bytes = hex.as_bytes();
    if bytes.len() < 18 || !hex.is_char_boundary(18) || !hex[..2].eq_ignore_ascii_case("82") {
        return None;
    }
    let v = u64::from_str_radix(&hex[2..18], 16).ok()?;
    Some(((v >> 32) as u32, (v & 0xffff_ffff) as u32))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decodes_the_cluster_time() {
        // 0x6570_0000 seconds, increment 3.
        let hex = "82657000000000000300000000000000010002";
        assert_eq!(token_cluster_time(hex), Some((0x6570_0000, 3)));
        assert_eq!(token_cluster_time("83657000000000000300"), None);
        assert_eq!(token_cluster_time("8265"), None);
        assert_eq!(token_cluster_time("82zz7000000000000300"), None);
        assert_eq!(token_cluster_time("82é57000000000000300"), None);
    }

    #[test]
    fn round_trips_through_resume_token() {
        let t = token_from_hex("82ABCDEF").unwrap();
        assert_eq!(token_hex(&t).as_deref(), Some("82ABCDEF"));
    }
}
