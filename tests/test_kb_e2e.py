"""The knowledge base end to end: a resolution filed by mail is suggested to the next customer at the SMTP server."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from desktools import dovecot_mailbox, make_desk, smtp_outbound
from mailfactory import make_message
from maildesk.daemon import run_once

pytestmark = pytest.mark.imap

ALICE = "alice@example.test"


def test_a_published_resolution_is_suggested_in_the_next_acknowledgement(tmp_path, dovecot, smtp_server):
    desk = make_desk(tmp_path, tiers=[{"name": "L1", "agents": [ALICE]}],
                     mailboxes=[dovecot_mailbox(tmp_path, dovecot)],
                     outbound=smtp_outbound(smtp_server))

    def send(raw: bytes) -> None:
        dovecot.append_many("INBOX", [raw])
        assert run_once(desk) == 0

    def received(to: str) -> list:
        return [message_from_bytes(r.content, policy=policy.default) for r in smtp_server.received if to in r.rcpt_tos]

    send(make_message(sender="Dana <dana@customer.example>", subject="Outlook keeps asking for my password"))
    (alert,) = received(ALICE)
    send(make_message(sender=f"Alice <{ALICE}>", to=alert["Reply-To"].addresses[0].addr_spec, subject="Re: x",
                      body="#resolve remove the stale credential in Windows Credential Manager\n"
                           "#kb Outlook asks for the password again and again\n", in_reply_to=alert["Message-ID"]))
    store = desk.open_store()
    try:
        (article,) = store.kb.list()
        with store.atomic():
            store.kb.set_status(article.id, "published", now=desk.clock())
    finally:
        store.close()
    send(make_message(sender="Ed <ed@customer.example>", subject="Password prompt in Outlook every hour"))
    (ack,) = [m for m in received("ed@customer.example") if m["Auto-Submitted"] == "auto-replied"]
    body = ack.get_body(("plain",)).get_content()
    assert "Outlook asks for the password again and again" in body and "Credential Manager" in body
    assert "Dana" not in body  # a suggestion carries our resolution, never another customer's words
