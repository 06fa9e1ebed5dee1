#!/usr/bin/env bash
# Makes (or reuses) a Debian chroot holding a newer BEAM for the test suite:
#   trixie  Elixir 1.18 / OTP 27
#   sid     Elixir 1.20 / OTP 29
# Usage: scripts/beam-chroot.sh SUITE   prints the chroot's directory on stdout.
# Needs root (debootstrap, chroot) and debootstrap (scripts/setup.sh installs it
# when ELIXIR_DAP_BEAMS names a chroot).
#
# The chroot is made with `debootstrap --variant=minbase` from the mirror this
# machine's own apt sources name (never a host written here), and kept under
# $ELIXIR_DAP_CHROOT_CACHE (default /var/cache/elixir-dap/chroots) so later runs
# on the same machine reuse it. A chroot is only reused once it is complete: the
# marker file is written last. One lock per suite ($cache/SUITE.lock, also held by
# scripts/test-beam.sh while it runs tests inside) keeps two runs from making or
# using the same chroot at once.
set -euo pipefail

suite=${1:?usage: beam-chroot.sh trixie|sid}
case "$suite" in
  trixie|sid) ;;
  *) echo "beam-chroot: unknown suite '$suite' (expected trixie or sid)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "beam-chroot: needs root (debootstrap and chroot)" >&2; exit 1; }

cache=${ELIXIR_DAP_CHROOT_CACHE:-/var/cache/elixir-dap/chroots}
dir="$cache/$suite"
marker="$dir/.elixir-dap-ready"
# What the suite needs inside: the BEAM with the debugger app and its sources
# and EUnit (the agent's tests, crates/beam/tests/agent_erlang.rs),
# Elixir, and what the tests call (vim for the watcher's editor test, procps,
# python3 for the demo's test). The marker holds this list: a chroot made with
# another list gets the missing packages installed.
packages=elixir,erlang-debugger,erlang-dev,erlang-eunit,erlang-src,erlang-parsetools,erlang-syntax-tools,erlang-tools,vim-tiny,procps,ca-certificates,python3

mkdir -p "$cache"
# fd 9 holds the lock; what runs in the chroot closes it (9>&-) so that nothing
# started there keeps the lock.
exec 9>"$cache/$suite.lock"
if ! flock -n 9; then
  echo "beam-chroot: another run holds $cache/$suite.lock; waiting for it (at most 30 min)" >&2
  flock -w 1800 9 || { echo "beam-chroot: $cache/$suite.lock still held after 30 min" >&2; exit 1; }
fi

if [ -f "$marker" ]; then
  if [ "$(cat "$marker")" != "$packages" ]; then
    echo "beam-chroot: installing into $dir what it lacks of: $packages" >&2
    # The mirror may serve a dated snapshot whose Release file is past its
    # Valid-Until: accept it, as debootstrap did.
    { chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get -o Acquire::Check-Valid-Until=false update -qq &&
      chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends ${packages//,/ }; } >>"$cache/$suite.log" 2>&1 9>&- || {
      echo "beam-chroot: apt-get inside $dir failed; see $cache/$suite.log" >&2
      exit 1
    }
    echo "$packages" >"$marker"
  fi
  echo "$dir"
  exit 0
fi

# Never delete through a mount: a run interrupted before it unmounted would
# leave the checkout bound inside, and `rm -rf` would follow it.
mounts=$(findmnt -rn -o TARGET | grep -F "$dir/" || true)
if [ -n "$mounts" ]; then
  echo "beam-chroot: something is still mounted under $dir; unmount it first:" >&2
  echo "$mounts" >&2
  exit 1
fi

# The mirror the machine already uses for Debian (deb822 `URIs:` or one-line
# `deb [options] URI`).
mirror=$(
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk '{print $2}'
  } | grep -E '/debian/?$' | head -n 1
) || true
[ -n "$mirror" ] || { echo "beam-chroot: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }

command -v debootstrap >/dev/null || {
  echo "beam-chroot: debootstrap is missing: run ELIXIR_DAP_BEAMS=$suite scripts/setup.sh" >&2
  exit 1
}

rm -rf "$dir"
log="$cache/$suite.log"
echo "beam-chroot: debootstrap $suite into $dir (a few minutes, once per machine; log in $log)" >&2
# erlang-debugger's GUI dependencies can fail to configure in a minimal chroot;
# `apt-get -f install` below repairs them (:int itself works either way).
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$log" 2>&1 9>&-; then
  echo "beam-chroot: debootstrap reported a failure; repairing with apt-get -f install" >&2
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>"$log" 2>&1 9>&- ||
    echo "beam-chroot: apt-get -f install failed too; checking whether the BEAM works anyway" >&2
fi
chroot "$dir" /usr/bin/apt-get clean >>"$log" 2>&1 9>&- || true
# minbase writes no /etc/hosts: let `localhost` resolve inside.
[ -f "$dir/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"

chroot "$dir" /usr/bin/env LANG=C.UTF-8 /usr/bin/elixir --version >/dev/null 2>&1 9>&- || {
  echo "beam-chroot: elixir does not run inside $dir; see $log" >&2
  exit 1
}
chroot "$dir" /usr/bin/erl -noshell -eval 'case code:which(int) of non_existing -> halt(1); _ -> halt(0) end.' 9>&- || {
  echo "beam-chroot: the debugger application (:int) is missing inside $dir; see $log" >&2
  exit 1
}
echo "$packages" >"$marker"
echo "$dir"
