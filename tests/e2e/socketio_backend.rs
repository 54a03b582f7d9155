//! The application backend behind Socket.IO: the connect proxy and the
//! event proxy, with the real `socket.io-client` against a real gateway
//! and `tests/js/app-backend.mjs` (the backend the official v5 suite runs
//! against). Replies in arrival order, the gateway's own events and other
//! sockets not held behind a slow backend, the in-flight bound, and each
//! failure's documented error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use herald_tests::gateway::GatewayProc;
use herald_tests::node::{finish, js_dir, node};
use herald_tests::process::Proc;
use serde_json::{Value, json};

const SECRET: &str = "backend-secret-0123456789";

/// `node app-backend.mjs 0 SECRET`, and the URL it listens on.
fn backend() -> (Proc, String) {
    let script = js_dir().join("app-backend.mjs").display().to_string();
    let p = Proc::spawn(Path::new("node"), &[script, "0".into(), SECRET.into()]);
    let line = p.wait_line("app-backend listening on ", Duration::from_secs(10));
    let url = line
        .trim_start_matches("app-backend listening on ")
        .trim()
        .to_owned();
    (p, url)
}

/// A standalone gateway with both proxies at `url`.
fn gateway(url: &str, secret: &str, extra: &[&str]) -> GatewayProc {
    let mut args = vec![
        "--standalone",
        "--demo-rate",
        "0",
        "--public-rooms",
        "dashboard:*",
        "--connect-proxy",
        url,
        "--socketio-event-proxy",
        url,
        "--proxy-secret",
        secret,
    ];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

fn code(v: &Value) -> Value {
    v["error"]["code"].clone()
}

#[tokio::test]
async fn connects_and_events_go_to_the_backend_and_its_replies_come_back_in_order() {
    let (_backend, url) = backend();
    let gw = gateway(
        &url,
        SECRET,
        &[
            "--proxy-max-in-flight-per-session",
            "2",
            "--proxy-max-reply-bytes",
            "10000",
        ],
    );
    let out = finish(&gw, node(&gw, "sio-backend.mjs", &[]));

    // The connect proxy: its greeting, its user, the room it joined.
    assert_eq!(
        out["greeting"],
        json!([{ "user": "alice", "join": "dashboard:joined" }]),
        "{out}"
    );
    let who = &out["whoami"];
    assert_eq!(who["user"], "alice", "{out}");
    assert_eq!(who["nsp"], "/", "{out}");
    assert_eq!(who["auth"]["join"], "dashboard:joined", "{out}");
    assert!(who["sid"].as_str().is_some_and(|s| !s.is_empty()), "{out}");

    // Acks, emits back with binary, joins and leaves.
    assert_eq!(out["echoed"], json!([1, "2", { "3": [false] }]), "{out}");
    assert_eq!(out["text"], "hello", "{out}");
    assert_eq!(out["bytes"], json!([1, 2, 3]), "{out}");
    assert_eq!(
        out["joined"],
        json!({ "joined": "dashboard:later" }),
        "{out}"
    );
    assert_eq!(out["left"], json!({ "left": "dashboard:later" }), "{out}");
    // n 3 went to the room after the leave: never delivered.
    assert_eq!(
        out["ticks"],
        json!([{ "n": 1 }, { "n": 2 }, { "n": 4 }]),
        "{out}"
    );

    // The slow event's ack first; nothing else waited for it.
    assert_eq!(out["order"], json!(["slow", "fast"]), "{out}");
    assert_eq!(out["own"]["room"], "dashboard:own", "{out}");
    assert!(out["ownMs"].as_u64().unwrap() < 600, "{out}");
    assert_eq!(out["otherEcho"], "other", "{out}");
    assert!(out["otherMs"].as_u64().unwrap() < 600, "{out}");

    // The bound, and each failure.
    assert_eq!(code(&out["busy"]), 111, "{out}");
    assert_eq!(out["busy"]["error"]["name"], "backend_busy", "{out}");
    assert_eq!(code(&out["status"]), 110, "{out}");
    assert!(
        out["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{out}"
    );
    assert_eq!(code(&out["garbage"]), 110, "{out}");
    assert!(
        out["garbage"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{out}"
    );
    assert_eq!(code(&out["oversized"]), 110, "{out}");
    assert!(
        out["oversized"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000 bytes"),
        "{out}"
    );
    assert_eq!(out["noAckNotice"]["code"], 110, "{out}");
    assert_eq!(out["noAckNotice"]["event"], "fail", "{out}");
    assert_eq!(out["joinNotice"]["code"], 105, "{out}");
    assert_eq!(out["joinNotice"]["event"], "join", "{out}");
    assert_eq!(out["denied"]["message"], "denied by the backend", "{out}");
    assert_eq!(out["denied"]["data"], json!({ "why": "no entry" }), "{out}");

    // Counted by outcome.
    let metrics = gw.metrics().await;
    let count = |labels: &str| {
        herald_tests::gateway::metric_value(
            &metrics,
            "herald_gateway_backend_requests_total",
            labels,
        )
        .unwrap_or(0.0)
    };
    assert!(count("kind=\"connect\",outcome=\"ok\"") >= 3.0, "{metrics}");
    assert!(count("kind=\"event\",outcome=\"ok\"") >= 10.0, "{metrics}");
    assert_eq!(count("kind=\"event\",outcome=\"status\""), 2.0, "{metrics}");
    assert_eq!(
        count("kind=\"event\",outcome=\"invalid\""),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        count("kind=\"event\",outcome=\"too_large\""),
        1.0,
        "{metrics}"
    );
    assert_eq!(count("kind=\"event\",outcome=\"busy\""), 1.0, "{metrics}");
}

/// The secret is checked by the backend: a gateway with the wrong one gets
/// 401 for every request, and the client a CONNECT_ERROR naming 110,
/// instead of a connection the backend never approved.
#[tokio::test]
async fn a_backend_that_refuses_the_gateway_refuses_the_connect() {
    let (_backend, url) = backend();
    let gw = gateway(&url, "not-the-backend-secret", &[]);
    let out = finish(&gw, node(&gw, "sio-backend-down.mjs", &[]));
    assert_eq!(out["data"]["code"], 110, "{out}");
    assert_eq!(out["data"]["name"], "backend_failed", "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("HTTP 401"),
        "{out}"
    );
}

/// A backend that is gone (killed) or never answers: the CONNECT is
/// refused with 110 once the timeout passes, and the gateway keeps serving.
#[tokio::test]
async fn a_dead_or_silent_backend_fails_the_connect_within_the_timeout() {
    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let gw = gateway(&url, SECRET, &["--proxy-timeout-ms", "300"]);
    let out = finish(&gw, node(&gw, "sio-backend-down.mjs", &[]));
    assert_eq!(out["data"]["code"], 110, "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("did not answer"),
        "{out}"
    );

    let (mut backend, url) = backend();
    let gw = gateway(&url, SECRET, &[]);
    backend.signal("KILL");
    let _ = backend.wait_exit(Duration::from_secs(5));
    let out = finish(&gw, node(&gw, "sio-backend-down.mjs", &[]));
    assert_eq!(out["data"]["code"], 110, "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("cannot reach"),
        "{out}"
    );
    drop(silent);
}

/// The connect proxy as a cookie-session login (the way existing apps plug
/// in without minting tokens), on a gateway on Redis where anonymous
/// clients may read nothing: the backend sees the chosen headers and the
/// remote address, its grant opens exactly its rooms, a client without
/// the cookie is refused, and a grant's expiry closes the session with
/// 4007 as a token's would.
#[tokio::test]
async fn a_cookie_session_backend_grants_rooms_and_its_expiry_is_enforced() {
    let redis = herald_tests::redis::RedisServer::start();
    let redis_url = redis.url();
    let (_backend, url) = backend();
    let gw = GatewayProc::start(&[
        "--redis-url",
        redis_url.as_str(),
        "--demo-rate",
        "0",
        "--connect-proxy",
        url.as_str(),
        "--proxy-secret",
        SECRET,
        "--jwt-leeway-secs",
        "0",
    ]);
    let out = finish(&gw, node(&gw, "sio-backend-cookie.mjs", &[]));
    let seen = &out["seen"];
    assert_eq!(seen["user"], "cookie-user", "{out}");
    assert_eq!(
        seen["headers"]["cookie"], "theme=dark; session=good",
        "{out}"
    );
    assert_eq!(seen["headers"]["user-agent"], "herald-test", "{out}");
    assert!(
        seen["remote_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{out}"
    );
    assert_eq!(out["granted"]["room"], "dashboard:sales", "{out}");
    assert_eq!(out["updates"], json!([{ "n": 1 }]), "{out}");
    assert_eq!(code(&out["refused"]), 105, "{out}");
    assert_eq!(out["denied"]["message"], "no session", "{out}");
    assert_eq!(out["denied"]["data"], json!({ "login": "/login" }), "{out}");
    assert_eq!(out["notice"]["code"], 4007, "{out}");
    let after = out["expiredAfterMs"].as_u64().unwrap_or(0);
    assert!(
        (500..=4000).contains(&after),
        "closed {after} ms after the grant: {out}"
    );
}
