//! What the coordinator and its workers say to each other: one JSON
//! [`WorkerPlan`] line on the worker's stdin, then [`Control`] lines; the
//! worker answers with one [`WorkerReport`] line a second on its stdout.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::client::{Transport, WireFormat};
use crate::stats::checker::CheckSummary;
use crate::stats::counters::Counters;

/// One worker's share of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerPlan {
    /// This worker's number, from 0.
    pub worker: usize,
    /// Global index of this worker's first client.
    pub first_client: u64,
    /// How many clients this worker drives.
    pub clients: u64,
    /// Gateway WebSocket URLs; clients are spread over them.
    pub urls: Vec<String>,
    /// Local source addresses; clients are spread over them.
    pub source_addrs: Vec<IpAddr>,
    /// Which client protocol to speak.
    pub transport: Transport,
    /// JSON or MessagePack frames (native transport).
    pub format: WireFormat,
    /// New connections per second for this worker (0 = all at once).
    pub connect_rate: f64,
    /// Rooms each client joins; empty plan = connect only.
    pub rooms: RoomPlan,
    /// Client-initiated reconnects per second for this worker (0 = none).
    pub churn_rate: f64,
    /// Retry failed connects (with backoff) instead of giving up.
    pub retry: bool,
    /// Give up a connect attempt after this long, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Socket.IO: the room template mapping room names to `subscribe` arguments.
    #[serde(default = "default_sio_room_template")]
    pub sio_room_template: String,
    /// The connection token clients send, if the gateway needs one.
    #[serde(default)]
    pub token: Option<String>,
    /// QUIC transports: SHA-256 hashes (hex) of the certificates to trust,
    /// from `--quic-cert-hash` or fetched once by the coordinator.
    #[serde(default)]
    pub quic_cert_hashes: Vec<String>,
    /// QUIC transports: the UDP port of each URL, in `urls` order (empty:
    /// the URL's port).
    #[serde(default)]
    pub quic_ports: Vec<u16>,
}

fn default_sio_room_template() -> String {
    "dashboard:{arg}".to_owned()
}

/// Which rooms the clients join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RoomPlan {
    /// How many rooms exist (0 = clients join none).
    pub count: usize,
    /// Zipf exponent; `None` = uniform.
    pub zipf: Option<f64>,
    /// Rooms per client.
    pub per_client: usize,
    /// Room names are `prefix` followed by the room index.
    pub prefix: String,
    /// Seed for the room assignment.
    pub seed: u64,
}

/// A command from the coordinator, after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Control {
    /// Drop every connection at once and reconnect with recovery.
    DropAll,
    /// Stop: close connections and report the final check. `published[i]`
    /// is how many messages room `i` received in total.
    Finish {
        /// Messages published per room index.
        published: Vec<u64>,
    },
}

/// One line of worker output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WorkerReport {
    /// The worker's number.
    pub worker: usize,
    /// Cumulative counters.
    pub counters: Counters,
    /// Message latency histogram since the previous report (base64 V2).
    pub latency: Option<String>,
    /// Connect latency histogram since the previous report (base64 V2).
    pub connect_latency: Option<String>,
    /// Avalanche recovery times since the previous report (base64 V2).
    pub recovery: Option<String>,
    /// Event-loop lag of this worker's runtime since the previous report
    /// (base64 V2; see [`crate::selfmon::lag`]).
    #[serde(default)]
    pub loop_lag: Option<String>,
    /// The delivery check, in the final report only.
    pub check: Option<CheckSummary>,
    /// True on the last report.
    pub done: bool,
}
