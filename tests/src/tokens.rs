//! JWTs for the tests: minted here, signed with the HMAC secret below or
//! the throwaway RSA key in `gateway/tests/fixtures/auth/`.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::process::workspace_root;

/// The HMAC secret the auth tests give the gateway (`--jwt-hmac-secret`).
pub const SECRET: &str = "e2e-secret-0123456789abcdef-0123456789";

/// The fixture file `name` under `gateway/tests/fixtures/auth/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("gateway/tests/fixtures/auth")
        .join(name)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `claims` signed HS256 with [`SECRET`], header `kid` if given.
pub fn hs256(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        kid,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

/// `claims` signed RS256 with the fixture RSA key.
pub fn rs256(kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(fixture("rsa_private.pem")).expect("fixture RSA key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("fixture RSA key parses");
    sign(Algorithm::RS256, kid, &key, claims)
}

/// The key-confusion attack: `claims` signed HS256 with the RSA *public*
/// key's PEM bytes as the HMAC secret, claiming the RSA key's `kid`.
pub fn hs256_with_rsa_public(kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(fixture("rsa_public.pem")).expect("fixture RSA public key");
    sign(
        Algorithm::HS256,
        kid,
        &EncodingKey::from_secret(&pem),
        claims,
    )
}

/// An unsigned token: header `{"alg":"none"}`, empty signature.
pub fn alg_none(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("token encodes")
}

/// Connection-token claims for `user`, valid for `secs` seconds, that may
/// subscribe to and publish in `rooms`.
pub fn connection(user: &str, rooms: &[&str], secs: u64) -> Value {
    json!({ "sub": user, "rooms": rooms, "publish": rooms, "exp": now() + secs })
}

/// Subscription-token claims for `user` and `room`, valid for `secs`.
pub fn subscription(user: &str, room: &str, secs: u64) -> Value {
    json!({ "typ": "herald-subscription", "sub": user, "room": room, "exp": now() + secs })
}
