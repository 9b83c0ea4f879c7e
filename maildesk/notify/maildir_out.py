"""Write built messages into a local Maildir in place of a mail server, to show what would be sent."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from maildesk.clock import Clock, system_clock
from maildesk.notify.delivery import Delivery, DeliveryResult, OnResult, ignore

log = logging.getLogger("maildesk.notify")


def _host_part() -> str:
    """This host's name, with the characters Maildir file names reserve escaped."""
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


class MaildirSender:
    """Writes each delivery's bytes, unchanged, as one file in ``path/new`` (via ``tmp``).

    It has ``SmtpSender.send``'s signature; every written delivery is ``sent``. The
    Maildir is created when missing. A file that cannot be written (disk full, no
    permission) is ``temporary``, so the message is not lost. A file's name follows from
    the outbox row and the bytes, so a delivery resumed after a crash that is already in
    ``new`` or ``cur`` is ``sent`` without being written twice.
    """

    idempotent = True  # a resumed delivery already written is found by its name, not written again

    def __init__(self, path: Path | str, *, clock: Clock = system_clock) -> None:
        self.path = Path(path)
        self.clock = clock

    def send(self, deliveries: Sequence[Delivery], on_result: OnResult = ignore) -> list[DeliveryResult]:
        if not deliveries:
            return []
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            detail = f"cannot create Maildir {self.path}: {exc.strerror}"
            log.error("%s", detail)
            return [DeliveryResult(d.key, "temporary", None, detail) for d in deliveries]
        there = self._present() if any(d.resumed for d in deliveries) else frozenset()
        results = []
        for delivery in deliveries:
            name = self.file_name(delivery)
            result = (DeliveryResult(delivery.key, "sent", None, f"already in {self.path} as {name}")
                      if delivery.resumed and name in there else self._write(delivery, name))
            results.append(result)
            on_result(result)
        return results

    @staticmethod
    def file_name(delivery: Delivery) -> str:
        """``<row>.S<digest of the bytes>.<host>``: unique, and the same on every attempt."""
        digest = hashlib.sha256(delivery.data).hexdigest()[:20]
        return f"{delivery.key}.S{digest}.{_host_part()}"

    def _present(self) -> frozenset[str]:
        """Names in ``new`` and ``cur`` (without a reader's ``:2,`` flags): what was written already."""
        names = set()
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                names.update(entry.name.split(":", 1)[0] for entry in entries)
        return frozenset(names)

    def _write(self, delivery: Delivery, name: str) -> DeliveryResult:
        tmp, new = self.path / "tmp" / name, self.path / "new" / name
        try:
            tmp.unlink(missing_ok=True)  # half written by an attempt a crash cut off
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(delivery.data)
                    out.flush()
                    os.fsync(out.fileno())
                os.rename(tmp, new)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            detail = f"cannot write to Maildir {self.path}: {exc.strerror or exc}"
            log.error("delivery %d: %s", delivery.key, detail)
            return DeliveryResult(delivery.key, "temporary", None, detail)
        log.debug("delivery %d written to %s for %s", delivery.key, new,
                 ", ".join(delivery.recipients))
        return DeliveryResult(delivery.key, "sent", None, f"written to {new}")
