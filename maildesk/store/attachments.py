"""The files stored with a ticket's messages, and which of them each person has been sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from maildesk.models import StoredAttachment

_COLUMNS = "a.filename, a.content_type, a.size, a.sha256, a.path, a.content_id, a.inline"


def _stored(row: tuple) -> StoredAttachment:
    filename, ctype, size, sha, path, cid, inline = row
    return StoredAttachment(filename=str(filename), content_type=str(ctype), size=int(size), sha256=str(sha),
                            path=str(path), content_id=str(cid or ""), inline=bool(inline))


class AttachmentStore:
    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def of_message(self, message_pk: int) -> list[StoredAttachment]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM attachments a WHERE a.message_pk = ? ORDER BY a.id",
                                 [message_pk])
        return [_stored(r) for r in rows]

    def of_ticket(self, ticket_id: int) -> list[StoredAttachment]:
        """Every file of the ticket's messages, oldest first, each content once."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM attachments a JOIN messages m ON m.id = a.message_pk"
            " WHERE m.ticket_id = ? ORDER BY a.id", [ticket_id])
        seen: dict[str, StoredAttachment] = {}
        for row in rows:
            stored = _stored(row)
            seen.setdefault(stored.sha256, stored)
        return list(seen.values())

    def sent_to(self, ticket_id: int, recipient: str) -> frozenset[str]:
        """The contents (by SHA-256) this person has already been sent about the ticket."""
        rows = self.conn.execute("SELECT sha256 FROM files_sent WHERE ticket_id = ? AND recipient = ?",
                                 [ticket_id, recipient.lower()])
        return frozenset(str(r[0]) for r in rows)

    def mark_sent(self, ticket_id: int, recipient: str, digests: Sequence[str], *, at: datetime) -> None:
        if not digests:
            return
        self.conn.executemany(
            "INSERT OR IGNORE INTO files_sent (ticket_id, recipient, sha256, sent_at) VALUES (?, ?, ?, ?)",
            [(ticket_id, recipient.lower(), d, at.isoformat()) for d in digests])
