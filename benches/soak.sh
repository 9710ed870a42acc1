#!/usr/bin/env bash
# Memory over time under a steady mix: 30 accounts; 3 clients
# each repeating a cycle of login, dashboard, logout and a password-reset
# mail (MAIL_COMMAND discards it); 16 wrk connections reading GET /api/user
# the whole time. RSS (and the heap's share, from smaps_rollup) is sampled
# every 30 s; the slope over the second half is the verdict.
#
#   cargo build --release && bash benches/soak.sh MINUTES [binary]
#
# BCRYPT_COST=4, so the cycles are many (about 90 a second here) and
# memory, not bcrypt, is what is measured. Needs wrk and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:?usage: benches/soak.sh MINUTES [binary]}
binary=${2:-target/release/auth-server}
source benches/lib.sh
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

port=18731
server_binary=$binary start_server $port \
    PUBLIC_URL=http://127.0.0.1:$port MAIL_COMMAND='cat > /dev/null' \
    PASSWORD_RESETS_PER_HOUR=1000000 REGISTRATIONS_PER_HOUR=0 LOGIN_FAILURES_PER_IP=1000000
pid=${pids[-1]}
cookie=$(session_cookie $port)

# The cycling clients, in the background for the whole run.
python3 - "$port" "$minutes" <<'PY' &
import http.client, json, sys, threading, time
port, minutes = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + minutes * 60
password = "correct horse battery staple"
def call(method, path, body=None, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if cookie: headers["Cookie"] = cookie
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse(); r.read(); c.close()
    return r
for n in range(30):
    call("POST", "/api/register", {"username": f"soak{n}", "email": f"soak{n}@example.com", "password": password})
cycles = [0, 0, 0]
def client(k):
    n = k
    while time.time() < end:
        name = f"soak{n % 30}"; n += 3
        r = call("POST", "/api/login", {"username": name, "password": password})
        cookie = (r.getheader("Set-Cookie") or "").split(";")[0]
        call("GET", "/api/dashboard", cookie=cookie)
        call("POST", "/api/logout", {}, cookie=cookie)
        call("POST", "/api/password/forgot", {"email": f"{name}@example.com"})
        cycles[k] += 1
threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(f"cycles: {sum(cycles)}", file=sys.stderr)
PY
pids+=($!)
wrk -t2 -c16 -d"$((minutes * 60))s" -H "Cookie: $cookie" "http://127.0.0.1:$port/api/user" >"$work/wrk.txt" &
pids+=($!)

printf '| minute | RSS KiB | anonymous KiB |\n| --- | --- | --- |\n'
samples=$((minutes * 2))
: >"$work/samples"
for i in $(seq 0 "$samples"); do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    anon=$(awk '/^Anonymous/ {print $2}' "/proc/$pid/smaps_rollup")
    printf '| %s | %s | %s |\n' "$(awk "BEGIN {print $i / 2}")" "$rss" "$anon"
    echo "$i $rss" >>"$work/samples"
    [ "$i" -lt "$samples" ] && sleep 30
done
wait "${pids[-1]}" 2>/dev/null || true
echo
grep -E "Requests/sec" "$work/wrk.txt" | sed 's/^/GET \/api\/user /'
# Least-squares slope of RSS over the second half of the samples, per minute.
awk -v half=$((samples / 2)) '$1 >= half { n++; x = $1 / 2; sx += x; sy += $2; sxx += x * x; sxy += x * $2 }
    END { slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
          printf "RSS slope over the second half: %.1f KiB/min (%d samples)\n", slope, n }' "$work/samples"
