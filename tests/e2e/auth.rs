//! Who may see what, against real gateways on a real Redis: the default
//! policy of a gateway with no auth configured, the bad-token matrix on the
//! native protocol (URL token and first frame) and on Socket.IO (the real
//! client's `auth: {token}`), room grants and subscription tokens, and
//! token expiry with and without a refresh.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use herald_protocol::RoomName;
use herald_protocol::native::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use herald_tests::gateway::GatewayProc;
use herald_tests::node::{finish, node};
use herald_tests::redis::RedisServer;
use herald_tests::tokens::{self, SECRET};
use herald_tests::ws::Client;
use serde_json::{Value, json};

const ISSUER: &str = "herald-tests";
const AUDIENCE: &str = "dashboards";

/// A gateway on `redis` that verifies tokens: an HS256 key (`kid` "hs")
/// and the fixture RSA key (`kid` "rsa"), issuer and audience checked, no
/// leeway, a 2 KiB token limit and a short auth timeout.
fn secured(redis: &RedisServer, extra: &[&str]) -> GatewayProc {
    let rsa = tokens::fixture("rsa_public.pem").display().to_string();
    let url = redis.url();
    let mut args = vec![
        "--redis-url",
        url.as_str(),
        "--jwt-hmac-secret",
        SECRET,
        "--jwt-hmac-kid",
        "hs",
        "--jwt-public-key-file",
        rsa.as_str(),
        "--jwt-public-key-alg",
        "RS256",
        "--jwt-public-key-kid",
        "rsa",
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        AUDIENCE,
        "--jwt-leeway-secs",
        "0",
        "--jwt-max-bytes",
        "2048",
        "--auth-timeout-ms",
        "500",
        "--allow-client-publish",
    ];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

/// Connection claims this gateway accepts: issuer, audience, `rooms`.
fn claims(user: &str, rooms: &[&str], secs: u64) -> Value {
    let mut c = tokens::connection(user, rooms, secs);
    c["iss"] = json!(ISSUER);
    c["aud"] = json!(AUDIENCE);
    c
}

fn good_token(user: &str, rooms: &[&str], secs: u64) -> String {
    tokens::hs256(Some("hs"), &claims(user, rooms, secs))
}

fn subscribe(room: &str, token: Option<String>, id: u64) -> ClientFrame {
    ClientFrame::Subscribe {
        room: RoomName::new(room).unwrap(),
        since: None,
        leave_others: false,
        token,
        id: Some(id),
    }
}

/// Opens a WebSocket without expecting `welcome` (a refused URL token
/// gets none).
async fn open(url: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    Client { ws }
}

/// The error code of the first `error` frame, the close frame's code and
/// the WebSocket close code.
fn refusal(
    frames: &[ServerFrame],
    close: Option<u16>,
) -> (Option<ErrorCode>, Option<CloseCode>, Option<u16>) {
    let error = frames.iter().find_map(|f| match f {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    });
    let disconnect = frames.iter().find_map(|f| match f {
        ServerFrame::Disconnect { code, .. } => Some(*code),
        _ => None,
    });
    (error, disconnect, close)
}

/// Reads until the reply with request id `id`.
async fn reply(c: &mut Client, id: u64) -> ServerFrame {
    loop {
        let f = c.next_frame().await;
        let fid = match &f {
            ServerFrame::Subscribed { id, .. }
            | ServerFrame::Error { id, .. }
            | ServerFrame::Authenticated { id, .. }
            | ServerFrame::Published { id, .. } => *id,
            _ => None,
        };
        if fid == Some(id) {
            return f;
        }
    }
}

fn error_code(f: &ServerFrame) -> Option<ErrorCode> {
    match f {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// Waits until the gateway's log holds `needle`.
fn wait_log(gw: &GatewayProc, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.proc.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            gw.proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_gateway_on_redis_without_auth_opens_only_its_public_rooms() {
    let redis = RedisServer::start();
    let url = redis.url();
    let closed = GatewayProc::start(&["--redis-url", url.as_str()]);
    wait_log(
        &closed,
        "anonymous access is limited to --public-rooms, which is empty",
    );
    let (mut c, _) = Client::connect(&closed.ws_url()).await;
    c.send(&subscribe("dashboard:sales", None, 1)).await;
    assert_eq!(
        error_code(&reply(&mut c, 1).await),
        Some(ErrorCode::PermissionDenied),
        "no room is public by default"
    );

    let public =
        GatewayProc::start(&["--redis-url", url.as_str(), "--public-rooms", "dashboard:*"]);
    wait_log(
        &public,
        "anonymous access is limited to --public-rooms dashboard:*",
    );
    let (mut c, _) = Client::connect(&public.ws_url()).await;
    c.send(&subscribe("dashboard:sales", None, 1)).await;
    assert!(matches!(
        reply(&mut c, 1).await,
        ServerFrame::Subscribed { .. }
    ));
    c.send(&subscribe("admin:x", None, 2)).await;
    assert_eq!(
        error_code(&reply(&mut c, 2).await),
        Some(ErrorCode::PermissionDenied)
    );
    // The one refusal on this fresh gateway is counted once.
    assert_eq!(
        public
            .metric(
                "herald_gateway_client_errors_total",
                "code=\"permission_denied\""
            )
            .await,
        Some(1.0)
    );
}

#[tokio::test]
async fn every_bad_token_gets_its_code_and_the_gateway_keeps_serving_the_others() {
    let redis = RedisServer::start();
    let gw = secured(&redis, &[]);
    // A good client in a room, throughout.
    let (mut good, welcome) = Client::connect(&format!(
        "{}?token={}",
        gw.ws_url(),
        good_token("ana", &["dashboard:*"], 600)
    ))
    .await;
    assert!(
        matches!(
            welcome,
            ServerFrame::Welcome {
                auth_within_ms: None,
                ..
            }
        ),
        "{welcome:?}"
    );
    good.send(&subscribe("dashboard:sales", None, 1)).await;
    assert!(matches!(
        reply(&mut good, 1).await,
        ServerFrame::Subscribed { .. }
    ));

    let c = || claims("eve", &["dashboard:*"], 600);
    let mut expired = c();
    expired["exp"] = json!(tokens::now() - 60);
    let mut early = c();
    early["nbf"] = json!(tokens::now() + 600);
    let mut wrong_aud = c();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = c();
    wrong_iss["iss"] = json!("someone-else");
    let mut huge = c();
    huge["pad"] = json!("x".repeat(4096));
    let forged = {
        let t = good_token("eve", &["dashboard:*"], 600);
        let (head, _) = t.rsplit_once('.').unwrap();
        format!("{head}.{}", "A".repeat(43))
    };
    let cases: Vec<(&str, String, CloseCode, &str)> = vec![
        (
            "expired",
            tokens::hs256(Some("hs"), &expired),
            CloseCode::TokenExpired,
            "expired",
        ),
        (
            "not yet valid",
            tokens::hs256(Some("hs"), &early),
            CloseCode::TokenInvalid,
            "not_yet_valid",
        ),
        (
            "wrong signature",
            forged,
            CloseCode::TokenInvalid,
            "bad_signature",
        ),
        (
            "alg none",
            tokens::alg_none(&c()),
            CloseCode::TokenInvalid,
            "malformed",
        ),
        (
            "HS256 signed with the RSA public key",
            tokens::hs256_with_rsa_public(Some("rsa"), &c()),
            CloseCode::TokenInvalid,
            "alg_mismatch",
        ),
        (
            "wrong aud",
            tokens::hs256(Some("hs"), &wrong_aud),
            CloseCode::TokenInvalid,
            "wrong_audience",
        ),
        (
            "wrong iss",
            tokens::hs256(Some("hs"), &wrong_iss),
            CloseCode::TokenInvalid,
            "wrong_issuer",
        ),
        (
            "unknown kid",
            tokens::hs256(Some("nope"), &c()),
            CloseCode::TokenInvalid,
            "unknown_kid",
        ),
        (
            "oversized",
            tokens::hs256(Some("hs"), &huge),
            CloseCode::TokenInvalid,
            "token_too_large",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            CloseCode::TokenInvalid,
            "malformed",
        ),
    ];
    for (name, token, code, metric) in &cases {
        let before = gw
            .metric(
                "herald_gateway_auth_refusals_total",
                &format!("code=\"{metric}\""),
            )
            .await
            .unwrap_or(0.0);
        // In the URL: refused before `welcome`.
        let mut c = open(&format!("{}?token={token}", gw.ws_url())).await;
        let (frames, close) = c.until_closed().await;
        assert_eq!(
            refusal(&frames, close),
            (
                Some(ErrorCode::Unauthorized),
                Some(*code),
                Some(u16::from(*code))
            ),
            "{name} in the URL: {frames:?}"
        );
        // In the first frame.
        let (mut c, _) = Client::connect(&gw.ws_url()).await;
        c.send(&ClientFrame::Auth {
            token: token.clone(),
            id: Some(9),
        })
        .await;
        let (frames, close) = c.until_closed().await;
        assert_eq!(
            refusal(&frames, close),
            (
                Some(ErrorCode::Unauthorized),
                Some(*code),
                Some(u16::from(*code))
            ),
            "{name} as the first frame: {frames:?}"
        );
        let after = gw
            .metric(
                "herald_gateway_auth_refusals_total",
                &format!("code=\"{metric}\""),
            )
            .await
            .unwrap_or(0.0);
        assert_eq!(after - before, 2.0, "{name} counted under {metric}");
    }

    // No token at all: closed with 4009 once the auth timeout passes.
    let started = Instant::now();
    let (mut c, welcome) = Client::connect(&gw.ws_url()).await;
    assert!(
        matches!(
            welcome,
            ServerFrame::Welcome {
                auth_within_ms: Some(500),
                ..
            }
        ),
        "{welcome:?}"
    );
    c.send(&subscribe("dashboard:sales", None, 3)).await;
    let (frames, close) = c.until_closed().await;
    assert_eq!(
        refusal(&frames, close),
        (
            Some(ErrorCode::Unauthorized),
            Some(CloseCode::AuthTimeout),
            Some(4009)
        ),
        "{frames:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(450));

    // The good client was served throughout.
    gw.publish("dashboard:sales", "update", json!({ "n": 1 }))
        .await;
    let got = good.messages(1).await;
    assert_eq!(got[0].2, json!({ "n": 1 }));
}

#[tokio::test]
async fn a_grant_opens_its_rooms_and_a_subscription_token_exactly_its_own() {
    let redis = RedisServer::start();
    let gw = secured(&redis, &[]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    // RS256 works too, selected by kid.
    c.send(&ClientFrame::Auth {
        token: tokens::rs256(Some("rsa"), &claims("ana", &["dashboard:*"], 600)),
        id: Some(1),
    })
    .await;
    assert!(
        matches!(reply(&mut c, 1).await, ServerFrame::Authenticated { user: Some(ref u), .. } if u == "ana")
    );
    c.send(&subscribe("dashboard:sales", None, 2)).await;
    assert!(matches!(
        reply(&mut c, 2).await,
        ServerFrame::Subscribed { .. }
    ));
    c.send(&subscribe("admin:x", None, 3)).await;
    assert_eq!(
        error_code(&reply(&mut c, 3).await),
        Some(ErrorCode::PermissionDenied)
    );

    let sub_token = |user: &str, room: &str| {
        let mut claims = tokens::subscription(user, room, 600);
        claims["iss"] = json!(ISSUER);
        claims["aud"] = json!(AUDIENCE);
        tokens::hs256(Some("hs"), &claims)
    };
    // Exactly its room.
    c.send(&subscribe("admin:x", Some(sub_token("ana", "admin:x")), 4))
        .await;
    assert!(matches!(
        reply(&mut c, 4).await,
        ServerFrame::Subscribed { .. }
    ));
    c.send(&subscribe("admin:y", Some(sub_token("ana", "admin:x")), 5))
        .await;
    assert_eq!(
        error_code(&reply(&mut c, 5).await),
        Some(ErrorCode::PermissionDenied)
    );
    // Another user's subscription token, and a connection token passed off
    // as a subscription token, are refused.
    c.send(&subscribe("admin:z", Some(sub_token("bob", "admin:z")), 6))
        .await;
    assert_eq!(
        error_code(&reply(&mut c, 6).await),
        Some(ErrorCode::Unauthorized)
    );
    c.send(&subscribe(
        "admin:z",
        Some(good_token("ana", &["admin:*"], 600)),
        7,
    ))
    .await;
    assert_eq!(
        error_code(&reply(&mut c, 7).await),
        Some(ErrorCode::Unauthorized)
    );
    // And a subscription token is no connection token.
    let mut other = open(&format!(
        "{}?token={}",
        gw.ws_url(),
        sub_token("ana", "admin:x")
    ))
    .await;
    let (frames, close) = other.until_closed().await;
    assert_eq!(close, Some(4008), "{frames:?}");

    // Publishing follows the token's publish claim.
    c.send(&ClientFrame::Publish {
        room: RoomName::new("dashboard:sales").unwrap(),
        event: "note".into(),
        data: json!(1),
        id: Some(8),
    })
    .await;
    assert!(matches!(
        reply(&mut c, 8).await,
        ServerFrame::Published { .. }
    ));
    c.send(&ClientFrame::Publish {
        room: RoomName::new("admin:x").unwrap(),
        event: "note".into(),
        data: json!(1),
        id: Some(9),
    })
    .await;
    assert_eq!(
        error_code(&reply(&mut c, 9).await),
        Some(ErrorCode::PermissionDenied)
    );
}

#[tokio::test]
async fn a_refresh_keeps_the_connection_past_expiry_and_without_one_it_closes_with_4007() {
    let redis = RedisServer::start();
    let gw = secured(&redis, &[]);
    let short = || good_token("ana", &["dashboard:*"], 2);

    // Without a refresh: closed with 4007 at expiry.
    let started = Instant::now();
    let (mut lapsing, _) = Client::connect(&format!("{}?token={}", gw.ws_url(), short())).await;
    lapsing.send(&subscribe("dashboard:a", None, 1)).await;
    assert!(matches!(
        reply(&mut lapsing, 1).await,
        ServerFrame::Subscribed { .. }
    ));

    // With one, before expiry: the connection and its room stay.
    let (mut kept, _) = Client::connect(&format!("{}?token={}", gw.ws_url(), short())).await;
    kept.send(&subscribe("dashboard:a", None, 1)).await;
    assert!(matches!(
        reply(&mut kept, 1).await,
        ServerFrame::Subscribed { .. }
    ));
    gw.publish("dashboard:a", "update", json!({ "n": 1 })).await;
    kept.send(&ClientFrame::Refresh {
        token: good_token("ana", &["dashboard:*"], 600),
        id: Some(2),
    })
    .await;
    // A refresh may not switch users.
    kept.send(&ClientFrame::Refresh {
        token: good_token("bob", &["dashboard:*"], 600),
        id: Some(3),
    })
    .await;
    let mut offsets = Vec::new();
    let (mut refreshed, mut refused) = (false, false);
    while !(refreshed && refused && offsets.len() == 1) {
        match kept.next_frame().await {
            ServerFrame::Message { offset, .. } => offsets.push(offset),
            ServerFrame::Authenticated {
                expires: Some(e),
                id: Some(2),
                ..
            } => refreshed = e > tokens::now() + 500,
            ServerFrame::Error {
                code: ErrorCode::Unauthorized,
                id: Some(3),
                ..
            } => refused = true,
            other => panic!("unexpected {other:?}"),
        }
    }

    let (frames, close) = lapsing.until_closed().await;
    assert_eq!(
        refusal(&frames, close).1,
        Some(CloseCode::TokenExpired),
        "{frames:?} {close:?}"
    );
    assert_eq!(close, Some(4007));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Past the first token's expiry, the refreshed connection still gets
    // every message, in order.
    gw.publish("dashboard:a", "update", json!({ "n": 2 })).await;
    offsets.extend(kept.messages(1).await.into_iter().map(|m| m.1));
    assert_eq!(offsets, vec![1, 2]);
}

#[tokio::test]
async fn the_real_socketio_client_authenticates_with_auth_token_and_obeys_the_codes() {
    let redis = RedisServer::start();
    let gw = secured(&redis, &["--socketio-recovery"]);
    let good = good_token("ana", &["dashboard:*"], 600);
    let mut expired = claims("ana", &["dashboard:*"], 600);
    expired["exp"] = json!(tokens::now() - 60);
    let expired = tokens::hs256(Some("hs"), &expired);
    // Long enough to outlast node's start-up on a busy machine.
    let short = good_token("ana", &["dashboard:*"], 5);
    // The seed's client code, with `auth: {token}` its only change: the
    // snapshot, then live updates in order, over polling and the upgrade.
    gw.publish("dashboard:sales", "dashboard:update", json!({ "n": 0 }))
        .await;
    let seed = finish(
        &gw,
        node(&gw, "sio-seed.mjs", &["default", "3", "", good.as_str()]),
    );
    assert_eq!(seed["snapshot"]["n"], 0, "{seed}");
    assert_eq!(seed["transport"], "websocket", "{seed}");
    // Without the token, the same code is refused.
    let mut refused = node(&gw, "sio-seed.mjs", &["websocket", "1"]);
    assert_eq!(refused.wait_exit(Duration::from_secs(15)), Some(1));
    let log = refused.log_text();
    assert!(log.contains("FAILED: connect_error"), "{log}");

    let out = finish(
        &gw,
        node(
            &gw,
            "sio-auth.mjs",
            &[good.as_str(), expired.as_str(), short.as_str()],
        ),
    );
    // A room outside the grant: the ack's error and `herald:error`.
    assert_eq!(out["denied_ack"]["error"]["code"], 105, "{out}");
    assert_eq!(out["denied_event"]["code"], 105, "{out}");
    // No token, and an expired one: CONNECT_ERROR with the code, and
    // whether a fresh token may retry.
    assert_eq!(out["no_token"]["code"], 4008, "{out}");
    assert_eq!(out["no_token"]["reconnect"], false, "{out}");
    assert_eq!(out["expired"]["code"], 4007, "{out}");
    assert_eq!(out["expired"]["reconnect"], true, "{out}");
    // A token that lapses: `herald:error` 4007, then the client reconnects
    // by itself and its `auth` callback hands over a fresh token.
    assert_eq!(out["lapsed"]["notice"]["code"], 4007, "{out}");
    assert_eq!(out["lapsed"]["auth_calls"], 2, "{out}");
    assert_eq!(out["lapsed"]["reconnected"], true, "{out}");
}

/// The status of a WebSocket upgrade to `url` sent with `origin`.
async fn upgrade_status(url: &str, origin: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::{Error, http::HeaderValue};
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(o).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade to {url}: {e}"),
    }
}

#[tokio::test]
async fn one_origin_policy_guards_every_upgrade_and_polling() {
    let gw = GatewayProc::start(&[
        "--standalone",
        "--demo-rate",
        "0",
        "--socketio-cors-origins",
        "https://app.example",
    ]);
    let native = gw.ws_url();
    let sio = format!("ws://{}/socket.io/?EIO=4&transport=websocket", gw.client);
    let own = format!("http://{}", gw.client);
    for url in [&native, &sio] {
        assert_eq!(
            upgrade_status(url, Some("https://app.example")).await,
            101,
            "{url}"
        );
        assert_eq!(
            upgrade_status(url, None).await,
            101,
            "{url}: no Origin (not a browser)"
        );
        assert_eq!(
            upgrade_status(url, Some(&own)).await,
            101,
            "{url}: the gateway's own page"
        );
        assert_eq!(
            upgrade_status(url, Some("https://evil.example")).await,
            403,
            "{url}"
        );
    }
    // Polling follows the same list: a foreign preflight is refused.
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{}/socket.io/?EIO=4&transport=polling", gw.client),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 403);
}

/// A client with `cookie` on its WebSocket upgrade, or without one.
async fn open_with_cookie(url: &str, cookie: Option<&str>) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut req = url.into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(c).unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    Client { ws }
}

/// The connect proxy on the native transport, on a gateway on Redis with
/// no token keys and no public rooms: a session cookie the backend
/// accepts opens its grant's rooms (and only those); no cookie gets 108
/// then 4008 (do not reconnect); a dead backend gets 110 then 4011
/// (reconnect later).
#[tokio::test]
async fn the_connect_proxy_admits_native_clients_by_cookie() {
    let redis = RedisServer::start();
    let url = redis.url();
    let script = herald_tests::node::js_dir()
        .join("app-backend.mjs")
        .display()
        .to_string();
    let backend = herald_tests::process::Proc::spawn(std::path::Path::new("node"), &[script]);
    let line = backend.wait_line("app-backend listening on ", Duration::from_secs(10));
    let backend_url = line
        .trim_start_matches("app-backend listening on ")
        .trim()
        .to_owned();
    let gw = GatewayProc::start(&[
        "--redis-url",
        url.as_str(),
        "--demo-rate",
        "0",
        "--connect-proxy",
        backend_url.as_str(),
    ]);

    let mut good = open_with_cookie(&gw.ws_url(), Some("session=good")).await;
    assert!(matches!(
        good.next_frame().await,
        ServerFrame::Welcome { .. }
    ));
    good.send(&subscribe("dashboard:sales", None, 1)).await;
    let granted = reply(&mut good, 1).await;
    assert!(
        matches!(granted, ServerFrame::Subscribed { .. }),
        "{granted:?}"
    );
    good.send(&subscribe("admin:x", None, 2)).await;
    let refused = reply(&mut good, 2).await;
    assert_eq!(
        error_code(&refused),
        Some(ErrorCode::PermissionDenied),
        "{refused:?}"
    );

    let mut anon = open_with_cookie(&gw.ws_url(), None).await;
    let (frames, close) = anon.until_closed().await;
    assert_eq!(
        refusal(&frames, close),
        (
            Some(ErrorCode::Unauthorized),
            Some(CloseCode::TokenInvalid),
            Some(4008)
        ),
        "{frames:?}"
    );

    let dead = GatewayProc::start(&[
        "--redis-url",
        url.as_str(),
        "--demo-rate",
        "0",
        "--connect-proxy",
        "http://127.0.0.1:9/",
    ]);
    let mut c = open_with_cookie(&dead.ws_url(), Some("session=good")).await;
    let (frames, close) = c.until_closed().await;
    assert_eq!(
        refusal(&frames, close),
        (
            Some(ErrorCode::BackendFailed),
            Some(CloseCode::BackendFailed),
            Some(4011)
        ),
        "{frames:?}"
    );
    // The first client was never held up by the others.
    good.send(&subscribe("dashboard:ops", None, 3)).await;
    assert!(matches!(
        reply(&mut good, 3).await,
        ServerFrame::Subscribed { .. }
    ));
}
