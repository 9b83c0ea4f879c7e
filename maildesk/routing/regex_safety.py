"""Compile a rule's pattern on its engine; refuse one that would backtrack badly, by walking its parse tree.

A pattern RE2 runs is linear whatever its shape. One that needs the backtracking engine is
refused when it can take exponential time (nested quantifiers, overlapping alternations) or
high polynomial time (three or more unbounded repeats in a row that one character keeps busy,
like ``a.*a.*a.*b``); what is left is bounded by the time limit in ``maildesk.routing.engines``.
"""

from __future__ import annotations

import re
from re import _constants as sre  # the stdlib's own regex parser (sre_parse before 3.11)
from re import _parser as sre_parse
from typing import Any, Protocol

import regex

from maildesk.routing.engines import Pattern, choose
from maildesk.routing.polynomial import POLYNOMIAL_DEGREE, polynomial_degree

MAX_PATTERN = 1000  # characters

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_NESTED = ("a repeated group contains another variable repeat (like (a+)+ or (\\w*)*), which can take "
           "exponential time on some input: rewrite it without the nested quantifier")
_OVERLAP = ("a repeated alternation has choices that can match the same text (like (a|aa)+ or (x|)*), which "
            "can take exponential time on some input: make the choices distinct")


_POLYNOMIAL = ("{n} unbounded repeats in a row can all take the same text (like a.*a.*a.*b), which takes time "
               "growing with the text's length to the power of {n} or more on the backtracking engine this pattern "
               "needs ({why}): bound the repeats ({{0,80}}), make their characters distinct, or drop what needs "
               "backtracking")


def check_pattern(pattern: str, why: str = "it needs backtracking") -> str | None:
    """A problem with ``pattern`` on a backtracking engine: too long, or it can backtrack catastrophically
    (exponential or high polynomial time); None when it is safe there. ``why`` says why it needs one."""
    if len(pattern) > MAX_PATTERN:
        return f"pattern is {len(pattern)} characters long, more than {MAX_PATTERN}"
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        return f"invalid regex: {exc}"
    problem = _walk(list(parsed), inside=False)
    if problem:
        return problem
    degree = polynomial_degree(list(parsed), parsed.state.flags)
    return _POLYNOMIAL.format(n=degree, why=why) if degree >= POLYNOMIAL_DEGREE else None


def _walk(items: list[tuple[Any, Any]], *, inside: bool) -> str | None:
    """``inside``: these items are repeated more than once by an enclosing quantifier."""
    for op, av in items:
        problem = None
        if op in _REPEATS:
            low, high, sub = av
            if inside and low != high:
                return _NESTED
            problem = _walk(list(sub), inside=inside or high > 1)
        elif op is sre.BRANCH:
            alternatives = [list(alt) for alt in av[1]]
            if inside and _overlapping(alternatives):
                return _OVERLAP
            problem = next((p for alt in alternatives if (p := _walk(alt, inside=inside))), None)
        else:
            problem = next((p for sub in _children(op, av) if (p := _walk(list(sub), inside=inside))), None)
        if problem:
            return problem
    return None


def _children(op: Any, av: Any) -> list[Any]:
    """The sub-patterns of a group, look-around or conditional; other items have none."""
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op is sre.ATOMIC_GROUP:
        return [av]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is sre.GROUPREF_EXISTS:
        return [sub for sub in av[1:] if sub is not None]
    return []


def _overlapping(alternatives: list[list[tuple[Any, Any]]]) -> bool:
    """One choice is plain text (maybe empty) that another choice starts with."""
    prefixes = [_literal_prefix(alt) for alt in alternatives]
    for i, (text, whole) in enumerate(prefixes):
        if whole and any(other.startswith(text) for j, (other, _) in enumerate(prefixes) if j != i):
            return True
    return False


def _literal_prefix(items: list[tuple[Any, Any]]) -> tuple[str, bool]:
    """The plain text an alternative starts with, and whether that text is all of it."""
    chars = []
    for op, av in items:
        if op is not sre.LITERAL:
            return "".join(chars), False
        chars.append(chr(av))
    return "".join(chars), True


def compile_pattern(text: str) -> tuple[Pattern | None, str | None]:
    """A rule's pattern compiled on its engine, or the problem with it: invalid, too long, or unsafe
    on the backtracking engine it needs."""
    if len(text) > MAX_PATTERN:
        return None, f"unsafe regex: pattern is {len(text)} characters long, more than {MAX_PATTERN}"
    try:
        checked = re.compile(text)
    except re.error as exc:
        return None, f"invalid regex: {exc}"
    try:
        pattern = choose(text, checked.flags, frozenset(checked.groupindex))
    except regex.error as exc:
        return None, f"invalid regex: the backtracking engine cannot read it: {exc}"
    problem = check_pattern(text, pattern.why) if pattern.engine == "regex" else None
    return (None, f"unsafe regex: {problem}") if problem else (pattern, None)


class _Flagged(Protocol):
    pattern: str
    flags: int


def required_literal(pattern: _Flagged) -> str:
    """The longest run of plain characters every match must contain (case-folded when the pattern
    ignores case), or "": a cheap ``in`` test that skips the regex on most texts that cannot match."""
    if pattern.flags & (re.VERBOSE | re.LOCALE):
        return ""
    try:
        items = list(sre_parse.parse(pattern.pattern, pattern.flags))
    except re.error:
        return ""
    runs, run = [], []
    for op, av in [*items, (None, None)]:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        runs.append("".join(run))
        run = []
        if op is sre.AT:  # ^, $, \b: zero-width, yet no run continues across it safely
            continue
    longest = max(runs, key=len, default="")
    return longest.casefold() if pattern.flags & re.IGNORECASE else longest
