#!/bin/sh
# Installs matrixbox:  curl -fsSL https://<release-host>/install.sh | sh
#
#   sh install.sh [--dry-run] [--version X] [--uninstall [--purge]]
#
# Debian/Ubuntu: adds the signed apt repository (key checked against the fingerprint pinned below)
# and installs the package. Elsewhere: downloads the static binary, verifies SHA256SUMS and its
# signature, installs it to /usr/local/bin with the systemd unit. Re-running changes nothing and
# restarts nothing. Every step is a function; only the last line runs anything, so a download cut
# short runs nothing.
#
# Environment: MATRIXBOX_RELEASE_URL (static files), MATRIXBOX_APT_URL (repository),
# MATRIXBOX_KEY_FINGERPRINT (override the pinned key, for tests and mirrors).

set -eu

RELEASE_URL=${MATRIXBOX_RELEASE_URL:-https://get.matrixbox.invalid/releases}
APT_URL=${MATRIXBOX_APT_URL:-https://get.matrixbox.invalid/apt}
# The release signing key; a key with another fingerprint is refused.
KEY_FINGERPRINT=${MATRIXBOX_KEY_FINGERPRINT:-0000000000000000000000000000000000000000}
KEYRING=/etc/apt/keyrings/matrixbox.gpg
SOURCES=/etc/apt/sources.list.d/matrixbox.list
BIN=/usr/local/bin/matrixbox
UNIT=/etc/systemd/system/matrixbox.service

DRY_RUN=0
VERSION=
ACTION=install
PURGE=0
SUDO=

say() { printf 'matrixbox-install: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Runs a command, or only shows it with --dry-run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        say "would run: $*"
    else
        $SUDO "$@"
    fi
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift ;;
            --version=*) VERSION=${1#--version=} ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            -h|--help) sed -n '2,13p' "$0" 2>/dev/null || true; exit 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
        shift
    done
    [ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge goes with --uninstall"
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "run as root (or install sudo)"
        SUDO=sudo
        say "not root: using sudo"
    fi
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is needed: install it and run again"; }

detect_arch() {
    case $(uname -m) in
        x86_64|amd64) ARCH=x86_64; DEB_ARCH=amd64 ;;
        aarch64|arm64) ARCH=aarch64; DEB_ARCH=arm64 ;;
        *) die "unsupported architecture $(uname -m): matrixbox runs on x86_64 and aarch64" ;;
    esac
    [ "$(uname -s)" = Linux ] || die "matrixbox runs on Linux only"
}

# /etc/os-release overwrites VERSION, NAME and ID: read it in a subshell.
detect_os() {
    OS_ID=$( (. /etc/os-release 2>/dev/null && echo "${ID:-unknown} ${ID_LIKE:-}") || echo unknown)
    case " $OS_ID " in
        *" debian "*|*" ubuntu "*) USE_APT=1 ;;
        *) USE_APT=0 ;;
    esac
}

fetch() { # URL FILE
    curl -fsSL --retry 3 -o "$2" "$1" || die "cannot download $1"
}

install_apt() {
    need curl; need gpg
    tmp=$(mktemp -d)
    fetch "$APT_URL/matrixbox-archive-keyring.gpg" "$tmp/key.gpg"
    got=$(gpg --batch --show-keys --with-colons "$tmp/key.gpg" | awk -F: '/^fpr/ {print $10; exit}')
    [ "$got" = "$KEY_FINGERPRINT" ] || die "the repository key has fingerprint ${got:-none}, expected $KEY_FINGERPRINT; nothing installed"
    line="deb [signed-by=$KEYRING] $APT_URL bookworm main"
    if ! cmp -s "$tmp/key.gpg" "$KEYRING" 2>/dev/null; then
        run install -D -m 0644 "$tmp/key.gpg" "$KEYRING"
    fi
    if [ "$(cat "$SOURCES" 2>/dev/null)" != "$line" ]; then
        if [ "$DRY_RUN" = 1 ]; then say "would write $SOURCES: $line"; else printf '%s\n' "$line" | $SUDO tee "$SOURCES" >/dev/null; fi
    fi
    pkg=matrixbox
    [ -z "$VERSION" ] || pkg="matrixbox=$VERSION"
    installed=$(dpkg-query -W -f '${Status} ${Version}' matrixbox 2>/dev/null || true)
    case $installed in
        "install ok installed "*)
            if [ -z "$VERSION" ] || [ "${installed##* }" = "$VERSION" ]; then
                say "matrixbox ${installed##* } is already installed; nothing to do"
                rm -rf "$tmp"; return 0
            fi ;;
    esac
    run apt-get update -q -o Dir::Etc::sourcelist="$SOURCES" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"
    rm -rf "$tmp"
}

install_static() {
    need curl; need gpg; need sha256sum
    base=$RELEASE_URL/${VERSION:-latest}
    tmp=$(mktemp -d)
    fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS"
    fetch "$base/SHA256SUMS.asc" "$tmp/SHA256SUMS.asc"
    fetch "$base/matrixbox-archive-keyring.gpg" "$tmp/key.gpg"
    got=$(gpg --batch --show-keys --with-colons "$tmp/key.gpg" | awk -F: '/^fpr/ {print $10; exit}')
    [ "$got" = "$KEY_FINGERPRINT" ] || die "the release key has fingerprint ${got:-none}, expected $KEY_FINGERPRINT; nothing installed"
    gpgv --keyring "$tmp/key.gpg" "$tmp/SHA256SUMS.asc" "$tmp/SHA256SUMS" >/dev/null 2>&1 \
        || die "SHA256SUMS is not signed by the release key; nothing installed"
    fetch "$base/matrixbox-linux-$ARCH" "$tmp/matrixbox-linux-$ARCH"
    (cd "$tmp" && grep " matrixbox-linux-$ARCH\$" SHA256SUMS | sha256sum -c - >/dev/null 2>&1) \
        || die "matrixbox-linux-$ARCH does not match SHA256SUMS; nothing installed"
    chmod 0755 "$tmp/matrixbox-linux-$ARCH"
    if cmp -s "$tmp/matrixbox-linux-$ARCH" "$BIN"; then
        say "$BIN is already this version"
    else
        run install -m 0755 "$tmp/matrixbox-linux-$ARCH" "$BIN"
        # A running service moves to the new binary; a stopped one stays stopped.
        run systemctl try-restart matrixbox.service
    fi
    "$tmp/matrixbox-linux-$ARCH" unit | sed "s|^ExecStart=[^ ]*|ExecStart=$BIN|" > "$tmp/unit"
    if ! cmp -s "$tmp/unit" "$UNIT"; then
        run install -m 0644 "$tmp/unit" "$UNIT"
        run systemctl daemon-reload
    fi
    if ! systemctl is-enabled --quiet matrixbox.service 2>/dev/null; then
        run systemctl enable matrixbox.service
    fi
    rm -rf "$tmp"
}

offer_docker() {
    command -v docker >/dev/null 2>&1 && return 0
    say "Docker is not installed; matrixbox runs PostgreSQL and Synapse on it"
    if [ "$USE_APT" = 1 ]; then
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
    else
        say "install Docker from your distribution's packages, then run: matrixbox preflight"
    fi
}

uninstall() {
    if systemctl is-active --quiet matrixbox.service 2>/dev/null; then
        run systemctl stop matrixbox.service
    fi
    if dpkg-query -W -f '${Status}' matrixbox 2>/dev/null | grep -q 'ok installed'; then
        if [ "$PURGE" = 1 ]; then run apt-get purge -y -q matrixbox; else run apt-get remove -y -q matrixbox; fi
        [ ! -e "$SOURCES" ] || run rm -f "$SOURCES"
        [ ! -e "$KEYRING" ] || run rm -f "$KEYRING"
    else
        if [ -e "$UNIT" ]; then
            run systemctl disable matrixbox.service
            run rm -f "$UNIT"
            run systemctl daemon-reload
        fi
        [ ! -e "$BIN" ] || run rm -f "$BIN"
        if [ "$PURGE" = 1 ]; then
            for dir in /etc/matrixbox /var/lib/matrixbox; do
                [ -e "$dir" ] || continue
                say "purge removes $dir (configuration, secrets, database and media)"
                run rm -rf "$dir"
            done
        fi
    fi
    if [ "$DRY_RUN" = 1 ]; then say "dry run: nothing was removed"; else say "uninstalled"; fi
}

main() {
    parse_args "$@"
    need_root
    detect_arch
    detect_os
    if [ "$ACTION" = uninstall ]; then uninstall; return 0; fi
    if [ "$USE_APT" = 1 ]; then install_apt; else install_static; fi
    offer_docker
    say "done. Next: matrixbox setup --domain matrix.example.com --email you@example.com"
}

main "$@"
