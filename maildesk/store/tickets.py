"""Tickets, their messages, participants and events: writes and threading look-ups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from maildesk.models import Address, StoredAttachment


@dataclass(frozen=True)
class NewMessage:
    """Everything the store needs to record one message on a ticket."""

    ticket_id: int
    message_id: str | None
    raw_hash: str
    direction: str
    sender: Address | None
    recipients: tuple[str, ...]
    date: datetime | None
    subject: str
    body_text: str
    new_text: str
    kind: str
    kind_reasons: tuple[str, ...]
    thread_reason: str
    thread_detail: str
    mailbox: str | None
    created_at: datetime
    raw: bytes = b""  # the untouched message, kept beside the row
    refs: tuple[str, ...] = ()  # In-Reply-To and References of this message
    attachments: tuple[StoredAttachment, ...] = ()
    sender_role: str = ""  # requester, cc, agent or stranger (maildesk.intake.people); "" for our own mail


class TicketStore:
    """Writes tickets and messages; answers the threading questions."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn = db.conn  # plain sqlite3: the hot path needs no wrapper

    def raw(self, message_pk: int) -> bytes | None:
        """The untouched bytes of a stored message, to re-parse it any time."""
        row = self.conn.execute("SELECT data FROM message_raw WHERE message_pk = ?", [message_pk]).fetchone()
        return None if row is None else bytes(row[0])

    # -- threading look-ups --------------------------------------------------------

    def exists(self, ticket_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM tickets WHERE id = ?", [ticket_id]).fetchone() is not None

    def tickets_for_refs(self, refs: Sequence[str]) -> dict[str, int]:
        """Map each Message-ID we stored, sent or saw referenced to its ticket."""
        if not refs:
            return {}
        marks = ",".join("?" * len(refs))
        rows = self.conn.execute(
            f"SELECT ref, ticket_id FROM message_refs WHERE ref IN ({marks}) ORDER BY own DESC, rowid",
            list(refs),
        ).fetchall()
        found: dict[str, int] = {}
        for ref, ticket_id in rows:
            found.setdefault(ref, ticket_id)
        return found

    def tickets_waiting_for(self, message_id: str) -> list[int]:
        """Tickets whose mail names this Message-ID as a parent, not as one of their own."""
        rows = self.conn.execute("SELECT DISTINCT ticket_id FROM message_refs WHERE ref = ? AND own = 0"
                                 " ORDER BY ticket_id", [message_id])
        return [int(r[0]) for r in rows]

    def summary(self, ticket_id: int) -> dict[str, object]:
        """The fields notices show about a ticket."""
        keys = ("id", "subject", "status", "tier", "priority", "requester", "assignee", "created_at")
        row = self.conn.execute(f"SELECT {', '.join(keys)} FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        return dict(zip(keys, row)) if row else {}

    def participants(self, ticket_id: int, *, roles: Sequence[str] = ("requester", "cc")) -> list[Address]:
        """The ticket's people with one of ``roles``, in the order they joined."""
        marks = ",".join("?" * len(roles))
        rows = self.conn.execute(
            f"SELECT address, name FROM participants WHERE ticket_id = ? AND role IN ({marks})"
            " ORDER BY added_at, rowid", [ticket_id, *roles]).fetchall()
        return [Address(addr, name) for addr, name in rows]

    def history(self, ticket_id: int) -> list[dict[str, str]]:
        """Every message of the ticket, oldest first, as notices show them (sender, date, subject, new text)."""
        keys = ("sender", "sender_name", "date", "subject", "new_text", "kind")
        rows = self.conn.execute(f"SELECT {', '.join(keys)} FROM messages WHERE ticket_id = ? ORDER BY id",
                                 [ticket_id]).fetchall()
        return [{k: v if v is not None else "" for k, v in zip(keys, row)} for row in rows]

    def thread_ends(self, ticket_id: int) -> tuple[str | None, str | None]:
        """The Message-IDs of the ticket's first and latest stored messages (what a notice answers)."""
        rows = self.conn.execute(
            "SELECT message_id FROM messages WHERE id IN (SELECT MIN(id) FROM messages WHERE ticket_id = ?"
            " AND message_id IS NOT NULL UNION SELECT MAX(id) FROM messages WHERE ticket_id = ?"
            " AND message_id IS NOT NULL) ORDER BY id", [ticket_id, ticket_id]).fetchall()
        ids = [r[0] for r in rows]
        return (ids[0], ids[-1]) if ids else (None, None)

    def seen_by(self, ticket_id: int, address: str) -> tuple[str | None, str | None]:
        """The Message-IDs of the first and the latest mail of this ticket this address has had:
        their own mail, or notices the desk sent them; never anyone else's (an agent's internal mail)."""
        own = self.conn.execute(
            "SELECT MIN(id), MAX(id) FROM messages WHERE ticket_id = ? AND sender = ? AND message_id IS NOT NULL",
            [ticket_id, address]).fetchone()
        first_own = self._message_id(own[0])
        latest = self.conn.execute(
            "SELECT o.message_id, o.created_at FROM outbox o WHERE o.ticket_id = ? AND o.recipient = ?"
            " ORDER BY o.id DESC LIMIT 1", [ticket_id, address]).fetchone()
        latest_own = self.conn.execute("SELECT message_id, created_at FROM messages WHERE id = ?",
                                       [own[1]]).fetchone() if own[1] else None
        newest = max((r for r in (latest, latest_own) if r), key=lambda r: r[1], default=None)
        return first_own, newest[0] if newest else None

    def _message_id(self, pk: int | None) -> str | None:
        if pk is None:
            return None
        row = self.conn.execute("SELECT message_id FROM messages WHERE id = ?", [pk]).fetchone()
        return row[0] if row else None

    def current(self, ticket_id: int) -> int:
        """The ticket that now holds this one's mail: itself, or where it was merged into."""
        for _ in range(20):  # a merge chain; never a loop, but never trust that
            row = self.conn.execute("SELECT other_id FROM ticket_links WHERE ticket_id = ? AND kind = 'merged'",
                                    [ticket_id]).fetchone()
            if row is None:
                break
            ticket_id = int(row[0])
        return ticket_id

    def participant_role(self, ticket_id: int, address: str) -> str | None:
        """``requester`` or ``cc`` for someone taking part in the ticket (any letter case), else None."""
        row = self.conn.execute(
            "SELECT role FROM participants WHERE ticket_id = ? AND lower(address) = lower(?)"
            " ORDER BY role = 'requester' DESC LIMIT 1", [ticket_id, address]
        ).fetchone()
        return None if row is None else str(row[0])

    def is_participant(self, ticket_id: int, address: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM participants WHERE ticket_id = ? AND address = ?", [ticket_id, address]
        ).fetchone()
        return row is not None

    def message_by_id(self, message_id: str) -> int | None:
        row = self.conn.execute("SELECT id FROM messages WHERE message_id = ?", [message_id]).fetchone()
        return None if row is None else row[0]

    def message_by_hash(self, raw_hash: str) -> int | None:
        row = self.conn.execute("SELECT id FROM messages WHERE raw_hash = ? AND message_id IS NULL LIMIT 1",
                                [raw_hash]).fetchone()
        return None if row is None else row[0]

    # -- writes ------------------------------------------------------------------

    def create(self, *, subject: str, requester: str | None, tier: str, status: str, priority: str,
               mailbox: str | None, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO tickets (subject, requester, status, tier, priority, mailbox, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [subject, requester, status, tier, priority, mailbox, now.isoformat(), now.isoformat()],
        )
        ticket_id = int(cur.lastrowid or 0)
        self.event(ticket_id, at=now, actor=requester or "system", kind="created", new=status)
        return ticket_id

    def add_message(self, m: NewMessage) -> int:
        cur = self.conn.execute(
            "INSERT INTO messages (ticket_id, message_id, raw_hash, direction, sender, sender_name, recipients,"
            " date, subject, body_text, new_text, kind, kind_reasons, thread_reason, thread_detail, mailbox,"
            " created_at, sender_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [m.ticket_id, m.message_id, m.raw_hash, m.direction, m.sender.addr if m.sender else None,
             m.sender.name if m.sender else "", json.dumps(list(m.recipients)),
             m.date.isoformat() if m.date else None, m.subject, m.body_text, m.new_text, m.kind,
             json.dumps(list(m.kind_reasons)), m.thread_reason, m.thread_detail, m.mailbox,
             m.created_at.isoformat(), m.sender_role],
        )
        pk = int(cur.lastrowid or 0)
        self.conn.execute("INSERT INTO message_raw (message_pk, data) VALUES (?, ?)", [pk, m.raw])
        own = [m.message_id] if m.message_id else []
        self.conn.executemany(
            "INSERT INTO message_refs (ref, ticket_id, own) VALUES (?, ?, ?)",
            [(ref, m.ticket_id, 1) for ref in own] + [(ref, m.ticket_id, 0) for ref in m.refs if ref not in own],
        )
        self.conn.executemany(
            "INSERT INTO attachments (message_pk, filename, content_type, size, sha256, path, content_id, inline)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(pk, a.filename, a.content_type, a.size, a.sha256, a.path, a.content_id, int(a.inline))
             for a in m.attachments],
        )
        self.conn.execute(
            "UPDATE tickets SET message_count = message_count + 1, updated_at = ? WHERE id = ?",
            [m.created_at.isoformat(), m.ticket_id],
        )
        return pk

    def add_sent_ref(self, ticket_id: int, message_id: str) -> None:
        """A Message-ID the desk sent for this ticket: replies to it thread here."""
        self.conn.execute("INSERT INTO message_refs (ref, ticket_id, own) VALUES (?, ?, 1)", [message_id, ticket_id])

    def add_participants(self, ticket_id: int, people: Sequence[Address], *, role: str, now: datetime) -> None:
        if not people:
            return
        self.conn.executemany(
            "INSERT OR IGNORE INTO participants (ticket_id, address, name, role, added_at) VALUES (?, ?, ?, ?, ?)",
            [(ticket_id, p.addr, p.name, role, now.isoformat()) for p in people],
        )

    def event(self, ticket_id: int, *, at: datetime, actor: str, kind: str, old: str | None = None,
              new: str | None = None, detail: dict[str, object] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events (ticket_id, at, actor, kind, old, new, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [ticket_id, at.isoformat(), actor, kind, old, new, json.dumps(detail or {})],
        )

    def set_field(self, ticket_id: int, field: str, value: str, *, actor: str, at: datetime,
                  reason: str = "") -> None:
        """Change status, tier, priority or assignee, recording the event."""
        if field not in {"status", "tier", "priority", "assignee"}:
            raise ValueError(f"not a ticket field: {field}")
        old = self.conn.execute(f"SELECT {field} FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        self.conn.execute(f"UPDATE tickets SET {field} = ?, updated_at = ? WHERE id = ?",
                        [value, at.isoformat(), ticket_id])
        detail: dict[str, object] | None = {"reason": reason} if reason else None
        self.event(ticket_id, at=at, actor=actor, kind=field, old=old[0] if old else None, new=value, detail=detail)
