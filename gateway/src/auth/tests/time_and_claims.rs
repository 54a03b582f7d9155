//! `exp`, `nbf`, `iss`, `aud` and the grant claims of connection tokens.

use serde_json::json;

use super::*;
use crate::auth::error::{AuthError, ErrorClass};
use crate::auth::token::{Rules, verify};

fn check(claims: &Value, rules: &Rules) -> Result<crate::auth::Claims, AuthError> {
    let token = mint(Algorithm::HS256, None, claims);
    verify(&token, &one_key(None, Algorithm::HS256), rules, NOW)
}

#[test]
fn expiry_honours_the_leeway_and_is_retryable() {
    let rules = Rules::default(); // 30 s leeway
    assert!(check(&with(conn_claims(), "exp", json!(NOW - 29)), &rules).is_ok());
    let err = check(&with(conn_claims(), "exp", json!(NOW - 30)), &rules).expect_err("expired");
    assert_eq!(err, AuthError::Expired);
    assert!(err.is_expired());
    assert_eq!(err.class(), ErrorClass::Expired);
    let strict = Rules {
        leeway_secs: 0,
        ..Rules::default()
    };
    assert_eq!(
        check(&with(conn_claims(), "exp", json!(NOW)), &strict),
        Err(AuthError::Expired)
    );
    assert!(check(&with(conn_claims(), "exp", json!(NOW + 1)), &strict).is_ok());
}

#[test]
fn not_yet_valid_honours_the_leeway_and_is_not_retryable() {
    let rules = Rules::default();
    assert!(check(&with(conn_claims(), "nbf", json!(NOW + 30)), &rules).is_ok());
    let err = check(&with(conn_claims(), "nbf", json!(NOW + 31)), &rules).expect_err("early");
    assert_eq!(err, AuthError::NotYetValid);
    assert!(!err.is_expired());
    assert_eq!(err.class(), ErrorClass::Invalid);
}

#[test]
fn exp_is_required_unless_the_rules_say_otherwise() {
    let no_exp = with(conn_claims(), "exp", Value::Null);
    assert_eq!(
        check(&no_exp, &Rules::default()),
        Err(AuthError::MissingClaim("exp"))
    );
    let lax = Rules {
        require_exp: false,
        ..Rules::default()
    };
    assert_eq!(check(&no_exp, &lax).expect("no exp needed").exp, None);
}

#[test]
fn time_claims_must_be_numbers() {
    for bad in [json!("tomorrow"), json!(-5), json!(true)] {
        let err = check(&with(conn_claims(), "exp", bad.clone()), &Rules::default());
        assert!(
            matches!(err, Err(AuthError::InvalidClaim { claim: "exp", .. })),
            "{bad}: {err:?}"
        );
    }
    // An object is refused by the decoder itself; still invalid, never retryable.
    let err = check(
        &with(conn_claims(), "exp", json!({"at": 1})),
        &Rules::default(),
    )
    .expect_err("object exp");
    assert!(!err.is_expired(), "{err:?}");
    let err = check(
        &with(conn_claims(), "nbf", json!("soon")),
        &Rules::default(),
    );
    assert!(
        matches!(err, Err(AuthError::InvalidClaim { claim: "nbf", .. })),
        "{err:?}"
    );
    // A fractional NumericDate is allowed; its fraction is dropped.
    let frac = with(conn_claims(), "exp", json!((NOW + 10) as f64 + 0.5));
    assert_eq!(
        check(&frac, &Rules::default()).expect("valid").exp,
        Some(NOW + 10)
    );
}

#[test]
fn issuer_is_checked_when_configured() {
    let rules = Rules {
        issuers: vec!["https://id.example".into(), "other".into()],
        ..Rules::default()
    };
    assert!(check(&with(conn_claims(), "iss", json!("other")), &rules).is_ok());
    assert_eq!(
        check(
            &with(conn_claims(), "iss", json!("https://evil.example")),
            &rules
        ),
        Err(AuthError::WrongIssuer)
    );
    assert_eq!(
        check(&conn_claims(), &rules),
        Err(AuthError::MissingClaim("iss"))
    );
    // Unconfigured: any issuer passes.
    assert!(
        check(
            &with(conn_claims(), "iss", json!("anyone")),
            &Rules::default()
        )
        .is_ok()
    );
}

#[test]
fn audience_is_checked_when_configured() {
    let rules = Rules {
        audiences: vec!["herald".into()],
        ..Rules::default()
    };
    assert!(check(&with(conn_claims(), "aud", json!("herald")), &rules).is_ok());
    assert!(
        check(
            &with(conn_claims(), "aud", json!(["api", "herald"])),
            &rules
        )
        .is_ok()
    );
    assert_eq!(
        check(&with(conn_claims(), "aud", json!("api")), &rules),
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        check(&with(conn_claims(), "aud", json!(["api", 7])), &rules),
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        check(&conn_claims(), &rules),
        Err(AuthError::MissingClaim("aud"))
    );
    assert!(matches!(
        check(&with(conn_claims(), "aud", json!(1)), &rules),
        Err(AuthError::InvalidClaim { claim: "aud", .. })
    ));
    assert!(check(&with(conn_claims(), "aud", json!("api")), &Rules::default()).is_ok());
}

#[test]
fn grant_claims_are_parsed_as_patterns() {
    let claims = check(&conn_claims(), &Rules::default()).expect("valid");
    assert_eq!(claims.rooms.patterns().len(), 2);
    assert_eq!(claims.rooms.patterns()[1].to_string(), "news:*");
    let bare = json!({"exp": NOW + 5});
    let claims = check(&bare, &Rules::default()).expect("valid");
    assert_eq!(claims.sub, None);
    assert!(claims.rooms.is_empty() && claims.publish.is_empty());
}

#[test]
fn invalid_grant_claims_are_refused() {
    for (claim, value) in [
        ("rooms", json!(["news*"])),
        ("rooms", json!("lobby")),
        ("rooms", json!(["lobby", 3])),
        ("publish", json!(["a b"])),
        ("publish", json!([""])),
        ("sub", json!(42)),
    ] {
        let err = check(
            &with(conn_claims(), claim, value.clone()),
            &Rules::default(),
        );
        assert!(
            matches!(&err, Err(AuthError::InvalidClaim { claim: c, .. }) if *c == claim),
            "{claim}={value}: {err:?}"
        );
    }
    let too_many: Vec<String> = (0..257).map(|i| format!("r{i}")).collect();
    let err = check(
        &with(conn_claims(), "rooms", json!(too_many)),
        &Rules::default(),
    );
    assert!(
        matches!(err, Err(AuthError::InvalidClaim { claim: "rooms", ref reason }) if reason.contains("256"))
    );
}
