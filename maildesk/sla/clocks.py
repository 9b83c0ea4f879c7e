"""Where a ticket's SLA clocks (first response, next update, resolution) stand at a given instant."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from maildesk.sla.calendar import Calendar

if TYPE_CHECKING:  # only a type here: importing maildesk.config at run time would load every section
    from maildesk.config.sla import SlaPolicy

UTC = timezone.utc
ZERO = timedelta(0)
ORDER: tuple[str, ...] = ("first_response", "next_update", "resolution")
ACTIVE = frozenset({"new", "open"})  # the clocks count
PAUSED = frozenset({"pending", "on_hold"})  # waiting for the customer or the vendor: the clocks stand still
DONE = frozenset({"resolved", "closed"})
STATUSES = ACTIVE | PAUSED | DONE

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class History:
    """What the clocks need to know about one ticket, oldest first; all datetimes timezone-aware."""

    created_at: datetime
    statuses: tuple[tuple[datetime, str], ...] = ()  # every status change (at, new status); it starts "new"
    responses: tuple[datetime, ...] = ()  # each public reply the desk sent the customer


@dataclass(frozen=True)
class ClockState:
    """One clock at ``now``. A clock met after its limit is "breached" with ``met_at`` set (late).

    ``due_at``: for a running clock, when it breaches if the ticket stays active; for a breached one,
    the exact instant it crossed its limit; otherwise None. ``warn_at``: when a running clock reaches
    ``warn_share`` of its limit, None once past it or when not running. Instants are in UTC.
    """

    clock: str  # "first_response" | "next_update" | "resolution"
    state: str  # "running" | "paused" | "met" | "breached" | "stopped"
    limit: timedelta
    elapsed: timedelta  # business (or 24x7) time counted so far, pauses excluded
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    met_at: datetime | None = None


@dataclass(frozen=True)
class _Timeline:
    """The ticket as it stood at ``now``: when it was active, and what it was doing."""

    created_at: datetime
    now: datetime
    status: str  # the status at ``now``
    active: tuple[Span, ...]  # the stretches in "new" or "open", in order, none empty
    first_done: datetime | None  # when it first became resolved or closed
    done_since: datetime | None  # when its current resolved/closed stretch began; None unless done at ``now``
    responses: tuple[datetime, ...]  # in order, none before creation nor after ``now``


def clocks(policy: SlaPolicy, calendar: Calendar, history: History, now: datetime, *,
           warn_share: float = 0.8) -> tuple[ClockState, ...]:
    """One state per clock ``policy`` sets, in the order first_response, next_update, resolution.

    Only events at or before ``now`` count. ``calendar`` is the one the policy counts in
    (``SlaConfig.calendar_for(policy)``). ValueError on a naive datetime, an unknown status, a
    ``now`` before the ticket was created, or a ``warn_share`` outside 0..1.
    """
    if not 0 <= warn_share <= 1:
        raise ValueError(f"warn_share must be between 0 and 1, not {warn_share!r}")
    line = _timeline(history, now)
    measures: dict[str, Callable[[timedelta], ClockState]] = {
        "first_response": lambda limit: _first_response(limit, calendar, line, warn_share),
        "next_update": lambda limit: _next_update(limit, calendar, line, warn_share),
        "resolution": lambda limit: _resolution(limit, calendar, line, warn_share),
    }
    limits = ((name, getattr(policy, name)) for name in ORDER)
    return tuple(measures[name](limit) for name, limit in limits if limit is not None)


def _first_response(limit: timedelta, calendar: Calendar, line: _Timeline, warn_share: float) -> ClockState:
    """From creation to the first reply, or to the first resolve/close if that came before any reply."""
    ends = [at for at in (line.responses[0] if line.responses else None, line.first_done) if at is not None]
    return _measure("first_response", limit, calendar, line, line.created_at, min(ends, default=None), warn_share)


def _resolution(limit: timedelta, calendar: Calendar, line: _Timeline, warn_share: float) -> ClockState:
    """From creation to resolved/closed; a reopen resumes the count where it stopped."""
    return _measure("resolution", limit, calendar, line, line.created_at, line.done_since, warn_share)


def _next_update(limit: timedelta, calendar: Calendar, line: _Timeline, warn_share: float) -> ClockState:
    """The current silence towards the customer: from the latest reply (else creation), stopped while done."""
    start = line.responses[-1] if line.responses else line.created_at
    if line.done_since is not None:
        elapsed, _ = _count(calendar, _clip(line.active, start, line.now), limit)
        return ClockState("next_update", "stopped", limit, elapsed, start, None, None)
    return _measure("next_update", limit, calendar, line, start, None, warn_share)


def _measure(name: str, limit: timedelta, calendar: Calendar, line: _Timeline, start: datetime,
             met_at: datetime | None, warn_share: float) -> ClockState:
    """A clock counting active time from ``start`` until ``met_at`` (or ``now`` while not met).

    It breaches at the instant its count reaches ``limit``; met at that very instant is still in time.
    """
    elapsed, crossed = _count(calendar, _clip(line.active, start, met_at or line.now), limit)
    if crossed is not None and (met_at is None or crossed < met_at):
        return ClockState(name, "breached", limit, elapsed, start, crossed, None, met_at)
    if met_at is not None:
        return ClockState(name, "met", limit, elapsed, start, None, None, met_at)
    if line.status not in ACTIVE:
        return ClockState(name, "paused", limit, elapsed, start, None, None)
    warn = limit * warn_share
    warn_at = calendar.add(line.now, warn - elapsed) if elapsed < warn else None
    return ClockState(name, "running", limit, elapsed, start, calendar.add(line.now, limit - elapsed), warn_at)


def _count(calendar: Calendar, spans: Iterable[Span], limit: timedelta) -> tuple[timedelta, datetime | None]:
    """The business time in ``spans``, and the instant the running total first reached ``limit`` (or None).

    One ``elapsed`` per span and at most one ``add``: no stepping through time.
    """
    total, crossed = ZERO, None
    for begin, end in spans:
        before = total
        total += calendar.elapsed(begin, end)
        if crossed is None and total >= limit:
            crossed = calendar.add(begin, limit - before)  # the earliest instant, so never after ``end``
    return total, crossed


def _clip(spans: Iterable[Span], start: datetime, stop: datetime) -> list[Span]:
    """The parts of ``spans`` between ``start`` and ``stop``, empty ones left out."""
    clipped = ((max(begin, start), min(end, stop)) for begin, end in spans)
    return [(begin, end) for begin, end in clipped if begin < end]


def _timeline(history: History, now: datetime) -> _Timeline:
    """The ticket's stretches of status from creation to ``now``; later events are ignored.

    Events before creation count as made at creation; events at one instant apply in the order given.
    """
    created, moment = _utc(history.created_at, "created_at"), _utc(now, "now")
    if moment < created:
        raise ValueError(f"now ({moment.isoformat()}) is before the ticket was created ({created.isoformat()})")
    changes = sorted(((max(_utc(at, "status time"), created), _status(status)) for at, status in history.statuses),
                     key=lambda change: change[0])
    stretches: list[tuple[datetime, datetime, str]] = []
    since, status = created, "new"
    for at, new in (change for change in changes if change[0] <= moment):
        stretches.append((since, at, status))
        since, status = at, new
    stretches.append((since, moment, status))
    done = [begin for begin, _, state in stretches if state in DONE]
    responses = sorted(max(_utc(at, "response time"), created) for at in history.responses)
    return _Timeline(
        created_at=created, now=moment, status=status,
        active=tuple((begin, end) for begin, end, state in stretches if state in ACTIVE and begin < end),
        first_done=done[0] if done else None,
        done_since=_done_since(stretches) if status in DONE else None,
        responses=tuple(at for at in responses if at <= moment))


def _done_since(stretches: list[tuple[datetime, datetime, str]]) -> datetime:
    """When the trailing run of resolved/closed stretches began: closing a resolved ticket does not move it."""
    since = stretches[-1][0]
    for begin, _, state in reversed(stretches):
        if state not in DONE:
            break
        since = begin
    return since


def _status(value: str) -> str:
    if value not in STATUSES:
        raise ValueError(f"unknown status {value!r} (expected one of {', '.join(sorted(STATUSES))})")
    return value


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)
