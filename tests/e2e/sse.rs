//! Server-Sent Events (`GET /sse`) end to end: a real gateway process,
//! `curl -N`, and a streaming HTTP client for the detailed assertions.

use std::time::Duration;

use herald_tests::gateway::GatewayProc;
use herald_tests::sse::{Event, Item, SseClient};
use herald_tests::tokens::{self, SECRET};
use serde_json::{Value, json};

fn standalone(extra: &[&str]) -> GatewayProc {
    let mut args = vec!["--standalone", "--demo-rate", "0"];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

fn url(gw: &GatewayProc, query: &str) -> String {
    format!("http://{}/sse?{query}", gw.client)
}

async fn open(gw: &GatewayProc, query: &str) -> SseClient {
    match SseClient::open(&url(gw, query), &[]).await {
        Ok(c) => c,
        Err(r) => panic!("refused: {} {}", r.status, r.body),
    }
}

/// The next `message` event's (room, offset).
async fn message(c: &mut SseClient) -> (String, u64) {
    let e = c.event().await;
    assert_eq!(e.event, "message", "{e:?}");
    assert!(e.id.is_some(), "a message carries the stream id: {e:?}");
    let v = e.json();
    assert_eq!(v["type"], "message");
    (
        v["room"].as_str().unwrap_or_default().to_owned(),
        v["offset"].as_u64().unwrap_or_default(),
    )
}

/// The next event, which must be `name` for `room`; returns its data.
async fn expect(c: &mut SseClient, name: &str, room: &str) -> Value {
    let e: Event = c.event().await;
    assert_eq!(e.event, name, "{e:?}");
    let v = e.json();
    assert_eq!(v["room"], room, "{e:?}");
    v
}

async fn publish_n(gw: &GatewayProc, room: &str, n: usize) {
    for i in 0..n {
        gw.publish(room, "tick", json!({ "i": i })).await;
    }
}

#[tokio::test]
async fn curl_gets_the_snapshot_and_live_events_with_ids() {
    let gw = standalone(&[]);
    gw.publish("lobby", "tick", json!({ "n": 1 })).await;
    let mut child = std::process::Command::new("curl")
        .args(["-N", "-s", "--max-time", "20", &url(&gw, "room=lobby")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    // Publish the live one only once curl's stream is open.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw
        .metric("herald_gateway_connections", "transport=\"sse\"")
        .await
        != Some(1.0)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "curl never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.publish("lobby", "tick", json!({ "n": 2 })).await;
    // Both messages handed to the response, then a moment for curl.
    while gw
        .metric(
            "herald_gateway_messages_delivered_total",
            "transport=\"sse\"",
        )
        .await
        < Some(2.0)
    {
        assert!(tokio::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = child.kill();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("curl output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("event: subscribed\n"), "{text}");
    let ids = text.lines().filter(|l| l.starts_with("id: ")).count();
    assert!(ids >= 3, "subscribed and two messages carry ids: {text}");
    assert_eq!(text.matches("event: message\n").count(), 2, "{text}");
    assert!(text.contains(r#""data":{"n":2}"#), "{text}");
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_recovers_exactly_the_missed_messages_in_every_room() {
    let gw = standalone(&[]);
    publish_n(&gw, "a", 1).await;
    publish_n(&gw, "b", 1).await;
    let mut c = open(&gw, "room=a&room=b").await;
    let s = expect(&mut c, "subscribed", "a").await;
    assert_eq!(s["recovered"], false);
    assert_eq!(message(&mut c).await, ("a".into(), 1));
    expect(&mut c, "subscribed", "b").await;
    assert_eq!(message(&mut c).await, ("b".into(), 1));
    gw.publish("b", "tick", json!(2)).await;
    gw.publish("a", "tick", json!(2)).await;
    let mut live = vec![message(&mut c).await, message(&mut c).await];
    live.sort();
    assert_eq!(live, [("a".into(), 2), ("b".into(), 2)]);
    let id = c.last_id.clone().expect("an id");
    drop(c);

    publish_n(&gw, "a", 2).await;
    publish_n(&gw, "b", 1).await;
    for how in ["header", "since"] {
        let mut c = match how {
            "header" => SseClient::open(&url(&gw, "room=a&room=b"), &[("Last-Event-ID", &id)])
                .await
                .unwrap_or_else(|r| panic!("{} {}", r.status, r.body)),
            _ => open(&gw, &format!("room=a&room=b&since={id}")).await,
        };
        let s = expect(&mut c, "subscribed", "a").await;
        assert_eq!(s["recovered"], true, "{how}");
        assert_eq!(message(&mut c).await, ("a".into(), 3), "{how}");
        assert_eq!(message(&mut c).await, ("a".into(), 4), "{how}");
        let s = expect(&mut c, "subscribed", "b").await;
        assert_eq!(s["recovered"], true, "{how}");
        assert_eq!(message(&mut c).await, ("b".into(), 3), "{how}");
        assert_eq!(
            c.next_event(Duration::from_millis(300)).await,
            None,
            "nothing more ({how})"
        );
    }
}

#[tokio::test]
async fn a_position_from_another_epoch_gets_the_reset_event_and_a_snapshot() {
    let first = standalone(&[]);
    publish_n(&first, "r", 3).await;
    let mut c = open(&first, "room=r").await;
    expect(&mut c, "subscribed", "r").await;
    assert_eq!(message(&mut c).await, ("r".into(), 3));
    let id = c.last_id.clone().expect("an id");
    drop(c);
    // Another standalone gateway: the room's history is another epoch.
    let second = standalone(&[]);
    publish_n(&second, "r", 1).await;
    let mut c = SseClient::open(&url(&second, "room=r"), &[("Last-Event-ID", &id)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    let reset = expect(&mut c, "reset", "r").await;
    assert_eq!(reset["recovered"], false);
    assert_eq!(reset["type"], "subscribed");
    assert_eq!(message(&mut c).await, ("r".into(), 1));
}

#[tokio::test]
async fn heartbeat_comments_arrive() {
    let gw = standalone(&["--sse-heartbeat-ms", "200"]);
    let mut c = open(&gw, "room=quiet").await;
    expect(&mut c, "subscribed", "quiet").await;
    let item = c.next_item(Duration::from_secs(5)).await;
    assert_eq!(item, Some(Item::Comment("ping".into())));
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_native_code_and_others_are_served() {
    let gw = standalone(&[
        "--max-rooms-per-connection",
        "2",
        "--socketio-cors-origins",
        "https://app.example",
    ]);
    for (query, headers, status, code) in [
        ("room=a%20b", vec![], 400, 103),
        ("", vec![], 400, 101),
        ("room=a&room=b&room=c", vec![], 400, 104),
        ("room=a&since=not-an-id!", vec![], 400, 101),
        ("room=a", vec![("Last-Event-ID", "1.2-3.4")], 400, 101),
        (
            "room=a",
            vec![("Last-Event-ID", "x".repeat(6000).leak() as &str)],
            400,
            101,
        ),
        ("room=a", vec![("Origin", "https://evil.example")], 403, 105),
    ] {
        let r = SseClient::open(&url(&gw, query), &headers).await;
        let Err(r) = r else {
            panic!("{query:?} {headers:?} was accepted");
        };
        assert_eq!(
            (r.status, r.body["code"].as_u64()),
            (status, Some(code)),
            "{query:?}: {}",
            r.body
        );
        assert!(
            r.body["error"].is_string() && r.body["message"].is_string(),
            "{}",
            r.body
        );
    }
    let mut c = SseClient::open(&url(&gw, "room=a"), &[("Origin", "https://app.example")])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    expect(&mut c, "subscribed", "a").await;
}

#[tokio::test]
async fn tokens_decide_the_rooms_and_their_expiry_ends_the_stream() {
    let gw = standalone(&[
        "--jwt-hmac-secret",
        SECRET,
        "--public-rooms",
        "pub:*",
        "--jwt-leeway-secs",
        "0",
    ]);
    let token = tokens::hs256(None, &tokens::connection("ana", &["team:*"], 2));
    // A room the token does not cover.
    let r = SseClient::open(
        &url(&gw, &format!("room=team:1&room=other&token={token}")),
        &[],
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(
        (r.status, r.body["code"].as_u64()),
        (403, Some(105)),
        "{}",
        r.body
    );
    // Anonymous: only the public rooms.
    let r = SseClient::open(&url(&gw, "room=team:1"), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (r.status, r.body["code"].as_u64()),
        (403, Some(105)),
        "{}",
        r.body
    );
    let r = SseClient::open(&url(&gw, "room=pub:1&token=nonsense"), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (r.status, r.body["code"].as_u64()),
        (401, Some(108)),
        "{}",
        r.body
    );
    assert_eq!(r.body["close"], 4008);
    open(&gw, "room=pub:1").await;
    // A bearer header works as well as the query; the expiry ends it.
    let bearer = format!("Bearer {token}");
    let mut c = SseClient::open(&url(&gw, "room=team:1"), &[("Authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    expect(&mut c, "subscribed", "team:1").await;
    let bye = c
        .next_event(Duration::from_secs(6))
        .await
        .expect("disconnect");
    assert_eq!(bye.event, "disconnect", "{bye:?}");
    assert_eq!(bye.json()["code"], 4007);
    assert_eq!(c.next_item(Duration::from_secs(2)).await, None);
    assert!(c.ended, "the stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_and_another_keeps_receiving() {
    // Room for a whole batch (100 messages of 8 KB, two chunks each), far
    // less than the 12.8 MB published.
    let gw = standalone(&[
        "--outbox-max-messages",
        "400",
        "--outbox-max-bytes",
        "2000000",
        "--history-size",
        "10",
        // The slow client reads again only after the fast one is done.
        "--sse-final-grace-ms",
        "600000",
    ]);
    let mut slow = open(&gw, "room=big").await;
    expect(&mut slow, "subscribed", "big").await;
    let mut fast = open(&gw, "room=big").await;
    expect(&mut fast, "subscribed", "big").await;
    let batches = 16;
    let per = 100;
    let reader = tokio::spawn(async move {
        let mut last = 0;
        while last < (batches * per) as u64 {
            let (_, offset) = message(&mut fast).await;
            assert_eq!(offset, last + 1, "in order, nothing lost");
            last = offset;
        }
        last
    });
    let blob = "x".repeat(8000);
    let client = reqwest::Client::new();
    for _ in 0..batches {
        let messages: Vec<Value> = (0..per)
            .map(|_| json!({ "room": "big", "event": "blob", "data": blob }))
            .collect();
        let resp = client
            .post(format!("{}/api/publish/batch", gw.admin_url()))
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .expect("batch");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("in time")
            .expect("reader"),
        (batches * per) as u64
    );
    // The slow one reads again: what was buffered, then the final event.
    let mut last = None;
    while let Some(e) = slow.next_event(Duration::from_secs(10)).await {
        last = Some(e);
    }
    let last = last.expect("events");
    assert_eq!(last.event, "disconnect", "{last:?}");
    assert_eq!(last.json()["code"], 4002);
    assert!(slow.ended);
    assert!(
        gw.metric("herald_gateway_slow_consumer_disconnects_total", "")
            .await
            >= Some(1.0)
    );
}

#[tokio::test]
async fn sigterm_ends_streams_with_the_shutdown_event() {
    let mut gw = standalone(&["--shutdown-grace-ms", "3000"]);
    let mut c = open(&gw, "room=a").await;
    expect(&mut c, "subscribed", "a").await;
    assert_eq!(
        gw.metric("herald_gateway_connections", "transport=\"sse\"")
            .await,
        Some(1.0)
    );
    gw.proc.signal("TERM");
    let bye = c.event().await;
    assert_eq!(bye.event, "disconnect", "{bye:?}");
    let v = bye.json();
    assert_eq!(
        (v["code"].as_u64(), v["reconnect"].as_bool()),
        (Some(4001), Some(true))
    );
    assert_eq!(c.next_item(Duration::from_secs(5)).await, None);
    assert!(c.ended);
    assert_eq!(gw.proc.wait_exit(Duration::from_secs(6)), Some(0));
}

/// A client that stopped reading and never reads again holds no socket:
/// after `--sse-final-grace-ms` the gateway drops the connection, so the
/// stream ends without its final event when the client reads at last.
/// (Without the drop, the gateway would keep the socket until the client
/// read, and the client would still get the `disconnect` event.)
#[tokio::test]
async fn a_stalled_client_that_never_reads_again_is_dropped_after_the_grace() {
    let gw = standalone(&[
        "--outbox-max-messages",
        "400",
        "--outbox-max-bytes",
        "2000000",
        "--history-size",
        "10",
        "--sse-final-grace-ms",
        "300",
    ]);
    let mut slow = open(&gw, "room=big").await;
    expect(&mut slow, "subscribed", "big").await;
    let blob = "x".repeat(8000);
    let client = reqwest::Client::new();
    for _ in 0..16 {
        let messages: Vec<Value> = (0..100)
            .map(|_| json!({ "room": "big", "event": "blob", "data": blob }))
            .collect();
        let resp = client
            .post(format!("{}/api/publish/batch", gw.admin_url()))
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .expect("batch");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    let mut cut = false;
    for _ in 0..100 {
        if gw
            .metric("herald_gateway_slow_consumer_disconnects_total", "")
            .await
            >= Some(1.0)
        {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cut, "the stalled client was cut off");
    // Well past the grace, read what the kernel still holds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut events = Vec::new();
    while let Some(e) = slow.next_event(Duration::from_secs(10)).await {
        events.push(e.event);
    }
    assert!(slow.ended, "the stream ended");
    assert!(
        !events.iter().any(|e| e == "disconnect"),
        "the final event came: the connection was kept open for it"
    );
}
