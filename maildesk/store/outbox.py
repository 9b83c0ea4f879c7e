"""The outbox: notices written in the same transaction as their cause, sent later, never lost or doubled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

#: Waits after the 1st, 2nd, ... temporary failure; the last one repeats.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
           timedelta(hours=4))
MAX_ATTEMPTS = 12  # then the notice is failed: about 1.5 days of retries


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    ticket_id: int | None
    kind: str
    recipient: str
    message_id: str
    envelope_from: str
    smtputf8: bool
    automatic: bool
    status: str  # queued | sending | sent | failed
    attempts: int
    last_error: str
    next_attempt_at: str
    created_at: str
    sent_at: str | None


_COLUMNS = ("id, ticket_id, kind, recipient, message_id, envelope_from, smtputf8, automatic, status, attempts,"
            " last_error, next_attempt_at, created_at, sent_at")


def _entry(row: Sequence[object]) -> OutboxEntry:
    values = list(row)
    values[6], values[7] = bool(values[6]), bool(values[7])
    return OutboxEntry(*values)  # type: ignore[arg-type]


class OutboxStore:
    """Queue, pick up and settle outgoing notices; count automatic mail per address."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn

    def enqueue(self, *, ticket_id: int | None, kind: str, recipient: str, message_id: str, envelope_from: str,
                data: bytes, smtputf8: bool, automatic: bool, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO outbox (ticket_id, kind, recipient, message_id, envelope_from, data, smtputf8, automatic,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ticket_id, kind, recipient, message_id, envelope_from, data, int(smtputf8), int(automatic),
             now.isoformat(), now.isoformat()],
        )
        return int(cur.lastrowid or 0)

    def due(self, now: datetime, *, limit: int = 100) -> list[tuple[OutboxEntry, bytes]]:
        """Notices to send now, oldest first; ``sending`` ones were cut off by a crash and go again.

        Read in due order from ``outbox_due``: on the status index SQLite would sort every waiting
        notice for each burst, which made draining 40,000 of them take a minute."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}, data FROM outbox INDEXED BY outbox_due"
            " WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at, id LIMIT ?", [now.isoformat(), limit]).fetchall()
        return [(_entry(row[:-1]), bytes(row[-1])) for row in rows]

    def mark_sending(self, ids: Sequence[int]) -> None:
        """Recorded before the SMTP conversation, so a crash mid-send is visible on restart."""
        self.conn.executemany("UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
                              [(i,) for i in ids])

    def sent(self, entry_id: int, *, now: datetime) -> None:
        self.conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = '' WHERE id = ?",
                          [now.isoformat(), entry_id])

    def failed(self, entry_id: int, *, error: str, now: datetime) -> None:
        self.conn.execute("UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = ? WHERE id = ?",
                          [error[:1000], now.isoformat(), entry_id])

    def postpone(self, entry_id: int, *, error: str, now: datetime) -> None:
        """A temporary failure: back off, or give up after MAX_ATTEMPTS."""
        attempts = int(self.conn.execute("SELECT attempts FROM outbox WHERE id = ?", [entry_id]).fetchone()[0])
        if attempts >= MAX_ATTEMPTS:
            self.failed(entry_id, error=f"gave up after {attempts} attempts: {error}", now=now)
            return
        wait = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
        self.conn.execute("UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = ? WHERE id = ?",
                          [error[:1000], (now + wait).isoformat(), entry_id])

    def retry(self, entry_id: int, *, now: datetime) -> bool:
        """Make a queued or failed notice due now; False when there is no such unsent notice."""
        cur = self.conn.execute(
            "UPDATE outbox SET status = 'queued', next_attempt_at = ? WHERE id = ? AND status != 'sent'",
            [now.isoformat(), entry_id])
        return cur.rowcount == 1

    def list(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxEntry]:
        sql, args = f"SELECT {_COLUMNS} FROM outbox", []
        if status:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [_entry(row) for row in self.conn.execute(sql, args).fetchall()]

    def automatic_since(self, recipient: str, since: datetime) -> int:
        """Automatic notices queued for an address since a time (the daily cap counts these)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE recipient = ? AND automatic = 1 AND created_at >= ?",
            [recipient, since.isoformat()]).fetchone()
        return int(row[0])

    def sent_to(self, recipient: str, *, message_id: str | None, since: datetime) -> bool:
        """Whether we queued this address a notice: the one with ``message_id``, else any since a time."""
        if message_id:
            sql, args = "SELECT 1 FROM outbox WHERE message_id = ? AND recipient = ?", [message_id, recipient]
        else:
            sql, args = "SELECT 1 FROM outbox WHERE recipient = ? AND created_at >= ?", [recipient, since.isoformat()]
        return self.conn.execute(sql + " LIMIT 1", args).fetchone() is not None

    def suppress(self, address: str, *, reason: str, now: datetime) -> None:
        self.conn.execute("INSERT INTO suppressions (address, reason, since) VALUES (?, ?, ?) ON CONFLICT(address)"
                          " DO UPDATE SET reason = excluded.reason, since = excluded.since",
                          [address, reason, now.isoformat()])

    def unsuppress(self, address: str) -> bool:
        """Lift a suppression; whether there was one."""
        return self.conn.execute("DELETE FROM suppressions WHERE address = ?", [address]).rowcount > 0

    def suppressed(self, address: str) -> str | None:
        """Why automatic mail to this address stopped, or None."""
        row = self.conn.execute("SELECT reason FROM suppressions WHERE address = ?", [address]).fetchone()
        return None if row is None else str(row[0])
