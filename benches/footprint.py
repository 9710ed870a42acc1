#!/usr/bin/env python3
"""Footprint of the release binary: size, time to the `listening` line, idle
resident memory, and memory per live session at 10k and 100k sessions.

    cargo build --release && python3 benches/footprint.py

Only the standard library; talks HTTP on 127.0.0.1. Figures go in
BENCHMARKS.md.
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/auth-server"
PASSWORD = "correct horse battery staple"


def start(directory, **settings):
    env = {"HOST": "127.0.0.1", "PORT": "0", "DATABASE_PATH": os.path.join(directory, "auth.db")}
    env.update({k: str(v) for k, v in settings.items()})
    began = time.perf_counter()
    process = subprocess.Popen([BINARY], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    elapsed = time.perf_counter() - began
    port = int(line.rsplit(":", 1)[1])
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, port, elapsed


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def post_many(port, path, bodies, threads=4):
    """POSTs each body (keep-alive, a few threads); returns the statuses."""
    statuses = []
    lock = threading.Lock()

    def worker(chunk):
        connection = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        for body in chunk:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append(response.status)
        with lock:
            statuses.extend(mine)

    chunks = [bodies[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


def main():
    print(f"binary: {BINARY}, {os.path.getsize(BINARY) / 1e6:.2f} MB ({os.path.getsize(BINARY)} bytes)")

    with tempfile.TemporaryDirectory() as directory:
        times = []
        for _ in range(20):
            process, _, elapsed = start(directory)
            times.append(elapsed)
            process.terminate()
            process.wait()
        print(f"start to 'listening' line: median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms over 20 starts (database already created)")

    with tempfile.TemporaryDirectory() as directory:
        process, port, _ = start(directory)
        time.sleep(2)  # the dummy hash is made in the background at start
        print(f"idle RSS (defaults, BCRYPT_COST=12): {rss_kib(process.pid) / 1024:.1f} MiB")
        process.terminate()
        process.wait()

    with tempfile.TemporaryDirectory() as directory:
        users = 5000
        process, port, _ = start(directory, BCRYPT_COST=4, REGISTRATIONS_PER_HOUR=0)
        registrations = [json.dumps({"username": f"user{i}", "email": f"user{i}@example.com", "password": PASSWORD})
                         for i in range(users)]
        assert set(post_many(port, "/api/register", registrations)) == {201}
        logins = lambda count, offset: [json.dumps({"username": f"user{(offset + i) % users}", "password": PASSWORD})
                                        for i in range(count)]
        # Warm up allocator and caches with a first round of logins, ended by
        # logging out, then measure from there.
        post_many(port, "/api/login", logins(2000, 0))
        baseline = rss_kib(process.pid)
        live = 2000
        for target in (10_000, 100_000):
            assert set(post_many(port, "/api/login", logins(target - live, live))) == {200}
            live = target
            grown = rss_kib(process.pid) - baseline
            print(f"{target:>7} sessions: RSS {rss_kib(process.pid) / 1024:.1f} MiB, "
                  f"{grown * 1024 / (target - 2000):.0f} bytes per session over the first 2,000")
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
