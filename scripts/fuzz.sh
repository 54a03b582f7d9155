#!/usr/bin/env bash
# Runs Herald's fuzz targets (every [[bin]] of protocol/fuzz and router/fuzz).
#
#   scripts/fuzz.sh [--time SECS] [--target NAME]... [--save | --minimize] [--asan]
#       Builds the targets instrumented with cargo-fuzz on the stable
#       toolchain (installing the pinned cargo-fuzz if missing), then fuzzes
#       each for SECS seconds (default 30), starting from its committed seeds
#       and regressions. New inputs go to the work directory
#       (target/fuzz/<crate>/<target>/corpus, or $FUZZ_WORK), never to the
#       committed seeds unless --save or --minimize is given.
#   scripts/fuzz.sh --replay [--target NAME]...
#       CI's regression pass: builds the targets without instrumentation and
#       runs each once over every committed seed and regression input.
#
# Exits non-zero, naming each crashing input's path, when a target crashes.
# docs/fuzzing.md explains the toolchain choice, the layout and the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# cargo-fuzz release the script installs and was checked with.
CARGO_FUZZ_VERSION=0.13.2
CRATES=(protocol/fuzz router/fuzz)
# Per-input time limit (a hang is a failure) and memory limit, for every run.
LIMITS=(-timeout=10 -rss_limit_mb=2048)

secs=30
mode=fuzz
save=none
sanitizer=none
selected=()
work=${FUZZ_WORK:-$root/target/fuzz}

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case $1 in
    --time) secs=${2:?--time needs seconds}; shift 2 ;;
    --time=*) secs=${1#--time=}; shift ;;
    --target) selected+=("${2:?--target needs a name}"); shift 2 ;;
    --target=*) selected+=("${1#--target=}"); shift ;;
    --replay) mode=replay; shift ;;
    --save) save=merge; shift ;;
    --minimize) save=minimize; shift ;;
    --asan) sanitizer=address; shift ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
case $secs in '' | *[!0-9]*) echo "--time takes whole seconds, not '$secs'" >&2; exit 2 ;; esac
if [ "$mode" = replay ] && { [ "$save" != none ] || [ "$sanitizer" != none ]; }; then
  echo "--replay takes no --save, --minimize or --asan" >&2
  exit 2
fi

step() { printf '\n==> %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The [[bin]] names of a fuzz crate's Cargo.toml.
targets_of() {
  awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 }
       bin && /^name *=/ { gsub(/^name *= *"|".*$/, ""); print; bin = 0 }' "$1/Cargo.toml"
}

# The selected targets of a crate (all of them when none was selected).
chosen_of() {
  local t s
  for t in $(targets_of "$1"); do
    if [ ${#selected[@]} -eq 0 ]; then
      echo "$t"
      continue
    fi
    for s in "${selected[@]}"; do [ "$s" = "$t" ] && echo "$t"; done
  done
}

for s in "${selected[@]}"; do
  found=0
  for c in "${CRATES[@]}"; do targets_of "$c" | grep -qx "$s" && found=1; done
  if [ $found = 0 ]; then
    echo "no fuzz target named '$s'; targets are:" >&2
    for c in "${CRATES[@]}"; do targets_of "$c" | sed "s|^|  $c: |" >&2; done
    exit 2
  fi
done

# Every committed input of a target: its seeds, then its regressions.
inputs_of() {
  local dir
  for dir in "$1/seeds/$2" "$1/regressions/$2"; do
    [ -d "$dir" ] && find "$dir" -type f ! -name '.*' ! -name '*.md' | sort
  done
  return 0
}

failures=()
summary=()

# The panic message (or libFuzzer's own error: timeout, out of memory) of a
# failed run's log, indented.
why() {
  if grep -q 'panicked at' "$1"; then
    sed -n '/panicked at/,/^stack backtrace:/p' "$1" | grep -v '^stack backtrace:' | head -n 30
  else
    grep -E 'ERROR: libFuzzer|SUMMARY: |^==[0-9]+==' "$1" | head -n 20
  fi | sed 's/^/    /'
}

replay() {
  local crate=$1 start bindir t inputs log
  local targets
  mapfile -t targets < <(chosen_of "$crate")
  [ ${#targets[@]} -gt 0 ] || return 0
  step "build $crate (no instrumentation)"
  start=$(now)
  cargo build --manifest-path "$crate/Cargo.toml" --locked --bins
  summary+=("$(printf '%-34s build %6ss' "$crate" "$(since "$start")")")
  bindir=${CARGO_TARGET_DIR:-$crate/target}/debug
  step "replay $crate"
  start=$(now)
  for t in "${targets[@]}"; do
    mapfile -t inputs < <(inputs_of "$crate" "$t")
    if [ ${#inputs[@]} -eq 0 ]; then
      failures+=("$crate $t: no committed inputs under $crate/seeds/$t")
      continue
    fi
    log=$work/replay/${crate%%/*}-$t.log
    mkdir -p "$(dirname "$log")"
    # With files (not directories) as arguments, libFuzzer runs each once
    # and exits: no coverage instrumentation is needed.
    if "$bindir/$t" "${LIMITS[@]}" "${inputs[@]}" >"$log" 2>&1; then
      printf '  %-24s %4d inputs  ok\n' "$t" "${#inputs[@]}"
    else
      local bad
      bad=$(grep '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
      printf '  %-24s FAILED on %s\n' "$t" "$bad"
      why "$log"
      failures+=("$crate $t: $bad (log: $log)")
    fi
  done
  summary+=("$(printf '%-34s replay %5ss' "$crate" "$(since "$start")")")
}

ensure_cargo_fuzz() {
  if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    step "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
}

fuzz() {
  local crate=$1 t w bindir start rc crash execs cov ft corp new dict
  local targets args corpora
  mapfile -t targets < <(chosen_of "$crate")
  [ ${#targets[@]} -gt 0 ] || return 0
  # Stable rustc refuses -Zsanitizer; RUSTC_BOOTSTRAP=1 lets it accept the
  # flag (docs/fuzzing.md). Without --asan no unstable flag is passed.
  local env=()
  [ "$sanitizer" = none ] || env=(RUSTC_BOOTSTRAP=1)
  step "cargo fuzz build $crate (--sanitizer $sanitizer)"
  start=$(now)
  args=(build --fuzz-dir "$crate" --sanitizer "$sanitizer")
  [ ${#selected[@]} -eq 0 ] || [ ${#targets[@]} -ne 1 ] || args+=("${targets[0]}")
  env "${env[@]}" cargo fuzz "${args[@]}"
  summary+=("$(printf '%-34s build %6ss' "$crate" "$(since "$start")")")
  bindir=${CARGO_TARGET_DIR:-$crate/target}/$(rustc -vV | sed -n "s/^host: //p")/release
  for t in "${targets[@]}"; do
    w=$work/${crate%%/*}/$t
    mkdir -p "$w/corpus" "$w/artifacts"
    # The first directory receives new inputs; the committed ones are only read.
    corpora=("$w/corpus" "$crate/seeds/$t")
    [ -d "$crate/regressions/$t" ] && corpora+=("$crate/regressions/$t")
    dict=()
    [ -f "$crate/dicts/$t.dict" ] && dict=("-dict=$crate/dicts/$t.dict")
    step "fuzz $t for ${secs}s"
    new=$(find "$w/corpus" -type f | wc -l)
    start=$(now)
    rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0} "$bindir/$t" "${LIMITS[@]}" \
      -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$w/artifacts/" \
      "${dict[@]}" "${corpora[@]}" >"$w/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$w/log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$w/log" | tail -n 1 | cut -d' ' -f2)
    corp=$(grep -o 'corp: [0-9]*' "$w/log" | tail -n 1 | cut -d' ' -f2)
    new=$(($(find "$w/corpus" -type f | wc -l) - new))
    if [ $rc -eq 0 ]; then
      summary+=("$(printf '%-34s %6ss execs %10s  cov %5s  ft %6s  corpus %5s  new %4s  ok' \
        "$crate $t" "$(since "$start")" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$new")")
      save_corpus "$crate" "$t" "$bindir/$t" "$w"
    else
      crash=$(sed -n 's/.*Test unit written to //p' "$w/log" | tail -n 1)
      echo "  $t crashed on ${crash:-an input, see $w/log}:"
      why "$w/log"
      summary+=("$(printf '%-34s %6ss execs %10s  CRASHED: %s' \
        "$crate $t" "$(since "$start")" "${execs:-?}" "${crash:-see $w/log}")")
      failures+=("$crate $t: ${crash:-exit $rc, see $w/log}")
      echo "reproduce: $bindir/$t ${crash:-}"
    fi
  done
}

# --save merges the inputs that add coverage into the committed seeds;
# --minimize replaces the seeds with a minimal set covering seeds and work.
save_corpus() {
  local crate=$1 t=$2 bin=$3 w=$4 seeds=$1/seeds/$2
  case $save in
    merge)
      "$bin" -merge=1 "${LIMITS[@]}" "$seeds" "$w/corpus" >"$w/merge.log" 2>&1
      echo "  merged into $seeds: $(grep -o 'MERGE-OUTER: [0-9]* new files[^;]*' "$w/merge.log" | tail -n 1 | cut -d' ' -f2-)"
      ;;
    minimize)
      rm -rf "$w/min" && mkdir -p "$w/min"
      "$bin" -merge=1 "${LIMITS[@]}" "$w/min" "$seeds" "$w/corpus" >"$w/merge.log" 2>&1
      find "$seeds" -type f -delete
      cp "$w/min"/* "$seeds"/
      echo "  $seeds now holds $(find "$seeds" -type f | wc -l) inputs"
      ;;
  esac
}

step "$(rustc --version)"
total=$(now)
if [ "$mode" = replay ]; then
  for c in "${CRATES[@]}"; do replay "$c"; done
else
  ensure_cargo_fuzz
  for c in "${CRATES[@]}"; do fuzz "$c"; done
fi

step "summary (${mode}, $(since "$total")s in all)"
printf '%s\n' "${summary[@]}"
if [ ${#failures[@]} -gt 0 ]; then
  printf '\nFAILED:\n'
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
