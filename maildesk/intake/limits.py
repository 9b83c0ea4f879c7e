"""Size, header, MIME depth and part-count limits, checked before and after parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from maildesk.errors import Quarantine

#: Bytes of Content-Type and Content-Disposition fields, summed over the whole message.
#: The stdlib re-parses these fields several times per part, at a cost that grows faster
#: than their length; real mail needs a few hundred bytes per part.
MIME_FIELD_BUDGET = 64 * 1024
#: Comments ("(" characters) allowed in one such field: each costs the stdlib a recursive
#: descent, and a few thousand nested ones overflow the stack.
MAX_FIELD_COMMENTS = 32

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r)")
# How the stdlib's feed parser recognises a header line (or its continuation).
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")
_MIME_FIELDS = (b"content-type:", b"content-disposition:")
_FIELD_REST = re.compile(rb"[^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*")
# A value that names a type which can never hold parts; anything else may be a container.
_LEAF_TYPE = re.compile(rb"[ \t\r\n]*(?:text|image|application|audio|video|font|model)/", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    """What one message may cost us; anything over a limit is quarantined with the reason."""

    max_message_bytes: int = 25 * 1024 * 1024
    max_mime_depth: int = 20
    max_parts: int = 500
    max_header_lines: int = 1000


def check_raw(data: bytes, limits: Limits) -> None:
    """Cheap checks on the raw bytes, so that hostile mail never reaches the recursive parser."""
    if len(data) > limits.max_message_bytes:
        raise Quarantine(f"message is {len(data)} bytes, over max_message_bytes={limits.max_message_bytes}",
                         kind="limit")
    lines = count_header_lines(data, limits.max_header_lines)
    if lines > limits.max_header_lines:
        raise Quarantine(f"top-level header has {lines} lines, over max_header_lines={limits.max_header_lines}",
                         kind="limit")
    _check_mime_fields(data, limits)


def count_header_lines(data: bytes, limit: int) -> int:
    """Lines of the top-level header block, looked at one by one only up to ``limit``.

    The block ends, as it does for the stdlib parser, at the first empty line or the first
    line that is neither a header field nor a continuation; CR, LF and CRLF all end a line.
    Past ``limit`` the rest is counted in bulk, up to the first empty line.
    """
    count, start = 0, 0
    for end in _LINE_END.finditer(data):
        line = data[start:end.start()]
        if not line or not _HEADER_LINE.match(line):
            return count
        count += 1
        start = end.end()
        if count > limit:
            blank = _BLANK_LINE.search(data, start)
            stop = blank.start() + 1 if blank else len(data)
            return count + _line_ends(data, start, stop) + (0 if blank else 1)
    tail = data[start:]
    return count + 1 if tail and _HEADER_LINE.match(tail) else count


def _line_ends(data: bytes, start: int, stop: int) -> int:
    return data.count(b"\n", start, stop) + data.count(b"\r", start, stop) - data.count(b"\r\n", start, stop)


def _check_mime_fields(data: bytes, limits: Limits) -> None:
    """Bound the MIME header fields anywhere in the message: parts, containers, bytes, comments.

    Every part that can hold others needs a Content-Type field that names no leaf type, and
    nearly every part has a Content-Type field at all; either count is a cheap upper bound.
    """
    containers = fields = budget = 0
    fields_at = _mime_fields(data)
    for start, name in fields_at:
        value_start = start + len(name)
        value_end = _FIELD_REST.match(data, value_start).end()  # type: ignore[union-attr]
        if name == b"content-type:":
            fields += 1
            containers += not _LEAF_TYPE.match(data, value_start)
        if containers > limits.max_parts or fields > limits.max_parts:
            total = sum(1 for _, n in fields_at if n == b"content-type:")
            what = "multipart/message " if containers > limits.max_parts else ""
            raise Quarantine(f"message has {total} Content-Type fields, more than max_parts={limits.max_parts} "
                             f"{what}parts", kind="limit")
        budget += value_end - start
        if budget > MIME_FIELD_BUDGET:
            raise Quarantine(f"Content-Type/Content-Disposition fields exceed {MIME_FIELD_BUDGET} bytes "
                             f"({fields} Content-Type fields so far)", kind="limit")
        comments = data.count(b"(", value_start, value_end)
        if comments > MAX_FIELD_COMMENTS:
            raise Quarantine(f"a {name[:-1].decode()} field has {comments} comments, "
                             f"over {MAX_FIELD_COMMENTS}", kind="limit")


def _mime_fields(data: bytes) -> list[tuple[int, bytes]]:
    """Where each Content-Type/Content-Disposition field starts a line, in order (case-insensitive)."""
    low = data.lower()
    found = []
    for name in _MIME_FIELDS:
        at = low.find(name)
        while at != -1:
            if at == 0 or low[at - 1] in b"\r\n":
                found.append((at, name))
            at = low.find(name, at + 1)
    return sorted(found)


def check_tree(msg: EmailMessage, limits: Limits) -> None:
    """Exact MIME depth and part count of a parsed message, walked without recursion."""
    parts, deepest = 0, 0
    stack: list[tuple[Message, int]] = [(msg, 1)]
    while stack:
        part, depth = stack.pop()
        parts += 1
        deepest = max(deepest, depth)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))
    if deepest > limits.max_mime_depth:
        raise Quarantine(f"MIME nesting depth is {deepest}, over max_mime_depth={limits.max_mime_depth}",
                         kind="limit")
    if parts > limits.max_parts:
        raise Quarantine(f"message has {parts} MIME parts, over max_parts={limits.max_parts}", kind="limit")
