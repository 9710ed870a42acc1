#!/usr/bin/env bash
# This build beside another git revision, in one run, on the hot paths:
# GET /api/user and GET /api/auth/forward (signed in), and logins at
# BCRYPT_COST=4 (so the auth logic around bcrypt shows), alternating the
# two builds three times so drift on a noisy machine hits both; and the
# bare HTTP layer (examples/hello.rs) each round, the ceiling the routes
# are measured against. Needs wrk and curl. Figures go in BENCHMARKS.md.
#
#   bash benches/compare.sh [seconds] [baseline-revision]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
source benches/baseline.sh
start_baseline "${2:-}"

settings=(FORWARD_AUTH_HOSTS=app.localhost REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000)
server_binary=$base_binary start_server 18701 "${settings[@]}"
start_server 18702 "${settings[@]}"
cargo build --release -q --example hello
PORT=18703 target/release/examples/hello >/dev/null &
pids+=($!)
base_cookie=$(session_cookie 18701)
this_cookie=$(session_cookie 18702)
# A login body for wrk: an account of its own (its sessions, evicted at
# the per-user cap, must not be the reader's), right password.
for port in 18701 18702; do
    curl -sf -o /dev/null "http://127.0.0.1:$port/api/register" -H "$json" \
        -d "{\"username\":\"flood\",\"email\":\"flood@example.com\",\"password\":\"$password\"}"
done
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"flood","password":"$password"}'
LUA
login() { # label port
    wrk -t2 -c8 -d"${seconds}s" --latency -s "$work/login.lua" "http://127.0.0.1:$2/api/login" |
        wrk_row "$1"
}

echo "| build and route | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "bare HTTP layer ($round)" 18703 / ""
    measure "base $base_rev GET /api/user ($round)" 18701 /api/user "$base_cookie"
    measure "this GET /api/user ($round)" 18702 /api/user "$this_cookie"
    measure "base $base_rev forward auth ($round)" 18701 /api/auth/forward "$base_cookie"
    measure "this forward auth ($round)" 18702 /api/auth/forward "$this_cookie"
    login "base $base_rev POST /api/login, cost 4 ($round)" 18701
    login "this POST /api/login, cost 4 ($round)" 18702
done
