"""A notice's MIME body as wire text: text/plain utf-8, and an HTML alternative when there is one.

Written here rather than with the standard library's message builder, which cost 1.6 ms a notice.
"""

from __future__ import annotations

import binascii
import re
import secrets

CRLF = "\r\n"
_SURROGATE = re.compile("[\ud800-\udfff]")


def mime_body(text: str, html: str | None) -> str:
    """Content fields, blank line and body: text/plain utf-8, with a text/html alternative after it."""
    if html is None:
        return text_part(text, "plain")
    boundary = f"=_{secrets.token_hex(12)}"  # "=_" never occurs in quoted-printable; 96 random bits
    parts = "".join(f"--{boundary}{CRLF}{text_part(body, subtype)}{CRLF}"
                    for body, subtype in ((text, "plain"), (html, "html")))
    return (f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
            f"{parts}--{boundary}--{CRLF}")


def text_part(text: str, subtype: str) -> str:
    """One text part: 7bit when it is short-lined ASCII, else quoted-printable of its UTF-8."""
    lines = _SURROGATE.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    if lines and not lines.endswith("\n"):
        lines += "\n"
    if lines.isascii() and all(len(line) <= 998 for line in lines.split("\n")):
        cte, body = "7bit", lines
    else:
        cte, body = "quoted-printable", binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii")
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}'
            + body.replace("\n", CRLF))
