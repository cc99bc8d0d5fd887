#!/usr/bin/env bash
# backup-bench.sh - the backup figures of issue 12 on a database with a known number of events:
# a fresh installation gets EVENTS messages (text, in ROOMS rooms, sent through the edge by a
# bounded generator) and MEDIA files of MEDIA_KIB each; then
#   1. `matrixbox backup create`: wall time and archive size (the daemon keeps serving);
#   2. `matrixbox backup restore` onto the wiped state dir and config: wall time until Synapse is
#      healthy, and the event count read back from the restored database.
# Runs on the test bench's private engine (tests/testbed/up.sh); every loop is bounded.
# Usage: bench/backup-bench.sh
#   knobs: EVENTS [100000]  ROOMS [50]  MEDIA [50]  MEDIA_KIB [512]  PARALLEL [32]  PORT [28508]
#          MBX [release build]  BENCH_DIR [/var/tmp/matrixbox-bench]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVENTS=${EVENTS:-100000}
ROOMS=${ROOMS:-50}
MEDIA=${MEDIA:-50}
MEDIA_KIB=${MEDIA_KIB:-512}
PARALLEL=${PARALLEL:-32}
PORT=${PORT:-28508}
INSTANCE=mbx-backup-bench
DOMAIN=matrix.bench.internal
# shellcheck source=bench/lib.sh
# shellcheck disable=SC1091 # bench/lib.sh: checked on its own
. "$ROOT/bench/lib.sh"
bench_init backup-bench
PY=$BENCH_DIR/client-venv/bin/python

events() {
    docker exec "$INSTANCE-postgres" psql -U postgres -d synapse -tAc \
        "select count(*) from events where type = 'm.room.message'"
}

export MATRIXBOX_CONFIG="$WORK/matrixbox.yaml" MATRIXBOX_STATE_DIR="$WORK/state"
"$MBX" setup --domain "$DOMAIN" >/dev/null
cat >>"$MATRIXBOX_CONFIG" <<YAML
instance: $INSTANCE
images:
  synapse: $MATRIXBOX_TEST_SYNAPSE_IMAGE
  postgres: $MATRIXBOX_TEST_PG_IMAGE
memory_mb: 1024
listen:
  http: 127.0.0.1:$PORT
  https: 127.0.0.1:$((PORT + 1))
synapse:
  rc_message: {per_second: 100000, burst_count: 100000}
  rc_joins: {local: {per_second: 1000, burst_count: 1000}}
  rc_room_creation: {per_second: 1000, burst_count: 1000}
  rc_login: {address: {per_second: 100, burst_count: 100}, account: {per_second: 100, burst_count: 100}}
YAML
start_daemon "$WORK/run.log"
echo "bench-password" | "$MBX" user add bench --password-stdin >/dev/null

# The generator: logs in through the edge, makes ROOMS rooms, uploads MEDIA files, then sends
# EVENTS messages with PARALLEL requests in flight, each request bounded by a timeout.
t0=$(now)
"$PY" - "$PORT" "$DOMAIN" "$MATRIXBOX_STATE_DIR/ca/root.pem" "$EVENTS" "$ROOMS" "$MEDIA" "$MEDIA_KIB" "$PARALLEL" <<'PYEOF'
import asyncio, os, ssl, sys, aiohttp
port, domain, ca, events, rooms, media, media_kib, parallel = sys.argv[1:9]
events, rooms, media, media_kib, parallel = map(int, (events, rooms, media, media_kib, parallel))
base = f"https://{domain}:{int(port) + 1}"
ctx = ssl.create_default_context(cafile=ca)

class Resolver(aiohttp.abc.AbstractResolver):
    async def resolve(self, host, port=0, family=0):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0, "flags": 0}]
    async def close(self):
        pass

async def main():
    timeout = aiohttp.ClientTimeout(total=60)
    conn = aiohttp.TCPConnector(ssl=ctx, resolver=Resolver(), limit=parallel)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        r = await s.post(f"{base}/_matrix/client/v3/login", json={
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bench"},
            "password": "bench-password"})
        token = (await r.json())["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        ids = []
        for i in range(rooms):
            r = await s.post(f"{base}/_matrix/client/v3/createRoom", headers=h, json={"name": f"bench {i}"})
            assert r.status == 200, await r.text()
            ids.append((await r.json())["room_id"])
        for i in range(media):
            r = await s.post(f"{base}/_matrix/media/v3/upload?filename=m{i}.bin", headers=h,
                             data=os.urandom(media_kib * 1024))
            assert r.status == 200, await r.text()
        queue = asyncio.Queue()
        for n in range(events):
            queue.put_nowait(n)
        failures = 0
        async def sender():
            nonlocal failures
            while True:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                room = ids[n % len(ids)]
                for _ in range(5):
                    try:
                        r = await s.put(f"{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/t{n}",
                                        headers=h, json={"msgtype": "m.text", "body": f"message {n} " + "x" * 80})
                        if r.status == 200:
                            break
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        pass
                    await asyncio.sleep(1)
                else:
                    failures += 1
                if n % 10000 == 0:
                    print(f"  sent {n}", file=sys.stderr, flush=True)
        await asyncio.gather(*(sender() for _ in range(parallel)))
        if failures:
            sys.exit(f"{failures} messages could not be sent")

asyncio.run(main())
PYEOF
fill_s=$(elapsed "$t0" "$(now)")
stored=$(events)

t0=$(now)
"$MBX" backup create --output "$WORK/bench.tar.gz" >"$WORK/create.log" 2>&1 || { cat "$WORK/create.log" >&2; exit 1; }
create_s=$(elapsed "$t0" "$(now)")
size=$(stat -c %s "$WORK/bench.tar.gz")
db_size=$(docker exec "$INSTANCE-postgres" psql -U postgres -d synapse -tAc "select pg_database_size('synapse')")

stop_daemon
"$MBX" down --remove >/dev/null
rm -rf "$MATRIXBOX_STATE_DIR" "$MATRIXBOX_CONFIG"
t0=$(now)
"$MBX" backup restore "$WORK/bench.tar.gz" >"$WORK/restore.log" 2>&1 || { cat "$WORK/restore.log" >&2; exit 1; }
restore_s=$(elapsed "$t0" "$(now)")
restored=$(events)
[ "$restored" = "$stored" ] || { echo "restored $restored messages of $stored" >&2; exit 1; }

echo "messages  media            database   archive    fill      backup create  restore (to healthy)"
printf '%-8s  %3s x %4s KiB  %6.1f MiB  %6.1f MiB  %6.1f s  %11.1f s  %18.1f s\n' "$stored" "$MEDIA" "$MEDIA_KIB" \
    "$(awk -v b="$db_size" 'BEGIN{print b/1048576}')" "$(awk -v b="$size" 'BEGIN{print b/1048576}')" \
    "$fill_s" "$create_s" "$restore_s"
echo "images: $MATRIXBOX_TEST_SYNAPSE_IMAGE, $MATRIXBOX_TEST_PG_IMAGE; $(nproc) cores; binary $MBX"
