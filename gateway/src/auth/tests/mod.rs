//! Tests of token verification with tokens minted here, signed with the
//! throwaway keys in `gateway/tests/fixtures/auth/`.

mod gate;
mod jwks;
mod signing;
mod subscription;
mod time_and_claims;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::keys::{Algorithm, KeySet, VerifyKey};

pub(super) const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/auth/rsa_private.pem");
pub(super) const RSA_PUBLIC: &str = include_str!("../../../tests/fixtures/auth/rsa_public.pem");
pub(super) const EC_PRIVATE: &str = include_str!("../../../tests/fixtures/auth/ec_private.pem");
pub(super) const EC_PUBLIC: &str = include_str!("../../../tests/fixtures/auth/ec_public.pem");
pub(super) const ED_PRIVATE: &str = include_str!("../../../tests/fixtures/auth/ed_private.pem");
pub(super) const ED_PUBLIC: &str = include_str!("../../../tests/fixtures/auth/ed_public.pem");
pub(super) const JWKS: &str = include_str!("../../../tests/fixtures/auth/jwks.json");

/// The HMAC secret of the tests' HS keys.
pub(super) const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789";

/// The tests' clock.
pub(super) const NOW: u64 = 1_800_000_000;

/// A signer: the algorithm and the private half of a test key.
pub(super) fn signer(alg: Algorithm) -> EncodingKey {
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            Ok(EncodingKey::from_secret(SECRET))
        }
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()),
    };
    key.expect("fixture private key loads")
}

/// The matching verification key, pinned to `alg`.
pub(super) fn verifier(kid: Option<&str>, alg: Algorithm) -> VerifyKey {
    let kid = kid.map(str::to_owned);
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => VerifyKey::hmac(kid, alg, SECRET),
        Algorithm::RS256 => VerifyKey::from_pem(kid, alg, RSA_PUBLIC.as_bytes()),
        Algorithm::ES256 => VerifyKey::from_pem(kid, alg, EC_PUBLIC.as_bytes()),
        Algorithm::EdDSA => VerifyKey::from_pem(kid, alg, ED_PUBLIC.as_bytes()),
    }
    .expect("fixture public key loads")
}

/// A set of one key, pinned to `alg`, with `kid`.
pub(super) fn one_key(kid: Option<&str>, alg: Algorithm) -> KeySet {
    KeySet::new(vec![verifier(kid, alg)]).expect("one key is a valid set")
}

/// A token with `claims`, signed by the test key for `alg`.
pub(super) fn mint(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg.to_jwt());
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &signer(alg)).expect("test token encodes")
}

/// Connection-token claims valid at [`NOW`].
pub(super) fn conn_claims() -> Value {
    json!({
        "sub": "ada",
        "exp": NOW + 600,
        "rooms": ["lobby", "news:*"],
        "publish": ["chat"],
    })
}

/// Subscription-token claims for user `ada` and room `secret:1`.
pub(super) fn sub_claims() -> Value {
    json!({
        "typ": "herald-subscription",
        "sub": "ada",
        "room": "secret:1",
        "exp": NOW + 60,
    })
}

/// `claims` with `key` set to `value` (or removed when `value` is null).
pub(super) fn with(mut claims: Value, key: &str, value: Value) -> Value {
    let map = claims.as_object_mut().expect("claims are an object");
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), value);
    }
    claims
}

/// base64url without padding, for hand-made tokens.
pub(super) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
