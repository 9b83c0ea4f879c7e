"""Prometheus metrics: counters, database gauges at scrape time, the HTTP endpoint, the [metrics] config."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from maildesk.config.metrics import MetricsConfig, parse_listen, read_metrics
from maildesk.config.schema import Problems
from maildesk.metrics import Metrics, Snapshot, read_snapshot, render, serve
from maildesk.store import Store
from maildesk.store.health import Gauges
from test_health_gauges import T0, open_populated

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str | bytes) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


def store_reader(path: Path):
    """What the daemon will pass: open the store, read one snapshot, close."""
    def read() -> Snapshot:
        store = Store.open(path)
        try:
            return read_snapshot(Gauges(store.db), T0 + timedelta(hours=1))
        finally:
            store.close()
    return read


def test_the_process_counters_render_and_parse_back():
    m = Metrics()
    m.ingested("support", "stored")
    m.ingested("support", "stored")
    m.ingested("sales", "quarantined")
    m.notice("ack", True)
    m.notice("ack", False)
    m.fetch_seconds("support", 0.2)
    m.fetch_seconds("support", 90)
    m.mailbox_up("support", True)
    m.mailbox_up("sales", False)
    m.auth_failures("sales")
    got = samples(render(m))
    assert got[("maildesk_messages_ingested_total", (("mailbox", "support"), ("outcome", "stored")))] == 2
    assert got[("maildesk_messages_ingested_total", (("mailbox", "sales"), ("outcome", "quarantined")))] == 1
    assert got[("maildesk_notices_sent_total", (("kind", "ack"),))] == 1
    assert got[("maildesk_notices_failed_total", (("kind", "ack"),))] == 1
    assert got[("maildesk_fetch_seconds_bucket", (("le", "0.005"), ("mailbox", "support")))] == 0
    assert got[("maildesk_fetch_seconds_bucket", (("le", "0.25"), ("mailbox", "support")))] == 1
    assert got[("maildesk_fetch_seconds_bucket", (("le", "60.0"), ("mailbox", "support")))] == 1
    assert got[("maildesk_fetch_seconds_bucket", (("le", "+Inf"), ("mailbox", "support")))] == 2
    assert got[("maildesk_fetch_seconds_count", (("mailbox", "support"),))] == 2
    assert got[("maildesk_mailbox_up", (("mailbox", "support"),))] == 1
    assert got[("maildesk_mailbox_up", (("mailbox", "sales"),))] == 0
    assert got[("maildesk_auth_failures_total", (("mailbox", "sales"),))] == 1
    assert "maildesk_metrics_snapshot_ok" not in names(got)  # no database reader given


def test_declared_mailboxes_start_at_zero():
    m = Metrics()
    m.declare(["support"])
    got = samples(render(m))
    assert got[("maildesk_auth_failures_total", (("mailbox", "support"),))] == 0
    assert got[("maildesk_fetch_seconds_count", (("mailbox", "support"),))] == 0


def test_each_instance_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.auth_failures("support")
    assert ("maildesk_auth_failures_total", (("mailbox", "support"),)) not in samples(render(second))


def test_the_database_gauges_are_read_at_scrape_time(tmp_path):
    store = open_populated(tmp_path)
    m = Metrics(gauges=store_reader(tmp_path / "maildesk.db"))
    got = samples(render(m))
    assert got[("maildesk_tickets_open", (("status", "new"), ("tier", "L1")))] == 2
    assert got[("maildesk_tickets_open", (("status", "pending"), ("tier", "L1")))] == 1
    assert got[("maildesk_tickets_open", (("status", "open"), ("tier", "L2")))] == 1
    assert not any(dict(labels).get("status") in ("resolved", "closed")
                   for name, labels in got if name == "maildesk_tickets_open")
    assert got[("maildesk_outbox_messages", (("status", "queued"),))] == 2
    assert got[("maildesk_outbox_messages", (("status", "failed"),))] == 1
    assert got[("maildesk_outbox_oldest_queued_seconds", ())] == 3600
    assert got[("maildesk_quarantine_messages", ())] == 2
    assert got[("maildesk_sla_breaches_total", ())] == 2
    assert got[("maildesk_sla_timers_pending", ())] == 3
    assert got[("maildesk_metrics_snapshot_ok", ())] == 1
    with store.atomic():
        store.work.event(1, actor="system", kind="sla-breach", new="resolution", at=T0)
    store.close()
    assert samples(render(m))[("maildesk_sla_breaches_total", ())] == 3  # fresh on every scrape


def test_an_empty_database_renders_zeros():
    m = Metrics(gauges=lambda: read_snapshot(Gauges(Store.memory().db), T0))
    got = samples(render(m))
    assert got[("maildesk_outbox_oldest_queued_seconds", ())] == 0
    assert got[("maildesk_sla_breaches_total", ())] == 0
    assert "maildesk_tickets_open" not in names(got)


def test_a_failing_snapshot_still_answers_with_the_process_counters(caplog):
    calls = []

    def broken() -> Snapshot:
        calls.append(1)
        raise RuntimeError("database is locked")

    m = Metrics(gauges=broken)
    m.ingested("support", "stored")
    with caplog.at_level(logging.WARNING, logger="maildesk.metrics"):
        got = samples(render(m))
        samples(render(m))
    assert got[("maildesk_metrics_snapshot_ok", ())] == 0
    assert got[("maildesk_messages_ingested_total", (("mailbox", "support"), ("outcome", "stored")))] == 1
    assert not names(got) & {"maildesk_tickets_open", "maildesk_sla_breaches_total", "maildesk_quarantine_messages"}
    warnings = [r for r in caplog.records if r.name == "maildesk.metrics" and r.levelno == logging.WARNING]
    assert len(calls) == 2 and len(warnings) == 1 and "database is locked" in warnings[0].getMessage()


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(response.read())


def test_the_endpoint_serves_over_http_and_close_frees_the_port(tmp_path):
    open_populated(tmp_path).close()
    m = Metrics(gauges=store_reader(tmp_path / "maildesk.db"))
    m.notice("relay", True)
    server = serve(m, "127.0.0.1:0")
    port = server.port
    try:
        got = scrape(port)
        assert got[("maildesk_notices_sent_total", (("kind", "relay"),))] == 1
        assert got[("maildesk_quarantine_messages", ())] == 2
    finally:
        server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    again = serve(Metrics(), f"127.0.0.1:{port}")  # a reload binds the same port
    try:
        assert "maildesk_notices_sent_total" not in names(scrape(port))
    finally:
        again.close()
        again.close()  # closing twice is harmless
    assert not server.thread.is_alive() and not again.thread.is_alive()


def test_a_failing_snapshot_still_serves_over_http():
    m = Metrics(gauges=lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    server = serve(m, "127.0.0.1:0")
    try:
        assert scrape(server.port)[("maildesk_metrics_snapshot_ok", ())] == 0
    finally:
        server.close()


@pytest.mark.parametrize("listen, bind", [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    ("[::1]:9464", ("::1", 9464)),
    (":9464", ("0.0.0.0", 9464)),
    ("[::]:1", ("::", 1)),
    ("metrics.example.test:65535", ("metrics.example.test", 65535)),
])
def test_a_valid_listen_address(listen, bind):
    problems = Problems()
    config = read_metrics({"listen": listen}, problems)
    assert not problems and config == MetricsConfig(listen) and config.enabled and config.host_port == bind


@pytest.mark.parametrize("listen, words", [
    ("9464", "host:port"),
    ("127.0.0.1", "host:port"),
    ("127.0.0.1:", "port from 1 to 65535"),
    ("127.0.0.1:0", "port from 1 to 65535"),
    ("127.0.0.1:65536", "port from 1 to 65535"),
    ("127.0.0.1:http", "port from 1 to 65535"),
    ("::1:9464", "brackets"),
    ("[nothost]:9464", "not an IPv6 address"),
    ("bad host:9464", "host name"),
    (9464, "expected a string"),
])
def test_an_invalid_listen_address_is_reported_under_its_key(listen, words):
    problems = Problems()
    config = read_metrics({"listen": listen}, problems)
    assert [key for key, _ in problems.items] == ["metrics.listen"]
    assert words in problems.items[0][1]
    assert config == MetricsConfig() and not config.enabled


def test_metrics_are_off_by_default_and_unknown_keys_are_refused():
    problems = Problems()
    assert read_metrics({}, problems) == MetricsConfig() and not problems
    with pytest.raises(ValueError):
        MetricsConfig().host_port
    read_metrics({"port": 9464}, problems)
    assert [key for key, _ in problems.items] == ["metrics.port"]


def test_serve_alone_accepts_port_zero():
    assert parse_listen("127.0.0.1:0", allow_any_port=True) == ("127.0.0.1", 0)


def test_the_daemon_endpoint_follows_a_reloaded_config_and_keeps_its_counters(tmp_path):
    import urllib.error
    import urllib.request

    from desktools import make_desk
    from imapserver import free_port
    from maildesk.service import Exporter

    first = second = free_port()
    while second == first:  # two probes may hand out the same free port
        second = free_port()
    drop = [{"name": "drop", "kind": "maildir", "path": "in"}]
    exporter = Exporter(make_desk(tmp_path, mailboxes=drop), None)
    try:
        exporter.follow(make_desk(tmp_path, mailboxes=drop, metrics={"listen": f"127.0.0.1:{first}"}))
        assert exporter.metrics is not None
        exporter.metrics.ingested("drop", "stored")
        exporter.follow(make_desk(tmp_path, mailboxes=drop, metrics={"listen": f"127.0.0.1:{second}"}))
        with urllib.request.urlopen(f"http://127.0.0.1:{second}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        assert 'maildesk_messages_ingested_total{mailbox="drop",outcome="stored"} 1.0' in text
        assert 'maildesk_tickets_open' in text or "maildesk_metrics_snapshot_ok 1.0" in text
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{first}/metrics", timeout=2)
        exporter.follow(make_desk(tmp_path, mailboxes=drop))  # [metrics] removed: nothing listens
        assert exporter.server is None
    finally:
        exporter.close()
