"""End to end over Dovecot and aiosmtpd: an outage report reaches the L2 agents' alert, not L1's."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from desktools import dovecot_mailbox, make_desk, smtp_outbound
from mailfactory import make_message
from maildesk.daemon import run_once

pytestmark = pytest.mark.imap

TIERS = [{"name": "L1", "agents": ["alice@example.test", "bob@example.test"]},
         {"name": "L2", "agents": ["carol@example.test", "dave@example.test"]}]
RULES = [{"name": "outage reports go straight to L2",
          "if": {"subject_matches": r"(?i)\b(outage|down|unreachable)\b", "body_matches": "(?i)production"},
          "then": {"tier": "L2", "priority": "urgent", "tags": ["outage"]}}]


def test_an_outage_report_alerts_l2_and_an_ordinary_request_alerts_l1(tmp_path, dovecot, smtp_server):
    desk = make_desk(
        tmp_path, tiers=TIERS, rules=RULES,
        mailboxes=[dovecot_mailbox(tmp_path, dovecot)],
        outbound=smtp_outbound(smtp_server))
    dovecot.append_many("INBOX", [
        make_message(subject="Checkout is DOWN", body="Our production shop returns 502 since 09:00.\n",
                     sender="Ops <ops@shop.example>"),
        make_message(subject="How do I reset my password?", sender="Dana <dana@customer.example>")])
    assert run_once(desk) == 0
    alerts: dict[str, set[str]] = {}
    for received in smtp_server.received:
        msg = message_from_bytes(received.content, policy=policy.default)
        if msg["Auto-Submitted"] == "auto-generated":
            alerts.setdefault(str(msg["Subject"]), set()).update(received.rcpt_tos)
    (outage,) = [s for s in alerts if "DOWN" in s]
    (password,) = [s for s in alerts if "password" in s]
    assert alerts[outage] == {"carol@example.test", "dave@example.test"}
    assert alerts[password] == {"alice@example.test", "bob@example.test"}
    acked = {r for received in smtp_server.received for r in received.rcpt_tos}
    assert {"ops@shop.example", "dana@customer.example"} <= acked
