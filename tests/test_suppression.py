"""A permanent delivery failure of a notice stops automatic mail to that address until it writes again."""

from __future__ import annotations

import pytest

from desktools import harness
from mailfactory import make_dsn as dsn
from mailfactory import make_message

TIERS = [{"name": "L1", "agents": ["alice@example.test"]}]
CUSTOMER = "carol@customer.example"


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS, notify={"enabled": True})


def notices(h, kind: str, to: str) -> list[str]:
    rows = h.store.db.execute("SELECT message_id FROM outbox WHERE kind = ? AND recipient = ? ORDER BY id",
                              [kind, to]).fetchall()
    return [r[0] for r in rows]


def test_a_permanent_failure_of_a_notice_marks_its_recipient_undeliverable(h):
    h.take(make_message())
    ack, = notices(h, "acknowledgement", CUSTOMER)
    out = h.take(dsn("Carol@customer.example", ack))
    assert out.status == "quarantined"  # the report itself is kept, with its reason
    assert "5.1.1" in h.store.outbox.suppressed(CUSTOMER)


def test_an_undeliverable_agent_gets_no_alerts_until_they_write_again(h):
    h.take(make_message())
    alert, = notices(h, "alert", "alice@example.test")
    h.take(dsn("alice@example.test", alert))
    h.take(make_message(subject="second problem"))
    assert len(notices(h, "alert", "alice@example.test")) == 1
    h.take(make_message(sender="Alice <alice@example.test>", subject="back from leave"))  # a person writes
    assert h.store.outbox.suppressed("alice@example.test") is None
    before = len(notices(h, "alert", "alice@example.test"))
    h.take(make_message(subject="third problem"))
    assert len(notices(h, "alert", "alice@example.test")) == before + 1


def test_an_auto_reply_from_the_address_does_not_lift_the_stop(h):
    h.take(make_message())
    ack, = notices(h, "acknowledgement", CUSTOMER)
    h.take(dsn(CUSTOMER, ack))
    h.take(make_message(subject="Automatic reply: away", headers={"Auto-Submitted": "auto-replied"}))
    assert h.store.outbox.suppressed(CUSTOMER) is not None


def test_writing_again_lifts_the_stop_and_gets_an_acknowledgement(h):
    h.take(make_message())
    ack, = notices(h, "acknowledgement", CUSTOMER)
    h.take(dsn(CUSTOMER, ack))
    assert h.store.outbox.suppressed(CUSTOMER) is not None
    h.take(make_message(subject="my mailbox works again"))
    assert h.store.outbox.suppressed(CUSTOMER) is None
    assert len(notices(h, "acknowledgement", CUSTOMER)) == 2


@pytest.mark.parametrize("status, action", [("4.2.2", "delayed"), ("2.0.0", "delivered")])
def test_a_delay_or_success_report_suppresses_nothing(h, status, action):
    h.take(make_message())
    ack, = notices(h, "acknowledgement", CUSTOMER)
    h.take(dsn(CUSTOMER, ack, status=status, action=action))
    assert h.store.outbox.suppressed(CUSTOMER) is None


def test_a_forged_report_cannot_silence_an_address_we_never_wrote_to(h):
    h.take(make_message())
    ack, = notices(h, "acknowledgement", CUSTOMER)
    h.take(dsn("victim@elsewhere.example", ack))  # our notice's id, another recipient
    h.take(dsn("victim@elsewhere.example", None, n=2))  # no id at all
    assert h.store.outbox.suppressed("victim@elsewhere.example") is None


def test_a_report_without_the_original_id_counts_only_for_recent_notices(h):
    h.take(make_message())
    h.desk.clock.advance(days=8)
    h.take(dsn(CUSTOMER, None))
    assert h.store.outbox.suppressed(CUSTOMER) is None
    h.take(make_message(subject="new question"))
    h.take(dsn(CUSTOMER, None, n=2))
    assert h.store.outbox.suppressed(CUSTOMER) is not None
