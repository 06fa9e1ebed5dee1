#!/usr/bin/env bash
# Sets up a fresh machine, then runs every check CI runs: formatting, lints,
# and the whole test suite (unit tests and integration tests that drive the
# real adapter against real BEAM VMs) on each BEAM in turn: the machine's own,
# then Debian trixie's (Elixir 1.18 / OTP 27) and sid's (Elixir 1.20 / OTP 29)
# in chroots (scripts/beam-chroot.sh makes them once and keeps them), sid's with
# every launch on the interpreter, then sid's again with every launch on the
# native debugger backend (sid-native: OTP 28+'s erl_debugger, issue 20, which
# `debugBackend` "auto" picks there). The BEAMs run one after another: each suite already
# runs its tests in parallel.
#
# Then, after the BEAMs, the editors, each a step of its own on the machine's
# BEAM: VS Code (scripts/test-vscode.sh: the extension in code-server, driven
# by Chromium; its npm installs are cached in /var/cache/elixir-dap/npm) and
# Emacs dap-mode (scripts/test-emacs.sh, emacs --batch).
#
# ELIXIR_DAP_BEAMS chooses the BEAMs (default "host trixie sid sid-native"), e.g.
#   ELIXIR_DAP_BEAMS=host scripts/test.sh
# scripts/test-beam.sh runs the suite on one BEAM. ELIXIR_DAP_EDITORS chooses
# the editors (default "vscode emacs"; empty for none).
#
# Ends with one line per BEAM and per editor (counts, wall time) and the
# total, `N passed, N failed`, alone on the last line; exits non-zero if any
# test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

export ELIXIR_DAP_BEAMS=${ELIXIR_DAP_BEAMS:-host trixie sid sid-native}
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
# A BEAM's run stops on an interrupt (it unmounts what it mounted): stop here too.
trap 'echo "test: interrupted" >&2; exit 130' INT TERM
status=0
for beam in $ELIXIR_DAP_BEAMS; do
  echo "== BEAM $beam"
  beam_started=$SECONDS
  beam_status=0
  ELIXIR_DAP_SUMMARY=$summary scripts/test-beam.sh "$beam" || beam_status=$?
  if [ "$beam_status" -ne 0 ]; then status=1; fi
  if ! grep -q "^BEAM $beam " "$summary"; then
    echo "BEAM $beam: did not run (exit status $beam_status after $((SECONDS - beam_started)) s; see above): 0 passed, 1 failed" >>"$summary"
  fi
done

# The editors: each script ends with `N passed, N failed`.
for editor in ${ELIXIR_DAP_EDITORS-vscode emacs}; do
  echo "== Editor $editor"
  editor_started=$SECONDS
  editor_log=$(mktemp)
  editor_status=0
  scripts/test-"$editor".sh 2>&1 | tee "$editor_log" || editor_status=$?
  took=$((SECONDS - editor_started))
  counts=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 passed, \2 failed/p' "$editor_log" | tail -n 1)
  rm -f "$editor_log"
  if [ "$editor_status" -ne 0 ]; then status=1; fi
  if [ -z "$counts" ]; then counts="0 passed, 1 failed (exit status $editor_status)"; fi
  echo "EDITOR $editor: $counts in $((took / 60))m$(printf %02d $((took % 60)))s" >>"$summary"
done

echo
echo "== Summary"
cat "$summary"
read -r passed failed < <(sed -nE 's/^(BEAM|EDITOR) .*: ([0-9]+) passed, ([0-9]+) failed.*/\2 \3/p' "$summary" |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
elapsed=$((SECONDS - started))
echo "CI wall time $((elapsed / 60))m$(printf %02d $((elapsed % 60)))s (setup, fmt, clippy, every BEAM and the editors)"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
