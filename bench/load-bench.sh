#!/usr/bin/env bash
# load-bench.sh - issue 15's homeserver load benchmark: the whole of matrixbox (edge + Synapse +
# PostgreSQL, the 1 GB profile) against the guide's setup (PostgreSQL and Synapse containers with
# the guide's Synapse options, Debian's nginx in front as the guide's reverse proxy), from the
# same bench images, on the same machine, interleaved (the machine may be shared: compare ratios).
#
# For each size N, bench/load-gen.py registers N users into ceil(N/ROOM_SIZE) rooms, keeps every
# user syncing (/sync long-polls; SSS_PCT% by Simplified Sliding Sync), measures idle memory with
# them connected, sends at FIXED_RATES for FIXED_S each (p50/p99 send->receive), then at a rising
# rate until the p99 crosses THRESHOLD_MS: the last rate under it is the sustained msgs/s.
# CPU seconds and peak memory per component: containers from their cgroups, the edge (matrixbox;
# or nginx with its workers and Docker's userland proxy to Synapse's published port) from /proc.
#
# Both setups get the same bench-only Synapse settings (BENCH_SYNAPSE below): open registration
# with cheap password hashing and rate limits out of the way, so the bench measures messages,
# not bcrypt or the anti-abuse limits. Every loop is bounded; everything listens on 127.0.0.1.
# Runs on the test bench's private engine (tests/testbed/up.sh, skipped with SKIP_UP=1).
# Usage: bench/load-bench.sh
#   knobs: SIZES ["50 200"]  ROUNDS [1]  ROOM_SIZE [25]  SSS_PCT [10]  FIXED_RATES [1,3]  FIXED_S [20]
#          RAMP [1,1.5,...,4,5,6,...,130: steps of <= 1.5x, then ~1.2x]  STEP_S [10]  IDLE_S [20]  THRESHOLD_MS [1000]
#          SETUPS ["matrixbox guide"; add "workers" for matrixbox with `workers: $WORKERS`]
#          WORKERS [auto: sync and federation_sender on 2 cores]  MBX [release build]  PORT [28608]  BENCH_DIR  OUT [results dir]
#          MBX_SYNAPSE_EXTRA: more lines under matrixbox's `synapse:` (indented two spaces), to try
#          an option on the matrixbox side before making it a default (src/tuning.rs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Its daemon start and stop only (start_daemon, stop_daemon); this script keeps its own setup and
# cleanup, which also cover the guide's setup and nginx.
# shellcheck source=bench/lib.sh
# shellcheck disable=SC1091 # bench/lib.sh: checked on its own
. "$ROOT/bench/lib.sh"
SIZES=${SIZES:-"50 200"}
ROUNDS=${ROUNDS:-1}
ROOM_SIZE=${ROOM_SIZE:-25}
SSS_PCT=${SSS_PCT:-10}
FIXED_RATES=${FIXED_RATES:-1,3}
FIXED_S=${FIXED_S:-20}
RAMP=${RAMP:-1,1.5,2,2.5,3,3.5,4,5,6,7,8.5,10,12,14.5,17,21,25,30,36,43,52,62,75,90,108,130}
STEP_S=${STEP_S:-10}
IDLE_S=${IDLE_S:-20}
THRESHOLD_MS=${THRESHOLD_MS:-1000}
SETUPS=${SETUPS:-"matrixbox guide"}
WORKERS=${WORKERS:-auto}
PORT=${PORT:-28608}
export BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
DOMAIN=matrix.bench.internal

[ "${SKIP_UP:-0}" = 1 ] || "$ROOT/tests/testbed/up.sh" >&2
# shellcheck disable=SC1091
. "$BENCH_DIR/env"
export DOCKER_HOST
PY=${LOAD_PY:-$BENCH_DIR/client-venv/bin/python}
[ -x "$PY" ] || { echo "no client venv at $PY (tests/testbed/up.sh makes it)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing (apt-get install nginx-light or nginx)" >&2; exit 1; }
SYN_IMAGE=${MATRIXBOX_TEST_SYNAPSE_IMAGE:-matrixbox-test/synapse:1.163.2}
PG_IMAGE=${MATRIXBOX_TEST_PG_IMAGE:-matrixbox-test/postgres:15}
if [ -z "${MBX:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    MBX="$ROOT/target/release/matrixbox"
fi
WORK=$(mktemp -d /tmp/matrixbox-load-bench.XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
TAG=mbx-load-$$
RUN_PID=""
NGINX_PID=""

cleanup() {
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    docker rm -f "$TAG-synapse" "$TAG-postgres" "$TAG-guide-synapse" "$TAG-guide-postgres" >/dev/null 2>&1 || true
    docker ps -aq --filter "name=^$TAG-" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network rm "$TAG" "$TAG-guide" >/dev/null 2>&1 || true
    # Data written by the containers' own users; kept results are copied out first.
    [ "$OUT" = "$WORK/results" ] && cp -r "$OUT" "/tmp/$TAG-results" && echo "results: /tmp/$TAG-results" >&2
    rm -rf "$WORK"
}
trap cleanup EXIT

# The settings both setups get for the bench alone (not tuning): cheap hashing for N
# registrations, and rate limits that would otherwise throttle a few hundred users on one address.
BENCH_SYNAPSE=$(cat <<'YAML'
  bcrypt_rounds: 4
  rc_message: {per_second: 10000, burst_count: 10000}
  rc_registration: {per_second: 10000, burst_count: 10000}
  rc_login:
    address: {per_second: 10000, burst_count: 10000}
    account: {per_second: 10000, burst_count: 10000}
  rc_joins:
    local: {per_second: 10000, burst_count: 10000}
  rc_joins_per_room: {per_second: 10000, burst_count: 10000}
  rc_room_creation: {per_second: 10000, burst_count: 10000}
YAML
)

wait_for() { # what seconds command...
    local what=$1 tries=$(($2 * 4)); shift 2
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return; sleep 0.25; done
    echo "timeout waiting for $what" >&2; return 1
}
cid() { docker inspect -f '{{.Id}}' "$1"; }
# Synapse's containers of a matrixbox instance: the main process, its workers and their Redis.
synapse_cids() { docker ps -q --no-trunc --filter "name=^$TAG-" | grep -vx "$(cid "$TAG-postgres")" | paste -sd,; }

# gen SETUP N URL EDGE_COMPONENT PREFIX SYNAPSE_CIDS PG_CID [--component NAME=...]...: runs the
# generator against a setup that is up; components after the first three are a breakdown.
gen() {
    local setup=$1 n=$2 url=$3 edge=$4 prefix=$5 syn pg rooms sss
    syn=$6 pg=$7
    shift 7
    rooms=$(((n + ROOM_SIZE - 1) / ROOM_SIZE)); [ "$rooms" -ge 2 ] || rooms=2
    sss=$((n * SSS_PCT / 100))
    "$PY" "$ROOT/bench/load-gen.py" --base-url "$url" --resolve "$DOMAIN:127.0.0.1" \
        --prefix "$prefix" --users "$n" --rooms "$rooms" --sss "$sss" \
        --idle-s "$IDLE_S" --fixed-rates "$FIXED_RATES" --fixed-s "$FIXED_S" --ramp "$RAMP" \
        --step-s "$STEP_S" --threshold-ms "$THRESHOLD_MS" \
        --component "edge=$edge" --component "synapse=cgroup:$syn" \
        --component "postgres=cgroup:$pg" "$@"
}

# ---------------------------------------------------------------- matrixbox
run_matrixbox() { # N ROUND [SETUP [IMAGES_YAML [EXTRA_YAML]]] -> JSON on stdout
    local n=$1 setup=${3:-matrixbox} dir="$WORK/${3:-matrixbox}-$1-$2" json
    mkdir -p "$dir"
    export MATRIXBOX_CONFIG="$dir/matrixbox.yaml" MATRIXBOX_STATE_DIR="$dir/state"
    "$MBX" setup --domain "$DOMAIN" --skip-preflight >/dev/null
    sed -i 's/^registration: closed .*/registration: open/' "$MATRIXBOX_CONFIG"
    cat >>"$MATRIXBOX_CONFIG" <<YAML
instance: $TAG
images:
${4:-  synapse: $SYN_IMAGE}
  postgres: $PG_IMAGE
trusted_key_servers: []
memory_mb: 1024
listen:
  http: 127.0.0.1:$PORT
  https: 127.0.0.1:$((PORT + 1))
  metrics: 127.0.0.1:$((PORT + 4))
synapse:
$BENCH_SYNAPSE
${MBX_SYNAPSE_EXTRA:-}
${5:-}
YAML
    start_daemon "$dir/run.log" --skip-preflight
    local breakdown=() c
    # With workers, each of Synapse's processes on its own as well.
    for c in $(docker ps --format '{{.Names}}' --filter "name=^$TAG-synapse-"); do
        breakdown+=(--component "${c#"$TAG-"}=cgroup:$(cid "$c")")
    done
    [ ${#breakdown[@]} = 0 ] || breakdown+=(--component "synapse-main=cgroup:$(cid "$TAG-synapse")")
    json=$(gen "$setup" "$n" "https://$DOMAIN:$((PORT + 1))" "pid:$RUN_PID" "${setup:0:1}$2u" \
        "$(synapse_cids)" "$(cid "$TAG-postgres")" "${breakdown[@]}") \
        || { tail -50 "$dir/run.log" >&2; return 1; }
    # The edge's own account of the run, from its metrics listener.
    curl -fsS "http://127.0.0.1:$((PORT + 4))/metrics" >"$dir/edge.metrics"
    json=$(printf '%s' "$json" | "$PY" "$ROOT/bench/load-metrics.py" "$dir/edge.metrics")
    stop_daemon
    "$MBX" down --remove >/dev/null 2>&1 || docker ps -aq --filter "name=^$TAG-" | xargs -r docker rm -f >/dev/null
    echo "$json"
}

# matrixbox with Synapse's workers (`workers:`), the same otherwise; workers need Redis and
# Synapse's redis module (the bench's `-redis` variant of the same Synapse).
run_workers() { # N ROUND -> JSON on stdout
    run_matrixbox "$1" "$2" workers "  synapse: $SYN_IMAGE-redis
  redis: ${REDIS_IMAGE:-matrixbox-test/redis:7.0}" "workers: $WORKERS"
}

# ---------------------------------------------------------------- the guide's setup
# homeserver.yaml as the guide has its readers build it: `generate`'s defaults (TCP listener on
# 8008 behind the proxy, psycopg2 with cp_min 5 / cp_max 10), then its options by hand
# (../shared/data/guide-synapse-options.yaml: caches, GC, event cache; email, retention and the
# federation lists need a network the bench does not have and are left out).
guide_homeserver() { # server_name pg_password
    cat <<YAML
server_name: "$1"
pid_file: /data/homeserver.pid
public_baseurl: https://$1/
serve_server_wellknown: true
listeners:
  - port: 8008
    tls: false
    type: http
    x_forwarded: true
    resources:
      - names: [client, federation]
        compress: false
database:
  name: psycopg2
  args:
    user: synapse
    password: "$2"
    dbname: synapse
    host: postgres
    cp_min: 5
    cp_max: 10
log_config: "/data/log.config"
media_store_path: /data/media_store
registration_shared_secret: "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
report_stats: false
macaroon_secret_key: "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
form_secret: "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
signing_key_path: "/data/$1.signing.key"
trusted_key_servers: []
enable_registration: true
enable_registration_without_verification: true
event_cache_size: 10K
caches:
  global_factor: 0.5
  per_cache_factors:
    get_users_who_share_room_with_user: 2.0
  expire_caches: true
  cache_entry_ttl: 60m
gc_thresholds: [700, 10, 10]
gc_min_interval: [1s, 10s, 30s]
max_event_delay_duration: 24h
filter_timeline_limit: 100
YAML
    # The bench-only settings, at the top level.
    printf '%s\n' "$BENCH_SYNAPSE" | sed 's/^  //'
}

guide_nginx_conf() { # dir https_port synapse_port
    cat <<CONF
daemon off;
worker_processes auto;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
    access_log $1/access.log;
    server {
        listen 127.0.0.1:$2 ssl http2;
        server_name $DOMAIN;
        ssl_certificate $1/cert.pem;
        ssl_certificate_key $1/key.pem;
        location ~ ^(/_matrix|/_synapse/client) {
            proxy_pass http://127.0.0.1:$3;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header Host \$host;
            client_max_body_size 50M;
            proxy_http_version 1.1;
        }
    }
}
CONF
}

run_guide() { # N ROUND -> JSON on stdout
    local n=$1 dir="$WORK/guide-$1-$2" g="$TAG-guide" pw json sp=$((PORT + 2)) np=$((PORT + 3))
    mkdir -p "$dir/data" "$dir/pg" "$dir/nginx"
    pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    docker network create "$g" >/dev/null
    docker run -d --name "$g-postgres" --network "$g" --network-alias postgres \
        -e POSTGRES_USER=synapse -e POSTGRES_PASSWORD="$pw" -e POSTGRES_DB=synapse \
        -e POSTGRES_INITDB_ARGS="--encoding=UTF8 --lc-collate=C --lc-ctype=C" \
        -v "$dir/pg:/var/lib/postgresql/data" "$PG_IMAGE" >/dev/null
    guide_homeserver "$DOMAIN" "$pw" >"$dir/data/homeserver.yaml"
    cp "$ROOT/embedded/synapse/log.config" "$dir/data/log.config"
    chown -R 991:991 "$dir/data"
    docker run --rm --network none -v "$dir/data:/data" "$SYN_IMAGE" \
        --config-path /data/homeserver.yaml --generate-keys >/dev/null
    wait_for "the guide's PostgreSQL" 120 docker exec "$g-postgres" pg_isready -q -h 127.0.0.1 -U synapse -d synapse
    docker run -d --name "$g-synapse" --network "$g" -p "127.0.0.1:$sp:8008" \
        -v "$dir/data:/data" "$SYN_IMAGE" >/dev/null
    wait_for "the guide's Synapse" 300 curl -fsS "http://127.0.0.1:$sp/health" \
        || { docker logs --tail 50 "$g-synapse" >&2; return 1; }
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
        -keyout "$dir/nginx/key.pem" -out "$dir/nginx/cert.pem" 2>/dev/null
    guide_nginx_conf "$dir/nginx" "$np" "$sp" >"$dir/nginx/nginx.conf"
    nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" -e "$dir/nginx/error.log" &
    NGINX_PID=$!
    wait_for "nginx" 30 curl -fsSk --resolve "$DOMAIN:$np:127.0.0.1" "https://$DOMAIN:$np/_matrix/client/versions"
    # The guide's path to Synapse's published port crosses Docker's userland proxy on loopback:
    # it is part of that setup's edge.
    proxy=$(pgrep -d, -f -- "docker-proxy .*-host-port $sp " || true)
    json=$(gen guide "$n" "https://$DOMAIN:$np" "pid:$NGINX_PID${proxy:+,$proxy}" "g$2u" \
        "$(cid "$g-synapse")" "$(cid "$g-postgres")") \
        || { docker logs --tail 50 "$g-synapse" >&2; return 1; }
    kill "$NGINX_PID"; wait "$NGINX_PID" || true; NGINX_PID=""
    docker rm -f "$g-synapse" "$g-postgres" >/dev/null
    docker network rm "$g" >/dev/null
    echo "$json"
}

for n in $SIZES; do
    for round in $(seq "$ROUNDS"); do
        order=$SETUPS
        # Interleaved: every other round starts with the other setup.
        [ $((round % 2)) = 0 ] && order=$(echo "$SETUPS" | tr ' ' '\n' | tac | tr '\n' ' ')
        for setup in $order; do
            echo "== N=$n round $round: $setup ==" >&2
            "run_$setup" "$n" "$round" >"$OUT/$setup-$n-$round.json"
        done
    done
done

"$PY" - "$OUT" <<'PY'
import glob, json, os, sys
MAIN = ("edge", "synapse", "postgres")
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    setup, n, rnd = os.path.basename(path)[:-5].split("-")
    rows.setdefault(int(n), {}).setdefault(setup, []).append(json.load(open(path)))
def fmt(v, w=7):
    return f"{v:>{w}}" if v is not None else f"{'-':>{w}}"
for n, by in sorted(rows.items()):
    print(f"\n== N = {n} users ==")
    for setup, runs in sorted(by.items()):
        for i, r in enumerate(runs, 1):
            fixed = [s for s in r["steps"] if s["step"].startswith("fixed")]
            msgs = sum(s.get("messages", 0) for s in fixed) or None
            cpu = r.get("cpu_fixed_s", {})
            print(f"{setup:10} r{i}  sustained {fmt(r['sustained_msgs_per_s'], 5)} msgs/s (p99 <= {r['threshold_ms']:g} ms)  "
                  + "  ".join(f"@{s['rate']:g}/s p50 {fmt(s['p50_ms'], 6)} p99 {fmt(s['p99_ms'], 6)} ms" for s in fixed))
            for comp in ("edge", "synapse", "postgres"):
                print(f"{'':14}{comp:9} idle {r['idle_mib'][comp]:7.1f} MiB  peak {r['peak_mib'][comp]:7.1f} MiB  "
                      f"cpu at the fixed rates {cpu.get(comp, 0):6.1f} s"
                      + (f" = {cpu.get(comp, 0) * 1000 / msgs:5.1f} ms/msg" if msgs else ""))
            for comp in sorted(set(r["idle_mib"]) - {"edge", "synapse", "postgres"}):
                print(f"{'':16}{comp:26} idle {r['idle_mib'][comp]:7.1f} MiB  peak {r['peak_mib'][comp]:7.1f} MiB  "
                      f"cpu at the fixed rates {cpu.get(comp, 0):6.1f} s"
                      + (f" = {cpu.get(comp, 0) * 1000 / msgs:5.1f} ms/msg" if msgs else ""))
            if msgs:
                per_msg = sum(v for k, v in cpu.items() if k in MAIN) * 1000 / msgs
                print(f"{'':14}all three: {per_msg:.0f} CPU ms per message with its fan-out"
                      f" -> {1000 / per_msg:.1f} msgs/s per core of CPU")
            if "edge_metrics" in r:
                e = r["edge_metrics"]
                print(f"{'':14}the edge's metrics: " + "  ".join(
                    f"{c} {v['requests']} req ({v['5xx']} 5xx) p50 {fmt(v['p50_ms'], 1)} p99 {fmt(v['p99_ms'], 1)} ms"
                    for c, v in sorted(e.items())))
            print(f"{'':14}idle total {sum(v for k, v in r['idle_mib'].items() if k in MAIN):.0f} MiB   sync errors {r['sync_errors']}"
                  "   ramp rate:p99 ms " + " ".join(
                f"{s['rate']:g}:{fmt(s['p99_ms'], 1)}" for s in r["steps"] if s["step"].startswith("ramp")))
    def mean(setup, f):
        vals = [f(r) for r in by[setup]]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None
    def cpu_per_msg(r):
        msgs = sum(s.get("messages", 0) for s in r["steps"] if s["step"].startswith("fixed"))
        return sum(r.get("cpu_fixed_s", {}).get(k, 0) for k in MAIN) / msgs if msgs else None
    for this, peer in (("matrixbox", "guide"), ("workers", "guide"), ("workers", "matrixbox")):
        if this not in by or peer not in by:
            continue
        m = mean(this, lambda r: r["sustained_msgs_per_s"])
        g = mean(peer, lambda r: r["sustained_msgs_per_s"])
        ratio = f"{m / g:.2f}x" if m and g else "n/a"
        mi = mean(this, lambda r: sum(r["idle_mib"][k] for k in MAIN))
        gi = mean(peer, lambda r: sum(r["idle_mib"][k] for k in MAIN))
        mc, gc = mean(this, cpu_per_msg), mean(peer, cpu_per_msg)
        print(f"ratio {this}/{peer}: sustained msgs/s {ratio}   idle memory {mi / gi:.2f}x"
              f"   CPU per message {f'{mc / gc:.2f}x' if mc and gc else 'n/a'}"
              f" (msgs per CPU second {f'{gc / mc:.2f}x' if mc and gc else 'n/a'})")
PY
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
