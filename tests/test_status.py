"""`maildesk status`: what it reports and when it says unhealthy (exit 1), judged on a real database."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import timedelta

from click.testing import CliRunner

from desktools import make_desk
from maildesk.cli import cli
from maildesk.health import MailboxMonitor
from maildesk.mailbox.base import Reconciliation
from maildesk.errors import AuthFailed, MailboxError
from maildesk.status import gather

DROP = {"name": "drop", "kind": "maildir", "path": "in"}
SECOND = {"name": "sales", "kind": "maildir", "path": "sales"}


def report(desk):
    with closing(desk.open_store()) as store:
        return gather(desk, store)


def beat(desk, *, ago: timedelta = timedelta(0)):
    with closing(desk.open_store()) as store:
        with store.atomic():
            store.health.beat("daemon", now=desk.clock() - ago, pid=4242, version="0.1.0",
                              started_at=desk.clock() - ago - timedelta(hours=1))


def levels(rep) -> dict[str, str]:
    worst = {}
    for f in rep.findings:
        if worst.get(f.subject) != "fail":
            worst[f.subject] = f.level if worst.get(f.subject) != "warn" or f.level == "fail" else "warn"
    return worst


def test_a_fresh_desk_is_not_unhealthy_but_says_what_it_does_not_know(tmp_path):
    rep = report(make_desk(tmp_path, mailboxes=[DROP]))
    assert rep.healthy
    assert levels(rep) == {"storage": "ok", "daemon": "warn", "mailbox drop": "warn", "outbox": "ok"}


def test_a_working_daemon_and_mailboxes_are_healthy(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP, SECOND])
    beat(desk)
    for name in ("drop", "sales"):
        monitor = MailboxMonitor(desk, name)
        monitor.connected(uidvalidity=None)
        monitor.fetched()
        monitor.reconciled(Reconciliation(on_server=3, waiting=1))
        monitor.close()
    rep = report(desk)
    assert rep.healthy and levels(rep)["mailbox sales"] == "ok"
    drop = rep.mailboxes[0]
    assert (drop.on_server, drop.waiting, drop.missing, drop.last_fetch_at) == (3, 1, 0, desk.clock())


def test_one_failing_mailbox_makes_the_desk_unhealthy_and_names_the_error(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP, SECOND])
    beat(desk)
    MailboxMonitor(desk, "drop").connected(uidvalidity=None)
    MailboxMonitor(desk, "sales").failed(AuthFailed("imap.example.test refused the login of 'sales'"))
    rep = report(desk)
    assert not rep.healthy
    assert levels(rep) == {"storage": "ok", "daemon": "ok", "mailbox drop": "ok", "mailbox sales": "fail", "outbox": "ok"}
    sales = next(f for f in rep.findings if f.subject == "mailbox sales")
    assert "refused the login of 'sales'" in sales.detail and "failing since" in sales.detail


def test_mail_on_the_server_that_was_never_stored_is_unhealthy(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP])
    MailboxMonitor(desk, "drop").reconciled(Reconciliation(on_server=5, waiting=0, missing=("7:12", "7:13"),
                                                           uidvalidity=7))
    rep = report(desk)
    assert not rep.healthy
    finding = next(f for f in rep.findings if f.level == "fail")
    assert "2 message(s) on the server were never stored: 7:12, 7:13" in finding.detail


def test_a_stopped_daemon_is_unhealthy(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP])
    beat(desk, ago=timedelta(minutes=3))
    rep = report(desk)
    assert not rep.healthy and "not running: last seen 3 min ago (pid 4242)" in rep.findings[0].detail


def test_a_stuck_outbox_is_unhealthy(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[DROP])
    store = desk.open_store()
    with store.atomic():
        store.outbox.enqueue(ticket_id=None, kind="admin", recipient="ops@example.test", message_id="a@b",
                             envelope_from="support@example.test", data=b"x", smtputf8=False, automatic=False,
                             now=desk.clock())
    store.close()
    assert report(desk).healthy
    desk.clock.advance(minutes=31)
    rep = report(desk)
    assert not rep.healthy and any(f.subject == "outbox" and "oldest for 31 min" in f.detail for f in rep.findings)


def test_cli_exit_codes_and_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maildesk.toml").write_text(
        '[desk]\naddress = "support@example.test"\n[[mailbox]]\nname = "drop"\nkind = "maildir"\npath = "in"\n')
    from maildesk.tokens import write_secret
    write_secret(tmp_path / "var" / "secret.key")
    runner = CliRunner()
    ok = runner.invoke(cli, ["status"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("maildesk: healthy")
    from maildesk.cli.state import State
    desk = State(str(tmp_path / "maildesk.toml")).desk()
    MailboxMonitor(desk, "drop").failed(MailboxError("cannot list in/new: Permission denied"))
    bad = runner.invoke(cli, ["status", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["healthy"] is False
    assert data["mailboxes"][0]["name"] == "drop" and "Permission denied" in data["mailboxes"][0]["last_error"]


def test_an_oauth_login_nobody_signed_in_yet_is_unhealthy(tmp_path):
    oauth = {"auth": "oauth2", "provider": "google", "client_id": "id", "client_secret_env": "S"}
    desk = make_desk(tmp_path, mailboxes=[DROP, {"name": "gmail", "kind": "imap", "host": "imap.gmail.com",
                                                 "username": "support@example.test", **oauth}],
                     outbound={"kind": "smtp", "host": "smtp.gmail.com", "username": "support@example.test",
                               **oauth})
    rep = report(desk)
    assert not rep.healthy
    fails = {f.subject: f.detail for f in rep.findings if f.level == "fail"}
    assert fails == {"mailbox gmail": "no OAuth2 login stored: run `maildesk auth login gmail`",
                     "outbound": "no OAuth2 login stored: run `maildesk auth login outbound`"}


def test_a_daemon_that_stopped_cleanly_is_unhealthy_at_once(tmp_path):
    import threading
    import time

    from maildesk.service import run_forever

    desk = make_desk(tmp_path, mailboxes=[DROP])
    stop = threading.Event()
    daemon = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop})
    daemon.start()
    with closing(desk.open_store()) as store:
        deadline = time.monotonic() + 20
        while store.health.heartbeat() is None:
            assert time.monotonic() < deadline, "no heartbeat"
            stop.wait(0.02)
    assert report(desk).healthy and levels(report(desk))["daemon"] == "ok"
    stop.set()
    daemon.join(30)
    rep = report(desk)
    assert not rep.healthy
    assert rep.findings[0].detail.startswith(f"stopped at {desk.clock().isoformat(timespec='seconds')}")
