//! The node policy and a connection's standing: which connections must
//! authenticate, what anonymous ones get, deadlines, refresh rules and
//! subscription-token rooms.

use std::time::Duration;

use herald_protocol::native::CloseCode;
use herald_protocol::{RoomName, RoomPatterns};
use serde_json::json;

use super::super::gate::{Access, Anonymous, DEFAULT_AUTH_TIMEOUT, Denied, Gate, close_code};
use super::super::keys::Algorithm;
use super::super::token::Rules;
use super::super::{AuthError, KeySet};
use super::{mint, one_key};

fn now() -> u64 {
    herald_service::clock::unix_ms() / 1000
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).expect("valid room")
}

fn gate(keys: Option<KeySet>, public: &[&str]) -> Gate {
    let anonymous = Anonymous::Public(RoomPatterns::parse(public).expect("patterns"));
    Gate::new(keys, Rules::default(), anonymous, DEFAULT_AUTH_TIMEOUT)
}

fn token(user: &str, rooms: &[&str], exp: u64) -> String {
    mint(
        Algorithm::HS256,
        None,
        &json!({ "sub": user, "rooms": rooms, "exp": exp }),
    )
}

#[test]
fn only_a_gate_with_keys_and_no_public_room_makes_connections_authenticate() {
    let keys = || Some(one_key(None, Algorithm::HS256));
    assert!(gate(keys(), &[]).needs_token());
    assert!(!gate(keys(), &["news:*"]).needs_token());
    // No keys: no way to authenticate, so nobody is made to wait for it.
    assert!(!gate(None, &[]).needs_token());
    assert!(!Gate::open().needs_token());
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_must_authenticate_gets_the_auth_deadline_and_nothing_else() {
    let g = gate(Some(one_key(None, Algorithm::HS256)), &[]);
    let mut access = Access::start(&g, None).expect("no token is not a refusal");
    assert!(!access.is_authenticated());
    assert_eq!(
        access.deadline().map(|(_, c)| c),
        Some(CloseCode::AuthTimeout)
    );
    assert_eq!(
        access.check_subscribe(&g, &room("lobby"), None),
        Err(Denied::NotAuthenticated)
    );
    // Authenticating replaces the auth deadline with the token's expiry.
    access
        .authenticate(&g, &token("ada", &["lobby"], now() + 600))
        .expect("good token");
    assert_eq!(
        access.deadline().map(|(_, c)| c),
        Some(CloseCode::TokenExpired)
    );
    assert_eq!(access.check_subscribe(&g, &room("lobby"), None), Ok(()));
    assert_eq!(
        access.check_subscribe(&g, &room("other"), None),
        Err(Denied::Room(room("other")))
    );
}

#[test]
fn anonymous_connections_read_and_publish_only_the_public_rooms() {
    let g = gate(None, &["news:*"]);
    let mut access = Access::start(&g, None).expect("anonymous");
    assert!(access.deadline().is_none());
    assert_eq!(access.check_subscribe(&g, &room("news:1"), None), Ok(()));
    assert!(access.check_publish(&room("news:1")).is_ok());
    assert!(access.check_subscribe(&g, &room("admin"), None).is_err());
    // A handshake token on a gate without keys is ignored (Socket.IO
    // apps put their own in `auth`); an explicit auth op is refused.
    let mut access = Access::start(&g, Some("a.b.c")).expect("ignored");
    assert!(access.is_authenticated());
    assert_eq!(access.user(), None);
    assert_eq!(
        access.authenticate(&g, "a.b.c").err(),
        Some(AuthError::NoKeys)
    );
    let open = Gate::open();
    let access = Access::start(&open, None).expect("open");
    assert!(access.check_publish(&room("anything")).is_ok());
}

#[test]
fn a_refresh_keeps_the_user_and_a_refused_one_changes_nothing() {
    let g = gate(Some(one_key(None, Algorithm::HS256)), &[]);
    let mut access =
        Access::start(&g, Some(&token("ada", &["a"], now() + 60))).expect("good token");
    assert_eq!(
        access
            .authenticate(&g, &token("bob", &["a", "b"], now() + 600))
            .err(),
        Some(AuthError::UserChanged)
    );
    assert_eq!(access.user(), Some("ada"));
    assert!(!access.may_hold(&room("b")));
    access
        .authenticate(&g, &token("ada", &["b"], now() + 600))
        .expect("same user");
    assert!(access.may_hold(&room("b")));
    assert!(
        !access.may_hold(&room("a")),
        "the new grant replaces the old"
    );
    assert_eq!(access.expires(), Some(now() + 600));
}

#[test]
fn the_close_code_says_whether_a_fresh_token_may_retry() {
    assert_eq!(close_code(&AuthError::Expired), CloseCode::TokenExpired);
    assert_eq!(
        close_code(&AuthError::BadSignature),
        CloseCode::TokenInvalid
    );
    assert!(CloseCode::TokenExpired.reconnect());
    assert!(!CloseCode::TokenInvalid.reconnect());
    assert!(!CloseCode::AuthTimeout.reconnect());
}

#[tokio::test(start_paused = true)]
async fn the_expiry_deadline_includes_the_leeway() {
    let rules = Rules {
        leeway_secs: 30,
        ..Rules::default()
    };
    let g = Gate::new(
        Some(one_key(None, Algorithm::HS256)),
        rules,
        Anonymous::Public(RoomPatterns::none()),
        DEFAULT_AUTH_TIMEOUT,
    );
    let start = tokio::time::Instant::now();
    let access = Access::start(&g, Some(&token("ada", &[], now() + 10))).expect("good");
    let (at, code) = access.deadline().expect("expires");
    assert_eq!(code, CloseCode::TokenExpired);
    let left = at - start;
    assert!(
        left >= Duration::from_secs(39) && left <= Duration::from_secs(40),
        "{left:?}"
    );
}
