#!/usr/bin/env bash
# Runs the whole test suite on one BEAM:
#   host    the machine's own Elixir / OTP
#   trixie  Elixir 1.18 / OTP 27, in a Debian chroot made by scripts/beam-chroot.sh
#   sid     Elixir 1.20 / OTP 29, likewise, every launch on the interpreter
#           (ELIXIR_DAP_TEST_BACKEND=interpreter: each launch that names no
#           `debugBackend` gets "interpreter", where `auto` would pick native;
#           see tests/support/mod.rs)
#   sid-native  the sid BEAM, every launch on the native debugger backend
#           (ELIXIR_DAP_TEST_BACKEND=native, likewise)
# On host and trixie launches keep the default, `auto` (the interpreter there).
# Usage: scripts/test-beam.sh host|trixie|sid|sid-native [TEST-ARGS...]
#   TEST-ARGS go to every test binary, as after `cargo test --`: a name filter,
#   `--test-threads N`, `--nocapture`...
#
# How: the tests are built once, on the host (`cargo test --no-run`), and their
# binaries run as they are, on the host or inside the chroot (they are built
# against the host's older glibc, so the newer one inside runs them). The
# checkout and the target directory are bound inside at the same paths, since the
# tests find the adapter (CARGO_BIN_EXE_*) and the fixtures (CARGO_MANIFEST_DIR)
# by absolute paths fixed at build time. Nothing inside runs cargo or rustc (the
# bench's test is pointed at the built adapter with ELIXIR_DAP_ADAPTER), so the
# toolchain is not bound and the chroot needs no linker. Doctests compile with
# the host's toolchain and start no BEAM: they run with the host BEAM only.
# Everything mounted is unmounted on exit, failure or interrupt, and processes
# the tests left running (found by a mark in their environment) are reported
# and killed first.
#
# Prints each test binary's output (also kept in <target>/test-beam/BEAM/), then
#   BEAM trixie (Elixir 1.18.3 / OTP 27.3.4): 312 passed, 0 failed (1 ignored) in 6m02s
# with the failed and ignored tests listed under it, and, when run alone, the line
# `N passed, N failed` that CI reads. scripts/test.sh sets ELIXIR_DAP_SUMMARY to a
# file: the summary is appended there instead of that last line.
# Exits non-zero when a test failed or a binary could not run.
#
# Needs root for a chroot BEAM (chroot, mount). ELIXIR_DAP_TEST_TIMEOUT (seconds,
# default 1200) bounds each test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage="usage: scripts/test-beam.sh host|trixie|sid|sid-native [TEST-ARGS...]"
beam=${1:?$usage}
shift
test_args=("$@")
# What the summary and the log directory call the run: the BEAM, and the
# backend when it is not the default.
label=$beam
case "$beam" in
  host|trixie) ;;
  # On OTP 28+ `auto` (the default) picks the native backend: `sid` keeps the
  # interpreter's run by naming it, `sid-native` names native.
  sid) export ELIXIR_DAP_TEST_BACKEND=interpreter ;;
  sid-native) beam=sid; export ELIXIR_DAP_TEST_BACKEND=native ;;
  *) echo "test-beam: unknown BEAM '$beam'; $usage" >&2; exit 2 ;;
esac
binary_timeout=${ELIXIR_DAP_TEST_TIMEOUT:-1200}
started=$SECONDS

work=$(mktemp -d)
dir=""          # the chroot, once set up
child=""        # the test binary running now, under `timeout`, in its own process group
tail_pid=""

# Every process this run starts carries this mark in its environment (the
# adapter and the VMs inherit it): see scripts/beam-run.sh.
beam_log="test-beam"
run_mark="ELIXIR_DAP_TEST_RUN=$beam-$$-$RANDOM$RANDOM"
# shellcheck source=scripts/beam-run.sh
. scripts/beam-run.sh

cleanup() {
  local status=$?
  set +e
  # Finish the cleanup even if another signal comes.
  trap - EXIT
  trap '' INT TERM HUP
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    echo "test-beam: stopping the test binary (pid $child)" >&2
    kill -KILL -- "-$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  beam_stop_run_processes "at exit"
  beam_unmount
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# 1. Build on the host, and list the test binaries: "executable<TAB>package
#    directory (cargo runs tests there)<TAB>source".
echo "test-beam: building the tests on the host" >&2
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics >"$work/build.json"
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
python3 - "$work/build.json" "$root" "$work/adapter" >"$work/plan" <<'EOF'
import json, os, sys
build, root, adapter_file = sys.argv[1:]
tests, adapter = set(), None
for line in open(build):
    message = json.loads(line)
    if message.get("reason") != "compiler-artifact" or not message.get("executable"):
        continue
    target = message["target"]
    if message["profile"]["test"]:
        source = os.path.relpath(target["src_path"], root)
        tests.add((source, message["executable"], os.path.dirname(message["manifest_path"])))
    elif target["name"] == "elixir-dap" and "bin" in target["kind"]:
        adapter = message["executable"]
if adapter is None or not tests:
    sys.exit("test-beam: the build listed no elixir-dap binary or no test binary")
open(adapter_file, "w").write(adapter)
for source, executable, directory in sorted(tests):
    print(f"{executable}\t{directory}\t{source}")
EOF
adapter=$(cat "$work/adapter")

# 2. The BEAM: how to run a command with it, in a clean environment.
envs=(LANG=C.UTF-8 ELIXIR_DAP_ADAPTER="$adapter" "$run_mark")
# A BEAM of another version for the host's run (an attach to a node of it is
# refused: tests/attach): trixie's chroot, when the BEAMs to test name it
# (scripts/test.sh's default); made now if it is not there yet.
if [ "$beam" = host ] && [ "$(id -u)" -eq 0 ]; then
  case " ${ELIXIR_DAP_BEAMS:-} " in
    *" trixie "*) envs+=(ELIXIR_DAP_OTHER_BEAM="$(realpath "$(scripts/beam-chroot.sh trixie)")") ;;
  esac
fi
for name in RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS ELIXIR_DAP_TEST_BACKEND; do
  if [ -n "${!name:-}" ]; then envs+=("$name=${!name}"); fi
done
beam_setup "$beam" "$root" "$target_dir" "${envs[@]}"

elixir=$("${inside[@]}" elixir --version 9>&- | sed -n 's/^Elixir \([^ ]*\).*/\1/p')
otp=$("${inside[@]}" erl -noshell -eval '
  Release = erlang:system_info(otp_release),
  {ok, Version} = file:read_file(filename:join([code:root_dir(), "releases", Release, "OTP_VERSION"])),
  io:put_chars(string:trim(Version)), halt().' 9>&-)
version="Elixir $elixir / OTP $otp"
echo "test-beam: running the tests on $label ($version)" >&2

# 3. Each binary in turn (each runs its own tests in parallel), output shown as
#    it comes and kept in the log directory.
logs="$target_dir/test-beam/$label"
rm -rf "$logs"
mkdir -p "$logs"
passed=0 failed=0 ignored=0
failures=() skipped=()

# Counts the results a binary's log reports; a binary that stopped without
# reporting counts as one failure.
tally() {
  local source=$1 log=$2 status=$3 result name p f i
  result=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$log" |
    awk '{p += $1; f += $2; i += $3} END {if (NR) print p, f, i}')
  if [ -z "$result" ]; then
    failed=$((failed + 1))
    failures+=("$source: stopped with status $status before reporting results (see $log)")
    return
  fi
  read -r p f i <<<"$result"
  passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
  while IFS= read -r name; do
    failures+=("$source: $name")
  done < <(sed -nE 's/^test (.+) \.\.\. FAILED$/\1/p' "$log")
  while IFS= read -r name; do
    skipped+=("$source: $name")
  done < <(sed -nE 's/^test (.+) \.\.\. ignored, (.*)$/\1: \2/p; s/^test (.+) \.\.\. ignored$/\1: no reason given/p' "$log")
  if [ "$status" -eq 124 ]; then
    failed=$((failed + 1))
    failures+=("$source: still running after ${binary_timeout}s (ELIXIR_DAP_TEST_TIMEOUT), stopped")
  elif [ "$f" -eq 0 ] && [ "$status" -ne 0 ]; then
    failed=$((failed + 1))
    failures+=("$source: exited with status $status after reporting no failure (see $log)")
  fi
}

while IFS=$'\t' read -r executable directory source; do
  log="$logs/$(basename "$executable").log"
  echo "     Running $source ($executable)"
  : >"$log"
  # setsid: the binary gets a process group of its own (here, not a group
  # leader, setsid forks nothing: $! is that group); `timeout` signals the group.
  # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
  setsid timeout -k 10 "$binary_timeout" "${inside[@]}" /bin/sh -c 'cd "$1" && shift && exec "$@"' \
    sh "$directory" "$executable" "${test_args[@]}" </dev/null >"$log" 2>&1 9>&- &
  child=$!
  tail -n +1 -s 0.2 --pid="$child" -f "$log" &
  tail_pid=$!
  status=0
  wait "$child" || status=$?
  child=""
  if [ "$status" -eq 124 ]; then
    echo "test-beam: $source still running after ${binary_timeout}s (ELIXIR_DAP_TEST_TIMEOUT): stopped it" >&2
  fi
  wait "$tail_pid" || true
  tail_pid=""
  beam_stop_run_processes "after $source"
  tally "$source" "$log" "$status"
done <"$work/plan"

# 4. Doctests: host only (see above).
if [ "$beam" = host ]; then
  echo "   Doc-tests (cargo test --doc)"
  log="$logs/doctests.log"
  status=0
  cargo test --workspace --locked --doc -- "${test_args[@]}" >"$log" 2>&1 || status=$?
  cat "$log"
  tally doctests "$log" "$status"
else
  skipped+=("doctests: run with the host BEAM only (they start no BEAM and compile with the host's toolchain)")
fi

elapsed=$((SECONDS - started))
summary="BEAM $label ($version): $passed passed, $failed failed ($ignored ignored) in $((elapsed / 60))m$(printf %02d $((elapsed % 60)))s"
{
  echo "$summary"
  for line in "${failures[@]}"; do echo "  FAILED $line"; done
  for line in "${skipped[@]}"; do echo "  skipped $line"; done
  if [ "$leaked_processes" -gt 0 ]; then
    echo "  WARNING: the tests left $leaked_processes processes running (listed above)"
  fi
} >"$work/summary"
echo
cat "$work/summary"
if [ -n "${ELIXIR_DAP_SUMMARY:-}" ]; then
  cat "$work/summary" >>"$ELIXIR_DAP_SUMMARY"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
