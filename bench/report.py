"""KPI report speed: ``maildesk report`` over one year of history with 100,000 tickets.

usage: python bench/report.py [-n 100000] [--repeat 3] [--business-hours]

Writes a desk database directly (like a desk that ran for a year): N tickets spread over 365
days, each routed, 90% with a first reply, 80% resolved, 20% escalated, 5% reopened, 30% rated,
10% with an SLA breach; then times reading the facts and computing the KPIs, as the command does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maildesk.report.kpi import report  # noqa: E402
from maildesk.sla.calendar import Calendar  # noqa: E402
from maildesk.store import Store  # noqa: E402

START = datetime(2025, 12, 1, tzinfo=timezone.utc)


def fill(store: Store, n: int, rng: random.Random) -> None:
    tickets, events, outbox, csat = [], [], [], []
    for i in range(1, n + 1):
        created = START + timedelta(seconds=rng.randrange(365 * 86400))
        at = lambda minutes: (created + timedelta(minutes=minutes)).isoformat()  # noqa: E731
        resolved = rng.random() < 0.8
        tickets.append((i, f"ticket {i}", f"u{i}@c.example", "resolved" if resolved else "open", "L1", "normal",
                        created.isoformat(), created.isoformat()))
        events.append((i, at(0), "system", "routed", None, "L1", "{}"))
        if rng.random() < 0.9:
            outbox.append((i, "relay", f"u{i}@c.example", f"r{i}@d.example", "d@d.example", b"x", "sent", at(rng.randrange(10, 600)),
                           at(rng.randrange(10, 600))))
        if rng.random() < 0.2:
            events.append((i, at(60), "alice@d.example", "escalated", None, None, "{}"))
        if resolved:
            events.append((i, at(rng.randrange(600, 6000)), "alice@d.example", "resolution", None, None, '{"summary": "x"}'))
            if rng.random() < 0.3:
                csat.append((i, len(events), rng.randint(1, 5), "", f"u{i}@c.example", at(7000)))
        if rng.random() < 0.05:
            events.append((i, at(7200), f"u{i}@c.example", "status", "resolved", "open", "{}"))
        if rng.random() < 0.1:
            events.append((i, at(480), "system", "sla-breach", None, "first_response", "{}"))
    with store.atomic():
        c = store.db.conn
        c.executemany("INSERT INTO tickets (id, subject, requester, status, tier, priority, created_at, updated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", tickets)
        c.executemany("INSERT INTO events (ticket_id, at, actor, kind, old, new, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      events)
        c.executemany("INSERT INTO outbox (ticket_id, kind, recipient, message_id, envelope_from, data, status,"
                      " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", outbox)
        c.executemany("INSERT INTO csat (ticket_id, resolution_event, score, comment, rated_by, rated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)", csat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--business-hours", action="store_true",
                    help="every ticket's policy counts business hours (Mon-Fri 08-18 Berlin): times in business time")
    args = ap.parse_args()
    calendar = (Calendar.from_config({"timezone": "Europe/Berlin", "hours": "08:00-18:00"})
                if args.business_hours else None)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "maildesk.db")
        fill(store, args.n, random.Random(7))
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            facts = store.reports.facts(since=START, until=START + timedelta(days=365),
                                        clocks_of=lambda sla, priority: (("first_response",), calendar))
            kpi = report(facts, tiers=["L1", "L2"], now=START + timedelta(days=365))
            times.append(time.perf_counter() - start)
        store.close()
    print(f"{args.n:,} tickets over one year: report in {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)}); {kpi['overall']['resolved']:,} resolved, "
          f"first contact resolution {kpi['overall']['first_contact_resolution_rate']}")
    flag = " --business-hours" if args.business_hours else ""
    print(f"\n`python bench/report.py -n {args.n} --repeat {args.repeat}{flag}`")


if __name__ == "__main__":
    main()
