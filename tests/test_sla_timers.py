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


def outbox(h, kind):
    return [(r, bytes(d)) for r, d in h.store.db.execute(
        "SELECT recipient, data FROM outbox WHERE kind = ? ORDER BY id", [kind])]


def test_a_breach_escalates_with_an_automatic_handover_and_the_staff_hear_of_it(h):
    ticket = h.take(make_message()).ticket_id
    h.desk.clock.advance(minutes=50)
    fire(h)
    assert [r for r, _ in outbox(h, "sla")] == ["alice@example.test"]  # the warning: L1, nobody owns it yet
    h.desk.clock.advance(minutes=15)
    assert fire(h)["breach"] == 1
    t = views.show_ticket(h.store.db, ticket)
    assert t["tier"] == "L2"
    (handover,) = outbox(h, "escalation")
    assert handover[0] == "carol@example.test" and b"SLA breach" in handover[1]
    assert [r for r, _ in outbox(h, "sla")] == ["alice@example.test", "carol@example.test"]


def test_customer_updates_and_auto_close_each_fire_once(tmp_path):
    h = harness(tmp_path, tiers=TIERS, timers={"customer_update_every": "2d", "auto_close_resolved_after": "7d"})
    ticket = h.take(make_message()).ticket_id
    h.desk.clock.advance(days=2, minutes=1)
    assert fire(h) == {"update": 1} and fire(h) == {}
    assert [r for r, _ in outbox(h, "update")] == ["carol@customer.example"]
    with h.store.atomic():
        h.store.work.set_status(ticket, "resolved", actor="alice@example.test", at=h.desk.clock(), reason="test")
        from maildesk.sla.timers import schedule
        schedule(Context(h.desk, h.store), ticket)
    h.desk.clock.advance(days=7, minutes=1)
    assert fire(h) == {"close": 1}
    assert views.show_ticket(h.store.db, ticket)["status"] == "closed"
