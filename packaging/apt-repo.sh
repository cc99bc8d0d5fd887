#!/usr/bin/env bash
# A signed apt repository from .deb files, and its re-signing:
#
#   GNUPGHOME=... packaging/apt-repo.sh OUT_DIR KEY_ID PACKAGE.deb...
#   GNUPGHOME=... packaging/apt-repo.sh --resign OUT_DIR KEY_ID
#
# OUT_DIR gets pool/main/m/matrixbox/*.deb, dists/$SUITE/main/binary-{amd64,arm64}/Packages(.gz),
# dists/$SUITE/{Release,InRelease,Release.gpg}, and matrixbox-archive-keyring.gpg (the public
# key alone, binary, for `signed-by=`). Clients:
#   deb [signed-by=/etc/apt/keyrings/matrixbox.gpg check-valid-until=yes] https://<host>/ bookworm main
# Release carries Valid-Until, VALID_DAYS after signing: apt then refuses a copy older than that,
# so a mirror cannot replay an old repository (and its vulnerable packages) forever. --resign makes
# a fresh Release (new Date and Valid-Until, same packages) and signs it; run it well within
# VALID_DAYS (e.g. weekly) and upload dists/.
# Environment: SUITE (bookworm), COMPONENT (main), ARCHES ("amd64 arm64"), VALID_DAYS (30).
set -euo pipefail

usage() { echo "usage: $0 OUT_DIR KEY_ID PACKAGE.deb... | $0 --resign OUT_DIR KEY_ID" >&2; exit 2; }
die() { echo "apt-repo: error: $*" >&2; exit 1; }
RESIGN=0
if [ "${1:-}" = --resign ]; then
    RESIGN=1
    shift
    [ $# -eq 2 ] || usage
else
    [ $# -ge 3 ] || usage
fi
OUT=$1 KEY=$2
shift 2
SUITE=${SUITE:-bookworm}
COMPONENT=${COMPONENT:-main}
ARCHES=${ARCHES:-"amd64 arm64"}
VALID_DAYS=${VALID_DAYS:-30}
[[ $VALID_DAYS =~ ^[1-9][0-9]*$ ]] || die "VALID_DAYS must be a whole number of days, not '$VALID_DAYS'"

# A user ID can match several keys, and `gpg --export` would export them all: exactly one, by
# fingerprint, or apt would trust a key nobody meant to publish.
keys=$(gpg --batch --with-colons --list-keys "$KEY" 2>/dev/null | awk -F: '$1 == "pub"' | wc -l)
[ "$keys" -eq 1 ] || die "$KEY names $keys keys in ${GNUPGHOME:-~/.gnupg}: give the release key's fingerprint"
fingerprint=$(gpg --batch --with-colons --fingerprint "$KEY" | awk -F: '/^fpr/ {print $10; exit}')

if [ "$RESIGN" = 1 ]; then
    [ -d "$OUT/dists/$SUITE" ] || die "no repository in $OUT (no dists/$SUITE): nothing to re-sign"
else
    mkdir -p "$OUT/pool/$COMPONENT/m/matrixbox"
    # Pool files get their canonical name: apt-ftparchive --arch only picks up *_<arch>.deb.
    for deb in "$@"; do
        read -r package version arch < <(dpkg-deb -f "$deb" Package Version Architecture | awk '{print $2}' | paste -sd' ')
        cp "$deb" "$OUT/pool/$COMPONENT/m/matrixbox/${package}_${version#*:}_$arch.deb"
    done
fi
cd "$OUT"
if [ "$RESIGN" = 0 ]; then
    for arch in $ARCHES; do
        dir=dists/$SUITE/$COMPONENT/binary-$arch
        mkdir -p "$dir"
        apt-ftparchive --arch "$arch" packages "pool/$COMPONENT" > "$dir/Packages"
        gzip -9nkf "$dir/Packages"
    done
fi
# The previous Release would be hashed into the new one (apt-ftparchive picks up files so named).
rm -f "dists/$SUITE/Release" "dists/$SUITE/InRelease" "dists/$SUITE/Release.gpg"
apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=matrixbox \
    -o APT::FTPArchive::Release::Label=matrixbox \
    -o APT::FTPArchive::Release::Suite="$SUITE" \
    -o APT::FTPArchive::Release::Codename="$SUITE" \
    -o APT::FTPArchive::Release::Components="$COMPONENT" \
    -o APT::FTPArchive::Release::Architectures="$ARCHES" \
    -o APT::FTPArchive::Release::ValidTime=$((VALID_DAYS * 86400)) \
    release "dists/$SUITE" > "dists/$SUITE/Release.tmp"
mv "dists/$SUITE/Release.tmp" "dists/$SUITE/Release"
gpg --batch --yes --local-user "$fingerprint" --clearsign -o "dists/$SUITE/InRelease" "dists/$SUITE/Release"
gpg --batch --yes --local-user "$fingerprint" -abs -o "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
# Minimal: no third-party signatures, so it is byte for byte the key release.sh stamps into install.sh.
gpg --batch --yes --export-options export-minimal --export "$fingerprint" > matrixbox-archive-keyring.gpg
valid_until=$(sed -n 's/^Valid-Until: //p' "dists/$SUITE/Release")
if [ "$RESIGN" = 1 ]; then what="re-signed"; else what="repository"; fi
echo "$what in $OUT (suite $SUITE, component $COMPONENT, arches $ARCHES), key $fingerprint, valid until $valid_until"
