"""Tests for reading delivery reports, standard and not, into a BounceReport."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from maildesk.intake.bounce import parse_bounce
from maildesk.intake.mailview import body_text, content_charset, part_text
from maildesk.models import BounceReport

FIXTURES = Path(__file__).parent / "fixtures" / "auto"


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def load(name: str) -> EmailMessage:
    return parse((FIXTURES / name).read_bytes())


# fixture, failed recipients, action, status, permanent, original Message-ID
REPORTS = [
    # Original-Recipient (the address we wrote to) wins over the expanded Final-Recipient
    ("postfix-dsn.eml", ("carol@example.net",), "failed", "5.1.1", True, "ticket-1042.3@desk.example.com"),
    ("exim-failed.eml", ("dave@example.org",), "failed", "5.1.1", True, "ticket-1043.1@desk.example.com"),
    ("qmail-failure.eml", ("erin@example.org",), "failed", "5.2.2", True, "ticket-1044.2@desk.example.com"),
    ("exchange-ndr.eml", ("frank@contoso.example",), "failed", "5.1.10", True, "ticket-1045.1@desk.example.com"),
    ("gmail-dsn-failure.eml", ("grace@example.com",), "failed", "5.1.1", True, "ticket-1046.4@desk.example.com"),
    ("dsn-delayed.eml", ("heidi@example.net",), "delayed", "4.4.1", False, "ticket-1047.2@desk.example.com"),
    ("ses-bounce.eml", ("trent@example.org",), "failed", "5.1.1", True, "ticket-1053.1@desk.example.com"),
    ("malformed-bounce.eml", ("victor@example.org",), "failed", "", True, None),
]


@pytest.mark.parametrize(
    ("fixture", "failed", "action", "status", "permanent", "original"), REPORTS, ids=[r[0] for r in REPORTS]
)
def test_reports(
    fixture: str, failed: tuple[str, ...], action: str, status: str, permanent: bool, original: str | None
) -> None:
    assert parse_bounce(load(fixture)) == BounceReport(failed, status, action, original, permanent)


def test_mail_that_reports_nothing_gives_no_report() -> None:
    assert parse_bounce(load("human-plain.eml")) is None


def dsn(*recipient_blocks: str, notice: str = "Delivery report follows.") -> EmailMessage:
    """A minimal RFC 3464 report with the given per-recipient blocks."""
    blocks = "\n\n".join(recipient_blocks)
    return parse(
        b"From: MAILER-DAEMON@mx.example.org\nReturn-Path: <>\nSubject: Delivery Status Notification\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\n" + notice.encode() + b"\n\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        + blocks.encode()
        + b"\n\n--b--\n"
    )


MIXED = [
    # blocks, failed recipients, action, status, permanent
    (
        (
            "Final-Recipient: rfc822; ok@example.org\nAction: delivered\nStatus: 2.0.0",
            "Final-Recipient: rfc822; late@example.org\nAction: delayed\nStatus: 4.4.7",
            "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1 (user unknown)",
        ),
        ("late@example.org", "gone@example.org"),
        "failed",
        "5.1.1",
        True,
    ),
    (("Final-Recipient: rfc822; ok@example.org\nAction: relayed\nStatus: 2.0.0",), (), "relayed", "2.0.0", False),
    # an Action of failed is permanent even with a transient status, as the report says it gave up
    (
        ("Final-Recipient: RFC822; <Slow@Example.ORG>\nAction: failed\nStatus: 4.4.7",),
        ("Slow@example.org",),
        "failed",
        "4.4.7",
        True,
    ),
    # fields spelled loosely, as some gateways do
    (
        ("Final-Recipient : rfc/822;odd@example.org\nAction : failed\nStatus : 5.0.0",),
        ("odd@example.org",),
        "failed",
        "5.0.0",
        True,
    ),
]


@pytest.mark.parametrize(("blocks", "failed", "action", "status", "permanent"), MIXED)
def test_per_recipient_fields(
    blocks: tuple[str, ...], failed: tuple[str, ...], action: str, status: str, permanent: bool
) -> None:
    report = parse_bounce(dsn(*blocks))
    assert report is not None
    assert (report.failed_recipients, report.action, report.status, report.permanent) == (
        failed,
        action,
        status,
        permanent,
    )


NON_STANDARD = [
    # body text, failed recipients, action
    ("Sorry, your message could not be delivered to: <uma@example.org>\n", ("uma@example.org",), "failed"),
    (
        "----- The following addresses had permanent fatal errors -----\n<vic@example.org>\n",
        ("vic@example.org",),
        "failed",
    ),
    ("550 <wes@example.org>... User unknown\n", ("wes@example.org",), "failed"),
    ("Mailbox full: xia@example.org\n", ("xia@example.org",), "failed"),
    ("THIS IS A WARNING MESSAGE ONLY.\n\n  yan@example.org\n    host unreachable\n", ("yan@example.org",), "delayed"),
]


@pytest.mark.parametrize(("body", "failed", "action"), NON_STANDARD)
def test_recipients_from_the_usual_wording(body: str, failed: tuple[str, ...], action: str) -> None:
    msg = parse(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: Support <support@desk.example.com>\n"
        b"Subject: Returned mail\n\n" + body.encode() + b"\nContact postmaster for help.\n"
    )
    report = parse_bounce(msg)
    assert report is not None
    assert (report.failed_recipients, report.action) == (failed, action)


def test_the_reports_own_sender_is_never_a_failed_recipient() -> None:
    msg = parse(
        b"From: MAILER-DAEMON@mx.example.org\nTo: support@desk.example.com\nSubject: failure notice\n\n"
        b"<MAILER-DAEMON@mx.example.org>:\n<zoe@example.org>:\nRemote host said: 550 5.1.1 no such user\n"
    )
    report = parse_bounce(msg)
    assert report is not None and report.failed_recipients == ("zoe@example.org",)


def test_a_report_naming_nobody_falls_back_to_the_single_original_recipient() -> None:
    msg = parse(
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Mail could not be delivered\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nYour mail could not be delivered.\n\n"
        b"--b\nContent-Type: message/rfc822\n\nFrom: support@desk.example.com\nTo: Amy <amy@example.org>\n"
        b"Message-ID: <ticket-1.1@desk.example.com>\n\nhello\n\n--b--\n"
    )
    report = parse_bounce(msg)
    assert report is not None
    assert report.failed_recipients == ("amy@example.org",)
    assert report.original_message_id == "ticket-1.1@desk.example.com"


def test_quoted_message_id_is_not_the_reports_own() -> None:
    msg = parse(
        b"From: MAILER-DAEMON@mx.example.org\nMessage-ID: <own@mx.example.org>\nSubject: failure notice\n\n"
        b"<bob@example.org>: no such user\n\n--- Below this line is a copy of the message.\n\n"
        b"Message-ID: <own@mx.example.org>\nMessage-ID:\n <ticket-9.2@desk.example.com>\n"
    )
    report = parse_bounce(msg)
    assert report is not None and report.original_message_id == "ticket-9.2@desk.example.com"


BODIES = [
    # raw message, its readable text
    (b'Content-Type: text/plain; charset="ISO-8859-1"\n\nd\xe9j\xe0 vu\r\n', "d\u00e9j\u00e0 vu\n"),
    (b"Content-Type: text/plain; charset=no-such-charset\n\ncaf\xc3\xa9\n", "caf\u00e9\n"),
    (
        b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>html</p>\n"
        b"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nplain =3D text\n--b--\n",
        "plain = text\n",
    ),
    (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\nA<br>B &amp; C\n"
        b"--b\nContent-Type: message/rfc822\n\nSubject: inner\n\nattached words\n--b--\n",
        "A\nB & C",
    ),
]


@pytest.mark.parametrize(("raw", "text"), BODIES)
def test_body_text_reads_the_messages_own_words(raw: bytes, text: str) -> None:
    assert body_text(parse(raw)).strip() == text.strip()


def test_charsets_are_read_as_the_policy_reads_them() -> None:
    for value in (b'"UTF-8"', b"Windows-1252", b'"ut\xc3\xa9"', b'utf-8; format="flowed"', b'""'):
        part = parse(b"Content-Type: text/plain; charset=" + value + b"\n\nx\n")
        assert content_charset(part) == part.get_content_charset(), value
    assert part_text(parse(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n")) == ""
