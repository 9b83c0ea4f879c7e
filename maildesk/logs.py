"""Structured logging: one line per record, as JSON or as text with key=value fields.

Fields travel in one mapping under the ``md`` attribute of a record::

    log.info("decision", extra={"md": {"mailbox": "support", "uid": 42, "outcome": "stored"}})

The JSON formatter merges them into the top-level object (a field named like a core key,
``ts``, ``level``, ``logger``, ``msg``, ``exc`` or ``stack``, gets an ``md_`` prefix);
the text formatter appends them as ``key=value`` pairs.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

EXTRA = "md"  # the ``extra`` key holding a record's fields
ROOT = "maildesk"  # the logger ``configure`` sets up; every module logs below it
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CORE = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})
_MARK = "_maildesk_handler"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# JSON leaves these raw inside strings, yet some readers split lines at them.
_JSON_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's ``md`` fields (a value that is not a mapping becomes the single field ``md``)."""
    extra = getattr(record, EXTRA, None)
    if extra is None:
        return {}
    if isinstance(extra, Mapping):
        return {str(k): v for k, v in extra.items()}
    return {EXTRA: extra}


def _plain(value: Any) -> Any:
    """Something ``json.dumps`` takes as is: strings for what JSON cannot hold."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def _char(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: str) -> str:
    """``text`` with line breaks, tabs and other unprintable characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _ESCAPES.get(c) or _char(c) for c in text)


def _text_value(value: Any) -> str:
    """A field value for ``key=value``: bare when plain, else double-quoted with escapes."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        value = json.dumps(_plain(value), ensure_ascii=False)
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "\\='):
        return text
    return '"' + "".join(_ESCAPES.get(c) or (c if c.isprintable() else _char(c)) for c in text) + '"'


def _text_key(key: str) -> str:
    return "".join(c if c.isprintable() and c not in ' "\\=' else "_" for c in key) or "_"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the ``md`` fields, and exc when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": self.timestamp(record), "level": record.levelname, "logger": record.name,
                               "msg": record.getMessage()}
        for key, value in fields(record).items():
            out[f"md_{key}" if key in _CORE else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(_plain(out), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        for char, escaped in _JSON_BREAKS.items():
            line = line.replace(char, escaped)
        return line

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        """ISO 8601 in UTC with milliseconds, like 2026-11-02T10:00:00.123Z."""
        moment = datetime.fromtimestamp(record.created, tz=timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """The human format, the message kept on one line and the ``md`` fields appended as key=value."""

    def __init__(self, fmt: str | None = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (the logging API's name)
        message = record.message
        record.message = one_line(message)
        try:
            line = super().formatMessage(record)
        finally:
            record.message = message
        pairs = " ".join(f"{_text_key(k)}={_text_value(v)}" for k, v in fields(record).items())
        return f"{line} {pairs}" if pairs else line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (tests and the CLI runner swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(*, fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Give the ``maildesk`` logger one handler in ``fmt`` ("text" or "json") at ``level``.

    Calling it again replaces that handler rather than adding one. ``stream`` None: standard error.
    Records still propagate, so handlers on the root logger (pytest's, for one) see them too.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler = _Stderr() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level)
