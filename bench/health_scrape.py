"""Cost of a metrics scrape and of ``maildesk status`` on a desk with a year of history.

usage: python bench/health_scrape.py [-n 100000] [--repeat 20] [--raw-mb 0]

Fills a database like ``bench/report.py`` does (N tickets, their events, relays and breaches),
adds a receipt per ticket in two mailboxes and a queued notice backlog, then times reading the
Prometheus snapshot (every scrape does it), the page check (``PRAGMA quick_check``) and the
whole status report, and prints the query plan of each gauge query so a full table scan shows.
``--raw-mb`` adds that many megabytes of incompressible blobs, standing for the raw mail a
real desk keeps, to show how the page check grows with the file.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import START, fill  # noqa: E402
from maildesk.clock import ManualClock  # noqa: E402
from maildesk.config import build  # noqa: E402
from maildesk.desk import Desk  # noqa: E402
from maildesk.metrics import read_snapshot  # noqa: E402
from maildesk.status import gather  # noqa: E402
from maildesk.store import Store  # noqa: E402
from maildesk.tokens import write_secret  # noqa: E402

QUERIES = {
    "outbox by status": "SELECT status, COUNT(*) FROM outbox GROUP BY status",
    "oldest unsent": "SELECT MIN(created_at) FROM outbox WHERE status IN ('queued', 'sending')",
    "open tickets": "SELECT tier, status, COUNT(*) FROM tickets WHERE status IN ('new','open','pending','on_hold')"
                    " GROUP BY tier, status",
    "breaches": "SELECT COUNT(*) FROM events WHERE kind = 'sla-breach'",
    "receipts by mailbox": "SELECT mailbox, COUNT(*) FROM receipts GROUP BY mailbox",
    "quarantine held": "SELECT kind, COUNT(*) FROM quarantine WHERE status = 'held' GROUP BY kind",
}


def make_desk(site: Path) -> Desk:
    config = build({"desk": {"address": "support@example.test", "data_dir": "var"},
                    "mailbox": [{"name": "a", "kind": "maildir", "path": "a"},
                                {"name": "b", "kind": "maildir", "path": "b"}]}, base=site, source=None)
    write_secret(config.desk.secret_file)
    return Desk.load(config, clock=ManualClock(START.replace(year=START.year + 1)))


def add_receipts_and_backlog(store: Store, n: int) -> None:
    now = START.isoformat()
    with store.atomic():
        store.db.conn.executemany(
            "INSERT INTO receipts (mailbox, ref, raw_hash, outcome, received_at, settled) VALUES (?, ?, ?, ?, ?, 1)",
            [("ab"[i % 2], f"r{i}", f"h{i}", "stored", now) for i in range(n)])
        store.db.conn.executemany(
            "INSERT INTO outbox (kind, recipient, message_id, envelope_from, data, next_attempt_at, created_at)"
            " VALUES ('acknowledgement', ?, ?, 'd@d.example', x'00', ?, ?)",
            [(f"u{i}@c.example", f"q{i}@d.example", now, now) for i in range(200)])


def add_raw(store: Store, megabytes: int) -> None:
    with store.atomic():
        store.db.conn.execute("CREATE TABLE bench_raw (data BLOB)")
        store.db.conn.executemany("INSERT INTO bench_raw VALUES (randomblob(50000))",
                                  [()] * (megabytes * 1_000_000 // 50_000))
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--raw-mb", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        desk = make_desk(Path(tmp))
        store = desk.open_store()
        fill(store, args.n, random.Random(7))
        add_receipts_and_backlog(store, args.n)
        store.db.execute("ANALYZE")
        if args.raw_mb:
            add_raw(store, args.raw_mb)
        size = desk.db_path.stat().st_size / 1e6
        snapshot_ms = timed(lambda: read_snapshot(store.gauges, desk.clock()), args.repeat)
        check_ms = timed(lambda: store.gauges.check_pages(60.0), args.repeat)
        bare_ms = timed(lambda: gather(desk, store, budget=None), args.repeat)
        status_ms = timed(lambda: gather(desk, store), args.repeat)
        print(f"{args.n:,} tickets, database {size:,.0f} MB")
        print(f"metrics snapshot:     {snapshot_ms:.1f} ms median of {args.repeat}")
        print(f"page check:           {check_ms:.1f} ms median of {args.repeat} ({check_ms / size:.2f} ms per MB)")
        print(f"status without check: {bare_ms:.1f} ms median of {args.repeat}")
        print(f"status report:        {status_ms:.1f} ms median of {args.repeat}")
        for name, sql in QUERIES.items():
            plan = "; ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
            print(f"  {name:20} {plan}")
        store.close()


if __name__ == "__main__":
    main()
