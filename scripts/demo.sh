#!/usr/bin/env bash
# The main job, on a throwaway Cornice sandbox: a real PostgreSQL with a Cornice-like
# database, and a real systemd (PID 1 of its own namespaces) running `cornice` and
# `cornice-monitor` from an env file. Runs holdctl status, plan, hibernate --yes and status
# again, printing each JSON report and a one-line summary, then tears everything down.
#
# Usage: ./scripts/demo.sh [--rows N]   (rows per runtime table; default 20000)
# Needs root (namespaces, cgroups). Installs what a fresh Debian machine lacks.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

rows=20000
[ "${1:-}" = "--rows" ] && rows=${2:?--rows needs a number}

ensure_packages
say "building the tools (release)"
cargo build --release --workspace --bins --quiet
bin="$REPO_ROOT/target/release"

work=$(mktemp -d /tmp/holdkit-demo.XXXXXX)
sd_pid=""
sd_cg=""
cleanup() {
  [ -n "$sd_pid" ] && "$REPO_ROOT/scripts/sandbox/systemd.sh" stop "$sd_pid" "$sd_cg"
  stop_pg
  rm -rf "$work"
}
trap cleanup EXIT

say "starting PostgreSQL and loading a Cornice-like database ($rows rows per runtime table)"
start_pg
psql -q "$HOLD_PG_URL" -c 'CREATE DATABASE cornice'
psql -q -v rows="$rows" -f scripts/sandbox/cornice.sql "${HOLD_PG_URL%/postgres}/cornice"

say "writing the env file and the units"
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

say "booting the systemd sandbox"
read -r sd_pid sd_cg < <("$REPO_ROOT/scripts/sandbox/systemd.sh" start "$work/units" "$work/systemd.log")
in_sandbox() { nsenter -t "$sd_pid" -m -p -- "$@"; }
in_sandbox systemctl enable --now cornice.service cornice-monitor.service >/dev/null 2>&1

holdctl() { in_sandbox "$bin/holdctl" --json=short --lock "$work/holdctl.lock" "$@"; }

# Bold only on a terminal and never with NO_COLOR, like the tools themselves.
bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
show() {  # show TITLE JSON JQ-SUMMARY
  printf '\n%s$ holdctl %s%s\n' "$bold" "$1" "$plain"
  jq . <<<"$2"
  printf '%s=> %s%s\n' "$bold" "$(jq -r "$3" <<<"$2")" "$plain"
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

show status "$(holdctl status)" "$status_summary"
show plan "$(holdctl plan)" "$plan_summary"
show "hibernate --yes" "$(holdctl hibernate --yes)" "$hibernate_summary"
show status "$(holdctl status)" "$status_summary"
printf '\nThe env file now reads:\n'
grep -v -E '^(DATABASE_URL|JWT_SECRET)=' "$env_file" | sed 's/^/    /'
say "done; tearing the sandbox down"
