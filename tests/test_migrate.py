"""Schema versions: an older database is migrated with its data intact; a newer one is refused untouched."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from desktools import make_desk
from mailfactory import make_message
from maildesk.cli import cli
from maildesk.errors import MaildeskError, SchemaTooNew, StoreUnavailable
from maildesk.service import run_forever
from maildesk.store import Store
from maildesk.store.migrate import known_names, unknown_applied
from maildesk.store.schema import migrations

NAMES = known_names(migrations)
FUTURE = ("9001_from_a_later_version", "9002_and_another")
WHEN = "2025-03-04T05:06:07+00:00"


def fingerprint(path: Path) -> tuple[str, list[str]]:
    """The database file's bytes and the files beside it."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(p.name for p in path.parent.iterdir())


def newer_database(path: Path) -> None:
    """A database as a later maildesk leaves it: every migration we know, and two more."""
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future_things (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('maildesk', ?, ?)",
                     [(name, WHEN) for name in FUTURE])
    conn.commit()
    conn.close()


def test_the_migrations_this_code_knows_are_in_order():
    assert NAMES[:8] == ["0001_initial", "0002_outbox", "0003_outbox_by_ticket", "0004_routing",
                         "0005_ticket_links", "0006_csat", "0007_knowledge_base", "0008_sla_timers"]
    assert NAMES == sorted(NAMES)


def test_a_database_from_a_newer_version_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "maildesk.db"
    newer_database(path)
    before = fingerprint(path)
    with pytest.raises(SchemaTooNew) as caught:
        Store.open(path)
    assert isinstance(caught.value, MaildeskError) and not isinstance(caught.value, StoreUnavailable)
    assert caught.value.unknown == FUTURE
    message = str(caught.value)
    assert all(name in message for name in FUTURE)
    assert "upgrade maildesk" in message and "restore a backup made by this version" in message
    assert fingerprint(path) == before


def test_migrations_of_another_set_are_not_ours_to_judge(tmp_path):
    path = tmp_path / "maildesk.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('plugin', 'x', ?)", [WHEN])
    conn.commit()
    conn.close()
    store = Store.open(path)
    assert unknown_applied(store.db, known=migrations) == ()
    store.close()


def test_the_cli_reports_a_newer_database_instead_of_touching_it(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    path = tmp_path / "var" / "maildesk.db"
    newer_database(path)
    before = fingerprint(path)
    result = runner.invoke(cli, ["--config", str(tmp_path / "maildesk.toml"), "tickets", "list"])
    assert result.exit_code == 1
    shown = result.output + (str(result.exception) if result.exception else "")
    assert FUTURE[0] in shown and "upgrade maildesk" in shown
    assert fingerprint(path) == before


def test_the_daemon_stops_on_a_newer_database_instead_of_retrying(tmp_path, caplog):
    desk = make_desk(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "inbox"}])
    newer_database(desk.db_path)
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            run_forever(desk, stop=threading.Event())
        except BaseException as exc:  # recorded for the assertions below
            failures.append(exc)

    worker = threading.Thread(target=serve)
    with caplog.at_level(logging.ERROR, logger="maildesk.daemon"):
        worker.start()
        worker.join(30)
    assert not worker.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], SchemaTooNew)
    assert any(FUTURE[0] in r.getMessage() and r.levelno == logging.CRITICAL for r in caplog.records)
    assert not any("starting again" in r.getMessage() for r in caplog.records)


# -- an older database -------------------------------------------------------------------------


def older_database(path: Path, *, stop_before: str) -> None:
    """The database as a version that knew only the migrations before ``stop_before`` left it,
    with one ticket and its first message written in plain SQL of that schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    migrations.apply(db, stop_before=stop_before)
    conn = db.conn
    conn.execute("INSERT INTO tickets (subject, requester, status, tier, priority, mailbox, created_at, updated_at,"
                 " message_count) VALUES ('Old printer jam', 'olga@customer.example', 'open', 'L1', 'high',"
                 " 'inbox', ?, ?, 1)", [WHEN, WHEN])
    conn.execute("INSERT INTO participants (ticket_id, address, name, role, added_at)"
                 " VALUES (1, 'olga@customer.example', 'Olga', 'requester', ?)", [WHEN])
    conn.execute("INSERT INTO messages (ticket_id, message_id, raw_hash, direction, sender, sender_name, date,"
                 " subject, body_text, new_text, thread_reason, mailbox, created_at) VALUES (1,"
                 " 'old-1@customer.example', 'abc123', 'in', 'olga@customer.example', 'Olga', ?,"
                 " 'Old printer jam', 'The old printer jams.', 'The old printer jams.', 'new', 'inbox', ?)",
                 [WHEN, WHEN])
    conn.execute("INSERT INTO message_raw (message_pk, data) VALUES (1, ?)", [b"Subject: Old printer jam\r\n\r\nx"])
    conn.execute("INSERT INTO message_refs (ref, ticket_id, own) VALUES ('old-1@customer.example', 1, 1)")
    conn.execute("INSERT INTO events (ticket_id, at, actor, kind, new) VALUES (1, ?, 'olga@customer.example',"
                 " 'created', 'open')", [WHEN])
    conn.commit()
    db.close()


@pytest.mark.parametrize("stop_before", NAMES[1:])
def test_an_older_database_is_migrated_with_its_data_intact(tmp_path, stop_before):
    path = tmp_path / "maildesk.db"
    older_database(path, stop_before=stop_before)
    store = Store.open(path)
    try:
        assert [m.name for m in migrations.applied(store.db)] == NAMES
        ticket = store.db.execute("SELECT subject, requester, status, tier, priority, message_count FROM tickets"
                                  ).fetchall()
        assert ticket == [("Old printer jam", "olga@customer.example", "open", "L1", "high", 1)]
        assert store.tickets.raw(1) == b"Subject: Old printer jam\r\n\r\nx"
        assert store.tickets.tickets_for_refs(["old-1@customer.example"]) == {"old-1@customer.example": 1}
    finally:
        store.close()


def test_an_old_ticket_is_shown_and_answered_after_the_upgrade(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = ["--config", str(tmp_path / "maildesk.toml")]
    older_database(tmp_path / "var" / "maildesk.db", stop_before="0005_ticket_links")  # as 0004 left it
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True)
    (inbox / "reply.eml").write_bytes(make_message(sender="Olga <olga@customer.example>", subject="Re: Old printer jam",
                                                   in_reply_to="<old-1@customer.example>"))
    assert runner.invoke(cli, config + ["run", "--once"]).exit_code == 0
    result = runner.invoke(cli, config + ["tickets", "show", "1", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["subject"], shown["priority"], shown["tags"]) == ("Old printer jam", "high", [])
    old, reply = shown["messages"]
    assert (old["message_id"], old["body_text"]) == ("old-1@customer.example", "The old printer jams.")
    assert reply["thread_reason"] == "in-reply-to"
    assert "Ticket #1: Old printer jam" in runner.invoke(cli, config + ["tickets", "show", "1"]).output
