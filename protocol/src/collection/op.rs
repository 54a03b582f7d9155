//! What a publisher asks the bus to do to a live collection's stored set,
//! beside the change it publishes. Never sent to clients.

use crate::JsonText;

/// One change to the stored set. Keys are [`key_text`](super::key_text)s.
#[derive(Debug, Clone, PartialEq)]
pub enum SetOp {
    /// Store `doc` under `key` (an insert, a replace, an update, or a
    /// document entering the set): the whole document after the change.
    Put {
        /// The key text.
        key: String,
        /// The whole document.
        doc: JsonText,
    },
    /// Remove `key` from the set.
    Remove {
        /// The key text.
        key: String,
    },
    /// Replace the whole set with these documents (a resync).
    Reset {
        /// Key text and document of every member.
        docs: Vec<(String, JsonText)>,
    },
}

impl SetOp {
    /// The operation's name in the bus script's arguments.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Put { .. } => "put",
            Self::Remove { .. } => "del",
            Self::Reset { .. } => "reset",
        }
    }
}

/// What a publication does to its room's stored set: the room becomes (or
/// stays) a live collection of shape `spec`, and `op` changes its members.
/// The bus applies it only if it stores the publication (never for a
/// replay it drops), in the same atomic step.
#[derive(Debug, Clone, PartialEq)]
pub struct SetChange {
    /// The set's shape, stored with it.
    pub spec: super::SetSpec,
    /// The change to the members.
    pub op: SetOp,
}
