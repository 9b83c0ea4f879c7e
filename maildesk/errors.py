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

    The message stays where it came from and is retried.
    """


class StoreFailed(StoreUnavailable):
    """The database refused a read or write for a reason no busy timeout explains.

    Recorded beside the database (``maildesk.store.faults``) so ``maildesk status`` reports it
    even when no health row can be written; ``kind`` names the subclass for the record.
    """

    kind = "failed"


class StoreFull(StoreFailed):
    """SQLite's "database or disk is full" (or no space left for a file): nothing is stored until there is room."""

    kind = "full"


class StoreCorrupt(StoreFailed):
    """SQLite's "database disk image is malformed" or "file is not a database": waiting does not help.

    Restore a backup (README: Backups); the mail stays where it came from meanwhile.
    """

    kind = "corrupt"


class MailboxError(MaildeskError):
    """A mailbox could not be read (connection, login, protocol); retried with backoff."""


class OAuthError(MaildeskError):
    """An OAuth2 provider refused or could not answer a token request.

    ``error`` is the provider's error code (RFC 6749 section 5.2, e.g. ``invalid_grant``) or
    ``http``/``network`` when no such code came back; ``description`` is its explanation.
    ``transient`` errors (network, 5xx, 429, ``temporarily_unavailable``, ``slow_down``) are worth
    retrying as they are; the others need a new login or a fixed configuration.
    """

    TRANSIENT = frozenset({"network", "temporarily_unavailable", "server_error", "slow_down"})

    def __init__(self, error: str, description: str = "", *, status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}" if description else error)

    @property
    def transient(self) -> bool:
        return self.error in self.TRANSIENT or (self.status is not None and (self.status >= 500 or self.status == 429))


class AuthFailed(MailboxError):
    """The server refused our credentials (password or OAuth2 token) after one fresh attempt."""


class NotFound(MaildeskError):
    """A ticket, message or quarantine entry with that id does not exist."""


class MatchTimeLimit(MaildeskError):
    """A rule's pattern used up the time one message may spend on backtracking patterns
    (``[routing] match_time_limit_ms``); ``rule`` and ``key`` name the rule once it is known."""

    def __init__(self, pattern: str, limit_ms: int, *, rule: str = "", key: str = "") -> None:
        self.pattern, self.limit_ms, self.rule, self.key = pattern, limit_ms, rule, key
        shown = pattern if len(pattern) <= 60 else pattern[:60] + "..."
        where = f'rule "{rule}" ({key}): ' if rule else ""
        super().__init__(f"{where}pattern '{shown}' ran past the {limit_ms} ms a message may spend on patterns "
                         "that need backtracking ([routing] match_time_limit_ms)")

    def in_rule(self, rule: str, key: str) -> MatchTimeLimit:
        return MatchTimeLimit(self.pattern, self.limit_ms, rule=rule, key=key)


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

    def __init__(self, message_pk: int | None, why: str) -> None:
        self.message_pk = message_pk
        self.why = why
        super().__init__(f"duplicate of message {message_pk} ({why})" if message_pk else f"duplicate ({why})")


class Answered(Disposition):
    """The message asked the desk a question and is settled as request ``request_id``: answered, or
    refused with a security record. It opens no ticket, later steps do not run, and its writes commit."""

    def __init__(self, request_id: int, why: str) -> None:
        self.request_id = request_id
        self.why = why
        super().__init__(f"request {request_id}: {why}")


class BackupFailed(MaildeskError):
    """A backup could not be written (target exists, directory unwritable, source unreadable or corrupt)."""


class SchemaTooNew(MaildeskError):
    """The database was migrated by a newer maildesk: this code refuses to open it and changes nothing.

    ``unknown`` names the applied migrations this code does not know. Not temporary: waiting does not help.
    """

    def __init__(self, database: str, unknown: tuple[str, ...]) -> None:
        self.database = database
        self.unknown = unknown
        super().__init__(
            f"database {database} was written by a newer maildesk (unknown migration(s): {', '.join(unknown)}); "
            "upgrade maildesk, or restore a backup made by this version")
