"""SLA timers: planned with each change to a ticket, fired once when due, re-planned as it moves on."""

from __future__ import annotations

import pytest

from desktools import harness
from mailfactory import make_message
from maildesk.sla.timers import run_timers
from maildesk.stage import Context
from maildesk.store import views

TIERS = [{"name": "L1", "agents": ["alice@example.test"]}, {"name": "L2", "agents": ["carol@example.test"]}]
SLA = {"normal": {"first_response": "1h", "resolution": "8h", "business_hours": False}}


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS, sla=SLA)


def fire(h):
    return run_timers(Context(h.desk, h.store))


def sla_events(h, ticket_id):
    return [(e["kind"], e["new"]) for e in views.show_ticket(h.store.db, ticket_id)["events"]
            if e["kind"].startswith("sla-")]


def test_a_warning_then_a_breach_each_fire_once(h):
    ticket = h.take(make_message()).ticket_id
    assert set(h.store.timers.pending(ticket)) == {"first_response.warning", "first_response.breach",
                                                   "resolution.warning", "resolution.breach"}
    assert fire(h) == {}
    h.desk.clock.advance(minutes=50)  # 80% of the first hour
    assert fire(h) == {"warning": 1}
    assert fire(h) == {}  # never twice
    h.desk.clock.advance(minutes=15)
    assert fire(h) == {"breach": 1}
    assert sla_events(h, ticket) == [("sla-warning", "first_response"), ("sla-breach", "first_response")]


def test_an_answer_in_time_meets_the_clock_and_its_timers_go(h):
    ticket = h.take(make_message()).ticket_id
    row = h.store.db.execute("SELECT data FROM outbox WHERE kind = 'alert'").fetchone()
    from email import message_from_bytes, policy
    address = str(message_from_bytes(bytes(row[0]), policy=policy.default)["Reply-To"].addresses[0].addr_spec)
    h.desk.clock.advance(minutes=30)
    h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x",
                        body="#take\n\nWe are on it.\n"))
    assert not any(k.startswith("first_response") for k in h.store.timers.pending(ticket))
    h.desk.clock.advance(hours=2)
    assert fire(h) == {}


def test_no_policy_no_timers(tmp_path):
    h = harness(tmp_path, tiers=TIERS)
    ticket = h.take(make_message()).ticket_id
    assert h.store.timers.pending(ticket) == {}
