#!/usr/bin/env bash
# edge-ab.sh - CPU per HTTP/1.1 request of the edge process, for two or more builds side by side:
# interleaved rounds (A B A B ...) in front of one local nginx upstream, so drift of a shared host
# falls on every build alike. For a before/after pair where edge-bench.sh's separate runs differ
# by more than the change. Each round: a fresh edge (edge and upstream pinned to CPU 0, as
# edge-bench.sh pins the proxies), a 2 s warm-up, then wrk -c64 over TLS keep-alive for DURATION
# seconds on CPU 1; CPU is the edge process's user + system time (/proc) over the measured run.
# Memory per build: PSS of the edge's process tree idle, and holding 250 idle TLS connections
# (one request each; edge-bench.sh's memory test) when proxy-bench.sh's pb-client is cached.
#
# Usage: bench/edge-ab.sh ROUNDS BINARY...   (DURATION [6] seconds per round; ANSWER=64k for
# edge-bench.sh's 64 KiB media answer instead of the 488-byte one)
# Needs wrk, taskset, nginx, curl, openssl. Everything listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:?usage: bench/edge-ab.sh ROUNDS BINARY...}
shift
(($# >= 1)) || { echo "usage: bench/edge-ab.sh ROUNDS BINARY..." >&2; exit 2; }
DURATION=${DURATION:-6}
# shellcheck source=bench/edge-lib.sh
# shellcheck disable=SC1091 # bench/edge-lib.sh: checked on its own
. "$ROOT/bench/edge-lib.sh"
edge_init edge-ab "$1" wrk taskset
# edge_init started the upstream on any CPU: again, on the edge's.
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
taskset -c 0 nginx -p "$W/" -c "$W/up.conf" -g 'daemon off;' &
PIDS=($!)
case ${ANSWER:-488} in
    488) URL=https://127.0.0.1:$EP/_matrix/client/versions ANSWERS="488-byte answers" ;;
    64k) URL=https://127.0.0.1:$EP/_matrix/media/v3/download/matrix.test/64k ANSWERS="64 KiB answers" ;;
    *) echo "edge-ab: ANSWER is 488 or 64k" >&2; exit 2 ;;
esac
TICK=$(getconf CLK_TCK)
edge_pb_client PB

# start_edge BINARY ROUND: the daemon's pid in DAEMON, the serving process's in SERVING.
start_edge() {
    MATRIXBOX_LOG=warn taskset -c 0 "$1" --config "$W/matrixbox.yaml" --state-dir "$W/state-$2" \
        run --skip-preflight > "$W/edge.log" 2>&1 &
    DAEMON=$!
    PIDS+=("$DAEMON")
    local _
    for _ in $(seq 100); do
        curl -sk --http1.1 --max-time 2 "$URL" -o /dev/null && break
        kill -0 "$DAEMON" 2>/dev/null || { echo "edge-ab: $1 exited: $(tail -3 "$W/edge.log")" >&2; exit 1; }
        sleep 0.1
    done
    # The serving process: the unprivileged child, or the daemon itself in a build from before
    # privilege separation.
    SERVING=$(pgrep -P "$DAEMON" || echo "$DAEMON")
}

stop_edge() {
    kill "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" 2>/dev/null || true
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# pss_tree PID: KiB of PSS of PID and its children.
pss_tree() {
    local pid total=0
    for pid in "$1" $(pgrep -P "$1"); do
        total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")))
    done
    echo "$total"
}

declare -A CPU_SUM=() RPS_SUM=()
for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        start_edge "$bin" "$round"
        taskset -c 1 wrk -t1 -c64 -d2s "$URL" > /dev/null
        before=$(cpu_ticks "$SERVING")
        out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "$URL")
        after=$(cpu_ticks "$SERVING")
        stop_edge
        requests=$(awk '/requests in/ {print $1}' <<< "$out")
        rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<< "$out")
        us=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$TICK" 'BEGIN {printf "%.2f", t / hz / n * 1e6}')
        CPU_SUM[$bin]=$(awk -v a="${CPU_SUM[$bin]:-0}" -v b="$us" 'BEGIN {print a + b}')
        RPS_SUM[$bin]=$((${RPS_SUM[$bin]:-0} + rps))
        printf 'round %d  %-40s %7d req/s  %6s us CPU/req\n' "$round" "$bin" "$rps" "$us"
    done
done

echo "mean of $ROUNDS rounds (h1 keep-alive, $ANSWERS, wrk -c64):"
for bin in "$@"; do
    line=$(awk -v c="${CPU_SUM[$bin]}" -v r="${RPS_SUM[$bin]}" -v n="$ROUNDS" \
        'BEGIN {printf "%7.0f req/s  %6.2f us CPU/req", r / n, c / n}')
    if [[ -n $PB ]]; then
        start_edge "$bin" mem
        sleep 0.5
        idle=$(pss_tree "$DAEMON")
        edge_hold "$PB" 250 3 20 &
        holder=$!
        for _ in $(seq 300); do grep -q '^READY' "$W/hold" && break; sleep 0.1; done
        sleep 1
        held=$(pss_tree "$DAEMON")
        wait "$holder" || true
        stop_edge
        line+=$(awk -v i="$idle" -v h="$held" 'BEGIN {printf "  PSS %.1f MiB idle, %.1f MiB with 250 idle conns (%.1f KiB each)", i / 1024, h / 1024, (h - i) / 250}')
    fi
    printf '%-40s %s\n' "$bin" "$line"
done
