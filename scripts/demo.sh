#!/usr/bin/env bash
# Sets up a fresh machine, builds elixir-dap, and debugs the bundled example
# project (examples/shop) with a small scripted DAP client.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked -p elixir-dap
exec python3 scripts/demo.py "$@"
