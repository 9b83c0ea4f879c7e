"""SmtpSender against a real aiosmtpd server on loopback, and MaildirSender on a temp Maildir."""

from __future__ import annotations

from dataclasses import replace

import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from smtpserver import SmtpTestServer

from maildesk.notify.maildir_out import MaildirSender
from maildesk.notify.smtp import Delivery, SmtpSender, SmtpSettings

MakeServer = Callable[..., SmtpTestServer]
NO_SMTPUTF8 = "recipient address needs SMTPUTF8, which the server does not offer"


def delivery(n: int, *, to: str | None = None, smtputf8: bool = False) -> Delivery:
    """Notice number ``n`` (outbox key ``n``) with CRLF line endings, as the builder makes them."""
    rcpt = f"customer{n}@customer.example" if to is None else to
    data = (
        f"From: Support <support@example.test>\r\nTo: {rcpt}\r\n"
        f"Subject: [#{n}] We received your request\r\nMessage-ID: <notice{n}@example.test>\r\n"
        f"\r\nHello,\r\n.dot-led line {n}\r\n"
    ).encode()
    return Delivery(key=n, envelope_from="support@example.test", recipients=(rcpt,),
                    data=data, smtputf8=smtputf8)


def sender_for(server: SmtpTestServer, **options: Any) -> SmtpSender:
    settings: dict[str, Any] = {"security": "none", "timeout": 5, "helo_name": "desk.example.test"}
    settings.update(options)
    return SmtpSender(SmtpSettings(host=server.host, port=server.port, **settings))


def message_ids(server: SmtpTestServer) -> list[str]:
    ids = []
    for message in server.received:
        for line in message.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                ids.append(line.split(b":", 1)[1].strip().decode())
    return ids


def statuses(results: list[Any]) -> list[str]:
    return [result.status for result in results]


def test_a_burst_uses_one_connection_and_sends_the_exact_bytes(smtp_server: SmtpTestServer) -> None:
    sender = sender_for(smtp_server)
    burst = [delivery(1), delivery(2), delivery(3)]
    results = sender.send(burst)
    assert statuses(results) == ["sent"] * 3
    assert [r.key for r in results] == [1, 2, 3] and {r.code for r in results} == {250}
    assert sender.connections == 1 and smtp_server.connections == 1
    assert [m.connection for m in smtp_server.received] == [1, 1, 1]
    assert [m.content for m in smtp_server.received] == [d.data for d in burst]
    assert smtp_server.received[0].mail_from == "support@example.test"
    assert smtp_server.received[0].rcpt_tos == ("customer1@customer.example",)


def test_each_burst_opens_one_connection_and_nothing_opens_none(smtp_server: SmtpTestServer) -> None:
    sender = sender_for(smtp_server)
    assert sender.send([]) == []
    sender.send([delivery(1), delivery(2)])
    sender.send([delivery(3)])
    assert sender.connections == 2 and smtp_server.connections == 2
    assert [m.connection for m in smtp_server.received] == [1, 1, 2]


def test_a_4xx_after_data_is_temporary_for_that_message_and_a_retry_sends_it(
        make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(fail_data=1)
    sender = sender_for(server)
    first = sender.send([delivery(1), delivery(2)])
    assert statuses(first) == ["temporary", "sent"]
    assert first[0].code == 451 and "try again later" in first[0].detail
    assert sender.connections == 1
    assert sender.send([delivery(1)])[0].status == "sent"
    assert message_ids(server) == ["<notice2@example.test>", "<notice1@example.test>"]


def test_a_5xx_after_data_is_permanent_and_the_burst_goes_on(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(fail_data=1, data_reply="554 5.6.0 message content rejected")
    sender = sender_for(server)
    results = sender.send([delivery(1), delivery(2)])
    assert statuses(results) == ["permanent", "sent"]
    assert results[0].code == 554 and "5.6.0 message content rejected" in results[0].detail
    assert sender.connections == 1 and message_ids(server) == ["<notice2@example.test>"]


def test_a_5xx_recipient_is_permanent_with_code_and_text(make_smtp_server: MakeServer) -> None:
    gone = "gone@customer.example"
    server = make_smtp_server(reject_rcpt={gone: "550 5.1.1 mailbox unavailable"})
    sender = sender_for(server)
    results = sender.send([delivery(1), delivery(2, to=gone), delivery(3)])
    assert statuses(results) == ["sent", "permanent", "sent"]
    assert results[1].code == 550
    assert "5.1.1 mailbox unavailable" in results[1].detail and gone in results[1].detail
    assert sender.connections == 1
    assert message_ids(server) == ["<notice1@example.test>", "<notice3@example.test>"]


def test_a_4xx_recipient_is_temporary_and_holds_back_the_whole_message(
        make_smtp_server: MakeServer) -> None:
    busy = "busy@customer.example"
    server = make_smtp_server(reject_rcpt={busy: "450 4.2.1 mailbox busy"})
    both = Delivery(key=7, envelope_from="support@example.test",
                    recipients=("ok@customer.example", busy), data=delivery(7).data, smtputf8=False)
    results = sender_for(server).send([both, delivery(8)])
    assert statuses(results) == ["temporary", "sent"]
    assert results[0].code == 450 and busy in results[0].detail
    assert message_ids(server) == ["<notice8@example.test>"]


def test_server_down_makes_all_temporary_then_all_are_sent_once(smtp_server: SmtpTestServer) -> None:
    sender = sender_for(smtp_server)
    burst = [delivery(1), delivery(2), delivery(3)]
    smtp_server.stop()
    down = sender.send(burst)
    assert statuses(down) == ["temporary"] * 3
    assert all("cannot reach" in r.detail for r in down)
    smtp_server.start()
    assert statuses(sender.send(burst)) == ["sent"] * 3
    assert sorted(message_ids(smtp_server)) == [f"<notice{n}@example.test>" for n in (1, 2, 3)]
    assert smtp_server.connections == 1


@pytest.mark.parametrize("drop_silently", [False, True])
def test_a_connection_dropped_mid_burst_is_reopened_once(
        make_smtp_server: MakeServer, drop_silently: bool) -> None:
    server = make_smtp_server(messages_per_connection=2, drop_silently=drop_silently)
    sender = sender_for(server)
    assert statuses(sender.send([delivery(1), delivery(2), delivery(3)])) == ["sent"] * 3
    assert sender.connections == 2
    assert [m.connection for m in server.received] == [1, 1, 2]
    assert len(set(message_ids(server))) == 3


def test_a_second_drop_leaves_the_rest_temporary(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(messages_per_connection=1)
    sender = sender_for(server)
    results = sender.send([delivery(1), delivery(2), delivery(3)])
    assert statuses(results) == ["sent", "sent", "temporary"]
    assert "connection lost twice" in results[2].detail
    assert sender.connections == 2
    assert message_ids(server) == ["<notice1@example.test>", "<notice2@example.test>"]


def test_a_timeout_after_the_final_dot_is_temporary_and_the_rest_goes_on(
        make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(slow_data=1, data_delay=30.0)
    sender = sender_for(server, timeout=1.0)
    results = sender.send([delivery(1), delivery(2)])
    assert statuses(results) == ["temporary", "sent"]
    assert results[0].code is None and "may have been delivered" in results[0].detail
    assert sender.connections == 2
    assert "<notice2@example.test>" in message_ids(server)


def test_starttls_and_auth_with_a_trusted_private_ca(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(require_auth=True)
    sender = sender_for(server, security="starttls", username=server.user,
                        password=server.password, tls_context=server.client_tls())
    assert statuses(sender.send([delivery(1), delivery(2)])) == ["sent", "sent"]
    assert [(login, ok) for _, login, ok in server.auth_attempts] == [(server.user, True)]
    assert server.connections == 1 and len(server.received) == 2


def test_implicit_tls(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(implicit_tls=True)
    sender = sender_for(server, security="ssl", tls_context=server.client_tls())
    assert sender.send([delivery(1)])[0].status == "sent"


def test_a_rejected_password_is_temporary_and_logged_as_an_error(
        make_smtp_server: MakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server = make_smtp_server(require_auth=True)
    sender = sender_for(server, security="starttls", username=server.user,
                        password="wrong", tls_context=server.client_tls())
    with caplog.at_level(logging.WARNING, logger="maildesk.notify"):
        results = sender.send([delivery(1), delivery(2)])
    assert statuses(results) == ["temporary", "temporary"]
    assert results[0].code == 535 and "rejected the credentials" in results[0].detail
    assert any(r.levelno == logging.ERROR and "password" in r.getMessage() for r in caplog.records)
    assert server.received == []


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
        smtp_server: SmtpTestServer, caplog: pytest.LogCaptureFixture) -> None:
    sender = sender_for(smtp_server, security="starttls", tls_context=smtp_server.client_tls())
    with caplog.at_level(logging.ERROR, logger="maildesk.notify"):
        results = sender.send([delivery(1)])
    assert results[0].status == "temporary" and "does not offer STARTTLS" in results[0].detail
    assert "STARTTLS" in caplog.text
    assert smtp_server.received == []


def test_a_username_without_auth_on_offer_is_temporary(smtp_server: SmtpTestServer) -> None:
    results = sender_for(smtp_server, username="notify", password="x").send([delivery(1)])
    assert results[0].status == "temporary" and "offers no AUTH" in results[0].detail
    assert smtp_server.received == []


def test_an_untrusted_certificate_is_temporary(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(starttls=True)
    sender = sender_for(server, security="starttls", tls_context=ssl.create_default_context())
    results = sender.send([delivery(1)])
    assert results[0].status == "temporary" and "TLS" in results[0].detail
    assert server.received == []


def test_a_non_ascii_recipient_without_smtputf8_is_permanent(make_smtp_server: MakeServer) -> None:
    server = make_smtp_server(smtputf8=False)
    results = sender_for(server).send([delivery(1, to="josé@exämple.test", smtputf8=True),
                                       delivery(2)])
    assert statuses(results) == ["permanent", "sent"]
    assert results[0].detail == NO_SMTPUTF8 and results[0].code is None
    assert message_ids(server) == ["<notice2@example.test>"]


def test_a_non_ascii_recipient_with_smtputf8_is_sent(smtp_server: SmtpTestServer) -> None:
    results = sender_for(smtp_server).send([delivery(1, to="josé@exämple.test", smtputf8=True)])
    assert results[0].status == "sent"
    received = smtp_server.received[0]
    assert received.rcpt_tos == ("josé@exämple.test",)
    assert "SMTPUTF8" in received.mail_options and "BODY=8BITMIME" in received.mail_options


@pytest.mark.parametrize("bad", [
    "x@customer.example>\r\nRCPT TO:<other@elsewhere.example",  # command injection
    "Customer <x@customer.example>",  # a display name is not an envelope address
    "x@customer.example, y@customer.example",  # nor is a list
    "",
])
def test_an_address_that_is_not_a_bare_mailbox_is_permanent(
        smtp_server: SmtpTestServer, bad: str) -> None:
    results = sender_for(smtp_server).send([delivery(1, to=bad), delivery(2)])
    assert statuses(results) == ["permanent", "sent"]
    assert results[0].code is None and "address" in results[0].detail
    assert smtp_server.recipients() == [("customer2@customer.example",)]


def test_the_null_sender_is_allowed(smtp_server: SmtpTestServer) -> None:
    bounce_safe = Delivery(key=1, envelope_from="", recipients=("c@customer.example",),
                           data=delivery(1).data, smtputf8=False)
    assert sender_for(smtp_server).send([bounce_safe])[0].status == "sent"
    assert smtp_server.received[0].mail_from == "<>"


def test_unknown_security_is_refused() -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpSettings(host="127.0.0.1", port=25, security="tls")


def test_maildir_sender_writes_one_file_per_delivery_with_the_exact_bytes(tmp_path: Path) -> None:
    maildir = tmp_path / "outbox"
    burst = [delivery(1), delivery(2), delivery(3, to="josé@exämple.test", smtputf8=True)]
    results = MaildirSender(maildir).send(burst)
    assert statuses(results) == ["sent"] * 3 and [r.key for r in results] == [1, 2, 3]
    files = sorted((maildir / "new").iterdir())
    assert len(files) == 3 and not any((maildir / "tmp").iterdir())
    assert sorted(f.read_bytes() for f in files) == sorted(d.data for d in burst)
    assert (maildir / "cur").is_dir()
    MaildirSender(maildir).send([delivery(4)])
    assert len(list((maildir / "new").iterdir())) == 4


def test_a_resumed_delivery_already_written_is_not_written_again(tmp_path: Path) -> None:
    """After a crash between writing a file and recording it, the retry finds it, in new or (read) in cur."""
    maildir = tmp_path / "outbox"
    sender = MaildirSender(maildir)
    sender.send([delivery(1), delivery(2)])
    first = maildir / "new" / MaildirSender.file_name(delivery(1))
    first.rename(maildir / "cur" / (first.name + ":2,S"))  # a reader took it
    (maildir / "tmp" / MaildirSender.file_name(delivery(3))).write_bytes(b"half")  # cut off mid-write
    seen = []
    again = [replace(delivery(k), resumed=True) for k in (1, 2, 3)]
    results = sender.send(again, seen.append)
    assert statuses(results) == ["sent"] * 3 and seen == results
    assert [r.detail.startswith("already in") for r in results] == [True, True, False]
    assert len(list((maildir / "new").iterdir())) == 2 and len(list((maildir / "cur").iterdir())) == 1
    assert not any((maildir / "tmp").iterdir())
    assert (maildir / "new" / MaildirSender.file_name(delivery(3))).read_bytes() == delivery(3).data


def test_maildir_sender_reports_an_unusable_maildir_as_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a directory")
    results = MaildirSender(blocker).send([delivery(1), delivery(2)])
    assert statuses(results) == ["temporary", "temporary"]
    assert "cannot create Maildir" in results[0].detail


def test_each_result_is_reported_as_soon_as_the_server_has_answered(smtp_server: SmtpTestServer) -> None:
    received_when_told: list[tuple[int, int]] = []
    results = sender_for(smtp_server).send(
        [delivery(1), delivery(2), delivery(3)],
        lambda r: received_when_told.append((r.key, len(smtp_server.received))))
    assert statuses(results) == ["sent"] * 3
    assert received_when_told == [(1, 1), (2, 2), (3, 3)]  # before the next message was even begun
