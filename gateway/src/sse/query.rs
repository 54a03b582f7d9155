//! What an SSE request asks for: its rooms (`room`, repeated, in order),
//! where it stands in them (`Last-Event-ID`, else `since`), and its token
//! (`token`, else `Authorization: Bearer`).

use axum::http::{HeaderMap, Uri, header};
use herald_protocol::RoomName;
use herald_protocol::native::ErrorCode;
use herald_protocol::sse::{self, Entry};

use super::error::SseError;

/// A parsed SSE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The stream's rooms, in the order the id's entries follow.
    pub rooms: Vec<RoomName>,
    /// What the client holds in each room (`None`: nothing).
    pub positions: Vec<Option<Entry>>,
    /// The connection token, if any.
    pub token: Option<String>,
}

/// Reads the request. `max_rooms` is the per-connection room limit.
///
/// # Errors
/// 400 with 101 (`bad_frame`) for a query that does not parse, no room,
/// a room listed twice or a malformed position; 103 for an invalid room
/// name; 104 for more rooms than `max_rooms`.
pub fn parse(uri: &Uri, headers: &HeaderMap, max_rooms: usize) -> Result<Request, SseError> {
    let bad = |code, msg: String| SseError::bad_request(code, msg);
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| {
            bad(
                ErrorCode::BadFrame,
                format!("the query string does not parse: {e}"),
            )
        })?;
    let mut rooms: Vec<RoomName> = Vec::new();
    let mut since = None;
    let mut token = None;
    for (key, value) in pairs {
        match key.as_str() {
            "room" => {
                if rooms.len() >= max_rooms {
                    return Err(bad(
                        ErrorCode::TooManyRooms,
                        format!("a stream may carry at most {max_rooms} rooms"),
                    ));
                }
                let room = RoomName::new(&value)
                    .map_err(|e| bad(ErrorCode::InvalidRoom, format!("invalid room: {e}")))?;
                if rooms.contains(&room) {
                    return Err(bad(
                        ErrorCode::BadFrame,
                        format!("room {room} is listed twice"),
                    ));
                }
                rooms.push(room);
            }
            "since" => since = Some(value),
            "token" if !value.is_empty() => token = Some(value),
            _ => {}
        }
    }
    if rooms.is_empty() {
        return Err(bad(
            ErrorCode::BadFrame,
            "name at least one room: /sse?room=NAME".into(),
        ));
    }
    // EventSource sends the last id it saw when it reconnects, to the URL
    // it first opened: that id is newer than the URL's `since`.
    let last_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| bad(ErrorCode::BadFrame, "Last-Event-ID is not ASCII".into()))?,
        ),
        None => None,
    };
    let id = last_id.or(since.as_deref()).unwrap_or("");
    let positions = sse::decode_id(id.as_bytes(), rooms.len())
        .map_err(|e| bad(ErrorCode::BadFrame, format!("bad stream position: {e}")))?;
    if token.is_none() {
        token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
    }
    Ok(Request {
        rooms,
        positions,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn req(q: &str, headers: &[(&'static str, &str)]) -> Result<Request, SseError> {
        let uri: Uri = format!("/sse?{q}").parse().unwrap_or_default();
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        parse(&uri, &h, 3)
    }

    fn code(r: Result<Request, SseError>) -> u16 {
        r.err().map_or(0, |e| e.code)
    }

    #[test]
    fn rooms_keep_their_order_and_the_header_beats_since() {
        let r = req("room=b&room=a%3A1&since=1.2-", &[]).unwrap_or_else(|e| panic!("{e:?}"));
        let names: Vec<&str> = r.rooms.iter().map(RoomName::as_str).collect();
        assert_eq!(names, ["b", "a:1"]);
        assert_eq!(
            r.positions,
            vec![
                Some(Entry {
                    offset: 1,
                    check: 2
                }),
                None
            ]
        );
        let r = req("room=b&room=a&since=1.2-", &[("last-event-id", "-5.6")])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            r.positions,
            vec![
                None,
                Some(Entry {
                    offset: 5,
                    check: 6
                })
            ]
        );
    }

    #[test]
    fn the_token_comes_from_the_query_or_the_bearer_header() {
        let r = req("room=a&token=t1", &[("authorization", "Bearer t2")]);
        assert_eq!(r.map(|r| r.token), Ok(Some("t1".into())));
        let r = req("room=a", &[("authorization", "Bearer t2")]);
        assert_eq!(r.map(|r| r.token), Ok(Some("t2".into())));
    }

    #[test]
    fn bad_requests_name_their_native_code() {
        assert_eq!(code(req("", &[])), 101);
        assert_eq!(code(req("room=a%20b", &[])), 103);
        assert_eq!(code(req("room=a&room=b&room=c&room=d", &[])), 104);
        assert_eq!(code(req("room=a&room=a", &[])), 101);
        assert_eq!(code(req("room=a&since=zz", &[])), 101);
        assert_eq!(code(req("room=a", &[("last-event-id", "1.2-3.4")])), 101);
    }
}
