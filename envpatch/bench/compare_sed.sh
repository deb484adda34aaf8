#!/usr/bin/env bash
# envpatch vs `sed -i` for the runbook's edit (issue 3, "Speed"), with hyperfine (apt install
# hyperfine). Each timed run starts from the same file (hyperfine --prepare copies it back),
# so both tools really rewrite it every time.
#
#   envpatch/bench/compare_sed.sh [ENVPATCH_BINARY] [DIR]
#
# DIR (default: a temp dir under /var/tmp) should be on the filesystem the env files live
# on: envpatch fsyncs the file and the directory, sed -i does neither.
set -euo pipefail
bin=${1:-target/release/envpatch}
dir=${2:-$(mktemp -d /var/tmp/envpatch-bench.XXXXXX)}
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin is not built (cargo build --release -p envpatch)" >&2; exit 1; }

make_file() { # LINES OUT: a comment header, filler assignments, the two flags
  local lines=$1 out=$2
  {
    echo "# Cornice settings"
    for i in $(seq 1 $((lines - 3))); do echo "SETTING_$i=value-$i"; done
    echo "HIBERNATE_MODE=false"
    echo "INGEST_ENABLED=true"
  } >"$out"
}

for lines in 40 10000; do
  make_file "$lines" "$dir/template.$lines"
  cp "$dir/template.$lines" "$dir/env.$lines"
  hyperfine -N --warmup 20 --runs 300 \
    --prepare "cp $dir/template.$lines $dir/env.$lines" \
    --export-json "$dir/result.$lines.json" \
    -n "sed -i ($lines lines)" \
    "sed -i -e s/^HIBERNATE_MODE=.*/HIBERNATE_MODE=true/ -e s/^INGEST_ENABLED=.*/INGEST_ENABLED=false/ $dir/env.$lines" \
    -n "envpatch ($lines lines)" \
    "$bin $dir/env.$lines HIBERNATE_MODE=true INGEST_ENABLED=false" \
    -n "envpatch --dry-run ($lines lines)" \
    "$bin --dry-run $dir/env.$lines HIBERNATE_MODE=true INGEST_ENABLED=false" >&2
  python3 - "$dir/result.$lines.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
sed, ep, dry = (r[k] for k in r)
print(f"{list(r)[0]}: median {sed*1e3:.2f} ms")
print(f"{list(r)[1]}: median {ep*1e3:.2f} ms  ratio {ep/sed:.2f}x sed")
print(f"{list(r)[2]}: median {dry*1e3:.2f} ms  ratio {dry/sed:.2f}x sed")
PY
done
rm -rf "$dir"
