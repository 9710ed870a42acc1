#!/usr/bin/env bash
# Latency of an authenticated GET /api/user alone, and while 64 connections
# flood POST /api/login at BCRYPT_COST=12. Figures go in BENCHMARKS.md.
#
#   bash benches/login_flood.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q

work=$(mktemp -d)
port=18090
PORT=$port HOST=127.0.0.1 DATABASE_PATH="$work/auth.db" BCRYPT_COST=12 \
    REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000 \
    target/release/auth-server >/dev/null 2>"$work/log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

api=http://127.0.0.1:$port
password="correct horse battery staple"
for user in reader flooder; do
    curl -sf "$api/api/register" -H 'Content-Type: application/json' \
        -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"$password\"}" >/dev/null
done
cookie=$(curl -sf -D - -o /dev/null "$api/api/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"reader\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p')

cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"flooder","password":"$password"}'
LUA

measure() {
    wrk -t1 -c4 -d"${seconds}s" --latency -H "Cookie: $cookie" "$api/api/user" |
        awk -v label="$1" '$1=="50%"{p50=$2} $1=="99%"{p99=$2} /Requests\/sec/{rps=$2}
             END {printf "| %-32s | %8s | %8s | %9s |\n", label, p50, p99, rps}'
}

echo "| GET /api/user (4 connections)    |   p50    |   p99    |   req/s   |"
measure "alone"
wrk -t1 -c64 -d"$((seconds + 4))s" --latency -s "$work/login.lua" "$api/api/login" >"$work/flood" &
flood=$!
sleep 2
measure "during a 64-connection login flood"
wait $flood
echo
echo "The flood itself (POST /api/login, 64 connections):"
grep -E "Requests/sec|Non-2xx|99%" "$work/flood"
ok=$(grep -c '"kind":"login_ok"\| login_ok ' "$work/log" || true)
echo "successful logins during the run: $ok"
