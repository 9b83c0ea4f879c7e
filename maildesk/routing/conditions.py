"""The rule conditions (the ``if`` keys): one small frozen class each, compiled from TOML by one registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from maildesk.config.schema import show
from maildesk.models import AttachmentPart
from maildesk.routing.engines import BODY_LIMIT, Pattern, glob
from maildesk.routing.model import Condition, Facts, Outcome
from maildesk.routing.language import LANGUAGE_SAMPLE, language_of
_SHOWN = 60  # characters of matched text or pattern quoted in an explanation
_NO_GROUPS: Mapping[str, str] = MappingProxyType({})


@lru_cache(maxsize=4096)
def _outcome(held: bool, why: str) -> Outcome:
    """A verdict without groups; the same few recur message after message, so each is made once."""
    return Outcome(held, why, _NO_GROUPS)


def _q(text: str) -> str:
    """A value in double quotes for an explanation; plain text skips the (slower) JSON encoder."""
    return f'"{text}"' if text.isprintable() and '"' not in text and "\\" not in text else show(text)


@lru_cache(maxsize=1024)
def _quote(pattern: Pattern) -> str:
    text = pattern.pattern
    return "'" + (text if len(text) <= _SHOWN else text[:_SHOWN] + "...") + "'"


def _excerpt(text: str) -> str:
    return _q(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@lru_cache(maxsize=1024)
def _listed(values: tuple[str, ...]) -> str:
    return show(list(values[:5]) + (["..."] if len(values) > 5 else []))


class _Base:
    def group_names(self) -> frozenset[str]:
        """The named regex groups this condition can capture when it holds."""
        return frozenset()


# -- matching addresses, domains and types -----------------------------------

@dataclass(frozen=True)
class Globs:
    """Exact lower-case values and ``*``/``?`` globs, compiled once (on RE2: however many ``*`` a glob
    has, an address cannot make it backtrack); ``shown`` is what the admin wrote, and all it is compared by."""

    shown: tuple[str, ...]
    exact: frozenset[str] = field(compare=False)
    globs: tuple[tuple[str, Any], ...] = field(compare=False)

    @classmethod
    def of(cls, values: Iterable[str]) -> Globs:
        values = tuple(v.lower() for v in values)
        return cls(values, frozenset(values), tuple((v, glob(v)) for v in values if "*" in v or "?" in v))

    def find(self, value: str) -> str | None:
        """The entry ``value`` matches, or None."""
        if value in self.exact:
            return value
        return next((text for text, compiled in self.globs if compiled.fullmatch(value)), None)


@dataclass(frozen=True)
class Sender(_Base):
    """``from`` (the sender's address) or ``from_domain`` (the domain of it)."""

    want: Globs
    key: str = "from"

    def holds(self, facts: Facts) -> bool:
        sender = facts.parsed.sender
        if sender is None:
            return False
        addr = sender.addr.lower()
        return self.want.find(addr if self.key == "from" else addr.rpartition("@")[2]) is not None

    def test(self, facts: Facts) -> Outcome:
        sender = facts.parsed.sender
        if sender is None:
            return _outcome(False, f"{self.key}: the message has no valid From address")
        addr = sender.addr.lower()
        what, value = ("sender", addr) if self.key == "from" else ("sender domain", addr.rpartition("@")[2])
        hit = self.want.find(value)
        if hit:
            return _outcome(True, f"{self.key}: {what} {_q(value)} matches {_q(hit)}")
        return _outcome(False, f"{self.key}: {what} {_q(value)} not in {_listed(self.want.shown)}")


@dataclass(frozen=True)
class Recipient(_Base):
    """``to`` (To and the envelope recipients) or ``cc``: any one address matching is enough."""

    want: Globs
    key: str = "to"

    def holds(self, facts: Facts) -> bool:
        parsed = facts.parsed
        got = [a.addr for a in parsed.cc] if self.key == "cc" else [a.addr for a in parsed.to] + list(parsed.envelope_to)
        return any(self.want.find(addr.lower()) is not None for addr in got)

    def test(self, facts: Facts) -> Outcome:
        parsed = facts.parsed
        if self.key == "cc":
            got = [a.addr for a in parsed.cc]
        else:
            got = [a.addr for a in parsed.to] + list(parsed.envelope_to)
        for addr in got:
            hit = self.want.find(addr.lower())
            if hit:
                return _outcome(True, f"{self.key}: {_q(addr)} matches {_q(hit)}")
        field = "To or envelope" if self.key == "to" else "Cc"
        return _outcome(False, f"{self.key}: no {field} address in {_listed(self.want.shown)}")


def attached(facts: Facts) -> list[AttachmentPart]:
    """The message's attachments, without images embedded in its HTML (a signature's logo)."""
    return [a for a in facts.parsed.attachments if not (a.inline and a.content_id)]


@dataclass(frozen=True)
class HasAttachment(_Base):
    want: bool
    key: str = "has_attachment"

    def holds(self, facts: Facts) -> bool:
        return bool(attached(facts)) == self.want

    def test(self, facts: Facts) -> Outcome:
        count = len(attached(facts))
        return _outcome(bool(count) == self.want, f"has_attachment: {count or 'no'} attachment{'s' * (count != 1)}")


@dataclass(frozen=True)
class AttachmentType(_Base):
    want: Globs
    key: str = "attachment_type"

    def holds(self, facts: Facts) -> bool:
        return any(self.want.find(a.content_type.lower()) is not None for a in attached(facts))

    def test(self, facts: Facts) -> Outcome:
        types = tuple(dict.fromkeys(a.content_type.lower() for a in attached(facts)))
        for kind in types:
            hit = self.want.find(kind)
            if hit:
                return _outcome(True, f"attachment_type: {_q(kind)} matches {_q(hit)}")
        return _outcome(False, f"attachment_type: none of {_listed(types)} in {_listed(self.want.shown)}")


@dataclass(frozen=True)
class Mailbox(_Base):
    want: tuple[str, ...]
    key: str = "mailbox"

    def holds(self, facts: Facts) -> bool:
        return facts.mailbox in self.want

    def test(self, facts: Facts) -> Outcome:
        held = facts.mailbox in self.want
        return _outcome(held, f"mailbox: {_q(facts.mailbox)} {'in' if held else 'not in'} {_listed(self.want)}")


@dataclass(frozen=True)
class Language(_Base):
    want: tuple[str, ...]
    key: str = "language"

    def holds(self, facts: Facts) -> bool:
        return self.test(facts).held  # the guess is cached per message; the explanation is cheap

    def test(self, facts: Facts) -> Outcome:
        parsed = facts.parsed
        found = language_of((parsed.subject + "\n" + parsed.body_text[:LANGUAGE_SAMPLE])[:LANGUAGE_SAMPLE])
        if not found:
            return _outcome(False, "language: not sure which language the message is in")
        held = found in self.want
        return _outcome(held, f"language: detected {_q(found)}, {'in' if held else 'not in'} {_listed(self.want)}")


# -- regular expressions -----------------------------------------------------

@lru_cache(maxsize=16)
def _folded(text: str) -> str:
    """The searched part of a text, case-folded once per message however many patterns look at it."""
    return text[:BODY_LIMIT].casefold()


@dataclass(frozen=True)
class Matches(_Base):
    """``subject_matches``, ``body_matches`` or ``header.NAME``: the pattern is searched in the first 64 KiB,
    on its engine; a search that runs out of the message's time raises ``MatchTimeLimit``."""

    pattern: Pattern
    key: str = "subject_matches"
    required: str = ""  # text every match contains (case-folded if the pattern ignores case): a quick pre-check
    folded: bool = False  # the pattern ignores case, so ``required`` is looked for in the case-folded text

    def _may_match(self, text: str) -> bool:
        if not self.required:
            return True
        return self.required in (_folded(text) if self.folded else text[:BODY_LIMIT])

    def _texts(self, facts: Facts) -> tuple[str, tuple[str, ...]]:
        if self.key == "subject_matches":
            return "subject", (facts.parsed.subject,)
        if self.key == "body_matches":
            return "body", (facts.parsed.body_text,)
        return self.key, facts.headers.get(self.key.partition(".")[2].lower(), ())

    def holds(self, facts: Facts) -> bool:
        return any(self._may_match(text) and self.pattern.holds(text, facts.budget)
                   for text in self._texts(facts)[1])

    def test(self, facts: Facts) -> Outcome:
        what, texts = self._texts(facts)
        for text in texts:
            if self._may_match(text) and (found := self.pattern.search(text, facts.budget)):
                return Outcome(True, f"{what} matches {_quote(self.pattern)} ({_excerpt(found.text)})",
                               MappingProxyType(found.groups))
        return _outcome(False, f"{what} does not match {_quote(self.pattern)}" if texts else f"{what}: no such header")

    def group_names(self) -> frozenset[str]:
        return frozenset(self.pattern.groupindex)


# -- combining ---------------------------------------------------------------

def test_all(conditions: tuple[Condition, ...], facts: Facts) -> Outcome:
    """Whether every condition holds (stopping at the first that fails), with their groups."""
    whys: list[str] = []
    groups: dict[str, str] = {}
    for condition in conditions:
        outcome = condition.test(facts)
        whys.append(outcome.why)
        if not outcome.held:
            return _outcome(False, "; ".join(whys))
        groups = {**outcome.groups, **groups}
    return Outcome(True, "; ".join(whys) or "no conditions", MappingProxyType(groups))


@dataclass(frozen=True)
class AnyOf(_Base):
    tables: tuple[tuple[Condition, ...], ...]
    key: str = "any"

    def holds(self, facts: Facts) -> bool:
        return any(all(c.holds(facts) for c in table) for table in self.tables)

    def test(self, facts: Facts) -> Outcome:
        failed = []
        for i, table in enumerate(self.tables):
            outcome = test_all(table, facts)
            if outcome.held:
                return Outcome(True, f"any: [{i}] holds: {outcome.why}", outcome.groups)
            failed.append(f"[{i}] {outcome.why}")
        return _outcome(False, "any: none holds: " + "; ".join(failed))

    def group_names(self) -> frozenset[str]:
        return group_names(c for table in self.tables for c in table)


@dataclass(frozen=True)
class NotOf(_Base):
    table: tuple[Condition, ...]
    key: str = "not"

    def holds(self, facts: Facts) -> bool:
        return not all(c.holds(facts) for c in self.table)

    def test(self, facts: Facts) -> Outcome:
        outcome = test_all(self.table, facts)
        return _outcome(not outcome.held, f"not: {'it holds' if outcome.held else 'it does not hold'}: {outcome.why}")


def group_names(conditions: Iterable[Condition]) -> frozenset[str]:
    """The named groups that conditions holding together can capture (never those under ``not``)."""
    names: frozenset[str] = frozenset()
    for condition in conditions:
        names |= condition.group_names() if isinstance(condition, _Base) else frozenset()
    return names
