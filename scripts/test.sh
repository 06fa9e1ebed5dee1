#!/usr/bin/env bash
# Sets up a fresh machine, then runs every check CI runs: formatting, lints,
# and the whole test suite (unit tests and integration tests that drive the
# real adapter against real BEAM VMs).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
