"""Score maildesk's mail classifier against the labelled auto-reply and bounce corpus."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maildesk.intake.classify import classify
from maildesk.models import Classification

DEFAULT_CORPUS = Path("/work/shared/corpus/autoreply-bounce")
AUTOMATIC_LABELS = ("bounce", "feedback-report", "auto-reply")
KIND_FOR_LABEL = {"bounce": "bounce", "feedback-report": "feedback", "auto-reply": "auto-reply"}


@dataclass
class Tally:
    """Counts of hits over totals, with the paths that missed."""

    hits: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, ok: bool, line: str) -> None:
        self.total += 1
        self.hits += ok
        if not ok:
            self.misses.append(line)

    def __str__(self) -> str:
        return f"{self.hits}/{self.total}"


def expected_failures(row: dict[str, str]) -> int | None:
    """How many undelivered recipients the upstream expectation lists, when it lists any."""
    try:
        entries = json.loads(row["expected"]) if row.get("expected") else None
    except ValueError:
        return None
    return None if entries is None else sum(e.get("reason") != "delivered" for e in entries)


def expected_kind(row: dict[str, str]) -> str:
    """The kind a labelled message should get; sisimai files complaints under bounces."""
    try:
        entries = json.loads(row["expected"]) if row.get("expected") else []
    except ValueError:
        entries = []
    if entries and all(e.get("reason") == "feedback" for e in entries):
        return "feedback"
    return KIND_FOR_LABEL[row["label"]]


def recipients_ok(result: Classification, row: dict[str, str]) -> bool:
    """A bounce names as many well-formed failed recipients as expected (none for a success report)."""
    report = result.bounce
    if result.kind != "bounce" or report is None:
        return False
    found = report.failed_recipients
    if not all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", addr) for addr in found):
        return False
    wanted = expected_failures(row)
    return len(found) == wanted if wanted is not None else bool(found)


def describe(path: str, label: str, result: Classification) -> str:
    report = result.bounce
    extra = ""
    if report is not None:
        extra = f" rcpt={list(report.failed_recipients)} status={report.status!r} action={report.action!r}"
        extra += f" msgid={report.original_message_id!r}"
    return f"{path} [{label}] kind={result.kind} reasons={list(result.reasons)}{extra}"


def score(corpus: Path, loop_id: str) -> tuple[dict[str, Tally], Counter[str], list[str]]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    kinds: Counter[str] = Counter()
    errors: list[str] = []
    parser = BytesParser(policy=policy.default)
    with open(corpus / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        path, label = row["path"], row["label"]
        try:
            msg = parser.parsebytes((corpus / path).read_bytes())
            result = classify(msg, loop_id=loop_id)  # type: ignore[arg-type]
        except Exception as exc:  # the classifier must never raise; count it if it does
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        line = describe(path, label, result)
        kinds[f"{label} -> {result.kind}"] += 1
        if label not in AUTOMATIC_LABELS:
            tallies[f"{label} stays human"].add(result.kind == "human", line)
            continue
        tallies["automatic"].add(result.automatic, line)
        tallies[f"automatic {label}"].add(result.automatic, line)
        wanted = expected_kind(row)
        tallies[f"kind {wanted}"].add(result.kind == wanted, line)
        if wanted == "bounce":
            tallies["recipient extraction"].add(recipients_ok(result, row), line)
            has_id = bool(result.bounce and result.bounce.original_message_id)
            tallies["original message-id found"].add(has_id, line)
    return tallies, kinds, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--loop-id", default="maildesk-bench")
    parser.add_argument("--show-fail", action="store_true", help="list every miss by path")
    args = parser.parse_args(argv)
    tallies, kinds, errors = score(args.corpus, args.loop_id)
    for name in sorted(tallies, key=lambda n: (n != "automatic", not n.startswith("automatic"), n)):
        print(f"{name:32} {tallies[name]}")
    print(f"{'exceptions':32} {len(errors)}")
    print("label -> kind: " + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())))
    if args.show_fail:
        for name in sorted(tallies):
            for line in tallies[name].misses:
                print(f"FAIL {name}: {line}")
    for line in errors:
        print(f"EXCEPTION {line}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
