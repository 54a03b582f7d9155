//! Room names: what a valid one looks like, and the error for one that is not.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest room name, in bytes of UTF-8.
pub const MAX_ROOM_BYTES: usize = 200;

/// Punctuation allowed in a room name besides letters and digits.
pub const ROOM_PUNCTUATION: &str = ":_-./@#=+~!$*,";

/// Why a string is not a valid room name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The name is empty.
    #[error("room name is empty")]
    Empty,
    /// The name is longer than [`MAX_ROOM_BYTES`].
    #[error("room name is {0} bytes long; the limit is {MAX_ROOM_BYTES}")]
    TooLong(usize),
    /// The name holds a character outside the allowed set.
    #[error("room name contains {0:?}; allowed are letters, digits and {ROOM_PUNCTUATION}")]
    BadChar(char),
}

/// A validated room name, cheap to clone.
///
/// Rules: 1 to [`MAX_ROOM_BYTES`] bytes of UTF-8; every character is a
/// Unicode letter or digit, or one of [`ROOM_PUNCTUATION`]. No whitespace,
/// no control characters, no braces (braces mark templates in config).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Validates `name` and wraps it.
    ///
    /// # Errors
    /// [`RoomError`] names the first rule the string breaks.
    pub fn new(name: &str) -> Result<Self, RoomError> {
        validate(name)?;
        Ok(Self(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string behind the name.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

/// Checks `name` against the room-name rules without allocating.
///
/// # Errors
/// [`RoomError`] names the first rule the string breaks.
pub fn validate(name: &str) -> Result<(), RoomError> {
    if name.is_empty() {
        return Err(RoomError::Empty);
    }
    if name.len() > MAX_ROOM_BYTES {
        return Err(RoomError::TooLong(name.len()));
    }
    match name
        .chars()
        .find(|c| !(c.is_alphanumeric() || ROOM_PUNCTUATION.contains(*c)))
    {
        Some(c) => Err(RoomError::BadChar(c)),
        None => Ok(()),
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for RoomName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RoomName {
    type Error = RoomError;
    fn try_from(s: &str) -> Result<Self, RoomError> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RoomName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dashboard_names_and_unicode_letters() {
        for ok in [
            "dashboard:sales",
            "a",
            "user@example.com/feed",
            "склад:1",
            "a.b-c_d#e=f+g~h!i$j*k,l",
        ] {
            assert!(RoomName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        assert_eq!(RoomName::new(""), Err(RoomError::Empty));
        assert_eq!(
            RoomName::new(&"a".repeat(201)),
            Err(RoomError::TooLong(201))
        );
        assert!(RoomName::new(&"a".repeat(200)).is_ok());
        assert_eq!(RoomName::new("a b"), Err(RoomError::BadChar(' ')));
        assert_eq!(RoomName::new("x{y}"), Err(RoomError::BadChar('{')));
        assert_eq!(RoomName::new("nul\0"), Err(RoomError::BadChar('\0')));
    }

    #[test]
    fn deserializing_validates() {
        let bad: Result<RoomName, _> = serde_json::from_str("\"a b\"");
        assert!(bad.unwrap_err().to_string().contains("allowed are"));
    }
}
