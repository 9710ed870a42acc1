#!/usr/bin/env bash
# Forward auth beside GET /api/user: the proxy's question must cost what a
# session check costs. One release server (BCRYPT_COST=4), one session,
# wrk -t2 -c32 on each route in turn, three rounds. Needs wrk and curl.
#
#   bash benches/forward.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q --bin auth-server

work=$(mktemp -d)
PORT=18701 HOST=127.0.0.1 DATABASE_PATH="$work/auth.db" BCRYPT_COST=4 FORWARD_AUTH_HOSTS=app.localhost \
    target/release/auth-server >"$work/out" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/out" && break; sleep 0.1; done
api=http://127.0.0.1:18701
password="correct horse battery staple"
curl -sf -o /dev/null "$api/api/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench\",\"email\":\"bench@example.com\",\"password\":\"$password\"}"
cookie=$(curl -sf -D - -o /dev/null "$api/api/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p')

measure() { # label path
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Cookie: $cookie" "$api$2" |
        awk -v label="$1" '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF}
            END {printf "| %s | %s | %s |%s\n", label, rps, p99, (bad ? " " bad " non-2xx" : "")}'
}
echo "| 32 connections, signed in | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "GET /api/user" /api/user
    measure "GET /api/auth/forward" /api/auth/forward
done
