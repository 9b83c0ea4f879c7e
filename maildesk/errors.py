"""The one exception hierarchy of maildesk."""

from __future__ import annotations


class MaildeskError(Exception):
    """Base of every error maildesk raises on purpose."""


class ConfigError(MaildeskError):
    """The configuration is invalid; ``key`` is the TOML key path at fault.

    ``problems`` holds every (key, problem) found, so one run reports them all.
    """

    def __init__(self, key: str, problem: str, *, more: tuple[tuple[str, str], ...] = ()) -> None:
        self.key = key
        self.problem = problem
        self.problems = ((key, problem), *more)
        super().__init__("\n".join(f"{k}: {p}" if k else p for k, p in self.problems))


class StoreUnavailable(MaildeskError):
    """The database cannot take a write right now (locked, read-only, disk full).

    A temporary condition: the message stays where it came from and is retried.
    """


class MailboxError(MaildeskError):
    """A mailbox could not be read (connection, login, protocol); retried with backoff."""


class NotFound(MaildeskError):
    """A ticket, message or quarantine entry with that id does not exist."""


class Disposition(MaildeskError):
    """Raised by an intake step to decide a message's fate; caught in one place."""


class Quarantine(Disposition):
    """The message cannot become (part of) a ticket; keep it with a reason.

    ``undeliverable`` lists addresses a delivery report proved we cannot reach: they are marked
    so in the same transaction that keeps the report.
    """

    def __init__(self, reason: str, *, kind: str = "error", ticket_id: int | None = None,
                 undeliverable: tuple[str, ...] = ()) -> None:
        self.reason = reason
        self.kind = kind
        self.ticket_id = ticket_id
        self.undeliverable = undeliverable
        super().__init__(reason)


class Duplicate(Disposition):
    """The message is already stored (same Message-ID or same raw bytes)."""

    def __init__(self, message_pk: int, why: str) -> None:
        self.message_pk = message_pk
        self.why = why
        super().__init__(f"duplicate of message {message_pk} ({why})")
