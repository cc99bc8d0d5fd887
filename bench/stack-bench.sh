#!/usr/bin/env bash
# stack-bench.sh - the stack issue's two figures, each beside its peer from the same run:
#   1. `matrixbox run` -> Synapse healthy, images cached (fresh install and restart), versus
#      the floor: the same two containers started by hand with `docker start` + polling.
#   2. Idle memory of PostgreSQL + Synapse + matrixbox with the 1 GB profile, versus the same
#      stack tuned for 4 GB.
# Runs on the test bench's private engine (tests/testbed/up.sh); every loop is bounded.
# Usage: bench/stack-bench.sh        knobs: ROUNDS [3]  IDLE_S [60]  BENCH_DIR [/var/tmp/matrixbox-bench]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
IDLE_S=${IDLE_S:-60}
export BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}

"$ROOT/tests/testbed/up.sh" >&2
# shellcheck disable=SC1091
. "$BENCH_DIR/env"
export DOCKER_HOST
(cd "$ROOT" && cargo build --release --locked -q)
MBX="$ROOT/target/release/matrixbox"
WORK=$(mktemp -d /tmp/matrixbox-stack-bench.XXXXXX)
PORT=${PORT:-28008}
RUN_PID=""

cleanup() {
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    docker rm -f matrixbox-synapse matrixbox-postgres >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# instance NAME MEMORY_MB: a config + state dir under $WORK using the bench's images.
instance() {
    local dir="$WORK/$1"
    mkdir -p "$dir"
    export MATRIXBOX_CONFIG="$dir/matrixbox.yaml" MATRIXBOX_STATE_DIR="$dir/state"
    if [ ! -f "$MATRIXBOX_CONFIG" ]; then
        "$MBX" setup --domain matrix.bench.internal >/dev/null
        cat >>"$MATRIXBOX_CONFIG" <<YAML
images:
  synapse: matrixbox-test/synapse:1.163.2
  postgres: matrixbox-test/postgres:15
trusted_key_servers: []
synapse_port: $PORT
memory_mb: $2
listen:
  http: 127.0.0.1:$((PORT + 1))
  https: 127.0.0.1:$((PORT + 2))
YAML
    fi
}

# start_run: starts `matrixbox run`, waits (bounded) for "homeserver is up"; sets TOOK (seconds).
start_run() {
    local log="$WORK/run.log" t0
    t0=$(now)
    "$MBX" run >"$log" 2>&1 &
    RUN_PID=$!
    for _ in $(seq 1200); do
        grep -q "homeserver is up" "$log" && { TOOK=$(elapsed "$t0" "$(now)"); return; }
        kill -0 "$RUN_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.25
    done
    echo "timeout waiting for the homeserver" >&2; cat "$log" >&2; exit 1
}

stop_run() {
    kill -TERM "$RUN_PID"; wait "$RUN_PID" || true; RUN_PID=""
}

# docker_start_floor: both containers exist and are stopped; start them by hand, prints seconds.
docker_start_floor() {
    local t0
    t0=$(now)
    docker start matrixbox-postgres >/dev/null
    for _ in $(seq 600); do
        docker exec matrixbox-postgres pg_isready -q -h 127.0.0.1 -U synapse -d synapse && break
        sleep 0.25
    done
    docker start matrixbox-synapse >/dev/null
    for _ in $(seq 1200); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.25
    done
    elapsed "$t0" "$(now)"
    docker stop matrixbox-synapse >/dev/null; docker stop matrixbox-postgres >/dev/null
}

mem_mib() { # container -> MiB as reported by docker stats (usage minus page cache)
    docker stats --no-stream --format '{{.MemUsage}}' "$1" | awk '{ v=$1; u=v; gsub(/[0-9.]/,"",u); gsub(/[A-Za-z]/,"",v);
        if (u=="GiB") v*=1024; else if (u=="KiB") v/=1024; else if (u=="B") v/=1048576; printf "%.0f", v }'
}

idle_memory() { # label memory_mb
    docker rm -f matrixbox-synapse matrixbox-postgres >/dev/null 2>&1 || true
    instance "mem-$2" "$2"
    start_run
    sleep "$IDLE_S"
    local pg syn mbx
    pg=$(mem_mib matrixbox-postgres); syn=$(mem_mib matrixbox-synapse)
    mbx=$(awk '/VmRSS/ { printf "%.0f", $2/1024 }' "/proc/$RUN_PID/status")
    printf '%-16s postgres %4s MiB  synapse %4s MiB  matrixbox %3s MiB  total %4s MiB\n' \
        "$1" "$pg" "$syn" "$mbx" "$((pg + syn + mbx))"
    stop_run
}

echo "== run -> healthy, images cached (seconds; $ROUNDS rounds) =="
for r in $(seq "$ROUNDS"); do
    docker rm -f matrixbox-synapse matrixbox-postgres >/dev/null 2>&1 || true
    rm -rf "$WORK/start"
    instance start 1024
    start_run; fresh=$TOOK; stop_run
    start_run; restart=$TOOK; stop_run
    floor=$(docker_start_floor)
    printf 'round %d: fresh install %5ss   restart %5ss   peer (docker start + poll, same containers) %5ss\n' \
        "$r" "$fresh" "$restart" "$floor"
done

echo "== idle memory after ${IDLE_S}s (target <= 450 MiB for the 1 GB profile) =="
idle_memory "1 GB profile" 1024
idle_memory "4 GB profile" 4096
