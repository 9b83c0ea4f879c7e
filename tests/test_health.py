"""Mailbox health: every failure recorded, the admins told once per problem and interval, and on recovery."""

from __future__ import annotations

import email
from contextlib import closing
from email import policy

from desktools import make_desk
from maildesk.errors import AuthFailed, MailboxError
from maildesk.health import MailboxMonitor

DROP = {"name": "drop", "kind": "maildir", "path": "in"}
ADMINS = {"admins": ["ops@example.test", "oncall@example.test"], "admin_alert_minutes": 60}


def desk_with(tmp_path, **desk):
    return make_desk(tmp_path, mailboxes=[DROP], desk=desk or ADMINS)


def outbox(desk) -> list:
    with closing(desk.open_store()) as store:
        return [e for e in store.outbox.list() if e.kind == "admin"]


def message(desk, entry_id: int) -> email.message.EmailMessage:
    with closing(desk.open_store()) as store:
        data = store.db.execute("SELECT data FROM outbox WHERE id = ?", [entry_id]).fetchone()[0]
    return email.message_from_bytes(data, policy=policy.default)


def test_a_refused_login_tells_every_admin_at_once(tmp_path):
    desk = desk_with(tmp_path)
    MailboxMonitor(desk, "drop").failed(AuthFailed("mailbox 'drop': login of 'support' refused"))
    sent = outbox(desk)
    assert sorted(e.recipient for e in sent) == ["oncall@example.test", "ops@example.test"]
    msg = message(desk, sent[0].id)
    assert msg["Subject"] == "Mailbox drop is failing"  # about no ticket: no [#ID] tag
    assert msg["X-Maildesk-Ticket"] is None and msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content()
    assert "login of 'support' refused" in body and "password_env or password_file" in body


def test_the_same_problem_is_told_again_only_after_the_interval(tmp_path):
    desk = desk_with(tmp_path)
    monitor = MailboxMonitor(desk, "drop")
    monitor.failed(AuthFailed("refused"))
    for _ in range(5):  # the worker retries with backoff
        desk.clock.advance(minutes=5)
        monitor.failed(AuthFailed("refused"))
    assert len(outbox(desk)) == 2
    desk.clock.advance(minutes=35)  # 60 minutes after the first alert
    monitor.failed(AuthFailed("refused"))
    assert len(outbox(desk)) == 4


def test_a_connection_failure_is_told_only_when_it_lasts(tmp_path):
    desk = desk_with(tmp_path)
    monitor = MailboxMonitor(desk, "drop")
    monitor.failed(MailboxError("connection refused"))
    desk.clock.advance(minutes=9)
    monitor.failed(MailboxError("connection refused"))
    assert outbox(desk) == []
    desk.clock.advance(minutes=1)
    monitor.failed(MailboxError("connection refused"))
    assert len(outbox(desk)) == 2


def test_recovery_is_told_once_and_clears_the_failure(tmp_path):
    desk = desk_with(tmp_path)
    monitor = MailboxMonitor(desk, "drop")
    monitor.failed(AuthFailed("refused"))
    monitor.connected(uidvalidity=None)
    monitor.connected(uidvalidity=None)
    recovered = [e for e in outbox(desk) if "works again" in str(message(desk, e.id)["Subject"])]
    assert len(recovered) == 2
    store = desk.open_store()
    health = store.health.get("drop")
    store.close()
    assert health.connected and health.failing_since is None and health.alerted == ""
    assert "refused" in health.last_error  # the last error stays visible


def test_a_short_outage_nobody_was_told_about_sends_no_recovery(tmp_path):
    desk = desk_with(tmp_path)
    monitor = MailboxMonitor(desk, "drop")
    monitor.failed(MailboxError("timeout"))
    monitor.connected(uidvalidity=None)
    assert outbox(desk) == []


def test_without_admins_failures_are_still_recorded(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP])
    MailboxMonitor(desk, "drop").failed(AuthFailed("refused"))
    store = desk.open_store()
    health = store.health.get("drop")
    store.close()
    assert health.failing_since == desk.clock() and health.alerted == ""
    assert outbox(desk) == []
