#!/usr/bin/env bash
# A release directory to upload as-is to BASE_URL (the URL users pipe install.sh from):
#
#   GNUPGHOME=... packaging/release.sh OUT_DIR BASE_URL KEY_ID
#
# OUT_DIR gets:
#   install.sh                     packaging/install.sh with BASE_URL and KEY_ID's fingerprint pinned
#   releases/<VERSION>/            matrixbox-linux-<arch>, SHA256SUMS, SHA256SUMS.asc (signed by
#   releases/latest/               KEY_ID), matrixbox-archive-keyring.gpg; latest is a copy
#   apt/                           the signed apt repository (packaging/apt-repo.sh)
# Publishing into an OUT_DIR that holds earlier releases keeps them, in releases/ and in the
# repository's pool, so `install.sh --version X` and apt upgrades from older versions work.
#
# Environment: DIST (the static binaries from packaging/build-static.sh; default dist/), DEBS (the
# .deb files; default $DIST/*.deb), VERSION (the release name; default Cargo.toml's version).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -eq 3 ] || { echo "usage: $0 OUT_DIR BASE_URL KEY_ID" >&2; exit 2; }
OUT=$1 BASE_URL=${2%/} KEY=$3
DIST=${DIST:-$ROOT/dist}
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)}
if [ -n "${DEBS:-}" ]; then
    read -r -a debs <<< "$DEBS"
else
    shopt -s nullglob
    debs=("$DIST"/*.deb)
    shopt -u nullglob
fi

die() { echo "release: error: $*" >&2; exit 1; }
case $BASE_URL in *'|'*|*'@'*) die "BASE_URL must not contain | or @" ;; esac
ls "$DIST"/matrixbox-linux-* >/dev/null 2>&1 || die "no matrixbox-linux-<arch> in $DIST: run packaging/build-static.sh"
[ ${#debs[@]} -gt 0 ] || die "no .deb files (set DEBS or put them in $DIST): run packaging/build-deb.sh"
fingerprint=$(gpg --batch --with-colons --fingerprint "$KEY" | awk -F: '/^fpr/ {print $10; exit}')
[ -n "$fingerprint" ] || die "no key $KEY in ${GNUPGHOME:-~/.gnupg}"

mkdir -p "$OUT/releases"
stage=$(mktemp -d "$OUT/releases/.staging.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$DIST"/matrixbox-linux-* "$stage/"
(cd "$stage" && sha256sum matrixbox-linux-* > SHA256SUMS)
gpg --batch --yes --local-user "$KEY" --armor --detach-sign -o "$stage/SHA256SUMS.asc" "$stage/SHA256SUMS"
gpg --batch --yes --export "$KEY" > "$stage/matrixbox-archive-keyring.gpg"
# Each directory appears whole: a user never downloads a SHA256SUMS without its binaries.
for name in "$VERSION" latest; do
    rm -rf "$OUT/releases/$name.old"
    [ ! -e "$OUT/releases/$name" ] || mv "$OUT/releases/$name" "$OUT/releases/$name.old"
    cp -a "$stage" "$OUT/releases/$name"
    rm -rf "$OUT/releases/$name.old"
done

"$ROOT/packaging/apt-repo.sh" "$OUT/apt" "$KEY" "${debs[@]}" >&2

sed -e "s|^BASE_URL=@BASE_URL@\$|BASE_URL=$BASE_URL|" \
    -e "s|^KEY_FINGERPRINT=@KEY_FINGERPRINT@\$|KEY_FINGERPRINT=$fingerprint|" \
    "$ROOT/packaging/install.sh" > "$OUT/install.sh.tmp"
grep -q "^KEY_FINGERPRINT=$fingerprint\$" "$OUT/install.sh.tmp" || die "could not pin the key in install.sh"
mv "$OUT/install.sh.tmp" "$OUT/install.sh"
echo "release $VERSION in $OUT for $BASE_URL, signed by $fingerprint"
