#!/usr/bin/env bash
# The main job, on a throwaway Cornice sandbox: a real PostgreSQL with a Cornice-like
# database, and a real systemd (PID 1 of its own namespaces) running `cornice` and
# `cornice-monitor` from an env file. Runs holdctl status, plan, hibernate --yes and status
# again, printing each JSON report and a one-line summary, then tears everything down.
#
# Usage: ./scripts/demo.sh [--rows N] [--profile release|debug] [--no-build]
#   --rows N      rows per runtime table (default 20000)
#   --profile P   which build of the tools to run (default release)
#   --no-build    run the binaries already built instead of running cargo first
# The binaries are taken from "${CARGO_TARGET_DIR:-./target}/PROFILE", where cargo puts
# them. The test suite runs the demo with `--profile debug --no-build` against its own,
# already built, debug binaries (placed in a separate target directory, so the demo's
# honouring of CARGO_TARGET_DIR is what is tested): a release build would cost minutes,
# and a nested cargo would wait on the lock `cargo test` holds on its target directory.
#
# Any step that fails stops the demo with a non-zero exit and names the step on stderr.
# Needs root (namespaces, cgroups). Installs what a fresh Debian machine lacks.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

rows=20000
profile=release
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --rows) rows=${2:?--rows needs a number}; shift 2 ;;
    --profile) profile=${2:?--profile needs release or debug}; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "demo.sh: unknown argument '$1' (see the usage at the top of scripts/demo.sh)" >&2; exit 2 ;;
  esac
done
case $profile in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) echo "demo.sh: --profile must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
case $rows in
  '' | *[!0-9]*) echo "demo.sh: --rows must be a whole number, not '$rows'" >&2; exit 2 ;;
esac

# The step under way, named on stderr if the demo stops there.
current_step="starting"
step() {
  current_step=$1
  say "$1"
}

# Only the cluster this demo starts is ever stopped, whatever the caller exported.
unset HOLD_PG_DIR
work=""
sd_pid=""
sd_cg=""
finish() {
  local status=$?
  trap - EXIT
  if [ "$status" -ne 0 ]; then
    printf 'demo.sh: FAILED at step "%s" (exit %d)\n' "$current_step" "$status" >&2
  fi
  if [ -n "$sd_pid" ]; then "$REPO_ROOT/scripts/sandbox/systemd.sh" stop "$sd_pid" "$sd_cg"; fi
  stop_pg
  if [ -n "$work" ]; then rm -rf "$work"; fi
  exit "$status"
}
trap finish EXIT

step "checking the packages the demo needs"
ensure_demo_packages
bin="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$profile"
if [ "$build" = 1 ]; then
  step "building the tools ($profile) into $bin"
  cargo build "${cargo_profile[@]}" --workspace --bins --quiet
fi
step "finding the tools in $bin"
for tool in envpatch svcctl pgtruncate holdctl; do
  if [ ! -x "$bin/$tool" ]; then
    echo "demo.sh: $bin/$tool is missing: build it (cargo build ${cargo_profile[*]} --workspace --bins) or drop --no-build" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/holdkit-demo.XXXXXX)

step "starting PostgreSQL and loading a Cornice-like database ($rows rows per runtime table)"
start_pg
psql -q "$HOLD_PG_URL" -c 'CREATE DATABASE cornice'
psql -q -v rows="$rows" -f scripts/sandbox/cornice.sql "${HOLD_PG_URL%/postgres}/cornice"

step "writing the env file and the units"
env_file="$work/cornice.env"
cat >"$env_file" <<ENV
# Cornice server settings (demo)
DATABASE_URL=postgresql+asyncpg://$HOLD_PG_USER:$HOLD_PG_PASSWORD@$HOLD_PG_HOST:$HOLD_PG_PORT/cornice
JWT_SECRET=demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
HIBERNATE_MODE=false
INGEST_ENABLED=true
ENV
chmod 640 "$env_file"
mkdir "$work/units"
for unit in cornice cornice-monitor; do
  cat >"$work/units/$unit.service" <<UNIT
[Unit]
Description=$unit (demo stand-in for the FastAPI app)
DefaultDependencies=no

[Service]
EnvironmentFile=$env_file
ExecStart=/bin/sh -c 'echo "$unit up: HIBERNATE_MODE=\$HIBERNATE_MODE INGEST_ENABLED=\$INGEST_ENABLED"; exec sleep infinity'

[Install]
WantedBy=default.target
UNIT
done

step "booting the systemd sandbox"
sandbox=$("$REPO_ROOT/scripts/sandbox/systemd.sh" start "$work/units" "$work/systemd.log")
read -r sd_pid sd_cg <<<"$sandbox"
in_sandbox() { nsenter -t "$sd_pid" -m -p -- "$@"; }
step "starting cornice and cornice-monitor in the sandbox"
in_sandbox systemctl enable --now cornice.service cornice-monitor.service >/dev/null 2>&1

# Bold only on a terminal and never with NO_COLOR, like the tools themselves.
bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi

# run_holdctl SUMMARY-JQ ARGS...: one holdctl run inside the sandbox, its report and a
# one-line summary. A run that fails, or prints no report with "ok": true, stops the demo.
run_holdctl() {
  local summary_jq=$1 report summary code=0
  shift
  step "holdctl $*"
  report=$(in_sandbox "$bin/holdctl" --json=short --lock "$work/holdctl.lock" "$@") || code=$?
  if [ "$code" -ne 0 ] || ! jq -e '.ok == true' >/dev/null 2>&1 <<<"$report"; then
    printf 'demo.sh: holdctl %s exited %d; its report:\n%s\n' "$*" "$code" "${report:-(none)}" >&2
    return $((code == 0 ? 1 : code))
  fi
  summary=$(jq -r "$summary_jq" <<<"$report")
  printf '\n%s$ holdctl %s%s\n' "$bold" "$*" "$plain"
  jq . <<<"$report"
  printf '%s=> %s%s\n' "$bold" "$summary" "$plain"
}

status_summary='"flags: HIBERNATE_MODE=\(.env.values.HIBERNATE_MODE) INGEST_ENABLED=\(.env.values.INGEST_ENABLED); "
  + ([.units[] | "\(.unit) \(.active)/\(.enabled)"] | join(", "))
  + "; runtime tables hold \(.runtime_bytes / 1048576 * 10 | floor / 10) MiB"'
plan_summary='"would run \(.steps | length) steps, \([.steps[] | select(.changed)] | length) of them changing something; "
  + "would empty \([.steps[] | select(.name == "truncate") | .report.truncated[]] | length) tables"'
hibernate_summary='"stopped and disabled "
  + ([.steps[] | select(.name == "stop_units") | .report.units[] | select(.changed) | .unit] | join(" and "))
  + "; emptied \([.steps[] | select(.name == "truncate") | .report.truncated[]] | length) tables, freed "
  + "\([.steps[] | select(.name == "truncate") | .report.bytes_freed] | add / 1048576 * 10 | floor / 10) MiB"
  + " in \([.steps[] | select(.name == "truncate") | .report.duration_ms] | add) ms"'

run_holdctl "$status_summary" status
run_holdctl "$plan_summary" plan
run_holdctl "$hibernate_summary" hibernate --yes
run_holdctl "$status_summary" status
step "showing the env file"
printf '\nThe env file now reads:\n'
grep -v -E '^(DATABASE_URL|JWT_SECRET)=' "$env_file" | sed 's/^/    /'
step "tearing the sandbox down"
say "done"
