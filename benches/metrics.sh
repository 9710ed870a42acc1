#!/usr/bin/env bash
# The cost of metrics: GET /api/user with METRICS_ADDR set beside unset,
# two servers alternated, three rounds, one run (release build). Needs wrk
# and curl.
#
#   bash benches/metrics.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q --bin auth-server
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
json='Content-Type: application/json'
password="correct horse battery staple"
start() { # port [metrics address]
    PORT=$1 HOST=127.0.0.1 DATABASE_PATH="$work/$1.db" BCRYPT_COST=4 METRICS_ADDR=${2:-} \
        target/release/auth-server >"$work/$1.out" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 50); do grep -q listening "$work/$1.out" && break; sleep 0.1; done
}
session() { # port -> cookie
    curl -sf -o /dev/null "http://127.0.0.1:$1/api/register" -H "$json" \
        -d "{\"username\":\"bench\",\"email\":\"bench@example.com\",\"password\":\"$password\"}"
    curl -sf -D - -o /dev/null "http://127.0.0.1:$1/api/login" -H "$json" \
        -d "{\"username\":\"bench\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p'
}
start 18901 127.0.0.1:18903
start 18902
on=$(session 18901)
off=$(session 18902)
measure() { # label port cookie
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Cookie: $3" "http://127.0.0.1:$2/api/user" |
        awk -v label="$1" '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2}
            END {printf "| %s | %s | %s |\n", label, rps, p99}'
}
echo "| GET /api/user, 32 connections | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "metrics on" 18901 "$on"
    measure "metrics off" 18902 "$off"
done
curl -sf http://127.0.0.1:18903/metrics | grep '^auth_http_requests_total{route="/api/user"'
