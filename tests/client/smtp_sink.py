"""An SMTP sink for the email tests (aiosmtpd): takes one login, keeps every message as a file.

Usage: smtp_sink.py HOST PORT USER PASSWORD MAILDIR [starttls|implicit CERT KEY]
With `starttls` it offers STARTTLS and takes a login only after it; with `implicit` it speaks
TLS from the first byte. Prints "ready PORT" once
listening (PORT 0 picks a free one), then serves until killed. Each message is written to
MAILDIR/<n>.eml atomically (a temporary name, then a rename).
"""

import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    host, port, user, password, maildir = sys.argv[1:6]
    mode, tls = None, None
    if len(sys.argv) > 6:
        mode = sys.argv[6]
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(sys.argv[7], sys.argv[8])
    starttls = tls if mode == "starttls" else None
    count = [0]
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with lock:
                count[0] += 1
                n = count[0]
            tmp = os.path.join(maildir, f".{n}.tmp")
            with open(tmp, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(maildir, f"{n}.eml"))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd itself answers a refusal with 535.
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname=host,
        port=int(port),
        authenticator=authenticator,
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS here; an implicit-TLS connection is TLS already.
        auth_require_tls=mode == "starttls",
        tls_context=starttls,
        require_starttls=starttls is not None,
        ssl_context=tls if mode == "implicit" else None,
        ready_timeout=10,
    )
    controller.start()
    bound = controller.server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
