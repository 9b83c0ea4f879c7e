"""Storage failures: what SQLite's errors mean, and a record of them beside the database for `status`."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from maildesk.errors import StoreCorrupt, StoreFailed, StoreFull, StoreUnavailable

log = logging.getLogger("maildesk.store")

SUFFIX = "-fault"  # maildesk.db-fault, beside maildesk.db-wal and maildesk.db-shm
RECORD_BYTES = 4096  # the file's fixed size: once made, rewriting it in place needs no new disk space
ERROR_CHARS = 300

# sqlite3 raises OperationalError both for temporary conditions and for SQL bugs;
# only these mean "try again later" (the message stays where it came from).
_TEMPORARY = ("locked", "busy", "readonly", "read-only", "disk i/o", "disk is full",
              "unable to open", "database or disk")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_temporary(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(t in str(exc).lower() for t in _TEMPORARY)


def storage_error(exc: BaseException, where: str = "") -> StoreUnavailable | None:
    """The maildesk error ``exc`` stands for when the database (or the disk under it) failed; None otherwise.

    Judged by SQLite's result code, not the wording: SQLITE_FULL (and a file system out of space)
    is StoreFull, SQLITE_CORRUPT and SQLITE_NOTADB are StoreCorrupt, a lock or busy timeout is
    StoreUnavailable. Anything else (an SQL bug, a constraint) is not a storage failure.
    """
    if isinstance(exc, StoreUnavailable):
        return exc
    text = f"{where}: {exc}" if where else str(exc)
    if isinstance(exc, OSError):
        return StoreFull(text) if exc.errno in _NO_SPACE else None
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return StoreFull(text)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreCorrupt(text)
    return StoreUnavailable(text) if is_temporary(exc) else None


@dataclass(frozen=True)
class StorageFault:
    """One place whose last storage operation failed, and how."""

    place: str  # "mailbox support", "outbox", "timers", "deliver", "daemon", "database"
    kind: str  # StoreFailed.kind: "full" or "corrupt"
    error: str
    at: datetime
    pid: int


class FaultLog:
    """The storage failures not over yet, one per place, in ``<database>-fault``.

    A full or broken database cannot take a health row, so they are kept in this small file:
    fixed in size and rewritten in place under an exclusive lock, it needs no new disk space
    once it exists (``reserve`` makes it while there is room). A place clears its entry when it
    works again. Best effort: a file that cannot be written is logged, never raised.
    """

    def __init__(self, db_path: Path | str) -> None:
        self.path = None if str(db_path) == ":memory:" else Path(f"{db_path}{SUFFIX}")

    def read(self, mailboxes: Iterable[str] | None = None) -> tuple[StorageFault, ...]:
        """The failures recorded; given the configured ``mailboxes``, without those of mailboxes gone since."""
        if self.path is None:
            return ()
        try:
            faults = _decode(self.path.read_bytes())
        except FileNotFoundError:
            return ()
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return ()
        if mailboxes is None:
            return faults
        known = {f"mailbox {name}" for name in mailboxes}
        return tuple(f for f in faults if not f.place.startswith("mailbox ") or f.place in known)

    def reserve(self) -> None:
        """Make the file at its full size now, so that recording a failure later needs no new space."""
        if self.path is None or not self.path.parent.is_dir():
            return  # no database here yet: opening it makes the directory
        if not (self.path.exists() and self.path.stat().st_size >= RECORD_BYTES):
            self._rewrite(lambda faults: faults)

    def record(self, place: str, err: StoreFailed, *, now: datetime) -> bool:
        fault = StorageFault(place, err.kind, str(err)[:ERROR_CHARS], now, os.getpid())
        return self._rewrite(lambda faults: [*(f for f in faults if f.place != place), fault])

    def clear(self, place: str) -> None:
        """Forget ``place``'s failure; reads only, unless there is one."""
        if any(f.place == place for f in self.read()):
            self._rewrite(lambda faults: [f for f in faults if f.place != place])

    def _rewrite(self, change: Callable[[list[StorageFault]], list[StorageFault]]) -> bool:
        if self.path is None:
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            log.error("cannot record storage failures in %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # deliver, run --once and the daemon's threads share it
            faults = list(_decode(os.pread(fd, RECORD_BYTES, 0)))
            os.pwrite(fd, _encode(change(faults)), 0)
            os.fsync(fd)
            return True
        except OSError as exc:
            log.error("cannot record storage failures in %s: %s", self.path, exc)
            return False
        finally:
            os.close(fd)


def _encode(faults: list[StorageFault]) -> bytes:
    """JSON padded with spaces to RECORD_BYTES; the oldest entries go first when they do not fit."""
    while True:
        rows = [{**asdict(f), "at": f.at.isoformat()} for f in faults]
        data = json.dumps({"storage_faults": rows}, ensure_ascii=True).encode()
        if len(data) < RECORD_BYTES or not faults:
            return data.ljust(RECORD_BYTES - 1) + b"\n"
        faults = faults[1:]


def _decode(data: bytes) -> tuple[StorageFault, ...]:
    if not data.strip():
        return ()
    try:
        rows = json.loads(data)["storage_faults"]
        return tuple(StorageFault(str(r["place"]), str(r["kind"]), str(r["error"]), datetime.fromisoformat(r["at"]),
                                  int(r["pid"])) for r in rows)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("unreadable storage failure record (%s); starting a new one", exc)
        return ()
