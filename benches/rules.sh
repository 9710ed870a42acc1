#!/usr/bin/env bash
# Forward auth with a 50-rule ACCESS_RULES_FILE beside forward auth with
# none, same build, in one run, three times in turn. The rule that matches
# is the last one (49 other hosts come first): the worst case of a first-
# match list. Needs wrk and curl. Figures go in BENCHMARKS.md.
#
#   bash benches/rules.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
for n in $(seq 1 49); do echo "app$n.example.com groups=team$n"; done >"$work/rules"
echo "*.example.com signed_in" >>"$work/rules"

start_server 18801 FORWARD_AUTH_HOSTS='*.example.com'
start_server 18802 FORWARD_AUTH_HOSTS='*.example.com' ACCESS_RULES_FILE="$work/rules"
none=$(session_cookie 18801)
fifty=$(session_cookie 18802)

# forward LABEL PORT COOKIE: wrk on /api/auth/forward as Caddy asks it.
forward() {
    wrk -t2 -c32 -d"${seconds}s" --latency -H "Cookie: $3" \
        -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: wiki.example.com" \
        -H "X-Forwarded-Uri: /page/7" -H "X-Forwarded-Method: GET" -H "Accept: text/html" \
        "http://127.0.0.1:$2/api/auth/forward" | wrk_row "$1"
}

echo "| forward auth | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    forward "no rules file ($round)" 18801 "$none"
    forward "50 rules, the last matches ($round)" 18802 "$fifty"
done
