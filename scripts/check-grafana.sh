#!/usr/bin/env bash
# Checks the observability package in grafana/ with promtool:
#   1. the Prometheus config (and the rule files it loads) is valid,
#   2. the alerting rules are valid,
#   3. the alerting rules' unit tests pass.
# Installs Debian's `prometheus` package (which ships promtool) if promtool is
# missing. The metric names used by the dashboard and rules are checked
# separately by `cargo test -p herald-tests --lib promql`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../grafana"

if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool not found: installing Debian's prometheus package" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends prometheus
    # Only promtool is needed. Where an init system started the packaged
    # server, stop it: it would hold port 9090, the gateway's admin port.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        $sudo systemctl disable --now prometheus
    fi
fi

promtool --version | head -n 1
promtool check config prometheus.yml
promtool check rules alerts/herald-rules.yml
promtool test rules alerts/herald-rules.test.yml
echo "grafana/: all promtool checks passed"
