"""Each mailbox's health and each place's storage failures as the daemon meets them: for `status`, metrics, admins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from maildesk.desk import Desk
from maildesk.errors import AuthFailed, MaildeskError, StoreFailed, StoreUnavailable
from maildesk.mailbox.base import Reconciliation
from maildesk.notify.admin import queue_admin_notice
from maildesk.store import Store
from maildesk.store.faults import FaultLog, storage_error
from maildesk.store.operations import MailboxHealth

T = TypeVar("T")

log = logging.getLogger("maildesk.health")

FAIL_GRACE = timedelta(minutes=10)  # a connection failing this long is worth an email; a refused login at once
MISSING_SHOWN = 50  # refs of missing messages kept for `status`


def problem_kind(exc: BaseException) -> str:
    """``auth``: only an admin can fix it (credentials, token); ``connection``: may pass by itself."""
    return "auth" if isinstance(exc, AuthFailed) else "connection"


def hint(kind: str, mailbox: str, oauth: bool) -> str:
    if kind != "auth":
        return "Check that the server is reachable from this host and its certificate is trusted."
    if oauth:
        return f"Sign in again with `maildesk auth login {mailbox}` (the stored token was refused or revoked)."
    return "Fix the password at its source (password_env or password_file), then reload the daemon."


class MailboxMonitor:
    """Writes one mailbox's health row; used only by that mailbox's worker thread.

    A failure is recorded at once. The admins get an ``admin`` notice when a login is refused, or
    when a connection has failed for ``FAIL_GRACE``; again for the same problem only after
    ``[desk] admin_alert_minutes``; and once more when the mailbox works again.
    """

    def __init__(self, desk: Desk, mailbox: str, *, on_change: Callable[[str, bool], None] | None = None) -> None:
        self.desk, self.mailbox = desk, mailbox
        self.on_change = on_change  # told (mailbox, up) on each change, e.g. for metrics
        self._store: Store | None = None

    def connected(self, *, uidvalidity: int | None) -> None:
        self._write(self._connected, uidvalidity)

    def reconcile_due(self, every_minutes: int) -> bool:
        """Is a reconciliation due (never done, or ``every_minutes`` ago)? Never when 0."""
        if not every_minutes:
            return False
        try:
            health = self._opened().health.get(self.mailbox)
        except StoreUnavailable:
            return False
        last = health.reconciled_at if health is not None else None
        return last is None or self.desk.clock() - last >= timedelta(minutes=every_minutes)

    def fetched(self) -> None:
        self._write(lambda store, now: store.health.update(self.mailbox, now=now, last_fetch_at=now))

    def failed(self, exc: BaseException) -> None:
        self._write(self._failed, exc)

    def reconciled(self, result: Reconciliation) -> None:
        self._write(lambda store, now: store.health.update(
            self.mailbox, now=now, on_server=result.on_server, waiting=result.waiting,
            missing=len(result.missing), missing_refs=result.missing[:MISSING_SHOWN], reconciled_at=now,
            uidvalidity=result.uidvalidity))
        if result.missing:
            log.warning("%s: %d message(s) on the server were never stored: %s", self.mailbox,
                        len(result.missing), ", ".join(result.missing[:10]))

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def _connected(self, store: Store, now: datetime, uidvalidity: int | None) -> None:
        before = store.health.get(self.mailbox)
        store.health.update(self.mailbox, now=now, connected=True, failing_since=None, uidvalidity=uidvalidity)
        if before is not None and before.failing_since is not None:
            log.info("%s: works again (failing since %s)", self.mailbox, before.failing_since.isoformat())
            if before.alerted:
                queue_admin_notice(self.desk, store, {"mailbox": self.mailbox, "state": "recovered",
                                                      "kind": before.alerted, "error": "", "since": now, "hint": ""})
                store.health.update(self.mailbox, now=now, alerted="", alerted_at=None)
        if self.on_change:
            self.on_change(self.mailbox, True)

    def _failed(self, store: Store, now: datetime, exc: BaseException) -> None:
        before = store.health.get(self.mailbox)
        since = before.failing_since if before is not None and before.failing_since else now
        kind = problem_kind(exc)
        store.health.update(self.mailbox, now=now, connected=False, last_error=str(exc)[:1000], last_error_at=now,
                            failing_since=since)
        if self._should_alert(before, kind, since, now):
            cfg = self.desk.config.mailbox(self.mailbox)
            problem = {"mailbox": self.mailbox, "state": "failing", "kind": kind, "error": str(exc)[:1000],
                       "since": since, "hint": hint(kind, self.mailbox, cfg is not None and cfg.oauth is not None)}
            if queue_admin_notice(self.desk, store, problem):
                store.health.update(self.mailbox, now=now, alerted=kind, alerted_at=now)
        if self.on_change:
            self.on_change(self.mailbox, False)

    def _should_alert(self, before: MailboxHealth | None, kind: str, since: datetime, now: datetime) -> bool:
        if kind != "auth" and now - since < FAIL_GRACE:
            return False
        if before is None or before.alerted != kind or before.alerted_at is None:
            return True
        return now - before.alerted_at >= timedelta(minutes=self.desk.config.desk.admin_alert_minutes)

    def _opened(self) -> Store:
        if self._store is None:
            self._store = self.desk.open_store()
        return self._store

    def _write(self, action: Callable[..., None], *args: object) -> None:
        """Run one health update in its own transaction; health is never worth failing intake over."""
        try:
            store = self._opened()
            with store.atomic():
                action(store, self.desk.clock(), *args)
        except (StoreUnavailable, MaildeskError) as exc:
            log.warning("%s: health not recorded: %s", self.mailbox, exc)
            self.close()


class StorageWatch:
    """One place's storage failures ("mailbox support", "outbox", "deliver" ...), kept beside the database.

    A full or corrupt database (StoreFailed) is recorded in ``maildesk.store.faults.FaultLog``,
    because it may not take a health row; the place's record is cleared once it works again.
    """

    def __init__(self, desk: Desk, place: str, *, on_failure: Callable[[str], None] | None = None) -> None:
        self.desk, self.place = desk, place
        self.on_failure = on_failure  # told each recorded failure's kind, e.g. for metrics
        self.faults = FaultLog(desk.db_path)

    def failed(self, exc: BaseException) -> StoreUnavailable | None:
        """The storage error ``exc`` stands for, None when it is none; a StoreFailed is recorded."""
        failure = storage_error(exc)
        if isinstance(failure, StoreFailed):
            self.faults.record(self.place, failure, now=self.desk.clock())
            if self.on_failure is not None:
                self.on_failure(failure.kind)
        return failure

    def works(self) -> None:
        self.faults.clear(self.place)

    def run(self, action: Callable[[], T]) -> T:
        """``action()``; a storage failure is recorded and raised as the StoreUnavailable it stands for."""
        try:
            result = action()
        except Exception as exc:
            failure = self.failed(exc)
            if failure is None or failure is exc:
                raise
            raise failure from exc
        self.works()
        return result
