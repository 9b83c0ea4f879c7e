"""Thread list mail through the intake pipeline and score the tickets against notmuch's threads.

usage: python bench/score_threads.py [--corpus DIR] [--out got.json] [--sets NAME ...]

Each set's messages go through the full pipeline (in a throwaway data dir) in arrival order; the
same messages are indexed by notmuch, and the grouping into tickets is scored pairwise against
notmuch's threads (precision, recall, F1 over pairs of messages). The sets: the corpus's
mailing-list month (when present) and the generated ones of ``tests/threadmail.py``: Outlook
conversations carrying In-Reply-To only, and git send-email patch series, both with some
replies delivered before their parents.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import mailbox
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CORPUS = ROOT.parent / "shared" / "corpus" / "threads"


def thread_messages(messages: list[bytes], workdir: Path) -> dict[str, int]:
    """Each message through the pipeline in order: {message-id: ticket}."""
    from desktools import harness

    logging.getLogger("maildesk").setLevel(logging.ERROR)
    h = harness(workdir)
    for i, data in enumerate(messages):
        h.take(data, mailbox="mbox", ref=str(i))
    rows = h.store.db.execute("SELECT message_id, ticket_id FROM messages WHERE message_id IS NOT NULL").fetchall()
    got = {str(mid): int(ticket) for mid, ticket in rows}  # where each message is now: threads may have joined
    h.store.close()
    return got


def notmuch_threads(messages: list[bytes], workdir: Path) -> dict[str, str]:
    """The same messages indexed by notmuch: {message-id: notmuch thread}."""
    maildir = workdir / "mail"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i, data in enumerate(messages):
        (maildir / "new" / f"{i:06d}.bench").write_bytes(data)
    config = workdir / "notmuch-config"
    config.write_text(f"[database]\npath={maildir}\n[new]\ntags=\n[maildir]\nsynchronize_flags=false\n")
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}

    def run(*args: str) -> list[str]:
        return subprocess.run(["notmuch", *args], env=env, check=True, capture_output=True, text=True).stdout.split()

    run("new", "--quiet")
    threads: dict[str, str] = {}
    for thread in run("search", "--output=threads", "*"):
        for mid in run("search", "--output=messages", thread):
            threads[mid.removeprefix("id:")] = thread
    return threads


def pair_scores(expected: dict[str, object], got: dict[str, object]) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of ``got``'s grouping against ``expected``'s, on ids in both."""
    ids = sorted(set(expected) & set(got))
    both, exp, mine = Counter(), Counter(), Counter()
    for mid in ids:
        both[(expected[mid], got[mid])] += 1
        exp[expected[mid]] += 1
        mine[got[mid]] += 1

    def pairs(counts: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    tp, e, g = pairs(both), pairs(exp), pairs(mine)
    precision, recall = (tp / g if g else 1.0), (tp / e if e else 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"messages": len(ids), "notmuch_threads": len(exp), "tickets": len(mine),
            "pair_precision": round(precision, 4), "pair_recall": round(recall, 4), "pair_f1": round(f1, 4)}


def mail_sets(corpus: Path, names: list[str] | None) -> dict[str, list[bytes]]:
    from threadmail import SETS

    sets: dict[str, list[bytes]] = {}
    month = corpus / "fedora-devel-2010-01" / "2010-January.mbox"
    if month.exists():
        sets["fedora-devel-2010-01"] = [m.as_bytes() for m in mailbox.mbox(str(month), create=False)]
    for name, make in SETS.items():
        sets[name] = [m.as_bytes() for m in make()]
    return {k: v for k, v in sets.items() if not names or k in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "threads-scores.json")
    ap.add_argument("--sets", nargs="*", help="only these sets (default: all)")
    args = ap.parse_args()
    results = {}
    for name, messages in mail_sets(args.corpus, args.sets).items():
        with tempfile.TemporaryDirectory() as tmp:
            expected = notmuch_threads(messages, Path(tmp) / "notmuch")
            got = thread_messages(messages, Path(tmp) / "desk")
        results[name] = pair_scores(expected, got)
        print(name, json.dumps(results[name]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
