#!/usr/bin/env bash
# A throwaway S3 server for tests (moto), on a free port.
#   tools/s3.sh start DIR   → prints its endpoint URL; writes DIR/pid
#   tools/s3.sh stop DIR    → stops it by that pid and removes DIR
source "$(dirname "$0")/lib.sh"

cmd=${1:?usage: s3.sh start|stop DIR}
dir=${2:?usage: s3.sh start|stop DIR}

case $cmd in
start)
  ensure_moto
  mkdir -p "$dir"
  port=$(free_port)
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$dir/log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    sleep 0.2
  done
  log "moto did not start; see $dir/log"
  exit 1
  ;;
stop)
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: s3.sh start|stop DIR" >&2; exit 2 ;;
esac
