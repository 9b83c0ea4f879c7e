"""The intake loop of one mailbox: prepared messages committed in groups, then the mailbox told."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from maildesk.errors import StoreUnavailable
from maildesk.mailbox import Settlement, Source
from maildesk.models import Outcome, RawMessage
from maildesk.pipeline import Runner
from maildesk.stage import Work
from maildesk.store import Store

if TYPE_CHECKING:
    from maildesk.metrics import Metrics

log = logging.getLogger("maildesk.intake")

GROUP_SIZE = 100  # messages committed in one transaction (each in its own savepoint)
GROUP_SECONDS = 0.25  # ... or fewer: what was prepared within this long of the group's first


def _settle(source: Source, store: Store, done: list[Settlement]) -> None:
    if not done:
        return
    store.sync()  # durable before the mailbox is told anything
    source.settle(done)
    with store.atomic():
        store.ledger.mark_settled(source.name, [s.origin.ref for s in done])


def drain(source: Source, runner: Runner, stop: threading.Event, stored: threading.Event | None = None,
          metrics: Metrics | None = None) -> int:
    """Commit every waiting message, then flag/move it; returns how many were taken in.

    ``stored`` is set after each batch that took mail in, so its notices go out during a backlog.
    """
    store = runner.ctx.store
    _settle(source, store, store.ledger.unsettled(source.name))
    taken = 0
    for prepared in ahead(_timed(source.batches(store.ledger), source.name, metrics), runner):
        done: list[Settlement] = []
        try:
            for group in groups(prepared, stop):
                for work, outcome in finished(runner, group):
                    done.append(Settlement(work.raw.origin, quarantined=outcome.status == "quarantined"))
                    taken += outcome.status != "already"
                    if metrics is not None:
                        metrics.ingested(source.name, outcome.status)
                if stored is not None:
                    stored.set()  # committed: the notices may go while the rest is taken in
        finally:
            _settle(source, store, done)  # only what committed: a failed group is fetched again
        if stop.is_set():
            break
    return taken


def finished(runner: Runner, group: list[Work]) -> Iterator[tuple[Work, Outcome]]:
    """Each message of the group with its outcome, all committed together; when the group cannot
    be (the disk filled up), each message on its own, so what still fits is taken in."""
    try:
        outcomes = runner.finish_group(group)
    except StoreUnavailable as exc:
        log.warning("%d message(s) could not be committed together (%s); trying each alone", len(group), exc)
        for work in group:
            yield work, runner.finish(work)  # raises at the first that cannot be stored either
        return
    yield from zip(group, outcomes)


def ahead(batches: Iterator[Sequence[RawMessage]], runner: Runner) -> Iterator[Iterator[Work]]:
    """Each batch's prepared messages; the next batch is read and handed to the workers before
    this one is finished, so they need not wait while it is committed and the mailbox told."""
    works = next((runner.prepare_batch(batch) for batch in batches), None)
    if works is None:
        return
    for following in batches:
        queued = runner.prepare_batch(following)
        yield works
        works = queued
    yield works


def groups(works: Iterator[Work], stop: threading.Event, *, size: int = GROUP_SIZE,
           seconds: float = GROUP_SECONDS) -> Iterator[list[Work]]:
    """Prepared messages in groups to commit together: up to ``size``, or what came within
    ``seconds`` of the first, so a slow worker never holds the others' commit back for long."""
    group: list[Work] = []
    started = 0.0
    for work in works:
        if stop.is_set():
            break
        if not group:
            started = time.monotonic()
        group.append(work)
        if len(group) >= size or time.monotonic() - started >= seconds:
            yield group
            group = []
    if group:
        yield group


def _timed(batches: Iterator[Sequence[RawMessage]], mailbox: str,
           metrics: Metrics | None) -> Iterator[Sequence[RawMessage]]:
    """The batches, each one's fetch time observed (the wait for the server, not our work on it)."""
    while True:
        started = time.monotonic()
        batch = next(batches, None)
        if batch is None:
            return
        if metrics is not None:
            metrics.fetch_seconds(mailbox, time.monotonic() - started)
        yield batch
