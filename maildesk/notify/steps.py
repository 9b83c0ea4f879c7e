"""Notify steps: queue the acknowledgement and the tier's alerts in the message's own transaction."""

from __future__ import annotations

import logging

from maildesk.models import Address
from maildesk.notify.notifier import (
    CUSTOMER_ROLE,
    Notifier,
    Parent,
    agent_role,
    agents_of,
    message_context,
    suggested_articles,
    ticket_context,
)
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.notify")


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
        context = {**ticket_context(ctx, work.ticket_id),
                   "articles": suggested_articles(ctx, f"{parsed.subject}\n{work.new_text}")}
        notifier.queue(kind="acknowledgement", ticket_id=work.ticket_id, to=parsed.sender, role=CUSTOMER_ROLE,
                       context=context, parent=Parent.of(parsed),
                       template=work.route.template if work.route else None)
        return work


class AlertTier:
    """The new ticket's owner, or else each agent of its tier, gets an alert with a reply address of their own."""

    name = "alert"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if not ctx.desk.config.notify.enabled or not work.new_ticket or work.ticket_id is None:
            return work
        if ctx.desk.config.outbound is None:
            return work
        parsed, ticket = work.need_parsed(), ctx.store.tickets.summary(work.ticket_id)
        tier = ctx.desk.config.tier(ticket["tier"])
        agents = (ticket["assignee"],) if ticket.get("assignee") else tier.agents if tier else ()
        if not agents:
            return work
        context = ticket_context(ctx, work.ticket_id, summary=ticket)
        context["message"] = message_context(parsed, work.new_text)
        context["articles"] = suggested_articles(ctx, f"{parsed.subject}\n{work.new_text}")
        notifier = Notifier(ctx)
        files = ctx.store.attachments.of_message(work.message_pk) if work.message_pk else []
        for agent in agents:
            if why_not := notifier.may_auto_answer(agent, capped=False):
                log.warning("ticket %s: no alert to %s (%s)", work.ticket_id, agent, why_not)
                continue
            notifier.queue(kind="alert", ticket_id=work.ticket_id, to=Address(agent), role=agent_role(agent),
                           context=context, parent=Parent.of(parsed), files=files)
        return work


__all__ = ["Acknowledge", "AlertTier", "Readmit", "agent_role"]
