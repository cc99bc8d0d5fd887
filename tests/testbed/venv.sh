#!/usr/bin/env bash
# Create (once) a Python venv of the test bench: venv.sh NAME REQUIREMENTS IMPORTS
#   NAME          the venv's directory under $BENCH_DIR (e.g. client-venv)
#   REQUIREMENTS  the pinned requirements file installed into it from PyPI
#   IMPORTS       what must import once it is set up (e.g. 'nio', 'moto.server, boto3')
# The venv is rebuilt when the requirements file changes (its sha256 is stamped in the venv) or
# the imports fail; otherwise it returns at once.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 NAME REQUIREMENTS IMPORTS" >&2; exit 2; }
NAME=$1
REQ=$2
IMPORTS=$3
BENCH_DIR=${BENCH_DIR:-/var/tmp/matrixbox-bench}
VENV=$BENCH_DIR/$NAME
STAMP=$VENV/.requirements.sha256

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] \
    && "$VENV/bin/python" -c "import $IMPORTS" 2>/dev/null; then
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
"$VENV/bin/python" -c "import $IMPORTS"
log "ready: $VENV"
echo "$want" >"$STAMP"
