//! One Server-Sent Event's bytes: `event: <name>\ndata: <JSON>\n\n`, and
//! the `id:` line the gateway writes before it.
//!
//! The data is always one line. JSON text has no raw line break inside a
//! string (a control character there is invalid JSON), so a CR or LF can
//! only be insignificant whitespace between tokens (a publisher's pretty
//! printing); it is written as a space, which leaves the JSON value
//! unchanged.

/// The heartbeat comment: SSE parsers ignore it, proxies see traffic.
pub const COMMENT_PING: &[u8] = b": ping\n\n";

/// Appends `event: name\ndata: data\n\n` to `out`. `name` must be a
/// token without line breaks (the gateway's own event names are);
/// line breaks in `data` become spaces (see the module docs).
pub fn write_event(name: &str, data: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!name.contains(['\n', '\r']), "an event name is one line");
    out.reserve(name.len() + data.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let start = out.len();
    out.extend_from_slice(data);
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    out.extend_from_slice(b"\n\n");
}

/// Appends `id: ` and `id` (an [`encode_id`](super::encode_id) text, so
/// one line) and a line feed to `out`.
pub fn write_id_line(id: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_two_lines_and_a_blank_one() {
        let mut out = Vec::new();
        write_id_line(b"1.2", &mut out);
        write_event("message", br#"{"a":1}"#, &mut out);
        assert_eq!(out, b"id: 1.2\nevent: message\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn pretty_printed_json_becomes_one_line_and_the_same_value() {
        let pretty = b"{\r\n  \"a\": [1,\n 2],\n  \"s\": \"x\\ny\"\n}";
        let mut out = Vec::new();
        write_event("message", pretty, &mut out);
        let text = std::str::from_utf8(&out).unwrap_or_default();
        let data = text
            .strip_prefix("event: message\ndata: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .unwrap_or_default();
        assert!(!data.contains(['\n', '\r']), "{data:?}");
        let a: serde_json::Value = serde_json::from_slice(pretty).unwrap_or_default();
        let b: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(b["s"], "x\ny");
    }
}
