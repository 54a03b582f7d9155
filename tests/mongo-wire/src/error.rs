//! Errors: server start-up failures and command errors sent back to clients.

use mongodb::bson::{Bson, Document, doc};

/// Failure to start the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address that was asked for.
        addr: std::net::SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// A command failure, answered as `{ok: 0, errmsg, code, codeName, errorLabels}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// Server error code.
    pub code: i32,
    /// Human-readable message.
    pub message: String,
    /// Error labels, e.g. `ResumableChangeStreamError`.
    pub labels: Vec<String>,
}

impl CommandError {
    /// An error with no labels.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            labels: Vec::new(),
        }
    }

    /// `BadValue` (2), for unsupported or invalid arguments.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }

    /// The reply document.
    pub fn to_doc(&self) -> Document {
        let mut d = doc! {"ok": 0.0, "errmsg": &self.message, "code": self.code, "codeName": code_name(self.code)};
        if !self.labels.is_empty() {
            d.insert(
                "errorLabels",
                self.labels
                    .iter()
                    .map(|l| Bson::String(l.clone()))
                    .collect::<Vec<_>>(),
            );
        }
        d
    }
}

/// The `codeName` of well-known server error codes.
pub fn code_name(code: i32) -> &'static str {
    match code {
        1 => "InternalError",
        2 => "BadValue",
        6 => "HostUnreachable",
        7 => "HostNotFound",
        9 => "FailedToParse",
        14 => "TypeMismatch",
        26 => "NamespaceNotFound",
        28 => "PathNotViable",
        43 => "CursorNotFound",
        48 => "NamespaceExists",
        50 => "MaxTimeMSExpired",
        59 => "CommandNotFound",
        66 => "ImmutableField",
        89 => "NetworkTimeout",
        91 => "ShutdownInProgress",
        189 => "PrimarySteppedDown",
        260 => "InvalidResumeToken",
        262 => "ExceededTimeLimit",
        280 => "ChangeStreamFatalError",
        286 => "ChangeStreamHistoryLost",
        10107 => "NotWritablePrimary",
        10334 => "BSONObjectTooLarge",
        11000 => "DuplicateKey",
        11600 => "InterruptedAtShutdown",
        11602 => "InterruptedDueToReplStateChange",
        13435 => "NotPrimaryNoSecondaryOk",
        13436 => "NotPrimaryOrSecondary",
        _ => "UnknownError",
    }
}

/// Result of a command handler.
pub type CmdResult = Result<Document, CommandError>;
