#!/usr/bin/env bash
# Requests per second and p99 of GET /api/health and an authenticated
# GET /api/user beside the bare HTTP layer (examples/hello.rs) in the same
# run, and correct-password logins per second at BCRYPT_COST=12 beside the
# bcrypt bound. Needs wrk and curl. Figures go in BENCHMARKS.md.
#
#   bash benches/throughput.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q --bin auth-server --example hello --example bcrypt_bound

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
start() { # port cost
    PORT=$1 HOST=127.0.0.1 DATABASE_PATH="$work/$1.db" BCRYPT_COST=$2 REGISTRATIONS_PER_HOUR=0 \
        target/release/auth-server >/dev/null 2>&1 &
    pids+=($!)
}
PORT=18401 target/release/examples/hello >/dev/null &
pids+=($!)
start 18402 4
start 18403 12
sleep 0.5

password="correct horse battery staple"
session() { # port -> cookie
    curl -sf "http://127.0.0.1:$1/api/register" -H 'Content-Type: application/json' \
        -d "{\"username\":\"bench\",\"email\":\"bench@example.com\",\"password\":\"$password\"}" >/dev/null
    curl -sf -D - -o /dev/null "http://127.0.0.1:$1/api/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"bench\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p'
}
cookie=$(session 18402)
session 18403 >/dev/null

measure() { # label url [wrk args...]
    local label=$1 url=$2
    shift 2
    wrk -t2 -c32 -d"${seconds}s" --latency "$@" "$url" |
        awk -v label="$label" '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF}
            END {printf "| %-28s | %10s | %8s | %s\n", label, rps, p99, (bad ? bad " non-2xx" : "")}'
}
echo "| 32 connections               |   req/s    |   p99    |"
for round in 1 2; do
    measure "hello (bare HTTP layer)" "http://127.0.0.1:18401/"
    measure "GET /api/health" "http://127.0.0.1:18402/api/health"
    measure "GET /api/user (signed in)" "http://127.0.0.1:18402/api/user" -H "Cookie: $cookie"
done

cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"bench","password":"$password"}'
LUA
echo
target/release/examples/bcrypt_bound 12 10
# 4 connections: the 2 workers plus their queue, so nothing is refused.
wrk -t1 -c4 -d"$((seconds * 2))s" --latency -s "$work/login.lua" "http://127.0.0.1:18403/api/login" |
    awk '/Requests\/sec/{print "correct-password logins at cost 12: " $2 "/s"} /Non-2xx/{print}'
