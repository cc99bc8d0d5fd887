# bench/lib.sh - what the benchmarks that run a matrixbox instance on the test bench share
# (sourced by bench/backup-bench.sh and bench/upgrade-bench.sh; bench/load-bench.sh uses its
# daemon start and stop alone): the bench and the binary, the daemon started and waited for, and
# the cleanup of the instance. The caller sets ROOT and INSTANCE, then calls `bench_init NAME`.
# shellcheck shell=bash

# bench_init NAME: the test bench's private engine (tests/testbed/up.sh); MBX, a matrixbox binary
# already built (default: this tree's release build, built now); WORK, a temporary directory
# /tmp/matrixbox-NAME.*, removed on exit with the instance.
bench_init() {
    local name=$1
    export BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
    "$ROOT/tests/testbed/up.sh" >&2
    # shellcheck disable=SC1091
    . "$BENCH_DIR/env"
    export DOCKER_HOST
    if [ -z "${MBX:-}" ]; then
        (cd "$ROOT" && cargo build --release --locked -q)
        MBX="$ROOT/target/release/matrixbox"
    fi
    RUN_PID=""
    WORK=$(mktemp -d "/tmp/matrixbox-$name.XXXXXX")
    trap bench_cleanup EXIT
}

# On exit, whatever happened: the daemon stopped, the instance's containers and network removed,
# WORK deleted.
bench_cleanup() {
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    docker rm -f "$INSTANCE-synapse" "$INSTANCE-postgres" >/dev/null 2>&1 || true
    docker network rm "$INSTANCE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# start_daemon LOG [RUN_ARGS...]: `matrixbox run RUN_ARGS` in the background (RUN_PID), its
# output in LOG, waited for until the homeserver is up (at most 5 minutes); its log and exit 1 if
# it ends or never is.
start_daemon() {
    local log=$1
    shift
    "$MBX" run "$@" >"$log" 2>&1 &
    RUN_PID=$!
    for _ in $(seq 1200); do
        grep -q "homeserver is up" "$log" && return
        kill -0 "$RUN_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.25
    done
    echo "timeout waiting for the homeserver" >&2
    cat "$log" >&2
    exit 1
}

# stop_daemon: SIGTERM to the daemon and wait for its clean stop.
stop_daemon() {
    kill -TERM "$RUN_PID"
    wait "$RUN_PID" || true
    RUN_PID=""
}
