//! The query string of an Engine.IO request (`EIO`, `transport`, `sid`).

/// The query parameters Engine.IO uses; others are ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EioQuery<'a> {
    /// `EIO`, the protocol version (Herald serves `4`).
    pub eio: Option<&'a str>,
    /// `transport`: `polling` or `websocket`.
    pub transport: Option<&'a str>,
    /// `sid`, the session id, once the handshake gave one.
    pub sid: Option<&'a str>,
}

/// Reads `EIO`, `transport` and `sid` from a query string (without the
/// `?`). A parameter given twice keeps its last value; one without `=` has
/// the empty value. Values are used as they are: the ones Herald accepts
/// (`4`, `polling`, `websocket`, base64url session ids) need no
/// percent-decoding.
pub fn parse_query(q: &str) -> EioQuery<'_> {
    let mut out = EioQuery::default();
    for kv in q.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "EIO" => out.eio = Some(v),
            "transport" => out.transport = Some(v),
            "sid" => out.sid = Some(v),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_in_any_order() {
        assert_eq!(
            parse_query("t=x&sid=abc&transport=polling&EIO=4"),
            EioQuery {
                eio: Some("4"),
                transport: Some("polling"),
                sid: Some("abc")
            }
        );
        assert_eq!(parse_query(""), EioQuery::default());
        assert_eq!(
            parse_query("sid=a&sid=b").sid,
            Some("b"),
            "the last one wins"
        );
        assert_eq!(parse_query("EIO").eio, Some(""));
    }
}
