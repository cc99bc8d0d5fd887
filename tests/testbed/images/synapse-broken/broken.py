# The broken release: touches the database the way a migration would, then dies at start, or,
# when its data dir holds a file named `hang`, never becomes healthy (listens nowhere).
import os
import sys
import time

import psycopg2
import yaml

config_path = sys.argv[sys.argv.index("--config-path") + 1]
with open(config_path) as f:
    args = dict(yaml.safe_load(f)["database"]["args"])
for key in ("cp_min", "cp_max"):
    args.pop(key, None)
conn = psycopg2.connect(**args)
with conn, conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS matrixbox_broken_marker (at timestamptz DEFAULT now())")
    cur.execute("INSERT INTO matrixbox_broken_marker DEFAULT VALUES")
if os.path.exists("/data/hang"):
    print("deliberately broken release: changed the database, now hanging", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)
print("deliberately broken release: changed the database, now exiting", file=sys.stderr)
sys.exit(3)
