#!/usr/bin/env bash
# Runs the benchmark (elixir-dap-bench, docs/benchmarks.md) on one BEAM:
#   host    the machine's own Elixir / OTP
#   trixie  Elixir 1.18 / OTP 27, in a Debian chroot made by scripts/beam-chroot.sh
#   sid     Elixir 1.20 / OTP 29, likewise (the BEAM the native debugger
#           backend, OTP 28+, is measured on)
# Usage: scripts/bench-beam.sh host|trixie|sid BENCH-ARGS...
#   BENCH-ARGS go to elixir-dap-bench as they are, e.g.
#   scripts/bench-beam.sh sid --sizes 2000 --reps 3 \
#     --only launch_to_first_breakpoint_vs_nodebug,reload_1_ms,interpreted_call_slowdown \
#     --work-dir target/bench-beam/sid --out target/bench-beam/sid.json
#
# How: as scripts/test-beam.sh runs the tests. The adapter and the bench are
# built once, on the host (`cargo build --release`), and run as they are,
# on the host or inside the chroot (built against the host's older glibc,
# they run with the newer one inside). The checkout and the target directory
# are bound inside at their own paths, so the bench finds the adapter next
# to itself; give --out and --work-dir under one of them (a relative path
# is taken from the checkout) to read the report on the host. A path
# elsewhere (/tmp/...) is the chroot's own, under its directory on the host.
# The chroot's lock is held for the run, so a test run on the same chroot
# waits for it (and this run for one in progress): the figures are not
# those of a machine running the tests twice. Everything mounted is
# unmounted on exit, failure or interrupt, and processes the run left (found
# by a mark in their environment) are named and killed.
#
# Needs root for a chroot BEAM (chroot, mount). Exits with the bench's status.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage="usage: scripts/bench-beam.sh host|trixie|sid BENCH-ARGS..."
beam=${1:?$usage}
shift
case "$beam" in
  host|trixie|sid) ;;
  *) echo "bench-beam: unknown BEAM '$beam'; $usage" >&2; exit 2 ;;
esac

# Every process this run starts carries this mark (see scripts/beam-run.sh).
beam_log="bench-beam"
run_mark="ELIXIR_DAP_BENCH_RUN=$beam-$$-$RANDOM$RANDOM"
# shellcheck source=scripts/beam-run.sh
. scripts/beam-run.sh
dir=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local status=$?
  set +e
  trap - EXIT
  trap '' INT TERM HUP
  beam_stop_run_processes "at exit"
  beam_unmount
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "bench-beam: building the adapter and the bench on the host (release)" >&2
cargo build --release --locked -p elixir-dap -p elixir-dap-bench
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bench="$target_dir/release/elixir-dap-bench"

envs=(LANG=C.UTF-8 "$run_mark")
for name in RUST_BACKTRACE RUST_LOG; do
  if [ -n "${!name:-}" ]; then envs+=("$name=${!name}"); fi
done
beam_setup "$beam" "$root" "$target_dir" "${envs[@]}"
if [ -n "$dir" ]; then
  echo "bench-beam: paths outside $root and $target_dir are the chroot's (under $dir)" >&2
fi

echo "bench-beam: running the bench on $beam; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
status=0
# shellcheck disable=SC2016 # $1 and $@ are the inner shell's
"${inside[@]}" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$root" "$bench" "$@" 9>&- || status=$?
echo "bench-beam: done on $beam (status $status); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
