"""Draining the outbox through a real SMTP server: bursts, outages, 4xx and 5xx, never twice."""

from __future__ import annotations


from desktools import harness
from maildesk.notify.dispatch import flush, open_transport
from maildesk.notify.maildir_out import MaildirSender
from maildesk.notify.smtp import SmtpSender, SmtpSettings


def queue(h, n, *, recipient="carol@customer.example"):
    with h.store.atomic():
        return [h.store.outbox.enqueue(ticket_id=1, kind="acknowledgement", recipient=recipient,
                                       message_id=f"n{i}.{recipient}@example.test", envelope_from="support@example.test",
                                       data=b"Message-ID: <n%d@example.test>\r\n\r\nhello\r\n" % i, smtputf8=False,
                                       automatic=True, now=h.desk.clock()) for i in range(n)]


def smtp(server):
    return SmtpSender(SmtpSettings(host="127.0.0.1", port=server.port, security="none"))


def statuses(h):
    return sorted(e.status for e in h.store.outbox.list())


def test_a_burst_goes_out_over_one_connection(tmp_path, smtp_server):
    h = harness(tmp_path)
    queue(h, 3)
    counts = flush(h.desk, h.store, smtp(smtp_server))
    assert counts == {"sent": 3} and statuses(h) == ["sent"] * 3
    assert len(smtp_server.received) == 3 and smtp_server.connections == 1
    assert flush(h.desk, h.store, smtp(smtp_server)) == {}  # nothing is sent twice


def test_notices_wait_while_the_server_is_down_and_go_once_it_returns(tmp_path, make_smtp_server):
    h = harness(tmp_path)
    server = make_smtp_server()
    server.stop()
    queue(h, 2)
    sender = smtp(server)
    assert flush(h.desk, h.store, sender) == {"postponed": 2}
    assert flush(h.desk, h.store, sender) == {}  # not due yet: backoff
    server.start()
    h.desk.clock.advance(minutes=1)
    assert flush(h.desk, h.store, sender) == {"sent": 2}
    assert len(server.received) == 2 and statuses(h) == ["sent", "sent"]


def test_4xx_retries_with_the_same_message_id_and_5xx_fails_with_the_reason(tmp_path, make_smtp_server):
    h = harness(tmp_path)
    server = make_smtp_server(fail_data=1, reject_rcpt={"gone@customer.example": "550 5.1.1 no such user"})
    first = queue(h, 1)[0]
    bad = queue(h, 1, recipient="gone@customer.example")[0]
    flush(h.desk, h.store, smtp(server))
    rows = {e.id: e for e in h.store.outbox.list()}
    assert rows[bad].status == "failed" and "550" in rows[bad].last_error
    assert rows[first].status == "queued" and rows[first].attempts == 1
    h.desk.clock.advance(minutes=1)
    flush(h.desk, h.store, smtp(server))
    assert {e.id: e.status for e in h.store.outbox.list()}[first] == "sent"
    assert [r.content.split(b"\r\n")[0] for r in server.received] == [b"Message-ID: <n0@example.test>"]


def test_maildir_transport_writes_each_notice_once(tmp_path):
    h = harness(tmp_path)
    queue(h, 2)
    outbox = tmp_path / "var" / "outbox"
    assert flush(h.desk, h.store, MaildirSender(outbox)) == {"sent": 2}
    assert len(list((outbox / "new").iterdir())) == 2
    h.desk.clock.advance(days=1)
    flush(h.desk, h.store, MaildirSender(outbox))
    assert len(list((outbox / "new").iterdir())) == 2


def commits_while(h, action):
    statements = []
    h.store.db.conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        h.store.db.conn.set_trace_callback(None)
    return sum(s == "COMMIT" for s in statements)


def test_a_maildir_burst_is_recorded_in_one_commit_and_smtp_notice_by_notice(tmp_path, smtp_server):
    h = harness(tmp_path)
    queue(h, 10)
    outbox = tmp_path / "var" / "outbox"
    assert commits_while(h, lambda: flush(h.desk, h.store, MaildirSender(outbox))) == 2  # sending, then sent
    assert statuses(h) == ["sent"] * 10
    queue(h, 5, recipient="dan@customer.example")
    assert commits_while(h, lambda: flush(h.desk, h.store, smtp(smtp_server))) == 1 + 5  # each as it is known
    assert statuses(h) == ["sent"] * 15


def test_the_configured_relay_is_reached_over_starttls_with_a_private_ca_and_our_helo_name(tmp_path,
                                                                                           make_smtp_server):
    server = make_smtp_server(starttls=True)
    server.ca.cert_pem.write_to_path(str(tmp_path / "relay-ca.pem"))
    h = harness(tmp_path, outbound={"kind": "smtp", "host": "127.0.0.1", "port": server.port,
                                    "security": "starttls", "ca_file": "relay-ca.pem",
                                    "helo_name": "desk.example.test"})
    queue(h, 2)
    assert flush(h.desk, h.store, open_transport(h.desk)) == {"sent": 2}
    assert server.helo_names and set(server.helo_names) == {"desk.example.test"}


def test_without_the_private_ca_the_relay_is_not_trusted(tmp_path, make_smtp_server):
    server = make_smtp_server(starttls=True)
    h = harness(tmp_path, outbound={"kind": "smtp", "host": "127.0.0.1", "port": server.port,
                                    "security": "starttls"})
    queue(h, 1)
    assert flush(h.desk, h.store, open_transport(h.desk)) == {"postponed": 1}
    assert "certificate" in h.store.outbox.list()[0].last_error.lower() and server.received == []


def test_an_empty_outbox_opens_no_transport(tmp_path):
    """The outbox thread looks every few seconds: with nothing due it reads no password file and
    makes no token keeper; a broken login only shows once there is something to send."""
    from maildesk.daemon import send_outbox

    h = harness(tmp_path, outbound={"kind": "smtp", "host": "127.0.0.1", "username": "notify",
                                    "password_file": "missing.pw"})
    assert send_outbox(h.desk, h.store)
    queue(h, 1)
    assert not send_outbox(h.desk, h.store)  # now the missing password file is reported
    assert statuses(h) == ["queued"]
