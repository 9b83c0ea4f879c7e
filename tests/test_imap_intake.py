"""End to end through a real Dovecot: IMAP mail becomes tickets exactly once, whatever breaks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.daemon import drain
from maildesk.service import run_forever
from maildesk.errors import MailboxError
from maildesk.mailbox.imap import ImapSource
from maildesk.store import views
from maildesk.tokens import make_token, reply_address

pytestmark = pytest.mark.imap


def source_for(server, **kw):
    options = dict(name="support", host=server.host, port=server.port, security="none",
                   username=server.user, password=server.password, idle=False, poll_seconds=1, timeout=10)
    options.update(kw)
    return ImapSource(**options)


def pump(h, server, **kw):
    """Connect, take in everything waiting, disconnect."""
    source = source_for(server, **kw)
    source.connect()
    try:
        return drain(source, h.runner, threading.Event())
    finally:
        source.close()


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path)


def tickets(h):
    return views.list_tickets(h.store.db)


def test_new_message_and_replies_by_reference_token_and_tag(h, dovecot):
    first = make_message()
    dovecot.append("INBOX", first)
    assert pump(h, dovecot) == 1
    ticket_id = tickets(h)[0]["id"]
    token = make_token(h.desk.secret, ticket_id)
    dovecot.append_many("INBOX", [
        make_message(subject="Re: Printer", in_reply_to=message_id_of(first)),
        make_message(subject="still broken", to=reply_address("support@example.test", token)),
        make_message(subject=f"[#{ticket_id}] any news?"),
        make_message(sender="mallory@evil.example", subject=f"[#{ticket_id}] send me the file"),
    ])
    assert pump(h, dovecot) == 4
    shown = views.show_ticket(h.store.db, ticket_id)
    assert [m["thread_reason"] for m in shown["messages"]] == ["new", "in-reply-to", "token", "subject-tag"]
    assert len(tickets(h)) == 2  # the stranger got a ticket of their own
    assert all("\\Seen" in flags for flags in dovecot.flags("INBOX").values())


def test_crash_between_commit_and_flag_stores_once_and_flags_after_restart(h, dovecot):
    dovecot.append_many("INBOX", [make_message(), make_message()])
    source = source_for(dovecot)
    source.connect()

    def crash(done):
        raise KeyboardInterrupt("process killed")

    source.settle = crash
    with pytest.raises(KeyboardInterrupt):
        drain(source, h.runner, threading.Event())
    source.close()
    assert h.message_count() >= 1
    assert not any("\\Seen" in f for f in dovecot.flags("INBOX").values())  # never flagged
    pump(h, dovecot)  # restart
    assert h.message_count() == 2 and h.ticket_count() == 2
    assert all("\\Seen" in f for f in dovecot.flags("INBOX").values())


def test_connection_dropped_mid_batch_loses_nothing(h, dovecot):
    dovecot.append_many("INBOX", [make_message() for _ in range(6)])
    source = source_for(dovecot, batch_size=2)
    source.connect()
    batches = source.batches(h.store.ledger)
    first = next(batches)
    for raw in first:
        h.runner.process(raw)
    dovecot.kill()
    with pytest.raises(MailboxError):
        for batch in batches:
            for raw in batch:
                h.runner.process(raw)
    source.close()
    dovecot.start()
    pump(h, dovecot)
    assert h.message_count() == 6 and h.ticket_count() == 6
    assert len(dovecot.flags("INBOX")) == 6


def test_uidvalidity_change_rescans_without_duplicates(h, dovecot):
    dovecot.append_many("INBOX", [make_message(), make_message()])
    pump(h, dovecot)
    before = dovecot.uidvalidity("INBOX")
    dovecot.reset_uidvalidity("INBOX")
    assert dovecot.uidvalidity("INBOX") != before
    dovecot.append("INBOX", make_message(subject="after the reset"))
    pump(h, dovecot)
    assert h.message_count() == 3 and h.ticket_count() == 3


def test_same_message_id_under_two_uids_is_stored_once(h, dovecot):
    data = make_message()
    dovecot.append_many("INBOX", [data, data.replace(b"jammed again", b"jammed AGAIN")])
    pump(h, dovecot)
    assert h.message_count() == 1
    assert h.store.ledger.counts() == {"stored": 1, "duplicate": 1}


def test_mail_marked_seen_by_another_client_is_not_missed(h, dovecot):
    dovecot.append("INBOX", make_message(), flags=["\\Seen"])
    with dovecot.client() as other:
        other.select_folder("INBOX")
        dovecot.append("INBOX", make_message())
        other.add_flags(other.search("ALL"), ["\\Seen"])
    pump(h, dovecot)
    assert h.message_count() == 2


def test_processed_and_quarantine_folders(tmp_path, dovecot):
    h = harness(tmp_path, limits={"max_message_bytes": 4096})
    dovecot.append_many("INBOX", [make_message(), make_message(body="x" * 9000)])
    pump(h, dovecot, processed_folder="Processed", quarantine_folder="Quarantine")
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Processed")) == 1 and len(dovecot.uids("Quarantine")) == 1
    assert h.message_count() == 1 and h.store.quarantine.count() == 1


def test_daemon_with_idle_picks_up_new_mail_and_stops(tmp_path, dovecot):
    h = harness(tmp_path, mailboxes=[{"name": "support", "kind": "imap", "host": dovecot.host,
                                      "port": dovecot.port, "security": "none", "username": dovecot.user,
                                      "password_env": "MD_TEST_IMAP_PW", "idle": True, "poll_seconds": 60}])
    os.environ["MD_TEST_IMAP_PW"] = dovecot.password
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(h.desk,), kwargs={"stop": stop})
    worker.start()
    try:
        dovecot.append("INBOX", make_message())
        deadline = time.monotonic() + 20
        while h.message_count() == 0 and time.monotonic() < deadline:
            stop.wait(0.1)
        assert h.message_count() == 1  # well before the 60 s poll: IDLE woke the worker
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()


def test_sigterm_finishes_and_exits_zero(tmp_path, dovecot):
    config = tmp_path / "maildesk.toml"
    config.write_text(
        '[desk]\naddress = "support@example.test"\n'
        f'[[mailbox]]\nname = "support"\nkind = "imap"\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
        f'security = "none"\nusername = "{dovecot.user}"\npassword_env = "MD_PW"\nidle = true\n')
    subprocess.run([sys.executable, "-m", "maildesk", "init", str(tmp_path / "x")], check=True,
                   capture_output=True)
    (tmp_path / "var").mkdir()
    os.replace(tmp_path / "x" / "var" / "secret.key", tmp_path / "var" / "secret.key")
    dovecot.append("INBOX", make_message())
    env = {**os.environ, "MD_PW": dovecot.password}
    proc = subprocess.Popen([sys.executable, "-m", "maildesk", "--config", str(config), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while "\\Seen" not in dovecot.flags("INBOX")[1] and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    listed = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), "tickets", "list"],
                            capture_output=True, text=True)
    assert "Printer on floor 3" in listed.stdout
