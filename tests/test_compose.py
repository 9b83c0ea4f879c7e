"""Composing notices: headers, threading, header injection, RFC 2047, SMTPUTF8 and the MIME body."""

from __future__ import annotations

import base64
import email
import re
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from maildesk.clock import ManualClock
from maildesk.errors import MaildeskError
from maildesk.models import Address
from maildesk.notify.compose import (
    AUTO_SUBMITTED,
    ComposeError,
    Outgoing,
    compose,
    envelope,
    new_message_id,
    tagged_subject,
    to_bytes,
)

SENDER = Address("support@desk.example", "Example Support")
LOOP = "support@desk.example 0123456789abcdef"
NOW = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
BASE = Outgoing(
    ticket_id=12, kind="acknowledgement", to=Address("dana@customer.example", "Dana Reyes"),
    subject="Cannot log in", text="We have your message.\n", html=None, message_id="abc123.12@desk.example",
    in_reply_to="orig-1@customer.example", references=("root@customer.example",),
    reply_to="support+12-c-abcdefghijklmnopqrst@desk.example", auto_submitted="auto-replied")
INJECTIONS = [
    "x\r\nBcc: v@x",
    "x\nBcc: v@x",
    "x\rBcc: v@x",
    "x\x00\r\nBcc: v@x\r\n\r\nbody",
    "x\r\n Bcc: v@x",
    "=?utf-8?q?x=0D=0ABcc:_v@x?=",  # a line break hidden in an encoded word
    "=?utf-8?b?" + base64.b64encode(b"x\r\nBcc: v@x").decode() + "?=",
]
NAMED_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To",
                 "Auto-Submitted", "X-Auto-Response-Suppress", "X-Maildesk-Loop", "X-Maildesk-Ticket", "MIME-Version",
                 "Content-Type"]


def build(out: Outgoing = BASE, *, sender: Address = SENDER, smtputf8: bool = False) -> bytes:
    return to_bytes(compose(out, sender=sender, loop_id=LOOP, clock=ManualClock(NOW)), smtputf8=smtputf8)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def body(part: EmailMessage) -> str:
    return part.get_content().replace("\r\n", "\n")  # parsed bytes keep the wire's CRLF


def head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def field_names(raw: bytes) -> list[str]:
    """Names of the header fields in the raw header block, in order (continuations skipped)."""
    return [line.split(b":", 1)[0].decode() for line in head(raw).split(b"\r\n") if not line[:1].isspace()]


# -- headers -----------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("From", "Example Support <support@desk.example>"),
    ("To", "Dana Reyes <dana@customer.example>"),
    ("Subject", "Cannot log in [#12]"),
    ("Date", "Thu, 02 May 2024 10:00:00 +0000"),
    ("Message-ID", "<abc123.12@desk.example>"),
    ("In-Reply-To", "<orig-1@customer.example>"),
    ("References", "<root@customer.example> <orig-1@customer.example>"),
    ("Reply-To", "support+12-c-abcdefghijklmnopqrst@desk.example"),
    ("Auto-Submitted", "auto-replied"),
    ("X-Auto-Response-Suppress", "All"),
    ("X-Maildesk-Loop", LOOP),
    ("X-Maildesk-Ticket", "12"),
    ("MIME-Version", "1.0"),
    ("Content-Type", 'text/plain; charset="utf-8"'),
])
def test_every_header_is_present_once_and_correct(name, expected):
    raw = build()
    assert field_names(raw).count(name) == 1
    assert str(parse(raw)[name]) == expected


def test_the_message_is_crlf_and_seven_bit_clean():
    raw = build(replace(BASE, subject="Grüße " * 40, text="Grüße aus Köln\n" * 3, html="<p>Köln</p>"))
    assert raw.isascii()  # needs neither SMTPUTF8 nor 8BITMIME
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in head(raw).split(b"\r\n"))  # RFC 2047 §2
    assert set(field_names(raw)) <= set(NAMED_HEADERS) | {"Content-Transfer-Encoding"}


@pytest.mark.parametrize("kind, auto_submitted", sorted(AUTO_SUBMITTED.items()))
def test_auto_submitted_follows_the_kind(kind, auto_submitted):
    msg = parse(build(replace(BASE, kind=kind, auto_submitted=auto_submitted)))
    assert msg.get("Auto-Submitted") == (auto_submitted or None)  # a relayed reply was written by a person
    assert msg.get("X-Auto-Response-Suppress") == ("All" if auto_submitted else None)


@pytest.mark.parametrize("changes, problem", [
    ({"kind": "acknowledgement", "auto_submitted": ""}, "Auto-Submitted"),
    ({"kind": "acknowledgement", "auto_submitted": "auto-generated"}, "Auto-Submitted"),
    ({"kind": "alert", "auto_submitted": ""}, "Auto-Submitted"),
    ({"kind": "relay", "auto_submitted": "auto-replied"}, "Auto-Submitted"),
    ({"kind": "newsletter"}, "unknown notice kind"),
    ({"message_id": "no-at-sign"}, "Message-ID"),
    ({"message_id": "a b@desk.example"}, "Message-ID"),
    ({"message_id": "<a@desk.example>"}, "Message-ID"),
    ({"ticket_id": -1}, "ticket id"),
])
def test_inconsistent_notices_are_refused(changes, problem):
    with pytest.raises(ComposeError, match=problem):
        build(replace(BASE, **changes))


@pytest.mark.parametrize("loop_id", ["", "a\r\nBcc: v@x", "two  spaces", " padded"])
def test_a_loop_id_that_would_not_compare_equal_is_refused(loop_id):
    with pytest.raises(ComposeError, match="loop id"):
        compose(BASE, sender=SENDER, loop_id=loop_id)


# -- subject tag ---------------------------------------------------------------------

@pytest.mark.parametrize("subject, expected", [
    ("Cannot log in", "Cannot log in [#12]"),
    ("Re: x [#12]", "Re: x [#12]"),
    ("[#12] Re: x", "Re: x [#12]"),
    ("x [#12] [#12]", "x [#12]"),
    ("x [#123]", "x [#123] [#12]"),  # another number is not our tag
    ("", "[#12]"),
    ("a\r\nBcc: v@x", "a Bcc: v@x [#12]"),
    ("a\x00b\tc\x1bd\x7f", "ab cd [#12]"),
    ("  many \u00a0  spaces\u2028here ", "many spaces here [#12]"),
    ("abc\u202edef", "abcdef [#12]"),  # a bidirectional override cannot reorder what is shown
    ("x" * 500, "x" * 200 + " [#12]"),
    ("{{7*7}} {% raw %}", "{{7*7}} {% raw %} [#12]"),
])
def test_tagged_subject(subject, expected):
    assert tagged_subject(subject, 12) == expected


@pytest.mark.parametrize("subject", ["Hello", "Re: Hello [#12]", "[#12][#12] Hello", "Grüße [#12]", "x" * 300])
def test_the_sent_subject_carries_the_tag_exactly_once(subject):
    assert str(parse(build(replace(BASE, subject=subject)))["Subject"]).count("[#12]") == 1


# -- threading -------------------------------------------------------------------------

CHAIN = tuple(f"r{i}@x.example" for i in range(50))


@pytest.mark.parametrize("in_reply_to, references, want_irt, want_refs", [
    ("p@x.example", (), "<p@x.example>", "<p@x.example>"),
    ("p@x.example", ("r1@x.example", "r2@x.example"), "<p@x.example>",
     "<r1@x.example> <r2@x.example> <p@x.example>"),
    ("p@x.example", ("r1@x.example", "p@x.example"), "<p@x.example>", "<r1@x.example> <p@x.example>"),
    ("p@x.example", ("p@x.example", "r1@x.example"), "<p@x.example>", "<r1@x.example> <p@x.example>"),
    (None, (), None, None),
    (None, ("r1@x.example",), None, "<r1@x.example>"),
    ("p@x.example", ("bad id@x", "ü@x.example", "<a@b>", "(c)@d", "r1@x.example"), "<p@x.example>",
     "<r1@x.example> <p@x.example>"),
    ("no at sign", ("r1@x.example",), None, "<r1@x.example>"),
    ("p@x.example", CHAIN, "<p@x.example>",
     " ".join(f"<{i}>" for i in (CHAIN[0], *CHAIN[-18:], "p@x.example"))),
])
def test_in_reply_to_and_references_chain(in_reply_to, references, want_irt, want_refs):
    msg = parse(build(replace(BASE, in_reply_to=in_reply_to, references=references)))
    assert msg.get("In-Reply-To") == want_irt
    assert (" ".join(str(msg["References"]).split()) if msg["References"] else None) == want_refs


# -- header injection --------------------------------------------------------------

@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("where", ["subject", "recipient name", "sender name"])
def test_header_injection_never_adds_a_header(where, payload):
    out, sender = BASE, SENDER
    if where == "subject":
        out = replace(BASE, subject=payload)
    elif where == "recipient name":
        out = replace(BASE, to=Address("dana@customer.example", payload))
    else:
        sender = Address("support@desk.example", payload)
    raw = build(out, sender=sender)
    assert field_names(raw) == field_names(build())  # the same fields, once each, in the same order
    msg = parse(raw)
    assert msg["Bcc"] is None and body(msg) == BASE.text
    for name in ("Subject", "To", "From"):
        assert not re.search(r"[\r\n\x00]", str(msg[name]))
    assert [a.addr_spec for a in msg["To"].addresses] == ["dana@customer.example"]
    assert [a.addr_spec for a in msg["From"].addresses] == ["support@desk.example"]


@pytest.mark.parametrize("subject", ["=?utf-8?q?hi?=", "{{7*7}}", "{{''.__class__}}", "${7*7} <%= 7*7 %>"])
def test_subject_text_is_kept_literally(subject):
    assert str(parse(build(replace(BASE, subject=subject)))["Subject"]) == f"{subject} [#12]"


# -- RFC 2047 and display names -------------------------------------------------------

@pytest.mark.parametrize("subject, name", [
    ("Rechnung für März", "Jörg Müller"),
    ("返信: ログインできません", "山田 太郎"),
    ("Paiement refusé 💳 " * 10, "Zoë \"the boss\" d'Arc"),
])
def test_non_ascii_subject_and_name_are_encoded_and_decode_back(subject, name):
    raw = build(replace(BASE, subject=subject, to=Address("dana@customer.example", name)))
    assert head(raw).isascii() and b"=?utf-8?" in head(raw)
    msg = parse(raw)
    assert str(msg["Subject"]) == f"{' '.join(subject.split())} [#12]"
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [(name, "dana@customer.example")]


@pytest.mark.parametrize("name", ['Dana "D" Reyes', "Reyes, Dana", "agent@corp.example", "a\\b (c) <d>", "J. Doe",
                                  "=?utf-8?q?Admin?="])
def test_display_names_with_specials_keep_one_address(name):
    msg = parse(build(replace(BASE, to=Address("dana@customer.example", name))))
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [(name, "dana@customer.example")]


# -- addresses and SMTPUTF8 ------------------------------------------------------------

@pytest.mark.parametrize("where", ["to", "sender", "reply_to"])
def test_a_non_ascii_address_needs_smtputf8_and_is_never_encoded(where):
    utf8 = "jörg@exämple.test"
    out, sender = BASE, SENDER
    if where == "to":
        out = replace(BASE, to=Address(utf8, "Jörg"))
    elif where == "reply_to":
        out = replace(BASE, reply_to=utf8)
    else:
        sender = Address(utf8)
    env_from, recipients, smtputf8 = envelope(out, sender)
    assert smtputf8 and (env_from, recipients) == (sender.addr, [out.to.addr])
    raw = build(out, sender=sender, smtputf8=True)
    assert utf8.encode("utf-8") in head(raw)
    with pytest.raises(ComposeError, match="SMTPUTF8"):
        build(out, sender=sender, smtputf8=False)


def test_ascii_addresses_need_no_smtputf8():
    assert envelope(BASE, SENDER) == ("support@desk.example", ["dana@customer.example"], False)


@pytest.mark.parametrize("bad", ["", "dana", "a@b@c.example", "a b@c.example", "<a@c.example>", "a@c.example>",
                                 "a\r\n@c.example", "a@c.example\x00", "a,b@c.example", '"a"@c.example',
                                 "a@[192.0.2.1]", "a;b@c.example", "a@", "@c.example", "a\u202e@c.example"])
@pytest.mark.parametrize("where", ["to", "sender", "reply_to"])
def test_an_invalid_address_is_refused(where, bad):
    out = {"to": replace(BASE, to=Address(bad)), "reply_to": replace(BASE, reply_to=bad)}.get(where, BASE)
    sender = Address(bad) if where == "sender" else SENDER
    with pytest.raises(ComposeError, match="address") as caught:
        compose(out, sender=sender, loop_id=LOOP)
    assert isinstance(caught.value, MaildeskError)
    with pytest.raises(ComposeError):
        envelope(out, sender)


# -- Message-IDs -------------------------------------------------------------------------

def test_message_ids_are_unique_random_and_on_the_desk_domain():
    ids = {new_message_id("Desk.Example", 12) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}\.12@desk\.example", i) for i in ids)


@pytest.mark.parametrize("domain, expected", [("desk.example", "desk.example"), ("bücher.example", "xn--bcher-kva.example")])
def test_message_id_domain_is_ascii(domain, expected):
    assert new_message_id(domain, 1).endswith(f".1@{expected}")


@pytest.mark.parametrize("domain", ["", "a b.example", "desk.example>", "x@desk.example", "-bad.example", "a..b"])
def test_a_bad_desk_domain_is_refused(domain):
    with pytest.raises(ComposeError, match="domain"):
        new_message_id(domain, 1)


# -- body -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, html", [
    ("Hello {{7*7}}\n", "<p>Hello {{7*7}}</p>\n"),
    ("Grüße\n", "<p>Grüße &amp; 💬</p>\n"),
])
def test_html_is_an_alternative_after_the_text(text, html):
    msg = parse(build(replace(BASE, text=text, html=html)))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert [body(p) for p in parts] == [text, html]
    assert [p["MIME-Version"] for p in parts] == [None, None] and msg["MIME-Version"] == "1.0"


@pytest.mark.parametrize("text, expected", [
    ("plain\n", "plain\n"),
    ("Grüße\n" + "long line " * 200 + "\n", "Grüße\n" + "long line " * 200 + "\n"),
    ("bad \udcff byte\n", "bad \ufffd byte\n"),
    ("a = b, trailing spaces  \n\tand a tab\t\n", "a = b, trailing spaces  \n\tand a tab\t\n"),
    ("x" * 1200 + "\n", "x" * 1200 + "\n"),  # over SMTP's 998: quoted-printable with soft breaks
    ("old\r\nMac\rendings\n", "old\nMac\nendings\n"),
    ("no final newline", "no final newline\n"),
    ("--=_boundary-like\n.\n", "--=_boundary-like\n.\n"),
])
def test_text_only_body(text, expected):
    raw = build(replace(BASE, text=text))
    msg = parse(raw)
    assert msg.get_content_type() == "text/plain" and body(msg) == expected
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
