#!/usr/bin/env bash
# Builds matrixbox_<version>_<arch>.deb: the binary, the unit, completions and a man page
# generated from this build's CLI definition. Needs cargo-deb (`cargo install --locked cargo-deb`).
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
cargo deb --no-build "$@"
