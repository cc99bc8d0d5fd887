#!/usr/bin/env bash
# Test bench: a private Docker engine plus the two images the tests run.
#
# - Installs the few Debian packages it needs (Pebble included, for the ACME
#   tests), only when a command is missing.
# - Starts (or reuses) a dockerd private to the bench: own socket, data root,
#   exec root, pidfile and containerd namespace. It never talks to, stops or
#   prunes any other engine on the machine.
# - Builds, when absent or out of date, matrixbox-test/postgres:15 and
#   matrixbox-test/synapse:1.163.2 from Debian packages (no image registry is
#   needed) and caches them in the engine's data root.
# - Writes $BENCH_DIR/env (export DOCKER_HOST=... and the image names).
#
# Environment: BENCH_DIR (default /var/tmp/matrixbox-bench).
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES_DIR=$HERE/images

SOCK=$BENCH_DIR/docker.sock
PIDFILE=$BENCH_DIR/dockerd.pid
LOG_DIR=$BENCH_DIR/logs
DOCKERD_LOG=$LOG_DIR/dockerd.log

PG_IMAGE=matrixbox-test/postgres:15
SYNAPSE_IMAGE=matrixbox-test/synapse:1.163.2
PG_ROOTFS=matrixbox-test/pg-rootfs:bookworm
PY_ROOTFS=matrixbox-test/py-rootfs:bookworm
# systemd as PID 1, for the package and service tests (tests/systemd_e2e.rs).
SYSTEMD_IMAGE=matrixbox-test/systemd:bookworm
# Upgrade tests (tests/upgrade_e2e.rs): an earlier Synapse release and a broken "new" one.
SYNAPSE_OLD_VERSION=1.150.0
SYNAPSE_OLD_IMAGE=matrixbox-test/synapse:$SYNAPSE_OLD_VERSION
SYNAPSE_BROKEN_IMAGE=matrixbox-test/synapse:1.163.2-broken
SUITE=bookworm

# Packages of the two root filesystems (minbase adds the Essential set).
PG_ROOTFS_PKGS=ca-certificates,postgresql-15,passwd
PY_ROOTFS_PKGS=ca-certificates,python3,python3-venv,python3-psycopg2,libpq5,passwd
SYSTEMD_PKGS=systemd,systemd-sysv,dbus,ca-certificates,curl,gnupg,apt-utils,procps,iproute2
# The postgres user must be uid/gid 999 (official image contract): create it
# before postgresql-common's postinst would pick a free system uid.
# shellcheck disable=SC2016  # mmdebstrap runs the hook with sh, which expands $1 (the root directory)
PG_ESSENTIAL_HOOK='echo "postgres:x:999:999:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash" >> "$1/etc/passwd"; echo "postgres:x:999:" >> "$1/etc/group"'

T0=$(date +%s)
log() { printf '[bench %3ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (dockerd and mmdebstrap need it)"
mkdir -p "$BENCH_DIR" "$LOG_DIR"

# One up.sh at a time per BENCH_DIR.
exec 9>"$BENCH_DIR/up.lock"
flock -w 900 9 || { echo "[bench] another up.sh holds $BENCH_DIR/up.lock" >&2; exit 1; }

# ---------------------------------------------------------------- packages
ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    # ACME tests: Pebble and its DNS (pebble-challtestsrv), started per test by tests/common/pebble.rs.
    command -v pebble >/dev/null 2>&1 || missing+=(pebble)
    # Image digest tests: a registry on loopback, started per test by tests/digests_e2e.rs.
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    # TLS scan of the edge (tests/tls_scan_e2e.rs): Debian's testssl.sh, whose command is `testssl`.
    command -v testssl >/dev/null 2>&1 || missing+=(testssl.sh)
    # Package tests: a signed apt repository (gpg, apt-ftparchive) served by python3 on loopback.
    command -v gpg >/dev/null 2>&1 || missing+=(gpg)
    command -v apt-ftparchive >/dev/null 2>&1 || missing+=(apt-utils)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
    # tests/run.sh lints every shell script; tests/systemd_e2e.rs runs lintian on the .deb it builds.
    command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
    command -v lintian >/dev/null 2>&1 || missing+=(lintian)
    # Invite-page browser test (tests/browser_e2e.rs): Debian's Chromium and its driver, and a
    # CJK font so the Simplified Chinese screenshots show text. Selenium: tests/browser/setup.sh.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
    # Federation between appliances (tests/federation_e2e.rs): dnsmasq as the test network's DNS,
    # started per test (dnsmasq-base: the binary without a system service).
    command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
    # TURN test (tests/turn_e2e.rs): Debian's coturn for its turnutils_uclient client.
    command -v turnutils_uclient >/dev/null 2>&1 || missing+=(coturn)
    [ ${#missing[@]} -eq 0 ] && return 0
    # de-duplicate
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || { tail -20 "$LOG_DIR/apt.log" >&2; die "apt-get update failed"; }
    apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 \
        || { tail -30 "$LOG_DIR/apt.log" >&2; die "apt-get install failed"; }
}

# ---------------------------------------------------------------- engine
export DOCKER_HOST=unix://$SOCK

engine_answers() { timeout 10 docker version >/dev/null 2>&1; }

# Is $1 the pid of the dockerd this bench started (checked on its command line,
# so a recycled pid is never mistaken for ours)?
is_our_dockerd() {
    local pid=$1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "dockerd .*unix://$SOCK"
}

# The engine's default bridge is its own (not docker0), so this engine never
# shares IP allocation with another engine on the machine (a user's Docker or
# a second bench with another BENCH_DIR).
BRIDGE=mbx$(printf '%s' "$BENCH_DIR" | sha256sum | cut -c1-8)
bridge_cidr() { ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | awk '{print $4; exit}'; }
ensure_bridge() {
    command -v ip >/dev/null 2>&1 || die "the ip command (iproute2) is missing"
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add name "$BRIDGE" type bridge
    fi
    if [ -z "$(bridge_cidr)" ]; then
        # a free 10.213.N.0/24, starting from a number derived from BENCH_DIR
        local n0 n i
        n0=$((16#$(printf '%s' "$BENCH_DIR" | sha256sum | cut -c1-4) % 240 + 10))
        for i in $(seq 0 239); do
            n=$(((n0 - 10 + i) % 240 + 10))
            if ! ip -4 route show | grep -q "^10\.213\.$n\." \
                && ! ip -4 -o addr show | grep -q "inet 10\.213\.$n\."; then
                ip addr add "10.213.$n.1/24" dev "$BRIDGE"
                break
            fi
        done
        [ -n "$(bridge_cidr)" ] || die "no free 10.213.N.0/24 subnet for $BRIDGE"
    fi
    ip link set "$BRIDGE" up
}

# After an unclean stop (dockerd killed), the engine's managed containerd may
# linger or leave its pidfile behind; a new dockerd would then wait for it and
# time out. Stop it (only if its command line names this bench's exec root).
reap_orphan_containerd() {
    local cpid_file=$BENCH_DIR/exec/containerd/containerd.pid cpid
    [ -s "$cpid_file" ] || return 0
    cpid=$(cat "$cpid_file")
    if [ -r "/proc/$cpid/cmdline" ] && tr '\0' ' ' <"/proc/$cpid/cmdline" | grep -q -- "containerd .*$BENCH_DIR/exec/containerd/"; then
        log "stopping orphaned containerd (pid $cpid) of a previous engine"
        kill -TERM "$cpid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$cpid" 2>/dev/null || true
    fi
    rm -f "$cpid_file"
}

start_engine() {
    local pid=""
    [ -s "$PIDFILE" ] && pid=$(cat "$PIDFILE")
    if is_our_dockerd "$pid"; then
        for _ in $(seq 60); do
            if engine_answers; then log "reusing private dockerd (pid $pid)"; return 0; fi
            sleep 0.5
        done
        die "private dockerd (pid $pid) is running but $SOCK does not answer; see $DOCKERD_LOG or run tests/testbed/down.sh"
    fi
    rm -f "$PIDFILE" "$SOCK"
    reap_orphan_containerd
    ensure_bridge
    log "starting private dockerd on $SOCK (bridge $BRIDGE $(bridge_cidr))"
    # setsid: the engine outlives this script and is not in its process group.
    setsid dockerd \
        --data-root "$BENCH_DIR/data" \
        --exec-root "$BENCH_DIR/exec" \
        -H "unix://$SOCK" \
        --pidfile "$PIDFILE" \
        --bridge "$BRIDGE" \
        --containerd-namespace matrixbox-bench \
        --containerd-plugins-namespace matrixbox-bench-plugins \
        >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    local started=$!
    for _ in $(seq 120); do
        if engine_answers; then break; fi
        kill -0 "$started" 2>/dev/null || { tail -30 "$DOCKERD_LOG" >&2; die "dockerd exited during start"; }
        sleep 0.5
    done
    engine_answers || { tail -30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s"; }
    log "dockerd ready (pid $(cat "$PIDFILE"))"
    # A freshly started private engine only holds leftovers of earlier runs:
    # drop their containers/networks/volumes (images are the cache and stay).
    local leftovers
    leftovers=$(docker ps -aq)
    if [ -n "$leftovers" ]; then
        log "removing $(echo "$leftovers" | wc -l) leftover container(s)"
        # shellcheck disable=SC2086
        docker rm -f $leftovers >/dev/null
    fi
    docker network prune -f >/dev/null
    docker volume prune -f >/dev/null
}

# ---------------------------------------------------------------- images
image_label() { # IMAGE -> value of label matrixbox.bench.hash, empty if image absent
    docker image inspect -f '{{index .Config.Labels "matrixbox.bench.hash"}}' "$1" 2>/dev/null || true
}

apt_sources() {
    if [ -s /etc/apt/sources.list.d/debian.sources ]; then
        echo /etc/apt/sources.list.d/debian.sources
    elif [ -s /etc/apt/sources.list ]; then
        echo /etc/apt/sources.list
    else
        die "no Debian apt sources found on the host"
    fi
}

rootfs_hash() { # PKGS HOOK
    printf '%s\n%s\n%s\n' "$SUITE" "$1" "$2" | sha256sum | cut -c1-16
}

# Build a rootfs tarball with mmdebstrap. Args: NAME PKGS HOOK
mmdebstrap_rootfs() {
    local name=$1 pkgs=$2 hook=$3 out=$BENCH_DIR/build/$1.tar
    local args=(--variant=minbase --include="$pkgs"
        --aptopt='Acquire::Check-Valid-Until "false"'
        --aptopt='Acquire::Languages "none"'
        --dpkgopt='path-exclude=/usr/share/man/*'
        --dpkgopt='path-exclude=/usr/share/doc/*'
        --dpkgopt='path-include=/usr/share/doc/*/copyright'
        --dpkgopt='path-exclude=/usr/share/locale/*')
    [ -n "$hook" ] && args+=(--essential-hook="$hook")
    mmdebstrap "${args[@]}" "$SUITE" "$out" - <"$(apt_sources)" >"$LOG_DIR/rootfs-$name.log" 2>&1
}

# ensure_rootfs TAG PKGS HOOK -> starts mmdebstrap in background if needed; sets ROOTFS_JOBS
declare -A ROOTFS_JOBS=()
ensure_rootfs_start() {
    local tag=$1 pkgs=$2 hook=$3 name
    name=$(basename "${tag%%:*}")
    local want
    want=$(rootfs_hash "$pkgs" "$hook")
    [ "$(image_label "$tag")" = "$want" ] && return 0
    log "building root filesystem $tag with mmdebstrap (log: $LOG_DIR/rootfs-$name.log)"
    mkdir -p "$BENCH_DIR/build"
    mmdebstrap_rootfs "$name" "$pkgs" "$hook" &
    ROOTFS_JOBS[$tag]="$!|$name|$want"
}
ensure_rootfs_finish() {
    local tag pid name want rc=0
    for tag in "${!ROOTFS_JOBS[@]}"; do
        IFS='|' read -r pid name want <<<"${ROOTFS_JOBS[$tag]}"
        if ! wait "$pid"; then
            tail -30 "$LOG_DIR/rootfs-$name.log" >&2
            log "mmdebstrap for $tag failed"
            rc=1
            continue
        fi
        docker import -c "LABEL matrixbox.bench.hash=$want" "$BENCH_DIR/build/$name.tar" "$tag" >/dev/null
        rm -f "$BENCH_DIR/build/$name.tar"
        log "imported $tag"
    done
    ROOTFS_JOBS=()
    return $rc
}

context_hash() { # DIR BASE_TAG
    local base_id
    base_id=$(docker image inspect -f '{{.Id}}' "$2")
    { echo "$base_id"; (cd "$1" && find . -type f ! -name ca-certificates.crt -print0 | sort -z | xargs -0 sha256sum); } \
        | sha256sum | cut -c1-16
}

# build_image TAG CONTEXT_DIR BASE_TAG [extra docker build args...] (runs in foreground)
build_image() {
    local tag=$1 dir=$2 base=$3 want name
    shift 3
    name=$(basename "${tag%%:*}")
    want=$(context_hash "$dir" "$base")
    if [ "$(image_label "$tag")" = "$want" ]; then return 0; fi
    log "building $tag (log: $LOG_DIR/build-$name.log)"
    local ctx=$BENCH_DIR/build/ctx-$name
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -a "$dir"/. "$ctx"/
    if ! DOCKER_BUILDKIT=0 docker build --label "matrixbox.bench.hash=$want" -t "$tag" "$@" "$ctx" \
        >"$LOG_DIR/build-$name.log" 2>&1; then
        tail -40 "$LOG_DIR/build-$name.log" >&2
        die "docker build of $tag failed"
    fi
    rm -rf "$ctx"
    log "built $tag"
}

build_images() {
    local pg_ok=0 syn_ok=0
    # Fast path: both final images present and both rootfs up to date.
    if [ "$(image_label "$PG_ROOTFS")" = "$(rootfs_hash "$PG_ROOTFS_PKGS" "$PG_ESSENTIAL_HOOK")" ] \
        && [ "$(image_label "$PG_IMAGE")" = "$(context_hash "$IMAGES_DIR/postgres" "$PG_ROOTFS")" ]; then pg_ok=1; fi
    if [ "$(image_label "$PY_ROOTFS")" = "$(rootfs_hash "$PY_ROOTFS_PKGS" "")" ] \
        && [ "$(image_label "$SYNAPSE_IMAGE")" = "$(context_hash "$IMAGES_DIR/synapse" "$PY_ROOTFS")" ]; then syn_ok=1; fi
    if [ $pg_ok = 1 ] && [ $syn_ok = 1 ]; then log "images cached: $PG_IMAGE, $SYNAPSE_IMAGE"; return 0; fi

    # Root filesystems, both at once.
    ensure_rootfs_start "$PG_ROOTFS" "$PG_ROOTFS_PKGS" "$PG_ESSENTIAL_HOOK"
    ensure_rootfs_start "$PY_ROOTFS" "$PY_ROOTFS_PKGS" ""
    ensure_rootfs_finish || die "root filesystem build failed"

    local pip_args=()
    [ -n "${PIP_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL")

    build_image "$PG_IMAGE" "$IMAGES_DIR/postgres" "$PG_ROOTFS" &
    local pg_job=$!
    build_synapse "${pip_args[@]}" &
    local syn_job=$!
    local rc=0
    wait $pg_job || rc=1
    wait $syn_job || rc=1
    [ $rc = 0 ] || die "image build failed"
}

build_synapse() {
    # The CA bundle is copied into the build context only (not into the repo).
    local dir=$BENCH_DIR/build/synapse-src
    rm -rf "$dir"; mkdir -p "$dir"
    cp -a "$IMAGES_DIR/synapse"/. "$dir"/
    cp /etc/ssl/certs/ca-certificates.crt "$dir/ca-certificates.crt"
    build_image "$SYNAPSE_IMAGE" "$dir" "$PY_ROOTFS" "$@"
    rm -rf "$dir"
}

# ---------------------------------------------------------------- upgrade test images
# An earlier Synapse from PyPI (the same Dockerfile, another SYNAPSE_VERSION), and the broken
# release built over the pinned image. Each cached by a hash of its context, base and version.
build_upgrade_images() {
    local dir=$BENCH_DIR/build/synapse-old-src want
    want=$( { context_hash "$IMAGES_DIR/synapse" "$PY_ROOTFS"; echo "$SYNAPSE_OLD_VERSION"; } | sha256sum | cut -c1-16)
    if [ "$(image_label "$SYNAPSE_OLD_IMAGE")" != "$want" ]; then
        log "building $SYNAPSE_OLD_IMAGE (log: $LOG_DIR/build-synapse-old.log)"
        rm -rf "$dir"; mkdir -p "$dir"
        cp -a "$IMAGES_DIR/synapse"/. "$dir"/
        cp /etc/ssl/certs/ca-certificates.crt "$dir/ca-certificates.crt"
        local pip_args=()
        [ -n "${PIP_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
        [ -n "${PIP_EXTRA_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL")
        DOCKER_BUILDKIT=0 docker build --label "matrixbox.bench.hash=$want" \
            --build-arg "SYNAPSE_VERSION=$SYNAPSE_OLD_VERSION" "${pip_args[@]}" \
            -t "$SYNAPSE_OLD_IMAGE" "$dir" >"$LOG_DIR/build-synapse-old.log" 2>&1 \
            || { tail -40 "$LOG_DIR/build-synapse-old.log" >&2; die "docker build of $SYNAPSE_OLD_IMAGE failed"; }
        rm -rf "$dir"
    fi
    build_image "$SYNAPSE_BROKEN_IMAGE" "$IMAGES_DIR/synapse-broken" "$SYNAPSE_IMAGE" --build-arg "BASE=$SYNAPSE_IMAGE"
}

# The systemd rootfs, cached like the others (by a hash of its package list).
build_systemd_image() {
    [ "$(image_label "$SYSTEMD_IMAGE")" = "$(rootfs_hash "$SYSTEMD_PKGS" "")" ] && return 0
    ensure_rootfs_start "$SYSTEMD_IMAGE" "$SYSTEMD_PKGS" ""
    ensure_rootfs_finish || die "systemd root filesystem build failed"
}

# cargo-deb builds the .deb the package tests install (from the Rust crate registry).
ensure_cargo_deb() {
    command -v cargo-deb >/dev/null 2>&1 && return 0
    log "installing cargo-deb (cargo install --locked cargo-deb, ~2 min; log: $LOG_DIR/cargo-deb.log)"
    cargo install --locked cargo-deb >"$LOG_DIR/cargo-deb.log" 2>&1 \
        || { tail -20 "$LOG_DIR/cargo-deb.log" >&2; die "cargo install cargo-deb failed"; }
}

# --- web client: Element Web's stand-in (FROM scratch: nothing to pull), see images/element-web ---
ELEMENT_IMAGE=matrixbox-test/element-web:1.0.0
build_element_image() {
    local dir=$IMAGES_DIR/element-web want
    want=$( (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
    [ "$(image_label "$ELEMENT_IMAGE")" = "$want" ] && return 0
    DOCKER_BUILDKIT=0 docker build --label "matrixbox.bench.hash=$want" -t "$ELEMENT_IMAGE" "$dir" \
        >"$LOG_DIR/build-element-web.log" 2>&1 \
        || { tail -20 "$LOG_DIR/build-element-web.log" >&2; die "docker build of $ELEMENT_IMAGE failed"; }
    log "built $ELEMENT_IMAGE"
}
# --- end web client ---

verify_images() {
    local img
    for img in "$PG_IMAGE" "$SYNAPSE_IMAGE" "$SYSTEMD_IMAGE" "$SYNAPSE_OLD_IMAGE" "$SYNAPSE_BROKEN_IMAGE" "$COTURN_IMAGE" "$PG_NEXT_IMAGE" "$REDIS_IMAGE" "$SYNAPSE_WORKERS_IMAGE"; do
        docker image inspect "$img" >/dev/null 2>&1 || die "image $img missing after build"
    done
}

write_env() {
    cat >"$BENCH_DIR/env.tmp" <<EOF
export DOCKER_HOST=unix://$SOCK
export MATRIXBOX_TEST_DOCKER_HOST=unix://$SOCK
export MATRIXBOX_TEST_PG_IMAGE=$PG_IMAGE
export MATRIXBOX_TEST_SYNAPSE_IMAGE=$SYNAPSE_IMAGE
export MATRIXBOX_TEST_SYSTEMD_IMAGE=$SYSTEMD_IMAGE
export MATRIXBOX_TEST_SYNAPSE_OLD_IMAGE=$SYNAPSE_OLD_IMAGE
export MATRIXBOX_TEST_SYNAPSE_BROKEN_IMAGE=$SYNAPSE_BROKEN_IMAGE
export MATRIXBOX_TEST_ELEMENT_IMAGE=$ELEMENT_IMAGE
export MATRIXBOX_TEST_COTURN_IMAGE=$COTURN_IMAGE
export MATRIXBOX_TEST_PG_NEXT_IMAGE=$PG_NEXT_IMAGE
export MATRIXBOX_TEST_REDIS_IMAGE=$REDIS_IMAGE
export MATRIXBOX_TEST_SYNAPSE_WORKERS_IMAGE=$SYNAPSE_WORKERS_IMAGE
EOF
    mv "$BENCH_DIR/env.tmp" "$BENCH_DIR/env"
}

# ---------------------------------------------------------------- TURN (tests/turn_e2e.rs)
# coturn from Debian's package, as a root filesystem image (the test gives its entrypoint).
COTURN_IMAGE=matrixbox-test/coturn:4.6.1
COTURN_PKGS=ca-certificates,coturn
build_coturn_image() {
    [ "$(image_label "$COTURN_IMAGE")" = "$(rootfs_hash "$COTURN_PKGS" "")" ] && return 0
    ensure_rootfs_start "$COTURN_IMAGE" "$COTURN_PKGS" ""
    ensure_rootfs_finish || die "coturn root filesystem build failed"
}

# ---------------------------------------------------------------- PostgreSQL major (tests/pgmajor_e2e.rs)
# A newer PostgreSQL major than the pinned 15: postgresql-17 from Debian trixie (mmdebstrap, the
# same mirror as the host's sources), with images/postgres's entrypoint. Cached by a hash of its
# package list and context like the other images.
PG_NEXT_SUITE=trixie
PG_NEXT_ROOTFS=matrixbox-test/pg-rootfs:$PG_NEXT_SUITE
PG_NEXT_ROOTFS_PKGS=ca-certificates,postgresql-17,passwd,util-linux
PG_NEXT_IMAGE=matrixbox-test/postgres:17
build_pg_next_image() {
    local want mirror out=$BENCH_DIR/build/pg-rootfs-$PG_NEXT_SUITE.tar
    want=$(printf '%s\n%s\n%s\n' "$PG_NEXT_SUITE" "$PG_NEXT_ROOTFS_PKGS" "$PG_ESSENTIAL_HOOK" | sha256sum | cut -c1-16)
    if [ "$(image_label "$PG_NEXT_ROOTFS")" != "$want" ]; then
        mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' "$(apt_sources)")
        mirror=${mirror:-http://deb.debian.org/debian}
        log "building root filesystem $PG_NEXT_ROOTFS with mmdebstrap from $mirror (log: $LOG_DIR/rootfs-pg-$PG_NEXT_SUITE.log)"
        mkdir -p "$BENCH_DIR/build"
        mmdebstrap --variant=minbase --include="$PG_NEXT_ROOTFS_PKGS" \
            --aptopt='Acquire::Languages "none"' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --essential-hook="$PG_ESSENTIAL_HOOK" \
            "$PG_NEXT_SUITE" "$out" "deb $mirror $PG_NEXT_SUITE main" \
            >"$LOG_DIR/rootfs-pg-$PG_NEXT_SUITE.log" 2>&1 \
            || { tail -30 "$LOG_DIR/rootfs-pg-$PG_NEXT_SUITE.log" >&2; die "mmdebstrap for $PG_NEXT_ROOTFS failed"; }
        docker import -c "LABEL matrixbox.bench.hash=$want" "$out" "$PG_NEXT_ROOTFS" >/dev/null
        rm -f "$out"
        log "imported $PG_NEXT_ROOTFS"
    fi
    local dir=$BENCH_DIR/build/postgres-next-src
    rm -rf "$dir"; mkdir -p "$dir"
    cp -a "$IMAGES_DIR/postgres-next"/. "$dir"/
    cp "$IMAGES_DIR/postgres/docker-entrypoint.sh" "$dir/"
    build_image "$PG_NEXT_IMAGE" "$dir" "$PG_NEXT_ROOTFS"
    rm -rf "$dir"
}
# --- end PostgreSQL major ---

# ---------------------------------------------------------------- workers (tests/workers_e2e.rs)
# Redis from Debian's package, as a root filesystem image (the test gives its entrypoint), and the
# bench's Synapse with the `redis` extra that workers need (the official image has it).
REDIS_IMAGE=matrixbox-test/redis:7.0
REDIS_PKGS=redis-server
SYNAPSE_WORKERS_IMAGE=matrixbox-test/synapse:1.163.2-redis
build_workers_images() {
    if [ "$(image_label "$REDIS_IMAGE")" != "$(rootfs_hash "$REDIS_PKGS" "")" ]; then
        ensure_rootfs_start "$REDIS_IMAGE" "$REDIS_PKGS" ""
        ensure_rootfs_finish || die "redis root filesystem build failed"
    fi
    local pip_args=()
    [ -n "${PIP_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] && pip_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$PIP_EXTRA_INDEX_URL")
    build_image "$SYNAPSE_WORKERS_IMAGE" "$IMAGES_DIR/synapse-workers" "$SYNAPSE_IMAGE" \
        --build-arg "BASE=$SYNAPSE_IMAGE" "${pip_args[@]}"
}
# --- end workers ---

# ---------------------------------------------------------------- off-host backups (tests/offsite_e2e.rs)
# moto's S3-compatible server from PyPI (pinned in tests/s3/requirements.txt) in its own venv,
# $BENCH_DIR/s3-venv; the test starts it on a free loopback port.
ensure_s3_venv() {
    BENCH_DIR=$BENCH_DIR "$HERE/../s3/setup.sh" || die "the S3 test server's venv could not be set up"
}

ensure_packages
start_engine
build_images
build_systemd_image
build_upgrade_images
build_element_image
build_coturn_image
build_pg_next_image
build_workers_images
ensure_s3_venv
ensure_cargo_deb
verify_images
write_env
log "bench ready in $(($(date +%s) - T0)) s"
echo "export DOCKER_HOST=unix://$SOCK    # also in $BENCH_DIR/env"
