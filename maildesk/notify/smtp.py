"""Deliver built messages over one SMTP connection per burst and classify every outcome."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from maildesk.errors import MaildeskError
from maildesk.auth import TokenSource
from maildesk.auth.sasl import oauthbearer, xoauth2
from maildesk.notify.delivery import Delivery, DeliveryResult, OnResult, Status, ignore
from maildesk.notify.envelope import address_problem, by_code, reply_text, this_host, utf8_problem

Pending = list[tuple[int, Delivery]]  # deliveries still to send, with their place in the burst

log = logging.getLogger("maildesk.notify")

SECURITY_MODES = ("ssl", "starttls", "none")
# Failures that end the connection; asyncio.TimeoutError is TimeoutError on 3.11.
CONNECTION_LOST = (SMTPServerDisconnected, SMTPTimeoutError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to submit: ``security`` is ``ssl`` (port 465), ``starttls`` or ``none``.

    ``tls_context`` defaults to the system trust store with host name checks; ``helo_name``
    is the name given in EHLO (empty: this host's fully qualified name).
    """

    host: str
    port: int
    security: str
    username: str = ""
    password: str = ""
    timeout: float = 30
    tls_context: ssl.SSLContext | None = None
    helo_name: str = ""
    tokens: TokenSource | None = None  # OAuth2: AUTH XOAUTH2/OAUTHBEARER with its tokens, not the password

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, "
                             f"got {self.security!r}")


class _SessionFailed(MaildeskError):
    """No usable connection; nothing was sent. ``admin``: only an administrator can fix it."""

    def __init__(self, detail: str, code: int | None = None, *, admin: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.code, self.admin = detail, code, admin


class SmtpSender:
    """Sends a burst of deliveries over one connection, reconnecting once if it drops.

    ``connections`` counts the connections opened so far (across calls to ``send``).
    Every delivery gets a result: ``sent`` (the server took it), ``temporary`` (try again
    later, with the same bytes) or ``permanent`` (the server, or this sender, refused it).
    A delivery whose connection failed after its final "." is ``temporary``: it may have
    been delivered, and a retry with the same Message-ID is accepted (at-least-once).
    """

    idempotent = False  # a message handed to the server again is delivered again

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.connections = 0
        self.on_result: OnResult = ignore

    def send(self, deliveries: Sequence[Delivery], on_result: OnResult = ignore) -> list[DeliveryResult]:
        """Deliver in order; one result per delivery, in the same order, each also given to
        ``on_result`` the moment the server has answered for it.

        Runs its own event loop, so call it from a thread without a running loop.
        """
        if not deliveries:
            return []
        self.on_result = on_result
        return asyncio.run(self._burst(list(deliveries)))

    async def _burst(self, deliveries: list[Delivery]) -> list[DeliveryResult]:
        results: dict[int, DeliveryResult] = {}
        rest: Pending = list(enumerate(deliveries))
        failure, code = "", None
        for attempt in range(2):  # the connection, and one reconnection if it drops
            if attempt:
                log.info("SMTP connection lost; reconnecting for %d more message(s)", len(rest))
            try:
                client = await self._open()
            except _SessionFailed as exc:
                log.log(logging.ERROR if exc.admin else logging.WARNING, "%s", exc.detail)
                failure, code = exc.detail, exc.code
                break
            try:
                rest = await self._run(client, rest, results)
            finally:
                await _close(client)
            if not rest:
                break
            failure, code = "connection lost twice in one burst; not attempted", None
        if rest:
            log.warning("%d message(s) wait for the next attempt: %s", len(rest), failure)
            results.update((i, DeliveryResult(d.key, "temporary", code, failure)) for i, d in rest)
        return [results[i] for i in range(len(deliveries))]

    async def _run(self, client: SMTP, items: Pending,
                   results: dict[int, DeliveryResult]) -> Pending:
        """Send each item; returns the items still to send when the connection was lost."""
        for position, (index, delivery) in enumerate(items):
            result = await self._transaction(client, delivery) if client.is_connected else None
            if result is None:  # lost before DATA: nothing was delivered, send it again
                return items[position:]
            level = logging.INFO if result.status == "sent" else logging.WARNING
            log.log(level, "delivery %d %s: %s", result.key, result.status, result.detail)
            results[index] = result
            self.on_result(result)
        return []

    async def _open(self) -> SMTP:
        """Connect, EHLO, STARTTLS (when configured; never plain text instead), AUTH."""
        settings = self.settings
        where = f"SMTP server {settings.host}:{settings.port}"
        tls = None
        if settings.security != "none":
            tls = settings.tls_context or ssl.create_default_context()
        client = SMTP(hostname=settings.host, port=settings.port, timeout=settings.timeout,
                      use_tls=settings.security == "ssl", start_tls=False, tls_context=tls,
                      local_hostname=settings.helo_name or this_host())
        try:
            await client.connect()
            self.connections += 1
            await client.ehlo()
            if settings.security == "starttls":
                if not client.supports_extension("starttls"):
                    raise _SessionFailed(f"{where} does not offer STARTTLS; not sending in "
                                         "plain text", admin=True)
                await client.starttls()
                await client.ehlo()
            if settings.username:
                await self._login(client, where)
        except _SessionFailed:
            await _close(client)
            raise
        except (SMTPException, OSError, TimeoutError, ValueError) as exc:
            await _close(client)
            raise _session_failure(exc, where) from exc
        return client

    async def _login(self, client: SMTP, where: str) -> None:
        """AUTH; a rejected password is temporary so mail waits while the admin fixes it."""
        user = self.settings.username
        if not client.supports_extension("auth"):
            raise _SessionFailed(f"{where} offers no AUTH; cannot log in as {user!r}", admin=True)
        if self.settings.tokens is not None:
            await self._token_login(client, where)
            return
        try:
            await client.login(user, self.settings.password)
        except SMTPAuthenticationError as exc:
            raise _SessionFailed(f"{where} rejected the credentials of {user!r} "
                                 f"({reply_text(exc.code, exc.message)}); mail waits until the "
                                 "password is fixed", exc.code, admin=True) from exc

    async def _token_login(self, client: SMTP, where: str) -> None:
        """SASL XOAUTH2 (OAUTHBEARER where only that is offered); a refused token is refreshed once."""
        user, tokens = self.settings.username, self.settings.tokens
        assert tokens is not None
        mech = "XOAUTH2" if "xoauth2" in client.server_auth_methods else "OAUTHBEARER"
        for fresh in (False, True):
            try:
                token = tokens.token(fresh=fresh)
            except MaildeskError as exc:
                raise _SessionFailed(f"{where}: no OAuth2 token for {user!r}: {exc}", admin=True) from exc
            initial = xoauth2(user, token) if mech == "XOAUTH2" else oauthbearer(
                user, token, host=self.settings.host, port=self.settings.port)
            reply = await client.execute_command(b"AUTH", mech.encode(), base64.b64encode(initial))
            if reply.code == 334:  # the failure challenge: answer it to get the final reply
                reply = await client.execute_command(b"" if mech == "XOAUTH2" else b"AQ==")
            if reply.code == 235:
                return
            if fresh:
                raise _SessionFailed(f"{where} refused a freshly refreshed OAuth2 token of {user!r} "
                                     f"({reply_text(reply.code, reply.message)}); mail waits until the "
                                     "login is fixed", reply.code, admin=True)
            log.info("%s refused the access token of %r; refreshing it once", where, user)

    async def _transaction(self, client: SMTP, delivery: Delivery) -> DeliveryResult | None:
        """One MAIL/RCPT/DATA exchange; None when the connection was lost before DATA."""
        problem = address_problem(delivery)
        utf8_needed = utf8_problem(delivery)
        if utf8_needed and not problem and not client.supports_extension("smtputf8"):
            problem = utf8_needed
        if problem:
            return DeliveryResult(delivery.key, "permanent", None, problem)
        try:
            refused = await _envelope(client, delivery, utf8=utf8_needed is not None)
        except CONNECTION_LOST:
            return None
        except ValueError as exc:  # an address that cannot go on an SMTP command line
            await _reset(client)
            detail = f"invalid envelope address: {exc}"
            return DeliveryResult(delivery.key, "permanent", None, detail)
        except SMTPResponseException as exc:
            if not client.is_connected and by_code(exc.code) == "temporary":
                return None  # 421: the server is closing; try the next connection
            await _reset(client)
            return DeliveryResult(delivery.key, by_code(exc.code), exc.code,
                                  f"MAIL FROM refused: {reply_text(exc.code, exc.message)}")
        if refused:
            await _reset(client)
            return _refused_result(delivery, refused)
        return await _data(client, delivery)


async def _envelope(client: SMTP, delivery: Delivery, *, utf8: bool) -> list[SMTPRecipientRefused]:
    """MAIL FROM and every RCPT TO; returns the refused recipients (then no DATA)."""
    encoding = "utf-8" if utf8 else "ascii"
    options = ["SMTPUTF8"] if utf8 else []
    if client.supports_extension("8bitmime") and not delivery.data.isascii():
        options.append("BODY=8BITMIME")
    if client.supports_extension("size"):
        options.append(f"SIZE={len(delivery.data)}")
    await client.mail(delivery.envelope_from, options=options, encoding=encoding)
    refused = []
    for address in delivery.recipients:
        try:
            await client.rcpt(address, encoding=encoding)
        except SMTPRecipientRefused as exc:
            if not client.is_connected:
                raise SMTPServerDisconnected(exc.message) from exc
            refused.append(exc)
    return refused


async def _data(client: SMTP, delivery: Delivery) -> DeliveryResult:
    """DATA; a connection lost or timed out here (even after the final ".") is temporary."""
    key = delivery.key
    try:
        response = await client.data(delivery.data)
    except CONNECTION_LOST as exc:
        detail = f"connection lost during DATA ({exc}); the message may have been delivered"
        return DeliveryResult(key, "temporary", None, detail)
    except SMTPResponseException as exc:
        await _reset(client)
        return DeliveryResult(key, by_code(exc.code), exc.code,
                              f"DATA refused: {reply_text(exc.code, exc.message)}")
    return DeliveryResult(key, "sent", response.code, reply_text(response.code, response.message))


def _session_failure(exc: Exception, where: str) -> _SessionFailed:
    """Classify a failure while opening the connection; every kind is temporary."""
    cause = exc.__cause__ if isinstance(exc, SMTPConnectError) else exc
    if isinstance(cause, ssl.SSLError):
        return _SessionFailed(f"TLS with {where} failed: {cause}", admin=True)
    if isinstance(exc, SMTPResponseException):
        what = "greeting" if isinstance(exc, SMTPConnectResponseError) else "reply"
        return _SessionFailed(f"{where} refused the session ({what}): "
                              f"{reply_text(exc.code, exc.message)}", exc.code)
    return _SessionFailed(f"cannot reach {where}: {exc}")


async def _reset(client: SMTP) -> None:
    """RSET after a refusal, so the next transaction starts clean; a failure here is ignored."""
    if client.is_connected:
        with suppress(SMTPException, OSError, TimeoutError):
            await client.rset()


async def _close(client: SMTP) -> None:
    """QUIT politely, then drop the socket at once (no TLS shutdown round trip to wait for)."""
    transport = client.transport
    if client.is_connected:
        with suppress(SMTPException, OSError, TimeoutError):
            await client.quit()
    client.close()
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
        await asyncio.sleep(0)  # let the transport close its socket before the loop ends


def _refused_result(delivery: Delivery, refused: list[SMTPRecipientRefused]) -> DeliveryResult:
    """All or nothing: a refused recipient holds the message back for every recipient.

    Any 4xx makes it temporary (nobody got it yet, so a retry doubles nothing); only
    5xx refusals make it permanent.
    """
    temporary = [exc for exc in refused if by_code(exc.code) == "temporary"]
    deciding = (temporary or refused)[0]
    detail = "; ".join(f"RCPT TO:<{exc.recipient}> refused: {reply_text(exc.code, exc.message)}"
                       for exc in refused)
    status: Status = "temporary" if temporary else "permanent"
    return DeliveryResult(delivery.key, status, deciding.code, detail)
