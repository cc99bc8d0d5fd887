#!/usr/bin/env bash
# Stop the private dockerd started by tests/testbed/up.sh (found by its pidfile
# and checked on its command line). Never touches any other engine.
# Images stay in $BENCH_DIR/data (the cache for the next up.sh).
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
SOCK=$BENCH_DIR/docker.sock
PIDFILE=$BENCH_DIR/dockerd.pid

log() { printf '[bench] %s\n' "$*" >&2; }

pid=""
[ -s "$PIDFILE" ] && pid=$(cat "$PIDFILE")
if [ -z "$pid" ] || [ ! -r "/proc/$pid/cmdline" ]; then
    log "no private dockerd running (pidfile: $PIDFILE)"
    rm -f "$PIDFILE"
    exit 0
fi
if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "dockerd .*unix://$SOCK"; then
    log "pid $pid from $PIDFILE is not the bench dockerd; leaving it alone"
    rm -f "$PIDFILE"
    exit 0
fi

log "stopping private dockerd (pid $pid)"
kill -TERM "$pid"
# dockerd gives containers 10 s to stop, then shuts down containerd.
for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || { log "stopped"; exit 0; }
    sleep 0.5
done
log "dockerd did not stop in 30 s; sending SIGKILL to pid $pid"
kill -KILL "$pid" 2>/dev/null || true
rm -f "$PIDFILE"
