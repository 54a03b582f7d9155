#!/usr/bin/env bash
# Herald's full test run: installs what a fresh machine lacks, then checks
# formatting, lints, builds every binary, replays the fuzz corpora, validates
# the Grafana/Prometheus files, runs every test (unit, end-to-end, browser)
# and the official Socket.IO suites. Soaks, benchmarks and fuzz campaigns
# are separate commands (see the README, under "Where things are").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v promtool >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's prometheus package may start a server on :9090; tests pick their own ports.
  pkill -x prometheus 2>/dev/null || true
fi
command -v cargo-nextest >/dev/null || { step "cargo install cargo-nextest"; cargo install --locked cargo-nextest; }

step "npm ci (tests/js)"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

# Lock files first: a stale one would otherwise fail the run only when its
# crate is built, many minutes in.
step "Cargo.lock files up to date"
for manifest in Cargo.toml protocol/fuzz/Cargo.toml router/fuzz/Cargo.toml; do
  cargo metadata --locked --format-version 1 --manifest-path "$manifest" >/dev/null
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build binaries and tests"
# One build for both: with --tests, dependencies are compiled once with the
# features the dev-dependencies add, and nextest below reuses them; a
# --bins build alone would compile every dependency a second time.
cargo build --workspace --bins --tests --locked

step "fuzz corpora replayed as regression tests"
scripts/fuzz.sh --replay

if [ -x scripts/check-grafana.sh ]; then
  step "promtool checks"
  scripts/check-grafana.sh
fi

step "browser client unit tests (node --test)"
(cd tests/js && node --test herald-client.test.mjs herald-sse.test.mjs herald-collection.test.mjs)

step "cargo nextest run"
cargo nextest run --workspace --locked --no-fail-fast

# The official suites' scores are printed here. Socket.IO v5 must pass
# whole (its handlers run in tests/js/app-backend.mjs, behind the proxies);
# Engine.IO v4's echo tests cannot pass on a Socket.IO server (see
# tests/sio-suites/README.md), so it must reach the reference Socket.IO
# server's score on the same path.
step "official Engine.IO v4 and Socket.IO v5 suites"
HERALD_GATEWAY_BIN=target/debug/herald-gateway \
  scripts/sio-suites.sh --report-only --min-eio 17 --min-sio 32
