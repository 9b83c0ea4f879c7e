"""Thread a real mailing-list month through the intake pipeline and score it against notmuch's threads.

usage: python bench/score_threads.py [--corpus DIR] [--out got.json]

Each mbox message goes through the full pipeline (in a throwaway data dir) in mbox order; the
resulting {message-id: ticket} map is written to --out and scored with the corpus's own
``score_threads.py`` when it is present.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CORPUS = ROOT.parent / "shared" / "corpus" / "threads"


def thread_mbox(mbox_path: Path, workdir: Path) -> dict[str, int]:
    from desktools import harness

    h = harness(workdir)
    got: dict[str, int] = {}
    for i, msg in enumerate(mailbox.mbox(str(mbox_path), create=False)):
        data = msg.as_bytes()
        out = h.take(data, mailbox="mbox", ref=str(i))
        message_id = (msg.get("Message-ID") or "").strip().strip("<>")
        ticket = out.ticket_id
        if ticket is None and out.message_pk is not None:  # a duplicate: the stored copy's ticket
            row = h.store.db.execute("SELECT ticket_id FROM messages WHERE id = ?", [out.message_pk]).fetchone()
            ticket = row[0] if row else None
        if message_id and ticket is not None:
            got[message_id] = ticket
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "threads-got.json")
    args = ap.parse_args()
    month = args.corpus / "fedora-devel-2010-01"
    with tempfile.TemporaryDirectory() as tmp:
        got = thread_mbox(month / "2010-January.mbox", Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(got, indent=1))
    print(f"{len(got)} messages in {len(set(got.values()))} tickets -> {args.out}")
    scorer = args.corpus / "score_threads.py"
    if scorer.exists():
        subprocess.run([sys.executable, str(scorer), str(month / "expected_threads_notmuch.json"), str(args.out)],
                       check=False)


if __name__ == "__main__":
    main()
