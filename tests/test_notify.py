"""Notices queued by intake: one contentless acknowledgement per human, alerts per agent, never to machines."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.tokens import verify_token

TIERS = [{"name": "L1", "agents": ["alice@example.test", "bob@example.test"]}, {"name": "L2"}]


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS, outbound={"daily_auto_limit": 3}, notify={"enabled": True})


def queued(h, kind=None):
    rows = h.store.db.execute("SELECT kind, recipient, data FROM outbox ORDER BY id").fetchall()
    return [(k, r, message_from_bytes(bytes(d), policy=policy.default)) for k, r, d in rows if kind in (None, k)]


def test_new_ticket_gets_one_contentless_acknowledgement(h):
    first = make_message(subject="SECRET-SUBJECT", body="SECRET-BODY please help\n")
    out = h.take(first)
    (kind, to, msg), = queued(h, "acknowledgement")
    assert to == "carol@customer.example"
    assert f"[#{out.ticket_id}]" in msg["Subject"] and "SECRET" not in msg.as_string()
    assert msg["Auto-Submitted"] == "auto-replied" and msg["X-Maildesk-Loop"] == h.desk.loop_id
    assert msg["In-Reply-To"] == message_id_of(first)
    assert msg["Message-ID"].endswith("@example.test>")
    token = msg["Reply-To"].addresses[0].username.split("+", 1)[1]
    assert verify_token(h.desk.secret, token).ticket_id == out.ticket_id


def test_each_agent_of_the_tier_gets_an_alert_with_their_own_reply_address(h):
    h.take(make_message())
    alerts = queued(h, "alert")
    assert sorted(to for _, to, _ in alerts) == ["alice@example.test", "bob@example.test"]
    reply_tos = {str(msg["Reply-To"]) for _, _, msg in alerts}
    assert len(reply_tos) == 2


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},
    {"List-Id": "<users.lists.example>"},
    {"Precedence": "bulk"},
    {"Auto-Submitted": "auto-generated"},
])
def test_machines_get_no_acknowledgement(h, headers):
    h.take(make_message(headers=headers, subject="Automatic reply: away" if "auto-replied" in str(headers) else "x"))
    assert queued(h, "acknowledgement") == []


def test_replies_are_not_acknowledged_again(h):
    first = make_message()
    h.take(first)
    h.take(make_message(subject="Re: printer", in_reply_to=message_id_of(first)))
    assert len(queued(h, "acknowledgement")) == 1


def test_daily_cap_stops_a_ping_pong(h):
    for i in range(6):  # an auto-responder that strips Auto-Submitted opens a new ticket each time
        h.take(make_message(subject=f"ticket {i}"))
    assert len(queued(h, "acknowledgement")) == 3


def test_notices_are_on_by_default_and_can_be_switched_off(tmp_path):
    on = harness(tmp_path / "on", tiers=TIERS)
    on.take(make_message())
    assert [kind for kind, _, _ in queued(on)] == ["acknowledgement", "alert", "alert"]
    off = harness(tmp_path / "off", tiers=TIERS, notify={"enabled": False})
    off.take(make_message())
    assert queued(off) == []


def test_a_reply_to_the_acknowledgement_threads_by_its_message_id(h):
    out = h.take(make_message())
    (_, _, ack), = queued(h, "acknowledgement")
    reply = h.take(make_message(subject="Re: thanks", in_reply_to=ack["Message-ID"]))  # to plain support@
    assert reply.ticket_id == out.ticket_id and reply.reason == "in-reply-to"
