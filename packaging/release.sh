#!/usr/bin/env bash
# A release directory to upload as-is to BASE_URL (the URL users pipe install.sh from):
#
#   GNUPGHOME=... packaging/release.sh OUT_DIR BASE_URL KEY_ID
#   GNUPGHOME=... packaging/release.sh --resign OUT_DIR KEY_ID
#
# OUT_DIR gets:
#   install.sh                     packaging/install.sh with BASE_URL, KEY_ID's fingerprint and
#                                  KEY_ID's public key (armored) stamped in: the only key it trusts
#   releases/<VERSION>/            matrixbox-linux-<arch>, SHA256SUMS, SHA256SUMS.asc (signed by
#   releases/latest/               KEY_ID); latest is a copy
#   apt/                           the signed apt repository (packaging/apt-repo.sh), whose Release
#                                  expires after VALID_DAYS (30)
# Publishing into an OUT_DIR that holds earlier releases keeps them, in releases/ and in the
# repository's pool, so `install.sh --version X` and apt upgrades from older versions work.
# --resign signs the repository's Release afresh (new Valid-Until, same packages): run it well
# within VALID_DAYS, e.g. weekly, and upload OUT_DIR/apt/dists/, or apt and install.sh refuse the
# repository as expired.
#
# Environment: DIST (the static binaries from packaging/build-static.sh; default dist/), DEBS (the
# .deb files; default $DIST/*.deb), VERSION (the release name; default Cargo.toml's version).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = --resign ]; then
    [ $# -eq 3 ] || { echo "usage: $0 --resign OUT_DIR KEY_ID" >&2; exit 2; }
    exec "$ROOT/packaging/apt-repo.sh" --resign "$2/apt" "$3"
fi
[ $# -eq 3 ] || { echo "usage: $0 OUT_DIR BASE_URL KEY_ID | $0 --resign OUT_DIR KEY_ID" >&2; exit 2; }
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
# Exactly one key, used by fingerprint from here on: a user ID can match several keys.
keys=$(gpg --batch --with-colons --list-keys "$KEY" 2>/dev/null | awk -F: '$1 == "pub"' | wc -l)
[ "$keys" -eq 1 ] || die "$KEY names $keys keys in ${GNUPGHOME:-~/.gnupg}: give the release key's fingerprint"
fingerprint=$(gpg --batch --with-colons --fingerprint "$KEY" | awk -F: '/^fpr/ {print $10; exit}')

mkdir -p "$OUT/releases"
stage=$(mktemp -d "$OUT/releases/.staging.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$DIST"/matrixbox-linux-* "$stage/"
(cd "$stage" && sha256sum matrixbox-linux-* > SHA256SUMS)
gpg --batch --yes --local-user "$fingerprint" --armor --detach-sign -o "$stage/SHA256SUMS.asc" "$stage/SHA256SUMS"
# Each directory appears whole: a user never downloads a SHA256SUMS without its binaries.
for name in "$VERSION" latest; do
    rm -rf "$OUT/releases/$name.old"
    [ ! -e "$OUT/releases/$name" ] || mv "$OUT/releases/$name" "$OUT/releases/$name.old"
    cp -a "$stage" "$OUT/releases/$name"
    rm -rf "$OUT/releases/$name.old"
done

"$ROOT/packaging/apt-repo.sh" "$OUT/apt" "$fingerprint" "${debs[@]}" >&2

# The same export as apt-repo.sh's keyring (install.sh insists they are equal byte for byte).
key=$(mktemp)
trap 'rm -rf "$stage" "$key" "$OUT/install.sh.tmp"' EXIT
gpg --batch --yes --export-options export-minimal --armor --export "$fingerprint" > "$key"
gpg --batch --dearmor < "$key" | cmp -s - "$OUT/apt/matrixbox-archive-keyring.gpg" \
    || die "the armored key differs from $OUT/apt/matrixbox-archive-keyring.gpg"
sed -e "s|^BASE_URL=@BASE_URL@\$|BASE_URL=$BASE_URL|" \
    -e "s|^KEY_FINGERPRINT=@KEY_FINGERPRINT@\$|KEY_FINGERPRINT=$fingerprint|" \
    "$ROOT/packaging/install.sh" \
    | awk -v key="$key" '$0 == "@RELEASE_KEY@" { while ((getline line < key) > 0) print line; next } { print }' \
    > "$OUT/install.sh.tmp"
grep -q "^KEY_FINGERPRINT=$fingerprint\$" "$OUT/install.sh.tmp" || die "could not pin the key in install.sh"
! grep -q -e '^@RELEASE_KEY@$' -e '=@[A-Z_]*@$' "$OUT/install.sh.tmp" || die "a placeholder is left in install.sh"
mv "$OUT/install.sh.tmp" "$OUT/install.sh"
echo "release $VERSION in $OUT for $BASE_URL, signed by $fingerprint"
