#!/usr/bin/env bash
# The fleet section of scripts/bench.sh (also runnable alone): on the same four sandboxed
# hosts, all reached over real ssh, and the same serial batches ([1, 2, "30%"]):
#   holdkit.fleet's hibernate.yml   vs  the playbook an operator writes without holdkit
#                                       (lineinfile x2, systemd_service, command: psql TRUNCATE)
#   holdkit.fleet's hibernate.yml   vs  4 sequential `ssh HOST holdctl hibernate --yes`
#   a ping playbook, same batches   vs  4 sequential `ssh HOST true`   (Ansible's own floor)
# Each run starts from a reset fleet (env files, running units, reloaded databases; untimed).
#
# Usage: scripts/bench/fleet.sh [--runs N] [--json-out FILE]
# Needs root, the release build, and HOLD_PG_* (a PostgreSQL sandbox is started if unset).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"

runs=5
json_out="$REPO_ROOT/target/bench/results.jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?}; shift ;;
    --json-out) json_out=${2:?}; shift ;;
    *) echo "usage: scripts/bench/fleet.sh [--runs N] [--json-out FILE]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$(dirname "$json_out")"

ensure_ansible
export HOLD_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"
[ -x "$HOLD_BIN_DIR/holdctl" ] || cargo build --release --workspace --bins --quiet

own_pg=false
fleet=$(mktemp -d /tmp/holdkit-bench-fleet.XXXXXX)
cleanup() {
  scripts/sandbox/fleet.sh stop "$fleet" || true
  if $own_pg; then stop_pg; fi
}
trap cleanup EXIT
if [ -z "${HOLD_PG_SOCKET:-}" ]; then
  own_pg=true
  start_pg
fi
HOLD_FLEET_ROWS=${HOLD_FLEET_ROWS:-2000} scripts/sandbox/fleet.sh start "$fleet" 4 4

export ANSIBLE_CONFIG="$fleet/ansible.cfg"
playbook="$HOLD_ANSIBLE_BIN/ansible-playbook"
cat >"$fleet/ping.yml" <<'YML'
- name: Nothing but Ansible's own cost, in the same batches
  hosts: cornice
  gather_facts: false
  serial: [1, 2, "30%"]
  max_fail_percentage: 0
  tasks:
    - ansible.builtin.ping:
YML
ssh_opts="-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -o BatchMode=yes -i $fleet/ssh/id_ed25519 -p 2022"
ssh_each() {  # the loop an operator types: one host after the other
  local loop="" addr
  while IFS=$'\t' read -r _ _ _ _ addr _ _; do
    loop+="ssh $ssh_opts root@$addr $1 >/dev/null && "
  done <"$fleet/hosts.tsv"
  echo "sh -c '${loop}true'"
}

ab() {  # ab NAME SETUP A B
  python3 scripts/bench/abbench.py --name "$1" --runs "$runs" --warmup 1 \
    --setup "$2" --a "$3" --b "$4" --json-out "$json_out"
}
reset="scripts/sandbox/fleet.sh reset $fleet"
ab "fleet: hibernate.yml vs the playbook without holdkit" "$reset" \
  "$playbook $REPO_ROOT/ansible/playbooks/hibernate.yml -e holdkit_report=$fleet/report.json" \
  "$playbook $REPO_ROOT/scripts/bench/naive-hibernate.yml"
ab "fleet: hibernate.yml vs 4x ssh holdctl hibernate --yes" "$reset" \
  "$playbook $REPO_ROOT/ansible/playbooks/hibernate.yml -e holdkit_report=$fleet/report.json" \
  "$(ssh_each "$HOLD_BIN_DIR/holdctl --json=short hibernate --yes")"
ab "fleet: ping playbook vs 4x ssh true (Ansible's floor)" "" \
  "$playbook $fleet/ping.yml" \
  "$(ssh_each true)"
