#!/usr/bin/env bash
# Create (once) the venv of the test Matrix client: $BENCH_DIR/client-venv
# with matrix-nio from PyPI. Idempotent and fast when already set up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/../testbed/venv.sh" client-venv "$HERE/requirements.txt" nio
