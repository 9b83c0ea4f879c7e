"""Tier queues: where routing puts a ticket, who gets it, and what each tier has open."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

OPEN_STATUSES: tuple[str, ...] = ("new", "open", "pending", "on_hold")
_QUEUE_COLUMNS = ("id", "subject", "requester", "status", "tier", "priority", "assignee", "created_at",
                  "updated_at")


class QueueStore:
    """Routing's writes (tier, priority, owner, tags) and the open-ticket queues."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def route(self, ticket_id: int, *, tier: str, priority: str, assignee: str | None, sla: str | None,
              tags: Sequence[str], detail: dict[str, Any], at: datetime) -> None:
        """Place a new ticket: one update, its tags, and one ``routed`` event explaining why."""
        self.conn.execute("UPDATE tickets SET tier = ?, priority = ?, assignee = ?, sla = ? WHERE id = ?",
                          [tier, priority, assignee, sla, ticket_id])
        self.add_tags(ticket_id, tags)
        self.conn.execute(
            "INSERT INTO events (ticket_id, at, actor, kind, old, new, detail) VALUES (?, ?, 'system', 'routed',"
            " NULL, ?, ?)", [ticket_id, at.isoformat(), tier, json.dumps(detail)])

    def add_tags(self, ticket_id: int, tags: Sequence[str]) -> None:
        if not tags:
            return
        self.conn.executemany("INSERT OR IGNORE INTO ticket_tags (ticket_id, tag) VALUES (?, ?)",
                              [(ticket_id, tag) for tag in tags])

    def tags(self, ticket_id: int) -> list[str]:
        rows = self.conn.execute("SELECT tag FROM ticket_tags WHERE ticket_id = ? ORDER BY tag", [ticket_id])
        return [r[0] for r in rows]

    def next_in_rotation(self, tier: str, agents: Sequence[str]) -> str:
        """Round-robin: the agent after the one who got this tier's last ticket (and remember it)."""
        row = self.conn.execute("SELECT last_agent FROM tier_rotation WHERE tier = ?", [tier]).fetchone()
        last = row[0] if row else None
        agent = agents[(agents.index(last) + 1) % len(agents)] if last in agents else agents[0]
        self.conn.execute("INSERT INTO tier_rotation (tier, last_agent) VALUES (?, ?) ON CONFLICT(tier)"
                          " DO UPDATE SET last_agent = excluded.last_agent", [tier, agent])
        return agent

    def least_open(self, agents: Sequence[str]) -> str:
        """The agent with the fewest open tickets (any tier); ties go to the one listed first."""
        marks = ",".join("?" * len(agents))
        states = ",".join("?" * len(OPEN_STATUSES))
        rows = self.conn.execute(
            f"SELECT assignee, COUNT(*) FROM tickets WHERE assignee IN ({marks}) AND status IN ({states})"
            " GROUP BY assignee", [*agents, *OPEN_STATUSES]).fetchall()
        load = dict(rows)
        return min(agents, key=lambda a: (load.get(a, 0), agents.index(a)))

    def open_tickets(self, tier: str | None = None) -> list[dict[str, Any]]:
        """Open tickets, each tier's oldest first."""
        states = ",".join("?" * len(OPEN_STATUSES))
        sql = f"SELECT {', '.join(_QUEUE_COLUMNS)} FROM tickets WHERE status IN ({states})"
        args: list[Any] = list(OPEN_STATUSES)
        if tier is not None:
            sql += " AND tier = ?"
            args.append(tier)
        rows = self.conn.execute(sql + " ORDER BY tier, created_at, id", args).fetchall()
        return [dict(zip(_QUEUE_COLUMNS, row)) for row in rows]

    def digests_had(self, day: str) -> set[str]:
        """The agents whose digest of that local day was made (sent, or nothing to send)."""
        return {r[0] for r in self.conn.execute("SELECT agent FROM digests WHERE day = ?", [day])}

    def claim_digest(self, agent: str, day: str, *, tickets: int, at: datetime) -> bool:
        """Claim the agent's digest of ``day``; False when it was made already (another process)."""
        cur = self.conn.execute("INSERT OR IGNORE INTO digests (agent, day, tickets, made_at) VALUES (?, ?, ?, ?)",
                                [agent, day, tickets, at.isoformat()])
        return cur.rowcount == 1

    def digest_sent(self, agent: str, day: str, *, outbox_id: int) -> None:
        self.conn.execute("UPDATE digests SET outbox_id = ? WHERE agent = ? AND day = ?", [outbox_id, agent, day])
