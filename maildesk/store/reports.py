"""What the KPI report reads: each ticket created in a period, with its first reply, resolution and more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from maildesk.report.kpi import TicketFacts

_PER_TICKET = {
    "tier": "SELECT ticket_id, new FROM events WHERE kind = 'routed' AND ticket_id IN ({ids}) ORDER BY id DESC",
    "response": "SELECT ticket_id, MIN(created_at) FROM outbox WHERE kind = 'relay' AND ticket_id IN ({ids})"
                " GROUP BY ticket_id",
    "replies": "SELECT ticket_id, COUNT(DISTINCT created_at) FROM outbox WHERE kind = 'relay'"
               " AND ticket_id IN ({ids}) GROUP BY ticket_id",
    "resolved": "SELECT ticket_id, at, actor FROM events WHERE kind = 'resolution' AND ticket_id IN ({ids})"
                " ORDER BY id DESC",
    "escalations": "SELECT ticket_id, COUNT(*) FROM events WHERE kind = 'escalated' AND ticket_id IN ({ids})"
                   " GROUP BY ticket_id",
    "reopened": "SELECT DISTINCT ticket_id, 1 FROM events WHERE kind = 'status' AND old IN ('resolved', 'closed')"
                " AND new = 'open' AND ticket_id IN ({ids})",
    "csat": "SELECT ticket_id, score FROM csat WHERE ticket_id IN ({ids}) ORDER BY rated_at",
    "breached": "SELECT ticket_id, group_concat(DISTINCT new) FROM events WHERE kind = 'sla-breach'"
                " AND ticket_id IN ({ids}) GROUP BY ticket_id",
}
CHUNK = 500  # tickets per query
Policy = tuple[tuple[str, ...], Any]  # a ticket's SLA clocks, and its business calendar (or None)


def _none(sla: str | None, priority: str) -> Policy:
    return (), None


class ReportStore:
    """The report's reads, a chunk of tickets at a time, each fact with one grouped query."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def facts(self, *, since: datetime, until: datetime, clocks_of: Callable[[str | None, str], Policy] = _none
              ) -> list[TicketFacts]:
        """Tickets created in [since, until); ``clocks_of(sla, priority)`` gives each one's SLA clocks and,
        when its policy counts business hours, their calendar."""
        rows = self.conn.execute("SELECT id, created_at, status, tier, sla, priority FROM tickets WHERE created_at >= ?"
                                 " AND created_at < ? ORDER BY id", [since.isoformat(), until.isoformat()]).fetchall()
        found: list[TicketFacts] = []
        for start in range(0, len(rows), CHUNK):
            found += self._chunk(rows[start:start + CHUNK], clocks_of)
        return found

    def _chunk(self, rows: list[tuple], clocks_of: Callable[[str | None, str], Policy]) -> list[TicketFacts]:
        ids = ",".join(str(int(r[0])) for r in rows)
        got = {name: {} for name in _PER_TICKET}
        for name, sql in _PER_TICKET.items():
            for row in self.conn.execute(sql.format(ids=ids)):
                got[name][row[0]] = row[1:]  # the last row per ticket wins: queries order for that
        return [self._one(r, got, clocks_of) for r in rows]

    @staticmethod
    def _one(row: tuple, got: dict[str, dict], clocks_of: Callable[[str | None, str], Policy]) -> TicketFacts:
        ticket_id, created, status, tier, sla, priority = row
        breached = got["breached"].get(ticket_id)
        clocks, calendar = clocks_of(sla, priority)
        resolved = got["resolved"].get(ticket_id)
        response = got["response"].get(ticket_id)
        return TicketFacts(
            id=ticket_id, created_at=datetime.fromisoformat(created), status=status,
            first_tier=(got["tier"].get(ticket_id) or (tier,))[0],
            first_response_at=datetime.fromisoformat(response[0]) if response else None,
            resolved_at=datetime.fromisoformat(resolved[0]) if resolved else None,
            resolver=resolved[1] if resolved else None, replies=(got["replies"].get(ticket_id) or (0,))[0],
            escalations=(got["escalations"].get(ticket_id) or (0,))[0],
            reopened=ticket_id in got["reopened"], csat=(got["csat"].get(ticket_id) or (None,))[0],
            tier=tier, sla_clocks=clocks, calendar=calendar, breached=tuple(breached[0].split(",")) if breached else ())
