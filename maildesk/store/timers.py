"""SLA timers: each ticket's pending events with their due time, so a pass reads only what is due."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlite_utils import Database

from maildesk.sla.clocks import History


class TimerStore:
    """Due times by (ticket, kind); a fired timer is kept, so it never fires twice."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def plan(self, ticket_id: int, wanted: Mapping[str, datetime]) -> None:
        """Make the ticket's unfired timers exactly ``wanted`` (kinds already fired stay fired)."""
        fired = {r[0] for r in self.conn.execute(
            "SELECT kind FROM sla_timers WHERE ticket_id = ? AND fired_at IS NOT NULL", [ticket_id])}
        self.conn.execute("DELETE FROM sla_timers WHERE ticket_id = ? AND fired_at IS NULL", [ticket_id])
        self.conn.executemany("INSERT INTO sla_timers (ticket_id, kind, due_at) VALUES (?, ?, ?)",
                              [(ticket_id, kind, due.isoformat()) for kind, due in wanted.items()
                               if kind not in fired])

    def due(self, now: datetime, *, limit: int = 500) -> list[tuple[int, str]]:
        rows = self.conn.execute("SELECT ticket_id, kind FROM sla_timers WHERE fired_at IS NULL AND due_at <= ?"
                                 " ORDER BY due_at LIMIT ?", [now.isoformat(), limit])
        return [(int(t), str(k)) for t, k in rows]

    def fire(self, ticket_id: int, kind: str, *, now: datetime) -> bool:
        """Mark one timer fired; False when it was not pending (already fired or re-planned away)."""
        cur = self.conn.execute("UPDATE sla_timers SET fired_at = ? WHERE ticket_id = ? AND kind = ?"
                                " AND fired_at IS NULL", [now.isoformat(), ticket_id, kind])
        return cur.rowcount > 0

    def pending(self, ticket_id: int) -> dict[str, str]:
        rows = self.conn.execute("SELECT kind, due_at FROM sla_timers WHERE ticket_id = ? AND fired_at IS NULL"
                                 " ORDER BY due_at", [ticket_id])
        return {str(k): str(d) for k, d in rows}

    def history(self, ticket_id: int) -> tuple[History, str | None, str] | None:
        """The ticket's clock history, its SLA policy name (None: by priority) and its priority."""
        row = self.conn.execute("SELECT created_at, sla, priority FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        if row is None:
            return None
        statuses = tuple((datetime.fromisoformat(at), str(new)) for at, new in self.conn.execute(
            "SELECT at, new FROM events WHERE ticket_id = ? AND kind = 'status' ORDER BY id", [ticket_id]))
        responses = tuple(datetime.fromisoformat(at) for (at,) in self.conn.execute(
            "SELECT created_at FROM outbox WHERE ticket_id = ? AND kind = 'relay' ORDER BY id", [ticket_id]))
        return History(datetime.fromisoformat(row[0]), statuses, responses), row[1], str(row[2])
