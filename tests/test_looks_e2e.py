"""Agents ask the desk by mail: #queue, #show and #file answer in the receipt, only about tickets they may see."""

from __future__ import annotations

import pytest

from mailfactory import make_message, message_id_of
from maildesk.store import views
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


def personal_address_from_help(e2e, agent: str) -> str:
    """The way an agent learns it: ``#help`` on any ticket names their personal desk address."""
    ticket = e2e.customer_writes(subject="Which address is mine?")
    words = text(receipt_after(e2e, agent, answer(e2e.got(agent, "alert", ticket=ticket)[0], agent, "#help\n")))
    return next(w for w in words.split() if w.startswith("support+0-"))


def tickets_and_requests(e2e) -> tuple[int, int]:
    return e2e.query(lambda s: (len(views.list_tickets(s.db)), s.requests.count()))


def test_questions_to_the_personal_address_are_answered_and_open_no_ticket(e2e):
    mine = personal_address_from_help(e2e, ALICE)
    e2e.send(customer_mail())
    ticket = int(e2e.got(ALICE, "alert")[-1]["X-Maildesk-Ticket"])
    before = tickets_and_requests(e2e)
    ask = make_message(sender=f"Alice Martin <{ALICE}>", to=mine, subject="my queue", body="#queue\n")
    e2e.send(ask)
    (got,) = e2e.got(ALICE, "answer")
    assert tickets_and_requests(e2e) == (before[0], before[1] + 1)  # kept as a request, no ticket
    assert "Invoice printer crash" in text(got) and f"#{ticket} " in text(got)
    assert got["X-Maildesk-Ticket"] is None and reply_to(got) == mine  # answering it asks again
    assert got["In-Reply-To"] == message_id_of(ask) and got["Auto-Submitted"] == "auto-generated"
    e2e.send(answer(got, ALICE, f"#show {ticket}\n#file {ticket} crash-report.pdf\n"))
    second = e2e.got(ALICE, "answer")[-1]
    assert "internal note" not in text(second) and "The printer crashes" in text(second)
    assert set(files_of(second)) == {"screen.png", "crash-report.pdf"}  # #show's files and #file's, once
    assert files_of(second)["crash-report.pdf"] == PDF
    e2e.send(ask)  # the same message again (another copy, a retry): not answered twice
    assert len(e2e.got(ALICE, "answer")) == 2 and tickets_and_requests(e2e)[1] == before[1] + 2


def test_a_bad_question_at_the_personal_address_says_which_line(e2e):
    mine = personal_address_from_help(e2e, ALICE)
    e2e.send(make_message(sender=f"Alice Martin <{ALICE}>", to=mine, subject="x", body="#queue\n#show twelve\n"))
    (got,) = e2e.got(ALICE, "answer")
    assert "line 2" in text(got) and "nothing was answered" in text(got) and "Open tickets" not in text(got)


def test_a_stranger_at_a_personal_address_gets_nothing_and_opens_no_ticket(e2e):
    mine = personal_address_from_help(e2e, ALICE)
    secret = e2e.customer_writes(subject="Payroll export fails")
    tickets, requests = tickets_and_requests(e2e)
    e2e.send(make_message(sender=f"Alice Martin <{MALLORY}>", to=mine, subject="x",
                          body=f"#show {secret}\n#queue\n"))
    assert e2e.got(MALLORY) == [] and e2e.got(ALICE, "answer") == []
    assert tickets_and_requests(e2e) == (tickets, requests + 1)
    assert e2e.security_events(secret) == 1
    refused = e2e.query(lambda s: s.requests.get(requests + 1))
    assert refused.outcome == "refused" and refused.sender == MALLORY and refused.agent == ALICE
    assert MALLORY in refused.reason and refused.commands == (f"#show {secret}", "#queue")


def test_an_agent_at_another_agents_personal_address_is_told_why_at_their_own(e2e):
    alices = personal_address_from_help(e2e, ALICE)
    e2e.send(make_message(sender=f"Bob Stone <{BOB}>", to=alices, subject="x", body="#queue\n"))
    (got,) = e2e.got(BOB, "answer")
    assert "not answered because" in text(got) and "Open tickets" not in text(got)
    assert e2e.got(ALICE, "answer") == []
