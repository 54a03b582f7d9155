use super::*;
use proptest::prelude::*;
use serde_json::json;

fn packet(text: &str) -> SioPacket {
    match decode_text(text) {
        Ok(SioDecoded::Packet(p)) => p,
        other => panic!("{text}: {other:?}"),
    }
}

fn err(text: &str) -> SioError {
    decode_text(text).unwrap_err()
}

#[test]
fn decodes_the_spec_examples() {
    assert_eq!(packet("0"), SioPacket::connect("/", None));
    assert_eq!(packet("0/admin,"), SioPacket::connect("/admin", None));
    assert_eq!(packet("0/admin"), SioPacket::connect("/admin", None));
    let auth = json!({"token": "x"}).as_object().cloned();
    assert_eq!(
        packet(r#"0/admin,{"token":"x"}"#),
        SioPacket::connect("/admin", auth)
    );
    assert_eq!(
        packet(r#"0{"sid":"oSO0OpakMV_3jnilAAAA","pid":"p1"}"#),
        SioPacket::connect_ok("/", "oSO0OpakMV_3jnilAAAA", Some("p1"))
    );
    assert_eq!(packet("1/admin,"), SioPacket::disconnect("/admin"));
    let hello = packet(r#"2["hello",1]"#);
    assert_eq!(hello, SioPacket::event("/", "hello", [json!(1)]));
    assert_eq!(
        (hello.event_name(), hello.args()),
        (Some("hello"), &[json!(1)][..])
    );
    let with_id = packet(r#"2/admin,12["project:delete",123]"#);
    assert_eq!((with_id.nsp.as_str(), with_id.id), ("/admin", Some(12)));
    let ack = packet(r#"31["ack"]"#);
    assert_eq!(ack, SioPacket::ack("/", 1, vec![json!("ack")]));
    assert_eq!((ack.event_name(), ack.args()), (None, &[json!("ack")][..]));
    assert_eq!(
        packet(r#"4{"message":"Not authorized"}"#),
        SioPacket::connect_error("/", "Not authorized")
    );
    assert_eq!(packet(r#"4"plain""#).kind, SioKind::ConnectError);

    let decoded = decode_text(r#"51-["bin",{"_placeholder":true,"num":0}]"#).unwrap();
    let SioDecoded::NeedsAttachments { packet, count } = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(count, 1);
    assert_eq!(packet.kind, SioKind::Event);
    assert_eq!(packet.data, Some(json!(["bin", placeholder(0)])));
}

#[test]
fn encodes_the_spec_examples() {
    assert_eq!(encode(&SioPacket::connect("/", None)).0, "0");
    assert_eq!(encode_frame(&SioPacket::connect("/", None)).0, "40");
    assert_eq!(
        encode_frame(&SioPacket::connect(
            "/admin",
            json!({"token": "x"}).as_object().cloned()
        ))
        .0,
        r#"40/admin,{"token":"x"}"#
    );
    assert_eq!(
        encode_frame(&SioPacket::connect_ok("/", "abc", None)).0,
        r#"40{"sid":"abc"}"#
    );
    assert_eq!(
        encode_frame(&SioPacket::event("/", "hello", [json!(1)])).0,
        r#"42["hello",1]"#
    );
    assert_eq!(
        encode_frame(&SioPacket::ack("/", 1, vec![json!("ack")])).0,
        r#"431["ack"]"#
    );
    assert_eq!(encode_frame(&SioPacket::disconnect("/chat")).0, "41/chat,");
    assert_eq!(
        encode(&SioPacket::connect_error("/", "no")).0,
        r#"4{"message":"no"}"#
    );

    let mut bin = SioPacket::event("/", "bin", [placeholder(0)]);
    bin.attachments.push(Bytes::from_static(&[1, 2, 3]));
    let (text, bins) = encode_frame(&bin);
    assert_eq!(text, r#"451-["bin",{"_placeholder":true,"num":0}]"#);
    assert_eq!(bins, vec![Bytes::from_static(&[1, 2, 3])]);
    // A binary kind without attachments goes out as the plain kind.
    bin.kind = SioKind::BinaryEvent;
    bin.attachments.clear();
    assert_eq!(encode(&bin).0, r#"2["bin",{"_placeholder":true,"num":0}]"#);
    // Attachments on a kind that has none are dropped.
    let mut connect = SioPacket::connect("/", None);
    connect.attachments.push(Bytes::from_static(b"x"));
    assert_eq!(encode(&connect), ("0".to_owned(), vec![]));
}

#[test]
fn type_errors() {
    assert_eq!(err(""), SioError::Empty);
    assert_eq!(err("7"), SioError::UnknownType('7'));
    assert_eq!(err("x"), SioError::UnknownType('x'));
}

#[test]
fn attachment_errors() {
    assert!(matches!(err(r#"5["a"]"#), SioError::BadAttachments(_)));
    assert!(matches!(err(r#"5-["a"]"#), SioError::BadAttachments(_)));
    assert!(matches!(err(r#"5x-["a"]"#), SioError::BadAttachments(_)));
    assert!(matches!(err(r#"50-["a"]"#), SioError::BadAttachments(_)));
    assert_eq!(
        err(r#"511-["a"]"#),
        SioError::TooManyAttachments {
            count: 11,
            max: MAX_ATTACHMENTS
        }
    );
    assert!(matches!(
        err(r#"599999999999999999999999-["a"]"#),
        SioError::TooManyAttachments {
            max: MAX_ATTACHMENTS,
            ..
        }
    ));
    assert!(matches!(
        decode_text_with(r#"51-["a"]"#, 0),
        Err(SioError::TooManyAttachments { count: 1, max: 0 })
    ));
}

#[test]
fn placeholder_errors() {
    let e = err(r#"51-["a",{"_placeholder":true,"num":1}]"#);
    assert!(e.to_string().contains("attachment 1"), "{e}");
    assert!(matches!(
        err(r#"51-["a",{"_placeholder":true,"num":"0"}]"#),
        SioError::BadPlaceholder(_)
    ));
    assert!(matches!(
        err(r#"51-["a",{"_placeholder":true}]"#),
        SioError::BadPlaceholder(_)
    ));
    assert!(matches!(
        err(r#"51-["a",{"_placeholder":true,"num":0,"x":1}]"#),
        SioError::BadPlaceholder(_)
    ));
    assert!(matches!(
        err(r#"2["a",{"deep":[{"_placeholder":true,"num":0}]}]"#),
        SioError::BadPlaceholder(_)
    ));
    // Objects that merely look similar are data.
    assert!(decode_text(r#"2["a",{"_placeholder":false,"num":9}]"#).is_ok());
}

#[test]
fn namespace_errors() {
    let long = format!("0/{},", "a".repeat(MAX_NSP_BYTES));
    assert!(matches!(err(&long), SioError::BadNamespace(_)));
    assert!(matches!(err("0/a\u{7}b,"), SioError::BadNamespace(_)));
    // Without a leading '/', the rest is read as the payload.
    assert!(matches!(err("0admin,"), SioError::BadJson(_)));
    let mut p = SioPacket::connect("admin", None);
    assert!(matches!(p.validate(), Err(SioError::BadNamespace(_))));
    p.nsp = "/a,b".into();
    assert!(matches!(p.validate(), Err(SioError::BadNamespace(_))));
    p.nsp = String::new();
    assert_eq!(p.validate(), Ok(()));
}

#[test]
fn ack_id_errors() {
    assert!(matches!(
        err(r#"2123456789012345678901["a"]"#),
        SioError::BadAckId(_)
    ));
    assert!(matches!(err("3[]"), SioError::BadAckId(_)));
    assert!(matches!(err("01{}"), SioError::BadAckId(_)));
    assert!(matches!(err("11"), SioError::BadAckId(_)));
    assert!(matches!(err(r#"41"x""#), SioError::BadAckId(_)));
    assert_eq!(packet(r#"218446744073709551615["a"]"#).id, Some(u64::MAX));
}

#[test]
fn payload_errors() {
    let kind_of = |text: &str| match err(text) {
        SioError::InvalidPayload { kind, .. } => kind,
        other => panic!("{text}: {other:?}"),
    };
    assert!(matches!(err("2[\"a\""), SioError::BadJson(_)));
    assert!(matches!(err("0{} trailing"), SioError::BadJson(_)));
    assert_eq!(kind_of("0[]"), SioKind::Connect);
    assert_eq!(kind_of(r#"0"x""#), SioKind::Connect);
    assert_eq!(kind_of("1{}"), SioKind::Disconnect);
    assert_eq!(kind_of("2"), SioKind::Event);
    assert_eq!(kind_of("2[]"), SioKind::Event);
    assert_eq!(kind_of("2[1]"), SioKind::Event);
    assert_eq!(kind_of(r#"2{"a":1}"#), SioKind::Event);
    assert_eq!(kind_of(r#"2["disconnect"]"#), SioKind::Event);
    assert_eq!(
        kind_of(r#"51-[{"_placeholder":true,"num":0}]"#),
        SioKind::Event
    );
    assert_eq!(kind_of("31"), SioKind::Ack);
    assert_eq!(kind_of("31{}"), SioKind::Ack);
    assert_eq!(kind_of("4"), SioKind::ConnectError);
    assert_eq!(kind_of("4[]"), SioKind::ConnectError);
    let e = err("2[]");
    assert!(e.to_string().contains("EVENT"), "{e}");
}

#[test]
fn validate_agrees_with_the_decoder() {
    let mut p = SioPacket::event("/", "a", [placeholder(0)]);
    assert!(matches!(p.validate(), Err(SioError::BadPlaceholder(_))));
    p.attachments.push(Bytes::new());
    assert_eq!(p.validate(), Ok(()));
    p.attachments = vec![Bytes::new(); MAX_ATTACHMENTS + 1];
    assert!(matches!(
        p.validate(),
        Err(SioError::TooManyAttachments { .. })
    ));
    let mut c = SioPacket::connect("/", None);
    c.attachments.push(Bytes::new());
    assert!(matches!(c.validate(), Err(SioError::BadAttachments(_))));
    assert!(SioPacket::event("/", "connect", []).validate().is_err());
    assert!(
        SioPacket::new(SioKind::Ack, "/", Some(json!([])))
            .validate()
            .is_err()
    );
}

#[test]
fn recovery_reads_pid_and_offset_from_connect() {
    let p = packet(r#"0{"token":"t","pid":"p1","offset":"e1-42"}"#);
    assert_eq!(
        p.recovery(),
        Some(RecoveryRequest {
            pid: "p1".into(),
            offset: "e1-42".into()
        })
    );
    assert_eq!(packet(r#"0{"pid":"p1"}"#).recovery(), None);
    assert_eq!(packet(r#"0{"pid":"p1","offset":3}"#).recovery(), None);
    assert_eq!(
        packet(r#"2["x",{"pid":"p","offset":"o"}]"#).recovery(),
        None
    );
}

#[test]
fn kinds_map_to_their_digits() {
    for (i, c) in ('0'..='6').enumerate() {
        let kind = SioKind::from_char(c).unwrap();
        assert_eq!((kind as usize, kind.as_char()), (i, c));
    }
    assert_eq!(SioKind::from_char('7'), None);
    assert_eq!(SioKind::BinaryAck.base(), SioKind::Ack);
    assert_eq!(SioKind::ConnectError.to_string(), "CONNECT_ERROR");
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,12}"]
}

fn args() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(value(), 0..4)
}

fn attachments() -> impl Strategy<Value = Vec<Bytes>> {
    prop::collection::vec(
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Bytes::from),
        0..4,
    )
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z]{1,6}", value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn event_name() -> impl Strategy<Value = String> {
    "\\PC{1,12}".prop_filter("reserved", |e| !RESERVED_EVENTS.contains(&e.as_str()))
}

fn sio_packet() -> impl Strategy<Value = SioPacket> {
    prop_oneof![
        (nsp(), prop::option::of(object())).prop_map(|(nsp, auth)| SioPacket::connect(nsp, auth)),
        nsp().prop_map(SioPacket::disconnect),
        (
            nsp(),
            event_name(),
            args(),
            prop::option::of(any::<u64>()),
            attachments()
        )
            .prop_map(
                |(nsp, name, mut args, id, attachments): (
                    String,
                    String,
                    Vec<Value>,
                    Option<u64>,
                    Vec<Bytes>
                )| {
                    args.extend((0..attachments.len()).map(placeholder));
                    SioPacket {
                        id,
                        attachments,
                        ..SioPacket::event(nsp, &name, args)
                    }
                }
            ),
        (nsp(), any::<u64>(), args(), attachments()).prop_map(
            |(nsp, id, mut args, attachments)| {
                args.extend((0..attachments.len()).map(placeholder));
                SioPacket {
                    attachments,
                    ..SioPacket::ack(nsp, id, args)
                }
            }
        ),
        (nsp(), "\\PC{0,20}").prop_map(|(nsp, m)| SioPacket::connect_error(nsp, &m)),
        (nsp(), "[a-zA-Z0-9]{1,20}").prop_map(|(nsp, s)| SioPacket::new(
            SioKind::ConnectError,
            nsp,
            Some(json!(s))
        )),
    ]
}

proptest! {
    #[test]
    fn packets_round_trip(p in sio_packet()) {
        prop_assert_eq!(p.validate(), Ok(()));
        let (text, bins) = encode(&p);
        let decoded = match decode_text(&text)? {
            SioDecoded::Packet(d) => d,
            SioDecoded::NeedsAttachments { mut packet, count } => {
                prop_assert_eq!(count, bins.len());
                packet.attachments = bins;
                packet
            }
        };
        prop_assert_eq!(decoded, p);
    }

    #[test]
    fn packets_round_trip_through_engine_io(p in sio_packet()) {
        use crate::sio::{BinaryAssembler, EioData, EioPacket, decode_eio_text, decode_payload, encode_payload};
        let (text, bins) = encode_frame(&p);
        let mut eio = vec![decode_eio_text(&text)?];
        eio.extend(bins.into_iter().map(EioPacket::binary));
        let payload = encode_payload(&eio);
        let mut asm = BinaryAssembler::default();
        let mut out = Vec::new();
        for packet in decode_payload(&payload, payload.len())? {
            let done = match packet {
                EioPacket::Message(EioData::Text(t)) => asm.handle_text(&t)?,
                EioPacket::Message(EioData::Binary(b)) => asm.handle_binary(b)?,
                other => panic!("{other:?}"),
            };
            out.extend(done);
        }
        prop_assert_eq!(out, vec![p]);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[0-6]?[0-9-]{0,3}/?\\PC{0,40}") {
        let _ = decode_text(&s);
    }
}
