#!/usr/bin/env bash
# Builds matrixbox_<version>_<arch>.deb: the binary, the unit, completions and a man page
# generated from this build's CLI definition, and a Debian changelog naming the version built.
# Needs cargo-deb (`cargo install --locked cargo-deb`).
#
#   packaging/build-deb.sh [cargo-deb args, e.g. --output DIR --deb-version 0.1.0-2]
#   MATRIXBOX_BIN=path/to/matrixbox packaging/build-deb.sh ...   # package that binary (tests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install --locked cargo-deb" >&2; exit 1; }

BIN=${MATRIXBOX_BIN:-}
if [ -z "$BIN" ]; then
    cargo build --release --locked
    BIN=target/release/matrixbox
fi
rm -rf target/assets/man
mkdir -p target/deb-stage target/assets/man
install -m 0755 "$BIN" target/deb-stage/matrixbox
"$BIN" manpages target/assets/man
gzip -9n target/assets/man/*.1
"$BIN" completions bash > target/assets/matrixbox.bash
"$BIN" completions zsh > target/assets/_matrixbox
"$BIN" completions fish > target/assets/matrixbox.fish

# Debian wants a changelog whose top entry is the package's version: the one passed with
# --deb-version, else cargo-deb's default (Cargo.toml's version, revision 1). Dated by the last
# commit (or SOURCE_DATE_EPOCH), so the same tree builds the same package.
deb_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)-1
prev=
for arg in "$@"; do
    case $prev in --deb-version) deb_version=$arg ;; esac
    case $arg in --deb-version=*) deb_version=${arg#*=} ;; esac
    prev=$arg
done
maintainer=$(sed -n 's/^maintainer = "\(.*\)"/\1/p' Cargo.toml | head -1)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
cat > target/assets/changelog.Debian <<EOF
matrixbox ($deb_version) bookworm; urgency=medium

  * matrixbox ${deb_version%-*}, packaged from its source tree; what changed is in
    the project's history.

 -- $maintainer  $(LC_ALL=C date -R -u -d "@$epoch")
EOF
cargo deb --no-build "$@"
