#!/usr/bin/env bash
# Local S3-compatible server (moto's, from PyPI) for slacap's object-storage tests.
#
#   scripts/test-s3.sh install   # pip install moto[server] (idempotent)
#   scripts/test-s3.sh start     # run it on 127.0.0.1:$SLACAP_TEST_S3_PORT (default 9094)
#   scripts/test-s3.sh stop      # stop it (idempotent)
#
# moto's server honours S3's conditional writes (`If-None-Match: *`), which Delta commits to
# object storage rely on. Storage is in memory: every start begins empty; tests make their own
# buckets. Any access key is accepted.
set -euo pipefail

CACHE="${SLACAP_CACHE:-$HOME/.cache/slacap}"
PORT="${SLACAP_TEST_S3_PORT:-9094}"
HOST=127.0.0.1
PIDFILE="$CACHE/moto.pid"
LOG="$CACHE/moto.log"
PYTHON="${PYTHON:-python3}"

log() { echo "test-s3: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install() {
  "$PYTHON" -c "import moto.server, flask" 2>/dev/null && return 0
  log "installing moto[server] from PyPI ..."
  "$PYTHON" -m pip install -q --disable-pip-version-check "moto[server]==5.*" >/dev/null 2>&1 \
    || "$PYTHON" -m pip install -q --break-system-packages --disable-pip-version-check "moto[server]==5.*" \
    || die "pip install moto[server] failed"
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q moto "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }

start() {
  local pid
  if pid="$(running_pid)"; then log "already running (pid $pid) on $HOST:$PORT"; return 0; fi
  rm -f "$PIDFILE"
  install
  port_open && die "$HOST:$PORT is already in use by another process"
  mkdir -p "$CACHE"
  log "starting moto's S3 server on http://$HOST:$PORT (log: $LOG)"
  nohup "$PYTHON" -m moto.server -H "$HOST" -p "$PORT" >"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 60); do
    if port_open; then log "ready (pid $pid)"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -20 "$LOG" >&2; die "moto exited"; }
    sleep 0.5
  done
  die "moto did not open $HOST:$PORT within 30 s"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
