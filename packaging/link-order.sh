#!/usr/bin/env bash
# link-order.sh - the release binary's code layout: which functions the daemon and the edge run,
# so the linker places them side by side (build.rs passes packaging/link-order.txt as
# --symbol-ordering-file in x86_64-unknown-linux-gnu release builds, when the linker takes it:
# Rust's own LLD does).
#
# Why: the kernel maps 64 KiB of the binary around every page a process touches. With the few MiB
# of code an idle edge runs spread over a 13 MiB .text, both processes mapped 11.5 MiB of the
# binary; with that code side by side, 4.6 MiB (bench/edge-ab.sh reports the PSS).
#
#   packaging/link-order.sh            # build, profile, rewrite packaging/link-order.txt
#   packaging/link-order.sh --check B  # how many listed functions binary B still has
#
# The list holds mangled names, whose hashes change with the toolchain and the dependencies' versions;
# a name that no longer exists is skipped by the linker (the build never fails on it), so a stale
# list only loses the layout. bench/edge-bench.sh runs --check and warns when it is stale.
# The profile: the daemon and its edge under callgrind in edge-bench.sh's configuration (TLS edge
# in front of a local nginx), serving HTTP/1.1 and HTTP/2 requests, the edge's own pages, and the
# connections of edge-bench.sh's memory test.
# Needs valgrind, nginx, h2load, curl, openssl, nm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIST="$ROOT/packaging/link-order.txt"

# functions_of BINARY: the code symbols BINARY defines, one per line.
functions_of() { nm --defined-only "$1" | awk '$2 ~ /^[tT]$/ { print $3 }' | sort -u; }

if [[ ${1:-} == --check ]]; then
    bin=${2:?usage: packaging/link-order.sh --check BINARY}
    listed=$(grep -c . "$LIST")
    present=$(comm -12 <(sort -u "$LIST") <(functions_of "$bin") | wc -l)
    echo "link order: $present of $listed functions of packaging/link-order.txt are in $bin"
    # Below 80 % the layout is mostly lost: the dependencies or the toolchain changed.
    if ((present * 100 < listed * 80)); then
        echo "link order: the list is stale; run packaging/link-order.sh and commit packaging/link-order.txt" >&2
        exit 1
    fi
    exit 0
fi

# shellcheck source=bench/edge-lib.sh
# shellcheck disable=SC1091 # bench/edge-lib.sh: checked on its own
. "$ROOT/bench/edge-lib.sh"
edge_init link-order "" valgrind nm
edge_writable_dir PROFILE_DIR link-order-profiles
URL=https://matrix.test:$EP/_matrix/client/versions
MATRIXBOX_LOG=warn valgrind --tool=callgrind --demangle=no --trace-children=yes --vgdb=no \
    --callgrind-out-file="$PROFILE_DIR/callgrind.%p" \
    "$BIN" --config "$W/matrixbox.yaml" --state-dir "$W/state" run --skip-preflight > "$W/run.log" 2>&1 &
RUN=$!
PIDS+=("$RUN")
for _ in $(seq 300); do
    curl -sk --max-time 5 --resolve "matrix.test:$EP:127.0.0.1" "$URL" -o /dev/null && break
    kill -0 "$RUN" 2>/dev/null || { echo "link-order: matrixbox exited: $(tail -3 "$W/run.log")" >&2; exit 1; }
    sleep 0.5
done
sleep 2 # the daemon's first rounds after the edge is up
h2load --h1 -t1 -c4 -n 200 --connect-to="127.0.0.1:$EP" "$URL" > /dev/null
h2load -t1 -c4 -m4 -n 200 --connect-to="127.0.0.1:$EP" "$URL" > /dev/null
for path in /.well-known/matrix/server /.well-known/matrix/client /; do
    curl -sk --resolve "matrix.test:$EP:127.0.0.1" "https://matrix.test:$EP$path" -o /dev/null
done
# edge-bench.sh's memory test: its client opens many connections at once, sends one request on
# each and holds them. Code only that runs (such as its OCSP status request) would otherwise lie
# in pages of its own, mapped at the first such connection. Left out, with a warning, when
# proxy-bench.sh has not built its client.
edge_pb_client PB
if [[ -n $PB ]]; then
    edge_hold "$PB" 50 1 120 || { echo "link-order: pb-client failed: $(tail -3 "$W/hold")" >&2; exit 1; }
else
    echo "link-order: proxy-bench.sh's pb-client is not built (run bench/edge-bench.sh once): the profile leaves out its connections" >&2
fi
sleep 1
kill -TERM "$RUN"
wait "$RUN" || true

# Every function either process ran (callgrind names each once with its number, then the number
# alone), in the order first seen, the edge's profile first; only those the binary defines.
edge_profile=$(grep -l '^cmd: .* edge' "$PROFILE_DIR"/callgrind.* || true)
[[ -n $edge_profile ]] || { echo "link-order: no profile of the edge process in $PROFILE_DIR" >&2; exit 1; }
profiles=("$edge_profile")
for profile in "$PROFILE_DIR"/callgrind.*; do [[ $profile == "$edge_profile" ]] || profiles+=("$profile"); done
awk 'match($0, /^c?fn=\([0-9]+\) /) { name = substr($0, RLENGTH + 1); if (!seen[name]++) print name }' \
    "${profiles[@]}" > "$W/ran"
awk 'NR == FNR { defined[$0] = 1; next } defined[$0]' <(functions_of "$BIN") "$W/ran" > "$LIST.tmp"
mv "$LIST.tmp" "$LIST"
echo "link-order: $(wc -l < "$LIST") functions in packaging/link-order.txt"
