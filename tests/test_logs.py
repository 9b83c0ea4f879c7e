"""Structured logging: JSON and text formatters keep one record on one line; configure is idempotent."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from maildesk.logs import JsonFormatter, TextFormatter, configure

DECISION = {"mailbox": "support", "uid": 4711, "message_id": "<a1@example.test>", "ticket": 12, "thread": "refs",
            "rule": "vip", "outcome": "stored"}
INJECTION = "Subject: hi\r\nBcc: victim@example.test\r\n\r\nbody"


def record(msg: str = "decision", *args: object, md: object = None, exc: bool = False,
           level: int = logging.INFO) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("maildesk.intake", level, __file__, 1, msg, args or None, exc_info)
    if md is not None:
        rec.md = md
    return rec


def as_json(rec: logging.LogRecord) -> dict:
    line = JsonFormatter().format(rec)
    assert len(line.splitlines()) == 1 and "\n" not in line and "\r" not in line
    return json.loads(line)


def test_json_has_the_core_keys_and_the_fields_at_the_top_level():
    out = as_json(record("took %s", "mail", md=DECISION))
    assert {k: out[k] for k in ("level", "logger", "msg")} == {"level": "INFO", "logger": "maildesk.intake",
                                                                "msg": "took mail"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["ts"])
    assert {k: out[k] for k in DECISION} == DECISION
    assert "exc" not in out


@pytest.mark.parametrize("value, expected", [
    (None, None),
    (True, True),
    (3.5, 3.5),
    (float("nan"), "nan"),
    (Decimal("1.10"), "1.10"),
    (Path("/var/mail"), "/var/mail"),
    (datetime(2026, 11, 2, 10, 0), "2026-11-02 10:00:00"),
    (b"\x00raw", "b'\\x00raw'"),
    ({"to": ["a@example.test"], 1: {2}}, {"to": ["a@example.test"], "1": [2]}),
    (("x", object), ["x", "<class 'object'>"]),
])
def test_json_turns_what_it_cannot_hold_into_strings(value, expected):
    assert as_json(record(md={"value": value}))["value"] == expected


@pytest.mark.parametrize("text", [
    INJECTION,
    "line\nbreak",
    "carriage\rreturn",
    "separators \u2028 \u2029 \x85 \x0b \x0c \x1c",
    "quote \" and backslash \\",
])
def test_json_keeps_one_record_on_one_line_and_round_trips(text):
    rec = record(text, md={"subject": text})
    line = JsonFormatter().format(rec)
    assert len(line.splitlines()) == 1
    out = json.loads(line)
    assert out["msg"] == text and out["subject"] == text


def test_json_carries_the_traceback_and_keeps_core_keys():
    out = as_json(record(exc=True, md={"msg": "spoofed", "level": "DEBUG", "exc": "no"}))
    assert out["msg"] == "decision" and out["level"] == "INFO"
    assert out["md_msg"] == "spoofed" and out["md_level"] == "DEBUG" and out["md_exc"] == "no"
    assert "Traceback" in out["exc"] and "ValueError: boom\nsecond line" in out["exc"]


def test_a_field_value_that_is_not_a_mapping_is_kept_under_md():
    assert as_json(record(md="loose"))["md"] == "loose"


def text(rec: logging.LogRecord) -> str:
    return TextFormatter().format(rec)


@pytest.mark.parametrize("md, tail", [
    (DECISION, " mailbox=support uid=4711 message_id=<a1@example.test> ticket=12 thread=refs rule=vip outcome=stored"),
    ({"subject": "two words"}, ' subject="two words"'),
    ({"subject": 'say "hi"'}, ' subject="say \\"hi\\""'),
    ({"subject": INJECTION}, ' subject="Subject: hi\\r\\nBcc: victim@example.test\\r\\n\\r\\nbody"'),
    ({"path": "C:\\x"}, ' path="C:\\\\x"'),
    ({"rule": "a=b"}, ' rule="a=b"'),
    ({"empty": ""}, ' empty=""'),
    ({"ticket": None, "ok": False}, " ticket=- ok=false"),
    ({"tags": ["a", "b"]}, ' tags="[\\"a\\", \\"b\\"]"'),
    ({"odd key": 1}, " odd_key=1"),
    ({"sep": "a\u2028b"}, ' sep="a\\u2028b"'),
    ({}, ""),
])
def test_text_appends_the_fields_as_key_value(md, tail):
    line = text(record("decision", md=md))
    assert len(line.splitlines()) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO maildesk\.intake: decision" + re.escape(tail),
                        line), line


def test_text_keeps_the_message_on_one_line():
    line = text(record("from %s", INJECTION, md={"uid": 1}))
    assert len(line.splitlines()) == 1
    assert line.endswith(": from Subject: hi\\r\\nBcc: victim@example.test\\r\\n\\r\\nbody uid=1")


def test_text_does_not_leave_the_escaped_message_on_the_record():
    rec = record("a\nb")
    text(rec)
    assert rec.message == "a\nb"


def test_text_puts_the_traceback_after_the_line():
    first, *rest = text(record(exc=True, md={"uid": 1})).splitlines()
    assert first.endswith("decision uid=1") and rest[0].startswith("Traceback")


@pytest.fixture
def maildesk_logger():
    logger = logging.getLogger("maildesk")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_configure_installs_one_handler_however_often_it_is_called(maildesk_logger):
    first, second = io.StringIO(), io.StringIO()
    configure(fmt="text", stream=first)
    configure(fmt="json", level=logging.DEBUG, stream=second)
    assert len(maildesk_logger.handlers) == 1 and maildesk_logger.level == logging.DEBUG
    logging.getLogger("maildesk.intake").debug("decision", extra={"md": DECISION})
    assert first.getvalue() == ""
    out = json.loads(second.getvalue())
    assert out["msg"] == "decision" and out["uid"] == 4711


def test_configure_filters_by_level_and_defaults_to_the_current_stderr(maildesk_logger, capsys):
    configure(level=logging.WARNING)
    logging.getLogger("maildesk.daemon").info("quiet")
    logging.getLogger("maildesk.daemon").warning("mailbox down", extra={"md": {"mailbox": "support"}})
    err = capsys.readouterr().err
    assert "quiet" not in err and "WARNING maildesk.daemon: mailbox down mailbox=support" in err


def test_configure_keeps_handlers_it_did_not_install(maildesk_logger):
    other = logging.NullHandler()
    maildesk_logger.addHandler(other)
    configure(stream=io.StringIO())
    configure(stream=io.StringIO())
    assert maildesk_logger.handlers.count(other) == 1 and len(maildesk_logger.handlers) == 2


def test_configure_refuses_an_unknown_format(maildesk_logger):
    with pytest.raises(ValueError, match="text, json"):
        configure(fmt="xml")
