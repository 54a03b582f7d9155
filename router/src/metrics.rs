//! Metric names (a contract with `grafana/` and the README) and small
//! recording helpers.

/// Seconds between now and the newest change read (event `wallTime`, else
/// `clusterTime`; while idle, the resume token's cluster time). Gauge per scope.
pub const LAG_SECONDS: &str = "herald_router_lag_seconds";
/// Change events read, by `op`. Counter.
pub const EVENTS_TOTAL: &str = "herald_router_events_total";
/// Time to publish one batch into the bus. Histogram.
pub const PUBLISH_SECONDS: &str = "herald_router_publish_seconds";
/// Seconds since the scope's checkpoint was last written. Gauge per scope.
pub const CHECKPOINT_AGE_SECONDS: &str = "herald_router_checkpoint_age_seconds";
/// 1 while this router leads the scope. Gauge per scope.
pub const LEADER: &str = "herald_router_leader";
/// Resyncs after lost history or an invalid token. Counter per scope.
pub const RESYNCS_TOTAL: &str = "herald_router_resyncs_total";
/// Events (or event-room pairs) skipped, by `reason`: `too_large`,
/// `convert`, `room` (template field missing or invalid room), `bus_invalid`;
/// live collections: `doc_too_large`, `no_key`, `set_full`. Counter.
pub const SKIPPED_EVENTS_TOTAL: &str = "herald_router_skipped_events_total";
/// Publications the bus dropped as replays (normal after a restart). Counter.
pub const DUPLICATES_TOTAL: &str = "herald_router_duplicates_total";
/// Change-stream (re)opens, by `reason`. Counter per scope.
pub const STREAM_OPENS_TOTAL: &str = "herald_router_stream_opens_total";

/// Creates every series the dashboards and alerts read, before any event
/// flows: a fresh router shows leader 0, zero counts and an empty histogram
/// instead of absent series.
pub fn register(scopes: &[String]) {
    for scope in scopes {
        leader(scope, false);
        metrics::gauge!(LAG_SECONDS, "scope" => scope.clone()).set(0.0);
        metrics::gauge!(CHECKPOINT_AGE_SECONDS, "scope" => scope.clone()).set(0.0);
        metrics::counter!(RESYNCS_TOTAL, "scope" => scope.clone()).increment(0);
        metrics::counter!(STREAM_OPENS_TOTAL, "scope" => scope.clone()).increment(0);
    }
    for op in ["insert", "update", "replace", "delete"] {
        metrics::counter!(EVENTS_TOTAL, "op" => op).increment(0);
    }
    for reason in [
        "too_large",
        "convert",
        "room",
        "bus_invalid",
        "doc_too_large",
        "no_key",
        "set_full",
    ] {
        metrics::counter!(SKIPPED_EVENTS_TOTAL, "reason" => reason).increment(0);
    }
    metrics::counter!(DUPLICATES_TOTAL).increment(0);
    // A histogram appears in the exposition once it has a handle.
    let _ = metrics::histogram!(PUBLISH_SECONDS);
}

/// Counts one skip.
pub fn skipped(reason: &'static str) {
    metrics::counter!(SKIPPED_EVENTS_TOTAL, "reason" => reason).increment(1);
}

/// Sets a scope's leader gauge.
pub fn leader(scope: &str, on: bool) {
    metrics::gauge!(LEADER, "scope" => scope.to_owned()).set(if on { 1.0 } else { 0.0 });
}

/// Now, Unix seconds as a float.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Now, Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
