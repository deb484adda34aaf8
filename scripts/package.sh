#!/usr/bin/env bash
# Builds the Debian package of the four tools with cargo-deb: binaries in /usr/bin, man
# pages, bash/zsh/fish completions (generated from the clap definitions by holdkit-docgen),
# hibernate_server.sh in /usr/share/holdkit, the docs in /usr/share/doc/holdkit.
#
# Usage: scripts/package.sh [--dev]   prints the .deb's path on stdout
#   --dev  package the debug build (quick; what the tests use). Default: release.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
unset CARGO_TARGET_DIR  # cargo-deb's asset paths assume ./target

profile=release
[ "${1:-}" = "--dev" ] && profile=dev

if ! cargo deb --version >/dev/null 2>&1; then
  say "installing cargo-deb from crates.io (once per machine)"
  # Exit 3 says "cargo-deb cannot be had here", which the test suite reports as a skip.
  cargo install cargo-deb --locked --quiet >&2 || { echo "package.sh: cannot install cargo-deb" >&2; exit 3; }
fi

say "building ($profile)"
if [ "$profile" = dev ]; then
  cargo build --workspace --bins --quiet
else
  cargo build --release --workspace --bins --quiet
fi
dir=$([ "$profile" = dev ] && echo debug || echo release)
rm -rf target/assets
"target/$dir/holdkit-docgen" target/assets

say "packaging"
fast=(); [ "$profile" = dev ] && fast=(--fast)
deb=$(cargo deb -p holdctl --no-build --profile "$profile" "${fast[@]}" --output "target/debian/" 2>&1 | tail -n 1)
[ -f "$deb" ] || { echo "package.sh: cargo deb did not produce a package: $deb" >&2; exit 1; }
echo "$deb"
