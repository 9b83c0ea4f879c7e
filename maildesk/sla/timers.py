"""Keep each ticket's SLA timers planned, and fire the due ones once: warnings and breaches as events."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from maildesk.config.sla import SlaConfig, SlaPolicy
from maildesk.sla.actions import act
from maildesk.sla.clocks import ClockState, History, clocks
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


def lifecycle(sla: SlaConfig, history: History, now: datetime) -> dict[str, datetime]:
    """The timers every ticket gets when configured: customer updates while it is open, auto-close
    once resolved. Each is named after the moment it counts from, so it fires once per silence."""
    changes = [(at, status) for at, status in history.statuses if at <= now]
    status, since = (changes[-1][1], changes[-1][0]) if changes else ("new", history.created_at)
    out: dict[str, datetime] = {}
    every, close_after = sla.timers.customer_update_every, sla.timers.auto_close_resolved_after
    if every and status in ("new", "open"):
        base = max([history.created_at, *(r for r in history.responses if r <= now)])
        out[f"update@{base:%Y-%m-%dT%H:%M:%S}"] = base + every
    if close_after and status == "resolved":
        out[f"close@{since:%Y-%m-%dT%H:%M:%S}"] = since + close_after
    return out


def schedule(ctx: Context, ticket_id: int) -> None:
    """Plan the ticket's timers anew from its history (after any change to it)."""
    found = ctx.store.timers.history(ticket_id)
    if found is None:
        return
    history, name, priority = found
    sla, now = ctx.desk.config.sla, ctx.desk.clock()
    policy = policy_for(sla, name, priority)
    plan = wanted(sla, policy, history, now) if policy else {}
    ctx.store.timers.plan(ticket_id, {**plan, **lifecycle(sla, history, now)})


def run_timers(ctx: Context, *, limit: int = 500) -> Counter[str]:
    """Fire every due timer once, each in its own transaction, after checking it is still due."""
    counts: Counter[str] = Counter()
    if not ctx.desk.config.sla.active:
        return counts
    now = ctx.desk.clock()
    for ticket_id, kind in ctx.store.timers.due(now, limit=limit):
        with ctx.store.atomic():
            schedule(ctx, ticket_id)  # the ticket may have moved on since it was planned
            due = ctx.store.timers.pending(ticket_id).get(kind)
            if due is None or datetime.fromisoformat(due) > now or not ctx.store.timers.fire(ticket_id, kind, now=now):
                continue
            counts[act(ctx, ticket_id, kind.partition("@")[0], due)] += 1
            schedule(ctx, ticket_id)  # what it did (an escalation, a close) changes what comes next
    if counts:
        log.info("SLA timers: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return counts


class ScheduleTimers:
    """After a message that opened or changed a ticket, its SLA timers are planned again."""

    name = "sla"
    pure = False

    def process(self, work: Work, ctx: Context) -> Work:
        if work.ticket_id is not None and (work.new_ticket or work.changed) and ctx.desk.config.sla.active:
            schedule(ctx, work.ticket_id)  # a customer's reply that changed nothing leaves the plan as it is
        return work


def clock_report(ctx: Context, ticket_id: int) -> list[dict[str, object]]:
    """Each SLA clock of the ticket now: state, limit, elapsed and due time, for ``tickets show``."""
    found = ctx.store.timers.history(ticket_id)
    if found is None:
        return []
    history, name, priority = found
    sla = ctx.desk.config.sla
    policy = policy_for(sla, name, priority)
    if policy is None:
        return []
    return [{"clock": c.clock, "policy": policy.name, "state": c.state, "limit": str(c.limit),
             "elapsed": str(c.elapsed), "due_at": c.due_at.isoformat() if c.due_at else None,
             "met_at": c.met_at.isoformat() if c.met_at else None}
            for c in clocks(policy, sla.calendar_for(policy), history, ctx.desk.clock(), warn_share=sla.timers.warn_at)]
