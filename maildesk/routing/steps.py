"""The routing steps: decide where a message would go (pure), then place the new ticket it opened."""

from __future__ import annotations

import logging

from maildesk.config.outbound import TierConfig
from maildesk.routing.model import Decision, Facts
from maildesk.routing.rules import evaluate
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.routing")


class Triage:
    """Run the rules over the message; reading only the message and the config, it may run in a worker."""

    name = "triage"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        facts = Facts(parsed=work.need_parsed(), mailbox=work.raw.origin.mailbox)
        return work.but(route=evaluate(ctx.desk.config.routing, facts))


class Route:
    """A new ticket goes to the decided tier with its priority, tags, SLA and owner; the why is an event."""

    name = "route"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if not work.new_ticket or work.ticket_id is None:
            return work
        config = ctx.desk.config
        decision = work.route or Decision(tier=config.routing.default_tier, priority=config.routing.default_priority)
        tier = config.tier(decision.tier)
        assignee = decision.assign or (assign_automatically(tier, ctx) if tier else None)
        detail = {**decision.explain(), "assignee": assignee}
        ctx.store.queues.route(work.ticket_id, tier=decision.tier, priority=decision.priority, assignee=assignee,
                               sla=decision.sla, tags=decision.tags, detail=detail, at=ctx.desk.clock())
        log.debug("ticket %s routed to %s by %s", work.ticket_id, decision.tier, ", ".join(decision.rules) or "default")
        return work


def assign_automatically(tier: TierConfig, ctx: Context) -> str | None:
    """The owner a tier's ``assign`` setting picks, or None when its agents take tickets themselves."""
    if tier.assign == "round-robin" and tier.agents:
        return ctx.store.queues.next_in_rotation(tier.name, tier.agents)
    if tier.assign == "least-open" and tier.agents:
        return ctx.store.queues.least_open(tier.agents)
    return None
