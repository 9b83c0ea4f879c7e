"""Limits: hostile sizes, header floods and MIME bombs are refused before they cost anything."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.errors import Quarantine
from maildesk.intake.limits import Limits, check_raw, check_tree, count_header_lines
from maildesk.intake.parse import parse_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "mime"


def deep_multipart(depth: int, content_type: bytes = b"multipart/mixed") -> bytes:
    levels = (b"Content-Type: %s; boundary=b%d\n\n--b%d\n" % (content_type, i, i) for i in range(depth))
    return b"".join(levels) + b"\ninnermost\n"


def deep_rfc822(depth: int) -> bytes:
    return b"Content-Type: message/rfc822\n\n" * depth + b"Subject: innermost\n\nx\n"


def header_flood(lines: int, line_end: bytes = b"\n") -> bytes:
    return b"".join(b"X-Header-%d: value" % i + line_end for i in range(lines)) + line_end + b"body\n"


def flat_parts(count: int, part_header: bytes = b"Content-Type: text/plain\n") -> bytes:
    parts = b"".join(b"--x\n" + part_header + b"\npart %d\n" % i for i in range(count))
    return b"From: a@example.test\nContent-Type: multipart/mixed; boundary=x\n\n" + parts + b"--x--\n"


def gate(data: bytes, limits: Limits | None = None) -> EmailMessage:
    """What intake does with raw bytes before reading them."""
    limits = limits or Limits()
    check_raw(data, limits)
    msg = parse_bytes(data)
    check_tree(msg, limits)
    return msg


HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("100k-deep multipart", lambda: deep_multipart(100_000), "max_parts=500"),
    ("100k-deep message/rfc822", lambda: deep_rfc822(100_000), "max_parts=500"),
    ("100k-deep multipart, type in an encoded word",
     lambda: deep_multipart(100_000, b"multi=?us-ascii?q?part?=/mixed"), "max_parts=500"),
    ("5,000 header lines", lambda: header_flood(5000), "5000 lines, over max_header_lines=1000"),
    ("5,000 header lines ended by bare CR", lambda: header_flood(5000, b"\r"), "over max_header_lines=1000"),
    ("50 MB message", lambda: b"Subject: big\n\n" + b"x" * (50 * 1024 * 1024), "over max_message_bytes=26214400"),
    ("600 parts", lambda: flat_parts(600), "max_parts=500"),
    ("comments in Content-Type", lambda: b"Content-Type: text/plain; " + b"(c)" * 40 + b"\n\nx", "40 comments"),
    ("nested comments in Content-Type", lambda: b"Content-Type: text/plain; " + b"(" * 5000 + b"\n\nx", "comments"),
    ("huge Content-Type field", lambda: b"Content-Type: text/plain" + b"; a=b" * 20000 + b"\n\nx", "65536 bytes"),
]


@pytest.mark.parametrize(("make", "reason"), [(m, r) for _, m, r in HOSTILE], ids=[n for n, _, _ in HOSTILE])
def test_check_raw_refuses_hostile_mail_with_a_reason(make: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(Quarantine) as caught:
        check_raw(make(), Limits())
    assert caught.value.kind == "limit"
    assert reason in caught.value.reason


@pytest.mark.parametrize("make", [lambda: deep_multipart(100_000), lambda: deep_rfc822(100_000)],
                         ids=["multipart", "message/rfc822"])
def test_the_parser_backstop_turns_deep_nesting_into_a_quarantine(make: Callable[[], bytes]) -> None:
    """Even without check_raw in front, no RecursionError escapes."""
    with pytest.raises(Quarantine) as caught:
        parse_bytes(make())
    assert caught.value.kind == "error"


WITHIN_RAW_LIMITS: list[tuple[str, bytes, str]] = [
    ("600 parts without Content-Type", flat_parts(600, part_header=b""), "601 MIME parts, over max_parts=500"),
    ("25-deep multipart", deep_multipart(25), "depth is 26, over max_mime_depth=20"),
    ("25-deep message/rfc822", deep_rfc822(25), "depth is 26, over max_mime_depth=20"),
]


@pytest.mark.parametrize(("data", "reason"), [(d, r) for _, d, r in WITHIN_RAW_LIMITS],
                         ids=[n for n, _, _ in WITHIN_RAW_LIMITS])
def test_check_tree_counts_exactly(data: bytes, reason: str) -> None:
    check_raw(data, Limits())  # the cheap bound lets these through ...
    with pytest.raises(Quarantine) as caught:
        check_tree(parse_bytes(data), Limits())  # ... the exact count does not
    assert caught.value.kind == "limit"
    assert reason in caught.value.reason


AT_THE_LIMIT: list[tuple[str, bytes]] = [
    ("500 parts", flat_parts(499)),
    ("depth 20 multipart", deep_multipart(19)),
    ("depth 20 message/rfc822", deep_rfc822(19)),
    ("1,000 header lines", header_flood(1000)),
    ("exactly the size limit", b"Subject: x\n\n" + b"y" * (1024 - 12)),
]


@pytest.mark.parametrize("data", [d for _, d in AT_THE_LIMIT], ids=[n for n, _ in AT_THE_LIMIT])
def test_mail_at_the_limits_passes(data: bytes) -> None:
    limits = Limits(max_message_bytes=1024) if len(data) == 1024 else Limits()
    gate(data, limits)


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.eml")))
def test_real_world_fixtures_pass(fixture: str) -> None:
    gate((FIXTURES / fixture).read_bytes())


def test_one_over_each_limit_fails() -> None:
    for data, limits in [
        (flat_parts(500), Limits()),
        (deep_multipart(20), Limits()),
        (header_flood(1001), Limits()),
        (b"Subject: x\n\n" + b"y" * 1013, Limits(max_message_bytes=1024)),
    ]:
        with pytest.raises(Quarantine):
            gate(data, limits)


def test_limits_are_configurable() -> None:
    strict = Limits(max_parts=3, max_mime_depth=2)
    with pytest.raises(Quarantine, match="max_parts=3"):
        gate(flat_parts(3), strict)
    with pytest.raises(Quarantine, match="max_mime_depth=2"):
        gate(deep_rfc822(2), strict)


HEADER_LINES = [
    (b"A: 1\nB: 2\n\nbody", 2),
    (b"A: 1\n  folded\nB: 2\n\nbody", 3),
    (b"A: 1\r\nB: 2\r\n\r\nbody\r\nC: 3\r\n", 2),
    (b"A: 1\rB: 2\r\rbody", 2),  # the stdlib parser ends lines at a bare CR too
    (b"A: 1\nnot a header line\nB: 2\n", 1),  # where the parser's header block ends
    (b"From sender@example.test Mon Mar 10 10:00:00 2025\nA: 1\n\n", 2),
    (b"A: 1", 1),
    (b"\nA: 1\n", 0),
    (b"", 0),
]


@pytest.mark.parametrize(("data", "expected"), HEADER_LINES)
def test_count_header_lines(data: bytes, expected: int) -> None:
    assert count_header_lines(data, 1000) == expected


def test_count_header_lines_counts_past_the_limit_to_report_it() -> None:
    assert count_header_lines(header_flood(5000), 1000) == 5000
