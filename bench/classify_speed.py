"""Time classify() on generated everyday mail and print microseconds per message."""

from __future__ import annotations

import argparse
import random
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maildesk.intake.classify import classify

WORDS = ("the", "invoice", "order", "account", "please", "could", "you", "help", "with", "my", "last", "week")
NAMES = ["Una Example", "Jörg Müller", "Zoë Brown", "Li Wei", "Ana García", "Sam O'Neil"]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _body(rng: random.Random) -> str:
    return "\n\n".join(" ".join(_sentence(rng, rng.randint(5, 14)) for _ in range(4)) for _ in range(rng.randint(2, 6)))


def _headers(msg: EmailMessage, rng: random.Random, n: int) -> None:
    for hop in range(rng.randint(2, 5)):
        msg["Received"] = f"from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop}]) by mx.desk.example"
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.net; s=sel; h=from:to:subject; bh=abc=; b=" + "x" * 300
    msg["From"] = f"{rng.choice(NAMES)} <user{n}@example.net>"
    msg["To"] = "Support <support@desk.example.com>"
    msg["Subject"] = f"{'Re: ' if rng.random() < 0.4 else ''}Question about order {n} – {rng.choice(NAMES)}"
    msg["Date"] = "Tue, 04 Mar 2025 10:15:00 +0100"
    msg["Message-ID"] = f"<m{n}.{rng.randint(1, 10**9)}@example.net>"
    if rng.random() < 0.4:
        msg["In-Reply-To"] = f"<ticket-{n}.1@desk.example.com>"
        msg["References"] = f"<ticket-{n}.1@desk.example.com>"
    msg["MIME-Version"] = "1.0"


def make_message(rng: random.Random, n: int) -> bytes:
    """One message: 70% text/plain, 25% multipart/alternative, 5% with a PDF attached."""
    msg = EmailMessage()
    _headers(msg, rng, n)
    text = _body(rng)
    msg.set_content(text)
    roll = rng.random()
    if roll >= 0.70:
        msg.add_alternative(
            "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>", subtype="html"
        )
    if roll >= 0.95:
        pdf = b"%PDF-1.4\n" + bytes(rng.getrandbits(8) for _ in range(30_000))
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"order-{n}.pdf")
    return msg.as_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="report the best of this many passes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    raw = [make_message(rng, n) for n in range(args.count)]
    start = time.perf_counter()
    messages = [message_from_bytes(data, policy=policy.default) for data in raw]
    parse_us = (time.perf_counter() - start) / len(messages) * 1e6
    best = float("inf")
    kinds: dict[str, int] = {}
    for _ in range(args.rounds):
        fresh = [message_from_bytes(data, policy=policy.default) for data in raw]  # no warm caches
        start = time.perf_counter()
        results = [classify(msg, loop_id="desk-bench") for msg in fresh]
        best = min(best, time.perf_counter() - start)
    for result in results:
        kinds[result.kind] = kinds.get(result.kind, 0) + 1
    print(f"messages   {len(messages)}")
    print(f"parse      {parse_us:8.1f} us/message")
    print(f"classify   {best / len(messages) * 1e6:8.1f} us/message (best of {args.rounds})")
    print("kinds      " + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
