"""Tests for reply-text extraction: client shapes, edge rules, odd input and large bodies."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from maildesk.intake import reply
from maildesk.intake.reply import extract_new_text

FIXTURES = Path(__file__).parent / "fixtures" / "replies"
CASES = sorted(p.stem for p in FIXTURES.glob("*.txt") if not p.name.endswith(".expected.txt"))


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_fixture(name: str) -> None:
    expected = _read(f"{name}.expected.txt").rstrip("\n")
    assert extract_new_text(_read(f"{name}.txt")) == expected


def test_fixture_directory_has_enough_cases() -> None:
    assert len(CASES) >= 12
    missing = [name for name in CASES if not (FIXTURES / f"{name}.expected.txt").is_file()]
    assert missing == []


EDGE_CASES = [
    ("empty", "", ""),
    ("blank lines only", "\n \n\t\n", ""),
    ("blank lines trimmed, indentation kept", "\n\n  Hello\n\n\n", "  Hello"),
    (
        "crlf line endings",
        "Hi\r\nthere\r\n\r\nOn Mon, Jan 1, 2024 at 10:00 AM A <a@b.co> wrote:\r\n> old\r\n",
        "Hi\nthere",
    ),
    ("bare cr line endings", "Hi\rOn 01/01/2024 10:00, A wrote:\r> old", "Hi"),
    ("taglines only", "Sent from my iPhone\n\nGet Outlook for Android\n", ""),
    ("tagline words inside prose are kept", "I sent from my desk a fax.\n", "I sent from my desk a fax."),
    ("delimiter must be its own line", "Use the -- flag.\n-- \nBob", "Use the -- flag."),
    ("delimiter without its trailing space", "Hi\n--\nBob\nACME", "Hi"),
    (
        "attribution above unquoted text when nothing precedes it",
        "On 8 May 2017 17:34, Andy <a@b.co> wrote:\n\nMy answer, the quote was deleted.",
        "My answer, the quote was deleted.",
    ),
    (
        "attribution above unquoted history after new text",
        "Yes.\n\nOn Mon, Feb 1, 2016 at 4:58 AM, Some One <foo@bar.com> wrote:\n\nOld text.",
        "Yes.",
    ),
    ("undated 'Name wrote:' before a quote", "I agree.\n\nJane wrote:\n> Ship Friday?\n", "I agree."),
    ("undated 'wrote:' before plain text", "The tool wrote:\nERROR 1603", "The tool wrote:\nERROR 1603"),
    (
        "Gmail date-first attribution",
        "Before\n\n2016-03-03 17:21 GMT+01:00 Some One <a@b.co>:\n\n> old",
        "Before",
    ),
    (
        "log lines with dates are text",
        "It fails:\n2024-01-05 10:00:01 ERROR smtp: refused\n2024-01-05 10:00:02 INFO retry",
        "It fails:\n2024-01-05 10:00:01 ERROR smtp: refused\n2024-01-05 10:00:02 INFO retry",
    ),
    (
        "dash-wrapped attribution",
        "Thanks\n\n---- On Tue, 22 Dec 2015 14:17:36 +0530 Sam <s@x.org> wrote ----\n\nold",
        "Thanks",
    ),
    ("marker without headers cuts", "Foo\n\n*-------- Original Message --------*\n\nOld.", "Foo"),
    ("localized marker cuts", "Ok\n-----Mensaje original-----\nViejo", "Ok"),
    ("marker at the top is dropped", "---------- Forwarded message ---------\nHello", "Hello"),
    ("a lone From: line is text", "From: the dashboard, click Export.\nThen Save.", None),
    ("markdown table is text", "| a | b |\n|---|---|\n| 1 | 2 |", None),
    ("trailing rules and invisible marks", "Done.\n\n______\n\u200b\n", "Done."),
    ("quoted lines between text collapse", "A\n\n> q\n\nB\n\n> q2\n", "A\n\nB"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES]
)
def test_edge_case(text: str, expected: str | None) -> None:
    assert extract_new_text(text) == (text if expected is None else expected)


ODD_INPUTS = [
    "\x00\x01\x02",
    ":",
    "-",
    ">",
    "On",
    "wrote:",
    "From:",
    "\ufeff",
    "\ud800 lone surrogate",
    "On 2024\n" * 3 + "wrote:",
    "2024-01-01 <\n@\n>:",
    "From: a\nSent: b\nTo: c\nSubject: d",
    "-----Original Message-----",
    "x\n" + "\n" * 50 + "Bob wrote:",
]


@pytest.mark.parametrize("text", ODD_INPUTS, ids=range(len(ODD_INPUTS)))
def test_odd_input_is_handled_without_fallback(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="maildesk.intake"):
        got = extract_new_text(text)
    assert caplog.records == []
    lines = set(text.replace("\r", "\n").split("\n"))
    assert all(line in lines for line in got.split("\n") if line.strip())


@pytest.mark.parametrize(("value", "expected"), [(None, ""), (42, ""), (b"Hi\n> old", "Hi")])
def test_non_text_input(value: object, expected: str) -> None:
    assert extract_new_text(value) == expected  # type: ignore[arg-type]


def test_internal_error_keeps_the_whole_body(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(lines: list[str]) -> list[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(reply, "_scan", broken)
    with caplog.at_level(logging.ERROR, logger="maildesk.intake"):
        assert extract_new_text("  Hello\n> old\n") == "Hello\n> old"
    assert "reply extraction failed" in caplog.text


def _lines(line: str, count: int) -> str:
    return (line + "\n") * count


# Each shape is built to hit one rule on every line; they pass quickly only
# because every rule looks at a bounded stretch of text around one line.
LARGE = [
    ("5 MB single line", "x" * 5_000_000, "x" * 5_000_000),
    ("5 MB of spaces then a quote mark", " " * 5_000_000 + ">", ""),
    ("5 MB of address-like text", "a@" * 2_500_000, "a@" * 2_500_000),
    ("5 MB of long lines ending in a colon", _lines("x" * 299 + ":", 16_000), None),
    ("100k short lines", _lines("line", 100_000), None),
    ("100k quoted lines", _lines("> quoted", 100_000), ""),
    ("100k near-attributions", _lines("On 1 Jan 2024, X <a@b.co> wrote", 100_000), None),
    ("100k header-like lines", _lines("From: a\nTo: b", 50_000), None),
    ("100k lines with a stray @", _lines("a" * 250 + " @", 20_000), None),
    ("100k taglines", _lines("Sent from my iPhone", 100_000), ""),
    ("100k wrapped-attribution starts", _lines("On 2024-01-01 " + "y" * 200, 25_000), None),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in LARGE], ids=[c[0] for c in LARGE]
)
def test_large_input(text: str, expected: str | None) -> None:
    assert extract_new_text(text) == (text.rstrip() if expected is None else expected)
