#!/usr/bin/env bash
# Static release binaries: x86_64 and aarch64 musl, plus SHA256SUMS, in dist/ (or $DIST).
#
#   packaging/build-static.sh            # both arches
#   TARGETS=x86_64-unknown-linux-musl packaging/build-static.sh
#
# ring (the only rustls crypto provider) compiles C, so this installs Debian's musl-tools
# (x86_64) and gcc-aarch64-linux-gnu (aarch64) when missing, and the Rust targets via rustup.
# The aarch64 binary is smoke-run under qemu-user-static when that is installed (or installable).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST=${DIST:-$ROOT/dist}
TARGETS=${TARGETS:-"x86_64-unknown-linux-musl aarch64-unknown-linux-musl"}

log() { printf '[build-static] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

apt_install() {
    [ "$(id -u)" = 0 ] || die "missing $* (apt-get install $*): run as root or install them first"
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "$@" >/dev/null \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "$@" >/dev/null; } \
        || die "apt-get install $* failed"
}

ensure_toolchain() {
    local target=$1
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    case $target in
        x86_64-unknown-linux-musl)
            command -v musl-gcc >/dev/null || apt_install musl-tools ;;
        aarch64-unknown-linux-musl)
            # The cross libc headers are only a recommendation of the compiler package; ring needs them.
            { command -v aarch64-linux-gnu-gcc >/dev/null && [ -e /usr/aarch64-linux-gnu/include/stdint.h ]; } \
                || apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;;
        *) die "unsupported target $target" ;;
    esac
}

build() {
    local target=$1
    case $target in
        x86_64-unknown-linux-musl)
            export CC_x86_64_unknown_linux_musl=musl-gcc ;;
        aarch64-unknown-linux-musl)
            # ring's C and assembly need a cross compiler; rust-lld links the static binary.
            export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
            export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld
            # jemalloc cannot probe the page size when cross-compiled; 64 KiB pages (RHEL's arm64
            # kernels) would abort at start, and 64 KiB works on 4 KiB-page kernels too.
            export JEMALLOC_SYS_WITH_LG_PAGE=16 ;;
    esac
    log "building $target"
    # Release binaries carry no symbols (a third of the size); the .deb strips its own.
    CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --locked --target "$target" --manifest-path "$ROOT/Cargo.toml"
    local arch=${target%%-*}
    install -m 0755 "$ROOT/target/$target/release/matrixbox" "$DIST/matrixbox-linux-$arch"
}

smoke() {
    local arch=$1 bin=$DIST/matrixbox-linux-$1
    file "$bin" 2>/dev/null | grep -q 'static' || log "note: file(1) does not call $bin static"
    case $arch in
        x86_64) "$bin" --version ;;
        aarch64)
            command -v qemu-aarch64-static >/dev/null || apt_install qemu-user-static
            qemu-aarch64-static "$bin" --version ;;
    esac
}

main() {
    # One provider only: a second one (aws-lc-rs) would also need cmake and panic without an explicit default.
    if (cd "$ROOT" && cargo tree -e normal -i aws-lc-rs >/dev/null 2>&1); then
        die "aws-lc-rs is in the dependency graph; matrixbox builds with ring only"
    fi
    mkdir -p "$DIST"
    local target arch
    for target in $TARGETS; do ensure_toolchain "$target"; done
    for target in $TARGETS; do build "$target"; done
    for target in $TARGETS; do
        arch=${target%%-*}
        log "smoke run $arch: $(smoke "$arch")"
    done
    (cd "$DIST" && sha256sum matrixbox-linux-* > SHA256SUMS)
    log "sizes:"
    (cd "$DIST" && stat -c '%n %s' matrixbox-linux-* | awk '{printf "  %s %d bytes (%.1f MiB)\n", $1, $2, $2/1048576}') >&2
    cat "$DIST/SHA256SUMS"
}

main "$@"
