"""Write a Python ``re`` pattern in RE2's syntax with the same meaning, or say why RE2 cannot run it.

The rule language is Python's ``re`` syntax. RE2 matches in linear time but lacks some of it and
reads some of it differently, so the pattern is rewritten from ``re``'s own parse tree:

- ``\\d``, ``\\w``, ``\\s`` and their negations become the Unicode classes ``re`` means by them
  (RE2's own are ASCII) and are never case-folded; ``.`` without DOTALL becomes ``[^\\n]``;
  ``^`` and ``$`` are written out for the MULTILINE setting in force; under ``(?i)`` an ``i``
  also takes the Turkish ``İ`` and ``ı``, as in ``re``; ``(?x)`` spacing and comments are gone.
- ``$`` (without MULTILINE) at the very end of the pattern becomes ``\\n?\\z``; ``\\b`` as its
  first item before a word character, or as its last after one, consumes the non-word
  character (or edge of text) beside it. The match proper is captured, so what a condition
  quotes is what ``re`` would have matched.
- Refused, so the pattern runs on the backtracking engine: backreferences, look-ahead and
  look-behind, conditional groups, atomic groups and possessive repeats, any other ``\\b`` or
  ``\\B``, any other ``$``, ``(?a)`` together with ``(?i)``, a negated set holding a negated
  class (or, under ``(?i)``, a class and characters), a case-insensitive ``\\b`` edge on a
  non-ASCII letter. So do patterns RE2 itself refuses (a repeat over 1000, over its memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from re import _constants as sre  # the stdlib's own regex parser (sre_parse before 3.11)
from re import _parser as sre_parse
from typing import Any

I, M, S, A = sre.SRE_FLAG_IGNORECASE, sre.SRE_FLAG_MULTILINE, sre.SRE_FLAG_DOTALL, sre.SRE_FLAG_ASCII
# what re means by \s in a str pattern: the characters str.isspace() accepts
_SPACE = (r"\t\n\x{b}\x{c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
          r"\x{205f}\x{3000}")
_UNICODE = {sre.CATEGORY_DIGIT: r"\p{Nd}", sre.CATEGORY_WORD: r"\p{L}\p{N}_", sre.CATEGORY_SPACE: _SPACE}
_ASCII = {sre.CATEGORY_DIGIT: "0-9", sre.CATEGORY_WORD: "0-9A-Za-z_", sre.CATEGORY_SPACE: r"\t\n\x{b}\x{c}\r "}
_NEGATED = {sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT, sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
            sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE}
_NOT_WORD = r"(?-i:[^\p{L}\p{N}_])"
# re's (?i) takes i, I, dotted İ and dotless ı for each other (it compares lower case); RE2's case folding
# keeps the Turkish two apart. Under (?i) any of the four is written as all four.
_DOTTED_I = (0x49, 0x69, 0x130, 0x131)
_ANY_I = r"iI\x{130}\x{131}"
_REFUSED = {
    sre.GROUPREF: "a backreference", sre.GROUPREF_EXISTS: "a conditional group",
    sre.ASSERT: "a look-ahead or look-behind", sre.ASSERT_NOT: "a look-ahead or look-behind",
    sre.ATOMIC_GROUP: "an atomic group", sre.POSSESSIVE_REPEAT: "a possessive repeat",
}


@dataclass(frozen=True)
class Translation:
    """A pattern in RE2 syntax, or why RE2 cannot run it as re would."""

    text: str | None  # None: RE2 cannot
    why: str = ""
    core: int = 0  # the group holding re's match: 1 when a character beside it is consumed


class _Refused(ValueError):
    """RE2 cannot run the pattern as re would; the message says why (internal to this module)."""


def to_re2(pattern: str) -> Translation:
    """The pattern in RE2 syntax, or what RE2 cannot do with it. Expects a valid ``re`` pattern."""
    parsed = sre_parse.parse(pattern)
    flags = parsed.state.flags
    if flags & A and flags & I:
        return Translation(None, "(?a) with (?i): RE2 folds case over all of Unicode")
    names = {index: name for name, index in parsed.state.groupdict.items()}
    items = list(parsed)
    try:
        prefix, items = _leading_boundary(items, flags)
        suffix, items = _trailing_anchor(items, flags)
        core = _Writer(names).seq(items, flags)
    except _Refused as exc:
        return Translation(None, str(exc))
    case = "(?i)" if flags & I else ""
    if prefix or suffix:
        return Translation(f"{case}{prefix}({core}){suffix}", core=1)
    return Translation(case + core)


def _leading_boundary(items: list[Any], flags: int) -> tuple[str, list[Any]]:
    if items and items[0] == (sre.AT, sre.AT_BOUNDARY) and not flags & A and _word_edge(items[1:], flags, first=True):
        return r"(?:\A|" + _NOT_WORD + ")", items[1:]
    return "", items


def _trailing_anchor(items: list[Any], flags: int) -> tuple[str, list[Any]]:
    if not items or items[-1][0] is not sre.AT:
        return "", items
    at = items[-1][1]
    if at is sre.AT_END and not flags & M:
        return r"(?:\n?\z)", items[:-1]
    if at is sre.AT_BOUNDARY and not flags & A and _word_edge(items[:-1], flags, first=False):
        return r"(?:" + _NOT_WORD + r"|\z)", items[:-1]
    return "", items


def _word_edge(items: list[Any], flags: int, *, first: bool) -> bool:
    """Every match of ``items`` starts (``first``) or ends with a character re counts as a word character."""
    if not items:
        return False
    op, av = items[0] if first else items[-1]
    if op is sre.LITERAL:
        char = chr(av)
        return _is_word(char) and (char.isascii() or not flags & I)
    if op is sre.IN:
        return all(_word_member(m, flags) for m in av)
    if op is sre.SUBPATTERN:
        return _word_edge(list(av[3]), (flags | av[1]) & ~av[2], first=first)
    if op is sre.BRANCH:
        return all(_word_edge(list(alt), flags, first=first) for alt in av[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        return av[0] >= 1 and _word_edge(list(av[2]), flags, first=first)
    return False


def _word_member(member: tuple[Any, Any], flags: int) -> bool:
    op, av = member
    if op is sre.LITERAL:
        return _is_word(chr(av)) and (chr(av).isascii() or not flags & I)
    if op is sre.RANGE:
        low, high = av
        return high < 128 and all(_is_word(chr(c)) for c in range(low, high + 1))
    return op is sre.CATEGORY and av in (sre.CATEGORY_WORD, sre.CATEGORY_DIGIT)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def literal(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else "\\x{%x}" % code


class _Writer:
    """Writes parse-tree items as RE2 syntax under the flags in force; raises _Refused."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def seq(self, items: Any, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op in _REFUSED:
            raise _Refused(_REFUSED[op])
        if op is sre.LITERAL:
            return f"[{_ANY_I}]" if flags & I and av in _DOTTED_I else literal(av)
        if op is sre.NOT_LITERAL:
            return f"[^{_ANY_I if flags & I and av in _DOTTED_I else literal(av)}]"
        if op is sre.ANY:
            return "(?s:.)" if flags & S else r"[^\n]"
        if op is sre.IN:
            return self.charset(av, flags)
        if op is sre.AT:
            return self.anchor(av, flags)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.seq(alt, flags) for alt in av[1]) + ")"
        if op is sre.SUBPATTERN:
            return self.group(*av, flags)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return self.repeat(*av, flags) + ("?" if op is sre.MIN_REPEAT else "")
        raise _Refused(f"{op} is not written for RE2")

    def group(self, group: int | None, add: int, remove: int, sub: Any, flags: int) -> str:
        inner = (flags | add) & ~remove
        if inner & A and inner & I:
            raise _Refused("(?a) with (?i): RE2 folds case over all of Unicode")
        text = self.seq(sub, inner)
        if (inner ^ flags) & I:
            text = ("(?i:" if inner & I else "(?-i:") + text + ")"
        if group is None:
            return f"(?:{text})"
        name = self.names.get(group)
        return f"(?P<{name}>{text})" if name else f"({text})"

    def repeat(self, low: int, high: Any, sub: Any, flags: int) -> str:
        body = f"(?:{self.seq(sub, flags)})"
        if high is sre.MAXREPEAT:
            return body + ("*" if low == 0 else "+" if low == 1 else f"{{{low},}}")
        return body + (f"{{{low}}}" if low == high else f"{{{low},{high}}}")

    def anchor(self, at: Any, flags: int) -> str:
        if at is sre.AT_BEGINNING:
            return "(?m:^)" if flags & M else r"\A"
        if at is sre.AT_BEGINNING_STRING:
            return r"\A"
        if at is sre.AT_END_STRING:
            return r"\z"
        if at is sre.AT_END and flags & M:
            return "(?m:$)"
        if at in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY) and flags & A:
            return r"\b" if at is sre.AT_BOUNDARY else r"\B"
        if at is sre.AT_END:
            raise _Refused("$ before the end of the pattern (RE2's $ does not match before a final newline)")
        raise _Refused(r"\b or \B inside the pattern (RE2's word boundaries are ASCII only)")

    def charset(self, members: list[tuple[Any, Any]], flags: int) -> str:
        """A set: its characters and ranges, its classes (never case-folded), and negated classes."""
        negate = bool(members) and members[0][0] is sre.NEGATE
        chars, classes, negated = [], [], []
        for op, av in members[1:] if negate else members:
            if op is sre.LITERAL:
                chars.append(_ANY_I if flags & I and av in _DOTTED_I else literal(av))
            elif op is sre.RANGE:
                chars.append(f"{literal(av[0])}-{literal(av[1])}")
                if flags & I and any(av[0] <= c <= av[1] for c in _DOTTED_I):
                    chars.append(_ANY_I)
            elif op is sre.CATEGORY and av in _NEGATED:
                negated.append(self.category(_NEGATED[av], flags))
            elif op is sre.CATEGORY:
                classes.append(self.category(av, flags))
            else:
                raise _Refused(f"{op} in a set is not written for RE2")
        if negate:
            if negated or (classes and chars and flags & I):
                raise _Refused("a negated set with a negated class, or under (?i) with a class and characters, "
                               "like [^\\W\\d] or (?i)[^a\\d]")
            text = "[^" + "".join(chars + classes) + "]"
            return f"(?-i:{text})" if classes and flags & I else text
        parts = ["[" + "".join(chars) + "]"] if chars else []
        if classes:
            parts.append(("(?-i:[{}])" if flags & I else "[{}]").format("".join(classes)))
        parts += [f"(?-i:[^{n}])" for n in negated]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    @staticmethod
    def category(code: Any, flags: int) -> str:
        table = _ASCII if flags & A else _UNICODE
        if code not in table:
            raise _Refused(f"{code} is not written for RE2")
        return table[code]
