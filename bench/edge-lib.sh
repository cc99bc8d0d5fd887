# bench/edge-lib.sh - what the edge's counting benchmarks share (sourced by
# bench/edge-instructions.sh, bench/edge-syscalls.sh, bench/edge-ab.sh and
# packaging/link-order.sh): the binary to count, a work directory
# removed at exit with every process started, a test certificate, free ports, a local nginx
# upstream serving proxy-bench.sh's 488-byte /versions and 64 KiB media answers, the edge's
# configuration in front of it, and proxy-bench.sh's cached load client. The caller sets ROOT,
# then calls `edge_init NAME BINARY TOOL...`.
# shellcheck shell=bash

# edge_init NAME BINARY TOOL...: BIN (BINARY, or this tree's release build, built now); W, a
# temporary directory /tmp/NAME.*; PIDS, processes stopped at exit (EXTRA_DIRS are removed then
# too); UP, the upstream's port, serving already; EP, a free port for the edge, configured in
# $W/matrixbox.yaml; USER_LINE and temp_paths for further nginx configurations. Stops with a
# message if a TOOL (or nginx, h2load, curl, openssl) is missing.
edge_init() {
    local name=$1 tool
    BIN=$2
    shift 2
    for tool in nginx h2load curl openssl "$@"; do
        command -v "$tool" >/dev/null || { echo "$name: $tool is missing" >&2; exit 1; }
    done
    if [[ -z $BIN ]]; then
        (cd "$ROOT" && cargo build --release --locked -q)
        BIN="$ROOT/target/release/matrixbox"
    fi
    W=$(mktemp -d "/tmp/$name.XXXXXX")
    PIDS=()
    EXTRA_DIRS=()
    trap edge_cleanup EXIT
    mkdir -p "$W"/{www,tmp}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
        -out "$W/cert.pem" -days 2 -subj /CN=matrix.test \
        -addext "subjectAltName=DNS:matrix.test,IP:127.0.0.1" 2>/dev/null
    # The same 488-byte /versions answer as proxy-bench.sh's upstream.
    # shellcheck disable=SC2016 # a literal pattern
    sed -n '/^cat > "\$WORK\/www\/versions.json"/,/^EOF/p' "$ROOT/bench/proxy-bench.sh" | sed '1d;$d' \
        > "$W/www/versions.json"
    # And its 64 KiB media answer, as proxy-bench.sh writes it.
    { printf '{"chunk":"'; head -c $((65536 - 13)) /dev/zero | tr '\0' 'A'; printf '"}\n'; } > "$W/www/64k.json"
    USER_LINE=""
    [[ $(id -u) == 0 ]] && USER_LINE="user root;"
    UP=$(free_port)
    cat > "$W/up.conf" <<CONF
pid $W/up.pid; error_log $W/up.err warn; worker_processes 1; $USER_LINE
events { worker_connections 4096; }
http {
  access_log off; default_type application/json; keepalive_timeout 300s; keepalive_requests 1000000;
  sendfile on; tcp_nopush on; tcp_nodelay on; $(temp_paths up)
  server { listen 127.0.0.1:$UP; root $W/www;
           location = /_matrix/client/versions { try_files /versions.json =404; }
           location = /_matrix/media/v3/download/matrix.test/64k { try_files /64k.json =404; } }
}
CONF
    nginx -p "$W/" -c "$W/up.conf" -g 'daemon off;' &
    PIDS+=($!)
    EP=$(free_port "$UP")
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
}

# edge_pb_client VAR: in VAR, proxy-bench.sh's load client (pb-client) when bench/edge-bench.sh
# has built it, else nothing.
edge_pb_client() {
    local found
    found=$(compgen -G "${PB_CACHE:-$HOME/.cache/proxy-bench}/pb-client-*/target/release/pb-client" | head -1) || found=""
    printf -v "$1" %s "$found"
}

# edge_hold PB CONNS SECONDS TIMEOUT: pb-client PB holds CONNS TLS connections to the edge, one
# request each, idle for SECONDS (edge-bench.sh's memory test); its output in $W/hold.
edge_hold() {
    "$1" hold --addr "127.0.0.1:$EP" --sni matrix.test --host matrix.test \
        --path /_matrix/client/versions --insecure --conns "$2" --hold "$3" --timeout "$4" > "$W/hold" 2>&1
}

# edge_writable_dir VAR NAME: a new directory /tmp/NAME.* in VAR that the edge process, running
# as its own unprivileged user, can write to (it cannot enter $W); removed at exit.
edge_writable_dir() {
    local dir
    dir=$(mktemp -d "/tmp/$2.XXXXXX")
    chmod 1777 "$dir"
    EXTRA_DIRS+=("$dir")
    printf -v "$1" %s "$dir"
}

edge_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W" "${EXTRA_DIRS[@]}"
}

# free_port [TAKEN...]: a port below the ephemeral range that nothing listens on and that is not
# one of TAKEN (picked but not yet bound).
free_port() {
    local p
    while p=$((20000 + RANDOM % 12000)); ss -Htln "sport = :$p" | grep -q . || [[ " $* " == *" $p "* ]]; do :; done
    echo "$p"
}

# temp_paths PREFIX: nginx's temporary directories under $W/tmp.
temp_paths() {
    echo "client_body_temp_path $W/tmp/$1b; proxy_temp_path $W/tmp/$1p; fastcgi_temp_path $W/tmp/$1f;" \
        "uwsgi_temp_path $W/tmp/$1u; scgi_temp_path $W/tmp/$1s;"
}
