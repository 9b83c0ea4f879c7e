"""Tell mail from what is not mail at all: empty input, a binary file, text without a mail header."""

from __future__ import annotations

import re

#: Fields at least one of which every real message has at its top.
MAIL_FIELDS = frozenset({
    b"from", b"sender", b"to", b"cc", b"subject", b"date", b"message-id", b"received", b"return-path",
    b"mime-version", b"reply-to", b"delivered-to", b"in-reply-to", b"references", b"x-original-to",
})
#: Signatures of files that are sometimes dropped into a mail folder by mistake.
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip file"),
    (b"\x7fELF", "an ELF executable"), (b"MZ\x90\x00", "a Windows executable"), (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Outlook .msg or other OLE2 file"),
)
HEAD_BYTES = 64 * 1024  # the header block is looked for in this much of the start
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]{1,76})[ \t]*:", re.MULTILINE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n|\r\r")


def not_mail(data: bytes) -> str | None:
    """Why ``data`` is not an email message, or None when it looks like one."""
    if not data.strip():
        return "empty input" if not data else f"only whitespace ({len(data)} bytes)"
    for magic, what in MAGIC:
        if data.startswith(magic):
            return f"{what}, not an email ({len(data)} bytes)"
    head = data[:HEAD_BYTES]
    blank = _BLANK_LINE.search(head)
    head = head[: blank.start()] if blank else head
    if b"\x00" in head:
        return f"NUL bytes in the header ({len(data)} bytes starting {data[:12]!r})"
    names = {m.group(1).lower() for m in _FIELD.finditer(head)}
    if not names & MAIL_FIELDS:
        return f"no mail header fields (From, Date, Subject, ...) at the top ({len(data)} bytes starting {data[:12]!r})"
    return None
