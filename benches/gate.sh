#!/usr/bin/env bash
# Forward auth as Caddy asks it (X-Forwarded-Proto, -Host, -Uri with a
# query, X-Forwarded-Method, a page's Accept) against a 50-rule
# ACCESS_RULES_FILE whose matching rule is the last: this build beside
# another revision, alternated three rounds. What it costs to describe the
# request once (parse the host, normalise the path) before the rules
# decide. Needs wrk and curl. Figures go in BENCHMARKS.md.
#
#   bash benches/gate.sh [seconds] [baseline-revision]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
source benches/baseline.sh
start_baseline "${2:-}"
for n in $(seq 1 49); do echo "app$n.example.com groups=team$n"; done >"$work/rules"
echo "*.example.com signed_in" >>"$work/rules"

settings=(FORWARD_AUTH_HOSTS='*.example.com' ACCESS_RULES_FILE="$work/rules")
server_binary=$base_binary start_server 18901 "${settings[@]}"
start_server 18902 "${settings[@]}"

base_cookie=$(session_cookie 18901)
this_cookie=$(session_cookie 18902)

# forward LABEL PORT COOKIE
forward() {
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Cookie: $3" \
        -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: wiki.example.com" \
        -H "X-Forwarded-Uri: /wiki/Main_Page/history?action=view&id=7" -H "X-Forwarded-Method: GET" \
        -H "Accept: text/html" "http://127.0.0.1:$2/api/auth/forward" | wrk_row "$1"
}

echo "| build | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    forward "base $base_rev ($round)" 18901 "$base_cookie"
    forward "this build ($round)" 18902 "$this_cookie"
done
