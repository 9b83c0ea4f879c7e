"""Attachment cost: the same messages taken in with and without files, and what agents' notices then weigh.

usage: python bench/attach_cost.py [-n 2000] [--repeat 2] [--dir bench/out/attach]

Generates N messages twice from one seed: once as text (plain or multipart/alternative), once
the same texts with files (every new ticket and one reply in three carry a 40-120 KB PDF, half
of those also an inline PNG in multipart/related). Each is taken in by ``maildesk run --once`` in
a fresh desk with two L1 agents and notices on, in three setups, alternating, ``--repeat`` times:

- ``text``: the messages without files;
- ``files``: the messages with files, ``[notify] attach_max_bytes`` at its default (10 MB), so
  every alert carries the ticket's files;
- ``listed``: the messages with files, ``attach_max_bytes = 0``: alerts only list them.

For each it prints wall seconds, messages per second, the daemon's peak RSS, the database and
the stored attachments' sizes, and the outbox (notices written, MB in all, and the L1 agents' alerts among them).
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402
from bench.ingest import _headers, _text, timed  # noqa: E402

SETUPS = ("text", "files", "listed")
TIERS = ('\n[[tier]]\nname = "L1"\nagents = ["alice@example.test", "bob@example.test"]\n'
         '[[tier]]\nname = "L2"\nagents = ["carol@example.test"]\n')


def _part(ctype: str, payload: str, extra: str = "") -> str:
    return f"Content-Type: {ctype}\r\n{extra}\r\n{payload}\r\n"


def _multipart(kind: str, boundary: str, parts: list[str]) -> str:
    body = "".join(f"--{boundary}\r\n{part}" for part in parts)
    return f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\n{body}--{boundary}--\r\n'


def make(i: int, rng: random.Random, parent: str | None, sender: str, *, files: bool) -> bytes:
    """Message ``i``; with ``files`` the same text with a PDF (and sometimes an inline PNG)."""
    body = _text(rng, rng.randint(5, 40))
    if parent:
        body += "\n\nOn Mon, 2 Nov 2026 at 09:00, Support wrote:\n" + "\n".join(
            "> " + line for line in _text(rng, 15).splitlines())
    alternative = rng.random() < 0.3
    carries = parent is None or rng.random() < 1 / 3
    pdf = base64.encodebytes(b"%PDF-1.4\n" + rng.randbytes(rng.randint(40_000, 120_000))).decode()
    png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(5_000, 30_000))).decode()
    inline = rng.random() < 0.5
    head = _headers(i, rng, parent, sender)
    plain = _part("text/plain; charset=utf-8", body)
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.splitlines())
    if files and carries and inline:
        html += f'<p><img src="cid:shot{i}@customer.example"></p>'
    html_part = _part("text/html; charset=utf-8", html + "</body></html>")
    if not (files and carries):
        text = _multipart("alternative", f"a{i}", [plain, html_part]) if alternative else plain
        return (head + text).replace("\r\n", "\n").replace("\n", "\r\n").encode()
    shown = html_part
    if inline:
        image = _part("image/png", png, "Content-Transfer-Encoding: base64\r\n"
                      f"Content-ID: <shot{i}@customer.example>\r\nContent-Disposition: inline; filename=shot.png\r\n")
        shown = _multipart("related", f"r{i}", [html_part, image])
    text = _multipart("alternative", f"a{i}", [plain, shown]) if alternative or inline else plain
    attached = _part("application/pdf; name=report.pdf", pdf,
                     "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=report.pdf\r\n")
    out = head + _multipart("mixed", f"m{i}", [text, attached])
    return out.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def generate(n: int, maildir: Path, *, files: bool, seed: int = 11) -> int:
    """Write the N messages into ``maildir``; the same seed gives the same texts with or without
    files (each message draws from its own generator, seeded from the shared one)."""
    return ingest.generate(n, maildir, seed, lambda i, rng, parent, sender: make(
        i, random.Random(rng.random()), parent, sender, files=files))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _to_agent(path: Path) -> bool:
    head = path.read_bytes()[:8192].split(b"\r\n\r\n", 1)[0].lower()
    return any(b"\nto: " in head and name in head for name in (b"alice@", b"bob@"))


def run(setup: str, n: int, site: Path) -> str:
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "maildesk", "init", str(site)], check=True, stdout=subprocess.DEVNULL)
    config = site / "maildesk.toml"
    extra = TIERS + ("\n[notify]\nattach_max_bytes = 0\n" if setup == "listed" else "")
    config.write_text(config.read_text() + extra)
    size = generate(n, site / "var" / "inbox", files=setup != "text")
    wall, rss = timed([sys.executable, "-m", "maildesk", "--config", str(config), "run", "--once"], site,
                      log=site / "run.log")
    outbox = site / "var" / "outbox"
    notices = [p for p in outbox.rglob("*") if p.is_file()]
    alerts = [p for p in notices if _to_agent(p)]
    row = (f"| {setup} | {size / 1e6:.0f} MB | {wall:.1f} s | {n / wall:.0f} msg/s | {rss / 1024:.0f} MiB "
           f"| {(site / 'var' / 'maildesk.db').stat().st_size / 1e6:.0f} MB | {_size(site / 'var' / 'attachments') / 1e6:.0f} MB "
           f"| {len(notices)} | {sum(p.stat().st_size for p in notices) / 1e6:.1f} MB "
           f"| {len(alerts)}: {sum(p.stat().st_size for p in alerts) / 1e6:.1f} MB |")
    shutil.rmtree(site, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="messages (default 2000)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of the three setups (default 2)")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench" / "out" / "attach")
    args = ap.parse_args()
    print("| setup | mailbox | wall | rate | peak RSS | database | attachments | notices | outbox | alerts |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for _ in range(args.repeat):
        for setup in SETUPS:
            print(run(setup, args.n, args.dir), flush=True)


if __name__ == "__main__":
    main()
