"""The daemon's workers: one per mailbox draining mail into the pipeline, one sending the outbox."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maildesk.config import MailboxConfig
from maildesk.desk import Desk
from maildesk.auth import for_login
from maildesk.errors import AuthFailed, ConfigError, MailboxError, StoreFailed, StoreUnavailable
from maildesk.health import MailboxMonitor, StorageWatch
from maildesk.mailbox import open_source
from maildesk.drain import drain
from maildesk.notify.dispatch import flush, open_transport
from maildesk.pipeline import Runner
from maildesk.notify.digest import send_digests
from maildesk.sla.timers import run_timers
from maildesk.stage import Context
from maildesk.store import Store
from maildesk.store.faults import FaultLog
from maildesk.workers import PreparePool

if TYPE_CHECKING:
    from maildesk.metrics import Metrics

log = logging.getLogger("maildesk.daemon")


@dataclass
class Backoff:
    """Exponential backoff between failed attempts: 1 s, 2 s, 4 s ... up to ``cap``."""

    first: float = 1.0
    cap: float = 300.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.first if not self.current else min(self.current * 2, self.cap)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


def run_once(desk: Desk, *, mailboxes: tuple[MailboxConfig, ...] | None = None) -> int:
    """Take in everything waiting in every mailbox once, then send every notice that is due;
    returns the number of mailboxes (and outboxes) that failed. A full or corrupt database
    (StoreFailed) is recorded beside it and raised where met: nothing more is written this run.

    The notices go after the intake, not beside it: in one batch run the two would only
    compete for the write lock and the interpreter (measured: 9% slower overall).
    """
    failed = 0
    stop = threading.Event()
    store = StorageWatch(desk, "database").run(desk.open_store)
    FaultLog(desk.db_path).reserve()  # while there is room: a full disk must still be recordable
    pool = prepare_pool(desk)
    try:
        runner = Runner(Context(desk, store), pool=pool)
        for cfg in mailboxes or desk.config.mailboxes:
            failed += not take_in(desk, cfg, runner, stop)
        StorageWatch(desk, "timers").run(lambda: on_the_clock(Context(desk, store)))
        failed += not StorageWatch(desk, "outbox").run(lambda: send_outbox(desk, store))
    finally:
        store.close()
        if pool is not None:
            pool.close()
    return failed


def take_in(desk: Desk, cfg: MailboxConfig, runner: Runner, stop: threading.Event) -> bool:
    """One mailbox of ``run_once``; False when it failed. Raises StoreFailed, recorded, when the database did."""
    monitor = MailboxMonitor(desk, cfg.name)
    try:
        n = StorageWatch(desk, f"mailbox {cfg.name}").run(lambda: visit(desk, cfg, runner, monitor, stop))
    except (MailboxError, ConfigError, StoreUnavailable) as exc:
        monitor.failed(exc)
        log.error("mailbox %s: %s", cfg.name, exc)
        if isinstance(exc, StoreFailed):
            raise
        return False
    finally:
        monitor.close()
    log.info("mailbox %s: %d message(s) taken in", cfg.name, n)
    return True


def visit(desk: Desk, cfg: MailboxConfig, runner: Runner, monitor: MailboxMonitor, stop: threading.Event) -> int:
    """Connect to one mailbox, drain it, reconcile it when due, and close it."""
    source = open_source(cfg, desk.clock, tokens=for_login(desk, cfg.name, cfg.oauth, cfg.username))
    try:
        source.connect()
        monitor.connected(uidvalidity=getattr(source, "uidvalidity", None))
        taken = drain(source, runner, stop)
        monitor.fetched()
        if monitor.reconcile_due(cfg.reconcile_minutes):
            monitor.reconciled(source.reconcile(runner.ctx.store.ledger))
        return taken
    finally:
        source.close()


def send_outbox(desk: Desk, store: Store, metrics: Metrics | None = None) -> bool:
    """Send every notice that is due; False when the outbox could not be worked on at all.

    A full or corrupt database is raised (StoreFailed, or SQLite's own error from a read).
    """
    if desk.config.outbound is None:
        return True
    try:
        if not store.outbox.due(desk.clock(), limit=1):
            return True  # the usual case every few seconds: no password file read, no token keeper made
        counts = flush(desk, store, open_transport(desk), metrics=metrics)
    except StoreFailed:
        raise  # full or corrupt: the caller records it
    except (ConfigError, StoreUnavailable) as exc:
        log.error("outbox: %s", exc)
        return False
    if counts:
        log.info("outbox: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return True


class OutboxWorker(threading.Thread):
    """Sends due notices as soon as a mailbox worker stored mail, and every few seconds for retries.

    ``wake`` is set by the mailbox workers after each batch they took in, and by shutdown; the
    worker sends once more after the stop, so nothing queued before it waits for the next start.
    """

    def __init__(self, desk: Desk, stop: threading.Event, *, wake: threading.Event | None = None,
                 every: float = 2.0, metrics: Metrics | None = None) -> None:
        super().__init__(name="outbox", daemon=True)
        self.desk, self.stop, self.every, self.metrics = desk, stop, every, metrics
        self.wake = wake or threading.Event()
        self.failed = False  # the last send could not work on the outbox at all
        self.watch = StorageWatch(desk, "outbox", on_failure=metrics.storage_failed if metrics else None)

    def run(self) -> None:
        store = self._open()
        if store is None:
            self.failed = True
            return
        try:
            while not self.stop.is_set():
                self.wake.clear()
                self._send(store)
                self.wake.wait(self.every)
            self.failed = not self._send(store)
        finally:
            store.close()

    def _send(self, store: Store) -> bool:
        """One pass over the outbox; a full or corrupt database is recorded beside it by the watch."""
        try:
            return self.watch.run(lambda: send_outbox(self.desk, store, self.metrics))
        except StoreUnavailable as exc:
            log.error("outbox: %s", exc)
            return False

    def _open(self) -> Store | None:
        """The store, waiting out a busy, missing or broken database until stopped."""
        backoff = Backoff()
        while True:
            try:
                return self.watch.run(self.desk.open_store)
            except StoreUnavailable as exc:
                if self.stop.is_set():
                    log.error("outbox: %s", exc)
                    return None
                delay = backoff.next()
                log.warning("outbox: %s; retrying in %.0f s", exc, delay)
                self.stop.wait(delay)


class TimerWorker(threading.Thread):
    """Fires the SLA timers that are due and sends the digests, every few seconds (one indexed
    query when nothing is due)."""

    def __init__(self, desk: Desk, stop: threading.Event, *, every: float = 5.0,
                 metrics: Metrics | None = None) -> None:
        super().__init__(name="timers", daemon=True)
        self.desk, self.stop, self.every = desk, stop, every
        self.watch = StorageWatch(desk, "timers", on_failure=metrics.storage_failed if metrics else None)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.watch.run(self._fire)
            except StoreUnavailable as exc:
                log.warning("SLA timers: %s", exc)
            self.stop.wait(self.every)

    def _fire(self) -> None:
        store = self.desk.open_store()
        try:
            on_the_clock(Context(self.desk, store))
        finally:
            store.close()


def on_the_clock(ctx: Context) -> None:
    """What time alone sets off: the due SLA timers, then the agents' digests of the day."""
    run_timers(ctx)
    send_digests(ctx)


def prepare_pool(desk: Desk) -> PreparePool | None:
    workers = desk.config.intake_workers
    return PreparePool(desk, workers=workers) if workers > 0 else None


class MailboxWorker(threading.Thread):
    """Keeps one mailbox drained forever; its failures never touch the other mailboxes.

    Each mailbox has its own connection, IDLE, backoff, token keeper and health row: a refused
    login, a dead server or a message that breaks a parser here delays nobody else.
    """

    def __init__(self, desk: Desk, cfg: MailboxConfig, stop: threading.Event,
                 pool: PreparePool | None = None, *, stored: threading.Event | None = None,
                 metrics: Metrics | None = None) -> None:
        super().__init__(name=f"mailbox-{cfg.name}", daemon=True)
        self.desk, self.cfg, self.stop, self.pool, self.metrics = desk, cfg, stop, pool, metrics
        self.stored = stored or threading.Event()  # set whenever mail was taken in
        self.backoff = Backoff()
        self.monitor = MailboxMonitor(desk, cfg.name, on_change=metrics.mailbox_up if metrics else None)
        self.watch = StorageWatch(desk, f"mailbox {cfg.name}", on_failure=metrics.storage_failed if metrics else None)
        self.tokens = for_login(desk, cfg.name, cfg.oauth, cfg.username)  # kept across reconnects

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.watch.run(self._serve)  # a full or corrupt database is recorded beside it
                except (MailboxError, ConfigError, StoreUnavailable) as exc:
                    self._failed(exc, f"mailbox {self.cfg.name}: {exc}")
                except Exception as exc:
                    log.exception("mailbox %s: unexpected failure", self.cfg.name)
                    self._failed(exc, f"mailbox {self.cfg.name}: unexpected failure: {exc!r}")
        finally:
            self.monitor.close()

    def _failed(self, exc: Exception, message: str) -> None:
        self.monitor.failed(exc)
        if self.metrics is not None and isinstance(exc, AuthFailed):
            self.metrics.auth_failures(self.cfg.name)
        delay = self.backoff.next()
        log.warning("%s; retrying in %.0f s", message, delay)
        self.stop.wait(delay)

    def _serve(self) -> None:
        source = open_source(self.cfg, self.desk.clock, tokens=self.tokens)
        store = self.desk.open_store()
        try:
            source.connect()
            self.monitor.connected(uidvalidity=getattr(source, "uidvalidity", None))
            runner = Runner(Context(self.desk, store), pool=self.pool)
            while not self.stop.is_set():
                drain(source, runner, self.stop, self.stored, self.metrics)
                self.watch.works()
                self.monitor.fetched()
                self.backoff.reset()
                if self.monitor.reconcile_due(self.cfg.reconcile_minutes):
                    self.monitor.reconciled(source.reconcile(store.ledger))
                source.wait(self.stop, float(self.cfg.poll_seconds))
        finally:
            source.close()
            store.close()
