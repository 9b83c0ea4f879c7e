"""The health gauges' queries on a real database filled through the store's own writes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from maildesk.store import Store
from maildesk.store.health import Gauges

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def _ticket(store: Store, *, tier: str, status: str, at: datetime = T0) -> int:
    ticket_id = store.tickets.create(subject="help", requester="c@example.test", tier=tier, status="new",
                                     priority="normal", mailbox="support", now=at)
    if status != "new":
        store.work.set_status(ticket_id, status, actor="a@example.test", at=at, reason="test")
    return ticket_id


def _notice(store: Store, n: int, *, at: datetime) -> int:
    return store.outbox.enqueue(ticket_id=None, kind="ack", recipient="c@example.test", message_id=f"<n{n}@x>",
                                envelope_from="support@example.test", data=b"x", smtputf8=False, automatic=True,
                                now=at)


def populate(store: Store) -> None:
    """3 open L1 (2 new, 1 pending), 1 open L2, resolved and closed ones; outbox 2 queued, 1 sending, 1 sent,
    1 failed, the oldest unsent queued at T0; quarantine 2 held, 1 released; 2 breaches; 3 pending timers."""
    with store.atomic():
        first = _ticket(store, tier="L1", status="new")
        _ticket(store, tier="L1", status="new")
        _ticket(store, tier="L1", status="pending")
        _ticket(store, tier="L2", status="open")
        _ticket(store, tier="L1", status="resolved")
        _ticket(store, tier="L2", status="closed")
        ids = [_notice(store, n, at=T0 + timedelta(minutes=n)) for n in range(5)]
        store.outbox.mark_sending([ids[0]])
        store.outbox.sent(ids[1], now=T0)
        store.outbox.failed(ids[2], error="550", now=T0)
        for n in range(3):
            entry = store.quarantine.add(raw=b"raw", raw_hash=f"h{n}", message_id=None, mailbox="support",
                                         kind="loop", reason="test", ticket_id=None, sender=None, subject="",
                                         now=T0)
        store.quarantine.release(entry, message_pk=None, now=T0)
        for clock in ("first_response", "resolution"):
            store.work.event(first, actor="system", kind="sla-breach", new=clock, at=T0)
        store.work.event(first, actor="system", kind="sla-warning", new="resolution", at=T0)
        store.timers.plan(first, {"first_response.breach": T0, "resolution.warning": T0, "resolution.breach": T0,
                                  "update": T0})
        store.timers.fire(first, "first_response.breach", now=T0)


def open_populated(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "maildesk.db")
    populate(store)
    return store


def test_each_gauge_counts_what_it_says(tmp_path):
    gauges = Gauges(open_populated(tmp_path).db)
    assert gauges.tickets_by_tier_status() == [("L1", "new", 2), ("L1", "pending", 1), ("L2", "open", 1)]
    assert gauges.outbox_counts() == {"queued": 2, "sending": 1, "sent": 1, "failed": 1}
    assert gauges.oldest_queued_age(T0 + timedelta(hours=1)) == 3600.0
    assert gauges.quarantine_size() == 2
    assert gauges.sla_breaches() == 2
    assert gauges.timers_pending() == 3


def test_an_empty_database_gives_zeros_and_no_age():
    gauges = Gauges(Store.memory().db)
    assert gauges.tickets_by_tier_status() == []
    assert gauges.outbox_counts() == {}
    assert gauges.oldest_queued_age(T0) is None
    assert (gauges.quarantine_size(), gauges.sla_breaches(), gauges.timers_pending()) == (0, 0, 0)


def test_the_oldest_age_ignores_sent_and_failed_notices_and_is_never_negative():
    store = Store.memory()
    with store.atomic():
        old = _notice(store, 1, at=T0 - timedelta(days=2))
        _notice(store, 2, at=T0)
        store.outbox.sent(old, now=T0)
    gauges = Gauges(store.db)
    assert gauges.oldest_queued_age(T0 + timedelta(seconds=90)) == 90.0
    assert gauges.oldest_queued_age(T0 - timedelta(seconds=5)) == 0.0


def test_the_queries_use_indexes_except_outbox_counts_and_breaches():
    store = Store.memory()
    gauges, statements = Gauges(store.db), []
    store.db.conn.set_trace_callback(statements.append)
    gauges.tickets_by_tier_status(), gauges.oldest_queued_age(T0), gauges.quarantine_size(), gauges.timers_pending()
    store.db.conn.set_trace_callback(None)
    plans = {sql: " ".join(row[-1] for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements}  # outbox.status and events.kind have no index: those two scan
    assert len(statements) == 4 and all("USING" in p and "INDEX" in p for p in plans.values()), plans
