#!/usr/bin/env bash
# Every tool against the floor an operator would otherwise type, in one run:
#
#   envpatch set two keys        vs  sed -i with two expressions   (40-line and 10,000-line files)
#   svcctl stop                  vs  systemctl stop                (1 unit; 20 units in one call vs 20 calls)
#   pgtruncate --preset cornice  vs  psql -c 'TRUNCATE ... RESTART IDENTITY CASCADE' (fresh copies of a ~150 MB DB)
#   pgtruncate --archive F       vs  pg_dump --data-only -Fc + that psql TRUNCATE (same copies;
#                                    F.sql.gz and F.sql.zst, with the files' sizes)
#   pgtruncate --undo F          vs  pg_restore --data-only -1 of that dump
#   pgtruncate, many tables      vs  the same psql                 (1,000 tables; a table with 500 partitions)
#   holdctl hibernate --yes      vs  the raw shell sequence (sed, systemctl stop+disable, psql)
#   the fleet hibernate playbook vs  the playbook written without holdkit, and Nx ssh holdctl
#                                    (scripts/bench/fleet.sh, 4 then 12 sandboxed hosts over
#                                    ssh, with the collection's recommended Ansible settings)
#
# Each comparison alternates A and B runs after an untimed setup (fresh file, started unit,
# fresh database copy), and prints the medians, the median of the pair-by-pair ratios A/B,
# and A's peak RSS (scripts/bench/abbench.py). Results also go to target/bench/results.jsonl.
#
# Usage: scripts/bench.sh [--quick] [--runs N]
#   --quick  one run of each comparison on small data (a smoke test, not a measurement)
# Needs root (the systemd sandbox). Not part of scripts/test.sh: timings belong here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

runs=10
warmup=1
rows=72000        # rows per runtime table: about 150 MB of Cornice-like data (151 MiB)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) runs=1; warmup=0; rows=500 ;;
    --runs) runs=${2:?}; shift ;;
    *) echo "usage: scripts/bench.sh [--quick] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done

ensure_test_packages
say "building (release)"
cargo build --release --workspace --bins --quiet
bin="$REPO_ROOT/target/release"

work=$(mktemp -d /tmp/holdkit-bench.XXXXXX)
results="$REPO_ROOT/target/bench/results.jsonl"
mkdir -p "$(dirname "$results")"
: >"$results"
sd_pid=""
sd_cg=""
cleanup() {
  [ -n "$sd_pid" ] && "$REPO_ROOT/scripts/sandbox/systemd.sh" stop "$sd_pid" "$sd_cg"
  stop_pg
  rm -rf "$work"
}
trap cleanup EXIT

ab() {  # ab NAME SETUP A B
  python3 scripts/bench/abbench.py --name "$1" --runs "$runs" --warmup "$warmup" \
    --setup "$2" --a "$3" --b "$4" --json-out "$results"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), $(systemctl --version | head -n 1), $(psql --version)"
echo "runs: $runs after $warmup warm-up, alternating A and B"
printf '%-48s %14s %16s %28s\n' "comparison" "A (tool)" "B (floor)" "A/B median (min-max)"

# --- envpatch ------------------------------------------------------------------------
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
def env(n):
    lines = ["# Cornice server settings", "HIBERNATE_MODE=false", "INGEST_ENABLED=true"]
    i = 0
    while len(lines) < n:
        lines.append(f"SETTING_{i}=value-{i}" if i % 5 else f"# comment {i}")
        i += 1
    return "\n".join(lines) + "\n"
open(f"{work}/small.env.orig", "w").write(env(40))
open(f"{work}/large.env.orig", "w").write(env(10000))
PY
sed_floor="sed -i -e s/^HIBERNATE_MODE=.*/HIBERNATE_MODE=true/ -e s/^INGEST_ENABLED=.*/INGEST_ENABLED=false/"
for size in small large; do
  label=$([ $size = small ] && echo "40-line" || echo "10,000-line")
  ab "envpatch set two keys, $label file" \
    "cp $work/$size.env.orig $work/$size.env" \
    "$bin/envpatch --json=short $work/$size.env HIBERNATE_MODE=true INGEST_ENABLED=false" \
    "$sed_floor $work/$size.env"
done

# --- the systemd sandbox -------------------------------------------------------------
say "booting the systemd sandbox" 2>/dev/null
mkdir "$work/units"
units=()
for i in $(seq -w 1 20); do
  printf '[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=default.target\n' \
    >"$work/units/bench-$i.service"
  units+=("bench-$i.service")
done
read -r sd_pid sd_cg < <(scripts/sandbox/systemd.sh start "$work/units" "$work/systemd.log")
in_sb="nsenter -t $sd_pid -m -p --"

ab "svcctl stop, 1 unit" \
  "$in_sb systemctl start bench-01.service" \
  "$in_sb $bin/svcctl --json=short stop bench-01.service" \
  "$in_sb systemctl stop bench-01.service"
ab "svcctl stop, 20 units in one call vs 20 calls" \
  "$in_sb systemctl start ${units[*]}" \
  "$in_sb $bin/svcctl --json=short stop ${units[*]}" \
  "$in_sb sh -c 'for u in ${units[*]}; do systemctl stop \$u; done'"

# --- PostgreSQL ----------------------------------------------------------------------
say "starting PostgreSQL and building the fixtures ($rows rows per runtime table)" 2>/dev/null
start_pg
base="postgresql://$HOLD_PG_USER:$HOLD_PG_PASSWORD@$HOLD_PG_HOST:$HOLD_PG_PORT"
admin="psql -X -q $base/postgres"
$admin -c 'CREATE DATABASE fixture'
psql -X -q -v rows="$rows" -f scripts/sandbox/cornice.sql "$base/fixture"
$admin -c 'VACUUM' >/dev/null
fixture_mb=$(psql -X -tA "$base/fixture" -c "SELECT pg_database_size('fixture') / 1048576")
echo "cornice fixture: $fixture_mb MiB"
runtime="execution_orders, executions, simulator_trades, simulator_runs, agent_findings, agent_runs, opportunity_observations, hourly_prices, market_snapshots, orderbook_snapshots, requests, arb_go_signals, arb_observations"
fresh="psql -X -q $base/postgres -c 'DROP DATABASE IF EXISTS copy WITH (FORCE)' -c 'CREATE DATABASE copy TEMPLATE fixture' -c CHECKPOINT"
ab "pgtruncate --preset cornice, ~${fixture_mb} MiB DB" \
  "$fresh" \
  "$bin/pgtruncate --json=short -d $base/copy --preset cornice" \
  "psql -X -q $base/copy -c 'TRUNCATE $runtime RESTART IDENTITY CASCADE'"

# --archive: every emptied row kept first, vs pg_dump of the same tables then the TRUNCATE;
# --undo vs pg_restore of that dump.
dump_tables='-t "public.hourly_prices*"'
for t in ${runtime//,/}; do dump_tables+=" -t public.$t"; done
archive_file="$work/archive.sql.gz"
dump_file="$work/dump.fc"
dump_and_truncate="sh -c 'pg_dump --data-only -Fc $dump_tables -f $dump_file $base/copy && psql -X -q $base/copy -c \"TRUNCATE $runtime RESTART IDENTITY CASCADE\"'"
zst_file="$work/archive.sql.zst"
for f in "$archive_file" "$zst_file"; do
  ab "pgtruncate --archive F.${f##*/archive.} vs pg_dump -Fc + TRUNCATE" \
    "$fresh && rm -f $f $dump_file" \
    "$bin/pgtruncate --json=short -d $base/copy --preset cornice --archive $f" \
    "$dump_and_truncate"
done
# The sizes: both archives of the same rows, beside the dump (the runs' last files).
eval "$fresh" && rm -f "$zst_file" && "$bin/pgtruncate" -q --json=short -d "$base/copy" --preset cornice --archive "$zst_file"
python3 scripts/bench/abbench.py --name "pgtruncate --undo vs pg_restore --data-only -1" \
  --runs "$runs" --warmup "$warmup" --json-out "$results" \
  --setup "$fresh && rm -f $archive_file && $bin/pgtruncate -q --json=short -d $base/copy --preset cornice --archive $archive_file" \
  --setup-b "$fresh && rm -f $dump_file && $dump_and_truncate" \
  --a "$bin/pgtruncate --json=short -d $base/copy --undo $archive_file" \
  --b "pg_restore --data-only -1 -d $base/copy $dump_file"
stat -c '  %s bytes  %n' "$archive_file" "$zst_file" "$dump_file"

$admin -c 'CREATE DATABASE many'
psql -X -q "$base/many" <<'SQL'
DO $$ BEGIN
  FOR i IN 1..1000 LOOP
    EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, v text)', lpad(i::text, 4, '0'));
    EXECUTE format('INSERT INTO t%s (v) SELECT g::text FROM generate_series(1, 10) g', lpad(i::text, 4, '0'));
  END LOOP;
END $$;
CREATE TABLE parted (id bigint NOT NULL, v text) PARTITION BY RANGE (id);
DO $$ BEGIN
  FOR i IN 0..499 LOOP
    EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%s) TO (%s)', i, i * 100, (i + 1) * 100);
  END LOOP;
END $$;
INSERT INTO parted SELECT g, 'x' FROM generate_series(0, 49999) g;
SQL
tables=$(printf 't%04d ' $(seq 1 1000))
table_list=$(printf 't%04d, ' $(seq 1 1000)); table_list=${table_list%, }
fresh_many="psql -X -q $base/postgres -c 'DROP DATABASE IF EXISTS copy WITH (FORCE)' -c 'CREATE DATABASE copy TEMPLATE many' -c CHECKPOINT"
ab "pgtruncate 1,000 tables" \
  "$fresh_many" \
  "$bin/pgtruncate --json=short -d $base/copy $tables" \
  "psql -X -q $base/copy -c 'TRUNCATE $table_list RESTART IDENTITY CASCADE'"
ab "pgtruncate a table with 500 partitions" \
  "$fresh_many" \
  "$bin/pgtruncate --json=short -d $base/copy parted" \
  "psql -X -q $base/copy -c 'TRUNCATE parted RESTART IDENTITY CASCADE'"

# --- holdctl on the demo sandbox ----------------------------------------------------
for unit in cornice cornice-monitor; do
  printf '[Unit]\nDefaultDependencies=no\n[Service]\nEnvironmentFile=%s\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=default.target\n' \
    "$work/cornice.env" >"$work/units/$unit.service"
done
$in_sb systemctl daemon-reload
printf '# Cornice\nDATABASE_URL=%s/copy\nHIBERNATE_MODE=false\nINGEST_ENABLED=true\n' "$base" >"$work/cornice.env.orig"
# Each run starts with no hold record (its own state directory, never the host's).
reset_host="cp $work/cornice.env.orig $work/cornice.env && rm -rf $work/state && $in_sb systemctl enable --now cornice.service cornice-monitor.service 2>/dev/null && $fresh"
ab "holdctl hibernate --yes (demo sandbox)" \
  "$reset_host" \
  "$in_sb $bin/holdctl --json=short hibernate --yes --env-file $work/cornice.env --lock $work/holdctl.lock --state-dir $work/state" \
  "$in_sb sh -c '$sed_floor $work/cornice.env && systemctl stop cornice cornice-monitor && systemctl disable -q cornice cornice-monitor && psql -X -q $base/copy -c \"TRUNCATE $runtime RESTART IDENTITY CASCADE\"'"

# --- the fleet (holdkit.fleet on 4, then 12 sandboxed hosts) ----------------------------
# A playbook run takes seconds, the one without holdkit on 12 hosts half a minute: fewer
# pairs. `scripts/bench/fleet.sh --hosts "4 8 12"` alone draws the whole curve.
fleet_runs=$(( runs < 5 ? runs : 5 ))
fleet_hosts="4 12"
[ "$runs" = 1 ] && fleet_hosts=4  # --quick: a smoke test
scripts/bench/fleet.sh --hosts "$fleet_hosts" --runs "$fleet_runs" --json-out "$results"

echo "results: $results"
