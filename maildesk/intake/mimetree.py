"""The MIME tree of a message: its parts, each part's type and parameters, and which parts are the body."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from typing import Any, NamedTuple

from maildesk.intake.text import decode_words, recover_8bit

_FOLD = re.compile(r"\r\n|\r|\n")
_CTYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def children(part: Message) -> list[Message] | None:
    """The sub-parts of a multipart or message/* part; None for a leaf."""
    payload = part.get_payload() if part.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else None


def walk(msg: Message) -> Iterator[Message]:
    """Every part in document order, without recursion."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        stack.extend(reversed(children(part) or []))


def leaves(msg: Message, mime: dict[int, MimeInfo]) -> Iterator[Message]:
    """Leaf parts in document order; a message/* part is one leaf, its inside is not walked."""
    stack = [msg]
    while stack:
        part = stack.pop()
        kids = children(part)
        if kids is not None and info_of(part, mime).ctype.startswith("multipart/"):
            stack.extend(reversed(kids))
        else:
            yield part


class MimeInfo(NamedTuple):
    """A part's MIME headers, each parsed once: the stdlib re-parses them on every question."""

    ctype: str
    disposition: str | None
    params: dict[str, str]
    filename: str


OCTETS = MimeInfo("application/octet-stream", None, {}, "")


_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s"]*)\s*')
_NOT_SIMPLE = re.compile(r"[(*\\]|=\?")  # comments, RFC 2231 parameters, escapes, encoded words


def simple_field(value: str | None) -> tuple[str, dict[str, str]] | None:
    """``token; name=value; name="value"`` read directly; None when the stdlib must interpret it."""
    if value is None:
        return "", {}
    value = _FOLD.sub("", value).strip()
    if _NOT_SIMPLE.search(value):
        return None
    head, _, rest = value.partition(";")
    rest = ";" + rest if rest else ""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None:
            return None
        raw = m.group(2)
        params[m.group(1).lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        pos = m.end()
    return head.strip().lower(), params


def mime_fast(part: Message) -> MimeInfo | None:
    """The common case without the header registry, whose parse costs more than the message's own."""
    fields = {k.lower(): v for k, v in part.raw_items() if k.lower() in ("content-type", "content-disposition")}
    ctype_field = simple_field(fields.get("content-type"))
    disp_field = simple_field(fields.get("content-disposition"))
    if ctype_field is None or disp_field is None or not all(c.isascii() for c in fields.get("content-type", "")):
        return None
    ctype, params = ctype_field
    if not ctype:
        ctype = part.get_default_type()
    elif not _CTYPE.fullmatch(ctype):
        return None
    disposition = disp_field[0] or None
    filename = disp_field[1].get("filename") or params.get("name") or ""
    return MimeInfo(ctype, disposition, params, decode_words(recover_8bit(filename)))


def mime_info(part: Message) -> MimeInfo:
    return mime_fast(part) or mime_slow(part)


def mime_slow(part: Message) -> MimeInfo:
    """Any field, however odd, through the stdlib's header registry."""
    try:
        ctype_header: Any = part.get("content-type")  # header objects, whatever typeshed says
        disp_header: Any = part.get("content-disposition")
        ctype = ctype_header.content_type if ctype_header is not None else part.get_default_type()
        params = {str(k).lower(): str(v) for k, v in getattr(ctype_header, "params", {}).items()}
        disp_params = getattr(disp_header, "params", {})
        disposition = disp_header.content_disposition if disp_header is not None else None
        filename = str(disp_params.get("filename") or params.get("name") or "")
    except Exception:  # the structured parser failed; the part is opaque data
        return OCTETS
    ctype = ctype.lower() if _CTYPE.fullmatch(ctype.lower()) else "application/octet-stream"
    return MimeInfo(ctype, disposition, params, decode_words(recover_8bit(filename)))


def info_of(part: Message, mime: dict[int, MimeInfo]) -> MimeInfo:
    return mime.get(id(part)) or mime_info(part)


def find_bodies(msg: Message, mime: dict[int, MimeInfo]) -> tuple[tuple[Message, ...], Message | None]:
    """The text/plain body parts and the first text/html body, as ``EmailMessage.get_body`` finds them.

    Attachments and the inside of message/* parts are never bodies; in multipart/related
    only the start part is. Inline text/plain parts that follow the first one in the same
    multipart/mixed (text after an inline image, list footers) continue the body. A
    multipart part the parser could not split is read as text.
    """
    plain: tuple[Message, ...] = ()
    html: Message | None = None
    unsplit: Message | None = None
    stack: list[tuple[Message, list[Message]]] = [(msg, [])]
    while stack and (not plain or html is None):
        part, later_siblings = stack.pop()
        info = info_of(part, mime)
        kids = children(part)
        if info.disposition == "attachment":
            continue
        if info.ctype == "text/plain" and not plain:
            plain = (part, *_continuations(later_siblings, mime))
        elif info.ctype == "text/html" and html is None:
            html = part
        elif info.ctype.startswith("multipart/") and kids is None:
            unsplit = part if unsplit is None else unsplit
        elif info.ctype == "multipart/related" and kids:
            stack.append((_related_start(info, kids), []))
        elif info.ctype.startswith("multipart/") and kids is not None:
            mixed = info.ctype == "multipart/mixed"
            stack.extend((kid, kids[i + 1:] if mixed else []) for i, kid in reversed(list(enumerate(kids))))
    if not plain and html is None and unsplit is not None:
        return (unsplit,), None
    return plain, html


def _continuations(siblings: list[Message], mime: dict[int, MimeInfo]) -> list[Message]:
    """Inline, unnamed text/plain parts among the siblings after a body part."""
    return [s for s in siblings if (i := info_of(s, mime)).ctype == "text/plain"
            and i.disposition != "attachment" and not i.filename and not s.is_multipart()]


def _related_start(info: MimeInfo, children: list[Message]) -> Message:
    start = info.params.get("start", "").strip()
    if start:
        for child in children:
            if raw_header(child, "content-id") == start:
                return child
    return children[0]


def raw_header(part: Message, name: str) -> str:
    """First raw value of a header, without the stdlib's structured parsing."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return recover_8bit(_FOLD.sub("", str(value))).strip()
    return ""
