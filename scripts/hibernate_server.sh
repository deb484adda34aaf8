#!/usr/bin/env bash
# Drop-in for the runbook's scripts/hibernate_server.sh, written as a plain pipeline of the
# holdkit tools, the way an operator would compose them by hand:
#
#   1. envpatch   HIBERNATE_MODE=true INGEST_ENABLED=false into the server's env file
#   2. svcctl     stop cornice, and cornice-monitor if present
#   3. svcctl     disable both so they stay shelved
#   4. pgtruncate the runtime tables (cornice preset), keeping users, secrets, catalogs
#
# Usage: hibernate_server.sh [--include-opportunities] [--include-auth]
#                            [--env-file FILE] [--service UNIT] [--monitor UNIT]
#
# Each step prints its one-line JSON report on stdout (so the output is JSON lines, one per
# step); the words go to stderr. Before the first change every name is checked: the units
# (svcctl status), the env file and its DATABASE_URL, and the database itself (a pgtruncate
# dry run); a bad one stops the script with that tool's exit code, nothing changed. Once a
# step has changed the host, a failing step ends the script with exit 1 (failed: the host is
# partly hibernated), never with a code that promises nothing was touched. Running it again
# finishes the job, since every step is idempotent. `holdctl hibernate` does the same with locking, a
# plan and confirmation; this script is for hosts whose automation calls the old path.
set -euo pipefail

env_file=""
service=cornice
monitor=cornice-monitor
truncate_flags=()

while [ $# -gt 0 ]; do
  case "$1" in
    --include-opportunities|--include-auth) truncate_flags+=("$1") ;;
    --env-file) env_file=${2:?--env-file needs a FILE}; shift ;;
    --env-file=*) env_file=${1#*=} ;;
    --service) service=${2:?--service needs a UNIT}; shift ;;
    --service=*) service=${1#*=} ;;
    --monitor) monitor=${2:?--monitor needs a UNIT}; shift ;;
    --monitor=*) monitor=${1#*=} ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "hibernate_server.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

for tool in envpatch svcctl pgtruncate jq; do
  command -v "$tool" >/dev/null || { echo "hibernate_server.sh: $tool is not on PATH" >&2; exit 1; }
done

# Every unit name, before anything is changed: svcctl refuses an invalid name (exit 2), the
# API unit must exist, the monitor may be absent.
status=$(svcctl --json=short status --if-present -- "$service" "$monitor") || {
  rc=$?; printf '%s\n' "$status"
  echo "hibernate_server.sh: --service '$service' or --monitor '$monitor' is not a unit name svcctl accepts: nothing was changed" >&2
  exit "$rc"
}
printf '%s\n' "$status"
if [ "$(jq -r '.units[0].present' <<<"$status")" != true ]; then
  echo "hibernate_server.sh: no such unit: $service: nothing was changed; pass the API unit with --service" >&2
  exit 4
fi

if [ -z "$env_file" ]; then
  # The env file the API unit reads, as systemd reports it. With several, which file
  # each flag and DATABASE_URL come from is holdctl's job: this pipeline edits one file.
  files=$(jq -r '(.units[0].after.environment_files // .units[0].before.environment_files // []) | length' <<<"$status")
  if [ "$files" -gt 1 ]; then
    echo "hibernate_server.sh: $service reads $files env files: pass --env-file FILE (the one with DATABASE_URL and the flags), or run holdctl hibernate, which edits each flag where systemd reads it" >&2
    exit 2
  fi
  env_file=$(jq -r '.units[0].after.environment_files // .units[0].before.environment_files // [] | last // empty' <<<"$status")
  [ -n "$env_file" ] || { echo "hibernate_server.sh: $service names no EnvironmentFile=: pass --env-file" >&2; exit 2; }
fi

# The env file must name the database (never a fall-back to whatever PG* variables this
# shell has), and the database must be there with its tables: a dry run connects, plans
# and changes nothing.
check=$(envpatch --json=short --get DATABASE_URL -- "$env_file") || { rc=$?; printf '%s\n' "$check"; exit "$rc"; }
if [ "$(jq -r '.values.DATABASE_URL == null' <<<"$check")" = true ]; then
  printf '%s\n' "$check"
  echo "hibernate_server.sh: $env_file has no DATABASE_URL: nothing was changed; add it, or pass the right --env-file" >&2
  exit 4
fi
truncate_args=(--env-file "$env_file" --preset cornice ${truncate_flags[@]+"${truncate_flags[@]}"})
check=$(pgtruncate --json=short --dry-run "${truncate_args[@]}") || {
  rc=$?; printf '%s\n' "$check"
  echo "hibernate_server.sh: the database of $env_file cannot be emptied (see pgtruncate's report): nothing was changed" >&2
  exit "$rc"
}

# What this run has changed so far, for the message of a step that fails after it.
changed=()

# step WHAT CMD...: runs one changing step and prints its report. A failure after a change
# exits 1: the tools' other codes (usage, refused, not_found, busy, permission) say
# nothing was touched, which is then no longer true of the host.
step() {
  local what=$1 out rc=0
  shift
  out=$("$@") || rc=$?
  printf '%s\n' "$out"
  if [ "$(jq -r '.changed == true' <<<"$out" 2>/dev/null)" = true ]; then changed+=("$what"); fi
  [ "$rc" = 0 ] && return 0
  if [ ${#changed[@]} -eq 0 ]; then
    echo "hibernate_server.sh: $what failed (exit $rc): nothing was changed" >&2
    exit "$rc"
  fi
  local done_list
  done_list=$(printf '%s, ' "${changed[@]}")
  echo "hibernate_server.sh: $what failed (exit $rc) after this run had changed the host (${done_list%, }): it is partly hibernated; fix the cause and run again, which finishes the job" >&2
  exit 1
}

step "set the flags in $env_file" envpatch --json=short -- "$env_file" HIBERNATE_MODE=true INGEST_ENABLED=false
step "stop $service" svcctl --json=short stop -- "$service"
step "stop $monitor" svcctl --json=short stop --if-present -- "$monitor"
step "disable $service" svcctl --json=short disable -- "$service"
step "disable $monitor" svcctl --json=short disable --if-present -- "$monitor"
step "empty the runtime tables" pgtruncate --json=short "${truncate_args[@]}"
echo "hibernate_server.sh: done: flags set in $env_file, $service and $monitor stopped and disabled, runtime tables emptied" >&2
