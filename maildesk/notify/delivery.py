"""The records every transport shares: one message to deliver, what became of it, and who hears of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True)
class Delivery:
    """One built message and its envelope; ``key`` is the outbox row it came from."""

    key: int
    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes
    smtputf8: bool
    resumed: bool = False  # a crash cut off an earlier attempt: it may have gone out already


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one delivery; ``code`` is the deciding SMTP reply code, if any."""

    key: int
    status: Status
    code: int | None
    detail: str


#: Told of each result as soon as it is known, before the next delivery starts, so the outbox
#: records a sent notice at once and a crash later in the burst cannot send it again.
OnResult = Callable[[DeliveryResult], None]


def ignore(result: DeliveryResult) -> None:
    """The ``OnResult`` of a caller that reads the returned results only."""
