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

# Everything CI does.
ci:
    bash .ci/run

# Load benchmarks (needs wrk); figures go into BENCHMARKS.md.
bench:
    bash benches/run.sh
