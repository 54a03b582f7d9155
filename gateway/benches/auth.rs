//! The cost of access control: verifying a connection token (once per
//! connect) for each algorithm, and the permission check (once per
//! subscribe) against grants of 1 and 64 patterns.
//!
//! ```text
//! cargo bench -p herald-gateway --bench auth
//! ```
//!
//! The tokens are signed with the throwaway keys in
//! `gateway/tests/fixtures/auth/`; nothing here touches the network.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use herald_gateway::auth::token::{Rules, verify};
use herald_gateway::auth::{Algorithm, KeySet, Permissions, VerifyKey};
use herald_protocol::{RoomName, RoomPatterns};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";
const RSA_PRIVATE: &str = include_str!("../tests/fixtures/auth/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/fixtures/auth/rsa_public.pem");
const EC_PRIVATE: &str = include_str!("../tests/fixtures/auth/ec_private.pem");
const EC_PUBLIC: &str = include_str!("../tests/fixtures/auth/ec_public.pem");
const ED_PRIVATE: &str = include_str!("../tests/fixtures/auth/ed_private.pem");
const ED_PUBLIC: &str = include_str!("../tests/fixtures/auth/ed_public.pem");

fn now() -> u64 {
    herald_service::clock::unix_ms() / 1000
}

/// A token and the key set that verifies it, for `alg`.
fn case(alg: Algorithm) -> (String, KeySet) {
    let claims = json!({
        "sub": "ana",
        "exp": now() + 3600,
        "rooms": ["dashboard:*", "orders:*"],
        "publish": ["chat:*"],
    });
    let (enc, key, jwt) = match alg {
        Algorithm::HS256 => (
            EncodingKey::from_secret(SECRET),
            VerifyKey::hmac(None, alg, SECRET),
            jsonwebtoken::Algorithm::HS256,
        ),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
            VerifyKey::from_pem(None, alg, RSA_PUBLIC.as_bytes()),
            jsonwebtoken::Algorithm::RS256,
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
            VerifyKey::from_pem(None, alg, EC_PUBLIC.as_bytes()),
            jsonwebtoken::Algorithm::ES256,
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
            VerifyKey::from_pem(None, alg, ED_PUBLIC.as_bytes()),
            jsonwebtoken::Algorithm::EdDSA,
        ),
        Algorithm::HS384 | Algorithm::HS512 => unreachable!("not benchmarked"),
    };
    let token = jsonwebtoken::encode(&Header::new(jwt), &claims, &enc).unwrap();
    (token, KeySet::new(vec![key.unwrap()]).unwrap())
}

fn token_verify(c: &mut Criterion) {
    let rules = Rules::default();
    let mut g = c.benchmark_group("verify_connection_token");
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let (token, keys) = case(alg);
        verify(&token, &keys, &rules, now()).expect("the bench token verifies");
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| verify(black_box(&token), &keys, &rules, now()).unwrap())
        });
    }
    g.finish();
}

fn subscribe_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("may_subscribe");
    let one = Permissions {
        user: Some("ana".into()),
        rooms: RoomPatterns::parse(["dashboard:*"]).unwrap(),
        publish: RoomPatterns::none(),
        expires: None,
    };
    let many: Vec<String> = (0..63)
        .map(|i| format!("tenant{i}:*"))
        .chain(["dashboard:*".to_owned()])
        .collect();
    let wide = Permissions {
        rooms: RoomPatterns::parse(&many).unwrap(),
        ..one.clone()
    };
    let room = RoomName::new("dashboard:sales").unwrap();
    g.bench_function("1_pattern", |b| {
        b.iter(|| assert!(one.may_subscribe(black_box(&room))))
    });
    g.bench_function("64_patterns_last_matches", |b| {
        b.iter(|| assert!(wide.may_subscribe(black_box(&room))))
    });
    g.finish();
}

criterion_group!(benches, token_verify, subscribe_check);
criterion_main!(benches);
