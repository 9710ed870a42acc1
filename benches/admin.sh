#!/usr/bin/env bash
# The admin page's API over 10,000 accounts: the first page of the user
# list, a search (a LIKE over names and addresses, counted and paged), the
# audit trail, beside GET /api/user (a session check from memory) in the
# same run; and what the page weighs. The accounts go straight into the
# database with sqlite3 (hashing 10,000 passwords would measure bcrypt);
# the administrator signs in with password and code (oathtool). Needs wrk,
# curl, sqlite3 and oathtool. Figures go in BENCHMARKS.md.
#
#   bash benches/admin.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
for tool in sqlite3 oathtool; do
    command -v "$tool" >/dev/null || { echo "needs $tool"; exit 1; }
done
port=18711
start_server "$port"
base="http://127.0.0.1:$port"
for name in root flood; do
    curl -sf -o /dev/null "$base/api/register" -H "$json" \
        -d "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"$password\"}"
done
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()
sqlite3 "$work/$port.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
    INSERT INTO users (username, email, password_hash, created_at, auth_epoch, groups)
    SELECT 'user' || i, 'user' || i || '@example.com', '\$2b\$04\$none', 1700000000 + i, i, 'family' FROM n;"
DATABASE_PATH="$work/$port.db" target/release/auth-server admin group add root admins >/dev/null 2>&1
start_server "$port"
cookie=$(curl -sf -D - -o /dev/null "$base/api/login" -H "$json" \
    -d "{\"username\":\"root\",\"password\":\"$password\"}" | sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p')
secret=$(curl -sf "$base/api/user/totp/setup" -H "$json" -H "Cookie: $cookie" \
    -d "{\"password\":\"$password\"}" | sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
curl -sf -o /dev/null "$base/api/user/totp/enable" -H "$json" -H "Cookie: $cookie" \
    -d "{\"code\":\"$(oathtool --totp -b "$secret")\"}"
admin=$(curl -sf -D - -o /dev/null "$base/api/login" -H "$json" \
    -d "{\"username\":\"root\",\"password\":\"$password\",\"totp_code\":\"$(oathtool --totp -b -N 'now + 30 seconds' "$secret")\"}" |
    sed -n 's/^Set-Cookie: \(sid=[^;]*\).*/\1/p')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $admin" "$base/api/admin/users")" = 200 ] ||
    { echo "the administrator is not in"; exit 1; }

echo "10,002 accounts; wrk -t2 -c32, ${seconds} s each"
echo "| request | req/s | p99 |"
echo "| --- | --- | --- |"
measure "GET /api/user (for scale)" "$port" /api/user "$admin"
measure "GET /api/admin/users (first 50)" "$port" /api/admin/users "$admin"
measure "GET /api/admin/users?query=user99 (search)" "$port" "/api/admin/users?query=user99" "$admin"
measure "GET /api/admin/users?offset=9950 (last page)" "$port" "/api/admin/users?offset=9950" "$admin"
measure "GET /api/admin/audit (100 events)" "$port" /api/admin/audit "$admin"
# Sign-ins (cost 4; "flood" has a real hash, the seeded accounts do not)
# alone, then while an administrator searches without pause: the search
# runs on the read-only connection, the sign-in's write on the writer.
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"flood","password":"$password"}'
LUA
login() {
    wrk -t1 -c8 -d"${seconds}s" --latency -s "$work/login.lua" "$base/api/login" | wrk_row "$1"
}
echo
echo "| POST /api/login, cost 4 | req/s | p99 |"
echo "| --- | --- | --- |"
login "alone"
wrk -t1 -c2 -d"$((seconds + 1))s" -H "Cookie: $admin" "$base/api/admin/users?query=user99" >/dev/null &
sleep 0.5
login "while /api/admin/users?query=user99 runs on 2 connections"
wait
echo
echo "| page file | bytes | gzip -9 |"
echo "| --- | --- | --- |"
for file in admin admin.js admin.css register register.js; do
    curl -sf "$base/$file" >"$work/page"
    echo "| /$file | $(wc -c <"$work/page") | $(gzip -9c "$work/page" | wc -c) |"
done
