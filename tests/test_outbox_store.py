"""The outbox table on a real SQLite database: due order, backoff, crash mid-send, daily counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import itertools

import pytest

from maildesk.store import Store
from maildesk.store.outbox import BACKOFF, MAX_ATTEMPTS

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
_ids = itertools.count()


@pytest.fixture
def outbox():
    return Store.memory().outbox


def put(outbox, n: int = 1, *, recipient: str = "carol@customer.example", automatic: bool = True, at=T0):
    return [outbox.enqueue(ticket_id=1, kind="acknowledgement", recipient=recipient, message_id=f"m{next(_ids)}@d",
                           envelope_from="support@example.test", data=b"msg %d" % i, smtputf8=False,
                           automatic=automatic, now=at) for i in range(n)]


def test_due_notices_come_oldest_first_with_their_bytes(outbox):
    first, second = put(outbox, 2)
    due = outbox.due(T0)
    assert [(e.id, data) for e, data in due] == [(first, b"msg 0"), (second, b"msg 1")]
    assert outbox.due(T0 - timedelta(seconds=1)) == []


def test_due_reads_in_due_order_from_its_index_without_sorting_every_waiting_notice(outbox):
    put(outbox, 3)
    statements = []
    outbox.conn.set_trace_callback(statements.append)
    outbox.due(T0, limit=2)
    outbox.conn.set_trace_callback(None)
    (sql,) = [s for s in statements if s.lstrip().startswith("SELECT")]
    plan = " ".join(row[-1] for row in outbox.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "outbox_due" in plan and "TEMP B-TREE" not in plan, plan


def test_temporary_failures_back_off_then_give_up(outbox):
    (entry,) = put(outbox)
    now = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outbox.mark_sending([entry])
        outbox.postpone(entry, error="451 try later", now=now)
        row = outbox.list()[0]
        if attempt < MAX_ATTEMPTS:
            wait = BACKOFF[min(attempt, len(BACKOFF)) - 1]
            assert (row.status, row.attempts) == ("queued", attempt)
            assert row.next_attempt_at == (now + wait).isoformat()
            assert outbox.due(now + wait - timedelta(seconds=1)) == []
            now += wait
    assert outbox.list()[0].status == "failed" and "gave up after" in outbox.list()[0].last_error


def test_a_crash_mid_send_sends_again_with_the_same_message_id(outbox):
    (entry,) = put(outbox)
    outbox.mark_sending([entry])  # ... and the daemon dies here
    (again, _), = outbox.due(T0)
    assert again.status == "sending" and again.message_id == outbox.list()[0].message_id and again.attempts == 1
    outbox.sent(entry, now=T0)
    assert outbox.due(T0 + timedelta(days=1)) == []


def test_permanent_failure_and_manual_retry(outbox):
    (entry,) = put(outbox)
    outbox.failed(entry, error="550 no such user", now=T0)
    assert outbox.due(T0 + timedelta(days=1)) == []
    assert outbox.retry(entry, now=T0 + timedelta(hours=1))
    assert [e.id for e, _ in outbox.due(T0 + timedelta(hours=1))] == [entry]
    outbox.sent(entry, now=T0)
    assert not outbox.retry(entry, now=T0)  # sent mail is never sent again


def test_daily_count_covers_automatic_mail_only(outbox):
    put(outbox, 3)
    put(outbox, 2, automatic=False)
    put(outbox, 1, recipient="other@x.example")
    assert outbox.automatic_since("carol@customer.example", T0 - timedelta(days=1)) == 3
    assert outbox.automatic_since("carol@customer.example", T0 + timedelta(seconds=1)) == 0


def test_suppression_round_trip(outbox):
    assert outbox.suppressed("a@b.example") is None
    outbox.suppress("a@b.example", reason="5.1.1 user unknown", now=T0)
    assert outbox.suppressed("a@b.example") == "5.1.1 user unknown"
    outbox.unsuppress("a@b.example")
    assert outbox.suppressed("a@b.example") is None
