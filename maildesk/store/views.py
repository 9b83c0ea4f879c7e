"""Read-only views of tickets in the JSON shapes the CLI prints and exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlite_utils import Database

from maildesk.errors import NotFound

_TICKET_COLUMNS = ("id", "subject", "requester", "status", "tier", "priority", "assignee", "sla", "mailbox",
                   "created_at", "updated_at", "message_count")
_MESSAGE_COLUMNS = ("id", "message_id", "direction", "sender", "sender_name", "recipients", "date", "subject",
                    "body_text", "new_text", "kind", "kind_reasons", "thread_reason", "thread_detail", "mailbox",
                    "created_at", "sender_role")


def _rows(db: Database, sql: str, args: list[Any], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row)) for row in db.execute(sql, args).fetchall()]


def list_tickets(db: Database, *, status: str | None = None, tier: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Tickets, newest activity first, optionally filtered by status and tier."""
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if tier:
        where.append("tier = ?")
        args.append(tier)
    sql = f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_at DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return _rows(db, sql, args, _TICKET_COLUMNS)


def _messages(db: Database, ticket_id: int) -> list[dict[str, Any]]:
    messages = _rows(db, f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE ticket_id = ? ORDER BY id",
                     [ticket_id], _MESSAGE_COLUMNS)
    cols = ("message_pk", "filename", "content_type", "size", "sha256", "path", "content_id", "inline")
    attachments = _rows(db, f"SELECT {', '.join(cols)} FROM attachments WHERE message_pk IN"
                            " (SELECT id FROM messages WHERE ticket_id = ?) ORDER BY id", [ticket_id], cols)
    by_message: dict[int, list[dict[str, Any]]] = {}
    for a in attachments:
        pk = a.pop("message_pk")
        a["inline"] = bool(a["inline"])
        by_message.setdefault(pk, []).append(a)
    for m in messages:
        m["recipients"] = json.loads(m["recipients"])
        m["kind_reasons"] = json.loads(m["kind_reasons"])
        m["attachments"] = by_message.get(m["id"], [])
    return messages


_NOTICE_COLUMNS = ("id", "kind", "recipient", "message_id", "status", "attempts", "last_error", "created_at",
                   "sent_at")


def show_ticket(db: Database, ticket_id: int) -> dict[str, Any]:
    """One ticket with participants, messages (with attachments), events and the notices sent about it."""
    rows = _rows(db, f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE id = ?", [ticket_id], _TICKET_COLUMNS)
    if not rows:
        raise NotFound(f"no ticket {ticket_id}")
    ticket = rows[0]
    ticket["tags"] = [r[0] for r in db.execute("SELECT tag FROM ticket_tags WHERE ticket_id = ? ORDER BY tag",
                                               [ticket_id])]
    ticket["participants"] = _rows(
        db, "SELECT address, name, role, added_at FROM participants WHERE ticket_id = ? ORDER BY added_at, address",
        [ticket_id], ("address", "name", "role", "added_at"))
    ticket["messages"] = _messages(db, ticket_id)
    events = _rows(db, "SELECT id, at, actor, kind, old, new, detail FROM events WHERE ticket_id = ? ORDER BY id",
                   [ticket_id], ("id", "at", "actor", "kind", "old", "new", "detail"))
    for e in events:
        e["detail"] = json.loads(e["detail"])
    ticket["events"] = events
    ticket["notices"] = _rows(db, f"SELECT {', '.join(_NOTICE_COLUMNS)} FROM outbox WHERE ticket_id = ? ORDER BY id",
                              [ticket_id], _NOTICE_COLUMNS)
    return ticket


def iter_tickets(db: Database) -> Iterator[dict[str, Any]]:
    """Every ticket in the ``show_ticket`` shape, one at a time (for export)."""
    last = 0
    while True:
        ids = [r[0] for r in db.execute("SELECT id FROM tickets WHERE id > ? ORDER BY id LIMIT 200", [last])]
        if not ids:
            return
        for ticket_id in ids:
            yield show_ticket(db, ticket_id)
        last = ids[-1]
