#!/usr/bin/env bash
# acme-bench.sh - certificate issuance time against Pebble (PEBBLE_VA_NOSLEEP=1), the edge
# issue's target being <= 1.5 s: from the certificate manager's start to the new certificate
# in the store, HTTP-01, one name, with a new account and with a stored one.
# Needs Debian's `pebble` package (installed here when missing); it runs on free loopback ports.
# Usage: bench/acme-bench.sh [ROUNDS=10]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-10}

if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
    echo "[acme-bench] installing Debian's pebble" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pebble >&2
fi

cd "$ROOT"
cargo build --release --locked -q --example acme_bench
echo "pebble $(dpkg-query -W -f '${Version}' pebble 2>/dev/null || echo '?'), $(nproc) cores, rounds=$ROUNDS"
"$ROOT/target/release/examples/acme_bench" "$ROUNDS"
