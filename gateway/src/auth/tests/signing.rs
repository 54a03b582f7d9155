//! Algorithms, key choice by `kid`, pinning and signature checks.

use herald_protocol::RoomName;
use serde_json::json;

use super::*;
use crate::auth::error::AuthError;
use crate::auth::keys::KeyError;
use crate::auth::token::{Rules, verify};

const ALL: [Algorithm; 6] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

#[test]
fn every_algorithm_verifies_with_its_own_key() {
    for alg in ALL {
        let token = mint(alg, Some("k"), &conn_claims());
        let claims = verify(&token, &one_key(Some("k"), alg), &Rules::default(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.sub.as_deref(), Some("ada"), "{alg}");
        assert_eq!(claims.exp, Some(NOW + 600));
        let news = RoomName::new("news:today").expect("valid");
        assert!(claims.rooms.allows(&news));
        assert!(!claims.publish.allows(&news));
    }
}

#[test]
fn a_key_refuses_every_other_algorithm() {
    for key_alg in ALL {
        let keys = one_key(None, key_alg);
        for token_alg in ALL.into_iter().filter(|a| *a != key_alg) {
            let token = mint(token_alg, None, &conn_claims());
            let err = verify(&token, &keys, &Rules::default(), NOW).expect_err("mismatch");
            assert!(
                matches!(err, AuthError::AlgorithmMismatch { expected, .. } if expected == key_alg.as_str()),
                "{token_alg} token against {key_alg} key: {err:?}"
            );
            assert!(!err.is_expired());
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion: the attacker knows the RSA public key and
    // uses its PEM text as an HMAC secret.
    let forged = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &conn_claims(),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .expect("encodes");
    let keys = one_key(None, Algorithm::RS256);
    let err = verify(&forged, &keys, &Rules::default(), NOW).expect_err("forged");
    assert_eq!(
        err,
        AuthError::AlgorithmMismatch {
            expected: "RS256",
            got: "HS256".into()
        }
    );
    assert_eq!(err.code(), "alg_mismatch");
}

#[test]
fn alg_none_is_refused() {
    let payload = b64(conn_claims().to_string().as_bytes());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"none","kid":"k"}"#,
    ] {
        let head = b64(header.as_bytes());
        for token in [
            format!("{head}.{payload}."),
            format!("{head}.{payload}.c2ln"),
        ] {
            for keys in [
                one_key(None, Algorithm::HS256),
                one_key(Some("k"), Algorithm::RS256),
            ] {
                let err = verify(&token, &keys, &Rules::default(), NOW).expect_err("alg none");
                assert!(matches!(err, AuthError::Malformed(_)), "{token}: {err:?}");
            }
        }
    }
}

#[test]
fn unknown_kid_is_refused() {
    let keys = one_key(Some("current"), Algorithm::HS256);
    let token = mint(Algorithm::HS256, Some("retired"), &conn_claims());
    assert_eq!(
        verify(&token, &keys, &Rules::default(), NOW),
        Err(AuthError::UnknownKey)
    );
    let empty = KeySet::default();
    let token = mint(Algorithm::HS256, None, &conn_claims());
    assert_eq!(
        verify(&token, &empty, &Rules::default(), NOW),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn kid_selects_among_several_keys_and_is_then_required() {
    let keys = KeySet::new(vec![
        verifier(Some("rsa"), Algorithm::RS256),
        verifier(Some("ed"), Algorithm::EdDSA),
    ])
    .expect("valid set");
    let rsa = mint(Algorithm::RS256, Some("rsa"), &conn_claims());
    let ed = mint(Algorithm::EdDSA, Some("ed"), &conn_claims());
    assert!(verify(&rsa, &keys, &Rules::default(), NOW).is_ok());
    assert!(verify(&ed, &keys, &Rules::default(), NOW).is_ok());
    // The right algorithm under the wrong kid: pinned to the other key.
    let swapped = mint(Algorithm::RS256, Some("ed"), &conn_claims());
    assert!(matches!(
        verify(&swapped, &keys, &Rules::default(), NOW),
        Err(AuthError::AlgorithmMismatch { .. })
    ));
    let no_kid = mint(Algorithm::RS256, None, &conn_claims());
    assert_eq!(
        verify(&no_kid, &keys, &Rules::default(), NOW),
        Err(AuthError::KidRequired)
    );
}

#[test]
fn a_lone_key_accepts_no_kid_but_not_a_foreign_kid() {
    let keys = one_key(None, Algorithm::ES256);
    for kid in [None, Some("anything")] {
        let token = mint(Algorithm::ES256, kid, &conn_claims());
        let got = verify(&token, &keys, &Rules::default(), NOW);
        // A kid the lone key does not carry is unknown; none at all is fine.
        match kid {
            None => assert!(got.is_ok(), "{got:?}"),
            Some(_) => assert_eq!(got, Err(AuthError::UnknownKey)),
        }
    }
}

#[test]
fn a_wrong_signature_is_refused() {
    let token = mint(Algorithm::HS256, None, &conn_claims());
    let other = KeySet::new(vec![
        VerifyKey::hmac(
            None,
            Algorithm::HS256,
            b"another-secret-0123456789abcdef-xyz",
        )
        .expect("valid"),
    ])
    .expect("valid");
    assert_eq!(
        verify(&token, &other, &Rules::default(), NOW),
        Err(AuthError::BadSignature)
    );
    // A payload edited after signing.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = b64(with(conn_claims(), "rooms", json!(["admin:*"]))
        .to_string()
        .as_bytes());
    let tampered = parts.join(".");
    assert_eq!(
        verify(
            &tampered,
            &one_key(None, Algorithm::HS256),
            &Rules::default(),
            NOW
        ),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let keys = one_key(None, Algorithm::HS256);
    let head = b64(br#"{"alg":"HS256"}"#);
    for token in [
        String::new(),
        "abc".into(),
        "a.b.c".into(),
        "..".into(),
        format!("{head}.!!!.sig"),
        format!("{head}.{}.", b64(b"[1,2]")),
        "a.b.c.d.e".into(),
    ] {
        let err = verify(&token, &keys, &Rules::default(), NOW).expect_err("garbage");
        assert!(
            matches!(err, AuthError::Malformed(_) | AuthError::BadSignature),
            "{token:?}: {err:?}"
        );
    }
}

#[test]
fn oversize_token_is_refused_before_decoding() {
    let keys = one_key(None, Algorithm::HS256);
    // Not even a JWT: refused for its size, not its shape.
    let big = "x".repeat(8 * 1024 + 1);
    assert_eq!(
        verify(&big, &keys, &Rules::default(), NOW),
        Err(AuthError::TooLarge {
            len: 8193,
            limit: 8192
        })
    );
    let padded = with(conn_claims(), "pad", json!("p".repeat(400)));
    let token = mint(Algorithm::HS256, None, &padded);
    assert!(verify(&token, &keys, &Rules::default(), NOW).is_ok());
    let tight = Rules {
        max_token_bytes: token.len() - 1,
        ..Rules::default()
    };
    assert!(matches!(
        verify(&token, &keys, &tight, NOW),
        Err(AuthError::TooLarge { .. })
    ));
}

#[test]
fn keys_are_pinned_at_load() {
    let rsa = RSA_PUBLIC.as_bytes();
    assert_eq!(
        VerifyKey::from_pem(None, Algorithm::HS256, rsa).err(),
        Some(KeyError::WrongKind {
            alg: Algorithm::HS256
        })
    );
    assert_eq!(
        VerifyKey::hmac(None, Algorithm::RS256, SECRET).err(),
        Some(KeyError::WrongKind {
            alg: Algorithm::RS256
        })
    );
    assert_eq!(
        VerifyKey::hmac(None, Algorithm::HS256, b"short").err(),
        Some(KeyError::ShortSecret(5))
    );
    assert!(matches!(
        VerifyKey::from_pem(None, Algorithm::RS256, b"not a pem"),
        Err(KeyError::BadKey { .. })
    ));
    // An EC public key offered as RS256 never becomes an RS256 key that verifies.
    let ec_as_rsa = VerifyKey::from_pem(None, Algorithm::RS256, EC_PUBLIC.as_bytes());
    if let Ok(key) = ec_as_rsa {
        let keys = KeySet::new(vec![key]).expect("set");
        let token = mint(Algorithm::RS256, None, &conn_claims());
        assert!(verify(&token, &keys, &Rules::default(), NOW).is_err());
    }
    assert!(KeySet::from_pem(Some("e".into()), Algorithm::EdDSA, ED_PUBLIC.as_bytes()).is_ok());
}

#[test]
fn key_sets_are_checked() {
    let dup = KeySet::new(vec![
        verifier(Some("a"), Algorithm::HS256),
        verifier(Some("a"), Algorithm::RS256),
    ]);
    assert_eq!(dup.err(), Some(KeyError::DuplicateKid("a".into())));
    let unnamed = KeySet::new(vec![
        verifier(Some("a"), Algorithm::HS256),
        verifier(None, Algorithm::RS256),
    ]);
    assert_eq!(unnamed.err(), Some(KeyError::MissingKid));
    let many = (0..=crate::auth::keys::MAX_KEYS)
        .map(|i| verifier(Some(&format!("k{i}")), Algorithm::HS256))
        .collect();
    assert!(matches!(KeySet::new(many), Err(KeyError::TooManyKeys(65))));
}
