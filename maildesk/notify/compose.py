"""Write a notice's wire bytes: safe headers, threading, loop stamps and a MIME body, all built here."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email.utils import format_datetime

from maildesk.clock import Clock, system_clock
from maildesk.errors import MaildeskError
from maildesk.models import LOOP_HEADER, Address
from maildesk.notify.mime import CRLF, OutFile, mime_body

#: The Auto-Submitted value each kind of notice carries (RFC 3834); "" for words a person wrote.
AUTO_SUBMITTED: dict[str, str] = {
    "acknowledgement": "auto-replied",
    "alert": "auto-generated",
    "relay": "",
    "status": "auto-generated",
    "escalation": "auto-generated",
    "resolution": "auto-generated",
    "receipt": "auto-generated",
    "answer": "auto-generated",
    "forward": "auto-generated",
    "sla": "auto-generated",
    "update": "auto-generated",
    "admin": "auto-generated",
    "digest": "auto-generated",
}
TICKET_HEADER = "X-Maildesk-Ticket"
MAX_SUBJECT = 200  # characters of subject text before the [#ID] tag
MAX_NAME = 120  # characters of a display name
MAX_REFERENCES = 20  # ids in References: the thread's first and the latest ones
MAX_MSG_ID = 500
MAX_ADDRESS = 254
LINE = 76  # fold header lines at this length where they can be folded (RFC 2047 §2)
RANDOM_BYTES = 16  # 128 bits of Message-ID randomness


_ADDR = re.compile(r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]+@[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]+")
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
_MSG_ID = re.compile(rf"[{_ATEXT}.]+@[{_ATEXT}.\[\]:]+")
_PHRASE_ATOM = re.compile(rf"[{_ATEXT}]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
# Controls, lone surrogates and bidirectional overrides; whitespace is handled before.
_DROP = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class ComposeError(MaildeskError):
    """A notice cannot be built as given (bad address, id, kind); nothing was queued."""


@dataclass(frozen=True)
class Outgoing:
    """One notice, rendered and addressed; ids are without angle brackets."""

    ticket_id: int
    kind: str  # a key of AUTO_SUBMITTED
    to: Address
    subject: str  # rendered, without the [#ID] tag
    text: str
    html: str | None
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    reply_to: str  # the signed reply-token address
    auto_submitted: str  # "auto-replied", "auto-generated" or "" (a person wrote it)
    files: tuple[OutFile, ...] = ()  # attachments; their names are display text only


@dataclass(frozen=True)
class _Field:
    """One header field, written here token by token and folded; never parsed again.

    ``utf8`` marks a field holding a non-ASCII address: only SMTPUTF8 mail may carry it.
    """

    name: str
    lines: tuple[str, ...]
    utf8: bool = False

    def fold(self, *, smtputf8: bool) -> str:
        if self.utf8 and not smtputf8:
            raise ComposeError(f"{self.name}: a non-ASCII address needs SMTPUTF8 (use to_bytes(..., smtputf8=True))")
        return CRLF.join(self.lines) + CRLF


@dataclass(frozen=True)
class Composed:
    """A notice ready for the wire: its header fields and its MIME body (ASCII, CRLF lines)."""

    fields: tuple[_Field, ...]
    body: str


def _field(name: str, tokens: list[str], *, utf8: bool = False) -> _Field:
    return _Field(name, tuple(_fold(name, tokens)), utf8)


def _fold(name: str, tokens: list[str]) -> list[str]:
    """Header lines of ``Name: tok tok ...``, broken before a token that would pass LINE."""
    lines, line = [], f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > LINE and line.strip():
            lines.append(line)
            line = ""
        line += " " + token
    return [*lines, line]


def clean_text(text: str, limit: int | None = None) -> str:
    """One line of header text: whitespace runs become one space; controls, NUL, lone
    surrogates and bidirectional overrides are removed; cut to ``limit`` characters."""
    words = (_DROP.sub("", word) for word in text.split())
    cleaned = " ".join(word for word in words if word)
    return cleaned[:limit].rstrip() if limit is not None else cleaned


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 base64 words of at most 75 characters; a character is never split."""
    words, chunk = [], b""
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > 45:  # 45 bytes are 60 base64 characters
            words.append(chunk)
            chunk = b""
        chunk += data
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in [*words, chunk] if c]


def _needs_encoding(word: str) -> bool:
    """Non-ASCII, or text a reader would take for an encoded word (kept literal by encoding it)."""
    return not word.isascii() or "=?" in word


def _unstructured(text: str) -> list[str]:
    """Tokens of free text: ASCII words as they are, runs of other words as encoded words."""
    tokens: list[str] = []
    run: list[str] = []
    for word in [*text.split(" "), None]:
        if word is not None and _needs_encoding(word):
            run.append(word)
            continue
        if run:
            tokens.extend(_encoded_words(" ".join(run)))  # spaces between encoded words vanish
            run = []
        if word:
            tokens.append(word)
    return tokens


def _phrase(name: str) -> list[str]:
    """A display name as atoms, one quoted string, or encoded words."""
    if not name:
        return []
    if _needs_encoding(name):
        return _encoded_words(name)
    words = name.split(" ")
    if all(_PHRASE_ATOM.fullmatch(word) for word in words):
        return words
    return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']


def check_address(addr: str, what: str) -> str:
    """The address if it is one plain ``local@domain``; else ComposeError saying what is wrong."""
    if not isinstance(addr, str) or not addr:
        raise ComposeError(f"{what}: no address given")
    if len(addr) > MAX_ADDRESS or not _ADDR.fullmatch(addr) or not addr.isprintable():
        raise ComposeError(f"{what}: invalid address {addr[:80]!r} (need one @, no spaces, "
                           "control characters, brackets, quotes or separators)")
    return addr


def _address_field(name: str, address: Address, what: str) -> _Field:
    addr = check_address(address.addr, what)
    display = clean_text(address.name, MAX_NAME)
    tokens = [*_phrase(display), f"<{addr}>"] if display else [addr]
    return _field(name, tokens, utf8=not addr.isascii())


def _text_field(name: str, text: str) -> _Field:
    return _field(name, _unstructured(text))


def _token_field(name: str, value: str) -> _Field:
    return _field(name, [value])


def new_message_id(desk_domain: str, ticket_id: int) -> str:
    """``<random>.<ticket>@<desk domain>`` without brackets; 128 random bits make it unguessable.

    A non-ASCII desk domain is written in its ASCII (IDNA) form, so the id stays plain ASCII.
    """
    try:
        domain = desk_domain.strip().lower().encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    if not _DOMAIN.fullmatch(domain):
        raise ComposeError(f"desk domain {desk_domain[:80]!r} is not a plain ASCII domain name")
    return f"{secrets.token_hex(RANDOM_BYTES)}.{_ticket(ticket_id)}@{domain}"


def _ticket(ticket_id: int) -> int:
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id < 0:
        raise ComposeError(f"ticket id must be a non-negative integer, got {ticket_id!r}")
    return ticket_id


def tagged_subject(subject: str, ticket_id: int) -> str:
    """The subject as one clean line of at most MAX_SUBJECT characters, with ``[#ID]`` once, last
    (ticket 0: a notice about no ticket, such as an admin's alert, has no tag)."""
    if _ticket(ticket_id) == 0:
        return clean_text(subject, MAX_SUBJECT) or "(no subject)"
    tag = f"[#{ticket_id}]"
    text = clean_text(subject).replace(tag, " ")
    text = clean_text(text, MAX_SUBJECT)
    return f"{text} {tag}" if text else tag


def _usable_id(msg_id: str) -> bool:
    return isinstance(msg_id, str) and len(msg_id) <= MAX_MSG_ID and _MSG_ID.fullmatch(msg_id) is not None


def thread_ids(in_reply_to: str | None, references: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """In-Reply-To and References (RFC 5322 §3.6.4): the parent's References, then the parent.

    Ids that are not plain ASCII ``left@right`` are left out, never written half-valid;
    a long chain keeps its first id (the thread's start) and the latest ones.
    """
    parent = in_reply_to if in_reply_to and _usable_id(in_reply_to) else None
    chain = [ref for ref in references if _usable_id(ref) and ref != parent]
    chain = list(dict.fromkeys([*chain, parent] if parent else chain))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1):]]
    return parent, chain


def _check(out: Outgoing) -> None:
    _ticket(out.ticket_id)
    if out.kind not in AUTO_SUBMITTED:
        raise ComposeError(f"unknown notice kind {out.kind!r} (known: {', '.join(AUTO_SUBMITTED)})")
    expected = AUTO_SUBMITTED[out.kind]
    if out.auto_submitted != expected:
        raise ComposeError(f"{out.kind} notices carry Auto-Submitted {expected or '(none)'!r}, "
                           f"got {out.auto_submitted!r}")
    if not _usable_id(out.message_id):
        raise ComposeError(f"invalid Message-ID {out.message_id[:80]!r} (need plain ASCII left@right)")


def compose(out: Outgoing, *, sender: Address, loop_id: str, clock: Clock = system_clock) -> Composed:
    """The notice as a message: every header built here from checked or cleaned values.

    Raises ComposeError for a bad address, kind, Auto-Submitted value, Message-ID or loop id.
    """
    _check(out)
    loop = clean_text(loop_id)
    if not loop or loop != loop_id:
        raise ComposeError(f"loop id {loop_id[:80]!r} must be one non-empty line of printable text")
    parent, chain = thread_ids(out.in_reply_to, out.references)
    fields = [
        _address_field("From", sender, "sender"),
        _address_field("To", out.to, "recipient"),
        _text_field("Subject", tagged_subject(out.subject, out.ticket_id)),
        _token_field("Date", format_datetime(clock())),
        _token_field("Message-ID", f"<{out.message_id}>"),
        *([_token_field("In-Reply-To", f"<{parent}>")] if parent else []),
        *([_field("References", [f"<{ref}>" for ref in chain])] if chain else []),
        _address_field("Reply-To", Address(out.reply_to), "reply-to"),
        *([_token_field("Auto-Submitted", out.auto_submitted),
           _token_field("X-Auto-Response-Suppress", "All")] if out.auto_submitted else []),  # Exchange's OOF
        _text_field(LOOP_HEADER, loop),
        *([_token_field(TICKET_HEADER, str(out.ticket_id))] if out.ticket_id else []),
        _token_field("MIME-Version", "1.0"),
    ]
    return Composed(tuple(fields), mime_body(out.text, out.html, out.files))


def envelope(out: Outgoing, sender: Address) -> tuple[str, list[str], bool]:
    """Envelope sender, recipients, and whether SMTPUTF8 is needed (some address is not ASCII)."""
    env_from = check_address(sender.addr, "sender")
    to = check_address(out.to.addr, "recipient")
    reply_to = check_address(out.reply_to, "reply-to")
    return env_from, [to], not all(a.isascii() for a in (env_from, to, reply_to))


def to_bytes(msg: Composed, *, smtputf8: bool) -> bytes:
    """The message on the wire: CRLF lines; UTF-8 headers only with ``smtputf8`` (RFC 6532).

    Without it a non-ASCII address raises ComposeError rather than being encoded.
    """
    head = "".join(field.fold(smtputf8=smtputf8) for field in msg.fields)
    return (head + msg.body).encode("utf-8" if smtputf8 else "ascii")
