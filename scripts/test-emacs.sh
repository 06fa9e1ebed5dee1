#!/usr/bin/env bash
# Tests elixir-dap from Emacs dap-mode, headless: Debian's elpa-dap-mode in
# `emacs --batch`, editors/emacs/elixir-dap.el loaded as a user would, on a
# copy of examples/shop: launch, stop at a breakpoint, the stack, reload on
# save (the codeReloaded event), the new code running, disconnect
# (editors/emacs/test/elixir-dap-test.el, ERT).
#
# Installs emacs-nox and elpa-dap-mode when missing; builds the adapter
# (cargo build) unless ELIXIR_DAP_ADAPTER names one. Keeps the adapter's log
# in <target>/emacs-test/. Ends with `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
artifacts=$target/emacs-test
started=$SECONDS

missing=()
for package in emacs-nox elpa-dap-mode; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-emacs: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
ELIXIR_DAP_BEAMS=host scripts/setup.sh >/dev/null

adapter=${ELIXIR_DAP_ADAPTER:-}
if [ -z "$adapter" ]; then
  cargo build --quiet --bin elixir-dap
  adapter=$target/debug/elixir-dap
fi

rm -rf "$artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d /tmp/elixir-dap-emacs.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r examples/shop "$work/shop"
rm -rf "$work/shop/_build" "$work/shop/deps"

status=0
# A HOME of its own: nothing of the user's Emacs configuration is read or written.
HOME=$work ELIXIR_DAP_PROGRAM=$adapter ELIXIR_DAP_SHOP=$work/shop ELIXIR_DAP_LOG=$artifacts/adapter.log \
  MIX_HOME=${MIX_HOME:-$HOME/.mix} XDG_CACHE_HOME=${XDG_CACHE_HOME:-$HOME/.cache} \
  timeout 600 emacs --batch -l editors/emacs/test/elixir-dap-test.el -f ert-run-tests-batch-and-exit \
  >"$artifacts/emacs.log" 2>&1 || status=$?
grep -E "^elixir-dap-test:|^elixir-dap:|Ran [0-9]+ test|passed|FAILED|failed|Test .* condition" "$artifacts/emacs.log" | head -n 60 || true
if [ "$status" -ne 0 ]; then
  echo "test-emacs: emacs exited with status $status; the whole log: $artifacts/emacs.log" >&2
  tail -n 40 "$artifacts/emacs.log" >&2
fi
ran=$(sed -nE 's/^Ran ([0-9]+) tests?, ([0-9]+) results? as expected.*/\1 \2/p' "$artifacts/emacs.log" | tail -n 1)
read -r total expected <<<"${ran:-1 0}"
echo "test-emacs: done in $((SECONDS - started)) s"
echo "$expected passed, $((total - expected)) failed"
[ "$status" -eq 0 ] && [ "$expected" -eq "$total" ]
