#!/usr/bin/env bash
# A throwaway PostgreSQL for tests: its own data directory and a free port, so
# it never touches a cluster the machine already runs.
#   tools/pg.sh start DIR   → prints the admin URL; writes DIR/url
#   tools/pg.sh stop DIR    → stops it (by the pid in its data dir) and removes DIR
#   tools/pg.sh kill DIR    → stops it at once, as a crash would (immediate
#                             mode: no checkpoint, clients cut); keeps DIR
#   tools/pg.sh resume DIR  → starts it again on the same port and data
source "$(dirname "$0")/lib.sh"

cmd=${1:?usage: pg.sh start|stop|kill|resume DIR}
dir=${2:?usage: pg.sh start|stop|kill|resume DIR}

pgbin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_start() {
  as_pg "$1/pg_ctl" -D "$2/data" -l "$2/log" -w -t 60 \
    -o "-p $3 -k $2 -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  for _ in $(seq 1 60); do
    "$1/pg_isready" -h 127.0.0.1 -p "$3" -q && break
    sleep 0.5
  done
}

case $cmd in
start)
  ensure_postgres
  bin=$(pgbin)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(free_port)
  pw=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  pwfile="$dir/.pw"; printf '%s\n' "$pw" > "$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
  as_pg "$bin/initdb" -D "$dir/data" -U vigil --pwfile="$pwfile" -A scram-sha-256 >/dev/null
  rm -f "$pwfile"
  printf '%s\n' "$port" > "$dir/port"
  pg_start "$bin" "$dir" "$port"
  url="postgres://vigil:$pw@127.0.0.1:$port/postgres"
  printf '%s\n' "$url" > "$dir/url"
  printf '%s\n' "$url"
  ;;
stop)
  bin=$(pgbin)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
  ;;
kill)
  as_pg "$(pgbin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
  ;;
resume)
  pg_start "$(pgbin)" "$dir" "$(cat "$dir/port")"
  ;;
*) echo "usage: pg.sh start|stop|kill|resume DIR" >&2; exit 2 ;;
esac
