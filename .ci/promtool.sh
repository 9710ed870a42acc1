#!/usr/bin/env bash
# The metrics against the real tool: start the server with METRICS_ADDR,
# put it under load (registrations, logins right and wrong, reads, 404s,
# a refused request), scrape /metrics during the load, and run
# `promtool check metrics` on the scrape (zero problems allowed) and
# `promtool check rules` on deploy/prometheus/alerts.yml.
#   bash .ci/promtool.sh [path-to-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/auth-server}
command -v promtool >/dev/null || { echo "promtool.sh: promtool is missing (apt-get install prometheus)" >&2; exit 1; }
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
source .ci/lib.sh
start_test_server "$binary" METRICS_ADDR="127.0.0.1:$metrics_port"
api="http://127.0.0.1:$port"
json='Content-Type: application/json'
load() {
    for n in $(seq 1 30); do
        curl -s -o /dev/null "$api/api/register" -H "$json" \
            -d "{\"username\":\"user$n\",\"email\":\"user$n@example.com\",\"password\":\"correct horse battery staple\"}"
        curl -s -o /dev/null "$api/api/login" -H "$json" -d "{\"username\":\"user$n\",\"password\":\"correct horse battery staple\"}"
        curl -s -o /dev/null "$api/api/login" -H "$json" -d "{\"username\":\"user$n\",\"password\":\"wrong\"}"
        curl -s -o /dev/null "$api/api/health"
        curl -s -o /dev/null "$api/no/such/path"
        curl -s -o /dev/null "$api/api/login" -H 'Content-Type: text/plain' -d 'x'
        printf 'GET / HTTP/9.9\r\n\r\n' | timeout 2 bash -c "cat > /dev/tcp/127.0.0.1/$port" 2>/dev/null || true
    done
}
load &
loader=$!
sleep 0.5
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/during"
wait $loader
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/after"
for scrape in during after; do
    if ! problems=$(promtool check metrics <"$work/$scrape" 2>&1); then
        echo "promtool.sh: promtool check metrics found problems in the $scrape scrape:" >&2
        echo "$problems" >&2
        exit 1
    fi
done
grep -q 'auth_logins_total{result="invalid_credentials"}' "$work/after"
promtool check rules deploy/prometheus/alerts.yml
echo "promtool: metrics ($(grep -vc '^#' "$work/after") samples) and rules check clean"
