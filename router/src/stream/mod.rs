//! Where MongoDB is tailed: one change stream per scope.
//!
//! - [`backoff`]: pacing of repeated resyncs after dead positions.
//! - [`open`]: opening a stream (now, `resumeAfter`, `startAfter`) and
//!   classifying its errors.
//! - [`reader`]: a task that reads raw events into a bounded channel.
//! - [`run`]: the leader's batch loop: route, publish, checkpoint, recover.
//! - [`token`]: resume-token hex and its cluster time.

pub mod backoff;
pub mod open;
pub mod reader;
pub mod run;
pub mod token;
