//! Routing rules: which change events go to which rooms, as what.
//!
//! - [`model`]: the rules file as written, and the checked rules.
//! - [`validate`]: from the one to the other, naming the rule and field at fault.
//! - [`collection`]: `[[collection]]` tables: live collections.
//! - [`template`]: room-name templates such as `dashboard:{fullDocument.section}`.
//! - [`matcher`]: the router's own reading of a rule filter, to tell which
//!   rules of a scope an event (already `$match`ed by the server) belongs to.

pub mod collection;
pub mod matcher;
pub mod model;
pub mod template;
pub mod validate;

pub use collection::Collection;
pub use model::{Op, Payload, Rule, Rules, Scope, Target};
pub use validate::{RulesError, parse_rules};
