#!/usr/bin/env bash
# The HTTP layer's speed ceiling: examples/hello.rs beside a tiny_http 0.12
# hello server with 4 workers (built in a scratch directory, never in this
# repository), alternated under wrk on loopback. Figures go in BENCHMARKS.md.
#
#   bash benches/http_layer.sh [seconds] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-2}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }

scratch=${SCRATCH:-${TMPDIR:-/tmp}/auth-server-bench-tiny-http}
mkdir -p "$scratch/src"
cat > "$scratch/Cargo.toml" <<'TOML'
[package]
name = "tiny-hello"
version = "0.1.0"
edition = "2021"
[dependencies]
tiny_http = "=0.12.0"
[profile.release]
lto = true
codegen-units = 1
TOML
cat > "$scratch/src/main.rs" <<'RUST'
use std::sync::Arc;
fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8082".into());
    let server = Arc::new(tiny_http::Server::http(format!("127.0.0.1:{port}")).unwrap());
    let json = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (server, json) = (Arc::clone(&server), json.clone());
            std::thread::spawn(move || loop {
                let request = server.recv().unwrap();
                let response = tiny_http::Response::from_string(r#"{"hello":"world"}"#).with_header(json.clone());
                let _ = request.respond(response);
            })
        })
        .collect();
    println!("listening on http://127.0.0.1:{port}");
    for w in workers { w.join().unwrap(); }
}
RUST
(cd "$scratch" && cargo build --release -q)
cargo build --release -q --example hello

PORT=18081 target/release/examples/hello >/dev/null &
ours=$!
PORT=18082 "$scratch/target/release/tiny-hello" >/dev/null &
theirs=$!
trap 'kill $ours $theirs 2>/dev/null' EXIT
sleep 0.5

run() { # name port connections
    local out rps p99
    out=$(wrk -t2 -c"$3" -d"${seconds}s" --latency "http://127.0.0.1:$2/" 2>&1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr '\n' ' ' || true)
    printf '| %-22s | %4s | %10s | %8s | %s\n' "$1" "$3" "$rps" "$p99" "$errors"
}

echo "| server                 | conn |    req/s   |   p99    | errors"
for round in $(seq "$rounds"); do
    for c in 32 256; do
        run "auth-server http layer" 18081 "$c"
        run "tiny_http 0.12 (4 wkr)" 18082 "$c"
    done
done
