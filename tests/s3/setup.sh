#!/usr/bin/env bash
# Create (once) the venv of the local S3-compatible server offsite_e2e pushes to:
# $BENCH_DIR/s3-venv with moto's server (and boto3, which the test's s3_tool.py uses) from
# PyPI, pinned in requirements.txt. Idempotent and fast when already set up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/../testbed/venv.sh" s3-venv "$HERE/requirements.txt" 'moto.server, boto3'
