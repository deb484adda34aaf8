#!/usr/bin/env bash
# Every test of holdkit, against a real PostgreSQL and a real systemd.
#
# Installs what a fresh machine lacks, builds, starts a throwaway PostgreSQL cluster,
# runs the whole suite (each systemd test boots its own sandbox systemd), prints the
# runner's summary, stops the cluster (also when a test fails) and exits non-zero on any
# failure. Extra arguments go to `cargo test` (e.g. `./scripts/test.sh envpatch`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ensure_packages
ensure_ansible  # ansible-core for the fleet tests; exports HOLD_ANSIBLE_BIN

say "building"
cargo build --workspace --bins --quiet
export HOLD_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug"

say "packaging (cargo-deb, debug build) for the packaging test"
deb_status=0
deb=$("$REPO_ROOT/scripts/package.sh" --dev) || deb_status=$?
case $deb_status in
  0) export HOLD_DEB="$deb" ;;
  3) export HOLD_DEB_SKIP="cargo-deb could not be installed from crates.io"
     say "WARNING: $HOLD_DEB_SKIP: the packaging test will be skipped" ;;
  *) say "scripts/package.sh failed: the packaging test will fail" ;;
esac

log=$(mktemp /tmp/holdkit-test.XXXXXX.log)
# Each skipping test appends its notice here (tests/src/lib.rs, announce_skip): libtest
# hides what a passing test prints, so the run's own output cannot be counted.
skips=$(mktemp /tmp/holdkit-skips.XXXXXX.log)
export HOLD_SKIP_LOG="$skips"
trap 'stop_pg; rm -f "$log" "$skips"' EXIT

say "starting the PostgreSQL sandbox"
start_pg
say "PostgreSQL on 127.0.0.1:$HOLD_PG_PORT (socket $HOLD_PG_SOCKET)"

say "running the tests"
# Not under `set -e`: a failing run must still print the summary and stop the cluster.
status=0
cargo test --workspace --no-fail-fast --quiet "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}

passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
skipped=$(wc -l <"$skips")
if [ "$skipped" -gt 0 ]; then
  echo "skipped:"
  sed 's/^/  /' "$skips"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
