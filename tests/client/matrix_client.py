#!/usr/bin/env python3
"""A real Matrix client (matrix-nio) for matrixbox's end-to-end tests.

  send --base-url URL --user U --password P --room-alias-localpart NAME --message TEXT
      Log in, create room #NAME:<server> (or join it if the alias exists), send
      TEXT, read the room back and check the message is there.
      Prints {"room_id": ..., "event_id": ...} on stdout.
  send-until --base-url URL --user U --password P --room-alias-localpart NAME
             --stop-file PATH [--interval S] [--max-seconds S]
      Log in once and send numbered messages to #NAME until PATH exists (or
      --max-seconds pass), counting the sends that fail (server down); then
      read the room back and check that every acknowledged message is there.
      Prints {"sending_to": ROOM_ID} once the room is ready, then
      {"acked": N, "failed": N, "missing": [...]} on stdout.
  read --base-url URL --user U --password P --room-alias-localpart NAME --expect TEXT
      Log in, resolve the alias, join if needed, read the room's messages;
      exit 0 iff a message whose body is exactly TEXT is found.

  upload --base-url URL --user U --password P --file PATH [--content-type T]
      Log in and upload PATH to the media repository. Prints {"mxc": ...}.
  download --base-url URL --user U --password P --mxc MXC --output PATH
      Log in and download MXC (authenticated media API) into PATH.

End-to-end encryption (a device that lives on between runs in --store DIR: the
first run logs in and keeps the session there, later runs resume it, as an app
does; its keys never leave DIR):
  e2e-create --store DIR --user U --password P --room-alias-localpart NAME --invite USER_ID
      Create the encrypted room #NAME:<server> and invite USER_ID.
  e2e-join --store DIR --user U --password P --room-alias-localpart NAME
      Join the (invited) room.
  e2e-send --store DIR --user U --password P --room-alias-localpart NAME --message TEXT
      Send TEXT encrypted to the members' devices.
  e2e-read --store DIR --user U --password P --room-alias-localpart NAME --expect TEXT
      Read the room's history; exit 0 iff an event decrypts to exactly TEXT.

Exit status: 0 success, 1 check failed / Matrix error, 2 usage error,
3 timeout. Diagnostics go to stderr.
"""

import argparse
import asyncio
import json
import logging
import socket
import ssl
import sys

import nio
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomSendResponse,
    RoomVisibility,
    UploadResponse,
)


class Failure(Exception):
    pass


def log(msg):
    print(f"matrix_client: {msg}", file=sys.stderr, flush=True)


def describe(resp):
    if isinstance(resp, ErrorResponse):
        return f"{type(resp).__name__}: {resp.status_code or ''} {resp.message}".strip()
    return repr(resp)


MAX_RATE_LIMIT_WAIT = 10.0  # seconds; longer waits fail fast with a clear message


async def call(method, *args, **kwargs):
    """Call a client method, retrying short M_LIMIT_EXCEEDED (429) waits.

    nio's own 429 handling is disabled (it would sleep for whatever
    retry_after_ms the server asks, e.g. minutes after many logins)."""
    for _ in range(5):
        resp = await method(*args, **kwargs)
        if not (isinstance(resp, ErrorResponse) and resp.status_code in ("M_LIMIT_EXCEEDED", 429)):
            return resp
        wait = (getattr(resp, "retry_after_ms", None) or 1000) / 1000
        if wait > MAX_RATE_LIMIT_WAIT:
            raise Failure(
                f"{method.__name__}: rate limited by the server for {wait:.0f} s "
                f"(raise rc_login / rc_message etc. in homeserver.yaml for tests)"
            )
        log(f"{method.__name__}: rate limited, retrying in {wait:.1f} s")
        await asyncio.sleep(wait)
    return resp


def check(resp, ok_type, what):
    if not isinstance(resp, ok_type):
        raise Failure(f"{what} failed: {describe(resp)}")
    return resp


def client_config(args, encryption):
    """Timeouts and retries for every client; nio's own 429 handling is off (see `call`)."""
    return AsyncClientConfig(
        request_timeout=args.request_timeout,
        max_timeouts=2,
        max_limit_exceeded=0,
        max_timeout_retry_wait_time=5,
        store_sync_tokens=False,
        encryption_enabled=encryption,
    )


def ssl_setting(args):
    """What every connection trusts: nothing checked (--insecure), only --ca-file's CA (the test
    CA's root: certificate and name are verified), or the system's roots."""
    if args.insecure:
        return False
    if args.ca_file:
        return ssl.create_default_context(cafile=args.ca_file)
    return None


async def login(args):
    config = client_config(args, encryption=False)
    client = AsyncClient(
        args.base_url.rstrip("/"),
        args.user,
        config=config,
        ssl=ssl_setting(args),
    )
    try:
        resp = await call(client.login, args.password, device_name="matrixbox-test-client")
        check(resp, LoginResponse, f"login as {args.user!r} at {args.base_url}")
        log(f"logged in as {resp.user_id} (device {resp.device_id})")
    except BaseException:
        await client.close()
        raise
    return client


def alias_of(client, args):
    server = args.server_name or client.user_id.split(":", 1)[1]
    return f"#{args.room_alias_localpart}:{server}"


async def resolve(client, alias):
    resp = await call(client.room_resolve_alias, alias)
    if isinstance(resp, RoomResolveAliasResponse):
        return resp.room_id
    if isinstance(resp, ErrorResponse) and resp.status_code == "M_NOT_FOUND":
        return None
    raise Failure(f"resolving {alias} failed: {describe(resp)}")


async def join(client, room_id, alias):
    resp = await call(client.join, room_id)
    check(resp, JoinResponse, f"joining {alias} ({room_id})")


async def find_message(client, room_id, *, body, event_id=None, max_pages=20):
    """Page back through the room's history looking for a text message."""
    token = None
    for _ in range(max_pages):
        resp = await call(client.room_messages, room_id, start=token, limit=100)
        check(resp, RoomMessagesResponse, f"reading messages of {room_id}")
        for ev in resp.chunk:
            if event_id is not None and getattr(ev, "event_id", None) != event_id:
                continue
            if getattr(ev, "body", None) == body:
                return ev.event_id
        if not resp.chunk or not resp.end or resp.end == token:
            return None
        token = resp.end
    return None


async def ensure_room(client, args):
    alias = alias_of(client, args)
    room_id = await resolve(client, alias)
    if room_id is None:
        resp = await call(
            client.room_create,
            visibility=RoomVisibility.private,
            alias=args.room_alias_localpart,
            name=args.room_alias_localpart,
            preset=RoomPreset.public_chat,
        )
        if isinstance(resp, RoomCreateResponse):
            room_id = resp.room_id
            log(f"created {alias} = {room_id}")
        elif isinstance(resp, ErrorResponse) and resp.status_code == "M_ROOM_IN_USE":
            room_id = await resolve(client, alias)  # lost a race: join instead
            if room_id is None:
                raise Failure(f"{alias} is in use but does not resolve")
        else:
            raise Failure(f"creating {alias} failed: {describe(resp)}")
    await join(client, room_id, alias)
    return alias, room_id


async def cmd_send(client, args):
    alias, room_id = await ensure_room(client, args)

    resp = await call(
        client.room_send,
        room_id, "m.room.message", {"msgtype": "m.text", "body": args.message}
    )
    check(resp, RoomSendResponse, f"sending to {alias}")
    event_id = resp.event_id
    log(f"sent {event_id}")

    # Read it back (the server may need a moment to make it visible).
    deadline = asyncio.get_running_loop().time() + args.verify_timeout
    while True:
        if await find_message(client, room_id, body=args.message, event_id=event_id):
            break
        if asyncio.get_running_loop().time() > deadline:
            raise Failure(f"sent {event_id} but it is not in the messages of {room_id}")
        await asyncio.sleep(0.5)
    print(json.dumps({"room_id": room_id, "event_id": event_id}), flush=True)


async def cmd_send_until(client, args):
    """Sends while the server is killed and brought back: an acknowledged send must stay."""
    import os
    alias, room_id = await ensure_room(client, args)
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + args.max_seconds
    acked, failed, n = [], 0, 0
    # The caller may start its faults once the room is ready.
    print(json.dumps({"sending_to": room_id}), flush=True)
    while not os.path.exists(args.stop_file) and loop.time() < stop_at:
        n += 1
        body = f"{args.room_alias_localpart} message {n}"
        try:
            resp = await client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": body}
            )
        except Exception as e:  # connection refused while the server is down
            resp = e
        if isinstance(resp, RoomSendResponse):
            acked.append(body)
        else:
            failed += 1
            log(f"send {n} failed: {describe(resp) if isinstance(resp, ErrorResponse) else resp!r}")
        await asyncio.sleep(args.interval)
    log(f"{len(acked)} acknowledged, {failed} failed; reading {alias} back")
    found = set()
    deadline = loop.time() + args.verify_timeout
    while True:
        token = None
        for _ in range(len(acked) // 100 + 10):
            resp = await call(client.room_messages, room_id, start=token, limit=100)
            check(resp, RoomMessagesResponse, f"reading messages of {room_id}")
            found.update(getattr(ev, "body", None) for ev in resp.chunk)
            if not resp.chunk or not resp.end or resp.end == token:
                break
            token = resp.end
        missing = [body for body in acked if body not in found]
        if not missing or loop.time() > deadline:
            break
        await asyncio.sleep(1)
    print(json.dumps({"acked": len(acked), "failed": failed, "missing": missing}), flush=True)
    if missing:
        raise Failure(f"{len(missing)} acknowledged messages are missing: {missing[:5]}")


async def cmd_read(client, args):
    alias = alias_of(client, args)
    room_id = await resolve(client, alias)
    if room_id is None:
        raise Failure(f"room alias {alias} does not exist")
    await join(client, room_id, alias)
    event_id = await find_message(client, room_id, body=args.expect)
    if event_id is None:
        raise Failure(f"message {args.expect!r} not found in {alias} ({room_id})")
    log(f"found {event_id} in {alias}")
    print(json.dumps({"room_id": room_id, "event_id": event_id}), flush=True)


async def cmd_upload(client, args):
    import os
    size = os.path.getsize(args.file)
    with open(args.file, "rb") as f:
        resp, _ = await call(
            client.upload, f, content_type=args.content_type,
            filename=os.path.basename(args.file), filesize=size,
        )
    check(resp, UploadResponse, f"uploading {args.file}")
    log(f"uploaded {size} bytes as {resp.content_uri}")
    print(json.dumps({"mxc": resp.content_uri}), flush=True)


async def cmd_download(client, args):
    """The authenticated media API (Synapse serves new media only there)."""
    import aiohttp
    server, _, media_id = args.mxc.removeprefix("mxc://").partition("/")
    url = f"{args.base_url.rstrip('/')}/_matrix/client/v1/media/download/{server}/{media_id}"
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers, ssl=ssl_setting(args)) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise Failure(f"downloading {args.mxc}: HTTP {resp.status} {body[:200]!r}")
    with open(args.output, "wb") as f:
        f.write(body)
    log(f"downloaded {len(body)} bytes of {args.mxc}")


async def e2e_login(args):
    """A device with its keys in args.store, resumed when the store already has a session."""
    import os
    if not nio.crypto.ENCRYPTION_ENABLED:
        raise Failure("this matrix-nio has no end-to-end encryption: run tests/client/setup.sh "
                      "(requirements.txt pins matrix-nio's e2e dependencies)")
    os.makedirs(args.store, exist_ok=True)
    config = client_config(args, encryption=True)
    session_file = os.path.join(args.store, "session.json")
    if os.path.exists(session_file):
        with open(session_file) as f:
            session = json.load(f)
        client = AsyncClient(args.base_url.rstrip("/"), session["user_id"],
                             device_id=session["device_id"], store_path=args.store, config=config,
                             ssl=ssl_setting(args))
        client.restore_login(session["user_id"], session["device_id"], session["access_token"])
        log(f"resumed {session['user_id']} (device {session['device_id']})")
    else:
        client = AsyncClient(args.base_url.rstrip("/"), args.user, store_path=args.store, config=config,
                             ssl=ssl_setting(args))
        resp = await call(client.login, args.password, device_name="matrixbox-test-e2e")
        check(resp, LoginResponse, f"login as {args.user!r} at {args.base_url}")
        with open(session_file, "w") as f:
            json.dump({"user_id": resp.user_id, "device_id": resp.device_id,
                       "access_token": resp.access_token}, f)
        log(f"logged in as {resp.user_id} (new device {resp.device_id})")
    try:
        if client.should_upload_keys:
            check(await call(client.keys_upload), nio.KeysUploadResponse, "uploading keys")
        await e2e_sync(client)
    except BaseException:
        await client.close()
        raise
    return client


async def e2e_sync(client):
    # Synapse answers a repeated identical sync from its cache for minutes; a filter of its own
    # (excluding an account-data type nobody uses) makes this one fresh.
    import secrets
    nonce = {"account_data": {"not_types": [f"org.matrixbox.test.{secrets.token_hex(8)}"]}}
    resp = await call(client.sync, timeout=0, full_state=True, sync_filter=nonce)
    check(resp, nio.SyncResponse, "sync")
    if client.should_query_keys:
        check(await call(client.keys_query), nio.KeysQueryResponse, "querying device keys")


async def cmd_e2e_create(client, args):
    alias = alias_of(client, args)
    resp = await call(
        client.room_create,
        visibility=RoomVisibility.private,
        alias=args.room_alias_localpart,
        name=args.room_alias_localpart,
        preset=RoomPreset.private_chat,
        invite=[args.invite],
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
    )
    check(resp, RoomCreateResponse, f"creating {alias}")
    log(f"created encrypted {alias} = {resp.room_id}, invited {args.invite}")
    print(json.dumps({"room_id": resp.room_id}), flush=True)


async def cmd_e2e_join(client, args):
    alias = alias_of(client, args)
    room_id = await resolve(client, alias)
    if room_id is None:
        raise Failure(f"room alias {alias} does not exist")
    await join(client, room_id, alias)
    await e2e_sync(client)
    print(json.dumps({"room_id": room_id}), flush=True)


async def cmd_e2e_send(client, args):
    alias = alias_of(client, args)
    room_id = await resolve(client, alias)
    if room_id is None:
        raise Failure(f"room alias {alias} does not exist")
    room = client.rooms.get(room_id)
    if room is None or not room.encrypted:
        raise Failure(f"{alias} is not an encrypted room this device is in")
    resp = await call(
        client.room_send, room_id, "m.room.message",
        {"msgtype": "m.text", "body": args.message}, ignore_unverified_devices=True,
    )
    check(resp, RoomSendResponse, f"sending to {alias}")
    log(f"sent encrypted {resp.event_id} to {len(room.users)} members")
    print(json.dumps({"room_id": room_id, "event_id": resp.event_id}), flush=True)


async def cmd_e2e_read(client, args):
    alias = alias_of(client, args)
    room_id = await resolve(client, alias)
    if room_id is None:
        raise Failure(f"room alias {alias} does not exist")
    token, undecrypted = None, 0
    for _ in range(20):
        resp = await call(client.room_messages, room_id, start=token, limit=100)
        check(resp, RoomMessagesResponse, f"reading messages of {room_id}")
        for ev in resp.chunk:
            if isinstance(ev, nio.MegolmEvent):
                undecrypted += 1
            elif getattr(ev, "body", None) == args.expect:
                if not getattr(ev, "decrypted", False):
                    raise Failure(f"{ev.event_id} holds {args.expect!r} but was not encrypted")
                log(f"decrypted {ev.event_id} in {alias}")
                print(json.dumps({"room_id": room_id, "event_id": ev.event_id}), flush=True)
                return
        if not resp.chunk or not resp.end or resp.end == token:
            break
        token = resp.end
    raise Failure(f"no event of {alias} decrypts to {args.expect!r} ({undecrypted} could not be decrypted)")


def install_resolve_overrides(entries):
    """Answer lookups of the given names with the given addresses, like curl --resolve."""
    overrides = {}
    for entry in entries:
        name, _, ip = entry.partition(":")
        overrides[name.lower()] = ip
    if not overrides:
        return
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *rest, **kwargs):
        if isinstance(host, str) and host.lower() in overrides:
            host = overrides[host.lower()]
        return real_getaddrinfo(host, *rest, **kwargs)

    socket.getaddrinfo = getaddrinfo


E2E_COMMANDS = {"e2e-create": cmd_e2e_create, "e2e-join": cmd_e2e_join,
                "e2e-send": cmd_e2e_send, "e2e-read": cmd_e2e_read}


async def run(args):
    client = await (e2e_login(args) if args.command in E2E_COMMANDS else login(args))
    try:
        commands = {"send": cmd_send, "send-until": cmd_send_until, "read": cmd_read,
                    "upload": cmd_upload, "download": cmd_download, **E2E_COMMANDS}
        await commands[args.command](client, args)
    finally:
        # An e2e device lives on in its store; the others log out.
        if args.command not in E2E_COMMANDS:
            try:
                await asyncio.wait_for(client.logout(), 5)
            except Exception:
                pass
        await client.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("send", "send-until", "read", "upload", "download", *E2E_COMMANDS):
        s = sub.add_parser(name)
        s.add_argument("--base-url", required=True, help="client-server API base, e.g. http://127.0.0.1:8008")
        s.add_argument("--user", required=True, help="localpart or full user id")
        s.add_argument("--password", required=True)
        s.add_argument("--room-alias-localpart", required=name not in ("upload", "download"))
        s.add_argument("--server-name", help="server part of the alias (default: from the logged-in user id)")
        s.add_argument("--timeout", type=float, default=60, help="overall timeout in seconds")
        s.add_argument("--request-timeout", type=float, default=20)
        s.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
        s.add_argument("--ca-file", help="PEM file of the only CA to trust for TLS")
        s.add_argument("--resolve", action="append", default=[], metavar="NAME:IP",
                       help="resolve NAME to IP (like curl --resolve), for test names without DNS")
        s.add_argument("--verbose", action="store_true", help="show matrix-nio's own log")
        if name == "send":
            s.add_argument("--message", required=True)
            s.add_argument("--verify-timeout", type=float, default=10)
        elif name == "send-until":
            s.add_argument("--stop-file", required=True)
            s.add_argument("--interval", type=float, default=0.3)
            s.add_argument("--max-seconds", type=float, default=300)
            s.add_argument("--verify-timeout", type=float, default=30)
        elif name == "upload":
            s.add_argument("--file", required=True)
            s.add_argument("--content-type", default="application/octet-stream")
        elif name == "download":
            s.add_argument("--mxc", required=True)
            s.add_argument("--output", required=True)
        elif name in E2E_COMMANDS:
            s.add_argument("--store", required=True, help="the device's session and keys")
            if name == "e2e-create":
                s.add_argument("--invite", required=True)
            elif name == "e2e-send":
                s.add_argument("--message", required=True)
            elif name == "e2e-read":
                s.add_argument("--expect", required=True)
        else:
            s.add_argument("--expect", required=True)
    args = p.parse_args(argv)
    install_resolve_overrides(args.resolve)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL, stream=sys.stderr)
    try:
        asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except Failure as e:
        log(f"FAILED: {e}")
        return 1
    except (asyncio.TimeoutError, TimeoutError):
        log(f"FAILED: timed out after {args.timeout} s")
        return 3
    except Exception as e:  # connection refused, bad URL, ...
        log(f"FAILED: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
