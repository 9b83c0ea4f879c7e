"""Prometheus metrics: the daemon's counters, gauges read from the database at scrape time, the HTTP endpoint."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from maildesk.config.metrics import parse_listen

log = logging.getLogger("maildesk.metrics")

#: IMAP fetches: a few milliseconds on a quiet local server, up to a minute for a large batch.
FETCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Snapshot:
    """What the database says at one moment, for the scrape-time gauges."""

    tickets_open: tuple[tuple[str, str, int], ...] = ()  # (tier, status, count)
    outbox: tuple[tuple[str, int], ...] = ()  # (status, count)
    oldest_queued_seconds: float | None = None  # None: nothing waits to be sent
    quarantine: int = 0  # entries still held
    sla_breaches: int = 0  # ever recorded
    timers_pending: int = 0


class GaugeSource(Protocol):
    """The read-only queries a snapshot needs (``maildesk.store.health.Gauges``)."""

    def tickets_by_tier_status(self) -> list[tuple[str, str, int]]: ...
    def outbox_counts(self) -> dict[str, int]: ...
    def oldest_queued_age(self, now: datetime) -> float | None: ...
    def quarantine_size(self) -> int: ...
    def sla_breaches(self) -> int: ...
    def timers_pending(self) -> int: ...


def read_snapshot(gauges: GaugeSource, now: datetime) -> Snapshot:
    """Run every gauge query once (``now`` is timezone-aware)."""
    return Snapshot(
        tickets_open=tuple(gauges.tickets_by_tier_status()),
        outbox=tuple(sorted(gauges.outbox_counts().items())),
        oldest_queued_seconds=gauges.oldest_queued_age(now),
        quarantine=gauges.quarantine_size(),
        sla_breaches=gauges.sla_breaches(),
        timers_pending=gauges.timers_pending(),
    )


def _families(snap: Snapshot) -> Iterator[Metric]:
    tickets = GaugeMetricFamily("maildesk_tickets_open", "Tickets not resolved or closed, by tier and status.",
                                labels=("tier", "status"))
    for tier, status, count in snap.tickets_open:
        tickets.add_metric((tier, status), count)
    outbox = GaugeMetricFamily("maildesk_outbox_messages", "Notices in the outbox, by status.", labels=("status",))
    for status, count in snap.outbox:
        outbox.add_metric((status,), count)
    yield tickets
    yield outbox
    yield GaugeMetricFamily("maildesk_outbox_oldest_queued_seconds",
                            "Age of the oldest notice not sent yet (0 when none waits).",
                            value=snap.oldest_queued_seconds or 0.0)
    yield GaugeMetricFamily("maildesk_quarantine_messages", "Quarantined messages still held.", value=snap.quarantine)
    yield CounterMetricFamily("maildesk_sla_breaches", "SLA breaches recorded in the database.",
                              value=snap.sla_breaches)
    yield GaugeMetricFamily("maildesk_sla_timers_pending", "SLA timers not fired yet.", value=snap.timers_pending)


class _DatabaseCollector:
    """Reads a fresh snapshot on every scrape; a failed read still answers, with snapshot_ok 0."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read
        self._failing = False

    def describe(self) -> Iterable[Metric]:
        yield from _families(Snapshot())
        yield from self._status(True, 0.0)

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        try:
            snap = self._read()
        except Exception as exc:  # a scrape must answer whatever the database does
            if not self._failing:
                log.warning("metrics: reading the database failed: %s", exc, exc_info=True)
            self._failing = True
            yield from self._status(False, time.monotonic() - started)
            return
        if self._failing:
            log.info("metrics: reading the database works again")
        self._failing = False
        yield from _families(snap)
        yield from self._status(True, time.monotonic() - started)

    @staticmethod
    def _status(ok: bool, seconds: float) -> Iterator[Metric]:
        yield GaugeMetricFamily("maildesk_metrics_snapshot_ok", "1 when the last scrape read the database.",
                                value=int(ok))
        yield GaugeMetricFamily("maildesk_metrics_snapshot_seconds", "Time the last scrape spent reading the database.",
                                value=seconds)


class _StorageCollector:
    """``maildesk_storage_ok`` and one ``maildesk_storage_failing`` series per place whose database write or
    read failed (full, corrupt), from the record beside the database: it answers when the database does not."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return self._families(())

    def collect(self) -> Iterable[Metric]:
        return self._families(tuple(self._read()))

    @staticmethod
    def _families(failing: tuple[tuple[str, str], ...]) -> Iterator[Metric]:
        yield GaugeMetricFamily("maildesk_storage_ok", "1 unless a database read or write failed for good "
                                "(full, corrupt) and has not worked since.", value=int(not failing))
        family = GaugeMetricFamily("maildesk_storage_failing", "1 for each place whose database access failed, "
                                   "by place and kind (full, corrupt).", labels=("place", "kind"))
        for place, kind in failing:
            family.add_metric((place, kind), 1)
        yield family


class Metrics:
    """Every metric of one daemon generation, in a registry of its own (never the global one).

    ``storage`` gives the (place, kind) of each storage failure not over yet (``maildesk.store.faults``).
    """

    def __init__(self, *, gauges: Callable[[], Snapshot] | None = None,
                 storage: Callable[[], Iterable[tuple[str, str]]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._ingested = Counter("maildesk_messages_ingested", "Messages taken in, by mailbox and outcome.",
                                 ("mailbox", "outcome"), registry=r)
        self._sent = Counter("maildesk_notices_sent", "Notices handed to the mail server, by kind.", ("kind",),
                             registry=r)
        self._failed = Counter("maildesk_notices_failed", "Notices given up on, by kind.", ("kind",), registry=r)
        self._fetch = Histogram("maildesk_fetch_seconds", "Time to fetch a batch from a mailbox.", ("mailbox",),
                                buckets=FETCH_BUCKETS, registry=r)
        self._up = Gauge("maildesk_mailbox_up", "1 while the mailbox answers, 0 after a failure.", ("mailbox",),
                         registry=r)
        self._auth = Counter("maildesk_auth_failures", "Mailbox logins refused.", ("mailbox",), registry=r)
        self._storage = Counter("maildesk_storage_errors", "Database reads or writes that failed for good, by kind "
                                "(full, corrupt).", ("kind",), registry=r)
        ProcessCollector(registry=r)
        if gauges is not None:
            r.register(_DatabaseCollector(gauges))
        if storage is not None:
            r.register(_StorageCollector(storage))

    def declare(self, mailboxes: Iterable[str]) -> None:
        """Start the per-mailbox series at zero, so rates and alerts see them before the first event."""
        for name in mailboxes:
            self._auth.labels(name)
            self._fetch.labels(name)
        for kind in ("full", "corrupt"):
            self._storage.labels(kind)

    def ingested(self, mailbox: str, outcome: str) -> None:
        self._ingested.labels(mailbox, outcome).inc()

    def notice(self, kind: str, ok: bool) -> None:
        (self._sent if ok else self._failed).labels(kind).inc()

    def fetch_seconds(self, mailbox: str, seconds: float) -> None:
        self._fetch.labels(mailbox).observe(seconds)

    def mailbox_up(self, mailbox: str, up: bool) -> None:
        self._up.labels(mailbox).set(1 if up else 0)

    def auth_failures(self, mailbox: str) -> None:
        self._auth.labels(mailbox).inc()

    def storage_failed(self, kind: str) -> None:
        self._storage.labels(kind).inc()


def render(metrics: Metrics) -> bytes:
    """The text exposition format, as a scrape would get it."""
    return generate_latest(metrics.registry)


@dataclass(frozen=True)
class MetricsServer:
    """The running HTTP endpoint; ``close`` stops it and frees the port."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving, close the socket and wait for the thread (safe to call twice)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(metrics: Metrics, listen: str) -> MetricsServer:
    """Serve ``metrics`` at ``host:port`` (any path answers, /metrics by convention) in a daemon thread.

    Port 0 lets the system choose one (see ``MetricsServer.port``). OSError when the address is taken.
    """
    host, port = parse_listen(listen, allow_any_port=True)
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    thread.name = f"metrics-{host}:{server.server_address[1]}"
    return MetricsServer(server, thread)
