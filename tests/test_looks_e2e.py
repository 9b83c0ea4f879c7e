"""Agents ask the desk by mail: #queue, #show and #file answer in the receipt, only about tickets they may see."""

from __future__ import annotations

import pytest

from mailfactory import make_message
from test_agents_e2e import ALICE, BOB, CAROL, answer, make_e2e, reply_to, text  # noqa: F401  (fixture)
from test_attachments_e2e import PDF, customer_mail, files_of

pytestmark = pytest.mark.imap

MALLORY = "mallory@evil.example"


@pytest.fixture
def e2e(make_e2e):  # noqa: F811
    return make_e2e()


def receipt_after(e2e, agent: str, raw: bytes):
    before = len(e2e.got(agent, "receipt"))
    e2e.send(raw)
    receipts = e2e.got(agent, "receipt")
    assert len(receipts) == before + 1
    return receipts[-1]


def test_queue_lists_the_open_tickets_with_a_reply_address_each(e2e):
    first = e2e.customer_writes(subject="Printer offline")
    second = e2e.customer_writes(subject="VPN drops every hour")
    alert = e2e.got(ALICE, "alert", ticket=first)[0]
    words = text(receipt_after(e2e, ALICE, answer(alert, ALICE, "#queue\n")))
    assert words.index(f"#{first} ") < words.index(f"#{second} ")  # oldest first
    assert "Printer offline" in words and "VPN drops every hour" in words and "owner nobody" in words
    assert f"support+{second}-" in words  # a reply address for each ticket
    e2e.send(answer(alert, ALICE, "#take\n"))
    mine = text(receipt_after(e2e, ALICE, answer(alert, ALICE, "#queue mine\n")))
    assert f"#{first} " in mine and f"#{second} " not in mine


def test_show_gives_the_history_and_its_files_and_file_gives_one(e2e):
    e2e.send(customer_mail())
    (alert,) = e2e.got(ALICE, "alert")
    ticket = int(alert["X-Maildesk-Ticket"])
    e2e.send(answer(alert, ALICE, "#note checked the spooler, nothing there\n"))
    shown = receipt_after(e2e, BOB, answer(e2e.got(BOB, "alert")[0], BOB, f"#show {ticket}\n"))
    words = text(shown)
    assert "The printer crashes" in words and "internal note by alice@example.test" in words
    assert "checked the spooler" in words and "crash-report.pdf" in words
    assert files_of(shown)["crash-report.pdf"] == PDF  # asked for: sent even though Bob had it already
    got = receipt_after(e2e, BOB, answer(e2e.got(BOB, "alert")[0], BOB, f"#file {ticket} crash-report.pdf\n"))
    assert files_of(got) == {"crash-report.pdf": PDF}


def test_a_ticket_outside_ones_tiers_gives_nothing_but_a_security_event(e2e):
    first = e2e.customer_writes(subject="Printer offline")
    secret = e2e.customer_writes(subject="Payroll export fails")
    e2e.send(answer(e2e.got(ALICE, "alert", ticket=secret)[0], ALICE, "#escalate L2 needs payroll access\n"))
    assert e2e.state(secret)[1] == "L2"
    words = text(receipt_after(e2e, BOB, answer(e2e.got(BOB, "alert", ticket=first)[0], BOB, f"#show {secret}\n")))
    assert f"there is no ticket #{secret} you may see" in words and "Payroll" not in words
    assert e2e.security_events(secret) == 1
    ok = text(receipt_after(e2e, CAROL, answer(e2e.got(CAROL, "escalation")[0], CAROL, f"#show {secret}\n")))
    assert "Payroll export fails" in ok


def test_a_strangers_show_gets_nothing(e2e):
    ticket = e2e.customer_writes(subject="Payroll export fails")
    alert = e2e.got(ALICE, "alert", ticket=ticket)[0]
    e2e.send(make_message(sender=f"Mallory <{MALLORY}>", to=reply_to(alert), subject="Re: x",
                          body=f"#show {ticket}\n#queue\n"))
    assert e2e.got(MALLORY) == []
    assert e2e.security_events(ticket) >= 1
