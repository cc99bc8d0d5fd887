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
BIN=${1:-}
N=${2:-20000}
if [[ -z $BIN ]]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    BIN="$ROOT/target/release/matrixbox"
fi
for tool in strace nginx h2load curl openssl; do
    command -v "$tool" >/dev/null || { echo "edge-syscalls: $tool is missing" >&2; exit 1; }
done

W=$(mktemp -d /tmp/edge-syscalls.XXXXXX)
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
UP=$((41810 + RANDOM % 50))
EP=$((41870 + RANDOM % 50))
NP=$((41930 + RANDOM % 50))
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user root;"
temp_paths() { # prefix
    echo "client_body_temp_path $W/tmp/$1b; proxy_temp_path $W/tmp/$1p; fastcgi_temp_path $W/tmp/$1f;" \
        "uwsgi_temp_path $W/tmp/$1u; scgi_temp_path $W/tmp/$1s;"
}
cat > "$W/up.conf" <<CONF
pid $W/up.pid; error_log $W/up.err warn; worker_processes 1; $USER_LINE
events { worker_connections 4096; }
http {
  access_log off; default_type application/json; keepalive_timeout 300s; keepalive_requests 1000000;
  sendfile on; tcp_nopush on; tcp_nodelay on; $(temp_paths up)
  server { listen 127.0.0.1:$UP; root $W/www;
           location = /_matrix/client/versions { try_files /versions.json =404; } }
}
CONF
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
cat > "$W/matrixbox.yaml" <<CONF
domain: matrix.test
upstream: http://127.0.0.1:$UP
tls:
  cert: $W/cert.pem
  key: $W/key.pem
listen:
  http: "off"
  https: "127.0.0.1:$EP"
CONF
nginx -p "$W/" -c "$W/up.conf" -g 'daemon off;' &
PIDS+=($!)
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
