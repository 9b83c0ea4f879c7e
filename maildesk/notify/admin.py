"""Notices to the desk's admins about the desk itself (a mailbox failing or recovered), not a ticket."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from maildesk.desk import Desk
from maildesk.errors import MaildeskError
from maildesk.models import Address
from maildesk.notify.compose import AUTO_SUBMITTED, Outgoing, compose, envelope, new_message_id, to_bytes
from maildesk.notify.notifier import templates_for
from maildesk.store import Store

log = logging.getLogger("maildesk.notify")

NO_TICKET = 0


def queue_admin_notice(desk: Desk, store: Store, problem: Mapping[str, Any]) -> list[int]:
    """Queue the ``admin`` notice to each of ``[desk] admins``, in the caller's transaction.

    Admin notices are automatic (Auto-Submitted) but never counted against the daily cap for
    customers' addresses: their own rate limit is ``[desk] admin_alert_minutes``. An address
    that bounced for good gets nothing. Returns the outbox ids.
    """
    config = desk.config
    if config.outbound is None or not config.desk.admins:
        return []
    queued = []
    for admin in config.desk.admins:
        if (reason := store.outbox.suppressed(admin)) is not None:
            log.warning("admin notice to %s not queued: undeliverable (%s)", admin, reason)
            continue
        try:
            queued.append(_queue(desk, store, Address(admin), problem))
        except MaildeskError as exc:
            log.error("admin notice to %s not queued: %s", admin, exc)
    return queued


def _queue(desk: Desk, store: Store, to: Address, problem: Mapping[str, Any]) -> int:
    outbound = desk.config.outbound
    assert outbound is not None
    context = {"desk": {"name": desk.config.desk.name, "address": desk.address}, "ticket": {},
               "recipient": {"address": to.addr, "name": to.name}, "reply_address": desk.address,
               "problem": dict(problem)}
    rendered = templates_for(desk.config.notify.templates_dir).render("admin", context)
    out = Outgoing(ticket_id=NO_TICKET, kind="admin", to=to, subject=rendered.subject, text=rendered.text,
                   html=rendered.html, message_id=new_message_id(desk.config.desk.domain, NO_TICKET),
                   in_reply_to=None, references=(), reply_to=outbound.sender.addr,
                   auto_submitted=AUTO_SUBMITTED["admin"])
    msg = compose(out, sender=outbound.sender, loop_id=desk.loop_id, clock=desk.clock)
    env_from, _, smtputf8 = envelope(out, outbound.sender)
    return store.outbox.enqueue(ticket_id=None, kind="admin", recipient=to.addr, message_id=out.message_id,
                                envelope_from=env_from, data=to_bytes(msg, smtputf8=smtputf8), smtputf8=smtputf8,
                                automatic=False, now=desk.clock())
