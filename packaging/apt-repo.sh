#!/usr/bin/env bash
# A signed apt repository from .deb files:
#
#   GNUPGHOME=... packaging/apt-repo.sh OUT_DIR KEY_ID PACKAGE.deb...
#
# OUT_DIR gets pool/main/m/matrixbox/*.deb, dists/$SUITE/main/binary-{amd64,arm64}/Packages(.gz),
# dists/$SUITE/{Release,InRelease,Release.gpg}, and matrixbox-archive-keyring.gpg (the public
# key, binary, for `signed-by=`). Clients:
#   deb [signed-by=/etc/apt/keyrings/matrixbox.gpg] https://<host>/ bookworm main
# Environment: SUITE (bookworm), COMPONENT (main), ARCHES ("amd64 arm64").
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 OUT_DIR KEY_ID PACKAGE.deb..." >&2; exit 2; }
OUT=$1 KEY=$2
shift 2
SUITE=${SUITE:-bookworm}
COMPONENT=${COMPONENT:-main}
ARCHES=${ARCHES:-"amd64 arm64"}

mkdir -p "$OUT/pool/$COMPONENT/m/matrixbox"
# Pool files get their canonical name: apt-ftparchive --arch only picks up *_<arch>.deb.
for deb in "$@"; do
    read -r package version arch < <(dpkg-deb -f "$deb" Package Version Architecture | awk '{print $2}' | paste -sd' ')
    cp "$deb" "$OUT/pool/$COMPONENT/m/matrixbox/${package}_${version#*:}_$arch.deb"
done
cd "$OUT"
for arch in $ARCHES; do
    dir=dists/$SUITE/$COMPONENT/binary-$arch
    mkdir -p "$dir"
    apt-ftparchive --arch "$arch" packages "pool/$COMPONENT" > "$dir/Packages"
    gzip -9nkf "$dir/Packages"
done
apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=matrixbox \
    -o APT::FTPArchive::Release::Label=matrixbox \
    -o APT::FTPArchive::Release::Suite="$SUITE" \
    -o APT::FTPArchive::Release::Codename="$SUITE" \
    -o APT::FTPArchive::Release::Components="$COMPONENT" \
    -o APT::FTPArchive::Release::Architectures="$ARCHES" \
    release "dists/$SUITE" > "dists/$SUITE/Release.tmp"
mv "dists/$SUITE/Release.tmp" "dists/$SUITE/Release"
rm -f "dists/$SUITE/InRelease" "dists/$SUITE/Release.gpg"
gpg --batch --yes --local-user "$KEY" --clearsign -o "dists/$SUITE/InRelease" "dists/$SUITE/Release"
gpg --batch --yes --local-user "$KEY" -abs -o "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
gpg --batch --yes --export "$KEY" > matrixbox-archive-keyring.gpg
echo "repository in $OUT (suite $SUITE, component $COMPONENT, arches $ARCHES), key $(gpg --batch --with-colons --fingerprint "$KEY" | awk -F: '/^fpr/ {print $10; exit}')"
