"""Run the intake parse path over the odd-MIME corpus and count parsed, quarantined and crashed messages."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maildesk.errors import Quarantine
from maildesk.intake.html import html_to_text
from maildesk.intake.limits import Limits, check_raw, check_tree
from maildesk.intake.parse import parse_bytes, read_message
from maildesk.intake.sniff import not_mail

DEFAULT_CORPUS = Path("/work/shared/corpus/mime-odd")
NOT_MAIL = ("source", "license", "licence", "readme", "copying", "notice")
SLOW_SECONDS = 1.0


@dataclass
class Score:
    """What happened to each message of the corpus."""

    parsed: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    crashed: list[tuple[Path, str]] = field(default_factory=list)
    defective: int = 0
    slow: list[tuple[Path, float]] = field(default_factory=list)


def is_mail(path: Path) -> bool:
    """Corpus files that hold a message, not provenance or license text."""
    return path.is_file() and not path.name.lower().startswith(NOT_MAIL)


def score_one(path: Path, limits: Limits, score: Score) -> None:
    started = time.perf_counter()
    try:
        data = path.read_bytes()
        if why := not_mail(data):
            raise Quarantine(f"not an email: {why}", kind="not-mail")
        check_raw(data, limits)
        msg = parse_bytes(data)
        check_tree(msg, limits)
        parsed = read_message(msg)
    except Quarantine as q:
        score.quarantined[f"{q.kind}: {q.reason}"] += 1
    except Exception as exc:  # the one outcome that must never happen
        score.crashed.append((path, f"{type(exc).__name__}: {exc}"))
    else:
        score.parsed += 1
        score.defective += bool(parsed.defects)
    elapsed = time.perf_counter() - started
    if elapsed > SLOW_SECONDS:
        score.slow.append((path, elapsed))


def report(score: Score, total: int) -> None:
    print(f"messages:    {total}")
    print(f"parsed OK:   {score.parsed} ({score.defective} with defects)")
    print(f"quarantined: {sum(score.quarantined.values())}")
    for reason, count in score.quarantined.most_common():
        print(f"  {count:4d}  {reason}")
    print(f"crashed:     {len(score.crashed)}")
    for path, error in score.crashed:
        print(f"  {path}: {error}")
    for path, seconds in score.slow:
        print(f"slow: {path} took {seconds:.2f}s")


def hostile_inputs() -> list[tuple[str, bytes]]:
    """Generated attacks on the parse path, each within or just over the default limits."""
    def parts(count: int, content_type: bytes) -> bytes:
        body = b"".join(b"--x\nContent-Type: " + content_type + b"\n\nhi\n" for _ in range(count))
        return b"From: a@example.test\nContent-Type: multipart/mixed; boundary=x\n\n" + body + b"--x--\n"

    deep = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(100_000))
    html = b"From: a@example.test\nContent-Type: text/html\n\n"
    return [
        ("100k-deep multipart", deep + b"x\n"),
        ("100k-deep message/rfc822", b"Content-Type: message/rfc822\n\n" * 100_000),
        ("5,000 header lines", b"".join(b"X-H%d: v\n" % i for i in range(5000)) + b"\nbody\n"),
        ("50 MB", b"Subject: big\n\n" + b"x" * (50 * 1024 * 1024)),
        ("600 parts", parts(600, b"text/plain")),
        ("Content-Type params, 64 KB in one field", parts(1, b"text/plain" + b"; a=b" * 13_000)),
        ("3,000 addresses in To", b"To: " + b", ".join(b"u%d@example.test" % i for i in range(3_000)) + b"\n\nx"),
        ("20 MB of dense HTML", html + b"<div><a href='http://x.test'>y</a><br></div>" * 500_000),
        ("unfinished tags, 4 MB", html + b"<a b='" * 700_000),
        ("unfinished comments, 4 MB", html + b"x<!--" * 800_000),
    ]


def time_hostile() -> None:
    """Time each generated attack through the whole parse path; every one must end quickly."""
    for name, data in hostile_inputs():
        started = time.perf_counter()
        try:
            check_raw(data, Limits())
            msg = parse_bytes(data)
            check_tree(msg, Limits())
            read_message(msg)
            outcome = "parsed"
        except Quarantine as q:
            outcome = f"quarantined ({q.kind}: {q.reason})"
        print(f"{time.perf_counter() - started:7.2f}s  {name}: {outcome}")
    started = time.perf_counter()
    html_to_text("<a b='" * 1_000_000)
    print(f"{time.perf_counter() - started:7.2f}s  html_to_text on 6 MB of unfinished tags")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--hostile", action="store_true", help="also time generated attacks")
    args = parser.parse_args(argv)
    if args.hostile:
        time_hostile()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    paths = sorted(p for p in args.corpus.rglob("*") if is_mail(p))
    score, limits = Score(), Limits()
    for path in paths:
        score_one(path, limits, score)
    report(score, len(paths))
    return 1 if score.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
