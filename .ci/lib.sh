# Shared by the CI scripts that speak to a running server. Sourced after
# `set -euo pipefail`.

# start_test_server BINARY [VAR=value ...]: starts BINARY on 127.0.0.1 with
# PORT=0, a scratch database in $work (made here), BCRYPT_COST=4 and no
# registration limit, stops it on exit, and sets $port from its
# `listening on` line; fails loudly with its log if it does not start.
start_test_server() {
    local binary=$1
    shift
    work=$(mktemp -d)
    env PORT=0 HOST=127.0.0.1 DATABASE_PATH="$work/auth.db" BCRYPT_COST=4 REGISTRATIONS_PER_HOUR=0 "$@" \
        "$binary" >"$work/stdout" 2>"$work/log" &
    server=$!
    trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$work/stdout")
        [ -n "$port" ] && return
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "$(basename "$0"): the server did not start within 10 s; its log:" >&2
    cat "$work/log" >&2
    exit 1
}
