#!/usr/bin/env python3
"""Signing in through an upstream provider, end to end on loopback: a second
auth-server is the provider, this one the relying party, and this script the
browser (three requests a sign-in: the start, the provider's authorize with
its session, the callback). It reports sign-ins a second, one at a time and
with four browsers at once, and the relying party's memory after; beside it,
password sign-ins at the same BCRYPT_COST, so the two ways in are compared
in one run. Only the standard library.

    python3 benches/upstream.py [binary] [seconds]
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/auth-server"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, target, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, target, body=body, headers=headers or {})
    reply = connection.getresponse()
    data = reply.read()
    connection.close()
    return reply, data


def cookie(reply, name):
    for header, value in reply.getheaders():
        if header.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0]
    raise RuntimeError(f"no {name} cookie")


def start(port, directory, env):
    full = {"HOST": "127.0.0.1", "PORT": str(port), "DATABASE_PATH": f"{directory}/auth.db",
            "BCRYPT_COST": "4", "LOGIN_FAILURES_PER_IP": "1000000", "REGISTRATIONS_PER_HOUR": "0", **env}
    child = subprocess.Popen([BINARY], env=full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    child.stdout.readline()
    return child


def admin(directory, env, args, stdin=""):
    full = {"DATABASE_PATH": f"{directory}/auth.db", "BCRYPT_COST": "4", **env}
    return subprocess.run([BINARY, "admin", *args], env=full, input=stdin, capture_output=True, text=True, check=True).stdout


def main():
    work = tempfile.mkdtemp()
    idp_port, rp_port = free_port(), free_port()
    idp_url, rp_url = f"http://127.0.0.1:{idp_port}", f"http://127.0.0.1:{rp_port}"
    os.makedirs(f"{work}/idp"), os.makedirs(f"{work}/rp")
    idp = start(idp_port, f"{work}/idp", {"PUBLIC_URL": idp_url})
    out = admin(f"{work}/idp", {"PUBLIC_URL": idp_url},
                ["oidc-client", "add", "rp", "--redirect-uri", f"{rp_url}/auth/upstream/idp/callback"])
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    rp = start(rp_port, f"{work}/rp", {"PUBLIC_URL": rp_url})
    admin(f"{work}/rp", {"PUBLIC_URL": rp_url},
          ["upstream", "add", "idp", "--issuer", idp_url, "--client-id", fields["client_id"], "--create-accounts"],
          fields["client_secret"] + "\n")
    json_type = {"Content-Type": "application/json"}
    # alice signs in at the provider (her account here comes from it); bob
    # has a password here.
    for port, name in ((idp_port, "alice"), (rp_port, "bob")):
        body = json.dumps({"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        request(port, "POST", "/api/register", json_type, body)
    admin(f"{work}/idp", {}, ["verify", "alice"])
    reply, _ = request(idp_port, "POST", "/api/login", json_type, json.dumps({"username": "alice", "password": PASSWORD}))
    idp_session = cookie(reply, "sid")
    login = json.dumps({"username": "bob", "password": PASSWORD})

    def upstream_sign_in():
        reply, _ = request(rp_port, "GET", "/auth/upstream/idp")
        state = cookie(reply, "upstream_state")
        location = urllib.parse.urlsplit(reply.getheader("Location"))
        reply, _ = request(idp_port, "GET", f"{location.path}?{location.query}", {"Cookie": idp_session})
        back = urllib.parse.urlsplit(reply.getheader("Location"))
        reply, _ = request(rp_port, "GET", f"{back.path}?{back.query}", {"Cookie": state})
        assert reply.status == 302 and "sid=" in (reply.getheader("Set-Cookie") or ""), reply.getheader("Location")

    def password_sign_in():
        reply, _ = request(rp_port, "POST", "/api/login", json_type, login)
        assert reply.status == 200, reply.status

    upstream_sign_in()  # the first fetches discovery and keys; the rest use them
    print("| way in | browsers | sign-ins/s | ms each |")
    print("| --- | --- | --- | --- |")
    for name, flow in (("upstream (3 requests)", upstream_sign_in), ("password (bcrypt 4)", password_sign_in)):
        for browsers in (1, 4):
            done = [0] * browsers
            deadline = time.monotonic() + SECONDS

            def browse(i):
                while time.monotonic() < deadline:
                    flow()
                    done[i] += 1

            threads = [threading.Thread(target=browse, args=(i,)) for i in range(browsers)]
            began = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.monotonic() - began
            rate = sum(done) / took
            print(f"| {name} | {browsers} | {rate:,.0f} | {1000 * browsers / rate:.1f} |")
    with open(f"/proc/{rp.pid}/status") as status:
        rss = next(line.split()[1] for line in status if line.startswith("VmRSS"))
    print(f"\nrelying party's RSS after: {int(rss) / 1024:.1f} MiB")
    for child in (rp, idp):
        child.terminate()
        child.wait()


main()
