"""The SQLite store: one connection, one transaction per message, all SQL behind it."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlite_utils import Database

from maildesk.errors import SchemaTooNew, StoreUnavailable
from maildesk.store.attachments import AttachmentStore
from maildesk.store.faults import storage_error
from maildesk.store.ledger import LedgerStore
from maildesk.store.health import Gauges
from maildesk.store.operations import HealthStore, TokenStore
from maildesk.store.outbox import OutboxStore
from maildesk.store.queues import QueueStore
from maildesk.store.work import WorkStore
from maildesk.store.kb import KnowledgeStore
from maildesk.store.timers import TimerStore
from maildesk.store.reports import ReportStore
from maildesk.store.quarantine import QuarantineStore
from maildesk.store.requests import RequestStore
from maildesk.store.migrate import refuse_newer
from maildesk.store.schema import migrations
from maildesk.store.tickets import TicketStore

log = logging.getLogger("maildesk.store")

DB_NAME = "maildesk.db"

def _wal(conn: sqlite3.Connection, *, wait_ms: int) -> None:
    """Switch to WAL once (the mode is stored in the file). The switch needs the database to
    itself and SQLite's busy handler does not wait for it, so a new database opened by several
    processes at once (daemon, `status`) is retried here for up to ``wait_ms``."""
    deadline = time.monotonic() + wait_ms / 1000
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _migrate(db: Database) -> None:
    """Apply pending migrations under the write lock: a daemon starting on a new database while
    ``maildesk status`` (or another process) opens it must not run the same migration twice."""
    if not migrations.pending(db):
        return
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")  # whoever comes second waits, then finds nothing pending
    try:
        migrations.apply(db)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    """Owns the connection; exposes the ledger, tickets, quarantine and outbox repositories."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ledger = LedgerStore(db)
        self.tickets = TicketStore(db)
        self.attachments = AttachmentStore(db)
        self.quarantine = QuarantineStore(db)
        self.requests = RequestStore(db)
        self.outbox = OutboxStore(db)
        self.queues = QueueStore(db)
        self.work = WorkStore(db)
        self.kb = KnowledgeStore(db)
        self.timers = TimerStore(db)
        self.reports = ReportStore(db)
        self.tokens = TokenStore(db)
        self.health = HealthStore(db)
        self.gauges = Gauges(db)

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> Store:
        """Open (creating and migrating if needed) the database at ``path``.

        Raises SchemaTooNew, changing nothing, when a newer maildesk migrated it.
        """
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            db = Database(conn)
            try:
                refuse_newer(db, known=migrations, where=str(path))  # before any pragma or migration writes
            except SchemaTooNew:
                conn.close()
                raise
            if str(path) != ":memory:":
                _wal(conn, wait_ms=busy_timeout_ms)
                db.execute("PRAGMA synchronous = NORMAL")  # durable across crashes of the process
            db.execute("PRAGMA cache_size = -32768")  # 32 MiB, whatever the database size
            _migrate(db)
        except (sqlite3.DatabaseError, OSError) as exc:
            failure = storage_error(exc, f"database {path}")
            if failure is None and isinstance(exc, OSError):
                failure = StoreUnavailable(f"database {path}: {exc}")
            if failure is None:
                raise
            raise failure from exc
        return cls(db)

    @classmethod
    def memory(cls) -> Store:
        return cls.open(":memory:")

    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """One transaction (a savepoint when nested); storage failures surface as StoreUnavailable
        (StoreFull, StoreCorrupt: ``maildesk.store.faults``).

        The outermost one takes the write lock at once (``BEGIN IMMEDIATE``), waiting up to the
        busy timeout for other writers: a transaction that read first and wrote later could
        instead fail at once when another connection (the outbox, another mailbox) wrote between.
        """
        try:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield self
            else:
                with self._immediate():
                    yield self
        except (sqlite3.DatabaseError, OSError) as exc:
            failure = storage_error(exc)
            if failure is None:
                raise
            raise failure from exc

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def sync(self) -> None:
        """Make every commit so far durable on disk before a destructive action elsewhere.

        Commits in WAL mode with ``synchronous = NORMAL`` survive a crash of the process but
        not of the machine until the WAL is synced; a checkpoint syncs it first. Called once
        per batch before the mailbox flags or moves mail, and by ``deliver`` before it
        tells the MTA the message is taken.
        """
        try:
            self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.DatabaseError as exc:
            failure = storage_error(exc)
            if failure is None:
                raise
            raise failure from exc

    def close(self) -> None:
        self.db.close()
