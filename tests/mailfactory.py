"""Build realistic test messages as bytes."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone

_counter = itertools.count(1)


def make_message(
    *,
    sender: str = "Carol Customer <carol@customer.example>",
    to: str = "support@example.test",
    cc: str | None = None,
    subject: str = "Printer on floor 3 is jammed",
    body: str = "Hello,\n\nthe printer is jammed again.\n\nCarol\n",
    message_id: str | None = "auto",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    date: datetime | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc))
    if message_id == "auto":
        message_id = f"<m{next(_counter)}.test@customer.example>"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def message_id_of(data: bytes) -> str:
    for line in data.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise ValueError("no Message-ID")


def make_dsn(recipient: str, original: str | None, *, status: str = "5.1.1", action: str = "failed",
        n: int = 1) -> bytes:
    """A Postfix-shaped delivery status notification about one of our notices (``original``: its
    Message-ID without brackets; None: the report quotes none)."""
    quoted = f"Message-ID: <{original}>\n" if original else ""
    text = f"""From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>
To: support@example.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn{n}.{status}@mx.customer.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BB"

--BB
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--BB
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}

--BB
Content-Type: text/rfc822-headers

From: support@example.test
To: {recipient}
Subject: We received your request [#1]
{quoted}
--BB--
"""
    return text.replace("\n", "\r\n").encode()
