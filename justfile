# Vigil's everyday commands. `just --list` shows them.

# Run the server on the embedded default (SQLite + local storage in ./data).
run:
    tools/run

# Every test, with a throwaway PostgreSQL (what CI runs).
test *ARGS:
    tools/test {{ARGS}}

# Formatting and lints.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Apply migrations (or: just migrate status | down -n 1 | fresh) on $DATABASE_URL.
migrate *ARGS="up":
    cargo run --release --bin migration -- {{ARGS}}

# Benchmarks; results go to docs/benchmarks.md.
bench:
    tools/bench
