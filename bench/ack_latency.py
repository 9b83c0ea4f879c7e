"""Acknowledgement latency: IMAP APPEND to the acknowledgement accepted by SMTP, with IDLE.

usage: python bench/ack_latency.py [-n 200] [--gap 0.2] [--agents N] [--full] [--timeout 30]

Starts a throwaway Dovecot and an aiosmtpd server (the test servers in tests/) and runs the
daemon (``run_forever``: one IMAP mailbox with IDLE, outbound SMTP, notices on, one L1 tier)
in a thread. Appends N new-ticket messages from distinct senders, one at a time ``--gap``
seconds apart, and stamps ``perf_counter()`` just before each APPEND and when the SMTP server
accepts the acknowledgement (matched by its In-Reply-To). The stored stamp comes from the
pipeline's INFO log line, written after the message's transaction committed. Exits non-zero
when an acknowledgement (or, with ``--agents``, an alert) is missing after ``--timeout``.
``--full`` configures what ``bench/ingest.py --rules 200 --sla`` does: 200 routing rules and an
SLA policy for every ticket.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from imapserver import DovecotServer, find_dovecot  # noqa: E402
from smtpserver import Received, SmtpTestServer  # noqa: E402

from bench.ingest import SLA, rules_toml  # noqa: E402
from maildesk.config import build  # noqa: E402
from maildesk.service import run_forever  # noqa: E402
from maildesk.desk import Desk  # noqa: E402
from maildesk.tokens import write_secret  # noqa: E402

PASSWORD_ENV = "MAILDESK_BENCH_IMAP_PW"
IN_REPLY_TO = re.compile(rb"^in-reply-to:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


class StampingSmtp(SmtpTestServer):
    """Records when each message was accepted: (perf_counter, In-Reply-To, recipients)."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.stamps: list[tuple[float, str, tuple[str, ...]]] = []

    def record(self, received: Received) -> None:
        now = time.perf_counter()
        head = received.content.split(b"\r\n\r\n", 1)[0]
        match = IN_REPLY_TO.search(head)
        with self._lock:
            self.received.append(received)
            self.stamps.append((now, match.group(1).decode() if match else "", received.rcpt_tos))


class LogStamps(logging.Handler):
    """Stamps two daemon log lines: a message committed (pipeline) and IDLE reporting new mail."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stored: dict[str, float] = {}
        self.woke: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        now, text = time.perf_counter(), record.getMessage()
        decision = getattr(record, "md", None) or {}  # the decision line's fields
        if "IDLE ended (new mail)" in text:
            self.woke.append(now)
        elif decision.get("outcome") == "stored" and decision.get("message_id"):
            self.stored[f"<{decision['message_id']}>"] = now

    def attach(self) -> None:
        for name, level in (("maildesk.intake", logging.INFO), ("maildesk.mailbox", logging.DEBUG)):
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).addHandler(self)

    def wake_delays(self, sent: dict[str, float]) -> list[float]:
        """APPEND to the next IDLE wake-up, for messages IDLE reported (not found before IDLE)."""
        delays = []
        for msg_id, at in sent.items():
            woke = next((w for w in self.woke if w > at), None)
            if woke is not None and msg_id in self.stored and woke < self.stored[msg_id]:
                delays.append(woke - at)
        return delays


def start_with_retry(make):  # type: ignore[no-untyped-def]
    """Start a server; the free port it picked may be taken before it binds (as the fixtures do)."""
    for attempt in range(3):
        server = make()
        try:
            server.start()
            return server
        except (RuntimeError, OSError):
            if hasattr(server, "cleanup"):
                server.cleanup()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def make_desk(site: Path, imap: DovecotServer, smtp: SmtpTestServer, agents: int, *, full: bool = False) -> Desk:
    os.environ[PASSWORD_ENV] = imap.password
    data = {
        "desk": {"name": "Bench Support", "address": "support@example.test", "data_dir": "var"},
        "mailbox": [{"name": "support", "kind": "imap", "host": imap.host, "port": imap.port,
                     "security": "none", "username": imap.user, "password_env": PASSWORD_ENV,
                     "idle": True, "poll_seconds": 60}],
        "outbound": {"kind": "smtp", "host": smtp.host, "port": smtp.port, "security": "none"},
        "notify": {"enabled": True},
        "tier": [{"name": "L1", "agents": [f"agent{i}@example.test" for i in range(agents)]}],
    }
    if full:
        extra = tomllib.loads(rules_toml(200) + SLA)
        data.update(rule=extra["rule"], sla=extra["sla"], tier=[*data["tier"], {"name": "L2"}])
    config = build(data, base=site, source=site / "maildesk.toml")
    write_secret(config.desk.secret_file)
    desk = Desk.load(config)
    # Create the schema first: on a fresh database the daemon's threads race to migrate it and
    # the outbox thread can die with "database is locked" (maildesk.daemon.OutboxWorker.run).
    desk.open_store().close()
    return desk


def message(i: int, tag: str) -> tuple[str, bytes]:
    msg_id = f"<lat{i}.{tag}@customer{i % 50}.example>"
    raw = (f"From: Customer {i} <user{i}@customer{i % 50}.example>\r\nTo: support@example.test\r\n"
           f"Subject: Printer {i} is jammed\r\nDate: Mon, 02 Nov 2026 09:30:00 +0000\r\n"
           f"Message-ID: {msg_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           f"Hello,\r\n\r\nthe printer on floor {i % 7} is jammed again.\r\n\r\nCustomer {i}\r\n")
    return msg_id, raw.encode()


def wait_for(smtp: StampingSmtp, wanted: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while len(smtp.stamps) < wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(smtp.stamps) >= wanted


def append_all(imap: DovecotServer, n: int, gap: float, tag: str) -> dict[str, float]:
    """APPEND each message over one logged-in connection; returns Message-ID -> perf_counter."""
    sent: dict[str, float] = {}
    with imap.client() as client:
        for i in range(n):
            msg_id, raw = message(i, tag)
            sent[msg_id] = time.perf_counter()
            client.append("INBOX", raw)
            time.sleep(gap)
    return sent


def latencies(smtp: StampingSmtp, sent: dict[str, float], agents: set[str]) -> tuple[dict, dict]:
    """Per Message-ID: when its acknowledgement arrived, and when each of its alerts arrived."""
    acks: dict[str, float] = {}
    alerts: dict[str, list[float]] = {}
    for at, parent, rcpts in list(smtp.stamps):
        if parent not in sent:
            continue
        if set(rcpts) & agents:
            alerts.setdefault(parent, []).append(at)
        else:
            acks[parent] = at
    return acks, alerts


def row(label: str, values_s: list[float]) -> str:
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return f"| {label} | 0 | - | - | - |"
    p95 = ms[math.ceil(0.95 * len(ms)) - 1]  # nearest rank
    return f"| {label} | {len(ms)} | {statistics.median(ms):,.0f} | {p95:,.0f} | {ms[-1]:,.0f} |"


def report(args: argparse.Namespace, sent: dict, acks: dict, alerts: dict, logs: LogStamps) -> None:
    stored = logs.stored
    print(f"\n`python bench/ack_latency.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    print(f"\n{args.n} messages, gap {args.gap} s, {args.agents} agent(s) in L1\n")
    print("| interval | count | median ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(row("**APPEND → acknowledgement accepted**", [acks[m] - t for m, t in sent.items() if m in acks]))
    if args.agents:
        print(row(f"APPEND → last of {args.agents} alert(s) accepted",
                  [max(alerts[m]) - t for m, t in sent.items() if len(alerts.get(m, ())) == args.agents]))
    print(row("APPEND → IDLE reports new mail", logs.wake_delays(sent)))
    print(row("APPEND → stored (committed)", [stored[m] - t for m, t in sent.items() if m in stored]))
    print(row("stored → acknowledgement accepted",
              [acks[m] - stored[m] for m in sent if m in acks and m in stored]))
    print(f"\nacknowledgements received: {len(acks)}/{args.n}"
          + (f"; alerts received: {sum(map(len, alerts.values()))}/{args.n * args.agents}" if args.agents else ""))


def run(args: argparse.Namespace, site: Path, imap: DovecotServer, smtp: StampingSmtp) -> int:
    logs = LogStamps()
    logs.attach()
    desk = make_desk(site, imap, smtp, args.agents, full=args.full)
    stop = threading.Event()
    daemon = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop}, name="daemon")
    daemon.start()
    try:
        append_all(imap, 1, 0, "warmup")  # first sync, and the daemon reaches IDLE
        if not wait_for(smtp, 1 + args.agents, args.timeout):
            print("warm-up acknowledgement never arrived", file=sys.stderr)
            return 1
        sent = append_all(imap, args.n, args.gap, "bench")
        wait_for(smtp, (1 + args.agents) * (args.n + 1), args.timeout)
    finally:
        stop.set()
        daemon.join(30)
    acks, alerts = latencies(smtp, sent, {f"agent{i}@example.test" for i in range(args.agents)})
    report(args, sent, acks, alerts, logs)
    if daemon.is_alive():
        print("daemon did not stop within 30 s", file=sys.stderr)
        return 1
    missing = args.n - len(acks) + args.n * args.agents - sum(map(len, alerts.values()))
    if missing:
        print(f"MISSING: {missing} notice(s) not received {args.timeout} s after the last APPEND",
              file=sys.stderr)
    return 1 if missing else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="messages to append (default 200)")
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between APPENDs (default 0.2)")
    ap.add_argument("--agents", type=int, default=0, help="agents in the L1 tier: alerts too (default 0)")
    ap.add_argument("--full", action="store_true", help="with 200 routing rules and an SLA policy")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the last notice")
    args = ap.parse_args()
    binary = find_dovecot()
    if binary is None:
        raise SystemExit("dovecot is not installed (apt-get install dovecot-imapd)")
    site = Path(tempfile.mkdtemp(prefix="maildesk-bench-ack-"))
    imap = smtp = None
    try:
        imap = start_with_retry(lambda: DovecotServer(binary))
        smtp = start_with_retry(StampingSmtp)
        status = run(args, site, imap, smtp)
    finally:
        if smtp is not None:
            smtp.stop()
        if imap is not None:
            imap.cleanup()
        shutil.rmtree(site, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
