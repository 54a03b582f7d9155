#!/usr/bin/env bash
# What crash-safe Socket.IO recovery costs: Redis commands and bytes per
# join and per delivery, and idle RSS per session, with recovery on (the
# default) and off. One redis-server and one release gateway per setting,
# driven by herald-loadtest over Socket.IO (docs/benchmarks.md has the
# figures and docs/socketio.md the design).
#
#   scripts/recovery-cost.sh [--subscribers N] [--rate R] [--duration D] [--skip-build]
#
# Per setting it runs:
#   1. `connect` on the fresh gateway: N idle Socket.IO sessions, the
#      gateway's RSS per session;
#   2. `fanout`: N subscribers in one room, R messages/s for D; Redis
#      `CONFIG RESETSTAT` before, `INFO commandstats` and `INFO stats` after.
# Defaults: 10,000 subscribers, 10 msg/s, 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."

subscribers=10000
rate=10
duration=30s
skip_build=0
while [ $# -gt 0 ]; do
  case "$1" in
    --subscribers) subscribers=$2; shift ;;
    --rate) rate=$2; shift ;;
    --duration) duration=$2; shift ;;
    --skip-build) skip_build=1 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

target=${CARGO_TARGET_DIR:-target}
if [ "$skip_build" = 0 ]; then
  cargo build --release -p herald-gateway -p herald-loadtest
fi
gw=$target/release/herald-gateway
lt=$target/release/herald-loadtest
work=$(mktemp -d /tmp/herald-recovery-cost.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { # below the ephemeral range, which the load generator's connections use up
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}

stat_of() { # INFO section, field
  redis-cli -p "$redis_port" INFO "$1" | tr -d '\r' | awk -F: -v k="$2" '$1==k {print $2}'
}

commands() { # every command's calls, "name calls" per line
  redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),.*/\1 \2/p'
}

one() { # recovery setting
  local recovery=$1
  redis_port=$(free_port)
  redis-server --port "$redis_port" --save '' --appendonly no >"$work/redis-$recovery.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local client admin
  client=$(free_port)
  admin=$(free_port)
  "$gw" --redis-url "redis://127.0.0.1:$redis_port" --listen "127.0.0.1:$client" \
    --admin-listen "127.0.0.1:$admin" --public-rooms 'dashboard:*' --demo-rate 0 \
    --socketio-recovery "$recovery" --max-connections 20000 --log warn \
    >"$work/gw-$recovery.out" 2>"$work/gw-$recovery.log" &
  local gw_pid=$!
  pids+=("$gw_pid")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.1; done

  "$lt" connect --transport socketio --url "ws://127.0.0.1:$client/socket.io/" \
    --admin "http://127.0.0.1:$admin" --connections "$subscribers" --hold 10s \
    --no-progress --json "$work/connect-$recovery.json" >"$work/connect-$recovery.out" 2>&1
  local rss
  rss=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d.get("rss_per_connection_bytes") or 0))' "$work/connect-$recovery.json")

  redis-cli -p "$redis_port" CONFIG RESETSTAT >/dev/null
  "$lt" fanout --transport socketio --url "ws://127.0.0.1:$client/socket.io/" \
    --admin "http://127.0.0.1:$admin" --clients "$subscribers" --rooms 1 --room-prefix dashboard:bench --rate "$rate" \
    --duration "$duration" --no-progress --json "$work/fanout-$recovery.json" >"$work/fanout-$recovery.out" 2>&1
  commands >"$work/commands-$recovery.txt"
  local bytes_in bytes_out
  bytes_in=$(stat_of stats total_net_input_bytes)
  bytes_out=$(stat_of stats total_net_output_bytes)
  local delivered
  delivered=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print((d.get("check") or {}).get("delivered", 0))' "$work/fanout-$recovery.json")

  echo "== recovery $recovery"
  echo "subscribers $subscribers, rate $rate/s, duration $duration, deliveries $delivered"
  echo "redis bytes in $bytes_in, out $bytes_out"
  echo "redis commands (name calls):"
  sed 's/^/  /' "$work/commands-$recovery.txt"
  echo "idle RSS per session: $rss bytes"
  kill "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
}

one false
one true
echo "raw output: $work"
