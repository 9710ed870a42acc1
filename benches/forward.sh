#!/usr/bin/env bash
# Forward auth beside GET /api/user: the proxy's question must cost what a
# session check costs. One release server (BCRYPT_COST=4), one session,
# wrk -t2 -c32 on each route in turn, three rounds. Needs wrk and curl.
#
#   bash benches/forward.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

start_server 18701 FORWARD_AUTH_HOSTS=app.localhost
cookie=$(session_cookie 18701)
echo "| 32 connections, signed in | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2 3; do
    measure "GET /api/user" 18701 /api/user "$cookie"
    measure "GET /api/auth/forward" 18701 /api/auth/forward "$cookie"
done
