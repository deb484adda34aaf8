#!/usr/bin/env bash
# A throwaway, real systemd: PID 1 of its own pid, mount and cgroup namespaces, holding
# only the units in UNITDIR (bind-mounted over /etc/systemd/system inside; the host's own
# /etc/systemd/system is never touched).
#
#   systemd.sh start UNITDIR [LOG]   boot it; prints "PID CGROUP" once it is running
#   systemd.sh stop PID CGROUP       kill it and everything it started; remove its cgroup
#   systemd.sh exec PID CMD...       run CMD inside it (what an operator's shell would be)
#
# Needs root, unshare and nsenter (util-linux) and systemd 252+. Commands reach the sandbox
# with `nsenter -t PID -m -p`: both namespaces, or systemd drops the client's connection.
# Each sandbox gets a cgroup of its own, so several can run at once without their
# system.slice colliding.
set -euo pipefail
SYSTEMD_BIN=${SYSTEMD_BIN:-/usr/lib/systemd/systemd}

cgroup2_root() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo /sys/fs/cgroup
  elif [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then echo /sys/fs/cgroup/unified
  else echo "systemd.sh: no cgroup2 hierarchy mounted under /sys/fs/cgroup" >&2; return 1
  fi
}

case "${1:-}" in
start)
  unitdir=$(realpath "${2:?usage: systemd.sh start UNITDIR [LOG]}")
  log=${3:-/dev/null}
  [ "$(id -u)" = 0 ] || { echo "systemd.sh: must run as root" >&2; exit 1; }
  [ -x "$SYSTEMD_BIN" ] || { echo "systemd.sh: $SYSTEMD_BIN not found (apt-get install systemd)" >&2; exit 1; }
  if [ ! -e "$unitdir/default.target" ]; then
    printf '[Unit]\nDescription=holdkit sandbox default target\n' >"$unitdir/default.target"
  fi
  cg="$(cgroup2_root)/holdkit-sandbox-$$-$RANDOM"
  mkdir "$cg"
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    exec setsid unshare --pid --fork --mount --cgroup --propagation private --mount-proc \
      "$0" inner "$unitdir"
  ) </dev/null >"$log" 2>&1 &
  unshare_pid=$!
  pid=""
  for _ in $(seq 200); do
    pid=$(awk '{print $1}' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null) || true
    [ -n "$pid" ] && break
    sleep 0.05
  done
  if [ -z "$pid" ]; then
    echo "systemd.sh: sandbox did not start (see $log)" >&2
    rmdir "$cg" 2>/dev/null || true
    exit 1
  fi
  # Wait for the manager to answer; is-system-running --wait returns once boot is done.
  state=""
  for _ in $(seq 100); do
    state=$(timeout 10 nsenter -t "$pid" -m -p -- systemctl is-system-running --wait 2>/dev/null) || true
    case "$state" in running|degraded) break ;; esac
    sleep 0.05
  done
  case "$state" in
    running|degraded) echo "$pid $cg" ;;
    *) echo "systemd.sh: sandbox systemd (pid $pid) did not come up: '$state' (see $log)" >&2
       "$0" stop "$pid" "$cg"; exit 1 ;;
  esac
  ;;
inner)
  # Runs as PID 1 of the new namespaces, before exec'ing systemd.
  unitdir=$2
  mount -t tmpfs tmpfs /run
  mkdir -p /run/systemd /run/lock
  mount -t tmpfs tmpfs /sys/fs/cgroup
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  mount --bind "$unitdir" /etc/systemd/system
  # holdctl's default state directory (its hold record), private to each sandbox like
  # /run: hosts of a fleet test share the real /var/lib.
  [ -d /var/lib/holdkit ] || mkdir -m 0700 /var/lib/holdkit
  mount -t tmpfs -o mode=0700 tmpfs /var/lib/holdkit
  export SYSTEMD_UNIT_PATH=/etc/systemd/system container=unshare
  exec "$SYSTEMD_BIN" --system --unit=default.target
  ;;
stop)
  pid=${2:?usage: systemd.sh stop PID CGROUP}
  cg=${3:?usage: systemd.sh stop PID CGROUP}
  kill -KILL "$pid" 2>/dev/null || true
  # PID 1 of a pid namespace takes every process of it along; the cgroup's own kill is
  # a second net for anything that escaped.
  if [ -f "$cg/cgroup.kill" ]; then echo 1 >"$cg/cgroup.kill" 2>/dev/null || true; fi
  for _ in $(seq 100); do
    [ -d "/proc/$pid" ] || break
    sleep 0.05
  done
  if [ -d "$cg" ]; then
    for _ in $(seq 50); do
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$cg" ] || break
      sleep 0.1
    done
  fi
  ;;
exec)
  pid=${2:?usage: systemd.sh exec PID CMD...}
  shift 2
  exec nsenter -t "$pid" -m -p -- "$@"
  ;;
*)
  echo "usage: systemd.sh start UNITDIR [LOG] | stop PID CGROUP | exec PID CMD..." >&2
  exit 2
  ;;
esac
