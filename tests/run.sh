#!/usr/bin/env bash
# The project's single test command: ./tests/run.sh [extra cargo nextest run args]
#
# Sets up the bench (private Docker engine + images, Matrix client venv),
# runs the tests against it with cargo-nextest (installed when missing; settings
# in tests/nextest.toml), many at once: each end-to-end test has its own
# instance name and ports. Doctests, which nextest does not run, follow. Then
# stops the bench's engine (keep it with MATRIXBOX_BENCH_KEEP=1). Needs root.
#
# Tests get: DOCKER_HOST / MATRIXBOX_TEST_DOCKER_HOST (the private engine),
# MATRIXBOX_TEST_PG_IMAGE, MATRIXBOX_TEST_SYNAPSE_IMAGE,
# MATRIXBOX_TEST_CLIENT_PY + MATRIXBOX_TEST_CLIENT_SCRIPT (the Matrix client).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}

cleanup() {
    if [ "${MATRIXBOX_BENCH_KEEP:-0}" != 1 ]; then
        "$ROOT/tests/testbed/down.sh" || true
    else
        echo "[bench] MATRIXBOX_BENCH_KEEP=1: engine left running; source $BENCH_DIR/env to use it" >&2
    fi
}
trap cleanup EXIT

"$ROOT/tests/testbed/up.sh"

# Every shell script (found by its #! line) passes shellcheck, installed by up.sh; findings fail the run.
mapfile -t scripts < <(cd "$ROOT" && find packaging bench tests .ci -type f -not -path '*/target/*' \
    -exec sh -c 'head -n1 "$1" | grep -qE "^#!(/usr/bin/env |/bin/)(ba)?sh\b"' _ {} \; -print)
(cd "$ROOT" && shellcheck "${scripts[@]}")
"$ROOT/tests/client/setup.sh"
"$ROOT/tests/browser/setup.sh"

# shellcheck disable=SC1091
. "$BENCH_DIR/env"
export DOCKER_HOST
export MATRIXBOX_TEST_DOCKER_HOST=$DOCKER_HOST
export MATRIXBOX_TEST_PG_IMAGE=${MATRIXBOX_TEST_PG_IMAGE:-matrixbox-test/postgres:15}
export MATRIXBOX_TEST_SYNAPSE_IMAGE=${MATRIXBOX_TEST_SYNAPSE_IMAGE:-matrixbox-test/synapse:1.163.2}
export MATRIXBOX_TEST_SYSTEMD_IMAGE=${MATRIXBOX_TEST_SYSTEMD_IMAGE:-matrixbox-test/systemd:bookworm}
export MATRIXBOX_TEST_CLIENT_PY=$BENCH_DIR/client-venv/bin/python
export MATRIXBOX_TEST_CLIENT_SCRIPT=$ROOT/tests/client/matrix_client.py
export MATRIXBOX_TEST_CLIENT="$MATRIXBOX_TEST_CLIENT_PY $MATRIXBOX_TEST_CLIENT_SCRIPT"
export MATRIXBOX_TEST_BROWSER_PY=$BENCH_DIR/browser-venv/bin/python
export MATRIXBOX_TEST_S3_PY=$BENCH_DIR/s3-venv/bin/python

cd "$ROOT"
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
cargo nextest run --workspace --locked --config-file tests/nextest.toml "$@"
cargo test --workspace --locked --doc
