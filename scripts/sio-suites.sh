#!/usr/bin/env bash
# Runs the official Socket.IO protocol suites (vendored in tests/sio-suites/)
# against a standalone herald-gateway configured as the suites' protocol
# docs require: port 3000, pingInterval 300, pingTimeout 200, maxPayload
# 1e6, connectTimeout 1000 (when the gateway has the flag), a `/custom`
# namespace, CORS `*`. Each suite gets a fresh gateway.
#
#   scripts/sio-suites.sh                # exits 1 unless every test passes
#   scripts/sio-suites.sh --report-only  # prints the scores, exits 0
#   scripts/sio-suites.sh --min-eio 17 --min-sio 32
#                                        # exits 1 below either score
#
# The Socket.IO v5 suite expects three application handlers (greet each
# CONNECT with `auth`, echo `message` as `message-back`, ack
# `message-with-ack`). Herald runs application logic in a backend it
# forwards CONNECTs and events to (docs/proxy.md); the suite's gateway gets
# `--connect-proxy` and `--socketio-event-proxy` pointing at
# tests/js/app-backend.mjs, started here on a free port.
#
# Prints one line per test, then
#   engine.io v4: X/25 passed
#   socket.io v5: Y/32 passed
#
# Environment:
#   HERALD_GATEWAY_BIN   gateway binary to test; unset: `cargo build --release
#                        -p herald-gateway` and use target/release/herald-gateway
#   SIO_SUITES_EIO_PATH  path the Engine.IO suite's requests go to (default
#                        /engine.io/, as published). The suite hard-codes
#                        /engine.io/; any other value runs a temporary copy
#                        with that path substituted (nothing committed changes).
#                        The Engine.IO suite's gateway is started with
#                        --socketio-path "$SIO_SUITES_EIO_PATH" (binaries older
#                        than that flag serve only /socket.io/).
#   SIO_SUITES_LISTEN    client listener (default 127.0.0.1:3000; the suites
#                        connect to localhost:3000, so only the host may change)
#   SIO_SUITES_LOG       gateway log level (default warn)
#
# Node 20 and npm are needed; each suite's dependencies are installed with
# `npm ci` from its lock file when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

report_only=0
min_eio=""
min_sio=""
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case "$arg" in
    --report-only) report_only=1 ;;
    --min-eio) min_eio=${1:?--min-eio takes a count}; shift ;;
    --min-sio) min_sio=${1:?--min-sio takes a count}; shift ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "sio-suites: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

suites=tests/sio-suites
eio_path="${SIO_SUITES_EIO_PATH:-/engine.io/}"
listen="${SIO_SUITES_LISTEN:-127.0.0.1:3000}"
log_level="${SIO_SUITES_LOG:-warn}"
case "$eio_path" in
  /*/) ;;
  *)
    echo "sio-suites: SIO_SUITES_EIO_PATH must start and end with / (got $eio_path)" >&2
    exit 2
    ;;
esac
case "$listen" in
  *:3000) ;;
  *)
    echo "sio-suites: the suites connect to port 3000; SIO_SUITES_LISTEN=$listen" >&2
    exit 2
    ;;
esac

command -v node >/dev/null || { echo "sio-suites: node (20+) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "sio-suites: npm is required" >&2; exit 2; }

gw="${HERALD_GATEWAY_BIN:-}"
if [ -z "$gw" ]; then
  echo "==> cargo build --release -p herald-gateway" >&2
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release -p herald-gateway --locked >&2
  gw="${CARGO_TARGET_DIR:-target}/release/herald-gateway"
fi
[ -x "$gw" ] || { echo "sio-suites: no gateway binary at $gw" >&2; exit 2; }

for suite in engine.io-v4 socket.io-v5; do
  dir="$suites/$suite"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "==> npm ci ($dir)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
done

work="$(mktemp -d -t herald-sio-suites.XXXXXX)"
gw_pid=""
backend_pid=""
stop_gateway() {
  if [ -n "$gw_pid" ]; then
    kill "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=""
  fi
}
cleanup() {
  stop_gateway
  if [ -n "$backend_pid" ]; then kill "$backend_pid" 2>/dev/null || true; fi
  # Reports and gateway logs are kept only when something failed.
  if [ "${keep_work:-0}" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

gw_help="$("$gw" --help)"
has_flag() { grep -q -- "$1" <<<"$gw_help"; }

# start_gateway NAME [extra args...]: a fresh gateway on $listen.
start_gateway() {
  local name=$1
  shift
  local host=${listen%:*}
  if (exec 3<>"/dev/tcp/$host/3000") 2>/dev/null; then
    echo "sio-suites: something already listens on $host:3000; stop it first" >&2
    exit 2
  fi
  local args=(
    --standalone
    --listen "$listen"
    --admin-listen 127.0.0.1:0
    --demo-rate 0
    --log "$log_level"
    --socketio-ping-interval-ms 300
    --socketio-ping-timeout-ms 200
    --socketio-max-payload 1000000
    --socketio-namespaces /custom
    --socketio-cors-origins '*'
  )
  if has_flag --socketio-connect-timeout-ms; then
    args+=(--socketio-connect-timeout-ms 1000)
  fi
  # The suites' reference server runs without connection state recovery,
  # and their CONNECT tests expect a reply with `sid` alone (no `pid`);
  # Herald's default is recovery on.
  args+=(--socketio-recovery false)
  args+=("$@")
  "$gw" "${args[@]}" >"$work/$name.gateway.out" 2>"$work/$name.gateway.log" &
  gw_pid=$!
  for _ in $(seq 1 200); do
    if grep -q "herald-gateway: dashboard" "$work/$name.gateway.out" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$gw_pid" 2>/dev/null; then
      echo "sio-suites: the gateway exited at start:" >&2
      cat "$work/$name.gateway.log" >&2
      exit 2
    fi
    sleep 0.1
  done
  echo "sio-suites: the gateway did not start within 20 s" >&2
  exit 2
}

# run_suite SUITE DIR NAME: runs SUITE's mocha in DIR, writing $work/NAME.json.
run_suite() {
  local mocha="$PWD/$suites/$1/node_modules/.bin/mocha" dir=$2 name=$3
  # --exit: a test that leaves a socket open must not hang the run.
  (cd "$dir" && timeout 600 "$mocha" --exit --reporter json \
    --reporter-option "output=$work/$name.json" test-suite.js >/dev/null 2>"$work/$name.mocha.err") || true
}

status=0
summary=()

# Engine.IO v4.
eio_dir="$suites/engine.io-v4"
eio_args=()
if has_flag --socketio-path; then
  eio_args+=(--socketio-path "$eio_path")
elif [ "$eio_path" != /socket.io/ ]; then
  echo "note: this gateway serves Socket.IO only at /socket.io/ (no --socketio-path flag);" \
    "the Engine.IO suite's requests go to $eio_path" >&2
fi
if [ "$eio_path" != /engine.io/ ]; then
  copy="$work/engine.io-v4"
  mkdir -p "$copy"
  cp "$eio_dir/node-imports.js" "$eio_dir/package.json" "$copy/"
  sed "s#/engine\.io/#${eio_path}#g" "$eio_dir/test-suite.js" >"$copy/test-suite.js"
  ln -s "$PWD/$eio_dir/node_modules" "$copy/node_modules"
  eio_dir="$copy"
  echo "note: running a temporary copy of the Engine.IO suite with /engine.io/ replaced by $eio_path" >&2
fi
start_gateway eio "${eio_args[@]}"
echo "==> Engine.IO v4 suite (path $eio_path)"
run_suite engine.io-v4 "$eio_dir" eio
stop_gateway
if ! node "$suites/report.mjs" "$work/eio.json" "engine.io v4" 25 >"$work/eio.txt"; then status=1; fi
cat "$work/eio.txt"
summary+=("$(tail -n 1 "$work/eio.txt")")

# Socket.IO v5, with the application backend its handlers live in.
node tests/js/app-backend.mjs 0 >"$work/backend.out" 2>"$work/backend.err" &
backend_pid=$!
backend_url=""
for _ in $(seq 1 100); do
  backend_url="$(sed -n 's/^app-backend listening on //p' "$work/backend.out" 2>/dev/null)"
  [ -n "$backend_url" ] && break
  kill -0 "$backend_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$backend_url" ] || { echo "sio-suites: the app backend did not start:" >&2; cat "$work/backend.err" >&2; exit 2; }
sio_args=()
if has_flag --socketio-event-proxy; then
  sio_args+=(--connect-proxy "$backend_url" --socketio-event-proxy "$backend_url")
fi
start_gateway sio "${sio_args[@]}"
echo "==> Socket.IO v5 suite"
run_suite socket.io-v5 "$suites/socket.io-v5" sio
stop_gateway
if ! node "$suites/report.mjs" "$work/sio.json" "socket.io v5" 32 >"$work/sio.txt"; then status=1; fi
cat "$work/sio.txt"
summary+=("$(tail -n 1 "$work/sio.txt")")

echo
printf '%s\n' "${summary[@]}"
# Minimum scores: below one, the run fails even with --report-only.
score() { sed -n 's/^.*: \([0-9]*\)\/[0-9]* passed$/\1/p' <<<"$1"; }
below=0
for pair in "eio:$min_eio:${summary[0]}" "sio:$min_sio:${summary[1]}"; do
  IFS=: read -r name min line <<<"$pair"
  [ -z "$min" ] && continue
  got="$(score "$line")"
  if [ -z "$got" ] || [ "$got" -lt "$min" ]; then
    echo "sio-suites: $name scored ${got:-nothing}, below the required $min" >&2
    below=1
  fi
done
if [ "$status" != 0 ] || [ "$below" = 1 ]; then
  keep_work=1
  echo "reports and gateway logs: $work" >&2
  if [ "$below" = 1 ]; then exit 1; fi
  if [ "$report_only" = 1 ]; then exit 0; fi
fi
exit "$status"
