//! Live collections: rooms whose state is a bounded, keyed set of
//! documents, kept by the bus beside the room's history.
//!
//! A subscriber gets the whole set as one [`Snapshot`] (event
//! [`SNAPSHOT_EVENT`]) at the room's latest offset, then one [`Change`] per
//! message (event [`CHANGE_EVENT`]): `upsert` with the whole document,
//! `patch` with only the changed fields, `remove` with the key. A publisher
//! hands the bus a [`SetOp`] beside each change, which the bus applies to
//! the stored set in the same atomic step that appends the change to the
//! room's history, so the set and the history never disagree.
//!
//! `docs/protocol.md` ("Live collections") specifies the payloads;
//! `docs/adapter-protocol.md` the stored set.
//!
//! - [`spec`]: what the set is: key field, sort, limit ([`SetSpec`]).
//! - [`change`]: the payloads subscribers get ([`Change`], [`Snapshot`]).
//! - [`op`]: what a publisher asks the bus to do to the stored set.
//! - [`path`]: dotted paths, reading and writing documents by them.
//! - [`apply`]: applying changes to a set, as every client does.
//! - [`order`]: the sort order of field values.

pub mod apply;
pub mod change;
pub mod op;
pub mod order;
pub mod path;
pub mod spec;

pub use apply::{ApplyError, LiveSet};
pub use change::{Change, ChangeDecodeError, ChangeKind, Patch, Snapshot};
pub use op::{SetChange, SetOp};
pub use order::cmp_values;
pub use spec::{SetSpec, SpecError};

/// The event name of a snapshot: the whole set, replacing what a client held.
pub const SNAPSHOT_EVENT: &str = "herald:snapshot";

/// The event name of one change to the set.
pub const CHANGE_EVENT: &str = "herald:change";

/// The text a key value is stored and compared under: its compact JSON.
pub fn key_text(key: &serde_json::Value) -> String {
    serde_json::to_string(key).unwrap_or_default()
}
