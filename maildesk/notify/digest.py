"""The daily digest: each agent's own open tickets and their tiers' unowned ones, with SLA state."""

from __future__ import annotations

import logging
from datetime import date, datetime, tzinfo
from typing import Any

from maildesk.errors import MaildeskError
from maildesk.models import Address
from maildesk.notify.desk_mail import queue_desk_notice
from maildesk.notify.notifier import agent_role, staff_of
from maildesk.sla.timers import clock_report
from maildesk.stage import Context
from maildesk.tokens import make_token, reply_address

log = logging.getLogger("maildesk.notify")

MAX_LISTED = 100  # tickets of each list; the digest says how many more


def send_digests(ctx: Context) -> int:
    """Queue the digest of today (local, a working day, past ``[digest] at``) for every staff agent
    who has not had it; each agent in its own transaction, claimed first, so it goes once even when
    two processes run. An agent with nothing open gets nothing. Returns the digests queued."""
    digest = ctx.desk.config.digest
    now = ctx.desk.clock()
    day = digest.day_due(now)
    if day is None or ctx.desk.config.outbound is None:
        return 0
    waiting = sorted(staff_of(ctx) - ctx.store.queues.digests_had(day.isoformat()))
    if not waiting:
        return 0
    tickets = sorted(ctx.store.queues.open_tickets(), key=lambda t: (t["created_at"], t["id"]))
    sent = 0
    for agent in waiting:
        with ctx.store.atomic():
            sent += _one(ctx, agent, day, tickets, now)
    if sent:
        log.info("digests of %s: %d queued", day.isoformat(), sent)
    return sent


def _one(ctx: Context, agent: str, day: date, tickets: list[dict[str, Any]], now: datetime) -> bool:
    tiers = {t.name for t in ctx.desk.config.tiers if agent in t.agents and not t.vendor}
    mine = [t for t in tickets if t["assignee"] == agent]
    unowned = [t for t in tickets if t["assignee"] is None and t["tier"] in tiers]
    if not ctx.store.queues.claim_digest(agent, day.isoformat(), tickets=len(mine) + len(unowned), at=now):
        return False  # made meanwhile by another process
    if not (mine or unowned):
        return False
    if (reason := ctx.store.outbox.suppressed(agent)) is not None:
        log.warning("no digest to %s: undeliverable (%s)", agent, reason)
        return False
    context = {"digest": {"day": day.isoformat(), "tiers": sorted(tiers),
                          "mine": [_item(ctx, agent, t, now) for t in mine[:MAX_LISTED]],
                          "mine_unlisted": max(0, len(mine) - MAX_LISTED),
                          "unowned": [_item(ctx, agent, t, now) for t in unowned[:MAX_LISTED]],
                          "unowned_unlisted": max(0, len(unowned) - MAX_LISTED)}}
    try:
        outbox_id = queue_desk_notice(ctx.desk, ctx.store, kind="digest", to=Address(agent), context=context,
                                      reply_to=ctx.desk.address, counted=False)
    except MaildeskError as exc:  # a broken template: logged, and the day stays claimed (never retried forever)
        log.error("digest to %s not queued: %s", agent, exc)
        return False
    ctx.store.queues.digest_sent(agent, day.isoformat(), outbox_id=outbox_id)
    return True


def _item(ctx: Context, agent: str, ticket: dict[str, Any], now: datetime) -> dict[str, Any]:
    ticket_id = int(ticket["id"])
    return {"id": ticket_id, "subject": str(ticket["subject"]), "status": ticket["status"], "tier": ticket["tier"],
            "priority": ticket["priority"], "age": now - datetime.fromisoformat(str(ticket["created_at"])),
            "sla": sla_state(ctx, ticket_id, zone=ctx.desk.config.digest.calendar.zone),
            "reply_address": reply_address(ctx.desk.address, make_token(ctx.desk.secret, ticket_id,
                                                                       agent_role(agent)))}


def sla_state(ctx: Context, ticket_id: int, *, zone: tzinfo) -> dict[str, Any]:
    """The clock that matters most: a breach not yet made good, else the running clock due first;
    its instant in the digest's local time."""
    report = clock_report(ctx, ticket_id)
    breached = [c for c in report if c["state"] == "breached" and c["met_at"] is None]
    running = sorted((c for c in report if c["state"] == "running" and c["due_at"]), key=lambda c: str(c["due_at"]))
    chosen = (breached or running)[:1]
    if not chosen:
        return {"state": report[0]["state"] if report else "none", "clock": "", "due_at": None}
    due = datetime.fromisoformat(str(chosen[0]["due_at"])).astimezone(zone)
    return {"state": chosen[0]["state"], "clock": chosen[0]["clock"], "due_at": due.isoformat()}
