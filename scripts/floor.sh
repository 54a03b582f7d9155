#!/usr/bin/env bash
# The kernel floor of fan-out (issue 12): builds bench/floor/floor.c with
# `cc -O2` and runs it. One process sends the same frame to each of N
# loopback TCP sockets (TCP_NODELAY) at R broadcasts/s for D seconds while a
# second process drains them through epoll; it prints the sender's CPU
# seconds per million sends and the span of one broadcast (first send to
# last) at p50 and p99, then one JSON line.
#
# Usage: scripts/floor.sh [-n SOCKETS] [-r BROADCASTS_PER_S] [-d SECONDS]
#                         [-s FRAME_BYTES] [--json]
#   also --sockets, --rate, --duration (30, 30s, 2m), --frame; --json prints
#   only the JSON line. Defaults: 10,000 sockets, 10/s, 30 s, 120 bytes.
# The binary goes to ${CARGO_TARGET_DIR:-target}/floor/floor (rebuilt when
# floor.c is newer). Environment: CC (cc), FLOOR_CFLAGS (-O2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

N=10000 R=10 D=30 S=120 QUIET=()
secs() { # 30 | 30s | 2m | 1h -> seconds
  case "$1" in
    *ms) awk -v v="${1%ms}" 'BEGIN { print v / 1000 }' ;;
    *s) echo "${1%s}" ;;
    *m) awk -v v="${1%m}" 'BEGIN { print v * 60 }' ;;
    *h) awk -v v="${1%h}" 'BEGIN { print v * 3600 }' ;;
    *) echo "$1" ;;
  esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--sockets) N=$2; shift ;;
    -r|--rate) R=$2; shift ;;
    -d|--duration) D=$(secs "$2"); shift ;;
    -s|--frame) S=$2; shift ;;
    --json|-q) QUIET=(-q) ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done

OUT_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/floor
BIN=$OUT_DIR/floor
SRC=$ROOT/bench/floor/floor.c
if [ ! -x "$BIN" ] || [ "$SRC" -nt "$BIN" ]; then
  mkdir -p "$OUT_DIR"
  # shellcheck disable=SC2086
  "${CC:-cc}" ${FLOOR_CFLAGS:--O2} -Wall -Wextra -o "$BIN" "$SRC" -lm
fi
# The sender and the drainer each hold N sockets: raise the soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$BIN" -n "$N" -r "$R" -d "$D" -s "$S" "${QUIET[@]}"
