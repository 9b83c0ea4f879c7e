"""Support KPIs from the ticket history: volumes, response and resolution times, rates, backlog, CSAT."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the calendar module sits in a package that needs the config: no cycle at run time
    from maildesk.sla.calendar import Calendar
    from maildesk.sla.totals import RunningTotal

AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("under 1 day", timedelta(days=1)), ("1-3 days", timedelta(days=3)), ("3-7 days", timedelta(days=7)))
OPEN = frozenset({"new", "open", "pending", "on_hold"})


@dataclass(frozen=True)
class TicketFacts:
    """One ticket as the report sees it; times are UTC, None when it never happened."""

    id: int
    created_at: datetime
    first_tier: str  # where routing put it
    status: str
    first_response_at: datetime | None  # the first agent reply relayed to the customer
    resolved_at: datetime | None  # the first resolution
    resolver: str | None  # who resolved it first
    replies: int  # agent replies relayed to the customer
    escalations: int
    reopened: bool
    csat: int | None
    sla_clocks: tuple[str, ...] = ()  # the clocks its SLA policy sets (none without a policy)
    breached: tuple[str, ...] = ()  # the clocks that breached
    tier: str = ""  # where it is now
    calendar: Calendar | None = None  # its SLA policy's business hours: times count in them (None: 24x7)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` percentile (nearest rank) of the values; None without any."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(n * share), at least the first
    return ordered[int(rank) - 1]


@lru_cache(maxsize=8)
def _running(calendar: Calendar) -> RunningTotal:
    """One running total per calendar: each day's window is looked up once for the whole report."""
    from maildesk.sla.totals import RunningTotal  # the sla package needs the config: imported when used

    return RunningTotal(calendar)


def _summary(values: list[float]) -> dict[str, float | None]:
    return {"median_seconds": statistics.median(values) if values else None,
            "p90_seconds": percentile(values, 0.9), "count": len(values)}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


Times = dict[int, tuple[float | None, float | None]]  # ticket -> seconds to first response, to resolution


def times_of(tickets: Sequence[TicketFacts]) -> Times:
    """Each ticket's first response and resolution times, computed once for all the groups."""
    return {t.id: (_seconds(t, t.first_response_at), _seconds(t, t.resolved_at)) for t in tickets}


def _seconds(t: TicketFacts, end: datetime | None) -> float | None:
    if end is None:
        return None
    return (_running(t.calendar).elapsed(t.created_at, end) if t.calendar else end - t.created_at).total_seconds()


def figures(tickets: Sequence[TicketFacts], *, first_tier: str, now: datetime,
            times: Times | None = None) -> dict[str, Any]:
    """The KPIs of one group of tickets (all created in the period)."""
    times = times if times is not None else times_of(tickets)
    resolved = [t for t in tickets if t.resolved_at is not None]
    rated = [t.csat for t in resolved if t.csat is not None]
    fcr = [t for t in resolved if t.first_tier == first_tier and t.escalations == 0 and t.replies == 1
           and not t.reopened]
    backlog = {name: 0 for name, _ in AGE_BUCKETS} | {"over 7 days": 0}
    for t in tickets:
        if t.status in OPEN:
            age = now - t.created_at
            name = next((n for n, limit in AGE_BUCKETS if age < limit), "over 7 days")
            backlog[name] += 1
    return {
        "tickets_in": len(tickets), "resolved": len(resolved),
        "first_response": _summary([v for t in tickets if (v := times[t.id][0]) is not None]),
        "resolution": _summary([v for t in resolved if (v := times[t.id][1]) is not None]),
        "first_contact_resolution_rate": _rate(len(fcr), len(resolved)),
        "escalation_rate": _rate(sum(t.escalations > 0 for t in tickets), len(tickets)),
        "reopen_rate": _rate(sum(t.reopened for t in resolved), len(resolved)),
        "backlog_by_age": backlog,
        "csat": {"average": round(statistics.mean(rated), 2) if rated else None,
                 "response_rate": _rate(len(rated), len(resolved))},
        "sla_compliance": _compliance(tickets),
    }


def _compliance(tickets: Sequence[TicketFacts]) -> dict[str, float | None]:
    """Per clock: the share of the tickets it ran for that never breached it."""
    clocks = sorted({c for t in tickets for c in t.sla_clocks})
    return {c: _rate(sum(c in t.sla_clocks and c not in t.breached for t in tickets),
                     sum(c in t.sla_clocks for t in tickets)) for c in clocks}


def report(tickets: Sequence[TicketFacts], *, tiers: Sequence[str], now: datetime) -> dict[str, Any]:
    """Overall, per tier (where tickets started) and per agent (who resolved them)."""
    first = tiers[0] if tiers else "L1"
    times = times_of(tickets)

    def group(key: Callable[[TicketFacts], str | None]) -> dict[str, Any]:
        names = sorted({k for t in tickets if (k := key(t))})
        return {name: figures([t for t in tickets if key(t) == name], first_tier=first, now=now, times=times)
                for name in names}

    return {"overall": figures(tickets, first_tier=first, now=now, times=times),
            "tiers": group(lambda t: t.first_tier), "agents": group(lambda t: t.resolver)}
