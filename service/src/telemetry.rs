//! Logging setup, shared by every Herald binary.

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: `filter` in EnvFilter syntax,
/// JSON lines when `json`, text otherwise. Logs go to stderr.
pub fn init_tracing(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("invalid log filter {filter:?} ({e}); using \"info\"");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("tracing already initialised: {e}");
    }
}
