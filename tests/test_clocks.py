"""SLA clocks: running, paused, met, breached and stopped, in business hours and around the clock."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maildesk.config.sla import SlaPolicy
from maildesk.sla.calendar import Calendar
from maildesk.sla.clocks import ACTIVE, DONE, ORDER, STATUSES, ClockState, History, clocks

H = timedelta(hours=1)
M = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
BERLIN = Calendar.from_config({"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"],
                               "hours": "08:00-18:00"})
ALWAYS = Calendar.always()
CALENDARS = {"berlin": BERLIN, "always": ALWAYS}
# first response 4h, an update at least every 8h, resolved within 30h: the same limits on both calendars
POLICY = SlaPolicy("normal", first_response=4 * H, next_update=8 * H, resolution=30 * H)


def b(text: str) -> datetime:
    """Berlin local time; January 2026: the 5th is a Monday, the 9th a Friday, the 12th the next Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))


def history(created: str, *events: tuple[str, str]) -> History:
    """A ticket from ``(time, status)`` events, where the status "reply" is a public response."""
    return History(b(created), tuple((b(at), what) for at, what in events if what != "reply"),
                   tuple(b(at) for at, what in events if what == "reply"))


def clock(name: str, calendar: str, ticket: History, now: str, policy: SlaPolicy = POLICY) -> ClockState:
    states = {state.clock: state for state in clocks(policy, CALENDARS[calendar], ticket, b(now))}
    return states[name]


# each case: the clock, the calendar, the ticket, now, and what to expect of the state (unnamed fields are None)
CASES = [
    # a fresh ticket runs; due and warn instants follow the calendar
    pytest.param("first_response", "berlin", history("2026-01-07 10:00"), "2026-01-07 11:00",
                 dict(state="running", elapsed=H, due_at=b("2026-01-07 14:00"), warn_at=b("2026-01-07 13:12")),
                 id="fresh-running"),
    pytest.param("first_response", "berlin", history("2026-01-09 16:00"), "2026-01-09 17:00",
                 dict(state="running", elapsed=H, due_at=b("2026-01-12 10:00"), warn_at=b("2026-01-12 09:12")),
                 id="fresh-friday-due-monday"),
    pytest.param("first_response", "always", history("2026-01-09 16:00"), "2026-01-09 17:00",
                 dict(state="running", elapsed=H, due_at=b("2026-01-09 20:00"), warn_at=b("2026-01-09 19:12")),
                 id="fresh-friday-always"),
    pytest.param("first_response", "berlin", history("2026-01-07 10:00"), "2026-01-07 13:30",
                 dict(state="running", elapsed=3.5 * H, due_at=b("2026-01-07 14:00")), id="past-warning"),
    pytest.param("first_response", "berlin", history("2026-01-10 10:00"), "2026-01-10 15:00",
                 dict(state="running", elapsed=timedelta(0), due_at=b("2026-01-12 12:00"),
                      warn_at=b("2026-01-12 11:12")), id="created-on-saturday"),
    # first response: in time, late, exactly at the deadline, or a resolve before any reply
    pytest.param("first_response", "berlin", history("2026-01-07 10:00", ("2026-01-07 13:00", "reply")),
                 "2026-01-07 15:00", dict(state="met", elapsed=3 * H, met_at=b("2026-01-07 13:00")), id="met"),
    pytest.param("first_response", "berlin", history("2026-01-09 16:00", ("2026-01-12 11:00", "reply")),
                 "2026-01-12 12:00", dict(state="breached", elapsed=5 * H, due_at=b("2026-01-12 10:00"),
                                          met_at=b("2026-01-12 11:00")), id="late"),
    pytest.param("first_response", "always", history("2026-01-09 16:00", ("2026-01-12 11:00", "reply")),
                 "2026-01-12 12:00", dict(state="breached", elapsed=67 * H, due_at=b("2026-01-09 20:00"),
                                          met_at=b("2026-01-12 11:00")), id="late-always"),
    pytest.param("first_response", "berlin", history("2026-01-07 10:00", ("2026-01-07 14:00", "reply")),
                 "2026-01-07 15:00", dict(state="met", elapsed=4 * H, met_at=b("2026-01-07 14:00")),
                 id="met-at-the-deadline"),
    pytest.param("first_response", "berlin", history("2026-01-09 14:00", ("2026-01-12 09:00", "reply")),
                 "2026-01-12 10:00", dict(state="breached", elapsed=5 * H, due_at=b("2026-01-09 18:00"),
                                          met_at=b("2026-01-12 09:00")), id="late-crossed-at-friday-closing"),
    pytest.param("first_response", "berlin", history("2026-01-09 15:00", ("2026-01-12 09:00", "reply")),
                 "2026-01-12 10:00", dict(state="met", elapsed=4 * H, met_at=b("2026-01-12 09:00")),
                 id="met-monday-within-limit"),
    pytest.param("first_response", "berlin", history("2026-01-09 14:00"), "2026-01-10 12:00",
                 dict(state="breached", elapsed=4 * H, due_at=b("2026-01-09 18:00")),
                 id="crossed-at-friday-closing"),
    pytest.param("first_response", "berlin", history("2026-01-07 10:00", ("2026-01-07 11:00", "resolved")),
                 "2026-01-08 10:00", dict(state="met", elapsed=H, met_at=b("2026-01-07 11:00")),
                 id="resolved-before-any-reply"),
    # pending waits for the customer, on_hold for the vendor: nothing counts meanwhile
    pytest.param("resolution", "berlin", history("2026-01-09 14:00", ("2026-01-09 15:00", "pending")),
                 "2026-01-10 12:00", dict(state="paused", elapsed=H), id="pending-paused"),
    pytest.param("resolution", "berlin", history("2026-01-09 14:00", ("2026-01-09 15:00", "pending"),
                                                 ("2026-01-12 12:00", "open")), "2026-01-12 14:00",
                 dict(state="running", elapsed=3 * H, due_at=b("2026-01-15 11:00"), warn_at=b("2026-01-14 15:00")),
                 id="pending-over-weekend-resumes"),
    pytest.param("resolution", "always", history("2026-01-09 14:00", ("2026-01-09 15:00", "pending"),
                                                 ("2026-01-12 12:00", "open")), "2026-01-12 14:00",
                 dict(state="running", elapsed=3 * H, due_at=b("2026-01-13 17:00"), warn_at=b("2026-01-13 11:00")),
                 id="pending-over-weekend-resumes-always"),
    pytest.param("resolution", "berlin", history("2026-01-07 08:00", ("2026-01-07 10:00", "on_hold")),
                 "2026-01-08 12:00", dict(state="paused", elapsed=2 * H), id="on-hold-pauses-resolution"),
    pytest.param("first_response", "berlin", history("2026-01-07 08:00", ("2026-01-07 10:00", "on_hold")),
                 "2026-01-08 12:00", dict(state="paused", elapsed=2 * H), id="on-hold-pauses-first-response"),
    pytest.param("resolution", "berlin", history("2026-01-07 08:00", ("2026-01-07 10:00", "on_hold"),
                                                 ("2026-01-08 09:00", "open")), "2026-01-08 12:00",
                 dict(state="running", elapsed=5 * H, due_at=b("2026-01-12 17:00"), warn_at=b("2026-01-12 11:00")),
                 id="on-hold-then-open"),
    # resolution: met, reopened (the count resumes), met again, late
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-05 12:00", "resolved")),
                 "2026-01-06 12:00", dict(state="met", elapsed=4 * H, met_at=b("2026-01-05 12:00")), id="resolved"),
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-05 12:00", "resolved"),
                                                 ("2026-01-07 08:00", "open")), "2026-01-07 10:00",
                 dict(state="running", elapsed=6 * H, due_at=b("2026-01-09 14:00"), warn_at=b("2026-01-08 18:00")),
                 id="reopen-resumes"),
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-05 12:00", "resolved"),
                                                 ("2026-01-07 08:00", "open"), ("2026-01-07 11:00", "resolved")),
                 "2026-01-08 10:00", dict(state="met", elapsed=7 * H, met_at=b("2026-01-07 11:00")),
                 id="resolved-again-met-at-latest"),
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-05 12:00", "resolved"),
                                                 ("2026-01-06 12:00", "closed")), "2026-01-08 10:00",
                 dict(state="met", elapsed=4 * H, met_at=b("2026-01-05 12:00")), id="closing-keeps-resolved-time"),
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-08 10:00", "resolved")),
                 "2026-01-08 12:00", dict(state="breached", elapsed=32 * H, due_at=b("2026-01-07 18:00"),
                                          met_at=b("2026-01-08 10:00")), id="resolved-late"),
    pytest.param("resolution", "berlin", history("2026-01-05 08:00", ("2026-01-06 08:00", "resolved"),
                                                 ("2026-01-07 08:00", "open")), "2026-01-09 12:00",
                 dict(state="breached", elapsed=34 * H, due_at=b("2026-01-08 18:00")), id="reopen-accumulates"),
    # next update: the current silence, restarted by each reply
    pytest.param("next_update", "berlin", history("2026-01-05 08:00", ("2026-01-05 09:00", "reply"),
                                                  ("2026-01-06 15:00", "reply")), "2026-01-07 10:00",
                 dict(state="running", elapsed=5 * H, started_at=b("2026-01-06 15:00"),
                      due_at=b("2026-01-07 13:00"), warn_at=b("2026-01-07 11:24")), id="update-restarts"),
    pytest.param("next_update", "berlin", history("2026-01-05 08:00", ("2026-01-05 09:00", "reply"),
                                                  ("2026-01-06 15:00", "reply")), "2026-01-07 14:00",
                 dict(state="breached", elapsed=9 * H, started_at=b("2026-01-06 15:00"),
                      due_at=b("2026-01-07 13:00")), id="update-breached-after-silence"),
    pytest.param("next_update", "always", history("2026-01-05 08:00", ("2026-01-05 09:00", "reply"),
                                                  ("2026-01-06 15:00", "reply")), "2026-01-07 10:00",
                 dict(state="breached", elapsed=19 * H, started_at=b("2026-01-06 15:00"),
                      due_at=b("2026-01-06 23:00")), id="update-breached-always"),
    pytest.param("next_update", "berlin", history("2026-01-05 08:00", ("2026-01-05 09:00", "reply"),
                                                  ("2026-01-06 15:00", "reply"), ("2026-01-07 13:30", "reply")),
                 "2026-01-07 14:00", dict(state="running", elapsed=0.5 * H, started_at=b("2026-01-07 13:30"),
                                          due_at=b("2026-01-08 11:30"), warn_at=b("2026-01-08 09:54")),
                 id="update-earlier-breach-forgotten"),
    pytest.param("next_update", "berlin", history("2026-01-06 15:00", ("2026-01-06 16:00", "reply"),
                                                  ("2026-01-07 09:00", "resolved")), "2026-01-07 14:00",
                 dict(state="stopped", elapsed=3 * H, started_at=b("2026-01-06 16:00")), id="update-stopped-when-done"),
    pytest.param("next_update", "berlin", history("2026-01-06 15:00", ("2026-01-06 16:00", "reply"),
                                                  ("2026-01-07 09:00", "pending")), "2026-01-08 14:00",
                 dict(state="paused", elapsed=3 * H, started_at=b("2026-01-06 16:00")), id="update-paused-pending"),
    pytest.param("next_update", "berlin", history("2026-01-05 08:00", ("2026-01-06 12:00", "pending")),
                 "2026-01-08 14:00", dict(state="breached", elapsed=14 * H, due_at=b("2026-01-05 16:00")),
                 id="update-breached-before-pause-stays-breached"),
    # events after now do not count yet
    pytest.param("first_response", "berlin", history("2026-01-07 10:00", ("2026-01-07 13:00", "reply"),
                                                     ("2026-01-07 16:00", "resolved")), "2026-01-07 12:00",
                 dict(state="running", elapsed=2 * H, due_at=b("2026-01-07 14:00"), warn_at=b("2026-01-07 13:12")),
                 id="future-reply-ignored"),
    pytest.param("resolution", "berlin", history("2026-01-07 10:00", ("2026-01-07 13:00", "reply"),
                                                 ("2026-01-07 16:00", "resolved")), "2026-01-07 12:00",
                 dict(state="running", elapsed=2 * H, due_at=b("2026-01-12 10:00"), warn_at=b("2026-01-09 14:00")),
                 id="future-resolve-ignored"),
    pytest.param("next_update", "berlin", history("2026-01-07 10:00", ("2026-01-07 13:00", "reply")),
                 "2026-01-07 12:00", dict(state="running", elapsed=2 * H, started_at=b("2026-01-07 10:00"),
                                          due_at=b("2026-01-07 18:00"), warn_at=b("2026-01-07 16:24")),
                 id="future-reply-does-not-restart"),
    pytest.param("resolution", "berlin", history("2026-01-07 10:00", ("2026-01-07 12:00", "resolved")),
                 "2026-01-07 12:00", dict(state="met", elapsed=2 * H, met_at=b("2026-01-07 12:00")),
                 id="event-at-now-counts"),
]


@pytest.mark.parametrize(("name", "calendar", "ticket", "now", "expected"), CASES)
def test_clock_states(name: str, calendar: str, ticket: History, now: str, expected: dict[str, Any]) -> None:
    state = clock(name, calendar, ticket, now)
    want = {"started_at": ticket.created_at, "due_at": None, "warn_at": None, "met_at": None, **expected}
    got = {key: getattr(state, key) for key in want}
    assert got == want
    assert state.clock == name and state.limit == POLICY.limit(name)


def test_clocks_come_in_order_and_only_those_set() -> None:
    ticket = history("2026-01-07 10:00")
    assert [c.clock for c in clocks(POLICY, BERLIN, ticket, b("2026-01-07 11:00"))] == list(ORDER)
    only = SlaPolicy("lean", resolution=30 * H, first_response=H)
    assert [c.clock for c in clocks(only, BERLIN, ticket, b("2026-01-07 11:00"))] == ["first_response", "resolution"]
    assert clocks(SlaPolicy("none"), BERLIN, ticket, b("2026-01-07 11:00")) == ()


def test_instants_are_utc_and_warn_share_is_honoured() -> None:
    state = clocks(POLICY, BERLIN, history("2026-01-07 10:00"), b("2026-01-07 11:00"), warn_share=0.5)[0]
    assert state.warn_at == b("2026-01-07 12:00") and state.due_at == b("2026-01-07 14:00")
    assert state.due_at.tzinfo is timezone.utc and state.started_at.tzinfo is timezone.utc
    assert clocks(POLICY, BERLIN, history("2026-01-07 10:00"), b("2026-01-07 11:00"), warn_share=0)[0].warn_at is None


def test_events_out_of_order_and_before_creation() -> None:
    ticket = History(b("2026-01-07 10:00"), ((b("2026-01-07 15:00"), "open"), (b("2026-01-07 12:00"), "pending")),
                     (b("2026-01-07 09:00"),))
    first, update, resolution = clocks(POLICY, BERLIN, ticket, b("2026-01-07 16:00"))
    assert (first.state, first.elapsed, first.met_at) == ("met", timedelta(0), b("2026-01-07 10:00"))
    assert (update.started_at, update.elapsed) == (b("2026-01-07 10:00"), 3 * H)
    assert (resolution.state, resolution.elapsed) == ("running", 3 * H)


@pytest.mark.parametrize(("ticket", "now", "warn_share", "message"), [
    (History(datetime(2026, 1, 7, 10)), b("2026-01-07 11:00"), 0.8, "created_at must be a timezone-aware"),
    (history("2026-01-07 10:00"), datetime(2026, 1, 7, 11), 0.8, "now must be a timezone-aware"),
    (History(b("2026-01-07 10:00"), ((datetime(2026, 1, 7, 10, 30), "open"),)), b("2026-01-07 11:00"), 0.8,
     "status time must be a timezone-aware"),
    (History(b("2026-01-07 10:00"), (), (datetime(2026, 1, 7, 10, 30),)), b("2026-01-07 11:00"), 0.8,
     "response time must be a timezone-aware"),
    (history("2026-01-07 10:00", ("2026-01-07 10:30", "solved")), b("2026-01-07 11:00"), 0.8,
     "unknown status 'solved'"),
    (history("2026-01-07 10:00"), b("2026-01-07 09:00"), 0.8, "before the ticket was created"),
    (history("2026-01-07 10:00"), b("2026-01-07 11:00"), 1.5, "warn_share must be between 0 and 1"),
])
def test_misuse_is_refused(ticket: History, now: datetime, warn_share: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clocks(POLICY, BERLIN, ticket, now, warn_share=warn_share)


@pytest.mark.parametrize("calendar", CALENDARS)
def test_due_at_is_the_exact_breach_instant(calendar: str) -> None:
    cal = CALENDARS[calendar]
    ticket = history("2026-01-09 15:10", ("2026-01-09 16:00", "on_hold"), ("2026-01-12 08:30", "open"))
    due = clocks(POLICY, cal, ticket, b("2026-01-12 09:00"))[0].due_at
    assert due is not None
    before, crossing, after = (clocks(POLICY, cal, ticket, due + dt)[0] for dt in (-TICK, timedelta(0), 7 * H))
    assert (before.state, before.due_at) == ("running", due)
    assert (crossing.state, crossing.due_at, crossing.elapsed) == ("breached", due, 4 * H)
    assert (after.state, after.due_at) == ("breached", due)


# -- a property: the clocks agree with a simple five-minute simulation -------------------

STEP = timedelta(minutes=5)


def random_history(rng: random.Random) -> History:
    """Events on five-minute marks, at distinct instants, spread over weekdays and weekends."""
    at = b("2026-01-05 00:00") + rng.randrange(7 * 288) * STEP
    created, statuses, responses = at, [], []
    for _ in range(rng.randrange(1, 9)):
        at += rng.randrange(1, 20 * 12) * STEP
        if rng.random() < 0.4:
            responses.append(at)
        else:
            statuses.append((at, rng.choice(sorted(STATUSES))))
    return History(created, tuple(statuses), tuple(responses))


def simulate(cal: Calendar, ticket: History, now: datetime) -> dict[str, tuple[str, timedelta, Any, Any]]:
    """(state, elapsed, breach instant, met_at) per clock, by stepping five minutes at a time."""
    changes, replies = dict(ticket.statuses), set(ticket.responses)
    status, done_since, first_met = "new", None, None
    count = dict.fromkeys(ORDER, timedelta(0))
    crossed: dict[str, datetime | None] = dict.fromkeys(ORDER)
    t = ticket.created_at
    while True:
        if t in changes:
            done_since = (done_since or t) if changes[t] in DONE else None
            status = changes[t]
        if t in replies:
            count["next_update"], crossed["next_update"] = timedelta(0), None
        if first_met is None and (t in replies or status in DONE):
            first_met = t
        if t >= now:
            break
        if status in ACTIVE and cal.is_open(t):
            for name in ORDER:
                if name != "first_response" or first_met is None:
                    count[name] += STEP
                    if count[name] == POLICY.limit(name) and crossed[name] is None:
                        crossed[name] = t + STEP
        t += STEP
    result = {}
    for name, met in (("first_response", first_met), ("next_update", None), ("resolution", done_since)):
        breach = crossed[name]
        if name == "next_update" and status in DONE:
            result[name] = ("stopped", count[name], None, None)
        elif breach is not None and (met is None or breach < met):
            result[name] = ("breached", count[name], breach, met)
        else:
            state = "met" if met else "running" if status in ACTIVE else "paused"
            result[name] = (state, count[name], None, met)
    return result


@pytest.mark.parametrize("calendar", CALENDARS)
def test_agrees_with_a_step_by_step_simulation(calendar: str) -> None:
    cal, rng = CALENDARS[calendar], random.Random(f"clocks-{calendar}")
    for _ in range(40):
        ticket = random_history(rng)
        last = max([ticket.created_at, *ticket.responses, *(at for at, _ in ticket.statuses)])
        for now in (ticket.created_at + rng.randrange((last - ticket.created_at) // STEP + 60) * STEP, last):
            expected = simulate(cal, ticket, now)
            for state in clocks(POLICY, cal, ticket, now):
                got = (state.state, state.elapsed, state.due_at if state.state == "breached" else None, state.met_at)
                assert got == expected[state.clock], (ticket, now, state)
                if state.state == "running":
                    check_running(cal, ticket, now, state)


def check_running(cal: Calendar, ticket: History, now: datetime, state: ClockState) -> None:
    """The remaining time from ``now`` lands exactly on due_at, the warning on its share, and nothing earlier."""
    assert state.due_at is not None
    remaining = state.limit - state.elapsed
    assert remaining > timedelta(0)
    assert cal.add(now, remaining) == state.due_at
    assert cal.elapsed(now, state.due_at) == remaining
    assert cal.elapsed(now, state.due_at - TICK) < remaining
    if state.warn_at is not None:
        assert cal.elapsed(now, state.warn_at) == state.limit * 0.8 - state.elapsed
    else:
        assert state.elapsed >= state.limit * 0.8
    so_far = History(ticket.created_at, tuple(change for change in ticket.statuses if change[0] <= now),
                     tuple(at for at in ticket.responses if at <= now))  # and nothing happens until due_at
    later = {c.clock: c for c in clocks(POLICY, cal, so_far, state.due_at)}[state.clock]
    assert (later.state, later.due_at, later.elapsed) == ("breached", state.due_at, state.limit)
