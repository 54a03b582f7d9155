//! Writes the named seed inputs under `protocol/fuzz/seeds/<target>/`.
//!
//! Binary seeds (MessagePack frames, bus frames) are made with the codecs'
//! own encoders, so they are exactly what a peer sends; text seeds are listed
//! here too, so every seed has one place it comes from. Rerun after a frame
//! format changes and commit the result:
//!
//! ```sh
//! cargo run --manifest-path protocol/fuzz/Cargo.toml --example write_seeds
//! ```
//!
//! Files named `seed<N>` are older hand-written seeds; this program leaves
//! them alone.

use std::path::{Path, PathBuf};

use herald_protocol::RoomName;
use herald_protocol::bus::{
    AskAnswer, AskReply, AskRequest, BusFrame, Control, ControlTarget, NodeHeartbeat,
    PresenceAction, PresenceEvent, PresenceQuery, PresenceReply, Publication, RoomUsers,
    UserSessions, encode_bus,
};
use herald_protocol::native::{
    ClientFrame, CloseCode, ErrorCode, Format, ServerFrame, encode_client, encode_server,
};
use herald_protocol::{Position, sio};
use serde_json::json;

fn main() -> std::io::Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut w = Writer { seeds, count: 0 };
    native_client(&mut w)?;
    native_server(&mut w)?;
    bus(&mut w)?;
    bus_frame_kinds(&mut w)?;
    engine_io(&mut w)?;
    socket_io(&mut w)?;
    rooms(&mut w)?;
    room_patterns(&mut w)?;
    backend(&mut w)?;
    query_and_offset(&mut w)?;
    sse_ids(&mut w)?;
    collection_changes(&mut w)?;
    println!("wrote {} seed files under {}", w.count, w.seeds.display());
    Ok(())
}

struct Writer {
    seeds: PathBuf,
    count: usize,
}

impl Writer {
    fn put(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        let dir = self.seeds.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        self.count += 1;
        Ok(())
    }
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).expect("seed room names are valid")
}

fn client_frames() -> Vec<(&'static str, ClientFrame)> {
    vec![
        (
            "subscribe_since",
            ClientFrame::Subscribe {
                room: room("dashboard:sales"),
                since: Some(Position {
                    epoch: "m1a2b".into(),
                    offset: 41,
                }),
                leave_others: true,
                token: None,
                id: Some(1),
            },
        ),
        (
            "subscribe_with_token",
            ClientFrame::Subscribe {
                room: room("orders:7"),
                since: None,
                leave_others: false,
                token: Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln".into()),
                id: Some(3),
            },
        ),
        (
            "auth",
            ClientFrame::Auth {
                token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln".into(),
                id: Some(4),
            },
        ),
        (
            "refresh",
            ClientFrame::Refresh {
                token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln".into(),
                id: None,
            },
        ),
        (
            "subscribe",
            ClientFrame::Subscribe {
                room: room("склад:1"),
                since: None,
                leave_others: false,
                token: None,
                id: None,
            },
        ),
        (
            "unsubscribe",
            ClientFrame::Unsubscribe {
                room: room("user@example.com/feed"),
                id: Some(2),
            },
        ),
        ("leave_all", ClientFrame::LeaveAll { id: Some(3) }),
        (
            "publish",
            ClientFrame::Publish {
                room: room("chat:1"),
                event: "msg".into(),
                data: json!({"text": "hi", "n": -3, "f": 1.5, "tags": ["a", null, true], "deep": {"x": {"y": []}}}).into(),
                id: Some(u64::MAX),
            },
        ),
        ("ping", ClientFrame::Ping { id: None }),
    ]
}

fn native_client(w: &mut Writer) -> std::io::Result<()> {
    for (name, frame) in client_frames() {
        w.put(
            "native_client_msgpack",
            &format!("{name}.msgpack"),
            encode_client(&frame, Format::MsgPack),
        )?;
        w.put(
            "native_client_json",
            &format!("{name}.json"),
            encode_client(&frame, Format::Json),
        )?;
    }
    // Inputs that fail after the envelope was read, each at its own rule.
    for (name, text) in [
        ("unknown_op", r#"{"op":"explode","id":3}"#),
        ("bad_room", r#"{"op":"subscribe","room":"bad room","id":4}"#),
        ("missing_room", r#"{"op":"unsubscribe","id":5}"#),
        ("op_not_string", r#"{"op":7,"id":6}"#),
        (
            "wrong_since",
            r#"{"op":"subscribe","room":"a","since":{"epoch":1,"offset":"x"}}"#,
        ),
    ] {
        w.put("native_client_json", &format!("{name}.json"), text)?;
    }
    Ok(())
}

fn native_server(w: &mut Writer) -> std::io::Result<()> {
    let frames = [
        (
            "welcome",
            ServerFrame::Welcome {
                session: "s-1f2e".into(),
                node: "gw-1".into(),
                heartbeat_ms: 25_000,
                max_frame_bytes: 65_536,
                max_rooms: 100,
                auth_within_ms: Some(5_000),
            },
        ),
        (
            "subscribed",
            ServerFrame::Subscribed {
                room: "dashboard:sales".into(),
                epoch: "m1a2b".into(),
                offset: 41,
                recovered: true,
                id: Some(1),
            },
        ),
        (
            "unsubscribed",
            ServerFrame::Unsubscribed {
                room: "chat:1".into(),
                id: None,
            },
        ),
        (
            "message",
            ServerFrame::Message {
                room: "dashboard:sales".into(),
                event: "dashboard:update".into(),
                data: json!({"n": 1, "rows": [[1, 2], [3, 4.25]]}).into(),
                offset: 43,
                ts: Some(1_732_850_000_000),
            },
        ),
        (
            "published",
            ServerFrame::Published {
                room: "chat:1".into(),
                epoch: "m1a2b".into(),
                offset: 7,
                id: Some(4),
            },
        ),
        ("pong", ServerFrame::Pong { id: Some(9) }),
        (
            "authenticated",
            ServerFrame::Authenticated {
                user: Some("ana".into()),
                expires: Some(1_800_000_000),
                id: Some(4),
            },
        ),
        (
            "error",
            ServerFrame::error(ErrorCode::TooManyRooms, "too many rooms", Some(5)),
        ),
        (
            "disconnect",
            ServerFrame::disconnect(CloseCode::SlowConsumer),
        ),
    ];
    for (name, frame) in frames {
        w.put(
            "native_server",
            &format!("{name}.json"),
            encode_server(&frame, Format::Json),
        )?;
        w.put(
            "native_server",
            &format!("{name}.msgpack"),
            encode_server(&frame, Format::MsgPack),
        )?;
    }
    Ok(())
}

fn bus(w: &mut Writer) -> std::io::Result<()> {
    let target = ControlTarget::Room("chat:1".into());
    let frames = [
        (
            "publish",
            BusFrame::Publish(Publication {
                room: "orders:42".into(),
                event: "order:update".into(),
                data: json!({"status": "paid", "total": 12.5, "items": [1, 2]}).into(),
                ts_ms: 1_732_850_000_000,
                src_ts_ms: Some(1_732_849_999_990),
                src: Some("shop".into()),
                src_pos: Some("8265700000000000030000000000000001".into()),
                fence: Some(3),
                set: None,
            }),
        ),
        (
            "publish_minimal",
            BusFrame::Publish(Publication {
                room: "r".into(),
                event: "e".into(),
                data: herald_protocol::JsonText::null(),
                ts_ms: 0,
                src_ts_ms: None,
                src: None,
                src_pos: None,
                fence: None,
                set: None,
            }),
        ),
        (
            "control_disconnect",
            BusFrame::Control(Control::Disconnect {
                target: ControlTarget::User("u-7".into()),
                reason: "banned".into(),
            }),
        ),
        (
            "control_join",
            BusFrame::Control(Control::Join {
                target: ControlTarget::Session("s-1".into()),
                room: "lobby".into(),
            }),
        ),
        (
            "control_leave",
            BusFrame::Control(Control::Leave {
                target: target.clone(),
                room: "lobby".into(),
            }),
        ),
        (
            "heartbeat",
            BusFrame::Heartbeat(NodeHeartbeat {
                node: "gw-1".into(),
                ts_ms: 1_732_850_000_000,
                connections: 10_000,
                rooms: 250,
            }),
        ),
        (
            "presence_query",
            BusFrame::PresenceQuery(PresenceQuery {
                request: "q1".into(),
                rooms: vec!["chat:1".into(), "lobby".into()],
                sessions: true,
                reply_to: "gw-1".into(),
                users: Some(100),
            }),
        ),
        (
            "presence_reply",
            BusFrame::PresenceReply(PresenceReply {
                request: "q1".into(),
                node: "gw-2".into(),
                counts: vec![3, 0],
                sessions: vec![vec!["s-1".into(), "s-2".into(), "s-3".into()], vec![]],
                users: vec![
                    RoomUsers {
                        users: vec![UserSessions {
                            user: "ana".into(),
                            sessions: 2,
                        }],
                        total: 1,
                        anonymous: 1,
                    },
                    RoomUsers::default(),
                ],
            }),
        ),
        (
            "presence",
            BusFrame::Presence(PresenceEvent {
                room: "chat:1".into(),
                user: "ana".into(),
                action: PresenceAction::Join,
                node: "gw-1".into(),
                ts_ms: 1_700_000_000_000,
            }),
        ),
        (
            "ask_request",
            BusFrame::AskRequest(AskRequest {
                request: "a1".into(),
                reply_to: "gw-1".into(),
                target,
                event: "poll".into(),
                data: json!({"q": "ready?"}).into(),
                timeout_ms: 5_000,
            }),
        ),
        (
            "ask_reply",
            BusFrame::AskReply(AskReply {
                request: "a1".into(),
                node: "gw-2".into(),
                sent: 2,
                answers: vec![
                    AskAnswer {
                        sid: "s-1".into(),
                        nsp: Some("/".into()),
                        args: Some(vec![json!("yes"), json!(1)]),
                        error: None,
                    },
                    AskAnswer {
                        sid: "s-2".into(),
                        nsp: None,
                        args: None,
                        error: Some("no acks".into()),
                    },
                ],
            }),
        ),
    ];
    for (name, frame) in frames {
        w.put("bus_decode", &format!("{name}.bin"), encode_bus(&frame))?;
    }
    // A frame of a future version, which must be refused by number.
    let mut future = encode_bus(&BusFrame::Heartbeat(NodeHeartbeat {
        node: "gw-9".into(),
        ts_ms: 1,
        connections: 0,
        rooms: 0,
    }));
    future[0] = 3;
    w.put("bus_decode", "version_3.bin", future)?;
    // A version 1 publication (the payload inside the map), still read.
    let mut v1 = vec![1u8];
    let s = |t: &str| rmpv::Value::from(t);
    let map = rmpv::Value::Map(vec![
        (s("t"), s("publish")),
        (s("room"), s("orders:42")),
        (s("event"), s("order:update")),
        (s("data"), rmpv::Value::Map(vec![(s("status"), s("paid"))])),
        (s("ts_ms"), rmpv::Value::from(7)),
    ]);
    rmpv::encode::write_value(&mut v1, &map).expect("writing to a Vec cannot fail");
    w.put("bus_decode", "publish_v1.bin", v1)
}

fn bus_frame_kinds(w: &mut Writer) -> std::io::Result<()> {
    // `[0, k]`: version 1, kind k, every field well-typed and empty or zero.
    let kinds = [
        "publish",
        "control_disconnect",
        "control_join",
        "control_leave",
        "heartbeat",
        "presence_query",
        "presence_reply",
        "ask_request",
        "ask_reply",
    ];
    for (k, name) in kinds.iter().enumerate() {
        let k = u8::try_from(k).expect("nine kinds");
        w.put("bus_frame_kinds", name, [0, k])?;
    }
    // A publish with the tag last, `data` a two-entry map, `src` nil, three
    // fields left out and two unknown fields (binary, extension type); the
    // layout is described in `fuzz_targets/bus_frame_kinds.rs`.
    let mut publish = vec![0, 0, 8]; // version 1, publish, tag after field 8
    publish.extend([0, 1, b'r', 0, 1, b'e']); // room "r", event "e"
    publish.extend([0, 7, 2, 1, b'k', 5, 1, b'v', 1, b'n', 2]); // data {"k":"v","n":42}
    publish.extend(42u64.to_le_bytes());
    publish.push(0); // ts_ms
    publish.extend(1_732_850_000_000u64.to_le_bytes());
    publish.extend([1, 2, 1, 1]); // src_ts_ms out, src nil, src_pos and fence out
    publish.extend([2, 3, b'x', b'_', b'a', 5, 1, b'z']); // x_x_a: binary "z"
    publish.extend([1, b'b', 6, 3, 1, b'q']); // x_b: extension type 3, "q"
    w.put("bus_frame_kinds", "publish_unknown_fields", publish)?;
    // Version 2: the publication's payload as the frame's tail.
    w.put("bus_frame_kinds", "publish_v2", [130, 0])?;
    w.put("bus_frame_kinds", "version_250", [250, 4])
}

fn engine_io(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("pong_probe", "3probe"),
        ("ping", "2"),
        ("close", "1"),
        ("upgrade", "5"),
        ("noop", "6"),
        ("message_unicode", "4hello €"),
        (
            "open_polling",
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        ),
        (
            "open_missing_field",
            r#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2}"#,
        ),
    ] {
        w.put("eio_text", name, text)?;
    }
    let frame = sio::encode_event_frame("/admin", "update", &json!({"n": 1}), Some("7 e1 room"));
    w.put("eio_text", "broadcast_frame", frame)?;

    for (name, bytes) in [
        ("three_bytes", &[1u8, 2, 3][..]),
        ("png_header", b"\x89PNG\r\n\x1a\n"),
        ("utf8_text", "hello €".as_bytes()),
    ] {
        w.put("eio_binary", name, bytes)?;
    }

    // The first byte sets the limit (`limit * 16` bytes).
    let payloads = [
        ("ping_message_close", "2probe\u{1e}4hello\u{1e}1"),
        ("binary_unpadded", "bAQIDBA\u{1e}4x"),
        (
            "two_events",
            "42[\"a\",1]\u{1e}42/admin,[\"b\",{\"k\":\"v\"}]",
        ),
        ("empty_packet", "4a\u{1e}\u{1e}4b"),
        ("bad_base64", "b!!!"),
    ];
    for (name, text) in payloads {
        let mut bytes = vec![64];
        bytes.extend_from_slice(text.as_bytes());
        w.put("eio_payload", name, bytes)?;
    }
    w.put("eio_payload", "too_large", b"\x004hello")
}

fn socket_io(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("connect_default", "0"),
        (
            "connect_recovery",
            r#"0{"pid":"p-1","offset":"7 e1 chat:1"}"#,
        ),
        ("disconnect_nsp", "1/admin,"),
        ("event_args", r#"2["update",{"n":1},[1,2],"x"]"#),
        ("ack_nsp", r#"3/admin,7["ok"]"#),
        ("connect_error", r#"4/admin,{"message":"not authorized"}"#),
        (
            "binary_ack",
            r#"62-/admin,7[{"_placeholder":true,"num":1},"x",{"_placeholder":true,"num":0}]"#,
        ),
        ("too_many_attachments", r#"511-["b"]"#),
        ("ack_id_overflow", "318446744073709551616[]"),
        ("reserved_event", r#"2["connect"]"#),
    ] {
        w.put("sio_text", name, text)?;
    }

    // Messages split by 0xff; a first byte that is even means text, odd binary.
    let mut two_attachments = vec![0];
    two_attachments.extend_from_slice(
        br#"62-/admin,7[{"_placeholder":true,"num":1},"x",{"_placeholder":true,"num":0}]"#,
    );
    two_attachments.extend_from_slice(b"\xff\x01a\xff\x01bb\xff\x002[\"after\"]");
    w.put("sio_assembler", "binary_ack_two", two_attachments)?;
    w.put(
        "sio_assembler",
        "unexpected",
        b"\x01stray\xff\x0051-[\"b\",{\"_placeholder\":true,\"num\":0}]\xff\x002[\"early\"]",
    )?;
    w.put(
        "sio_assembler",
        "plain_events",
        b"\x002[\"a\"]\xff\x000/admin,{}\xff\x003/admin,1[]",
    )
}

fn rooms(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("unicode", "склад:1".to_owned()),
        ("punctuation", "a.b-c_d#e=f+g~h!i$j*k,l@m/n:o".to_owned()),
        ("space", "a b".to_owned()),
        ("template", "room:{id}".to_owned()),
        ("longest", "r".repeat(200)),
        ("too_long", "r".repeat(201)),
    ] {
        w.put("room_name", name, text)?;
    }
    Ok(())
}

fn room_patterns(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("exact", "lobby".to_owned()),
        ("prefix", "news:*".to_owned()),
        ("nested_prefix", "user:ada:*".to_owned()),
        ("unicode_prefix", "склад:*".to_owned()),
        ("bare_star", "*".to_owned()),
        ("star_inside", "a*b".to_owned()),
        ("star_no_colon", "news*".to_owned()),
        ("double_star", "news:**".to_owned()),
        ("space", "a b:*".to_owned()),
        ("longest", format!("{}:*", "r".repeat(198))),
        ("too_long", "r".repeat(201)),
        ("set", "lobby\nnews:*\nuser:ada:*".to_owned()),
        ("set_bad_line", "lobby\nnews*".to_owned()),
        ("set_too_many", vec!["r"; 257].join("\n")),
    ] {
        w.put("room_pattern", name, text)?;
    }
    Ok(())
}

fn backend(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("empty", ""),
        (
            "connect_accept",
            r#"{"user":"alice","emits":[{"event":"auth","args":[{"token":"123"}]}],"join":["dashboard:sales"]}"#,
        ),
        (
            "connect_refuse",
            r#"{"allow":false,"message":"no entry","data":{"why":"banned"}}"#,
        ),
        (
            "connect_grant",
            r#"{"user":"cookie-user","rooms":["dashboard:*","ops"],"publish":[],"expires":1900000000}"#,
        ),
        ("connect_bad_pattern", r#"{"rooms":["a*b"],"expires":-1}"#),
        (
            "event_ack_binary",
            r#"{"ack":[1,"2",{"_binary":"AQID"}],"emits":[{"event":"message-back","args":[{"_binary":"BAUG"},{"x":[{"_binary":""}]}]}]}"#,
        ),
        ("event_join_leave", r#"{"join":["a","b"],"leave":["c"]}"#),
        ("unknown_field", r#"{"acks":[1]}"#),
        ("bad_base64", r#"{"ack":[{"_binary":"not base64!"}]}"#),
        (
            "forged_placeholder",
            r#"{"ack":[{"_placeholder":true,"num":0}]}"#,
        ),
        (
            "too_many_binary",
            r#"{"ack":[{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""},{"_binary":""}]}"#,
        ),
        (
            "deep",
            &format!("{{\"ack\":{}1{}}}", "[".repeat(200), "]".repeat(200)),
        ),
    ] {
        w.put("backend_reply", name, text)?;
    }
    Ok(())
}

fn query_and_offset(w: &mut Writer) -> std::io::Result<()> {
    for (name, text) in [
        ("handshake", "EIO=4&transport=polling&t=Nx1"),
        (
            "session",
            "EIO=4&transport=websocket&sid=AAECAwQFBgcICQoLDA0ODw",
        ),
        ("repeated", "sid=a&sid=b&EIO&EIO=3"),
        ("empty", ""),
        ("odd", "&&=&sid==x&transport%3Dpolling"),
    ] {
        w.put("eio_query", name, text)?;
    }
    for (name, text) in [
        ("valid", "42 m00ff dashboard:sales"),
        ("room_with_space_tail", "1 e1 room with spaces"),
        ("leading_zero", "007 e r"),
        ("plus_sign", "+7 e r"),
        ("overflow", "18446744073709551616 e r"),
        ("no_room", "1 e"),
        ("empty_epoch", "1  r"),
    ] {
        w.put("sio_offset", name, text)?;
    }
    Ok(())
}

/// `sse_id` inputs: a room-count byte, then the id.
fn sse_ids(w: &mut Writer) -> std::io::Result<()> {
    for (name, rooms, text) in [
        ("one_room", 1u8, "15.1z141z3"),
        ("three_rooms_one_empty", 3, "1f.2k3j9x--a.1bq0z"),
        ("empty", 4, ""),
        ("separators_only", 3, "--"),
        ("max_values", 1, "3w5e11264sgsf.1z141z3"),
        ("overflow_offset", 1, "3w5e11264sgsg.1"),
        ("overflow_check", 1, "1.1z141z4"),
        ("leading_zero", 1, "01.2"),
        ("uppercase", 1, "A.2"),
        ("count_mismatch", 2, "1.2"),
        ("two_dots", 1, "1.2.3"),
    ] {
        let mut bytes = vec![rooms];
        bytes.extend_from_slice(text.as_bytes());
        w.put("sse_id", name, bytes)?;
    }
    Ok(())
}

/// `collection_change` inputs: a kind byte (even: a change, odd: a
/// snapshot or spec), then the JSON.
fn collection_changes(w: &mut Writer) -> std::io::Result<()> {
    for (name, kind, text) in [
        ("upsert", 0u8, r#"{"room":"r","op":"upsert","key":"a","doc":{"_id":"a","n":1}}"#),
        ("patch", 0, r#"{"room":"r","op":"patch","key":"a","set":{"items.1":9,"n.x":2},"unset":["n"],"truncate":{"items":1}}"#),
        ("patch_paths", 0, r#"{"room":"r","op":"patch","key":"a","set":{"a.b":1},"paths":{"a.b":["a.b"]}}"#),
        ("patch_huge_index", 0, r#"{"room":"r","op":"patch","key":"a","set":{"items.99999999999":1}}"#),
        ("patch_missing", 0, r#"{"room":"r","op":"patch","key":"zz","set":{"x":1}}"#),
        ("remove_number_key", 0, r#"{"room":"r","op":"remove","key":1}"#),
        ("snapshot", 1, r#"{"room":"r","key":"_id","sort":"n","descending":true,"limit":5,"reset":false,"docs":[{"_id":"a","n":1},{"_id":2}]}"#),
        ("spec", 1, r#"{"key":"_id","sort":"createdAt","descending":true,"limit":50}"#),
    ] {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(text.as_bytes());
        w.put("collection_change", name, bytes)?;
    }
    Ok(())
}
