"""Agents by email end to end: mail in by IMAP APPEND to Dovecot, every notice out at an aiosmtpd server."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from desktools import dovecot_mailbox, make_desk, smtp_outbound
from imapserver import DovecotServer
from mailfactory import make_message, message_id_of
from maildesk.daemon import run_once
from maildesk.desk import Desk
from maildesk.store import views
from smtpserver import SmtpTestServer

pytestmark = pytest.mark.imap

DESK = "support@example.test"
ALICE, BOB, CAROL, DAVE = (f"{n}@example.test" for n in ("alice", "bob", "carol", "dave"))
NAMES = {ALICE: "Alice Martin", BOB: "Bob Stone", CAROL: "Carol Vance", DAVE: "Dave Okoro"}
TIERS = [{"name": "L1", "agents": [ALICE, BOB]}, {"name": "L2", "agents": [CAROL]}, {"name": "L3", "agents": [DAVE]}]
DANA = "dana@customer.example"


@dataclass
class E2E:
    desk: Desk
    imap: DovecotServer
    smtp: SmtpTestServer

    def send(self, raw: bytes) -> None:
        """Append one message to the INBOX and let the desk take it in and send what it causes."""
        self.imap.append_many("INBOX", [raw])
        assert run_once(self.desk) == 0

    def got(self, to: str, kind: str | None = None, ticket: int | None = None) -> list[EmailMessage]:
        """What the SMTP server accepted for ``to``, oldest first; ``kind`` as the desk's outbox names it."""
        kinds = {f"<{e.message_id}>": e.kind for e in self.query(lambda s: s.outbox.list())}
        msgs = [message_from_bytes(r.content, policy=policy.default) for r in self.smtp.received if to in r.rcpt_tos]
        return [m for m in msgs if kind in (None, kinds[m["Message-ID"]])
                and (ticket is None or m["X-Maildesk-Ticket"] == str(ticket))]

    def query(self, fn):
        store = self.desk.open_store()
        try:
            return fn(store)
        finally:
            store.close()

    def show(self, ticket_id: int) -> dict:
        return self.query(lambda s: views.show_ticket(s.db, ticket_id))

    def state(self, ticket_id: int) -> tuple:
        t = self.show(ticket_id)
        return t["status"], t["tier"], t["assignee"], t["priority"]

    def security_events(self, ticket_id: int) -> int:
        return sum(e["kind"] == "security" for e in self.show(ticket_id)["events"])

    def customer_writes(self, who: str = DANA, subject: str = "Printer offline", body: str = "") -> int:
        raw = make_message(sender=f"{who.split('@')[0].title()} <{who}>", subject=subject,
                           body=body or f"Hello,\n\n{subject} since this morning.\n")
        before = {t["id"] for t in self.query(lambda s: views.list_tickets(s.db))}
        self.send(raw)
        (new,) = {t["id"] for t in self.query(lambda s: views.list_tickets(s.db))} - before
        return new


@pytest.fixture
def make_e2e(tmp_path, dovecot, make_smtp_server):
    def make(notify: dict | None = None, **desk_options) -> E2E:
        smtp = make_smtp_server()
        desk = make_desk(
            tmp_path, tiers=TIERS, notify={"enabled": True, **(notify or {})}, **desk_options,
            mailboxes=[dovecot_mailbox(tmp_path, dovecot)],
            outbound=smtp_outbound(smtp))
        return E2E(desk, dovecot, smtp)
    return make


@pytest.fixture
def e2e(make_e2e) -> E2E:
    return make_e2e()


def reply_to(msg: EmailMessage) -> str:
    (address,) = msg["Reply-To"].addresses
    return address.addr_spec


def text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def answer(msg: EmailMessage, sender: str, body: str, *, to: str | None = None, on_top: str = "",
           **kw) -> bytes:
    """A reply the way a mail client writes it: to the Reply-To, threaded, "Re: "; ``on_top`` header lines first."""
    refs = " ".join([*(msg["References"] or "").split(), msg["Message-ID"]])
    raw = make_message(sender=f"{NAMES.get(sender, 'Someone')} <{sender}>", to=to or reply_to(msg),
                       subject=f"Re: {msg['Subject']}", in_reply_to=msg["Message-ID"], references=refs,
                       body=body, **kw)
    return on_top.encode() + raw


def test_a_ticket_goes_up_three_tiers_and_a_customers_reply_reopens_it(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="Printer offline",
                         body="Hello,\n\nthe printer shows QUOKKA-4412 and prints nothing.\n")
    e2e.send(first)
    (ticket,) = {int(m["X-Maildesk-Ticket"]) for m in e2e.got(DANA)}
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#take\n\nHi Dana, which printer model is it?\n"))
    assert e2e.state(ticket) == ("open", "L1", ALICE, "normal")
    (relay,) = e2e.got(DANA, "relay")
    assert relay["From"].addresses[0].addr_spec == DESK and relay["Auto-Submitted"] is None
    assert "which printer model" in text(relay) and "Alice Martin" in text(relay)
    assert ALICE not in relay.as_string()
    assert message_id_of(first) in relay["References"].split()

    (receipt,) = e2e.got(ALICE, "receipt")  # alice answers her receipt: it carries her reply address too
    e2e.send(answer(receipt, ALICE, "#escalate L2 paper path sensor reports a jam that is not there\n"
                                    "tried: cleaned the rollers, power cycle, new firmware\n"))
    assert e2e.state(ticket) == ("open", "L2", None, "normal")
    (handover,) = e2e.got(CAROL, "escalation")
    for words in ("paper path sensor", "cleaned the rollers", "QUOKKA-4412", "which printer model"):
        assert words in text(handover)
    (status,) = e2e.got(DANA, "status")
    assert "specialists" in text(status)
    assert not {"sensor", "rollers", "firmware"} & set(text(status).split()) and "sensor" not in status["Subject"]

    e2e.send(answer(handover, CAROL, "#escalate L3 sensor board fault, needs the vendor kit\ntried: recalibration\n"))
    assert e2e.state(ticket) == ("open", "L3", None, "normal")
    (handover3,) = e2e.got(DAVE, "escalation")
    assert "sensor board fault" in text(handover3) and "recalibration" in text(handover3)
    assert len(e2e.got(CAROL, "escalation")) == 1  # carol escalated it, she is not told twice

    e2e.send(answer(handover3, DAVE, "#resolve replaced the paper path sensor board\n"))
    assert e2e.state(ticket)[0] == "resolved"
    (resolution,) = e2e.got(DANA, "resolution")
    assert "replaced the paper path sensor board" in text(resolution)

    e2e.desk.clock.advance(days=3)
    e2e.send(answer(resolution, DANA, "It jams again since this morning.\n"))
    t = e2e.show(ticket)
    assert t["status"] == "open" and t["events"][-1]["actor"] == DANA
    assert [len(e2e.got(a, "receipt")) for a in (ALICE, BOB, CAROL, DAVE)] == [2, 0, 1, 1]


def test_customer_notices_answer_mail_the_customer_has_never_an_agents_internal_mail(e2e):
    first = make_message(sender=f"Dana <{DANA}>", subject="Printer offline")
    e2e.send(first)
    (alert,) = e2e.got(ALICE, "alert")
    agent_mails = [answer(alert, ALICE, "#take\n\nHi Dana, which printer model is it?\n"),
                   answer(alert, ALICE, "#resolve replaced the fuser\n")]
    for raw in agent_mails:
        e2e.send(raw)
    internal = {message_id_of(raw) for raw in agent_mails}
    seen = {message_id_of(first)} | {m["Message-ID"] for m in e2e.got(DANA)}
    for notice in e2e.got(DANA, "relay") + e2e.got(DANA, "resolution"):
        assert notice["In-Reply-To"] in seen
        assert not internal & set(notice["References"].split())


def test_resolving_a_problem_resolves_its_incidents_and_tells_every_requester(e2e):
    people = ("erin@customer.example", "finn@customer.example", "gail@customer.example")
    problem, *incidents = [e2e.customer_writes(p, "VPN drops every hour") for p in people]
    assert len({problem, *incidents}) == 3
    for incident in incidents:
        (alert,) = e2e.got(ALICE, "alert", incident)
        e2e.send(answer(alert, ALICE, f"#link {problem}\n"))
        assert any(e["kind"] == "linked" for e in e2e.show(incident)["events"])
    (alert,) = e2e.got(ALICE, "alert", problem)
    e2e.send(answer(alert, ALICE, "#resolve the VPN concentrator firmware was updated\n"))
    assert [e2e.state(t)[0] for t in (problem, *incidents)] == ["resolved"] * 3
    for person, ticket in zip(people, (problem, *incidents)):
        (resolution,) = e2e.got(person, "resolution")
        assert int(resolution["X-Maildesk-Ticket"]) == ticket
        assert "firmware was updated" in text(resolution)
    assert len(e2e.got(ALICE, "receipt")) == 3


ATTACK = "#priority low\n#resolve done\n\nDear Dana, all fixed.\n"


@pytest.mark.parametrize("attack", ["spoofed-from", "other-agents-token", "forwarded-alert"])
def test_commands_without_the_right_token_and_sender_change_nothing(e2e, attack):
    ticket = e2e.customer_writes(body="QUOKKA-4412 on the display.\n")
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#take\n#priority high\n"))
    before, told, sent = e2e.state(ticket), len(e2e.got(DANA)), len(e2e.smtp.received)
    assert before == ("open", "L1", ALICE, "high")
    if attack == "spoofed-from":  # alice in From, to the plain desk address, threaded by References
        first = e2e.show(ticket)["messages"][0]["message_id"]
        e2e.send(make_message(sender=f"Alice Martin <{ALICE}>", subject="Re: Printer offline",
                              references=f"<{first}>", body=ATTACK))
        why_to = ALICE
    elif attack == "other-agents-token":  # bob, a real agent, writes to alice's reply address
        e2e.send(answer(alert, BOB, ATTACK))
        why_to = BOB
    else:  # the alert, forwarded, answered by a third party
        e2e.send(answer(alert, "mallory@evil.example", ATTACK))
        why_to = None
    assert e2e.state(ticket) == before
    # the ignored commands, and (for a third party) a stranger's mail on the ticket
    assert e2e.security_events(ticket) == (2 if why_to is None else 1)
    assert len(e2e.got(DANA)) == told
    assert len(e2e.show(ticket)["messages"]) == 3  # kept on the ticket, as a customer's message
    new = [message_from_bytes(r.content, policy=policy.default) for r in e2e.smtp.received[sent:]]
    if why_to is None:
        assert new == []
    else:  # the agent named in From learns, at their own address, why nothing happened
        (receipt,) = new
        assert receipt["To"].addresses[0].addr_spec == why_to and "not applied" in text(receipt)


def test_a_token_for_ticket_a_does_nothing_on_ticket_b(e2e):
    a = e2e.customer_writes(DANA, "Printer offline")
    b = e2e.customer_writes("erin@customer.example", "Scanner offline")
    before_b, told = e2e.state(b), len(e2e.smtp.received)
    (alert_a,) = e2e.got(ALICE, "alert", a)
    (alert_b,) = e2e.got(ALICE, "alert", b)
    # threaded and tagged as ticket B in every way but the reply address, which is ticket A's
    e2e.send(answer(alert_b, ALICE, "#priority urgent\n", to=reply_to(alert_a)))
    assert e2e.state(b) == before_b
    assert e2e.state(a) == ("new", "L1", None, "urgent")
    (receipt,) = [message_from_bytes(r.content, policy=policy.default) for r in e2e.smtp.received[told:]]
    assert int(receipt["X-Maildesk-Ticket"]) == a and receipt["To"].addresses[0].addr_spec == ALICE


SIG = "dGhlLXNpZ25hdHVyZS1vZi1hbGljZXMtbWFpbA=="
DKIM = "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=sel;{l} h=from:to; bh=Ym9keWhhc2g=; b=" + SIG + "\n"


def test_commands_count_only_when_our_receiving_server_authenticated_the_agent(make_e2e):
    e2e = make_e2e(security={"require_dmarc": True, "authserv_id": "mx.example.test"})
    ticket = e2e.customer_writes()
    (alert,) = e2e.got(ALICE, "alert")
    before = e2e.state(ticket)
    dkim_ar = f"Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.b={SIG[:12]}\n"
    refused = [
        "Authentication-Results: mx.evil.example; dmarc=pass header.from=example.test\n",  # a foreign server
        dkim_ar + DKIM.format(l=" l=120;"),  # signs only the first 120 bytes of the body
    ]
    for n, on_top in enumerate(refused, 1):
        e2e.send(answer(alert, ALICE, "#priority urgent\n\nDear Dana, on it.\n", on_top=on_top))
        assert e2e.state(ticket) == before and e2e.security_events(ticket) == n
        assert len(e2e.got(DANA)) == 1  # the acknowledgement only
    e2e.send(answer(alert, ALICE, "#priority urgent\n\nDear Dana, on it.\n", on_top=dkim_ar + DKIM.format(l="")))
    assert e2e.state(ticket) == before[:3] + ("urgent",) and e2e.security_events(ticket) == 2
    assert "on it" in text(e2e.got(DANA, "relay")[0])


def test_a_failed_command_applies_nothing_and_sends_the_customer_nothing(e2e):
    ticket = e2e.customer_writes()
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#take\n#reopen\n\nDear customer, fixed!\n"))
    assert e2e.state(ticket) == ("new", "L1", None, "normal")
    assert [m["Subject"] for m in e2e.got(DANA)] == [m["Subject"] for m in e2e.got(DANA, "acknowledgement")]
    (receipt,) = e2e.got(ALICE, "receipt")
    body = text(receipt)
    assert "cannot reopen" in body and "nothing was applied" in body and "fixed!" not in body
    assert "Done:" not in body and "1 failed" in receipt["Subject"]
