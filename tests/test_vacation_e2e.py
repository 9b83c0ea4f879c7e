"""Real out-of-office replies, written by Dovecot's Pigeonhole vacation, are stored and never answered."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from desktools import harness
from imapserver import require_dovecot
from mailfactory import make_message
from vacationserver import VacationServer

pytestmark = pytest.mark.imap

ALICE = "alice@example.test"

VACATIONS = {  # user -> sieve script: the default subject, and the subjects people set in their clients
    "pat": 'require ["vacation"];\nvacation :days 1 "I am away until Monday.";\n',
    "kim": 'require ["vacation"];\nvacation :days 1 :subject "Out of Office: back on the 12th"'
           ' "I am out of the office with limited access to email.";\n',
    "uwe": 'require ["vacation"];\nvacation :days 1 :subject "Abwesenheitsnotiz" "Ich bin bis 12. nicht im Buero.";\n',
    "ana": 'require ["vacation", "variables"];\nif header :matches "subject" "*" { set "s" "${1}"; }\n'
           'vacation :days 1 :subject "Respuesta automática: ${s}" "Estoy fuera de la oficina.";\n',
}


def sieve_module() -> bool:
    return Path("/usr/lib/dovecot/modules/lib90_sieve_plugin.so").exists()


@pytest.fixture
def vacation(smtp_server):
    binary = require_dovecot()
    if not sieve_module():
        message = "Pigeonhole is not installed (apt-get install dovecot-sieve dovecot-lmtpd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = VacationServer(binary, smtp_server.port)
    addresses = {name: server.add_user(name, script) for name, script in VACATIONS.items()}
    server.start()
    yield server, addresses
    server.stop()


def test_our_automatic_notices_get_no_vacation_reply(tmp_path, vacation, smtp_server):
    """Our Auto-Submitted stamp works on a real vacation implementation (RFC 5230 honours RFC 3834)."""
    server, addresses = vacation
    h = harness(tmp_path)
    h.take(make_message(sender=f"Pat <{addresses['pat']}>", subject="Printer broken"))
    ((recipient, data),) = h.store.db.execute("SELECT recipient, data FROM outbox WHERE kind = 'acknowledgement'")
    server.deliver(h.desk.address, recipient, bytes(data))
    assert "discarding vacation response to auto-submitted message" in server.log()
    assert smtp_server.received == []


def test_pigeonhole_vacation_replies_to_an_agents_answer_get_nothing_back(tmp_path, vacation, smtp_server):
    server, addresses = vacation
    h = harness(tmp_path, tiers=[{"name": "L1", "agents": [ALICE]}])
    for name, address in addresses.items():  # each customer opens a ticket and the agent answers in person
        out = h.take(make_message(sender=f"{name.title()} <{address}>", subject=f"Printer broken ({name})"))
        alert = last(h, "alert", ALICE)
        h.take(make_message(sender=f"Alice <{ALICE}>", to=str(alert["Reply-To"].addresses[0].addr_spec),
                            subject=f"Re: [#{out.ticket_id}] Printer", in_reply_to=alert["Message-ID"],
                            body="#take\n\nPlease try the other tray.\n"))
    relays = h.store.db.execute("SELECT recipient, envelope_from, data FROM outbox WHERE kind = 'relay'").fetchall()
    assert len(relays) == len(addresses)
    for recipient, envelope_from, data in relays:
        server.deliver(envelope_from, recipient, bytes(data))
    replies = [r.content for r in smtp_server.received]
    assert len(replies) == len(addresses), server.log()[-3000:]
    queued = h.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    for reply in replies:
        out = h.take(reply)
        assert out.status == "stored" and not out.new_ticket  # kept on the ticket it answers
        (kind,) = h.store.db.execute("SELECT kind FROM messages WHERE id = ?", [out.message_pk]).fetchone()
        assert kind == "auto-reply"
    assert h.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == queued  # nothing back to them


def last(h, kind, to):
    rows = h.store.db.execute("SELECT data FROM outbox WHERE kind = ? AND recipient = ? ORDER BY id", [kind, to])
    return message_from_bytes(bytes(rows.fetchall()[-1][0]), policy=policy.default)
