//! Counters a worker keeps and the coordinator sums across workers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A snapshot of a worker's cumulative counters.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Counters {
            $($(#[$doc])* #[serde(default)] pub $name: u64,)*
        }

        /// The live, shared form of [`Counters`].
        #[derive(Debug, Default)]
        pub struct AtomicCounters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl AtomicCounters {
            /// The current values.
            pub fn snapshot(&self) -> Counters {
                Counters { $($name: self.$name.load(Relaxed),)* }
            }
        }

        impl Counters {
            /// Adds `other` into `self` (every field is a sum across workers).
            pub fn merge(&mut self, other: &Self) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Connection attempts started.
    attempts,
    /// Connections that reached `welcome`.
    connect_ok,
    /// Connection attempts that failed.
    connect_fail,
    /// Connections open right now (a gauge).
    connected,
    /// Connections the gateway (or the network) closed.
    disconnects,
    /// Connections the client closed on purpose (churn, avalanche).
    client_closes,
    /// `subscribed` replies received.
    subscribed,
    /// `error` replies received.
    errors,
    /// Resubscribes answered with `recovered: true`.
    recovered,
    /// Resubscribes with `since` answered with `recovered: false`.
    not_recovered,
    /// `message` frames received, snapshot and live.
    messages,
    /// Live messages delivered in order or late (what counts as a delivery).
    deliveries,
    /// Clients whose first connect-and-subscribe is settled (ok or failed).
    ready_clients,
    /// Clients fully resubscribed after an avalanche drop.
    avalanche_recovered,
}

impl AtomicCounters {
    /// Adds one to `field`.
    pub fn inc(field: &AtomicU64) {
        field.fetch_add(1, Relaxed);
    }

    /// Subtracts one from a gauge, never below zero.
    pub fn dec(field: &AtomicU64) {
        let _ = field.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counters_sum_field_by_field() {
        let a = AtomicCounters::default();
        AtomicCounters::inc(&a.connect_ok);
        AtomicCounters::inc(&a.connect_ok);
        AtomicCounters::inc(&a.deliveries);
        AtomicCounters::dec(&a.connected);
        let mut total = a.snapshot();
        let b = Counters {
            connect_ok: 5,
            connect_fail: 1,
            ..Counters::default()
        };
        total.merge(&b);
        assert_eq!(
            (
                total.connect_ok,
                total.connect_fail,
                total.deliveries,
                total.connected
            ),
            (7, 1, 1, 0)
        );
    }

    #[test]
    fn counters_parse_from_older_workers_missing_fields() {
        let c: Counters = serde_json::from_str(r#"{"attempts":3}"#).unwrap();
        assert_eq!(c.attempts, 3);
    }
}
