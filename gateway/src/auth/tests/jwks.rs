//! Loading keys from a JWKS document.

use serde_json::json;

use super::*;
use crate::auth::keys::{KeyError, MAX_JWKS_BYTES};
use crate::auth::token::{Rules, verify};

#[test]
fn the_fixture_loads_its_signing_keys_and_skips_the_encryption_key() {
    let keys = KeySet::from_jwks(JWKS.as_bytes()).expect("fixture loads");
    let loaded: Vec<(Option<&str>, Algorithm)> = keys
        .keys()
        .iter()
        .map(|k| (k.kid(), k.algorithm()))
        .collect();
    assert_eq!(
        loaded,
        vec![
            (Some("rsa-1"), Algorithm::RS256),
            (Some("ec-1"), Algorithm::ES256),
            (Some("ed-1"), Algorithm::EdDSA),
            (Some("hs-1"), Algorithm::HS256),
        ]
    );
}

#[test]
fn jwks_keys_verify_tokens_by_kid() {
    let keys = KeySet::from_jwks(JWKS.as_bytes()).expect("fixture loads");
    for (kid, alg) in [
        ("rsa-1", Algorithm::RS256),
        ("ec-1", Algorithm::ES256),
        ("ed-1", Algorithm::EdDSA),
    ] {
        let token = mint(alg, Some(kid), &conn_claims());
        verify(&token, &keys, &Rules::default(), NOW).unwrap_or_else(|e| panic!("{kid}: {e}"));
    }
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some("hs-1".into()),
            ..Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &conn_claims(),
        &EncodingKey::from_secret(b"jwks-test-secret-0123456789abcdef"),
    )
    .expect("encodes");
    assert!(verify(&hs, &keys, &Rules::default(), NOW).is_ok());
    // An HS256 token under the RSA key's kid is refused by the pin.
    let forged = mint(Algorithm::HS256, Some("rsa-1"), &conn_claims());
    assert!(matches!(
        verify(&forged, &keys, &Rules::default(), NOW),
        Err(crate::auth::AuthError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn oversize_and_malformed_documents_are_refused() {
    let big = vec![b' '; MAX_JWKS_BYTES + 1];
    assert_eq!(
        KeySet::from_jwks(&big).err(),
        Some(KeyError::JwksTooLarge(MAX_JWKS_BYTES + 1))
    );
    for bad in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"keys": {}}"#,
        br#"{"keys":[{"kid":"x"}]}"#,
    ] {
        assert!(
            matches!(KeySet::from_jwks(bad), Err(KeyError::JwksMalformed(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

fn doc(keys: Value) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

#[test]
fn inconsistent_or_unpinnable_jwks_are_refused() {
    let fixture: Value = serde_json::from_str(JWKS).expect("json");
    let rsa = fixture["keys"][0].clone();
    // An RSA key that claims to be an HMAC key.
    let as_hs = with(rsa.clone(), "alg", json!("HS256"));
    assert!(matches!(
        KeySet::from_jwks(&doc(json!([as_hs]))),
        Err(KeyError::JwkAlgorithm { .. })
    ));
    // An oct key must say which HMAC it is.
    let oct = json!({"kty": "oct", "kid": "s", "k": b64(SECRET)});
    assert!(matches!(
        KeySet::from_jwks(&doc(json!([oct]))),
        Err(KeyError::JwkAlgorithm { .. })
    ));
    // A short oct secret.
    let short = json!({"kty": "oct", "kid": "s", "alg": "HS256", "k": b64(b"tiny")});
    assert_eq!(
        KeySet::from_jwks(&doc(json!([short]))).err(),
        Some(KeyError::ShortSecret(4))
    );
    // Missing RSA modulus.
    let no_n = with(rsa.clone(), "n", Value::Null);
    assert!(matches!(
        KeySet::from_jwks(&doc(json!([no_n]))),
        Err(KeyError::BadKey { .. })
    ));
    // Duplicate kids.
    assert_eq!(
        KeySet::from_jwks(&doc(json!([rsa.clone(), rsa]))).err(),
        Some(KeyError::DuplicateKid("rsa-1".into()))
    );
}

#[test]
fn unsupported_algorithms_are_skipped() {
    let fixture: Value = serde_json::from_str(JWKS).expect("json");
    let rs512 = with(fixture["keys"][0].clone(), "alg", json!("RS512"));
    let p384 = json!({"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"});
    let keys = KeySet::from_jwks(&doc(json!([rs512, p384, fixture["keys"][2]]))).expect("loads");
    assert_eq!(keys.keys().len(), 1);
    assert_eq!(keys.keys()[0].kid(), Some("ed-1"));
}
