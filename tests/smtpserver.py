"""A throwaway aiosmtpd SMTP server on loopback for tests, and the ``smtp_server`` fixtures."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class Received:
    """One message the server accepted: the envelope, the bytes, and which connection brought it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    mail_options: tuple[str, ...]
    connection: int


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Handler:
    """The aiosmtpd handler: applies the server's failure options and records what it accepts."""

    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.owner.reject_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        if owner.take_failure():
            return owner.data_reply
        if owner.take_slow():
            await asyncio.sleep(owner.data_delay)
        assert isinstance(server, _CountingSMTP)
        owner.record(Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=bytes(envelope.original_content or b""),
            mail_options=tuple(envelope.mail_options),
            connection=server.number,
        ))
        server.delivered += 1
        return "250 2.0.0 OK queued"


class _CountingSMTP(SMTP):
    """One protocol object per TCP connection; it is counted at its first EHLO/HELO.

    Counting at the greeting leaves out the probe connection the controller makes on start,
    and a STARTTLS upgrade (which starts a new aiosmtpd session) still counts once.
    """

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = handler.owner
        self.number = 0
        self.delivered = 0

    def _count(self) -> None:
        if not self.number:
            self.number = self.owner.count_connection()

    async def smtp_EHLO(self, hostname: str) -> None:
        self._count()
        self.owner.helo_names.append(hostname)
        await super().smtp_EHLO(hostname)

    async def smtp_HELO(self, hostname: str) -> None:
        self._count()
        await super().smtp_HELO(hostname)

    async def auth_XOAUTH2(self, _: Any, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: the bearer token is checked at the identity provider's introspection URL."""
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            fields = dict(part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if part)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError):
            return AuthResult(success=False, handled=False)
        ok = self.owner.token_active(user, token)
        with self.owner._lock:
            self.owner.auth_attempts.append(("XOAUTH2", user, ok))
        if ok:
            return AuthResult(success=True, handled=False)
        await self.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))  # then 535
        return AuthResult(success=False, handled=False)

    async def smtp_MAIL(self, arg: str) -> None:
        limit = self.owner.messages_per_connection
        if limit is not None and self.delivered >= limit:
            if not self.owner.drop_silently:
                await self.push("421 4.7.0 too many messages on one connection, closing")
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_MAIL(arg)


class _Controller(Controller):
    def __init__(self, owner: SmtpTestServer, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(_Handler(owner), **kwargs)

    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpTestServer:
    """An SMTP server on 127.0.0.1 that records every accepted message and counts connections.

    Options: ``smtputf8`` (advertise SMTPUTF8); ``fail_data`` (answer ``data_reply``, a 451
    unless told, to that many DATA commands, after the final dot); ``reject_rcpt`` (address
    -> reply, e.g. a 550); ``starttls`` (offer STARTTLS with a certificate from a private
    trustme CA, ``ca``); ``implicit_tls`` (TLS from the first byte); ``require_auth`` (AUTH
    PLAIN/LOGIN as ``user``/``password``, only over TLS; implies STARTTLS unless
    ``implicit_tls``); ``messages_per_connection`` (then answer MAIL with 421 and close, or
    just close with ``drop_silently``); ``slow_data`` DATA commands answered only after
    ``data_delay`` seconds; ``oauth_introspection_url`` (AUTH XOAUTH2 only, each token checked
    there, as a provider's server would). ``stop()`` and ``start()`` take it down and back on the same port.
    """

    host = HOST
    user = "notify"
    password = "s3cret"

    def __init__(self, *, smtputf8: bool = True, fail_data: int = 0,
                 data_reply: str = "451 4.3.0 try again later",
                 reject_rcpt: dict[str, str] | None = None, starttls: bool = False,
                 implicit_tls: bool = False, require_auth: bool = False,
                 messages_per_connection: int | None = None, drop_silently: bool = False,
                 slow_data: int = 0, data_delay: float = 0.0, oauth_introspection_url: str = "") -> None:
        self.smtputf8 = smtputf8
        self.data_reply = data_reply
        self.reject_rcpt = {k.lower(): v for k, v in (reject_rcpt or {}).items()}
        self.starttls = starttls or (require_auth and not implicit_tls)
        self.implicit_tls = implicit_tls
        self.require_auth = require_auth
        self.messages_per_connection = messages_per_connection
        self.drop_silently = drop_silently
        self.data_delay = data_delay
        self.oauth_introspection_url = oauth_introspection_url
        self.ca = trustme.CA()
        self._server_tls: ssl.SSLContext | None = None
        self.port = free_port()
        self.received: list[Received] = []
        self.connections = 0
        self.helo_names: list[str] = []  # what each EHLO said
        self.auth_attempts: list[tuple[str, str, bool]] = []
        self._failures_left = fail_data
        self._slow_left = slow_data
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts this server's private CA (and verifies the host)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def server_tls(self) -> ssl.SSLContext:
        """The server's context: a certificate for 127.0.0.1 and localhost, issued by ``ca``."""
        if self._server_tls is None:
            self._server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(HOST, "localhost").configure_cert(self._server_tls)
        return self._server_tls

    def start(self) -> None:
        if self._controller is None:
            controller = _Controller(self, hostname=HOST, port=self.port, **self._smtp_options())
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        """Stop listening and drop every open connection."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _smtp_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "server_hostname": "smtp.test", "enable_SMTPUTF8": self.smtputf8,
            "ready_timeout": 10.0,
        }
        if self.implicit_tls:
            options["ssl_context"] = self.server_tls()
        elif self.starttls:
            options.update(tls_context=self.server_tls(), require_starttls=self.require_auth)
        if self.require_auth:
            options.update(auth_required=True, auth_require_tls=not self.implicit_tls,
                           authenticator=self._authenticate)
        if self.oauth_introspection_url:  # tokens only, in plain text on loopback
            options.update(auth_required=True, auth_require_tls=False, auth_exclude_mechanism=["PLAIN", "LOGIN"])
        return options

    def token_active(self, user: str, token: str) -> bool:
        """Ask the identity provider (RFC 7662) whether ``token`` is live and belongs to ``user``."""
        form = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.oauth_introspection_url, data=form, timeout=10) as reply:
            answer = json.loads(reply.read())
        return bool(answer.get("active")) and user in (answer.get("username"), answer.get("email"))

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == (self.user, self.password)
        with self._lock:
            self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False)

    def count_connection(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def take_failure(self) -> bool:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                return True
            return False

    def take_slow(self) -> bool:
        with self._lock:
            if self._slow_left > 0:
                self._slow_left -= 1
                return True
            return False

    def recipients(self) -> list[tuple[str, ...]]:
        return [message.rcpt_tos for message in self.received]


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpTestServer]]:
    """Start specially configured servers; all are stopped after the test."""
    servers: list[SmtpTestServer] = []

    def make(**options: Any) -> SmtpTestServer:
        attempts = START_ATTEMPTS  # the free port may be taken before the server binds it
        while True:
            server = SmtpTestServer(**options)
            servers.append(server)
            try:
                server.start()
                return server
            except OSError:
                attempts -= 1
                if not attempts:
                    raise

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    """A fresh, running plain-text SMTP server that accepts everything and offers SMTPUTF8."""
    return make_smtp_server()

