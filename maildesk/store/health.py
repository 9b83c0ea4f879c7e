"""Read-only counts for the health gauges (open tickets, the outbox, quarantine, SLA timers) and the page check."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlite_utils import Database

from maildesk.store.faults import storage_error
from maildesk.store.queues import OPEN_STATUSES

#: Outbox statuses of a notice not sent yet; the same expression as the partial index ``outbox_due``.
_UNSENT = "status IN ('queued', 'sending')"
#: A quarantine entry still waiting for someone; released ones are done.
QUARANTINE_HELD = "held"
#: The event kind the SLA timers record for each breach (``maildesk.sla.actions``).
BREACH_EVENT = "sla-breach"
#: Problems ``quick_check`` lists at most; one is enough to know the file is damaged.
CHECK_PROBLEMS = 10


@dataclass(frozen=True)
class PageCheck:
    """What ``PRAGMA quick_check`` found: ``ok`` None when it ran out of time before the end."""

    ok: bool | None
    problems: tuple[str, ...]
    seconds: float


class Gauges:
    """Each method is one indexed aggregate query (except where noted), safe to run while the daemon writes."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def tickets_by_tier_status(self) -> list[tuple[str, str, int]]:
        """(tier, status, count) of tickets not resolved or closed; covered by ``tickets_status_tier``."""
        marks = ",".join("?" * len(OPEN_STATUSES))
        rows = self.conn.execute(
            f"SELECT tier, status, COUNT(*) FROM tickets WHERE status IN ({marks}) GROUP BY tier, status"
            " ORDER BY tier, status", list(OPEN_STATUSES)).fetchall()
        return [(str(tier), str(status), int(n)) for tier, status, n in rows]

    def outbox_counts(self) -> dict[str, int]:
        """Notices by status (queued, sending, sent, failed), counted on the index ``outbox_status``."""
        rows = self.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        return {str(status): int(n) for status, n in rows}

    def oldest_queued_age(self, now: datetime) -> float | None:
        """Seconds since the oldest unsent (queued or sending) notice was queued; None when all are sent.

        Reads only the unsent rows, through the partial index ``outbox_due``.
        """
        row = self.conn.execute(f"SELECT MIN(created_at) FROM outbox WHERE {_UNSENT}").fetchone()
        if row is None or row[0] is None:
            return None
        queued = datetime.fromisoformat(row[0])
        if queued.tzinfo is None:
            queued = queued.replace(tzinfo=timezone.utc)
        return max(0.0, (now - queued).total_seconds())

    def quarantine_size(self) -> int:
        """Entries still held (not released); counted on the index ``quarantine_status``."""
        row = self.conn.execute("SELECT COUNT(*) FROM quarantine WHERE status = ?", [QUARANTINE_HELD]).fetchone()
        return int(row[0])

    def sla_breaches(self) -> int:
        """Breaches ever recorded (one ``sla-breach`` event each), counted on the partial index
        ``events_sla_breach`` (the kind is written into the SQL so the planner can use it)."""
        row = self.conn.execute(f"SELECT COUNT(*) FROM events WHERE kind = '{BREACH_EVENT}'").fetchone()
        return int(row[0])

    def timers_pending(self) -> int:
        """SLA timers not fired yet; counted on the partial index ``sla_timers_due``."""
        row = self.conn.execute("SELECT COUNT(*) FROM sla_timers WHERE fired_at IS NULL").fetchone()
        return int(row[0])

    def outbox_retrying(self) -> int:
        """Unsent notices that failed at least once and wait for another attempt (``outbox_due``)."""
        row = self.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {_UNSENT} AND attempts > 0").fetchone()
        return int(row[0])

    def outbox_last_error(self) -> str:
        """The error of the most recently retried unsent notice ('' when none failed), on ``outbox_due``."""
        row = self.conn.execute(f"SELECT last_error FROM outbox WHERE {_UNSENT} AND attempts > 0"
                                " ORDER BY next_attempt_at DESC LIMIT 1").fetchone()
        return str(row[0]) if row else ""

    def timers_overdue(self, before: datetime) -> int:
        """Unfired SLA timers due before ``before``: nobody is firing them (``sla_timers_due``)."""
        row = self.conn.execute("SELECT COUNT(*) FROM sla_timers WHERE fired_at IS NULL AND due_at < ?",
                                [before.isoformat()]).fetchone()
        return int(row[0])

    def quarantine_by_kind(self) -> dict[str, int]:
        """Held entries by kind (error, ignored, bounce, rule ...), on ``quarantine_status``."""
        rows = self.conn.execute("SELECT kind, COUNT(*) FROM quarantine WHERE status = ? GROUP BY kind",
                                 [QUARANTINE_HELD]).fetchall()
        return {str(kind): int(n) for kind, n in rows}

    def stored_by_mailbox(self) -> dict[str, int]:
        """Messages taken in (receipts) per mailbox, on the index ``receipts_origin``."""
        rows = self.conn.execute("SELECT mailbox, COUNT(*) FROM receipts GROUP BY mailbox").fetchall()
        return {str(mailbox): int(n) for mailbox, n in rows}

    def check_pages(self, budget: float) -> PageCheck:
        """``PRAGMA quick_check``: every page of every table and index is read and its b-tree checked
        (not the index contents: that is ``integrity_check``); interrupted after ``budget`` seconds.

        Raises StoreCorrupt when SQLite cannot even read a page it needs for the check.
        """
        timer = threading.Timer(budget, self.conn.interrupt)
        started = time.monotonic()
        timer.start()
        try:
            rows = self.conn.execute(f"PRAGMA quick_check({CHECK_PROBLEMS})").fetchall()
        except sqlite3.DatabaseError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_INTERRUPT:
                return PageCheck(None, (), time.monotonic() - started)
            failure = storage_error(exc, "PRAGMA quick_check")
            if failure is None:
                raise
            raise failure from exc
        finally:
            timer.cancel()
            timer.join()
        problems = tuple(str(row[0]) for row in rows if row[0] != "ok")
        return PageCheck(not problems, problems, time.monotonic() - started)
