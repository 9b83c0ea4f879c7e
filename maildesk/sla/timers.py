"""Keep each ticket's SLA timers planned, and fire the due ones once: warnings and breaches as events."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildesk.config.sla import SlaConfig, SlaPolicy
from maildesk.sla.clocks import ClockState, clocks
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.sla")


def policy_for(sla: SlaConfig, name: str | None, priority: str) -> SlaPolicy | None:
    """The ticket's policy: the one its routing rule named, else the one named like its priority."""
    return sla.policies.get(name or priority)


def _kind(clock: ClockState, what: str) -> str:
    """Timer names; a next-update clock restarts at every reply, so each silence has its own."""
    if clock.clock == "next_update":
        return f"{clock.clock}.{what}@{clock.started_at:%Y-%m-%dT%H:%M:%S}"
    return f"{clock.clock}.{what}"


def wanted(sla: SlaConfig, policy: SlaPolicy, history: object, now: datetime) -> dict[str, datetime]:
    """Every timer the ticket's clocks call for at ``now``: warnings and breaches still to come or due."""
    out: dict[str, datetime] = {}
    for clock in clocks(policy, sla.calendar_for(policy), history, now,  # type: ignore[arg-type]
                        warn_share=sla.timers.warn_at):
        if clock.state == "running":
            past_warning = clock.elapsed >= clock.limit * sla.timers.warn_at
            if clock.warn_at is not None or past_warning:  # past it: due now, fired unless it already was
                out[_kind(clock, "warning")] = clock.warn_at or now
            if clock.due_at is not None:
                out[_kind(clock, "breach")] = clock.due_at
        elif clock.state == "breached" and clock.met_at is None and clock.due_at is not None:
            out[_kind(clock, "breach")] = clock.due_at  # breached while nobody looked: due at once
    return out


def schedule(ctx: Context, ticket_id: int) -> None:
    """Plan the ticket's timers anew from its history (after any change to it)."""
    found = ctx.store.timers.history(ticket_id)
    if found is None:
        return
    history, name, priority = found
    policy = policy_for(ctx.desk.config.sla, name, priority)
    plan = wanted(ctx.desk.config.sla, policy, history, ctx.desk.clock()) if policy else {}
    ctx.store.timers.plan(ticket_id, plan)


def run_timers(ctx: Context, *, limit: int = 500) -> Counter[str]:
    """Fire every due timer once, each in its own transaction, after checking it is still due."""
    counts: Counter[str] = Counter()
    if not ctx.desk.config.sla.policies:
        return counts
    now = ctx.desk.clock()
    for ticket_id, kind in ctx.store.timers.due(now, limit=limit):
        with ctx.store.atomic():
            schedule(ctx, ticket_id)  # the ticket may have moved on since it was planned
            due = ctx.store.timers.pending(ticket_id).get(kind)
            if due is None or datetime.fromisoformat(due) > now or not ctx.store.timers.fire(ticket_id, kind, now=now):
                continue
            clock, _, what = kind.partition("@")[0].partition(".")
            ctx.store.work.event(ticket_id, actor="system", kind=f"sla-{what}", new=clock, at=now,
                                 detail={"clock": clock, "due_at": due})
            counts[what] += 1
    if counts:
        log.info("SLA timers: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return counts


class ScheduleTimers:
    """After each message, its ticket's SLA timers are planned again (a reply, a status change ...)."""

    name = "sla"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if work.ticket_id is not None and ctx.desk.config.sla.policies:
            schedule(ctx, work.ticket_id)
        return work
