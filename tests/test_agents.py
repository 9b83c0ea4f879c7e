"""Agents by email: commands run all or nothing, words reach the customer, strangers command nothing."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from desktools import harness
from mailfactory import make_message
from maildesk.store import views

TIERS = [{"name": "L1", "agents": ["alice@example.test", "bob@example.test"]},
         {"name": "L2", "agents": ["carol@example.test"]}, {"name": "L3", "agents": ["dave@example.test"]}]
CUSTOMER = "dana@customer.example"


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS)


def outbox(h, kind=None, to=None):
    rows = h.store.db.execute("SELECT kind, recipient, data FROM outbox ORDER BY id").fetchall()
    return [message_from_bytes(bytes(d), policy=policy.default) for k, r, d in rows
            if kind in (None, k) and to in (None, r)]


def text(msg):
    return msg.get_body(("plain",)).get_content()


@pytest.fixture
def ticket(h):
    out = h.take(make_message(sender=f"Dana <{CUSTOMER}>", subject="Printer offline"))
    return out.ticket_id


def reply_address(h, kind, agent):
    (alert,) = outbox(h, kind, agent)[-1:]
    return str(alert["Reply-To"].addresses[0].addr_spec), alert["Message-ID"]


def agent_mail(h, agent, body, *, to=None, kind="alert", name="Alice Martin"):
    address, parent = reply_address(h, kind, agent)
    return h.take(make_message(sender=f"{name} <{agent}>", to=to or address, subject="Re: [#1] Printer offline",
                               body=body, in_reply_to=parent))


def show(h, ticket_id):
    return views.show_ticket(h.store.db, ticket_id)


def test_take_and_reply_reach_the_customer_from_the_desk(h, ticket):
    agent_mail(h, "alice@example.test", "#take\n\nHi Dana, which printer model is it?\n")
    t = show(h, ticket)
    assert (t["assignee"], t["status"]) == ("alice@example.test", "open")
    (relay,) = outbox(h, "relay", CUSTOMER)
    assert "which printer model" in text(relay) and "Alice Martin" in text(relay)
    assert "alice@example.test" not in relay.as_string() and relay["Auto-Submitted"] is None
    (receipt,) = outbox(h, "receipt", "alice@example.test")
    assert "taken by alice@example.test" in text(receipt)


def test_escalation_hands_over_to_the_next_tier_and_tells_the_customer_without_the_reason(h, ticket):
    agent_mail(h, "alice@example.test", "#escalate L2 paper path sensor broken\ntried: cleaned rollers, "
               "power cycle\n\n#priority high\n")
    t = show(h, ticket)
    assert (t["tier"], t["priority"], t["assignee"]) == ("L2", "high", None)
    (handover,) = outbox(h, "escalation", "carol@example.test")
    body = text(handover)
    assert "paper path sensor broken" in body and "cleaned rollers" in body and "Printer offline" in body
    (status,) = outbox(h, "status", CUSTOMER)
    assert "specialists" in text(status) and "sensor" not in text(status)
    assert outbox(h, "relay") == []  # a mail of commands only sends the customer nothing


def test_a_failed_command_applies_nothing_and_sends_the_customer_nothing(h, ticket):
    agent_mail(h, "alice@example.test", "#take\n#reopen\n\nDear Dana, all fixed!\n")
    t = show(h, ticket)
    assert (t["assignee"], t["status"]) == (None, "new")
    assert outbox(h, "relay") == []
    (receipt,) = outbox(h, "receipt", "alice@example.test")
    assert "cannot reopen" in text(receipt) and "nothing was applied" in text(receipt)


def test_resolve_sends_the_resolution_and_a_note_stays_internal(h, ticket):
    agent_mail(h, "alice@example.test", "#note called Dana, she is on site\n\nThis must not be relayed.\n")
    assert outbox(h, "relay") == []
    agent_mail(h, "alice@example.test", "#resolve replaced the fuser unit\n")
    assert show(h, ticket)["status"] == "resolved"
    (resolution,) = outbox(h, "resolution", CUSTOMER)
    assert "replaced the fuser unit" in text(resolution)
    kinds = [e["kind"] for e in show(h, ticket)["events"]]
    assert "note" in kinds and "resolution" in kinds


@pytest.mark.parametrize("attack", ["spoofed-from", "other-agents-token", "forwarded-alert"])
def test_commands_without_the_right_token_and_sender_change_nothing(h, ticket, attack):
    before = show(h, ticket)
    if attack == "spoofed-from":  # alice's address in From, sent to the plain desk address, threaded by References
        h.take(make_message(sender="Alice <alice@example.test>", to="support@example.test",
                            subject="[#1] x", body="#resolve done\n", references=f"<{_first_id(h, ticket)}>"))
    elif attack == "other-agents-token":  # bob, a real agent, writes to alice's reply address
        address, parent = reply_address(h, "alert", "alice@example.test")
        h.take(make_message(sender="Bob <bob@example.test>", to=address, subject="Re: x", body="#resolve x\n",
                            in_reply_to=parent))
    else:  # a third party answers an alert that was forwarded to them
        address, parent = reply_address(h, "alert", "alice@example.test")
        h.take(make_message(sender="Mallory <mallory@evil.example>", to=address, subject="Re: x",
                            body="#resolve pwned\n", in_reply_to=parent))
    after = show(h, ticket)
    assert (after["status"], after["tier"], after["assignee"]) == (before["status"], before["tier"], None)
    assert any(e["kind"] == "security" for e in after["events"])
    assert outbox(h, "resolution") == []
    if attack != "forwarded-alert":  # the agent named in From learns why nothing happened
        (receipt,) = outbox(h, "receipt")
        assert "not applied" in text(receipt)


def _first_id(h, ticket_id):
    return h.store.db.execute("SELECT message_id FROM messages WHERE ticket_id = ? ORDER BY id", [ticket_id]).fetchone()[0]


def test_help_lists_the_commands(h, ticket):
    agent_mail(h, "alice@example.test", "#help\n")
    (receipt,) = outbox(h, "receipt", "alice@example.test")
    assert "#escalate" in text(receipt) and "#resolve" in text(receipt)
    assert show(h, ticket)["events"][-1]["kind"] == "help"  # every command leaves an event


def customer_reply(h, body="It still does not work.\n"):
    (ack,) = outbox(h, "acknowledgement", CUSTOMER)
    return h.take(make_message(sender=f"Dana <{CUSTOMER}>", to=str(ack["Reply-To"].addresses[0].addr_spec),
                               subject="Re: Printer offline", body=body, in_reply_to=ack["Message-ID"]))


def test_a_customers_reply_reopens_a_pending_ticket(h, ticket):
    agent_mail(h, "alice@example.test", "#pending\n\nCould you send a photo of the display?\n")
    assert show(h, ticket)["status"] == "pending"
    customer_reply(h, "Here it is.\n")
    t = show(h, ticket)
    assert t["status"] == "open" and t["events"][-1]["actor"] == CUSTOMER


@pytest.mark.parametrize("days, status", [(6, "open"), (8, "resolved")])
def test_a_reply_reopens_a_resolved_ticket_only_within_the_window(h, ticket, days, status):
    agent_mail(h, "alice@example.test", "#resolve replaced the fuser\n")
    h.desk.clock.advance(days=days)
    out = customer_reply(h)
    assert show(h, ticket)["status"] == status
    if status == "resolved":  # too late: a new ticket that follows the old one
        follow_up = show(h, out.ticket_id)
        assert out.ticket_id != ticket and out.new_ticket
        assert any(e["kind"] == "follow-up" and e["new"] == str(ticket) for e in follow_up["events"])
    else:
        assert out.ticket_id == ticket


def test_a_reply_to_a_closed_ticket_starts_a_follow_up_but_an_agents_stays(h, ticket):
    agent_mail(h, "alice@example.test", "#close\n")
    out = customer_reply(h)
    assert out.ticket_id != ticket and show(h, ticket)["status"] == "closed"
    address = _alert_address(h, ticket, "alice@example.test")
    note = h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x",
                               body="#note filed for the record\n"))
    assert note.ticket_id == ticket


def test_commands_count_only_with_dmarc_from_our_receiving_server_when_required(tmp_path):
    h = harness(tmp_path, tiers=TIERS, security={"require_dmarc": True, "authserv_id": "mx.example.test"})
    ticket_id = h.take(make_message(sender=f"Dana <{CUSTOMER}>")).ticket_id
    address, parent = reply_address(h, "alert", "alice@example.test")

    def send(results: str, body: str):
        h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x", body=body,
                            in_reply_to=parent, headers={"Authentication-Results": results}))

    send("mx.evil.example; dmarc=pass header.from=example.test", "#priority urgent\n")  # a foreign server
    assert show(h, ticket_id)["priority"] == "normal"
    send("mx.example.test; dmarc=pass header.from=example.test", "#priority high\n")
    assert show(h, ticket_id)["priority"] == "high"


def test_resolving_a_problem_resolves_its_incidents_and_tells_every_requester(h):
    problem = h.take(make_message(sender="Erin <erin@customer.example>", subject="VPN drops every hour")).ticket_id
    incidents = [h.take(make_message(sender=f"{who} <{who}@customer.example>", subject=f"VPN down ({who})")).ticket_id
                 for who in ("finn", "gail")]
    for incident in incidents:
        address = _alert_address(h, incident, "alice@example.test")
        h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x",
                            body=f"#link {problem}\n"))
    h.take(make_message(sender="Alice <alice@example.test>", to=_alert_address(h, problem, "alice@example.test"),
                        subject="Re: x", body="#resolve the VPN concentrator firmware was updated\n"))
    assert [show(h, t)["status"] for t in (problem, *incidents)] == ["resolved"] * 3
    told = sorted(r for (r,) in h.store.db.execute("SELECT recipient FROM outbox WHERE kind = 'resolution'"))
    assert told == ["erin@customer.example", "finn@customer.example", "gail@customer.example"]


def test_merge_moves_messages_and_people_and_closes_the_duplicate(h):
    first = h.take(make_message(sender=f"Dana <{CUSTOMER}>", subject="Printer offline")).ticket_id
    second = h.take(make_message(sender="Ed <ed@customer.example>", subject="Printer on 3rd floor offline")).ticket_id
    address = _alert_address(h, second, "alice@example.test")
    h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x", body=f"#merge {first}\n"))
    kept, gone = show(h, first), show(h, second)
    assert gone["status"] == "closed" and gone["messages"] == []
    assert {p["address"] for p in kept["participants"]} >= {CUSTOMER, "ed@customer.example"}
    assert len(kept["messages"]) == 3  # both requests and alice's command mail
    reply = h.take(make_message(sender="Ed <ed@customer.example>", subject="Re: Printer",
                                in_reply_to=f"<{gone_first_id(h, kept)}>"))
    assert reply.ticket_id == first  # replies to the merged ticket's mail thread into the one kept


def gone_first_id(h, kept):
    return next(m["message_id"] for m in kept["messages"] if m["sender"] == "ed@customer.example")


def _alert_address(h, ticket_id, agent):
    row = h.store.db.execute("SELECT data FROM outbox WHERE kind = 'alert' AND recipient = ? AND ticket_id = ?",
                             [agent, ticket_id]).fetchone()
    return str(message_from_bytes(bytes(row[0]), policy=policy.default)["Reply-To"].addresses[0].addr_spec)


def test_an_agents_token_for_a_merged_ticket_acts_on_the_ticket_it_went_into(h):
    first = h.take(make_message(sender=f"Dana <{CUSTOMER}>", subject="Printer offline")).ticket_id
    second = h.take(make_message(sender="Ed <ed@customer.example>", subject="Printer offline too")).ticket_id
    address = _alert_address(h, second, "alice@example.test")
    h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x", body=f"#merge {first}\n"))
    h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x", body="#priority urgent\n"))
    assert show(h, first)["priority"] == "urgent" and show(h, second)["priority"] == "normal"


def test_an_agent_opens_a_ticket_for_a_customer_from_their_personal_address(h):
    from maildesk.agents.authority import personal_address
    from maildesk.stage import Context

    mine = personal_address(Context(h.desk, h.store), "alice@example.test")
    out = h.take(make_message(sender="Alice <alice@example.test>", to=mine, subject="Your VPN access",
                              body="#requester dana@customer.example\n#priority high\n\n"
                                   "Hello Dana, as discussed on the phone: your access is ready.\n"))
    t = show(h, out.ticket_id)
    assert (t["requester"], t["priority"]) == (CUSTOMER, "high")
    (relay,) = outbox(h, "relay", CUSTOMER)
    assert "your access is ready" in text(relay) and outbox(h, "acknowledgement") == []
    bob = personal_address(Context(h.desk, h.store), "bob@example.test")
    other = h.take(make_message(sender="Alice <alice@example.test>", to=bob, subject="x",
                                body="#requester erin@customer.example\n"))  # alice using bob's address
    assert show(h, other.ticket_id)["requester"] == "alice@example.test"


def test_a_question_to_the_personal_address_is_a_request_settled_once(h):
    from maildesk.agents.authority import personal_address
    from maildesk.stage import Context

    mine = personal_address(Context(h.desk, h.store), "alice@example.test")
    ask = make_message(sender="Alice <alice@example.test>", to=mine, subject="queue?", body="#queue mine\n")
    out = h.take(ask)
    assert (out.status, out.ticket_id, h.ticket_count()) == ("answered", None, 0)
    assert h.store.requests.raw(out.request_id) == ask  # kept as it came
    assert len(outbox(h, "answer", "alice@example.test")) == 1
    again = h.take(ask, mailbox="other")  # the same mail from another mailbox: settled, not answered again
    assert (again.status, h.store.requests.count(), len(outbox(h, "answer"))) == ("duplicate", 1, 1)
    row = h.store.db.execute("SELECT outcome, request_id FROM receipts ORDER BY id LIMIT 1").fetchone()
    assert tuple(row) == ("answered", out.request_id)


def test_a_vendors_reply_stays_internal_and_reaches_the_owner(tmp_path):
    tiers = [*TIERS, {"name": "L4", "agents": ["support@vendor.example"], "vendor": True}]
    h = harness(tmp_path, tiers=tiers)
    ticket_id = h.take(make_message(sender=f"Dana <{CUSTOMER}>", subject="Firewall drops VPN")).ticket_id
    address = _alert_address(h, ticket_id, "alice@example.test")
    h.take(make_message(sender="Alice <alice@example.test>", to=address, subject="Re: x",
                        body="#take\n#escalate L4 firmware bug in the appliance\n"))
    assert (show(h, ticket_id)["tier"], show(h, ticket_id)["assignee"]) == ("L4", "alice@example.test")
    (handover,) = outbox(h, "escalation", "support@vendor.example")
    vendor_address = str(handover["Reply-To"].addresses[0].addr_spec)
    h.take(make_message(sender="Vendor Support <support@vendor.example>", to=vendor_address, subject="Re: x",
                        body="#resolve\n\nPlease apply hotfix 7.2.1; internal build only.\n"))
    t = show(h, ticket_id)
    assert t["status"] == "open" and t["events"][-1]["kind"] == "vendor-reply"  # a vendor never commands
    (forward,) = outbox(h, "forward", "alice@example.test")
    assert "hotfix 7.2.1" in text(forward)
    assert not [m for m in outbox(h, to=CUSTOMER) if "hotfix" in m.as_string()]


def test_every_change_is_an_event_with_actor_and_old_and_new_values(h, ticket):
    agent_mail(h, "alice@example.test", "#take\n#tag +printer +floor3\n#cc +ed@customer.example\n#hold VND-4711\n")
    events = {e["kind"]: e for e in show(h, ticket)["events"] if e["actor"] == "alice@example.test"}
    assert (events["assignee"]["old"], events["assignee"]["new"]) == (None, "alice@example.test")
    assert events["tags"]["new"] == "floor3 printer" and "ed@customer.example" in events["cc"]["new"].split()
    assert events["status"]["new"] == "on_hold" and events["vendor-reference"]["new"] == "VND-4711"


def test_a_rating_after_the_resolution_is_recorded_and_does_not_reopen(h, ticket):
    agent_mail(h, "alice@example.test", "#resolve replaced the fuser\n")
    customer_reply(h, "4 - quick, but I had to ask twice\n")
    customer_reply(h, "5\n")  # a later rating replaces the first
    t = show(h, ticket)
    assert t["status"] == "resolved"
    rows = h.store.db.execute("SELECT score, comment FROM csat WHERE ticket_id = ?", [ticket]).fetchall()
    assert rows == [(5, "")]
    h.desk.clock.advance(days=30)
    late = customer_reply(h, "3 stars\n")  # long after the window: still a rating, no follow-up ticket
    assert late.ticket_id == ticket and h.store.db.execute("SELECT score FROM csat").fetchone()[0] == 3
    customer_reply(h, "2 printers are broken again\n")  # words, not a rating: a follow-up ticket
    assert h.ticket_count() == 2
