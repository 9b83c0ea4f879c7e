"""The fast header readers agree with the stdlib's header registry, and refuse what they cannot read."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest

from maildesk.intake.addresses import simple_addresses
from maildesk.intake.mimetree import mime_fast as _mime_fast, mime_slow as _mime_slow, simple_field as _simple_field

AGREE = [
    "carol@customer.example",
    "Carol Customer <carol@customer.example>",
    "Carol <Carol@Customer.Example>, dan@customer.example",
    "O'Brien-Smith Jr. <ob@x.example>",
    "  spaced   name   <a@b.example>  ",
    "a.b+tag@sub.domain.example",
]


@pytest.mark.parametrize("value", AGREE)
def test_simple_addresses_match_the_registry(value):
    registry = [(a.addr_spec.lower(), a.display_name) for a in policy.default.header_factory("to", value).addresses]
    assert [(a.addr, a.name) for a in simple_addresses(value)] == registry


REFUSED = [
    '"agent@corp" <evil@x.example>',       # quoted name hiding an address
    "agent@corp <evil@x.example>",         # unquoted address in the name
    "a@b.example (comment)",
    "=?utf-8?q?J=C3=BCrgen?= <j@x.example>",
    "group: a@b.example;",
    "J\u00fcrgen <j@x.example>",
    "a@b@c.example",
    "<a@b.example",
    "a@b.example,",
    "",
]


@pytest.mark.parametrize("value", REFUSED)
def test_simple_addresses_refuse_anything_ambiguous(value):
    assert simple_addresses(value) is None


CONTENT_TYPES = [
    "text/plain",
    "text/plain; charset=utf-8",
    'multipart/alternative; boundary="_000_x;y_"',
    'Text/HTML; Charset="ISO-8859-1"; format=flowed; delsp=yes',
    'multipart/related; type="text/html"; start="<a@b>"',
    'application/pdf; name="report 2026.pdf"',
]


@pytest.mark.parametrize("value", CONTENT_TYPES)
def test_simple_content_type_matches_the_registry(value):
    msg = EmailMessage()
    msg["Content-Type"] = value
    header = msg["content-type"]
    ctype, params = _simple_field(value)
    assert ctype == header.content_type
    assert params == {k.lower(): v for k, v in header.params.items()}


@pytest.mark.parametrize("value", [
    "text/plain; charset*=utf-8''%e2%82%ac",     # RFC 2231
    'application/pdf; name="=?utf-8?q?x?="',     # encoded word
    "text/plain (comment); charset=utf-8",
    'text/plain; name="a\\"b"',                  # escapes
    "text/plain; charset",                       # a parameter without value
])
def test_complex_fields_go_to_the_registry(value):
    assert _simple_field(value) is None


def test_mime_fast_and_slow_paths_agree_on_an_attachment():
    msg = EmailMessage()
    msg.set_content(b"%PDF-1.4", maintype="application", subtype="pdf", filename="report.pdf")
    assert _mime_fast(msg) is not None
    assert _mime_fast(msg) == _mime_slow(msg)
