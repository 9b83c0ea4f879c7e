"""The contracts between a mailbox source, the intake loop and the store's ledger."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from maildesk.models import Origin, RawMessage


@dataclass(frozen=True)
class Settlement:
    """A message whose fate is committed; the source may now flag or move it."""

    origin: Origin
    quarantined: bool = False


@dataclass(frozen=True)
class Reconciliation:
    """A mailbox compared with the store: nothing on the server may silently never become a ticket.

    ``waiting``: messages the source has not fetched yet (arrived since its last look);
    ``missing``: refs of older messages it has looked past that the store has no trace of.
    """

    on_server: int
    waiting: int
    missing: tuple[str, ...] = ()
    uidvalidity: int | None = None


class Ledger(Protocol):
    """What a source may ask the store about messages it has already committed."""

    def known_refs(self, mailbox: str, refs: Sequence[str]) -> set[str]:
        """The subset of ``refs`` that already have a committed receipt."""
        ...

    def max_uid(self, mailbox: str, uidvalidity: int) -> int:
        """Highest committed UID under this UIDVALIDITY, 0 when none."""
        ...

    def uidvalidity(self, mailbox: str) -> int | None:
        """The UIDVALIDITY last seen for this mailbox, None when never seen."""
        ...

    def set_uidvalidity(self, mailbox: str, value: int) -> None: ...

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        """The subset of Message-IDs (without <>) already stored or quarantined."""
        ...

    def unsettled(self, mailbox: str) -> list[Settlement]:
        """Committed messages whose flag/move on the source is not yet confirmed."""
        ...

    def mark_settled(self, mailbox: str, refs: Sequence[str]) -> None: ...


class Source(Protocol):
    """One configured mailbox. The intake loop drives it; it never touches SQL."""

    name: str

    def connect(self) -> None:
        """Open the connection (no-op for local sources). Raises MailboxError."""
        ...

    def close(self) -> None: ...

    def batches(self, ledger: Ledger) -> Iterator[Sequence[RawMessage]]:
        """Messages waiting that the ledger does not know, oldest first, in batches.

        Nothing is flagged, moved or deleted here; that happens in ``settle``
        once the caller has committed each message.
        """
        ...

    def settle(self, done: Sequence[Settlement]) -> None:
        """Mark committed messages as processed (flag \\Seen, or move)."""
        ...

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Block until new mail may be waiting, ``timeout`` passes or ``stop`` is set."""
        ...

    def reconcile(self, ledger: Ledger) -> Reconciliation:
        """Count what is on the server, waiting, and missing from the store (read-only)."""
        ...
