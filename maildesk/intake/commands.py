"""Read the ``#commands`` at the top of an agent's reply and split off the public reply.

The command block is the run of lines from the top of ``Work.new_text`` that start
with ``#`` and a letter, blank lines between them allowed; ``#escalate``,
``#deescalate``, ``#note`` and ``#resolve`` also take the lines below them, up to
a blank line.  The first other line ends the block: from there on, ``#`` lines
included, is the public reply.  A bad or unknown command is reported and the
rest still run; a ``#note`` anywhere in the block keeps the whole mail internal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_COMMANDS = 50
PRIORITIES = ("low", "normal", "high", "urgent")
_SHOWN = 200  # CommandError.text is cut to this many characters
_COMMAND_LINE = re.compile(r"#([^\W\d_][\w-]*):?")  # '#', a letter: a command line
# controls but tab; zero-width space, BOM, line/paragraph separators and bidi controls
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_TIER_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"\\]{1,64}@[^\s@<>()\[\],;:\"\\]{1,253}")
_AGENT_NAME = re.compile(r"[\w.+-]{1,64}")
_TICKET_ID = re.compile(r"#?(\d{1,18})")
_MAILTO_TAIL = re.compile(r"<mailto:[^<>]*>$", re.I)  # Outlook: "a@b.example<mailto:a@b.example>"
_SEPARATORS = re.compile(r"[\s,;]+")
_A_TICKET = "one ticket number like 123 or #123"


@dataclass(frozen=True)
class Command:
    """One valid command; ``line`` is 1-based in the new text, for receipts."""

    name: str  # lower-case, without '#'
    args: str  # the rest of the command's line, stripped
    text: str  # multi-line commands: their whole text (the reason for escalations); else args
    tier: str | None = None  # escalations: a configured tier name, "next", or None
    values: tuple[str, ...] = ()  # tag/cc ops ("+vip", "-a@b.example"), priority, ticket id...
    line: int = 0


@dataclass(frozen=True)
class CommandError:
    """A command line that cannot run, and why, in words for the agent."""

    line: int
    text: str  # the offending line as written, cut to 200 characters
    problem: str


@dataclass(frozen=True)
class ParsedCommands:
    """The commands of one reply, their errors, and what goes to the customer."""

    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    reply: str  # the public reply; "" when there is none or a #note suppresses it
    internal_only: bool  # a #note was given: nothing of this mail goes to the customer


class _Invalid(Exception):
    """A command's arguments do not fit; the message follows the command's name."""


class _Parsed(NamedTuple):
    tier: str | None = None
    values: tuple[str, ...] = ()
    text: str | None = None  # replaces the command's text when set


Check = Callable[[str, Mapping[str, str]], _Parsed]  # (text, tiers by lower-case name)


@dataclass(frozen=True)
class _Spec:
    syntax: str
    description: str
    check: Check
    multiline: bool = False  # takes the following lines, up to a blank line


def _nothing(text: str, tiers: Mapping[str, str]) -> _Parsed:
    if text:
        raise _Invalid("takes no arguments")
    return _Parsed()


def _anything(text: str, tiers: Mapping[str, str]) -> _Parsed:
    return _Parsed()


def _required(problem: str) -> Check:
    def check(text: str, tiers: Mapping[str, str]) -> _Parsed:
        if not text:
            raise _Invalid(problem)
        return _Parsed()

    return check


def _handover(why: str) -> Check:
    """An optional tier word (a configured tier or "next"), then a required reason."""

    def check(text: str, tiers: Mapping[str, str]) -> _Parsed:
        tier, reason = None, text
        first, *rest = text.split(None, 1) or [""]
        word = first.rstrip(":").lower()
        if _TIER_WORD.fullmatch(word) and (word in tiers or word == "next"):
            tier, reason = tiers.get(word, "next"), (rest[0] if rest else "")
        if not reason:
            raise _Invalid(f"needs a reason: {why}")
        return _Parsed(tier=tier, text=reason)

    return check


def _ops(what: str, read: Callable[[str], str | None], rule: str) -> Check:
    """``+x``/``-x``/bare ``x`` tokens (bare adds), each read by ``read``; in order, once each."""

    def check(text: str, tiers: Mapping[str, str]) -> _Parsed:
        tokens = [t for t in _SEPARATORS.split(text) if t]
        if not tokens:
            raise _Invalid(f"needs {what}: +name to add, -name to remove")
        ops: dict[str, None] = {}
        for token in tokens:
            sign, body = (token[0], token[1:]) if token[0] in "+-" else ("+", token)
            value = read(body)
            if value is None:
                raise _Invalid(f"cannot use '{_show(token)}': {rule}")
            ops[sign + value] = None
        return _Parsed(values=tuple(ops))

    return check


def _one(what: str, read: Callable[[str], str | None]) -> Check:
    """Exactly one word, read by ``read``."""

    def check(text: str, tiers: Mapping[str, str]) -> _Parsed:
        value = read(text) if text and len(text.split()) == 1 else None
        if value is None:
            raise _Invalid(f"needs {what}{_not(text)}")
        return _Parsed(values=(value,))

    return check


def _tag(token: str) -> str | None:
    token = token.lower()
    return token if _TAG.fullmatch(token) else None


def _address(token: str) -> str | None:
    """A loosely checked address (one '@', no spaces), lower-cased; mailto: wrappings dropped."""
    token = _MAILTO_TAIL.sub("", token).strip("<>")
    if token[:7].lower() == "mailto:":
        token = token[7:]
    return token.lower() if _ADDRESS.fullmatch(token) else None


def _agent(token: str) -> str | None:
    """An agent's address, or a plain name the desk looks up later; lower-cased."""
    if "@" in token:
        return _address(token)
    return token.lower() if _AGENT_NAME.fullmatch(token) else None


def _priority(token: str) -> str | None:
    return token.lower() if token.lower() in PRIORITIES else None


def _ticket_id(token: str) -> str | None:
    match = _TICKET_ID.fullmatch(token)
    return str(int(match[1])) if match else None


def _queue(text: str, tiers: Mapping[str, str]) -> _Parsed:
    """Nothing (your tiers), a tier, or ``mine``."""
    word = text.strip().lower()
    if not word:
        return _Parsed()
    if word == "mine" or word in tiers:
        return _Parsed(values=(tiers.get(word, word),))
    raise _Invalid(f"takes a tier ({', '.join(tiers.values())}) or mine{_not(text)}")


def _file(text: str, tiers: Mapping[str, str]) -> _Parsed:
    """A ticket number, then the file's name (the rest of the line)."""
    first, *rest = text.split(None, 1) or [""]
    ticket = _ticket_id(first)
    if ticket is None or not rest:
        raise _Invalid(f"needs {_A_TICKET}, then the file's name{_not(text)}")
    return _Parsed(values=(ticket,), text=rest[0].strip())


_SPECS: dict[str, _Spec] = {
    "take": _Spec("#take", "make yourself the ticket's owner", _nothing),
    "assign": _Spec("#assign AGENT", "give the ticket to another agent", _one("an agent", _agent)),
    "escalate": _Spec("#escalate [TIER|next] REASON", "hand the ticket up; the reason, to a blank "
                      "line, says what was tried", _handover("what was tried and why"), True),
    "deescalate": _Spec("#deescalate [TIER] REASON", "hand the ticket back down; the reason runs "
                        "to a blank line", _handover("why"), True),
    "priority": _Spec("#priority low|normal|high|urgent", "set the priority",
                      _one(f"one of {', '.join(PRIORITIES)}", _priority)),
    "tag": _Spec("#tag +name -name ...", "add (+name or name) and remove (-name) tags",
                 _ops("tags", _tag, "a tag is +name or -name: a-z, 0-9, '.', '_', '-'")),
    "pending": _Spec("#pending", "wait for the customer", _nothing),
    "hold": _Spec("#hold VENDOR-REFERENCE", "wait for a vendor; give their reference",
                  _required("needs the vendor's reference")),
    "note": _Spec("#note TEXT", "internal note, to a blank line; the whole mail stays internal",
                  _required("needs text"), True),
    "resolve": _Spec("#resolve SUMMARY", "mark resolved; the summary runs to a blank line",
                     _required("needs a summary of the fix"), True),
    "close": _Spec("#close", "close the ticket", _nothing),
    "reopen": _Spec("#reopen", "reopen the ticket", _nothing),
    "cc": _Spec("#cc +address -address", "add or remove people in copy",
                _ops("addresses", _address, "not an address")),
    "merge": _Spec("#merge ID", "merge this ticket with ticket ID", _one(_A_TICKET, _ticket_id)),
    "link": _Spec("#link ID", "link this ticket to ticket ID", _one(_A_TICKET, _ticket_id)),
    "help": _Spec("#help", "send this list", _anything),
    "requester": _Spec("#requester ADDRESS", "set the customer of a ticket you opened",
                       _one("an email address", _address)),
    "kb": _Spec("#kb [TITLE]", "propose this ticket for the knowledge base", _anything),
    "queue": _Spec("#queue [TIER|mine]", "the open tickets of your tiers, a tier, or your own, oldest first",
                   _queue),
    "show": _Spec("#show ID", "ticket ID's history, with its files within the limit", _one(_A_TICKET, _ticket_id)),
    "file": _Spec("#file ID NAME", "one file of ticket ID, by its name", _file),
}

#: Every known command name.
COMMANDS: frozenset[str] = frozenset(_SPECS)


def help_text() -> str:
    """One line per command: its syntax and what it does, for the #help receipt."""
    width = max(len(spec.syntax) for spec in _SPECS.values())
    return "\n".join(f"{spec.syntax:<{width}}  {spec.description}" for spec in _SPECS.values())


@dataclass
class _Entry:
    """A command line of the block, with the continuation lines it took."""

    line: int
    raw: str
    name: str
    args: str
    more: list[str] = field(default_factory=list)


@dataclass
class _Block:
    entries: list[_Entry] = field(default_factory=list)
    end: int = 0  # index of the first line of the public reply
    overflow: _Entry | None = None  # the first command line past MAX_COMMANDS
    note: bool = False

    def add(self, entry: _Entry) -> None:
        self.note = self.note or entry.name == "note"
        if len(self.entries) < MAX_COMMANDS:
            self.entries.append(entry)
        elif self.overflow is None:
            self.overflow = entry


def parse_commands(
    new_text: str, *, tiers: Sequence[str] = ("L1", "L2", "L3", "L4")
) -> ParsedCommands:
    """The commands at the top of ``new_text``, their errors, and the public reply."""
    lines = new_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    block = _read_block(lines)
    by_name: dict[str, str] = {}
    for tier in tiers:
        by_name.setdefault(tier.lower(), tier)
    commands: list[Command] = []
    errors: list[CommandError] = []
    for entry in block.entries:
        built = _build(entry, by_name)
        if isinstance(built, Command):
            commands.append(built)
        else:
            errors.append(built)
    if block.overflow is not None:
        problem = f"too many commands: only the first {MAX_COMMANDS} are read"
        errors.append(_error(block.overflow, problem))
    reply = "" if block.note else "\n".join(lines[block.end :]).rstrip()
    return ParsedCommands(tuple(commands), tuple(errors), reply, block.note)


def _read_block(lines: list[str]) -> _Block:
    """Collect the command lines from the top; stop at the first line that is not one."""
    block = _Block(end=len(lines))
    taking: _Entry | None = None  # the multi-line command that takes the next lines
    for i, line in enumerate(lines):
        clean = _clean(line)
        head = clean.strip()
        if not head:
            taking = None
            continue
        match = _COMMAND_LINE.match(head)
        if match is not None:
            entry = _Entry(i + 1, line, match[1].lower(), head[match.end() :].strip())
            block.add(entry)
            spec = _SPECS.get(entry.name)
            taking = entry if spec is not None and spec.multiline else None
        elif taking is not None:
            taking.more.append(clean.rstrip())
        else:
            block.end = i
            break
    return block


def _build(entry: _Entry, tiers: Mapping[str, str]) -> Command | CommandError:
    spec = _SPECS.get(entry.name)
    if spec is None:
        return _error(entry, f"unknown command #{_show(entry.name, 40)}; see #help")
    text = "\n".join([entry.args, *entry.more]).strip() if spec.multiline else entry.args
    try:
        parsed = spec.check(text, tiers)
    except _Invalid as problem:
        return _error(entry, f"#{entry.name} {problem}")
    text = text if parsed.text is None else parsed.text
    return Command(entry.name, entry.args, text, parsed.tier, parsed.values, entry.line)


def _error(entry: _Entry, problem: str) -> CommandError:
    shown = _show(_clean(entry.raw[: _SHOWN * 4]).strip(), _SHOWN)  # a line may be huge
    return CommandError(entry.line, shown, problem)


def _clean(text: str) -> str:
    """Non-breaking spaces as spaces; control, bidi and zero-width characters removed."""
    return _CONTROLS.sub("", text.replace("\xa0", " "))


def _show(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not(text: str) -> str:
    """The ", not 'given'" end of a problem message; "" when nothing was given."""
    return f", not '{_show(text)}'" if text else ""
