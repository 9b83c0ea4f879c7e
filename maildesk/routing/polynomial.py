"""How many unbounded repeats of a pattern one repeated character can keep busy in a row (``a.*a.*b``: 2).

On a backtracking engine, k such repeats searched over a run of n of that character try about
n to the power of k+1 ways before they fail: ``a.*a.*a.*a.*a.*b`` over 3 KB of ``a`` runs for
hours. The count is taken for each character the pattern names and a few representatives of
the classes (letter, digit, space, newline, punctuation, non-ASCII letter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre  # the stdlib's own regex parser (sre_parse before 3.11)
from typing import Any

POLYNOMIAL_DEGREE = 3  # this many repeats in a row are refused on the backtracking engine
_CAP = 100
_SAMPLES = "a0 _\n-.@é"
_CATEGORIES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_WORD: r"\w",
               sre.CATEGORY_NOT_WORD: r"\W", sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S"}
_LEAVES = (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN)


@dataclass(frozen=True)
class _Run:
    """Repeats in a row that the character keeps busy: anywhere inside, from the start, up to the end;
    ``whole`` is the count when all of it can match a run of the character, else None."""

    best: int
    lead: int
    trail: int
    whole: int | None


_PASS = _Run(0, 0, 0, 0)
_STOP = _Run(0, 0, 0, None)


def polynomial_degree(items: list[tuple[Any, Any]], flags: int) -> int:
    """The most unbounded repeats in a row that a run of one character can all take."""
    samples: set[str] = set(_SAMPLES)
    _named_chars(items, samples)
    return max(_seq(items, c, flags).best for c in sorted(samples))


def _named_chars(node: Any, found: set[str]) -> None:
    """Every character a parse tree names (literals, the start of each range)."""
    if not isinstance(node, (list, tuple)) and not hasattr(node, "data"):
        return
    if isinstance(node, tuple) and len(node) == 2 and node[0] in (sre.LITERAL, sre.NOT_LITERAL):
        found.add(chr(node[1]))
        return
    if isinstance(node, tuple) and len(node) == 2 and node[0] is sre.RANGE:
        found.add(chr(node[1][0]))
        return
    for child in node:
        _named_chars(child, found)


def _seq(items: Any, c: str, flags: int) -> _Run:
    best = lead = cur = 0
    whole: int | None = 0
    for op, av in items:
        run = _item(op, av, c, flags)
        best = max(best, run.best)
        if run.whole is None:
            best = max(best, cur + run.lead)
            if whole is not None:
                lead, whole = whole + run.lead, None
            cur = run.trail
        else:
            cur += run.whole
            whole = None if whole is None else whole + run.whole
        best = max(best, cur)
    if whole is not None:
        lead = whole
        whole = min(whole, _CAP)
    return _Run(min(best, _CAP), min(lead, _CAP), min(cur, _CAP), whole)


def _item(op: Any, av: Any, c: str, flags: int) -> _Run:
    if op in _LEAVES:
        return _PASS if _takes(op, av, c, flags) else _STOP
    if op is sre.AT:  # between two equal characters only \B holds
        return _PASS if av is sre.AT_NON_BOUNDARY else _STOP
    if op is sre.SUBPATTERN:
        return _seq(av[3], c, (flags | av[1]) & ~av[2])
    if op is sre.BRANCH:
        return _branch([_seq(alt, c, flags) for alt in av[1]])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        return _repeat(av[0], av[1], _seq(av[2], c, flags))
    if op in (sre.ATOMIC_GROUP, sre.POSSESSIVE_REPEAT):  # never gives back what it took
        inner = _seq(av if op is sre.ATOMIC_GROUP else av[2], c, flags)
        skippable = op is sre.POSSESSIVE_REPEAT and av[0] == 0
        return _Run(inner.best, 0, 0, 0 if inner.whole is not None or skippable else None)
    if op in (sre.ASSERT, sre.ASSERT_NOT):  # zero width
        return _Run(_seq(av[1], c, flags).best, 0, 0, 0)
    if op is sre.GROUPREF_EXISTS:
        return _Run(max(_seq(sub, c, flags).best for sub in av[1:] if sub is not None), 0, 0, 0)
    return _PASS  # a backreference: it repeats text a group took


def _branch(alternatives: list[_Run]) -> _Run:
    wholes = [a.whole for a in alternatives if a.whole is not None]
    return _Run(max(a.best for a in alternatives),
                max(a.lead if a.whole is None else a.whole for a in alternatives),
                max(a.trail if a.whole is None else a.whole for a in alternatives),
                max(wholes) if wholes else None)


def _repeat(low: int, high: Any, inner: _Run) -> _Run:
    unbounded = high is sre.MAXREPEAT
    if inner.whole is not None:
        count = min(inner.whole + 1 if unbounded else inner.whole * high, _CAP)
        return _Run(max(inner.best, count), count, count, count)
    across = inner.trail + inner.lead if unbounded or high > 1 else 0  # from one pass into the next
    return _Run(max(inner.best, across), inner.lead, inner.trail, 0 if low == 0 else None)


def _takes(op: Any, av: Any, c: str, flags: int) -> bool:
    """Whether one leaf (a character, ``.`` or a set) matches the character ``c``."""
    if op is sre.LITERAL:
        return _same(chr(av), c, flags)
    if op is sre.NOT_LITERAL:
        return not _same(chr(av), c, flags)
    if op is sre.ANY:
        return c != "\n" or bool(flags & sre.SRE_FLAG_DOTALL)
    negate = bool(av) and av[0][0] is sre.NEGATE
    return any(_member(kind, value, c, flags) for kind, value in av if kind is not sre.NEGATE) != negate


def _member(kind: Any, value: Any, c: str, flags: int) -> bool:
    if kind is sre.LITERAL:
        return _same(chr(value), c, flags)
    if kind is sre.RANGE:
        variants = {c, c.lower(), c.upper()} if flags & sre.SRE_FLAG_IGNORECASE else {c}
        return any(value[0] <= ord(v) <= value[1] for v in variants if len(v) == 1)
    if kind is sre.CATEGORY and value in _CATEGORIES:
        return re.fullmatch(_CATEGORIES[value], c, re.ASCII if flags & sre.SRE_FLAG_ASCII else 0) is not None
    return True  # unknown: assume it matches, which can only over-count


def _same(a: str, c: str, flags: int) -> bool:
    return a == c or bool(flags & sre.SRE_FLAG_IGNORECASE) and a.lower() == c.lower()
