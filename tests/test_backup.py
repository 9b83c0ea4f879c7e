"""Backups: a checked, private copy written beside its target, consistent even while the daemon takes mail in."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from desktools import harness, make_desk
from mailfactory import make_message
from maildesk.cli import cli
from maildesk.errors import BackupFailed
from maildesk.service import run_forever
from maildesk.store import DB_NAME, Store
from maildesk.store.backup import BackupReport, backup


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("tickets", "messages", "receipts")}
    finally:
        conn.close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", "-journal", "-wal", "-shm")))


@pytest.fixture
def live(tmp_path):
    """A desk whose database holds two tickets, one of them with a reply."""
    h = harness(tmp_path)
    first = make_message(message_id="<first@customer.example>")
    h.take(first)
    h.take(make_message(subject="Re: Printer", in_reply_to="<first@customer.example>"))
    h.take(make_message(sender="dan@other.example", subject="VPN down"))
    yield h
    h.store.close()


def test_backup_writes_a_private_checked_copy_and_never_overwrites(live, tmp_path):
    target = tmp_path / "backups" / "desk.db"
    target.parent.mkdir()
    report = backup(live.desk.db_path, target)
    assert report == BackupReport(path=target, size=target.stat().st_size, tickets=2, messages=3)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(target.parent) == []
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    conn.close()

    live.take(make_message(subject="Third"))
    with pytest.raises(BackupFailed, match="already exists"):
        backup(live.desk.db_path, target)
    assert counts(target)["tickets"] == 2  # untouched
    assert backup(live.desk.db_path, target, force=True, pages=1).tickets == 3
    assert leftovers(target.parent) == []


def test_backup_refuses_a_missing_source_a_missing_directory_and_a_directory_target(live, tmp_path):
    with pytest.raises(BackupFailed, match="no database"):
        backup(tmp_path / "nothing.db", tmp_path / "b.db")
    assert not (tmp_path / "nothing.db").exists()  # never created by looking for it
    with pytest.raises(BackupFailed, match="cannot write in"):
        backup(live.desk.db_path, tmp_path / "missing" / "b.db")
    with pytest.raises(BackupFailed, match="is a directory"):
        backup(live.desk.db_path, tmp_path, force=True)


def test_a_corrupt_source_fails_and_leaves_nothing_behind(tmp_path):
    source = tmp_path / "broken.db"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("CREATE INDEX t_v ON t(v)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"value {i:05d} " * 8,) for i in range(3000)])
    conn.commit()
    conn.close()
    with open(source, "r+b") as f:  # scribble over a page in the middle of the file
        f.seek(source.stat().st_size // 2 // 4096 * 4096)
        f.write(os.urandom(4096))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BackupFailed):
        backup(source, out / "b.db")
    assert list(out.iterdir()) == []
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 1000)
    with pytest.raises(BackupFailed, match="not a database"):
        backup(garbage, out / "b.db")
    assert list(out.iterdir()) == []


def test_cli_backup_prints_what_it_wrote_and_fails_in_one_line(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = tmp_path / "maildesk.toml"
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True)
    (inbox / "1.eml").write_bytes(make_message())
    assert runner.invoke(cli, ["--config", str(config), "run", "--once"]).exit_code == 0
    target = tmp_path / "desk-backup.db"
    result = runner.invoke(cli, ["--config", str(config), "backup", str(target)])
    assert result.exit_code == 0, result.output
    assert f"wrote {target}: {target.stat().st_size} bytes, 1 tickets, 1 messages" in result.output
    assert "secret.key" in result.output  # the reminder to keep the key with it
    again = runner.invoke(cli, ["--config", str(config), "backup", str(target)])
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: {target} already exists (use --force to replace it)"
    assert runner.invoke(cli, ["--config", str(config), "backup", "--force", str(target)]).exit_code == 0


# -- a backup while the daemon takes mail in ---------------------------------------------------

TOTAL = 150  # messages the writer drops
AHEAD = 20  # at most this many waiting in the Maildir, so intake goes on for many rounds
DEADLINE = 90.0


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _mail(i: int) -> bytes:
    """Every third message answers the one before it, so tickets get more than one message."""
    if i % 3 == 2:
        return make_message(message_id=f"<n{i}@customer.example>", subject=f"Re: problem {i - 1}",
                            in_reply_to=f"<n{i - 1}@customer.example>")
    return make_message(message_id=f"<n{i}@customer.example>", subject=f"problem {i}",
                        sender=f"customer{i}@example.org")


def _writer(maildir: Path, db: Path, done: threading.Event) -> threading.Thread:
    """Drops messages the way an MTA does (write in tmp/, rename into new/), staying AHEAD of intake."""
    def write() -> None:
        conn = sqlite3.connect(db)
        try:
            for i in range(TOTAL):
                while i - _count(conn, "receipts") >= AHEAD and not done.is_set():
                    done.wait(0.005)
                if done.is_set():
                    return
                (maildir / "tmp" / f"{i:05d}.eml").write_bytes(_mail(i))
                os.rename(maildir / "tmp" / f"{i:05d}.eml", maildir / "new" / f"{i:05d}.eml")
        finally:
            conn.close()

    return threading.Thread(target=write, name="writer")


def _check_backup(path: Path, final: dict[str, int], restore_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        orphans = "SELECT COUNT(*) FROM messages WHERE ticket_id NOT IN (SELECT id FROM tickets)"
        assert conn.execute(orphans).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE id NOT IN (SELECT message_pk FROM message_raw)"
                            ).fetchone()[0] == 0
        miscounted = ("SELECT COUNT(*) FROM tickets t WHERE message_count !="
                      " (SELECT COUNT(*) FROM messages m WHERE m.ticket_id = t.id)")
        assert conn.execute(miscounted).fetchone()[0] == 0  # no transaction was caught half-way
    finally:
        conn.close()
    found = counts(path)
    assert all(found[k] <= final[k] for k in final)
    restore_dir.mkdir()
    shutil.copyfile(path, restore_dir / DB_NAME)
    restored = Store.open(restore_dir / DB_NAME)
    try:
        assert _count(restored.db.conn, "tickets") == found["tickets"]
        assert _count(restored.db.conn, "messages") == found["messages"]
    finally:
        restored.close()
    return found


def test_backups_taken_while_the_daemon_ingests_are_consistent(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "inbox", "poll_seconds": 1}])
    desk.open_store().close()
    maildir = tmp_path / "inbox"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    stop, writing_done = threading.Event(), threading.Event()
    daemon = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop}, name="daemon")
    writer = _writer(maildir, desk.db_path, writing_done)
    watch = sqlite3.connect(desk.db_path)
    reports: list[BackupReport] = []
    deadline = time.monotonic() + DEADLINE
    daemon.start()
    writer.start()
    try:
        seen = 0
        while writer.is_alive() and len(reports) < 8 and time.monotonic() < deadline:
            taken = _count(watch, "receipts")
            if taken == seen:
                stop.wait(0.01)
                continue
            seen = taken
            reports.append(backup(desk.db_path, tmp_path / f"during-{len(reports)}.db", pages=4))
        writing_done.set()
        writer.join(DEADLINE)
        dropped = len(list((maildir / "new").iterdir())) + len(list((maildir / "cur").iterdir()))
        while _count(watch, "receipts") < dropped and time.monotonic() < deadline:
            stop.wait(0.02)
        assert _count(watch, "receipts") == dropped
    finally:
        writing_done.set()
        stop.set()
        daemon.join(30)
        watch.close()
    assert not daemon.is_alive()
    final = counts(desk.db_path)
    assert len(reports) >= 3
    assert any(0 < r.messages < final["messages"] for r in reports), "no backup was taken mid-intake"
    found = [_check_backup(r.path, final, tmp_path / f"restore-{i}") for i, r in enumerate(reports)]
    assert all(a[k] <= b[k] for a, b in zip(found, found[1:]) for k in a)  # never going back
    last = backup(desk.db_path, tmp_path / "after.db")
    assert _check_backup(last.path, final, tmp_path / "restore-after") == final
    assert (last.tickets, last.messages) == (final["tickets"], final["messages"])
