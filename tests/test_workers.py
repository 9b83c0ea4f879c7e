"""The intake worker processes: they prepare mail like the daemon would, and never outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from desktools import make_desk
from mailfactory import make_message
from maildesk.models import Origin, RawMessage
from maildesk.pipeline import Runner
from maildesk.stage import Context
from maildesk.workers import PreparePool

ROOT = Path(__file__).resolve().parent.parent

# A daemon stand-in: starts a pool, has it prepare mail, prints the workers' pids, then waits to be killed.
CHILD = """
import sys, time
sys.path[:0] = [{tests!r}, {root!r}]
from pathlib import Path
from desktools import make_desk
from mailfactory import make_message
from maildesk.models import Origin, RawMessage
from maildesk.workers import PreparePool
desk = make_desk(Path({tmp!r}))
pool = PreparePool(desk, workers=2, min_batch=1)
raws = [RawMessage(Origin("t", str(i)), make_message(), desk.clock()) for i in range(8)]
list(pool.prepare(raws))
print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone in all but name
        return stat.read().split()[2] != "Z"


def test_workers_prepare_what_the_daemon_would(tmp_path):
    desk = make_desk(tmp_path, rules=[{"name": "vpn", "if": {"subject_matches": "(?i)vpn"}, "then": {"tier": "L2"}}])
    raws = [RawMessage(Origin("t", str(i)), make_message(subject=f"VPN {i}"), desk.clock()) for i in range(8)]
    pool = PreparePool(desk, workers=2, min_batch=1)
    try:
        pooled = list(pool.prepare(raws))
    finally:
        pool.close()
    local = [Runner(Context(desk, None)).prepare(raw) for raw in raws]  # type: ignore[arg-type]
    assert [w.route for w in pooled] == [w.route for w in local] and pooled[0].route.tier == "L2"
    assert [w.parsed.subject for w in pooled] == [w.parsed.subject for w in local]


def test_workers_end_when_the_daemon_is_killed_hard(tmp_path):
    script = CHILD.format(tests=str(ROOT / "tests"), root=str(ROOT), tmp=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in child.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        child.kill()
