#!/usr/bin/env python3
"""Userinfo beside GET /api/user on one server, in one run: the same wrk
(-t1 -c8, 5 s each, twice in turn) on the two hot paths a token and a
session cookie take, with the server's CPU per request. Uses the peers'
flow.py (PEERS/oidc_provider) for the code flow that yields the token.
Loopback only, bounded.

    python3 benches/userinfo.py PEERS BINARY
"""
import os, re, subprocess, sys, tempfile, time

import requests

PEERS, BIN = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(PEERS, "oidc_provider"))
import flow  # noqa: E402

port = 18571
base = f"http://127.0.0.1:{port}"
work = tempfile.mkdtemp()
env = dict(os.environ, PORT=str(port), HOST="127.0.0.1", DATABASE_PATH=work + "/a.db",
           BCRYPT_COST="4", REGISTRATIONS_PER_HOUR="0", PUBLIC_URL=base)
server = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    time.sleep(0.5)
    out = subprocess.run([BIN, "admin", "oidc-client", "add", "bench", "--redirect-uri", flow.REDIRECT_URI],
                         env=env, capture_output=True, text=True, check=True).stdout
    client_id = re.search(r"client_id:\s*(\S+)", out).group(1)
    secret = re.search(r"client_secret:\s*(\S+)", out).group(1)
    password = "alice password 123"
    requests.post(base + "/api/register", json={"username": "alice", "email": "alice@example.com", "password": password})
    browser = requests.Session()
    assert browser.post(base + "/api/login", json={"username": "alice", "password": password}).status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    token = flow.code_flow(base, client_id, secret, "RS256", session=browser, scope="openid profile email")["access_token"]

    def cpu():
        fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def load(path, header):
        before = cpu()
        out = subprocess.run(["wrk", "-t1", "-c8", "-d5s", "-H", header, base + path],
                             capture_output=True, text=True, check=True).stdout
        total = int(re.search(r"(\d+) requests in", out).group(1))
        assert "Non-2xx" not in out, out
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1000 * (cpu() - before) / total

    rates = {"/oauth2/userinfo": [], "/api/user": []}
    for _ in range(2):
        for path, header in (("/oauth2/userinfo", f"Authorization: Bearer {token}"), ("/api/user", f"Cookie: {cookie}")):
            rps, ms = load(path, header)
            rates[path].append(rps)
            print(f"{path}: {rps:.0f} req/s; server CPU {ms:.4f} ms each")
    userinfo, user = (sum(r) / len(r) for r in rates.values())
    print(f"userinfo / GET /api/user: {100 * userinfo / user:.0f} % (means of two runs each)")
finally:
    server.terminate()
    server.wait(10)
