#!/usr/bin/env bash
# Shared by scripts/*.sh: install what a fresh machine lacks, build, start sandboxes.
# Source it; it defines functions only.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '==> %s\n' "$*" >&2; }

# apt packages (Debian names), each checked by the command it provides so a machine that
# has them is not touched. Two sets: what demo.sh uses, and what the test suite adds.

# The demo: building the tools, the PostgreSQL and systemd sandboxes, jq for its summary.
demo_packages() {
  command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql
  command -v psql >/dev/null || echo postgresql-client
  [ -x /usr/lib/systemd/systemd ] || echo systemd
  # unshare, nsenter, setsid (systemd sandbox), runuser (pg.sh runs initdb as postgres).
  { command -v unshare && command -v nsenter && command -v setsid && command -v runuser; } >/dev/null || echo util-linux
  command -v openssl >/dev/null || echo openssl  # pg.sh: the sandbox server's certificate
  command -v python3 >/dev/null || echo python3  # pg.sh: a free port
  command -v jq >/dev/null || echo jq
  # pgtruncate's TLS links libssl.
  command -v pkg-config >/dev/null || echo pkg-config
  [ -f /usr/include/openssl/ssl.h ] || echo libssl-dev
}

# The tests, beyond the demo's: the attackers' tools, the file-trust tests, a system bus,
# ssh for svcctl -H and the fleet, the man pages of the package, the shell scripts' lint.
test_packages() {
  demo_packages
  command -v script >/dev/null && command -v setpriv >/dev/null || echo util-linux
  command -v strace >/dev/null || echo strace
  # The file-trust tests: ACLs, extended attributes, capabilities on real files.
  command -v setfacl >/dev/null || echo acl
  command -v setfattr >/dev/null || echo attr
  command -v setcap >/dev/null || echo libcap2-bin
  # A system bus inside the systemd sandbox: svcctl's unprivileged path goes through it.
  { command -v dbus-daemon && [ -f /usr/share/dbus-1/system.conf ]; } >/dev/null || echo dbus
  [ -x /usr/sbin/sshd ] || echo openssh-server
  { command -v ssh && command -v ssh-keygen; } >/dev/null || echo openssh-client
  command -v man >/dev/null || echo man-db
  command -v shellcheck >/dev/null || echo shellcheck
  # pgtruncate's .sql.zst archives restored with PostgreSQL's tools alone.
  command -v zstd >/dev/null || echo zstd
}

# apt-get install NAMES... (duplicates dropped), once, quietly.
install_packages() {
  local missing=() name
  for name in "$@"; do
    case " ${missing[*]} " in *" $name "*) ;; *) missing+=("$name") ;; esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # Debian starts a default cluster on install; our sandboxes never use it.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_cargo() {
  if ! command -v cargo >/dev/null; then
    echo "cargo is not installed: install a Rust toolchain (rustup) first" >&2
    return 1
  fi
}

# What demo.sh needs.
ensure_demo_packages() {
  local names
  names=$(demo_packages)
  # shellcheck disable=SC2086 # one package name a word
  install_packages $names
  ensure_cargo
}

# What the test suite needs (and fleet-demo.sh and bench.sh, which use the same
# sandboxes over ssh).
ensure_test_packages() {
  local names
  names=$(test_packages)
  # shellcheck disable=SC2086 # one package name a word
  install_packages $names
  if ! python3 -c 'import dotenv' 2>/dev/null; then
    say "installing python-dotenv (the app's env reader, for envpatch's round-trip tests)"
    python3 -m pip install -q python-dotenv 2>/dev/null || apt-get install -y -qq python3-dotenv >/dev/null
  fi
  ensure_cargo
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
