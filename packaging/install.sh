#!/bin/sh
# Installs matrixbox:  curl -fsSL <release-url>/install.sh | sh
#
#   sh install.sh [--dry-run] [--version X] [--static] [--uninstall [--purge]]
#
# Debian/Ubuntu: adds the signed apt repository and installs the package. Elsewhere (or with
# --static): downloads the static binary, checks SHA256SUMS and its signature, installs it to
# /usr/local/bin with the systemd unit. Every download is checked against the release key that
# packaging/release.sh stamps into this script (release_key below); no downloaded key is ever
# trusted, and apt gets exactly that key. Re-running changes nothing and restarts nothing.
# --uninstall removes what this script installed; --purge also removes the containers, the
# configuration and all data (the homeserver's database, media and keys).
#
# Every step is a function; only the last line runs anything, so a download cut short runs nothing.
# Environment: MATRIXBOX_RELEASE_URL, MATRIXBOX_APT_URL (mirrors of the release files and the
# repository; the key stays pinned). Downloads are https only (TLS 1.2 or later, no redirect to
# anything else); plain http is accepted from 127.0.0.1 and localhost alone, where the tests serve
# a release and TLS would protect nothing.

set -eu

BASE_URL=@BASE_URL@
KEY_FINGERPRINT=@KEY_FINGERPRINT@
RELEASE_URL=${MATRIXBOX_RELEASE_URL:-$BASE_URL/releases}
APT_URL=${MATRIXBOX_APT_URL:-$BASE_URL/apt}
SUITE=bookworm
KEYRING=/etc/apt/keyrings/matrixbox.gpg
SOURCES=/etc/apt/sources.list.d/matrixbox.list
BIN=/usr/local/bin/matrixbox
UNIT=/etc/systemd/system/matrixbox.service
CONFIG_DIR=/etc/matrixbox
STATE_DIR=${MATRIXBOX_STATE_DIR:-/var/lib/matrixbox}

DRY_RUN=0
VERSION=
ACTION=install
PURGE=0
FORCE_STATIC=0
SUDO=
TMP=

# The release's public key, stamped in by packaging/release.sh: the only key this script trusts.
release_key() {
    cat <<'EOF'
@RELEASE_KEY@
EOF
}

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

# Also under `curl | sh`, where there is no script file to read the header from.
usage() {
    cat <<'EOF'
usage: install.sh [--dry-run] [--version X] [--static] [--uninstall [--purge]]

  --dry-run      show what would change, change nothing
  --version X    install version X instead of the latest
  --static       the static binary and unit, also on Debian/Ubuntu (default there: the apt repository)
  --uninstall    remove matrixbox; configuration and data stay
  --purge        with --uninstall: also the containers, the configuration and all data
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift ;;
            --version=*) VERSION=${1#--version=} ;;
            --static) FORCE_STATIC=1 ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
        shift
    done
    [ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge goes with --uninstall"
}

check_stamped() {
    case $KEY_FINGERPRINT$BASE_URL$(release_key) in
        *@KEY_FINGERPRINT@*|*@BASE_URL@*|*@RELEASE_KEY@*) die "this is the unreleased template of install.sh: use the install.sh published with a release (packaging/release.sh stamps the signing key into it)" ;;
    esac
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
    [ "$(uname -s)" = Linux ] || die "matrixbox runs on Linux only"
    case $(uname -m) in
        x86_64|amd64) ARCH=x86_64 ;;
        aarch64|arm64) ARCH=aarch64 ;;
        *) die "unsupported architecture $(uname -m): matrixbox runs on x86_64 and aarch64" ;;
    esac
}

# /etc/os-release overwrites VERSION, NAME and ID: read it in a subshell.
detect_os() {
    # shellcheck source=/dev/null  # the host's file, read at install time
    OS_ID=$( (. /etc/os-release 2>/dev/null && echo "${ID:-unknown} ${ID_LIKE:-}") || echo unknown)
    USE_APT=0
    if [ "$FORCE_STATIC" = 0 ]; then
        case " $OS_ID " in
            *" debian "*|*" ubuntu "*) USE_APT=1 ;;
        esac
    fi
}

make_tmp() {
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
}

# curl's options for URL: https with TLS 1.2 or later, redirects included; http only on loopback.
# A user name in the URL could make "http://127.0.0.1:80@elsewhere/" go elsewhere: refused.
curl_proto() { # URL
    case $1 in
        *@*) die "refusing $1: a download URL has no user part; nothing was changed" ;;
        https://*) echo "--proto =https --proto-redir =https --tlsv1.2" ;;
        http://127.0.0.1[:/]*|http://localhost[:/]*) echo "--proto =http --proto-redir =http" ;;
        *) die "refusing $1: downloads go over https (plain http only from 127.0.0.1 or localhost, for tests); nothing was changed" ;;
    esac
}

fetch() { # URL FILE
    proto=$(curl_proto "$1") || exit 1
    # $proto is split on purpose: it holds several options, none with spaces.
    # shellcheck disable=SC2086
    curl -fsSL --retry 3 $proto -o "$2" "$1" || die "cannot download $1; nothing was changed"
}

# The stamped key, binary (what gpgv and apt's signed-by read): the armor's base64 between the
# header block's blank line and the checksum line. No gnupg needed, only base64.
write_release_key() {
    if ! release_key | awk '
            /^-----BEGIN PGP PUBLIC KEY BLOCK-----$/ { part = 1; next }
            part == 1 && /^$/ { part = 2; next }
            part == 2 && /^(=|-----END)/ { exit }
            part == 2 { print }' | base64 -d > "$TMP/release-key.gpg" 2>/dev/null \
        || [ ! -s "$TMP/release-key.gpg" ]; then
        die "the release key stamped into this script is damaged: download install.sh again"
    fi
}

# Succeeds when SIGNATURE over FILE is good and made by the pinned key, checked with the stamped
# key alone (gpgv reports the signing key's and the primary key's fingerprints). gpgv ships with
# apt, so Debian needs no gnupg.
signed_by_release_key() { # SIGNATURE [FILE]
    if command -v gpgv >/dev/null 2>&1; then
        status=$(gpgv --status-fd 1 --keyring "$TMP/release-key.gpg" "$1" ${2:+"$2"} 2>/dev/null) || return 1
    else
        status=$(gpg --batch --no-default-keyring --status-fd 1 --keyring "$TMP/release-key.gpg" --verify "$1" ${2:+"$2"} 2>/dev/null) || return 1
    fi
    printf '%s\n' "$status" | awk -v want="$KEY_FINGERPRINT" \
        '$2 == "VALIDSIG" && ($3 == want || $NF == want) { ok = 1 } END { exit !ok }'
}

# apt refuses a Release past its Valid-Until; so does this script, before it changes anything, and
# it also refuses one without (an old copy replayed by a mirror never expires). The fields are read
# from the text the signature covers: lines outside a clearsigned block are anyone's.
check_valid_until() { # INRELEASE
    gpgv --keyring "$TMP/release-key.gpg" --output "$TMP/Release" "$1" 2>/dev/null \
        || die "cannot read the signed part of $APT_URL/dists/$SUITE/InRelease; nothing was changed"
    valid_until=$(sed -n 's/^Valid-Until: //p' "$TMP/Release")
    [ -n "$valid_until" ] || die "the repository at $APT_URL has no Valid-Until, so an old copy could be replayed forever; nothing was changed"
    until_s=$(date -d "$valid_until" +%s 2>/dev/null) || die "cannot read Valid-Until: $valid_until in $APT_URL/dists/$SUITE/InRelease; nothing was changed"
    [ "$(date +%s)" -lt "$until_s" ] \
        || die "the repository at $APT_URL expired on $valid_until (an old copy, or a release not re-signed in time); nothing was changed"
}

install_apt() {
    need curl; need gpgv; need base64
    write_release_key
    # The by-hand instructions install this file: a mirror that adds its own key to it could sign
    # whatever it likes for those users. It must be the stamped key, byte for byte.
    fetch "$APT_URL/matrixbox-archive-keyring.gpg" "$TMP/served-key.gpg"
    cmp -s "$TMP/served-key.gpg" "$TMP/release-key.gpg" \
        || die "$APT_URL/matrixbox-archive-keyring.gpg is not exactly the release key $KEY_FINGERPRINT (a key added to it would be trusted by whoever installs it by hand); nothing was changed"
    fetch "$APT_URL/dists/$SUITE/InRelease" "$TMP/InRelease"
    signed_by_release_key "$TMP/InRelease" \
        || die "the repository at $APT_URL is not signed by the release key $KEY_FINGERPRINT; nothing was changed"
    check_valid_until "$TMP/InRelease"
    # check-valid-until=yes: apt's own expiry check, kept on where Acquire::Check-Valid-Until turned
    # it off for all sources (images built with mmdebstrap do).
    line="deb [signed-by=$KEYRING check-valid-until=yes] $APT_URL $SUITE main"
    if ! cmp -s "$TMP/release-key.gpg" "$KEYRING" 2>/dev/null; then
        run install -D -m 0644 "$TMP/release-key.gpg" "$KEYRING"
    fi
    if [ "$(cat "$SOURCES" 2>/dev/null)" != "$line" ]; then
        if [ "$DRY_RUN" = 1 ]; then say "would write $SOURCES: $line"; else printf '%s\n' "$line" | $SUDO tee "$SOURCES" >/dev/null; fi
    fi
    installed=$(dpkg-query -W -f '${Status} ${Version}' matrixbox 2>/dev/null || true)
    case $installed in
        "install ok installed "*)
            if [ -z "$VERSION" ] || [ "${installed##* }" = "$VERSION" ]; then
                say "matrixbox ${installed##* } is already installed; nothing to do (upgrades come with apt-get upgrade)"
                return 0
            fi ;;
    esac
    # Only this repository's index is refreshed: the user's other sources are not our business.
    run apt-get update -q -o Dir::Etc::sourcelist="$SOURCES" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "matrixbox${VERSION:+=$VERSION}"
}

install_static() {
    need curl; need sha256sum; need base64
    command -v gpgv >/dev/null 2>&1 || need gpg
    write_release_key
    base=$RELEASE_URL/${VERSION:-latest}
    file=matrixbox-linux-$ARCH
    fetch "$base/SHA256SUMS" "$TMP/SHA256SUMS"
    fetch "$base/SHA256SUMS.asc" "$TMP/SHA256SUMS.asc"
    signed_by_release_key "$TMP/SHA256SUMS.asc" "$TMP/SHA256SUMS" \
        || die "SHA256SUMS at $base is not signed by the release key $KEY_FINGERPRINT; nothing was changed"
    fetch "$base/$file" "$TMP/$file"
    (cd "$TMP" && grep " $file\$" SHA256SUMS | sha256sum -c - >/dev/null 2>&1) \
        || die "$file from $base does not match its signed SHA256SUMS; nothing was changed"
    chmod 0755 "$TMP/$file"
    binary_changed=0
    if cmp -s "$TMP/$file" "$BIN"; then
        say "$BIN is already this version"
    else
        run install -m 0755 "$TMP/$file" "$BIN"
        binary_changed=1
    fi
    "$TMP/$file" unit | sed "s|^ExecStart=[^ ]*|ExecStart=$BIN|" > "$TMP/unit"
    if ! cmp -s "$TMP/unit" "$UNIT"; then
        run install -m 0644 "$TMP/unit" "$UNIT"
        run systemctl daemon-reload
    fi
    # Enabled, not started: the service starts once `matrixbox setup` has written a config.
    if ! systemctl is-enabled --quiet matrixbox.service 2>/dev/null; then
        run systemctl enable matrixbox.service
    fi
    # A running service moves to the new binary; a stopped one stays stopped.
    if [ "$binary_changed" = 1 ] && systemctl is-active --quiet matrixbox.service 2>/dev/null; then
        run systemctl restart matrixbox.service
    fi
}

# Asks on the terminal (stdin is this script under `curl | sh`); without one, only says what to do.
offer_docker() {
    if command -v docker >/dev/null 2>&1 || [ -S /run/docker.sock ] || [ -S /var/run/docker.sock ]; then
        return 0
    fi
    say "Docker is not installed; matrixbox runs PostgreSQL and Synapse on it"
    if [ "$USE_APT" = 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "install Docker from your distribution's packages, then run: matrixbox preflight"
        return 0
    fi
    answer=n
    if [ "$DRY_RUN" = 0 ] && { : </dev/tty; } 2>/dev/null; then
        printf 'matrixbox-install: install docker.io from your distribution now? [Y/n] ' >/dev/tty
        read -r answer </dev/tty || answer=n
        case $answer in ""|y|Y|yes) answer=y ;; esac
    fi
    if [ "$answer" = y ]; then
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
    else
        say "install Docker before setup: apt-get install docker.io"
    fi
}

# The containers go before the files they mount; a failure here leaves them for the user to remove.
remove_containers() { # MATRIXBOX
    [ -e "$CONFIG_DIR/matrixbox.yaml" ] || return 0
    # The instance (`instance:` in the config, default matrixbox) names the containers and network.
    instance=$(sed -n 's/^instance:[^a-z0-9-]*\([a-z0-9-]*\).*/\1/p' "$CONFIG_DIR/matrixbox.yaml" | head -n 1)
    instance=${instance:-matrixbox}
    say "purge removes the containers $instance-synapse and $instance-postgres and the network $instance"
    run "$1" down --remove \
        || say "could not remove the containers; remove them with: docker rm -f $instance-synapse $instance-postgres"
}

remove_data() {
    for dir in "$CONFIG_DIR" "$STATE_DIR"; do
        [ -e "$dir" ] || continue
        say "purge removes $dir (configuration, secrets, database and media)"
        run rm -rf "$dir"
    done
}

uninstall() {
    if systemctl is-active --quiet matrixbox.service 2>/dev/null; then
        run systemctl stop matrixbox.service
    fi
    if dpkg-query -W -f '${Status}' matrixbox 2>/dev/null | grep -q 'ok installed'; then
        [ "$PURGE" = 0 ] || remove_containers /usr/bin/matrixbox
        # The package's own purge removes the configuration and data (it says so).
        if [ "$PURGE" = 1 ]; then run apt-get purge -y -q matrixbox; else run apt-get remove -y -q matrixbox; fi
        [ ! -e "$SOURCES" ] || run rm -f "$SOURCES"
        [ ! -e "$KEYRING" ] || run rm -f "$KEYRING"
    else
        [ "$PURGE" = 0 ] || [ ! -x "$BIN" ] || remove_containers "$BIN"
        if [ -e "$UNIT" ]; then
            run systemctl disable --quiet matrixbox.service
            run rm -f "$UNIT"
            run systemctl daemon-reload
        fi
        [ ! -e "$BIN" ] || run rm -f "$BIN"
        [ "$PURGE" = 0 ] || remove_data
    fi
    if [ "$DRY_RUN" = 1 ]; then
        say "dry run: nothing was removed"
    elif [ "$PURGE" = 1 ]; then
        say "uninstalled and purged"
    else
        say "uninstalled; configuration and data stay in $CONFIG_DIR and $STATE_DIR (--purge removes them)"
    fi
}

main() {
    parse_args "$@"
    need_root
    detect_arch
    detect_os
    if [ "$ACTION" = uninstall ]; then uninstall; return 0; fi
    check_stamped
    make_tmp
    if [ "$USE_APT" = 1 ]; then install_apt; else install_static; fi
    offer_docker
    if [ "$DRY_RUN" = 1 ]; then say "dry run: nothing was changed"; fi
    say "done. Next: matrixbox setup --domain matrix.example.com --email you@example.com"
}

main "$@"
