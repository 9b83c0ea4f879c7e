"""Notices to the desk's admins about the desk itself (a mailbox failing or recovered), not a ticket."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from maildesk.desk import Desk
from maildesk.errors import MaildeskError
from maildesk.models import Address
from maildesk.notify.desk_mail import queue_desk_notice
from maildesk.store import Store

log = logging.getLogger("maildesk.notify")


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
    return queue_desk_notice(desk, store, kind="admin", to=to, context={"problem": dict(problem)},
                             reply_to=outbound.sender.addr, counted=False)
