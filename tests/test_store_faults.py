"""What SQLite's failures mean (judged on real errors), and the record of them beside the database."""

from __future__ import annotations

import errno
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from desktools import make_desk
from maildesk.errors import StoreCorrupt, StoreFull, StoreUnavailable
from maildesk.status import gather
from maildesk.store import Store
from maildesk.store.faults import RECORD_BYTES, FaultLog, storage_error
from maildesk.store.health import PageCheck

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def sqlite_error(tmp_path, what: str) -> sqlite3.DatabaseError:
    """A real error from SQLite: ``full``, ``corrupt``, ``notadb``, ``locked`` or ``sql``."""
    path = tmp_path / f"{what}.db"
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.execute("CREATE TABLE t (x BLOB)")
    try:
        if what == "full":
            conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
            conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
        elif what in ("corrupt", "notadb"):
            conn.execute("INSERT INTO t VALUES (zeroblob(10000))")
            conn.close()
            with open(path, "r+b") as f:
                f.seek(4096 if what == "corrupt" else 0)
                f.write(b"\xff" * 100)
            conn = sqlite3.connect(path)
            conn.execute("SELECT * FROM t").fetchall()
        elif what == "locked":
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            conn.execute("INSERT INTO t VALUES (1)")
        else:
            conn.execute("SELECT nope FROM t")
    except sqlite3.DatabaseError as exc:
        return exc
    raise AssertionError(f"no {what} error")


@pytest.mark.parametrize("what, kind", [("full", StoreFull), ("corrupt", StoreCorrupt), ("notadb", StoreCorrupt),
                                        ("locked", StoreUnavailable)])
def test_sqlite_failures_are_judged_by_their_result_code(tmp_path, what, kind):
    failure = storage_error(sqlite_error(tmp_path, what), "database x")
    assert type(failure) is kind and str(failure).startswith("database x: ")


def test_a_bug_is_no_storage_failure_and_a_file_system_out_of_space_is_a_full_one(tmp_path):
    assert storage_error(sqlite_error(tmp_path, "sql")) is None
    assert storage_error(ValueError("x")) is None
    assert storage_error(OSError(errno.EACCES, "Permission denied")) is None
    assert isinstance(storage_error(OSError(errno.ENOSPC, "No space left on device")), StoreFull)


def test_a_write_to_a_full_database_raises_store_full_and_rolls_back(tmp_path):
    store = Store.open(tmp_path / "maildesk.db")
    with closing(store):
        pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
        store.db.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreFull, match="database or disk is full"):
            with store.atomic():
                store.health.update("drop", now=T0, last_error="x" * 100_000)
        assert store.health.get("drop") is None


def test_the_record_keeps_one_failure_per_place_and_clears_only_its_own(tmp_path):
    log = FaultLog(tmp_path / "maildesk.db")
    assert log.read() == ()
    log.reserve()
    assert log.path.stat().st_size == RECORD_BYTES
    assert log.record("mailbox drop", StoreFull("database or disk is full"), now=T0)
    log.record("outbox", StoreCorrupt("database disk image is malformed"), now=T0)
    log.record("mailbox drop", StoreFull("database or disk is full"), now=T0 + timedelta(minutes=1))
    assert [(f.place, f.kind, f.at) for f in log.read()] == [("outbox", "corrupt", T0),
                                                             ("mailbox drop", "full", T0 + timedelta(minutes=1))]
    log.clear("mailbox drop")
    assert [f.place for f in FaultLog(tmp_path / "maildesk.db").read()] == ["outbox"]
    assert log.path.stat().st_size == RECORD_BYTES  # rewritten in place: never needs a block more


def test_the_record_never_grows_past_its_size_the_oldest_failures_go(tmp_path):
    log = FaultLog(tmp_path / "maildesk.db")
    for n in range(40):
        log.record(f"mailbox m{n}", StoreFull("e" * 1000), now=T0 + timedelta(seconds=n))
    kept = [f.place for f in log.read()]
    assert log.path.stat().st_size == RECORD_BYTES
    assert kept and kept[-1] == "mailbox m39" and "mailbox m0" not in kept


def test_an_unreadable_record_is_started_again(tmp_path):
    log = FaultLog(tmp_path / "maildesk.db")
    log.path.write_bytes(b"{not json")
    assert log.read() == ()
    log.record("deliver", StoreFull("full"), now=T0)
    assert [f.place for f in log.read()] == ["deliver"]


def test_a_page_check_that_ran_out_of_time_warns_and_one_that_failed_fails(tmp_path, monkeypatch):
    desk = make_desk(tmp_path)
    from maildesk.store.health import Gauges

    monkeypatch.setattr(Gauges, "check_pages", lambda self, budget: PageCheck(None, (), budget))
    with closing(desk.open_store()) as store:
        rep = gather(desk, store, budget=5.0)
    assert rep.healthy and rep.storage["check"] == "unfinished"
    assert [(f.level, f.detail) for f in rep.findings if f.subject == "storage"] == [
        ("warn", "quick_check did not finish in 5 s; failures the daemon meets are still shown here")]
    problems = ("*** in database main ***\nPage 7: btreeInitPage() returns error code 11",)
    monkeypatch.setattr(Gauges, "check_pages", lambda self, budget: PageCheck(False, problems, 0.01))
    with closing(desk.open_store()) as store:
        rep = gather(desk, store)
    assert not rep.healthy and rep.storage["check"] == "failed"
    assert "btreeInitPage" in next(f.detail for f in rep.findings if f.subject == "storage")


def test_the_page_check_passes_on_a_sound_database_and_a_corrupt_page_raises_store_corrupt(tmp_path):
    store = Store.open(tmp_path / "maildesk.db")
    with closing(store):
        ok = store.gauges.check_pages(30.0)
        assert (ok.ok, ok.problems) == (True, ())
        with store.atomic():
            store.db.conn.execute("CREATE TABLE filler (x BLOB)")
            store.db.conn.execute("INSERT INTO filler VALUES (randomblob(20000))")
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = store.db.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'filler'").fetchone()[0]
        size = store.db.conn.execute("PRAGMA page_size").fetchone()[0]
    with open(tmp_path / "maildesk.db", "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)
    store = Store.open(tmp_path / "maildesk.db")
    with closing(store):
        with pytest.raises(StoreCorrupt, match="quick_check: database disk image is malformed"):
            store.gauges.check_pages(30.0)


def test_status_leaves_out_the_failure_of_a_mailbox_no_longer_configured(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "in"}])
    desk.open_store().close()
    log = FaultLog(desk.db_path)
    log.record("mailbox renamed", StoreFull("database or disk is full"), now=T0)
    with closing(desk.open_store()) as store:
        assert gather(desk, store).healthy
    log.record("mailbox drop", StoreFull("database or disk is full"), now=T0)
    with closing(desk.open_store()) as store:
        rep = gather(desk, store)
    assert not rep.healthy and [f["place"] for f in rep.storage["failing"]] == ["mailbox drop"]
