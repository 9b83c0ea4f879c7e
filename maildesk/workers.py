"""Worker processes that run the pure intake steps (limits, parse, classify) ahead of the store."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from maildesk.desk import Desk
from maildesk.models import RawMessage
from maildesk.stage import Context, Work

log = logging.getLogger("maildesk.intake")

_runner = None  # set in each worker by _start


def _start(desk: Desk, parent: int) -> None:
    from maildesk.pipeline import Runner

    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides when to stop
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_orphan_watch, args=(parent,), name="orphan-watch", daemon=True).start()
    global _runner
    _runner = Runner(Context(desk, None))  # type: ignore[arg-type]  # pure steps never touch the store


def _orphan_watch(parent: int, every: float = 1.0) -> None:
    """End this worker once its daemon is gone (killed hard, it closes nothing): a sibling still
    holds the result pipe open, so a worker with a finished result would otherwise wait forever."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _prepare(raw: RawMessage) -> Work:
    assert _runner is not None
    work = _runner.prepare(raw)
    # Only what later steps use travels back: not the EmailMessage, not the raw bytes (the
    # parent has them), not the HTML body (body_text already holds its text).
    parsed = replace(work.parsed, body_html=None) if work.parsed else None
    return work.but(email=None, parsed=parsed, raw=RawMessage(raw.origin, b"", raw.received_at))


class PreparePool:
    """A lazily started process pool; batches smaller than ``min_batch`` stay in-process."""

    def __init__(self, desk: Desk, *, workers: int, min_batch: int = 8) -> None:
        self.desk, self.workers, self.min_batch = desk, workers, min_batch
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                initargs=(self.desk, os.getpid()))
            # The pool's helper threads unpickle results while this thread waits on SQLite and
            # the disk; a short switch interval keeps it from waiting 5 ms for the GIL each time.
            sys.setswitchinterval(0.0005)
            log.info("started %d intake worker process(es)", self.workers)
        return self._executor

    def prepare(self, raws: Sequence[RawMessage]) -> Iterator[Work]:
        """Prepared work in input order; the messages go to the workers now, before the first is
        asked for. If a worker dies, the rest is prepared in this process."""
        try:
            results = self._pool().map(_prepare, raws, chunksize=4)
        except BrokenProcessPool:
            results = iter(())  # the pool died before: _collect prepares every message here
        return self._collect(raws, results)

    def _collect(self, raws: Sequence[RawMessage], results: Iterator[Work]) -> Iterator[Work]:
        from maildesk.pipeline import Runner

        done = 0
        try:
            for work in results:
                yield work.but(raw=raws[done])
                done += 1
        except BrokenProcessPool:
            pass
        if done < len(raws):
            log.error("an intake worker process died; preparing %d message(s) in-process", len(raws) - done)
            self.close()
            local = Runner(Context(self.desk, None))  # type: ignore[arg-type]
            yield from (local.prepare(raw) for raw in raws[done:])

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
