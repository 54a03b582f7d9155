//! Why a token was refused, and whether the client may try again.

/// Whether a refused client may refresh its token and reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token was good but has expired: fetch a fresh one and retry.
    Expired,
    /// The gateway cannot check the token yet (its `--jwt-jwks-url` keys
    /// have not arrived): retry the same token after a backoff.
    Unavailable,
    /// The token can never pass: the client must not reconnect with it.
    Invalid,
}

/// Why [`verify`](super::token::verify) or
/// [`verify_subscription`](super::token::verify_subscription) refused a token.
///
/// Every variant has a stable [`code`](AuthError::code) for metrics labels
/// (the fixed set [`AuthError::CODES`]) and a [`class`](AuthError::class).
/// Messages name the rule broken, never the token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is longer than the configured limit; it was not decoded.
    #[error("token is {len} bytes long; the limit is {limit}")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// Not a well-formed JWT (three base64url parts, a JSON header naming a
    /// supported algorithm, a JSON object payload). `alg: none` lands here.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names a `kid` the key set does not hold.
    #[error("no key with the token's kid")]
    UnknownKey,
    /// The header has no `kid` and the key set holds more than one key.
    #[error("token has no kid and the key set holds several keys")]
    KidRequired,
    /// The header's `alg` is not the algorithm its key is pinned to.
    #[error("token alg {got} does not match its key's algorithm {expected}")]
    AlgorithmMismatch {
        /// The key's pinned algorithm.
        expected: &'static str,
        /// The algorithm the header named.
        got: String,
    },
    /// The signature does not verify with the selected key.
    #[error("token signature does not verify")]
    BadSignature,
    /// `exp` (plus leeway) has passed. The only retryable error.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) is still in the future.
    #[error("token not valid yet")]
    NotYetValid,
    /// A claim the rules require is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value.
    #[error("token claim {claim} is invalid: {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `iss` is not one of the accepted issuers.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` names none of the accepted audiences.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A subscription token offered as a connection token, or the reverse.
    #[error("wrong token type: expected a {expected} token")]
    WrongTokenType {
        /// `"connection"` or `"subscription"`.
        expected: &'static str,
    },
    /// A subscription token's `sub` is not the connection's user.
    #[error("subscription token is for another user")]
    SubjectMismatch,
    /// A refresh token names a different user than the connection's.
    #[error("a refresh must keep the connection's user")]
    UserChanged,
    /// The gateway needs a token and the client sent none.
    #[error("this gateway needs a token (auth frame, ?token= or Socket.IO auth.token)")]
    Missing,
    /// A token was sent to a gateway that has no key to verify it with.
    #[error("this gateway verifies no tokens (no --jwt-* key is configured)")]
    NoKeys,
    /// No key has the token's `kid`, and the keys of `--jwt-jwks-url`
    /// have not arrived yet: the token may pass once they do.
    #[error("the gateway's token keys are not available yet; retry later")]
    KeysUnavailable,
}

impl AuthError {
    /// Every value [`code`](Self::code) can return, for pre-registering
    /// metric labels.
    pub const CODES: [&'static str; 18] = [
        "token_too_large",
        "malformed",
        "unknown_kid",
        "kid_required",
        "alg_mismatch",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "missing_claim",
        "invalid_claim",
        "wrong_issuer",
        "wrong_audience",
        "wrong_token_type",
        "subject_mismatch",
        "user_changed",
        "missing_token",
        "no_keys",
        "keys_unavailable",
    ];

    /// A stable, low-cardinality name for this error, one per variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "token_too_large",
            Self::Malformed(_) => "malformed",
            Self::UnknownKey => "unknown_kid",
            Self::KidRequired => "kid_required",
            Self::AlgorithmMismatch { .. } => "alg_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim { .. } => "invalid_claim",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongTokenType { .. } => "wrong_token_type",
            Self::SubjectMismatch => "subject_mismatch",
            Self::UserChanged => "user_changed",
            Self::Missing => "missing_token",
            Self::NoKeys => "no_keys",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }

    /// Whether the client may refresh and retry, or must give up.
    ///
    /// Only [`AuthError::Expired`] (with a fresh token) and
    /// [`AuthError::KeysUnavailable`] (later) are retryable. A
    /// not-yet-valid token is invalid: the leeway already absorbs clock
    /// skew, and a client that retried would loop.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Expired => ErrorClass::Expired,
            Self::KeysUnavailable => ErrorClass::Unavailable,
            _ => ErrorClass::Invalid,
        }
    }

    /// Shorthand for `class() == ErrorClass::Expired`.
    pub fn is_expired(&self) -> bool {
        self.class() == ErrorClass::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<AuthError> {
        vec![
            AuthError::TooLarge { len: 2, limit: 1 },
            AuthError::Malformed("x".into()),
            AuthError::UnknownKey,
            AuthError::KidRequired,
            AuthError::AlgorithmMismatch {
                expected: "RS256",
                got: "HS256".into(),
            },
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::MissingClaim("exp"),
            AuthError::InvalidClaim {
                claim: "rooms",
                reason: "x".into(),
            },
            AuthError::WrongIssuer,
            AuthError::WrongAudience,
            AuthError::WrongTokenType {
                expected: "subscription",
            },
            AuthError::SubjectMismatch,
            AuthError::UserChanged,
            AuthError::Missing,
            AuthError::NoKeys,
            AuthError::KeysUnavailable,
        ]
    }

    #[test]
    fn every_variant_has_a_distinct_listed_code() {
        let all = one_of_each();
        let codes: Vec<&str> = all.iter().map(AuthError::code).collect();
        assert_eq!(codes, AuthError::CODES.to_vec());
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn only_expiry_is_retryable() {
        for e in one_of_each()
            .into_iter()
            .filter(|e| *e != AuthError::KeysUnavailable)
        {
            let expect = matches!(e, AuthError::Expired);
            assert_eq!(e.is_expired(), expect, "{e:?}");
            assert_eq!(
                e.class(),
                if expect {
                    ErrorClass::Expired
                } else {
                    ErrorClass::Invalid
                }
            );
        }
    }
}
