#!/usr/bin/env bash
# Session checks while logins and registrations pour in: 32 wrk
# connections logging in and 32 registering new accounts (BCRYPT_COST=12,
# the default, so the hash queue is full and every write path is busy),
# and meanwhile 4 connections reading GET /api/user, whose p99 is the
# figure. This build beside another revision, one after the other in one
# run. Needs wrk and curl.
#
#   bash benches/checks_under_load.sh [seconds] [baseline-revision]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
source benches/baseline.sh
start_baseline "${2:-}"

cat >"$work/register.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    local name = string.format("r%d_%d", math.random(1, 1000000000), n)
    return wrk.format(nil, nil, nil, string.format(
        '{"username":"%s","email":"%s@example.com","password":"correct horse battery staple"}', name, name))
end
LUA
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"flood","password":"$password"}'
LUA

echo "| build | GET /api/user req/s | p50 | p99 | logins + registrations answered |"
echo "| --- | --- | --- | --- | --- |"
port=18741
for build in "base $base_rev" "this"; do
    set -- $build
    server_binary=$([ "$1" = base ] && echo "$base_binary" || echo target/release/auth-server) \
        start_server $port BCRYPT_COST=12 REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000
    cookie=$(session_cookie $port)
    curl -sf -o /dev/null "http://127.0.0.1:$port/api/register" -H "$json" \
        -d "{\"username\":\"flood\",\"email\":\"flood@example.com\",\"password\":\"$password\"}"
    wrk -t1 -c32 -d"${seconds}s" -s "$work/login.lua" "http://127.0.0.1:$port/api/login" >"$work/login.txt" &
    flood1=$!
    wrk -t1 -c32 -d"${seconds}s" -s "$work/register.lua" "http://127.0.0.1:$port/api/register" >"$work/register.txt" &
    flood2=$!
    sleep 1
    wrk -t1 -c4 -d"$((seconds - 2))s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/api/user" >"$work/user.txt"
    wait $flood1 $flood2
    answered=$(awk '/requests in/ {sum += $1} END {print sum}' "$work/login.txt" "$work/register.txt")
    awk -v label="$*" -v answered="$answered" '$1=="50%"{p50=$2} $1=="99%"{p99=$2} /Requests\/sec/{rps=$2}
        END {printf "| %s | %s | %s | %s | %s |\n", label, rps, p50, p99, answered}' "$work/user.txt"
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    port=$((port + 1))
done
