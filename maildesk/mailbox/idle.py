"""Waiting in IMAP IDLE until new mail, a deadline or a stop, on a client that is already idling."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from maildesk.mailbox.imapplan import is_new_mail


class Idling(Protocol):
    def idle_check(self, timeout: float | None = None) -> list[Any]: ...


def idle_until(client: Idling, stop: threading.Event, until: float, slice_seconds: float) -> str:
    """Why the wait ended: "new mail", "timeout" (``until``, a monotonic time), "stop", or
    "readable without data" (perhaps EOF: ending IDLE will tell). ``stop`` is looked at every
    ``slice_seconds``. A BYE raises ConnectionAbortedError: the connection is gone.
    """
    while not stop.is_set():
        remaining = until - time.monotonic()
        if remaining <= 0:
            return "timeout"
        step = min(slice_seconds, remaining)
        started = time.monotonic()
        responses = client.idle_check(timeout=step)
        if any(response[:1] == (b"BYE",) for response in responses):
            raise ConnectionAbortedError("server ended the session (BYE)")
        if any(is_new_mail(response) for response in responses):
            return "new mail"
        if not responses and time.monotonic() - started < step / 2:
            return "readable without data"
    return "stop"
