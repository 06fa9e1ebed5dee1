# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # beam_log and run_mark are the caller's; inside, dir and leaked_processes are for it
# Sourced by scripts/test-beam.sh and scripts/bench-beam.sh: how to run the
# workspace's binaries with one BEAM (the host's, or a Debian chroot's made by
# scripts/beam-chroot.sh), and how to clean up after them. Not run by itself.
#
# The caller sets, before calling these functions:
#   beam_log     the prefix of messages ("test-beam")
#   run_mark     NAME=VALUE put in the environment of everything started, so
#                that this run finds its own leftovers and never anyone
#                else's (other people may use the same chroot)
# and traps EXIT to call beam_stop_run_processes and beam_unmount.

mounted=()      # what this run mounted, in order

# Pids of the processes carrying this run's mark.
beam_run_pids() {
  { grep -lszxF "$run_mark" /proc/[0-9]*/environ || true; } | sed -E 's|^/proc/([0-9]+)/environ$|\1|'
}

leaked_processes=0

# Waits up to 10 s for processes this run started to exit by themselves (a VM
# ends shortly after its adapter), then names and kills those still there
# (counted in leaked_processes). $1 says when, for the message.
beam_stop_run_processes() {
  local why=$1 pids="" pid deadline=$((SECONDS + 10))
  while :; do
    pids=$(beam_run_pids)
    [ -z "$pids" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.2
  done
  echo "$beam_log: WARNING: processes this run started still run $why; killing them:" >&2
  for pid in $pids; do
    echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
  leaked_processes=$((leaked_processes + $(wc -w <<<"$pids")))
  deadline=$((SECONDS + 10))
  while [ -n "$(beam_run_pids)" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$beam_log: processes survived SIGKILL for 10 s: $(beam_run_pids | tr '\n' ' ')" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Unmounts what beam_setup mounted, last first.
beam_unmount() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    if ! umount "${mounted[i]}" 2>/dev/null; then
      echo "$beam_log: ${mounted[i]} is busy; detaching it (umount -l)" >&2
      umount -l "${mounted[i]}" || echo "$beam_log: could not unmount ${mounted[i]}" >&2
    fi
  done
}

# beam_setup BEAM ROOT TARGET_DIR ENV...: sets the array `inside`, the
# command prefix that runs a command with BEAM (host, trixie or sid) in a
# clean environment holding ENV... For a chroot (needs root): makes or
# reuses it, takes its lock on fd 9 (waiting up to 45 min for another run;
# every command started with it must close fd 9, `9>&-`, so that a leaked
# process cannot hold the lock), mounts proc and binds ROOT (the checkout)
# and TARGET_DIR at their own paths, so that binaries built on the host find
# their files by the same absolute paths; sets `dir` to the chroot.
beam_setup() {
  local beam=$1 root=$2 target_dir=$3 chroot_dir
  shift 3
  if [ "$beam" = host ]; then
    inside=(env -i HOME="$HOME" PATH="$PATH" TMPDIR="${TMPDIR:-/tmp}" "$@")
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { echo "$beam_log: a chroot BEAM needs root (chroot, mount)" >&2; exit 1; }
  chroot_dir=$(scripts/beam-chroot.sh "$beam")
  exec 9>"$(dirname "$chroot_dir")/$beam.lock"
  if ! flock -n 9; then
    echo "$beam_log: another run is using the $beam chroot; waiting for it (at most 45 min)" >&2
    flock -w 2700 9 || { echo "$beam_log: the $beam chroot is still in use after 45 min" >&2; exit 1; }
  fi
  dir=$(realpath "$chroot_dir")
  beam_bind proc /proc -t proc
  beam_bind "$root" "$root" --bind
  case "$target_dir/" in
    "$root"/*) ;;
    *) beam_bind "$target_dir" "$target_dir" --bind ;;
  esac
  inside=(chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin TMPDIR=/tmp "$@")
}

# beam_bind SOURCE PATH MOUNT-OPTIONS...: mounts SOURCE at PATH inside the
# chroot `dir`, recorded for beam_unmount.
beam_bind() {
  local target="$dir$2"
  mkdir -p "$target"
  mount "${@:3}" "$1" "$target"
  mounted+=("$target")
}
