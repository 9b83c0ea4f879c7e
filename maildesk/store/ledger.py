"""Receipts and mailbox state: what has been read from where, and what is settled there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlite_utils import Database

from maildesk.mailbox.base import Settlement
from maildesk.models import Origin

_CHUNK = 500  # stay well under SQLite's bound-parameter limit


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class LedgerStore:
    """Implements the ``Ledger`` protocol that mailbox sources consult."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn  # plain sqlite3: the hot path needs no wrapper

    def known_refs(self, mailbox: str, refs: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(list(refs)):
            sql = f"SELECT ref FROM receipts WHERE mailbox = ? AND ref IN ({_marks(len(part))})"
            found.update(r[0] for r in self.conn.execute(sql, [mailbox, *part]).fetchall())
        return found

    def max_uid(self, mailbox: str, uidvalidity: int) -> int:
        row = self.conn.execute(
            "SELECT MAX(uid) FROM receipts WHERE mailbox = ? AND uidvalidity = ?", [mailbox, uidvalidity]
        ).fetchone()
        return int(row[0] or 0)

    def uidvalidity(self, mailbox: str) -> int | None:
        row = self.conn.execute("SELECT uidvalidity FROM mailbox_state WHERE mailbox = ?", [mailbox]).fetchone()
        return None if row is None else row[0]

    def set_uidvalidity(self, mailbox: str, value: int) -> None:
        now = datetime.now(timezone.utc).isoformat()
        self.conn.execute(
            "INSERT INTO mailbox_state (mailbox, uidvalidity, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
            [mailbox, value, now],
        )

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(list(message_ids)):
            marks = _marks(len(part))
            sql = (f"SELECT message_id FROM messages WHERE message_id IN ({marks}) "
                   f"UNION SELECT message_id FROM quarantine WHERE message_id IN ({marks}) "
                   f"UNION SELECT message_id FROM requests WHERE message_id IN ({marks})")
            found.update(r[0] for r in self.conn.execute(sql, [*part, *part, *part]).fetchall())
        return found

    def unsettled(self, mailbox: str) -> list[Settlement]:
        rows = self.conn.execute(
            "SELECT ref, uidvalidity, uid, outcome FROM receipts WHERE mailbox = ? AND settled = 0 ORDER BY id",
            [mailbox],
        ).fetchall()
        return [Settlement(Origin(mailbox, ref, uv, uid), outcome == "quarantined") for ref, uv, uid, outcome in rows]

    def mark_settled(self, mailbox: str, refs: Sequence[str]) -> None:
        for part in _chunks(list(refs)):
            self.conn.execute(
                f"UPDATE receipts SET settled = 1 WHERE mailbox = ? AND ref IN ({_marks(len(part))})", [mailbox, *part]
            )

    def record(self, origin: Origin, *, raw_hash: str, outcome: str, received_at: datetime,
               message_pk: int | None = None, quarantine_id: int | None = None,
               request_id: int | None = None) -> None:
        """Write the receipt that makes this origin exactly-once (inside the message's transaction)."""
        self.conn.execute(
            "INSERT INTO receipts (mailbox, ref, uidvalidity, uid, raw_hash, outcome, message_pk, quarantine_id,"
            " request_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [origin.mailbox, origin.ref, origin.uidvalidity, origin.uid, raw_hash, outcome, message_pk,
             quarantine_id, request_id, received_at.isoformat()],
        )

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT outcome, COUNT(*) FROM receipts GROUP BY outcome").fetchall()
        return {outcome: n for outcome, n in rows}
