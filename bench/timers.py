"""SLA timer pass: how long one pass takes with 100,000 open tickets when nothing, or a little, is due.

usage: python bench/timers.py [-n 100000] [--due 100] [--repeat 20]

Builds a desk database with N open tickets (rows written directly, like a desk that has run for
a while), each with its SLA timers planned in the future, then times ``run_timers`` when nothing
is due (the common case, every few seconds) and when ``--due`` timers are due. Prints the median
and worst of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maildesk.clock import ManualClock  # noqa: E402
from maildesk.config import build  # noqa: E402
from maildesk.desk import Desk  # noqa: E402
from maildesk.sla.timers import run_timers  # noqa: E402
from maildesk.stage import Context  # noqa: E402
from maildesk.tokens import write_secret  # noqa: E402

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def make_desk(site: Path) -> Desk:
    data = {"desk": {"address": "support@example.test", "data_dir": "var"},
            "tier": [{"name": "L1", "agents": ["alice@example.test"]}, {"name": "L2"}],
            "sla": {"normal": {"first_response": "8h", "resolution": "5d", "business_hours": False}},
            "timers": {"escalate_on_breach": False}}
    config = build(data, base=site, source=site / "maildesk.toml")
    write_secret(config.desk.secret_file)
    return Desk.load(config, clock=ManualClock(START))


def fill(desk: Desk, n: int, due: int) -> None:
    """N open tickets, each with a warning and a breach timer; ``due`` of them, 7 hours old, have the
    warning due (it fires: an event and a notice to the tier's agent)."""
    store = desk.open_store()
    with store.atomic():
        created = {i: START - timedelta(hours=7) if i <= due else START for i in range(1, n + 1)}
        store.db.conn.executemany(
            "INSERT INTO tickets (id, subject, requester, status, tier, priority, created_at, updated_at)"
            " VALUES (?, ?, ?, 'open', 'L1', 'normal', ?, ?)",
            [(i, f"ticket {i}", f"user{i}@customer.example", at.isoformat(), at.isoformat())
             for i, at in created.items()])
        rows = []
        for i, at in created.items():  # the warning at 80% of 8 hours, the breach at 8 hours
            rows += [(i, "first_response.warning", (at + timedelta(hours=6.4)).isoformat()),
                     (i, "first_response.breach", (at + timedelta(hours=8)).isoformat())]
        store.db.conn.executemany("INSERT INTO sla_timers (ticket_id, kind, due_at) VALUES (?, ?, ?)", rows)
    store.close()


def timed_passes(desk: Desk, repeat: int) -> list[float]:
    store = desk.open_store()
    ctx = Context(desk, store)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run_timers(ctx)
        times.append((time.perf_counter() - start) * 1000)
    store.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--due", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, due in (("nothing due", 0), (f"{args.due} due", args.due)):
            site = Path(tmp) / label.replace(" ", "-")
            site.mkdir()
            desk = make_desk(site)
            fill(desk, args.n, due)
            times = timed_passes(desk, args.repeat)
            first = times[0]
            print(f"{args.n:,} open tickets, {label:>12}: first pass {first:8.1f} ms, "
                  f"then median {statistics.median(times[1:]):6.2f} ms, worst {max(times[1:]):6.2f} ms")
    print(f"\n`python bench/timers.py -n {args.n} --due {args.due} --repeat {args.repeat}`")


if __name__ == "__main__":
    main()
