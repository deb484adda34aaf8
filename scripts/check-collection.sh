#!/usr/bin/env bash
# The Ansible ecosystem's own checkers on the holdkit.fleet collection, run as its
# maintainers would: `ansible-test sanity` on the built and installed collection (every
# test, the controller's Python), and `ansible-lint` with the production profile on the
# collection's source. Exits non-zero when either finds anything.
#
#   check-collection.sh [WORKDIR]   (default: a temporary directory, removed afterwards)
#
# Needs HOLD_ANSIBLE_BIN (ensure_ansible in lib.sh installs ansible-core and ansible-lint,
# pinned). ansible-test makes a virtualenv per sanity test and bootstraps pip in each with a
# get-pip script it downloads from a host of its own; with only the package index reachable,
# a stand-in placed in its cache does the same from ensurepip and the index (see below).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${HOLD_ANSIBLE_BIN:?HOLD_ANSIBLE_BIN not set (ensure_ansible in scripts/lib.sh)}"

work=${1:-}
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/holdkit-collection-check.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# ansible-test's bootstrap runs GET_PIP with the pip options and packages to install. The
# stand-in installs pip from the interpreter's own ensurepip (in a child process: ensurepip
# sets PIP_CONFIG_FILE=/dev/null in its environment, which would hide every pip.conf), then
# what was asked for from the index. pip later runs with ansible-test's bare environment, so
# the CA bundle that reaches the index is written into the virtualenv's own pip.conf.
write_get_pip_stand_in() {
  local python=$HOLD_ANSIBLE_BIN/python3 version cache cert=None
  version=$("$python" -c 'import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])')
  cache=~/.ansible/test/cache/get_pip_${version//./_}.py
  for candidate in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then cert="'$candidate'"; break; fi
  done
  mkdir -p "$(dirname "$cache")"
  cat >"$cache.new" <<PY
"""holdkit's stand-in for ansible-test's get-pip script: ensurepip, then pip install ARGS."""
import os
import subprocess
import sys

CERT = $cert
env = dict(os.environ)
env.pop("GET_PIP", None)
env.pop("PIP_CONFIG_FILE", None)
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env,
                      stdout=subprocess.DEVNULL)
if CERT:
    with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
        conf.write("[global]\\ncert = %s\\n" % CERT)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args, env=env)
PY
  mv "$cache.new" "$cache"
}

say "building and installing the collection into $work"
"$HOLD_ANSIBLE_BIN/ansible-galaxy" collection build "$REPO_ROOT/ansible" --output-path "$work" --force >/dev/null
rm -rf "$work/collections"
"$HOLD_ANSIBLE_BIN/ansible-galaxy" collection install --offline --force -p "$work/collections" \
  "$work"/holdkit-fleet-*.tar.gz >/dev/null 2>&1
installed=$work/collections/ansible_collections/holdkit/fleet

status=0
write_get_pip_stand_in
say "ansible-test sanity (every test, Python $("$HOLD_ANSIBLE_BIN/python3" -c 'import sys; print("%d.%d" % sys.version_info[:2])'))"
# A git-less tree: ansible-test then checks every file of the installed collection.
(cd "$installed" && PATH="$HOLD_ANSIBLE_BIN:$PATH" "$HOLD_ANSIBLE_BIN/ansible-test" sanity \
  --python "$("$HOLD_ANSIBLE_BIN/python3" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --color no) || status=1

say "ansible-lint (production profile)"
(cd "$REPO_ROOT/ansible" && PATH="$HOLD_ANSIBLE_BIN:$PATH" ANSIBLE_COLLECTIONS_PATH="$work/collections" \
  "$HOLD_ANSIBLE_BIN/ansible-lint" --profile production --offline --nocolor .) || status=1
exit "$status"
