"""The routing steps: decide where a message would go (pure), then place the new ticket it opened."""

from __future__ import annotations

import logging

from maildesk.config.outbound import TierConfig
from maildesk.errors import MatchTimeLimit, Quarantine
from maildesk.routing.model import Decision, Facts
from maildesk.routing.rules import evaluate
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.routing")


class Triage:
    """Run the rules over a message that may open a ticket; reading only the message and the config,
    it may run in a worker. A reply (In-Reply-To or References) is left to ``Gate``: it rarely opens one."""

    name = "triage"
    pure = True

    def process(self, work: Work, ctx: Context) -> Work:
        parsed = work.need_parsed()
        if parsed.in_reply_to or parsed.references:
            return work
        return work.but(route=decide(work, ctx))


class Gate:
    """Before a new ticket is recorded: the decision (made now if triage left it), and mail a rule
    ignores or holds is kept in quarantine instead of becoming a ticket."""

    name = "gate"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if work.ticket_id is not None:
            return work
        decision = work.route or decide(work, ctx)
        if decision.action != "route":
            rules = ", ".join(f'"{name}"' for name in decision.rules)
            kind = "ignored" if decision.action == "ignore" else "rule"
            raise Quarantine(f"{'ignored' if kind == 'ignored' else 'held'} by rule {rules}", kind=kind)
        return work.but(route=decision)


def decide(work: Work, ctx: Context) -> Decision:
    """The rules' decision; a message whose patterns run out of time is quarantined naming the rule,
    so the mailbox goes on and no restart tries it again."""
    facts = Facts(parsed=work.need_parsed(), mailbox=work.raw.origin.mailbox)
    try:
        return evaluate(ctx.desk.config.routing, facts, explain_all=False)
    except MatchTimeLimit as exc:
        log.warning("%s %s: %s", work.raw.origin.mailbox, work.raw.origin.ref, exc)
        raise Quarantine(str(exc), kind="rule-timeout") from exc


class Route:
    """A new ticket goes to the decided tier with its priority, tags, SLA and owner; the why is an event."""

    name = "route"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if not work.new_ticket or work.ticket_id is None:
            return work
        decision = work.route or decide(work, ctx)
        tier = ctx.desk.config.tier(decision.tier)
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
