"""Only the requester, the people they or an agent copy, and agents hear from a ticket; never a stranger."""

from __future__ import annotations

import pytest

from mailfactory import make_message, message_id_of
from maildesk.cli.render import ticket_detail
from test_agents_e2e import ALICE, DANA, answer, make_e2e, reply_to, text  # noqa: F401  (fixture)

pytestmark = pytest.mark.imap

MALLORY, EVE = "mallory@evil.example", "eve@evil.example"
COLLEAGUE, FRANK = "colin@customer.example", "frank@customer.example"


@pytest.fixture
def e2e(make_e2e):  # noqa: F811
    return make_e2e()


def participants(e2e, ticket):
    return {p["address"]: p["role"] for p in e2e.show(ticket)["participants"]}


def strangers(e2e, ticket):
    return [e["detail"]["stranger"] for e in e2e.show(ticket)["events"] if "stranger" in e["detail"]]


def test_a_stranger_threading_onto_a_ticket_is_kept_but_never_hears_from_it(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="Printer offline", body="QUOKKA-4412 again.\n")
    e2e.send(first)
    (ack,) = e2e.got(DANA, "acknowledgement")
    ticket = int(ack["X-Maildesk-Ticket"])
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", subject="Re: Printer offline", cc=EVE,
                          in_reply_to=message_id_of(first), body="Please keep me posted.\n"))
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", to=reply_to(ack), subject="Re: x",
                          body="Me too, by the reply address.\n"))
    assert participants(e2e, ticket) == {DANA: "requester"}
    assert strangers(e2e, ticket) == [MALLORY, MALLORY]
    roles = [(m["sender"], m["sender_role"]) for m in e2e.show(ticket)["messages"]]
    assert roles == [(DANA, "requester"), (MALLORY, "stranger"), (MALLORY, "stranger")]
    assert f"from {MALLORY} (stranger)" in ticket_detail(e2e.show(ticket))

    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#take\n\nHi Dana, is the tray empty?\n"))
    (relay,) = e2e.got(DANA, "relay")
    assert "tray" in text(relay)
    assert e2e.got(MALLORY) == [] and e2e.got(EVE) == []


def test_the_requester_and_agents_decide_who_is_in_copy(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="VPN down", cc=COLLEAGUE, body="VPN is down.\n")
    e2e.send(first)
    (ack,) = e2e.got(DANA, "acknowledgement")
    ticket = int(ack["X-Maildesk-Ticket"])
    assert participants(e2e, ticket) == {DANA: "requester", COLLEAGUE: "cc"}  # the customer's own Cc
    # Dana's From, but not to the ticket's reply address: nobody she copies is added (From proves nothing)
    e2e.send(make_message(sender=f"Dana <{DANA}>", subject="Re: VPN down", cc=EVE,
                          in_reply_to=message_id_of(first), body="Adding someone.\n"))
    assert EVE not in participants(e2e, ticket)
    # her real reply, to the reply address we sent her, adds whom she copies
    e2e.send(answer(ack, DANA, "Adding Frank.\n", cc=FRANK))
    assert participants(e2e, ticket)[FRANK] == "cc"
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, f"#take\n#cc +{EVE.replace('evil', 'partner')}\n\nWorking on it.\n"))
    relayed = {to for to in (DANA, COLLEAGUE, FRANK, EVE, EVE.replace("evil", "partner")) if e2e.got(to, "relay")}
    assert relayed == {DANA, COLLEAGUE, FRANK, EVE.replace("evil", "partner")}


def test_a_strangers_mail_does_not_wake_a_pending_ticket(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="Printer offline", body="QUOKKA-4412 again.\n")
    e2e.send(first)
    ticket = int(e2e.got(DANA, "acknowledgement")[0]["X-Maildesk-Ticket"])
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#take\n#pending\n\nWhich model is it?\n"))
    assert e2e.state(ticket)[0] == "pending"
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", subject="Re: Printer offline",
                          in_reply_to=message_id_of(first), body="Wake up.\n"))
    assert e2e.state(ticket)[0] == "pending"
    e2e.send(answer(e2e.got(DANA, "relay")[0], DANA, "It is a LaserJet 4.\n"))
    assert e2e.state(ticket)[0] == "open"


def test_a_late_parent_joins_the_early_replys_ticket_without_making_its_sender_a_listener(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="Scanner jams", cc=COLLEAGUE, body="Page 2 jams.\n")
    e2e.send(first)
    (ack,) = e2e.got(DANA, "acknowledgement")
    ticket = int(ack["X-Maildesk-Ticket"])
    middle = make_message(sender=f"Colin <{COLLEAGUE}>", subject="Re: Scanner jams", in_reply_to=message_id_of(first),
                          body="Here too.\n")
    # Mallory's answer to Colin's mail is delivered before it: it opens a ticket of its own
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", subject="Re: Scanner jams",
                          in_reply_to=message_id_of(middle), body="Keep me posted.\n"))
    (early,) = e2e.got(MALLORY, "acknowledgement")
    orphan = int(early["X-Maildesk-Ticket"])
    assert orphan != ticket
    e2e.send(middle)
    senders = [(m["sender"], m["sender_role"]) for m in e2e.show(ticket)["messages"]]
    assert sorted(senders) == sorted([(DANA, "requester"), (COLLEAGUE, "cc"), (MALLORY, "stranger")])
    assert participants(e2e, ticket) == {DANA: "requester", COLLEAGUE: "cc"}
    assert e2e.show(orphan)["status"] == "closed" and e2e.show(orphan)["messages"] == []
    joined = [e["detail"] for e in e2e.show(ticket)["events"] if e["detail"].get("joined_from") == orphan]
    assert joined == [{"strangers": [MALLORY], "joined_from": orphan, "why": joined[0]["why"]}]

    (alert,) = [a for a in e2e.got(ALICE, "alert") if a["X-Maildesk-Ticket"] == str(ticket)]
    e2e.send(answer(alert, ALICE, "#take\n\nDana, Colin: try the other tray.\n"))
    assert "other tray" in text(e2e.got(DANA, "relay")[0]) and e2e.got(COLLEAGUE, "relay")
    # her own ticket's reply address now leads to the joined ticket, where she is still nobody
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", to=reply_to(early), subject="Re: x", body="And me?\n"))
    assert [m["sender_role"] for m in e2e.show(ticket)["messages"] if m["sender"] == MALLORY] == ["stranger"] * 2
    assert [n["X-Maildesk-Ticket"] for n in e2e.got(MALLORY)] == [str(orphan)]  # the early ack, nothing since
