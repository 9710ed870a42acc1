# Shared by the benchmark scripts. Sourced after `set -euo pipefail` and a
# `cd` to the repository, it reads the script's first argument as the
# seconds per measurement (default 10), checks for wrk and curl, builds the
# release binary, makes a scratch directory ($work) and stops every server
# it started ($pids) on exit. Then: start a server, sign a user in, measure
# one route with wrk.

seconds=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
command -v curl >/dev/null || { echo "needs curl"; exit 1; }
cargo build --release -q --bin auth-server
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

json='Content-Type: application/json'
password="correct horse battery staple"

# start_server PORT [VAR=value ...]: a release server on 127.0.0.1:PORT
# with its own database, BCRYPT_COST=4 unless given, until it listens; the
# binary is $server_binary when set (another build), else this one.
start_server() {
    local port=$1
    shift
    env PORT="$port" HOST=127.0.0.1 DATABASE_PATH="$work/$port.db" BCRYPT_COST=4 "$@" \
        "${server_binary:-target/release/auth-server}" >"$work/$port.out" 2>"$work/$port.log" &
    pids+=($!)
    for _ in $(seq 50); do grep -q listening "$work/$port.out" && return; sleep 0.1; done
    echo "the server on $port did not start" >&2
    return 1
}

# session_cookie PORT: registers "bench" and prints its sid=… cookie.
session_cookie() {
    curl -sf -o /dev/null "http://127.0.0.1:$1/api/register" -H "$json" \
        -d "{\"username\":\"bench\",\"email\":\"bench@example.com\",\"password\":\"$password\"}"
    curl -sf -D - -o /dev/null "http://127.0.0.1:$1/api/login" -H "$json" \
        -d "{\"username\":\"bench\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p'
}

# wrk_row LABEL: wrk's --latency output on stdin as one markdown row:
# label, req/s, p99, and the non-2xx count when there is one.
wrk_row() {
    awk -v label="$1" '$1=="99%"{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{bad=$NF}
        END {printf "| %s | %s | %s |%s\n", label, rps, p99, (bad ? " " bad " non-2xx" : "")}'
}

# measure LABEL PORT PATH COOKIE: one markdown row, req/s and p99 of wrk
# -t2 -c32 for $seconds.
measure() {
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Cookie: $4" "http://127.0.0.1:$2$3" | wrk_row "$1"
}
