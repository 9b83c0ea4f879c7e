"""The records every transport shares: one message to deliver, and what became of it."""

from __future__ import annotations

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


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one delivery; ``code`` is the deciding SMTP reply code, if any."""

    key: int
    status: Status
    code: int | None
    detail: str
