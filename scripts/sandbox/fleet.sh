#!/usr/bin/env bash
# A throwaway fleet of Cornice hosts for the Ansible collection: each host is its own
# sandbox systemd (systemd.sh) running `cornice` and, on all but the last host,
# `cornice-monitor`, reading an env file whose DATABASE_URL points at a database of the
# host's own in the PostgreSQL sandbox (pg.sh, announced by HOLD_PG_*), loaded with
# cornice.sql. The first SSH hosts also run an sshd unit inside their sandbox on a
# loopback address of their own (key auth, a throwaway key); the others are reached with
# the collection's `holdkit.fleet.sandbox` connection plugin (nsenter into the sandbox).
#
#   fleet.sh start DIR [HOSTS [SSH]]   boot HOSTS (default 4) hosts, SSH (default 2) of them
#                                      over ssh; writes DIR/inventory.yml, DIR/ansible.cfg,
#                                      DIR/hosts.tsv and installs the collection under
#                                      DIR/collections
#   fleet.sh stop DIR                  stop every sandbox, drop the databases, remove DIR
#   fleet.sh reset DIR                 every host as it was booted: env file, units enabled
#                                      and running, database reloaded, no hold record (for
#                                      benchmarks)
#   fleet.sh sshd-stop DIR HOST        stop HOST's sshd (to make it unreachable)
#   fleet.sh exec DIR HOST CMD...      run CMD inside HOST's sandbox
#
# Needs root, HOLD_PG_* (pg.sh start), HOLD_BIN_DIR (the built tools), HOLD_ANSIBLE_BIN
# (ensure_ansible in lib.sh), /usr/sbin/sshd. HOLD_FLEET_ROWS rows per runtime table
# (default 200). hosts.tsv has one line per host: NAME PID CGROUP CONNECTION ADDRESS DB ENVFILE.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
systemd_sh="$here/systemd.sh"
ssh_port=2022

die() { echo "fleet.sh: $*" >&2; exit 1; }

psql_admin() { psql -q -X -v ON_ERROR_STOP=1 -h "$HOLD_PG_SOCKET" -p "$HOLD_PG_PORT" -U "$HOLD_PG_USER" "$@"; }

# A loopback address nobody listens on yet (127.0.0.0/8 all lands on lo).
free_loopback() {
  local a
  for _ in $(seq 50); do
    a="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
    if ! (exec 3<>"/dev/tcp/$a/$ssh_port") 2>/dev/null; then echo "$a"; return; fi
  done
  die "no free loopback address for sshd"
}

host_line() {  # host_line DIR HOST -> the hosts.tsv line
  awk -v h="$2" '$1 == h' "$1/hosts.tsv"
}

write_units() {  # write_units UNITDIR ENVFILE WITH_MONITOR
  local unit
  local units=(cornice)
  [ "$3" = yes ] && units+=(cornice-monitor)
  for unit in "${units[@]}"; do
    cat >"$1/$unit.service" <<UNIT
[Unit]
Description=$unit (stand-in for the Cornice app)
DefaultDependencies=no

[Service]
EnvironmentFile=$2
ExecStart=/bin/sleep infinity

[Install]
WantedBy=default.target
UNIT
  done
}

write_sshd() {  # write_sshd HOSTDIR UNITDIR ADDRESS
  local d=$1/sshd
  mkdir -p "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null
  cat >"$d/sshd_config" <<CONF
ListenAddress $3:$ssh_port
HostKey $d/host_key
PidFile none
AuthorizedKeysFile $FLEET_DIR/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# Ansible copies files over sftp (else it warns and falls back to piping them through dd).
Subsystem sftp internal-sftp
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
LogLevel ERROR
CONF
  cat >"$2/sshd.service" <<UNIT
[Unit]
Description=sshd of this sandboxed host
DefaultDependencies=no

[Service]
RuntimeDirectory=sshd
ExecStart=/usr/sbin/sshd -D -e -f $d/sshd_config

[Install]
WantedBy=default.target
UNIT
}

install_collection() {
  local build=$FLEET_DIR/build
  mkdir -p "$build"
  "$HOLD_ANSIBLE_BIN/ansible-galaxy" collection build "$repo/ansible" --output-path "$build" --force >/dev/null
  ANSIBLE_COLLECTIONS_PATH="$FLEET_DIR/collections" \
    "$HOLD_ANSIBLE_BIN/ansible-galaxy" collection install --offline --force \
    -p "$FLEET_DIR/collections" "$build"/holdkit-fleet-*.tar.gz >/dev/null
  cat >"$FLEET_DIR/ansible.cfg" <<CFG
[defaults]
collections_path = $FLEET_DIR/collections
inventory = $FLEET_DIR/inventory.yml
host_key_checking = False
forks = 10
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = $FLEET_DIR/ansible-local

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR
CFG
}

start() {
  FLEET_DIR=$(realpath "$1")
  local hosts=${2:-4} ssh_hosts=${3:-2}
  local rows=${HOLD_FLEET_ROWS:-200}
  [ "$(id -u)" = 0 ] || die "must run as root"
  : "${HOLD_PG_SOCKET:?HOLD_PG_* not set: start scripts/sandbox/pg.sh first}"
  : "${HOLD_BIN_DIR:?HOLD_BIN_DIR (the built tools) not set}"
  : "${HOLD_ANSIBLE_BIN:?HOLD_ANSIBLE_BIN not set (ensure_ansible in scripts/lib.sh)}"
  [ "$ssh_hosts" -le "$hosts" ] || die "more ssh hosts ($ssh_hosts) than hosts ($hosts)"
  [ "$ssh_hosts" = 0 ] || [ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd missing (apt-get install openssh-server)"
  mkdir -p "$FLEET_DIR/ssh"
  chmod 700 "$FLEET_DIR"
  : >"$FLEET_DIR/hosts.tsv"
  echo "$rows" >"$FLEET_DIR/rows"
  if [ "$ssh_hosts" -gt 0 ]; then
    ssh-keygen -q -t ed25519 -N '' -C holdkit-fleet -f "$FLEET_DIR/ssh/id_ed25519" >/dev/null
    cp "$FLEET_DIR/ssh/id_ed25519.pub" "$FLEET_DIR/ssh/authorized_keys"
  fi
  install_collection &
  local build_pid=$!
  local tag
  tag="fleet_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  local i name hdir db env_file monitor conn addr pid cg
  for i in $(seq "$hosts"); do
    name="cornice$i"
    hdir="$FLEET_DIR/$name"
    db="${tag}_$name"
    mkdir -p "$hdir/units"
    echo "$db" >>"$FLEET_DIR/databases"
    psql_admin -d postgres -c "CREATE DATABASE \"$db\""
    psql_admin -v rows="$rows" -f "$here/cornice.sql" -d "$db" &
    env_file="$hdir/cornice.env"
    cat >"$env_file" <<ENV
# Cornice server settings ($name)
DATABASE_URL=postgresql+asyncpg://$HOLD_PG_USER:$HOLD_PG_PASSWORD@$HOLD_PG_HOST:$HOLD_PG_PORT/$db
JWT_SECRET=fleet-jwt-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
HIBERNATE_MODE=false
INGEST_ENABLED=true
ENV
    chmod 640 "$env_file"
    cp -p "$env_file" "$hdir/cornice.env.orig"
    monitor=yes
    [ "$i" = "$hosts" ] && [ "$hosts" -gt 1 ] && monitor=no
    write_units "$hdir/units" "$env_file" "$monitor"
    conn=sandbox addr=-
    if [ "$i" -le "$ssh_hosts" ]; then
      conn=ssh
      addr=$(free_loopback)
      write_sshd "$hdir" "$hdir/units" "$addr"
    fi
    read -r pid cg < <("$systemd_sh" start "$hdir/units" "$hdir/systemd.log") \
      || die "$name: sandbox did not boot (see $hdir/systemd.log)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pid" "$cg" "$conn" "$addr" "$db" "$env_file" >>"$FLEET_DIR/hosts.tsv"
    local units=(cornice)
    [ "$monitor" = yes ] && units+=(cornice-monitor)
    echo "${units[*]}" >"$hdir/cornice-units"
    [ "$conn" = ssh ] && units+=(sshd)
    nsenter -t "$pid" -m -p -- systemctl enable --now "${units[@]}" >/dev/null 2>&1 \
      || die "$name: could not start ${units[*]}"
  done
  wait_for_ssh
  wait  # the fixture loads and the collection install
  write_inventory
  wait "$build_pid" 2>/dev/null || true
  [ -d "$FLEET_DIR/collections/ansible_collections/holdkit/fleet" ] || die "the collection did not install"
}

wait_for_ssh() {
  local name conn addr
  while IFS=$'\t' read -r name _ _ conn addr _ _; do
    [ "$conn" = ssh ] || continue
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/$addr/$ssh_port") 2>/dev/null && continue 2
      sleep 0.05
    done
    die "$name: sshd on $addr:$ssh_port did not come up"
  done <"$FLEET_DIR/hosts.tsv"
}

write_inventory() {
  local inv=$FLEET_DIR/inventory.yml name pid conn addr env_file
  {
    echo "cornice:"
    echo "  vars:"
    echo "    holdkit_bin_dir: $HOLD_BIN_DIR"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "  hosts:"
    while IFS=$'\t' read -r name pid _ conn addr db env_file; do
      echo "    $name:"
      # For playbooks written without holdkit (scripts/bench.sh): the env file, the units,
      # psql's arguments (the Unix socket, trusted: no password here).
      echo "      cornice_env_file: $env_file"
      echo "      cornice_units: [$(sed 's/ /, /g' "$FLEET_DIR/$name/cornice-units")]"
      echo "      cornice_psql_args: -X -q -h $HOLD_PG_SOCKET -p $HOLD_PG_PORT -U $HOLD_PG_USER -d $db"
      if [ "$conn" = ssh ]; then
        echo "      ansible_connection: ssh"
        echo "      ansible_host: $addr"
        echo "      ansible_port: $ssh_port"
        echo "      ansible_user: root"
        echo "      ansible_ssh_private_key_file: $FLEET_DIR/ssh/id_ed25519"
      else
        echo "      ansible_connection: holdkit.fleet.sandbox"
        echo "      ansible_sandbox_pid: $pid"
      fi
    done <"$FLEET_DIR/hosts.tsv"
  } >"$inv"
}

reset() {
  FLEET_DIR=$1
  local rows name pid db env_file
  rows=$(cat "$FLEET_DIR/rows")
  while IFS=$'\t' read -r name pid _ _ _ db env_file; do
    cp -p "$FLEET_DIR/$name/cornice.env.orig" "$env_file"
    # No hold record either (the sandbox's own /var/lib/holdkit, a tmpfs): each run is a
    # first hibernate, as on a host never put on hold.
    nsenter -t "$pid" -m -p -- find /var/lib/holdkit -mindepth 1 -delete
    # shellcheck disable=SC2046 # one word per unit
    nsenter -t "$pid" -m -p -- systemctl enable --now $(cat "$FLEET_DIR/$name/cornice-units") >/dev/null 2>&1
    (psql_admin -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" \
      && psql_admin -v rows="$rows" -f "$here/cornice.sql" -d "$db") &
  done <"$FLEET_DIR/hosts.tsv"
  wait
}

stop() {
  local dir=$1 pid cg db
  if [ -f "$dir/hosts.tsv" ]; then
    while IFS=$'\t' read -r _ pid cg _ _ _ _; do
      "$systemd_sh" stop "$pid" "$cg" || true
    done <"$dir/hosts.tsv"
  fi
  if [ -f "$dir/databases" ] && [ -n "${HOLD_PG_SOCKET:-}" ]; then
    while read -r db; do
      psql_admin -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" 2>/dev/null || true
    done <"$dir/databases"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:?usage: fleet.sh start DIR [HOSTS [SSH]]}" "${3:-4}" "${4:-2}" ;;
stop) stop "${2:?usage: fleet.sh stop DIR}" ;;
reset) reset "$(realpath "${2:?usage: fleet.sh reset DIR}")" ;;
sshd-stop)
  line=$(host_line "${2:?}" "${3:?usage: fleet.sh sshd-stop DIR HOST}")
  [ -n "$line" ] || die "no host $3"
  pid=$(cut -f2 <<<"$line")
  nsenter -t "$pid" -m -p -- systemctl stop sshd.service
  ;;
exec)
  line=$(host_line "${2:?}" "${3:?usage: fleet.sh exec DIR HOST CMD...}")
  [ -n "$line" ] || die "no host $3"
  pid=$(cut -f2 <<<"$line")
  shift 3
  exec nsenter -t "$pid" -m -p -- "$@"
  ;;
*) echo "usage: fleet.sh start DIR [HOSTS [SSH]] | stop DIR | sshd-stop DIR HOST | exec DIR HOST CMD..." >&2; exit 2 ;;
esac
