"""Tests for telling people's mail apart from bounces, auto-replies, lists, machines and loops."""

from __future__ import annotations

import typing
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from maildesk.intake import mailview
from maildesk.intake.bounce import parse_bounce
from maildesk.intake.classify import classify
from maildesk.models import MailKind

FIXTURES = Path(__file__).parent / "fixtures" / "auto"
LOOP_ID = "desk-7f3a9c"


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def load(name: str) -> EmailMessage:
    return parse((FIXTURES / name).read_bytes())


# fixture, expected kind, reasons that must all be among the recorded ones
AUTOMATIC = [
    ("postfix-dsn.eml", "bounce", {"multipart/report delivery-status", "Auto-Submitted: auto-replied"}),
    ("exim-failed.eml", "bounce", {"sender mailer-daemon", "X-Failed-Recipients present", "bounce subject"}),
    ("qmail-failure.eml", "bounce", {"sender mailer-daemon", "bounce subject", "Return-Path <>"}),
    ("exchange-ndr.eml", "bounce", {"sender postmaster", "bounce subject", "Return-Path <>"}),
    ("gmail-dsn-failure.eml", "bounce", {"sender mailer-daemon", "X-Failed-Recipients present"}),
    ("dsn-delayed.eml", "bounce", {"multipart/report delivery-status"}),
    ("ses-bounce.eml", "bounce", {"Amazon SES bounce notification"}),
    ("malformed-bounce.eml", "bounce", {"multipart/report delivery-status", "Return-Path <>"}),
    ("arf-abuse.eml", "feedback", {"multipart/report feedback-report"}),
    (
        "outlook-oof.eml",
        "auto-reply",
        {"Auto-Submitted: auto-replied", "auto-reply subject", "X-Auto-Response-Suppress: All", "Return-Path <>"},
    ),
    ("gmail-vacation.eml", "auto-reply", {"Auto-Submitted: auto-replied", "X-Autoreply present", "Precedence: bulk"}),
    ("abwesenheitsnotiz.eml", "auto-reply", {"auto-reply subject", "X-Auto-Response-Suppress: All"}),
    ("list-post.eml", "bulk", {"List-Id present", "List-Post present", "X-BeenThere present"}),
    ("newsletter.eml", "bulk", {"Precedence: bulk", "List-Unsubscribe present"}),
    ("monitoring-alert.eml", "auto-generated", {"Auto-Submitted: auto-generated"}),
    ("suppress-only.eml", "auto-generated", {"X-Auto-Response-Suppress: All"}),
    ("null-return-path.eml", "auto-generated", {"Return-Path <>"}),
    ("own-loop.eml", "loop", {"X-Maildesk-Loop is ours", "Auto-Submitted: auto-replied", "auto-reply subject"}),
]

# fixture, the exact reasons a person's mail may carry (notes only)
HUMAN = [
    ("human-plain.eml", ()),
    ("human-out-of-office-equipment.eml", ()),
    ("human-undeliverable-question.eml", ()),
    ("human-undeliverable-parcel.eml", ()),
    ("postmaster-human.eml", ()),
    ("foreign-loop.eml", ("X-Maildesk-Loop from elsewhere: partner-desk-11aa",)),
]


@pytest.mark.parametrize(("fixture", "kind", "reasons"), AUTOMATIC, ids=[c[0] for c in AUTOMATIC])
def test_automatic_mail_gets_its_kind_and_every_reason(fixture: str, kind: str, reasons: set[str]) -> None:
    result = classify(load(fixture), loop_id=LOOP_ID)
    assert result.kind == kind
    assert reasons <= set(result.reasons)
    assert result.automatic
    assert (result.bounce is not None) == (kind == "bounce")


@pytest.mark.parametrize(("fixture", "reasons"), HUMAN, ids=[c[0] for c in HUMAN])
def test_people_stay_human_even_when_their_words_sound_automatic(fixture: str, reasons: tuple[str, ...]) -> None:
    result = classify(load(fixture), loop_id=LOOP_ID)
    assert result.kind == "human"
    assert result.reasons == reasons
    assert not result.automatic and result.opens_ticket
    assert result.bounce is None


def test_bounce_carries_the_parsed_report() -> None:
    msg = load("exim-failed.eml")
    result = classify(msg, loop_id=LOOP_ID)
    assert result.bounce == parse_bounce(msg)
    assert result.bounce is not None and result.bounce.failed_recipients == ("dave@example.org",)


def test_bounce_of_our_own_mail_is_a_bounce_not_a_loop() -> None:
    # The returned original carries our loop stamp, but only the report's own header counts.
    result = classify(load("postfix-dsn.eml"), loop_id=LOOP_ID)
    assert result.kind == "bounce"
    assert not any("X-Maildesk-Loop" in reason for reason in result.reasons)


def test_mail_from_our_own_address_is_a_loop() -> None:
    own = frozenset({"Peggy@Example.com"})
    result = classify(load("human-plain.eml"), loop_id=LOOP_ID, own_addresses=own)
    assert result.kind == "loop"
    assert result.reasons == ("sender is our own address",)


HEADERS_ONLY = [
    # headers, expected kind: subjects and weak hints alone never make mail automatic
    (b"Subject: Out of Office: back on Monday\n", "human"),
    (b"Subject: Out of Office: back on Monday\nPrecedence: bulk\n", "auto-reply"),
    (b"Subject: Auto-Reply: thanks for your mail\n", "auto-reply"),
    (b"Subject: Undeliverable: invoice 77\n", "human"),
    (b"Subject: Undeliverable: invoice 77\nReturn-Path: <MAILER-DAEMON@mx.example.org>\n", "bounce"),
    (b"Subject: Hello\nAuto-Submitted: no\n", "human"),
    (b"Subject: Hello\nAuto-Submitted: auto-notified; owner-email=ops@example.org\n", "auto-generated"),
    (b"Subject: Hello\nX-Maildesk-Loop:  desk-7f3a9c \n", "loop"),
    (b"Subject: Hello\nFrom: MAILER-DAEMON <>\n", "bounce"),
    (b"Subject: Hello\nFrom: Mail Delivery Subsystem <daemon@mx.example.org>\n", "bounce"),
    (b"Subject: Hello\nFrom: no-reply@shop.example\n", "auto-generated"),
    (b"Subject: Hello\nX-Apple-Action: VACATION\n", "auto-reply"),
]


@pytest.mark.parametrize(("head", "kind"), HEADERS_ONLY)
def test_single_signals(head: bytes, kind: str) -> None:
    sender = b"" if b"From:" in head else b"From: Una <una@example.com>\n"
    msg = parse(sender + head + b"\nHello there.\n")
    assert classify(msg, loop_id=LOOP_ID).kind == kind


def test_an_empty_loop_id_matches_nothing() -> None:
    msg = parse(b"From: una@example.com\nX-Maildesk-Loop:\nSubject: hi\n\nhello\n")
    assert classify(msg, loop_id="").kind == "human"


HOSTILE = [
    b"",
    b"\x00\xff\xfe garbage without any header\n",
    b"From: \xff\xfe\xfd <mailer-daemon@\xe9.example>\nSubject: =?bogus?Q?=FF?= \xc3\x28\n\nx\n",
    b"From: a@b\nContent-Type: multipart/report; report-type=delivery-status\n\nno boundary at all\n",
    b"From: a@b\nContent-Type: text/plain; charset=no-such-charset\nContent-Transfer-Encoding: base64\n\n!!!*\n",
    b"From: <<<@@@>>>\nReturn-Path: <<>\nAuto-Submitted: \nList-Id:\nX-Failed-Recipients: ,,,\n\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\nContent-Type: multipart/mixed; boundary=b\n\n" * 200,
    b"Subject: " + b"A" * 200_000 + b"\n\n" + b"mailer-daemon " * 50_000,
    b"From: " + b" \t" * 50_000 + b"x\nContent-Type: text/plain" + b" " * 100_000 + b"x\n\nhello\n",
    b"From: " + b"Una " * 25_000 + b"<una@example.com>\nContent-Type: text/plain;" + b" " * 100_000 + b";\n\nhi\n",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(raw: bytes) -> None:
    result = classify(parse(raw), loop_id=LOOP_ID)
    assert result.kind in typing.get_args(MailKind)


class ExplodingMessage(EmailMessage):
    """A message whose every header and payload access fails."""

    def get_all(self, *args: object, **kwargs: object) -> typing.NoReturn:
        raise ValueError("broken header")

    def raw_items(self) -> typing.NoReturn:
        raise ValueError("broken header")

    def get_payload(self, *args: object, **kwargs: object) -> typing.NoReturn:
        raise ValueError("broken payload")


def test_failing_accessors_are_guarded() -> None:
    msg = ExplodingMessage()
    result = classify(msg, loop_id=LOOP_ID)
    assert result.kind in typing.get_args(MailKind)
    assert parse_bounce(msg) is None


ENCODED_AND_FOLDED = [
    # headers, expected kind, a reason that must be among the recorded ones
    (b"Subject: =?utf-8?q?Automatic_reply:_im_Urlaub?=\n", "auto-reply", "auto-reply subject"),
    (b"Subject: =?utf-8?B?QXV0by1SZXBseTo=?= =?utf-8?q?_th=C3=A9?=\n", "auto-reply", "auto-reply subject"),
    (b"Subject: Undeliverable:\n invoice 77\nReturn-Path:\n <>\n", "bounce", "Return-Path <>"),
    (b"X-Maildesk-Loop:\n desk-7f3a9c\nSubject: hi\n", "loop", "X-Maildesk-Loop is ours"),
    (b"Auto-Submitted: =?us-ascii?q?auto-generated?=\n", "auto-generated", "Auto-Submitted: auto-generated"),
]


@pytest.mark.parametrize(("head", "kind", "reason"), ENCODED_AND_FOLDED)
def test_encoded_and_folded_headers_are_read_decoded(head: bytes, kind: str, reason: str) -> None:
    result = classify(parse(b"From: Una <una@example.com>\n" + head + b"\nHello there.\n"), loop_id=LOOP_ID)
    assert result.kind == kind
    assert reason in result.reasons


SENDERS = [
    # From header, expected kind, expected first reason (None: no reasons at all)
    (b"=?utf-8?q?Mail_Delivery_System?= <relay@mx.example.org>", "bounce", "sender name Mail Delivery System"),
    (b'"Mail Delivery System" <relay@mx.example.org>', "bounce", "sender name Mail Delivery System"),
    (b"Mail   Delivery\n System <relay@mx.example.org>", "bounce", "sender name Mail Delivery System"),
    (b"MAILER-DAEMON@mx.example.org (Mail Delivery System)", "bounce", "sender mailer-daemon"),
    (b"MAILER-DAEMON <>", "bounce", "sender <>"),
    (b"<no-reply@shop.example>", "auto-generated", "sender noreply"),
    (b'"M\xc3\xbcller, J\xc3\xb6rg" <joerg@example.com>', "human", None),
    (b"=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg?= <joerg@example.com>", "human", None),
]


@pytest.mark.parametrize(("sender", "kind", "reason"), SENDERS)
def test_senders_in_every_shape(sender: bytes, kind: str, reason: str | None) -> None:
    result = classify(parse(b"From: " + sender + b"\nSubject: Hello\n\nHello there.\n"), loop_id=LOOP_ID)
    assert result.kind == kind
    assert (result.reasons[0] if result.reasons else None) == reason


@pytest.mark.parametrize(("sender", "ours"), [
    (b"support+12-c-9f8e7d6c5b4a@example.com", True),  # a customer reply token
    (b'"Desk" <Support+3-a1b2c3d4e5-0a1b2c3d@Example.COM>', True),  # an agent's token, any letter case
    (b"support+anything@example.com", True),
    (b"noreply@example.com", True),  # the notices' own From
    (b"supportive@example.com", False),
    (b"support@example.com.evil.example", False),
    (b"support+12-c-9f8e@other.example", False),
    (b"carol+support@example.com", False),
])
def test_every_plus_address_of_the_desk_is_the_desk(sender: bytes, ours: bool) -> None:
    own = frozenset({"support@example.com", "noreply@example.com"})
    result = classify(parse(b"From: " + sender + b"\nSubject: hi\n\nhello\n"), loop_id="", own_addresses=own)
    assert (result.kind == "loop") is ours, sender


def test_own_address_matches_whatever_the_from_shape() -> None:
    own = frozenset({"peggy@example.com"})
    for sender in (b"peggy@example.com", b"<Peggy@Example.com>", b'"Peggy P." <peggy@example.com>'):
        result = classify(parse(b"From: " + sender + b"\nSubject: hi\n\nhello\n"), loop_id="", own_addresses=own)
        assert result.kind == "loop", sender


SES_BOUNCE = b'{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[]},"mail":{}}'


def test_ses_notification_is_found_behind_a_blank_first_part() -> None:
    msg = parse(
        b"From: Una <una@example.com>\nSubject: fyi\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\n \n\n--b\nContent-Type: text/plain\n\n" + SES_BOUNCE + b"\n--b--\n"
    )
    result = classify(msg, loop_id=LOOP_ID)
    assert result.kind == "bounce"
    assert "Amazon SES bounce notification" in result.reasons


def test_ses_complaint_is_found_in_an_encoded_body() -> None:
    body = b'{"notificationType":"Complaint","complaint":{},"mail":{}}'
    msg = parse(
        b"From: Una <una@example.com>\nSubject: fyi\nContent-Transfer-Encoding: quoted-printable\n\n"
        + body.replace(b"{", b"=7B", 1)
        + b"\n"
    )
    assert classify(msg, loop_id=LOOP_ID).kind == "feedback"


def test_a_message_built_in_code_reads_like_the_same_message_parsed() -> None:
    msg = EmailMessage()
    msg["From"] = "Mail Delivery System <relay@mx.example.org>"
    msg["Subject"] = "Undeliverable: Jörg's invoice"
    msg["Return-Path"] = "<>"
    msg.set_content("Delivery to the following recipients failed:\n\n  dave@example.org\n")
    built = classify(msg, loop_id=LOOP_ID)
    assert built.kind == "bounce"
    assert built == classify(parse(msg.as_bytes()), loop_id=LOOP_ID)


READ_AS_THE_POLICY_DOES = [
    b"Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_au_lait?=  and\n\tmore\n",
    b"Subject: =?bogus?q?=FF?= \xc3\x28 (not a comment)\n",
    b"Subject: =?utf-8?q?broken\nX-Autoreply:   yes  \nPrecedence: =?us-ascii?q?bulk?=\n",
    b"From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\nTo: a@example.com,\n b@example.com\nMessage-ID: <x@y>\n",
    b'Content-Type: Text/Plain; Charset="ISO-8859-1"; format=flowed\n',
    b"Content-Type: text/plain (comment); charset=latin-1\n",
    b"Content-Type: text/plain; charset*=utf-8''koi8-r\n",
    b"Content-Type: text/plain;\n charset=utf-8;\n",
    b"Content-Type: text\n",
    b"Content-Type: \n",
]


@pytest.mark.parametrize("head", READ_AS_THE_POLICY_DOES)
def test_headers_and_content_types_read_as_the_policy_reads_them(head: bytes) -> None:
    msg = parse(head + b"\nbody\n")
    view = mailview.MailView(msg)
    for name in {key.lower() for key in msg.keys()} | {"subject", "from"}:
        expected = [mailview.clean(str(value)).strip() for value in msg.get_all(name) or []]
        assert mailview.headers(msg, name) == expected
        assert view.headers(name) == expected
    assert mailview.content_type(msg) == msg.get_content_type()
    assert mailview.content_charset(msg) == msg.get_content_charset()
