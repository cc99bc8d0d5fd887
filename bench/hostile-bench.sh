#!/usr/bin/env bash
# hostile-bench.sh - the normal client's latency (p50/p99) against the edge, quiet and under each
# attack of tests/common/hostile.rs: silent, preface-only and idle PING-answering HTTP/2, idle
# TLS floods, slowloris, rapid reset, resets after accept, MadeYouReset, CONTINUATION floods. The
# edge runs with its production policy against a loopback upstream. Attackers, the normal client
# (a new TLS connection every 20 ms from 127.0.0.2) and the edge share one process on loopback,
# each on a Tokio runtime of its own with one worker thread: the fd and RSS columns include the
# attackers' side, and all three compete for the same cores. Every phase is bounded (SECONDS
# each, plus up to 15 s for the edge to close what the attackers left).
# Usage: bench/hostile-bench.sh [SECONDS=10 [PHASE]]   (PHASE: run only phases whose name has it)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_PHASE=${1:-10}
PHASE=${2:-}

cd "$ROOT"
cargo build --release --locked -q --example hostile_bench
echo "$(uname -r), $(nproc) cores, fd limit $(ulimit -n)"
"$ROOT/target/release/examples/hostile_bench" "$SECONDS_PER_PHASE" ${PHASE:+"$PHASE"}
