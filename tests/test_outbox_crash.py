"""A kill -9 while the outbox drains, then a restart: every notice arrives, none twice (Maildir and SMTP)."""

from __future__ import annotations

import email
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from desktools import START, make_desk
from maildesk.notify.dispatch import flush, open_transport

ROOT = Path(__file__).resolve().parent.parent
NOTICES = 120  # more than two bursts

# The drain in a child process that kills itself, hard, at one point of the k-th delivery:
# "written" once the transport has delivered it but before the outbox has recorded it (the
# worst moment), "recorded" just after.
CHILD = """
import os, signal, sys
sys.path[:0] = [{tests!r}, {root!r}]
import json
from pathlib import Path
from desktools import make_desk
from maildesk.notify import dispatch

outbound, kill_at, point = json.loads({outbound!r}), {kill_at}, {point!r}
desk = make_desk(Path({tmp!r}), outbound=outbound)
store = desk.open_store()
transport = dispatch.open_transport(desk)
original = transport.send
done = []

def send(deliveries, on_result):
    def told(result):
        done.append(result.key)
        if point == "written" and len(done) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        on_result(result)
        if point == "recorded" and len(done) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return original(deliveries, told)

transport.send = send
dispatch.flush(desk, store, transport)
"""


def queue(tmp_path: Path, outbound: dict) -> set[str]:
    desk = make_desk(tmp_path, outbound=outbound)
    store = desk.open_store()
    ids = set()
    with store.atomic():
        for n in range(NOTICES):
            mid = f"notice{n}.1@example.test"
            data = (f"From: support@example.test\r\nTo: c{n}@customer.example\r\nMessage-ID: <{mid}>\r\n"
                    f"Subject: notice {n}\r\n\r\nBody {n}.\r\n").encode()
            store.outbox.enqueue(ticket_id=1, kind="status", recipient=f"c{n}@customer.example", message_id=mid,
                                 envelope_from="support@example.test", data=data, smtputf8=False, automatic=True,
                                 now=START)
            ids.add(mid)
    store.close()
    return ids


def crash_then_restart(tmp_path: Path, outbound: dict, *, kill_at: int, point: str) -> None:
    import json

    script = CHILD.format(tests=str(ROOT / "tests"), root=str(ROOT), tmp=str(tmp_path), outbound=json.dumps(outbound),
                          kill_at=kill_at, point=point)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr[-2000:]
    desk = make_desk(tmp_path, outbound=outbound)
    store = desk.open_store()
    try:
        left = store.db.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0]
        assert left > 0  # the kill did cut the drain short
        counts = flush(desk, store, open_transport(desk))
        assert counts["sent"] == left
        assert store.db.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0] == 0
    finally:
        store.close()


def arrived(messages: list[bytes]) -> Counter[str]:
    return Counter(email.message_from_bytes(m)["Message-ID"].strip("<>") for m in messages)


@pytest.mark.parametrize("kill_at", [1, 37, 50, 51, 99])
@pytest.mark.parametrize("point", ["written", "recorded"])
def test_a_maildir_outbox_killed_mid_drain_writes_each_notice_exactly_once(tmp_path, kill_at, point):
    outbound = {"kind": "maildir", "path": "sent"}
    ids = queue(tmp_path, outbound)
    crash_then_restart(tmp_path, outbound, kill_at=kill_at, point=point)
    files = [f.read_bytes() for sub in ("new", "cur") for f in (tmp_path / "sent" / sub).iterdir()]
    assert arrived(files) == Counter(ids)  # all of them, each once
    assert not any((tmp_path / "sent" / "tmp").iterdir())


@pytest.mark.parametrize("kill_at", [1, 37, 51])
def test_an_smtp_outbox_killed_after_recording_sends_nothing_twice(tmp_path, smtp_server, kill_at):
    outbound = {"kind": "smtp", "host": "127.0.0.1", "port": smtp_server.port, "security": "none"}
    ids = queue(tmp_path, outbound)
    crash_then_restart(tmp_path, outbound, kill_at=kill_at, point="recorded")
    assert arrived([r.content for r in smtp_server.received]) == Counter(ids)


def test_an_smtp_outbox_killed_between_the_servers_ok_and_the_record_doubles_only_that_notice(tmp_path, smtp_server):
    """SMTP has no way to ask whether a message was taken: the one notice in flight may go twice."""
    outbound = {"kind": "smtp", "host": "127.0.0.1", "port": smtp_server.port, "security": "none"}
    ids = queue(tmp_path, outbound)
    crash_then_restart(tmp_path, outbound, kill_at=37, point="written")
    got = arrived([r.content for r in smtp_server.received])
    assert set(got) == ids and sum(got.values()) == NOTICES + 1
    assert [mid for mid, n in got.items() if n > 1] == [sorted(ids, key=lambda i: int(i[6:].split(".")[0]))[36]]
