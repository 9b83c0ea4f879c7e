"""Which engine runs a rule's pattern, that it matches as Python's re would, and the bounds on its time."""

from __future__ import annotations

import pickle
import re
import unicodedata

import pytest

from maildesk.errors import MatchTimeLimit
from maildesk.routing.conditions import Globs
from maildesk.routing.engines import MatchBudget, Pattern
from maildesk.routing.regex_safety import check_pattern, compile_pattern


def compiled(text: str) -> Pattern:
    pattern, problem = compile_pattern(text)
    assert pattern is not None, problem
    return pattern


# -- which engine ------------------------------------------------------------------------

ENGINES = [
    # RE2 runs it, with re's meaning
    (r"(?i)\b(outage|down|unreachable)\b", "re2", ""),
    (r"(?i)\bvpn\b", "re2", ""),
    (r"order (?P<order>\d+)", "re2", ""),
    (r"^\[ticket\]", "re2", ""),
    (r"(?m)^Status: (?P<s>\w+)$", "re2", ""),
    (r"done$", "re2", ""),
    (r"\Aabc\Z", "re2", ""),
    ("a.*a.*a.*a.*a.*b", "re2", ""),  # polynomial on a backtracking engine, linear on RE2
    ("(a+)+", "re2", ""),  # exponential on a backtracking engine, linear on RE2
    (r"(?x) error \s code  # spaced out", "re2", ""),
    (r"(?i)[a-z\d]+", "re2", ""),
    (r"(?i)[^\s]", "re2", ""),
    (r"(?a)\bword\b", "re2", ""),  # ASCII word boundaries are RE2's own
    (r"(?s)begin.*end", "re2", ""),
    # the backtracking engine, and why
    (r"(a).*\1", "regex", "a backreference"),
    (r"(?P<q>['\"]).*(?P=q)", "regex", "a backreference"),
    (r"invoice(?=\.pdf)", "regex", "a look-ahead or look-behind"),
    (r"(?<!no )refund", "regex", "a look-ahead or look-behind"),
    (r"(?>\w+):", "regex", "an atomic group"),
    (r"\d++x", "regex", "a possessive repeat"),
    (r"(<)?x(?(1)>)", "regex", "a conditional group"),
    (r"foo\bbar", "regex", r"\b or \B inside the pattern"),
    (r"(?i)\bcafé\b", "regex", r"\b or \B inside the pattern"),  # a non-ASCII letter under (?i) at the edge
    (r"end$|stop", "regex", "$ before the end"),
    (r"[^\W\d]+", "regex", "a negated set with a negated class"),
    (r"(?ai)kelvin", "regex", "(?a) with (?i)"),
    ("x{1001}", "regex", "RE2 refused it"),
]


@pytest.mark.parametrize(("text", "engine", "why"), ENGINES)
def test_the_engine_chosen_for_each_pattern(text: str, engine: str, why: str) -> None:
    pattern = compiled(text)
    assert pattern.engine == engine
    assert why in pattern.why and bool(pattern.why) == bool(why)


# -- the same meaning as re --------------------------------------------------------------

AGREE = [
    (r"(?i)\b(outage|down)\b", ["Outage in Berlin", "the shop is DOWN.", "downtime", "slowdown", "down"]),
    (r"\bcafé\b", ["un café noir", "cafés", "café", "xcafé"]),
    (r"\bStraße", ["Hauptstraße 1", "Straße 1", "(Straße)"]),
    (r"(?i)straße", ["DIE STRASSE", "die Straße", "STRAẞE"]),
    (r"(?i)k\d", ["\u212a9 (a Kelvin sign)", "K9", "k"]),
    (r"(?i)ſtop", ["STOP", "stop"]),
    (r"\w+", ["été", "日本語", "١٢٣", "a_b", "\u0301"]),
    (r"\d+", ["١٢٣ and 456", "²", "٣"]),
    (r"\s+", ["a\u00a0b", "a\u2003b", "a\x1cb", "a\u200bb", "a\vb"]),
    (r"(?i)\W+", ["\u0345", "a-b", "ß"]),
    (r"[^\n]+", ["ab\ncd"]),
    (r"done$", ["it is done", "it is done\n", "done\n\n", "done here"]),
    (r"(?m)^(?P<key>\w+): (?P<value>.+)$", ["x\nStatus: open\ny", "Status: open"]),
    (r"\Aabc\Z", ["abc", "abc\n"]),
    (r"order (?P<order>\d+)", ["re: order 4711 and order 12"]),
    (r"(?i)(?-i:A)b", ["AB", "aB", "Ab"]),
    (r"(?x) error \s code", ["error code", "errorcode"]),
    (r"a{2,3}?", ["aaaa"]),
    (r"(?s)x.y", ["x\ny"]),
    (r"x.y", ["x\ny", "xzy"]),
]


def _re_says(text: str, sample: str) -> tuple[str, dict[str, str]] | None:
    found = re.search(text, sample)
    return (found[0], {k: v for k, v in found.groupdict().items() if v is not None}) if found else None


@pytest.mark.parametrize(("text", "samples"), AGREE)
def test_rules_match_as_re_does_on_either_engine(text: str, samples: list[str]) -> None:
    pattern = compiled(text)
    for sample in samples:
        found = pattern.search(sample, MatchBudget())
        assert ((found.text, found.groups) if found else None) == _re_says(text, sample), (pattern.engine, sample)
        assert pattern.holds(sample, MatchBudget()) is (found is not None)


def _assigned_bmp() -> str:
    return "".join(chr(c) for c in range(0x10000)
                   if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn")


@pytest.mark.parametrize("text", [r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", r"(?i)\w", r"(?i)\W", r"(?i)[^\s]",
                                  r"[\w-]", r"(?i)[a-z\d]", r"(?i)\bx", ".", r"(?a)\w", r"(?a)\s", "(?i)i",
                                  "(?i)[a-z]", "(?i)[^a-z]", "(?i)[^i]", "(?i)ß", "(?i)σ"])
def test_classes_mean_what_re_means_on_every_assigned_character(text: str) -> None:
    pattern = compiled(text)
    assert pattern.engine == "re2"
    chars = _assigned_bmp()
    ours = [m.decode() for m in pattern.compiled.findall(chars.encode())]
    assert ours == re.findall(text, chars)


# -- refused on the backtracking engine ---------------------------------------------------

@pytest.mark.parametrize("text", [r"(a).*a.*a.*a.*a.*\1", r"(?=a)a.*a.*a.*b", r"(?=x)\w*\w*\w*!",
                                  r"(?<=:)\s*\S*\s*\S*\s*\S*x", r"(?=x).*?,.*?,.*?;"])
def test_polynomial_patterns_are_refused_when_they_need_backtracking(text: str) -> None:
    problem = check_pattern(text)
    assert problem and "unbounded repeats in a row" in problem
    pattern, why = compile_pattern(text)
    assert pattern is None and why.startswith("unsafe regex: ")


@pytest.mark.parametrize("text", [r"(a).*a.*\1b", r"(?=x).*x.*y.*z", r"(?<=x)\w+\s*\w+", r"(?>.*)(?>.*)(?>.*)x",
                                  r"(?=x)a*+a*+a*+b", r"(?=\d).{0,80}x.{0,80}x.{0,80}x", r"(?=x)[a-z]+\d+[a-z]+\d+"])
def test_bounded_possessive_or_distinct_repeats_pass(text: str) -> None:
    assert check_pattern(text) is None and compiled(text).engine == "regex"


# -- the time limit -----------------------------------------------------------------------

SLOW = r"(a).*a.*\1b"  # a backreference, so backtracking; re takes 40 s over 3 KB of "a"


def test_a_backtracking_search_stops_at_the_limit() -> None:
    pattern = compiled(SLOW)
    with pytest.raises(MatchTimeLimit) as caught:
        pattern.holds("a" * 3000, MatchBudget(20))
    assert caught.value.pattern == SLOW and "20 ms" in str(caught.value)


def test_the_limit_is_shared_by_all_searches_of_a_message() -> None:
    quick = compiled(r"(x)\1")
    budget = MatchBudget(20)
    assert quick.holds("a xx b", budget) and 0 < budget.left < 0.020  # each search takes its time out of it
    with pytest.raises(MatchTimeLimit):
        compiled(SLOW).search("a" * 3000, budget)
    with pytest.raises(MatchTimeLimit):  # nothing left: even a quick pattern is not run
        quick.holds("a xx b", budget)


def test_re2_patterns_need_no_budget_and_stay_fast_on_the_mail_that_hangs_re() -> None:
    budget = MatchBudget(10)
    budget.left = 0
    assert compiled("a.*a.*a.*a.*a.*b").holds("a" * 3000, budget) is False
    assert compiled("a.*a.*a.*a.*a.*b").holds("a" * 3000 + "b", budget) is True


def test_patterns_pickle_and_compare_by_text_and_engine() -> None:
    for text in (r"(?i)\border (?P<n>\d+)\b", SLOW):
        pattern = compiled(text)
        copy = pickle.loads(pickle.dumps(pattern))
        assert copy == pattern and hash(copy) == hash(pattern) and copy.engine == pattern.engine
        assert copy.search("Order 42!", MatchBudget()) == pattern.search("Order 42!", MatchBudget())


def test_an_address_glob_with_many_stars_cannot_make_intake_backtrack() -> None:
    globs = Globs.of(["*a*a*a*a*a*a*a*b@example.test"])
    assert globs.find("a" * 400 + "@example.test") is None  # re: 4 s at 50 "a", days at 400
    assert globs.find("xaaaaaaab@example.test") == "*a*a*a*a*a*a*a*b@example.test"
    assert pickle.loads(pickle.dumps(globs)) == globs
