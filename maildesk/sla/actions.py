"""What a due SLA timer does: warn, record a breach and escalate, update the customer, close."""

from __future__ import annotations

import logging

from maildesk.agents.workflow import Desk, plan
from maildesk.intake.commands import Command
from maildesk.models import Address
from maildesk.notify.notices import Handover, Notices
from maildesk.notify.notifier import CUSTOMER_ROLE, Notifier, agent_role, ticket_context
from maildesk.stage import Context

log = logging.getLogger("maildesk.sla")
SYSTEM = "system"


def act(ctx: Context, ticket_id: int, timer: str, due: str) -> str:
    """Do what the timer (``first_response.warning``, ``resolution.breach``, ``update``, ``close``) calls for."""
    if timer == "update":
        _update(ctx, ticket_id)
        return "update"
    if timer == "close":
        ctx.store.work.set_status(ticket_id, "closed", actor=SYSTEM, at=ctx.desk.clock(),
                                  reason="resolved long enough ago ([timers] auto_close_resolved_after)")
        return "close"
    clock, _, what = timer.partition(".")
    escalated = _escalate(ctx, ticket_id, clock, due) if what == "breach" else None
    ctx.store.work.event(ticket_id, actor=SYSTEM, kind=f"sla-{what}", new=clock, at=ctx.desk.clock(),
                         detail={"clock": clock, "due_at": due, "escalated_to": escalated})
    _tell_staff(ctx, ticket_id, {"clock": clock, "what": what, "due_at": due, "escalated_to": escalated})
    return what


def _tell_staff(ctx: Context, ticket_id: int, sla: dict[str, object]) -> None:
    """The owner hears of it, or every agent of the ticket's tier when nobody owns it."""
    state = ctx.store.work.state(ticket_id)
    tier = ctx.desk.config.tier(state.tier) if state else None
    people = [state.assignee] if state and state.assignee else list(tier.agents if tier else ())
    notifier = Notifier(ctx)
    context = {**ticket_context(ctx, ticket_id), "sla": sla}
    for agent in people:
        notifier.queue(kind="sla", ticket_id=ticket_id, to=Address(agent), role=agent_role(agent), context=context)


def _escalate(ctx: Context, ticket_id: int, clock: str, due: str) -> str | None:
    """On a breach (when configured), the next tier of the desk's own takes over with an automatic handover."""
    config = ctx.desk.config
    state = ctx.store.work.state(ticket_id)
    staff = tuple(t.name for t in config.tiers if not t.vendor)
    if not config.sla.timers.escalate_on_breach or state is None or state.tier not in staff[:-1]:
        return None
    reason = f"SLA breach: the {clock.replace('_', ' ')} was due {due}"
    command = Command(name="escalate", args=reason, text=reason, tier=staff[staff.index(state.tier) + 1], line=0)
    desk = Desk(tuple(t.name for t in config.tiers), {t.name: t.agents for t in config.tiers}, SYSTEM)
    result = plan(state, (command,), desk)
    if not result.ok:
        log.warning("ticket %s: no escalation on breach: %s", ticket_id, "; ".join(result.failed))
        return None
    now = ctx.desk.clock()
    in_tier = ctx.store.work.time_in_tier(ticket_id, now=now)
    ctx.store.work.apply(result, actor=SYSTEM, at=now)
    ctx.store.work.event(ticket_id, actor=SYSTEM, kind="escalated", at=now, detail=result.effects[0].detail)
    notices = Notices(ctx)
    notices.escalation(ticket_id, handover=Handover(from_tier=state.tier, to_tier=result.end.tier, reason=reason,
                                                    tried="(escalated automatically)", time_in_tier=in_tier))
    notices.status_change(ticket_id, old="with our support team", new="with our specialists")
    return result.end.tier


def _update(ctx: Context, ticket_id: int) -> None:
    """'We are still working on it' to each customer of the ticket (automatic: capped, never to a bounce)."""
    notices = Notices(ctx)
    context = ticket_context(ctx, ticket_id)
    for person in notices.customers(ticket_id):
        if notices.notifier.may_auto_answer(person.addr) is None:
            notices.notifier.queue(kind="update", ticket_id=ticket_id, to=person, role=CUSTOMER_ROLE, context=context)
