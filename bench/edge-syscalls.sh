#!/usr/bin/env bash
# edge-syscalls.sh - system calls per HTTP/2 request of the edge and of nginx (strace -f -c on the
# proxy while h2load sends REQUESTS small requests, 16 connections x 4 streams), both in front of
# the same local nginx upstream. Like edge-instructions.sh, a count that other load on the machine
# barely moves; it shows how many writes (TLS records) and reads each proxy spends per answer.
#
# Usage: bench/edge-syscalls.sh [BINARY] [REQUESTS]   (default: this tree's release build, 20000)
# Needs strace, nginx, h2load, curl, openssl. Everything listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${2:-20000}
# shellcheck source=bench/edge-lib.sh
# shellcheck disable=SC1091 # bench/edge-lib.sh: checked on its own
. "$ROOT/bench/edge-lib.sh"
edge_init edge-syscalls "${1:-}" strace
NP=$(free_port "$UP" "$EP")
# nginx as proxy-bench.sh configures it (one worker, as the edge has one thread here).
cat > "$W/nginx.conf" <<CONF
pid $W/nginx.pid; error_log $W/nginx.err warn; worker_processes 1; $USER_LINE
events { worker_connections 4096; }
http {
  access_log off; server_tokens off; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 75s; keepalive_requests 100000; $(temp_paths nginx)
  ssl_protocols TLSv1.2 TLSv1.3;
  upstream synapse { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NP ssl http2;
    ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    location ~ ^(/_matrix|/_synapse/client) {
      proxy_pass http://synapse; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
CONF
nginx -p "$W/" -c "$W/nginx.conf" -g 'daemon off;' &
NGINX=$!
PIDS+=("$NGINX")
TOKIO_WORKER_THREADS=1 MATRIXBOX_LOG=warn "$BIN" --config "$W/matrixbox.yaml" \
    --state-dir "$W/state" run --skip-preflight > "$W/edge.log" 2>&1 &
MB=$!
PIDS+=("$MB")
for port in "$EP" "$NP"; do
    for _ in $(seq 100); do
        curl -sk --max-time 2 --resolve "matrix.test:$port:127.0.0.1" \
            "https://matrix.test:$port/_matrix/client/versions" >/dev/null && break
        kill -0 "$MB" 2>/dev/null || { echo "edge-syscalls: the edge exited: $(tail -3 "$W/edge.log")" >&2; exit 1; }
        sleep 0.3
    done
done
sleep 0.5
# The daemon hands the listeners to its child, the unprivileged edge process: that one serves.
EDGE=$(pgrep -P "$MB")
for target in matrixbox nginx; do
    if [[ $target == nginx ]]; then pid=$(pgrep -P "$NGINX"); port=$NP; else pid=$EDGE; port=$EP; fi
    url=https://matrix.test:$port/_matrix/client/versions
    h2load -t1 -c16 -m4 -n 2000 --connect-to="127.0.0.1:$port" "$url" >/dev/null 2>&1
    strace -f -c -o "$W/$target.strace" -p "$pid" 2>/dev/null &
    tracer=$!
    sleep 1
    h2load -t1 -c16 -m4 -n "$N" --connect-to="127.0.0.1:$port" "$url" > "$W/$target.txt" 2>&1
    sleep 0.5
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    ok=$(awk '/^requests:/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^succeeded/) print $i}' "$W/$target.txt")
    echo "$target: ${ok:-0} requests; system calls per request:"
    # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall (last: total)
    awk -v n="${ok:-1}" '$4 ~ /^[0-9]+$/ && $4 / n >= 0.01 {printf "  %-12s %6.2f\n", $NF, $4 / n}' \
        "$W/$target.strace"
done
