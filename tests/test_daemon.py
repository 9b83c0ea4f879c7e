"""The daemon: mailboxes are isolated from each other's failures, backoff grows and resets."""

from __future__ import annotations

import socket
import threading
import time

from desktools import harness
from mailfactory import make_message
from maildesk.daemon import Backoff, run_forever


def test_backoff_doubles_up_to_the_cap_and_resets():
    b = Backoff(first=1, cap=8)
    assert [b.next() for _ in range(5)] == [1, 2, 4, 8, 8]
    b.reset()
    assert b.next() == 1


def test_daemon_serves_a_maildir_while_an_imap_mailbox_is_down(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("MD_DOWN_PW", "x")
    h = harness(tmp_path, mailboxes=[
        {"name": "down", "kind": "imap", "host": "127.0.0.1", "port": closed, "security": "none",
         "username": "u", "password_env": "MD_DOWN_PW"},
        {"name": "drop", "kind": "maildir", "path": "inbox", "poll_seconds": 1},
    ])
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(h.desk,), kwargs={"stop": stop})
    worker.start()
    try:
        new = tmp_path / "inbox" / "new"
        deadline = time.monotonic() + 15
        while not new.exists() and time.monotonic() < deadline:
            stop.wait(0.05)
        (new / "1.eml").write_bytes(make_message())
        while h.message_count() == 0 and time.monotonic() < deadline:
            stop.wait(0.05)
        assert h.message_count() == 1
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()


def test_notices_go_out_as_soon_as_their_message_is_stored(tmp_path):
    h = harness(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "inbox", "poll_seconds": 1}],
                outbound={"kind": "maildir", "path": "sent"}, notify={"enabled": True})
    stop = threading.Event()
    # Retries are an hour apart: only the wake-up after intake can send the acknowledgement in time.
    worker = threading.Thread(target=run_forever, args=(h.desk,), kwargs={"stop": stop, "outbox_every": 3600})
    worker.start()
    try:
        new, sent = tmp_path / "inbox" / "new", tmp_path / "sent" / "new"
        deadline = time.monotonic() + 15
        while not new.exists() and time.monotonic() < deadline:
            stop.wait(0.05)
        (new / "1.eml").write_bytes(make_message())
        while not (sent.exists() and any(sent.iterdir())) and time.monotonic() < deadline:
            stop.wait(0.05)
        assert sent.exists() and len(list(sent.iterdir())) == 1
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()
