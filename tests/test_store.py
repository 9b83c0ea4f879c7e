"""The store's transactions between connections: writers queue up instead of failing each other."""

from __future__ import annotations

import threading

from maildesk.store import Store


def test_a_transaction_that_reads_then_writes_survives_another_writer(tmp_path):
    path = tmp_path / "maildesk.db"
    first, second = Store.open(path), Store.open(path)
    first.db.execute("CREATE TABLE t (v TEXT)")
    second_done = threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            with second.atomic():
                second.db.execute("INSERT INTO t VALUES ('second')")
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)
        finally:
            second_done.set()

    with first.atomic():
        first.db.execute("SELECT COUNT(*) FROM t").fetchone()  # a read first ...
        worker = threading.Thread(target=other_writer)
        worker.start()
        second_done.wait(0.5)  # ... the other connection tries to write meanwhile ...
        first.db.execute("INSERT INTO t VALUES ('first')")  # ... then a write
    worker.join(10)
    assert errors == []
    assert sorted(r[0] for r in first.db.execute("SELECT v FROM t")) == ["first", "second"]
    first.close()
    second.close()


def test_a_new_database_opened_by_several_processes_at_once_is_migrated_once(tmp_path):
    """The daemon's first start while `maildesk status` (or a second daemon) opens the same file."""
    failures: list[BaseException] = []
    for attempt in range(10):
        path = tmp_path / f"race{attempt}.db"
        start = threading.Barrier(6)

        def open_it() -> None:
            start.wait()
            try:
                Store.open(path).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store = Store.open(path)
        names = [r[0] for r in store.db.execute("SELECT name FROM _sqlite_migrations")]
        store.close()
        assert len(names) == len(set(names))
    assert failures == []
