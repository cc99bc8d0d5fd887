#!/usr/bin/env bash
# edge-instructions.sh - the edge's user-space instructions per request (callgrind Ir), for
# HTTP/2 (h2load, 16 connections x 4 streams) and HTTP/1.1 keep-alive (16 connections), small
# answers from a local nginx upstream. Unlike edge-bench.sh's req/s, the count does not move with
# the load other processes put on the machine, so two builds compare on a shared host (this one
# has no hardware counters for `perf stat -e instructions`). It counts no kernel work.
#
# Usage: bench/edge-instructions.sh [BINARY] [REQUESTS]   (default: this tree's release build, 3000)
# Needs valgrind, nginx, h2load, curl, openssl. Everything listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-}
N=${2:-3000}
if [[ -z $BIN ]]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    BIN="$ROOT/target/release/matrixbox"
fi
for tool in valgrind callgrind_control callgrind_annotate nginx h2load curl openssl; do
    command -v "$tool" >/dev/null || { echo "edge-instructions: $tool is missing" >&2; exit 1; }
done

W=$(mktemp -d /tmp/edge-instructions.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W"/{www,tmp,state}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj /CN=matrix.test \
    -addext "subjectAltName=DNS:matrix.test,IP:127.0.0.1" 2>/dev/null
# The same 488-byte /versions answer as proxy-bench.sh's upstream.
# shellcheck disable=SC2016 # a literal pattern
sed -n '/^cat > "\$WORK\/www\/versions.json"/,/^EOF/p' "$ROOT/bench/proxy-bench.sh" | sed '1d;$d' \
    > "$W/www/versions.json"
UP=$((39810 + RANDOM % 50))
EP=$((39870 + RANDOM % 50))
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
# One worker thread, as edge-bench.sh pins the proxies to one core.
TOKIO_WORKER_THREADS=1 MATRIXBOX_LOG=warn valgrind --tool=callgrind \
    --callgrind-out-file="$W/cg.%p.out" "$BIN" --config "$W/matrixbox.yaml" \
    --state-dir "$W/state" run --skip-preflight > "$W/edge.log" 2>&1 &
MB=$!
PIDS+=("$MB")
URL=https://matrix.test:$EP/_matrix/client/versions
for _ in $(seq 300); do
    curl -sk --max-time 5 --resolve "matrix.test:$EP:127.0.0.1" "$URL" >/dev/null && break
    kill -0 "$MB" 2>/dev/null || { echo "edge-instructions: the edge exited: $(tail -3 "$W/edge.log")" >&2; exit 1; }
    sleep 0.5
done
# Warm-up, then each protocol counted alone: counters zeroed before, dumped after.
h2load -t1 -c16 -m4 -n 1000 --connect-to="127.0.0.1:$EP" "$URL" >/dev/null 2>&1
h2load --h1 -t1 -c16 -n 1000 --connect-to="127.0.0.1:$EP" "$URL" >/dev/null 2>&1
dumps=0
for test in h2 h1; do
    if [[ $test == h2 ]]; then load=(h2load -t1 -c16 -m4 -n "$N"); else load=(h2load --h1 -t1 -c16 -n "$N"); fi
    callgrind_control -z "$MB" >/dev/null 2>&1
    "${load[@]}" --connect-to="127.0.0.1:$EP" "$URL" > "$W/$test.txt" 2>&1
    callgrind_control -d "$test" "$MB" >/dev/null 2>&1
    dumps=$((dumps + 1))
    ok=$(awk '/^requests:/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^succeeded/) print $i}' "$W/$test.txt")
    dump=$W/cg.$MB.out.$dumps
    ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$test: $ok requests, $(( ir / ${ok:-1} )) instructions per request (16 new TLS connections included)"
done
