//! MongoDB wire-protocol test server.
//!
//! # Layout
//! The `herald-mongo-wire` binary: parses flags, starts the server, prints
//! `MONGO_WIRE_ADDR=...` and `MONGO_WIRE_URI=...` on stdout, and runs until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use herald_mongo_wire::{Config, MongoWireServer};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "herald-mongo-wire",
    about = "MongoDB wire-protocol test server with change streams"
)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Replica set name reported by `hello`.
    #[arg(long, default_value = "rs0")]
    set_name: String,
    /// Oplog entries retained before old resume tokens stop working.
    #[arg(long, default_value_t = 100_000)]
    oplog_capacity: usize,
    /// Maximum concurrent client connections.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        bind: SocketAddr::new(args.host, args.port),
        set_name: args.set_name,
        oplog_capacity: args.oplog_capacity,
        max_connections: args.max_connections,
    };
    let handle = MongoWireServer::start(config)
        .await
        .context("starting server")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "MONGO_WIRE_ADDR={}", handle.addr())?;
    writeln!(out, "MONGO_WIRE_URI={}", handle.uri())?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
