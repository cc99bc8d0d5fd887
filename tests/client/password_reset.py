"""A person's password reset by email, through matrixbox's edge, as a client and a mail reader do it.

Usage: password_reset.py --base-url URL --ca-file PEM --resolve HOST:IP --maildir DIR
         --user @u:server --email ADDR --old PW --new PW
The user adds the email address to the account as a client does (Synapse mails a link to confirm
it, followed here, then the address is bound with the password), asks for a reset, waits for the
mail in DIR,
first tries the link with a forged token, then follows the real one (the confirmation page and its
form), sets the new password with the validated session and tries both passwords. Prints one JSON
object of what each step answered; asserts nothing itself.
"""

import argparse
import email
import email.policy
import html
import html.parser
import json
import os
import re
import secrets
import socket
import ssl
import sys
import time
import urllib.parse
from http.client import HTTPSConnection


class Edge:
    """HTTPS to the edge: the test domain's name (SNI, Host) at the resolved address."""

    def __init__(self, base_url, ca_file, resolve):
        url = urllib.parse.urlsplit(base_url)
        self.host, self.port = url.hostname, url.port or 443
        name, ip = resolve.rsplit(":", 1)
        assert name == self.host, (name, self.host)
        self.ip = ip
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def request(self, method, path, body=None, token=None, form=False):
        conn = HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        conn.sock = self.ctx.wrap_socket(
            socket.create_connection((self.ip, self.port), timeout=30),
            server_hostname=self.host,
        )
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp.status, text


class Forms(html.parser.HTMLParser):
    """The first form of a page: its method, action and inputs."""

    def __init__(self):
        super().__init__()
        self.form = None
        self.inputs = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.form is None:
            self.form = a
        elif tag == "input" and self.form is not None and a.get("name"):
            self.inputs[a["name"]] = a.get("value", "")


def wait_for_mail(maildir, n, timeout=90):
    """The n-th message (1-based) the sink kept."""
    path = os.path.join(maildir, f"{n}.eml")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                return email.message_from_bytes(f.read(), policy=email.policy.default)
        time.sleep(0.5)
    return None


def link_in(mail, path):
    body = mail.get_body(preferencelist=("plain", "html")).get_content()
    links = re.findall(r"https://[^\s\"'<>]+" + re.escape(path) + r"\?[^\s\"'<>]+", body)
    return urllib.parse.urlsplit(html.unescape(links[0])) if links else None


def login(edge, user, password):
    status, text = edge.request(
        "POST",
        "/_matrix/client/v3/login",
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password},
    )
    return status, json.loads(text).get("access_token") if status == 200 else None


def add_email(edge, out, a):
    """As a client's settings do it: request a token, follow the mailed link, bind with the password."""
    _, token = login(edge, a.user, a.old)
    client_secret = secrets.token_hex(16)
    status, text = edge.request(
        "POST",
        "/_matrix/client/v3/account/3pid/email/requestToken",
        {"client_secret": client_secret, "email": a.email, "send_attempt": 1},
        token=token,
    )
    out["add_request_token"] = status
    if status != 200:
        out["add_request_token_body"] = text
        return False
    sid = json.loads(text)["sid"]
    mail = wait_for_mail(a.maildir, 1)
    link = mail and link_in(mail, "/add_threepid/email/submit_token")
    if not link:
        out["add_mail"] = None if mail is None else "no link"
        return False
    out["add_link"], _ = edge.request("GET", f"{link.path}?{link.query}")
    body = {"client_secret": client_secret, "sid": sid}
    status, text = edge.request("POST", "/_matrix/client/v3/account/3pid/add", body, token=token)
    session = json.loads(text).get("session")
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": a.user},
        "password": a.old,
        "session": session,
    }
    out["add_bind"], text = edge.request(
        "POST", "/_matrix/client/v3/account/3pid/add", dict(body, auth=auth), token=token
    )
    if out["add_bind"] != 200:
        out["add_bind_body"] = text
        return False
    return True


def main():
    p = argparse.ArgumentParser()
    for arg in ["base-url", "ca-file", "resolve", "maildir", "user", "email", "old", "new"]:
        p.add_argument(f"--{arg}", required=True)
    a = p.parse_args()
    edge = Edge(a.base_url, a.ca_file, a.resolve)
    out = {}
    if not add_email(edge, out, a):
        print(json.dumps(out))
        return
    client_secret = secrets.token_hex(16)
    status, text = edge.request(
        "POST",
        "/_matrix/client/v3/account/password/email/requestToken",
        {"client_secret": client_secret, "email": a.email, "send_attempt": 1},
    )
    out["request_token"] = status
    if status != 200:
        out["request_token_body"] = text
        print(json.dumps(out))
        return
    sid = json.loads(text)["sid"]
    mail = wait_for_mail(a.maildir, 2)
    if mail is None:
        out["mail"] = None
        print(json.dumps(out))
        return
    out["mail"] = {"from": str(mail["From"]), "to": str(mail["To"]), "subject": str(mail["Subject"])}
    link = link_in(mail, "/_synapse/client/password_reset/email/submit_token")
    if link is None:
        out["link"] = None
        print(json.dumps(out))
        return
    out["link_host"] = link.hostname
    query = dict(urllib.parse.parse_qsl(link.query))
    # Without the mail: a forged token validates nothing, and the password stays.
    forged = dict(query, token="forged" + query.get("token", ""))
    out["forged_submit"], _ = edge.request(
        "POST", link.path, forged, form=True
    )
    auth = {
        "type": "m.login.email.identity",
        "threepid_creds": {"sid": sid, "client_secret": client_secret},
        "threepidCreds": {"sid": sid, "client_secret": client_secret},
    }
    out["change_before_validation"], _ = edge.request(
        "POST",
        "/_matrix/client/v3/account/password",
        {"new_password": a.new, "logout_devices": True, "auth": auth},
    )
    # The link as a mail reader follows it: a confirmation page, then its form.
    status, page = edge.request("GET", f"{link.path}?{link.query}")
    out["link_page"] = status
    forms = Forms()
    forms.feed(page)
    if forms.form is not None and forms.form.get("method", "get").lower() == "post":
        action = urllib.parse.urljoin(link.path, forms.form.get("action") or link.path)
        status, page = edge.request("POST", action, forms.inputs or query, form=True)
        out["confirm"] = status
    out["validated_page"] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).strip()[:300]
    out["change"], text = edge.request(
        "POST",
        "/_matrix/client/v3/account/password",
        {"new_password": a.new, "logout_devices": True, "auth": auth},
    )
    if out["change"] != 200:
        out["change_body"] = text
    out["login_new"], _ = login(edge, a.user, a.new)
    out["login_old"], _ = login(edge, a.user, a.old)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
