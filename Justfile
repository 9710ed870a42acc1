# Recipes for everyday work; CI runs .ci/run, which is `lint` plus `test`.

# Start the server (port 8080, auth.db) with release optimisations.
run:
    cargo run --release

# The whole suite: unit tests and the integration tests against the binary.
test:
    cargo test

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# The Debian package, built and nothing else: target/debian/auth-server_*.deb,
# versioned by the commit (debian/version), so installing a later build
# upgrades (installs cargo-deb once). Installing it is yours: apt install ./target/debian/…
deb:
    command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
    cargo deb --deb-version "$(sh debian/version)"

# Everything CI does.
ci:
    bash .ci/run

# Load and footprint benchmarks (need wrk and curl); figures go into
# BENCHMARKS.md with the command and the machine.
bench:
    bash benches/http_layer.sh
    bash benches/throughput.sh
    bash benches/admission.sh
    bash benches/starvation.sh
    bash benches/sessions.sh
    bash benches/forward.sh
    bash benches/metrics.sh
    python3 benches/footprint.py
