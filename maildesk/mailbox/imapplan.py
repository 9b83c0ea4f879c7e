"""Pure helpers for the IMAP source: batch planning and reading FETCH responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

_MESSAGE_ID = re.compile(rb"^message-id:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_FOLDING = re.compile(rb"\r?\n[ \t]+")

from maildesk.mailbox.base import Settlement

log = logging.getLogger("maildesk.mailbox")

T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_batches(sizes: Iterable[tuple[int, int]], max_count: int,
                 max_bytes: int) -> list[list[int]]:
    """Group ``(uid, size)`` pairs, in order, under both limits; a bigger message goes alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid, size in sizes:
        if current and (len(current) >= max_count or total + size > max_bytes):
            batches.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    return [*batches, current] if current else batches


def header_message_id(header: bytes | None) -> str | None:
    """The Message-ID (without <>) from a fetched header block, None when unusable."""
    match = _MESSAGE_ID.search(_FOLDING.sub(b" ", header or b""))
    return match.group(1).decode("ascii", "replace") if match else None


def fetched_header(item: dict[bytes, Any]) -> bytes | None:
    found = [v for k, v in item.items() if k.startswith(b"BODY[HEADER") and isinstance(v, bytes)]
    return found[0] if found else None


def is_new_mail(response: tuple[Any, ...]) -> bool:
    if len(response) < 2 or not isinstance(response[0], int):
        return False
    return response[1] == b"EXISTS" or (response[1] == b"RECENT" and response[0] > 0)


def settle_targets(done: Sequence[Settlement], *, mailbox: str, uidvalidity: int, processed: str | None,
                   quarantine: str | None) -> dict[str | None, list[int]]:
    """UIDs grouped by target folder (None: flag \\Seen); settlements of another mailbox or an
    old UIDVALIDITY are void and left out."""
    targets: dict[str | None, list[int]] = {}
    for settlement in done:
        origin = settlement.origin
        if origin.mailbox != mailbox or origin.uid is None:
            log.warning("%s: cannot settle %s:%s here", mailbox, origin.mailbox, origin.ref)
        elif origin.uidvalidity != uidvalidity:
            log.info("%s: %s is of an old UIDVALIDITY; void", mailbox, origin.ref)
        else:
            target = quarantine if settlement.quarantined and quarantine else processed
            targets.setdefault(target, []).append(origin.uid)
    return targets
