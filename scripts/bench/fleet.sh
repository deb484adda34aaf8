#!/usr/bin/env bash
# The fleet section of scripts/bench.sh (also runnable alone): for each fleet size N, on N
# sandboxed hosts all reached over real ssh, and the same serial batches ([1, 2, "30%"]):
#   holdkit.fleet's hibernate.yml   vs  the playbook an operator writes without holdkit
#                                       (lineinfile x2, systemd_service, command: psql TRUNCATE)
#   holdkit.fleet's hibernate.yml   vs  N sequential `ssh HOST holdctl hibernate --yes`
#   a ping playbook, same batches   vs  N sequential `ssh HOST true`   (Ansible's own floor)
# Both playbooks run with the settings ansible/README.md recommends for a fleet ("Settings
# for a fleet"), written into the benchmark's ansible.cfg. Each run starts from a reset fleet
# (env files, running units, reloaded databases) with no ssh master alive (untimed), so
# neither side starts warm.
#
# Usage: scripts/bench/fleet.sh [--hosts "4 8 12"] [--runs N] [--json-out FILE]
#   --hosts  the fleet sizes, one fleet booted after the other (default: 4 12)
# Needs root, the release build, and HOLD_PG_* (a PostgreSQL sandbox is started if unset).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"

runs=5
sizes="4 12"
json_out="$REPO_ROOT/target/bench/results.jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) sizes=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --json-out) json_out=${2:?}; shift ;;
    *) echo "usage: scripts/bench/fleet.sh [--hosts \"4 8 12\"] [--runs N] [--json-out FILE]" >&2; exit 2 ;;
  esac
  shift
done
for n in $sizes; do
  case "$n" in ''|*[!0-9]*|0) echo "fleet.sh: --hosts takes host counts, not '$n'" >&2; exit 2 ;; esac
done
mkdir -p "$(dirname "$json_out")"

ensure_ansible
export HOLD_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"
[ -x "$HOLD_BIN_DIR/holdctl" ] || cargo build --release --workspace --bins --quiet

own_pg=false
fleet=""
cleanup() {
  if [ -n "$fleet" ]; then
    close_masters
    scripts/sandbox/fleet.sh stop "$fleet" || true
  fi
  if $own_pg; then stop_pg; fi
}
trap cleanup EXIT
if [ -z "${HOLD_PG_SOCKET:-}" ]; then
  own_pg=true
  start_pg
fi

# The settings of ansible/README.md's "Settings for a fleet", for both playbooks alike; the
# sandbox's own lines (collections, inventory, no host key checking for throwaway keys) kept.
write_cfg() {
  mkdir -m 700 "$fleet/cp"
  cat >"$fleet/bench.cfg" <<CFG
[defaults]
collections_path = $fleet/collections
inventory = $fleet/inventory.yml
host_key_checking = False
retry_files_enabled = False
local_tmp = $fleet/ansible-local
forks = 20
interpreter_python = /usr/bin/python3

[ssh_connection]
pipelining = True
control_path_dir = $fleet/cp
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR
CFG
}

# A command that ends every ssh master the playbooks left behind (ControlPersist), so the
# next run starts cold.
close_masters_cmd() {
  local cmd="" addr
  while IFS=$'\t' read -r _ _ _ _ addr _ _; do
    cmd+="ssh -o ControlPath=$fleet/cp/%C -p 2022 -O exit root@$addr 2>/dev/null; "
  done <"$fleet/hosts.tsv"
  echo "${cmd}true"
}
close_masters() {
  if [ -d "$fleet/cp" ]; then sh -c "$(close_masters_cmd)"; fi
}

write_ping() {
  cat >"$fleet/ping.yml" <<'YML'
- name: Nothing but Ansible's own cost, in the same batches
  hosts: cornice
  gather_facts: false
  serial: [1, 2, "30%"]
  max_fail_percentage: 0
  tasks:
    - ansible.builtin.ping:
YML
}

# The loop an operator types: one host after the other, a fresh connection each (a master
# would have nothing to share: one command per host).
ssh_each() {
  local loop="" addr
  local ssh_opts="-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -o BatchMode=yes -i $fleet/ssh/id_ed25519 -p 2022"
  while IFS=$'\t' read -r _ _ _ _ addr _ _; do
    loop+="ssh $ssh_opts root@$addr $1 >/dev/null && "
  done <"$fleet/hosts.tsv"
  echo "sh -c '${loop}true'"
}

ab() {  # ab NAME SETUP A B
  python3 scripts/bench/abbench.py --name "$1" --runs "$runs" --warmup 1 \
    --setup "$2" --a "$3" --b "$4" --json-out "$json_out"
}

playbook="$HOLD_ANSIBLE_BIN/ansible-playbook"
for n in $sizes; do
  fleet=$(mktemp -d /tmp/holdkit-bench-fleet.XXXXXX)
  HOLD_FLEET_ROWS=${HOLD_FLEET_ROWS:-2000} scripts/sandbox/fleet.sh start "$fleet" "$n" "$n"
  write_cfg
  write_ping
  export ANSIBLE_CONFIG="$fleet/bench.cfg"
  echo "fleet of $n hosts: $(uptime)"
  cold=$(close_masters_cmd)
  reset="scripts/sandbox/fleet.sh reset $fleet && $cold"
  holdkit="$playbook $REPO_ROOT/ansible/playbooks/hibernate.yml -e holdkit_report=$fleet/report.json"
  ab "fleet, $n hosts: hibernate.yml vs the playbook without holdkit" "$reset" \
    "$holdkit" "$playbook $REPO_ROOT/scripts/bench/naive-hibernate.yml"
  ab "fleet, $n hosts: hibernate.yml vs ${n}x ssh holdctl hibernate --yes" "$reset" \
    "$holdkit" "$(ssh_each "$HOLD_BIN_DIR/holdctl --json=short hibernate --yes")"
  ab "fleet, $n hosts: ping playbook vs ${n}x ssh true (Ansible's floor)" "$cold" \
    "$playbook $fleet/ping.yml" "$(ssh_each true)"
  close_masters
  scripts/sandbox/fleet.sh stop "$fleet"
  fleet=""
done
