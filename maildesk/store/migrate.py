"""Refuse a database that a newer maildesk migrated, before anything in it changes."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from maildesk.errors import SchemaTooNew


def known_names(known: Migrations) -> list[str]:
    """Every migration this code registers, in order (all of them are pending on an empty database)."""
    return [m.name for m in known.pending(Database(memory=True))]


def unknown_applied(db: Database, *, known: Migrations) -> tuple[str, ...]:
    """Migrations of ``known``'s set recorded as applied in ``db`` that this code does not have (read only)."""
    names = set(known_names(known))
    return tuple(m.name for m in known.applied(db) if m.name not in names)


def refuse_newer(db: Database, *, known: Migrations, where: str) -> None:
    """Raise SchemaTooNew when ``db`` holds migrations this code does not know; read only."""
    unknown = unknown_applied(db, known=known)
    if unknown:
        raise SchemaTooNew(where, unknown)
