"""Turn raw message bytes into a ParsedMessage, decoding everything best-effort and never raising."""

from __future__ import annotations

import binascii
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.headerregistry import BaseHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import TypeVar

from maildesk.errors import Quarantine
from maildesk.intake.addresses import ADDRESS_BUDGET, addresses_of, envelope_of, sender_of
from maildesk.intake.html import html_to_text
from maildesk.intake.mimetree import MimeInfo, children, find_bodies, info_of, leaves, mime_info, raw_header, walk
from maildesk.intake.text import (
    b64decode_lenient,
    clean_header,
    decode_bytes,
    header_text,
    recover_8bit,
    safe_filename,
    unflow,
)
from maildesk.models import AttachmentPart, ParsedMessage

log = logging.getLogger("maildesk.intake")
T = TypeVar("T")

MAX_DEFECTS = 100
MAX_REFERENCES = 100
#: HTML converted to text for ``body_text``; the converter is linear but not free.
MAX_HTML_TO_TEXT = 4 * 1024 * 1024

_SERIALISE = policy.default.clone(refold_source="none")
_MSG_ID = re.compile(r"[^\s@<>\x00-\x1f\x7f-\x9f]+@[^\s@<>\x00-\x1f\x7f-\x9f]+")
_COMMENT = re.compile(r"\([^()]*\)")
_BRACKETED = re.compile(r"<([^<>]*)>")
_FOLD = re.compile(r"\r\n|\r|\n")
_CTYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_NO_BODIES: tuple[tuple[Message, ...], Message | None] = ((), None)
_REUSED_HEADER = 1000  # characters: longer header values are parsed each time they are asked for


class _ReusingPolicy(policy.EmailPolicy):
    """``policy.default``, except that a header value asked for again is not parsed again: while
    the stdlib parser splits a message, and later the MIME walk, each part's Content-Type is asked
    for about seven times, and every ask builds the header object anew. Header objects are immutable
    and depend only on name and value, so one made before serves every later ask."""

    def header_fetch_parse(self, name: str, value: str) -> BaseHeader | str:
        if hasattr(value, "name") or len(value) > _REUSED_HEADER:
            return super().header_fetch_parse(name, value)
        return _header(name, value)


@functools.lru_cache(maxsize=1024)
def _header(name: str, value: str) -> BaseHeader | str:
    return policy.default.header_fetch_parse(name, value)


_PARSE = _ReusingPolicy()


def parse_bytes(data: bytes) -> EmailMessage:
    """Parse raw bytes with the stdlib; a parser crash becomes a quarantine, never an exception."""
    try:
        msg = BytesParser(policy=_PARSE).parsebytes(data)
    except RecursionError:
        raise Quarantine("MIME structure nested too deeply for the parser", kind="error") from None
    except Exception as exc:
        raise Quarantine(f"MIME parser failed: {type(exc).__name__}: {clean_header(str(exc))[:200]}",
                         kind="error") from exc
    assert isinstance(msg, EmailMessage)
    return msg


def read_message(msg: EmailMessage) -> ParsedMessage:
    """Everything intake needs from a parsed message; bad input gives defects, not exceptions."""
    defects: list[str] = []
    guard = _Guard(defects)
    budget = [ADDRESS_BUDGET]
    raw: list[tuple[str, str]] = guard("headers", lambda: [(str(k), str(v)) for k, v in msg.raw_items()], [])
    mime: dict[int, MimeInfo] = guard("mime", lambda: {id(part): mime_info(part) for part in walk(msg)}, {})
    plain, html = guard("body", lambda: find_bodies(msg, mime), _NO_BODIES)
    body_html = guard("body_html", lambda: _text_of(html, mime, defects) if html is not None else None, None)
    body_text = guard("body_text", lambda: _body_text(plain, body_html, mime, defects), "")
    parsed = ParsedMessage(
        message_id=guard("message-id", lambda: _message_id(_values(raw, "message-id"), defects), None),
        subject=guard("subject", lambda: header_text(next(iter(_values(raw, "subject")), "")), ""),
        sender=guard("from", lambda: sender_of(_values(raw, "from"), defects, budget), None),
        reply_to=guard("reply-to", lambda: addresses_of("reply-to", _values(raw, "reply-to"), defects, budget), ()),
        to=guard("to", lambda: addresses_of("to", _values(raw, "to"), defects, budget), ()),
        cc=guard("cc", lambda: addresses_of("cc", _values(raw, "cc"), defects, budget), ()),
        envelope_to=guard("envelope", lambda: envelope_of(raw), ()),
        date=guard("date", lambda: _date(_values(raw, "date"), defects), None),
        in_reply_to=guard("in-reply-to", lambda: _msg_ids(_values(raw, "in-reply-to")), ()),
        references=guard("references", lambda: _msg_ids(_values(raw, "references")), ()),
        body_text=body_text,
        body_html=body_html,
        attachments=guard("attachments", lambda: _attachments(msg, (*plain, html), mime, defects), ()),
        headers=guard("headers", lambda: tuple((clean_header(k), header_text(v)) for k, v in raw), ()),
        defects=(),
    )
    guard("mime", lambda: defects.extend(_mime_defects(msg)), None)
    return _with_defects(parsed, defects)


class _Guard:
    """Runs one field's extraction; an unexpected failure is a defect and a default value."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects

    def __call__(self, field: str, extract: Callable[[], T], default: T) -> T:
        try:
            return extract()
        except Exception as exc:  # RecursionError included: hostile input must not stop intake
            log.warning("could not read %s: %s: %s", field, type(exc).__name__, exc)
            self.defects.append(f"{field}: unreadable ({type(exc).__name__})")
            return default


def _with_defects(parsed: ParsedMessage, defects: list[str]) -> ParsedMessage:
    unique = list(dict.fromkeys(defects))
    if len(unique) > MAX_DEFECTS:
        unique = unique[:MAX_DEFECTS] + [f"... {len(unique) - MAX_DEFECTS} more defects"]
    return replace(parsed, defects=tuple(unique))


def _values(raw: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in raw if key.lower() == name]


# --- identifiers and dates -------------------------------------------------------------


def _message_id(values: list[str], defects: list[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        defects.append("message-id: more than one Message-ID header; the first is used")
    value = _COMMENT.sub(" ", recover_8bit(values[0])).strip()
    inner = _BRACKETED.fullmatch(value)
    candidate = "".join((inner.group(1) if inner else value).split())
    if len(candidate) <= 998 and _MSG_ID.fullmatch(candidate):
        return candidate
    defects.append(f"message-id: not a usable id: {clean_header(values[0])[:80]!r}")
    return None


def _msg_ids(values: list[str]) -> tuple[str, ...]:
    """Message ids in header order, deduplicated, the last ``MAX_REFERENCES`` of them."""
    found: dict[str, None] = {}
    for value in values:
        text = _COMMENT.sub(" ", recover_8bit(value))
        bracketed = _BRACKETED.findall(text)
        tokens = bracketed if bracketed else re.split(r"[\s,;]+", text)
        for token in tokens:
            token = "".join(token.split())
            if len(token) <= 998 and _MSG_ID.fullmatch(token):
                found.setdefault(token, None)
    return tuple(found)[-MAX_REFERENCES:]


def _date(values: list[str], defects: list[str]) -> datetime | None:
    if not values:
        return None
    text = header_text(values[0])[:200]
    try:
        when = parsedate_to_datetime(text)
    except Exception:  # the stdlib raises several kinds on garbage
        defects.append(f"date: unparseable {text[:80]!r}")
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# --- addresses ---------------------------------------------------------------------------


def _part_bytes(part: Message, defects: list[str]) -> bytes:
    """The decoded content of a leaf part; declared encodings that do not fit are undone gently."""
    # The stored payload, not get_payload(): that has already replaced 8-bit bytes using the
    # declared charset, which is exactly what must not happen before the charset is checked.
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return b""
    raw = payload.encode("utf-8", "surrogateescape")
    cte = raw_header(part, "content-transfer-encoding").lower().strip(" \t\"'")
    if cte == "base64":
        if _looks_like_text(raw):
            defects.append("part: declared base64 but is plain text; kept as it is")
            return raw
        return b64decode_lenient(raw)
    if cte == "quoted-printable":
        return binascii.a2b_qp(raw)
    if cte in ("x-uuencode", "uuencode", "x-uue"):
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else raw
    return raw


def _looks_like_text(raw: bytes) -> bool:
    """Base64 lines hold no spaces or punctuation; prose has plenty."""
    sample = raw[:4096]
    odd = len(re.sub(rb"[A-Za-z0-9+/=\r\n]", b"", sample))
    return odd > 3 and odd * 20 > len(sample)


def _text_of(part: Message, mime: dict[int, MimeInfo], defects: list[str]) -> str:
    params = info_of(part, mime).params
    text = decode_bytes(_part_bytes(part, defects), params.get("charset"), defects, "body")
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    if params.get("format", "").lower() == "flowed":
        text = unflow(text, params.get("delsp", "").lower() == "yes")
    return text.replace("\x00", "\ufffd")


def _body_text(plain: tuple[Message, ...], body_html: str | None, mime: dict[int, MimeInfo],
               defects: list[str]) -> str:
    text = "\n".join(_text_of(part, mime, defects) for part in plain)
    if text.strip() or not body_html:
        return text
    if len(body_html) > MAX_HTML_TO_TEXT:
        defects.append(f"body: HTML of {len(body_html)} characters; text made from the first {MAX_HTML_TO_TEXT}")
    return html_to_text(body_html[:MAX_HTML_TO_TEXT])


# --- attachments -------------------------------------------------------------------------


def _attachments(msg: Message, bodies: tuple[Message | None, ...], mime: dict[int, MimeInfo],
                 defects: list[str]) -> tuple[AttachmentPart, ...]:
    found: list[AttachmentPart] = []
    for part in leaves(msg, mime):
        if any(part is body for body in bodies):
            continue
        info = info_of(part, mime)
        data = _message_bytes(part, defects) if part.is_multipart() else _part_bytes(part, defects)
        cid = clean_header("".join(raw_header(part, "content-id").strip("<> \t").split()))[:998]
        found.append(AttachmentPart(
            filename=safe_filename(info.filename), content_type=info.ctype, data=data, content_id=cid,
            inline=info.disposition == "inline" or (info.disposition is None and bool(cid)),
        ))
    return tuple(found)


def _message_bytes(part: Message, defects: list[str]) -> bytes:
    """The bytes of a message/* part's content, re-serialised from the parsed form."""
    chunks: list[bytes] = []
    for inner in children(part) or []:
        try:
            chunks.append(inner.as_bytes(policy=_SERIALISE))
        except Exception:
            try:
                chunks.append(inner.as_string(policy=_SERIALISE).encode("utf-8", "surrogateescape"))
            except Exception as exc:
                defects.append(f"attachment: nested message could not be serialised ({type(exc).__name__})")
    return b"".join(chunks)


def _mime_defects(msg: Message) -> list[str]:
    found: dict[str, None] = {}
    for part in walk(msg):
        for defect in getattr(part, "defects", ()):
            found.setdefault(f"mime: {type(defect).__name__}", None)
    return list(found)
