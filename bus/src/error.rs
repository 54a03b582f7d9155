//! Why the bus could not do what was asked.

use std::error::Error;
use std::sync::Arc;

/// The cause behind a [`BusError`], shared so the error stays `Clone`
/// (one failed batch answers every publication in it).
pub type Source = Arc<dyn Error + Send + Sync + 'static>;

/// Why the bus could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The backing store is unreachable, timed out, or refused the command.
    #[error("bus unavailable: {what}")]
    Unavailable {
        /// What failed, for operators and clients.
        what: String,
        /// The store's own error, when there is one.
        #[source]
        source: Option<Source>,
    },
    /// The publication was refused on its merits (for example a stale
    /// fencing token, or the room limit).
    #[error("publish rejected: {0}")]
    Rejected(String),
    /// The request is not valid (bad room name, too large, bad config).
    #[error("invalid publication: {0}")]
    Invalid(String),
}

impl BusError {
    /// [`BusError::Unavailable`] with no underlying error (a timeout, an
    /// unexpected reply).
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    /// [`BusError::Unavailable`] caused by `source`.
    pub fn caused(what: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The message with every cause appended (`a: b: c`), for logs.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = self.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_kept_and_chained() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = BusError::caused("publish", io);
        assert_eq!(e.to_string(), "bus unavailable: publish");
        assert!(e.source().is_some());
        assert_eq!(e.chain(), "bus unavailable: publish: refused");
        assert!(BusError::unavailable("x").source().is_none());
    }
}
