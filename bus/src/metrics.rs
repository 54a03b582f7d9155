//! The bus's metric names (part of the public metrics contract).

/// Counter: bus entries that could not be decoded and were skipped, or
/// were of a newer protocol version than this reader knows.
pub const INVALID_FRAMES: &str = "herald_bus_invalid_frames_total";
/// Counter: times the Redis bus found that Redis lost Herald's data.
pub const DATA_LOSS: &str = "herald_bus_data_loss_total";

/// Registers every bus series at 0, so dashboards and `rate()` see them
/// before the first event (and in standalone mode). Call once after the
/// recorder is installed.
pub fn register() {
    for reason in crate::redis::Skip::ALL {
        metrics::counter!(INVALID_FRAMES, "reason" => reason.label()).increment(0);
    }
    metrics::counter!(DATA_LOSS).increment(0);
}
