//! Raw bytes over TCP: malformed input, handshake fields, refusal.

mod common;

use common::{client, start};
use herald_mongo_wire::wire::{Header, decode_op_msg, encode_request};
use mongodb::bson::{Bson, Document, doc};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn roundtrip(s: &mut TcpStream, body: Document) -> Document {
    s.write_all(&encode_request(1, &body).expect("encode"))
        .await
        .expect("write");
    let mut hdr = [0u8; 16];
    s.read_exact(&mut hdr).await.expect("header");
    let h = Header::parse(&hdr);
    let mut payload = vec![0u8; h.length as usize - 16];
    s.read_exact(&mut payload).await.expect("payload");
    assert_eq!(h.response_to, 1);
    decode_op_msg(&h, &payload).expect("reply").body
}

#[tokio::test]
async fn garbage_closes_the_connection_but_not_the_server() {
    let (h, c) = start().await;
    let frames: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        // Header claiming 2 GB.
        [0x7fff_ffffi32, 1, 0, 2013]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        // Valid header, OP_MSG with a body whose length runs past the end.
        [30i32, 1, 0, 2013]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain([0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0])
            .collect(),
        // OP_QUERY is not supported.
        [21i32, 1, 0, 2004]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain([0, 0, 0, 0, 0])
            .collect(),
    ];
    for f in frames {
        let mut s = TcpStream::connect(h.addr()).await.expect("connect");
        s.write_all(&f).await.expect("write");
        assert!(
            closed_by_server(&mut s).await,
            "server should close after {f:?}"
        );
    }
    c.database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("server still serves the driver");
    let fresh = client(&h.uri()).await;
    fresh
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("new client works");
}

#[tokio::test]
async fn handshake_and_cursor_id_types() {
    let (h, _c) = start().await;
    let mut s = TcpStream::connect(h.addr()).await.expect("connect");
    let hello = roundtrip(&mut s, doc! {"hello": 1, "$db": "admin"}).await;
    for key in [
        "maxBsonObjectSize",
        "maxMessageSizeBytes",
        "logicalSessionTimeoutMinutes",
        "setName",
        "hosts",
        "me",
    ] {
        assert!(hello.contains_key(key), "hello lacks {key}");
    }
    assert!(!hello.contains_key("topologyVersion"));
    assert_eq!(hello.get_str("me").expect("me"), h.addr().to_string());
    let agg = roundtrip(
        &mut s,
        doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}, "$db": "d"},
    )
    .await;
    let cursor = agg.get_document("cursor").expect("cursor");
    assert!(
        matches!(cursor.get("id"), Some(Bson::Int64(id)) if *id > i64::from(i32::MAX)),
        "{cursor}"
    );
    let pbrt = cursor.get_document("postBatchResumeToken").expect("pbrt");
    assert!(pbrt.get_str("_data").expect("_data").starts_with("82"));
    let err = roundtrip(&mut s, doc! {"nope": 1, "$db": "d"}).await;
    assert_eq!(err.get_i32("code").expect("code"), 59);
    assert_eq!(
        err.get_str("codeName").expect("codeName"),
        "CommandNotFound"
    );
    let no_db = roundtrip(&mut s, doc! {"ping": 1}).await;
    assert_eq!(no_db.get_f64("ok").expect("ok"), 0.0);
}

#[tokio::test]
async fn refusal_closes_new_connections_until_cleared() {
    let (h, _c) = start().await;
    h.refuse_connections_for(Duration::from_secs(30));
    let mut s = TcpStream::connect(h.addr())
        .await
        .expect("tcp connect still completes");
    assert!(closed_by_server(&mut s).await);
    assert!(h.stats().connections_refused >= 1);
    h.clear_faults();
    let mut s = TcpStream::connect(h.addr()).await.expect("connect");
    let pong = roundtrip(&mut s, doc! {"ping": 1, "$db": "admin"}).await;
    assert_eq!(pong.get_f64("ok").expect("ok"), 1.0);
}
