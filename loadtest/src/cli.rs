//! Command-line interface (clap derive). Every flag is documented in `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::{Transport, WireFormat};

/// Herald's load generator.
#[derive(Debug, Parser)]
#[command(name = "herald-loadtest", version, about)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ramp up idle connections, hold them, and measure gateway RSS per connection.
    Connect(ConnectArgs),
    /// Clients in rooms, a publisher at a fixed rate: latency and delivery checks.
    Fanout(FanoutArgs),
    /// Like fanout, while clients keep disconnecting and recovering.
    Churn(ChurnArgs),
    /// Drop every connection at once and reconnect all with recovery.
    Avalanche(AvalancheArgs),
    /// Long run of churn and fan-out; fits RSS growth and gives a leak verdict.
    Soak(SoakArgs),
    /// Internal: a worker process driven by the coordinator over stdin/stdout.
    #[command(hide = true)]
    Worker,
}

/// Flags every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Gateway WebSocket URL; repeat for several gateways.
    #[arg(long = "url", default_value = "ws://127.0.0.1:8080/ws")]
    pub urls: Vec<String>,
    /// Gateway admin base URL (for /metrics and /api/publish); repeat, in the same order as --url.
    #[arg(long = "admin", default_value = "http://127.0.0.1:9090")]
    pub admins: Vec<String>,
    /// Bearer key for the admin publish API.
    #[arg(long, env = "HERALD_API_KEY")]
    pub api_key: Option<String>,
    /// Worker processes to spread the clients over (each holds at most ~19,000 sockets).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Source addresses to connect from: 127.0.0.1 to 127.0.0.N (about 28k ports each per gateway).
    #[arg(long, default_value_t = 16)]
    pub source_addrs: u8,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// How long the measured phase runs (publishing, or the soak), e.g. 30s, 5m, 2h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Client protocol. `webtransport` and `quic` reach the gateway's QUIC
    /// listener (UDP) and trust its certificate by SHA-256: fetched from
    /// `http://HOST:PORT/wt/certificate-hash` of each `ws://` (or
    /// `https://HOST:PORT/wt`, `quic://HOST:PORT`) URL, or --quic-cert-hash.
    /// `sse` opens `GET http://HOST:PORT/sse?room=…` per client.
    #[arg(long, value_enum, default_value_t = Transport::Native)]
    pub transport: Transport,
    /// QUIC transports: trust the certificate with this SHA-256 (64 hex
    /// digits) instead of fetching `/wt/certificate-hash`; repeatable.
    /// The UDP port is then the URL's.
    #[arg(long = "quic-cert-hash")]
    pub quic_cert_hashes: Vec<String>,
    /// Frame encoding for the native protocol.
    #[arg(long, value_enum, default_value_t = WireFormat::Json)]
    pub format: WireFormat,
    /// Socket.IO: the room a `subscribe` argument joins; room names must fit it
    /// (with the default, room `dashboard:sales` is joined by `42["subscribe","sales"]`).
    /// A URL path of `/ws` or `/` becomes `/socket.io/` in Socket.IO mode.
    #[arg(long, default_value = "dashboard:{arg}")]
    pub sio_room_template: String,
    /// Give up one connect attempt after this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long to wait for all clients to connect and subscribe.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Connection token every client sends (native: ?token=, Socket.IO: auth.token).
    #[arg(long, env = "HERALD_LOADTEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Mint an HS256 connection token with this secret instead (the gateway's --jwt-hmac-secret).
    #[arg(
        long,
        env = "HERALD_JWT_HMAC_SECRET",
        hide_env_values = true,
        conflicts_with = "token"
    )]
    pub jwt_hmac_secret: Option<String>,
    /// Room patterns a minted token grants (its rooms and publish claims).
    #[arg(long, value_delimiter = ',', default_value = "loadtest:*,dashboard:*")]
    pub token_rooms: Vec<String>,
    /// Hide the progress line even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// `connect` flags.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: u64,
    /// New connections per second (0 = all at once).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// How long to hold the connections idle before the final RSS sample.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub hold: Duration,
    /// Fail (exit 2) when more than this fraction of connects fail.
    #[arg(long, default_value_t = 0.0)]
    pub max_fail_ratio: f64,
}

/// How the publisher reaches the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishVia {
    /// `POST /api/publish/batch` on the admin listeners.
    Http,
    /// Straight into Redis (not available: `docs/adapter-protocol.md` has not landed).
    Redis,
}

/// Flags for scenarios with rooms and a publisher.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: u64,
    /// Rooms.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Draw rooms by Zipf with this exponent instead of uniformly.
    #[arg(long)]
    pub zipf: Option<f64>,
    /// Rooms each client joins.
    #[arg(long, default_value_t = 1)]
    pub rooms_per_client: usize,
    /// Messages published per second, across all rooms (round-robin).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Padding bytes in each payload.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Publish path.
    #[arg(long, value_enum, default_value_t = PublishVia::Http)]
    pub publish_via: PublishVia,
    /// Redis URL for --publish-via redis.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// New connections per second while connecting (0 = all at once).
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Pause between "all subscribed" and the first publish.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Pause after the last publish before checking deliveries.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Room names are this prefix plus the room number.
    #[arg(long, default_value = "loadtest:r")]
    pub room_prefix: String,
    /// Event name of published messages.
    #[arg(long, default_value = "loadtest")]
    pub event: String,
    /// Seed for the room assignment.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Publisher batching interval in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub tick_ms: u64,
}

/// `fanout` flags.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Load flags.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `churn` flags.
#[derive(Debug, Clone, Args)]
pub struct ChurnArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Load flags.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Client reconnects per second, across all clients.
    #[arg(long, default_value_t = 50.0)]
    pub churn_rate: f64,
}

/// `avalanche` flags.
#[derive(Debug, Clone, Args)]
pub struct AvalancheArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Load flags (the publisher keeps running through the avalanche).
    #[command(flatten)]
    pub load: LoadArgs,
    /// Publishing time before the drop.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub before_drop: Duration,
    /// Give up waiting for full recovery after this long.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub recover_timeout: Duration,
}

/// `soak` flags.
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Load flags.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Client reconnects per second during the soak.
    #[arg(long, default_value_t = 5.0)]
    pub churn_rate: f64,
    /// How often to sample each gateway's memory (heap, RSS) and the load average.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub sample_interval: Duration,
    /// Samples before this are ignored by the leak rule (default: 30% of --duration).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// LEAK when the live heap's Theil–Sen slope after the warm-up, and its
    /// slope in each of the last --leak-windows windows, exceed this (MB/hour;
    /// RSS when the gateway exports no heap metric).
    #[arg(long, default_value_t = 0.5)]
    pub leak_threshold_mb_per_hour: f64,
    /// Windows the post-warm-up samples are cut into; growth must persist in all.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub leak_windows: u16,
    /// A sample is contended when the 1-minute load average is above this many times the cores.
    #[arg(long, default_value_t = 1.0)]
    pub max_load_per_core: f64,
    /// A LEAK is INCONCLUSIVE when at least this fraction of post-warm-up samples were contended.
    #[arg(long, default_value_t = 0.25)]
    pub contended_fraction: f64,
    /// The most points kept per memory series (longer runs merge neighbouring samples).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u16).range(16..=4096))]
    pub max_series_points: u16,
}

/// Parses `500ms`, `30s`, `5m`, `2h` or a bare number of seconds.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: use e.g. 500ms, 30s, 5m, 2h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit {unit:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn the_cli_is_well_formed_and_parses_repeated_urls() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "herald-loadtest",
            "fanout",
            "--url",
            "ws://127.0.0.1:1/ws",
            "--url",
            "ws://127.0.0.1:2/ws",
            "--zipf",
            "1.1",
        ])
        .unwrap();
        let Command::Fanout(f) = cli.command else {
            panic!("not fanout")
        };
        assert_eq!(f.common.urls.len(), 2);
        assert_eq!(f.load.zipf, Some(1.1));
    }
}
