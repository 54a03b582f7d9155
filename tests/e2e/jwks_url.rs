//! `--jwt-jwks-url` against a real gateway and a JWKS endpoint the test
//! controls: tokens signed with the URL's keys connect; a rotated key is
//! fetched for its new `kid`; unknown kids cannot hammer the URL; with the
//! endpoint down, or serving oversized, invalid or redirected documents,
//! the cached keys keep working; a token's `jku`/`x5u` is never fetched;
//! a gateway that starts with the URL down refuses tokens with a
//! retryable code until the keys arrive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use herald_protocol::native::{ClientFrame, ErrorCode, ServerFrame};
use herald_tests::gateway::GatewayProc;
use herald_tests::jwks::{HmacKey, JwksServer, Reply, document};
use herald_tests::process::{Proc, bin};
use herald_tests::tokens;
use herald_tests::ws::Client;
use serde_json::Value;

const FETCHES: &str = "herald_gateway_jwks_fetches_total";

/// A standalone gateway (anonymous connections may read, so one
/// connection can try many tokens) verifying tokens with `url`'s keys.
fn gateway(url: &str, extra: &[&str]) -> GatewayProc {
    let mut args = vec!["--standalone", "--demo-rate", "0", "--jwt-jwks-url", url];
    args.extend_from_slice(extra);
    GatewayProc::start(&args)
}

fn claims(user: &str) -> Value {
    tokens::connection(user, &["room"], 300)
}

/// Sends `token` in an `auth` frame; `Ok(user)` or the error's message.
async fn auth(c: &mut Client, token: &str, id: u64) -> Result<Option<String>, String> {
    c.send(&ClientFrame::Auth {
        token: token.to_owned(),
        id: Some(id),
    })
    .await;
    loop {
        match c.next_frame().await {
            ServerFrame::Authenticated {
                user, id: Some(i), ..
            } if i == id => return Ok(user),
            ServerFrame::Error {
                code,
                reason,
                id: Some(i),
                ..
            } if i == id => {
                assert_eq!(code, ErrorCode::Unauthorized);
                return Err(reason);
            }
            _ => {}
        }
    }
}

async fn fetches(gw: &GatewayProc, outcome: &str) -> f64 {
    gw.metric(FETCHES, &format!("outcome=\"{outcome}\""))
        .await
        .unwrap_or(-1.0)
}

/// Waits until `outcome`'s count reaches `want`.
async fn fetches_reach(gw: &GatewayProc, outcome: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while fetches(gw, outcome).await < want {
        assert!(
            Instant::now() < deadline,
            "{outcome} fetches did not reach {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn url_keys_verify_tokens_and_a_rotated_kid_is_fetched_once_and_unknown_kids_cannot_hammer() {
    let k1 = HmacKey::new("k1");
    let server = JwksServer::start(Reply::Body(document(&[&k1])));
    let gw = gateway(&server.url(), &["--jwt-jwks-cooldown-secs", "30"]);
    assert_eq!(server.hits(), 1, "fetched once at start");
    for outcome in [
        "ok",
        "timeout",
        "unreachable",
        "status",
        "too_large",
        "invalid",
    ] {
        let want = if outcome == "ok" { 1.0 } else { 0.0 };
        assert_eq!(fetches(&gw, outcome).await, want, "{outcome}");
    }
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    assert_eq!(
        auth(&mut c, &k1.sign(&claims("ann")), 1).await,
        Ok(Some("ann".into()))
    );
    // A token in the URL too.
    let url = format!("{}?token={}", gw.ws_url(), k1.sign(&claims("bob")));
    let (_c2, _) = Client::connect(&url).await;

    // Rotation: the issuer publishes k2 and signs with it. The first
    // token with kid k2 triggers one refetch and passes.
    let k2 = HmacKey::new("k2");
    server.set(Reply::Body(document(&[&k2])));
    assert_eq!(
        auth(&mut c, &k2.sign(&claims("ann")), 2).await,
        Ok(Some("ann".into()))
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(fetches(&gw, "ok").await, 2.0);
    // k1 left the document, so it left the gateway's keys.
    assert!(auth(&mut c, &k1.sign(&claims("ann")), 3).await.is_err());

    // Within the cool-down, no kid makes the gateway fetch again: a flood
    // of made-up kids is refused without a request to the URL.
    for i in 0..50u64 {
        let forged = HmacKey::new(&format!("made-up-{i}"));
        let e = auth(&mut c, &forged.sign(&claims("eve")), 100 + i)
            .await
            .unwrap_err();
        assert!(e.contains("kid"), "{e}");
    }
    assert_eq!(server.hits(), 2, "unknown kids did not reach the URL");
    assert_eq!(
        auth(&mut c, &k2.sign(&claims("ann")), 4).await,
        Ok(Some("ann".into()))
    );
}

#[tokio::test]
async fn failed_fetches_and_bad_documents_keep_the_last_good_keys() {
    let k1 = HmacKey::new("k1");
    let server = JwksServer::start(Reply::Body(document(&[&k1])));
    let gw = gateway(&server.url(), &["--jwt-jwks-cooldown-secs", "1"]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    let good = k1.sign(&claims("ann"));
    assert!(auth(&mut c, &good, 1).await.is_ok());

    // Each bad answer, fetched for an unknown kid (one per cool-down),
    // is counted and changes nothing.
    let redirect_target = JwksServer::start(Reply::Body(document(&[&HmacKey::new("k3")])));
    let mut big = br#"{"keys":[], "pad": ""#.to_vec();
    big.resize(70 * 1024, b'a');
    big.extend_from_slice(br#""}"#);
    let cases = [
        (Reply::Drop, "unreachable"),
        (Reply::Status(500, None), "status"),
        (Reply::Status(302, Some(redirect_target.url())), "status"),
        (Reply::Body(big), "too_large"),
        (Reply::Body(b"{\"keys\": 5}".to_vec()), "invalid"),
        (Reply::Body(b"not json".to_vec()), "invalid"),
        (Reply::Body(document(&[])), "invalid"),
    ];
    let mut id = 10;
    for (reply, outcome) in cases {
        server.set(reply);
        let before = fetches(&gw, outcome).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await; // past the cool-down
        id += 1;
        let probe = HmacKey::new("k3").sign(&claims("x"));
        assert!(auth(&mut c, &probe, id).await.is_err());
        fetches_reach(&gw, outcome, before + 1.0).await;
        id += 1;
        assert!(
            auth(&mut c, &good, id).await.is_ok(),
            "k1 still verifies after {outcome}"
        );
    }
    assert_eq!(redirect_target.hits(), 0, "the redirect was not followed");
    assert!(gw.proc.log_text().contains("JWKS fetch failed"));

    // Back up with a new key: the old connection and a new one see it.
    let k4 = HmacKey::new("k4");
    server.set(Reply::Body(document(&[&k1, &k4])));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(auth(&mut c, &k4.sign(&claims("ann")), 99).await.is_ok());
}

#[tokio::test]
async fn a_tokens_jku_and_x5u_are_never_fetched() {
    let k1 = HmacKey::new("k1");
    let server = JwksServer::start(Reply::Body(document(&[&k1])));
    let evil_key = HmacKey::new("evil");
    let evil = JwksServer::start(Reply::Body(document(&[&evil_key])));
    let gw = gateway(&server.url(), &["--jwt-jwks-cooldown-secs", "1"]);
    let (mut c, _) = Client::connect(&gw.ws_url()).await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.jku = Some(evil.url());
    header.x5u = Some(evil.url());
    let forged = evil_key.sign_with(header.clone(), &claims("eve"));
    assert!(auth(&mut c, &forged, 1).await.is_err());
    // Signed by a configured key, the header's URLs are simply ignored.
    let honest = k1.sign_with(header, &claims("ann"));
    assert_eq!(auth(&mut c, &honest, 2).await, Ok(Some("ann".into())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(evil.hits(), 0, "the token's URL was never asked");
}

#[tokio::test]
async fn with_the_url_down_at_start_tokens_get_a_retryable_refusal_until_the_keys_arrive() {
    let server = JwksServer::start(Reply::Drop);
    let gw = gateway(&server.url(), &["--jwt-jwks-cooldown-secs", "1"]);
    assert_eq!(fetches(&gw, "unreachable").await, 1.0);
    let k1 = HmacKey::new("k1");
    let url = format!("{}?token={}", gw.ws_url(), k1.sign(&claims("ann")));
    let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (frames, close) = Client { ws }.until_closed().await;
    assert_eq!(close, Some(4011), "{frames:?}");
    assert_eq!(
        gw.metric(
            "herald_gateway_auth_refusals_total",
            "code=\"keys_unavailable\""
        )
        .await,
        Some(1.0)
    );
    // The endpoint comes up; the gateway retries every cool-down.
    server.set(Reply::Body(document(&[&k1])));
    fetches_reach(&gw, "ok", 1.0).await;
    let (_c, _) = Client::connect(&url).await;
}

#[test]
fn bad_url_options_exit_2_naming_the_option() {
    for (args, option) in [
        (
            vec!["--jwt-jwks-url", "ftp://issuer/jwks.json"],
            "--jwt-jwks-url",
        ),
        (
            vec!["--jwt-jwks-url", "http://user:pw@issuer/jwks.json"],
            "--jwt-jwks-url",
        ),
        (vec!["--jwt-jwks-url", "not a url"], "--jwt-jwks-url"),
        (
            vec![
                "--jwt-jwks-url",
                "http://127.0.0.1:1/",
                "--jwt-hmac-secret",
                tokens::SECRET,
            ],
            "--jwt-jwks-url",
        ),
        (
            vec![
                "--jwt-jwks-url",
                "http://127.0.0.1:1/",
                "--jwt-jwks-refresh-secs",
                "0",
            ],
            "--jwt-jwks-refresh-secs",
        ),
    ] {
        let mut all: Vec<String> = [
            "--standalone",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        let mut proc = Proc::spawn(&bin("herald-gateway"), &all);
        assert_eq!(proc.wait_exit(Duration::from_secs(10)), Some(2), "{args:?}");
        assert!(
            proc.log_text().contains(&format!("`{option}`")),
            "{args:?}: {}",
            proc.log_text()
        );
    }
}
