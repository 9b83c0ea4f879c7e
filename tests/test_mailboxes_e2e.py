"""Many mailboxes over real servers: a broken one delays nobody, health and metrics tell, reconciliation finds gaps."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from desktools import dovecot_mailbox, make_desk, smtp_outbound
from imapserver import free_port
from mailfactory import make_message
from maildesk.daemon import run_once
from maildesk.desk import Desk
from maildesk.service import run_forever
from maildesk.status import gather

pytestmark = pytest.mark.imap

CUSTOMER = "carol@customer.example"
ADMIN = "ops@example.test"
WAIT = 20.0  # seconds a condition may take before the test fails (it is met far sooner)


def until(what: str, condition: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung IMAP server)."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@contextmanager
def daemon(desk: Desk) -> Iterator[None]:
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(desk,), kwargs={"stop": stop, "outbox_every": 0.2},
                              name="daemon")
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(30)
        assert not worker.is_alive()


def health(desk: Desk, name: str):
    with closing(desk.open_store()) as store:
        return store.health.get(name)


def status(desk: Desk):
    with closing(desk.open_store()) as store:
        return gather(desk, store)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def mailbox(tmp_path: Path, server, name: str, **extra) -> dict:
    box = {**dovecot_mailbox(tmp_path, server), "name": name, "idle": True, "timeout_seconds": 2, **extra}
    if "password_file" in extra:
        (tmp_path / extra["password_file"]).write_text(extra.pop("password", "wrong"))
    return box


def test_a_broken_mailbox_delays_nobody_and_status_and_metrics_tell(tmp_path, make_dovecot, make_smtp_server):
    good, other, bombed = make_dovecot(), make_dovecot(), make_dovecot()  # Dovecot slows every login from
    # an address after failed ones (auth penalty), so the refused login gets a server of its own
    smtp = make_smtp_server()
    metrics_port = free_port()
    with silent_server() as hung_port:
        (tmp_path / "wrong.pw").write_text("not-the-password")
        desk = make_desk(tmp_path, desk={"admins": [ADMIN]}, outbound=smtp_outbound(smtp),
                         metrics={"listen": f"127.0.0.1:{metrics_port}"},
                         mailboxes=[mailbox(tmp_path, good, "good"),
                                    mailbox(tmp_path, other, "refused", password_file="wrong.pw"),
                                    {**mailbox(tmp_path, good, "hung"), "port": hung_port},
                                    mailbox(tmp_path, bombed, "bombed")])
        bombed.append_many("INBOX", [mime_bomb(n) for n in range(20)])  # a backlog that no parser may choke on
        with daemon(desk):
            until("the good mailbox connected", lambda: (h := health(desk, "good")) and h.connected)
            until("the refused login recorded", lambda: (h := health(desk, "refused")) and h.failing_since)
            until("the hung server timed out", lambda: (h := health(desk, "hung")) and h.failing_since)
            started = time.monotonic()
            good.append("INBOX", make_message(subject="VPN is down"))
            until("the acknowledgement", lambda: any(CUSTOMER in r.rcpt_tos for r in smtp.received))
            latency = time.monotonic() - started
            until("the admin alert", lambda: any(ADMIN in r.rcpt_tos for r in smtp.received))
            until("the bombs quarantined", lambda: len(quarantined(desk, "bombed")) == 20)
            samples = scrape(metrics_port)
            report = status(desk)
    # IDLE reports an APPEND within Dovecot's 1 s notify interval here; waiting on a hung or
    # refusing mailbox (2 s timeout, backoff) would show as seconds more.
    assert latency < 3.0, latency
    assert "refused" in health(desk, "refused").last_error
    assert "timed out" in health(desk, "hung").last_error or "timeout" in health(desk, "hung").last_error.lower()
    alert = next(message_from_bytes(r.content, policy=policy.default) for r in smtp.received if ADMIN in r.rcpt_tos)
    assert alert["Subject"] == "Mailbox refused is failing"
    assert samples[("maildesk_mailbox_up", (("mailbox", "good"),))] == 1
    assert samples[("maildesk_mailbox_up", (("mailbox", "refused"),))] == 0
    assert samples[("maildesk_mailbox_up", (("mailbox", "hung"),))] == 0
    assert samples[("maildesk_messages_ingested_total", (("mailbox", "good"), ("outcome", "stored")))] == 1
    assert samples[("maildesk_auth_failures_total", (("mailbox", "refused"),))] >= 1
    assert samples[("maildesk_tickets_open", (("status", "new"), ("tier", "L1")))] == 1
    assert samples[("maildesk_notices_sent_total", (("kind", "acknowledgement"),))] >= 1
    assert samples[("maildesk_fetch_seconds_count", (("mailbox", "good"),))] >= 1
    assert not report.healthy
    worst = {f.subject: f.level for f in report.findings}
    assert worst["mailbox good"] == "ok" and worst["mailbox refused"] == "fail" and worst["mailbox hung"] == "fail"
    assert worst["mailbox bombed"] == "ok"
    reasons = {q.reason for q in quarantined(desk, "bombed")}
    assert len(reasons) == 1 and "nest" in reasons.pop().lower()


def mime_bomb(n: int, depth: int = 200) -> bytes:
    """Multipart nested far deeper than any mail client writes."""
    head = b"From: x@bomb.example\r\nTo: support@example.test\r\nSubject: nested %d\r\nMIME-Version: 1.0\r\n" % n
    parts = [b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)]
    tail = [b"\r\n--b%d--\r\n" % i for i in reversed(range(depth))]
    return head + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nboom" + b"".join(tail)


def quarantined(desk: Desk, mailbox: str) -> list:
    with closing(desk.open_store()) as store:
        return [q for q in store.quarantine.list() if q.mailbox == mailbox]


def test_reconciliation_reports_mail_on_the_server_that_never_became_a_ticket(tmp_path, dovecot, smtp_server):
    desk = make_desk(tmp_path, mailboxes=[{**dovecot_mailbox(tmp_path, dovecot), "reconcile_minutes": 1}],
                     outbound=smtp_outbound(smtp_server))
    uids = dovecot.append_many("INBOX", [make_message(subject=f"request {i}") for i in range(3)])
    assert run_once(desk) == 0
    assert health(desk, "support").missing == 0 and health(desk, "support").on_server == 3
    store = desk.open_store()  # lose the middle message, as a damaged or hand-edited database would
    lost = store.db.execute("SELECT message_pk FROM receipts WHERE uid = ?", [uids[1]]).fetchone()[0]
    store.db.execute("DELETE FROM receipts WHERE uid = ?", [uids[1]])
    store.db.execute("UPDATE messages SET message_id = NULL WHERE id = ?", [lost])
    store.close()
    dovecot.append("INBOX", make_message(subject="a new one"))
    desk.clock.advance(minutes=1)
    assert run_once(desk) == 0
    h = health(desk, "support")
    assert (h.on_server, h.waiting, h.missing) == (4, 0, 1)
    assert h.missing_refs == (f"{h.uidvalidity}:{uids[1]}",)
    report = status(desk)
    assert not report.healthy
    assert any("1 message(s) on the server were never stored" in f.detail for f in report.findings)


def test_a_maildir_message_someone_marked_read_is_reported(tmp_path):
    desk = make_desk(tmp_path, mailboxes=[{"name": "drop", "kind": "maildir", "path": "in"}])
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "in" / sub).mkdir(parents=True)
    (tmp_path / "in" / "new" / "1.a.host").write_bytes(make_message(subject="taken in"))
    (tmp_path / "in" / "cur" / "2.b.host:2,S").write_bytes(make_message(subject="read in a mail client"))
    assert run_once(desk) == 0
    h = health(desk, "drop")
    assert (h.on_server, h.waiting, h.missing, h.missing_refs) == (2, 0, 1, ("2.b.host",))
