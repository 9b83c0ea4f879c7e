"""Notify steps: queue the acknowledgement and the tier's alerts in the message's own transaction."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from maildesk.errors import MaildeskError
from maildesk.models import Address, ParsedMessage
from maildesk.notify.compose import Outgoing, compose, envelope, new_message_id, to_bytes
from maildesk.notify.render import Templates
from maildesk.stage import Context, Work
from maildesk.tokens import make_token, reply_address

log = logging.getLogger("maildesk.notify")

DAY = timedelta(days=1)


@lru_cache(maxsize=8)
def templates_for(override_dir: Path | None) -> Templates:
    """One template environment per override directory: compiled templates are kept, not rebuilt."""
    return Templates(override_dir=override_dir)


def agent_role(agent: str) -> str:
    """The token role of an agent: ties a reply address to one agent without naming them."""
    return "a" + hashlib.sha256(agent.lower().encode()).hexdigest()[:10]


class Notifier:
    """Builds and queues notices for one desk; shared by the notify steps."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def templates(self) -> Templates:
        return templates_for(self.ctx.desk.config.notify.templates_dir)

    def may_auto_answer(self, address: str, *, capped: bool = True) -> str | None:
        """Why no automatic mail may go to this address now, or None when it may.

        Agents' alerts are not ``capped`` by the daily limit; a suppressed address gets nothing.
        """
        outbound, store = self.ctx.desk.config.outbound, self.ctx.store
        assert outbound is not None
        if (reason := store.outbox.suppressed(address)) is not None:
            return f"undeliverable: {reason}"
        if not capped:
            return None
        sent = store.outbox.automatic_since(address, self.ctx.desk.clock() - DAY)
        if sent >= outbound.daily_auto_limit:
            return f"daily limit of {outbound.daily_auto_limit} automatic messages reached"
        return None

    def queue(self, *, kind: str, ticket_id: int, to: Address, role: str, context: Mapping[str, Any],
              parent: ParsedMessage | None, auto_submitted: str) -> int | None:
        """Queue one notice; a broken template or address is logged on the ticket, never fatal."""
        try:
            return self._queue(kind=kind, ticket_id=ticket_id, to=to, role=role, context=context, parent=parent,
                               auto_submitted=auto_submitted)
        except MaildeskError as exc:
            log.error("ticket %s: %s notice to %s not queued: %s", ticket_id, kind, to.addr, exc)
            self.ctx.store.tickets.event(ticket_id, at=self.ctx.desk.clock(), actor="system", kind="notice-failed",
                                         detail={"notice": kind, "to": to.addr, "error": str(exc)[:500]})
            return None

    def _queue(self, *, kind: str, ticket_id: int, to: Address, role: str, context: Mapping[str, Any],
               parent: ParsedMessage | None, auto_submitted: str) -> int:
        desk, store = self.ctx.desk, self.ctx.store
        outbound = desk.config.outbound
        assert outbound is not None
        token_address = reply_address(desk.address, make_token(desk.secret, ticket_id, role))
        rendered = self.templates.render(kind, {**context, "reply_address": token_address,
                                                "recipient": {"address": to.addr, "name": to.name}})
        out = Outgoing(
            ticket_id=ticket_id, kind=kind, to=to, subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=new_message_id(desk.config.desk.domain, ticket_id),
            in_reply_to=parent.message_id if parent else None,
            references=parent.references if parent else (), reply_to=token_address, auto_submitted=auto_submitted)
        msg = compose(out, sender=outbound.sender, loop_id=desk.loop_id, clock=desk.clock)
        env_from, _, smtputf8 = envelope(out, outbound.sender)
        store.tickets.add_sent_ref(ticket_id, out.message_id)
        return store.outbox.enqueue(
            ticket_id=ticket_id, kind=kind, recipient=to.addr, message_id=out.message_id, envelope_from=env_from,
            data=to_bytes(msg, smtputf8=smtputf8), smtputf8=smtputf8, automatic=bool(auto_submitted),
            now=desk.clock())


def ticket_context(ctx: Context, ticket_id: int) -> dict[str, Any]:
    desk = ctx.desk.config.desk
    links = [{"title": t, "url": u} for t, u in ctx.desk.config.notify.help_links]
    return {"desk": {"name": desk.name, "address": desk.address}, "ticket": ctx.store.tickets.summary(ticket_id),
            "help_links": links}


def message_context(parsed: ParsedMessage, new_text: str) -> dict[str, Any]:
    return {"sender": parsed.sender.addr if parsed.sender else "", "sender_name": parsed.sender.name
            if parsed.sender else "", "date": parsed.date.isoformat() if parsed.date else "",
            "subject": parsed.subject, "new_text": new_text}


class Readmit:
    """A person writing to us again lifts the stop a permanent delivery failure put on their address."""

    name = "readmit"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        parsed, c = work.need_parsed(), work.classification
        if c is None or c.automatic or parsed.sender is None:
            return work
        if ctx.store.outbox.unsuppress(parsed.sender.addr):
            log.info("%s wrote again: automatic mail to them resumes", parsed.sender.addr)
        return work


class Acknowledge:
    """A human's new ticket gets one acknowledgement: no content of theirs, never to a machine."""

    name = "acknowledge"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        parsed, c = work.need_parsed(), work.classification
        if not ctx.desk.config.notify.enabled or not work.new_ticket or work.ticket_id is None:
            return work
        if c is None or c.automatic or parsed.sender is None:
            return work
        if ctx.desk.config.outbound is None or parsed.sender.addr in agents_of(ctx):
            return work
        notifier = Notifier(ctx)
        why_not = notifier.may_auto_answer(parsed.sender.addr)
        if why_not:
            log.info("ticket %s: no acknowledgement to %s (%s)", work.ticket_id, parsed.sender.addr, why_not)
            return work
        notifier.queue(kind="acknowledgement", ticket_id=work.ticket_id, to=parsed.sender, role="c",
                       context=ticket_context(ctx, work.ticket_id), parent=parsed, auto_submitted="auto-replied")
        return work


class AlertTier:
    """Each agent of the new ticket's tier gets an alert with a reply address of their own."""

    name = "alert"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if not ctx.desk.config.notify.enabled or not work.new_ticket or work.ticket_id is None:
            return work
        if ctx.desk.config.outbound is None:
            return work
        parsed = work.need_parsed()
        context = ticket_context(ctx, work.ticket_id)
        context["message"] = message_context(parsed, work.new_text)
        tier = next((t for t in ctx.desk.config.tiers if t.name == context["ticket"]["tier"]), None)
        notifier = Notifier(ctx)
        for agent in tier.agents if tier else ():
            if why_not := notifier.may_auto_answer(agent, capped=False):
                log.warning("ticket %s: no alert to %s (%s)", work.ticket_id, agent, why_not)
                continue
            notifier.queue(kind="alert", ticket_id=work.ticket_id, to=Address(agent), role=agent_role(agent),
                           context=context, parent=parsed, auto_submitted="auto-generated")
        return work


def agents_of(ctx: Context) -> frozenset[str]:
    return frozenset(a for tier in ctx.desk.config.tiers for a in tier.agents)
