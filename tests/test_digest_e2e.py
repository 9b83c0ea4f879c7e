"""The digest end to end: mail in through Dovecot, the daemon's run at the agents' local time, the
digest at the SMTP server, and its per-ticket reply address taking commands."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from test_agents_e2e import ALICE, BOB, CAROL, DAVE, answer, make_e2e, text  # noqa: F401  (fixture)
from mailfactory import make_message

pytestmark = pytest.mark.imap


def test_an_agent_gets_the_digest_at_their_local_time_and_works_from_it(make_e2e):  # noqa: F811
    e2e = make_e2e(digest={"at": "08:30", "timezone": "Europe/Berlin"})
    e2e.desk.clock.now = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)  # Monday 07:00 in Berlin
    ticket = e2e.customer_writes(subject="Printer offline")
    assert e2e.got(ALICE, "digest") == []
    e2e.desk.clock.now = datetime(2026, 11, 2, 7, 31, tzinfo=timezone.utc)
    e2e.send(make_message(sender="Ed <ed@customer.example>", subject="VPN drops"))
    (digest,) = e2e.got(ALICE, "digest")
    words = text(digest)
    assert f"#{ticket} Printer offline" in words and "VPN drops" in words and "no SLA" in words
    assert digest["Auto-Submitted"] == "auto-generated" and digest["X-Maildesk-Ticket"] is None
    assert e2e.got(CAROL, "digest") == [] and e2e.got(DAVE, "digest") == []  # nothing open in L2, L3
    address = next(w for w in words.split() if w.startswith(f"support+{ticket}-"))
    e2e.send(make_message(sender=f"Alice Martin <{ALICE}>", to=address, subject="Re: digest", body="#take\n"))
    assert e2e.state(ticket)[2] == ALICE
    assert len(e2e.got(ALICE, "digest")) == 1 and len(e2e.got(BOB, "digest")) == 1  # one a day
