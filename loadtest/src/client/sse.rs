//! Server-Sent Events: one streaming `GET /sse?room=…` per connection,
//! parsed incrementally ([`super::sse_parse`]) into [`ClientEvent`]s.
//!
//! SSE is one-way, so the rooms (and the positions held in them) are
//! given when the stream opens: [`SseConnection::connect`] takes them, and
//! [`SseConnection::subscribe`] only checks that the room is one of the
//! stream's. A reconnect (churn, avalanche, soak) opens a new stream with
//! `since` composed from the delivery checker's positions, as herald.js
//! composes it: per room, `offset.check` with
//! `check = epoch_check(room, epoch)`. The gateway then answers each room
//! with `subscribed` (`recovered: true`, exactly the missed messages
//! follow) or `reset` (a fresh snapshot follows); both are a
//! [`ClientEvent::Subscribed`], since their data is the native
//! `subscribed` frame. A stream with no rooms (the `connect` scenario)
//! subscribes to [`IDLE_ROOM`]. The token is sent as
//! `Authorization: Bearer`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use herald_protocol::native::{Format, decode_server};
use herald_protocol::sse::{Entry, encode_id, epoch_check};
use parking_lot::Mutex;

use super::native::frame_event;
use super::sse_parse::{MAX_EVENT_BYTES, Parser};
use super::{ClientError, ClientEvent, Target};

/// The room an SSE stream without rooms joins (the stream needs one).
pub const IDLE_ROOM: &str = "loadtest:idle";
/// How many characters of a refusal's body the error message keeps.
const REFUSAL_BYTES: usize = 512;

/// What a worker's SSE connections share: one HTTP client per source
/// address (no idle pooling: each stream is its own TCP connection).
#[derive(Debug, Default)]
pub struct SseCtx {
    clients: Mutex<HashMap<IpAddr, reqwest::Client>>,
}

impl SseCtx {
    fn client(&self, src: IpAddr, timeout: Duration) -> Result<reqwest::Client, ClientError> {
        let mut map = self.clients.lock();
        if let Some(c) = map.get(&src) {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .local_address(src)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        map.insert(src, c.clone());
        Ok(c)
    }
}

/// The stream's `since`: one entry per room, in order; `None` when no
/// room has a position.
pub fn since_id(rooms: &[(&str, Option<(String, u64)>)]) -> Option<String> {
    if rooms.iter().all(|(_, p)| p.is_none()) {
        return None;
    }
    let entries = rooms.iter().map(|(room, pos)| {
        pos.as_ref().map(|(epoch, offset)| Entry {
            offset: *offset,
            check: epoch_check(room, epoch),
        })
    });
    let mut out = Vec::new();
    encode_id(entries, &mut out);
    String::from_utf8(out).ok()
}

/// An open SSE stream.
#[derive(Debug)]
pub struct SseConnection {
    resp: reqwest::Response,
    /// The rest of the chunk being parsed.
    pending: Bytes,
    parser: Parser,
    rooms: Vec<String>,
}

impl SseConnection {
    /// Opens `GET http://AUTHORITY/sse?room=…[&since=…]` from `src` for
    /// `rooms` (with the positions held in them) and waits for the 200.
    ///
    /// # Errors
    /// [`ClientError::Http`] when the request fails or is refused.
    pub async fn connect(
        ctx: &SseCtx,
        target: &Target,
        src: IpAddr,
        rooms: &[(&str, Option<(String, u64)>)],
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let client = ctx.client(src, timeout)?;
        let idle = [(IDLE_ROOM, None)];
        let rooms = if rooms.is_empty() { &idle[..] } else { rooms };
        let mut query: Vec<(&str, String)> = rooms
            .iter()
            .map(|(r, _)| ("room", (*r).to_owned()))
            .collect();
        if let Some(id) = since_id(rooms) {
            query.push(("since", id));
        }
        let mut req = client
            .get(format!("http://{}/sse", target.authority))
            .query(&query)
            .header("accept", "text/event-stream");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            let status = resp.status();
            let body: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(REFUSAL_BYTES)
                .collect();
            return Err(ClientError::Http(format!("status {status}: {body}")));
        }
        Ok(Self {
            resp,
            pending: Bytes::new(),
            parser: Parser::new(MAX_EVENT_BYTES),
            rooms: rooms.iter().map(|(r, _)| (*r).to_owned()).collect(),
        })
    }

    /// Checks that `room` is one of the stream's (the stream joined it when
    /// it opened).
    ///
    /// # Errors
    /// [`ClientError::Protocol`] for another room.
    pub fn subscribe(&self, room: &str) -> Result<(), ClientError> {
        if self.rooms.iter().any(|r| r == room) {
            Ok(())
        } else {
            Err(ClientError::Protocol(format!(
                "room {room:?} is not one of this SSE stream's (SSE names its rooms when it opens)"
            )))
        }
    }

    /// The next event; `None` when the stream ended.
    ///
    /// # Errors
    /// [`ClientError`] on a broken stream, an oversized event or data that
    /// is not a native frame.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        loop {
            let mut input: &[u8] = &self.pending;
            let before = input.len();
            let ev = self
                .parser
                .feed(&mut input)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            let consumed = before - input.len();
            self.pending = self.pending.slice(consumed..);
            if let Some(ev) = ev {
                let frame = decode_server(ev.data.as_bytes(), Format::Json)
                    .map_err(|e| ClientError::Protocol(format!("SSE {} event: {e}", ev.event)))?;
                return Ok(Some(frame_event(frame)));
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.pending = chunk,
                Ok(None) => return Ok(None),
                Err(e) => return Err(ClientError::Http(e.to_string())),
            }
        }
    }

    /// Ends the request (drops the connection).
    pub fn close(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_names_every_room_in_order_or_nothing() {
        assert_eq!(since_id(&[("a", None), ("b", None)]), None);
        let id = since_id(&[("a", Some(("e1".into(), 51))), ("b", None)]).unwrap();
        let check = epoch_check("a", "e1");
        let entries = herald_protocol::sse::decode_id(id.as_bytes(), 2).unwrap();
        assert_eq!(entries, vec![Some(Entry { offset: 51, check }), None]);
        assert!(id.starts_with("1f."));
    }
}
