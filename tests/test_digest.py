"""The daily digest: when it is due, what each agent's lists hold, and that it goes once a day."""

from __future__ import annotations

from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from desktools import harness
from mailfactory import make_message
from maildesk.config import build
from maildesk.errors import ConfigError
from maildesk.notify.digest import send_digests
from maildesk.stage import Context

ALICE, BOB, CAROL, DAVE = (f"{n}@example.test" for n in ("alice", "bob", "carol", "dave"))
TIERS = [{"name": "L1", "agents": [ALICE, BOB]}, {"name": "L2", "agents": [CAROL]}, {"name": "L3", "agents": [DAVE]},
         {"name": "L4", "agents": ["help@vendor.example"], "vendor": True}]
BERLIN = {"timezone": "Europe/Berlin", "hours": "08:00-18:00", "holidays": ["2026-11-04"]}
MONDAY_0830_BERLIN = datetime(2026, 11, 2, 7, 30, tzinfo=timezone.utc)  # CET is UTC+1 in November


def config(digest: dict, business_hours: dict | None = None):
    data = {"desk": {"address": "support@example.test"}, "digest": digest}
    if business_hours is not None:
        data["business_hours"] = business_hours
    return build(data, base=Path("/tmp"), source=None).digest


@pytest.mark.parametrize("digest, hours, key", [
    ({"at": "8:3x"}, None, "digest.at"),
    ({"at": "24:00"}, None, "digest.at"),
    ({"at": 8}, None, "digest.at"),
    ({"at": "08:00", "timezone": "Mars/Olympus"}, None, "digest.timezone"),
    ({"at": "08:00", "days": ["mon", "someday"]}, None, "digest.days[1]"),
    ({"at": "08:00", "when": "daily"}, None, "digest.when"),
])
def test_a_wrong_digest_setting_names_its_key(digest, hours, key):
    with pytest.raises(ConfigError) as err:
        config(digest, hours)
    assert err.value.key == key


@pytest.mark.parametrize("digest, hours, now, due", [
    ({}, None, MONDAY_0830_BERLIN, None),  # off unless [digest] at is set
    ({"at": "08:30"}, BERLIN, MONDAY_0830_BERLIN, date(2026, 11, 2)),  # the business zone's local time
    ({"at": "08:30"}, BERLIN, datetime(2026, 11, 2, 7, 29, tzinfo=timezone.utc), None),  # a minute early
    ({"at": "08:30"}, BERLIN, datetime(2026, 11, 2, 22, 59, tzinfo=timezone.utc), date(2026, 11, 2)),  # late today
    ({"at": "08:30"}, BERLIN, datetime(2026, 11, 2, 23, 1, tzinfo=timezone.utc), None),  # Tuesday 00:01 there
    ({"at": "08:30"}, BERLIN, datetime(2026, 11, 4, 9, 0, tzinfo=timezone.utc), None),  # a holiday
    ({"at": "08:30"}, BERLIN, datetime(2026, 11, 7, 9, 0, tzinfo=timezone.utc), None),  # Saturday
    ({"at": "08:30", "days": ["sat"]}, BERLIN, datetime(2026, 11, 7, 9, 0, tzinfo=timezone.utc), date(2026, 11, 7)),
    ({"at": "08:30"}, None, datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc), date(2026, 11, 2)),  # UTC, mon-fri
    ({"at": "08:30"}, None, datetime(2026, 11, 8, 9, 0, tzinfo=timezone.utc), None),  # Sunday
    ({"at": "08:30", "timezone": "America/New_York"}, BERLIN, datetime(2026, 11, 2, 13, 29, tzinfo=timezone.utc),
     None),  # 08:29 in New York
])
def test_the_digest_is_due_from_its_local_time_on_working_days(digest, hours, now, due):
    assert config(digest, hours).day_due(now) == due


@pytest.fixture
def h(tmp_path):
    desk = harness(tmp_path, tiers=TIERS, digest={"at": "08:30"}, business_hours=BERLIN,
                   sla={"normal": {"first_response": "4h"}})
    desk.desk.clock.now = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)  # Monday 07:00 in Berlin
    return desk


def digests(h, to=None):
    rows = h.store.db.execute("SELECT recipient, data FROM outbox WHERE kind = 'digest' ORDER BY id").fetchall()
    return {r: message_from_bytes(bytes(d), policy=policy.default).get_body(("plain",)).get_content()
            for r, d in rows if to in (None, r)}


def open_ticket(h, subject: str, *, tier: str = "L1", owner: str | None = None) -> int:
    ticket = h.take(make_message(sender="Dana <dana@customer.example>", subject=subject)).ticket_id
    h.store.db.execute("UPDATE tickets SET tier = ?, assignee = ? WHERE id = ?", [tier, owner, ticket])
    return ticket


def test_each_agent_gets_their_own_and_their_tiers_unowned_tickets_once_a_day(h):
    mine = open_ticket(h, "Printer offline", owner=ALICE)
    waiting = open_ticket(h, "VPN drops")
    l2 = open_ticket(h, "Payroll export fails", tier="L2")
    ctx = Context(h.desk, h.store)
    assert send_digests(ctx) == 0  # 07:00 in Berlin: not yet
    h.desk.clock.now = MONDAY_0830_BERLIN
    assert send_digests(ctx) == 3  # alice, bob, carol; dave has nothing open, the vendor gets none
    got = digests(h)
    assert set(got) == {ALICE, BOB, CAROL}
    alice = got[ALICE]
    assert alice.index("Yours (1)") < alice.index(f"#{mine} Printer offline") < alice.index("Waiting for an owner")
    assert f"#{waiting} VPN drops" in alice and "Payroll" not in alice
    assert f"support+{mine}-" in alice  # a reply address per ticket
    assert "Yours" not in got[BOB] and f"#{waiting} VPN drops" in got[BOB]
    assert f"#{l2} Payroll export fails" in got[CAROL] and "VPN" not in got[CAROL]
    h.desk.clock.advance(hours=3)
    assert send_digests(ctx) == 0  # once a day, whatever the daemon's restarts
    h.desk.clock.advance(days=1)
    assert send_digests(ctx) == 3 and len(h.store.db.execute("SELECT * FROM outbox WHERE kind = 'digest'")
                                          .fetchall()) == 6


def test_the_sla_state_of_each_ticket_is_shown_in_local_time(h):
    late = open_ticket(h, "Printer offline")  # first response due 4 business hours after 08:00 Berlin
    h.desk.clock.now = datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc)  # Tuesday 11:00 in Berlin
    fresh = open_ticket(h, "VPN drops")
    send_digests(Context(h.desk, h.store))
    alice = digests(h, ALICE)[ALICE]
    assert "SLA first_response BREACHED at 2026-11-02 12:00 +0100" in alice
    assert "SLA first_response due 2026-11-03 15:00 +0100" in alice
    assert alice.index(f"#{late} ") < alice.index(f"#{fresh} ")  # oldest first


def test_nothing_goes_to_an_agent_with_nothing_open_and_nothing_on_a_holiday(h):
    ctx = Context(h.desk, h.store)
    h.desk.clock.now = MONDAY_0830_BERLIN
    assert send_digests(ctx) == 0 and digests(h) == {}
    open_ticket(h, "Printer offline")
    assert send_digests(ctx) == 0  # today's was made (empty) already
    h.desk.clock.now = datetime(2026, 11, 4, 8, 0, tzinfo=timezone.utc)  # Wednesday: a holiday
    assert send_digests(ctx) == 0
    h.desk.clock.advance(days=1)
    assert send_digests(ctx) == 2  # alice and bob


def test_a_digest_claimed_by_another_process_is_not_sent_again(h):
    open_ticket(h, "Printer offline")
    h.desk.clock.now = MONDAY_0830_BERLIN
    with h.store.atomic():
        assert h.store.queues.claim_digest(ALICE, "2026-11-02", tickets=1, at=h.desk.clock())
    assert send_digests(Context(h.desk, h.store)) == 1 and set(digests(h)) == {BOB}


def test_who_had_a_day_s_digest_is_read_from_the_key_on_every_tick():
    from maildesk.store import Store

    store = Store.memory()
    statements = []
    store.db.conn.set_trace_callback(statements.append)
    store.queues.digests_had("2026-12-07")
    store.db.conn.set_trace_callback(None)
    (sql,) = statements
    plan = " ".join(row[-1] for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "SEARCH" in plan and "SCAN" not in plan, plan
