#!/usr/bin/env bash
# Installs what elixir-dap needs on a fresh Debian machine, and nothing that is
# already there: Erlang/OTP with the debugger app and its sources (the
# debugger's modules are interpreted from source) and EUnit (the agent's
# tests), Elixir, and python3 for the
# demo client and scripts/test-beam.sh, and vim-tiny for the watcher's editor
# tests; debootstrap when $ELIXIR_DAP_BEAMS (scripts/test.sh: default
# "host trixie sid sid-native") names a BEAM that runs in a Debian chroot. Rust (cargo) must
# already be installed.
set -euo pipefail

packages=(erlang-base erlang-debugger erlang-eunit erlang-src erlang-dev erlang-syntax-tools
          erlang-parsetools erlang-tools erlang-crypto elixir python3)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# The watcher's tests save files with a real Vim.
if ! command -v vim >/dev/null && ! command -v vim.tiny >/dev/null; then
  missing+=(vim-tiny)
fi

# scripts/beam-chroot.sh makes the chroots of the newer BEAMs.
case " ${ELIXIR_DAP_BEAMS:-} " in
  *" trixie "*|*" sid "*|*" sid-native "*)
    dpkg-query -W -f='${Status}' debootstrap 2>/dev/null | grep -q "install ok installed" ||
      missing+=(debootstrap) ;;
esac

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust (rustup) first" >&2; exit 1; }
command -v elixir >/dev/null || { echo "setup: elixir still missing after apt-get" >&2; exit 1; }
echo "setup: $(elixir --version | tail -n 1), $(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().')"
