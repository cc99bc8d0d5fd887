#!/usr/bin/env bash
# upgrade-bench.sh - the upgrade figures of issue 12, per round on a fresh installation:
#   1. upgrade downtime: an installation on an earlier Synapse (the bench builds it from PyPI)
#      moved to the pinned one by `matrixbox upgrade` (Synapse stopped -> health gate passed);
#   2. rollback time: a broken "new" image (changes the database, exits at start) rolled back
#      (gate failed -> old image healthy on the pre-upgrade database), and the downtime it caused.
# The figures are upgrade's own record (`status --json`); the wall time of each command is beside
# them (it adds the pull check and the backup of a small database). The daemon runs throughout.
# Runs on the test bench's private engine (tests/testbed/up.sh); every loop is bounded.
# Usage: bench/upgrade-bench.sh      knobs: ROUNDS [3]  PORT [28408]  MBX [release build]  BENCH_DIR [/var/tmp/matrixbox-bench]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-28408}
INSTANCE=mbx-upgrade-bench
# shellcheck source=bench/lib.sh
# shellcheck disable=SC1091 # bench/lib.sh: checked on its own
. "$ROOT/bench/lib.sh"
bench_init upgrade-bench

set_image() { sed -i "s|^  synapse: .*|  synapse: $1|" "$MATRIXBOX_CONFIG"; }
# field NAME: the last upgrade's NAME from `status --json`.
field() {
    "$MBX" status --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["upgrade"][sys.argv[1]])' "$1"
}

# fresh_install DIR: config + state under DIR on the earlier Synapse, `run` started and healthy.
fresh_install() {
    local dir=$1
    mkdir -p "$dir"
    export MATRIXBOX_CONFIG="$dir/matrixbox.yaml" MATRIXBOX_STATE_DIR="$dir/state"
    "$MBX" setup --domain matrix.bench.internal >/dev/null
    cat >>"$MATRIXBOX_CONFIG" <<YAML
instance: $INSTANCE
images:
  synapse: $MATRIXBOX_TEST_SYNAPSE_OLD_IMAGE
  postgres: $MATRIXBOX_TEST_PG_IMAGE
trusted_key_servers: []
memory_mb: 1024
listen:
  http: 127.0.0.1:$PORT
  https: 127.0.0.1:$((PORT + 1))
YAML
    start_daemon "$dir/run.log"
}

echo "round  upgrade: downtime  wall    rollback: rollback  downtime  wall"
for round in $(seq "$ROUNDS"); do
    fresh_install "$WORK/r$round"
    set_image "$MATRIXBOX_TEST_SYNAPSE_IMAGE"
    t0=$(now)
    timeout 900 "$MBX" upgrade >"$WORK/r$round/upgrade.log" 2>&1 || { cat "$WORK/r$round/upgrade.log" >&2; exit 1; }
    up_wall=$(elapsed "$t0" "$(now)")
    [ "$(field outcome)" = upgraded ] || { echo "upgrade did not record success" >&2; exit 1; }
    up_down=$(field downtime_s)

    set_image "$MATRIXBOX_TEST_SYNAPSE_BROKEN_IMAGE"
    t0=$(now)
    if timeout 900 "$MBX" upgrade >"$WORK/r$round/broken.log" 2>&1; then
        echo "the broken image passed the gate" >&2; exit 1
    fi
    rb_wall=$(elapsed "$t0" "$(now)")
    [ "$(field outcome)" = rolled_back ] || { cat "$WORK/r$round/broken.log" >&2; exit 1; }
    printf '%-5s  %15.1f s  %5.1f s  %17.1f s  %6.1f s  %5.1f s\n' "$round" "$up_down" "$up_wall" \
        "$(field rollback_s)" "$(field downtime_s)" "$rb_wall"

    stop_daemon
    "$MBX" down --remove >/dev/null
done
echo "images: $MATRIXBOX_TEST_SYNAPSE_OLD_IMAGE -> $MATRIXBOX_TEST_SYNAPSE_IMAGE, broken $MATRIXBOX_TEST_SYNAPSE_BROKEN_IMAGE; $(nproc) cores"
