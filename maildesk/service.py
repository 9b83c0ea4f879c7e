"""Run the daemon until stopped: start the workers, stop them cleanly, reload the config on SIGHUP."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from typing import TYPE_CHECKING

from maildesk import __version__

from maildesk.config import load_config
from maildesk.daemon import Backoff, MailboxWorker, OutboxWorker, TimerWorker, prepare_pool
from maildesk.desk import Desk
from maildesk.errors import ConfigError, SchemaTooNew, StoreUnavailable
from maildesk.health import StorageWatch
from maildesk.store import Store
from maildesk.store.faults import FaultLog

if TYPE_CHECKING:  # prometheus_client is loaded only when [metrics] listen is set
    from maildesk.metrics import Metrics, MetricsServer, Snapshot

log = logging.getLogger("maildesk.daemon")


def run_forever(desk: Desk, *, stop: threading.Event | None = None, reload: threading.Event | None = None,
                outbox_every: float = 2.0, metrics: Metrics | None = None) -> None:
    """Serve every mailbox until ``stop``; returns after all workers finished.

    ``reload`` (SIGHUP in the main thread) reads the config file again: a valid one replaces the
    running workers after they finish their current message; a broken one is logged with every
    problem and the old config keeps running. The outbox is sent whenever mail was taken in, and
    every ``outbox_every`` seconds for retries. A database that a newer maildesk migrated is not
    temporary: SchemaTooNew is logged and raised, nothing is retried.
    """
    stop, reload = stop or threading.Event(), reload or threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    backoff = Backoff()
    exporter, heart = Exporter(desk, metrics), Heartbeat(desk)
    with _signals(stop, reload) if in_main else nullcontext(), closing(exporter), closing(heart):
        while not stop.is_set():
            try:
                exporter.follow(desk)
                heart.desk = desk
                serve(desk, stop=stop, reload=reload, outbox_every=outbox_every, metrics=exporter.metrics,
                      heart=heart)
            except SchemaTooNew as exc:
                log.critical("stopping: %s", exc)
                raise
            except StoreUnavailable as exc:  # the database could not even be opened: wait, then try again
                delay = backoff.next()
                log.error("database unavailable: %s; starting again in %.0f s", exc, delay)
                stop.wait(delay)
                continue
            backoff.reset()
            if reload.is_set():
                reload.clear()
                desk = reloaded(desk)


def serve(desk: Desk, *, stop: threading.Event, reload: threading.Event, outbox_every: float,
          metrics: Metrics | None = None, heart: Heartbeat | None = None) -> None:
    """One generation of workers under one config, until ``stop`` or ``reload``."""
    StorageWatch(desk, "database").run(lambda: desk.open_store().close())  # create or migrate it once, first
    FaultLog(desk.db_path).reserve()  # while there is room: a full disk must still be recordable
    pool = prepare_pool(desk)  # shared by the mailboxes: it only takes on backlogs
    done = threading.Event()  # this generation's end
    stored = threading.Event()  # mail was taken in: the outbox has notices to send now
    workers: list[threading.Thread] = [MailboxWorker(desk, cfg, done, pool, stored=stored, metrics=metrics)
                                       for cfg in desk.config.mailboxes]
    workers.append(OutboxWorker(desk, done, wake=stored, every=outbox_every, metrics=metrics))
    if desk.config.sla.active:
        workers.append(TimerWorker(desk, done, metrics=metrics))
    for w in workers:
        w.start()
    log.info("serving %d mailbox(es)", len(desk.config.mailboxes))
    heart = heart or Heartbeat(desk)
    while any(w.is_alive() for w in workers) and not (stop.is_set() or reload.is_set()):
        heart.beat()
        stop.wait(0.2)
    if not (stop.is_set() or reload.is_set()):
        stop.set()  # every worker ended by itself
    done.set()
    stored.set()
    for w in workers:
        w.join()
    if pool is not None:
        pool.close()


class Heartbeat:
    """The daemon's sign of life in the database, every ``every`` seconds, for `maildesk status`."""

    every = 30.0

    def __init__(self, desk: Desk) -> None:
        self.desk, self.started, self.last = desk, desk.clock(), -self.every

    def beat(self) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        self._write(lambda store: store.health.beat("daemon", now=self.desk.clock(), pid=os.getpid(),
                                                    version=__version__, started_at=self.started))

    def close(self) -> None:
        """The daemon stops: `status` says so at once instead of waiting for the beat to go stale."""
        if self.last > 0:
            self._write(lambda store: store.health.stopped("daemon", now=self.desk.clock()))

    def _write(self, change: Callable[[Store], None]) -> None:
        """One write; also the daemon's probe of the database: a full or corrupt one is recorded as "daemon"."""
        def write() -> None:
            store = self.desk.open_store()
            try:
                with store.atomic():
                    change(store)
            finally:
                store.close()

        try:
            StorageWatch(self.desk, "daemon").run(write)
        except StoreUnavailable as exc:
            log.warning("heartbeat not recorded: %s", exc)


class Exporter:
    """The Prometheus endpoint across config reloads: the counters live on, the listener follows the config."""

    def __init__(self, desk: Desk, metrics: Metrics | None) -> None:
        self.desk = desk
        self.metrics = metrics  # made when first served; then kept across reloads
        self.server: MetricsServer | None = None
        self.listen = ""

    def follow(self, desk: Desk) -> None:
        """Serve where ``desk``'s config says (nowhere when [metrics] listen is empty)."""
        self.desk = desk
        wanted = desk.config.metrics.listen
        if wanted and self.metrics is None:
            from maildesk.metrics import Metrics

            self.metrics = Metrics(gauges=self._snapshot, storage=self._storage)
        if self.metrics is not None:
            self.metrics.declare(cfg.name for cfg in desk.config.mailboxes)
        if wanted == self.listen:
            return
        self.close()
        if wanted and self.metrics is not None:
            from maildesk.metrics import serve as serve_metrics

            try:
                self.server = serve_metrics(self.metrics, wanted)
                self.listen = wanted
                log.info("metrics at http://%s/metrics", wanted)
            except OSError as exc:
                log.error("metrics: cannot listen on %s: %s", wanted, exc)

    def _snapshot(self) -> Snapshot:
        from maildesk.metrics import read_snapshot

        store = self.desk.open_store()
        try:
            return read_snapshot(store.gauges, self.desk.clock())
        finally:
            store.close()

    def _storage(self) -> list[tuple[str, str]]:
        faults = FaultLog(self.desk.db_path).read(cfg.name for cfg in self.desk.config.mailboxes)
        return [(fault.place, fault.kind) for fault in faults]

    def close(self) -> None:
        server, self.server, self.listen = self.server, None, ""
        if server is not None:
            server.close()


def reloaded(desk: Desk) -> Desk:
    """The desk under the config file as it is now, or the running one when that is broken."""
    try:
        config = load_config(desk.config.source) if desk.config.source else desk.config
        fresh = Desk.load(config, clock=desk.clock)
    except ConfigError as exc:
        for key, problem in exc.problems:
            log.error("reload refused, the old config keeps running: %s%s", f"{key}: " if key else "", problem)
        return desk
    log.info("config reloaded from %s", desk.config.source or "the embedded default")
    return fresh


@contextmanager
def _signals(stop: threading.Event, reload: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT finish the current message and stop; SIGHUP reloads the config."""
    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            log.info("received %s: reloading the config after the current message", name)
            reload.set()
        else:
            log.info("received %s: finishing the current message", name)
            stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
