#!/usr/bin/env bash
# This build beside another git revision, in one run, on the hot paths:
# GET /api/user and GET /api/auth/forward (signed in), and logins at
# BCRYPT_COST=4 (so the auth logic around bcrypt shows), alternating the
# two builds three times so drift on a noisy machine hits both. Needs wrk
# and curl. Figures go in BENCHMARKS.md.
#
#   bash benches/compare.sh [seconds] [baseline-revision]
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${2:-HEAD~1}
source benches/lib.sh
git worktree add -q --detach "$work/base" "$base_rev"
trap 'kill "${pids[@]}" 2>/dev/null || true; git worktree remove --force "$work/base" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$work/base" && CARGO_TARGET_DIR="$work/base-target" cargo build --release -q --bin auth-server)
cp target/release/auth-server "$work/this"
cp "$work/base-target/release/auth-server" "$work/base"-bin

# start_build PORT BINARY: like start_server, for a given binary.
start_build() {
    env PORT="$1" HOST=127.0.0.1 DATABASE_PATH="$work/$1.db" BCRYPT_COST=4 \
        FORWARD_AUTH_HOSTS=app.localhost REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000 \
        "$2" >"$work/$1.out" 2>"$work/$1.log" &
    pids+=($!)
    for _ in $(seq 50); do grep -q listening "$work/$1.out" && return; sleep 0.1; done
    echo "the server on $1 did not start" >&2
    return 1
}
start_build 18701 "$work/base-bin"
start_build 18702 "$work/this"
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
        awk -v label="$1" '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF}
            END {printf "| %s | %s | %s |%s\n", label, rps, p99, (bad ? " " bad " non-2xx" : "")}'
}

echo "| build and route | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "base $base_rev GET /api/user ($round)" 18701 /api/user "$base_cookie"
    measure "this GET /api/user ($round)" 18702 /api/user "$this_cookie"
    measure "base $base_rev forward auth ($round)" 18701 /api/auth/forward "$base_cookie"
    measure "this forward auth ($round)" 18702 /api/auth/forward "$this_cookie"
    login "base $base_rev POST /api/login, cost 4 ($round)" 18701
    login "this POST /api/login, cost 4 ($round)" 18702
done
