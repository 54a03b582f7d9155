//! A room's stream position.

use serde::{Deserialize, Serialize};

/// Where a client stands in a room's stream.
///
/// `offset` counts publications to the room, starting at 1 for the first.
/// `epoch` names the generation of the room's history: when the store that
/// holds the history loses it (a restart without persistence, a flush), the
/// epoch changes and offsets from the old epoch mean nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The generation of the room's history.
    pub epoch: String,
    /// The offset of the last publication seen, 0 for none.
    pub offset: u64,
}
