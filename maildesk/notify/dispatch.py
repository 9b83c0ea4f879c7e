"""Drain the outbox: due notices go out in bursts over one transport, and each outcome is recorded."""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import nullcontext
from typing import TYPE_CHECKING, Protocol

from maildesk.auth import for_login
from maildesk.desk import Desk
from maildesk.notify.maildir_out import MaildirSender
from maildesk.notify.delivery import Delivery, DeliveryResult, OnResult
from maildesk.notify.smtp import SmtpSender, SmtpSettings
from maildesk.store import Store
from maildesk.store.outbox import OutboxEntry

if TYPE_CHECKING:
    from maildesk.metrics import Metrics

log = logging.getLogger("maildesk.notify")

BURST = 50  # notices per connection


class Transport(Protocol):
    #: Whether delivering a message again after a crash writes nothing twice (the Maildir's
    #: names follow from the row and its bytes); then a burst's outcomes are committed together.
    idempotent: bool

    def send(self, deliveries: list[Delivery], on_result: OnResult = ...) -> list[DeliveryResult]: ...


def open_transport(desk: Desk) -> Transport:
    """The configured way out: SMTP (logged in with a password or OAuth2 tokens), or files in the outbox Maildir."""
    outbound = desk.config.outbound
    assert outbound is not None
    if outbound.kind == "maildir":
        assert outbound.path is not None
        return MaildirSender(outbound.path)
    tokens = for_login(desk, "outbound", outbound.oauth, outbound.username)
    return SmtpSender(SmtpSettings(host=outbound.host, port=outbound.port, security=outbound.security,
                                   username=outbound.username, password="" if tokens else outbound.password(),
                                   tls_context=outbound.tls_context(), helo_name=outbound.helo_name, tokens=tokens))


def flush(desk: Desk, store: Store, transport: Transport, *, metrics: Metrics | None = None) -> Counter[str]:
    """Send everything due now; returns how many were sent, postponed and failed."""
    counts: Counter[str] = Counter()
    while due := store.outbox.due(desk.clock(), limit=BURST):
        _burst(desk, store, transport, due, counts, metrics)
    return counts


def _burst(desk: Desk, store: Store, transport: Transport, due: list[tuple[OutboxEntry, bytes]],
           counts: Counter[str], metrics: Metrics | None) -> None:
    """One burst over the transport; each outcome is committed on its own the moment it is known,
    so a crash mid-burst resends at most the notice in flight. An idempotent transport's outcomes
    are committed together after the burst: what a crash cut off is found written, not written again."""
    with store.atomic():
        store.outbox.mark_sending([entry.id for entry, _ in due])
    kinds = {entry.id: entry.kind for entry, _ in due}
    recorded: set[int] = set()
    together = transport.idempotent

    def settle(key: int, result: DeliveryResult | None) -> None:
        with store.atomic():  # within the burst's own transaction for an idempotent transport
            outcome = _record(store, key, result, desk)
        recorded.add(key)
        counts[outcome] += 1
        if metrics is not None and outcome in ("sent", "failed"):
            metrics.notice(kinds[key], outcome == "sent")

    deliveries = [Delivery(key=e.id, envelope_from=e.envelope_from, recipients=(e.recipient,), data=data,
                           smtputf8=e.smtputf8, resumed=e.status == "sending") for e, data in due]
    results = {r.key: r for r in transport.send(deliveries, (lambda r: None) if together else
                                                     (lambda r: settle(r.key, r)))}
    with store.atomic() if together else nullcontext():
        for delivery in deliveries:
            if delivery.key not in recorded:  # reported together, or given up on without a report
                settle(delivery.key, results.get(delivery.key))


def _record(store: Store, entry_id: int, result: DeliveryResult | None, desk: Desk) -> str:
    now = desk.clock()
    if result is None:
        store.outbox.postpone(entry_id, error="no result from the transport", now=now)
        return "postponed"
    detail = result.detail  # the server's reply, code included
    if result.status == "sent":
        store.outbox.sent(entry_id, now=now)
        return "sent"
    if result.status == "permanent":
        store.outbox.failed(entry_id, error=detail, now=now)
        log.warning("notice %d failed for good: %s", entry_id, detail)
        return "failed"
    store.outbox.postpone(entry_id, error=detail, now=now)
    return "postponed"
