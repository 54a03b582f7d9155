#!/usr/bin/env bash
# Herald against a plain Node.js Socket.IO 4 server, on one machine, driven by
# the same herald-loadtest commands. Prints a results table with ratios and
# writes it to results/bench-<date>.md.
#
# Systems:
#   (a) one Herald gateway, standalone (in-memory bus);
#   (b) two Herald gateways over Redis (only when this build has the Redis bus);
#   (c) bench/socketio-server.mjs (Socket.IO 4.8, Node).
# Herald is driven over Socket.IO when its /socket.io/ transport answers, and
# over its native protocol otherwise (the output says which).
#
# Measures:
#   - idle RSS per connection: `connect` with N connections, held idle;
#   - deliveries per server CPU-second: `fanout`, S subscribers in one room,
#     payload padding P bytes, R messages/s for D; CPU from the server's
#     process_cpu_seconds_total between the first publish and the end of the drain;
#   - delivery latency p50/p99 at each rate (equal load on every system);
#   - the kernel floor beside each fan-out run (scripts/floor.sh: one C
#     process send()s the frame to S loopback sockets at R/s for D, another
#     drains them): its CPU-s per million sends and broadcast span p50/p99,
#     so every CPU and latency figure carries its ratio to the floor measured
#     in the same run;
#   - the load generator's own CPU and whether it was saturated (its latency
#     figures are then partly the client's).
#
# Usage: scripts/bench.sh [--quick] [--connections N] [--subscribers S]
#                         [--rates "R1 R2"] [--duration D] [--skip-build]
# Environment (flags win): BENCH_QUICK=1, BENCH_CONNECTIONS, BENCH_SUBSCRIBERS,
#   BENCH_RATES, BENCH_DURATION, BENCH_PAYLOAD (100), BENCH_CONNECT_RATE (2000),
#   BENCH_HOLD, BENCH_NODE_RECOVERY (1: connection state recovery on, in Node
#   and in Herald alike; 0: off in both),
#   BENCH_FLOOR_FRAME (floor frame bytes, default payload + 90 ≈ one fan-out
#   frame), BENCH_NO_FLOOR=1 (skip the floor), BENCH_SKIP_BUILD=1, CARGO_TARGET_DIR.
# Full mode: 19,000 connections (a process may open 20,000 files here),
# 10,000 subscribers, rates "1 5", 30 s each. Quick mode: seconds-long smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Gateways on Redis verify tokens by default policy (no anonymous rooms):
# the gateways and the load generator share this HS256 secret through the
# one environment variable both read, so every client sends a token.
export HERALD_JWT_HMAC_SECRET="${HERALD_JWT_HMAC_SECRET:-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
ROOT=$PWD

QUICK=${BENCH_QUICK:-0}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
CONNECTIONS=${BENCH_CONNECTIONS:-}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-}
RATES=${BENCH_RATES:-}
DURATION=${BENCH_DURATION:-}
HOLD=${BENCH_HOLD:-}
PAYLOAD=${BENCH_PAYLOAD:-100}
CONNECT_RATE=${BENCH_CONNECT_RATE:-2000}
NODE_RECOVERY=${BENCH_NODE_RECOVERY:-1}
FLOOR_FRAME=${BENCH_FLOOR_FRAME:-}
NO_FLOOR=${BENCH_NO_FLOOR:-0}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --connections) CONNECTIONS=$2; shift ;;
    --subscribers) SUBSCRIBERS=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  : "${CONNECTIONS:=500}" "${SUBSCRIBERS:=300}" "${RATES:=5 20}" "${DURATION:=4s}" "${HOLD:=2s}"
else
  : "${CONNECTIONS:=19000}" "${SUBSCRIBERS:=10000}" "${RATES:=1 5}" "${DURATION:=30s}" "${HOLD:=10s}"
fi

: "${FLOOR_FRAME:=$((PAYLOAD + 90))}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/results/bench-$STAMP.md
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT

stop_all() { cleanup; sleep 1; }

# Open files: every process here may use the hard limit (20,000 on this machine).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Each loadtest worker holds at most this many sockets (well under the cap).
PER_WORKER=9000
workers_for() { echo $(( ($1 + PER_WORKER - 1) / PER_WORKER )); }

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release -p herald-gateway -p herald-loadtest"
  cargo build --release -p herald-gateway -p herald-loadtest
fi
for b in herald-gateway herald-loadtest; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build it, or set CARGO_TARGET_DIR)" >&2; exit 1; }
done
if [ "$NO_FLOOR" != 1 ]; then
  log "building the floor (bench/floor/floor.c)"
  scripts/floor.sh -n 2 -r 1 -d 0.001 --json >/dev/null
fi
if [ ! -d bench/node_modules/socket.io ]; then
  log "npm ci (bench)"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
fi

# wait_http URL: until it answers 200, for up to 20 s.
wait_http() {
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# start_herald NAME CLIENT_PORT ADMIN_PORT [extra args...]
start_herald() {
  local name=$1 cport=$2 aport=$3
  shift 3
  "$BIN/herald-gateway" --listen "127.0.0.1:$cport" --admin-listen "127.0.0.1:$aport" \
    --demo-rate 0 --max-connections 100000 --log warn \
    --socketio-recovery "$([ "$NODE_RECOVERY" = 1 ] && echo true || echo false)" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$aport/metrics"
}

start_node() {
  local args=(--listen 127.0.0.1:13000 --admin-listen 127.0.0.1:13001)
  [ "$NODE_RECOVERY" = 1 ] && args+=(--recovery)
  node bench/socketio-server.mjs "${args[@]}" >"$WORK/node.out" 2>"$WORK/node.err" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:13001/metrics"
}

# True when a Herald client listener answers an Engine.IO polling handshake.
herald_has_socketio() {
  curl -fsS "http://127.0.0.1:$1/socket.io/?EIO=4&transport=polling" 2>/dev/null | head -c 2 | grep -q '^0{'
}

# run_connect TAG TRANSPORT "URL ARGS" : N idle connections; prints "rss_per_conn ok fail".
run_connect() {
  local tag=$1 transport=$2 targets=$3 json=$WORK/$1-connect.json
  local w; w=$(workers_for "$CONNECTIONS")
  log "$tag: connect $CONNECTIONS ($transport, $w workers)"
  # shellcheck disable=SC2086
  "$BIN/herald-loadtest" connect --transport "$transport" $targets \
    --connections "$CONNECTIONS" --rate "$CONNECT_RATE" --hold "$HOLD" \
    --workers "$w" --source-addrs 16 --max-fail-ratio 0.01 --no-progress \
    --json "$json" >"$WORK/$tag-connect.txt" 2>&1 || true
  jq -r '[(.rss_per_connection_bytes // "nan"), .counters.connect_ok, .counters.connect_fail] | @tsv' "$json"
}

# run_fanout TAG TRANSPORT "URL ARGS" RATE : prints
# "deliveries_per_cpu_s cpu_s delivered expected p50 p99 exit loadgen_cores saturated".
run_fanout() {
  local tag=$1 transport=$2 targets=$3 rate=$4 json=$WORK/$1-fanout-$4.json code=0
  local w; w=$(workers_for "$SUBSCRIBERS")
  log "$tag: fanout $SUBSCRIBERS subscribers, $rate msg/s, $DURATION ($transport)"
  # shellcheck disable=SC2086
  "$BIN/herald-loadtest" fanout --transport "$transport" $targets \
    --clients "$SUBSCRIBERS" --rooms 1 --room-prefix "dashboard:bench-$tag-$rate-" \
    --event dashboard:update --rate "$rate" --payload-bytes "$PAYLOAD" \
    --duration "$DURATION" --connect-rate "$CONNECT_RATE" --workers "$w" \
    --source-addrs 16 --no-progress --json "$json" >"$WORK/$tag-fanout-$rate.txt" 2>&1 || code=$?
  if [ ! -s "$json" ]; then
    echo "nan nan 0 0 nan nan $code nan unknown"
    tail -5 "$WORK/$tag-fanout-$rate.txt" >&2
    return
  fi
  jq -r --arg code "$code" '[(.deliveries_per_cpu_second // "nan"), (.server_cpu_seconds // "nan"),
      (.check.delivered // 0), (.check.expected // 0), (.latency.p50_ms // "nan"),
      (.latency.p99_ms // "nan"), $code, (.loadgen.cpu_cores_used // "nan"),
      (if .loadgen == null then "unknown" else (.saturated | tostring) end)] | @tsv' "$json"
}

# run_floor TAG RATE : the kernel floor for the same sockets, rate and
# duration as that fan-out; prints "us_per_send span_p50_ms span_p99_ms".
run_floor() {
  local tag=$1 rate=$2 json=$WORK/$1-floor-$2.json
  if [ "$NO_FLOOR" = 1 ]; then echo "nan nan nan"; return; fi
  log "$tag: floor $SUBSCRIBERS sockets, $rate broadcasts/s, $DURATION, $FLOOR_FRAME-byte frame"
  if ! scripts/floor.sh -n "$SUBSCRIBERS" -r "$rate" -d "$DURATION" -s "$FLOOR_FRAME" --json >"$json" 2>"$WORK/$tag-floor-$rate.err"; then
    tail -3 "$WORK/$tag-floor-$rate.err" >&2
    echo "nan nan nan"
    return
  fi
  jq -r '[.cpu_s_per_million_sends, .span_p50_ms, .span_p99_ms] | @tsv' "$json"
}

declare -A RSS OK FAIL TRANSPORT NOTE
declare -A DPC CPU DELIV EXP P50 P99 CODE LGC SAT FUS FP50 FP99
SYSTEMS=()

# measure TAG TRANSPORT "TARGET ARGS" START_CMD... : connect on a fresh
# server, then every fan-out rate on another fresh server.
measure() {
  local tag=$1 transport=$2 targets=$3
  shift 3
  SYSTEMS+=("$tag")
  TRANSPORT[$tag]=$transport
  "$@"
  read -r RSS[$tag] OK[$tag] FAIL[$tag] < <(run_connect "$tag" "$transport" "$targets")
  stop_all
  "$@"
  for r in $RATES; do
    read -r DPC[$tag,$r] CPU[$tag,$r] DELIV[$tag,$r] EXP[$tag,$r] P50[$tag,$r] P99[$tag,$r] CODE[$tag,$r] \
      LGC[$tag,$r] SAT[$tag,$r] < <(run_fanout "$tag" "$transport" "$targets" "$r")
    read -r FUS[$tag,$r] FP50[$tag,$r] FP99[$tag,$r] < <(run_floor "$tag" "$r")
  done
  stop_all
}

# (a) Herald standalone.
herald_a() { start_herald herald 18080 19090 --standalone; }
herald_a
if herald_has_socketio 18080; then
  HERALD_TRANSPORT=socketio
  HERALD_URL=ws://127.0.0.1:18080/socket.io/
else
  HERALD_TRANSPORT=native
  HERALD_URL=ws://127.0.0.1:18080/ws
  log "Herald's Socket.IO transport is missing in this build: Herald is driven in native mode"
fi
stop_all
measure herald "$HERALD_TRANSPORT" "--url $HERALD_URL --admin http://127.0.0.1:19090" herald_a
[ "$HERALD_TRANSPORT" = native ] && NOTE[herald]="native protocol (no Socket.IO transport in this build)"

# (b) Two Herald gateways over Redis.
REDIS_NOTE=""
if command -v redis-server >/dev/null; then
  herald_pair() {
    redis-server --port 16379 --save '' --appendonly no >"$WORK/redis.out" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    start_herald herald-b1 18081 19091 --redis-url redis://127.0.0.1:16379 --node-id bench-1
    start_herald herald-b2 18082 19092 --redis-url redis://127.0.0.1:16379 --node-id bench-2
  }
  if [ "$HERALD_TRANSPORT" = socketio ]; then P=/socket.io/; else P=/ws; fi
  measure herald-redis "$HERALD_TRANSPORT" \
    "--url ws://127.0.0.1:18081$P --url ws://127.0.0.1:18082$P --admin http://127.0.0.1:19091 --admin http://127.0.0.1:19092" \
    herald_pair
  NOTE[herald-redis]="CPU = both gateways; Redis itself not included"
else
  REDIS_NOTE="skipped: no Redis bus in this build"
  log "(b) two gateways over Redis: $REDIS_NOTE"
fi

# (c) Node Socket.IO.
measure node socketio "--url ws://127.0.0.1:13000/socket.io/ --admin http://127.0.0.1:13001" start_node
NODE_VERSION=$(node --version)
SIO_VERSION=$(node -p "require('./bench/node_modules/socket.io/package.json').version")
NOTE[node]="socket.io $SIO_VERSION on node $NODE_VERSION, connection state recovery $([ "$NODE_RECOVERY" = 1 ] && echo on || echo off)"

# Rendering.
fmt() { # fmt VALUE SCALE DECIMALS
  awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.*f", d, v / s }'
}
ratio() { # ratio NUM DEN
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f×", a / b }'
}
us_per() { # us_per DELIVERIES_PER_CPU_S : CPU microseconds per delivery
  awk -v v="$1" 'BEGIN { if (v == "nan" || v == "" || v + 0 == 0) print "nan"; else printf "%.4f", 1e6 / v }'
}
floor_cpu() { # floor_cpu US_PER_SEND DELIVERED : the floor's CPU seconds for as many sends
  awk -v u="$1" -v n="$2" 'BEGIN { if (u == "nan" || u == "") print "nan"; else printf "%.4f", u * n / 1e6 }'
}

{
  echo "# Herald vs Node Socket.IO — $(date '+%Y-%m-%d %H:%M:%S')"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);" \
    "$(ulimit -n) open files per process. Mode: $([ "$QUICK" = 1 ] && echo quick || echo full)."
  echo "Idle: $CONNECTIONS connections. Fan-out: $SUBSCRIBERS subscribers in one room," \
    "payload padding $PAYLOAD B, $DURATION per rate, rates: $RATES msg/s."
  echo
  echo "| system | client protocol | idle RSS/conn (KB) | connects ok/fail |"
  echo "|---|---|---|---|"
  for s in "${SYSTEMS[@]}"; do
    echo "| $s | ${TRANSPORT[$s]} | $(fmt "${RSS[$s]}" 1000 1) | ${OK[$s]}/${FAIL[$s]} |"
  done
  [ -n "$REDIS_NOTE" ] && echo "| herald-redis | — | $REDIS_NOTE | — |"
  echo
  echo "Each fan-out run is followed by the kernel floor for the same $SUBSCRIBERS sockets, rate and duration" \
    "(scripts/floor.sh, $FLOOR_FRAME-byte frame), shown in the same row; \"× floor\" is the system's figure" \
    "÷ the floor's: CPU per delivery ÷ the floor's CPU per send, latency p50/p99 ÷ the floor's broadcast span p50/p99."
  echo
  echo "| system | rate (msg/s) | deliveries/s offered | deliveries per CPU-s | server CPU (s) | CPU µs per delivery | floor µs per send | CPU × floor | delivered/expected | p50 (ms) | p99 (ms) | floor span p50 / p99 (ms) | p50 × floor | p99 × floor | load gen cores | saturated | check |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for s in "${SYSTEMS[@]}"; do
    for r in $RATES; do
      local_check=$([ "${CODE[$s,$r]}" = 0 ] && echo ok || echo "FAILED (exit ${CODE[$s,$r]})")
      us=$(us_per "${DPC[$s,$r]}")
      echo "| $s | $r | $((r * SUBSCRIBERS)) | $(fmt "${DPC[$s,$r]}" 1 0) |" \
        "$(fmt "${CPU[$s,$r]}" 1 2) (floor $(fmt "$(floor_cpu "${FUS[$s,$r]}" "${DELIV[$s,$r]}")" 1 2)) |" \
        "$(fmt "$us" 1 2) | $(fmt "${FUS[$s,$r]}" 1 2) | $(ratio "$us" "${FUS[$s,$r]}") |" \
        "${DELIV[$s,$r]}/${EXP[$s,$r]} | $(fmt "${P50[$s,$r]}" 1 1) | $(fmt "${P99[$s,$r]}" 1 1) |" \
        "$(fmt "${FP50[$s,$r]}" 1 2) / $(fmt "${FP99[$s,$r]}" 1 2) | $(ratio "${P50[$s,$r]}" "${FP50[$s,$r]}") |" \
        "$(ratio "${P99[$s,$r]}" "${FP99[$s,$r]}") | $(fmt "${LGC[$s,$r]}" 1 2) | ${SAT[$s,$r]} | $local_check |"
    done
  done
  echo
  echo "Ratios (Herald standalone vs Node, and each vs the floor of the same run):"
  echo
  echo "- idle memory per connection, Node ÷ Herald: $(ratio "${RSS[node]}" "${RSS[herald]}")"
  for r in $RATES; do
    echo "- at $r msg/s: deliveries per CPU-second, Herald ÷ Node: $(ratio "${DPC[herald,$r]}" "${DPC[node,$r]}");" \
      "p99 latency, Node ÷ Herald: $(ratio "${P99[node,$r]}" "${P99[herald,$r]}")"
    for s in "${SYSTEMS[@]}"; do
      echo "  - $s: CPU per delivery $(ratio "$(us_per "${DPC[$s,$r]}")" "${FUS[$s,$r]}") the floor," \
        "p99 $(ratio "${P99[$s,$r]}" "${FP99[$s,$r]}") the floor's span p99$([ "${SAT[$s,$r]}" = true ] && echo " (load generator saturated: latency partly the client's)")"
    done
  done
  echo
  echo "Notes:"
  echo
  for s in "${SYSTEMS[@]}"; do
    [ -n "${NOTE[$s]:-}" ] && echo "- $s: ${NOTE[$s]}"
  done
  [ -n "$REDIS_NOTE" ] && echo "- herald-redis: $REDIS_NOTE"
  echo "- Client, servers and kernel share the machine; on loopback the receiver's kernel work is charged to the sender (the server)."
  echo "- Latency is publish-time (payload timestamp) to client receipt; the client is herald-loadtest for every system."
  echo "- The floor is one single-threaded C sender; its CPU includes the receiver's loopback TCP work, as a server's does. \"saturated\" is the load generator's own verdict (loadtest/README.md)."
} >"$WORK/table.md"

mkdir -p results
cp "$WORK/table.md" "$OUT"
echo
cat "$OUT"
echo
echo "written to ${OUT#"$ROOT"/}"
