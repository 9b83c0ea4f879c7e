"""Outbox throughput over SMTP: one connection per burst of notices against one per notice.

usage: python bench/outbox_throughput.py [-n 1000] [--repeat 3] [--no-tls]

Feeds N new-ticket messages from distinct senders through the real pipeline with notices on
(one L1 tier without agents), so the outbox holds N acknowledgements as the daemon queues them.
That database is copied afresh for every run, and ``maildesk.notify.dispatch.flush`` drains it
into a local aiosmtpd server (tests/smtpserver.py) with (a) the daemon's ``SmtpSender``, which
sends each burst of ``BURST`` notices over one connection, and (b) the same sender called once
per notice, so every notice opens its own connection. Both run in plain text and, unless
``--no-tls``, with STARTTLS against the server's private CA. Prints notices per second, SMTP
connections per run (counted by the server) and the speed-up of reuse.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from smtpserver import SmtpTestServer  # noqa: E402

from maildesk.config import build  # noqa: E402
from maildesk.desk import Desk  # noqa: E402
from maildesk.models import Origin, RawMessage  # noqa: E402
from maildesk.notify.delivery import Delivery, DeliveryResult, OnResult, ignore  # noqa: E402
from maildesk.notify.dispatch import BURST, Transport, flush, open_transport  # noqa: E402
from maildesk.notify.smtp import SmtpSender  # noqa: E402
from maildesk.pipeline import Runner, raw_hash  # noqa: E402
from maildesk.stage import Context  # noqa: E402
from maildesk.tokens import write_secret  # noqa: E402


class OnePerMessage:
    """A transport that opens one SMTP connection for every notice (the sender, one at a time)."""

    idempotent = False

    def __init__(self, sender: SmtpSender) -> None:
        self.sender = sender

    def send(self, deliveries: list[Delivery], on_result: OnResult = ignore) -> list[DeliveryResult]:
        return [result for d in deliveries for result in self.sender.send([d], on_result)]


def load_desk(site: Path, port: int, security: str) -> Desk:
    data = {
        "desk": {"name": "Bench Support", "address": "support@example.test", "data_dir": "var"},
        "outbound": {"kind": "smtp", "host": SmtpTestServer.host, "port": port, "security": security,
                     "daily_auto_limit": 20},
        "notify": {"enabled": True},
        "tier": [{"name": "L1"}],
    }
    config = build(data, base=site, source=site / "maildesk.toml")
    if not config.desk.secret_file.exists():
        write_secret(config.desk.secret_file)
    return Desk.load(config)


def message(i: int) -> bytes:
    return (f"From: Customer {i} <user{i}@customer{i % 50}.example>\r\nTo: support@example.test\r\n"
            f"Subject: Printer {i} on floor {i % 7} is jammed\r\nDate: Mon, 02 Nov 2026 09:30:00 +0000\r\n"
            f"Message-ID: <out{i}@customer{i % 50}.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello,\r\n\r\nthe printer on floor {i % 7} is jammed again since this morning.\r\n"
            f"Could someone have a look?\r\n\r\nCustomer {i}\r\n").encode()


def build_template(site: Path, n: int) -> float:
    """N acknowledgements queued by the pipeline; returns their mean size in bytes."""
    desk = load_desk(site, 25, "none")  # the outbound address is not part of what is queued
    store = desk.open_store()
    try:
        runner = Runner(Context(desk, store))
        for i in range(n):
            data = message(i)
            runner.process(RawMessage(Origin("bench", raw_hash(data)), data, desk.clock()))
        row = store.db.execute("SELECT COUNT(*), AVG(LENGTH(data)) FROM outbox WHERE status = 'queued'").fetchone()
    finally:
        store.close()
    if row[0] != n:
        raise SystemExit(f"expected {n} queued acknowledgements, the pipeline queued {row[0]}")
    return float(row[1])


def transport_for(desk: Desk, server: SmtpTestServer, mode: str) -> Transport:
    """The daemon's own transport (``open_transport``), trusting the test CA for STARTTLS."""
    assert desk.config.outbound is not None
    sender = open_transport(desk)
    assert isinstance(sender, SmtpSender)
    if server.starttls:  # [outbound] has no CA option: the settings get the test CA's context
        sender = SmtpSender(dataclasses.replace(sender.settings, tls_context=server.client_tls()))
    return sender if mode == "reuse" else OnePerMessage(sender)


def one_run(template: Path, work: Path, server: SmtpTestServer, mode: str, n: int) -> tuple[float, int]:
    """Drain a fresh copy of the outbox; returns (seconds, connections the server saw)."""
    site = work / "run"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(template, site)
    desk = load_desk(site, server.port, "starttls" if server.starttls else "none")
    store = desk.open_store()
    transport = transport_for(desk, server, mode)
    connections, received = server.connections, len(server.received)
    try:
        start = time.perf_counter()
        counts = flush(desk, store, transport)
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    got = len(server.received) - received
    if counts != {"sent": n} or got != n:
        raise SystemExit(f"{mode}: flush returned {dict(counts)}, the server accepted {got} of {n}")
    server.received.clear()
    return elapsed, server.connections - connections


def start_server(starttls: bool) -> SmtpTestServer:
    for attempt in range(3):  # the free port may be taken before the server binds it
        server = SmtpTestServer(starttls=starttls)
        try:
            server.start()
            return server
        except OSError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def measure(template: Path, work: Path, starttls: bool, n: int, repeat: int) -> dict[str, list]:
    """Per mode: a list of (seconds, connections), modes interleaved run by run."""
    server = start_server(starttls)
    runs: dict[str, list] = {"reuse": [], "per-message": []}
    try:
        for _ in range(repeat):
            for mode in runs:
                runs[mode].append(one_run(template, work, server, mode, n))
    finally:
        server.stop()
    return runs


def rows(security: str, runs: dict[str, Sequence[tuple[float, int]]], n: int) -> list[str]:
    rate = {mode: statistics.median(n / s for s, _ in r) for mode, r in runs.items()}
    out = []
    for mode, r in runs.items():
        rates = sorted(n / s for s, _ in r)
        conns = sorted({c for _, c in r})
        label = f"one per burst of {BURST}" if mode == "reuse" else "one per notice"
        speedup = f"**{rate['reuse'] / rate['per-message']:.1f}×**" if mode == "reuse" else "1.0×"
        out.append(f"| {security} | {label} | {rate[mode]:,.0f} | {rates[0]:,.0f}–{rates[-1]:,.0f} "
                   f"| {'/'.join(map(str, conns))} | {speedup} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="notices in the outbox (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode (default 3)")
    ap.add_argument("--no-tls", action="store_true", help="skip the STARTTLS variant")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-outbox-"))
    try:
        started = time.perf_counter()
        size = build_template(work / "template", args.n)
        print(f"queued {args.n} acknowledgements through the pipeline ({size / 1024:.1f} KiB each on average) "
              f"in {time.perf_counter() - started:.1f} s")
        table = []
        for security in ("none", "starttls")[: 1 if args.no_tls else 2]:
            runs = measure(work / "template", work, security == "starttls", args.n, args.repeat)
            table += rows(security, runs, args.n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n`python bench/outbox_throughput.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    print(f"\n{args.n} notices, median of {args.repeat} run(s) per mode, each from a fresh copy of the outbox\n")
    print("| security | SMTP connections | notices/s | range | connections per run | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(table))


if __name__ == "__main__":
    main()
