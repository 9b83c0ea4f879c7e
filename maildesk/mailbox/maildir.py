"""A local Maildir as a mailbox: read ``new/`` (and unseen ``cur/``), move to ``cur/`` with S once committed."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from maildesk.clock import Clock, system_clock
from maildesk.errors import MailboxError
from maildesk.mailbox.base import Ledger, Reconciliation, Settlement
from maildesk.models import Origin, RawMessage

log = logging.getLogger("maildesk.mailbox")


def unique_part(filename: str) -> str:
    """The stable name of a Maildir message: everything before the ``:2,flags`` info."""
    return filename.split(":", 1)[0]


def _flags(filename: str) -> str:
    _, sep, info = filename.partition(":")
    return info[2:] if sep and info.startswith("2,") else ""


class MaildirSource:
    """Implements ``Source`` over a Maildir; file names are the receipts' refs."""

    def __init__(self, *, name: str, path: Path, batch_size: int = 500, poll_seconds: float = 5.0,
                 clock: Clock = system_clock) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._where: dict[str, Path] = {}

    def connect(self) -> None:
        try:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailboxError(f"mailbox {self.name}: cannot use Maildir {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        self._where.clear()

    def _candidates(self) -> Iterator[Path]:
        """Files in new/, then files in cur/ that nobody marked seen; dot-files are ignored."""
        for sub in ("new", "cur"):
            try:
                with os.scandir(self.path / sub) as entries:
                    for entry in entries:
                        if entry.name.startswith(".") or not entry.is_file():
                            continue
                        if sub == "cur" and "S" in _flags(entry.name):
                            continue
                        yield Path(entry.path)
            except OSError as exc:
                raise MailboxError(f"mailbox {self.name}: cannot list {self.path / sub}: {exc.strerror}") from exc

    def batches(self, ledger: Ledger) -> Iterator[Sequence[RawMessage]]:
        pending: list[Path] = []
        for path in self._candidates():
            pending.append(path)
            if len(pending) >= self.batch_size:
                yield from self._read(pending, ledger)
                pending = []
        if pending:
            yield from self._read(pending, ledger)

    def _read(self, paths: list[Path], ledger: Ledger) -> Iterator[Sequence[RawMessage]]:
        """Read one chunk of files in name order (delivery order for standard Maildir names)."""
        refs = {unique_part(p.name): p for p in sorted(paths, key=lambda p: p.name)}
        known = ledger.known_refs(self.name, list(refs))
        batch = []
        for ref, path in refs.items():
            self._where[ref] = path
            if ref in known:
                continue  # committed before a crash; settle() will finish moving it
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # taken away by someone else between listing and reading
            except OSError as exc:
                raise MailboxError(f"mailbox {self.name}: cannot read {path}: {exc.strerror}") from exc
            batch.append(RawMessage(Origin(self.name, ref), data, self.clock()))
        if batch:
            yield batch

    def settle(self, done: Sequence[Settlement]) -> None:
        for item in done:
            path = self._where.pop(item.origin.ref, None) or self._find(item.origin.ref)
            if path is None or not path.exists():
                continue
            flags = "".join(sorted(set(_flags(path.name)) | {"S"}))
            target = self.path / "cur" / f"{item.origin.ref}:2,{flags}"
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxError(f"mailbox {self.name}: cannot move {path}: {exc.strerror}") from exc

    def _find(self, ref: str) -> Path | None:
        new = self.path / "new" / ref
        if new.exists():
            return new
        return next((p for p in (self.path / "cur").glob(f"{ref}:*") if "S" not in _flags(p.name)), None)

    def reconcile(self, ledger: Ledger) -> Reconciliation:
        """Unread files are waiting; a file marked seen (S) that was never stored is missing:
        someone read it in a mail client before the desk took it in."""
        seen: list[str] = []
        total = waiting = 0
        for sub in ("new", "cur"):
            try:
                names = [n for n in os.listdir(self.path / sub) if not n.startswith(".")]
            except OSError as exc:
                raise MailboxError(f"mailbox {self.name}: cannot list {self.path / sub}: {exc.strerror}") from exc
            total += len(names)
            for name in names:
                if sub == "cur" and "S" in _flags(name):
                    seen.append(unique_part(name))
                else:
                    waiting += 1
        known = ledger.known_refs(self.name, seen)
        return Reconciliation(on_server=total, waiting=waiting, missing=tuple(sorted(set(seen) - known)))

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Sleep in short slices until new/ changes, ``timeout`` passes or ``stop`` is set."""
        new_dir = self.path / "new"
        before = _mtime(new_dir)
        waited = 0.0
        limit = min(timeout, self.poll_seconds)
        while waited < limit and not stop.is_set():
            stop.wait(0.25)
            waited += 0.25
            if _mtime(new_dir) != before:
                return


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
