//! The connection token the clients send: given with `--token`, or minted
//! here (HS256) from `--jwt-hmac-secret`, so that every scenario also runs
//! against a gateway that verifies tokens.

use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use crate::cli::CommonArgs;

/// The user a minted token names.
pub const LOADTEST_USER: &str = "herald-loadtest";

/// How long a minted token stays valid beyond the run's `--duration`.
pub const MINTED_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// The shortest secret accepted (the gateway's own minimum).
pub const MIN_SECRET_BYTES: usize = 32;

/// The token clients send, if any.
///
/// # Errors
/// A message naming the option, for a secret shorter than
/// [`MIN_SECRET_BYTES`] or a token that cannot be signed.
pub fn connection_token(c: &CommonArgs) -> Result<Option<String>, String> {
    if let Some(token) = &c.token {
        return Ok(Some(token.clone()));
    }
    let Some(secret) = &c.jwt_hmac_secret else {
        return Ok(None);
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "--jwt-hmac-secret is {} bytes; at least {MIN_SECRET_BYTES} are required",
            secret.len()
        ));
    }
    let now = herald_service::clock::unix_ms() / 1000;
    let exp = now + c.duration.as_secs() + MINTED_MARGIN.as_secs();
    let claims = json!({
        "sub": LOADTEST_USER,
        "rooms": c.token_rooms,
        "publish": c.token_rooms,
        "iat": now,
        "exp": exp,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map(Some)
    .map_err(|e| format!("--jwt-hmac-secret: cannot sign a token: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;
    use crate::cli::{Cli, Command};

    fn common(args: &[&str]) -> CommonArgs {
        let argv = ["herald-loadtest", "connect"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("flags parse").command {
            Command::Connect(a) => a.common,
            _ => unreachable!("connect was asked for"),
        }
    }

    #[test]
    fn a_minted_token_verifies_with_the_secret_and_grants_the_token_rooms() {
        let secret = "0123456789abcdef0123456789abcdef";
        let c = common(&["--jwt-hmac-secret", secret, "--duration", "1h"]);
        let token = connection_token(&c).unwrap().expect("minted");
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::default(),
        )
        .expect("verifies with the same secret")
        .claims;
        assert_eq!(claims["sub"], LOADTEST_USER);
        assert_eq!(claims["rooms"], json!(["loadtest:*", "dashboard:*"]));
        let now = herald_service::clock::unix_ms() / 1000;
        assert!(claims["exp"].as_u64().unwrap() > now + 3600);
        // A wrong secret does not verify it.
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_secret(b"another-secret-0123456789abcdef!"),
                &Validation::default(),
            )
            .is_err()
        );
    }

    #[test]
    fn a_given_token_is_sent_as_is_and_a_short_secret_is_refused() {
        assert_eq!(
            connection_token(&common(&["--token", "abc"])).unwrap(),
            Some("abc".to_owned())
        );
        assert_eq!(connection_token(&common(&[])).unwrap(), None);
        let e = connection_token(&common(&["--jwt-hmac-secret", "short"])).unwrap_err();
        assert!(e.contains("--jwt-hmac-secret"), "{e}");
    }
}
