//! Checking a token: size, header, key, signature, then the claims.
//!
//! The signature is checked by `jsonwebtoken` with the selected key and its
//! pinned algorithm only; every time-based and identity claim is checked
//! here against the caller's clock (`now_unix`), so tests and the sessions
//! decide what "now" is.

use herald_protocol::{RoomName, RoomPatterns};
use serde_json::{Map, Value};

use super::error::AuthError;
use super::keys::{Algorithm, KeySet};

/// The `typ` claim value that marks a subscription token.
pub const SUBSCRIPTION_TYP: &str = "herald-subscription";

/// The default token size limit, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The default clock leeway, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Accepted `iss` values; empty means `iss` is not checked.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (a token passes when it names any one);
    /// empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Longer tokens are refused before any decoding.
    pub max_token_bytes: usize,
    /// Whether a connection token without `exp` is refused. Subscription
    /// tokens always need `exp`.
    pub require_exp: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            require_exp: true,
        }
    }
}

/// What a valid connection token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user (`sub`), if the token names one.
    pub sub: Option<String>,
    /// Rooms the connection may subscribe to (`rooms`; absent → none).
    pub rooms: RoomPatterns,
    /// Rooms the connection may publish to (`publish`; absent → none).
    pub publish: RoomPatterns,
    /// When the token expires (`exp`, seconds since the epoch).
    pub exp: Option<u64>,
}

/// Verifies a connection token and returns what it grants.
///
/// # Errors
/// [`AuthError`]: size, shape, key, algorithm, signature, time, issuer,
/// audience, token type (a subscription token is refused here) or an
/// invalid `sub`/`rooms`/`publish` claim.
pub fn verify(
    token: &str,
    keys: &KeySet,
    rules: &Rules,
    now_unix: u64,
) -> Result<Claims, AuthError> {
    let claims = decode(token, keys, rules)?;
    if is_subscription(&claims) {
        return Err(AuthError::WrongTokenType {
            expected: "connection",
        });
    }
    let exp = check_common(&claims, rules, now_unix, rules.require_exp)?;
    Ok(Claims {
        sub: string_claim(&claims, "sub")?,
        rooms: patterns_claim(&claims, "rooms")?,
        publish: patterns_claim(&claims, "publish")?,
        exp,
    })
}

/// Verifies a subscription token for a connection whose user is
/// `connection_user`, and returns the one room it grants.
///
/// A subscription token carries `"typ": "herald-subscription"`, `sub`,
/// `room` and `exp`, all required; its `sub` must equal the connection's
/// user (an anonymous connection matches no subscription token).
///
/// # Errors
/// [`AuthError`] as for [`verify`], plus
/// [`AuthError::WrongTokenType`] for a token without the marker and
/// [`AuthError::SubjectMismatch`] for another user's token.
pub fn verify_subscription(
    token: &str,
    keys: &KeySet,
    rules: &Rules,
    now_unix: u64,
    connection_user: Option<&str>,
) -> Result<RoomName, AuthError> {
    let claims = decode(token, keys, rules)?;
    if !is_subscription(&claims) {
        return Err(AuthError::WrongTokenType {
            expected: "subscription",
        });
    }
    check_common(&claims, rules, now_unix, true)?;
    let sub = string_claim(&claims, "sub")?.ok_or(AuthError::MissingClaim("sub"))?;
    if connection_user != Some(sub.as_str()) {
        return Err(AuthError::SubjectMismatch);
    }
    let room = string_claim(&claims, "room")?.ok_or(AuthError::MissingClaim("room"))?;
    RoomName::new(&room).map_err(|e| AuthError::InvalidClaim {
        claim: "room",
        reason: e.to_string(),
    })
}

/// Size limit, header, key choice, algorithm pin and signature; the claims
/// as a JSON object, unchecked.
fn decode(token: &str, keys: &KeySet, rules: &Rules) -> Result<Map<String, Value>, AuthError> {
    if token.len() > rules.max_token_bytes {
        return Err(AuthError::TooLarge {
            len: token.len(),
            limit: rules.max_token_bytes,
        });
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
    let key = keys.select(header.kid.as_deref())?;
    let pinned = key.algorithm();
    if header.alg != pinned.to_jwt() {
        return Err(AuthError::AlgorithmMismatch {
            expected: pinned.as_str(),
            got: format!("{:?}", header.alg),
        });
    }
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        key.decoding_key(),
        &signature_only(pinned),
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::BadSignature,
        _ => AuthError::Malformed(e.to_string()),
    })?;
    Ok(data.claims)
}

/// A validation that checks the signature with `alg` and nothing else.
fn signature_only(alg: Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg.to_jwt());
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    v
}

fn is_subscription(claims: &Map<String, Value>) -> bool {
    claims.get("typ").and_then(Value::as_str) == Some(SUBSCRIPTION_TYP)
}

/// `exp`, `nbf`, `iss` and `aud`; returns `exp`.
fn check_common(
    claims: &Map<String, Value>,
    rules: &Rules,
    now: u64,
    require_exp: bool,
) -> Result<Option<u64>, AuthError> {
    let exp = time_claim(claims, "exp")?;
    match exp {
        Some(exp) if now >= exp.saturating_add(rules.leeway_secs) => {
            return Err(AuthError::Expired);
        }
        None if require_exp => return Err(AuthError::MissingClaim("exp")),
        _ => {}
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && now.saturating_add(rules.leeway_secs) < nbf
    {
        return Err(AuthError::NotYetValid);
    }
    if !rules.issuers.is_empty() {
        let iss = string_claim(claims, "iss")?.ok_or(AuthError::MissingClaim("iss"))?;
        if !rules.issuers.contains(&iss) {
            return Err(AuthError::WrongIssuer);
        }
    }
    if !rules.audiences.is_empty() {
        let named = match claims.get("aud") {
            None => return Err(AuthError::MissingClaim("aud")),
            Some(Value::String(one)) => rules.audiences.contains(one),
            Some(Value::Array(many)) => many.iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| rules.audiences.iter().any(|r| r == a))
            }),
            Some(_) => return Err(invalid("aud", "not a string or an array")),
        };
        if !named {
            return Err(AuthError::WrongAudience);
        }
    }
    Ok(exp)
}

fn invalid(claim: &'static str, reason: &str) -> AuthError {
    AuthError::InvalidClaim {
        claim,
        reason: reason.to_owned(),
    }
}

/// A NumericDate claim: whole non-negative seconds (a fraction is dropped).
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(secs), _) => Ok(Some(secs)),
            (None, Some(f)) if (0.0..u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
            _ => Err(invalid(name, "not a non-negative number of seconds")),
        },
        Some(_) => Err(invalid(name, "not a number")),
    }
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(name, "not a string")),
    }
}

fn patterns_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<RoomPatterns, AuthError> {
    let items = match claims.get(name) {
        None => return Ok(RoomPatterns::none()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(name, "not an array of room patterns")),
    };
    let strings: Vec<&str> = items
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| invalid(name, "holds a non-string"))
        })
        .collect::<Result<_, _>>()?;
    RoomPatterns::parse(strings).map_err(|e| AuthError::InvalidClaim {
        claim: name,
        reason: e.to_string(),
    })
}
