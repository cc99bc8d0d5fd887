#!/usr/bin/env bash
# edge-instructions.sh - the edge's user-space instructions per request (callgrind Ir), for
# HTTP/2 (h2load, 16 connections x 4 streams) and HTTP/1.1 keep-alive (16 connections), small
# answers from a local nginx upstream. Unlike edge-bench.sh's req/s, other load on the machine
# barely moves the count (HTTP/2 repeats within 1 %, HTTP/1.1 within about 8 %: batching and the
# allocator depend on timing), so two builds compare on a shared host (this one has no hardware
# counters for `perf stat -e instructions`). It counts no kernel work.
#
# The daemon hands its listeners to a child, the unprivileged edge process, which serves. callgrind
# follows it (--trace-children) but cannot be steered in a child that changed its user (vgdb's
# files belong to root), so each protocol is counted from two whole runs of the edge, with
# REQUESTS and 3 x REQUESTS requests: the difference divided by 2 x REQUESTS leaves out start-up,
# warm-up, TLS handshakes and shutdown.
#
# Usage: bench/edge-instructions.sh [BINARY] [REQUESTS]   (default: this tree's release build, 2000)
# Needs valgrind, nginx, h2load, curl, openssl. Everything listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${2:-2000}
# shellcheck source=bench/edge-lib.sh
# shellcheck disable=SC1091 # bench/edge-lib.sh: checked on its own
. "$ROOT/bench/edge-lib.sh"
edge_init edge-instructions "${1:-}" valgrind callgrind_annotate
edge_writable_dir CG edge-instructions-counts
URL=https://matrix.test:$EP/_matrix/client/versions

# Instructions the edge process ran in all, from start to exit, with `requests` of one protocol.
edge_total() { # test requests
    local test=$1 requests=$2 run=$W/$1-$2 mb out ok
    mkdir -p "$run"
    # One worker thread, as edge-bench.sh pins the proxies to one core.
    TOKIO_WORKER_THREADS=1 MATRIXBOX_LOG=warn valgrind --tool=callgrind --trace-children=yes \
        --vgdb=no --callgrind-out-file="$CG/$test-$requests.%p.out" "$BIN" \
        --config "$W/matrixbox.yaml" --state-dir "$run/state" run --skip-preflight \
        > "$run/edge.log" 2>&1 &
    mb=$!
    # This runs in a command substitution: the exit trap does not see `mb`.
    fail() { kill "$mb" 2>/dev/null; wait "$mb" 2>/dev/null; echo "edge-instructions: $*" >&2; exit 1; }
    for _ in $(seq 300); do
        curl -sk --max-time 5 --resolve "matrix.test:$EP:127.0.0.1" "$URL" >/dev/null && break
        kill -0 "$mb" 2>/dev/null || fail "the daemon exited: $(tail -3 "$run/edge.log")"
        sleep 0.5
    done
    if [[ $test == h2 ]]; then load=(h2load -t1 -c16 -m4); else load=(h2load --h1 -t1 -c16); fi
    # The same warm-up in both runs: it cancels out.
    "${load[@]}" -n 1000 --connect-to="127.0.0.1:$EP" "$URL" >/dev/null 2>&1
    "${load[@]}" -n "$requests" --connect-to="127.0.0.1:$EP" "$URL" > "$run/load.txt" 2>&1
    ok=$(awk '/^requests:/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^succeeded/) print $i}' "$run/load.txt")
    [[ $ok == "$requests" ]] || fail "$test: ${ok:-0} of $requests requests succeeded"
    kill -TERM "$mb"
    wait "$mb" 2>/dev/null || true
    # The daemon's own file and the edge's: the edge is the one that ran `matrixbox edge`. A
    # build from before privilege separation served in the daemon, and wrote one file.
    out=$(grep -l '^cmd: .* edge' "$CG/$test-$requests".*.out) || out=$(ls "$CG/$test-$requests".*.out)
    [[ $(wc -l <<< "$out") == 1 ]] || { echo "edge-instructions: cannot tell the edge's count among: $out" >&2; exit 1; }
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

for test in h2 h1; do
    small=$(edge_total "$test" "$N")
    large=$(edge_total "$test" $((3 * N)))
    echo "$test: $(( (large - small) / (2 * N) )) instructions per request (16 connections kept open)"
done
