#!/usr/bin/env bash
# Logins under bursts and floods at BCRYPT_COST=12 with HASH_WORKERS=2, for
# this build and, side by side in the same run, a baseline build of another
# git revision (default: none). Needs wrk and curl. Figures go in
# BENCHMARKS.md.
#
#   bash benches/admission.sh [seconds] [baseline-revision]
#
# For each build: 30 accounts log in at the same moment; correct logins over
# 8 and over 64 connections from one address; during a 64-connection login
# flood, GET /api/user over 2 connections (wrk -t2 -c2), and then, during a
# second flood, one client at another loopback address (127.0.0.2) logging
# in one at a time; and both at once, where the reader's load also slows
# bcrypt (all of it shares the machine's two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
base=${2:-}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
command -v curl >/dev/null || { echo "needs curl"; exit 1; }
cargo build --release -q --bin auth-server --example bcrypt_bound

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    [ -n "$base" ] && git worktree remove --force "$work/base" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

builds=("this:target/release/auth-server")
if [ -n "$base" ]; then
    git worktree add -q --detach "$work/base" "$base"
    (cd "$work/base" && CARGO_TARGET_DIR="$PWD/../base-target" cargo build --release -q --bin auth-server)
    builds=("base $base:$work/base-target/release/auth-server" "${builds[@]}")
fi

password="correct horse battery staple"
port=18500
accounts=32
api() { echo "http://127.0.0.1:$port$1"; }
json='Content-Type: application/json'

start() { # binary
    port=$((port + 1))
    PORT=$port HOST=127.0.0.1 DATABASE_PATH="$work/$port.db" BCRYPT_COST=12 HASH_WORKERS=2 \
        REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000 MAX_CONNECTIONS_PER_IP=128 \
        "$1" >"$work/$port.out" 2>"$work/$port.log" &
    server=$!
    for _ in $(seq 50); do grep -q listening "$work/$port.out" && break; sleep 0.1; done
    # Accounts user0..user31, four at a time (the old pool refused more).
    seq 0 $((accounts - 1)) | xargs -P 4 -I{} curl -sf -o /dev/null "$(api /api/register)" -H "$json" \
        -d "{\"username\":\"user{}\",\"email\":\"user{}@example.com\",\"password\":\"$password\"}"
}

stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

# 30 accounts at the same moment: how many get in, and the wall time.
class() {
    local started ended ok
    started=$(date +%s.%N)
    ok=$(seq 0 29 | xargs -P 30 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$(api /api/login)" -H "$json" \
        -d "{\"username\":\"user{}\",\"password\":\"$password\"}" | grep -c '^200$' || true)
    ended=$(date +%s.%N)
    printf '%s of 30 in %s s' "$ok" "$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.2f", b - a}')"
}

# Each request logs the next account in (round-robin), so no account has
# more than a couple of logins in flight from this address.
# The statuses are counted per thread and summed at the end.
cat > "$work/logins.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() n = 0; statuses = {} end
request = function()
    n = n + 1
    local body = '{"username":"user' .. (n % $accounts) .. '","password":"$password"}'
    return wrk.format(nil, nil, nil, body)
end
response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
done = function()
    local total = {}
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
            total[status] = (total[status] or 0) + count
        end
    end
    local parts = {}
    for status, count in pairs(total) do table.insert(parts, status .. "×" .. count) end
    table.sort(parts)
    io.write("statuses: " .. table.concat(parts, ", ") .. "\n")
end
LUA

# Successful logins per second over $1 connections.
logins_per_second() {
    wrk -t1 -c"$1" -d"${seconds}s" -s "$work/logins.lua" "$(api /api/login)" |
        awk -v s="$seconds" '/requests in/{total=$1} /Non-2xx/{bad=$NF} /^statuses:/{sub(/^statuses: /, ""); st=$0}
            END {printf "%.2f/s (%s)", (total - bad) / s, st}'
    drain
}

# Waits until a login is served again: a run leaves up to
# HASH_QUEUE_WAIT_SECS of admitted work behind it.
drain() {
    for _ in $(seq 40); do
        curl -sf -o /dev/null "$(api /api/login)" -H "$json" \
            -d "{\"username\":\"user0\",\"password\":\"$password\"}" && return
        sleep 0.5
    done
}

# One client at another address logging in one at a time for $seconds.
lone_client() {
    local end
    end=$(($(date +%s) + seconds))
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code} %{time_total}\n' "$(api /api/login)" \
            -H "$json" -d "{\"username\":\"user31\",\"password\":\"$password\"}"
    done >"$work/lone"
    sort -k2 -n "$work/lone" | awk '{n++; if ($1=="200") ok++; t[n]=$2}
        END {i=int(n*0.95); if (i<1) i=1; printf "%d of %d logins, p95 %.0f ms", ok, n, t[i]*1000}'
}

reader() { # cookie
    wrk -t2 -c2 -d"${seconds}s" --latency -H "Cookie: $1" "$(api /api/user)" |
        awk '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2} END {printf "p99 %s (%s req/s)", p99, rps}'
}

# Runs "$@" during a 64-connection login flood from 127.0.0.1.
during_flood() {
    wrk -t1 -c64 -d"$((seconds + 4))s" -s "$work/logins.lua" "$(api /api/login)" >/dev/null &
    local flooder=$!
    sleep 2
    "$@"
    wait "$flooder" || true
    drain
}

flood() {
    local cookie
    cookie=$(curl -sf -D - -o /dev/null "$(api /api/login)" -H "$json" \
        -d "{\"username\":\"user0\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p')
    echo "| | GET /api/user during the flood | $(during_flood reader "$cookie") |"
    echo "| | another address during the flood | $(during_flood lone_client) |"
    both() { lone_client >"$work/both" & local l=$!; reader "$cookie" >/dev/null; wait $l; cat "$work/both"; }
    echo "| | another address during the flood and the reader | $(during_flood both) |"
}

target/release/examples/bcrypt_bound 12 10
echo
echo "| build | measure | result |"
echo "| --- | --- | --- |"
for build in "${builds[@]}"; do
    label=${build%%:*}
    binary=${build#*:}
    start "$binary"
    echo "| $label | 30 accounts at once | $(class) |"
    echo "| | logins over 8 connections | $(logins_per_second 8) |"
    echo "| | logins over 64 connections | $(logins_per_second 64) |"
    flood
    stop
done
