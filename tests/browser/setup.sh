#!/usr/bin/env bash
# Create (once) the venv of the browser test: $BENCH_DIR/browser-venv with selenium from PyPI.
# Chromium and its driver come from Debian (tests/testbed/up.sh); selenium is given both paths
# and runs offline, so nothing is downloaded at test time. Idempotent and fast when set up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/../testbed/venv.sh" browser-venv "$HERE/requirements.txt" selenium
