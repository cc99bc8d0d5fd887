#!/usr/bin/env bash
# edge-bench.sh - matrixbox's edge against nginx and Caddy, in one interleaved run of
# bench/proxy-bench.sh (a copy of the team's shared proxy benchmark): same upstream, same
# certificate, proxies pinned to one core, load generators on the other.
#
# matrixbox runs as users run it in front of an existing Synapse: `upstream:` + `tls:` files,
# no containers. Every knob of proxy-bench.sh applies (ROUNDS, DURATION, TESTS, ...).
# MATRIXBOX_BIN=path benches that binary instead of building this tree's (e.g. an earlier build,
# for a before/after pair of runs).
# Usage: bench/edge-bench.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${MATRIXBOX_BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release --locked -q)
    MATRIXBOX_BIN="$ROOT/target/release/matrixbox"
fi
export MATRIXBOX_BIN
# The idle memory depends on the code layout (packaging/link-order.sh): say whether this build has it.
"$ROOT/packaging/link-order.sh" --check "$MATRIXBOX_BIN" || true
# The memory test holds its idle connections from 127.0.0.1 alone, and the edge takes at most
# 256 from one address (ConnPolicy::max_per_address): above that it would measure refusals, not
# connections. Every proxy holds the same number.
export IDLE_CONNS=${IDLE_CONNS:-250}

# The candidate: proxy-bench.sh starts `bash -c "$CANDIDATE_CMD"` in the foreground, after
# exporting BENCH_*; an exported function carries the script there (and lets shellcheck read it).
matrixbox_edge() {
    local dir
    dir=$(mktemp -d /tmp/matrixbox-edge-bench.XXXXXX)
    cat > "$dir/matrixbox.yaml" <<YAML
domain: $BENCH_SERVER_NAME
upstream: http://$BENCH_UPSTREAM
tls:
  cert: $BENCH_CERT
  key: $BENCH_KEY
listen:
  http: "off"
  https: "$BENCH_LISTEN"
YAML
    exec env MATRIXBOX_LOG=warn "$MATRIXBOX_BIN" --config "$dir/matrixbox.yaml" --state-dir "$dir/state" run --skip-preflight
}
export -f matrixbox_edge
export CANDIDATE_CMD=matrixbox_edge CANDIDATE_NAME=matrixbox
exec "$ROOT/bench/proxy-bench.sh" "$@"
