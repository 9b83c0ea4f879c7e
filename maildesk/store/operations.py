"""Operational state: sealed OAuth2 tokens, each mailbox's health, the daemon's heartbeat."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database


@dataclass(frozen=True)
class StoredToken:
    """One login's tokens as stored: both sealed (encrypted), never in clear text."""

    name: str
    subject: str  # the account the tokens belong to
    refresh_token: bytes | None
    access_token: bytes | None
    expires_at: datetime | None
    updated_at: datetime
    rotations: int


@dataclass(frozen=True)
class MailboxHealth:
    """What the daemon last knew about one mailbox."""

    mailbox: str
    connected: bool
    last_fetch_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    uidvalidity: int | None
    on_server: int | None
    waiting: int | None
    missing: int | None
    missing_refs: tuple[str, ...]
    reconciled_at: datetime | None
    alerted: str
    alerted_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class DaemonBeat:
    """The daemon's last sign of life; ``stopped_at`` once it stopped cleanly."""

    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class TokenStore:
    """OAuth2 tokens by login name ("mailbox name" or "outbound")."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def get(self, name: str) -> StoredToken | None:
        row = self.conn.execute("SELECT name, subject, refresh_token, access_token, expires_at, updated_at, "
                                "rotations FROM oauth_tokens WHERE name = ?", [name]).fetchone()
        if row is None:
            return None
        return StoredToken(row[0], row[1], row[2], row[3], _when(row[4]), datetime.fromisoformat(row[5]), row[6])

    def put(self, name: str, *, subject: str, refresh_token: bytes | None, access_token: bytes | None,
            expires_at: datetime | None, now: datetime, rotated: bool = False) -> None:
        """Insert or replace; ``refresh_token=None`` keeps the stored one (a refresh without rotation)."""
        self.conn.execute(
            "INSERT INTO oauth_tokens (name, subject, refresh_token, access_token, expires_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET subject = excluded.subject, "
            "refresh_token = COALESCE(excluded.refresh_token, refresh_token), access_token = excluded.access_token,"
            " expires_at = excluded.expires_at, updated_at = excluded.updated_at, rotations = rotations + ?",
            [name, subject, refresh_token, access_token, expires_at.isoformat() if expires_at else None,
             now.isoformat(), int(rotated)])

    def forget(self, name: str) -> bool:
        return self.conn.execute("DELETE FROM oauth_tokens WHERE name = ?", [name]).rowcount > 0

    def names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM oauth_tokens ORDER BY name")]


_HEALTH_COLUMNS = ("mailbox", "connected", "last_fetch_at", "last_error", "last_error_at", "failing_since",
                   "uidvalidity", "on_server", "waiting", "missing", "missing_refs", "reconciled_at", "alerted",
                   "alerted_at", "updated_at")


class HealthStore:
    """Per-mailbox health rows and the daemon's heartbeat, written by the daemon, read by `status`."""

    def __init__(self, db: Database) -> None:
        self.conn = db.conn

    def update(self, mailbox: str, *, now: datetime, **fields: Any) -> None:
        """Set these fields of the mailbox's row (created on first use)."""
        unknown = set(fields) - set(_HEALTH_COLUMNS)
        if unknown:
            raise ValueError(f"unknown health fields: {sorted(unknown)}")
        values = {k: _column(v) for k, v in fields.items()}
        self.conn.execute("INSERT INTO mailbox_health (mailbox, updated_at) VALUES (?, ?) "
                          "ON CONFLICT(mailbox) DO NOTHING", [mailbox, now.isoformat()])
        assignments = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(f"UPDATE mailbox_health SET {assignments}{', ' if values else ''}updated_at = ? "
                          "WHERE mailbox = ?", [*values.values(), now.isoformat(), mailbox])

    def get(self, mailbox: str) -> MailboxHealth | None:
        rows = self._rows("WHERE mailbox = ?", [mailbox])
        return rows[0] if rows else None

    def all(self) -> list[MailboxHealth]:
        return self._rows("ORDER BY mailbox", [])

    def _rows(self, where: str, params: Sequence[Any]) -> list[MailboxHealth]:
        cur = self.conn.execute(f"SELECT {', '.join(_HEALTH_COLUMNS)} FROM mailbox_health {where}", params)
        return [MailboxHealth(
            mailbox=r[0], connected=bool(r[1]), last_fetch_at=_when(r[2]), last_error=r[3],
            last_error_at=_when(r[4]), failing_since=_when(r[5]), uidvalidity=r[6], on_server=r[7], waiting=r[8],
            missing=r[9], missing_refs=tuple(json.loads(r[10])), reconciled_at=_when(r[11]), alerted=r[12],
            alerted_at=_when(r[13]), updated_at=datetime.fromisoformat(r[14])) for r in cur]

    def beat(self, name: str, *, now: datetime, pid: int, version: str, started_at: datetime) -> None:
        self.conn.execute("INSERT INTO service_state (name, pid, version, started_at, heartbeat_at) "
                          "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET pid = excluded.pid, "
                          "version = excluded.version, started_at = excluded.started_at, "
                          "heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
                          [name, pid, version, started_at.isoformat(), now.isoformat()])

    def stopped(self, name: str, *, now: datetime) -> None:
        self.conn.execute("UPDATE service_state SET stopped_at = ? WHERE name = ?", [now.isoformat(), name])

    def heartbeat(self, name: str = "daemon") -> DaemonBeat | None:
        """The last daemon's heartbeat, None when none ever ran here."""
        row = self.conn.execute("SELECT pid, version, started_at, heartbeat_at, stopped_at FROM service_state "
                                "WHERE name = ?", [name]).fetchone()
        if row is None:
            return None
        return DaemonBeat(int(row[0]), str(row[1]), datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3]),
                          _when(row[4]))


def _column(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return json.dumps(list(value))
    if isinstance(value, bool):
        return int(value)
    return value
