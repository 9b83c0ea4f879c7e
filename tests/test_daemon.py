"""The daemon: mailboxes are isolated from each other's failures, backoff grows and resets."""

from __future__ import annotations

import logging
import socket
import threading
import time

import tomli_w

from desktools import harness
from mailfactory import make_message
from maildesk.config import load_config
from maildesk.daemon import Backoff
from maildesk.desk import Desk
from maildesk.service import run_forever
from maildesk.tokens import write_secret


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


def _config(path, pattern: str, tier: str) -> None:
    path.write_text(tomli_w.dumps({
        "desk": {"address": "support@example.test", "data_dir": "var"},
        "mailbox": [{"name": "drop", "kind": "maildir", "path": "inbox", "poll_seconds": 1}],
        "notify": {"enabled": False},
        "tier": [{"name": "L1"}, {"name": "L2"}, {"name": "L3"}],
        "rule": [{"name": "vip", "if": {"subject_matches": pattern}, "then": {"tier": tier}}]}))


def _wait(condition, stop, what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition() and time.monotonic() < deadline:
        stop.wait(0.05)
    assert condition(), what


def test_a_reload_applies_a_valid_config_and_refuses_a_broken_one(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="maildesk")
    config_file = tmp_path / "maildesk.toml"
    _config(config_file, "(?i)vip", "L2")
    write_secret(tmp_path / "var" / "secret.key")
    desk = Desk.load(load_config(config_file))
    store = desk.open_store()
    stop, reload = threading.Event(), threading.Event()
    worker = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop, "reload": reload})
    worker.start()
    new = tmp_path / "inbox" / "new"

    def tier_of(subject: str) -> str | None:
        row = store.db.execute("SELECT tier FROM tickets WHERE subject = ?", [subject]).fetchone()
        return row[0] if row else None

    def take(subject: str) -> str | None:
        (new / f"{subject}.eml").write_bytes(make_message(subject=subject))
        _wait(lambda: tier_of(subject) is not None, stop,
              f"{subject} never became a ticket (daemon alive: {worker.is_alive()}; threads: "
              f"{sorted(t.name for t in threading.enumerate())}; log: {caplog.text[-2000:]})")
        return tier_of(subject)

    try:
        _wait(new.exists, stop, "the maildir was never created")
        assert take("VIP one") == "L2"
        _config(config_file, "(?i)vip(", "L3")  # a broken pattern
        reload.set()
        _wait(lambda: not reload.is_set(), stop, "the reload was never taken")
        assert take("VIP two") == "L2"  # the old rules keep running
        assert "reload refused" in caplog.text and "rule[0].if.subject_matches" in caplog.text
        _config(config_file, "(?i)vip", "L3")
        reload.set()
        _wait(lambda: not reload.is_set(), stop, "the reload was never taken")
        assert take("VIP three") == "L3"
    finally:
        stop.set()
        worker.join(15)
        store.close()
    assert not worker.is_alive()
