//! Subscription tokens: the marker, the user and the room.

use serde_json::json;

use super::*;
use crate::auth::error::AuthError;
use crate::auth::token::{Rules, SUBSCRIPTION_TYP, verify, verify_subscription};

fn check_sub(claims: &Value, user: Option<&str>) -> Result<herald_protocol::RoomName, AuthError> {
    let token = mint(Algorithm::EdDSA, Some("ed"), claims);
    let keys = one_key(Some("ed"), Algorithm::EdDSA);
    verify_subscription(&token, &keys, &Rules::default(), NOW, user)
}

#[test]
fn a_subscription_token_grants_its_room_to_its_user() {
    assert_eq!(sub_claims()["typ"], SUBSCRIPTION_TYP);
    let room = check_sub(&sub_claims(), Some("ada")).expect("valid");
    assert_eq!(room.as_str(), "secret:1");
}

#[test]
fn a_connection_token_is_not_a_subscription_token() {
    // Even one that carries sub and room.
    let claims = with(conn_claims(), "room", json!("secret:1"));
    assert_eq!(
        check_sub(&claims, Some("ada")),
        Err(AuthError::WrongTokenType {
            expected: "subscription"
        })
    );
    let other_typ = with(sub_claims(), "typ", json!("JWT"));
    assert!(matches!(
        check_sub(&other_typ, Some("ada")),
        Err(AuthError::WrongTokenType { .. })
    ));
}

#[test]
fn a_subscription_token_is_not_a_connection_token() {
    let token = mint(Algorithm::EdDSA, Some("ed"), &sub_claims());
    let keys = one_key(Some("ed"), Algorithm::EdDSA);
    let err = verify(&token, &keys, &Rules::default(), NOW).expect_err("wrong type");
    assert_eq!(
        err,
        AuthError::WrongTokenType {
            expected: "connection"
        }
    );
    assert_eq!(err.code(), "wrong_token_type");
}

#[test]
fn another_users_token_is_refused() {
    assert_eq!(
        check_sub(&sub_claims(), Some("bob")),
        Err(AuthError::SubjectMismatch)
    );
    assert_eq!(
        check_sub(&sub_claims(), None),
        Err(AuthError::SubjectMismatch)
    );
    assert_eq!(
        check_sub(&sub_claims(), Some("ad")),
        Err(AuthError::SubjectMismatch)
    );
}

#[test]
fn subscription_claims_are_all_required() {
    for claim in ["sub", "room", "exp"] {
        let missing = with(sub_claims(), claim, Value::Null);
        assert_eq!(
            check_sub(&missing, Some("ada")),
            Err(AuthError::MissingClaim(claim)),
            "{claim}"
        );
    }
    // exp stays required even when connection tokens may omit it.
    let lax = Rules {
        require_exp: false,
        ..Rules::default()
    };
    let token = mint(
        Algorithm::EdDSA,
        Some("ed"),
        &with(sub_claims(), "exp", Value::Null),
    );
    let keys = one_key(Some("ed"), Algorithm::EdDSA);
    assert_eq!(
        verify_subscription(&token, &keys, &lax, NOW, Some("ada")),
        Err(AuthError::MissingClaim("exp"))
    );
}

#[test]
fn the_room_must_be_a_valid_room_name_not_a_pattern() {
    for bad in [
        json!("news:*x y"),
        json!(""),
        json!(["lobby"]),
        json!("{tpl}"),
    ] {
        let err = check_sub(&with(sub_claims(), "room", bad.clone()), Some("ada"));
        assert!(
            matches!(err, Err(AuthError::InvalidClaim { claim: "room", .. })),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn subscription_tokens_expire_and_are_signature_checked() {
    let old = with(sub_claims(), "exp", json!(NOW - 31));
    let err = check_sub(&old, Some("ada")).expect_err("expired");
    assert!(err.is_expired());
    // Signed by a different key with the right algorithm and kid.
    let hs = mint(Algorithm::HS256, Some("ed"), &sub_claims());
    let keys = one_key(Some("ed"), Algorithm::EdDSA);
    assert!(matches!(
        verify_subscription(&hs, &keys, &Rules::default(), NOW, Some("ada")),
        Err(AuthError::AlgorithmMismatch { .. })
    ));
}
