#!/usr/bin/env bash
# Herald's scale runs (issue 7), each on fresh gateway processes:
#
#   scripts/scale.sh idle        # 100,000 idle connections over 6 standalone gateways
#   scripts/scale.sh avalanche   # 20,000 clients over 2 gateways + Redis drop and reconnect at once
#   scripts/scale.sh soak        # 30 minutes of churn over 2 gateways + Redis, live-heap slope verdict
#   scripts/scale.sh all
#
# One process may hold at most 20,000 open files here, so large loads use
# several gateways and several load-generator workers. Reports (JSON, HTML,
# stdout) go to results/scale-<run>-<date>.*. Variables: SCALE_SOAK=30m
# (soak length: 45m, 2h, 24h all work; the soak keeps at most 512 points per
# series, so memory and reports stay small however long it runs),
# SCALE_SOAK_SAMPLE=10s (sample interval), SCALE_SOAK_THRESHOLD=0.5 (MB/h of
# live heap), SCALE_SOAK_WARMUP (default 30% of the soak),
# SCALE_LOG=warn|info (gateway log level, default info), SCALE_REDIS_PORT=16400.
# The soak exits 0 PASS, 3 LEAK, 4 INCONCLUSIVE (see loadtest/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
soak_for="${SCALE_SOAK:-30m}"
soak_sample="${SCALE_SOAK_SAMPLE:-10s}"
soak_threshold="${SCALE_SOAK_THRESHOLD:-0.5}"
soak_warmup="${SCALE_SOAK_WARMUP:-}"
log="${SCALE_LOG:-info}"
redis_port="${SCALE_REDIS_PORT:-16400}"
# The gateways verify tokens (the default policy on Redis opens no room to
# anonymous clients); gateways and load generator read the same variable,
# so every client sends an HS256 token minted from it.
export HERALD_JWT_HMAC_SECRET="${HERALD_JWT_HMAC_SECRET:-scale-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
stamp="$(date -u +%Y%m%d-%H%M)"
mkdir -p results

cargo build --release -p herald-gateway -p herald-loadtest >&2
gw=target/release/herald-gateway
lt=target/release/herald-loadtest

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

# start_gateways N BASE [args...]: gateways on 127.0.0.1:BASE+i (clients)
# and BASE+1000+i (admin); sets URLS and ADMINS flag lists.
start_gateways() {
  local n=$1 base=$2
  shift 2
  URLS=()
  ADMINS=()
  for i in $(seq 1 "$n"); do
    "$gw" --listen "127.0.0.1:$((base + i))" --admin-listen "127.0.0.1:$((base + 1000 + i))" \
      --demo-rate 0 --log "$log" "$@" >"results/scale-gw$i.log" 2>&1 &
    pids+=($!)
    URLS+=(--url "ws://127.0.0.1:$((base + i))/ws")
    ADMINS+=(--admin "http://127.0.0.1:$((base + 1000 + i))")
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$((base + 1000 + i))/readyz" >/dev/null && break
      sleep 0.1
    done
  done
}

stop_gateways() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --logfile "$PWD/results/scale-redis.log"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis-server did not start on $redis_port" >&2
  exit 1
}

run() {
  local name=$1
  shift
  local out="results/scale-$name-$stamp"
  echo "==> $name: $lt $*" | tee "$out.txt"
  "$lt" "$@" --no-progress --json "$out.json" --html "$out.html" | tee -a "$out.txt"
}

idle() {
  start_gateways 6 28100 --standalone
  run idle connect "${URLS[@]}" "${ADMINS[@]}" --workers 6 --source-addrs 16 \
    --connections 100000 --rate 3000 --hold 15s
  stop_gateways
}

avalanche() {
  start_redis
  start_gateways 2 28200 --redis-url "redis://127.0.0.1:$redis_port"
  run avalanche avalanche "${URLS[@]}" "${ADMINS[@]}" --workers 2 --source-addrs 4 \
    --clients 20000 --rooms 100 --rate 20 --payload-bytes 100 --connect-rate 4000 --duration 20s
  stop_gateways
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

soak() {
  start_redis
  start_gateways 2 28300 --redis-url "redis://127.0.0.1:$redis_port"
  local extra=() code=0
  [ -n "$soak_warmup" ] && extra+=(--warmup "$soak_warmup")
  run soak soak "${URLS[@]}" "${ADMINS[@]}" --workers 1 --source-addrs 4 \
    --clients 5000 --rooms 50 --rate 20 --payload-bytes 100 --churn-rate 50 \
    --sample-interval "$soak_sample" --duration "$soak_for" \
    --leak-threshold-mb-per-hour "$soak_threshold" "${extra[@]}" || code=$?
  stop_gateways
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  case "$code" in
    0) echo "soak: PASS" ;;
    3) echo "soak: LEAK (exit 3)" ;;
    4) echo "soak: INCONCLUSIVE (exit 4)" ;;
    *) echo "soak: failed (exit $code)" ;;
  esac
  return "$code"
}

case "$what" in
  idle) idle ;;
  avalanche) avalanche ;;
  soak) soak ;;
  # Closed client sockets hold their ports in TIME_WAIT for a minute: let
  # them drain between runs so one run's ports do not starve the next.
  all) avalanche; sleep 65; idle; sleep 65; soak ;;
  *) echo "usage: scripts/scale.sh idle|avalanche|soak|all" >&2; exit 2 ;;
esac
