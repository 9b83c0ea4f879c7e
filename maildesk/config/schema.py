"""Declarative option tables that validate TOML tables and name the key path of every error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine

_MISSING = object()


def show(value: Any) -> str:
    """A value as the admin wrote it, for error messages."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class Option:
    """One key of a TOML table: its type, default and extra check."""

    type: type | tuple[type, ...]
    default: Any = _MISSING
    check: Check | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
               list: "a list", dict: "a table"}


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    return " or ".join(_TYPE_NAMES.get(x, x.__name__) for x in types)


def _type_ok(value: Any, t: type | tuple[type, ...]) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not an integer here
    return isinstance(value, types)


class Problems:
    """Collects (key path, problem) pairs so one run reports every mistake."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append((key, problem))

    def __bool__(self) -> bool:
        return bool(self.items)


def read_table(raw: Any, path: str, options: Mapping[str, Option], problems: Problems) -> dict[str, Any]:
    """Validate one TOML table against ``options``; unknown keys are errors."""
    if not isinstance(raw, dict):
        problems.add(path, f"expected a table, got {show(raw)}")
        return {k: o.default for k, o in options.items() if not o.required}
    out: dict[str, Any] = {}
    for key in raw:
        if key not in options:
            known = ", ".join(sorted(options))
            problems.add(f"{path}.{key}", f"unknown key (known keys: {known})")
    for key, opt in options.items():
        where = f"{path}.{key}"
        if key not in raw:
            if opt.required:
                problems.add(where, "required key is missing")
            out[key] = None if opt.required else opt.default
            continue
        value = raw[key]
        if not _type_ok(value, opt.type):
            problems.add(where, f"expected {_type_name(opt.type)}, got {show(value)}")
            out[key] = None if opt.required else opt.default
            continue
        problem = opt.check(value) if opt.check else None
        if problem:
            problems.add(where, problem)
        out[key] = value
    return out


# -- reusable checks ---------------------------------------------------------

_ADDR = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"expected one of {', '.join(show(c) for c in choices)}, got {show(value)}"
        return None
    return check


def in_range(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if not low <= value <= high:
            return f"expected a value from {low} to {high}, got {show(value)}"
        return None
    return check


def is_address(value: Any) -> str | None:
    if not _ADDR.match(value):
        return f"not an email address: {show(value)}"
    return None


def is_name(value: Any) -> str | None:
    if not _NAME.match(value):
        return f"expected a short name of letters, digits, '.', '_' or '-', got {show(value)}"
    return None


def non_empty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"
