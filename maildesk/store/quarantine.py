"""Quarantined messages: kept with their raw bytes and a reason, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database


@dataclass(frozen=True)
class QuarantineEntry:
    id: int
    raw_hash: str
    message_id: str | None
    mailbox: str | None
    kind: str
    reason: str
    ticket_id: int | None
    sender: str | None
    subject: str
    status: str
    retries: int
    created_at: str
    updated_at: str
    released_message_pk: int | None = None


_COLUMNS = ("id, raw_hash, message_id, mailbox, kind, reason, ticket_id, sender, subject, status, retries,"
            " created_at, updated_at, released_message_pk")


class QuarantineStore:
    """Adds, finds and releases quarantine entries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn  # plain sqlite3: the hot path needs no wrapper

    def add(self, *, raw: bytes, raw_hash: str, message_id: str | None, mailbox: str | None, kind: str,
            reason: str, ticket_id: int | None, sender: str | None, subject: str, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO quarantine (raw_hash, message_id, mailbox, kind, reason, ticket_id, sender, subject,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [raw_hash, message_id, mailbox, kind, reason, ticket_id, sender, subject, now.isoformat(),
             now.isoformat()],
        )
        entry_id = int(cur.lastrowid or 0)
        self.conn.execute("INSERT INTO quarantine_raw (quarantine_id, data) VALUES (?, ?)", [entry_id, raw])
        return entry_id

    def raw(self, entry_id: int) -> bytes | None:
        """The untouched bytes of a quarantined message, for a retry."""
        row = self.conn.execute("SELECT data FROM quarantine_raw WHERE quarantine_id = ?", [entry_id]).fetchone()
        return None if row is None else bytes(row[0])

    def update_failed_retry(self, entry_id: int, *, kind: str, reason: str, ticket_id: int | None,
                            now: datetime) -> None:
        self.conn.execute(
            "UPDATE quarantine SET kind = ?, reason = ?, ticket_id = ?, retries = retries + 1, updated_at = ?"
            " WHERE id = ?",
            [kind, reason, ticket_id, now.isoformat(), entry_id],
        )

    def release(self, entry_id: int, *, message_pk: int | None, now: datetime) -> None:
        self.conn.execute(
            "UPDATE quarantine SET status = 'released', released_message_pk = ?, retries = retries + 1,"
            " updated_at = ? WHERE id = ?",
            [message_pk, now.isoformat(), entry_id],
        )

    def get(self, entry_id: int) -> QuarantineEntry | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM quarantine WHERE id = ?", [entry_id]).fetchone()
        return QuarantineEntry(*row) if row else None

    def find_held(self, *, message_id: str | None, raw_hash: str, exclude: int | None = None) -> int | None:
        """A held entry with the same Message-ID (or, without one, the same bytes)."""
        if message_id:
            sql, args = "SELECT id FROM quarantine WHERE message_id = ? AND status = 'held'", [message_id]
        else:
            sql, args = "SELECT id FROM quarantine WHERE raw_hash = ? AND status = 'held'", [raw_hash]
        rows = self.conn.execute(sql + " ORDER BY id", args).fetchall()
        return next((r[0] for r in rows if r[0] != exclude), None)

    def list(self, *, status: str | None = "held", limit: int | None = None) -> list[QuarantineEntry]:
        sql = f"SELECT {_COLUMNS} FROM quarantine"
        args: list[object] = []
        if status:
            sql += " WHERE status = ?"
            args.append(status)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [QuarantineEntry(*row) for row in self.conn.execute(sql, args).fetchall()]

    def count(self, *, status: str = "held") -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM quarantine WHERE status = ?", [status]).fetchone()[0])
