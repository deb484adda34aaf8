#!/usr/bin/env bash
# Every test of holdkit, against a real PostgreSQL and a real systemd.
#
# Installs what a fresh machine lacks, builds, checks what the ecosystem's own checkers
# check (rustdoc warnings, unused dependencies; shellcheck is a test, tests/tests/
# shell_scripts.rs), starts a throwaway PostgreSQL cluster, runs the whole suite (each
# systemd test boots its own sandbox systemd), prints the runner's summary, stops the
# cluster (also when a test fails) and exits non-zero on any failure or finding. Extra
# arguments go to `cargo test` (e.g. `./scripts/test.sh envpatch`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ensure_test_packages
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

# Findings of the checks below; the tests still run, and the run fails at the end.
findings=()
say "checking: rustdoc warnings (cargo doc -D warnings)"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --no-deps --workspace --quiet \
  || findings+=("cargo doc --no-deps --workspace has warnings (above)")
say "checking: unused dependencies (cargo machete)"
if ! cargo machete --version >/dev/null 2>&1; then
  say "installing cargo-machete from crates.io (once per machine)"
  cargo install cargo-machete --locked --quiet >&2 || true
fi
if cargo machete --version >/dev/null 2>&1; then
  cargo machete >&2 || findings+=("cargo machete found unused dependencies (above)")
else
  echo "*** SKIPPED: the unused-dependency check: cargo-machete could not be installed from crates.io ***" | tee -a "$skips" >&2
fi

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
if [ ${#findings[@]} -gt 0 ]; then
  echo "checks failed:"
  printf '  %s\n' "${findings[@]}"
  [ "$status" -ne 0 ] || status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
