//! A publication on its way to this node's subscribers, with its wire
//! bytes built once per framing and shared by every subscriber: the
//! fan-out writes the same bytes to every socket (`Framing` says which).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use herald_bus::Message;
use herald_protocol::native::Format;
use herald_protocol::native::codec::{MessageRef, MessageTag, encode_message_into};
use herald_protocol::sio::{DEFAULT_NSP, encode_event_frame_into};
use herald_protocol::ws::Opcode;
use herald_protocol::ws::frame::header;
use tokio::time::Instant;

/// How a connection puts messages on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Herald's native protocol in WebSocket frames: JSON text frames, or
    /// MessagePack binary frames.
    WsNative(Format),
    /// Socket.IO packets in WebSocket frames.
    WsSocketIo,
    /// Socket.IO packets in a long-polling payload: unframed; a GET joins
    /// them with the record separator.
    PollSocketIo,
    /// Herald's native protocol on a byte stream (a QUIC or WebTransport
    /// bidirectional stream): each frame a `herald_protocol::stream` head
    /// (kind, length) and its JSON or MessagePack payload.
    StreamNative(Format),
    /// Server-Sent Events: each message an `id:` line (the stream's
    /// position, per connection) then the shared `event:`/`data:` lines,
    /// taken from the link by an HTTP response body.
    Sse,
}

impl Framing {
    /// The transport a connection with this framing is counted under
    /// (`crate::metrics::TRANSPORTS`). A stream framing is counted as raw
    /// QUIC unless its session says WebTransport (`Link::set_transport`).
    pub const fn transport(self) -> crate::metrics::TransportIdx {
        use crate::metrics::transport_idx;
        match self {
            Self::WsNative(_) => transport_idx("ws"),
            Self::WsSocketIo => transport_idx("socketio_ws"),
            Self::PollSocketIo => transport_idx("socketio_polling"),
            Self::StreamNative(_) => transport_idx("quic"),
            Self::Sse => transport_idx("sse"),
        }
    }

    /// Whether every chunk on this wire is already a whole frame written
    /// to a socket by the link (else an HTTP request takes the chunks).
    pub fn is_framed(self) -> bool {
        !matches!(self, Self::PollSocketIo | Self::Sse)
    }
}

/// How a Socket.IO event frame for a namespace is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SioEncoding<'a> {
    /// The namespace.
    pub nsp: &'a str,
    /// Whether events carry the recovery offset as their last argument.
    pub recovery: bool,
}

/// One message as this node sends it: the bus's data, plus the bytes each
/// framing needs, built the first time a subscriber needs them.
#[derive(Debug)]
pub struct Broadcast {
    /// The stored publication.
    pub msg: Arc<Message>,
    /// When the message reached this node.
    pub arrived: Instant,
    /// Native JSON in a WebSocket text frame.
    ws_json: OnceLock<Bytes>,
    /// Native MessagePack in a WebSocket binary frame.
    ws_msgpack: OnceLock<Bytes>,
    /// Native JSON behind a stream head (kind 1).
    stream_json: OnceLock<Bytes>,
    /// Native MessagePack behind a stream head (kind 2).
    stream_msgpack: OnceLock<Bytes>,
    /// Socket.IO's main-namespace event for the process's recovery
    /// setting: the recovery flag it was built for, the WebSocket-framed
    /// bytes, and their header's length (set on first use).
    sio_main: OnceLock<(bool, Bytes, usize)>,
    /// Server-Sent Events: `event: message` and the native JSON `data:`.
    sse: OnceLock<Bytes>,
    /// Live deliveries not yet written (see [`Broadcast::begin_fanout`]).
    pending: AtomicUsize,
}

impl Deref for Broadcast {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.msg
    }
}

/// `payload` in one unmasked WebSocket frame, built in a single buffer.
pub fn ws_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let mut h = [0u8; 10];
    let n = header(opcode, payload.len(), &mut h);
    let mut out = BytesMut::with_capacity(n + payload.len());
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(payload);
    out.freeze()
}

/// `payload` behind a stream head of `format`'s kind, in one buffer.
pub fn stream_frame(format: Format, payload: &[u8]) -> Bytes {
    let kind = herald_protocol::stream::Kind::of(format);
    let mut out = BytesMut::with_capacity(herald_protocol::stream::HEAD_LEN + payload.len());
    out.extend_from_slice(&herald_protocol::stream::head(kind, payload.len()));
    out.extend_from_slice(payload);
    out.freeze()
}

/// Room left before a payload for the longest WebSocket header.
const HEADROOM: usize = 10;

/// A payload written by `write` after [`HEADROOM`] bytes, then either its
/// WebSocket header written into the headroom (`framed`) or the headroom
/// cut off: one buffer, no copy of the payload.
fn encode_with_headroom(opcode: Opcode, framed: bool, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut buf = Vec::with_capacity(HEADROOM + 128);
    buf.resize(HEADROOM, 0);
    write(&mut buf);
    let len = buf.len() - HEADROOM;
    let start = if framed {
        let mut h = [0u8; HEADROOM];
        let n = header(opcode, len, &mut h);
        buf[HEADROOM - n..HEADROOM].copy_from_slice(&h[..n]);
        HEADROOM - n
    } else {
        HEADROOM
    };
    Bytes::from(buf).slice(start..)
}

impl Broadcast {
    /// Wraps a message that arrives now.
    pub fn new(msg: Arc<Message>) -> Arc<Self> {
        Arc::new(Self {
            msg,
            arrived: Instant::now(),
            ws_json: OnceLock::new(),
            ws_msgpack: OnceLock::new(),
            stream_json: OnceLock::new(),
            stream_msgpack: OnceLock::new(),
            sio_main: OnceLock::new(),
            sse: OnceLock::new(),
            pending: AtomicUsize::new(0),
        })
    }

    /// Starts counting live deliveries: `n` tokens (one per part of the
    /// room) plus the deliverer's.
    pub fn begin_fanout(&self, n: usize) {
        self.pending.store(n + 1, Ordering::Release);
    }

    /// Adds `n` live deliveries to wait for (a part of the room's members).
    pub fn add_pending(&self, n: usize) {
        if n > 0 {
            self.pending.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Marks `n` live deliveries done (written, skipped or dropped).
    /// Returns true for the call that completes the fan-out.
    pub fn fanout_done(&self, n: usize) -> bool {
        n > 0 && self.pending.fetch_sub(n, Ordering::AcqRel) == n
    }

    /// Deliveries still outstanding (0 once the fan-out completed or when
    /// none was started).
    pub fn fanout_pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    fn native(&self) -> MessageRef<'_> {
        MessageRef {
            kind: MessageTag,
            room: self.room.as_str(),
            event: &self.event,
            data: &self.data,
            offset: self.offset,
            ts: Some(self.ts_ms),
        }
    }

    /// The native `message` frame's payload (not WebSocket-framed).
    pub fn native_payload(&self, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        encode_message_into(&mut out, &self.native(), format);
        out
    }

    /// The native `message` in a WebSocket frame, encoded once per format.
    pub fn ws_native(&self, format: Format) -> &Bytes {
        let build = |opcode| {
            encode_with_headroom(opcode, true, |buf| {
                encode_message_into(buf, &self.native(), format);
            })
        };
        match format {
            Format::Json => self.ws_json.get_or_init(|| build(Opcode::Text)),
            Format::MsgPack => self.ws_msgpack.get_or_init(|| build(Opcode::Binary)),
        }
    }

    /// The native `message` behind a stream head, encoded once per format
    /// and shared by every QUIC and WebTransport subscriber.
    pub fn stream_native(&self, format: Format) -> &Bytes {
        let build = || {
            let head = herald_protocol::stream::HEAD_LEN;
            let mut buf = vec![0u8; head];
            encode_message_into(&mut buf, &self.native(), format);
            let kind = herald_protocol::stream::Kind::of(format);
            let h = herald_protocol::stream::head(kind, buf.len() - head);
            buf[..head].copy_from_slice(&h);
            Bytes::from(buf)
        };
        match format {
            Format::Json => self.stream_json.get_or_init(build),
            Format::MsgPack => self.stream_msgpack.get_or_init(build),
        }
    }

    /// The native `message` in `framing` (a native framing; `None` for the
    /// Socket.IO ones).
    pub fn native_for(&self, framing: Framing) -> Option<&Bytes> {
        match framing {
            Framing::WsNative(f) => Some(self.ws_native(f)),
            Framing::StreamNative(f) => Some(self.stream_native(f)),
            Framing::WsSocketIo | Framing::PollSocketIo | Framing::Sse => None,
        }
    }

    /// The SSE `message` event's `event:` and `data:` lines (the native
    /// JSON frame), built once and shared by every SSE subscriber; each
    /// writes its own `id:` line before it.
    pub fn sse(&self) -> &Bytes {
        self.sse.get_or_init(|| {
            let json = self.native_payload(Format::Json);
            let mut out = Vec::with_capacity(json.len() + 24);
            herald_protocol::sse::write_event("message", &json, &mut out);
            Bytes::from(out)
        })
    }

    /// The Socket.IO event packet (`42<nsp>,["event",data,offset?]`),
    /// WebSocket-framed or bare.
    fn sio_bytes(&self, enc: SioEncoding<'_>, framed: bool) -> Bytes {
        let offset = enc.recovery.then(|| {
            crate::socketio::recovery::offset_string(self.offset, &self.epoch, &self.room)
        });
        encode_with_headroom(Opcode::Text, framed, |buf| {
            // The headroom is zero bytes, valid UTF-8; the packet is text.
            let mut text = String::from_utf8(std::mem::take(buf)).unwrap_or_default();
            encode_event_frame_into(
                &mut text,
                enc.nsp,
                &self.event,
                self.data.as_str(),
                offset.as_deref(),
            );
            *buf = text.into_bytes();
        })
    }

    /// The Socket.IO event for `enc` in `framing` (WebSocket-framed or a
    /// bare polling packet). The main namespace's bytes are built once and
    /// shared (the bare packet is the framed one minus its header); other
    /// namespaces are rare and built per call.
    pub fn sio(&self, enc: SioEncoding<'_>, framing: Framing) -> Bytes {
        let framed = framing.is_framed();
        if enc.nsp == DEFAULT_NSP {
            let (recovery, ws, header_len) = self.sio_main.get_or_init(|| {
                let ws = self.sio_bytes(enc, true);
                let header_len = ws_header_len(&ws);
                (enc.recovery, ws, header_len)
            });
            if *recovery == enc.recovery {
                return if framed {
                    ws.clone()
                } else {
                    ws.slice(*header_len..)
                };
            }
        }
        self.sio_bytes(enc, framed)
    }
}

/// The header length of a server frame, read from its second byte.
fn ws_header_len(frame: &[u8]) -> usize {
    match frame.get(1).map(|b| b & 0x7F) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::RoomName;
    use serde_json::json;

    fn broadcast() -> Arc<Broadcast> {
        Broadcast::new(Arc::new(Message::new(
            RoomName::new("dashboard:sales").unwrap(),
            "dashboard:update".into(),
            json!({ "n": 1 }).into(),
            Arc::from("e1"),
            7,
            5,
            None,
        )))
    }

    #[test]
    fn native_frames_are_framed_once_per_format() {
        let b = broadcast();
        let a = b.ws_native(Format::Json).clone();
        assert_eq!(a[0], 0x81, "a final text frame");
        let text = std::str::from_utf8(&a[2..]).unwrap();
        assert!(text.contains(r#""offset":7"#), "{text}");
        assert_eq!(a.as_ptr(), b.ws_native(Format::Json).as_ptr(), "shared");
        assert_eq!(b.ws_native(Format::MsgPack)[0], 0x82, "a binary frame");
    }

    #[test]
    fn socketio_frames_per_namespace_and_framing() {
        let b = broadcast();
        let main = SioEncoding {
            nsp: "/",
            recovery: true,
        };
        let raw = b.sio(main, Framing::PollSocketIo);
        assert_eq!(
            &raw[..],
            br#"42["dashboard:update",{"n":1},"7 e1 dashboard:sales"]"#
        );
        let ws = b.sio(main, Framing::WsSocketIo);
        assert_eq!(&ws[2..], &raw[..]);
        assert_eq!(ws.as_ptr(), b.sio(main, Framing::WsSocketIo).as_ptr());
        let admin = b.sio(
            SioEncoding {
                nsp: "/admin",
                recovery: false,
            },
            Framing::PollSocketIo,
        );
        assert_eq!(&admin[..], br#"42/admin,["dashboard:update",{"n":1}]"#);
        // The other recovery setting is still right, only not cached.
        let plain = b.sio(
            SioEncoding {
                nsp: "/",
                recovery: false,
            },
            Framing::PollSocketIo,
        );
        assert_eq!(&plain[..], br#"42["dashboard:update",{"n":1}]"#);
    }

    #[test]
    fn frames_of_every_length_form_are_whole_and_bare_packets_match() {
        for len in [10usize, 200, 70_000] {
            let b = Broadcast::new(Arc::new(Message::new(
                RoomName::new("r").unwrap(),
                "e".into(),
                json!("x".repeat(len)).into(),
                Arc::from("e1"),
                1,
                0,
                None,
            )));
            let enc = SioEncoding {
                nsp: "/",
                recovery: false,
            };
            let ws = b.sio(enc, Framing::WsSocketIo);
            let bare = b.sio(enc, Framing::PollSocketIo);
            assert_eq!(&ws[ws.len() - bare.len()..], &bare[..]);
            assert_eq!(ws_header_len(&ws) + bare.len(), ws.len());
            let native = b.ws_native(Format::Json);
            let payload = b.native_payload(Format::Json);
            assert_eq!(&native[native.len() - payload.len()..], &payload[..]);
        }
    }

    #[test]
    fn stream_frames_carry_a_head_and_are_built_once() {
        let b = broadcast();
        let s = b.stream_native(Format::Json).clone();
        assert_eq!(s[0], 1, "kind JSON");
        let payload = b.native_payload(Format::Json);
        assert_eq!(&s[1..5], &(payload.len() as u32).to_be_bytes());
        assert_eq!(&s[5..], &payload[..]);
        assert_eq!(s.as_ptr(), b.stream_native(Format::Json).as_ptr(), "shared");
        let m = b.stream_native(Format::MsgPack);
        assert_eq!(m[0], 2, "kind MessagePack");
        let mut d = herald_protocol::stream::Decoder::new(1 << 20);
        d.push(m);
        let (kind, body) = d.next_frame().unwrap().unwrap();
        assert_eq!(kind.format(), Format::MsgPack);
        assert_eq!(&body[..], &b.native_payload(Format::MsgPack)[..]);
        assert_eq!(
            &stream_frame(Format::Json, &payload)[..],
            &s[..],
            "the same bytes as a reply framed on its own"
        );
    }

    #[test]
    fn the_sse_event_is_built_once_and_is_one_data_line() {
        let b = Broadcast::new(Arc::new(Message::new(
            RoomName::new("r").unwrap(),
            "e".into(),
            herald_protocol::JsonText::parse(Bytes::from_static(b"{\n \"n\": 1\n}")).unwrap(),
            Arc::from("e1"),
            3,
            0,
            None,
        )));
        let sse = b.sse().clone();
        assert_eq!(sse.as_ptr(), b.sse().as_ptr(), "shared");
        let text = std::str::from_utf8(&sse).unwrap();
        let data = text
            .strip_prefix("event: message\ndata: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .unwrap();
        assert!(!data.contains('\n'), "{text:?}");
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["offset"], 3);
        assert_eq!(v["data"]["n"], 1);
    }

    #[test]
    fn the_fanout_completes_once() {
        let b = broadcast();
        b.begin_fanout(2);
        assert!(!b.fanout_done(1));
        assert!(!b.fanout_done(1));
        assert!(b.fanout_done(1));
        assert_eq!(b.fanout_pending(), 0);
    }
}
