"""Customers' files reach the agents: alerts and escalation notices carry them, once per agent per ticket."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from test_agents_e2e import ALICE, CAROL, DANA, answer, make_e2e  # noqa: F401  (fixture)

pytestmark = pytest.mark.imap

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 8
TOOL = b"MZ\x90\x00" + b"\x00" * 600


def customer_mail(*, subject: str = "Invoice printer crash", extra: tuple[tuple[str, bytes, str], ...] = ()) -> bytes:
    """Thunderbird's shape: text and HTML with an inline screenshot, then a PDF attached."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Dana <{DANA}>", "support@example.test", subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("The printer crashes, see the screenshot and the log.\n")
    cid = make_msgid(domain="customer.example")
    msg.add_alternative(f'<p>The printer crashes:</p><img src="cid:{cid[1:-1]}">', subtype="html")
    msg.get_payload()[1].add_related(PNG, "image", "png", cid=cid, filename="screen.png",
                                     disposition="inline")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="crash-report.pdf")
    for name, data, ctype in extra:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def files_of(msg: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in msg.walk()
            if part.get_filename() and not part.is_multipart()}


@pytest.fixture
def e2e(make_e2e):  # noqa: F811
    return make_e2e()


def test_the_alert_carries_the_customers_files_and_the_escalation_hands_them_on(e2e):
    e2e.send(customer_mail(extra=(("fix-it.exe", TOOL, "application/octet-stream"),)))
    (alert,) = e2e.got(ALICE, "alert")
    files = files_of(alert)
    assert files["crash-report.pdf"] == PDF and files["screen.png"] == PNG
    assert "fix-it.exe" not in files  # a program is listed, never attached
    body = alert.get_body(("plain",)).get_content()
    assert "crash-report.pdf" in body and "fix-it.exe" in body and "a program or script" in body
    (image,) = [p for p in alert.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] and image.get_content_disposition() == "inline"

    e2e.send(answer(alert, ALICE, "#escalate L2 reinstalled the driver, still crashes\n"))
    (notice,) = e2e.got(CAROL, "escalation")
    assert files_of(notice)["crash-report.pdf"] == PDF


def test_a_file_goes_to_each_agent_once_per_ticket(e2e):
    e2e.send(customer_mail())
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(answer(alert, ALICE, "#escalate L2 tried the usual\n"))
    (notice,) = e2e.got(CAROL, "escalation")
    assert files_of(notice)["crash-report.pdf"] == PDF
    e2e.send(answer(notice, CAROL, "#deescalate L1 needs the customer's model number\n"))
    (back,) = e2e.got(ALICE, "escalation")  # the handover back down, to the agent who had the alert
    assert "crash-report.pdf" not in files_of(back)
    assert "crash-report.pdf (10 KB): sent before" in back.get_body(("plain",)).get_content()


def test_files_over_the_limit_are_listed_with_their_size_not_attached(make_e2e):  # noqa: F811
    e2e = make_e2e(notify={"attach_max_bytes": 5000})
    e2e.send(customer_mail())
    (alert,) = e2e.got(ALICE, "alert")
    assert set(files_of(alert)) == {"screen.png"}  # 2 KB fits; the 10 KB report does not
    body = alert.get_body(("plain",)).get_content()
    assert "crash-report.pdf (10 KB): over the limit" in body


def agent_reply(alert: EmailMessage, body: str, files: tuple[tuple[str, bytes, str], ...]) -> bytes:
    """An Outlook-shaped reply carrying files, to the alert's reply address."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Alice Martin <{ALICE}>", alert["Reply-To"]
    msg["Subject"], msg["In-Reply-To"] = f"RE: {alert['Subject']}", alert["Message-ID"]
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body)
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_an_agents_file_reaches_the_customer_and_a_notes_file_stays_inside(e2e):
    e2e.send(customer_mail())
    (alert,) = e2e.got(ALICE, "alert")
    e2e.send(agent_reply(alert, "#take\n\nDana, the settings are in the picture.\n",
                         (("settings.png", PNG, "image/png"),)))
    (relay,) = e2e.got(DANA, "relay")
    assert files_of(relay) == {"settings.png": PNG}
    e2e.send(agent_reply(alert, "#note the vendor's trace, for us only\n", (("trace.pdf", PDF, "application/pdf"),)))
    assert len(e2e.got(DANA, "relay")) == 1  # nothing more reached the customer
    ticket = int(alert["X-Maildesk-Ticket"])
    names = [a["filename"] for m in e2e.show(ticket)["messages"] for a in m["attachments"]]
    assert "trace.pdf" in names  # kept with the ticket, internal


def test_an_agents_reply_with_a_file_it_may_not_send_sends_nothing_and_says_why(make_e2e):  # noqa: F811
    e2e = make_e2e(notify={"attach_max_bytes": 5000})
    e2e.send(customer_mail())
    (alert,) = e2e.got(ALICE, "alert")
    ticket = int(alert["X-Maildesk-Ticket"])
    e2e.send(agent_reply(alert, "#take\n\nDana, run this tool and read the report.\n",
                         (("tool.exe", TOOL, "application/octet-stream"), ("report.pdf", PDF, "application/pdf"))))
    assert e2e.got(DANA, "relay") == []
    assert e2e.state(ticket)[2] is None  # #take was not applied either: all or nothing
    (receipt,) = e2e.got(ALICE, "receipt")
    words = receipt.get_body(("plain",)).get_content()
    assert "tool.exe: a program or script is never sent" in words and "more than the limit of 5,000" in words
