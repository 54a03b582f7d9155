//! The I/O side of Herald's adapter protocol: how publications are stored,
//! numbered, kept as history and handed to each gateway node. The frame
//! types themselves are sans-IO and live in `herald_protocol::bus`; the
//! specification is `docs/adapter-protocol.md`.
//!
//! A [`Bus`] stores each room's publications (assigning the room's epoch and
//! offset), keeps the latest state and a bounded history, and hands every
//! publication to the node's [`Sink`] in offset order. Callers hold an
//! `Arc<dyn Bus>` and never learn which implementation is behind it. The bus
//! carries data only ([`Message`]); transports encode it.
//!
//! # Layout
//! - [`api`]: the [`Bus`] and [`Sink`] traits and [`BusHealth`].
//! - [`error`]: [`BusError`], with its sources kept.
//! - [`message`]: [`Message`], one stored publication.
//! - [`history`]: [`History`] and the recovery rule every bus applies.
//! - [`set`]: live collections: the stored set ([`StoredSet`]) and the
//!   snapshot a new subscriber gets.
//! - [`ask`]: emits that wait for acknowledgements ([`ask::Ask`], [`ask::Pending`]).
//! - [`memory`]: one process, nothing shared (`--standalone`).
//! - [`redis`]: Herald's Redis streams adapter. Redis is read in
//!   [`redis`]'s `reader` module and written in its `publish` module.
//! - [`metrics`]: the bus's metric names, registered at start.

pub mod api;
pub mod ask;
pub mod error;
pub mod history;
pub mod memory;
pub mod message;
pub mod metrics;
pub mod redis;
pub mod set;

pub use api::{Bus, BusHealth, Sink};
pub use error::BusError;
pub use history::{History, read_history, select};
pub use message::Message;
pub use set::StoredSet;
