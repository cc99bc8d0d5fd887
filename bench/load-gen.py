#!/usr/bin/env python3
"""load-gen.py - the load generator of bench/load-bench.sh: many Matrix clients on one homeserver.

Registers N users (open registration, m.login.dummy), puts them in M rooms (user i in room
i mod M; even rooms carry encrypted-sized payloads as m.room.encrypted events, odd rooms plain
text), keeps every user's /sync long-poll open (the first K users use Simplified Sliding Sync
instead, as Element X does), then sends messages at fixed rates and at a rising rate. Latency is
measured per delivery: from the time a message was *scheduled* to be sent (so a slow server
cannot hide its backlog) to the moment a receiver's sync returns it. A delivery missing when the
step's drain window ends counts as slower than any threshold.

Components (edge, Synapse, PostgreSQL) are sampled twice a second: CPU seconds and memory
(cgroup v1 of a container: usage minus inactive file pages, as `docker stats` shows it; or a
process tree: RSS of the process and its children).

Loopback only and bounded: every request has a timeout, every phase a duration, the whole run a
deadline. Prints a JSON summary on stdout; progress on stderr.
Libraries: aiohttp (the test client venv's, tests/client/requirements.txt).
"""
import argparse
import asyncio
import json
import os
import random
import socket
import ssl
import string
import sys
import time

import aiohttp

SSS_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
# A Megolm ciphertext of a short message is ~300-500 base64 characters; Element's are often more.
CIPHERTEXT_CHARS = 600


def log(msg):
    print(f"[load-gen {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# ------------------------------------------------------------------ component sampling
class Component:
    """CPU and memory of one part of a setup: a container's cgroup (v1) or a process tree."""

    def __init__(self, spec):
        self.name, _, where = spec.partition("=")
        kind, _, arg = where.partition(":")
        self.kind, self.arg = kind, arg
        if kind == "cgroup":
            # arg: container ids (a Synapse with its workers and Redis is several); their
            # directories under the memory and cpuacct hierarchies, summed.
            ids = arg.split(",")
            self.mem_dirs = [self._find("/sys/fs/cgroup/memory", cid) for cid in ids]
            self.cpu_dirs = [self._find("/sys/fs/cgroup/cpuacct", cid) for cid in ids]
        elif kind == "pid":
            self.pids = [int(p) for p in arg.split(",")]
        else:
            raise Failure(f"component {spec!r}: expected NAME=cgroup:ID[,ID...] or NAME=pid:PID[,PID...]")
        self.peak_mib = 0.0

    @staticmethod
    def _find(root, cid):
        for dirpath, dirnames, _ in os.walk(root):
            if os.path.basename(dirpath) == cid:
                return dirpath
            if dirpath.count("/") > root.count("/") + 3:
                dirnames.clear()
        raise Failure(f"no cgroup {cid} under {root} (cgroup v1 expected)")

    def _tree(self):
        pids = list(self.pids)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    if int(fields[1]) in self.pids:
                        pids.append(int(entry))
                except (OSError, IndexError):
                    pass
        return pids

    def cpu_s(self):
        if self.kind == "cgroup":
            total = 0
            for d in self.cpu_dirs:
                with open(f"{d}/cpuacct.usage") as f:
                    total += int(f.read()) / 1e9
            return total
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        return total

    def mem_mib(self):
        if self.kind == "cgroup":
            v = 0
            for d in self.mem_dirs:
                with open(f"{d}/memory.usage_in_bytes") as f:
                    usage = int(f.read())
                with open(f"{d}/memory.stat") as f:
                    stat = dict(line.split() for line in f)
                v += (usage - int(stat.get("total_inactive_file", 0))) / 1048576
        else:
            v = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                v += int(line.split()[1]) / 1024
                except OSError:
                    pass
        self.peak_mib = max(self.peak_mib, v)
        return v


async def sample_forever(components, period=0.5):
    while True:
        for c in components:
            try:
                c.mem_mib()
            except OSError:
                pass
        await asyncio.sleep(period)


# ------------------------------------------------------------------ client side
class Run:
    def __init__(self, args):
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.users = []  # dicts: name, token, room, sss
        self.rooms = []
        # lb_id -> (scheduled time, room index, step name)
        self.sent = {}
        # step name -> list of latencies in seconds (one per delivery)
        self.lat = {}
        self.delivered = {}  # step -> count of deliveries
        self.expected = {}  # step -> count of deliveries expected
        self.send_errors = {}
        self.send_lat = {}  # step -> list of PUT round trips in seconds (the sender's view)
        self.sync_errors = 0
        self.members = {}  # room index -> number of members
        self.stop = False

    async def call(self, session, method, path, token=None, body=None, params=None, timeout=60):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for attempt in range(30):
            try:
                async with session.request(method, self.base + path, json=body, params=params,
                                           headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                    data = await r.json(content_type=None)
                    if r.status == 429:
                        wait = data.get("retry_after_ms", 1000) / 1000
                        await asyncio.sleep(min(wait, 5))
                        continue
                    return r.status, data
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                if attempt >= 2:
                    raise Failure(f"{method} {path}: {e!r}")
                await asyncio.sleep(1)
        raise Failure(f"{method} {path}: still rate-limited after 30 tries")

    async def register(self, session, name):
        body = {"username": name, "password": "load-bench-" + name, "inhibit_login": False,
                "initial_device_display_name": "load-gen"}
        status, data = await self.call(session, "POST", "/_matrix/client/v3/register", body=body)
        if status == 401:
            body["auth"] = {"type": "m.login.dummy", "session": data.get("session")}
            status, data = await self.call(session, "POST", "/_matrix/client/v3/register", body=body)
        if status != 200:
            raise Failure(f"registering {name}: HTTP {status} {data} (is registration open?)")
        return data["access_token"]

    async def setup(self, sessions):
        a = self.args
        sem = asyncio.Semaphore(a.concurrency)

        async def reg(i):
            async with sem:
                name = f"{a.prefix}{i}"
                session = sessions[i // a.users_per_address]
                token = await self.register(session, name)
                return {"name": name, "token": token, "room": i % a.rooms, "sss": i < a.sss,
                        "session": session}

        t0 = time.monotonic()
        self.users = list(await asyncio.gather(*(reg(i) for i in range(a.users))))
        log(f"{a.users} users registered in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()

        async def create(j):
            owner = self.users[j]
            status, data = await self.call(owner["session"], "POST", "/_matrix/client/v3/createRoom",
                                           token=owner["token"],
                                           body={"preset": "public_chat", "name": f"load {j}"})
            if status != 200:
                raise Failure(f"creating room {j}: HTTP {status} {data}")
            return data["room_id"]

        self.rooms = list(await asyncio.gather(*(create(j) for j in range(a.rooms))))

        async def join(u):
            async with sem:
                status, data = await self.call(u["session"], "POST",
                                               f"/_matrix/client/v3/join/{self.rooms[u['room']]}",
                                               token=u["token"], body={})
                if status != 200:
                    raise Failure(f"{u['name']} joining room {u['room']}: HTTP {status} {data}")

        await asyncio.gather(*(join(u) for u in self.users[a.rooms:]))
        for u in self.users:
            self.members[u["room"]] = self.members.get(u["room"], 0) + 1
        log(f"{a.rooms} rooms created and joined in {time.monotonic() - t0:.1f}s")

    # ---------------------------------------------------------------- receiving
    def receive(self, user, events):
        now = time.monotonic()
        for ev in events:
            c = ev.get("content") or {}
            lb = c.get("lb_id")
            if lb is None or ev.get("sender", "").split(":")[0][1:] == user["name"]:
                continue
            sent = self.sent.get(lb)
            if sent is None:
                continue
            seen = user.setdefault("seen", set())
            if lb in seen:
                continue
            seen.add(lb)
            self.lat.setdefault(sent[2], []).append(now - sent[0])
            self.delivered[sent[2]] = self.delivered.get(sent[2], 0) + 1

    async def sync_loop(self, user, ready):
        params = {"timeout": "0", "filter": json.dumps({"room": {"timeline": {"limit": 50}}})}
        first = True
        while not self.stop:
            try:
                status, data = await self.call(user["session"], "GET", "/_matrix/client/v3/sync",
                                               token=user["token"], params=params,
                                               timeout=self.args.poll_s + 30)
            except Failure as e:
                self.sync_errors += 1
                log(f"sync of {user['name']}: {e}")
                await asyncio.sleep(1)
                continue
            if status != 200:
                if self.sync_errors < 5:
                    log(f"sync of {user['name']}: HTTP {status} {data}")
                self.sync_errors += 1
                await asyncio.sleep(1)
                continue
            for room in (data.get("rooms", {}).get("join", {}) or {}).values():
                self.receive(user, room.get("timeline", {}).get("events", []))
            params["since"] = data["next_batch"]
            params["timeout"] = str(self.args.poll_s * 1000)
            if first:
                first = False
                ready.release()

    async def sss_loop(self, user, ready):
        body = {"conn_id": "load-gen",
                "lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 50,
                                  "required_state": [["m.room.name", ""]]}}}
        params = {"timeout": "0"}
        first = True
        while not self.stop:
            try:
                status, data = await self.call(user["session"], "POST", SSS_PATH, token=user["token"],
                                               body=body, params=params,
                                               timeout=self.args.poll_s + 30)
            except Failure as e:
                self.sync_errors += 1
                log(f"sliding sync of {user['name']}: {e}")
                await asyncio.sleep(1)
                continue
            if status != 200:
                if first and status < 500:
                    # Not a passing fault (those are retried, as clients do): no SSS here.
                    raise Failure(f"Simplified Sliding Sync: HTTP {status} {data}")
                if self.sync_errors < 5:
                    log(f"sliding sync of {user['name']}: HTTP {status} {data}")
                self.sync_errors += 1
                params.pop("pos", None)  # an expired position: start over, as clients do
                await asyncio.sleep(1)
                continue
            for room in (data.get("rooms") or {}).values():
                self.receive(user, room.get("timeline", []))
            params["pos"] = data["pos"]
            params["timeout"] = str(self.args.poll_s * 1000)
            if first:
                first = False
                ready.release()

    # ---------------------------------------------------------------- sending
    async def send_one(self, step, scheduled, seq):
        a = self.args
        user = random.choice(self.users)
        j = user["room"]
        lb = f"{step}/{seq}"
        self.sent[lb] = (scheduled, j, step)
        self.expected[step] = self.expected.get(step, 0) + self.members[j] - 1
        if j % 2 == 0:
            etype = "m.room.encrypted"
            ct = "".join(random.choices(string.ascii_letters + string.digits, k=CIPHERTEXT_CHARS))
            content = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": ct,
                       "device_id": "LOADGEN", "sender_key": "x" * 43,
                       "session_id": "y" * 43}
        else:
            etype = "m.room.message"
            content = {"msgtype": "m.text", "body": f"load message {seq} at rate {step}"}
        content["lb_id"] = lb
        txn = f"lb{os.getpid()}-{lb.replace('/', '-')}"
        t0 = time.monotonic()
        try:
            status, data = await self.call(user["session"], "PUT",
                                           f"/_matrix/client/v3/rooms/{self.rooms[j]}/send/{etype}/{txn}",
                                           token=user["token"], body=content, timeout=30)
            if status != 200:
                raise Failure(f"HTTP {status} {data}")
            self.send_lat.setdefault(step, []).append(time.monotonic() - t0)
        except Failure as e:
            self.send_errors[step] = self.send_errors.get(step, 0) + 1
            if self.send_errors[step] <= 3:
                log(f"send at {step}: {e}")

    async def step(self, name, rate, seconds):
        """Open loop: one send every 1/rate s, whatever the server's pace; then a drain window."""
        a = self.args
        tasks = []
        t0 = time.monotonic()
        n = int(rate * seconds)
        for seq in range(n):
            at = t0 + seq / rate
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks = [t for t in tasks if not t.done()]
            if len(tasks) >= a.max_in_flight:
                # The server is this far behind: the step is over its limit already.
                self.send_errors[name] = self.send_errors.get(name, 0) + (n - seq)
                log(f"step {name}: {len(tasks)} sends in flight, the rest of the step is skipped")
                break
            tasks.append(asyncio.ensure_future(self.send_one(name, at, seq)))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        await asyncio.sleep(a.drain_s)
        return self.step_stats(name, rate, time.monotonic() - t0)

    def step_stats(self, name, rate, took):
        lat = sorted(self.lat.get(name, []))
        expected = self.expected.get(name, 0)
        missing = max(expected - len(lat), 0)
        # Missing deliveries rank above every measured one.
        full = lat + [float("inf")] * missing

        def pct(p, values=full):
            if not values:
                return None
            v = values[min(int(p * len(values)), len(values) - 1)]
            return None if v == float("inf") else round(v * 1000, 1)

        sends = sorted(self.send_lat.get(name, []))
        return {"messages": len(sends) + self.send_errors.get(name, 0),
                "send_p50_ms": pct(0.50, sends), "send_p99_ms": pct(0.99, sends),"step": name, "rate": rate, "seconds": round(took, 1), "deliveries": len(lat),
                "expected": expected, "missing": missing,
                "send_errors": self.send_errors.get(name, 0),
                "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


async def main(args):
    if args.resolve:
        name, _, ip = args.resolve.partition(":")
        real = socket.getaddrinfo

        def getaddrinfo(host, *rest, **kw):
            return real(ip if isinstance(host, str) and host.lower() == name.lower() else host,
                        *rest, **kw)

        socket.getaddrinfo = getaddrinfo
    ctx = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else False
    components = [Component(s) for s in args.component]
    deadline = time.monotonic() + args.deadline_s
    result = {"users": args.users, "rooms": args.rooms, "sss_clients": args.sss}
    # Users come from many addresses, as they do on the internet (and as per-address connection
    # caps expect): every `--users-per-address` users share one source address in 127.0.0.0/8.
    n_addr = (args.users + args.users_per_address - 1) // args.users_per_address
    if n_addr > 250 * 250:
        raise Failure("too many users for the loopback source addresses")
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        limit=0, ssl=ctx, ttl_dns_cache=None,
        local_addr=(f"127.0.{1 + k // 250}.{1 + k % 250}", 0))) for k in range(n_addr)]
    try:
        await bench(args, sessions, components, deadline, result)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    print(json.dumps(result))


async def bench(args, sessions, components, deadline, result):
    run = Run(args)
    await run.setup(sessions)
    ready = asyncio.Semaphore(0)
    loops = [asyncio.ensure_future(run.sss_loop(u, ready) if u["sss"]
                                   else run.sync_loop(u, ready)) for u in run.users]
    t0 = time.monotonic()
    for _ in run.users:
        acquire = asyncio.ensure_future(ready.acquire())
        done, _ = await asyncio.wait([acquire, *loops], return_when=asyncio.FIRST_COMPLETED,
                                     timeout=max(deadline - time.monotonic(), 1))
        if acquire not in done:
            for t in done:
                t.result()  # a sync loop that ended raised: show why
            raise Failure("the initial syncs did not finish before the deadline")
    log(f"{args.users} clients syncing ({args.sss} by Simplified Sliding Sync) after "
        f"{time.monotonic() - t0:.1f}s; idle for {args.idle_s}s")
    sampler = asyncio.ensure_future(sample_forever(components))
    await asyncio.sleep(args.idle_s)
    result["idle_mib"] = {c.name: round(c.mem_mib(), 1) for c in components}
    for c in components:
        c.peak_mib = 0.0
    cpu0 = {c.name: c.cpu_s() for c in components}
    load_t0 = time.monotonic()
    steps = []
    for rate in args.fixed_rates:
        s = await run.step(f"fixed-{rate:g}", rate, args.fixed_s)
        log(f"fixed {rate:g}/s: p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms "
            f"(send request p50 {s['send_p50_ms']} ms)")
        steps.append(s)
    result["cpu_fixed_s"] = {c.name: round(c.cpu_s() - cpu0[c.name], 1) for c in components}
    sustained = None
    for rate in args.ramp:
        if time.monotonic() + args.step_s + args.drain_s > deadline:
            log("deadline: the ramp stops here")
            break
        s = await run.step(f"ramp-{rate:g}", rate, args.step_s)
        ok = (s["p99_ms"] is not None and s["p99_ms"] <= args.threshold_ms
              and s["send_errors"] == 0)
        log(f"ramp {rate:g}/s: p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms "
            f"(send request p50 {s['send_p50_ms']} ms) "
            f"missing {s['missing']} errors {s['send_errors']} -> {'ok' if ok else 'over'}")
        steps.append(s)
        if not ok:
            break
        sustained = rate
    load_s = time.monotonic() - load_t0
    result["steps"] = steps
    result["sustained_msgs_per_s"] = sustained
    result["threshold_ms"] = args.threshold_ms
    result["load_seconds"] = round(load_s, 1)
    result["cpu_s"] = {c.name: round(c.cpu_s() - cpu0[c.name], 1) for c in components}
    result["peak_mib"] = {c.name: round(c.peak_mib, 1) for c in components}
    result["sync_errors"] = run.sync_errors
    run.stop = True
    sampler.cancel()
    for t in loops:
        t.cancel()
    await asyncio.gather(*loops, sampler, return_exceptions=True)


def rates(text):
    return [float(x) for x in text.split(",") if x]


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--resolve", help="NAME:IP, like curl --resolve")
    p.add_argument("--ca-file", help="CA of the server's certificate (default: not verified)")
    p.add_argument("--prefix", required=True, help="user name prefix, unique per run")
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--rooms", type=int, default=5)
    p.add_argument("--sss", type=int, default=5, help="users syncing by Simplified Sliding Sync")
    p.add_argument("--users-per-address", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=8, help="registrations/joins at once")
    p.add_argument("--poll-s", type=int, default=30, help="long-poll timeout")
    p.add_argument("--idle-s", type=float, default=20)
    p.add_argument("--fixed-rates", type=rates, default=rates("2,5"))
    p.add_argument("--fixed-s", type=float, default=30)
    # Steps of about 1.2x: a difference of 20 % between two setups shows.
    p.add_argument("--ramp", type=rates,
                   default=rates("4,5,6,7,8.5,10,12,14.5,17,21,25,30,36,43,52,62,75,90,108,130"))
    p.add_argument("--step-s", type=float, default=10)
    p.add_argument("--drain-s", type=float, default=3)
    p.add_argument("--threshold-ms", type=float, default=1000)
    p.add_argument("--max-in-flight", type=int, default=400)
    p.add_argument("--deadline-s", type=float, default=900)
    p.add_argument("--component", action="append", default=[],
                   help="NAME=cgroup:CONTAINER_ID[,ID...] or NAME=pid:PID[,PID...] (processes and children)")
    return p.parse_args()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse()))
    except Failure as e:
        print(f"load-gen: error: {e}", file=sys.stderr)
        sys.exit(1)
