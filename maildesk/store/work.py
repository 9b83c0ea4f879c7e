"""What agents' commands read and write: a ticket's state, and a planned change applied with its events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

if TYPE_CHECKING:
    from maildesk.agents.workflow import Plan, TicketState

_FIELDS = ("status", "tier", "priority", "assignee")


class WorkStore:
    """Reads a ticket as the state machine sees it and writes what a command mail changed."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def state(self, ticket_id: int) -> TicketState | None:
        from maildesk.agents.workflow import TicketState

        row = self.conn.execute("SELECT status, tier, priority, assignee FROM tickets WHERE id = ?",
                                [ticket_id]).fetchone()
        if row is None:
            return None
        tags = [r[0] for r in self.conn.execute("SELECT tag FROM ticket_tags WHERE ticket_id = ? ORDER BY tag",
                                                [ticket_id])]
        cc = [r[0] for r in self.conn.execute("SELECT address FROM participants WHERE ticket_id = ? AND role = 'cc'"
                                              " ORDER BY address", [ticket_id])]
        return TicketState(ticket_id, row[0], row[1], row[2], row[3], tuple(tags), tuple(cc))

    def apply(self, plan: Plan, *, actor: str, at: datetime) -> None:
        """Write the plan's end state: one event per changed field, tags and people in copy."""
        start, end, ticket_id = plan.start, plan.end, plan.start.id
        for name in _FIELDS:
            old, new = getattr(start, name), getattr(end, name)
            if old != new:
                self.conn.execute(f"UPDATE tickets SET {name} = ?, updated_at = ? WHERE id = ?",
                                  [new, at.isoformat(), ticket_id])
                self.event(ticket_id, actor=actor, kind=name, old=old, new=new, at=at)
        self.conn.executemany("DELETE FROM ticket_tags WHERE ticket_id = ? AND tag = ?",
                              [(ticket_id, t) for t in set(start.tags) - set(end.tags)])
        self.conn.executemany("INSERT OR IGNORE INTO ticket_tags (ticket_id, tag) VALUES (?, ?)",
                              [(ticket_id, t) for t in set(end.tags) - set(start.tags)])
        self.conn.executemany("DELETE FROM participants WHERE ticket_id = ? AND address = ? AND role = 'cc'",
                              [(ticket_id, a) for a in set(start.cc) - set(end.cc)])
        self.conn.executemany(
            "INSERT OR IGNORE INTO participants (ticket_id, address, name, role, added_at) VALUES (?, ?, '', 'cc', ?)",
            [(ticket_id, a, at.isoformat()) for a in set(end.cc) - set(start.cc)])
        for kind, old, new in (("tags", start.tags, end.tags), ("cc", start.cc, end.cc)):
            if old != new:
                self.event(ticket_id, actor=actor, kind=kind, old=" ".join(old), new=" ".join(new), at=at)

    def event(self, ticket_id: int, *, actor: str, kind: str, at: datetime, old: str | None = None,
              new: str | None = None, detail: dict[str, Any] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events (ticket_id, at, actor, kind, old, new, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [ticket_id, at.isoformat(), actor, kind, old, new, json.dumps(detail or {})])

    def time_in_tier(self, ticket_id: int, *, now: datetime) -> timedelta:
        """Since the ticket last changed tier (or was routed, or created)."""
        row = self.conn.execute(
            "SELECT MAX(at) FROM events WHERE ticket_id = ? AND kind IN ('routed', 'tier')", [ticket_id]).fetchone()
        since = row[0] if row and row[0] else self.conn.execute(
            "SELECT created_at FROM tickets WHERE id = ?", [ticket_id]).fetchone()[0]
        return now - datetime.fromisoformat(since)

    def status_since(self, ticket_id: int) -> datetime | None:
        """When the ticket last changed status (None: never since it was created)."""
        row = self.conn.execute("SELECT MAX(at) FROM events WHERE ticket_id = ? AND kind = 'status'",
                                [ticket_id]).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def set_status(self, ticket_id: int, status: str, *, actor: str, at: datetime, reason: str) -> str:
        """Change the status with its event; returns the old one."""
        old = self.conn.execute("SELECT status FROM tickets WHERE id = ?", [ticket_id]).fetchone()[0]
        self.conn.execute("UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?",
                          [status, at.isoformat(), ticket_id])
        self.event(ticket_id, actor=actor, kind="status", old=old, new=status, at=at, detail={"reason": reason})
        return str(old)

    def statuses(self, ticket_ids: Sequence[int]) -> dict[int, str]:
        """The status of each of these tickets that exists."""
        marks = ",".join("?" * len(ticket_ids))
        rows = self.conn.execute(f"SELECT id, status FROM tickets WHERE id IN ({marks})", list(ticket_ids))
        return {int(i): str(status) for i, status in rows}

    def link(self, ticket_id: int, other_id: int, *, kind: str, at: datetime) -> None:
        """``kind`` "incident": ticket_id is an incident of problem other_id; "follow-up": it continues other_id."""
        self.conn.execute("INSERT INTO ticket_links (ticket_id, other_id, kind, linked_at) VALUES (?, ?, ?, ?)"
                          " ON CONFLICT(ticket_id, kind) DO UPDATE SET other_id = excluded.other_id,"
                          " linked_at = excluded.linked_at", [ticket_id, other_id, kind, at.isoformat()])

    def incidents(self, problem_id: int) -> list[int]:
        rows = self.conn.execute("SELECT ticket_id FROM ticket_links WHERE other_id = ? AND kind = 'incident'"
                                 " ORDER BY ticket_id", [problem_id])
        return [int(r[0]) for r in rows]

    def merge(self, ticket_id: int, into: int, *, actor: str, at: datetime) -> None:
        """Move messages, threading references, people, tags and history into ``into``."""
        for table in ("messages", "message_refs", "events"):
            self.conn.execute(f"UPDATE {table} SET ticket_id = ? WHERE ticket_id = ?", [into, ticket_id])
        for table, key in (("participants", "address"), ("ticket_tags", "tag")):
            self.conn.execute(f"UPDATE OR IGNORE {table} SET ticket_id = ? WHERE ticket_id = ?", [into, ticket_id])
            self.conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", [ticket_id])
        self.conn.execute("UPDATE tickets SET message_count = (SELECT COUNT(*) FROM messages WHERE ticket_id = ?),"
                          " updated_at = ? WHERE id = ?", [into, at.isoformat(), into])
        self.conn.execute("UPDATE tickets SET message_count = 0 WHERE id = ?", [ticket_id])
        self.link(ticket_id, into, kind="merged", at=at)  # mail for this ticket now threads there
        self.event(into, actor=actor, kind="merged", at=at, new=str(ticket_id), detail={"from": ticket_id})
        self.event(ticket_id, actor=actor, kind="merged", at=at, new=str(into), detail={"into": into})

    def joinable(self, ticket_id: int) -> bool:
        """Nobody has worked the ticket yet: open, unowned, not merged or linked by an agent (only other
        early replies joined it), no agent's mail, no reply sent."""
        row = self.conn.execute(
            "SELECT 1 FROM tickets t WHERE t.id = ? AND t.status NOT IN ('resolved', 'closed')"
            " AND t.assignee IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM ticket_links l WHERE l.ticket_id = t.id"
            "  OR (l.other_id = t.id AND l.kind != 'merged'))"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = 'merged')"
            " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.sender_role = 'agent')"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'relay')",
            [ticket_id]).fetchone()
        return row is not None

    def join_thread(self, ticket_id: int, into: int, *, at: datetime) -> list[str]:
        """Move an unworked ticket's mail into the thread it answers; its people are not carried over.

        Senders who take no part in ``into`` are marked strangers there (returned), so they hear
        nothing from it; the emptied ticket is closed, its timers dropped, its tokens lead to ``into``.
        """
        strangers = [str(r[0]) for r in self.conn.execute(
            "SELECT DISTINCT sender FROM messages WHERE ticket_id = ? AND sender IS NOT NULL"
            " AND lower(sender) NOT IN (SELECT lower(address) FROM participants WHERE ticket_id = ?)",
            [ticket_id, into])]
        self.conn.execute("UPDATE messages SET sender_role = 'stranger' WHERE ticket_id = ? AND sender IS NOT NULL"
                          " AND lower(sender) NOT IN (SELECT lower(address) FROM participants WHERE ticket_id = ?)",
                          [ticket_id, into])
        for table in ("messages", "message_refs"):
            self.conn.execute(f"UPDATE {table} SET ticket_id = ? WHERE ticket_id = ?", [into, ticket_id])
        self.conn.execute("UPDATE tickets SET message_count = (SELECT COUNT(*) FROM messages WHERE ticket_id = ?),"
                          " updated_at = ? WHERE id = ?", [into, at.isoformat(), into])
        self.conn.execute("UPDATE tickets SET message_count = 0 WHERE id = ?", [ticket_id])
        self.conn.execute("DELETE FROM sla_timers WHERE ticket_id = ? AND fired_at IS NULL", [ticket_id])
        self.link(ticket_id, into, kind="merged", at=at)
        self.set_status(ticket_id, "closed", actor="system", at=at, reason=f"its mail joined #{into}")
        self.event(into, actor="system", kind="thread-joined", at=at, new=str(ticket_id), detail={"from": ticket_id})
        self.event(ticket_id, actor="system", kind="thread-joined", at=at, new=str(into), detail={"into": into})
        return strangers

    def set_requester(self, ticket_id: int, address: str, *, actor: str, at: datetime) -> None:
        """The ticket is for ``address``; whoever was its requester stays as a participant in copy."""
        old = self.conn.execute("SELECT requester FROM tickets WHERE id = ?", [ticket_id]).fetchone()[0]
        self.conn.execute("UPDATE participants SET role = 'cc' WHERE ticket_id = ? AND role = 'requester'",
                          [ticket_id])
        self.conn.execute("INSERT INTO participants (ticket_id, address, name, role, added_at)"
                          " VALUES (?, ?, '', 'requester', ?) ON CONFLICT(ticket_id, address)"
                          " DO UPDATE SET role = 'requester'", [ticket_id, address, at.isoformat()])
        self.conn.execute("UPDATE tickets SET requester = ?, updated_at = ? WHERE id = ?",
                          [address, at.isoformat(), ticket_id])
        self.event(ticket_id, actor=actor, kind="requester", old=old, new=address, at=at)

    def rate(self, ticket_id: int, *, score: int, comment: str, by: str, at: datetime) -> bool:
        """Record a rating of the ticket's latest resolution (replacing an earlier one); False without one."""
        row = self.conn.execute("SELECT MAX(id) FROM events WHERE ticket_id = ? AND kind = 'resolution'",
                                [ticket_id]).fetchone()
        if not row or row[0] is None:
            return False
        self.conn.execute(
            "INSERT INTO csat (ticket_id, resolution_event, score, comment, rated_by, rated_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(ticket_id, resolution_event) DO UPDATE SET score = excluded.score,"
            " comment = excluded.comment, rated_by = excluded.rated_by, rated_at = excluded.rated_at",
            [ticket_id, row[0], score, comment, by, at.isoformat()])
        self.event(ticket_id, actor=by, kind="csat", new=str(score), at=at, detail={"comment": comment})
        return True

    def resolution_summary(self, ticket_id: int) -> str:
        """The summary of the ticket's latest resolution ("" if never resolved)."""
        row = self.conn.execute("SELECT detail FROM events WHERE ticket_id = ? AND kind = 'resolution'"
                                " ORDER BY id DESC LIMIT 1", [ticket_id]).fetchone()
        return str(json.loads(row[0]).get("summary", "")) if row else ""

    def symptoms(self, ticket_id: int, *, limit: int = 2000) -> str:
        """What the requester first wrote (their new text), as an article's symptoms."""
        row = self.conn.execute(
            "SELECT m.new_text FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.ticket_id = ?"
            " AND m.sender = t.requester ORDER BY m.id LIMIT 1", [ticket_id]).fetchone()
        return str(row[0])[:limit] if row else ""
