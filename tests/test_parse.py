"""Reading real-world and hostile mail into a ParsedMessage: decoding, addresses, bodies, attachments."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from maildesk.errors import Quarantine
from maildesk.intake.addresses import ADDRESS_BUDGET, parse_addresses
from maildesk.intake.limits import Limits, check_raw, check_tree
from maildesk.intake.parse import parse_bytes, read_message
from maildesk.intake.text import decode_bytes, header_text, safe_filename, unflow
from maildesk.models import Address, ParsedMessage

FIXTURES = Path(__file__).parent / "fixtures" / "mime"
PDF = base64.b64decode("JVBERi0xLjQKMSAwIG9iajw8Pj5lbmRvYmoKdHJhaWxlcjw8Pj4KJSVFT0YK")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4DwABAQEAGN2NtAAAAABJRU5ErkJggg==")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@cache
def read(name: str) -> ParsedMessage:
    """A fixture through the whole intake parse path, limits included."""
    data = (FIXTURES / name).read_bytes()
    check_raw(data, Limits())
    msg = parse_bytes(data)
    check_tree(msg, Limits())
    return read_message(msg)


FIELDS: list[tuple[str, str, Any]] = [
    # Outlook desktop: windows-1252 QP text, ISO-8859-1 encoded-word name, upper-case address
    ("outlook-desktop.eml", "subject", "Angebot für Wartungsvertrag – Rückfrage"),
    ("outlook-desktop.eml", "sender", Address("juergen.mueller@customer.example", "Jürgen Müller")),
    ("outlook-desktop.eml", "to", (Address("support@example.test", "Support"),)),
    ("outlook-desktop.eml", "cc", (Address("anna.weber@customer.example", "Weber, Anna"),)),
    ("outlook-desktop.eml", "message_id", "AM0PR10MB1234ABCD5678@AM0PR10MB1234.EURPRD10.PROD.OUTLOOK.COM"),
    ("outlook-desktop.eml", "in_reply_to", ("ticket-41.abc@example.test",)),
    ("outlook-desktop.eml", "date", datetime(2025, 3, 4, 9, 15, 1, tzinfo=UTC)),
    ("outlook-desktop.eml", "body_text",
     ("Sehr geehrte Damen und Herren,\n\nanbei das Angebot für den Wartungsvertrag. Könnten Sie bitte bis "
      "Freitag prüfen, ob die „Option B“ noch gilt?\n\nMit freundlichen Grüßen\nJürgen Müller\n")),
    # Gmail: UTF-8 quoted-printable inside multipart/related
    ("gmail.eml", "body_text",
     ("Hi team,\n\nThe export fails with the error below — screenshot attached.\n\n[image: error.png]\n\n"
      "Thanks,\nPriya\n")),
    ("gmail.eml", "message_id", "CAJx5Qp3+kT0aR9fQ=XYZ7u@mail.gmail.com"),
    # Apple Mail: flowed text with DelSp=yes, and the text after the inline PDF continues the body
    ("apple-mail.eml", "body_text",
     ("Hello,\n\nthe invoice attached below lists two licences, but we only ordered one. Could you send a "
      "corrected invoice?\n\nThanks,\nTom")),
    # Thunderbird: flowed text, quoted flowed text, signature separator kept
    ("thunderbird.eml", "body_text",
     ('Hi,\n\nit still happens after the update; the client logs "keepalive timeout" right before each drop.\n'
      "\nAm 06.03.25 um 17:02 schrieb Support:\n> Could you please update to version 5.2 and tell us whether "
      "the connection still drops?\n>\n> Regards, the help desk\n\nViele Grüße\n-- \nLena Vogt\n"
      "Netzwerk & Systeme\n")),
    ("thunderbird.eml", "references", ("ticket-1042.x1@example.test", "ticket-1042.x2@example.test")),
    ("iso-2022-jp.eml", "subject", "こんにちは、サポートチーム"),
    ("iso-2022-jp.eml", "sender", Address("yamada@customer.example", "山田")),
    ("iso-2022-jp.eml", "body_text", "サポート担当者様\n\n請求書の件でご連絡いたします。\nよろしくお願いいたします。\n"),
    ("cp1252-no-charset.eml", "body_text",
     "Bonjour, la facture “proforma” coûte 120 € – merci d’avance.\nClaire, café du coin\n"),
    ("unknown-charset.eml", "subject", "café — crème"),
    ("unknown-charset.eml", "body_text", "Привет, команда поддержки!\n"),
    ("raw-utf8-header.eml", "subject", "Überweisung für Rechnung №42 — bitte prüfen"),
    ("raw-utf8-header.eml", "sender", Address("zoe@customer.example", "Zoë Łukasiewicz")),
    ("eight-bit-no-cte.eml", "body_text",
     "Ärger mit dem Drucker – bitte um Hilfe.\nFehlercode: „E-42“ (größer als gestern).\n"),
    ("eight-bit-no-cte.eml", "sender", Address("omer@customer.example", "Ömer Şahin")),
    ("html-only.eml", "body_text",
     ("New request\n\nName: Ada & Co\nPlan: Pro\n\nSee the status page (https://status.example/incident/7).\n\n"
      "> The service is down since 9:00.\n>\n> > Earlier: it was slow.\n>\n- first step\n- second step\n\nThanks")),
    ("broken-no-close-boundary.eml", "body_text", "The first part is complete.\n"),
    ("broken-base64.eml", "body_text", "Hello from the help desk test.\nSecond line.\n"),
    ("base64-plain-text.eml", "body_text",
     "Hello, this body claims to be base64 but it is plain text.\nPlease keep every word of it.\n"),
    ("header-injection.eml", "subject", "x Bcc: v@x"),
    # identity comes from the address, never from the display name
    ("spoofed-display-name.eml", "sender", Address("evil@x", "agent@corp")),
    ("spoofed-display-name.eml", "reply_to", (Address("collector@evil.example", "support@example.test"),)),
    ("multi-at-from.eml", "sender", None),
    ("multi-at-from.eml", "to", (Address("support@example.test"), Address("good@customer.example", "Good"))),
    ("multi-at-from.eml", "cc", (Address("carol@customer.example"),)),
    ("no-message-id.eml", "message_id", None),
    ("no-message-id.eml", "in_reply_to", ("reply-parent@example.test",)),
    ("no-message-id.eml", "references",
     ("root@example.test", "a@example.test", "b@example.test", "cd@example.test", "e@example.test")),
    ("no-message-id.eml", "envelope_to",
     ("support@example.test", "support+billing@example.test", "helpdesk@example.test")),
    ("no-message-id.eml", "date", datetime(2025, 3, 10, 11, 15, tzinfo=UTC)),
    ("forwarded-as-attachment.eml", "body_text", "See the message below.\n"),
]


@pytest.mark.parametrize(("fixture", "field", "expected"), FIELDS, ids=[f"{f}:{a}" for f, a, _ in FIELDS])
def test_field(fixture: str, field: str, expected: Any) -> None:
    assert getattr(read(fixture), field) == expected


ATTACHMENTS: list[tuple[str, list[tuple[str, str, bytes, str, bool]]]] = [
    ("outlook-desktop.eml", [("Angebot Müller.docx", DOCX, b"PK\x03\x04 fake docx content", "", False)]),
    ("gmail.eml", [("error.png", "image/png", PNG, "ii_m7x2k9p10", True)]),
    ("apple-mail.eml", [("Invoice 2025-031.pdf", "application/pdf", PDF, "", True)]),
    ("broken-no-close-boundary.eml",
     [("log.bin", "application/octet-stream", b"log line 1\nlog line 2", "", False)]),
    ("thunderbird.eml", []),
    ("html-only.eml", []),
]


@pytest.mark.parametrize(("fixture", "expected"), ATTACHMENTS, ids=[f for f, _ in ATTACHMENTS])
def test_attachments(fixture: str, expected: list[tuple[str, str, bytes, str, bool]]) -> None:
    got = [(a.filename, a.content_type, a.data, a.content_id, a.inline) for a in read(fixture).attachments]
    assert got == expected


def test_hostile_attachment_names_become_bare_display_names() -> None:
    names = [a.filename for a in read("attachment-names.eml").attachments]
    assert names == ["x", "path", "x", "report.exe.txt", "passwd", "evil.dll", "htaccess", "invoicegpj.exe",
                     "boot.ini", "attachment"]
    for name in names:
        assert not ({"/", "\\", "\x00"} & set(name)) and not name.startswith(".")
    assert all(a.data == b"data" for a in read("attachment-names.eml").attachments)


def test_forwarded_message_is_one_attachment_with_its_bytes() -> None:
    parsed = read("forwarded-as-attachment.eml")
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.content_type) == ("Delivery problem.eml", "message/rfc822")
    inner = read_message(parse_bytes(attachment.data))
    assert inner.message_id == "inner.1@carrier.example"
    assert inner.body_text == "Your parcel could not be delivered."  # the last line break is the boundary's
    assert "parcel" not in parsed.body_text


def test_html_body_is_kept_as_data_and_its_script_never_reaches_the_text() -> None:
    parsed = read("html-only.eml")
    assert parsed.body_html is not None and "<script>document.location" in parsed.body_html
    assert "cookie" not in parsed.body_text and "alert" not in parsed.body_text
    assert "Submission" not in parsed.body_text  # <title> is not content


def test_alternative_keeps_both_bodies() -> None:
    parsed = read("outlook-desktop.eml")
    assert parsed.body_html is not None and "Option B" in parsed.body_html
    assert read("thunderbird.eml").body_html is None


def test_multipart_without_boundary_keeps_its_words() -> None:
    parsed = read("broken-no-boundary-param.eml")
    assert "The words of this message must survive." in parsed.body_text
    assert "mime: NoBoundaryInMultipartDefect" in parsed.defects


DEFECTS = [
    ("spoofed-display-name.eml", "from: display name contains an address"),
    ("unknown-charset.eml", "body: charset 'x-unknown-charset' does not fit; read as utf-8"),
    ("base64-plain-text.eml", "part: declared base64 but is plain text; kept as it is"),
    ("broken-no-close-boundary.eml", "mime: CloseBoundaryNotFoundDefect"),
]


@pytest.mark.parametrize(("fixture", "defect"), DEFECTS, ids=[f for f, _ in DEFECTS])
def test_problems_are_reported_as_defects(fixture: str, defect: str) -> None:
    assert defect in read(fixture).defects


def test_ambiguous_sender_is_explained() -> None:
    assert any(d.startswith("from: not exactly one valid address") for d in read("multi-at-from.eml").defects)


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.eml")))
def test_no_header_value_can_inject_a_line(fixture: str) -> None:
    parsed = read(fixture)
    texts = [parsed.subject, *(v for _, v in parsed.headers), *(a.name for a in parsed.to + parsed.cc)]
    assert not any(ch in text for text in texts for ch in "\r\n\x00")


def test_headers_are_decoded_pairs_in_order() -> None:
    headers = read("header-injection.eml").headers
    assert [name for name, _ in headers][:3] == ["From", "To", "Subject"]
    assert read("header-injection.eml").header("X-Note") == "a Bcc: v@x body tail"
    assert read("raw-utf8-header.eml").header("subject") == "Überweisung für Rechnung №42 — bitte prüfen"


HOSTILE_INPUTS = [
    b"",
    b"\x00" * 64,
    b"From: a@\n\nx",
    b"From: " + b"(" * 5000 + b"\n\n",
    b"To: " + b"a@b, " * 20000 + b"\n\n",
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999\nSubject: =?utf-8?b?!!!?= =?bogus?x?y?=\n\n",
    b"Message-ID: <<<>>>\nReferences: <\nIn-Reply-To: >>>\n\n",
    b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain; charset=zlib\n\n\xff\xfe\n--x--",
    b"Content-Type: text/plain; charset=unicode-escape\n\n\\ud800 \\x00",
    b"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n",
    b"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n!!!\nend\n",
    b"Content-Type: multipart/related; start=\"<nope>\"; boundary=r\n\n--r\n--r--\n",
    b"Content-Type: text/plain; format=flowed; delsp=yes\n\n" + b"a " * 50000 + b"\n",
]


@pytest.mark.parametrize("data", HOSTILE_INPUTS, ids=range(len(HOSTILE_INPUTS)))
def test_read_message_never_raises(data: bytes) -> None:
    parsed = read_message(parse_bytes(data))
    assert isinstance(parsed, ParsedMessage)
    for text in (parsed.subject, parsed.body_text, *(v for _, v in parsed.headers)):
        text.encode("utf-8")  # no lone surrogates: storage must be able to write every string


def test_hostile_parser_input_is_a_quarantine_not_a_crash() -> None:
    deep = b"Content-Type: message/rfc822\n\n" * 5000
    with pytest.raises(Quarantine) as caught:
        parse_bytes(deep)
    assert caught.value.kind == "error"


DECODING = [
    (b"caf\xc3\xa9", "utf-8", "café"),
    (b"caf\xe9", "utf-8", "café"),  # wrong label: windows-1252 fallback
    (b"\x93quoted\x94", "iso-8859-1", "“quoted”"),  # latin-1 labels mean windows-1252 in practice
    (b"caf\xc3\xa9", None, "café"),
    (b"caf\xe9", "x-unknown-charset", "café"),
    (b"\x81\x8d", None, "\x81\x8d"),  # bytes windows-1252 leaves undefined: latin-1, never an error
    # mostly valid UTF-8 with one bad byte: the bad byte is replaced, the rest kept
    ("Привет, мир! Это длинный текст.".encode() + b"\xff", "utf-8", "Привет, мир! Это длинный текст.\ufffd"),
    (b"\\ud800", "unicode-escape", "\\ud800"),  # Python-only codecs are never used for mail
]


@pytest.mark.parametrize(("data", "label", "expected"), DECODING)
def test_decode_bytes(data: bytes, label: str | None, expected: str) -> None:
    assert decode_bytes(data, label, [], "body") == expected


HEADERS = [
    ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # white space between encoded words goes
    ("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
    ("=?utf-8?b?w6k=?=\r\n =?utf-8?b?w6k=?=", "éé"),
    ("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é"),  # a character split across two words
    ("=?utf-8*en?q?hi?=", "hi"),  # RFC 2231 language tag
    ("=?utf-8?b?bad base64?= x", "=?utf-8?b?bad base64?= x"),  # not an encoded word at all
    ("a\tb\x00c\x1b[31md\u2028e", "a b c [31md e"),
    ("caf\udcc3\udca9", "café"),  # raw UTF-8 as the parser hands it over
    ("caf\udce9", "café"),  # raw windows-1252
]


@pytest.mark.parametrize(("raw", "expected"), HEADERS)
def test_header_text(raw: str, expected: str) -> None:
    assert header_text(raw) == expected


FILENAMES = [
    ("../../x", "x"),
    ("/abs/path", "path"),
    ("..\\x", "x"),
    ("a\x00b.txt", "ab.txt"),
    ("dir/", "attachment"),
    ("...", "attachment"),
    ("", "attachment"),
    ("  .hidden  ", "hidden"),
    ("x\u202egpj.exe", "xgpj.exe"),
    ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),  # 200 characters, extension kept
]


@pytest.mark.parametrize(("name", "expected"), FILENAMES, ids=[repr(n[:20]) for n, _ in FILENAMES])
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


FLOWED = [
    ("one \ntwo\n", False, "one two\n"),
    ("one \ntwo\n", True, "onetwo\n"),
    ("> a \n> b\nc\n", False, "> a b\nc\n"),
    ("> a \nb\n", False, "> a\nb\n"),  # a change of quote depth ends the paragraph
    ("-- \nsig\n", False, "-- \nsig\n"),
    (" From here\n", False, "From here\n"),  # space-stuffing undone
]


@pytest.mark.parametrize(("text", "delsp", "expected"), FLOWED)
def test_unflow(text: str, delsp: bool, expected: str) -> None:
    assert unflow(text, delsp) == expected


@pytest.mark.parametrize("value", [
    '"=?utf-8?q?Eve=0D=0ABcc:_v@x?=" <Eve@Customer.example>',
    "=?utf-8?b?RXZlDQpCY2M6IHZAeA==?= <eve@customer.example>",
])
def test_a_display_name_decoding_to_a_line_break_is_dropped_but_the_address_kept(value):
    defects: list[str] = []
    found, invalid = parse_addresses("From", [value], defects, [ADDRESS_BUDGET])
    assert found == [Address("eve@customer.example", "")] and invalid == 0
    assert defects == ["From: encoded display name with line breaks dropped"]
