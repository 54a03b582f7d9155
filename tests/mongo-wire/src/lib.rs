//! A MongoDB wire-protocol test server with change streams and fault injection.
//!
//! The real `mongodb` driver (3.x) connects to it over TCP as to a one-member
//! replica set primary running MongoDB 6.0. Data lives in memory; every write
//! appends to a global oplog that change streams read. See `README.md`.
//!
//! # Layout
//! - [`server`]: [`MongoWireServer::start`], the accept loop, connection tasks and [`Handle`].
//! - [`wire`]: message framing and OP_MSG encode/decode (no I/O but one reader fn).
//! - [`commands`]: command dispatch, one module per family
//!   (handshake, crud, cursors, change streams, ddl, admin/faults).
//! - [`store`]: collections; [`update`]: update operators; [`delta`]: update
//!   pipelines and the `updateDescription` of a document's difference; [`matcher`] and
//!   [`compare`]: filters and BSON ordering; [`projection`]: simple projections.
//! - [`oplog`]: positioned write log and retention; [`token`]: resume token format.
//! - [`faults`]: fail points and other fault state; [`stats`]: command counters
//!   and the command log (with each change stream's resume arguments).
//! - [`config`], [`error`], `state` (shared server state).

pub mod commands;
pub mod compare;
pub mod config;
pub mod delta;
pub mod error;
pub mod faults;
pub mod matcher;
pub mod oplog;
pub mod projection;
pub mod server;
mod state;
pub mod stats;
pub mod store;
pub mod token;
pub mod update;
pub mod wire;

pub use config::Config;
pub use error::{CommandError, StartError};
pub use faults::FailCommand;
pub use server::{Handle, MongoWireServer};
pub use stats::Stats;
