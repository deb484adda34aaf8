#!/usr/bin/env bash
# A fleet on hold with Ansible: boots N sandboxed Cornice hosts (each its own systemd with
# `cornice` and, on all but one, `cornice-monitor`; one PostgreSQL cluster with a database per
# host), reaches two of them over real ssh and the rest through the collection's sandbox
# connection, and runs the holdkit.fleet hibernate playbook three times: --check --diff, for
# real, and again (which changes nothing). Prints one JSON object on stdout:
#   {"hosts": {HOST: report of the real run}, "rerun": {HOST: report of the rerun},
#    "connections": {HOST: "ssh" | "sandbox"}}
# and the story on stderr. Tears everything down, also on failure.
# With --archive, the hibernate keeps the emptied rows in an archive on each host, brings it
# to the controller (checked against holdctl's SHA-256) and removes the host's copy; then the
# wake playbook puts each archive back and restores the rows before the units start. The JSON
# gets two more keys:
#   "archives": {HOST: {"path", "sha256", "verified"}} (the controller's copies)
#   "restored": {HOST: report of the wake}
#
# Usage: ./scripts/fleet-demo.sh [--hosts N] [--archive] [--profile release|debug] [--no-build]
#   --hosts N     how many hosts (default 4)
#   --profile P   which build of the tools to run (default release)
#   --no-build    run the tools already built (CARGO_TARGET_DIR/P) instead of building them
# Needs root. Installs what is missing (apt packages incl. openssh-server, ansible-core from
# PyPI into a virtualenv). HOLD_DEMO_DB_PASSWORD is the database password when set (random
# otherwise); CARGO_TARGET_DIR is honoured; HOLD_FLEET_ROWS rows per table (default 2000).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

usage="usage: fleet-demo.sh [--hosts N] [--archive] [--profile release|debug] [--no-build]"
hosts=4
archive=no
profile=release
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=${2:?--hosts needs a number}; shift 2 ;;
    --hosts=*) hosts=${1#--hosts=}; shift ;;
    --archive) archive=yes; shift ;;
    --profile) profile=${2:?--profile needs release or debug}; shift 2 ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    --no-build) build=no; shift ;;
    -h|--help) sed -n '2,28p' "$0" >&2; exit 0 ;;
    *) echo "fleet-demo.sh: unknown argument '$1' ($usage)" >&2; exit 2 ;;
  esac
done
case "$hosts" in
  ''|*[!0-9]*|0) echo "fleet-demo.sh: --hosts needs a number of at least 1, not '$hosts'" >&2; exit 2 ;;
esac
case "$profile" in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) echo "fleet-demo.sh: --profile must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
ssh_hosts=2
[ "$hosts" -lt 2 ] && ssh_hosts=$hosts

ensure_test_packages
ensure_ansible
export HOLD_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$profile"
if [ "$build" = yes ]; then
  say "building the tools ($profile)"
  cargo build "${cargo_profile[@]}" --workspace --bins --quiet
else
  for tool in envpatch svcctl pgtruncate holdctl; do
    [ -x "$HOLD_BIN_DIR/$tool" ] || {
      echo "fleet-demo.sh: $HOLD_BIN_DIR/$tool is missing: build it (cargo build ${cargo_profile[*]} --workspace --bins) or drop --no-build" >&2
      exit 1
    }
  done
fi

work=$(mktemp -d /tmp/holdkit-fleet-demo.XXXXXX)
fleet="$work/fleet"
cleanup() {
  "$REPO_ROOT/scripts/sandbox/fleet.sh" stop "$fleet" || true
  stop_pg
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${HOLD_DEMO_DB_PASSWORD:-}" ]; then
  export HOLD_PG_PASSWORD="$HOLD_DEMO_DB_PASSWORD"
else
  unset HOLD_PG_PASSWORD
fi
say "starting PostgreSQL"
start_pg
say "booting $hosts sandboxed Cornice hosts ($ssh_hosts over ssh) and installing the collection"
HOLD_FLEET_ROWS=${HOLD_FLEET_ROWS:-2000} "$REPO_ROOT/scripts/sandbox/fleet.sh" start "$fleet" "$hosts" "$ssh_hosts"
while IFS=$'\t' read -r name _ _ conn addr _ _; do
  if [ "$conn" = ssh ]; then say "  $name: ssh root@$addr (port 2022, a throwaway key)"
  else say "  $name: the holdkit.fleet.sandbox connection (nsenter)"; fi
done <"$fleet/hosts.tsv"

# The operator's command, run from the fleet's directory (its ansible.cfg and inventory).
# With --archive, every hibernate keeps an archive, brings it home and frees the host of it.
hibernate_vars=()
if [ "$archive" = yes ]; then
  hibernate_vars=(-e holdkit_archive=true -e holdkit_archive_keep_remote=false)
fi
run_playbook() {  # run_playbook NAME ARGS...
  local name=$1
  shift
  (cd "$fleet" && ANSIBLE_CONFIG="$fleet/ansible.cfg" ANSIBLE_NOCOLOR=1 \
    "$HOLD_ANSIBLE_BIN/ansible-playbook" "holdkit.fleet.$name" "$@") >&2
}
playbook() {
  run_playbook hibernate "${hibernate_vars[@]}" "$@"
}
summary() {  # summary REPORT TITLE
  jq -r --arg title "$2" '
    "\($title): " + ([to_entries[] | "\(.key) " +
      (if .value.unreachable then "unreachable"
       elif .value.ok then (if .value.changed then (if .value.dry_run then "would change" else "changed" end)
                            else "unchanged" end)
       else "FAILED (\(.value.error.kind // .value.error_kind))" end)] | join(", "))' "$1" >&2
}

say "ansible-playbook holdkit.fleet.hibernate --check --diff (nothing changes)"
playbook --check --diff -e holdkit_report="$work/check.json"
summary "$work/check.json" "check"
say "ansible-playbook holdkit.fleet.hibernate (rolling: 1 host, then 2, then 30% at a time)"
playbook -e holdkit_report="$work/hibernate.json"
summary "$work/hibernate.json" "hibernate"
jq -r 'to_entries[] | "  \(.key): freed \([.value.steps[] | select(.name == "truncate") | .report.bytes_freed // 0] | add) bytes"' \
  "$work/hibernate.json" >&2
if [ "$archive" = yes ]; then
  jq -r 'to_entries[] | "  \(.key): archive \(.value.controller_archive.path // "not fetched")" +
    (if .value.controller_archive.verified then " (sha256 verified" +
       (if .value.controller_archive.remote_removed then ", removed from the host)" else ")" end)
     else "" end)' "$work/hibernate.json" >&2
fi
say "ansible-playbook holdkit.fleet.hibernate again (every step is idempotent: nothing to do)"
playbook -e holdkit_report="$work/rerun.json"
summary "$work/rerun.json" "rerun"

connections=$(awk -F'\t' '{printf "%s\t%s\n", $1, $4}' "$fleet/hosts.tsv" \
  | jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {(.[0]): .[1]}) | add')
if [ "$archive" = no ]; then
  jq -n --slurpfile hosts "$work/hibernate.json" --slurpfile rerun "$work/rerun.json" \
    --argjson connections "$connections" \
    '{hosts: $hosts[0], rerun: $rerun[0], connections: $connections}'
else
  say "ansible-playbook holdkit.fleet.wake -e holdkit_restore=true (each archive back on its host, rows restored before the units start)"
  run_playbook wake -e holdkit_restore=true -e holdkit_report="$work/wake.json"
  summary "$work/wake.json" "wake"
  jq -r 'to_entries[] | "  \(.key): restored \([.value.steps[] | select(.name == "restore_data")
    | .report.restored[]?.rows] | add // 0) rows"' "$work/wake.json" >&2
  jq -n --slurpfile hosts "$work/hibernate.json" --slurpfile rerun "$work/rerun.json" \
    --slurpfile wake "$work/wake.json" --argjson connections "$connections" \
    '{hosts: $hosts[0], rerun: $rerun[0], connections: $connections,
      archives: ($hosts[0] | map_values(.controller_archive | {path, sha256, verified})),
      restored: $wake[0]}'
fi
say "done; tearing the fleet down"
