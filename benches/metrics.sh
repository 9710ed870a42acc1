#!/usr/bin/env bash
# The cost of metrics: GET /api/user with METRICS_ADDR set beside unset,
# two servers alternated, three rounds, one run (release build). Needs wrk
# and curl.
#
#   bash benches/metrics.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

start_server 18901 METRICS_ADDR=127.0.0.1:18903
start_server 18902
on=$(session_cookie 18901)
off=$(session_cookie 18902)
echo "| GET /api/user, 32 connections | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "metrics on" 18901 /api/user "$on"
    measure "metrics off" 18902 /api/user "$off"
done
curl -sf http://127.0.0.1:18903/metrics | grep '^auth_http_requests_total{route="/api/user"'
