#!/usr/bin/env bash
# Sessions that survive restarts, measured: GET /api/user with
# SESSION_PERSIST on beside off (two rounds, alternated, one run), and the
# start-up of a server with 100,000 stored sessions. Needs wrk, curl and
# python3 (standard library). Figures go in BENCHMARKS.md.
#
#   bash benches/sessions.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

start_server 18601 SESSION_PERSIST=true
start_server 18602 SESSION_PERSIST=false
on=$(session_cookie 18601)
off=$(session_cookie 18602)
echo "| GET /api/user, 32 connections | req/s | p99 |"
echo "| --- | --- | --- |"
for round in 1 2; do
    measure "SESSION_PERSIST=true" 18601 /api/user "$on"
    measure "SESSION_PERSIST=false" 18602 /api/user "$off"
done
kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; pids=()

# 100,000 stored sessions, 20 (the per-user cap) for each of 5,000
# accounts, written straight into the tables the server made (the rows a
# server would have written), then a start, three times.
db="$work/big.db"
DATABASE_PATH="$db" target/release/auth-server admin users >/dev/null
python3 - "$db" <<'PY'
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
users = []
for n in range(5_000):
    epoch = int.from_bytes(os.urandom(8), "big") >> 1
    cur = db.execute(
        "INSERT INTO users (username, email, password_hash, created_at, auth_epoch) VALUES (?, ?, 'x', ?, ?)",
        (f"user{n}", f"user{n}@example.com", now, epoch))
    users.append((cur.lastrowid, epoch))
ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
rows = [(os.urandom(32), int.from_bytes(os.urandom(8), "big", signed=True), uid, epoch,
         now, now, now + 30 * 86400, 30 * 86400, 1, None, "127.0.0.1", ua)
        for uid, epoch in users for _ in range(20)]
db.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
echo
echo "| start with 100,000 stored sessions (5,000 accounts × 20) | sessions loaded | load | start to listening | RSS |"
echo "| --- | --- | --- | --- | --- |"
for round in 1 2 3; do
    started=$(date +%s%N)
    PORT=18604 HOST=127.0.0.1 DATABASE_PATH="$db" BCRYPT_COST=4 \
        target/release/auth-server >"$work/start.out" 2>"$work/start.log" &
    pid=$!
    until grep -q listening "$work/start.out" 2>/dev/null; do sleep 0.005; done
    ended=$(date +%s%N)
    sleep 0.2
    rss=$(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)
    kill -TERM $pid; wait $pid 2>/dev/null || true
    loaded=$(sed -n 's/.*sessions_loaded=\([0-9]*\).*/\1/p' "$work/start.log")
    load_ms=$(sed -n 's/.*load_ms=\([0-9.]*\).*/\1/p' "$work/start.log")
    echo "| round $round | $loaded | $load_ms ms | $(( (ended - started) / 1000000 )) ms | $rss |"
done
