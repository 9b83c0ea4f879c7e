"""Intake benchmark: parse-only throughput versus ``maildesk run --once`` over the same Maildir.

usage: python bench/ingest.py [-n 10000] [--dir bench/out/ingest] [--keep] [--workers N] [--no-notices]
                             [--rules 200] [--sla]
       python bench/ingest.py --evaluate-only [-n 2000] [--rules 200] [--backtracking] [--hostile] [--repeat 5]

Generates N messages (about 40% new tickets, 60% replies from their requesters with quoted history; plain,
multipart/alternative and attachment-bearing shapes) into a fresh Maildir, then times, each in
its own process so peak RSS is its own: (a) reading every file and parsing it with
``email.message_from_bytes(policy=default)``; (b) ``maildesk run --once``. Prints messages per
second for both, the ratio, and each process's peak RSS.

``--evaluate-only`` times just the rules, in this process: the new-ticket messages among N are
parsed once, then ``evaluate`` (as ``Triage`` calls it) runs over all of them ``--repeat`` times;
it prints microseconds per message (best and median run). ``--backtracking`` ends each pattern
with a look-ahead, ``(?!\\x00)``, that changes no match but that RE2 cannot run, so every
pattern runs on the backtracking engine. ``--hostile`` adds the rule ``body_matches =
'a.*a.*a.*a.*a.*b'`` and makes every body 3 KB of ``a`` (maildesk before RE2 never finished one).
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORDS = ("printer network vpn password reset account billing invoice laptop screen outlook "
         "calendar server error timeout access denied broken slow update install license "
         "the a to and of is it not on with since after before please help thanks").split()


def _text(rng: random.Random, lines: int) -> str:
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) for _ in range(lines))


def sender_for(rng: random.Random) -> str:
    return f"user{rng.randint(1, 5000)}@customer{rng.randint(1, 50)}.example"


def _headers(i: int, rng: random.Random, parent: str | None, sender: str | None = None) -> str:
    """A reply comes from ``sender`` (its ticket's requester); a new message from someone new."""
    sender = sender or sender_for(rng)
    subject = ("Re: " if parent else "") + " ".join(rng.choice(WORDS) for _ in range(5))
    head = (f"From: User {i} <{sender}>\r\nTo: support@example.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 02 Nov 2026 09:{i % 60:02d}:00 +0000\r\nMessage-ID: <bench{i}@customer.example>\r\n"
            "MIME-Version: 1.0\r\n")
    if parent:
        head += f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n"
    return head


def make(i: int, rng: random.Random, parent: str | None, sender: str | None = None) -> bytes:
    body = _text(rng, rng.randint(5, 40))
    if parent:
        body += "\n\nOn Mon, 2 Nov 2026 at 09:00, Support wrote:\n" + "\n".join(
            "> " + line for line in _text(rng, 15).splitlines())
    shape = rng.random()
    head = _headers(i, rng, parent, sender)
    if shape < 0.70:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")).encode()
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.splitlines()) + "</body></html>"
    parts = [("text/plain; charset=utf-8", body), ("text/html; charset=utf-8", html)]
    kind = "alternative"
    if shape > 0.95:
        blob = base64.encodebytes(rng.randbytes(rng.randint(20_000, 80_000))).decode()
        parts.append(("application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n"
                      "Content-Disposition: attachment; filename=report.pdf", blob))
        kind = "mixed"
    out = head + f'Content-Type: multipart/{kind}; boundary="b{i}"\r\n\r\n'
    for ctype, payload in parts:
        out += f"--b{i}\r\nContent-Type: {ctype}\r\n\r\n{payload}\r\n"
    return (out + f"--b{i}--\r\n").replace("\r\n", "\n").replace("\n", "\r\n").encode()


def rules_toml(n: int, end: str = "") -> str:
    """``n`` routing rules of the usual kinds; two match often (and continue), the rest rarely or never.
    ``end`` is written at the end of every pattern."""
    kinds = [
        lambda i: f"if.subject_matches = '(?i)\\bproduct-{i}\\b{end}'\nthen.tier = \"L2\"",
        lambda i: f'if.from_domain = ["partner{i}.example", "*.partner{i}.example"]\nthen.priority = "high"',
        lambda i: f"if.body_matches = '(?i)error code E{i:04d}{end}'\nthen.tags = [\"e{i}\"]",
        lambda i: f"if.header.\"List-Id\" = '.*list{i}[.].*{end}'\nthen.action = \"ignore\"",
        lambda i: f'if.to = ["team{i}@example.test"]\nthen.tier = "L2"',
    ]
    out = [f'[[rule]]\nname = "vpn"\nif.subject_matches = \'(?i)\\bvpn\\b{end}\'\nthen.tags = ["vpn"]\ncontinue = true',
           f'[[rule]]\nname = "printers"\nif.body_matches = \'(?i)printer{end}\'\nthen.tags = ["printer"]\n'
           'continue = true']
    out += [f'[[rule]]\nname = "rule {i}"\n{kinds[i % len(kinds)](i)}' for i in range(max(0, n - 2))]
    return '\n[[tier]]\nname = "L1"\n[[tier]]\nname = "L2"\n\n' + "\n\n".join(out[:n]) + "\n"


SLA = '\n[sla.normal]\nfirst_response = "8h"\nnext_update = "2d"\nresolution = "5d"\nbusiness_hours = false\n'

HOSTILE = "\n[[rule]]\nname = \"hostile\"\nif.body_matches = 'a.*a.*a.*a.*a.*b'\nthen.tags = [\"a\"]\n"


def evaluate_only(n: int, rules: int, *, backtracking: bool, hostile: bool, repeat: int) -> None:
    """Time ``evaluate`` alone over the new-ticket messages among ``n``: microseconds per message."""
    from maildesk.config import build
    from maildesk.intake.parse import parse_bytes, read_message
    from maildesk.routing.model import Facts
    from maildesk.routing.rules import evaluate

    text = '[desk]\naddress = "support@example.test"\n' + rules_toml(rules, r"(?!\x00)" if backtracking else "")
    routing = build(tomllib.loads(text + (HOSTILE if hostile else "")), base=ROOT, source=None).routing
    rng = random.Random(7)
    raws = [(_headers(i, rng, None) + "Content-Type: text/plain\r\n\r\n" + "a" * 3000 + "\r\n").encode()
            if hostile else make(i, rng, None) for i in range(n)]
    facts = [Facts(parsed=read_message(parse_bytes(raw)), mailbox="inbox") for raw in raws]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for fact in facts:
            evaluate(routing, fact, explain_all=False)
        runs.append((time.perf_counter() - start) / len(facts) * 1e6)
    print(f"{len(routing.rules)} rules, {len(facts)} messages: {min(runs):.0f} us per message at best, "
          f"median {statistics.median(runs):.0f} us ({repeat} runs)")


def generate(n: int, maildir: Path, seed: int = 7,
             make_one: Callable[[int, random.Random, str | None, str], bytes] | None = None) -> int:
    """Write N messages into ``maildir``: 40% new tickets, 60% replies from their requesters.
    ``make_one(i, rng, parent, sender)`` builds each (default: ``make``)."""
    rng = random.Random(seed)
    make_one = make_one or make
    new = maildir / "new"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    starters: list[tuple[str, str]] = []  # (Message-ID, requester) of each new ticket
    total = 0
    for i in range(n):
        parent, sender = rng.choice(starters) if starters and rng.random() < 0.6 else (None, sender_for(rng))
        data = make_one(i, rng, parent, sender)
        if parent is None:
            starters.append((f"<bench{i}@customer.example>", sender))
        (new / f"{1700000000 + i}.{i}.bench").write_bytes(data)
        total += len(data)
    return total


def parse_only(maildir: Path) -> None:
    import email
    from email import policy

    count = 0
    for entry in os.scandir(maildir / "new"):
        with open(entry.path, "rb") as fh:
            email.message_from_bytes(fh.read(), policy=policy.default)
        count += 1
    print(count)


def timed(cmd: list[str], cwd: Path, log: Path | None = None) -> tuple[float, int]:
    """Run a command (its stderr to ``log``); return wall seconds and its own peak RSS in KiB."""
    start = time.perf_counter()
    err = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if log:
        err.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return elapsed, usage.ru_maxrss


def sending(log: Path) -> tuple[int, float]:
    """From ``run --once``'s log: notices sent, and seconds from the end of intake to the last send."""
    stamps, sent = {}, 0
    for line in log.read_text(errors="replace").splitlines():
        at = line[:23]
        if "message(s) taken in" in line:
            stamps["taken"] = at
        elif "maildesk.daemon: outbox:" in line and " sent" in line:
            stamps["sent"] = at
            sent += sum(int(n) for n, what in re.findall(r"(\d+) (\w+)", line.split("outbox:", 1)[1])
                        if what == "sent")
    if "taken" not in stamps or "sent" not in stamps:
        return 0, 0.0
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f")  # noqa: E731
    return sent, (parse(stamps["sent"]) - parse(stamps["taken"])).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="messages to generate (default 10000)")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench" / "out" / "ingest")
    ap.add_argument("--keep", action="store_true", help="keep the generated directory")
    ap.add_argument("--workers", help='set [intake] workers (default: the config default, "auto")')
    ap.add_argument("--no-notices", action="store_true", help="with [notify] enabled = false: no acknowledgements")
    ap.add_argument("--rules", type=int, default=0, help="routing rules in the config (default 0)")
    ap.add_argument("--sla", action="store_true", help="with an SLA policy for every ticket ([sla.normal], 24x7)")
    ap.add_argument("--parse-only", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--evaluate-only", action="store_true", help="time only the rules, in this process")
    ap.add_argument("--backtracking", action="store_true", help="with --evaluate-only: patterns RE2 cannot run")
    ap.add_argument("--hostile", action="store_true", help="with --evaluate-only: 3 KB of 'a' against a.*a.*a.*a.*a.*b")
    ap.add_argument("--repeat", type=int, default=5, help="with --evaluate-only: runs (default 5)")
    args = ap.parse_args()
    if args.parse_only:
        return parse_only(args.parse_only)
    if args.evaluate_only:
        return evaluate_only(args.n, args.rules, backtracking=args.backtracking, hostile=args.hostile,
                             repeat=args.repeat)
    site = args.dir
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    maildesk = [sys.executable, "-m", "maildesk", "--config", str(site / "maildesk.toml")]
    subprocess.run([sys.executable, "-m", "maildesk", "init", str(site)], check=True, stdout=subprocess.DEVNULL)
    config = site / "maildesk.toml"
    if args.workers is not None:
        config.write_text(config.read_text() + f"\n[intake]\nworkers = {args.workers}\n")
    if args.rules:
        config.write_text(config.read_text() + rules_toml(args.rules))
    if args.sla:
        config.write_text(config.read_text() + SLA)
    if args.no_notices:
        config.write_text(config.read_text() + "\n[notify]\nenabled = false\n")
    size = generate(args.n, site / "var" / "inbox")
    print(f"generated {args.n} messages, {size / 1e6:.1f} MB, in {site / 'var' / 'inbox'}")
    parse_s, parse_rss = timed([sys.executable, __file__, "--parse-only", str(site / "var" / "inbox")], site)
    run_s, run_rss = timed([*maildesk, "run", "--once"], site, log=site / "run.log")
    parse_rate, run_rate = args.n / parse_s, args.n / run_s
    print(f"parse-only : {parse_rate:8.0f} msg/s  ({parse_s:.1f} s)  peak RSS {parse_rss / 1024:.0f} MiB")
    print(f"run --once : {run_rate:8.0f} msg/s  ({run_s:.1f} s)  peak RSS {run_rss / 1024:.0f} MiB")
    print(f"ratio      : {run_rate / parse_rate:.2f} of parse-only throughput")
    sent, sending_s = sending(site / "run.log")
    if sent:
        print(f"of which   : {sending_s:.1f} s sending {sent} notices after the intake "
              f"(intake alone: {args.n / (run_s - sending_s):.0f} msg/s, "
              f"{args.n / (run_s - sending_s) / parse_rate:.2f} of parse-only)")
    db = site / "var" / "maildesk.db"
    print(f"database   : {db.stat().st_size / 1e6:.1f} MB")
    if not args.keep:
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    main()
