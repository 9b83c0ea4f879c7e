"""The later notices (status, resolution, relay, escalation, receipt) reach the right people through the outbox."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.models import Address
from maildesk.notify.notices import CommandResults, Handover, Notices
from maildesk.notify.notifier import Parent
from maildesk.stage import Context
from maildesk.tokens import verify_token

TIERS = [{"name": "L1", "agents": ["alice@example.test"]},
         {"name": "L2", "agents": ["carol.l2@example.test", "dave.l2@example.test"]}]


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS, outbound={"daily_auto_limit": 3})


@pytest.fixture
def ticket(h):
    """A ticket from Carol, with Erin in copy and agent Alice in copy too; then a reply of Carol's."""
    first = make_message(cc="Erin <erin@customer.example>, Alice <alice@example.test>")
    out = h.take(first)
    h.take(make_message(subject="Re: printer", body="It is tray 2.\n", in_reply_to=message_id_of(first)))
    h.store.db.execute("DELETE FROM outbox")  # forget the acknowledgement and alert
    return out.ticket_id


def notices(h, kind):
    rows = h.store.db.execute("SELECT recipient, data, automatic FROM outbox WHERE kind = ? ORDER BY id",
                              [kind]).fetchall()
    return [(r, message_from_bytes(bytes(d), policy=policy.default), bool(a)) for r, d, a in rows]


def send(h, call):
    with h.store.atomic():
        return call(Notices(Context(h.desk, h.store)))


def text_of(msg):
    return msg.get_body(("plain",)).get_content()


def test_a_status_change_goes_to_the_customers_only_and_threads_to_the_latest_message(h, ticket):
    send(h, lambda n: n.status_change(ticket, old="open", new="pending"))
    sent = notices(h, "status")
    assert [to for to, _, _ in sent] == ["carol@customer.example", "erin@customer.example"]
    first = h.store.db.execute("SELECT message_id FROM messages WHERE ticket_id = ? ORDER BY id",
                               [ticket]).fetchone()[0]
    assert sent[1][1]["In-Reply-To"] == f"<{first}>"  # Erin was in copy of the request itself
    _, msg, automatic = sent[0]
    assert automatic and msg["Auto-Submitted"] == "auto-generated" and f"[#{ticket}]" in msg["Subject"]
    assert '"open" to "pending"' in text_of(msg)
    latest = h.store.db.execute("SELECT message_id FROM messages WHERE ticket_id = ? ORDER BY id DESC",
                                [ticket]).fetchone()[0]
    assert msg["In-Reply-To"] == f"<{latest}>" and len(msg["References"].split()) == 2


def test_the_resolution_notice_carries_the_summary_and_skips_undeliverable_addresses(h, ticket):
    h.store.outbox.suppress("erin@customer.example", reason="bounce: failed 5.1.1", now=h.desk.clock())
    send(h, lambda n: n.resolution(ticket, summary="The fuser was replaced."))
    (to, msg, _), = notices(h, "resolution")
    assert to == "carol@customer.example" and "The fuser was replaced." in text_of(msg)
    token = msg["Reply-To"].addresses[0].username.split("+", 1)[1]
    assert verify_token(h.desk.secret, token).ticket_id == ticket


def test_automatic_customer_notices_respect_the_daily_limit(h, ticket):
    for new in ("open", "pending", "open", "pending"):
        send(h, lambda n: n.status_change(ticket, old="x", new=new))
    assert len([1 for to, _, _ in notices(h, "status") if to == "carol@customer.example"]) == 3


def test_a_relay_is_a_persons_words_from_the_desk_and_is_not_capped(h, ticket):
    for new in ("open", "pending", "open"):
        send(h, lambda n: n.status_change(ticket, old="x", new=new))  # the daily limit is used up
    send(h, lambda n: n.relay(ticket, agent_name="Alice Martin", text="Please try tray 1 {{7*7}}."))
    sent = notices(h, "relay")
    assert [to for to, _, _ in sent] == ["carol@customer.example", "erin@customer.example"]
    _, msg, automatic = sent[0]
    assert not automatic and msg["Auto-Submitted"] is None
    assert msg["From"].addresses[0].addr_spec == "support@example.test"
    body = text_of(msg)
    assert "Please try tray 1 {{7*7}}." in body and "Alice Martin" in body and "alice@example.test" not in body


def test_an_escalation_reaches_each_agent_of_the_receiving_tier_with_the_whole_story(h, ticket):
    handover = Handover(from_tier="L1", to_tier="L2", reason="Needs a firmware fix",
                        tried="Power cycle; cleaned the rollers", time_in_tier=timedelta(hours=26, minutes=5))
    send(h, lambda n: n.escalation(ticket, handover=handover))
    sent = notices(h, "escalation")
    assert sorted(to for to, _, _ in sent) == ["carol.l2@example.test", "dave.l2@example.test"]
    assert len({str(msg["Reply-To"]) for _, msg, _ in sent}) == 2  # a reply proves which agent wrote it
    body = text_of(sent[0][1])
    for expected in ("Needs a firmware fix", "Power cycle; cleaned the rollers", "1 day 2 hours",
                     "the printer is jammed again", "It is tray 2.", "History (2 messages"):
        assert expected in body


def test_a_receipt_tells_the_agent_what_was_done_and_what_failed(h, ticket):
    results = CommandResults(done=("status pending",), failed=("#resolve: the ticket is closed",))
    parent = Parent("agent-reply-1@example.test")
    send(h, lambda n: n.receipt(ticket, agent=Address("alice@example.test"), results=results, parent=parent))
    (to, msg, _), = notices(h, "receipt")
    assert to == "alice@example.test" and msg["In-Reply-To"] == "<agent-reply-1@example.test>"
    body = text_of(msg)
    assert "status pending" in body and "#resolve: the ticket is closed" in body
