"""A full or corrupt database, for real: run --once, deliver and the daemon say so, and status and metrics tell."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import sqlitecap
from desktools import make_desk
from mailfactory import make_message
from maildesk.cli import cli
from maildesk.status import check
from maildesk.store.faults import FaultLog
from test_metrics import scrape
from imapserver import free_port

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "printer-jammed.eml"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A desk made by `init` whose database has taken in one message, with the worker pool off."""
    assert CliRunner().invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = tmp_path / "maildesk.toml"
    config.write_text(config.read_text() + "\n[intake]\nworkers = 0\n")
    drop(config, "first.eml", SAMPLE.read_bytes())
    assert maildesk(config, "run", "--once").returncode == 0
    return config


def maildesk(config: Path, *args: str, data: bytes | None = None,
             cap: int | None = None) -> subprocess.CompletedProcess:
    """The maildesk command in a process of its own; with ``cap``, its database may not grow beyond that many pages."""
    if cap is None:
        argv, env = [sys.executable, "-m", "maildesk", "--config", str(config), *args], None
    else:
        argv, env = sqlitecap.command(config, *args), {**os.environ, sqlitecap.ENV: str(cap)}
    return subprocess.run(argv, input=data, capture_output=True, timeout=120, env=env)


def drop(config: Path, name: str, data: bytes) -> Path:
    path = config.parent / "var" / "inbox" / "new" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def big_message(n: int) -> bytes:
    """About 30 KB that does not compress (kept raw, as text and as reply text: some 22 pages)."""
    rng = random.Random(n)
    body = "\n".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(72)) for _ in range(400))
    return make_message(sender=f"customer{n}@customer.example", subject=f"Printer {n}", body=body)


def db(config: Path) -> Path:
    return config.parent / "var" / "maildesk.db"


def count(config: Path, sql: str) -> int:
    with closing(sqlite3.connect(db(config))) as conn:
        return int(conn.execute(sql).fetchone()[0])


def corrupt_table(config: Path, table: str) -> None:
    """Write garbage over the root page of ``table`` (never the header) in the checkpointed file."""
    with closing(sqlite3.connect(db(config))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    assert root > 1
    with open(db(config), "r+b") as f:
        f.seek((root - 1) * size)
        f.write(bytes([0xDE, 0xAD, 0xBE, 0xEF]) * (size // 4))


def test_run_once_on_a_full_database_exits_75_and_status_names_it_and_the_waiting_notices(site):
    for n in range(6):
        drop(site, f"big{n}.eml", big_message(n))
    cap = sqlitecap.page_count(db(site)) + 48  # room for a message or two (raw, text and reply: 90 KB), not six
    run = maildesk(site, "run", "--once", cap=cap)
    assert run.returncode == 75, run.stderr.decode()
    assert b"database or disk is full" in run.stderr and b"Traceback" not in run.stderr
    left = list((site.parent / "var" / "inbox" / "new").iterdir())
    stored = count(site, "SELECT COUNT(*) FROM messages") - 1
    assert 1 <= stored < 6 and len(left) == 6 - stored  # what was not stored stays in the mailbox
    waiting = count(site, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'")
    assert waiting >= 1  # the run stopped before the outbox: nothing more is written to a full database

    status = maildesk(site, "status", cap=cap)
    out = status.stdout.decode()
    assert status.returncode == 1 and out.startswith("maildesk: UNHEALTHY")
    assert "FAIL storage: mailbox inbox: database or disk is full" in out
    assert f"FAIL outbox: {waiting} notice(s) waiting while the database fails" in out
    data = json.loads(maildesk(site, "status", "--json", cap=cap).stdout)
    assert [(f["place"], f["kind"]) for f in data["storage"]["failing"]] == [("mailbox inbox", "full")]

    again = maildesk(site, "run", "--once")  # room again: everything goes, and the record with it
    assert again.returncode == 0, again.stderr.decode()
    assert not list((site.parent / "var" / "inbox" / "new").iterdir())
    healthy = maildesk(site, "status")
    assert healthy.returncode == 0 and b"ok   storage: quick_check passed" in healthy.stdout


def test_a_corrupt_page_makes_status_fail_deliver_75_run_once_74_and_loses_no_mail(site):
    corrupt_table(site, "receipts")
    status = maildesk(site, "status")
    assert status.returncode == 1, status.stdout.decode()
    assert b"database disk image is malformed" in status.stdout and b"restore a backup" in status.stdout

    delivered = maildesk(site, "deliver", data=big_message(1))
    assert delivered.returncode == 75 and b"database disk image is malformed" in delivered.stderr
    waiting = drop(site, "waiting.eml", big_message(2))
    run = maildesk(site, "run", "--once")
    assert run.returncode == 74, run.stderr.decode()
    assert b"database disk image is malformed" in run.stderr and b"Traceback" not in run.stderr
    assert waiting.exists()  # never moved to cur/: it is taken in once the database is restored

    data = json.loads(maildesk(site, "status", "--json").stdout)
    assert data["healthy"] is False and data["storage"]["check"] == "failed"
    assert {(f["place"], f["kind"]) for f in data["storage"]["failing"]} == {("deliver", "corrupt"),
                                                                             ("mailbox inbox", "corrupt")}


def test_status_on_a_file_that_is_not_a_database_reports_it_without_a_traceback(site):
    with open(db(site), "r+b") as f:
        f.write(b"this is not an SQLite header")
    status = maildesk(site, "status")
    assert status.returncode == 1 and b"Traceback" not in status.stderr
    assert b"FAIL storage: the database cannot be read" in status.stdout and b"file is not a database" in status.stdout


@contextmanager
def running(desk):
    from maildesk.service import run_forever

    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def until(what: str, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.05)


def test_the_daemon_records_a_full_database_for_status_and_metrics_and_clears_it_when_there_is_room(
        tmp_path, monkeypatch):
    port = free_port()
    desk = make_desk(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "in"}],
                     metrics={"listen": f"127.0.0.1:{port}"})
    desk.open_store().close()
    monkeypatch.setattr(sqlite3, "connect", sqlitecap.capped_connect)
    monkeypatch.setenv(sqlitecap.ENV, str(sqlitecap.page_count(desk.db_path)))
    (tmp_path / "in" / "new").mkdir(parents=True)
    (tmp_path / "in" / "new" / "big.eml").write_bytes(big_message(3))
    faults = FaultLog(desk.db_path)
    with running(desk):
        until("the failure recorded", lambda: faults.read())
        report = check(desk)
        samples = scrape(port)
        monkeypatch.delenv(sqlitecap.ENV)  # room again: the worker's next attempt stores the message
        until("the record cleared", lambda: not faults.read())
        after = scrape(port)
    assert [(f.place, f.kind, f.error) for f in faults.read()] == []
    assert not report.healthy
    storage = [f.detail for f in report.findings if f.subject == "storage" and f.level == "fail"]
    assert storage and storage[0].startswith("mailbox drop: database or disk is full")
    assert samples[("maildesk_storage_ok", ())] == 0
    assert samples[("maildesk_storage_failing", (("kind", "full"), ("place", "mailbox drop")))] == 1
    assert samples[("maildesk_storage_errors_total", (("kind", "full"),))] >= 1
    assert after[("maildesk_storage_ok", ())] == 1
    assert not any(name == "maildesk_storage_failing" for name, _ in after)
    assert not (tmp_path / "in" / "new" / "big.eml").exists()
