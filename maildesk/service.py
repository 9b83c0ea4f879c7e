"""Run the daemon until stopped: start the workers, stop them cleanly, reload the config on SIGHUP."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from maildesk.config import load_config
from maildesk.daemon import Backoff, MailboxWorker, OutboxWorker, TimerWorker, prepare_pool
from maildesk.desk import Desk
from maildesk.errors import ConfigError, StoreUnavailable

log = logging.getLogger("maildesk.daemon")


def run_forever(desk: Desk, *, stop: threading.Event | None = None, reload: threading.Event | None = None,
                outbox_every: float = 2.0) -> None:
    """Serve every mailbox until ``stop``; returns after all workers finished.

    ``reload`` (SIGHUP in the main thread) reads the config file again: a valid one replaces the
    running workers after they finish their current message; a broken one is logged with every
    problem and the old config keeps running. The outbox is sent whenever mail was taken in, and
    every ``outbox_every`` seconds for retries.
    """
    stop, reload = stop or threading.Event(), reload or threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    backoff = Backoff()
    with _signals(stop, reload) if in_main else nullcontext():
        while not stop.is_set():
            try:
                serve(desk, stop=stop, reload=reload, outbox_every=outbox_every)
            except StoreUnavailable as exc:  # the database could not even be opened: wait, then try again
                delay = backoff.next()
                log.error("database unavailable: %s; starting again in %.0f s", exc, delay)
                stop.wait(delay)
                continue
            backoff.reset()
            if reload.is_set():
                reload.clear()
                desk = reloaded(desk)


def serve(desk: Desk, *, stop: threading.Event, reload: threading.Event, outbox_every: float) -> None:
    """One generation of workers under one config, until ``stop`` or ``reload``."""
    desk.open_store().close()  # create or migrate the database once, before the workers race to
    pool = prepare_pool(desk)  # shared by the mailboxes: it only takes on backlogs
    done = threading.Event()  # this generation's end
    stored = threading.Event()  # mail was taken in: the outbox has notices to send now
    workers: list[threading.Thread] = [MailboxWorker(desk, cfg, done, pool, stored=stored)
                                       for cfg in desk.config.mailboxes]
    workers.append(OutboxWorker(desk, done, wake=stored, every=outbox_every))
    if desk.config.sla.active:
        workers.append(TimerWorker(desk, done))
    for w in workers:
        w.start()
    log.info("serving %d mailbox(es)", len(desk.config.mailboxes))
    while any(w.is_alive() for w in workers) and not (stop.is_set() or reload.is_set()):
        stop.wait(0.2)
    if not (stop.is_set() or reload.is_set()):
        stop.set()  # every worker ended by itself
    done.set()
    stored.set()
    for w in workers:
        w.join()
    if pool is not None:
        pool.close()


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
