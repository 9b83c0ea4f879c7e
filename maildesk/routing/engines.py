"""The two engines a rule's pattern runs on: RE2 in linear time, else ``regex`` within a time budget.

A pattern RE2 can run with ``re``'s meaning (``maildesk.routing.re2_syntax``) runs on RE2,
whose time grows in proportion to the text: nothing to bound. Any other pattern runs on the
backtracking ``regex`` package (its ``VERSION0`` mode reads patterns as ``re`` does) with a
timeout: the searches of one message on that engine share ``[routing] match_time_limit_ms``,
over all its rules. The budget measures computation, so it reads ``time.perf_counter``, not the
desk's business clock.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import re2
import regex

from maildesk.errors import MatchTimeLimit
from maildesk.routing.re2_syntax import literal, to_re2

BODY_LIMIT = 64 * 1024  # characters of a text searched by a pattern: one huge message cannot stall the daemon
DEFAULT_LIMIT_MS = 1000
Engine = Literal["re2", "regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported once, by us, not on stderr


class MatchBudget:
    """Seconds the backtracking engine may still spend on one message's rules."""

    __slots__ = ("limit_ms", "left")

    def __init__(self, limit_ms: int = DEFAULT_LIMIT_MS) -> None:
        self.limit_ms = limit_ms
        self.left = limit_ms / 1000


@dataclass(frozen=True)
class Found:
    """A match: the text matched and the named groups that took part."""

    text: str
    groups: dict[str, str]


@dataclass(frozen=True)
class Pattern:
    """A rule's pattern compiled on its engine; equal, hashed and pickled by its text and engine."""

    pattern: str  # as written in the config
    engine: Engine
    flags: int  # re's flags for it, inline ones included
    groupindex: frozenset[str]  # its named groups
    why: str = ""  # why RE2 cannot run it, when it runs on regex
    compiled: Any = field(default=None, compare=False, repr=False)
    core: int = field(default=0, compare=False, repr=False)  # the RE2 group holding the match proper

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuild, (self.pattern, self.engine, self.flags, self.groupindex, self.why)

    def holds(self, text: str, budget: MatchBudget) -> bool:
        if self.engine == "re2":
            return self.compiled.search(_utf8(text)) is not None
        return self._backtrack(text, budget) is not None

    def search(self, text: str, budget: MatchBudget) -> Found | None:
        if self.engine == "re2":
            found = self.compiled.search(_utf8(text))
            if found is None:
                return None
            groups = {k: v.decode("utf-8", "replace") for k, v in found.groupdict().items() if v is not None}
            return Found(found[self.core].decode("utf-8", "replace"), groups)
        found = self._backtrack(text, budget)
        if found is None:
            return None
        return Found(found[0], {k: v for k, v in found.groupdict().items() if v is not None})

    def _backtrack(self, text: str, budget: MatchBudget) -> Any:
        if budget.left <= 0:
            raise MatchTimeLimit(self.pattern, budget.limit_ms)
        start = time.perf_counter()
        try:
            return self.compiled.search(text, 0, BODY_LIMIT, timeout=budget.left)
        except TimeoutError:
            budget.left = 0
            raise MatchTimeLimit(self.pattern, budget.limit_ms) from None
        finally:
            budget.left -= time.perf_counter() - start


def rebuild(text: str, engine: Engine, flags: int, names: frozenset[str], why: str) -> Pattern:
    """A pattern compiled again on the engine chosen before (unpickling in a worker process)."""
    if engine == "re2":
        translation = to_re2(text)
        assert translation.text is not None
        return Pattern(text, "re2", flags, names, "", re2.compile(translation.text, _OPTIONS), translation.core)
    return Pattern(text, "regex", flags, names, why, regex.compile(text, regex.VERSION0))


def choose(text: str, flags: int, names: frozenset[str]) -> Pattern:
    """``text`` (a valid ``re`` pattern) on RE2 if RE2 can run it as ``re`` would, else on ``regex``
    (which raises ``regex.error`` for the rare pattern only ``re`` reads)."""
    translation = to_re2(text)
    why = translation.why
    if translation.text is not None:
        try:
            compiled = re2.compile(translation.text, _OPTIONS)
            return Pattern(text, "re2", flags, names, "", compiled, translation.core)
        except re2.error as exc:  # too big for its memory limit, a repeat over 1000, a name it refuses
            why = f"RE2 refused it: {exc}"
    return Pattern(text, "regex", flags, names, why, regex.compile(text, regex.VERSION0))


@lru_cache(maxsize=16)
def _utf8_long(text: str) -> bytes:
    return text[:BODY_LIMIT].encode("utf-8", "replace")


def _utf8(text: str) -> bytes:
    """The searched part of a text as RE2 reads it; a long body is encoded once for all the rules."""
    return _utf8_long(text) if len(text) > 256 else text.encode("utf-8", "replace")


@lru_cache(maxsize=1024)
def glob(text: str) -> Any:
    """A ``*``/``?`` glob compiled for full matches, linear however many ``*`` it has: with one ``*``
    (``*@example.test``, ``*.example.test``) on ``re``, whose single ``.*`` gives back each character
    at most once; with more on RE2, where ``*a*a*a*b`` over a long address would take ``re`` days."""
    if text.count("*") <= 1:
        return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text), re.DOTALL)
    body = "".join("(?s:.*)" if c == "*" else "(?s:.)" if c == "?" else literal(ord(c)) for c in text)
    return re2.compile(body, _OPTIONS)
