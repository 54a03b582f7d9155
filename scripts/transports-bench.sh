#!/usr/bin/env bash
# Herald's transports side by side, in one run on one machine (issue 13):
# native WebSocket, WebTransport, raw QUIC and Server-Sent Events against one
# standalone gateway, each driven by `herald-loadtest --transport T`.
#
# Measures, per transport:
#   - idle RSS per connection: `connect` with N connections held idle;
#   - connect latency p50/p99 while those N connections open at 2,000/s;
#   - CPU per delivery: `fanout`, S subscribers in one room at each rate R for
#     D, CPU from the gateway's process_cpu_seconds_total; beside the kernel
#     floor measured in the same run (scripts/floor.sh: one C process
#     send()s the frame to S loopback TCP sockets, another drains them);
#   - avalanche recovery: C clients dropped at once and reconnecting with
#     `since` (QUIC and WebSocket).
# Report-only: there is no pass mark. Results go to stdout and to
# results/transports-<date>.md.
#
# Usage: scripts/transports-bench.sh [--quick] [--skip-build]
# Environment: TB_CONNECTIONS (10000), TB_SUBSCRIBERS (10000), TB_RATES ("1 10"),
#   TB_DURATION (20s), TB_AVALANCHE (5000), TB_TRANSPORTS ("native webtransport
#   quic sse"), CARGO_TARGET_DIR.
# Quick mode (a smoke test of the script): 300 connections, 300 subscribers,
# 3 s runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
QUICK=0
SKIP_BUILD=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  CONNECTIONS=${TB_CONNECTIONS:-300}; SUBSCRIBERS=${TB_SUBSCRIBERS:-300}
  DURATION=${TB_DURATION:-3s}; AVALANCHE=${TB_AVALANCHE:-200}
else
  CONNECTIONS=${TB_CONNECTIONS:-10000}; SUBSCRIBERS=${TB_SUBSCRIBERS:-10000}
  DURATION=${TB_DURATION:-20s}; AVALANCHE=${TB_AVALANCHE:-5000}
fi
RATES=${TB_RATES:-1 10}
TRANSPORTS=${TB_TRANSPORTS:-native webtransport quic sse}
PAYLOAD=100
# One fan-out frame: the payload plus the message envelope (as bench.sh).
FLOOR_FRAME=$((PAYLOAD + 90))
WORK=$(mktemp -d)
PIDS=()
log() { printf '==> %s\n' "$*" >&2; }
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PER_WORKER=9000
workers_for() { echo $(( ($1 + PER_WORKER - 1) / PER_WORKER )); }

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release -p herald-gateway -p herald-loadtest"
  cargo build --release -p herald-gateway -p herald-loadtest
fi
scripts/floor.sh -n 2 -r 1 -d 0.001 --json >/dev/null

wait_http() {
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# A fresh standalone gateway (QUIC on, on 18480/udp beside 18480/tcp).
start_gateway() {
  cleanup
  sleep 1
  "$BIN/herald-gateway" --standalone --listen 127.0.0.1:18480 --admin-listen 127.0.0.1:19480 \
    --demo-rate 0 --max-connections 100000 --log warn >"$WORK/gw.out" 2>"$WORK/gw.err" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:19480/metrics"
}
TARGET="--url ws://127.0.0.1:18480/ws --admin http://127.0.0.1:19480"

declare -A RSS RATE OK DPC P99 DEL EXP SAT FUS AV_OK AV_P99 AV_DEL
for t in $TRANSPORTS; do
  start_gateway
  log "$t: connect $CONNECTIONS"
  json=$WORK/$t-connect.json
  # shellcheck disable=SC2086
  "$BIN/herald-loadtest" connect --transport "$t" $TARGET --connections "$CONNECTIONS" \
    --rate 2000 --hold 10s --workers "$(workers_for "$CONNECTIONS")" --source-addrs 16 \
    --max-fail-ratio 0.01 --no-progress --json "$json" >"$WORK/$t-connect.txt" 2>&1 || true
  read -r RSS[$t] OK[$t] RATE[$t] < <(jq -r '[(.rss_per_connection_bytes // "nan"),
      .counters.connect_ok, "\(.connect_latency.p50_ms // "nan")/\(.connect_latency.p99_ms // "nan")"] | @tsv' "$json")
  for r in $RATES; do
    start_gateway
    log "$t: fanout $SUBSCRIBERS subscribers at $r msg/s for $DURATION"
    json=$WORK/$t-fanout-$r.json
    # shellcheck disable=SC2086
    "$BIN/herald-loadtest" fanout --transport "$t" $TARGET --clients "$SUBSCRIBERS" --rooms 1 \
      --rate "$r" --payload-bytes "$PAYLOAD" --duration "$DURATION" --connect-rate 2000 \
      --workers "$(workers_for "$SUBSCRIBERS")" --source-addrs 16 --no-progress \
      --json "$json" >"$WORK/$t-fanout-$r.txt" 2>&1 || true
    read -r DPC[$t,$r] P99[$t,$r] DEL[$t,$r] EXP[$t,$r] SAT[$t,$r] < <(jq -r '[(.deliveries_per_cpu_second // "nan"),
        (.latency.p99_ms // "nan"), (.check.delivered // 0), (.check.expected // 0), (.saturated | tostring)] | @tsv' "$json")
    log "$t: floor $SUBSCRIBERS sockets at $r broadcasts/s"
    FUS[$t,$r]=$(scripts/floor.sh -n "$SUBSCRIBERS" -r "$r" -d "$DURATION" -s "$FLOOR_FRAME" --json 2>/dev/null \
      | jq -r '.cpu_s_per_million_sends')
  done
  case $t in native|quic)
    start_gateway
    log "$t: avalanche $AVALANCHE"
    json=$WORK/$t-avalanche.json
    # shellcheck disable=SC2086
    "$BIN/herald-loadtest" avalanche --transport "$t" $TARGET --clients "$AVALANCHE" \
      --workers "$(workers_for "$AVALANCHE")" --source-addrs 16 --no-progress \
      --json "$json" >"$WORK/$t-avalanche.txt" 2>&1 || true
    read -r AV_OK[$t] AV_P99[$t] AV_DEL[$t] < <(jq -r '[.counters.recovered // 0,
        (.recovery.p99_ms // "nan"), "\(.check.delivered // 0)/\(.check.expected // 0)"] | @tsv' "$json")
    ;;
  esac
done
cleanup

us() { awk -v d="$1" 'BEGIN { if (d+0 > 0) printf "%.1f", 1e6 / d; else print "nan" }'; }
out=results/transports-$(date -u +%Y%m%d-%H%M).md
mkdir -p results
{
  echo "# Transports, $(date -u '+%Y-%m-%d %H:%M UTC'), build $(git rev-parse --short HEAD)"
  echo
  echo "| transport | idle RSS per connection ($CONNECTIONS) | connected | connect latency p50/p99 ms (2,000/s) |"
  echo "| --- | --- | --- | --- |"
  for t in $TRANSPORTS; do
    echo "| $t | $(awk -v b="${RSS[$t]}" 'BEGIN { printf "%.2f KB", b / 1000 }') | ${OK[$t]} | ${RATE[$t]} |"
  done
  echo
  echo "| transport | rate | CPU-µs per delivery | floor µs per send | ratio | client p99 ms | delivered / expected | load generator saturated |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for t in $TRANSPORTS; do
    for r in $RATES; do
      u=$(us "${DPC[$t,$r]}")
      echo "| $t | $r/s | $u | ${FUS[$t,$r]} | $(awk -v a="$u" -v b="${FUS[$t,$r]}" 'BEGIN { if (b+0 > 0) printf "%.2f×", a / b; else print "nan" }') | ${P99[$t,$r]} | ${DEL[$t,$r]} / ${EXP[$t,$r]} | ${SAT[$t,$r]} |"
    done
  done
  echo
  echo "| transport | avalanche clients | recovered | recovery p99 ms | delivered / expected |"
  echo "| --- | --- | --- | --- | --- |"
  for t in native quic; do
    [ -n "${AV_OK[$t]:-}" ] && echo "| $t | $AVALANCHE | ${AV_OK[$t]} | ${AV_P99[$t]} | ${AV_DEL[$t]} |"
  done
} | tee "$out"
log "written to $out (raw reports in $WORK)"
