"""Write built messages into a local Maildir in place of a mail server, to show what would be sent."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path

from maildesk.clock import Clock, system_clock
from maildesk.notify.delivery import Delivery, DeliveryResult

log = logging.getLogger("maildesk.notify")

_counter = itertools.count(1)


def _host_part() -> str:
    """This host's name, with the characters Maildir file names reserve escaped."""
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


class MaildirSender:
    """Writes each delivery's bytes, unchanged, as one file in ``path/new`` (via ``tmp``).

    It has ``SmtpSender.send``'s signature; every written delivery is ``sent``. The
    Maildir is created when missing. A file that cannot be written (disk full, no
    permission) is ``temporary``, so the message is not lost.
    """

    def __init__(self, path: Path | str, *, clock: Clock = system_clock) -> None:
        self.path = Path(path)
        self.clock = clock

    def send(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        if not deliveries:
            return []
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            detail = f"cannot create Maildir {self.path}: {exc.strerror}"
            log.error("%s", detail)
            return [DeliveryResult(d.key, "temporary", None, detail) for d in deliveries]
        return [self._write(delivery) for delivery in deliveries]

    def _unique_name(self, delivery: Delivery) -> str:
        """``seconds.M<micro>P<pid>Q<n>R<random>K<key>.host``: unique across processes and hosts."""
        now = self.clock()
        return (f"{int(now.timestamp())}.M{now.microsecond}P{os.getpid()}Q{next(_counter)}"
                f"R{secrets.token_hex(4)}K{delivery.key}.{_host_part()}")

    def _write(self, delivery: Delivery) -> DeliveryResult:
        name = self._unique_name(delivery)
        tmp, new = self.path / "tmp" / name, self.path / "new" / name
        try:
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
