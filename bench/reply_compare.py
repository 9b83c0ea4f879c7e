"""Compare maildesk's reply extractor with two PyPI parsers on fixtures and the shared corpus.

usage (from the repository root):
    python -m bench.reply_compare [--corpus DIR] [--show-fail N] [--official]

``score_adapter(text, kind)`` is the entry point the corpus scorer expects:
    PYTHONPATH=. python /work/shared/corpus/reply-quote/score.py bench.reply_compare:score_adapter
``--official`` runs that scorer in-process instead, with no PYTHONPATH needed.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maildesk.intake.reply import extract_new_text  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "replies"
CORPUS = Path("/work/shared/corpus/reply-quote")
Extractor = Callable[[str], str]
Case = tuple[str, str, str]  # (id, input text, expected text)

_BREAKS = frozenset({"br", "p", "div", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr"})


class _TextOfHtml(HTMLParser):
    """Plain text of an HTML body: tags dropped, blocks on their own lines, blockquotes "> "."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.depth = 0
        self.line_depth = 0
        self.hidden = 0

    def _flush(self) -> None:
        text = "".join(self.buf).strip()
        if text or self.lines:
            self.lines.append("> " * self.line_depth + text if self.line_depth else text)
        self.buf, self.line_depth = [], self.depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.hidden += 1
        elif tag == "blockquote":
            self._flush()
            self.depth += 1
            self.line_depth = self.depth
        elif tag in _BREAKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self._flush()
            self.depth = max(0, self.depth - 1)
            self.line_depth = self.depth
        elif tag in _BREAKS - {"br", "hr"}:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            if not self.buf:
                self.line_depth = max(self.line_depth, self.depth)
            self.buf.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A small stdlib-only stand-in for the product's HTML converter."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    parser._flush()
    return "\n".join(parser.lines)


def score_adapter(text: str, kind: str) -> str:
    """The corpus scorer's ``function(text, kind) -> str`` for maildesk's extractor."""
    return extract_new_text(html_to_text(text) if kind == "html" else text)


_LANGUAGES = ["en", "de", "fr", "es", "nl", "it", "pl", "sv", "da", "cs", "ja", "ko", "zh"]


def _mail_parser_reply(text: str) -> str:
    """mail-parser-reply's latest reply body: headers, signatures and disclaimers removed."""
    from mailparser_reply import EmailReplyParser

    replies = EmailReplyParser(languages=_LANGUAGES).read(text).replies
    return replies[0].body if replies else ""


def _mail_parser_reply_content(text: str) -> str:
    """The same library's ``parse_reply``: its latest reply with sign-offs and taglines kept."""
    from mailparser_reply import EmailReplyParser

    return EmailReplyParser(languages=_LANGUAGES).parse_reply(text) or ""


def _email_reply_parser(text: str) -> str:
    """email-reply-parser's visible text of the reply."""
    from email_reply_parser import EmailReplyParser

    return EmailReplyParser.parse_reply(text)


EXTRACTORS: dict[str, Extractor] = {
    "maildesk": extract_new_text,
    "mail-parser-reply": _mail_parser_reply,
    "mail-parser-reply/parse_reply": _mail_parser_reply_content,
    "email-reply-parser": _email_reply_parser,
}


def fixture_cases(folder: Path = FIXTURES) -> Iterator[Case]:
    for path in sorted(folder.glob("*.txt")):
        if path.name.endswith(".expected.txt"):
            continue
        expected = path.with_name(path.stem + ".expected.txt")
        yield path.stem, path.read_text(encoding="utf-8"), expected.read_text(encoding="utf-8")


def corpus_cases(folder: Path) -> Iterator[Case]:
    with open(folder / "cases.jsonl", encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            raw = (folder / case["input"]).read_bytes()
            if case["input_kind"] == "rfc822":
                part = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
                text = part.get_content() if part is not None else ""
            else:
                text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
                if case["input_kind"] == "html":
                    text = html_to_text(text)
            expected = (folder / case["expected"]).read_text(encoding="utf-8", errors="replace")
            yield case["id"], text, expected


def _same(got: str, expected: str, mode: str) -> bool:
    got, expected = got.replace("\r\n", "\n"), expected.replace("\r\n", "\n")
    if mode == "nows":
        return re.sub(r"\s", "", got) == re.sub(r"\s", "", expected)
    return got.strip() == expected.strip()


def run(extract: Extractor, cases: list[Case]) -> tuple[int, int, list[str]]:
    """Matches after .strip(), matches ignoring all whitespace, and the ids that failed."""
    strict = loose = 0
    failed: list[str] = []
    for case_id, text, expected in cases:
        try:
            got = extract(text) or ""
        except Exception as exc:  # a library that raises scores a miss
            got = f"<exception {exc!r}>"
        strict += _same(got, expected, "strip")
        loose += _same(got, expected, "nows")
        if not _same(got, expected, "strip"):
            failed.append(case_id)
    return strict, loose, failed


def _official(corpus: Path, show_fail: int) -> None:
    spec = importlib.util.spec_from_file_location("reply_quote_score", corpus / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.setdefault("bench.reply_compare", sys.modules[__name__])
    sys.argv = ["score.py", "bench.reply_compare:score_adapter", "--show-fail", str(show_fail)]
    module.main()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--show-fail", type=int, default=0, help="list up to N failing ids per run")
    ap.add_argument("--official", action="store_true", help="run the corpus's own score.py")
    args = ap.parse_args()
    if args.official:
        _official(args.corpus, args.show_fail)
        return
    suites = {"fixtures": list(fixture_cases())}
    if (args.corpus / "cases.jsonl").exists():
        suites["corpus"] = list(corpus_cases(args.corpus))
    header = f"{'extractor':30s}" + "".join(
        f" {name + ' exact':>16s} {name + ' nows':>16s}" for name in suites
    )
    print(header)
    for name, extract in EXTRACTORS.items():
        row, misses = f"{name:30s}", []
        for suite, cases in suites.items():
            strict, loose, failed = run(extract, cases)
            row += f" {f'{strict}/{len(cases)}':>16s} {f'{loose}/{len(cases)}':>16s}"
            misses += [f"{suite}:{cid}" for cid in failed]
        print(row)
        if args.show_fail and misses:
            print("   failed: " + ", ".join(misses[: args.show_fail]))


if __name__ == "__main__":
    main()
