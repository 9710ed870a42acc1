#!/usr/bin/env bash
# The starvation attack on the bcrypt queue (a few addresses taking turns), for this build
# and, side by side in the same run, a baseline build of another git
# revision (default: none). Needs curl. Figures go in BENCHMARKS.md.
#
#   bash benches/starvation.sh [attack-seconds] [baseline-revision]
#
# One bcrypt worker at cost 10, HASH_QUEUE_WAIT_SECS=2. Three attacker
# addresses (127.0.0.2-4) each log in to their own account one request at a
# time, without pause (right passwords: never throttled). Half a second in,
# a fourth address (127.0.0.5) sends three logins at once. Printed: one
# verify on the idle server, and how long each of the three took (sorted)
# with their statuses, alone and during the attack.
set -euo pipefail
cd "$(dirname "$0")/.."
attack=${1:-6}
base=${2:-}
command -v curl >/dev/null || { echo "needs curl"; exit 1; }
cargo build --release -q --bin auth-server

work=$(mktemp -d)
server=
source benches/baseline.sh
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    remove_baseline
    rm -rf "$work"
}
trap cleanup EXIT

builds=("this:target/release/auth-server")
if [ -n "$base" ]; then
    builds=("base $base:$(build_baseline "$base")" "${builds[@]}")
fi

password="correct horse battery staple"
json='Content-Type: application/json'
port=18600

# login FROM NAME: prints "status seconds".
login() {
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --interface "$1" \
        "http://127.0.0.1:$port/api/login" -H "$json" \
        -d "{\"username\":\"$2\",\"password\":\"$password\"}"
}

# three_at_once: the victim's three logins at once, sorted by time.
three_at_once() {
    for _ in 1 2 3; do login 127.0.0.5 victim >"$work/v.$RANDOM" & done
    wait
    cat "$work"/v.* | sort -k2 -n | awk '{printf "%s %.2f s, ", $1, $2}' | sed 's/, $//'
    rm -f "$work"/v.*
}

echo "| build | one verify | victim alone (status, time) | victim under attack (status, time) | attacker logins |"
echo "| --- | --- | --- | --- | --- |"
for build in "${builds[@]}"; do
    label=${build%%:*}
    binary=${build#*:}
    port=$((port + 1))
    PORT=$port HOST=127.0.0.1 DATABASE_PATH="$work/$port.db" BCRYPT_COST=10 HASH_WORKERS=1 \
        HASH_QUEUE_WAIT_SECS=2 REGISTRATIONS_PER_HOUR=0 \
        "$binary" >"$work/$port.out" 2>"$work/$port.log" &
    server=$!
    for _ in $(seq 50); do grep -q listening "$work/$port.out" && break; sleep 0.1; done
    for name in attacker2 attacker3 attacker4 victim; do
        curl -sf -o /dev/null "http://127.0.0.1:$port/api/register" -H "$json" \
            -d "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"$password\"}"
    done
    verify=$(for _ in 1 2 3 4 5; do login 127.0.0.5 victim; done | awk '{print $2}' | sort -n | sed -n 3p)
    alone=$(three_at_once)

    end=$(($(date +%s%N) + attack * 1000000000))
    attackers=()
    for n in 2 3 4; do
        (while [ "$(date +%s%N)" -lt "$end" ]; do login "127.0.0.$n" "attacker$n"; done >"$work/a.$n") &
        attackers+=($!)
    done
    sleep 0.5
    attacked=$(three_at_once)
    wait "${attackers[@]}"
    attackers=$(cat "$work"/a.* | wc -l)
    printf '| %s | %.3f s | %s | %s | %s in %s s |\n' "$label" "$verify" "$alone" "$attacked" "$attackers" "$attack"
    kill "$server"; wait "$server" 2>/dev/null || true; server=
done
