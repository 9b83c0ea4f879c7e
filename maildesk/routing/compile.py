"""Compile a rule's ``if`` table from TOML into condition objects, through one explicit registry."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from maildesk.config.schema import Problems, is_address, is_name, show
from maildesk.routing.conditions import (
    AnyOf,
    AttachmentType,
    Globs,
    HasAttachment,
    Language,
    Mailbox,
    Matches,
    NotOf,
    Recipient,
    Sender,
)
from maildesk.routing.engines import Pattern
from maildesk.routing.language import LANGUAGES
from maildesk.routing.model import Condition
from maildesk.routing.regex_safety import compile_pattern, required_literal

@dataclass(frozen=True)
class Site:
    """Where a condition is written: its TOML key path, where problems go, and the configured mailboxes."""

    key: str
    problems: Problems
    mailboxes: frozenset[str] | None = None  # None: not known, so not checked

    def at(self, sub: str) -> Site:
        return replace(self, key=self.key + sub)

    def add(self, problem: str) -> None:
        self.problems.add(self.key, problem)


Compiler = Callable[[Any, Site], tuple[Condition, ...]]
_DOMAIN = re.compile(r"[a-z0-9*?](?:[a-z0-9*?.-]*[a-z0-9*?])?")
_MIME = re.compile(r"[a-z0-9*?][a-z0-9*?.+-]*/[a-z0-9*?][a-z0-9*?.+-]*")
_HEADER = re.compile(r"[!-9;-~]+")  # a header field name: printable ASCII but ':'


def _strings(value: Any, site: Site, check: Callable[[str], str | None]) -> tuple[str, ...] | None:
    """A string or a non-empty list of strings, each checked; None after a problem."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        site.add(f"expected a string or a non-empty list of strings, got {show(value)}")
        return None
    ok = True
    for i, item in enumerate(values):
        where = site if isinstance(value, str) else site.at(f"[{i}]")
        problem = check(item) if isinstance(item, str) else f"expected a string, got {show(item)}"
        if problem:
            where.add(problem)
            ok = False
    return tuple(values) if ok else None


def _address_glob(value: str) -> str | None:
    if ("*" in value or "?" in value) and ("@" not in value or " " in value):
        return f'expected an address or a glob like "*@example.test", got {show(value)}'
    return None if "*" in value or "?" in value else is_address(value)


def _shape(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if pattern.fullmatch(value.lower()) else f"expected {what}, got {show(value)}"
    return check


def _language(value: str) -> str | None:
    codes = ", ".join(LANGUAGES)
    return None if value in LANGUAGES else f"expected one of the language codes {codes}, got {show(value)}"


def _mailbox_in(site: Site) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if is_name(value):
            return is_name(value)
        if site.mailboxes is not None and value not in site.mailboxes:
            return f"no mailbox is named {show(value)} (mailboxes: {', '.join(sorted(site.mailboxes)) or 'none'})"
        return None
    return check


def _regex(value: Any, site: Site) -> Pattern | None:
    pattern, problem = (None, f"expected a regex string, got {show(value)}") if not isinstance(value, str) else (
        compile_pattern(value))
    if problem:
        site.add(problem)
    return pattern


def _globs(make: Callable[[Globs, str], Condition], check: Callable[[str], str | None]) -> Compiler:
    def compile_(value: Any, site: Site) -> tuple[Condition, ...]:
        values = _strings(value, site, check)
        return (make(Globs.of(values), site.key.rpartition(".")[2]),) if values else ()
    return compile_


def _matches(pattern: Pattern, key: str) -> Matches:
    return Matches(pattern, key, required_literal(pattern), folded=bool(pattern.flags & re.IGNORECASE))


def compile_matches(value: Any, site: Site) -> tuple[Condition, ...]:
    pattern = _regex(value, site)
    return (_matches(pattern, site.key.rpartition(".")[2]),) if pattern else ()


def compile_header(value: Any, site: Site) -> tuple[Condition, ...]:
    if not isinstance(value, dict) or not value:
        site.add(f'expected a table of header patterns like {{ "List-Id" = \'.*news.*\' }}, got {show(value)}')
        return ()
    found: list[Condition] = []
    for name, raw in value.items():
        if not _HEADER.fullmatch(name):
            site.at(f".{name}").add(f"not a header name: {show(name)}")
        elif pattern := _regex(raw, site.at(f".{name}")):
            found.append(_matches(pattern, f"header.{name}"))
    return tuple(found)


def compile_has_attachment(value: Any, site: Site) -> tuple[Condition, ...]:
    if not isinstance(value, bool):
        site.add(f"expected true or false, got {show(value)}")
        return ()
    return (HasAttachment(value),)


def compile_mailbox(value: Any, site: Site) -> tuple[Condition, ...]:
    names = _strings(value, site, _mailbox_in(site))
    return (Mailbox(names),) if names else ()


def compile_language(value: Any, site: Site) -> tuple[Condition, ...]:
    codes = _strings(value, site, _language)
    return (Language(codes),) if codes else ()


def compile_any(value: Any, site: Site) -> tuple[Condition, ...]:
    if not isinstance(value, list) or not value:
        site.add(f"expected a non-empty list of condition tables, got {show(value)}")
        return ()
    tables = tuple(compile_table(table, site.at(f"[{i}]")) for i, table in enumerate(value))
    return (AnyOf(tables),) if all(tables) else ()


def compile_not(value: Any, site: Site) -> tuple[Condition, ...]:
    table = compile_table(value, site)
    return (NotOf(table),) if table else ()


CONDITIONS: Mapping[str, Compiler] = {
    "from": _globs(Sender, _address_glob),
    "from_domain": _globs(Sender, _shape(_DOMAIN, 'a domain or a glob like "*.example.test"')),
    "to": _globs(Recipient, _address_glob),
    "cc": _globs(Recipient, _address_glob),
    "subject_matches": compile_matches,
    "body_matches": compile_matches,
    "header": compile_header,
    "has_attachment": compile_has_attachment,
    "attachment_type": _globs(AttachmentType, _shape(_MIME, 'a MIME type or a glob like "image/*"')),
    "mailbox": compile_mailbox,
    "language": compile_language,
    "any": compile_any,
    "not": compile_not,
}


def compile_table(raw: Any, site: Site, *, empty_ok: bool = False) -> tuple[Condition, ...]:
    """All the conditions of one ``if`` table, in the order written; problems go to ``site``."""
    if not isinstance(raw, dict) or not (raw or empty_ok):
        site.add(f"expected a non-empty table of conditions, got {show(raw)}")
        return ()
    found: list[Condition] = []
    for key, value in raw.items():
        compiler = CONDITIONS.get(key)
        if compiler is None:
            site.at(f".{key}").add(f"unknown condition (known conditions: {', '.join(sorted(CONDITIONS))})")
        else:
            found.extend(compiler(value, site.at(f".{key}")))
    return tuple(found)
