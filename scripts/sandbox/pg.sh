#!/usr/bin/env bash
# A throwaway PostgreSQL cluster: initdb into a temp dir, a free TCP port on 127.0.0.1,
# a Unix socket in the same dir, ssl=on with a self-signed certificate (so sslmode=require
# can be tested for real). Run as the `postgres` user when called as root.
#
#   pg.sh start [DIR]   prints shell assignments: HOLD_PG_DIR HOLD_PG_HOST HOLD_PG_PORT
#                       HOLD_PG_SOCKET HOLD_PG_USER HOLD_PG_PASSWORD HOLD_PG_URL
#   pg.sh stop DIR      stop the server and delete DIR
#
# Local (socket) connections are trusted; TCP needs the password (scram-sha-256), so
# tests can plant a real password and prove it never leaks.
set -euo pipefail

pg_bindir() {
  local d
  if command -v pg_config >/dev/null && d=$(pg_config --bindir 2>/dev/null) && [ -x "$d/initdb" ]; then
    echo "$d"; return
  fi
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  echo "pg.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  return 1
}

# From /, which postgres may enter: the caller's directory may be private to root, and
# PostgreSQL's tools then warn that they cannot change back into it.
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

case "${1:-}" in
start)
  bin=$(pg_bindir)
  dir=${2:-$(mktemp -d /tmp/holdkit-pg.XXXXXX)}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)  # absolute: as_owner runs from /
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  data="$dir/data"
  password=${HOLD_PG_PASSWORD:-"pg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"}
  pwfile="$dir/pwfile"
  printf '%s\n' "$password" >"$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
  as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$pwfile"
  # Self-signed server certificate for TLS tests.
  openssl req -new -x509 -days 2 -nodes -subj "/CN=localhost" \
    -keyout "$data/server.key" -out "$data/server.crt" >/dev/null 2>&1
  chmod 600 "$data/server.key"
  [ "$(id -u)" = 0 ] && chown postgres: "$data/server.key" "$data/server.crt"
  port=$(free_port)
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = on
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
CONF
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  cat <<VARS
HOLD_PG_DIR=$dir
HOLD_PG_HOST=127.0.0.1
HOLD_PG_PORT=$port
HOLD_PG_SOCKET=$dir
HOLD_PG_USER=postgres
HOLD_PG_PASSWORD=$password
HOLD_PG_URL=postgresql://postgres:$password@127.0.0.1:$port/postgres
VARS
  ;;
stop)
  dir=${2:?usage: pg.sh stop DIR}
  [ -d "$dir" ] && dir=$(cd "$dir" && pwd)
  bin=$(pg_bindir)
  if [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg.sh start [DIR] | stop DIR" >&2
  exit 2
  ;;
esac
