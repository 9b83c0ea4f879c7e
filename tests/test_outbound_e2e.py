"""End to end over a real Dovecot (intake) and aiosmtpd (outbound): what maildesk sends, and what it never answers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from desktools import dovecot_mailbox, make_desk, smtp_outbound
from imapserver import DovecotServer
from mailfactory import make_message, message_id_of
from maildesk.daemon import run_once
from maildesk.desk import Desk
from maildesk.notify.steps import agent_role
from maildesk.store import views
from maildesk.tokens import verify_token
from smtpserver import SmtpTestServer

pytestmark = pytest.mark.imap

FIXTURES = Path(__file__).parent / "fixtures" / "outbound"
DESK = "support@example.test"
CUSTOMER = "carol@customer.example"
AGENTS = ("alice@example.test", "bob@example.test")
TIERS = [{"name": "L1", "agents": list(AGENTS)}, {"name": "L2", "agents": ["carol@example.test"]}]
NOTICE_HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "reply-to",
                  "auto-submitted", "x-auto-response-suppress", "x-maildesk-loop", "x-maildesk-ticket", "mime-version", "content-type",
                  "content-transfer-encoding"}


@dataclass
class E2E:
    desk: Desk
    imap: DovecotServer
    smtp: SmtpTestServer

    def send(self, *raws: bytes) -> None:
        self.imap.append_many("INBOX", list(raws))

    def run(self) -> None:
        assert run_once(self.desk) == 0

    def received(self, to: str | None = None) -> list[tuple[tuple[str, ...], EmailMessage]]:
        """(envelope recipients, parsed message) of everything the SMTP server accepted, optionally for one address."""
        got = [(r.rcpt_tos, message_from_bytes(r.content, policy=policy.default)) for r in self.smtp.received]
        return [(rcpt, msg) for rcpt, msg in got if to is None or to in rcpt]

    def query(self, fn):
        store = self.desk.open_store()
        try:
            return fn(store)
        finally:
            store.close()

    def tickets(self) -> list[dict]:
        return self.query(lambda s: views.list_tickets(s.db))

    def thread(self, ticket_id: int) -> list[dict]:
        return self.query(lambda s: views.show_ticket(s.db, ticket_id))["messages"]

    def outbox(self) -> list:
        return self.query(lambda s: s.outbox.list())

    def quarantine(self) -> list:
        return self.query(lambda s: s.quarantine.list())


@pytest.fixture
def make_e2e(tmp_path, dovecot, make_smtp_server):
    def make(*, daily_auto_limit: int = 20, **smtp_options) -> E2E:
        smtp = make_smtp_server(**smtp_options)
        desk = make_desk(
            tmp_path, tiers=TIERS, notify={"enabled": True},
            mailboxes=[dovecot_mailbox(tmp_path, dovecot)],
            outbound=smtp_outbound(smtp, daily_auto_limit=daily_auto_limit))
        return E2E(desk, dovecot, smtp)
    return make


@pytest.fixture
def e2e(make_e2e) -> E2E:
    return make_e2e()


def token_of(address: str) -> str:
    local = address.partition("@")[0]
    assert "+" in local, address
    return local.split("+", 1)[1]


def reply_to(msg: EmailMessage) -> str:
    (address,) = msg["Reply-To"].addresses
    return address.addr_spec


def texts(msg: EmailMessage) -> str:
    return "\n".join(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")


def header_block(msg: EmailMessage) -> str:
    return "".join(f"{k}: {v}\n" for k, v in msg.items())


def test_new_ticket_gets_a_threaded_contentless_acknowledgement(e2e):
    first = make_message(subject="Invoice ZEBRA-7731 is wrong", body="QUOKKA-BODY-4412 please check\n")
    e2e.send(first)
    e2e.run()
    (ticket,) = e2e.tickets()
    (envelope,) = [r for r in e2e.smtp.received if CUSTOMER in r.rcpt_tos]
    assert envelope.rcpt_tos == (CUSTOMER,) and envelope.mail_from == DESK
    ack = message_from_bytes(envelope.content, policy=policy.default)
    assert ack["Message-ID"].startswith("<") and ack["Message-ID"].endswith("@example.test>")
    assert ack["In-Reply-To"] == message_id_of(first)
    assert message_id_of(first) in ack["References"].split()
    assert f"[#{ticket['id']}]" in ack["Subject"]
    assert reply_to(ack).endswith("@example.test") and reply_to(ack) != DESK
    claim = verify_token(e2e.desk.secret, token_of(reply_to(ack)))
    assert claim is not None and claim.ticket_id == ticket["id"] and claim.role == "c"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Maildesk-Loop"] == e2e.desk.loop_id
    shown = header_block(ack) + texts(ack)
    assert "ZEBRA" not in shown and "QUOKKA" not in shown


def test_replies_to_the_acknowledgement_join_the_ticket_and_get_no_second_one(e2e):
    first = make_message()
    e2e.send(first)
    e2e.run()
    (_, ack), = e2e.received(CUSTOMER)
    ticket_id = e2e.tickets()[0]["id"]
    e2e.send(make_message(subject="Re: " + str(ack["Subject"]), to=reply_to(ack), in_reply_to=ack["Message-ID"],
                          references=f"{message_id_of(first)} {ack['Message-ID']}", body="It is jammed again.\n"))
    e2e.run()
    e2e.send(make_message(subject="one more thing about the printer", references=ack["Message-ID"],
                          body="The toner is empty too.\n"))
    e2e.run()
    assert [t["id"] for t in e2e.tickets()] == [ticket_id]
    assert [m["thread_reason"] for m in e2e.thread(ticket_id)] == ["new", "token", "references"]
    assert len(e2e.received(CUSTOMER)) == 1
    assert [e.kind for e in e2e.outbox()].count("acknowledgement") == 1


def test_each_l1_agent_gets_an_alert_with_a_reply_address_of_their_own(e2e):
    e2e.send(make_message())
    e2e.run()
    ticket_id = e2e.tickets()[0]["id"]
    alerts = sorted(((r, m) for r, m in e2e.received() if r != (CUSTOMER,)), key=lambda item: item[0])
    assert [rcpt for rcpt, _ in alerts] == [(a,) for a in AGENTS]  # one each; nothing for carol@example.test (L2)
    tokens = {}
    for (agent,), msg in alerts:
        assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Maildesk-Loop"] == e2e.desk.loop_id
        assert msg["To"].addresses[0].addr_spec == agent
        claim = verify_token(e2e.desk.secret, token_of(reply_to(msg)))
        assert claim is not None and claim.ticket_id == ticket_id and claim.role == agent_role(agent)
        tokens[agent] = reply_to(msg)
    (_, ack), = e2e.received(CUSTOMER)
    assert len({*tokens.values(), reply_to(ack)}) == 3


@pytest.mark.parametrize("name", ["outlook-oof", "gmail-vacation", "mailing-list", "newsletter", "dsn-5.1.1"])
def test_machines_get_no_acknowledgement(e2e, name):
    machine = (FIXTURES / f"{name}.eml").read_bytes()
    e2e.send(machine, make_message())  # a person in the same batch: the desk does answer people
    e2e.run()
    machine_from = message_from_bytes(machine, policy=policy.default)["From"].addresses[0].addr_spec
    assert e2e.received(machine_from) == []
    assert [(e.kind, e.recipient) for e in e2e.outbox() if e.kind == "acknowledgement"] == [
        ("acknowledgement", CUSTOMER)]
    assert len(e2e.received(CUSTOMER)) == 1
    stored = sum(len(e2e.thread(t["id"])) for t in e2e.tickets())
    assert stored + len(e2e.quarantine()) == 2  # nothing lost


def test_our_own_mail_coming_back_is_quarantined_as_a_loop_and_never_answered(e2e):
    e2e.send(make_message())
    e2e.run()
    (received,) = [r for r in e2e.smtp.received if r.rcpt_tos == (CUSTOMER,)]
    relayed = message_from_bytes(received.content, policy=policy.default)  # an autoforward keeping our header
    for name in ("From", "To", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Reply-To"):
        del relayed[name]
    relayed["From"] = "Carol Customer <carol@customer.example>"
    relayed["To"] = DESK
    relayed["Message-ID"] = "<fwd.20261102@customer.example>"
    e2e.send(received.content, relayed.as_bytes())
    before = len(e2e.smtp.received)
    e2e.run()
    assert len(e2e.smtp.received) == before
    assert sorted(q.kind for q in e2e.quarantine()) == ["loop", "loop"]
    assert len(e2e.tickets()) == 1


def responder_mail(n: int) -> bytes:
    """A fresh message from a broken auto-responder: no Auto-Submitted, no threading, looks human."""
    return make_message(sender="Partner Service Desk <service@partner.example>",
                        subject=f"Thank you for your message (ref PX-{1000 + n})",
                        body=f"Hello,\n\nwe have logged your message as PX-{1000 + n}. Our team will be in touch.\n\n"
                             "Regards,\nPartner Service Desk\n")


def test_ping_pong_with_a_broken_autoresponder_stops_at_the_daily_limit(make_e2e):
    e2e = make_e2e(daily_auto_limit=5)
    bot = "service@partner.example"
    sent, answered = 1, 0
    e2e.send(responder_mail(0))
    for rounds in range(1, 15):
        e2e.run()
        acks = e2e.received(bot)
        if len(acks) == answered:
            break
        for _ in acks[answered:]:
            e2e.send(responder_mail(sent))
            sent += 1
        answered = len(acks)
    else:
        pytest.fail("the ping-pong did not stop by itself")
    assert answered == 5 and rounds <= 7
    assert sent == 6 and len(e2e.tickets()) == 6  # every message kept, even the unanswered one
    assert all(rcpt == (bot,) for rcpt, _ in acks)
    e2e.desk.clock.advance(days=1, minutes=1)
    e2e.send(responder_mail(sent))
    e2e.run()
    assert len(e2e.received(bot)) == 6


def test_notices_wait_while_smtp_is_down_and_go_out_exactly_once(e2e):
    e2e.smtp.stop()
    e2e.send(make_message(), make_message(sender="Dana <dana@customer.example>", subject="VPN down"))
    e2e.run()
    assert len(e2e.tickets()) == 2
    waiting = e2e.outbox()
    assert len(waiting) == 6 and {e.status for e in waiting} == {"queued"}
    assert all(e.last_error and e.attempts == 1 for e in waiting)
    e2e.run()  # not due yet
    assert {e.attempts for e in e2e.outbox()} == {1}
    e2e.smtp.start()
    e2e.desk.clock.advance(minutes=1, seconds=1)
    e2e.run()
    for _ in range(3):  # nothing goes twice
        e2e.desk.clock.advance(hours=5)
        e2e.run()
    assert {e.status for e in e2e.outbox()} == {"sent"}
    ids = [msg["Message-ID"] for _, msg in e2e.received()]
    assert sorted(ids) == sorted(f"<{e.message_id}>" for e in waiting)


def test_a_4xx_is_retried_with_the_same_message_id(make_e2e):
    e2e = make_e2e(fail_data=1)
    e2e.send(make_message())
    e2e.run()
    (postponed,) = [e for e in e2e.outbox() if e.status != "sent"]
    assert postponed.status == "queued" and postponed.attempts == 1 and "451" in postponed.last_error
    assert len(e2e.received()) == 2
    e2e.desk.clock.advance(minutes=1, seconds=1)
    e2e.run()
    e2e.desk.clock.advance(hours=1)
    e2e.run()
    retried = next(e for e in e2e.outbox() if e.id == postponed.id)
    assert retried.status == "sent" and retried.attempts == 2 and retried.message_id == postponed.message_id
    ids = [msg["Message-ID"] for _, msg in e2e.received()]
    assert len(ids) == 3 and ids.count(f"<{postponed.message_id}>") == 1


def test_a_5xx_fails_with_the_reason_and_is_never_retried(make_e2e):
    dana = "dana@customer.example"
    e2e = make_e2e(reject_rcpt={dana: "550 5.1.1 no such user"})
    e2e.send(make_message(sender=f"Dana <{dana}>"))
    e2e.run()
    for _ in range(3):
        e2e.desk.clock.advance(days=1)
        e2e.run()
    (failed,) = [e for e in e2e.outbox() if e.recipient == dana]
    assert failed.status == "failed" and failed.attempts == 1
    assert "550" in failed.last_error and "5.1.1" in failed.last_error
    assert e2e.received(dana) == [] and len(e2e.received()) == 2  # the alerts went out


def b64word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


INJECTED = "\r\nBcc: victim@evil.example\r\nX-Injected: yes"
TEMPLATE = "{{7*7}} {% raw %}{{ desk }}{% endraw %} {{ config.__class__ }}"


@pytest.mark.parametrize("sender,subject,acked", [
    # a display name that decodes to CR/LF is dropped; the address stays, so Eve is still answered
    (f"{b64word('Eve' + INJECTED)} <eve@customer.example>", "Refund please", True),
    ("Eve <eve@customer.example>", "Refund =?utf-8?q?now=0D=0ABcc:_victim@evil.example=0D=0AX-Injected:_yes?=", True),
    ("Eve <eve@customer.example>", b64word("Refund" + INJECTED + "\r\n\r\nbody"), True),
    ("Eve <eve@customer.example>", "Refund\r\n Bcc: victim@evil.example", True),  # a folded line is no header
    ('"{{7*7}}" <eve@customer.example>', TEMPLATE, True),
])
def test_injected_headers_and_template_syntax_go_out_inert(e2e, sender, subject, acked):
    e2e.send(f"From: {sender}\r\nTo: {DESK}\r\nSubject: {subject}\r\nDate: Mon, 02 Nov 2026 09:30:00 +0000\r\n"
             "Message-ID: <inject.1@customer.example>\r\nMIME-Version: 1.0\r\n"
             f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello {TEMPLATE}\r\n".encode())
    e2e.run()
    received = e2e.received()
    assert sorted(rcpt for rcpt, _ in received) == [(a,) for a in AGENTS] + [("eve@customer.example",)] * acked
    for raw in e2e.smtp.received:
        head = raw.content.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in head and b"\r\nX-Injected:" not in head
    for _, msg in received:
        assert {name.lower() for name in msg.keys()} <= NOTICE_HEADERS
        assert "victim@evil.example" not in {a.addr_spec for h in ("To", "Reply-To") for a in msg[h].addresses}
    for (agent,), msg in received:
        if agent in AGENTS and "{{" in subject:
            assert "{{7*7}}" in msg["Subject"] and "49" not in msg["Subject"]
            assert TEMPLATE in msg["Subject"]
            assert "{{7*7}}" in texts(msg) and f"Hello {TEMPLATE}" in texts(msg)
