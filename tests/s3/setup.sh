#!/usr/bin/env bash
# Create (once) the venv of the local S3-compatible server offsite_e2e pushes to:
# $BENCH_DIR/s3-venv with moto's server (and boto3, which the test's s3_tool.py uses) from
# PyPI, pinned in requirements.txt. Idempotent and fast when already set up.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$BENCH_DIR/s3-venv
REQ=$HERE/requirements.txt
STAMP=$VENV/.requirements.sha256

log() { printf '[s3-setup] %s\n' "$*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] \
    && "$VENV/bin/python" -c 'import moto.server, boto3' 2>/dev/null; then
    exit 0
fi

# Debian's python3 (python3-venv brings ensurepip).
PY=/usr/bin/python3
if [ ! -x "$PY" ] || ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    log "installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates
fi

mkdir -p "$BENCH_DIR"
rm -rf "$VENV"
log "creating $VENV"
"$PY" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=${PIP_DEFAULT_TIMEOUT:-120}
[ -z "${PIP_CERT:-}" ] && [ -s /etc/ssl/certs/ca-certificates.crt ] && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt
"$VENV/bin/pip" install -q -r "$REQ" >&2
"$VENV/bin/python" -c 'import moto; print("moto", moto.__version__)' >&2
echo "$want" >"$STAMP"
