#!/usr/bin/env bash
# Create (once) the venv of the browser test: $BENCH_DIR/browser-venv with selenium from PyPI.
# Chromium and its driver come from Debian (tests/testbed/up.sh); selenium is given both paths
# and runs offline, so nothing is downloaded at test time. Idempotent and fast when set up.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$BENCH_DIR/browser-venv
REQ=$HERE/requirements.txt
STAMP=$VENV/.requirements.sha256

log() { printf '[browser-setup] %s\n' "$*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] \
    && "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    exit 0
fi

mkdir -p "$BENCH_DIR"
rm -rf "$VENV"
log "creating $VENV"
/usr/bin/python3 -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=${PIP_DEFAULT_TIMEOUT:-120}
[ -z "${PIP_CERT:-}" ] && [ -s /etc/ssl/certs/ca-certificates.crt ] && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt
"$VENV/bin/pip" install -q -r "$REQ" >&2
echo "$want" >"$STAMP"
