//! Room patterns: which rooms a grant covers.
//!
//! A pattern is either an exact room name (`lobby`) or a prefix ending in
//! `:*` (`news:*`), which covers every room whose name starts with the
//! prefix, colon included, and has at least one character after it. A `*`
//! anywhere else is refused, even though `*` is legal inside a room name:
//! a pattern must never be read two ways.

use std::fmt;
use std::str::FromStr;

use crate::room::{MAX_ROOM_BYTES, RoomError, RoomName, validate};

/// The most patterns one [`RoomPatterns`] set holds.
pub const MAX_PATTERNS: usize = 256;

/// The longest pattern, in bytes of UTF-8: the longest room name.
pub const MAX_PATTERN_BYTES: usize = MAX_ROOM_BYTES;

/// Why a string is not a valid room pattern, or a list not a valid set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomPatternError {
    /// The pattern is empty.
    #[error("room pattern is empty")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_BYTES`].
    #[error("room pattern is {0} bytes long; the limit is {MAX_PATTERN_BYTES}")]
    TooLong(usize),
    /// A `*` that is not the last character right after a `:`.
    #[error(
        "room pattern {0:?} has a '*' that is not a trailing ':*'; \
         write an exact room name or a prefix such as \"news:*\""
    )]
    Wildcard(String),
    /// The pattern breaks a room-name rule (a character outside the set).
    #[error("room pattern {pattern:?}: {source}")]
    Room {
        /// The offending pattern.
        pattern: String,
        /// The room-name rule it breaks.
        source: RoomError,
    },
    /// The set holds more than [`MAX_PATTERNS`] patterns.
    #[error("{0} room patterns; the limit is {MAX_PATTERNS}")]
    TooMany(usize),
}

/// One pattern: an exact room or every room under a `prefix:`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum RoomPattern {
    /// Exactly this room.
    Exact(RoomName),
    /// Every room whose name starts with this prefix (which ends in `:`)
    /// and is longer than it.
    Prefix(Box<str>),
}

impl RoomPattern {
    /// Parses `pattern`: an exact room name, or a prefix followed by `:*`.
    ///
    /// # Errors
    /// [`RoomPatternError`] names the first rule the string breaks.
    pub fn parse(pattern: &str) -> Result<Self, RoomPatternError> {
        if pattern.is_empty() {
            return Err(RoomPatternError::Empty);
        }
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(RoomPatternError::TooLong(pattern.len()));
        }
        let (body, prefix) = match pattern.strip_suffix(":*") {
            Some(head) => (&pattern[..head.len() + 1], true),
            None => (pattern, false),
        };
        if body.contains('*') {
            return Err(RoomPatternError::Wildcard(pattern.to_owned()));
        }
        let room_error = |source| RoomPatternError::Room {
            pattern: pattern.to_owned(),
            source,
        };
        if prefix {
            validate(body).map_err(room_error)?;
            Ok(Self::Prefix(body.into()))
        } else {
            RoomName::new(body).map(Self::Exact).map_err(room_error)
        }
    }

    /// Whether `room` is covered by this pattern.
    pub fn matches(&self, room: &RoomName) -> bool {
        match self {
            Self::Exact(name) => name == room,
            Self::Prefix(prefix) => room.len() > prefix.len() && room.starts_with(&**prefix),
        }
    }
}

impl fmt::Display for RoomPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

impl FromStr for RoomPattern {
    type Err = RoomPatternError;
    fn from_str(s: &str) -> Result<Self, RoomPatternError> {
        Self::parse(s)
    }
}

/// A bounded set of patterns; a room is allowed when any pattern covers it.
///
/// The empty set allows nothing. [`RoomPatterns::everything`] allows every
/// room; no pattern string can produce it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RoomPatterns {
    patterns: Vec<RoomPattern>,
    everything: bool,
}

impl RoomPatterns {
    /// The set that allows nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// The set that allows every room (a standalone node's open grant).
    pub fn everything() -> Self {
        Self {
            patterns: Vec::new(),
            everything: true,
        }
    }

    /// Parses every string of `patterns` into one set.
    ///
    /// # Errors
    /// The first invalid pattern's [`RoomPatternError`], or
    /// [`RoomPatternError::TooMany`] past [`MAX_PATTERNS`] (checked before
    /// any is parsed when the iterator knows its length).
    pub fn parse<I, S>(patterns: I) -> Result<Self, RoomPatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let iter = patterns.into_iter();
        let (lower, _) = iter.size_hint();
        if lower > MAX_PATTERNS {
            return Err(RoomPatternError::TooMany(lower));
        }
        let mut set = Vec::with_capacity(lower);
        for (i, pattern) in iter.enumerate() {
            if i == MAX_PATTERNS {
                return Err(RoomPatternError::TooMany(i + 1));
            }
            set.push(RoomPattern::parse(pattern.as_ref())?);
        }
        Ok(Self {
            patterns: set,
            everything: false,
        })
    }

    /// Whether any pattern of the set covers `room`.
    pub fn allows(&self, room: &RoomName) -> bool {
        self.everything || self.patterns.iter().any(|p| p.matches(room))
    }

    /// Whether this is the set that allows every room.
    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// Whether the set allows nothing.
    pub fn is_empty(&self) -> bool {
        !self.everything && self.patterns.is_empty()
    }

    /// The patterns, in the order they were given.
    pub fn patterns(&self) -> &[RoomPattern] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomName {
        RoomName::new(s).expect("test room is valid")
    }

    fn pat(s: &str) -> RoomPattern {
        RoomPattern::parse(s).expect("test pattern is valid")
    }

    #[test]
    fn exact_pattern_matches_only_its_room() {
        let p = pat("lobby");
        assert!(p.matches(&room("lobby")));
        assert!(!p.matches(&room("lobby2")));
        assert!(!p.matches(&room("lobb")));
    }

    #[test]
    fn prefix_pattern_matches_rooms_under_the_prefix() {
        let p = pat("news:*");
        assert_eq!(p, RoomPattern::Prefix("news:".into()));
        assert!(p.matches(&room("news:sport")));
        assert!(p.matches(&room("news:a:b")));
        assert!(
            !p.matches(&room("news:")),
            "the prefix alone is not under it"
        );
        assert!(!p.matches(&room("news")));
        assert!(!p.matches(&room("newsroom")));
        assert!(!p.matches(&room("xnews:sport")));
    }

    #[test]
    fn nested_prefix_and_bare_colon_prefix() {
        assert!(pat("a:b:*").matches(&room("a:b:c")));
        assert!(!pat("a:b:*").matches(&room("a:c")));
        assert!(pat(":*").matches(&room(":x")));
    }

    #[test]
    fn misplaced_wildcards_are_refused() {
        for bad in [
            "*", "news*", "news:*x", "*:news", "a*b", "news:**", "a:*:*", "a*:*",
        ] {
            let err = RoomPattern::parse(bad).expect_err(bad);
            assert!(
                matches!(err, RoomPatternError::Wildcard(_)),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("prefix"), "{err}");
        }
    }

    #[test]
    fn room_rules_apply_to_patterns() {
        assert_eq!(RoomPattern::parse(""), Err(RoomPatternError::Empty));
        assert!(matches!(
            RoomPattern::parse("a b"),
            Err(RoomPatternError::Room {
                source: RoomError::BadChar(' '),
                ..
            })
        ));
        assert!(matches!(
            RoomPattern::parse("{x}:*"),
            Err(RoomPatternError::Room { .. })
        ));
    }

    #[test]
    fn length_limit_is_the_room_limit() {
        let longest = "a".repeat(MAX_PATTERN_BYTES);
        assert!(RoomPattern::parse(&longest).is_ok());
        let prefix = format!("{}:*", "a".repeat(MAX_PATTERN_BYTES - 2));
        assert!(RoomPattern::parse(&prefix).is_ok());
        let over = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert_eq!(
            RoomPattern::parse(&over),
            Err(RoomPatternError::TooLong(MAX_PATTERN_BYTES + 1))
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["lobby", "news:*", "a:b:*", "é:*", "x@y.z"] {
            let p = pat(s);
            assert_eq!(p.to_string(), s);
            assert_eq!(pat(&p.to_string()), p);
        }
    }

    #[test]
    fn set_allows_any_member_and_empty_allows_nothing() {
        let set = RoomPatterns::parse(["lobby", "news:*"]).expect("valid");
        assert!(set.allows(&room("lobby")));
        assert!(set.allows(&room("news:x")));
        assert!(!set.allows(&room("chat")));
        let none = RoomPatterns::none();
        assert!(none.is_empty());
        assert!(!none.allows(&room("lobby")));
        assert!(RoomPatterns::everything().allows(&room("anything")));
        assert!(!RoomPatterns::everything().is_empty());
    }

    #[test]
    fn set_is_bounded() {
        let max: Vec<String> = (0..MAX_PATTERNS).map(|i| format!("r{i}")).collect();
        assert_eq!(
            RoomPatterns::parse(&max)
                .expect("at the limit")
                .patterns()
                .len(),
            256
        );
        let over: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("r{i}")).collect();
        assert_eq!(
            RoomPatterns::parse(&over),
            Err(RoomPatternError::TooMany(MAX_PATTERNS + 1))
        );
        // An iterator without a length hint is stopped at the limit too.
        let unhinted = (0..10_000).map(|i| format!("r{i}")).filter(|_| true);
        assert_eq!(
            RoomPatterns::parse(unhinted),
            Err(RoomPatternError::TooMany(MAX_PATTERNS + 1))
        );
    }

    #[test]
    fn set_reports_the_first_bad_pattern() {
        let err = RoomPatterns::parse(["ok", "bad*", "a b"]).expect_err("bad");
        assert_eq!(err, RoomPatternError::Wildcard("bad*".into()));
    }
}
