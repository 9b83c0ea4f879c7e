"""The intake loop on a real SQLite database: threading, exactly-once, screening, the shunt."""

from __future__ import annotations

import sqlite3

import pytest

from desktools import harness
from mailfactory import make_dsn, make_message, message_id_of
from maildesk.errors import StoreUnavailable
from maildesk.models import Origin, RawMessage
from maildesk.pipeline import PIPELINE, Runner
from maildesk.stage import Context
from maildesk.store import views
from maildesk.tokens import make_token, reply_address


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path)


def ticket(h, ticket_id):
    return views.show_ticket(h.store.db, ticket_id)


def test_new_message_opens_ticket_in_l1_with_participants(h):
    out = h.take(make_message(cc="Dan <dan@customer.example>, support@example.test"))
    assert out.status == "stored" and out.new_ticket
    t = ticket(h, out.ticket_id)
    assert (t["tier"], t["status"], t["priority"]) == ("L1", "new", "normal")
    assert t["requester"] == "carol@customer.example"
    assert {(p["address"], p["role"]) for p in t["participants"]} == {
        ("carol@customer.example", "requester"), ("dan@customer.example", "cc")}
    m = t["messages"][0]
    assert m["direction"] == "in" and m["thread_reason"] == "new"
    assert "printer is jammed" in m["new_text"]
    assert [e["kind"] for e in t["events"]] == ["created", "routed"]


def test_reply_by_in_reply_to_joins_ticket(h):
    first = make_message()
    out1 = h.take(first)
    out2 = h.take(make_message(subject="Re: Printer", in_reply_to=message_id_of(first)))
    assert out2.ticket_id == out1.ticket_id and not out2.new_ticket
    assert ticket(h, out1.ticket_id)["messages"][1]["thread_reason"] == "in-reply-to"


def test_reply_by_token_joins_ticket(h):
    out1 = h.take(make_message())
    token = make_token(h.desk.secret, out1.ticket_id)
    out2 = h.take(make_message(subject="no tag at all", to=reply_address("support@example.test", token)))
    assert out2.ticket_id == out1.ticket_id
    assert ticket(h, out1.ticket_id)["messages"][1]["thread_reason"] == "token"


def test_forged_token_opens_new_ticket(h):
    out1 = h.take(make_message())
    forged = f"{out1.ticket_id}-c-{'a' * 20}"
    out2 = h.take(make_message(sender="mallory@evil.example", to=f"support+{forged}@example.test"))
    assert out2.new_ticket and out2.ticket_id != out1.ticket_id


def test_subject_tag_from_participant_joins(h):
    out1 = h.take(make_message())
    out2 = h.take(make_message(subject=f"Re: [#{out1.ticket_id}] printer", message_id="<other@customer.example>"))
    assert out2.ticket_id == out1.ticket_id
    assert ticket(h, out1.ticket_id)["messages"][1]["thread_reason"] == "subject-tag"


def test_subject_tag_from_stranger_opens_new_ticket(h):
    out1 = h.take(make_message())
    out2 = h.take(make_message(sender="mallory@evil.example", subject=f"[#{out1.ticket_id}] give me access"))
    assert out2.new_ticket and out2.ticket_id != out1.ticket_id
    assert "mallory@evil.example" not in {p["address"] for p in ticket(h, out1.ticket_id)["participants"]}


def test_two_replies_to_an_unseen_message_land_together(h):
    unseen = "<thread-start@partner.example>"
    out1 = h.take(make_message(subject="Re: contract", in_reply_to=unseen, references=unseen))
    out2 = h.take(make_message(sender="dan@partner.example", subject="Re: contract", in_reply_to=unseen))
    assert out1.new_ticket and out2.ticket_id == out1.ticket_id


def test_same_message_id_different_bytes_is_stored_once(h):
    a = make_message(message_id="<same@customer.example>")
    b = make_message(message_id="<same@customer.example>", body="different bytes\n")
    assert h.take(a, ref="1:1").status == "stored"
    dup = h.take(b, ref="1:2")
    assert dup.status == "duplicate" and h.message_count() == 1


def test_no_message_id_is_deduplicated_by_raw_hash(h):
    data = make_message(message_id=None)
    assert h.take(data, ref="a").status == "stored"
    assert h.take(data, ref="b").status == "duplicate"
    assert h.message_count() == 1


def test_same_origin_is_processed_once(h):
    data = make_message()
    assert h.take(data, ref="7:1").status == "stored"
    assert h.take(data, ref="7:1").status == "already"


def test_bounce_never_opens_ticket_and_links_to_original(h):
    first = make_message()
    out1 = h.take(first)
    out = h.take(make_dsn("carol@customer.example", message_id_of(first).strip("<>")))
    assert out.status == "quarantined" and h.ticket_count() == 1
    entry = h.store.quarantine.get(out.quarantine_id)
    assert entry.kind == "bounce" and entry.ticket_id == out1.ticket_id
    assert "carol@customer.example" in entry.reason
    assert "bounce" in [e["kind"] for e in ticket(h, out1.ticket_id)["events"]]


OOO = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}


def test_auto_reply_without_ticket_is_held_not_a_ticket(h):
    out = h.take(make_message(subject="Automatic reply: hello", headers=OOO))
    assert out.status == "quarantined" and h.ticket_count() == 0
    assert h.store.quarantine.get(out.quarantine_id).kind == "auto-reply"


def test_auto_reply_to_a_ticket_is_kept_on_it(h):
    first = make_message()
    out1 = h.take(first)
    out = h.take(make_message(subject="Automatic reply: Printer", headers=OOO, in_reply_to=message_id_of(first)))
    assert out.status == "stored" and out.ticket_id == out1.ticket_id
    assert ticket(h, out1.ticket_id)["messages"][1]["kind"] == "auto-reply"


def test_monitoring_alert_opens_ticket_marked_automatic(h):
    out = h.take(make_message(sender="nagios@monitor.example", subject="PROBLEM: disk full",
                              headers={"Auto-Submitted": "auto-generated"}))
    assert out.status == "stored" and out.new_ticket
    assert ticket(h, out.ticket_id)["messages"][0]["kind"] == "auto-generated"


def test_our_own_mail_coming_back_is_held(h):
    out = h.take(make_message(sender="support@example.test", headers={"X-Maildesk-Loop": h.desk.loop_id}))
    assert out.status == "quarantined" and h.store.quarantine.get(out.quarantine_id).kind == "loop"
    assert h.ticket_count() == 0


@pytest.mark.parametrize("role", ["c", "a1b2c3d4e5"])
def test_mail_from_any_of_the_desks_tokened_addresses_opens_nothing_and_is_not_answered(tmp_path, role):
    h = harness(tmp_path, outbound={"from": "Example Support <noreply@example.test>"})
    first = h.take(make_message())
    queued = h.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    for sender in (reply_address(h.desk.address, make_token(h.desk.secret, first.ticket_id, role)),
                   "noreply@example.test", "support+whatever@example.test"):
        out = h.take(make_message(sender=f"Example Support <{sender}>", subject="Re: your request"))
        assert out.status == "quarantined" and h.store.quarantine.get(out.quarantine_id).kind == "loop", sender
        assert "our own address" in h.store.quarantine.get(out.quarantine_id).reason
    assert h.ticket_count() == 1
    assert h.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == queued  # no acknowledgement


class Exploding:
    name = "explode"
    pure = False

    def process(self, work, ctx):
        raise ValueError("boom")


def test_unexpected_failure_shunts_message_to_quarantine(h):
    runner = Runner(Context(h.desk, h.store), steps=(*PIPELINE[:2], Exploding()))
    h.runner = runner
    out = h.take(make_message())
    assert out.status == "quarantined"
    entry = h.store.quarantine.get(out.quarantine_id)
    assert "explode" in entry.reason and "boom" in entry.reason
    assert h.store.quarantine.raw(entry.id) is not None
    assert h.ticket_count() == 0 and h.message_count() == 0  # the failed transaction left nothing behind


class Locked:
    name = "locked"
    pure = False

    def process(self, work, ctx):
        raise sqlite3.OperationalError("database is locked")


def test_locked_database_is_a_temporary_failure_recording_nothing(h):
    h.runner = Runner(Context(h.desk, h.store), steps=(*PIPELINE, Locked()))
    with pytest.raises(StoreUnavailable):
        h.take(make_message(), ref="1:9")
    assert h.message_count() == 0 and not h.store.ledger.known_refs("test", ["1:9"])


def test_retry_releases_quarantined_message_after_limit_raised(tmp_path):
    small = harness(tmp_path, limits={"max_message_bytes": 1024})
    out = small.take(make_message(body="x" * 5000))
    assert out.status == "quarantined" and "1024" in out.reason
    big = harness(tmp_path)  # same data dir, default limits
    retried = big.runner.process(_raw_of(big, out.quarantine_id), retry_of=out.quarantine_id)
    assert retried.status == "stored" and big.ticket_count() == 1
    assert big.store.quarantine.get(out.quarantine_id).status == "released"


def _raw_of(h, entry_id):
    from maildesk.models import Origin, RawMessage

    return RawMessage(Origin("test", f"retry:{entry_id}"), h.store.quarantine.raw(entry_id), h.desk.clock())


def test_reply_stored_before_its_parent_still_threads_together(h):
    parent = make_message(message_id="<parent@customer.example>")
    reply = make_message(sender="dan@customer.example", subject="Re: printer", in_reply_to="<parent@customer.example>")
    out_reply = h.take(reply)
    out_parent = h.take(parent)
    assert out_parent.ticket_id == out_reply.ticket_id and h.ticket_count() == 1


def test_raw_bytes_are_kept_for_every_stored_message(h):
    data = make_message()
    out = h.take(data)
    assert h.store.tickets.raw(out.message_pk) == data


# Groups: several messages in one transaction, each in its own savepoint.


class ExplodesOn:
    """Fails for the message whose subject names it, after the steps before it wrote their part."""

    name = "explode-on"
    pure = False

    def process(self, work, ctx):
        if "explode" in work.need_parsed().subject:
            raise ValueError("boom")
        return work


def _works(h, messages):
    return [h.runner.prepare(RawMessage(Origin("test", f"g{i}"), data, h.desk.clock()))
            for i, data in enumerate(messages)]


def test_one_failure_in_a_group_quarantines_only_that_message(h):
    h.runner = Runner(Context(h.desk, h.store), steps=(*PIPELINE, ExplodesOn()))
    messages = [make_message(subject=f"Printer {n}") for n in range(3)]
    messages.insert(1, make_message(subject="please explode"))
    outcomes = h.runner.finish_group(_works(h, messages))
    assert [o.status for o in outcomes] == ["stored", "quarantined", "stored", "stored"]
    assert h.ticket_count() == 3 and h.message_count() == 3  # the failed one's ticket was rolled back alone
    assert "boom" in h.store.quarantine.get(outcomes[1].quarantine_id).reason
    assert h.store.ledger.known_refs("test", ["g0", "g1", "g2", "g3"]) == {"g0", "g1", "g2", "g3"}


def test_a_group_that_cannot_commit_stores_nothing_and_logs_no_decision(h, caplog):
    import logging

    h.runner = Runner(Context(h.desk, h.store), steps=(*PIPELINE, ExplodesOn()))
    works = _works(h, [make_message(subject="Printer 1"), make_message(subject="Printer 2")])
    caplog.set_level(logging.INFO, logger="maildesk.intake")
    original = h.store.ledger.record
    calls = []

    def record(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database is locked")
        return original(*args, **kw)

    h.store.ledger.record = record
    with pytest.raises(StoreUnavailable):
        h.runner.finish_group(works)
    assert h.message_count() == 0 and not h.store.ledger.known_refs("test", ["g0", "g1"])
    assert not [r for r in caplog.records if r.getMessage() == "decision"]


def test_a_group_commits_once(h):
    statements = []
    h.store.db.conn.set_trace_callback(statements.append)
    h.runner.finish_group(_works(h, [make_message(subject=f"Printer {n}") for n in range(5)]))
    h.store.db.conn.set_trace_callback(None)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert h.message_count() == 5
