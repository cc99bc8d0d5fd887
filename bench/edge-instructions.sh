#!/usr/bin/env bash
# edge-instructions.sh - the edge's user-space instructions per request (callgrind Ir), for
# HTTP/2 (h2load, 16 connections x 4 streams) and HTTP/1.1 keep-alive (16 connections), small
# answers from a local nginx upstream. Unlike edge-bench.sh's req/s, the count does not move with
# the load other processes put on the machine, so two builds compare on a shared host (this one
# has no hardware counters for `perf stat -e instructions`). It counts no kernel work.
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
BIN=${1:-}
N=${2:-2000}
if [[ -z $BIN ]]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    BIN="$ROOT/target/release/matrixbox"
fi
for tool in valgrind callgrind_annotate nginx h2load curl openssl; do
    command -v "$tool" >/dev/null || { echo "edge-instructions: $tool is missing" >&2; exit 1; }
done

W=$(mktemp -d /tmp/edge-instructions.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W" "${CG:-}"
}
trap cleanup EXIT

mkdir -p "$W"/{www,tmp}
# The edge process writes its counts as its own user, which cannot enter $W.
CG=$(mktemp -d /tmp/edge-instructions-counts.XXXXXX)
chmod 1777 "$CG"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj /CN=matrix.test \
    -addext "subjectAltName=DNS:matrix.test,IP:127.0.0.1" 2>/dev/null
# The same 488-byte /versions answer as proxy-bench.sh's upstream.
# shellcheck disable=SC2016 # a literal pattern
sed -n '/^cat > "\$WORK\/www\/versions.json"/,/^EOF/p' "$ROOT/bench/proxy-bench.sh" | sed '1d;$d' \
    > "$W/www/versions.json"
# Ports nothing listens on, below the ephemeral range.
free_port() { local p; while p=$((20000 + RANDOM % 12000)); ss -Htln "sport = :$p" | grep -q .; do :; done; echo "$p"; }
UP=$(free_port)
EP=$(free_port)
cat > "$W/up.conf" <<EOF
pid $W/up.pid; error_log $W/up.err warn; worker_processes 1;
$([[ $(id -u) == 0 ]] && echo "user root;")
events { worker_connections 4096; }
http {
  access_log off; default_type application/json; keepalive_timeout 300s; keepalive_requests 1000000;
  client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f;
  uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
  server { listen 127.0.0.1:$UP; root $W/www;
           location = /_matrix/client/versions { try_files /versions.json =404; } }
}
EOF
cat > "$W/matrixbox.yaml" <<EOF
domain: matrix.test
upstream: http://127.0.0.1:$UP
tls:
  cert: $W/cert.pem
  key: $W/key.pem
listen:
  http: "off"
  https: "127.0.0.1:$EP"
EOF
nginx -p "$W/" -c "$W/up.conf" -g 'daemon off;' &
PIDS+=($!)
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
