"""Consistent copies of the live database with SQLite's online backup API, safe while the daemon writes."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from maildesk.errors import BackupFailed

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class BackupReport:
    """What was written: the file, its size in bytes, and how many tickets and messages it holds."""

    path: Path
    size: int
    tickets: int
    messages: int


def backup(source: Path, target: Path, *, pages: int = 1024, force: bool = False) -> BackupReport:
    """Copy the database at ``source`` to ``target`` (mode 0600), consistent as of one moment.

    The copy is written to a temporary file beside ``target``, checked with ``PRAGMA
    integrity_check``, synced and only then renamed into place, so ``target`` is either the old
    file or a complete new one. ``pages`` is how many pages each backup step copies; every step
    reads the same snapshot, so writers are never blocked and the copy never restarts. Raises
    BackupFailed when ``target`` exists (unless ``force``), cannot be written, or the source is
    missing, unreadable or corrupt.
    """
    source, target = Path(source), Path(target)
    _check_target(target, force=force)
    if not source.is_file():
        raise BackupFailed(f"no database at {source}")
    temporary = _temporary_beside(target)
    try:
        _copy(source, temporary, pages=pages)
        tickets, messages = _verify(temporary)
        _fsync(temporary)
        _check_target(target, force=force)  # it may have appeared meanwhile
        os.replace(temporary, target)
        _fsync(target.parent)
    except BaseException:
        _discard(temporary)
        raise
    return BackupReport(path=target, size=target.stat().st_size, tickets=tickets, messages=messages)


def _check_target(target: Path, *, force: bool) -> None:
    if target.is_dir():
        raise BackupFailed(f"{target} is a directory")
    if target.exists() and not force:
        raise BackupFailed(f"{target} already exists (use --force to replace it)")


def _temporary_beside(target: Path) -> Path:
    """An empty private file in ``target``'s directory (mkstemp creates it with mode 0600)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BackupFailed(f"cannot write in {target.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(name)


def _copy(source: Path, temporary: Path, *, pages: int) -> None:
    """Copy every page of one read snapshot of ``source``; the copy gets a rollback journal, not WAL.

    The source is opened read-write but never created (``mode=rw``) and only read: a read-only
    connection would leave ``-wal`` and ``-shm`` files behind when it is the last one to close.
    """
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot open {source}: {exc}") from exc
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # takes the snapshot every step reads
        dst = sqlite3.connect(temporary, isolation_level=None)
        try:
            src.backup(dst, pages=pages)
            dst.execute("PRAGMA journal_mode = DELETE").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot copy {source}: {exc}") from exc
    finally:
        src.close()


def _verify(temporary: Path) -> tuple[int, int]:
    """Run ``PRAGMA integrity_check`` on the copy; return its ticket and message counts."""
    conn = sqlite3.connect(temporary, isolation_level=None)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupFailed(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
        tickets = int(conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])
        messages = int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupFailed(f"the copy is not a readable maildesk database: {exc}") from exc
    finally:
        conn.close()
    return tickets, messages


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(temporary: Path) -> None:
    for leftover in (temporary, *(Path(f"{temporary}{suffix}") for suffix in ("-journal", "-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
