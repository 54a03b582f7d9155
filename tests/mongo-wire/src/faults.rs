//! Fault injection state: failing commands, dropping connections, delaying
//! replies, refusing connections.

use crate::error::CommandError;
use parking_lot::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Make matching commands fail (like MongoDB's `failCommand` fail point).
#[derive(Debug, Clone, PartialEq)]
pub struct FailCommand {
    /// Command names to fail, e.g. `["getMore"]`.
    pub commands: Vec<String>,
    /// How many times to trigger; `None` means until cleared.
    pub times: Option<u32>,
    /// Error code to answer with; `None` answers nothing special (only block/close).
    pub error_code: Option<i32>,
    /// Error labels, e.g. `ResumableChangeStreamError`.
    pub error_labels: Vec<String>,
    /// Close the connection instead of replying.
    pub close_connection: bool,
    /// Wait this long before acting.
    pub block: Option<Duration>,
}

impl FailCommand {
    /// Fail the next `times` `getMore`s with `code` and `labels`.
    pub fn get_more(times: u32, code: i32, labels: &[&str]) -> Self {
        Self {
            commands: vec!["getMore".to_owned()],
            times: Some(times),
            error_code: Some(code),
            error_labels: labels.iter().map(|s| (*s).to_owned()).collect(),
            close_connection: false,
            block: None,
        }
    }
}

/// What a triggered fail point does to one command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Triggered {
    pub(crate) error: Option<CommandError>,
    pub(crate) close: bool,
    pub(crate) block: Option<Duration>,
}

/// Shared fault state.
#[derive(Debug)]
pub(crate) struct Faults {
    fail: Mutex<Option<FailCommand>>,
    reply_delay: Mutex<Duration>,
    refuse_until: Mutex<Option<Instant>>,
    /// Bumped to make every connection task close its socket.
    kill: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail: Mutex::new(None),
            reply_delay: Mutex::new(Duration::ZERO),
            refuse_until: Mutex::new(None),
            kill: watch::channel(0).0,
        }
    }
}

impl Faults {
    pub(crate) fn set_fail(&self, f: Option<FailCommand>) {
        *self.fail.lock() = f.filter(|f| f.times != Some(0));
    }

    pub(crate) fn trigger(&self, command: &str) -> Option<Triggered> {
        let mut guard = self.fail.lock();
        let f = guard.as_mut()?;
        if !f.commands.iter().any(|c| c == command) {
            return None;
        }
        let t = Triggered {
            error: f.error_code.map(|code| CommandError {
                code,
                message: format!("Failing command {command} via 'failCommand' failpoint"),
                labels: f.error_labels.clone(),
            }),
            close: f.close_connection,
            block: f.block,
        };
        if let Some(n) = f.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *guard = None;
            }
        }
        Some(t)
    }

    pub(crate) fn set_reply_delay(&self, d: Duration) {
        *self.reply_delay.lock() = d;
    }

    pub(crate) fn reply_delay(&self) -> Duration {
        *self.reply_delay.lock()
    }

    pub(crate) fn refuse_for(&self, d: Duration) {
        *self.refuse_until.lock() = Some(Instant::now() + d);
    }

    pub(crate) fn refusing(&self) -> bool {
        self.refuse_until.lock().is_some_and(|t| Instant::now() < t)
    }

    pub(crate) fn drop_connections(&self) {
        self.kill.send_modify(|v| *v += 1);
    }

    pub(crate) fn kill_signal(&self) -> watch::Receiver<u64> {
        self.kill.subscribe()
    }

    pub(crate) fn clear(&self) {
        self.set_fail(None);
        self.set_reply_delay(Duration::ZERO);
        *self.refuse_until.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_point_counts_down() {
        let f = Faults::default();
        f.set_fail(Some(FailCommand::get_more(
            2,
            91,
            &["ResumableChangeStreamError"],
        )));
        assert!(f.trigger("find").is_none());
        let t = f.trigger("getMore").expect("first");
        assert_eq!(t.error.map(|e| e.code), Some(91));
        assert!(f.trigger("getMore").is_some());
        assert!(f.trigger("getMore").is_none());
    }
}
