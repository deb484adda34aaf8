#!/usr/bin/env bash
# Shared by scripts/*.sh: install what a fresh machine lacks, build, start sandboxes.
# Source it; it defines functions only.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '==> %s\n' "$*" >&2; }

# apt packages the tools and their tests need (Debian names), checked by the command
# each provides so a machine that has them is not touched.
ensure_packages() {
  local missing=()
  command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v psql >/dev/null || missing+=(postgresql-client)
  [ -x /usr/lib/systemd/systemd ] || missing+=(systemd)
  command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v script >/dev/null || missing+=(util-linux)
  command -v runuser >/dev/null || missing+=(util-linux)
  command -v setpriv >/dev/null || missing+=(util-linux)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v jq >/dev/null || missing+=(jq)
  command -v strace >/dev/null || missing+=(strace)
  # The file-trust tests: ACLs, extended attributes, capabilities on real files.
  command -v setfacl >/dev/null || missing+=(acl)
  command -v setfattr >/dev/null || missing+=(attr)
  command -v setcap >/dev/null || missing+=(libcap2-bin)
  # A system bus inside the systemd sandbox: svcctl's unprivileged path goes through it.
  { command -v dbus-daemon && [ -f /usr/share/dbus-1/system.conf ]; } >/dev/null || missing+=(dbus)
  command -v python3 >/dev/null || missing+=(python3)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # Debian starts a default cluster on install; our sandboxes never use it.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! python3 -c 'import dotenv' 2>/dev/null; then
    say "installing python-dotenv (the app's env reader, for envpatch's round-trip tests)"
    python3 -m pip install -q python-dotenv 2>/dev/null || apt-get install -y -qq python3-dotenv >/dev/null
  fi
  if ! command -v cargo >/dev/null; then
    echo "cargo is not installed: install a Rust toolchain (rustup) first" >&2
    return 1
  fi
}

# Starts the throwaway PostgreSQL cluster and exports HOLD_PG_*; stop_pg tears it down.
start_pg() {
  local vars
  vars=$("$REPO_ROOT/scripts/sandbox/pg.sh" start) || return 1
  while IFS= read -r line; do export "${line?}"; done <<<"$vars"
}

stop_pg() {
  if [ -n "${HOLD_PG_DIR:-}" ]; then
    "$REPO_ROOT/scripts/sandbox/pg.sh" stop "$HOLD_PG_DIR" || true
    unset HOLD_PG_DIR
  fi
}

# ansible-core from PyPI in a virtualenv of its own, for the fleet tests, fleet-demo.sh and
# bench.sh, with ansible-lint for check-collection.sh; exports HOLD_ANSIBLE_BIN (the
# virtualenv's bin directory). Pinned: the collection's sanity ignore file is per
# ansible-core minor version (ansible/tests/sanity/ignore-2.19.txt), and ansible-lint's
# rules change between releases. Installed once, again when the pins change.
HOLD_ANSIBLE_CORE_VERSION=2.19.14
HOLD_ANSIBLE_LINT_VERSION=26.10.1
ensure_ansible() {
  local venv=${HOLD_ANSIBLE_VENV:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/ansible-venv}
  local pins="ansible-core==$HOLD_ANSIBLE_CORE_VERSION ansible-lint==$HOLD_ANSIBLE_LINT_VERSION"
  if [ ! -x "$venv/bin/ansible-playbook" ] || [ "$(cat "$venv/holdkit-pins" 2>/dev/null)" != "$pins" ]; then
    say "installing $pins from PyPI into $venv"
    [ -x "$venv/bin/pip" ] || { rm -rf "$venv"; python3 -m venv "$venv" || return 1; }
    # shellcheck disable=SC2086 # one word per package
    "$venv/bin/pip" install -q --disable-pip-version-check $pins >&2 || return 1
    echo "$pins" >"$venv/holdkit-pins"
  fi
  export HOLD_ANSIBLE_BIN="$venv/bin"
}
