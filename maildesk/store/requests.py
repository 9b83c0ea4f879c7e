"""Agents' questions to the desk that concern no one ticket, kept raw with what became of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database


@dataclass(frozen=True)
class Request:
    """One question mail: who the address was issued to, who sent it, and its fate."""

    id: int
    agent: str
    sender: str
    message_id: str | None
    subject: str
    commands: tuple[str, ...]
    outcome: str  # "answered" or "refused"
    reason: str
    created_at: str


class RequestStore:
    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def add(self, *, agent: str, sender: str, message_id: str | None, raw_hash: str, mailbox: str | None,
            subject: str, commands: Sequence[str], outcome: str, reason: str, raw: bytes, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO requests (agent, sender, message_id, raw_hash, mailbox, subject, commands, outcome, reason,"
            " created_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [agent, sender, message_id, raw_hash, mailbox, subject, json.dumps(list(commands)), outcome, reason,
             now.isoformat(), raw])
        return int(cur.lastrowid or 0)

    def known(self, *, message_id: str | None, raw_hash: str) -> int | None:
        """The request already kept with this Message-ID (or, without one, these bytes)."""
        column, value = ("message_id", message_id) if message_id else ("raw_hash", raw_hash)
        row = self.conn.execute(f"SELECT id FROM requests WHERE {column} = ? ORDER BY id LIMIT 1", [value]).fetchone()
        return None if row is None else int(row[0])

    def get(self, request_id: int) -> Request | None:
        row = self.conn.execute(
            "SELECT id, agent, sender, message_id, subject, commands, outcome, reason, created_at FROM requests"
            " WHERE id = ?", [request_id]).fetchone()
        if row is None:
            return None
        rid, agent, sender, mid, subject, commands, outcome, reason, at = row
        return Request(int(rid), agent, sender, mid, subject, tuple(json.loads(commands)), outcome, reason, at)

    def raw(self, request_id: int) -> bytes | None:
        row = self.conn.execute("SELECT raw FROM requests WHERE id = ?", [request_id]).fetchone()
        return None if row is None else bytes(row[0])

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
