"""Read address header fields strictly: one valid From, valid To/Cc, envelope recipients."""

from __future__ import annotations

import re
from email import policy
from typing import Any

from maildesk.intake.text import header_text, recover_8bit
from maildesk.models import Address

#: Characters of address headers handed to the stdlib's address parser, whose cost grows
#: faster than the input; real mail stays far below this.
ADDRESS_BUDGET = 64 * 1024
#: Comments in one address field; each costs that parser a recursive descent.
MAX_ADDRESS_COMMENTS = 32

_ADDR = re.compile(r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]+@[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]+")
_FOLD = re.compile(r"\r\n|\r|\n")
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
_ENVELOPE = ("delivered-to", "x-original-to", "envelope-to")


def _address_header(name: str, value: str, defects: list[str]) -> Any:
    """The parsed field; when an encoded word decodes to something no address may hold (a line
    break in a display name), the field is read again without its encoded words, keeping the address."""
    try:
        return policy.default.header_factory(name, value)
    except ValueError:
        if "=?" not in value:
            raise
    defects.append(f"{name}: encoded display name with line breaks dropped")
    return policy.default.header_factory(name, _ENCODED_WORD.sub("", value))


def parse_addresses(name: str, values: list[str], defects: list[str], budget: list[int]) -> tuple[list[Address], int]:
    """Valid addresses of some header fields, and how many entries were not valid.

    The addresses come from the stdlib's header registry, never from ``getaddresses``
    (CVE-2023-27043), and are lower-cased whole, local part included: mail systems compare
    them case-insensitively in practice, and later stages can then compare plain strings.
    """
    found: list[Address] = []
    invalid = 0
    for value in values:
        value = _FOLD.sub("", value)
        if len(value) > budget[0] or value.count("(") > MAX_ADDRESS_COMMENTS:
            defects.append(f"{name}: field too long or too many comments to read ({len(value)} characters)")
            invalid += 1
            continue
        budget[0] -= len(value)
        simple = simple_addresses(value)
        if simple is not None:
            found.extend(simple)
            continue
        try:
            header = _address_header(name, value, defects)
            items = header.addresses
        except Exception as exc:  # the stdlib's address parser fails on some garbage
            defects.append(f"{name}: unparseable ({type(exc).__name__})")
            invalid += 1
            continue
        fragments = sum(1 for d in header.defects if str(d).startswith("invalid address"))
        if fragments:
            defects.append(f"{name}: {fragments} part(s) of the field are not addresses")
        invalid += fragments
        for item in items:
            addr = _utf8_only(item.addr_spec)
            if len(addr) <= 320 and _ADDR.fullmatch(addr):
                found.append(Address(addr.lower(), header_text(recover_8bit(item.display_name))))
            elif addr not in ("", "<>"):  # those are the fragments counted above
                invalid += 1
                defects.append(f"{name}: invalid address {header_text(item.addr_spec)[:80]!r} dropped")
    return found, invalid


_PLAIN_NAME = r"[A-Za-z0-9 .'_-]*?"
_SIMPLE_ENTRY = re.compile(rf"\s*(?:({_PLAIN_NAME})\s*<({_ADDR.pattern})>|({_ADDR.pattern}))\s*")
_NEEDS_PARSER = re.compile(r'["()\\;:=\[\]]|[^\x00-\x7f]')  # quotes, comments, groups, encoded words, 8-bit


def simple_addresses(value: str) -> list[Address] | None:
    """``Name <a@b>, c@d`` read directly; None for anything the full parser must interpret.

    Only ASCII names of letters, digits, spaces and ``.'_-`` qualify, so nothing that could
    hide another address (quotes, comments, groups, encoded words) takes this path.
    """
    if _NEEDS_PARSER.search(value):
        return None
    found = []
    for entry in value.split(","):
        m = _SIMPLE_ENTRY.fullmatch(entry)
        if m is None:
            return None
        addr = m.group(2) or m.group(3)
        if len(addr) > 320:
            return None
        found.append(Address(addr.lower(), " ".join((m.group(1) or "").split())))
    return found


def _utf8_only(addr: str) -> str:
    """An address with raw 8-bit bytes is only an address if they are UTF-8 (RFC 6532)."""
    try:
        return addr.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return "\ufffd"  # fails validation below, as it should


def addresses_of(name: str, values: list[str], defects: list[str], budget: list[int]) -> tuple[Address, ...]:
    return tuple(dict.fromkeys(parse_addresses(name, values, defects, budget)[0]))


def sender_of(values: list[str], defects: list[str], budget: list[int]) -> Address | None:
    """The one From address; anything ambiguous gives no sender at all."""
    if len(values) != 1:
        defects.append(f"from: {len(values)} From headers")
        return None
    found, invalid = parse_addresses("from", values, defects, budget)
    if len(found) != 1 or invalid:
        defects.append(f"from: not exactly one valid address ({len(found)} valid, {invalid} invalid)")
        return None
    if "@" in found[0].name:
        defects.append("from: display name contains an address")
    return found[0]


def envelope_of(raw: list[tuple[str, str]]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for key, value in raw:
        if key.lower() in _ENVELOPE:
            for token in re.split(r"[\s,;<>]+", _utf8_only(value)):
                if len(token) <= 320 and _ADDR.fullmatch(token):
                    found.setdefault(token.lower(), None)
    return tuple(found)
