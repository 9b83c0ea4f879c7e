"""Everything the command line prints passes here: mail text never reaches the terminal as control codes."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import click

#: Bidirectional embeddings, overrides and isolates: they reorder what the terminal shows.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Characters JSON output writes as ``\\uXXXX`` instead of raw.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(_BIDI)) + "]")


def _unsafe(c: str) -> bool:
    return c not in "\n\t" and (unicodedata.category(c) == "Cc" or c in _BIDI or c in "\u2028\u2029")


def terminal_safe(text: str) -> str:
    """``text`` without any control character but newline and tab (ESC, so CSI, OSC and DCS; C1; DEL;
    CR, so nothing overwrites a line) and without bidirectional overrides."""
    if text.isprintable():  # the common case: nothing to look at
        return text
    return "".join(c for c in text if not _unsafe(c))


def echo(text: str = "", *, err: bool = False) -> None:
    """Print one line of output, made terminal-safe."""
    click.echo(terminal_safe(text), err=err)


def json_text(value: Any, *, indent: int | None = 2, ensure_ascii: bool = False,
              separators: tuple[str, str] | None = None) -> str:
    """JSON for a terminal or a pipe: the data unchanged, every control character written as an escape."""
    text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, separators=separators)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
