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
# step); the words go to stderr. The script stops at the first failing step with that
# tool's exit code (see the exit-code table in README.md); running it again finishes the
# job, since every step is idempotent. `holdctl hibernate` does the same with locking, a
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
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "hibernate_server.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

for tool in envpatch svcctl pgtruncate jq; do
  command -v "$tool" >/dev/null || { echo "hibernate_server.sh: $tool is not on PATH" >&2; exit 1; }
done

if [ -z "$env_file" ]; then
  # The env file the API unit reads, as systemd reports it. With several, which file
  # each flag and DATABASE_URL come from is holdctl's job: this pipeline edits one file.
  status=$(svcctl --json=short status -- "$service")
  printf '%s\n' "$status"
  files=$(jq -r '(.units[0].after.environment_files // .units[0].before.environment_files // []) | length' <<<"$status")
  if [ "$files" -gt 1 ]; then
    echo "hibernate_server.sh: $service reads $files env files: pass --env-file FILE (the one with DATABASE_URL and the flags), or run holdctl hibernate, which edits each flag where systemd reads it" >&2
    exit 2
  fi
  env_file=$(jq -r '.units[0].after.environment_files // .units[0].before.environment_files // [] | last // empty' <<<"$status")
  [ -n "$env_file" ] || { echo "hibernate_server.sh: $service names no EnvironmentFile=: pass --env-file" >&2; exit 2; }
fi

# Before anything is changed: the env file must name the database (never a fall-back to
# whatever PG* variables this shell has).
check=$(envpatch --json=short --get DATABASE_URL -- "$env_file") || { rc=$?; printf '%s\n' "$check"; exit "$rc"; }
if [ "$(jq -r '.values.DATABASE_URL == null' <<<"$check")" = true ]; then
  printf '%s\n' "$check"
  echo "hibernate_server.sh: $env_file has no DATABASE_URL: nothing was changed; add it, or pass the right --env-file" >&2
  exit 4
fi

envpatch --json=short -- "$env_file" HIBERNATE_MODE=true INGEST_ENABLED=false
svcctl --json=short stop -- "$service"
svcctl --json=short stop --if-present -- "$monitor"
svcctl --json=short disable -- "$service"
svcctl --json=short disable --if-present -- "$monitor"
pgtruncate --json=short --env-file "$env_file" --preset cornice ${truncate_flags[@]+"${truncate_flags[@]}"}
echo "hibernate_server.sh: done: flags set in $env_file, $service and $monitor stopped and disabled, runtime tables emptied" >&2
