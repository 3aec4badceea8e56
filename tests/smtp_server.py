"""A real SMTP server on loopback for tests (aiosmtpd), in every mode MAIL_URL supports.

Use it as a context manager or with start()/stop()::

    with SMTPServer() as server:                      # plain SMTP
        url = server.url                              # "smtp://127.0.0.1:<port>"
        ...
        assert server.messages[0].rcpt_tos == ["zoe@example.com"]

    certs = make_certificates(tmp_path)               # a private CA and a server certificate
    SMTPServer(mode="starttls", certs=certs)          # url: smtp+starttls://localhost:<port>?cafile=…
    SMTPServer(mode="smtps", certs=certs)             # url: smtps://localhost:<port>?cafile=…
    SMTPServer(users={"shop": "p@ss"})                # AUTH required (over plain, for tests)

Switches, settable while the server runs:

- ``server.recipient_replies["bad@example.com"] = "550 5.1.1 User unknown"`` (or a 4xx);
- ``server.data_reply = "451 4.3.0 Try again later"`` answers DATA with that;
- ``server.drop_after_data = True`` receives the message then closes the connection
  without answering (the client cannot know whether it was accepted);
- ``server.drop_connections()`` closes every open connection (an idle timeout).

What it saw: ``messages`` (Received: mail_from, rcpt_tos, content bytes, ``message`` parsed,
``connection`` number), ``connections`` (how many client connections were opened),
``logins`` (user names that authenticated).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    connection: int
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        self.message = BytesParser(policy=policy.default).parsebytes(self.content)  # type: ignore[assignment]


@dataclass
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path, names: str = "DNS:localhost,IP:127.0.0.1") -> Certificates:
    """A private CA and a server certificate signed by it (openssl CLI), for ``names``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={names}\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectKeyIdentifier=hash\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "2", "-subj", "/CN=King-Avis Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return Certificates(ca_file=ca_cert, cert_file=cert, key_file=key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        replies = {k.lower(): v for k, v in self.server.recipient_replies.items()}
        reply = replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
        if self.server.data_reply:
            return self.server.data_reply
        content = envelope.original_content or envelope.content
        with self.server.lock:
            number = self.server._connection_numbers.get(id(smtp), 0)
            self.server.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content), number)
            )
        if self.server.drop_after_data:
            if smtp.transport is not None:
                smtp.transport.abort()
            return "250 OK (never seen by the client)"
        return "250 OK queued"


class SMTPServer:
    """aiosmtpd on 127.0.0.1 and a free port. ``mode``: plain, starttls or smtps."""

    def __init__(self, mode: str = "plain", *, certs: Certificates | None = None,
                 users: dict[str, str] | None = None) -> None:
        if mode not in ("plain", "starttls", "smtps"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode != "plain" and certs is None:
            raise ValueError(f"mode {mode!r} needs certs=make_certificates(dir)")
        self.mode = mode
        self.certs = certs
        self.users = dict(users or {})
        self.port = free_port()
        self.messages: list[Received] = []
        self.logins: list[str] = []
        self.connections = 0
        self.recipient_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.drop_after_data = False
        self.lock = threading.Lock()
        self._protocols: list[SMTP] = []
        self._connection_numbers: dict[int, int] = {}
        self._controller: Controller | None = None

    # -- what a client needs
    @property
    def host(self) -> str:
        # Certificates are for "localhost"; plain mode uses the address itself.
        return "localhost" if self.mode != "plain" else "127.0.0.1"

    def url_for(self, user: str | None = None, password: str | None = None, **query: str) -> str:
        from urllib.parse import quote, urlencode

        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "smtps": "smtps"}[self.mode]
        auth = ""
        if user is not None:
            auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "") + "@"
        if self.mode != "plain" and self.certs is not None:
            query.setdefault("cafile", str(self.certs.ca_file))
        tail = "?" + urlencode(query) if query else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{tail}"

    @property
    def url(self) -> str:
        user = next(iter(self.users), None)
        return self.url_for(user, self.users.get(user) if user else None)

    # -- life cycle
    def _authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            if self.users.get(user) == auth_data.password.decode("utf-8", "replace"):
                with self.lock:
                    self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SMTPServer:
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            assert self.certs is not None
            kwargs.update(tls_context=self.certs.server_context(), require_starttls=True)
        if self.users:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.mode == "starttls")
        ssl_context = self.certs.server_context() if self.mode == "smtps" and self.certs else None

        server = self

        class _Controller(Controller):
            def factory(self) -> SMTP:
                with warnings.catch_warnings():
                    # AUTH over plain SMTP is what the tests of smtp://user:pass@ want.
                    warnings.simplefilter("ignore", UserWarning)
                    protocol = super().factory()
                with server.lock:
                    server.connections += 1
                    server._protocols.append(protocol)
                    server._connection_numbers[id(protocol)] = server.connections
                return protocol

        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                       ssl_context=ssl_context, server_hostname="mx.kingavis.test",
                                       **kwargs)
        self._controller.start()
        # Controller.start() opens one connection of its own to check the server is up.
        self._wait_closed()
        with self.lock:
            self.connections = 0
            self._protocols.clear()
            self._connection_numbers.clear()
        return self

    def _wait_closed(self) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.lock:
                alive = [p for p in self._protocols if p.transport is not None
                         and not p.transport.is_closing()]
            if not alive:
                return
            time.sleep(0.01)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def drop_connections(self) -> None:
        """Close every open client connection from the server side (like an idle timeout)."""
        assert self._controller is not None
        done = threading.Event()

        def close_all() -> None:
            with self.lock:
                protocols = list(self._protocols)
            for protocol in protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- pytest fixtures
# Import them into a test module to use them: from smtp_server import smtp_server (mark the
# import with noqa F401/F811 for ruff).


@pytest.fixture(scope="session")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private CA and a server certificate for localhost, made once per run."""
    return make_certificates(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A plain SMTP server on loopback; ``smtp_server.url`` is its MAIL_URL."""
    with SMTPServer() as server:
        yield server
