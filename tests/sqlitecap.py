"""A full database for tests: SQLite's own ``max_page_count`` on every connection, in this process or a CLI one.

``python tests/sqlitecap.py --config FILE run --once`` runs the maildesk command with each
connection capped at ``$SQLITECAP_PAGES`` pages (never below what the file already holds), so
SQLite itself answers "database or disk is full" as soon as a write needs a page more.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

ENV = "SQLITECAP_PAGES"
_connect = sqlite3.connect


def capped_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
    conn = _connect(*args, **kwargs)  # type: ignore[arg-type]
    cap = os.environ.get(ENV)
    if cap:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(int(pages), int(cap))}")
    return conn


def page_count(db: Path) -> int:
    conn = _connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def command(config: Path, *args: str) -> list[str]:
    """The argv of a capped maildesk command."""
    return [sys.executable, str(Path(__file__).resolve()), "--config", str(config), *args]


if __name__ == "__main__":
    sqlite3.connect = capped_connect  # type: ignore[assignment]
    from maildesk.cli import cli

    cli(prog_name="maildesk")
