"""Read delivery reports, standard (RFC 3464) or not, into a BounceReport."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from email.message import EmailMessage, Message

from maildesk.intake.mailview import MailView, clean, content_type, header, headers, iter_parts, part_text
from maildesk.models import BounceReport

logger = logging.getLogger("maildesk.intake")

_DSN_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_PARTS = frozenset({"message/rfc822", "message/global"})
_HEADER_PARTS = frozenset({"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"})

_ADDR = r"[^\s<>()\[\]\\,;:\"'@]+@[\w-]+(?:\.[\w-]+)+"
_ADDR_RE = re.compile(_ADDR)
_FIELD_RE = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*(?:\n[ \t]+.*)*)", re.M)
_STATUS_RE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.]?\d)")
_MSGID_RE = re.compile(r"^[ \t>]*Message-Id:[ \t]*(?:\n[ \t]+)?<?([^\s<>]+@[^\s<>]+)>?", re.I | re.M)
#: Lines after which a non-standard bounce quotes the message it is about.
_ORIGINAL_MARK = re.compile(
    r"^[ \t>]*(?:-+ ?(?:this is a copy of|below this line is a copy of|returned message|unsent message"
    r"|enclosed is a copy|the header of the original message|the following is a copy of)"
    r"|-*[ \t]*original message\b|content-type: message/rfc822|return-path:|received: ?from )",
    re.I | re.M,
)
#: Wording that names a failed recipient on the same line.
_INLINE_RCPT = re.compile(
    r"(?:final|original)-recipient:\s*(?:rfc\s?822\s*;)?\s*<?(" + _ADDR + r")"
    r"|(?:could not be delivered to|rcpt to|target mail address|unknown (?:user|recipient))\s*:?\s*<?(" + _ADDR + r")"
    r"|^(?:[<>]{3} )?(?:\d{3}[ -])?<(" + _ADDR + r")>\.\.\."  # sendmail: "550 <user@host>... User unknown"
    r"|(?:recipients?|address(?:es)?)\b[^\n:<@]{0,60}:\s*<?(" + _ADDR + r")"
    r"|(?:deliver\w*|sending|sent)\b[^\n<@]{0,40}?\bto:?\s*<?(" + _ADDR + r")",
    re.I | re.M,
)
#: A line that starts with an address, maybe bulleted or bracketed: how most MTAs list recipients.
_LEADING_RCPT = re.compile(r"^[ \t]*(?:[*>-]+[ \t]*)?[<\"]?(" + _ADDR + r")[>\"]?(?!\.?[\w-]|[ \t]+<)", re.M)
#: An address closing a line after a colon ("Mailbox full: user@example.com"), unless a sender field.
_TRAILING_RCPT = re.compile(
    r"^(?![^\n]*\b(?:from|sender|reply-to|return-path|to|cc|message-id)[ \t]*:)"
    r"[^\n]*:[ \t]*<?(" + _ADDR + r")>?[ \t.]*$",
    re.I | re.M,
)
_DELAY_SUBJECT = re.compile(
    r"\b(?:delay(?:ed)?|warning|still being retried|could not send (?:message|mail) for past)\b", re.I
)
_DELAY_BODY = re.compile(
    r"this is (?:just )?a warning|warning message only|will (?:keep|continue) trying|will be retried"
    r"|delivery (?:to the following recipients? )?has been delayed|not yet been delivered",
    re.I,
)


def split_original(text: str) -> tuple[str, str]:
    """Split a non-standard bounce's text into the report and the quoted original message."""
    mark = _ORIGINAL_MARK.search(text)
    return (text[: mark.start()], text[mark.start() :]) if mark else (text, "")


def ses_notification(text: str) -> dict[str, object] | None:
    """An Amazon SES notification carried as a JSON mail body (as SNS sends it), or None."""
    body = re.sub(r"!\n ", "", text.strip())  # undo the splitting of over-long lines
    if not body.startswith("{") or "notificationType" not in body[:4000]:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(body)
        if isinstance(data, dict) and isinstance(data.get("Message"), str):  # wrapped in an SNS envelope
            data = json.loads(data["Message"])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def normalise_addr(addr: str) -> str:
    """Strip brackets and trailing punctuation; lower-case the domain only."""
    local, at, domain = addr.strip().strip("<>").rstrip(".,;:").rpartition("@")
    return f"{local}@{domain.lower()}" if at and local and domain else ""


def _unique(addrs: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for addr in map(normalise_addr, addrs):
        if addr:
            seen.setdefault(addr.lower(), addr)
    return tuple(seen.values())


def _strip_msgid(value: str) -> str | None:
    found = re.search(r"<([^<>\s]+)>", value) or re.search(r"([^<>\s]+@[^<>\s]+)", value)
    return found.group(1) if found else None


def _status(text: str) -> str:
    """The first enhanced status code (RFC 3463) in a text, or ""."""
    found = _STATUS_RE.search(text)
    return found.group(1) if found else ""


def _succeeded(action: str, status: str) -> bool:
    return action in {"delivered", "relayed", "expanded", "deliverable"} or status.startswith("2")


def _dsn_text(part: Message) -> str:
    """A delivery-status part as text, whether the parser split it into blocks or not."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return part_text(part)
    chunks = []
    for block in (b for b in payload if isinstance(b, Message)):
        rest = block.get_payload()  # fields the parser could not take for headers
        lines = [f"{name}: {value}" for name, value in block.raw_items()]
        chunks.append("\n".join(lines + ([rest] if isinstance(rest, str) else [])))
    return "\n\n".join(chunks)


def _field_blocks(text: str) -> list[dict[str, str]]:
    """``Name: value`` blocks separated by blank lines, names lower-cased, first value wins."""
    blocks = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        for name, value in _FIELD_RE.findall(chunk):
            fields.setdefault(name.lower(), clean(" ".join(value.split())))
        blocks.append(fields)
    return blocks


def _recipient(block: dict[str, str]) -> str:
    """Original-Recipient (the address as sent) when usable, else Final-Recipient."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        kind, _, value = block.get(name, "").rpartition(";")
        found = _ADDR_RE.search(value)
        if found and re.sub(r"[^a-z0-9]", "", kind.lower()) in {"", "rfc822", "utf8"}:
            return found.group(0)
    return ""


def _dsn_report(blocks: list[dict[str, str]]) -> BounceReport | None:
    """Per-recipient DSN fields read into one report; the worst action speaks for it."""
    rows = []
    for block in blocks:
        row = (_recipient(block), block.get("action", "").split(" ")[0].lower(), _status(block.get("status", "")))
        if row[0] or (row[1] and "reporting-mta" not in block):
            rows.append(row)
    if not rows:
        return None
    _, action, status = min(rows, key=lambda r: {"failed": 0, "delayed": 1}.get(r[1], 2))
    failed = _unique(addr for addr, act, st in rows if addr and not _succeeded(act, st))
    return BounceReport(failed, status, action, None, status.startswith("5") or action == "failed")


def _from_ses(text: str) -> BounceReport | None:
    data = ses_notification(text) or {}
    kind = data.get("notificationType")
    detail = data.get(str(kind).lower())
    mail = data.get("mail")
    if kind not in {"Bounce", "Delivery"} or not isinstance(detail, dict) or not isinstance(mail, dict):
        return None
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    sent_id = str(common.get("messageId") or mail.get("messageId") or "")  # type: ignore[union-attr]
    msgid = _strip_msgid(sent_id) or sent_id or None
    if kind == "Delivery":
        return BounceReport((), _status(str(detail.get("smtpResponse", ""))), "delivered", msgid, False)
    rcpts = [r for r in detail.get("bouncedRecipients") or [] if isinstance(r, dict)]
    action = str(rcpts[0].get("action") or "failed").lower() if rcpts else "failed"
    status = str(rcpts[0].get("status") or "") if rcpts else ""
    permanent = detail.get("bounceType") == "Permanent" or status.startswith("5") or action == "failed"
    return BounceReport(_unique(str(r.get("emailAddress", "")) for r in rcpts), status, action, msgid, permanent)


def _body_recipients(msg: Message, report: str) -> tuple[str, ...]:
    """Recipients named in a report's wording, minus the report's own sender."""

    def parties(*names: str) -> set[str]:
        return {normalise_addr(a).lower() for n in names for a in _ADDR_RE.findall(header(msg, n) or "")}

    found = [next(a for a in m.groups() if a) for m in _INLINE_RCPT.finditer(report)]
    found += _LEADING_RCPT.findall(report) + _TRAILING_RCPT.findall(report)
    found = [a for a in found if normalise_addr(a).lower() not in parties("from", "return-path")]
    addressee = parties("to")  # the original sender, unless the message was sent to itself
    return _unique(a for a in found if normalise_addr(a).lower() not in addressee) or _unique(found)


def _original_recipient(msg: Message, original: str) -> tuple[str, ...]:
    """The sole recipient of the attached or quoted original: a last resort when the report names none."""
    quoted = re.search(r"^[ \t>]*To:[ \t]*(.*)", original, re.M | re.I)
    listed = quoted.group(1) if quoted else ""
    for part in iter_parts(msg):
        inner = part.get_payload() if content_type(part) in _MESSAGE_PARTS else None
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            listed = " ".join(headers(inner[0], "to") + headers(inner[0], "cc"))
    addrs = _unique(_ADDR_RE.findall(listed))
    return addrs if len(addrs) == 1 else ()


def _from_text(msg: Message, text: str) -> BounceReport:
    """A non-standard bounce: X-Failed-Recipients, quoted DSN fields or the usual wording."""
    report, original = split_original(text)
    listed = headers(msg, "x-failed-recipients")
    if listed:
        failed = _unique(_ADDR_RE.findall(", ".join(listed)))
    else:
        quoted = _dsn_report(_field_blocks(report))
        if quoted and quoted.failed_recipients:
            return quoted
        failed = _body_recipients(msg, report)
        quoted = None if failed else _dsn_report(_field_blocks(text))  # a whole report quoted inline
        if quoted and quoted.failed_recipients:
            return quoted
        failed = failed or _original_recipient(msg, original)
    code = _status(report)
    subject = header(msg, "subject") or ""
    delayed = _DELAY_SUBJECT.search(subject) and not re.search(r"returned|fail", subject, re.I)
    action = "delayed" if delayed or _DELAY_BODY.search(report[:3000]) else "failed"
    return BounceReport(failed, code, action, None, code.startswith("5") or action == "failed")


def _attached_headers(part: Message) -> str:
    """The header text of an attached original (message/rfc822 or text/rfc822-headers), else ""."""
    kind = content_type(part)
    if kind in _HEADER_PARTS:
        return part_text(part)
    payload = part.get_payload() if kind in _MESSAGE_PARTS else ""
    inner = payload[0] if isinstance(payload, list) and payload else payload
    if isinstance(inner, Message):
        value = header(inner, "message-id")
        inner = f"Message-ID: {value}" if value else inner.get_payload()  # headers may have slid into the body
    return inner if isinstance(inner, str) else ""


def _original_message_id(msg: Message, text: str) -> str | None:
    """The Message-ID of the message a report is about, from its attachment or quoted text."""
    for part in iter_parts(msg):
        found = _MSGID_RE.search(_attached_headers(part))
        if found:
            return found.group(1)
    own = _strip_msgid(header(msg, "message-id") or "")
    for found in _MSGID_RE.finditer(split_original(text)[1] or text):
        if found.group(1) != own:  # not the report's own id quoted in its text
            return found.group(1)
    return _strip_msgid(header(msg, "in-reply-to") or "")


def parse_bounce(msg: EmailMessage) -> BounceReport | None:
    """What a delivery report says, or None when nothing in it reads as one. Never raises."""
    try:
        return _parse(msg)
    except Exception:  # every access is guarded; this is the last line of defence
        logger.warning("could not read delivery report", exc_info=True)
        return None


def _parse(msg: Message) -> BounceReport | None:
    view = MailView(msg)
    text = view.text
    dsn_parts = [part for part, kind in view.parts if kind in _DSN_PARTS]
    report = _dsn_report([block for part in dsn_parts for block in _field_blocks(_dsn_text(part))])
    report = report or _from_ses(text)
    if report is None:
        report = _from_text(msg, text)
    elif not report.failed_recipients and not _succeeded(report.action, report.status):
        found = _from_text(msg, text).failed_recipients
        report = BounceReport(found, report.status, report.action, report.original_message_id, report.permanent)
    msgid = report.original_message_id or _original_message_id(msg, text)
    if not (report.failed_recipients or report.status or msgid):
        return None
    return BounceReport(report.failed_recipients, report.status, report.action, msgid, report.permanent)
