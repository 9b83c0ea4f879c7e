"""What the command line prints carries no terminal control codes from mail, in text or in JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from maildesk.cli import cli
from maildesk.cli.output import json_text, terminal_safe

HOSTILE = {
    "osc52 clipboard": ("a\x1b]52;c;Y3VybCBldmlsfHNo\x07b", "a]52;c;Y3VybCBldmlsfHNob"),
    "osc title": ("\x1b]0;owned\x1b\\x", "]0;owned\\x"),
    "osc8 link": ("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "]8;;https://evil.example/\\click]8;;\\"),
    "dcs": ("\x1bP+q544e\x1b\\", "P+q544e\\"),
    "csi": ("\x1b[2J\x1b[31mred", "[2J[31mred"),
    "c1 csi": ("\u009b31mred\u009d0;t\u009c", "31mred0;t"),
    "cr overwrite": ("safe\rEVIL", "safeEVIL"),
    "bell backspace del nul": ("a\x07\x08\x7f\x00b", "ab"),
    "bidi override": ("invoice\u202egnp.exe", "invoicegnp.exe"),
    "kept": ("line one\n\tline two: ünïcödé ✓", "line one\n\tline two: ünïcödé ✓"),
}


@pytest.mark.parametrize("raw,shown", HOSTILE.values(), ids=HOSTILE.keys())
def test_terminal_safe_keeps_only_newline_and_tab_of_the_control_characters(raw, shown):
    assert terminal_safe(raw) == shown


def test_json_text_escapes_control_characters_and_keeps_the_data():
    value = {"subject": "\x1b]0;t\x07 \u009b2J \u202e x\ny"}
    text = json_text(value)
    assert not any(c in text for c in "\x1b\x07\u009b\u202e")
    assert json.loads(text) == value


RAW = (b"From: Mallory <mallory@evil.example>\r\nTo: support@example.test\r\n"
       b"Subject: =?utf-8?q?Help_=1B]0;pwned=07_now?=\r\nMessage-ID: <esc.1@evil.example>\r\n"
       b"Date: Mon, 02 Nov 2026 09:30:00 +0000\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
       b"Hello\x1b]52;c;ZWNobyBwd25lZA==\x07 there\r\n\x1bP$q m\x1b\\\xc2\x9b6n"
       b"\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\\r\nbye\r\n")


def _run(site, *args):
    result = CliRunner().invoke(cli, ["--config", str(site), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_tickets_show_prints_no_escape_sequences_from_mail(tmp_path):
    assert CliRunner().invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    site = tmp_path / "maildesk.toml"
    inbox = tmp_path / "var" / "inbox" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "esc.eml").write_bytes(RAW)
    _run(site, "run", "--once")
    for args in (("tickets", "show", "1"), ("tickets", "list"), ("tickets", "show", "1", "--json"), ("export",)):
        out = _run(site, *args)
        assert not any(c in out for c in "\x1b\x07\x9b\r"), (args, out)
    human = _run(site, "tickets", "show", "1")
    assert "Hello]52;c;ZWNobyBwd25lZA== there" in human and "pwned" in human
    shown = json.loads(_run(site, "tickets", "show", "1", "--json"))
    assert "\x1b]52;c;" in shown["messages"][0]["body_text"]  # the data itself is kept as it came
